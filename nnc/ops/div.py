"""a / b elementwise with NumPy broadcasting."""
from ._numpy import np

from .common import binary

def vjp(e, ins, outs, gs, a):
    x, y = ins
    gx = e("div", gs[0], y)
    gy = e("neg", e("mul", gx, outs[0]))  # -g·x/y² = -(g/y)·(x/y)
    return [e("sum_like", gx, x), e("sum_like", gy, y)]


OP = binary("div", lambda a, b: np.divide(a, b), "a / b, broadcast", vjp=vjp)
