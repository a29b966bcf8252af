"""softmax(x, axis) = exp(x) / Σ exp(x) along an axis."""
from .base import Attr, Op, require_float
from .common import normalize_axis


def infer(ins, a):
    require_float(ins[0], "x", "softmax")
    normalize_axis(a["axis"], ins[0].rank)
    return [ins[0]]


def reference(arrays, a, ctx):
    from ..numpy_kernels import softmax
    return [softmax(arrays[0], a["axis"])]


OP = Op(name="softmax", doc="exp(x) / sum(exp(x)) along `axis`", inputs=("x",),
        attrs=(Attr("axis", "axis", -1),), infer=infer, reference=reference, category="activation",
        examples=("x -> softmax",))
