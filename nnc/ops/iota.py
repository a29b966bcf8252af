"""iota(x, axis): 0, 1, …, n − 1 as i64, n the (run-time) size of x along `axis` (a primitive; one-hot codes)."""
from ._numpy import np

from ..ir.types import TensorType
from .base import Attr, Op
from .common import no_gradient, normalize_axis


def resolve(ins, a):
    return {**a, "axis": normalize_axis(a["axis"], ins[0].rank)}


OP = Op(name="iota", doc="the indices along an axis of x", inputs=("x",), attrs=(Attr("axis", "axis", -1),),
        infer=lambda ins, a: [TensorType("i64", (ins[0].shape[a["axis"]],))], resolve=resolve,
        reference=lambda arrays, a, ctx: [np.arange(arrays[0].shape[a["axis"]], dtype=np.int64)],
        category="shape", internal=True, vjp=no_gradient)
