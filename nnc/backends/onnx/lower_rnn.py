"""rnn and lstm layers and their backpropagation through time (recurrent_backward), unrolled over a static
sequence length in standard ONNX ops, with PyTorch's weights, gate orders (lstm i, f, g, o; gru r, z, n)
and formulas (gru's reset gate multiplies the projected hidden state) as nnc keeps them.

Unrolling costs about 15 nodes a step forward and 30 backward (backends.md §4 measured a Scan at 32 nodes
for any length); it needs the length T known when the graph is built, and a symbolic T is refused with a
clear message.
"""
from __future__ import annotations

from .builder import Builder

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
N_STATES = {"rnn": 1, "lstm": 2, "gru": 1}


def _check(kind: str, x_type) -> int:
    if kind not in GATES:
        raise NotImplementedError(f"the onnx backend cannot lower {kind!r} yet")
    t = x_type.shape[1]
    if not isinstance(t, int):
        raise NotImplementedError(f"an {kind} over a sequence of symbolic length {t} (the onnx backend unrolls "
                                  f"recurrent layers, so T must be known)")
    return t


def _zeros_state(b: Builder, x: str, hidden: int, dtype: str) -> str:
    from .lower_nn import _scalar_tensor
    shape = b.op("Concat", [b.op("Shape", [x], start=0, end=1), b.ints([hidden])], axis=0)
    return b.op("ConstantOfShape", [shape], value=_scalar_tensor(0.0, dtype))


def _unpack(b, ins, it, kind, n_init):
    x = ins[0]
    hidden = it[1 + n_init + 1].shape[1]  # w_hh [G*H, H]
    states = list(ins[1:1 + n_init])
    while len(states) < N_STATES[kind]:
        states.append(_zeros_state(b, x, hidden, it[0].dtype))
    w_ih, w_hh, b_ih, b_hh = ins[1 + n_init:5 + n_init]
    return x, states, w_ih, w_hh, b_ih, b_hh, hidden


def _run(b: Builder, kind: str, t: int, x: str, states: list, w_ih: str, w_hh: str, b_ih: str, b_hh: str,
         dtype: str):
    """The forward recurrence: per step (h, c, activated gates)."""
    xg = b.op("Add", [b.op("MatMul", [x, b.op("Transpose", [w_ih], perm=[1, 0])]), b_ih])  # [N, T, G*H]
    whh_t = b.op("Transpose", [w_hh], perm=[1, 0])
    h, c = states[0], (states[1] if kind == "lstm" else None)
    steps = []
    for s in range(t):
        if kind != "gru":
            a = b.op("Add", [b.op("Add", [b.op("Gather", [xg, b.const(s, "i64")], axis=1),
                                          b.op("MatMul", [h, whh_t])]), b_hh])
        if kind == "rnn":
            h = b.op("Tanh", [a])
            steps.append((h, None, None))
            continue
        if kind == "gru":
            xr, xz, xn = b.op("Split", [b.op("Gather", [xg, b.const(s, "i64")], axis=1)], n_out=3, axis=1,
                              num_outputs=3)
            hr, hz, hn = b.op("Split", [b.op("Add", [b.op("MatMul", [h, whh_t]), b_hh])], n_out=3, axis=1,
                              num_outputs=3)
            r = b.op("Sigmoid", [b.op("Add", [xr, hr])])
            z = b.op("Sigmoid", [b.op("Add", [xz, hz])])
            n = b.op("Tanh", [b.op("Add", [xn, b.op("Mul", [r, hn])])])
            h = b.op("Add", [b.op("Mul", [b.op("Sub", [b.const(1.0, dtype), z]), n]), b.op("Mul", [z, h])])
            steps.append((h, None, (r, z, n, hn)))
            continue
        pi, pf, pg, po = b.op("Split", [a], n_out=4, axis=1, num_outputs=4)
        i, f, g, o = b.op("Sigmoid", [pi]), b.op("Sigmoid", [pf]), b.op("Tanh", [pg]), b.op("Sigmoid", [po])
        c = b.op("Add", [b.op("Mul", [f, c]), b.op("Mul", [i, g])])
        h = b.op("Mul", [o, b.op("Tanh", [c])])
        steps.append((h, c, (i, f, g, o)))
    return steps


def _stack(b: Builder, items: list[str]) -> str:
    return b.op("Concat", [b.op("Unsqueeze", [v, b.ints([1])]) for v in items], axis=1)


def _forward(kind: str):
    def rule(b, ins, it, ot, a):
        t = _check(kind, it[0])
        n_init = a["initial_states"]
        x, states, w_ih, w_hh, b_ih, b_hh, _ = _unpack(b, ins, it, kind, n_init)
        steps = _run(b, kind, t, x, states, w_ih, w_hh, b_ih, b_hh, it[0].dtype)
        out = [_stack(b, [s[0] for s in steps])]
        if a["return_state"]:
            out.append(b.op("Identity", [steps[-1][0]]))
            if kind == "lstm":
                out.append(b.op("Identity", [steps[-1][1]]))
        return out
    return rule


def _one_minus_sq(b: Builder, v: str, one: str) -> str:
    return b.op("Sub", [one, b.op("Mul", [v, v])])


def _recurrent_backward(b, ins, it, ot, a):
    kind, n_init = a["kind"], a["initial_states"]
    t = _check(kind, it[0])
    dtype = it[0].dtype
    x, states, w_ih, w_hh, b_ih, b_hh, hidden = _unpack(b, ins, it, kind, n_init)
    grads = ins[5 + n_init:]
    gy, dh = grads[0], grads[1]
    dc = grads[2] if kind == "lstm" else None
    steps = _run(b, kind, t, x, states, w_ih, w_hh, b_ih, b_hh, dtype)
    one = b.const(1.0, dtype)

    def mul(*vs):
        out = vs[0]
        for v in vs[1:]:
            out = b.op("Mul", [out, v])
        return out

    def sigmoid_grad(v):
        return mul(v, b.op("Sub", [one, v]))

    dxs, dhs = [None] * t, [None] * t  # per step: the gradients of x W_ih^T + b_ih and of h W_hh^T + b_hh
    for s in reversed(range(t)):
        h, c, gates = steps[s]
        h_prev = steps[s - 1][0] if s else states[0]
        dh = b.op("Add", [dh, b.op("Gather", [gy, b.const(s, "i64")], axis=1)])
        carry = None  # what dh_{t-1} gets besides da W_hh
        if kind == "rnn":
            dxs[s] = dhs[s] = mul(dh, _one_minus_sq(b, h, one))
        elif kind == "lstm":
            i, f, g, o = gates
            c_prev = steps[s - 1][1] if s else states[1]
            tc = b.op("Tanh", [c])
            dc = b.op("Add", [dc, mul(dh, o, _one_minus_sq(b, tc, one))])
            da = b.op("Concat", [mul(dc, g, sigmoid_grad(i)), mul(dc, c_prev, sigmoid_grad(f)),
                                 mul(dc, i, _one_minus_sq(b, g, one)), mul(dh, tc, sigmoid_grad(o))], axis=1)
            dxs[s] = dhs[s] = da
            dc = mul(dc, f)
        else:  # gru: the reset gate multiplies the projected hidden state, so the n blocks differ
            r, z, n, hn = gates
            dan = mul(dh, b.op("Sub", [one, z]), _one_minus_sq(b, n, one))
            daz = mul(dh, b.op("Sub", [h_prev, n]), sigmoid_grad(z))
            dar = mul(dan, hn, sigmoid_grad(r))
            dxs[s] = b.op("Concat", [dar, daz, dan], axis=1)
            dhs[s] = b.op("Concat", [dar, daz, mul(dan, r)], axis=1)
            carry = mul(dh, z)
        dh = b.op("MatMul", [dhs[s], w_hh])
        if carry is not None:
            dh = b.op("Add", [carry, dh])
    gh = GATES[kind] * hidden
    hprev = _stack(b, [states[0]] + [st[0] for st in steps[:-1]])  # [N, T, H]
    dx_all = _stack(b, dxs)  # [N, T, G*H]
    flat_dx = b.op("Reshape", [dx_all, b.ints([-1, gh])])
    flat_dh = flat_dx if dhs == dxs else b.op("Reshape", [_stack(b, dhs), b.ints([-1, gh])])
    dx = b.op("MatMul", [dx_all, w_ih])
    dw_ih = b.op("MatMul", [b.op("Transpose", [flat_dx], perm=[1, 0]),
                            b.op("Reshape", [x, b.ints([-1, it[0].shape[2]])])])
    dw_hh = b.op("MatMul", [b.op("Transpose", [flat_dh], perm=[1, 0]), b.op("Reshape", [hprev, b.ints([-1, hidden])])])
    db_ih = b.op("ReduceSum", [flat_dx, b.ints([0])], keepdims=0)
    db_hh = b.op("ReduceSum", [flat_dh, b.ints([0])], keepdims=0)
    inits = [dh, dc][:n_init]
    return [dx] + inits + [dw_ih, dw_hh, db_ih, db_hh]


LOWER_RNN = {"rnn": _forward("rnn"), "lstm": _forward("lstm"), "gru": _forward("gru"),
             "recurrent_backward": _recurrent_backward}
