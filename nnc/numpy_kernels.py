"""Reference numpy kernels for the layers that need more than one numpy call.

These functions are the arithmetic core of the numpy interpreter, the
"oracle" that every other backend is checked against. They follow PyTorch's
conventions exactly (weight layouts, gate orders, output-size formulas), so
that a model whose weights were copied from PyTorch gives PyTorch's numbers.

Design rules:

* Clarity and correctness first, but no Python loops over pixels: convolution
  and pooling gather their windows with ``numpy.lib.stride_tricks`` and reduce
  them with one ``matmul`` / ``max`` / ``sum``; the only Python loops are over
  kernel offsets (transposed convolution) and time steps (recurrent layers).
* Dtypes: the result has the dtype of the data input ``x`` (or ``q`` for
  attention) when that is a floating dtype; parameters are cast to it. An
  integer or boolean input is computed in float64.
* Geometry arguments are plain tuples with one entry per spatial axis; the
  caller normalises scalars and "same" padding before calling. Bad geometry
  raises ``ValueError`` with a message naming the axis.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "conv_nd",
    "conv_transpose_nd",
    "max_pool_nd",
    "avg_pool_nd",
    "rnn_forward",
    "lstm_forward",
    "gru_forward",
    "multi_head_attention",
    "softmax",
    "log_softmax",
]

Pads = Sequence[tuple[int, int]]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

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
    win = sliding_window_view(xp, extents, axis=tuple(range(2, 2 + nsp)))
    index = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride) \
        + tuple(slice(None, None, d) for d in dilation)
    return win[index]


def _pad_spatial(x: np.ndarray, pads: tuple[tuple[int, int], ...], value: float) -> np.ndarray:
    """Pad the spatial axes of ``[N, C, *spatial]`` with a constant; no copy if nothing to pad."""
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        return x
    return np.pad(x, ((0, 0), (0, 0)) + pads, mode="constant", constant_values=value)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, overflow-free and accurate for large negative inputs.

    Uses exp(-|x|) so no exp ever overflows, and keeps full relative precision
    on both tails (unlike 0.5 * (1 + tanh(x / 2)), which rounds tiny values to 0).
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------
# convolution
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# recurrent layers (batch-first, one layer, one direction)
# --------------------------------------------------------------------------

def _rnn_inputs(name: str, gates: int, x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                b_ih: np.ndarray | None, b_hh: np.ndarray | None,
                states: Sequence[np.ndarray | None]):
    """Cast and shape-check a recurrent layer's arguments; missing biases and states become zeros.

    Returns (x, w_ih, w_hh, b_ih, b_hh, states, dtype, hidden). Shared by the
    three recurrent kernels so their checks and messages are identical.
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    w_ih = np.asarray(w_ih, dtype=dtype)
    w_hh = np.asarray(w_hh, dtype=dtype)
    if x.ndim != 3:
        raise ValueError(f"{name}: x must be [N, T, F], got {x.shape}")
    n, _, f = x.shape
    if w_hh.ndim != 2 or w_hh.shape[0] % gates or w_hh.shape[0] != gates * w_hh.shape[1]:
        raise ValueError(f"{name}: w_hh must be [{gates}*H, H], got {w_hh.shape}")
    h = w_hh.shape[1]
    if w_ih.shape != (gates * h, f):
        raise ValueError(f"{name}: w_ih must be [{gates}*{h}, {f}] = {(gates * h, f)}, got {w_ih.shape}")
    zeros_b = np.zeros(gates * h, dtype=dtype)
    b_ih = zeros_b if b_ih is None else np.asarray(b_ih, dtype=dtype)
    b_hh = zeros_b if b_hh is None else np.asarray(b_hh, dtype=dtype)
    for bname, bias in (("b_ih", b_ih), ("b_hh", b_hh)):
        if bias.shape != (gates * h,):
            raise ValueError(f"{name}: {bname} must have shape ({gates * h},), got {bias.shape}")
    out_states = []
    for s in states:
        s = np.zeros((n, h), dtype=dtype) if s is None else np.asarray(s, dtype=dtype)
        if s.shape != (n, h):
            raise ValueError(f"{name}: initial state must be [N, H] = {(n, h)}, got {s.shape}")
        out_states.append(s)
    return x, w_ih, w_hh, b_ih, b_hh, out_states, dtype, h


def rnn_forward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                b_ih: np.ndarray | None, b_hh: np.ndarray | None,
                h0: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Elman RNN with tanh, as one layer of torch.nn.RNN(batch_first=True).

    ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``. x is ``[N, T, F]``,
    w_ih ``[H, F]``, w_hh ``[H, H]``, biases ``[H]`` (None means no bias), h0
    ``[N, H]`` (None means zeros). Returns ``(y [N, T, H], h_T [N, H])``. The
    input projection for all steps is one matmul; only the recurrence loops.
    """
    x, w_ih, w_hh, b_ih, b_hh, (h,), dtype, hid = _rnn_inputs(
        "rnn_forward", 1, x, w_ih, w_hh, b_ih, b_hh, (h0,))
    n, t, _ = x.shape
    xg = x @ w_ih.T + b_ih                                  # [N, T, H]
    y = np.empty((n, t, hid), dtype=dtype)
    for step in range(t):
        h = np.tanh(xg[:, step] + h @ w_hh.T + b_hh)
        y[:, step] = h
    return y, h.copy()


def lstm_forward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                 b_ih: np.ndarray | None, b_hh: np.ndarray | None,
                 h0: np.ndarray | None, c0: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LSTM, as one layer of torch.nn.LSTM(batch_first=True) (no projection).

    Weights are PyTorch's stacked ``[4H, F]`` / ``[4H, H]`` with gate order
    i, f, g, o: ``i, f, o = sigmoid(.)``, ``g = tanh(.)``,
    ``c' = f*c + i*g``, ``h' = o*tanh(c')``. Biases None means zero, h0/c0
    None means zeros. Returns ``(y [N, T, H], h_T [N, H], c_T [N, H])``.
    """
    x, w_ih, w_hh, b_ih, b_hh, (h, c), dtype, hid = _rnn_inputs(
        "lstm_forward", 4, x, w_ih, w_hh, b_ih, b_hh, (h0, c0))
    n, t, _ = x.shape
    xg = x @ w_ih.T + b_ih                                  # [N, T, 4H]
    y = np.empty((n, t, hid), dtype=dtype)
    for step in range(t):
        g_all = xg[:, step] + h @ w_hh.T + b_hh
        i = _sigmoid(g_all[:, 0 * hid:1 * hid])
        f = _sigmoid(g_all[:, 1 * hid:2 * hid])
        g = np.tanh(g_all[:, 2 * hid:3 * hid])
        o = _sigmoid(g_all[:, 3 * hid:4 * hid])
        c = f * c + i * g
        h = o * np.tanh(c)
        y[:, step] = h
    return y, h.copy(), c.copy()


def gru_forward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                b_ih: np.ndarray | None, b_hh: np.ndarray | None,
                h0: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """GRU, as one layer of torch.nn.GRU(batch_first=True).

    Weights are stacked ``[3H, F]`` / ``[3H, H]`` with gate order r, z, n and
    PyTorch's formula (the reset gate multiplies the *projected* hidden state,
    bias included, which differs from the original paper and from ONNX's
    default linear_before_reset=0):
    ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``,
    ``z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)``,
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
    ``h' = (1 - z) * n + z * h``. Returns ``(y [N, T, H], h_T [N, H])``.
    """
    x, w_ih, w_hh, b_ih, b_hh, (h,), dtype, hid = _rnn_inputs(
        "gru_forward", 3, x, w_ih, w_hh, b_ih, b_hh, (h0,))
    n, t, _ = x.shape
    xg = x @ w_ih.T + b_ih                                  # [N, T, 3H]
    y = np.empty((n, t, hid), dtype=dtype)
    for step in range(t):
        hg = h @ w_hh.T + b_hh                              # [N, 3H]
        xs = xg[:, step]
        r = _sigmoid(xs[:, :hid] + hg[:, :hid])
        z = _sigmoid(xs[:, hid:2 * hid] + hg[:, hid:2 * hid])
        cand = np.tanh(xs[:, 2 * hid:] + r * hg[:, 2 * hid:])
        h = (1 - z) * cand + z * h
        y[:, step] = h
    return y, h.copy()


# --------------------------------------------------------------------------
# attention and softmax
# --------------------------------------------------------------------------

def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Softmax along ``axis``, stabilised by subtracting the maximum first.

    Subtracting the max makes every exponent <= 0, so nothing overflows and at
    least one term is exactly 1. A slice that is all -inf gives NaN, as in
    PyTorch.
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    with np.errstate(invalid="ignore"):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return (e / e.sum(axis=axis, keepdims=True)).astype(dtype, copy=False)


def log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    """Log-softmax along ``axis``: ``x - max - log(sum(exp(x - max)))``.

    Computed directly rather than as ``log(softmax(x))`` so that very negative
    entries stay finite instead of underflowing to log(0) = -inf.
    """
    dtype = _compute_dtype(x)
    x = np.asarray(x, dtype=dtype)
    with np.errstate(invalid="ignore"):
        shifted = x - x.max(axis=axis, keepdims=True)
        return (shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))).astype(dtype, copy=False)


def _check_attention(fn: str, q, k, v, wq, bq, wk, bk, wv, bv, wo, bo, heads: int) -> tuple[int, int, int]:
    """Check attention's inputs and weights against each other; return (N, Tq, E)."""
    if q.ndim != 3 or k.ndim != 3 or v.ndim != 3:
        raise ValueError(f"{fn}: q, k, v must be 3-d, got {q.shape}, {k.shape}, {v.shape}")
    n, tq, e = q.shape
    if k.shape[0] != n or v.shape[0] != n or k.shape[1] != v.shape[1]:
        raise ValueError(f"{fn}: k {k.shape} and v {v.shape} must be [N, Tk, *] with N = {n}")
    if heads < 1 or e % heads:
        raise ValueError(f"{fn}: heads={heads} must divide the embedding size {e}")
    expected = {"wq": (wq, (e, e)), "wk": (wk, (e, k.shape[2])), "wv": (wv, (e, v.shape[2])), "wo": (wo, (e, e))}
    for label, (arr, shape) in expected.items():
        if arr.shape != shape:
            raise ValueError(f"{fn}: {label} must have shape {shape}, got {arr.shape}")
    for label, arr in (("bq", bq), ("bk", bk), ("bv", bv), ("bo", bo)):
        if arr is not None and arr.shape != (e,):
            raise ValueError(f"{fn}: {label} must have shape ({e},), got {arr.shape}")
    return n, tq, e


def multi_head_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                         wq: np.ndarray, bq: np.ndarray | None,
                         wk: np.ndarray, bk: np.ndarray | None,
                         wv: np.ndarray, bv: np.ndarray | None,
                         wo: np.ndarray, bo: np.ndarray | None,
                         heads: int) -> np.ndarray:
    """Multi-head attention as torch.nn.MultiheadAttention(batch_first=True, kdim, vdim).

    q is ``[N, Tq, E]``, k ``[N, Tk, Ek]``, v ``[N, Tk, Ev]``; the projections
    are ``wq [E, E]``, ``wk [E, Ek]``, ``wv [E, Ev]``, ``wo [E, E]`` with
    ``[E]`` biases (None means no bias), applied as ``x W^T + b`` like
    nn.Linear. Each of the ``heads`` heads of width ``D = E / heads`` computes
    ``softmax(Q K^T / sqrt(D)) V`` over the keys; the heads are concatenated
    and projected by ``wo``. No mask, no dropout. Returns ``[N, Tq, E]``
    (PyTorch's first output; the averaged attention weights are not returned).
    """
    dtype = _compute_dtype(q)
    q, k, v, wq, wk, wv, wo = (np.asarray(a, dtype=dtype) for a in (q, k, v, wq, wk, wv, wo))
    bq, bk, bv, bo = (_as(a, dtype) for a in (bq, bk, bv, bo))
    heads = int(heads)
    n, tq, e = _check_attention("multi_head_attention", q, k, v, wq, bq, wk, bk, wv, bv, wo, bo, heads)

    def linear(a: np.ndarray, wt: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        out = a @ wt.T
        return out if bias is None else out + bias

    d = e // heads
    tk = k.shape[1]
    qh = linear(q, wq, bq).reshape(n, tq, heads, d).transpose(0, 2, 1, 3)   # [N, H, Tq, D]
    kh = linear(k, wk, bk).reshape(n, tk, heads, d).transpose(0, 2, 1, 3)   # [N, H, Tk, D]
    vh = linear(v, wv, bv).reshape(n, tk, heads, d).transpose(0, 2, 1, 3)   # [N, H, Tk, D]
    scores = (qh @ kh.transpose(0, 1, 3, 2)) * dtype.type(1.0 / math.sqrt(d))  # [N, H, Tq, Tk]
    attn = softmax(scores, axis=-1)
    ctx = (attn @ vh).transpose(0, 2, 1, 3).reshape(n, tq, e)              # [N, Tq, E]
    return np.ascontiguousarray(linear(ctx, wo, bo), dtype=dtype)


# ==========================================================================
# backward kernels (vector-Jacobian products for reverse-mode autodiff)
# ==========================================================================
#
# Each ``*_backward`` function takes the forward's inputs and the gradient
# ``g`` of a scalar loss with respect to the forward's output, and returns the
# gradients with respect to the inputs and parameters, with exactly the shapes
# of those inputs and in the forward's compute dtype (``_compute_dtype`` of the
# data input). They are stateless: whatever intermediate values are needed are
# recomputed from the inputs, so autodiff only has to keep the forward inputs.
# The same vectorisation rules as the forwards hold: im2col / batched matmul /
# einsum, Python loops only over kernel taps and time steps.

__all__ += [
    "conv_nd_backward",
    "conv_transpose_nd_backward",
    "max_pool_nd_backward",
    "avg_pool_nd_backward",
    "rnn_backward",
    "lstm_backward",
    "gru_backward",
    "multi_head_attention_backward",
    "softmax_backward",
    "log_softmax_backward",
]


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


# --------------------------------------------------------------------------
# convolution backward
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# pooling backward
# --------------------------------------------------------------------------

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


# --------------------------------------------------------------------------
# recurrent layers backward (backprop through time)
# --------------------------------------------------------------------------

def _seq_grads(name: str, gy: np.ndarray | None, ghs: Sequence[np.ndarray | None],
               n: int, t: int, hid: int, dtype: np.dtype) -> tuple[np.ndarray, list[np.ndarray]]:
    """Cast (None -> zeros) and shape-check the output-sequence and final-state gradients."""
    gy = np.zeros((n, t, hid), dtype=dtype) if gy is None else _check_grad(name, gy, (n, t, hid), dtype)
    states = [np.zeros((n, hid), dtype=dtype) if s is None else _check_grad(name, s, (n, hid), dtype)
              for s in ghs]
    return gy, states


def _input_param_grads(x: np.ndarray, w_ih: np.ndarray, dxg: np.ndarray,
                       hprev: np.ndarray, dhg: np.ndarray, dtype: np.dtype) -> dict[str, np.ndarray]:
    """Gradients of the two affine maps of a recurrent layer, vectorised over all steps.

    dxg ``[N, T, G*H]`` is the gradient of ``x W_ih^T + b_ih`` at every step and
    dhg ``[N, T, G*H]`` that of ``h_{t-1} W_hh^T + b_hh`` (hprev ``[N, T, H]``
    holds the h_{t-1}); the weight gradients are then one einsum each instead
    of a per-step accumulation.
    """
    return {
        "x": np.ascontiguousarray(dxg @ w_ih, dtype=dtype),
        "w_ih": np.einsum("ntg,ntf->gf", dxg, x, optimize=True).astype(dtype, copy=False),
        "w_hh": np.einsum("ntg,nth->gh", dhg, hprev, optimize=True).astype(dtype, copy=False),
        "b_ih": dxg.sum(axis=(0, 1)).astype(dtype, copy=False),
        "b_hh": dhg.sum(axis=(0, 1)).astype(dtype, copy=False),
    }


def rnn_backward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                 b_ih: np.ndarray | None, b_hh: np.ndarray | None, h0: np.ndarray | None,
                 gy: np.ndarray | None, ghT: np.ndarray | None) -> dict[str, np.ndarray]:
    """Backprop through time for ``rnn_forward`` (tanh Elman RNN, batch first).

    gy ``[N, T, H]`` is the gradient w.r.t. the output sequence and ghT
    ``[N, H]`` w.r.t. the final state; either may be None (zeros). The forward
    is recomputed here (storing every h_t), then one reverse loop over time
    propagates ``dh``: ``da_t = (dh_t + gy_t) * (1 - h_t^2)``,
    ``dh_{t-1} = da_t W_hh``. Returns a dict with keys "x", "w_ih", "w_hh",
    "b_ih", "b_hh", "h0", each shaped like that argument; a bias or h0 given as
    None gets the gradient of the zeros it stood for.
    """
    x, w_ih, w_hh, b_ih, b_hh, (h,), dtype, hid = _rnn_inputs(
        "rnn_backward", 1, x, w_ih, w_hh, b_ih, b_hh, (h0,))
    n, t, _ = x.shape
    gy, (dh,) = _seq_grads("rnn_backward", gy, (ghT,), n, t, hid, dtype)
    xg = x @ w_ih.T + b_ih
    hs = np.empty((n, t + 1, hid), dtype=dtype)               # hs[:, s] = h_{s-1}; hs[:, 0] = h0
    hs[:, 0] = h
    for step in range(t):
        hs[:, step + 1] = np.tanh(xg[:, step] + hs[:, step] @ w_hh.T + b_hh)
    da = np.empty((n, t, hid), dtype=dtype)
    for step in reversed(range(t)):
        hcur = hs[:, step + 1]
        da[:, step] = (dh + gy[:, step]) * (1 - hcur * hcur)
        dh = da[:, step] @ w_hh
    out = _input_param_grads(x, w_ih, da, hs[:, :t], da, dtype)
    out["h0"] = np.ascontiguousarray(dh, dtype=dtype)
    return out


def lstm_backward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                  b_ih: np.ndarray | None, b_hh: np.ndarray | None,
                  h0: np.ndarray | None, c0: np.ndarray | None,
                  gy: np.ndarray | None, ghT: np.ndarray | None, gcT: np.ndarray | None
                  ) -> dict[str, np.ndarray]:
    """Backprop through time for ``lstm_forward`` (PyTorch gate order i, f, g, o).

    gy ``[N, T, H]``, ghT and gcT ``[N, H]`` are the gradients w.r.t. the
    output sequence and the final h and c; any may be None (zeros). The
    forward is recomputed storing the gate activations and cell states; the
    reverse loop carries ``dh`` and ``dc``:
    ``dc += dh * o * (1 - tanh(c)^2)``, ``do = dh * tanh(c)``,
    ``di = dc * g``, ``df = dc * c_{t-1}``, ``dg = dc * i``,
    ``dc_{t-1} = dc * f``, and the pre-activation gradients (sigmoid' =
    s(1-s), tanh' = 1-t^2) give ``dh_{t-1} = da W_hh``. Returns a dict with keys
    "x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0".
    """
    x, w_ih, w_hh, b_ih, b_hh, (h, c), dtype, hid = _rnn_inputs(
        "lstm_backward", 4, x, w_ih, w_hh, b_ih, b_hh, (h0, c0))
    n, t, _ = x.shape
    gy, (dh, dc) = _seq_grads("lstm_backward", gy, (ghT, gcT), n, t, hid, dtype)
    xg = x @ w_ih.T + b_ih
    hs = np.empty((n, t + 1, hid), dtype=dtype)
    cs = np.empty((n, t + 1, hid), dtype=dtype)
    gates = np.empty((n, t, 4 * hid), dtype=dtype)            # activated i, f, g, o per step
    hs[:, 0], cs[:, 0] = h, c
    for step in range(t):
        a = xg[:, step] + hs[:, step] @ w_hh.T + b_hh
        i = _sigmoid(a[:, :hid])
        f = _sigmoid(a[:, hid:2 * hid])
        gg = np.tanh(a[:, 2 * hid:3 * hid])
        o = _sigmoid(a[:, 3 * hid:])
        cs[:, step + 1] = f * cs[:, step] + i * gg
        hs[:, step + 1] = o * np.tanh(cs[:, step + 1])
        gates[:, step] = np.concatenate([i, f, gg, o], axis=1)
    da = np.empty((n, t, 4 * hid), dtype=dtype)
    for step in reversed(range(t)):
        i, f, gg, o = (gates[:, step, j * hid:(j + 1) * hid] for j in range(4))
        dh = dh + gy[:, step]
        tc = np.tanh(cs[:, step + 1])
        dc = dc + dh * o * (1 - tc * tc)
        da[:, step, :hid] = dc * gg * i * (1 - i)
        da[:, step, hid:2 * hid] = dc * cs[:, step] * f * (1 - f)
        da[:, step, 2 * hid:3 * hid] = dc * i * (1 - gg * gg)
        da[:, step, 3 * hid:] = dh * tc * o * (1 - o)
        dc = dc * f
        dh = da[:, step] @ w_hh
    out = _input_param_grads(x, w_ih, da, hs[:, :t], da, dtype)
    out["h0"] = np.ascontiguousarray(dh, dtype=dtype)
    out["c0"] = np.ascontiguousarray(dc, dtype=dtype)
    return out


def gru_backward(x: np.ndarray, w_ih: np.ndarray, w_hh: np.ndarray,
                 b_ih: np.ndarray | None, b_hh: np.ndarray | None, h0: np.ndarray | None,
                 gy: np.ndarray | None, ghT: np.ndarray | None) -> dict[str, np.ndarray]:
    """Backprop through time for ``gru_forward`` (PyTorch gate order r, z, n and formula).

    gy ``[N, T, H]`` and ghT ``[N, H]`` may be None (zeros). Because PyTorch's
    reset gate multiplies the projected hidden state ``hn = W_hn h + b_hn``,
    the gradients of the two affine maps differ in their n block: the input
    side gets ``dan = dn * (1 - n^2)`` while the hidden side gets ``dan * r``,
    and ``dr = dan * hn``. With ``h' = (1 - z) n + z h``:
    ``dn = dh (1 - z)``, ``dz = dh (h - n)``, ``dh_{t-1} = dh z + dhg W_hh``.
    Returns a dict with keys "x", "w_ih", "w_hh", "b_ih", "b_hh", "h0".
    """
    x, w_ih, w_hh, b_ih, b_hh, (h,), dtype, hid = _rnn_inputs(
        "gru_backward", 3, x, w_ih, w_hh, b_ih, b_hh, (h0,))
    n, t, _ = x.shape
    gy, (dh,) = _seq_grads("gru_backward", gy, (ghT,), n, t, hid, dtype)
    xg = x @ w_ih.T + b_ih
    hs = np.empty((n, t + 1, hid), dtype=dtype)
    rs = np.empty((n, t, hid), dtype=dtype)
    zs = np.empty((n, t, hid), dtype=dtype)
    cands = np.empty((n, t, hid), dtype=dtype)
    hns = np.empty((n, t, hid), dtype=dtype)                  # W_hn h_{t-1} + b_hn
    hs[:, 0] = h
    for step in range(t):
        hg = hs[:, step] @ w_hh.T + b_hh
        xs = xg[:, step]
        r = _sigmoid(xs[:, :hid] + hg[:, :hid])
        z = _sigmoid(xs[:, hid:2 * hid] + hg[:, hid:2 * hid])
        cand = np.tanh(xs[:, 2 * hid:] + r * hg[:, 2 * hid:])
        hs[:, step + 1] = (1 - z) * cand + z * hs[:, step]
        rs[:, step], zs[:, step], cands[:, step], hns[:, step] = r, z, cand, hg[:, 2 * hid:]
    dxg = np.empty((n, t, 3 * hid), dtype=dtype)
    dhg = np.empty((n, t, 3 * hid), dtype=dtype)
    for step in reversed(range(t)):
        r, z, cand, hn = rs[:, step], zs[:, step], cands[:, step], hns[:, step]
        dh = dh + gy[:, step]
        dan = dh * (1 - z) * (1 - cand * cand)
        daz = dh * (hs[:, step] - cand) * z * (1 - z)
        dar = dan * hn * r * (1 - r)
        dxg[:, step, :hid] = dar
        dxg[:, step, hid:2 * hid] = daz
        dxg[:, step, 2 * hid:] = dan
        dhg[:, step, :hid] = dar
        dhg[:, step, hid:2 * hid] = daz
        dhg[:, step, 2 * hid:] = dan * r
        dh = dh * z + dhg[:, step] @ w_hh
    out = _input_param_grads(x, w_ih, dxg, hs[:, :t], dhg, dtype)
    out["h0"] = np.ascontiguousarray(dh, dtype=dtype)
    return out


# --------------------------------------------------------------------------
# softmax and attention backward
# --------------------------------------------------------------------------

def softmax_backward(y: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """Gradient of ``softmax(x, axis)`` w.r.t. x, given its output y and the output gradient g.

    The Jacobian is ``diag(y) - y y^T`` along the axis, so the product is
    ``y * (g - sum(g * y))``; expressed through y, the forward input is not
    needed. Computed in y's float dtype.
    """
    dtype = _compute_dtype(y)
    y = np.asarray(y, dtype=dtype)
    g = _check_grad("softmax_backward", g, y.shape, dtype)
    return (y * (g - (g * y).sum(axis=axis, keepdims=True))).astype(dtype, copy=False)


def log_softmax_backward(y: np.ndarray, g: np.ndarray, axis: int) -> np.ndarray:
    """Gradient of ``log_softmax(x, axis)`` w.r.t. x, given its output y and the output gradient g.

    ``d/dx (x - logsumexp(x)) = I - softmax(x) 1^T``, so the product is
    ``g - exp(y) * sum(g)``; ``exp(y)`` is the softmax, recovered from y
    without the forward input.
    """
    dtype = _compute_dtype(y)
    y = np.asarray(y, dtype=dtype)
    g = _check_grad("log_softmax_backward", g, y.shape, dtype)
    return (g - np.exp(y) * g.sum(axis=axis, keepdims=True)).astype(dtype, copy=False)


def multi_head_attention_backward(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                                  wq: np.ndarray, bq: np.ndarray | None,
                                  wk: np.ndarray, bk: np.ndarray | None,
                                  wv: np.ndarray, bv: np.ndarray | None,
                                  wo: np.ndarray, bo: np.ndarray | None,
                                  heads: int, g: np.ndarray) -> dict[str, np.ndarray]:
    """Gradients of ``multi_head_attention(q, k, v, wq, bq, wk, bk, wv, bv, wo, bo, heads)``.

    g is the gradient w.r.t. the output ``[N, Tq, E]``. The forward is
    recomputed (projections, per-head scores, softmax, context), then the
    chain is reversed with batched matmuls: output projection, ``attn @ V``,
    ``softmax_backward`` over the keys, the scaled ``Q K^T`` and finally the
    three input projections. Returns a dict with keys "q", "k", "v", "wq",
    "bq", "wk", "bk", "wv", "bv", "wo", "bo", each shaped like that argument
    (a bias given as None gets the gradient of the zero bias it stood for).
    When the same array is passed as q, k and v (self-attention) the caller
    adds the three input gradients.
    """
    dtype = _compute_dtype(q)
    q, k, v, wq, wk, wv, wo = (np.asarray(a, dtype=dtype) for a in (q, k, v, wq, wk, wv, wo))
    bq, bk, bv, bo = (_as(a, dtype) for a in (bq, bk, bv, bo))
    heads = int(heads)
    n, tq, e = _check_attention("multi_head_attention_backward", q, k, v, wq, bq, wk, bk, wv, bv, wo, bo, heads)
    g = _check_grad("multi_head_attention_backward", g, (n, tq, e), dtype)

    def linear(a: np.ndarray, wt: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        out = a @ wt.T
        return out if bias is None else out + bias

    def split(a: np.ndarray) -> np.ndarray:                   # [N, T, E] -> [N, H, T, D]
        return a.reshape(a.shape[0], a.shape[1], heads, d).transpose(0, 2, 1, 3)

    def merge(a: np.ndarray) -> np.ndarray:                   # [N, H, T, D] -> [N, T, E]
        return a.transpose(0, 2, 1, 3).reshape(a.shape[0], a.shape[2], e)

    d = e // heads
    scale = dtype.type(1.0 / math.sqrt(d))
    qh, kh, vh = split(linear(q, wq, bq)), split(linear(k, wk, bk)), split(linear(v, wv, bv))
    attn = softmax((qh @ kh.transpose(0, 1, 3, 2)) * scale, axis=-1)          # [N, H, Tq, Tk]
    ctx = merge(attn @ vh)                                                    # [N, Tq, E]

    dctx = split(g @ wo)                                                      # [N, H, Tq, D]
    dattn = dctx @ vh.transpose(0, 1, 3, 2)                                   # [N, H, Tq, Tk]
    dvh = attn.transpose(0, 1, 3, 2) @ dctx                                   # [N, H, Tk, D]
    dscores = softmax_backward(attn, dattn, axis=-1) * scale
    dqh = dscores @ kh                                                        # [N, H, Tq, D]
    dkh = dscores.transpose(0, 1, 3, 2) @ qh                                  # [N, H, Tk, D]

    out: dict[str, np.ndarray] = {}
    for name, inp, wt, dproj in (("q", q, wq, merge(dqh)), ("k", k, wk, merge(dkh)), ("v", v, wv, merge(dvh))):
        out[name] = np.ascontiguousarray(dproj @ wt, dtype=dtype)
        out["w" + name] = np.einsum("nte,ntf->ef", dproj, inp, optimize=True).astype(dtype, copy=False)
        out["b" + name] = dproj.sum(axis=(0, 1)).astype(dtype, copy=False)
    out["wo"] = np.einsum("nte,ntf->ef", g, ctx, optimize=True).astype(dtype, copy=False)
    out["bo"] = g.sum(axis=(0, 1)).astype(dtype, copy=False)
    return {key: out[key] for key in ("q", "k", "v", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")}
