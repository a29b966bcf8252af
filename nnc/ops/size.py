"""size(x, axis): the number of elements along the given axes, as a float scalar known at run time.

Batchnorm's unbiased variance needs the batch size, which is a symbol until
the graph runs.
"""
from ._numpy import np
from ..ir.types import TensorType
from .base import Attr, Op


def reference(arrays, a, ctx):
    n = 1
    for ax in a["axis"]:
        n *= arrays[0].shape[ax]
    return [np.asarray(n, dtype=arrays[0].dtype)]


OP = Op(name="size", doc="the element count along some axes", inputs=("x",), attrs=(Attr("axis", "any"),),
        infer=lambda ins, a: [TensorType(ins[0].dtype, ())], reference=reference, category="shape", internal=True,
        vjp=lambda e, ins, outs, gs, a: [None])
