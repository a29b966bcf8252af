"""tanh(x)."""
import numpy as np

from .common import unary

OP = unary("tanh", lambda x, a: np.tanh(x), "hyperbolic tangent", examples=("x -> tanh",))
