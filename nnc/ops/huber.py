"""huber(a, b, delta=1): ½d² where |d| < delta, else delta·(|d| − ½delta), d = a − b (PyTorch's HuberLoss)."""
from .base import Attr
from .pointwise_loss import make_pointwise_loss


def value_np(x, y, a):
    from ._numpy import np
    d = x - y
    delta = a["delta"]
    return np.where(np.abs(d) < delta, 0.5 * d * d, delta * (np.abs(d) - 0.5 * delta))


def value(e, x, y, a):
    from ._prims import const
    d = e("sub", x, y)
    ad = e("abs", d)
    delta = a["delta"]
    quad = e("mul", const(e, 0.5, d), e("mul", d, d))
    lin = e("mul", const(e, delta, d), e("sub", ad, const(e, 0.5 * delta, d)))
    return e("where", e("compare", ad, const(e, delta, d), kind="lt"), quad, lin)


def derivatives(e, x, y, a):
    """d clipped to [−delta, delta]; the target's is its negative."""
    from ._prims import const
    d = e("sub", x, y)
    clipped = e("minimum", e("maximum", d, const(e, -a["delta"], d)), const(e, a["delta"], d))
    return clipped, e("neg", clipped)


OP = make_pointwise_loss("huber", "the Huber loss: squared near zero, absolute beyond delta",
                         (Attr("delta", "pos_float", 1.0),), value_np, value, derivatives,
                         example="huber(prediction, target, delta=1.0)")
