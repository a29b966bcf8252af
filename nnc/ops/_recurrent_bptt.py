"""Backpropagation through time for rnn, lstm and gru, written in nnc ops and unrolled over a static length.

recurrent_backward is a kernel (numpy: _recurrent_kernels.py, LLVM and ONNX
lowerings elsewhere). Its own gradient, which a second derivative through a
recurrent layer needs (WGAN-GP or R1 with an LSTM critic), is the gradient of
this function: the same computation as the kernels' `*_backward`, step by
step in differentiable ops, so autodiff differentiates it
(recurrent_backward's `vjp` via nnc/passes/derived_vjp.py). The loop over
time is unrolled, so the sequence length must be known when the graph is
built. Weights and gate orders are PyTorch's: rnn (tanh), lstm (i, f, g, o),
gru (r, z, n, the reset gate multiplying the projected hidden state).
"""
from __future__ import annotations

from ._prims import cannot, const, zeros_like

STATES = {"rnn": 1, "gru": 1, "lstm": 2}


def static_length(x_type) -> int | None:
    """The sequence length T of x [N, T, F] when it is a number, else None."""
    t = x_type.shape[1]
    return t if isinstance(t, int) else None


def bptt(e, ins: list, out_types: list, a: dict) -> list:
    """The outputs of recurrent_backward (dx, the given initial states' gradients, dw_ih, dw_hh, db_ih, db_hh)
    for its inputs `ins` (x, initial states, four weights, gy, final-state gradients), in nnc ops."""
    kind, n_init = a["kind"], a["initial_states"]
    x = ins[0]
    steps = static_length(x.type)
    if steps is None:
        cannot("recurrent_backward", f"a sequence length `{x.type.shape[1]}` that is not a number")
    w_ih, w_hh, b_ih, b_hh = ins[1 + n_init:5 + n_init]
    gy, *g_final = ins[5 + n_init:]
    init = list(ins[1:1 + n_init])
    while len(init) < STATES[kind]:
        init.append(zeros_like(e, g_final[0]))  # [N, H] zeros, N possibly symbolic
    rule = {"rnn": _rnn, "lstm": _lstm, "gru": _gru}[kind]
    dxg, dhg, hprev, d_init = rule(e, x, steps, w_ih, w_hh, b_ih, b_hh, init, gy, g_final)
    return [e("matmul", dxg, w_ih)] + d_init[:n_init] + [
        _weight_grad(e, dxg, x), _weight_grad(e, dhg, hprev),
        e("sum", dxg, axis=(0, 1)), e("sum", dhg, axis=(0, 1))]


def _t(e, w):
    return e("transpose", w, perm=(1, 0))


def _cols(e, z, k: int, width: int):
    """Block k of width `width` along axis 1 of [N, G*H]."""
    return e("slice", z, start=k * width, end=(k + 1) * width, axis=1)


def _step(e, z, s: int):
    """Step s of [N, T, K] as [N, K]."""
    return e("reshape", e("slice", z, start=s, end=s + 1, axis=1), shape=(-1, z.type.shape[2]))


def _stack(e, zs: list):
    """[N, K] per step → [N, T, K]."""
    k = zs[0].type.shape[1]
    rows = [e("reshape", z, shape=(-1, 1, k)) for z in zs]
    return rows[0] if len(rows) == 1 else e("concat", *rows, axis=1)


def _weight_grad(e, dz, x):
    """Σ over batch and time of dzᵀ·x: [G*H, K]."""
    rows = lambda z: e("reshape", z, shape=(-1, z.type.shape[2]))  # noqa: E731
    return e("matmul", _t(e, rows(dz)), rows(x))


def _one_minus(e, z):
    return e("sub", const(e, 1.0, z), z)


def _projections(e, x, w_ih, w_hh, b_ih, b_hh):
    """x·W_ihᵀ + b_ih for every step at once, W_hhᵀ, and a function giving h·W_hhᵀ + b_hh."""
    xg = e("add", e("matmul", x, _t(e, w_ih)), b_ih)
    w_hh_t = _t(e, w_hh)
    return xg, lambda h: e("add", e("matmul", h, w_hh_t), b_hh)


def _rnn(e, x, steps, w_ih, w_hh, b_ih, b_hh, init, gy, g_final):
    xg, hidden = _projections(e, x, w_ih, w_hh, b_ih, b_hh)
    hs = [init[0]]
    for s in range(steps):
        hs.append(e("tanh", e("add", _step(e, xg, s), hidden(hs[-1]))))
    dh, da = g_final[0], [None] * steps
    for s in reversed(range(steps)):
        h = hs[s + 1]
        da[s] = e("mul", e("add", dh, _step(e, gy, s)), _one_minus(e, e("mul", h, h)))
        dh = e("matmul", da[s], w_hh)
    dxg = _stack(e, da)
    return dxg, dxg, _stack(e, hs[:steps]), [dh]


def _lstm(e, x, steps, w_ih, w_hh, b_ih, b_hh, init, gy, g_final):
    hid = w_hh.type.shape[1]
    xg, hidden = _projections(e, x, w_ih, w_hh, b_ih, b_hh)
    hs, cs, gates = [init[0]], [init[1]], []
    for s in range(steps):
        a = e("add", _step(e, xg, s), hidden(hs[-1]))
        i, f, o = (e("sigmoid", _cols(e, a, k, hid)) for k in (0, 1, 3))
        g = e("tanh", _cols(e, a, 2, hid))
        cs.append(e("add", e("mul", f, cs[-1]), e("mul", i, g)))
        hs.append(e("mul", o, e("tanh", cs[-1])))
        gates.append((i, f, g, o))
    dh, dc = g_final
    da = [None] * steps
    for s in reversed(range(steps)):
        i, f, g, o = gates[s]
        dh = e("add", dh, _step(e, gy, s))
        tc = e("tanh", cs[s + 1])
        dc = e("add", dc, e("mul", e("mul", dh, o), _one_minus(e, e("mul", tc, tc))))
        d_sig = lambda up, z: e("mul", up, e("mul", z, _one_minus(e, z)))  # noqa: E731
        da[s] = e("concat", d_sig(e("mul", dc, g), i), d_sig(e("mul", dc, cs[s]), f),
                  e("mul", e("mul", dc, i), _one_minus(e, e("mul", g, g))), d_sig(e("mul", dh, tc), o), axis=1)
        dc = e("mul", dc, f)
        dh = e("matmul", da[s], w_hh)
    dxg = _stack(e, da)
    return dxg, dxg, _stack(e, hs[:steps]), [dh, dc]


def _gru(e, x, steps, w_ih, w_hh, b_ih, b_hh, init, gy, g_final):
    hid = w_hh.type.shape[1]
    xg, hidden = _projections(e, x, w_ih, w_hh, b_ih, b_hh)
    hs, saved = [init[0]], []
    for s in range(steps):
        hg, xs = hidden(hs[-1]), _step(e, xg, s)
        r = e("sigmoid", e("add", _cols(e, xs, 0, hid), _cols(e, hg, 0, hid)))
        z = e("sigmoid", e("add", _cols(e, xs, 1, hid), _cols(e, hg, 1, hid)))
        hn = _cols(e, hg, 2, hid)
        cand = e("tanh", e("add", _cols(e, xs, 2, hid), e("mul", r, hn)))
        hs.append(e("add", e("mul", _one_minus(e, z), cand), e("mul", z, hs[-1])))
        saved.append((r, z, cand, hn))
    dh = g_final[0]
    dxg, dhg = [None] * steps, [None] * steps
    for s in reversed(range(steps)):
        r, z, cand, hn = saved[s]
        dh = e("add", dh, _step(e, gy, s))
        dan = e("mul", e("mul", dh, _one_minus(e, z)), _one_minus(e, e("mul", cand, cand)))
        daz = e("mul", e("mul", dh, e("sub", hs[s], cand)), e("mul", z, _one_minus(e, z)))
        dar = e("mul", e("mul", dan, hn), e("mul", r, _one_minus(e, r)))
        dxg[s] = e("concat", dar, daz, dan, axis=1)
        dhg[s] = e("concat", dar, daz, e("mul", dan, r), axis=1)
        dh = e("add", e("mul", dh, z), e("matmul", dhg[s], w_hh))
    return _stack(e, dxg), _stack(e, dhg), _stack(e, hs[:steps]), [dh]
