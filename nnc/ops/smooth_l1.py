"""smooth_l1(a, b, beta=1): ½d²/beta where |d| < beta, else |d| − ½beta, d = a − b (PyTorch's SmoothL1Loss).

beta = 0 is the L1 loss, as in PyTorch.
"""
from .base import Attr
from .pointwise_loss import make_pointwise_loss


def value_np(x, y, a):
    from ._numpy import np
    d = x - y
    beta = a["beta"]
    if beta == 0:
        return np.abs(d)
    return np.where(np.abs(d) < beta, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta)


def value(e, x, y, a):
    from ._prims import const
    d = e("sub", x, y)
    ad = e("abs", d)
    beta = a["beta"]
    if beta == 0:
        return ad
    quad = e("mul", const(e, 0.5 / beta, d), e("mul", d, d))
    return e("where", e("compare", ad, const(e, beta, d), kind="lt"), quad, e("sub", ad, const(e, 0.5 * beta, d)))


def derivatives(e, x, y, a):
    """d/beta clipped to [−1, 1] (sign(d) for beta = 0); the target's is its negative."""
    from ._prims import const
    d = e("sub", x, y)
    if a["beta"] == 0:
        slope = e("sign", d)
    else:
        slope = e("minimum", e("maximum", e("div", d, const(e, a["beta"], d)), const(e, -1.0, d)), const(e, 1.0, d))
    return slope, e("neg", slope)


OP = make_pointwise_loss("smooth_l1", "the smooth L1 loss: squared below beta, absolute beyond",
                         (Attr("beta", "nonneg_float", 1.0),), value_np, value, derivatives,
                         example="smooth_l1(prediction, target, beta=0.5)")
