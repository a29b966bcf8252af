"""reshape(x, [d0, d1, ...]): the whole shape as NumPy writes it; one entry may be −1."""
from ..ir.types import dim_div_exact, dim_prod, dim_str, shape_str
from .base import Attr, Op, ShapeError


def infer(ins, a):
    x = ins[0]
    target = a["shape"]
    if sum(1 for d in target if d == -1) > 1:
        raise ShapeError("reshape may infer only one axis (-1)", blame="shape", code="E0210")
    for d in target:
        if d == 0 or d < -1:
            raise ShapeError(f"reshape sizes must be positive or -1, found {d}", blame="shape", code="E0207")
    total = dim_prod(x.shape)
    known = dim_prod([d for d in target if d != -1])
    if -1 in target:
        rest = dim_div_exact(total, known)
        if rest is None:
            raise ShapeError(f"cannot reshape {x} ({dim_str(total)} elements) into {list(target)}", code="E0210",
                             label=f"{dim_str(total)} is not divisible by {dim_str(known)}")
        shape = tuple(rest if d == -1 else d for d in target)
    else:
        shape = tuple(target)
        if dim_prod(shape) != total:
            raise ShapeError(f"cannot reshape {x} ({dim_str(total)} elements) into {shape_str(shape)} "
                             f"({dim_str(dim_prod(shape))} elements)", code="E0210",
                             hint="use -1 for the batch axis: reshape([-1, ...])")
    return [x.with_shape(shape)]


def reference(arrays, a, ctx):
    return [arrays[0].reshape(a["shape"])]





OP = Op(name="reshape", doc="the same elements in a new shape (the whole shape, -1 inferred)", inputs=("x",),
        attrs=(Attr("shape", "ints"),), infer=infer, reference=reference, category="shape",
        examples=("x -> reshape([-1, 4, 4])",),
        vjp=lambda e, ins, outs, gs, a: [e("reshape_like", gs[0], ins[0])])
