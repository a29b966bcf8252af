"""unreduce(g, x): spread the gradient of a reduction back over x's shape (divided by the count for a mean)."""
from ._numpy import np
from ..ir.types import TensorType
from .base import Attr, Op


def infer(ins, a):
    return [TensorType(ins[0].dtype, ins[1].shape)]


def reference(arrays, a, ctx):
    g, x = arrays
    axes = tuple(a["axis"])
    if not a["keepdims"]:
        for ax in sorted(axes):
            g = np.expand_dims(g, ax)
    out = np.broadcast_to(g, x.shape)
    if a["mean"]:
        count = 1
        for ax in axes:
            count *= x.shape[ax]
        out = out / max(count, 1)
    return [np.array(out, dtype=g.dtype, order="C")]


OP = Op(name="unreduce", doc="broadcast a reduction's gradient back to its input", inputs=("g", "x"),
        attrs=(Attr("axis", "any"), Attr("keepdims", "bool", False), Attr("mean", "bool", False)),
        infer=infer, reference=reference, category="gradient", internal=True)
