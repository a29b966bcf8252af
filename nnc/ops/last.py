"""last(x): the final time step of a sequence, [N, T, F] → [N, F]."""
from .base import Op, ShapeError


def infer(ins, a):
    x = ins[0]
    if x.rank < 2:
        raise ShapeError(f"last takes the final step along axis 1, found {x}", blame="x", code="E0206")
    return [x.with_shape((x.shape[0],) + x.shape[2:])]





def decompose(e, ins, out_types, a):
    """The final step: reverse the time axis, take step 0, and drop the axis (a sum over one element)."""
    x = ins[0]
    first = e("slice", e("reverse", x, axes=(1,)), start=0, end=1, axis=1)
    return [e("sum", first, axis=(1,))]


OP = Op(name="last", doc="the final step along axis 1 (time)", inputs=("x",), infer=infer,
        reference=lambda arrays, a, ctx: [arrays[0][:, -1]], category="shape", examples=("x -> lstm(64) -> last",),
        vjp=lambda e, ins, outs, gs, a: [e("slice_grad", gs[0], ins[0], axis=1, drop_axis=True)], decompose=decompose)
