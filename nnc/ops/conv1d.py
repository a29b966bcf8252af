"""conv1d(x, filters, kernel, ...): 1-d convolution on [N, C, L]."""
from .conv2d import make_conv

OP = make_conv("conv1d", 1)
