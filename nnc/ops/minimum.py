"""minimum(a, b) elementwise with NumPy broadcasting (a primitive)."""
from dataclasses import replace

from ._numpy import np

from .common import binary
from .maximum import choose_vjp

OP = replace(binary("minimum", lambda a, b: np.minimum(a, b), "the smaller of a and b, broadcast",
                    vjp=choose_vjp("le")), internal=False, examples=("minimum(x, 1)", "minimum(a, b)"))
