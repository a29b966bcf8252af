"""a / b elementwise with NumPy broadcasting."""
import numpy as np

from .common import binary

OP = binary("div", np.divide, "a / b, broadcast")
