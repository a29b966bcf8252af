"""a − b with NumPy broadcasting."""
import numpy as np

from .common import binary

OP = binary("sub", np.subtract, "a - b, broadcast")
