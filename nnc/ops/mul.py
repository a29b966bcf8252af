"""a · b elementwise with NumPy broadcasting."""
import numpy as np

from .common import binary

OP = binary("mul", np.multiply, "a * b, broadcast")
