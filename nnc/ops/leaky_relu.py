"""leaky_relu(x, alpha) = x where x > 0, alpha·x elsewhere."""
from dataclasses import replace
from ._numpy import np

from .base import Attr
from .common import step_of, unary


def decompose(e, ins, out_types, a):
    """where(x > 0, x, alpha·x)."""
    from ._prims import const
    x = ins[0]
    return [e("where", e("compare", x, const(e, 0.0, x), kind="gt"), x, e("mul", const(e, a["alpha"], x), x))]


OP = unary("leaky_relu", lambda x, a: np.where(x > 0, x, a["alpha"] * x).astype(x.dtype),
           "x where x > 0, alpha·x elsewhere", (Attr("alpha", "nonneg_float", 0.01),),
           examples=("x -> leaky_relu(0.2)",),
           vjp=lambda e, ins, outs, gs, a: [e("mul", gs[0], e("add", e.const(a["alpha"]),
                                                              e("mul", e.const(1 - a["alpha"]), step_of(e, ins[0]))))])
OP = replace(OP, decompose=decompose)
