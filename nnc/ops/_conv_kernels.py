"""numpy kernels of convolution and transposed convolution, forward and backward (ops conv1d, conv2d,
conv_backward, conv_transpose2d, conv_transpose_backward). Shared rules: ``_kernel_common``."""
from __future__ import annotations

import math
from collections.abc import Sequence

from ._kernel_common import (
    Pads,
    _as,
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
    "conv_nd",
    "conv_transpose_nd",
    "conv_nd_backward",
    "conv_transpose_nd_backward",
]


def conv_nd(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
            stride: Sequence[int], padding: Pads, dilation: Sequence[int],
            groups: int) -> np.ndarray:
    """N-d convolution (cross-correlation, as torch.nn.functional.conv1d/2d/3d).

    x is ``[N, C, *spatial]`` with 1 to 3 spatial axes, w is
    ``[O, C // groups, *kernel]``, b is ``[O]`` or None. stride and dilation
    have one int per spatial axis; padding has one ``(lo, hi)`` pair per axis,
    so asymmetric ("same") padding is expressed directly. Each output axis has
    ``floor((n + lo + hi - d*(k-1) - 1) / s) + 1`` positions.

    Implementation (im2col): pad with zeros, take a strided view of all
    windows, copy it once into a ``[N, G, P, C/G * K]`` column matrix and
    multiply by the ``[G, C/G * K, O/G]`` weight matrix with one batched
    matmul. Memory is ``N * C * P * K`` elements, fine for an oracle.
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    w = np.asarray(w, dtype=dtype)
    b = _as(b, dtype)
    nsp = _spatial_ndim(x, "conv_nd")
    if w.ndim != nsp + 2:
        raise ValueError(f"conv_nd: weight must be [O, C/groups, *kernel] with {nsp} kernel axes, got {w.shape}")
    groups = int(groups)
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    kernel = w.shape[2:]
    if groups < 1 or c % groups or o % groups:
        raise ValueError(f"conv_nd: groups={groups} must divide input channels {c} and output channels {o}")
    if cg != c // groups:
        raise ValueError(f"conv_nd: weight has {cg} input channels per group, expected {c} // {groups} = {c // groups}")
    if b is not None and b.shape != (o,):
        raise ValueError(f"conv_nd: bias must have shape ({o},), got {b.shape}")
    stride = _check_geometry("stride", stride, nsp, 1)
    dilation = _check_geometry("dilation", dilation, nsp, 1)
    pads = _check_pads(padding, nsp)

    xp = _pad_spatial(x, pads, 0.0)
    win = _windows(xp, kernel, stride, dilation)          # [N, C, *out, *K]
    out_sp = win.shape[2:2 + nsp]
    p = math.prod(out_sp)
    k = math.prod(kernel)
    og = o // groups
    # [N, G, Cg, *out, *K] -> [N, G, *out, Cg, *K] -> [N, G, P, Cg*K]
    win = win.reshape((n, groups, cg) + out_sp + tuple(kernel))
    perm = (0, 1) + tuple(range(3, 3 + nsp)) + (2,) + tuple(range(3 + nsp, 3 + 2 * nsp))
    cols = win.transpose(perm).reshape(n, groups, p, cg * k)
    wmat = w.reshape(groups, og, cg * k).transpose(0, 2, 1)  # [G, Cg*K, Og]
    y = np.matmul(cols, wmat)                               # [N, G, P, Og]
    y = y.transpose(0, 1, 3, 2).reshape((n, o) + out_sp)
    if b is not None:
        y = y + b.reshape((1, o) + (1,) * nsp)
    return np.ascontiguousarray(y, dtype=dtype)


def _transpose_geometry(x: np.ndarray, w: np.ndarray, groups: int, name: str):
    """Check a transposed convolution's weight against its input; return (spatial axes, groups, N, C,
    O/groups, kernel, O)."""
    nsp = _spatial_ndim(x, name)
    if w.ndim != nsp + 2:
        raise ValueError(f"{name}: weight must be [C_in, O/groups, *kernel] with {nsp} kernel axes, got {w.shape}")
    groups = int(groups)
    n, c = x.shape[:2]
    cw, og = w.shape[:2]
    if cw != c:
        raise ValueError(f"{name}: weight has {cw} input channels, x has {c}")
    if groups < 1 or c % groups:
        raise ValueError(f"{name}: groups={groups} must divide input channels {c}")
    return nsp, groups, n, c, og, tuple(w.shape[2:]), og * groups


def _transpose_steps(stride, dilation, padding, output_padding, nsp: int):
    """Check a transposed convolution's per-axis settings; output_padding must stay below stride or dilation."""
    stride = _check_geometry("stride", stride, nsp, 1)
    dilation = _check_geometry("dilation", dilation, nsp, 1)
    pads = _check_geometry("padding", padding, nsp, 0)
    opad = _check_geometry("output_padding", output_padding, nsp, 0)
    for axis in range(nsp):
        if opad[axis] >= max(stride[axis], dilation[axis]):
            raise ValueError(
                f"output_padding[{axis}] = {opad[axis]} must be smaller than stride ({stride[axis]}) "
                f"or dilation ({dilation[axis]})")
    return stride, dilation, pads, opad


def conv_transpose_nd(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                      stride: Sequence[int], padding: Sequence[int],
                      output_padding: Sequence[int], dilation: Sequence[int],
                      groups: int) -> np.ndarray:
    """N-d transposed convolution, as torch.nn.functional.conv_transpose1d/2d/3d.

    x is ``[N, C_in, *spatial]``, w is ``[C_in, O // groups, *kernel]`` (PyTorch's
    ConvTranspose layout), b is ``[O]`` or None. padding is one symmetric int per
    axis and output_padding one int per axis (added on the high side only), as
    in PyTorch; each output axis has
    ``(n - 1)*s - 2p + d*(k - 1) + output_padding + 1`` positions.
    As PyTorch does, output_padding must be smaller than stride or dilation.

    Implementation (col2im): every input cell scatters ``w`` times its value
    into the output at ``i*s + k*d``. One batched matmul computes all those
    contributions ``[N, O, *K, *in]``, then a loop over the kernel taps (not
    over pixels) adds each tap's contributions into a strided slice of an
    uncropped buffer, which is finally cropped by ``padding``.
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    w = np.asarray(w, dtype=dtype)
    b = _as(b, dtype)
    nsp, groups, n, c, og, kernel, o = _transpose_geometry(x, w, groups, "conv_transpose_nd")
    if b is not None and b.shape != (o,):
        raise ValueError(f"conv_transpose_nd: bias must have shape ({o},), got {b.shape}")
    stride, dilation, pads, opad = _transpose_steps(stride, dilation, padding, output_padding, nsp)

    in_sp = x.shape[2:]
    full = tuple((ni - 1) * s + d * (k - 1) + 1 + op
                 for ni, s, d, k, op in zip(in_sp, stride, dilation, kernel, opad))
    out_sp = tuple(f - 2 * p for f, p in zip(full, pads))
    for axis, size in enumerate(out_sp):
        if size < 1:
            raise ValueError(f"conv_transpose_nd: output axis {axis} would have size {size}")

    cg = c // groups
    k = math.prod(kernel)
    p_in = math.prod(in_sp)
    xmat = x.reshape(n, groups, cg, p_in)                           # [N, G, Cg, P]
    wmat = w.reshape(groups, cg, og * k).transpose(0, 2, 1)         # [G, Og*K, Cg]
    contrib = np.matmul(wmat, xmat)                                 # [N, G, Og*K, P]
    contrib = contrib.reshape((n, o) + kernel + tuple(in_sp))       # [N, O, *K, *in]

    buf = np.zeros((n, o) + full, dtype=dtype)
    for tap in np.ndindex(*kernel):
        dst = (slice(None), slice(None)) + tuple(
            slice(t * d, t * d + s * (ni - 1) + 1, s)
            for t, d, s, ni in zip(tap, dilation, stride, in_sp))
        buf[dst] += contrib[(slice(None), slice(None)) + tap]
    crop = (slice(None), slice(None)) + tuple(slice(p, p + size) for p, size in zip(pads, out_sp))
    y = buf[crop]
    if b is not None:
        y = y + b.reshape((1, o) + (1,) * nsp)
    return np.ascontiguousarray(y, dtype=dtype)


def conv_nd_backward(g: np.ndarray, x: np.ndarray, w: np.ndarray,
                     stride: Sequence[int], padding: Pads, dilation: Sequence[int],
                     groups: int, need_bias: bool = True
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of ``conv_nd(x, w, b, stride, padding, dilation, groups)``.

    g is the gradient of the loss w.r.t. the output ``[N, O, *out]``. Returns
    ``(dx, dw, db)``: dx has x's shape, dw w's shape and db is ``[O]`` (g summed
    over the batch and spatial axes; the bias does not enter any other
    gradient, so b itself is not needed) or None when need_bias is False.

    With the forward's im2col matrices ``cols [N, G, P, Cg*K]`` and
    ``wmat [G, Cg*K, Og]`` (``y = cols @ wmat``), ``dw = sum_n g^T cols`` and
    ``dcols = g wmat^T``, each one einsum; dcols is then folded back onto the
    padded input by ``_scatter_windows`` (col2im, a loop over kernel taps) and
    cropped. Input cells no window reads (the last rows/cols when
    ``(n + lo + hi - d*(k-1) - 1)`` is not a multiple of the stride, and the
    padding) get gradient 0, so dx has exactly x's shape.
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    w = np.asarray(w, dtype=dtype)
    nsp = _spatial_ndim(x, "conv_nd_backward")
    if w.ndim != nsp + 2:
        raise ValueError(
            f"conv_nd_backward: weight must be [O, C/groups, *kernel] with {nsp} kernel axes, got {w.shape}")
    groups = int(groups)
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    kernel = tuple(w.shape[2:])
    if groups < 1 or c % groups or o % groups:
        raise ValueError(f"conv_nd_backward: groups={groups} must divide input channels {c} and output channels {o}")
    if cg != c // groups:
        raise ValueError(
            f"conv_nd_backward: weight has {cg} input channels per group, expected {c} // {groups} = {c // groups}")
    stride = _check_geometry("stride", stride, nsp, 1)
    dilation = _check_geometry("dilation", dilation, nsp, 1)
    pads = _check_pads(padding, nsp)

    xp = _pad_spatial(x, pads, 0.0)
    win = _windows(xp, kernel, stride, dilation)            # [N, C, *out, *K]
    out_sp = tuple(win.shape[2:2 + nsp])
    g = _check_grad("conv_nd_backward", g, (n, o) + out_sp, dtype)
    p = math.prod(out_sp)
    k = math.prod(kernel)
    og = o // groups
    win = win.reshape((n, groups, cg) + out_sp + kernel)
    perm = (0, 1) + tuple(range(3, 3 + nsp)) + (2,) + tuple(range(3 + nsp, 3 + 2 * nsp))
    cols = win.transpose(perm).reshape(n, groups, p, cg * k)       # [N, G, P, Cg*K]
    wg = w.reshape(groups, og, cg * k)                             # [G, Og, Cg*K]
    gg = g.reshape(n, groups, og, p)                               # [N, G, Og, P]

    dw = np.einsum("ngop,ngpk->gok", gg, cols, optimize=True).reshape(w.shape)
    dcols = np.einsum("ngop,gok->ngpk", gg, wg, optimize=True)     # [N, G, P, Cg*K]
    # [N, G, *out, Cg, *K] -> [N, G, Cg, *out, *K] -> [N, C, *out, *K]
    dwin = dcols.reshape((n, groups) + out_sp + (cg,) + kernel)
    inv = (0, 1, 2 + nsp) + tuple(range(2, 2 + nsp)) + tuple(range(3 + nsp, 3 + 2 * nsp))
    dwin = dwin.transpose(inv).reshape((n, c) + out_sp + kernel)
    dx = _scatter_windows(dwin, tuple(x.shape[2:]), pads, stride, dilation)
    db = g.sum(axis=(0,) + tuple(range(2, 2 + nsp))) if need_bias else None
    return (np.ascontiguousarray(dx, dtype=dtype), np.ascontiguousarray(dw, dtype=dtype),
            None if db is None else np.ascontiguousarray(db, dtype=dtype))


def conv_transpose_nd_backward(g: np.ndarray, x: np.ndarray, w: np.ndarray,
                               stride: Sequence[int], padding: Sequence[int],
                               output_padding: Sequence[int], dilation: Sequence[int],
                               groups: int, need_bias: bool = True
                               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of ``conv_transpose_nd(x, w, b, stride, padding, output_padding, dilation, groups)``.

    g is the gradient w.r.t. the output ``[N, O, *out]``; padding is the
    forward's symmetric int per axis. Returns ``(dx, dw, db)`` with the shapes
    of x, w and ``[O]`` (db is None when need_bias is False).

    The forward scatters ``contrib = wmat @ xmat`` (``[N, G, Og*K, P]``) into
    an uncropped buffer and crops it; its adjoint pads g back to the uncropped
    size (zeros where the crop removed cells) and *gathers* each tap's strided
    slice, which is exactly the ``_windows`` view with the forward's stride and
    dilation, trimmed to the input size (with ``dilation > stride`` an
    output_padding can make the view one position longer; that position is
    only padding). Then ``dx = wmat^T dcontrib`` and
    ``dw = sum_n dcontrib xmat^T``, one einsum each.
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    w = np.asarray(w, dtype=dtype)
    nsp, groups, n, c, og, kernel, o = _transpose_geometry(x, w, groups, "conv_transpose_nd_backward")
    stride, dilation, pads, opad = _transpose_steps(stride, dilation, padding, output_padding, nsp)
    in_sp = tuple(x.shape[2:])
    full = tuple((ni - 1) * s + d * (k - 1) + 1 + op
                 for ni, s, d, k, op in zip(in_sp, stride, dilation, kernel, opad))
    out_sp = tuple(f - 2 * p for f, p in zip(full, pads))
    for axis, size in enumerate(out_sp):
        if size < 1:
            raise ValueError(f"conv_transpose_nd_backward: output axis {axis} would have size {size}")
    g = _check_grad("conv_transpose_nd_backward", g, (n, o) + out_sp, dtype)

    cg = c // groups
    k = math.prod(kernel)
    p_in = math.prod(in_sp)
    gfull = _pad_spatial(g, tuple((p, p) for p in pads), 0.0)        # [N, O, *full]
    win = _windows(gfull, kernel, stride, dilation)                  # [N, O, *>=in, *K]
    win = win[(slice(None), slice(None)) + tuple(slice(0, ni) for ni in in_sp)]
    # [N, O, *in, *K] -> [N, O, *K, *in] -> [N, G, Og*K, P], contrib's layout
    perm = (0, 1) + tuple(range(2 + nsp, 2 + 2 * nsp)) + tuple(range(2, 2 + nsp))
    dcontrib = win.transpose(perm).reshape(n, groups, og * k, p_in)
    xmat = x.reshape(n, groups, cg, p_in)                            # [N, G, Cg, P]
    wmat = w.reshape(groups, cg, og * k)                             # [G, Cg, Og*K] (= wmat^T of the forward)
    dx = np.einsum("gck,ngkp->ngcp", wmat, dcontrib, optimize=True).reshape(x.shape)
    dw = np.einsum("ngkp,ngcp->gck", dcontrib, xmat, optimize=True).reshape(w.shape)
    db = g.sum(axis=(0,) + tuple(range(2, 2 + nsp))) if need_bias else None
    return (np.ascontiguousarray(dx, dtype=dtype), np.ascontiguousarray(dw, dtype=dtype),
            None if db is None else np.ascontiguousarray(db, dtype=dtype))
