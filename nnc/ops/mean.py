"""mean(x, axis=None, keepdims=false)."""
from dataclasses import replace
from ._numpy import np

from .common import reduce_op


def decompose(e, ins, out_types, a):
    """sum / count, the count known from the type or taken at run time (size)."""
    from ._prims import mean
    return [mean(e, ins[0], a["axis"], a["keepdims"])]


OP = reduce_op("mean", lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims).astype(x.dtype),
               "the mean over `axis` (all axes when absent)",
               vjp=lambda e, ins, outs, gs, a: [e("unreduce", gs[0], ins[0], axis=a["axis"], keepdims=a["keepdims"],
                                                  mean=True)])
OP = replace(OP, decompose=decompose)
