"""relu(x) = max(x, 0)."""
from dataclasses import replace
from ._numpy import np

from .common import step_of, unary


def decompose(e, ins, out_types, a):
    """maximum(x, 0)."""
    from ._prims import const
    return [e("maximum", ins[0], const(e, 0.0, ins[0]))]


OP = unary("relu", lambda x, a: np.maximum(x, 0).astype(x.dtype), "max(x, 0), elementwise", examples=("x -> relu",),
           vjp=lambda e, ins, outs, gs, a: [e("mul", gs[0], step_of(e, ins[0]))])
OP = replace(OP, decompose=decompose)
