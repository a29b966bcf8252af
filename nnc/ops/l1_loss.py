"""l1_loss(a, b): the mean of |a − b| over all elements."""
from ._numpy import np

from .base import Op
from .common import LOSS_REDUCTION, check_target, elementwise_loss_vjp, reduce_loss, scalar_of


def infer(ins, a):
    check_target(ins[0], ins[1], "l1_loss", arg="b")
    return [scalar_of(ins[0])]


def reference(arrays, a, ctx):
    x, y = arrays
    return [reduce_loss(np.abs(x - y).astype(x.dtype), a)]


def vjp(e, ins, outs, gs, a):
    x, y = ins
    gx = elementwise_loss_vjp(e, x, y, gs[0], e("sign", e("sub", x, y)), a["reduction"])
    return [gx, e("sum_like", e("neg", gx), y)]


def decompose(e, ins, out_types, a):
    """|a − b| reduced."""
    from ._prims import reduce_loss
    return [reduce_loss(e, e("abs", e("sub", ins[0], ins[1])), a["reduction"], out_types[0])]


OP = Op(name="l1_loss", doc="mean absolute error over all elements", inputs=("a", "b"), attrs=(LOSS_REDUCTION,),
        infer=infer, reference=reference, category="loss", vjp=vjp, examples=("l1_loss(prediction, target)",),
        decompose=decompose)
