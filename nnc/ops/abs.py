"""abs(x)."""
from ._numpy import np

from .common import unary

OP = unary("abs", lambda x, a: np.abs(x), "absolute value", category="math", float_only=False,
           examples=("abs(x)",),
           vjp=lambda e, ins, outs, gs, a: [e("mul", gs[0], e("sign", ins[0]))])
