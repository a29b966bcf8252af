"""stop_gradient(x): x itself, but no gradient flows back through it."""
from dataclasses import replace
from .common import no_gradient, unary


def decompose(e, ins, out_types, a):
    """x itself: gradients were taken before decomposition."""
    return [ins[0]]


OP = unary("stop_gradient", lambda x, a: x, "the identity, with no gradient", category="special",
           float_only=False, examples=("stop_gradient(fake)",), vjp=no_gradient)
OP = replace(OP, decompose=decompose)
