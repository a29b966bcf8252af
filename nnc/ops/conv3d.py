"""conv3d(x, filters, kernel, ...): 3-d convolution on [N, C, D, H, W], weight [out, in/groups, kd, kh, kw]."""
from .conv2d import make_conv

OP = make_conv("conv3d", 3)
