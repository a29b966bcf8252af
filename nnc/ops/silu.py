"""silu(x) = x·sigmoid(x) (swish)."""
from dataclasses import replace

from .common import unary


def value_np(x, a):
    from ._numpy import np
    return (x / (1.0 + np.exp(-x))).astype(x.dtype)


def decompose(e, ins, out_types, a):
    """x · sigmoid(x)."""
    return [e("mul", ins[0], e("sigmoid", ins[0]))]


def vjp(e, ins, outs, gs, a):
    """s·(1 + x·(1 − s)), s = sigmoid(x)."""
    x = ins[0]
    s = e("sigmoid", x)
    one = e.const(1.0, x.type.dtype)
    return [e("mul", gs[0], e("mul", s, e("add", one, e("mul", x, e("sub", one, s)))))]


OP = replace(unary("silu", value_np, "x·sigmoid(x) (swish)", examples=("x -> silu",), vjp=vjp), decompose=decompose)
