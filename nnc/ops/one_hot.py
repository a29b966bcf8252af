"""one_hot(ids, classes): integer ids [...] to f32 codes [..., classes], 1 at each id and 0 elsewhere."""
from ._numpy import np

from ..ir.types import TensorType
from .base import Attr, Op, ShapeError
from .common import no_gradient


def infer(ins, a):
    ids = ins[0]
    if not ids.is_int:
        raise ShapeError(f"one_hot needs integer ids, found {ids}", blame="ids", code="E0202",
                         label=f"this is {ids}", hint="class ids are declared as i32 or i64")
    return [TensorType(a["dtype"], ids.shape + (a["classes"],))]


def reference(arrays, a, ctx):
    ids = arrays[0]
    return [(ids[..., None] == np.arange(a["classes"])).astype(a["dtype"] == "f64" and np.float64 or np.float32)]


def decompose(e, ins, out_types, a):
    """compare(ids[..., None], iota(classes), eq), cast to the float dtype (an id out of range gives zeros)."""
    from ._prims import expand, full
    ids = ins[0]
    out = out_types[0]
    classes = e("iota", full(e, 0.0, TensorType(a["dtype"], (a["classes"],))), axis=0)
    wide = expand(e, e("cast", ids, dtype="i64") if ids.type.dtype != "i64" else ids, (ids.type.rank,), None)
    return [e("cast", e("compare", wide, classes, kind="eq"), dtype=out.dtype)]


OP = Op(name="one_hot", doc="integer ids as one-hot float codes along a new last axis", inputs=("ids",),
        attrs=(Attr("classes", "pos_int", doc="the number of classes (the new axis)"),
               Attr("dtype", "choice:f32|f64", "f32", "the dtype of the codes")),
        infer=infer, reference=reference, decompose=decompose, vjp=no_gradient, category="shape",
        examples=("one_hot(labels, 10)", "labels -> one_hot(classes=5)"))
