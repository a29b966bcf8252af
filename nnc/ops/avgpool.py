"""avgpool(x, kernel, stride=kernel, padding=0): the window mean, padding counted (PyTorch's default)."""
from .pooling import make_pool

OP = make_pool("avgpool", "the mean of each window (padding counts as zeros)")
