"""sign(x): −1, 0 or 1 (FGSM's step direction)."""
from ._numpy import np

from .common import unary

OP = unary("sign", lambda x, a: np.sign(x), "-1, 0 or 1 by the sign of x", category="math", float_only=False,
           examples=("sign(x)",))
