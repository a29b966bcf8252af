"""argmax(x, axis, keepdims): the index of the first largest element along one axis, as i64 (a primitive)."""
from ._numpy import np

from ..ir.types import TensorType
from .base import Attr, Op
from .common import no_gradient, normalize_axis


def resolve(ins, a):
    return {**a, "axis": normalize_axis(a["axis"], ins[0].rank)}


def infer(ins, a):
    x, axis = ins[0], a["axis"]
    shape = tuple((1 if i == axis else d) for i, d in enumerate(x.shape) if a["keepdims"] or i != axis)
    return [TensorType("i64", shape)]


def reference(arrays, a, ctx):
    return [np.asarray(np.argmax(arrays[0], axis=a["axis"], keepdims=a["keepdims"]), dtype=np.int64)]


OP = Op(name="argmax", doc="the position of the maximum along an axis", inputs=("x",),
        attrs=(Attr("axis", "axis", -1), Attr("keepdims", "bool", False)), infer=infer, resolve=resolve,
        reference=reference, category="reduce", vjp=no_gradient,
        examples=("argmax(logits)", "x -> argmax(axis=1)"))
