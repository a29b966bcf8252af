"""rnn and lstm layers and their backpropagation through time (recurrent_backward), unrolled over a static
sequence length in standard ONNX ops, with PyTorch's weights and gate order (i, f, g, o) as nnc keeps them.

Unrolling costs about 15 nodes a step forward and 30 backward (backends.md §4 measured a Scan at 32 nodes
for any length); it needs the length T known when the graph is built, and a symbolic T is refused with a
clear message. gru is not lowered yet.
"""
from __future__ import annotations

from .builder import Builder

GATES = {"rnn": 1, "lstm": 4}
N_STATES = {"rnn": 1, "lstm": 2}


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


def _run(b: Builder, kind: str, t: int, x: str, states: list, w_ih: str, w_hh: str, b_ih: str, b_hh: str):
    """The forward recurrence: per step (h, c, activated gates)."""
    xg = b.op("Add", [b.op("MatMul", [x, b.op("Transpose", [w_ih], perm=[1, 0])]), b_ih])  # [N, T, G*H]
    whh_t = b.op("Transpose", [w_hh], perm=[1, 0])
    h, c = states[0], (states[1] if kind == "lstm" else None)
    steps = []
    for s in range(t):
        a = b.op("Add", [b.op("Add", [b.op("Gather", [xg, b.const(s, "i64")], axis=1),
                                      b.op("MatMul", [h, whh_t])]), b_hh])
        if kind == "rnn":
            h = b.op("Tanh", [a])
            steps.append((h, None, None))
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
        steps = _run(b, kind, t, x, states, w_ih, w_hh, b_ih, b_hh)
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
    steps = _run(b, kind, t, x, states, w_ih, w_hh, b_ih, b_hh)
    one = b.const(1.0, dtype)
    das = [None] * t
    for s in reversed(range(t)):
        h, c, gates = steps[s]
        dh = b.op("Add", [dh, b.op("Gather", [gy, b.const(s, "i64")], axis=1)])
        if kind == "rnn":
            da = b.op("Mul", [dh, _one_minus_sq(b, h, one)])
        else:
            i, f, g, o = gates
            c_prev = steps[s - 1][1] if s else states[1]
            tc = b.op("Tanh", [c])
            dc = b.op("Add", [dc, b.op("Mul", [b.op("Mul", [dh, o]), _one_minus_sq(b, tc, one)])])
            di = b.op("Mul", [b.op("Mul", [dc, g]), b.op("Mul", [i, b.op("Sub", [one, i])])])
            df = b.op("Mul", [b.op("Mul", [dc, c_prev]), b.op("Mul", [f, b.op("Sub", [one, f])])])
            dg = b.op("Mul", [b.op("Mul", [dc, i]), _one_minus_sq(b, g, one)])
            do = b.op("Mul", [b.op("Mul", [dh, tc]), b.op("Mul", [o, b.op("Sub", [one, o])])])
            da = b.op("Concat", [di, df, dg, do], axis=1)
            dc = b.op("Mul", [dc, f])
        das[s] = da
        dh = b.op("MatMul", [da, w_hh])
    da_all = _stack(b, das)  # [N, T, G*H]
    hprev = _stack(b, [states[0]] + [st[0] for st in steps[:-1]])  # [N, T, H]
    gh = GATES[kind] * hidden
    features = it[0].shape[2]
    flat_da = b.op("Reshape", [da_all, b.ints([-1, gh])])
    da_t = b.op("Transpose", [flat_da], perm=[1, 0])
    dx = b.op("MatMul", [da_all, w_ih])
    dw_ih = b.op("MatMul", [da_t, b.op("Reshape", [x, b.ints([-1, features])])])
    dw_hh = b.op("MatMul", [da_t, b.op("Reshape", [hprev, b.ints([-1, hidden])])])
    db = b.op("ReduceSum", [flat_da, b.ints([0])], keepdims=0)
    inits = [dh, dc][:n_init]
    return [dx] + inits + [dw_ih, dw_hh, db, b.op("Identity", [db])]


LOWER_RNN = {"rnn": _forward("rnn"), "lstm": _forward("lstm"), "recurrent_backward": _recurrent_backward}
