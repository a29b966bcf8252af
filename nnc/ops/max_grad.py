"""max_grad(g, x, y): the gradient of max, shared evenly among the elements that reach the maximum."""
from ._numpy import np
from ..ir.types import TensorType
from .base import Attr, Op


def infer(ins, a):
    return [TensorType(ins[0].dtype, ins[1].shape)]


def reference(arrays, a, ctx):
    g, x, y = arrays
    axes = tuple(a["axis"])
    if not a["keepdims"]:
        for ax in sorted(axes):
            g = np.expand_dims(g, ax)
            y = np.expand_dims(y, ax)
    mask = (x == y).astype(x.dtype)
    mask /= mask.sum(axis=axes, keepdims=True)
    return [(mask * g).astype(x.dtype)]


OP = Op(name="max_grad", doc="the gradient of a max reduction", inputs=("g", "x", "y"),
        attrs=(Attr("axis", "any"), Attr("keepdims", "bool", False)), infer=infer, reference=reference,
        category="gradient", internal=True)
