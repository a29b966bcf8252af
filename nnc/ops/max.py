"""max(x, axis=None, keepdims=false)."""
from ._numpy import np

from .common import reduce_op

OP = reduce_op("max", lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
               "the maximum over `axis` (all axes when absent)",
               vjp=lambda e, ins, outs, gs, a: [e("max_grad", gs[0], ins[0], outs[0], axis=a["axis"],
                                                  keepdims=a["keepdims"])])
