"""Unary minus on a tensor: `-x`."""
from ._numpy import np

from .common import unary

OP = unary("neg", lambda x, a: np.negative(x), "-x", category="math", float_only=False, internal=True,
           vjp=lambda e, ins, outs, gs, a: [e("neg", gs[0])])
