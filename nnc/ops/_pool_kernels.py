"""numpy kernels of max and average pooling, forward and backward (ops maxpool, avgpool, pool_backward).
Shared rules: ``_kernel_common``."""
from __future__ import annotations

import math
from collections.abc import Sequence

from ._kernel_common import (
    Pads,
    _check_geometry,
    _check_grad,
    _check_pads,
    _compute_dtype,
    _pad_spatial,
    _scatter_windows,
    _spatial_ndim,
    _windows,
)
from ._numpy import np

__all__ = [
    "pool_nd",
    "max_pool_nd",
    "avg_pool_nd",
    "max_pool_nd_backward",
    "avg_pool_nd_backward",
]


def max_pool_nd(x: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
                padding: Pads) -> np.ndarray:
    """N-d max pooling over the spatial axes of ``[N, C, *spatial]``.

    kernel and stride have one int per spatial axis, padding one ``(lo, hi)``
    pair per axis. Padding is filled with -inf so a padded cell never wins
    (PyTorch's semantics); a window lying wholly in padding would give -inf,
    which PyTorch's own limit (pad <= kernel / 2) rules out. NaN propagates.
    Output size per axis is ``floor((n + lo + hi - k) / s) + 1``.
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    nsp = _spatial_ndim(x, "max_pool_nd")
    kernel = _check_geometry("kernel", kernel, nsp, 1)
    stride = _check_geometry("stride", stride, nsp, 1)
    pads = _check_pads(padding, nsp)
    xp = _pad_spatial(x, pads, -np.inf)
    win = _windows(xp, kernel, stride, (1,) * nsp)
    axes = tuple(range(2 + nsp, 2 + 2 * nsp))
    return np.ascontiguousarray(win.max(axis=axes), dtype=dtype)


def avg_pool_nd(x: np.ndarray, kernel: Sequence[int], stride: Sequence[int],
                padding: Pads, count_include_pad: bool = True) -> np.ndarray:
    """N-d average pooling over the spatial axes of ``[N, C, *spatial]``.

    Padding (``(lo, hi)`` pairs) is filled with zeros. With count_include_pad
    (PyTorch's default) every window sum is divided by the full window size
    ``prod(kernel)``; otherwise by the number of real (unpadded) cells in that
    window, computed by pooling a ones mask the same way. A window with no real
    cell then gives NaN (0 / 0), which PyTorch's pad <= kernel / 2 rules out.
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    nsp = _spatial_ndim(x, "avg_pool_nd")
    kernel = _check_geometry("kernel", kernel, nsp, 1)
    stride = _check_geometry("stride", stride, nsp, 1)
    pads = _check_pads(padding, nsp)
    axes = tuple(range(2 + nsp, 2 + 2 * nsp))
    xp = _pad_spatial(x, pads, 0.0)
    sums = _windows(xp, kernel, stride, (1,) * nsp).sum(axis=axes)
    if count_include_pad:
        return np.ascontiguousarray(sums / dtype.type(math.prod(kernel)), dtype=dtype)
    ones = np.ones((1, 1) + x.shape[2:], dtype=dtype)
    counts = _windows(_pad_spatial(ones, pads, 0.0), kernel, stride, (1,) * nsp).sum(axis=axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.ascontiguousarray(sums / counts, dtype=dtype)


def max_pool_nd_backward(g: np.ndarray, x: np.ndarray, kernel: Sequence[int],
                         stride: Sequence[int], padding: Pads) -> np.ndarray:
    """Gradient of ``max_pool_nd(x, kernel, stride, padding)`` w.r.t. x.

    Each window's output gradient goes, whole, to one input cell: the window's
    maximum. Tie rule: among equal maxima the *first in row-major window
    order* wins (the last kernel axis varying fastest), which is what a
    straightforward scan with a strict ``>`` does and what PyTorch's
    max_pool1d/2d/3d indices select, so gradients match PyTorch even with ties.
    Padding cells never win, not even against a real -inf (a window of real
    -inf values sends its gradient to its first real cell, as PyTorch does).
    A window containing NaN sends it to its first NaN (PyTorch's CPU kernel
    picks the last NaN; both are arbitrary). Windows overlap when stride <
    kernel, so one cell can collect gradient from several windows; the
    contributions are summed.

    Implementation: copy the windows into ``[N, C, *out, prod(K)]``, pick the
    winner's flat tap index with one ``argmax`` over a boolean "is a real
    maximum" mask, one-hot it with ``put_along_axis`` and fold the result back
    onto x with ``_scatter_windows`` (a loop over kernel taps).
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    nsp = _spatial_ndim(x, "max_pool_nd_backward")
    kernel = _check_geometry("kernel", kernel, nsp, 1)
    stride = _check_geometry("stride", stride, nsp, 1)
    pads = _check_pads(padding, nsp)
    ones = (1,) * nsp
    kp = math.prod(kernel)
    win = _windows(_pad_spatial(x, pads, -np.inf), kernel, stride, ones)   # [N, C, *out, *K]
    out_sp = tuple(win.shape[2:2 + nsp])
    n, c = x.shape[:2]
    g = _check_grad("max_pool_nd_backward", g, (n, c) + out_sp, dtype)
    flat = win.reshape((n, c) + out_sp + (kp,))
    real = _windows(_pad_spatial(np.ones((1, 1) + x.shape[2:], dtype=bool), pads, False),
                    kernel, stride, ones).reshape((1, 1) + out_sp + (kp,))
    with np.errstate(invalid="ignore"):
        m = flat.max(axis=-1, keepdims=True)
        hit = ((flat == m) | np.isnan(flat)) & real
    idx = hit.argmax(axis=-1)[..., None]                                    # first winner
    dwin = np.zeros((n, c) + out_sp + (kp,), dtype=dtype)
    np.put_along_axis(dwin, idx, g[..., None], axis=-1)
    dx = _scatter_windows(dwin.reshape((n, c) + out_sp + kernel), tuple(x.shape[2:]), pads, stride, ones)
    return np.ascontiguousarray(dx, dtype=dtype)


def avg_pool_nd_backward(g: np.ndarray, x: np.ndarray, kernel: Sequence[int],
                         stride: Sequence[int], padding: Pads,
                         count_include_pad: bool = True) -> np.ndarray:
    """Gradient of ``avg_pool_nd(x, kernel, stride, padding, count_include_pad)`` w.r.t. x.

    Each output is a window sum divided by a constant (``prod(kernel)``, or the
    window's count of real cells without count_include_pad), so every cell of
    a window receives ``g / divisor``; overlapping windows add up, and what
    lands on padding is dropped. Average pooling is linear, so only x's shape
    and dtype are used; x is taken so the signature mirrors the forward.
    A window with no real cell (divisor 0, NaN forward) can only have sent its
    gradient to padding, so it contributes nothing.
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    nsp = _spatial_ndim(x, "avg_pool_nd_backward")
    kernel = _check_geometry("kernel", kernel, nsp, 1)
    stride = _check_geometry("stride", stride, nsp, 1)
    pads = _check_pads(padding, nsp)
    ones = (1,) * nsp
    n, c = x.shape[:2]
    padded = tuple(ni + lo + hi for ni, (lo, hi) in zip(x.shape[2:], pads))
    for axis, (size, k) in enumerate(zip(padded, kernel)):
        if size < k:
            raise ValueError(f"spatial axis {axis}: padded size {size} is smaller than the kernel "
                             f"size {k}; the output would be empty")
    out_sp = tuple((size - k) // s + 1 for size, k, s in zip(padded, kernel, stride))
    g = _check_grad("avg_pool_nd_backward", g, (n, c) + out_sp, dtype)
    if count_include_pad:
        scaled = g / dtype.type(math.prod(kernel))
    else:
        mask = _pad_spatial(np.ones((1, 1) + x.shape[2:], dtype=dtype), pads, 0.0)
        counts = _windows(mask, kernel, stride, ones).sum(axis=tuple(range(2 + nsp, 2 + 2 * nsp)))
        scaled = np.where(counts > 0, g / np.where(counts > 0, counts, 1), 0).astype(dtype, copy=False)
    dwin = np.broadcast_to(scaled.reshape(scaled.shape + ones), (n, c) + out_sp + kernel)
    dx = _scatter_windows(dwin, tuple(x.shape[2:]), pads, stride, ones)
    return np.ascontiguousarray(dx, dtype=dtype)


def pool_nd(x: np.ndarray, kind: str, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int],
            padding: Pads, counted: Pads) -> np.ndarray:
    """Max or average pooling with dilated windows and a divisor per window (ops maxpool, avgpool).

    ``kind`` is "maxpool" or "avgpool". Padding ``(lo, hi)`` per axis holds -inf
    for max, 0 for the average; an average divides each window's sum by how
    many of its cells lie in the input widened by ``counted`` (the padding that
    counts: all of the written padding under count_include_pad, none
    otherwise; what ceil_mode adds is never counted), as PyTorch and ONNX do.
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    nsp = _spatial_ndim(x, "pool_nd")
    kernel = _check_geometry("kernel", kernel, nsp, 1)
    stride = _check_geometry("stride", stride, nsp, 1)
    dilation = _check_geometry("dilation", dilation, nsp, 1)
    pads = _check_pads(padding, nsp)
    axes = tuple(range(2 + nsp, 2 + 2 * nsp))
    if kind == "maxpool":
        return np.ascontiguousarray(_windows(_pad_spatial(x, pads, -np.inf), kernel, stride, dilation).max(axis=axes),
                                    dtype=dtype)
    sums = _windows(_pad_spatial(x, pads, 0.0), kernel, stride, dilation).sum(axis=axes)
    counted = _check_pads(counted, nsp)
    mask = np.pad(np.ones((1, 1) + x.shape[2:], dtype=dtype), ((0, 0), (0, 0)) + counted, constant_values=1.0)
    rest = tuple((lo - clo, hi - chi) for (lo, hi), (clo, chi) in zip(pads, counted))
    counts = _windows(_pad_spatial(mask, rest, 0.0), kernel, stride, dilation).sum(axis=axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.ascontiguousarray(sums / counts, dtype=dtype)
