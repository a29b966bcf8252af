"""recurrent_backward(x, [h0, c0], w_ih, w_hh, b_ih, b_hh, gy, gh, [gc]): backpropagation through time.

Outputs the gradients of x, of each initial state given, and of the four weights. Its own gradient (a
second derivative through the layer) differentiates the same computation written in nnc ops and unrolled
over time (_recurrent_bptt.py), so it needs a sequence length known when the graph is built; `nnc check`
reports E0119 for a symbolic one (nnc/elaborate/second_order.py).
"""
from .base import Attr, Op

STATES = {"rnn": 1, "gru": 1, "lstm": 2}


def infer(ins, a):
    n_init = a["initial_states"]
    return [ins[0]] + list(ins[1:1 + n_init]) + list(ins[1 + n_init:5 + n_init])


def reference(arrays, a, ctx):
    from . import _recurrent_kernels as k
    kind, n_init = a["kind"], a["initial_states"]
    x = arrays[0]
    init = list(arrays[1:1 + n_init]) + [None] * (STATES[kind] - n_init)
    w_ih, w_hh, b_ih, b_hh = arrays[1 + n_init:5 + n_init]
    grads = arrays[5 + n_init:]
    if kind == "lstm":
        d = k.lstm_backward(x, w_ih, w_hh, b_ih, b_hh, init[0], init[1], grads[0], grads[1], grads[2])
        names = ["h0", "c0"]
    else:
        fn = k.rnn_backward if kind == "rnn" else k.gru_backward
        d = fn(x, w_ih, w_hh, b_ih, b_hh, init[0], grads[0], grads[1])
        names = ["h0"]
    return [d["x"]] + [d[n] for n in names[:n_init]] + [d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"]]


def vjp(e, ins, outs, gs, a):
    """Differentiates backpropagation through time written in nnc ops (static T only), so this gradient can
    itself be differentiated again (third derivatives)."""
    from types import SimpleNamespace

    from ..passes.derived_vjp import vjp_from_decomposition
    from ._recurrent_bptt import bptt
    return vjp_from_decomposition(e, SimpleNamespace(decompose=bptt), ins, outs, gs, a)


OP = Op(name="recurrent_backward", doc="the gradients of rnn, lstm or gru", inputs=("x",),
        attrs=(Attr("kind", "choice:rnn|lstm|gru"), Attr("initial_states", "nonneg_int", 0)),
        infer=infer, reference=reference, vjp=vjp, outputs=lambda a: 5 + a["initial_states"], category="gradient",
        internal=True, variadic=True)  # its input count depends on the kind and the initial states given
