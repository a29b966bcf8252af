"""rnn, lstm and gru (forward) unrolled over the sequence, whose length is concrete when lowering.

The oracle's kernels (nnc/ops/_recurrent_kernels.py, PyTorch's gate order and GRU formula): the input
projection of every step is one matmul; then per step one matmul of the state by W_hh^T and one fused
loop for the gates. The hidden state of step t is written straight into y[:, t] and read back from
there as the next step's matmul operand (a strided view), so the sequence output costs no copy.
`recurrent_backward` (their gradient) is not lowered yet: training steps through them are refused.
"""
from __future__ import annotations

from . import loops as L
from .loops import Const, Expr, Load, Map, Matmul, Store


def _map(op: str, *args: Expr) -> Map:
    return Map(op, tuple(args), args[0].dtype, tuple(args[0].shape))


def _cols(x: Expr, start: int, size: int) -> Expr:
    return L.slice_axis(x, len(x.shape) - 1, start, start + size, 1)


def lower_recurrent(lw, node, xs) -> list[Expr]:
    kind = node.op
    n_init = node.attr("initial_states", 0)
    x = lw.contiguous(xs[0])
    inits = [lw.materialize(s) for s in xs[1:1 + n_init]]
    w_ih, w_hh, b_ih, b_hh = (lw.materialize(v) for v in xs[1 + n_init:5 + n_init])
    n, t, f = x.shape
    hid = w_hh.shape[1]
    gh = w_hh.shape[0]
    dtype = x.dtype
    # every step's input projection at once: xg[N·T, G·H] = x[N·T, F] @ W_ih^T
    xg = lw.new_buf(dtype, (n, t, gh))
    lw.emit(Matmul(Load(xg, (n * t, gh), (gh, 1), 0), Load(x.buf, (n * t, f), (f, 1), x.offset),
                   lw.contiguous(L.transpose(w_ih, (1, 0)))))
    w_hh_t = lw.contiguous(L.transpose(w_hh, (1, 0)))
    ys = lw.new_buf(dtype, (n, t, hid), node.outputs[0])
    zero = Const(0.0, dtype, (n, hid))
    h: Expr = inits[0] if inits else zero
    c: Expr = (inits[1] if len(inits) > 1 else zero) if kind == "lstm" else zero
    for step in range(t):
        if isinstance(h, Const):
            hh: Expr = Const(0.0, dtype, (n, gh))
        else:
            hbuf = lw.new_buf(dtype, (n, gh))
            lw.emit(Matmul(hbuf.load(), h, w_hh_t))
            hh = hbuf.load()
        xs_t = Load(xg, (n, gh), (t * gh, 1), step * gh)
        pre_x = _map("add", xs_t, L.broadcast(b_ih, (n, gh)))
        pre_h = _map("add", hh, L.broadcast(b_hh, (n, gh)))
        out = Load(ys, (n, hid), (t * hid, 1), step * hid)
        if kind == "rnn":
            lw.emit(Store(out, _map("tanh", _map("add", pre_x, pre_h))))
        elif kind == "lstm":
            gates = _map("add", pre_x, pre_h)
            i, fg, g, o = (_cols(gates, k * hid, hid) for k in range(4))
            cbuf = lw.new_buf(dtype, (n, hid))
            c_new = _map("add", _map("mul", _map("sigmoid", fg), c), _map("mul", _map("sigmoid", i), _map("tanh", g)))
            lw.emit(Store(cbuf.load(), c_new))
            c = cbuf.load()
            lw.emit(Store(out, _map("mul", _map("sigmoid", o), _map("tanh", c))))
        else:  # gru: r, z, n
            r = _map("sigmoid", _map("add", _cols(pre_x, 0, hid), _cols(pre_h, 0, hid)))
            z = _map("sigmoid", _map("add", _cols(pre_x, hid, hid), _cols(pre_h, hid, hid)))
            cand = _map("tanh", _map("add", _cols(pre_x, 2 * hid, hid), _map("mul", r, _cols(pre_h, 2 * hid, hid))))
            one = Const(1.0, dtype, (n, hid))
            prev = h if not isinstance(h, Const) else zero
            lw.emit(Store(out, _map("add", _map("mul", _map("sub", one, z), cand), _map("mul", z, prev))))
        h = out
    results: list[Expr] = [ys.load()]
    if node.attr("return_state", False):
        results.append(h if not isinstance(h, Const) else zero)
        if kind == "lstm":
            results.append(c)
    return results
