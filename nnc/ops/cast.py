"""cast(x, dtype): the same values in another element type (a primitive).

Dtypes are explicit in the IR: a binary op sees equal dtypes only after a
promotion pass inserts casts, and scalar arithmetic a reference does in
float64 (Adam's bias corrections) is written as a cast to f64 and back, so
that every backend rounds at the same places.
"""
from ._numpy import np

from ..ir.types import DTYPES, TensorType
from .base import Attr, Op

NUMPY_DTYPES = {"f32": "float32", "f64": "float64", "i32": "int32", "i64": "int64", "bool": "bool"}


def infer(ins: list[TensorType], a: dict) -> list[TensorType]:
    return [TensorType(a["dtype"], ins[0].shape)]


def reference(arrays, a, ctx):
    return [np.asarray(arrays[0]).astype(NUMPY_DTYPES[a["dtype"]])]


def vjp(e, ins, outs, gs, a):
    """The gradient cast back to the input's dtype; integer and bool inputs (and outputs) have none."""
    x = ins[0]
    if not x.type.is_float or not outs[0].type.is_float:
        return [None]
    return [e("cast", gs[0], dtype=x.type.dtype)]


OP = Op(name="cast", doc="x converted to `dtype` (f32, f64, i32, i64, bool), elementwise", inputs=("x",),
        attrs=(Attr("dtype", "choice:" + "|".join(DTYPES), doc="the element type of the result"),),
        infer=infer, reference=reference, category="math", internal=True, vjp=vjp)
