"""leaky_relu(x, alpha) = x where x > 0, alpha·x elsewhere."""
from ._numpy import np

from .base import Attr
from .common import step_of, unary

OP = unary("leaky_relu", lambda x, a: np.where(x > 0, x, a["alpha"] * x).astype(x.dtype),
           "x where x > 0, alpha·x elsewhere", (Attr("alpha", "nonneg_float", 0.01),),
           examples=("x -> leaky_relu(0.2)",),
           vjp=lambda e, ins, outs, gs, a: [e("mul", gs[0], e("add", e.const(a["alpha"]),
                                                              e("mul", e.const(1 - a["alpha"]), step_of(e, ins[0]))))])
