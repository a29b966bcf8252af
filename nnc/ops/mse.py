"""mse(a, b): the mean of (a − b)² over all elements."""
from .base import Op
from .common import LOSS_REDUCTION, check_target, reduce_loss, scalar_of


def infer(ins, a):
    check_target(ins[0], ins[1], "mse", arg="b")
    return [scalar_of(ins[0])]


def reference(arrays, a, ctx):
    x, y = arrays
    return [reduce_loss(((x - y) ** 2).astype(x.dtype), a)]


OP = Op(name="mse", doc="mean squared error over all elements", inputs=("a", "b"), attrs=(LOSS_REDUCTION,),
        infer=infer, reference=reference, category="loss", examples=("mse(prediction, target)",))
