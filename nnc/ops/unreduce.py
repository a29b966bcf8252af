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


def vjp(e, ins, outs, gs, a):
    """Broadcasting is linear; its transpose reduces again (sum, or mean for a mean's gradient), then sums any
    axis that broadcasting stretched beyond the reduced ones. x gives only a shape."""
    g, x = ins
    back = e("mean" if a["mean"] else "sum", gs[0], axis=tuple(a["axis"]), keepdims=a["keepdims"])
    if back.type.shape != g.type.shape:
        back = e("sum_like", back, g)
    return [back, None]


def decompose(e, ins, out_types, a):
    """g with the reduced axes put back as size 1, broadcast to x's shape, divided by the count for a mean."""
    from ._prims import count, expand
    g, x = ins
    axes = tuple(a["axis"])
    if not a["keepdims"]:
        g = expand(e, g, axes, x)
    out = e("broadcast_to", g, x)
    return [e("div", out, count(e, x, axes, out)) if a["mean"] else out]


OP = Op(name="unreduce", doc="broadcast a reduction's gradient back to its input", inputs=("g", "x"),
        attrs=(Attr("axis", "any"), Attr("keepdims", "bool", False), Attr("mean", "bool", False)),
        infer=infer, reference=reference, category="gradient", internal=True, vjp=vjp, decompose=decompose)
