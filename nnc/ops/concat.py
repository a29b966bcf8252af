"""concat(a, b, ..., axis=1): join tensors along an axis; the others must agree."""
from ._numpy import np

from ..ir.types import dim_add, dim_str
from .base import Attr, Op, ShapeError
from .common import normalize_axis, promote


def infer(ins, a):
    first = ins[0]
    axis = normalize_axis(a["axis"], first.rank)
    size = first.shape[axis]
    dtype = first.dtype
    for i, t in enumerate(ins[1:], start=1):
        if t.rank != first.rank:
            raise ShapeError(f"concat inputs must have the same rank: {first} and {t}", code="E0209",
                             label=f"input {i + 1} has rank {t.rank}")
        for ax, (d1, d2) in enumerate(zip(first.shape, t.shape)):
            if ax != axis and d1 != d2:
                raise ShapeError(f"concat inputs disagree on axis {ax}: {first} and {t}", code="E0209",
                                 label=f"axis {ax}: {dim_str(d1)} vs {dim_str(d2)}",
                                 hint=f"only axis {axis} (the concat axis) may differ")
        size = dim_add(size, t.shape[axis])
        dtype = promote(dtype, t.dtype)
    shape = list(first.shape)
    shape[axis] = size
    return [first.__class__(dtype, tuple(shape))]


def vjp(e, ins, outs, gs, a):
    axis = a["axis"] % ins[0].type.rank
    if len(ins) == 1:
        return [gs[0]]
    return list(e("concat_grad", gs[0], *ins, axis=axis, pieces=len(ins)))


OP = Op(name="concat", doc="join tensors along `axis`", inputs=("x",), attrs=(Attr("axis", "axis", 1),),
        infer=infer, variadic=True,
        reference=lambda arrays, a, ctx: [np.concatenate(arrays, axis=a["axis"])],
        category="shape", examples=("concat(a, b, axis=1)",), vjp=vjp)
