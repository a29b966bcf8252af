"""mse(a, b): the mean of (a − b)² over all elements."""
from .base import Op
from .common import LOSS_REDUCTION, check_target, elementwise_loss_vjp, reduce_loss, scalar_of


def infer(ins, a):
    check_target(ins[0], ins[1], "mse", arg="b")
    return [scalar_of(ins[0])]


def reference(arrays, a, ctx):
    x, y = arrays
    return [reduce_loss(((x - y) ** 2).astype(x.dtype), a)]


def vjp(e, ins, outs, gs, a):
    x, y = ins
    d = e("mul", e.const(2.0, x.type.dtype), e("sub", x, y))
    gx = elementwise_loss_vjp(e, x, y, gs[0], d, a["reduction"])
    return [gx, e("sum_like", e("neg", gx), y)]


def decompose(e, ins, out_types, a):
    """(a − b)² reduced."""
    from ._prims import reduce_loss
    d = e("sub", ins[0], ins[1])
    return [reduce_loss(e, e("mul", d, d), a["reduction"], out_types[0])]


OP = Op(name="mse", doc="mean squared error over all elements", inputs=("a", "b"), attrs=(LOSS_REDUCTION,),
        infer=infer, reference=reference, category="loss", vjp=vjp, examples=("mse(prediction, target)",),
        decompose=decompose)
