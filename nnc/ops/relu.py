"""relu(x) = max(x, 0)."""
from ._numpy import np

from .common import step_of, unary

OP = unary("relu", lambda x, a: np.maximum(x, 0).astype(x.dtype), "max(x, 0), elementwise", examples=("x -> relu",),
           vjp=lambda e, ins, outs, gs, a: [e("mul", gs[0], step_of(e, ins[0]))])
