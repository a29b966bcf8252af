"""slice_grad(g, x): zeros shaped like x with g put back where slice (or last) took it from."""
from ._numpy import np
from ..ir.types import TensorType
from .base import Attr, Op


def infer(ins, a):
    return [TensorType(ins[0].dtype, ins[1].shape)]


def reference(arrays, a, ctx):
    g, x = arrays
    out = np.zeros(x.shape, dtype=g.dtype)
    index = [slice(None)] * x.ndim
    if a["drop_axis"]:  # last(): the step axis was removed
        index[a["axis"]] = -1
    else:
        index[a["axis"]] = slice(a["start"], a["end"], a["step"])
    out[tuple(index)] = g
    return [out]


OP = Op(name="slice_grad", doc="the gradient of slice and last", inputs=("g", "x"),
        attrs=(Attr("axis", "axis", 1), Attr("start", "int", 0), Attr("end", "any", None), Attr("step", "pos_int", 1),
               Attr("drop_axis", "bool", False)),
        infer=infer, reference=reference, category="gradient", internal=True)
