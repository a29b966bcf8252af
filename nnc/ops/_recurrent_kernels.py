"""numpy kernels of the recurrent layers (batch-first, one layer, one direction), forward and backprop
through time (ops rnn, lstm, gru, recurrent_backward). Shared rules: ``_kernel_common``."""
from __future__ import annotations

from collections.abc import Sequence

from ._kernel_common import (
    _check_grad,
    _compute_dtype,
)
from ._numpy import np

__all__ = [
    "rnn_forward",
    "lstm_forward",
    "gru_forward",
    "rnn_backward",
    "lstm_backward",
    "gru_backward",
]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, overflow-free and accurate for large negative inputs.

    Uses exp(-|x|) so no exp ever overflows, and keeps full relative precision
    on both tails (unlike 0.5 * (1 + tanh(x / 2)), which rounds tiny values to 0).
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


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
