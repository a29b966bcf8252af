"""softmax(x, axis) = exp(x) / Σ exp(x) along an axis."""
from .base import Attr, Op, require_float
from .common import normalize_axis


def infer(ins, a):
    require_float(ins[0], "x", "softmax")
    normalize_axis(a["axis"], ins[0].rank)
    return [ins[0]]


def reference(arrays, a, ctx):
    from ._softmax_kernels import softmax
    return [softmax(arrays[0], a["axis"])]


def vjp(e, ins, outs, gs, a):
    """y·(g − Σ g·y) along the axis."""
    y, g = outs[0], gs[0]
    dot = e("sum", e("mul", g, y), axis=a["axis"], keepdims=True)
    return [e("mul", y, e("sub", g, dot))]


def decompose(e, ins, out_types, a):
    """exp(x − max) / Σ exp(x − max) along the axis."""
    x, axis = ins[0], a["axis"]
    z = e("exp", e("sub", x, e("max", x, axis=axis, keepdims=True)))
    return [e("div", z, e("sum", z, axis=axis, keepdims=True))]


OP = Op(name="softmax", doc="exp(x) / sum(exp(x)) along `axis`", inputs=("x",),
        attrs=(Attr("axis", "axis", -1),), infer=infer, reference=reference, category="activation",
        examples=("x -> softmax",), vjp=vjp, decompose=decompose)
