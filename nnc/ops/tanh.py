"""tanh(x)."""
from ._numpy import np

from .common import unary

OP = unary("tanh", lambda x, a: np.tanh(x), "hyperbolic tangent", examples=("x -> tanh",))
