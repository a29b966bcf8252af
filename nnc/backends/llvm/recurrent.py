"""rnn, lstm and gru (forward) as a run-time loop over the sequence, whose length T may be symbolic.

The oracle's kernels (nnc/ops/_recurrent_kernels.py, PyTorch's gate order and GRU formula): the input
projection of every step is one matmul; then per step one matmul of the state by W_hh^T and one fused
loop for the gates. The hidden state of step t is written straight into y[:, t] and read back from
there as the next step's matmul operand (a strided view), so the sequence output costs no copy. Step 0
(no previous state, or the initial one) is emitted once; steps 1 .. T-1 are one `StepLoop` of the entry
point (loops.py), their offsets polynomials of the loop variable, so the code is the same size for
every T. `recurrent_backward` (their gradient) likewise: the forward recomputed storing every state and
gate (one loop), backprop through time (one loop, steps in reverse, the carried gradients in buffers),
the weight gradients over all steps at once.
"""
from __future__ import annotations

from . import loops as L
from .loops import Const, Expr, Load, Map, Matmul, Reduce, Store


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
    cbuf = lw.new_buf(dtype, (n, hid)) if kind == "lstm" else None

    def step_at(step, h: Expr, c: Expr) -> Expr:
        """The kernels of one step (h, c: the previous state); returns the new h (a view of y)."""
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
            c_new = _map("add", _map("mul", _map("sigmoid", fg), c), _map("mul", _map("sigmoid", i), _map("tanh", g)))
            lw.emit(Store(cbuf.load(), c_new))  # elementwise in place: each element reads its own c first
            lw.emit(Store(out, _map("mul", _map("sigmoid", o), _map("tanh", cbuf.load()))))
        else:  # gru: r, z, n
            r = _map("sigmoid", _map("add", _cols(pre_x, 0, hid), _cols(pre_h, 0, hid)))
            z = _map("sigmoid", _map("add", _cols(pre_x, hid, hid), _cols(pre_h, hid, hid)))
            cand = _map("tanh", _map("add", _cols(pre_x, 2 * hid, hid), _map("mul", r, _cols(pre_h, 2 * hid, hid))))
            one = Const(1.0, dtype, (n, hid))
            prev = h if not isinstance(h, Const) else zero
            lw.emit(Store(out, _map("add", _map("mul", _map("sub", one, z), cand), _map("mul", z, prev))))
        return out

    if not (isinstance(t, int) and t == 0):
        lw.require(t, 1, f"{node.op} needs a sequence of at least one step")
        h = step_at(0, h, c)
        if not (isinstance(t, int) and t == 1):
            with lw.loop(t - 1) as var:  # steps 1 .. T-1
                step_at(var + 1, Load(ys, (n, hid), (t * hid, 1), var * hid), cbuf.load() if cbuf else zero)
            h = Load(ys, (n, hid), (t * hid, 1), (t - 1) * hid)
        c = cbuf.load() if cbuf else c
    results: list[Expr] = [ys.load()]
    if node.attr("return_state", False):
        results.append(h if not isinstance(h, Const) else zero)
        if kind == "lstm":
            results.append(c)
    return results


def _one_minus(x: Expr) -> Expr:
    return _map("sub", Const(1.0, x.dtype, tuple(x.shape)), x)


def lower_recurrent_backward(lw, node, xs) -> list[Expr]:
    """Backprop through time for rnn, lstm and gru, as the oracle's kernels: the forward recomputed storing
    every state (and the LSTM's activated gates), a reverse loop over the steps, then the weight
    gradients as two matmuls and a reduction over every step."""
    kind, n_init = node.attr("kind"), node.attr("initial_states", 0)
    states = 2 if kind == "lstm" else 1
    x = lw.contiguous(xs[0])
    inits = xs[1:1 + n_init]
    w_ih, w_hh, b_ih, b_hh = (lw.contiguous(v) for v in xs[1 + n_init:5 + n_init])
    gy, *g_final = xs[5 + n_init:5 + n_init + 1 + states]
    n, t, f = x.shape
    hid, gh = w_hh.shape[1], w_hh.shape[0]
    dtype = x.dtype
    zero = Const(0.0, dtype, (n, hid))
    # forward again: hs[:, s] = h_{s-1}, cs likewise, acts = activated gates
    xg = lw.new_buf(dtype, (n, t, gh))
    lw.emit(Matmul(Load(xg, (n * t, gh), (gh, 1), 0), Load(x.buf, (n * t, f), (f, 1), x.offset),
                   lw.contiguous(L.transpose(w_ih, (1, 0)))))
    w_hh_t = lw.contiguous(L.transpose(w_hh, (1, 0)))
    hs = lw.new_buf(dtype, (n, t + 1, hid))
    cs = lw.new_buf(dtype, (n, t + 1, hid))
    acts = lw.new_buf(dtype, (n, t, 4 * hid))  # lstm: i, f, g, o activated; gru: r, z, n and W_hn h + b_hn

    def at(buf, step, width: int, size, start: int = 0) -> Load:
        return Load(buf, (n, width), (size * buf.shape[-1], 1), step * buf.shape[-1] + start)

    lw.emit(Store(at(hs, 0, hid, t + 1), inits[0] if inits else zero))
    if kind == "lstm":
        lw.emit(Store(at(cs, 0, hid, t + 1), inits[1] if len(inits) > 1 else zero))
    def forward(step) -> None:
        hbuf = lw.new_buf(dtype, (n, gh))
        lw.emit(Matmul(hbuf.load(), at(hs, step, hid, t + 1), w_hh_t))
        pre = _map("add", _map("add", at(xg, step, gh, t), L.broadcast(b_ih, (n, gh))),
                   _map("add", hbuf.load(), L.broadcast(b_hh, (n, gh))))
        if kind == "rnn":
            lw.emit(Store(at(hs, step + 1, hid, t + 1), _map("tanh", pre)))
            return
        if kind == "gru":
            px = _map("add", at(xg, step, gh, t), L.broadcast(b_ih, (n, gh)))
            ph = _map("add", hbuf.load(), L.broadcast(b_hh, (n, gh)))
            r = _map("sigmoid", _map("add", _cols(px, 0, hid), _cols(ph, 0, hid)))
            z = _map("sigmoid", _map("add", _cols(px, hid, hid), _cols(ph, hid, hid)))
            lw.emit(Store(at(acts, step, hid, t, 0), r))
            lw.emit(Store(at(acts, step, hid, t, hid), z))
            lw.emit(Store(at(acts, step, hid, t, 3 * hid), _cols(ph, 2 * hid, hid)))
            r, z, hn = (at(acts, step, hid, t, j * hid) for j in (0, 1, 3))
            lw.emit(Store(at(acts, step, hid, t, 2 * hid),
                          _map("tanh", _map("add", _cols(px, 2 * hid, hid), _map("mul", r, hn)))))
            cand = at(acts, step, hid, t, 2 * hid)
            lw.emit(Store(at(hs, step + 1, hid, t + 1), _map("add", _map("mul", _one_minus(z), cand),
                                                               _map("mul", z, at(hs, step, hid, t + 1)))))
            return
        for j, fn in enumerate(("sigmoid", "sigmoid", "tanh", "sigmoid")):
            lw.emit(Store(at(acts, step, hid, t, j * hid), _map(fn, _cols(pre, j * hid, hid))))
        i, fg, g, o = (at(acts, step, hid, t, j * hid) for j in range(4))
        lw.emit(Store(at(cs, step + 1, hid, t + 1),
                      _map("add", _map("mul", fg, at(cs, step, hid, t + 1)), _map("mul", i, g))))
        lw.emit(Store(at(hs, step + 1, hid, t + 1), _map("mul", o, _map("tanh", at(cs, step + 1, hid, t + 1)))))

    with lw.loop(t) as var:  # steps 0 .. T-1
        forward(var)
    # backward through time: steps T-1 .. 0, the carried gradients dh (and dc) in buffers
    da = lw.new_buf(dtype, (n, t, gh))
    dhg = lw.new_buf(dtype, (n, t, gh)) if kind == "gru" else da  # gru: the hidden side's n block differs
    dhb = lw.new_buf(dtype, (n, hid))
    lw.emit(Store(dhb.load(), g_final[0]))
    dcb = lw.new_buf(dtype, (n, hid)) if kind == "lstm" else None
    if dcb is not None:
        lw.emit(Store(dcb.load(), g_final[1]))

    def backward(step) -> None:
        dh_t = lw.materialize(_map("add", dhb.load(), at_view(gy, step)))
        if kind == "rnn":
            h = at(hs, step + 1, hid, t + 1)
            lw.emit(Store(at(da, step, gh, t), _map("mul", dh_t, _one_minus(_map("mul", h, h)))))
        elif kind == "gru":
            r, z, cand, hn = (at(acts, step, hid, t, j * hid) for j in range(4))
            dan = lw.materialize(_map("mul", _map("mul", dh_t, _one_minus(z)), _one_minus(_map("mul", cand, cand))))
            daz = _map("mul", _map("mul", dh_t, _map("sub", at(hs, step, hid, t + 1), cand)),
                       _map("mul", z, _one_minus(z)))
            dar = _map("mul", _map("mul", dan, hn), _map("mul", r, _one_minus(r)))
            for j, part in enumerate((dar, daz, dan)):
                lw.emit(Store(at(da, step, hid, t, j * hid), part))
            for j, part in enumerate((at(da, step, hid, t, 0), at(da, step, hid, t, hid), _map("mul", dan, r))):
                lw.emit(Store(at(dhg, step, hid, t, j * hid), part))
        else:
            i, fg, g, o = (at(acts, step, hid, t, j * hid) for j in range(4))
            tc = _map("tanh", at(cs, step + 1, hid, t + 1))
            dc_t = lw.materialize(_map("add", dcb.load(),
                                       _map("mul", _map("mul", dh_t, o), _one_minus(_map("mul", tc, tc)))))
            parts = (_map("mul", _map("mul", dc_t, g), _map("mul", i, _one_minus(i))),
                     _map("mul", _map("mul", dc_t, at(cs, step, hid, t + 1)), _map("mul", fg, _one_minus(fg))),
                     _map("mul", _map("mul", dc_t, i), _one_minus(_map("mul", g, g))),
                     _map("mul", _map("mul", dh_t, tc), _map("mul", o, _one_minus(o))))
            for j, part in enumerate(parts):
                lw.emit(Store(at(da, step, hid, t, j * hid), part))
            lw.emit(Store(dcb.load(), _map("mul", dc_t, fg)))
        if kind != "gru":  # dh_t holds this step's gradient, so the carried one can be overwritten
            lw.emit(Matmul(dhb.load(), at(dhg, step, gh, t), w_hh))
            return
        dbuf = lw.new_buf(dtype, (n, hid))
        lw.emit(Matmul(dbuf.load(), at(dhg, step, gh, t), w_hh))
        z = at(acts, step, hid, t, hid)
        lw.emit(Store(dhb.load(), _map("add", _map("mul", dh_t, z), dbuf.load())))

    with lw.loop(t) as var:
        backward(t - 1 - var)
    dh: Expr = dhb.load()
    dc: Expr = dcb.load() if dcb is not None else zero
    # gradients of the two affine maps, over every step at once
    rows = Load(da, (n * t, gh), (gh, 1), 0)
    da_t = L.transpose(rows, (1, 0))
    hrows = Load(dhg, (n * t, gh), (gh, 1), 0)
    prev = lw.new_buf(dtype, (n, t, hid))
    lw.emit(Store(prev.load(), Load(hs, (n, t, hid), ((t + 1) * hid, hid, 1), 0)))
    outs = node.outputs
    dx = lw.new_buf(dtype, (n, t, f), outs[0])
    lw.emit(Matmul(Load(dx, (n * t, f), (f, 1), 0), rows, w_ih))
    results: list[Expr] = [dx.load()]
    finals = [dh, dc][:n_init]
    results += finals
    k = 1 + n_init
    dw_ih = lw.new_buf(dtype, (gh, f), outs[k])
    lw.emit(Matmul(dw_ih.load(), da_t, Load(x.buf, (n * t, f), (f, 1), x.offset)))
    dw_hh = lw.new_buf(dtype, (gh, hid), outs[k + 1])
    lw.emit(Matmul(dw_hh.load(), L.transpose(hrows, (1, 0)), Load(prev, (n * t, hid), (hid, 1), 0)))
    db = lw.new_buf(dtype, (gh,), outs[k + 2])
    lw.emit(Reduce(db.load(), rows, (0,), "sum"))
    if dhg is da:
        return results + [dw_ih.load(), dw_hh.load(), db.load(), db.load()]
    db_hh = lw.new_buf(dtype, (gh,), outs[k + 3])
    lw.emit(Reduce(db_hh.load(), hrows, (0,), "sum"))
    return results + [dw_ih.load(), dw_hh.load(), db.load(), db_hh.load()]


def at_view(x: Expr, step) -> Expr:
    """x[:, step] of a [N, T, H] expression."""
    return L.view(x, (x.shape[0], x.shape[2]), [[1, 0], [0, 0], [0, 1]], [0, step, 0])
