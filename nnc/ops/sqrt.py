"""sqrt(x)."""
from ._numpy import np

from .common import unary

OP = unary("sqrt", lambda x, a: np.sqrt(x), "square root", category="math", examples=("sqrt(x)",),
           vjp=lambda e, ins, outs, gs, a: [e("div", e("mul", gs[0], e.const(0.5)), outs[0])])
