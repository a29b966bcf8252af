"""a + b with NumPy broadcasting."""
from ._numpy import np

from .common import binary

OP = binary("add", lambda a, b: np.add(a, b), "a + b, broadcast")
