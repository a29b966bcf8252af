"""tanh(x)."""
from ._numpy import np

from .common import unary

OP = unary("tanh", lambda x, a: np.tanh(x), "hyperbolic tangent", examples=("x -> tanh",),
           vjp=lambda e, ins, outs, gs, a: [e("mul", gs[0], e("sub", e.const(1.0), e("mul", outs[0], outs[0])))])
