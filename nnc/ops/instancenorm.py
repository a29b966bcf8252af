"""instancenorm(x): normalise each channel of each sample over its spatial axes (PyTorch's InstanceNorm)."""
from .groupnorm import make_norm

OP = make_norm("instancenorm", "normalise each channel of each sample; affine=false by default", False, False)
