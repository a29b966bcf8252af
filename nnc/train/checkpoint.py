"""Checkpoints: one safetensors file holding parameters, state, optimiser slots and JSON metadata.

    save_checkpoint(path, Checkpoint(params, state, optimizer, meta))   # atomic: temp file, fsync, rename
    ckpt = load_checkpoint(path)                                       # CheckpointError with a clear message
    check_compatible(ckpt, fresh.specs())                              # names every tensor that does not fit

File layout (format 1): tensors under "params/NAME", "state/NAME" and "optim/NAME"; the safetensors
metadata holds {"nnc.format": "1", "nnc": <meta as JSON>}. See docs/checkpoints.md.
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

FORMAT_VERSION = 1
META_KEY = "nnc"                 # safetensors metadata key holding `meta` as JSON
FORMAT_KEY = "nnc.format"        # safetensors metadata key holding the format version, as a decimal string
SECTIONS = ("params", "state", "optim")                                      # key prefixes in the file
_FIELD_OF = {"params": "params", "state": "state", "optim": "optimizer"}    # prefix -> Checkpoint field
LAST_NAME = "last.safetensors"   # inside a --checkpoint DIR: written at every save
BEST_NAME = "best.safetensors"   # inside a --checkpoint DIR: written when the validation metric improves

_DTYPES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                     "float16", "float32", "float64"})
_MAX_HEADER = 100_000_000        # safetensors' own limit on the JSON header
_RNG_NAMES = frozenset({"PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"})


class CheckpointError(Exception):
    """A checkpoint cannot be written, read, or used; the message says which file and why.

    check_compatible fills `missing`, `unexpected` (stored keys) and `mismatched`
    (key, (shape, dtype) in the checkpoint, (shape, dtype) expected)."""

    def __init__(self, message: str, *, missing: Iterable[str] = (), unexpected: Iterable[str] = (),
                 mismatched: Iterable[tuple] = ()) -> None:
        super().__init__(message)
        self.missing = tuple(missing)
        self.unexpected = tuple(unexpected)
        self.mismatched = tuple(mismatched)


@dataclass(frozen=True)
class Checkpoint:
    """Everything needed to continue training. `==` compares bit for bit (NaN equals itself, -0.0 != 0.0)."""
    params: dict[str, np.ndarray]      # trainable parameters by stable name, e.g. "mlp/h.dense/weight"
    state: dict[str, np.ndarray]       # non-trainable state (batchnorm running statistics)
    optimizer: dict[str, np.ndarray]   # optimiser slots, e.g. "adam/m/mlp/h.dense/weight"
    meta: dict                         # JSON-serialisable: step, epoch, seed, rng state, program hash, ...

    def tensors(self) -> dict[str, np.ndarray]:
        """All tensors under their stored keys: "params/…", "state/…", "optim/…"."""
        return {f"{prefix}/{name}": value for prefix in SECTIONS
                for name, value in getattr(self, _FIELD_OF[prefix]).items()}

    def specs(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Stored key -> (shape, dtype name): what check_compatible expects, built from a fresh initialisation."""
        return {key: (tuple(int(d) for d in np.shape(v)), np.asarray(v).dtype.name)
                for key, v in self.tensors().items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Checkpoint):
            return NotImplemented
        a, b = self.tensors(), other.tensors()
        if a.keys() != b.keys() or not all(_same_bits(a[k], b[k]) for k in a):
            return False
        try:
            return _canonical(self.meta) == _canonical(other.meta)
        except CheckpointError:
            return self.meta == other.meta

    def __repr__(self) -> str:
        def part(d: Mapping) -> str:
            nbytes = sum(np.asarray(v).nbytes for v in d.values())
            return f"{len(d)} tensors, {nbytes} bytes"
        return (f"Checkpoint(params=<{part(self.params)}>, state=<{part(self.state)}>, "
                f"optimizer=<{part(self.optimizer)}>, meta keys={sorted(map(str, self.meta))})")


# ----------------------------------------------------------------------------------------------- saving

def save_checkpoint(path: Path, ckpt: Checkpoint, *, allow_nonfinite: bool = False) -> None:
    """Write `ckpt` to `path` atomically: at every instant `path` holds either the previous file or the new one.

    Everything is validated and serialised before the disk is touched; a CheckpointError says what is wrong
    (a name, a dtype, a meta value JSON cannot hold, a NaN or infinity in a tensor unless `allow_nonfinite`).
    The bytes go to `.NAME.tmp-PID` in the same directory, are flushed and fsynced, the temporary file is
    renamed onto `path` (os.replace) and the directory is fsynced where the OS allows. On any failure the
    temporary file is removed and `path` is untouched. Missing parent directories are created.
    """
    import safetensors.numpy

    path = Path(path)
    tensors = _flatten(ckpt)
    if not allow_nonfinite:
        bad = nonfinite_tensors(ckpt)
        if bad:
            raise CheckpointError(f"not writing checkpoint {path}: NaN or infinite values in "
                                  + ", ".join(bad) + "; the previous checkpoint, if any, is unchanged")
    metadata = {FORMAT_KEY: str(FORMAT_VERSION), META_KEY: _dump_meta(ckpt.meta)}
    try:
        blob = safetensors.numpy.save(tensors, metadata=metadata)
    except Exception as e:  # the library's own refusal; should not happen after _flatten
        raise CheckpointError(f"cannot serialise checkpoint {path}: {e}") from None
    _atomic_write(path, blob)
    _remove_stale_temps(path)


def nonfinite_tensors(ckpt: Checkpoint) -> list[str]:
    """Stored keys of the floating-point tensors holding a NaN or an infinity."""
    out = []
    for key, v in ckpt.tensors().items():
        a = np.asarray(v)
        if a.dtype.kind == "f" and a.size and not np.isfinite(a).all():
            out.append(key)
    return out


def _flatten(ckpt: Checkpoint) -> dict[str, np.ndarray]:
    """Stored key -> C-contiguous little-endian array, checking every name and dtype."""
    if not isinstance(ckpt, Checkpoint):
        raise CheckpointError(f"save_checkpoint needs a Checkpoint, not {type(ckpt).__name__}")
    out: dict[str, np.ndarray] = {}
    for prefix in SECTIONS:
        field = _FIELD_OF[prefix]
        section = getattr(ckpt, field)
        if not isinstance(section, Mapping):
            raise CheckpointError(f"Checkpoint.{field} must be a dict of arrays, not {type(section).__name__}")
        for name, value in section.items():
            if not isinstance(name, str) or not name:
                raise CheckpointError(f"Checkpoint.{field} has a tensor named {name!r}; names are non-empty strings")
            if not isinstance(value, (np.ndarray, np.generic)):
                raise CheckpointError(f"Checkpoint.{field}[{name!r}] is a {type(value).__name__}, "
                                      "not a numpy array")
            a = np.asarray(value)
            if a.dtype.name not in _DTYPES or a.dtype.fields is not None:
                raise CheckpointError(f"Checkpoint.{field}[{name!r}] has dtype {a.dtype}, which a checkpoint "
                                      f"cannot hold (supported: {', '.join(sorted(_DTYPES))})")
            if not a.flags.c_contiguous:
                a = a.copy(order="C")
            if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and not _LITTLE):
                a = a.astype(a.dtype.newbyteorder("<"))
            out[f"{prefix}/{name}"] = a
    return out


_LITTLE = sys.byteorder == "little"


def _dump_meta(meta: Any) -> str:
    if not isinstance(meta, Mapping):
        raise CheckpointError(f"Checkpoint.meta must be a dict, not {type(meta).__name__}")
    return json.dumps(_to_json(meta, "meta", set()), separators=(",", ":"), allow_nan=True)


def _to_json(x: Any, where: str, seen: set) -> Any:
    """A copy of `x` made of dict/list/str/int/float/bool/None; numpy scalars become Python numbers."""
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating) and x.dtype.itemsize <= 8:
        return float(x)  # float16/32/64 -> float64 is exact
    if isinstance(x, np.ndarray):
        raise CheckpointError(f"{where} is a numpy array, which meta cannot hold: put tensors in params, state "
                              "or optimizer; for a random generator's state use rng_state(rng)")
    if isinstance(x, (Mapping, list, tuple)):
        if id(x) in seen:
            raise CheckpointError(f"{where} contains itself")
        seen.add(id(x))
        try:
            if isinstance(x, Mapping):
                out = {}
                for k, v in x.items():
                    if not isinstance(k, str):
                        raise CheckpointError(f"{where} has the key {k!r}; meta keys must be strings")
                    out[k] = _to_json(v, f"{where}[{k!r}]", seen)
                return out
            return [_to_json(v, f"{where}[{i}]", seen) for i, v in enumerate(x)]
        finally:
            seen.discard(id(x))
    raise CheckpointError(f"{where} is a {type(x).__name__}, which JSON cannot hold")


def _atomic_write(path: Path, blob: bytes) -> None:
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"could not write checkpoint {path}: cannot create {directory}: "
                              f"{e.strerror or e}") from None
    if path.is_dir():
        raise CheckpointError(f"could not write checkpoint {path}: it is a directory")
    tmp = directory / f".{path.name}.tmp-{os.getpid()}"
    flags = (os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)
             | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        fd = os.open(tmp, flags, 0o666)
        try:
            f = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            raise
        with f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise CheckpointError(f"could not write checkpoint {path}: {e.strerror or e}; "
                                  "the previous file there, if any, is unchanged") from None
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable. Not possible everywhere (Windows, some file systems): then skipped."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale_temps(path: Path) -> None:
    """Remove `.NAME.tmp-PID` files for this target left by processes that no longer exist (POSIX only)."""
    if os.name != "posix":
        return
    stem = f".{path.name}.tmp-"
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for n in names:
        if not n.startswith(stem) or not n[len(stem):].isdigit():
            continue
        pid = int(n[len(stem):])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            try:
                os.unlink(path.parent / n)
            except OSError:
                pass
        except (PermissionError, OverflowError, OSError):
            pass  # alive under another user, or not a pid: leave it


# ---------------------------------------------------------------------------------------------- loading

def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint written by save_checkpoint. Arrays come back writable, C-contiguous, native byte order.

    Raises CheckpointError (never a safetensors or JSON exception) when the file is missing, is not a
    safetensors file, is truncated, was written by something else, or by a newer format."""
    import safetensors.numpy

    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}: the file does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a directory, not a checkpoint file "
                              f"(inside a --checkpoint directory the file is {LAST_NAME})") from None
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror or e}") from None
    header, metadata = _read_header(path, data)
    meta = _read_meta(path, metadata)
    try:
        loaded = safetensors.numpy.load(data)
    except Exception as e:
        raise CheckpointError(f"{path} is not a valid safetensors file: {e}") from None
    sections: dict[str, dict[str, np.ndarray]] = {p: {} for p in SECTIONS}
    for key in header:
        if key == "__metadata__":
            continue
        prefix, _, name = key.partition("/")
        if prefix not in sections or not name:
            raise CheckpointError(f"{path} holds the tensor {key!r}, outside params/, state/ and optim/: "
                                  "it was not written by nnc's save_checkpoint")
        a = loaded[key]
        if not (a.flags.writeable and a.flags.c_contiguous and a.flags.aligned and a.dtype.isnative):
            a = a.astype(a.dtype.newbyteorder("="), order="C", copy=True)
        sections[prefix][name] = a
    return Checkpoint(params=sections["params"], state=sections["state"], optimizer=sections["optim"], meta=meta)


def _read_header(path: Path, data: bytes) -> tuple[dict, dict]:
    """The safetensors JSON header and its metadata, after checking sizes so that truncation is named as such."""
    size = len(data)
    if size == 0:
        raise CheckpointError(f"{path} is empty: not a checkpoint (or one whose writing was cut short)")
    if size < 8:
        raise CheckpointError(f"{path} is only {size} bytes long: too short for a safetensors file "
                              "(truncated, or not a checkpoint)")
    n = int.from_bytes(data[:8], "little")
    starts_like_json = data[8:9] in (b"{", b"")
    if n < 2 or n > _MAX_HEADER or not starts_like_json:
        raise CheckpointError(f"{path} is not a safetensors file: it does not begin with a safetensors header")
    if 8 + n > size:
        raise CheckpointError(f"{path} is truncated: its header needs {n} bytes but only {size - 8} follow "
                              "the length field")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CheckpointError(f"{path} is not a safetensors file: its header is not JSON") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is not a safetensors file: its header is not a JSON object")
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path} is not a valid safetensors file: its __metadata__ is not an object")
    if META_KEY not in metadata:
        found = ", ".join(f"{k}={str(v)[:40]}" for k, v in list(metadata.items())[:5])
        raise CheckpointError(f"{path} is a safetensors file but not an nnc checkpoint: it has no {META_KEY!r} "
                              "metadata, so it was written by something else"
                              + (f" (its metadata: {found})" if found else ""))
    end = 0
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
            end = max(end, offsets[1])
    available = size - 8 - n
    if end > available:
        raise CheckpointError(f"{path} is truncated: its tensors need {end} bytes of data but only "
                              f"{available} follow the header")
    return header, metadata


def _read_meta(path: Path, metadata: dict) -> dict:
    version = metadata.get(FORMAT_KEY)
    if not isinstance(version, str) or not version.isdigit():
        raise CheckpointError(f"{path}: damaged nnc metadata: format version {version!r} is not a number")
    if int(version) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer nnc (checkpoint format {int(version)}; "
                              f"this nnc reads format {FORMAT_VERSION} and older)")
    if int(version) < 1:
        raise CheckpointError(f"{path}: damaged nnc metadata: unknown checkpoint format {version}")
    try:
        meta = json.loads(metadata[META_KEY])
    except (TypeError, ValueError):
        raise CheckpointError(f"{path}: damaged nnc metadata: the {META_KEY!r} entry is not JSON") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: damaged nnc metadata: the {META_KEY!r} entry is not a JSON object")
    return meta


# ------------------------------------------------------------------------------------------ compatibility

def check_compatible(ckpt: Checkpoint, expected: Mapping[str, tuple[tuple[int, ...], str]], *,
                     sections: Iterable[str] = SECTIONS) -> None:
    """Raise CheckpointError unless the checkpoint holds exactly the tensors `expected` describes.

    `expected` maps stored keys ("params/mlp/h.dense/weight", "state/…", "optim/adam/m/…") to
    (shape, dtype); `Checkpoint.specs()` of a freshly initialised model builds it. Only the `sections`
    named are compared (e.g. ("params", "state") to load weights without the optimiser). The error lists
    every missing, unexpected and mis-shaped (or mis-typed) tensor, also as attributes."""
    sections = tuple(sections)
    for s in sections:
        if s not in SECTIONS:
            raise ValueError(f"unknown checkpoint section {s!r}; the sections are {', '.join(SECTIONS)}")
    want: dict[str, tuple[tuple[int, ...], str]] = {}
    for key, (shape, dtype) in expected.items():
        prefix = key.partition("/")[0]
        if prefix not in SECTIONS:
            raise ValueError(f"expected tensor {key!r} does not start with params/, state/ or optim/")
        if prefix in sections:
            want[key] = (tuple(int(d) for d in shape), np.dtype(dtype).name)
    have = {k: v for k, v in ckpt.specs().items() if k.partition("/")[0] in sections}
    missing = sorted(want.keys() - have.keys())
    unexpected = sorted(have.keys() - want.keys())
    mismatched = [(k, have[k], want[k]) for k in sorted(want.keys() & have.keys()) if have[k] != want[k]]
    if not (missing or unexpected or mismatched):
        return
    counts = [f"{len(x)} {label}" for x, label in ((missing, "missing"), (unexpected, "unexpected"),
                                                   (mismatched, "mismatched")) if x]
    lines = [f"checkpoint does not fit this program ({', '.join(counts)}):"]
    lines += [f"  missing:    {k}  {_spec(want[k])}" for k in missing]
    lines += [f"  unexpected: {k}  {_spec(have[k])}" for k in unexpected]
    lines += [f"  mismatched: {k}  checkpoint {_spec(h)}, program {_spec(w)}" for k, h, w in mismatched]
    raise CheckpointError("\n".join(lines), missing=missing, unexpected=unexpected, mismatched=mismatched)


def _spec(spec: tuple[tuple[int, ...], str]) -> str:
    shape, dtype = spec
    return f"{dtype}[{', '.join(map(str, shape))}]"


# ------------------------------------------------------------------------------------------ random state

def rng_state(rng: np.random.Generator | np.random.BitGenerator) -> dict:
    """The generator's bit_generator.state as plain JSON (arrays become lists; big ints stay exact ints)."""
    bg = rng.bit_generator if isinstance(rng, np.random.Generator) else rng
    if not isinstance(bg, np.random.BitGenerator):
        raise TypeError(f"rng_state needs a numpy Generator or BitGenerator, not {type(rng).__name__}")

    def plain(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: plain(v) for k, v in x.items()}
        if isinstance(x, np.ndarray):
            return x.tolist()
        if isinstance(x, np.integer):
            return int(x)
        return x
    return plain(bg.state)


def restore_rng(state: Mapping) -> np.random.Generator:
    """A Generator continuing exactly where the one `rng_state` (or bit_generator.state) described left off."""
    name = state.get("bit_generator") if isinstance(state, Mapping) else None
    if name not in _RNG_NAMES:
        raise CheckpointError(f"cannot restore a random generator from this state: bit generator {name!r} "
                              f"is not one of {', '.join(sorted(_RNG_NAMES))}")
    bg = getattr(np.random, name)()
    try:
        bg.state = dict(state)
    except (TypeError, ValueError, KeyError, OverflowError) as e:
        raise CheckpointError(f"cannot restore a random generator from this state: {e}") from None
    return np.random.Generator(bg)


# ------------------------------------------------------------------------------ a --checkpoint directory

def save_to_directory(directory: Path, ckpt: Checkpoint, *, best: bool = False,
                      allow_nonfinite: bool = False) -> Path:
    """Save DIR/last.safetensors, and DIR/best.safetensors too when `best`; returns the path of last."""
    directory = Path(directory)
    last = directory / LAST_NAME
    save_checkpoint(last, ckpt, allow_nonfinite=allow_nonfinite)
    if best:
        save_checkpoint(directory / BEST_NAME, ckpt, allow_nonfinite=allow_nonfinite)
    return last


def latest_checkpoint(directory: Path) -> Path | None:
    """DIR/last.safetensors if it exists, else None (also when DIR does not exist). Temp files are never
    returned. Raises CheckpointError when `directory` is a file."""
    directory = Path(directory)
    if not directory.exists():
        return None
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is a file, not a checkpoint directory")
    last = directory / LAST_NAME
    return last if last.is_file() else None


# ------------------------------------------------------------------------------------------------ helpers

def _same_bits(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.name != b.dtype.name:
        return False
    le = a.dtype.newbyteorder("<")
    return a.astype(le, order="C").tobytes() == b.astype(le, order="C").tobytes()


def _canonical(meta: Any) -> str:
    return json.dumps(_to_json(meta, "meta", set()), sort_keys=True, allow_nan=True)


__all__ = ["Checkpoint", "CheckpointError", "save_checkpoint", "load_checkpoint", "check_compatible",
           "nonfinite_tensors", "rng_state", "restore_rng", "save_to_directory", "latest_checkpoint",
           "FORMAT_VERSION", "LAST_NAME", "BEST_NAME", "SECTIONS"]
