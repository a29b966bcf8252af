"""relu(x) = max(x, 0)."""
from ._numpy import np

from .common import unary

OP = unary("relu", lambda x, a: np.maximum(x, 0).astype(x.dtype), "max(x, 0), elementwise", examples=("x -> relu",))
