"""a / b elementwise with NumPy broadcasting."""
from ._numpy import np

from .common import binary

OP = binary("div", lambda a, b: np.divide(a, b), "a / b, broadcast")
