"""elu(x, alpha) = x where x > 0, alpha·(exp(x) − 1) elsewhere."""
from dataclasses import replace
from ._numpy import np

from .base import Attr
from .common import step_of, unary

def vjp(e, ins, outs, gs, a):
    """x > 0: 1; else alpha·exp(x) = y + alpha."""
    s = step_of(e, ins[0])
    below = e("mul", e("sub", e.const(1.0), s), e("add", outs[0], e.const(a["alpha"])))
    return [e("mul", gs[0], e("add", s, below))]


def decompose(e, ins, out_types, a):
    """where(x > 0, x, alpha·(exp(min(x, 0)) − 1)): the exponent never overflows."""
    from ._prims import const
    x = ins[0]
    zero = const(e, 0.0, x)
    below = e("mul", const(e, a["alpha"], x), e("sub", e("exp", e("minimum", x, zero)), const(e, 1.0, x)))
    return [e("where", e("compare", x, zero, kind="gt"), x, below)]


OP = unary("elu", lambda x, a: np.where(x > 0, x, a["alpha"] * np.expm1(np.minimum(x, 0))).astype(x.dtype),
           "x where x > 0, alpha·(exp(x) - 1) elsewhere", (Attr("alpha", "nonneg_float", 1.0),),
           examples=("x -> elu",), vjp=vjp)
OP = replace(OP, decompose=decompose)
