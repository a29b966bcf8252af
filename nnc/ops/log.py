"""log(x), the natural logarithm."""
from ._numpy import np

from .common import unary

OP = unary("log", lambda x, a: np.log(x), "natural logarithm", category="math", examples=("log(x)",),
           vjp=lambda e, ins, outs, gs, a: [e("div", gs[0], ins[0])])
