"""sqrt(x)."""
from ._numpy import np

from .common import unary

OP = unary("sqrt", lambda x, a: np.sqrt(x), "square root", category="math", examples=("sqrt(x)",))
