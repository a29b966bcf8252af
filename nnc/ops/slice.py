"""slice(x, start, end, axis=1, step=1): Python slicing along one axis."""
from ..ir.types import dim_str
from .base import Attr, Op, ShapeError
from .common import normalize_axis


def infer(ins, a):
    x = ins[0]
    axis = normalize_axis(a["axis"], x.rank)
    n = x.shape[axis]
    start, end, step = a["start"], a["end"], a["step"]
    if isinstance(n, int):
        size = len(range(n)[start:end:step])
        if size == 0:
            raise ShapeError(f"slice [{start}:{end}:{step}] of an axis of size {n} is empty", code="E0207",
                             label="this selects nothing")
    elif start >= 0 and end is not None and end >= 0:
        size = len(range(end)[start::step])
    else:
        raise ShapeError(f"slicing axis {axis} of size {dim_str(n)} needs non-negative start and end",
                         code="E0208", blame="start")
    shape = list(x.shape)
    shape[axis] = size
    return [x.with_shape(tuple(shape))]


def reference(arrays, a, ctx):
    x = arrays[0]
    index = [slice(None)] * x.ndim
    index[a["axis"]] = slice(a["start"], a["end"], a["step"])
    return [x[tuple(index)]]


def resolve(ins, a):
    return {**a, "axis": normalize_axis(a["axis"], ins[0].rank)}





OP = Op(name="slice", doc="elements start..end (end excluded) along `axis`", inputs=("x",),
        attrs=(Attr("start", "int"), Attr("end", "int", None), Attr("axis", "axis", 1), Attr("step", "pos_int", 1)),
        infer=infer, resolve=resolve, reference=reference, category="shape",
        examples=("x -> slice(0, 4, axis=1)",),
        vjp=lambda e, ins, outs, gs, a: [e("slice_grad", gs[0], ins[0], axis=a["axis"], start=a["start"], end=a["end"],
                                           step=a["step"])])
