"""elu(x, alpha) = x where x > 0, alpha·(exp(x) − 1) elsewhere."""
from ._numpy import np

from .base import Attr
from .common import unary

OP = unary("elu", lambda x, a: np.where(x > 0, x, a["alpha"] * np.expm1(np.minimum(x, 0))).astype(x.dtype),
           "x where x > 0, alpha·(exp(x) - 1) elsewhere", (Attr("alpha", "nonneg_float", 1.0),),
           examples=("x -> elu",))
