"""mean(x, axis=None, keepdims=false)."""
from ._numpy import np

from .common import reduce_op

OP = reduce_op("mean", lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims).astype(x.dtype),
               "the mean over `axis` (all axes when absent)")
