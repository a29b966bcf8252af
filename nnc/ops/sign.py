"""sign(x): −1, 0 or 1 (FGSM's step direction)."""
from ._numpy import np

from .common import no_gradient, unary

OP = unary("sign", lambda x, a: np.sign(x), "-1, 0 or 1 by the sign of x", category="math", float_only=False,
           examples=("sign(x)",), vjp=no_gradient)
