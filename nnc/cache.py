"""The one cache of nnc: bytes under a key, in a private directory, never trusted blindly.

Everything nnc caches goes through here: the parser's tables today, the LLVM backend's compiled objects
and ONNX sessions' optimised graphs later. A cache entry may hold code that nnc will run, so an entry is
used only when nothing but this user (and the superuser) could have written it:

- The directory is `$NNC_CACHE_DIR`, else `$XDG_CACHE_HOME/nnc`, else `~/.cache/nnc`. nnc creates it
  with mode 0700. Before anything is read from it, it must be a directory owned by this user and not
  writable by group or others; otherwise nothing is cached at all (one line on stderr says why). There
  is no fallback to a shared temporary directory: where no private directory can be had, nnc runs
  without a cache.
- Each namespace (`parser`, `llvm`, ...) is a subdirectory held to the same rule, opened without
  following symbolic links; files are opened relative to the verified directory (dir_fd), so swapping
  a path component after the check changes nothing.
- Each entry is one file `<sha256 of namespace, nnc version and key>.entry`: a small header (format,
  nnc version, key digest, SHA-256 and length of the payload) and the payload. It is written to a
  temporary file, fsync'ed and renamed into place, so a reader sees the old entry or the new one, never
  half of one; the hash sits beside the payload in the same file, so one rename replaces both together.
- An entry is used only if it is a regular file owned by this user, not group- or world-writable, and
  its header names this nnc version and this key and its payload has the recorded length and hash.
  Otherwise it is ignored and deleted, one line on stderr says why, and the caller rebuilds it.

Use: `get(namespace, key) -> bytes | None`, then on a miss build and `put(namespace, key, data)`.
`make_key(*parts)` builds a key from several strings (versions, CPU name, ...). `info()` and `clear()`
back `nnc cache info` and `nnc cache clear`. Nothing here unpickles or imports anything: what a payload
means is its caller's business.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__

FORMAT = 1
MAGIC = b"nnc-cache"
ENTRY_SUFFIX = ".entry"
TEMP_PREFIX = ".tmp-"
LEGACY_FILES = ("grammar.lark-cache",)  # written by nnc before this module (a pickle): removed by clear()
_NAMESPACE = re.compile(r"[a-z][a-z0-9_-]{0,63}\Z")
_ENTRY_NAME = re.compile(r"[0-9a-f]{64}\.entry\Z")
_HEADER_MAX = 512
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
# dir_fd and O_NOFOLLOW are what make the checks hold; without them (Windows) nnc runs uncached.
SUPPORTED = os.name == "posix" and os.open in os.supports_dir_fd and bool(_NOFOLLOW)

_warned: set[str] = set()


class CacheError(Exception):
    """`nnc cache clear` could not do what was asked (the message says why and what to do)."""


def warn(message: str) -> None:
    """One line on stderr, once per process: the cache stays quiet unless something is wrong."""
    if message not in _warned:
        _warned.add(message)
        print(f"nnc: cache: {message}", file=sys.stderr)


def location() -> tuple[Path | None, str]:
    """The cache directory nnc would use (whether or not it exists), and where that choice came from."""
    env = os.environ.get("NNC_CACHE_DIR")
    if env:
        return Path(os.path.abspath(os.path.expanduser(env))), "NNC_CACHE_DIR"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):  # the XDG spec says to ignore a relative value
        return Path(xdg) / "nnc", "XDG_CACHE_HOME"
    try:
        home = Path.home()
    except (RuntimeError, KeyError, OSError):
        return None, "no home directory"
    return home / ".cache" / "nnc", "~/.cache"


def make_key(*parts: str | bytes) -> str:
    """One key from several parts, without ambiguity: ("ab", "c") and ("a", "bc") differ."""
    h = hashlib.sha256()
    for part in parts:
        raw = part.encode() if isinstance(part, str) else bytes(part)
        h.update(len(raw).to_bytes(8, "little"))
        h.update(raw)
    return h.hexdigest()


def entry_name(namespace: str, key: str | bytes, version: str = __version__) -> str:
    """The file name of an entry: nnc's version is part of it, so an upgrade never reads an old entry."""
    return make_key("nnc-cache", str(FORMAT), version, namespace, key) + ENTRY_SUFFIX


def why_unsafe(st: os.stat_result) -> str | None:
    """Why a file or directory with this status may hold what another user wrote; None when it may not."""
    uid = os.geteuid()
    if st.st_uid != uid:
        return f"it belongs to uid {st.st_uid}, not to you (uid {uid})"
    writable = [who for who, bit in (("its group", stat.S_IWGRP), ("everyone", stat.S_IWOTH)) if st.st_mode & bit]
    if writable:
        return f"it is writable by {' and '.join(writable)} (mode {stat.S_IMODE(st.st_mode):o})"
    return None


# ---- the verified directories ------------------------------------------------------------------------------

def _open_root(create: bool, quiet: bool = False) -> int | None:
    """A descriptor of the verified cache directory, or None (no cache). Creates it (0700) when asked."""
    if not SUPPORTED:
        return None
    path, _ = location()
    if path is None:
        return None
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError:  # a read-only home, a file in the way: run without a cache
            return None
    try:
        fd = os.open(path, _DIR_FLAGS)
    except (FileNotFoundError, NotADirectoryError):  # no cache yet, or none possible: nothing to say
        return None
    except OSError as e:
        if not quiet:
            warn(f"not using {path}: {e.strerror or e}; running without a cache")
        return None
    problem = why_unsafe(os.fstat(fd))
    if problem:
        os.close(fd)
        if not quiet:
            warn(f"not using {path}: {problem}; running without a cache (`nnc cache clear` empties it and "
                 f"makes it private if it is yours, or set NNC_CACHE_DIR)")
        return None
    return fd


def _open_namespace(root: int, namespace: str, create: bool, quiet: bool = False) -> int | None:
    """A descriptor of the namespace's subdirectory, held to the same rules as the cache directory."""
    if create:
        try:
            os.mkdir(namespace, 0o700, dir_fd=root)
        except FileExistsError:
            pass
        except OSError:
            return None
    try:
        fd = os.open(namespace, _DIR_FLAGS | _NOFOLLOW, dir_fd=root)
    except FileNotFoundError:
        return None
    except OSError as e:
        if not quiet:
            warn(f"not using the {namespace!r} cache: {e.strerror or e} (is it a symbolic link?); "
                 f"`nnc cache clear` removes it")
        return None
    problem = why_unsafe(os.fstat(fd))
    if problem:
        os.close(fd)
        if not quiet:
            warn(f"not using the {namespace!r} cache: {problem}; `nnc cache clear` removes it")
        return None
    return fd


def _check_namespace(namespace: str) -> None:
    if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
        raise ValueError(f"a cache namespace is a short lower-case name like 'llvm', not {namespace!r}")


# ---- entries -------------------------------------------------------------------------------------------------

def _header(version: str, key_digest: str, payload: bytes) -> bytes:
    return b"%s %d\n%s\n%s\n%s\n%d\n" % (MAGIC, FORMAT, version.encode(), key_digest.encode(),
                                         hashlib.sha256(payload).hexdigest().encode(), len(payload))


def _parse(blob: bytes, key_digest: str) -> tuple[bytes | None, str]:
    """The payload of an entry, or None and why it cannot be used."""
    lines = blob[:_HEADER_MAX].split(b"\n", 5)
    if len(lines) < 6 or lines[0] != b"%s %d" % (MAGIC, FORMAT):
        return None, "it is not an nnc cache entry of this format"
    version, digest, sha, length = lines[1].decode("utf-8", "replace"), lines[2], lines[3], lines[4]
    payload = blob[sum(len(line) + 1 for line in lines[:5]):]
    if version != __version__:
        return None, f"it was written by nnc {version}, not {__version__}"
    if digest != key_digest.encode():
        return None, "it holds another key's entry"
    if not length.isdigit() or int(length) != len(payload):
        return None, f"it is truncated or padded ({len(payload)} bytes where {length.decode('ascii', 'replace')} " \
                     f"were written)"
    if hashlib.sha256(payload).hexdigest().encode() != sha:
        return None, "its content does not match its SHA-256"
    return payload, ""


def get(namespace: str, key: str | bytes) -> bytes | None:
    """The payload stored under (namespace, key) by this nnc version, or None: missing, no cache, or an
    entry that fails a check (then it is deleted and one line on stderr says why; put() a fresh one)."""
    _check_namespace(namespace)
    root = _open_root(create=False)
    if root is None:
        return None
    try:
        ns = _open_namespace(root, namespace, create=False)
        if ns is None:
            return None
        try:
            return _read_entry(ns, namespace, entry_name(namespace, key))
        finally:
            os.close(ns)
    finally:
        os.close(root)


def _read_entry(ns: int, namespace: str, name: str) -> bytes | None:
    shown = f"{namespace}/{name}"
    try:
        fd = os.open(name, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), dir_fd=ns)
    except FileNotFoundError:
        return None
    except OSError as e:
        problem = f"it cannot be opened ({e.strerror or e}; a symbolic link?)"
    else:
        try:
            st = os.fstat(fd)
            problem = "it is not a regular file" if not stat.S_ISREG(st.st_mode) else why_unsafe(st)
            if problem is None:
                with os.fdopen(fd, "rb", closefd=False) as f:
                    blob = f.read()
                payload, problem = _parse(blob, _digest_of(name))
                if payload is not None:
                    return payload
        except OSError as e:
            problem = f"it cannot be read ({e.strerror or e})"
        finally:
            os.close(fd)
    warn(f"ignoring the cache entry {shown}: {problem}; rebuilding it")
    try:
        os.unlink(name, dir_fd=ns)
    except OSError:
        pass
    return None


def _digest_of(name: str) -> str:
    return name[: -len(ENTRY_SUFFIX)]


def put(namespace: str, key: str | bytes, data: bytes) -> bool:
    """Store data under (namespace, key): temporary file, fsync, rename. True when it was stored; False
    when there is no usable cache or the write failed (nnc then simply runs uncached)."""
    _check_namespace(namespace)
    name = entry_name(namespace, key)
    root = _open_root(create=True)
    if root is None:
        return False
    try:
        ns = _open_namespace(root, namespace, create=True)
        if ns is None:
            return False
        try:
            return _write_entry(ns, namespace, name, bytes(data))
        finally:
            os.close(ns)
    finally:
        os.close(root)


def _write_entry(ns: int, namespace: str, name: str, data: bytes) -> bool:
    temp = f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(8).hex()}"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0),
                     0o600, dir_fd=ns)
    except OSError as e:
        warn(f"cannot write to the {namespace!r} cache: {e.strerror or e}")
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_header(__version__, _digest_of(name), data))
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, name, src_dir_fd=ns, dst_dir_fd=ns)
    except OSError as e:
        warn(f"cannot write to the {namespace!r} cache: {e.strerror or e}")
        try:
            os.unlink(temp, dir_fd=ns)
        except OSError:
            pass
        return False
    try:
        os.fsync(ns)  # the rename itself survives a crash
    except OSError:
        pass
    return True


# ---- nnc cache info / nnc cache clear ---------------------------------------------------------------------------

@dataclass
class Namespace:
    """What one namespace holds: entries of this nnc version, and of other versions (dead weight)."""
    entries: int = 0
    bytes: int = 0
    other_versions: int = 0
    other_bytes: int = 0


@dataclass
class CacheInfo:
    """The cache directory, where its name came from, whether nnc uses it (and why not), and its content."""
    path: Path | None
    source: str
    usable: bool
    exists: bool
    problem: str | None = None
    namespaces: dict[str, Namespace] = field(default_factory=dict)
    legacy: list[str] = field(default_factory=list)
    legacy_bytes: int = 0


def info() -> CacheInfo:
    """A description of the cache, for `nnc cache info`; reads entry headers only, never payloads."""
    path, source = location()
    if not SUPPORTED:
        return CacheInfo(path, source, False, False, "caching needs POSIX dir_fd and O_NOFOLLOW")
    if path is None:
        return CacheInfo(None, source, False, False, "there is no home directory to hold it")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return CacheInfo(path, source, True, False)
    except OSError as e:
        return CacheInfo(path, source, False, True, e.strerror or str(e))
    if not stat.S_ISDIR(st.st_mode):
        return CacheInfo(path, source, False, True, "it is not a directory")
    problem = why_unsafe(st)
    result = CacheInfo(path, source, problem is None, True, problem)
    root = _open_root(create=False, quiet=True)
    if root is None:
        return result
    try:
        for item in os.scandir(root):
            if item.name in LEGACY_FILES:
                result.legacy.append(item.name)
                result.legacy_bytes += item.stat(follow_symlinks=False).st_size
            elif _NAMESPACE.match(item.name) and item.is_dir(follow_symlinks=False):
                result.namespaces[item.name] = _count(root, item.name)
    finally:
        os.close(root)
    return result


def _count(root: int, namespace: str) -> Namespace:
    out = Namespace()
    ns = _open_namespace(root, namespace, create=False, quiet=True)
    if ns is None:  # a namespace others could write: not counted, and `nnc cache clear` removes it
        return out
    try:
        for item in os.scandir(ns):
            if not _ENTRY_NAME.match(item.name) or not item.is_file(follow_symlinks=False):
                continue
            size = item.stat(follow_symlinks=False).st_size
            try:
                fd = os.open(item.name, os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK, dir_fd=ns)
                with os.fdopen(fd, "rb") as f:
                    head = f.read(64).split(b"\n")
            except OSError:
                head = []
            if len(head) > 1 and head[1].decode("utf-8", "replace") == __version__:
                out.entries += 1
                out.bytes += size
            else:
                out.other_versions += 1
                out.other_bytes += size
    finally:
        os.close(ns)
    return out


def clear() -> tuple[int, int]:
    """Delete every cache entry nnc wrote (any version), stray temporary files and the legacy parser
    pickle; returns (files, bytes) removed. Other files in the directory are left alone. A directory of
    yours that group or others could write is made private (0700) afterwards. Raises CacheError when the
    directory belongs to someone else."""
    path, _ = location()
    if path is None or not SUPPORTED:
        return 0, 0
    try:
        root = os.open(path, _DIR_FLAGS)
    except FileNotFoundError:
        return 0, 0
    except OSError as e:
        raise CacheError(f"cannot open the cache directory {path}: {e.strerror or e}") from None
    removed = [0, 0]
    try:
        st = os.fstat(root)
        if st.st_uid != os.geteuid():
            raise CacheError(f"the cache directory {path} belongs to uid {st.st_uid}, not to you; remove it "
                             f"yourself or set NNC_CACHE_DIR to a directory of yours")
        for item in list(os.scandir(root)):
            if item.name in LEGACY_FILES and not item.is_dir(follow_symlinks=False):
                _remove(root, item.name, removed)
            elif _NAMESPACE.match(item.name):
                if item.is_dir(follow_symlinks=False):
                    _clear_namespace(root, item.name, removed)
                elif item.is_symlink():
                    _remove(root, item.name, removed)
        if st.st_mode & 0o077:
            os.fchmod(root, 0o700)
    except OSError as e:
        raise CacheError(f"cannot clear {path}: {e.strerror or e}") from None
    finally:
        os.close(root)
    return removed[0], removed[1]


def _clear_namespace(root: int, namespace: str, removed: list[int]) -> None:
    ns = os.open(namespace, _DIR_FLAGS | _NOFOLLOW, dir_fd=root)
    try:
        for item in list(os.scandir(ns)):
            if _ENTRY_NAME.match(item.name) or item.name.startswith(TEMP_PREFIX):
                if not item.is_dir(follow_symlinks=False):
                    _remove(ns, item.name, removed)
    finally:
        os.close(ns)
    try:
        os.rmdir(namespace, dir_fd=root)
    except OSError:  # something else lives there: leave it
        pass


def _remove(dir_fd: int, name: str, removed: list[int]) -> None:
    size = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_size
    os.unlink(name, dir_fd=dir_fd)
    removed[0] += 1
    removed[1] += size


def describe(about: CacheInfo) -> str:
    """`nnc cache info` as text: where the cache is and why, whether nnc uses it, and what it holds."""
    where = {"NNC_CACHE_DIR": "from NNC_CACHE_DIR", "XDG_CACHE_HOME": "from XDG_CACHE_HOME"}.get(
        about.source, "the default; NNC_CACHE_DIR moves it")
    lines = [f"cache directory: {about.path if about.path is not None else '(none)'} ({where})"]
    if not about.usable:
        lines.append(f"not used: {about.problem}; nnc runs without a cache")
    elif not about.exists:
        lines.append("it does not exist yet: nnc creates it (mode 700) when it first stores something")
    else:
        lines.append("in use: yours, and writable by you alone")
    total = Namespace()
    for name, ns in sorted(about.namespaces.items()):
        lines.append(f"  {name:<12} {_entries(ns.entries):>12} {_size(ns.bytes):>10}")
        total.entries += ns.entries
        total.bytes += ns.bytes
        total.other_versions += ns.other_versions
        total.other_bytes += ns.other_bytes
    if about.namespaces:
        lines.append(f"  {'total':<12} {_entries(total.entries):>12} {_size(total.bytes):>10}")
    if total.other_versions or about.legacy:
        stale = total.other_versions + len(about.legacy)
        lines.append(f"{_entries(stale)} from other nnc versions ({_size(total.other_bytes + about.legacy_bytes)}), never read: "
                     f"`nnc cache clear` removes them")
    return "\n".join(lines) + "\n"


def _entries(n: int) -> str:
    return f"{n} entr{'y' if n == 1 else 'ies'}"


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB" if n < 1024 ** 2 else f"{n / 1024 ** 2:.1f} MiB"
