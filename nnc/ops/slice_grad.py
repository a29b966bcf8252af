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


def decompose(e, ins, out_types, a):
    """g put back among zeros: interleaved with zeros for a step, then padded to x's size along the axis."""
    from ._prims import expand, full_like
    g, x = ins
    axis, step = a["axis"], a["step"]
    n = x.type.shape[axis]
    if a["drop_axis"]:  # last(): the final position of the axis
        g = expand(e, g, (axis,), x)
        if isinstance(n, int):
            return [_pad_axis(e, g, axis, n - 1, 0)]
        head = full_like(e, 0.0, e("pad", x, **_amounts(x.type.rank, axis, 0, -1)))
        return [e("concat", e("cast", head, dtype=g.type.dtype), g, axis=axis)]
    if isinstance(n, int):
        positions = range(n)[a["start"]:a["end"]:step]
        first, count = positions[0], len(positions)
    else:
        first, count = a["start"], g.type.shape[axis]
    if step > 1:  # [.., m, ..] -> [.., m, step, ..] with zeros after each element -> [.., m·step, ..]
        spread = e("pad", expand(e, g, (axis + 1,), None), **_amounts(g.type.rank + 1, axis + 1, 0, step - 1))
        shape = list(g.type.shape)
        shape[axis] = count * step
        g = e("reshape", spread, shape=tuple(-1 if not isinstance(d, int) else d for d in shape))
        g = _pad_axis(e, g, axis, 0, 1 - step)
    end = first + (count - 1) * step + 1
    if isinstance(n, int):
        return [_pad_axis(e, g, axis, first, n - end)]
    tail = full_like(e, 0.0, e("pad", x, **_amounts(x.type.rank, axis, -end, 0)))
    return [e("concat", _pad_axis(e, g, axis, first, 0), e("cast", tail, dtype=g.type.dtype), axis=axis)]


def _amounts(rank: int, axis: int, lo: int, hi: int) -> dict:
    return {"lo": tuple(lo if i == axis else 0 for i in range(rank)),
            "hi": tuple(hi if i == axis else 0 for i in range(rank))}


def _pad_axis(e, g, axis: int, lo: int, hi: int):
    return g if lo == hi == 0 else e("pad", g, **_amounts(g.type.rank, axis, lo, hi))


OP = Op(name="slice_grad", doc="the gradient of slice and last", inputs=("g", "x"),
        attrs=(Attr("axis", "axis", 1), Attr("start", "int", 0), Attr("end", "any", None), Attr("step", "pos_int", 1),
               Attr("drop_axis", "bool", False)),
        infer=infer, reference=reference, category="gradient", internal=True,
        vjp=lambda e, ins, outs, gs, a: [  # linear: the transpose takes the slice again
            e("last", gs[0]) if a["drop_axis"] else
            e("slice", gs[0], axis=a["axis"], start=a["start"], end=a["end"], step=a["step"]), None],
        decompose=decompose)
