"""sum(x, axis=None, keepdims=false)."""
from ._numpy import np

from .common import reduce_op

OP = reduce_op("sum", lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims).astype(x.dtype),
               "the sum over `axis` (all axes when absent)")
