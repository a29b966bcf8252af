"""a · b elementwise with NumPy broadcasting."""
from ._numpy import np

from .common import binary

OP = binary("mul", lambda a, b: np.multiply(a, b), "a * b, broadcast")
