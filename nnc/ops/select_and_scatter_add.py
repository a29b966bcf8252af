"""select_and_scatter_add(g, x, kernel, stride, padding): each window's g added at the window's first maximum
of x (padding never wins): max pooling's gradient (a primitive; XLA's SelectAndScatter with add).

Its transpose, pool_select, gathers h at the same winners; the two are each other's gradient rules.
"""
from ._numpy import np

from ..ir.types import TensorType
from .base import Attr, Op


def reference(arrays, a, ctx):
    from . import _pool_kernels as k
    g, x = arrays
    out = k.max_pool_nd_backward(g, x, tuple(a["kernel"]), tuple(a["stride"]), tuple(tuple(p) for p in a["padding"]))
    return [np.ascontiguousarray(out, dtype=x.dtype)]


OP = Op(name="select_and_scatter_add", doc="g added at each window's maximum of x", inputs=("g", "x"),
        attrs=(Attr("kernel", "any"), Attr("stride", "any"), Attr("padding", "any")),
        infer=lambda ins, a: [TensorType(ins[0].dtype, ins[1].shape)],
        reference=reference, category="pool", internal=True,
        vjp=lambda e, ins, outs, gs, a: [e("pool_select", gs[0], ins[1], kernel=a["kernel"], stride=a["stride"],
                                           padding=a["padding"]), None])
