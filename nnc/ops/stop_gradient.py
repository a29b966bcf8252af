"""stop_gradient(x): x itself, but no gradient flows back through it."""
from .common import no_gradient, unary

OP = unary("stop_gradient", lambda x, a: x, "the identity, with no gradient", category="special",
           float_only=False, examples=("stop_gradient(fake)",), vjp=no_gradient)
