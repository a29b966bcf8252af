"""The lowering cache: what a compiled variant needs besides its object, so a cached call skips lowering.

A fully cached first call used to lower the graph, emit the LLVM IR and print it (most of half a second
for ResNet-18) only to hash that text and find the object in the cache. This module stores, beside the
object (target.py's `llvm` namespace, keyed by the IR's hash), a small JSON record in the `llvm-plan`
namespace keyed by everything the IR is made from, so a later process goes from the graph straight to
the object:

- the source of the whole `nnc` package (every .py file's bytes: an edited lowering never loads an old
  record; `nnc` without its sources never uses this cache),
- the graph and signature as compiled (their `repr`: ops, attributes, types, spans, names, params),
- the options that reach the code (host triple, CPU and features, opt, profile, checked, the entry's
  argument count and size symbols, the specialised symbols' values), llvmlite's, LLVM's, numpy's and
  Python's versions,
- every `NNC_*` environment variable but those `NOT_CODE` names (NNC_GEMM_LIBRARY changes the lowering;
  NNC_THREADS, the pool's size, never changes the code).

Module-level settings changed at run time (tests set `library.ENABLED` or `lower_conv.PER_IMAGE`) are not
in the sources: `usable()` compares the plain public globals (numbers, strings, tuples) of every loaded
module of this backend with their values in a fresh process (measured once per source version, in a
subprocess, and cached), and while any differs the cache is neither read nor written.

The record holds the checks' messages, the size requirements, the kernels' names and iteration spaces,
the scratch buffers (name, dtype, shape), their lifetimes and sizes, and the IR's hash (the object's
key); or, where lowering needed a symbol's value, that symbol and why (the executable specialises it).
It is data only (JSON, no pickle); one that does not decode is ignored with one line on stderr and
rebuilt, and nnc/cache.py already rejects a truncated, corrupt or foreign entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ... import cache
from .dims import Poly

NAMESPACE = "llvm-plan"
FORMAT = 1
_PACKAGE = Path(__file__).resolve().parents[2]   # the nnc package
_source: str | None = None
_pristine: dict[str, dict[str, str]] = {}   # NNC_* environment -> module -> settings digest


class BadRecord(ValueError):
    """A record that decodes but does not describe a variant (never written by this code)."""


RACY_NS = 3_000_000_000   # a file changed this recently may change again within the clock's granularity


def _stat_signature() -> tuple[str, list[str], int]:
    """Every .py file of the package with its size, modification and change times, inode and device: what
    a file's content cannot change without changing (ctime cannot be set back), as a digest; the paths;
    and the newest change time."""
    rows: list[str] = []
    newest = [0]

    def walk(folder: str) -> None:
        with os.scandir(folder) as entries:
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    if e.name != "__pycache__":
                        walk(e.path)
                elif e.name.endswith(".py"):
                    st = e.stat(follow_symlinks=False)
                    newest[0] = max(newest[0], st.st_ctime_ns, st.st_mtime_ns)
                    rows.append(f"{e.path}\0{st.st_size} {st.st_mtime_ns} {st.st_ctime_ns} {st.st_ino} {st.st_dev}")
    walk(str(_PACKAGE))
    rows.sort()
    return hashlib.sha256("\n".join(rows).encode()).hexdigest(), [r.split("\0", 1)[0] for r in rows], newest[0]


def source_digest() -> str | None:
    """SHA-256 over every .py file of the nnc package (paths and bytes), once per process; None without them.

    Reading and hashing the 1.3 MB of sources took 10 ms of a 0.5 s first call, so the digest is also
    cached under the files' stat signature (sizes, mtimes, ctimes, inodes): any write to any file changes
    its ctime and so the signature, and the files are read and hashed again. A signature is recorded only
    when its newest file is a few seconds old, so two writes within one tick of the clock cannot share it."""
    global _source
    if _source is None:
        try:
            signature, paths, newest = _stat_signature()
        except OSError:
            signature, paths, newest = "", [], 0
        if not paths:
            _source = ""
            return None
        k = cache.make_key(NAMESPACE, "sources", signature)
        hit = cache.get(NAMESPACE, k)
        if hit is not None and len(hit) == 64 and all(c in b"0123456789abcdef" for c in hit):
            _source = hit.decode()
            return _source
        h = hashlib.sha256()
        try:
            for path in paths:
                data = Path(path).read_bytes()
                name = os.path.relpath(path, _PACKAGE).encode()
                h.update(b"%d %s %d\n" % (len(name), name, len(data)))
                h.update(data)
        except OSError:
            _source = ""
            return None
        _source = h.hexdigest()
        # recorded only when nothing changed while it was read and no file is so new that a second write
        # could share its timestamps (a coarse clock: git's "racily clean" rule)
        if _stat_signature()[0] == signature and time.time_ns() - newest > RACY_NS:
            cache.put(NAMESPACE, k, _source.encode())
    return _source or None


# -- module settings changed at run time ----------------------------------------------------------------------

_SIMPLE = (type(None), bool, int, float, complex, str, bytes)


def _simple(v: Any) -> bool:
    return isinstance(v, _SIMPLE) or (isinstance(v, (tuple, frozenset)) and all(_simple(x) for x in v))


def settings(namespace: dict) -> str:
    """A digest of a module's settings: its public globals holding plain values (numbers, strings, tuples of
    them). Private names hold run-time state (memos, the pool, locks); tables of functions are code."""
    parts = sorted(f"{k}={v!r}" if not isinstance(v, frozenset) else f"{k}={sorted(map(repr, v))}"
                   for k, v in namespace.items() if not k.startswith("_") and _simple(v))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


_FRESH = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
from nnc.backends.llvm import plan_cache as pc
out = {}
for name in json.loads(sys.argv[2]):
    out[name] = pc.settings(vars(importlib.import_module(name)))
print(json.dumps(out))
"""


def _modules() -> list[str]:
    """The backend's modules whose settings reach the code (the C library's aot package excluded)."""
    prefix = __name__.rsplit(".", 1)[0]
    return sorted(f"{prefix}.{p.stem}" for p in Path(__file__).resolve().parent.glob("*.py") if p.stem != "__init__")


_verified: dict[str, tuple[str, list]] = {}   # module -> (its pristine digest, the globals that matched it)
_running: dict[str, Any] = {}   # NNC_* environment -> the fresh process measuring its settings
_lock = threading.Lock()


def _pristine_settings(src: str, wait: bool) -> dict[str, str] | None:
    """Each module's settings as its code sets them under this NNC_* environment: from memory or the cache,
    else measured by a fresh Python process that imports them (once per source version; a fresh process is
    the only place where none was changed). That process starts on the first miss and runs beside the
    lowering (seconds, on the other core); without `wait` this returns None until it is done."""
    env = repr(_env())
    with _lock:
        if env in _pristine:
            return _pristine[env]
        k = cache.make_key(NAMESPACE, "settings", src, sys.executable, env)
        found = None
        if env not in _running:
            blob = cache.get(NAMESPACE, k)
            if blob is not None:
                try:
                    found = json.loads(blob.decode())
                except (ValueError, UnicodeDecodeError):
                    cache.warn("ignoring a record of the backend's settings that does not decode; rebuilding it")
            if isinstance(found, dict):
                _pristine[env] = {str(n): str(d) for n, d in found.items()}
                return _pristine[env]
            import subprocess
            try:
                _running[env] = subprocess.Popen(
                    [sys.executable, "-c", _FRESH, str(_PACKAGE.parent), json.dumps(_modules())],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            except OSError:
                return None
        proc = _running[env]
        if not wait and proc.poll() is None:
            return None
        try:
            out, _ = proc.communicate(timeout=120)
            found = json.loads(out.strip().splitlines()[-1]) if proc.returncode == 0 else None
        except Exception:  # noqa: BLE001 - no measurement: the cache is not used
            proc.kill()
            found = None
        del _running[env]
        if not isinstance(found, dict):
            return None
        cache.put(NAMESPACE, k, json.dumps(found).encode())
        _pristine[env] = {str(n): str(d) for n, d in found.items()}
        return _pristine[env]


def usable(src: str, wait: bool = True) -> bool:
    """Whether every loaded module of this backend has the settings its code gives it: while a test (or
    anyone) has changed one, the lowering cache is neither read nor written. Without `wait`, False while
    the settings are still being measured (a read then simply misses)."""
    pristine = _pristine_settings(src, wait)
    if pristine is None:
        return False
    for name in pristine:
        module = sys.modules.get(name)
        if module is None:
            continue
        # its plain globals, held: the same immutable objects mean the same values (held, no id is reused), so
        # a module verified once is not hashed again until one of them is replaced or added
        plain = [(k, v) for k, v in vars(module).items() if not k.startswith("_") and _simple(v)]
        seen = _verified.get(name)
        if seen is not None and seen[0] == pristine[name] and len(seen[1]) == len(plain) and all(
                k == k2 and v is v2 for (k, v), (k2, v2) in zip(plain, seen[1])):
            continue
        if settings(vars(module)) != pristine[name]:
            return False
        _verified[name] = (pristine[name], plain)
    return True


# NNC_* variables that cannot change the code: where the cache is, the pool's size (read at run time; the
# code never depends on it), the numpy oracle's strictness, pass verification, ONNX Runtime's threads
NOT_CODE = frozenset({"NNC_CACHE_DIR", "NNC_THREADS", "NNC_STRICT", "NNC_VERIFY_PASSES", "NNC_ONNX_THREADS"})


def _env() -> list[tuple[str, str]]:
    """Every other NNC_* variable (NNC_GEMM_LIBRARY changes the lowering; an unknown one might)."""
    return sorted((k, v) for k, v in os.environ.items() if k.startswith("NNC_") and k not in NOT_CODE)


# -- keys and records ---------------------------------------------------------------------------------------

def key(exe, special: dict[str, int]) -> str | None:
    """The record's key for one variant of `exe` (an LlvmExecutable), or None: no caching possible."""
    src = source_digest()
    if src is None or not exe.use_cache:
        return None
    import llvmlite
    import llvmlite.binding as llvm
    h = exe.host
    import numpy
    return cache.make_key(NAMESPACE, str(FORMAT), src, llvmlite.__version__, numpy.__version__, sys.version,
                          ".".join(str(v) for v in llvm.llvm_version_info), h.triple, h.cpu, h.features,
                          repr((exe.opt, exe.profile, exe.checked, exe.n_args, exe.symbols, sorted(special.items()))),
                          repr(_env()), repr(exe._sig), repr(exe.graph))


def get(k: str | None) -> dict | None:
    """The decoded record under `k`, or None (no cache, missing, or unreadable: then it is dropped)."""
    if k is None or not usable(source_digest() or "", wait=False):
        return None
    blob = cache.get(NAMESPACE, k)
    if blob is None:
        return None
    try:
        record = json.loads(blob.decode())
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise BadRecord("not a record of this format")
        return record
    except (ValueError, UnicodeDecodeError) as e:
        cache.warn(f"ignoring a lowering record that does not decode ({type(e).__name__}); rebuilding it")
        return None


def put(k: str | None, record: dict) -> None:
    if k is not None and usable(source_digest() or ""):
        cache.put(NAMESPACE, k, json.dumps(dict(record, format=FORMAT), separators=(",", ":")).encode())


def dim_out(d) -> Any:
    """A size as JSON: an int, or {"p": [[[symbols...], coefficient], ...]}."""
    if isinstance(d, Poly):
        return {"p": [[list(m), c] for m, c in d.terms]}
    return int(d)


def dim_in(j: Any):
    """The size `dim_out` wrote (BadRecord when it is not one)."""
    if isinstance(j, int) and not isinstance(j, bool):
        return j
    if isinstance(j, dict) and isinstance(j.get("p"), list):
        terms = []
        for item in j["p"]:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], list)
                    and all(isinstance(s, str) for s in item[0]) and isinstance(item[1], int)):
                raise BadRecord("a malformed size")
            terms.append((tuple(item[0]), item[1]))
        if not terms:
            raise BadRecord("an empty size")
        return Poly(tuple(terms))
    raise BadRecord("a malformed size")
