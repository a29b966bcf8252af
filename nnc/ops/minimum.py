"""minimum(a, b) elementwise with NumPy broadcasting (a primitive)."""
from ._numpy import np

from .common import binary
from .maximum import choose_vjp

OP = binary("minimum", lambda a, b: np.minimum(a, b), "the smaller of a and b, broadcast", vjp=choose_vjp("le"))
