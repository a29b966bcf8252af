"""What the numpy kernels beside the ops share: dtype rule, geometry checks, window views.

The kernels (``_conv_kernels``, ``_pool_kernels``, ``_recurrent_kernels``,
``_attention_kernels``, ``_softmax_kernels``, each next to the ops that call
it) are the arithmetic core of the numpy interpreter, the "oracle" that every
other backend is checked against. They follow PyTorch's conventions exactly
(weight layouts, gate orders, output-size formulas), so that a model whose
weights were copied from PyTorch gives PyTorch's numbers.

Design rules:

* Clarity and correctness first, but no Python loops over pixels: convolution
  and pooling gather their windows with ``sliding_window_view`` and reduce
  them with one ``matmul`` / ``max`` / ``sum``; the only Python loops are over
  kernel offsets (transposed convolution) and time steps (recurrent layers).
* Dtypes: the result has the dtype of the data input ``x`` (or ``q`` for
  attention) when that is a floating dtype; parameters are cast to it. An
  integer or boolean input is computed in float64.
* Geometry arguments are plain tuples with one entry per spatial axis; the
  caller normalises scalars and "same" padding before calling. Bad geometry
  raises ``ValueError`` with a message naming the axis.
* Each ``*_backward`` kernel takes the forward's inputs and the gradient ``g``
  of a scalar loss with respect to the forward's output, and returns the
  gradients with respect to the inputs and parameters, with exactly the shapes
  of those inputs and in the forward's compute dtype (``_compute_dtype`` of
  the data input). They are stateless: whatever intermediate values are
  needed are recomputed from the inputs, so autodiff only has to keep the
  forward inputs. The same vectorisation rules as the forwards hold: im2col /
  batched matmul / einsum, Python loops only over kernel taps and time steps.
* numpy comes through ``_numpy``'s lazy proxy, so importing a kernel module
  costs nothing until a kernel runs (``nnc check`` never imports numpy).
"""
from __future__ import annotations

from collections.abc import Sequence

from ._numpy import np

Pads = Sequence[tuple[int, int]]
"""One ``(lo, hi)`` padding pair per spatial axis."""

__all__ = [
    "Pads",
    "_compute_dtype",
    "_as",
    "_check_geometry",
    "_check_pads",
    "_spatial_ndim",
    "_windows",
    "_pad_spatial",
    "_check_grad",
    "_scatter_windows",
]


def _compute_dtype(x: np.ndarray) -> np.dtype:
    """The dtype a kernel computes and returns in: x's own if floating, else float64.

    Keeping the input's float dtype lets float32 programs be checked in float32;
    integers have no sensible meaning for these layers, so they are promoted.
    """
    dt = np.asarray(x).dtype
    return dt if np.issubdtype(dt, np.floating) else np.dtype(np.float64)


def _as(a: np.ndarray | None, dtype: np.dtype) -> np.ndarray | None:
    """Convert an optional array to ``dtype`` without copying when it already is."""
    return None if a is None else np.asarray(a, dtype=dtype)


def _check_geometry(name: str, values: Sequence[int], ndim: int, minimum: int) -> tuple[int, ...]:
    """Validate a per-axis integer tuple (stride, dilation, ...) and return it as a tuple.

    Every kernel checks its geometry up front so a caller's mistake is reported
    as a clear ValueError instead of a numpy broadcasting error deep inside.
    """
    vals = tuple(int(v) for v in values)
    if len(vals) != ndim:
        raise ValueError(f"{name} has {len(vals)} entries, expected one per spatial axis ({ndim})")
    for axis, v in enumerate(vals):
        if v < minimum:
            raise ValueError(f"{name}[{axis}] = {v}, must be >= {minimum}")
    return vals


def _check_pads(padding: Pads, ndim: int) -> tuple[tuple[int, int], ...]:
    """Validate a per-axis tuple of (lo, hi) non-negative padding pairs."""
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    if len(pads) != ndim:
        raise ValueError(f"padding has {len(pads)} pairs, expected one per spatial axis ({ndim})")
    for axis, (lo, hi) in enumerate(pads):
        if lo < 0 or hi < 0:
            raise ValueError(f"padding[{axis}] = ({lo}, {hi}), must be non-negative")
    return pads


def _spatial_ndim(x: np.ndarray, what: str) -> int:
    """Number of spatial axes of an ``[N, C, *spatial]`` input; 1 to 3 are supported."""
    nsp = x.ndim - 2
    if nsp not in (1, 2, 3):
        raise ValueError(f"{what} expects x of shape [N, C, *spatial] with 1 to 3 spatial axes, got {x.shape}")
    return nsp


def _windows(xp: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...],
             dilation: tuple[int, ...]) -> np.ndarray:
    """All sliding windows of an already padded ``[N, C, *spatial]`` array, as a view.

    Returns a read-only view of shape ``[N, C, *out, *kernel]`` where element
    ``[n, c, o..., k...]`` is ``xp[n, c, o*stride + k*dilation ...]``. Built by
    taking every dilated window extent with ``sliding_window_view`` and then
    striding over output positions and kernel taps; no data is copied.
    Raises ValueError if some axis would have no output position.
    """
    nsp = len(kernel)
    spatial = xp.shape[2:]
    extents = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    for axis, (n, e) in enumerate(zip(spatial, extents)):
        if n < e:
            raise ValueError(
                f"spatial axis {axis}: padded size {n} is smaller than the dilated kernel extent {e}; "
                "the output would be empty")
    win = np.lib.stride_tricks.sliding_window_view(xp, extents, axis=tuple(range(2, 2 + nsp)))
    index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride) \
        + tuple(slice(None, None, d) for d in dilation)
    return win[index]


def _pad_spatial(x: np.ndarray, pads: tuple[tuple[int, int], ...], value: float) -> np.ndarray:
    """Pad the spatial axes of ``[N, C, *spatial]`` with a constant; no copy if nothing to pad."""
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        return x
    return np.pad(x, ((0, 0), (0, 0)) + pads, mode="constant", constant_values=value)


def _check_grad(name: str, g: np.ndarray, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Cast an output gradient to ``dtype`` and check it has the forward output's shape.

    A wrong-shaped gradient is a caller bug that numpy would often silently
    broadcast, so it is reported here by name.
    """
    g = np.asarray(g, dtype=dtype)
    if g.shape != tuple(shape):
        raise ValueError(f"{name}: gradient must have the output's shape {tuple(shape)}, got {g.shape}")
    return g


def _scatter_windows(dwin: np.ndarray, in_sp: tuple[int, ...], pads: tuple[tuple[int, int], ...],
                     stride: tuple[int, ...], dilation: tuple[int, ...]) -> np.ndarray:
    """Adjoint of ``_windows`` followed by ``_pad_spatial`` (col2im).

    dwin is ``[N, C, *out, *kernel]``: the gradient of every element of every
    window. Each kernel tap's ``[N, C, *out]`` slice is added into a strided
    slice of a zero buffer of the padded input's size (one loop iteration per
    tap, none per pixel), which is then cropped back to the unpadded
    ``[N, C, *in_sp]``. Cells no window ever read (the tail rows/cols a stride
    skips, or the padding) simply keep gradient 0, so the result always has
    exactly the input's shape.
    """
    nsp = len(in_sp)
    n, c = dwin.shape[:2]
    out_sp = dwin.shape[2:2 + nsp]
    kernel = dwin.shape[2 + nsp:]
    padded = tuple(ni + lo + hi for ni, (lo, hi) in zip(in_sp, pads))
    buf = np.zeros((n, c) + padded, dtype=dwin.dtype)
    lead = (slice(None),) * (2 + nsp)
    for tap in np.ndindex(*kernel):
        dst = (slice(None), slice(None)) + tuple(
            slice(t * d, t * d + s * (m - 1) + 1, s)
            for t, d, s, m in zip(tap, dilation, stride, out_sp))
        buf[dst] += dwin[lead + tap]
    crop = (slice(None), slice(None)) + tuple(slice(lo, lo + ni) for (lo, _), ni in zip(pads, in_sp))
    return np.ascontiguousarray(buf[crop])
