"""broadcast_to(x, like) or broadcast_to(x, shape=[...]): x repeated along axes of size 1 (a primitive).

Broadcasting made explicit: `like` gives the target shape at run time (its
values are never read), so symbolic sizes such as the batch N need no
attribute; a static `shape` serves constants ("zeros" are broadcast zeros).
"""
from ._numpy import np

from ..ir.types import TensorType, dim_str, shape_str
from .base import Attr, Op, ShapeError


def target_shape(ins: list[TensorType], a: dict) -> tuple:
    if len(ins) > 1:
        return tuple(ins[1].shape)
    return tuple(a["shape"])


def infer(ins: list[TensorType], a: dict) -> list[TensorType]:
    x = ins[0]
    shape = target_shape(ins, a)
    if x.rank > len(shape):
        raise ShapeError(f"cannot broadcast {x} to the lower rank {shape_str(shape)}", blame="x", code="E0204")
    for i, d in enumerate(x.shape[::-1]):
        want = shape[len(shape) - 1 - i]
        if d != 1 and d != want:
            raise ShapeError(f"cannot broadcast {x} to {shape_str(shape)}", blame="x", code="E0204",
                             label=f"axis {x.rank - 1 - i}: {dim_str(d)} vs {dim_str(want)}")
    return [TensorType(x.dtype, shape)]


def reference(arrays, a, ctx):
    shape = arrays[1].shape if len(arrays) > 1 else tuple(a["shape"])
    return [np.array(np.broadcast_to(arrays[0], shape), order="C")]


def vjp(e, ins, outs, gs, a):
    from ._prims import reduce_to
    return [reduce_to(e, gs[0], ins[0].type)] + [None] * (len(ins) - 1)


OP = Op(name="broadcast_to", doc="x broadcast to the shape of `like` (or to a static shape)", inputs=("x",),
        optional_inputs=("like",), attrs=(Attr("shape", "ints", ()),), infer=infer, reference=reference,
        category="shape", internal=True, vjp=vjp)
