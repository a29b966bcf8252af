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


def vjp(e, ins, outs, gs, a):
    """Linear in g (the mask of maxima times g): the transpose sums h over the mask. The mask is constant
    where it is differentiable, so x and y get no gradient."""
    from .common import filled_like
    g, x, y = ins
    mask = e("max_grad", filled_like(e, g, 1.0), x, y, axis=a["axis"], keepdims=a["keepdims"])
    return [e("sum", e("mul", gs[0], mask), axis=tuple(a["axis"]), keepdims=a["keepdims"]), None, None]


def decompose(e, ins, out_types, a):
    """g shared evenly among the positions where x equals the maximum y."""
    from ._prims import expand
    g, x, y = ins
    axes = tuple(a["axis"])
    if not a["keepdims"]:
        g, y = expand(e, g, axes, x), expand(e, y, axes, x)
    mask = e("cast", e("compare", x, y, kind="eq"), dtype=out_types[0].dtype)
    share = e("div", mask, e("sum", mask, axis=axes, keepdims=True))
    return [e("mul", share, e("cast", g, dtype=out_types[0].dtype) if g.type.dtype != out_types[0].dtype else g)]


OP = Op(name="max_grad", doc="the gradient of a max reduction", inputs=("g", "x", "y"),
        attrs=(Attr("axis", "any"), Attr("keepdims", "bool", False)), infer=infer, reference=reference,
        category="gradient", internal=True, vjp=vjp, decompose=decompose)
