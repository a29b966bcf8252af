"""a − b with NumPy broadcasting."""
from ._numpy import np

from .common import binary

OP = binary("sub", lambda a, b: np.subtract(a, b), "a - b, broadcast")
