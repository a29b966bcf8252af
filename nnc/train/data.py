"""The data a `train` block feeds on: built-in sets, IDX folders and `.npz` files.

`load_data(source, inputs)` turns the `data "..."` setting of a train block
(or the command line's `--data`) into arrays with exactly the dtypes and
shapes the block's `input` statements declare, split into a training and a
validation part. Everything that can be wrong with the data is found here and
raised as a `DataError` whose message names the file, the array and the
problem, so that a bad file stops `nnc train` before its first step instead of
surfacing later as a numpy traceback or a silently wrong model.

Sources (see docs/data.md):

- `"digits"`: the 1,797 8×8 handwritten digits (UCI, shipped in nnc/data/);
- `"synthetic"`: seeded random data of the declared shapes;
- a folder with the four IDX files of MNIST / Fashion-MNIST (`t10k` = validation);
- any other string: an `.npz` file whose arrays are named like the inputs.

Only numpy is used: nnc works offline and does not depend on scikit-learn or
on a deep-learning framework's data loaders.
"""
from __future__ import annotations

import gzip
import re
import struct
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

__all__ = [
    "BUILTIN_SETS", "DataError", "Dataset", "IDX_FILES", "InputSpec",
    "batches", "check_batch", "load_data", "read_idx",
]

BUILTIN_SETS = ("digits", "synthetic")
DEFAULT_CLASSES = 10     # integer range of synthetic data when no class count is known
SYNTHETIC_DIM = 8        # size of a non-batch symbolic axis (T in [N, T, 16]) in synthetic data

_FLOAT = {"f32": np.float32, "f64": np.float64}
_INT = {"i32": np.int32, "i64": np.int64}
_NUMPY = {**_FLOAT, **_INT, "bool": np.bool_}

# The four files of an IDX folder, by role; each may also be gzipped (`.gz`).
IDX_FILES = {
    "train images": "train-images-idx3-ubyte",
    "train labels": "train-labels-idx1-ubyte",
    "validation images": "t10k-images-idx3-ubyte",
    "validation labels": "t10k-labels-idx1-ubyte",
}

# IDX element type codes (third byte of the magic number); multi-byte types are big-endian.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}

_KIND_WORDS = {
    "U": "text strings", "S": "byte strings", "O": "Python objects", "c": "complex numbers",
    "V": "structured records", "M": "dates", "m": "time intervals",
}


class DataError(Exception):
    """A problem with the training data, worded for the person who supplied it.

    Raised before any training step; the message names the source (file, folder
    or built-in set), the array or input concerned and what is wrong with it.
    """


# ---- specifications and results --------------------------------------------------------------------------

@dataclass(frozen=True)
class InputSpec:
    """One `input` statement of a train block: `input x: f32[N, 64]`.

    `shape` holds ints for fixed sizes and strings for symbolic ones ("N",
    "T", "2*T"). The batch axis is the first symbolic one; see `batch_symbol`.
    Non-int dims (the compiler's `Sym`) are converted with `str`.
    """

    name: str
    dtype: str                        # "f32" | "f64" | "i32" | "i64" | "bool"
    shape: tuple[int | str, ...]

    def __post_init__(self) -> None:
        if self.dtype not in _NUMPY:
            raise ValueError(f"input {self.name}: unknown dtype {self.dtype!r}; expected one of {', '.join(_NUMPY)}")
        dims = tuple(d if isinstance(d, (int, np.integer)) and not isinstance(d, bool) else str(d)
                     for d in self.shape)
        object.__setattr__(self, "shape", tuple(int(d) if not isinstance(d, str) else d for d in dims))

    @classmethod
    def from_type(cls, name: str, tensor_type) -> "InputSpec":
        """From the compiler's `TensorType` (anything with `.dtype` and `.shape`)."""
        return cls(name, tensor_type.dtype, tuple(tensor_type.shape))

    @property
    def is_float(self) -> bool:
        return self.dtype in _FLOAT

    @property
    def is_int(self) -> bool:
        return self.dtype in _INT

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(_NUMPY[self.dtype])

    @property
    def batch_symbol(self) -> str | None:
        """The first symbolic dim, or None when every size is fixed."""
        return next((d for d in self.shape if isinstance(d, str)), None)

    def __str__(self) -> str:
        return f"{self.name}: {self.dtype}[{', '.join(str(d) for d in self.shape)}]"


@dataclass(frozen=True)
class Dataset:
    """Arrays for every input of a train block, split into training and validation parts.

    `batch_axes[name]` is the axis along which input `name` is cut into
    samples (usually 0); None marks an input without the batch symbol, which
    is passed whole with every batch.
    """

    train: dict[str, np.ndarray]
    val: dict[str, np.ndarray]
    source: str
    batch_axes: dict[str, int | None] = field(default_factory=dict)

    def __len__(self) -> int:
        """The number of training samples."""
        return _num_samples(self.train, self.batch_axes, self.source)

    @property
    def num_val(self) -> int:
        """The number of validation samples (0 when nothing is held out)."""
        return _num_samples(self.val, self.batch_axes, self.source)

    def describe(self) -> str:
        """One line for logs: `digits: 1,617 training and 180 validation samples`."""
        return f"{self.source}: {len(self):,} training and {self.num_val:,} validation samples"


# ---- the entry point -------------------------------------------------------------------------------------

def load_data(source: str, inputs: Sequence[InputSpec], *, seed: int = 0, val_fraction: float = 0.1,
              base_dir: Path | str | None = None, synthetic_samples: int = 1024,
              num_classes: int | Mapping[str, int] | None = None,
              dim_sizes: Mapping[str, int] | None = None, vocab: Mapping | None = None) -> Dataset:
    """Load `source` for a train block whose inputs are `inputs`, in declaration order.

    seed: drives the validation split and the synthetic data; the same seed gives the same arrays.
    val_fraction: the share held out for validation (digits, synthetic, npz); an IDX folder's
        `t10k` files are its validation set instead.
    base_dir: where a relative path is looked up (the .nn file's folder); default the working directory.
    synthetic_samples: how many samples "synthetic" makes.
    num_classes: the number of classes of the labels: an int for the first integer input (the
        one a built-in set fills with labels), or a mapping input name -> count. Labels at or
        above it are an error; synthetic integers are drawn from 0..count-1 (default 10).
    dim_sizes: sizes for non-batch symbolic axes of synthetic data (default 8 each).
    vocab: input name -> Vocabulary (nnc/train/token_ids.py) for the integer inputs that feed an
        embedding: an id outside its vocabulary is an error naming the array, the id and the vocabulary;
        synthetic ids are drawn inside it.

    Raises DataError for anything wrong with the data; ValueError for a misuse of the API.
    """
    inputs = list(inputs)
    _check_api(inputs, seed, val_fraction, synthetic_samples)
    if not inputs:
        raise DataError(f"data {source!r}: the train block declares no inputs, so there is nothing to fill")
    axes = _batch_axes(inputs, source)
    classes = _class_counts(inputs, num_classes)
    vocab = dict(vocab or {})
    dataset = _load_source(source, inputs, axes, classes, vocab, seed, val_fraction, base_dir, synthetic_samples,
                           dim_sizes)
    if vocab:
        from .token_ids import token_id_problem
        where = (lambda name: f"{dataset.source}: array '{name}'") if source not in BUILTIN_SETS else \
            (lambda name: f"{source}: the array for input `{name}`")
        for part in (dataset.train, dataset.val):
            problem = token_id_problem(part, vocab, where)
            if problem:
                raise DataError(problem)
    return dataset


def _load_source(source: str, inputs: list[InputSpec], axes: dict, classes: dict, vocab: dict, seed: int,
                 val_fraction: float, base_dir, synthetic_samples: int, dim_sizes) -> Dataset:
    if source == "digits":
        images, labels = _digits_arrays()
        arrays = _fill(images, labels, 16.0, inputs, axes, "digits")
        _check_int_ranges(arrays, inputs, classes, lambda name: f"digits: the label array for input {name}")
        return _split(arrays, axes, val_fraction, seed, "digits")
    if source == "synthetic":
        bounds = {name: min(v.size, classes.get(name, v.size)) for name, v in vocab.items()}
        arrays = _synthetic(inputs, axes, {**classes, **bounds}, synthetic_samples, seed, dict(dim_sizes or {}))
        return _split(arrays, axes, val_fraction, seed, "synthetic")

    path = Path(source).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.exists():
        raise DataError(f"data {source!r}: {path.absolute()} does not exist. The built-in sets are \"digits\" and "
                        "\"synthetic\"; anything else is a path to an .npz file or to a folder of IDX files")
    if path.is_dir():
        return _load_idx_folder(path, inputs, axes, classes)
    return _load_npz(path, inputs, axes, classes, val_fraction, seed)


def check_batch(batch_size: int, dataset: Dataset) -> None:
    """Refuse a batch size below 1 or above the number of training samples, before training starts."""
    _check_batch_size(batch_size)
    n = len(dataset)
    if batch_size > n:
        raise DataError(f"batch size {batch_size} is larger than the {n:,} training samples of "
                        f"{dataset.source}; use a batch of at most {n} (--batch {n})")


def batches(arrays: Mapping[str, np.ndarray], batch_size: int, rng: np.random.Generator,
            shuffle: bool = True, *, axes: Mapping[str, int | None] | None = None
            ) -> Iterator[dict[str, np.ndarray]]:
    """One epoch of mini-batches: every sample exactly once, the last partial batch kept.

    The order is a permutation drawn from `rng` when this function is called
    (so the same generator state gives the same epoch); `shuffle=False` keeps
    the stored order (for evaluation). `axes` gives each array's batch axis
    (default 0; None: passed whole), e.g. `Dataset.batch_axes`.
    Checks are eager: a bad batch size or arrays of different lengths raise
    DataError here, not at the first `next()`.
    """
    _check_batch_size(batch_size)
    axes = dict(axes or {})
    ax_of = {name: axes.get(name, 0) for name in arrays}
    n = _num_samples(arrays, ax_of, "the batches")
    order = rng.permutation(n) if shuffle else np.arange(n)

    def gen() -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            yield {name: a if ax_of[name] is None else np.take(a, idx, axis=ax_of[name])
                   for name, a in arrays.items()}
    return gen()


# ---- checks shared by every source -----------------------------------------------------------------------

def _check_api(inputs: list, seed: int, val_fraction: float, synthetic_samples: int) -> None:
    for spec in inputs:
        if not isinstance(spec, InputSpec):
            raise ValueError(f"inputs must be InputSpec, found {type(spec).__name__}")
    names = [s.name for s in inputs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"input names must be unique, found {', '.join(dup)} twice")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, found {seed!r}")
    if not isinstance(val_fraction, (int, float)) or isinstance(val_fraction, bool) \
            or not 0.0 <= float(val_fraction) < 1.0:
        raise DataError(f"the validation fraction must be at least 0 and below 1, found {val_fraction!r}")
    if isinstance(synthetic_samples, bool) or not isinstance(synthetic_samples, (int, np.integer)) \
            or synthetic_samples < 1:
        raise DataError(f"synthetic data needs at least 1 sample, found {synthetic_samples!r}")


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise DataError(f"the batch size must be a whole number of at least 1, found {batch_size!r}")


def _batch_axes(inputs: list[InputSpec], source: str) -> dict[str, int | None]:
    """The batch symbol is the first symbolic dim of the first input that has one.

    Each input is cut into samples along its first axis of that symbol; an
    input without it is passed whole with every batch.
    """
    symbol = next((s.batch_symbol for s in inputs if s.batch_symbol is not None), None)
    if symbol is None:
        listed = ", ".join(str(s) for s in inputs)
        raise DataError(f"data {source!r}: no input has a batch dimension ({listed}); declare the "
                        "sample axis with a symbol, e.g. `input x: f32[N, 64]`")
    return {s.name: (s.shape.index(symbol) if symbol in s.shape else None) for s in inputs}


def _class_counts(inputs: list[InputSpec], num_classes) -> dict[str, int]:
    if num_classes is None:
        return {}
    if isinstance(num_classes, Mapping):
        counts = dict(num_classes)
        ints = {s.name for s in inputs if s.is_int}
        for name in counts:
            if name not in ints:
                raise ValueError(f"num_classes names {name!r}, which is not an integer input")
    else:
        first = next((s for s in inputs if s.is_int), None)
        counts = {first.name: num_classes} if first is not None else {}
    for name, k in counts.items():
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"num_classes for {name} must be a positive int, found {k!r}")
    return {name: int(k) for name, k in counts.items()}


def _check_int_ranges(arrays: Mapping[str, np.ndarray], inputs: list[InputSpec], classes: Mapping[str, int],
                      where) -> None:
    """Integer inputs are labels or indices: never negative, and below the class count when known."""
    for spec in inputs:
        if not spec.is_int or spec.name not in arrays or arrays[spec.name].size == 0:
            continue
        a = arrays[spec.name]
        lo, hi = int(a.min()), int(a.max())
        if lo < 0:
            bad = int(np.count_nonzero(a < 0))
            raise DataError(f"{where(spec.name)} has {bad:,} negative value{'s' * (bad != 1)} (the smallest "
                            f"{lo}); input `{spec}` takes labels or indices, which count from 0")
        k = classes.get(spec.name)
        if k is not None and hi >= k:
            bad = int(np.count_nonzero(a >= k))
            raise DataError(f"{where(spec.name)} has values up to {hi}, but there are only {k} classes, so "
                            f"labels must lie in 0..{k - 1} ({bad:,} do not)")


def _num_samples(arrays: Mapping[str, np.ndarray], axes: Mapping[str, int | None], where: str) -> int:
    counts = {name: a.shape[axes.get(name, 0)] for name, a in arrays.items() if axes.get(name, 0) is not None}
    if not counts:
        return 0
    if len(set(counts.values())) > 1:
        listed = ", ".join(f"{name} has {c:,}" for name, c in counts.items())
        raise DataError(f"{where}: the arrays disagree on the number of samples ({listed})")
    return next(iter(counts.values()))


def _split(arrays: dict[str, np.ndarray], axes: dict[str, int | None], val_fraction: float, seed: int,
           source: str) -> Dataset:
    """Hold out a seeded `val_fraction` of the samples; both parts keep the stored order."""
    n = _num_samples(arrays, axes, source)
    if n == 0:
        raise DataError(f"{source}: the data set is empty (0 samples)")
    n_val = int(np.floor(n * float(val_fraction) + 0.5))
    if val_fraction > 0 and n_val == 0 and n >= 2:
        n_val = 1
    if n - n_val < 1:
        raise DataError(f"{source}: with only {n} samples nothing is left for training after holding out "
                        f"{val_fraction:.0%} for validation; add data or lower the validation fraction (--val)")
    perm = np.random.default_rng(seed).permutation(n)
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])

    def take(idx: np.ndarray) -> dict[str, np.ndarray]:
        return {name: a.copy() if axes[name] is None else np.take(a, idx, axis=axes[name])
                for name, a in arrays.items()}
    return Dataset(take(train_idx), take(val_idx), source, dict(axes))


# ---- shapes: symbolic dims -------------------------------------------------------------------------------

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(//|[-+*^()]))")


def _eval_dim(text: str, env: Mapping[str, int]) -> int | None:
    """Evaluate a symbolic size such as `2*T + 1` or `(T - 3)//2 + 1`; None if unknown or unparsable."""
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            return None
        tokens.append(m.group(1) or m.group(2) or m.group(3))
        pos = m.end()
    i = 0

    class _Fail(Exception):
        pass

    def peek() -> str | None:
        return tokens[i] if i < len(tokens) else None

    def eat() -> str:
        nonlocal i
        if i >= len(tokens):
            raise _Fail
        i += 1
        return tokens[i - 1]

    def expr() -> int:
        v = term()
        while peek() in ("+", "-"):
            v = v + term() if eat() == "+" else v - term()
        return v

    def term() -> int:
        v = factor()
        while peek() in ("*", "//"):
            op, r = eat(), factor()
            if op == "//" and r == 0:
                raise _Fail
            v = v * r if op == "*" else v // r
        return v

    def factor() -> int:
        if peek() == "-":
            eat()
            return -factor()
        v = atom()
        if peek() == "^":
            eat()
            v = v ** atom()
        return v

    def atom() -> int:
        t = eat()
        if t == "(":
            v = expr()
            if eat() != ")":
                raise _Fail
            return v
        if t.isdigit():
            return int(t)
        if _NAME.match(t) and t in env:
            return env[t]
        raise _Fail

    try:
        v = expr()
    except _Fail:
        return None
    return v if i == len(tokens) else None


def _check_shapes(arrays: Mapping[str, np.ndarray], inputs: list[InputSpec], axes: Mapping[str, int | None],
                  where: str) -> None:
    """Ranks and fixed sizes as declared; a symbol has one size across all inputs; one sample count."""
    env: dict[str, tuple[int, str, int]] = {}     # symbol -> (size, input, axis) where first seen
    batch_symbol = next(s.batch_symbol for s in inputs if s.batch_symbol is not None)
    for spec in inputs:
        a = arrays[spec.name]
        if a.ndim != len(spec.shape):
            hint = ""
            if a.ndim == len(spec.shape) + 1 and a.shape[-1] == 1:
                hint = f"; drop the last axis with .reshape({', '.join(['-1'] + [str(d) for d in a.shape[1:-1]])})"
            raise DataError(f"{where}: array '{spec.name}' has shape {tuple(a.shape)} ({a.ndim} axes), but input "
                            f"`{spec}` has {len(spec.shape)}{hint}")
        for ax, (d, size) in enumerate(zip(spec.shape, a.shape)):
            if isinstance(d, int):
                if size != d:
                    raise DataError(f"{where}: array '{spec.name}' has shape {tuple(a.shape)}, but input "
                                    f"`{spec}` declares size {d} for axis {ax}, not {size}")
            elif d == batch_symbol or _NAME.match(d):
                if d in env and env[d][0] != size:
                    size0, name0, ax0 = env[d]
                    if d == batch_symbol:
                        raise DataError(f"{where}: the arrays have different numbers of samples: "
                                        f"'{name0}' has {size0:,}, '{spec.name}' has {size:,}")
                    raise DataError(f"{where}: {d} must be one size, but array '{name0}' has {d} = {size0} "
                                    f"(axis {ax0}) and array '{spec.name}' has {d} = {size} (axis {ax})")
                env.setdefault(d, (size, spec.name, ax))
    sizes = {k: v[0] for k, v in env.items()}
    for spec in inputs:
        a = arrays[spec.name]
        for ax, (d, size) in enumerate(zip(spec.shape, a.shape)):
            if isinstance(d, str) and d not in env:
                want = _eval_dim(d, sizes)
                if want is not None and want != size:
                    raise DataError(f"{where}: array '{spec.name}' has shape {tuple(a.shape)}, but input "
                                    f"`{spec}` needs {d} = {want} on axis {ax}, not {size}")


# ---- the built-in sets -----------------------------------------------------------------------------------

def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The shipped digits: uint8 images [1797, 8, 8] with values 0..16 and uint8 labels 0..9."""
    ref = resources.files("nnc") / "data" / "digits.npz"
    try:
        with ref.open("rb") as f, np.load(f, allow_pickle=False) as z:
            images, labels = z["images"], z["labels"]
    except Exception as err:   # missing or damaged package file
        raise DataError(f"digits: nnc's copy of the digits (nnc/data/digits.npz) cannot be read ({err}); "
                        "reinstall nnc") from None
    if images.shape != (1797, 8, 8) or labels.shape != (1797,):
        raise DataError("digits: nnc's copy of the digits (nnc/data/digits.npz) is damaged; reinstall nnc")
    return images, labels


def _fill(images: np.ndarray, labels: np.ndarray, scale: float, inputs: list[InputSpec],
          axes: Mapping[str, int | None], what: str) -> dict[str, np.ndarray]:
    """The filling rule: the first float input gets the images (reshaped, scaled to [0, 1]),
    the first integer input, if any, the labels; no other input may exist."""
    image_spec = next((s for s in inputs if s.is_float), None)
    label_spec = next((s for s in inputs if s.is_int), None)
    per_image = int(np.prod(images.shape[1:]))
    if image_spec is None:
        raise DataError(f"{what}: the images need a float input, but the train block has none "
                        f"({', '.join(str(s) for s in inputs)}); declare one such as `input x: f32[N, {per_image}]`")
    others = [s for s in inputs if s is not image_spec and s is not label_spec]
    if others:
        raise DataError(f"{what} fills the first float input ({image_spec.name}) with images and the first "
                        f"integer input with labels, but nothing fills {', '.join(f'`{s}`' for s in others)}; "
                        "give a train block with more inputs an .npz file")
    out = {image_spec.name: _shape_images(images, scale, image_spec, axes[image_spec.name], what)}
    if label_spec is not None:
        out[label_spec.name] = _shape_labels(labels, label_spec, axes[label_spec.name], what)
    return out


def _fixed_rest(spec: InputSpec, axis: int | None, what: str, role: str) -> list[int]:
    if axis is None:
        raise DataError(f"{what}: input `{spec}` gets the {role}, but it has no batch axis")
    rest = [d for i, d in enumerate(spec.shape) if i != axis]
    sym = [d for d in rest if isinstance(d, str)]
    if sym:
        raise DataError(f"{what}: input `{spec}` gets the {role}, whose sizes are fixed, but it declares "
                        f"symbolic sizes {', '.join(sym)} besides the batch axis; write the sizes out")
    return [int(d) for d in rest]


def _shape_images(images: np.ndarray, scale: float, spec: InputSpec, axis: int | None, what: str) -> np.ndarray:
    rest = _fixed_rest(spec, axis, what, "images")
    dims = images.shape[1:]
    per_image = int(np.prod(dims))
    if int(np.prod(rest)) != per_image:
        size = "×".join(str(d) for d in dims)
        rows, cols = dims[-2], dims[-1]
        raise DataError(f"{what}: input `{spec}` holds {int(np.prod(rest))} values per sample, but the images are "
                        f"{size} = {per_image} values; declare f32[N, {per_image}], f32[N, 1, {rows}, {cols}] or "
                        f"f32[N, {rows}, {cols}]")
    dtype = spec.numpy_dtype
    out = images.astype(dtype)
    out /= dtype.type(scale)
    out = out.reshape((images.shape[0], *rest))
    return np.ascontiguousarray(np.moveaxis(out, 0, axis)) if axis else out


def _shape_labels(labels: np.ndarray, spec: InputSpec, axis: int | None, what: str) -> np.ndarray:
    rest = _fixed_rest(spec, axis, what, "labels")
    if int(np.prod(rest)) != 1:
        raise DataError(f"{what}: input `{spec}` gets the labels, one per sample, but declares "
                        f"{int(np.prod(rest))} values per sample; declare it as {spec.dtype}[N]")
    out = labels.astype(spec.numpy_dtype).reshape((labels.shape[0], *rest))
    return np.ascontiguousarray(np.moveaxis(out, 0, axis)) if axis else out


def _synthetic(inputs: list[InputSpec], axes: Mapping[str, int | None], classes: Mapping[str, int], n: int,
               seed: int, dim_sizes: dict[str, int]) -> dict[str, np.ndarray]:
    """Standard-normal floats, integers uniform in 0..K-1, fair booleans; the shapes as declared."""
    batch_symbol = next(s.batch_symbol for s in inputs if s.batch_symbol is not None)
    env = {name: int(v) for name, v in dim_sizes.items()}
    env[batch_symbol] = n
    rng = np.random.default_rng((seed, 0x5EED))   # a stream apart from the split's
    out = {}
    for spec in inputs:
        shape = []
        for d in spec.shape:
            if isinstance(d, int):
                size = d
            elif _NAME.match(d):
                size = env.setdefault(d, SYNTHETIC_DIM)
            else:
                names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", d)
                size = _eval_dim(d, {**{k: SYNTHETIC_DIM for k in names}, **env})
            if size is None or size < 0:
                raise DataError(f"synthetic: cannot size axis {d} of input `{spec}`; pass its size in dim_sizes")
            shape.append(size)
        if spec.is_float:
            out[spec.name] = rng.standard_normal(shape, dtype=spec.numpy_dtype.type)
        elif spec.is_int:
            out[spec.name] = rng.integers(0, classes.get(spec.name, DEFAULT_CLASSES), shape,
                                          dtype=spec.numpy_dtype.type)
        else:
            out[spec.name] = rng.random(shape) < 0.5
    return out


# ---- .npz files ------------------------------------------------------------------------------------------

def _load_npz(path: Path, inputs: list[InputSpec], axes: dict[str, int | None], classes: Mapping[str, int],
              val_fraction: float, seed: int) -> Dataset:
    """An archive of arrays named like the inputs (extra arrays are ignored)."""
    where = str(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as err:   # numpy raises many kinds (ValueError, OSError, BadZipFile, ...) for a bad file
        raise DataError(f"{where}: not a readable .npz file ({err}); it may be damaged or cut short. Save "
                        "training data with np.savez(path, x=..., y=...), one array per train input") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{where}: holds a single array (.npy), not an .npz archive of named arrays; save the "
                        "training data with np.savez(path, x=..., y=...), one array per train input")
    arrays: dict[str, np.ndarray] = {}
    with archive:
        present = list(archive.files)
        missing = [s for s in inputs if s.name not in present]
        if missing:
            held = ", ".join(f"'{n}'" for n in present) if present else "no arrays"
            names = ", ".join(f"'{s.name}'" for s in missing)
            raise DataError(f"{where}: no array named {names} for input "
                            f"{', '.join(f'`{s}`' for s in missing)}; the file holds {held}")
        for spec in inputs:
            try:
                raw = archive[spec.name]
            except ValueError as err:
                if "pickle" in str(err):
                    raise DataError(f"{where}: array '{spec.name}' holds Python objects, not numbers; store a "
                                    "numeric array") from None
                raise DataError(f"{where}: array '{spec.name}' cannot be read ({err})") from None
            except Exception as err:   # a damaged member: BadZipFile, zlib.error, EOFError, TokenError, ...
                raise DataError(f"{where}: array '{spec.name}' cannot be read; the file is damaged ({err})") from None
            arrays[spec.name] = _convert(raw, spec, where)
    _check_shapes(arrays, inputs, axes, where)
    _check_int_ranges(arrays, inputs, classes, lambda name: f"{where}: array '{name}'")
    n = _num_samples(arrays, axes, where)
    if n == 0:
        raise DataError(f"{where}: the data set is empty (0 samples)")
    return _split(arrays, axes, val_fraction, seed, where)


def _convert(a: np.ndarray, spec: InputSpec, where: str) -> np.ndarray:
    """To the declared dtype, refusing what would change the values: floats for integer inputs,
    non-numbers, non-finite floats, integers too large for i32."""
    kind = a.dtype.kind
    head = f"{where}: array '{spec.name}' has dtype {a.dtype}"
    if kind in _KIND_WORDS:
        raise DataError(f"{head} ({_KIND_WORDS[kind]}), but input `{spec}` needs numbers")
    target = spec.numpy_dtype
    if spec.is_float:
        with np.errstate(over="ignore", invalid="ignore"):   # overflow to inf is reported just below
            out = a.astype(target)
        if out.size and not np.isfinite(out).all():
            bad = int(np.count_nonzero(~np.isfinite(out)))
            raise DataError(f"{where}: array '{spec.name}' contains {bad:,} NaN or infinite values "
                            f"(or values too large for {spec.dtype}); training on them gives NaN losses")
        return np.ascontiguousarray(out)
    if spec.is_int:
        if kind == "f":
            raise DataError(f"{head} (floats), but input `{spec}` needs integers (labels or indices); if they are "
                            f"whole numbers, save them with .astype(np.{target.name})")
        if a.size and kind in "iu":
            info = np.iinfo(target)
            lo, hi = int(a.min()), int(a.max())
            if lo < info.min or hi > info.max:
                raise DataError(f"{head} with values from {lo} to {hi}, which do not fit input `{spec}` "
                                f"({spec.dtype}: {info.min}..{info.max})")
        return np.ascontiguousarray(a.astype(target))
    # bool
    if kind in "iu" and a.size and not np.isin(a, (0, 1)).all():
        raise DataError(f"{head}, but input `{spec}` needs booleans and the array holds values other than 0 and 1")
    if kind == "f":
        raise DataError(f"{head} (floats), but input `{spec}` needs booleans")
    return np.ascontiguousarray(a.astype(target))


# ---- IDX files (MNIST, Fashion-MNIST) --------------------------------------------------------------------

def read_idx(path: Path | str) -> np.ndarray:
    """Parse one IDX file, plain or gzipped (recognised by its content, not its name).

    Layout: two zero bytes, an element type code, the number of dims, then
    each dim as a big-endian uint32, then the values, big-endian. Returns
    the array in native byte order. A truncated or corrupt file is a DataError.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"{path}: cannot be read or decompressed ({err}); the file is damaged or its "
                        "download was cut short") from None
    if len(raw) < 4:
        raise DataError(f"{path}: truncated: {len(raw)} bytes, too short even for an IDX header")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file: its magic number starts with bytes "
                        f"0x{raw[0]:02x} 0x{raw[1]:02x}, not two zero bytes")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES:
        raise DataError(f"{path}: corrupt IDX header: unknown element type code 0x{code:02x} "
                        "(known: 0x08 ubyte, 0x09 byte, 0x0b short, 0x0c int, 0x0d float, 0x0e double)")
    if ndim == 0:
        raise DataError(f"{path}: corrupt IDX header: it declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated: the header declares {ndim} dimensions, but the file ends "
                        f"after {len(raw)} bytes")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _IDX_DTYPES[code]
    expected = int(np.prod(dims, dtype=object)) * dtype.itemsize
    have = len(raw) - header
    shape = " × ".join(str(d) for d in dims)
    if have < expected:
        raise DataError(f"{path}: truncated: the header promises {shape} values ({expected:,} bytes), but only "
                        f"{have:,} bytes follow; download the file again")
    if have > expected:
        raise DataError(f"{path}: corrupt: {have - expected:,} bytes follow the {shape} values its header "
                        "describes")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def _find_idx(folder: Path, stem: str) -> Path | None:
    """`stem` or `stem.gz`; also the dotted spelling some mirrors use (train-images.idx3-ubyte)."""
    for name in (stem, stem.replace("-idx", ".idx")):
        for suffix in ("", ".gz"):
            p = folder / (name + suffix)
            if p.is_file():
                return p
    return None


def _load_idx_folder(folder: Path, inputs: list[InputSpec], axes: dict[str, int | None],
                     classes: Mapping[str, int]) -> Dataset:
    """MNIST-style folder: train-* for training, t10k-* held out; images scaled by 1/255."""
    found = {role: _find_idx(folder, stem) for role, stem in IDX_FILES.items()}
    missing = [f"{IDX_FILES[role]}[.gz] ({role})" for role, p in found.items() if p is None]
    if missing:
        entries = sorted(p.name for p in folder.iterdir())
        held = ", ".join(entries[:12]) + (f", ... ({len(entries)} in all)" if len(entries) > 12 else "")
        raise DataError(f"{folder}: not an IDX folder (MNIST layout): missing {', '.join(missing)}; "
                        f"it holds {held or 'nothing'}")
    parts = {}
    for split in ("train", "validation"):
        img_path, lab_path = found[f"{split} images"], found[f"{split} labels"]
        images, labels = read_idx(img_path), read_idx(lab_path)
        if images.ndim < 2 or images.dtype != np.uint8:
            raise DataError(f"{img_path}: expected images, a ubyte array [count, rows, cols], found "
                            f"{images.dtype} with shape {images.shape}")
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DataError(f"{lab_path}: expected labels, one integer per image, found {labels.dtype} "
                            f"with shape {labels.shape}")
        if images.shape[0] != labels.shape[0]:
            raise DataError(f"{folder}: {img_path.name} holds {images.shape[0]:,} images but {lab_path.name} "
                            f"{labels.shape[0]:,} labels")
        if images.shape[0] == 0:
            raise DataError(f"{img_path}: the data set is empty (0 images)")
        parts[split] = (images, labels, img_path, lab_path)
    (tr_img, _, tr_path, _), (va_img, _, va_path, _) = parts["train"], parts["validation"]
    if tr_img.shape[1:] != va_img.shape[1:]:
        raise DataError(f"{folder}: the training images are {'×'.join(map(str, tr_img.shape[1:]))} but the "
                        f"held-out ({va_path.name}) ones {'×'.join(map(str, va_img.shape[1:]))}")
    out = {}
    for split, (images, labels, _, lab_path) in parts.items():
        arrays = _fill(images, labels, 255.0, inputs, axes, str(folder))
        _check_int_ranges(arrays, inputs, classes, lambda name, p=lab_path: f"{p}: the label array for input {name}")
        out[split] = arrays
    return Dataset(out["train"], out["validation"], str(folder), dict(axes))
