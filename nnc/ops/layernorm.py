"""layernorm(x): normalise the last axis of each sample, with a learnt scale and shift."""
from ._numpy import np

from .base import Attr, Op, ParamSpec, ShapeError, require_float
from .common import known


def infer(ins, a):
    x = ins[0]
    require_float(x, "x", "layernorm")
    if x.rank < 1:
        raise ShapeError("layernorm needs at least one axis", blame="x", code="E0206")
    known(x.shape[-1], "the last axis", "layernorm")
    return [x]


def params(ins, a):
    d = ins[0].shape[-1]
    return [ParamSpec("weight", (d,), "ones"), ParamSpec("bias", (d,), "zeros")]


def reference(arrays, a, ctx):
    x, w, b = arrays
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return [((x - mean) / np.sqrt(var + a["eps"]) * w + b).astype(x.dtype)]


def vjp(e, ins, outs, gs, a):
    """dx = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) / σ with ĝ = g·w, along the last axis."""
    x, w, b = ins
    g = gs[0]
    d = e("sub", x, e("mean", x, axis=-1, keepdims=True))
    inv = e("div", e.const(1.0), e("sqrt", e("add", e("mean", e("mul", d, d), axis=-1, keepdims=True),
                                              e.const(a["eps"]))))
    xhat = e("mul", d, inv)
    gh = e("mul", g, w)
    centred = e("sub", gh, e("mean", gh, axis=-1, keepdims=True))
    gx = e("mul", inv, e("sub", centred, e("mul", xhat, e("mean", e("mul", gh, xhat), axis=-1, keepdims=True))))
    dim = w.type.shape[0]
    gw = e("sum", e("reshape", e("mul", g, xhat), shape=(-1, dim)), axis=(0,))
    gb = e("sum", e("reshape", g, shape=(-1, dim)), axis=(0,))
    return [gx, gw, gb]


def decompose(e, ins, out_types, a):
    """(x − mean) / sqrt(var + eps)·w + b over the last axis, var the mean squared deviation."""
    from ._prims import const, mean
    x, w, b = ins
    d = e("sub", x, mean(e, x, (x.type.rank - 1,), True))
    var = mean(e, e("mul", d, d), (x.type.rank - 1,), True)
    y = e("div", d, e("sqrt", e("add", var, const(e, a["eps"], x))))
    return [e("add", e("mul", y, w), b)]


OP = Op(name="layernorm", doc="normalise the last axis", inputs=("x",), attrs=(Attr("eps", "pos_float", 1e-5),),
        infer=infer, params=params, reference=reference, category="layer", vjp=vjp, examples=("x -> layernorm",),
        decompose=decompose)
