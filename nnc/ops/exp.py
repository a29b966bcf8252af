"""exp(x)."""
from ._numpy import np

from .common import unary

OP = unary("exp", lambda x, a: np.exp(x), "e to the power x", category="math", examples=("exp(x)",),
           vjp=lambda e, ins, outs, gs, a: [e("mul", gs[0], outs[0])])
