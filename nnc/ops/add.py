"""a + b with NumPy broadcasting."""
import numpy as np

from .common import binary

OP = binary("add", np.add, "a + b, broadcast")
