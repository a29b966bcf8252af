"""maxpool(x, kernel, stride=kernel, padding=0) over every spatial axis of [N, C, ...]."""
from .pooling import make_pool

OP = make_pool("maxpool", "the maximum of each window")
