"""rnn, lstm and gru share one shape rule: [N, T, F] → [N, T, units], PyTorch's weights and gate order."""
from ..ir.types import TensorType, dim_str, eval_dim
from .base import Attr, Op, ParamSpec, ShapeError, require_float
from .common import known

STATES = {"rnn": ("h",), "lstm": ("h", "c"), "gru": ("h",)}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def make_recurrent(name: str, doc: str) -> Op:
    gates = GATES[name]
    states = STATES[name]

    def infer(ins, a):
        x = ins[0]
        require_float(x, "x", name)
        if x.rank != 3:
            raise ShapeError(f"{name} expects [N, T, F] (batch, time, features), found {x}", blame="x",
                             code="E0203", label=f"this has rank {x.rank}",
                             hint="a sequence of vectors is [N, T, F]; reshape or embed it first")
        known(x.shape[2], "the feature axis", name)
        h = a["units"]
        for i, st in enumerate(ins[1:]):
            want = TensorType(x.dtype, (x.shape[0], h))
            if st.shape != want.shape:
                raise ShapeError(f"{name}'s initial {states[i]} must be {want}, found {st}", blame="initial",
                                 code="E0203")
        out = [TensorType(x.dtype, (x.shape[0], x.shape[1], h))]
        if a["return_state"]:
            out += [TensorType(x.dtype, (x.shape[0], h)) for _ in states]
        return out

    def params(ins, a):
        f, h = ins[0].shape[2], a["units"]
        return [ParamSpec("weight_ih", (gates * h, f), "uniform_rnn", fan_in=h, fan_out=h, decay=True),
                ParamSpec("weight_hh", (gates * h, h), "uniform_rnn", fan_in=h, fan_out=h, decay=True),
                ParamSpec("bias_ih", (gates * h,), "uniform_rnn", fan_in=h, fan_out=h),
                ParamSpec("bias_hh", (gates * h,), "uniform_rnn", fan_in=h, fan_out=h)]

    def reference(arrays, a, ctx):
        import numpy as np
        from . import _recurrent_kernels as k
        x = arrays[0]
        n_init = a["initial_states"]
        init = list(arrays[1:1 + n_init])
        w_ih, w_hh, b_ih, b_hh = arrays[1 + n_init:]
        h = a["units"]
        while len(init) < len(states):
            init.append(np.zeros((x.shape[0], h), dtype=x.dtype))
        if name == "lstm":
            y, hT, cT = k.lstm_forward(x, w_ih, w_hh, b_ih, b_hh, init[0], init[1])
            finals = [hT, cT]
        else:
            fn = k.rnn_forward if name == "rnn" else k.gru_forward
            y, hT = fn(x, w_ih, w_hh, b_ih, b_hh, init[0])
            finals = [hT]
        return [y] + (finals if a["return_state"] else [])

    def macs(ins, outs, a):
        x = ins[0]
        return eval_dim(x.shape[0]) * eval_dim(x.shape[1]) * gates * a["units"] * (x.shape[2] + a["units"])

    def vjp(e, ins, outs, gs, a):
        """Zeros stand in for outputs nobody used (only the final state, or only the sequence)."""
        from ._prims import zeros_like  # zeros, not o·0, which is NaN where o is infinite
        grads = [g if g is not None else zeros_like(e, o) for g, o in zip(gs, outs)]
        n_init = a["initial_states"]
        while len(grads) < 1 + len(states):  # return_state=false: no gradient reaches the final states
            grads.append(zeros_like(e, e("last", outs[0])))
        d = e("recurrent_backward", *ins, *grads, kind=name, initial_states=n_init)
        return list(d)

    return Op(name=name, doc=doc, inputs=("x",), vjp=vjp,
              attrs=(Attr("units", "pos_int"), Attr("return_state", "bool", False),
                     Attr("initial_states", "nonneg_int", 0, "set by the elaborator from `initial=`")),
              optional_inputs=("initial",), infer=infer, params=params, reference=reference, macs=macs,
              category="layer", outputs=lambda a: 1 + (len(states) if a["return_state"] else 0),
              examples=(f"x -> {name}(64)",))
