"""sigmoid(x) = 1 / (1 + exp(−x)), computed without overflow."""
from ._numpy import np

from .common import unary


def stable_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


OP = unary("sigmoid", lambda x, a: stable_sigmoid(x), "1 / (1 + exp(-x))", examples=("x -> sigmoid",),
           vjp=lambda e, ins, outs, gs, a: [e("mul", gs[0], e("mul", outs[0], e("sub", e.const(1.0), outs[0])))])
