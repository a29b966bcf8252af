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
    nsp = _spatial_ndim(x, "conv_transpose_nd")
    if w.ndim != nsp + 2:
        raise ValueError(
            f"conv_transpose_nd: weight must be [C_in, O/groups, *kernel] with {nsp} kernel axes, got {w.shape}")
    groups = int(groups)
    n, c = x.shape[:2]
    cw, og = w.shape[:2]
    kernel = tuple(w.shape[2:])
    if cw != c:
        raise ValueError(f"conv_transpose_nd: weight has {cw} input channels, x has {c}")
    if groups < 1 or c % groups:
        raise ValueError(f"conv_transpose_nd: groups={groups} must divide input channels {c}")
    o = og * groups
    if b is not None and b.shape != (o,):
        raise ValueError(f"conv_transpose_nd: bias must have shape ({o},), got {b.shape}")
    stride = _check_geometry("stride", stride, nsp, 1)
    dilation = _check_geometry("dilation", dilation, nsp, 1)
    pads = _check_geometry("padding", padding, nsp, 0)
    opad = _check_geometry("output_padding", output_padding, nsp, 0)
    for axis in range(nsp):
        if opad[axis] >= max(stride[axis], dilation[axis]):
            raise ValueError(
                f"output_padding[{axis}] = {opad[axis]} must be smaller than stride ({stride[axis]}) "
                f"or dilation ({dilation[axis]})")

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
    if q.ndim != 3 or k.ndim != 3 or v.ndim != 3:
        raise ValueError(f"multi_head_attention: q, k, v must be 3-d, got {q.shape}, {k.shape}, {v.shape}")
    n, tq, e = q.shape
    if k.shape[0] != n or v.shape[0] != n or k.shape[1] != v.shape[1]:
        raise ValueError(f"multi_head_attention: k {k.shape} and v {v.shape} must be [N, Tk, *] with N = {n}")
    if heads < 1 or e % heads:
        raise ValueError(f"multi_head_attention: heads={heads} must divide the embedding size {e}")
    expected = {"wq": (wq, (e, e)), "wk": (wk, (e, k.shape[2])), "wv": (wv, (e, v.shape[2])), "wo": (wo, (e, e))}
    for name, (arr, shape) in expected.items():
        if arr.shape != shape:
            raise ValueError(f"multi_head_attention: {name} must have shape {shape}, got {arr.shape}")
    for name, arr in (("bq", bq), ("bk", bk), ("bv", bv), ("bo", bo)):
        if arr is not None and arr.shape != (e,):
            raise ValueError(f"multi_head_attention: {name} must have shape ({e},), got {arr.shape}")

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
