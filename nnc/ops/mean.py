"""mean(x, axis=None, keepdims=false)."""
from ._numpy import np

from .common import reduce_op

OP = reduce_op("mean", lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims).astype(x.dtype),
               "the mean over `axis` (all axes when absent)",
               vjp=lambda e, ins, outs, gs, a: [e("unreduce", gs[0], ins[0], axis=a["axis"], keepdims=a["keepdims"],
                                                  mean=True)])
