"""log_softmax(x, axis) = x − log Σ exp(x), numerically stable."""
from .base import Attr, Op, require_float
from .common import normalize_axis


def infer(ins, a):
    require_float(ins[0], "x", "log_softmax")
    normalize_axis(a["axis"], ins[0].rank)
    return [ins[0]]


def reference(arrays, a, ctx):
    from ._softmax_kernels import log_softmax
    return [log_softmax(arrays[0], a["axis"])]


def vjp(e, ins, outs, gs, a):
    """g − exp(y)·Σ g along the axis."""
    total = e("sum", gs[0], axis=a["axis"], keepdims=True)
    return [e("sub", gs[0], e("mul", e("exp", outs[0]), total))]


def decompose(e, ins, out_types, a):
    """(x − max) − log Σ exp(x − max) along the axis."""
    x, axis = ins[0], a["axis"]
    z = e("sub", x, e("max", x, axis=axis, keepdims=True))
    return [e("sub", z, e("log", e("sum", e("exp", z), axis=axis, keepdims=True)))]


OP = Op(name="log_softmax", doc="x - log(sum(exp(x))) along `axis`", inputs=("x",),
        attrs=(Attr("axis", "axis", -1),), infer=infer, reference=reference, category="activation",
        examples=("x -> log_softmax",), vjp=vjp, decompose=decompose)
