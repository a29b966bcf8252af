"""spatial_pad(x, padding, mode="constant", value=0): a border around the spatial axes of [N, C, ...].

PyTorch's F.pad / nn.ConstantPad, ReflectionPad, ReplicationPad and ONNX's
Pad on the spatial axes. `padding` is written as for convolution: an int,
one per axis, or [[before, after], ...]. "reflect" mirrors without repeating
the edge (so each side needs less padding than the axis has), "replicate"
repeats the edge element. (The name `pad` is the primitive's, a constant
border on any axis, which this decomposes into for "constant".)
"""
from __future__ import annotations

from ..ir.types import TensorType, dim_add, dim_str
from .base import Attr, Op, ShapeError, require_float
from .window import AXIS_NAMES, resolve_padding


def resolve(ins, a):
    x = ins[0]
    if x.rank < 3:
        raise ShapeError(f"spatial_pad expects [N, C, L], [N, C, H, W] or [N, C, D, H, W], found {x}", blame="x",
                         code="E0203", label=f"this has rank {x.rank}")
    if isinstance(a["padding"], str):
        raise ShapeError(f'spatial_pad takes amounts, not "{a["padding"]}"', blame="padding", code="E0105")
    n = x.rank - 2
    return {**a, "padding": resolve_padding(a["padding"], x.shape[2:], (1,) * n, (1,) * n, (1,) * n, "spatial_pad")}


def infer(ins, a):
    x = ins[0]
    require_float(x, "x", "spatial_pad")
    names = AXIS_NAMES.get(x.rank - 2, ())
    out = []
    for i, (d, (lo, hi)) in enumerate(zip(x.shape[2:], a["padding"])):
        if a["mode"] != "constant":
            if not isinstance(d, int):
                raise ShapeError(f'spatial_pad with mode="{a["mode"]}" needs known spatial sizes, found {dim_str(d)}',
                                 blame="x", code="E0208", hint='mode="constant" works with any size')
            limit = d - 1 if a["mode"] == "reflect" else None
            if limit is not None and max(lo, hi) > limit:
                raise ShapeError(f'reflect padding ({max(lo, hi)}) must be below the size of the {names[i]} ({d})',
                                 blame="padding", code="E0207", label=f"the {names[i]} is {d}",
                                 hint="reflection does not repeat the edge; use replicate for more")
        out.append(dim_add(d, lo + hi))
    return [TensorType(x.dtype, x.shape[:2] + tuple(out))]


def reference(arrays, a, ctx):
    from ._numpy import np
    x = arrays[0]
    widths = ((0, 0), (0, 0)) + tuple(tuple(p) for p in a["padding"])
    if a["mode"] == "constant":
        return [np.pad(x, widths, constant_values=np.asarray(a["value"], dtype=x.dtype))]
    return [np.pad(x, widths, mode="reflect" if a["mode"] == "reflect" else "edge")]


def _slice(e, x, axis, start, end):
    return e("slice", x, start=start, end=end, axis=axis)


def decompose(e, ins, out_types, a):
    """constant: the pad primitive; reflect: reversed slices beside x; replicate: the edge slice repeated."""
    x = ins[0]
    if a["mode"] == "constant":
        return [e("pad", x, lo=(0, 0) + tuple(p[0] for p in a["padding"]),
                  hi=(0, 0) + tuple(p[1] for p in a["padding"]), value=float(a["value"]))]
    for k, (lo, hi) in enumerate(a["padding"]):
        axis, n = 2 + k, x.type.shape[2 + k]
        parts = []
        if lo:
            parts.append(e("reverse", _slice(e, x, axis, 1, lo + 1), axes=(axis,)) if a["mode"] == "reflect"
                         else _repeat(e, _slice(e, x, axis, 0, 1), axis, lo))
        parts.append(x)
        if hi:
            parts.append(e("reverse", _slice(e, x, axis, n - 1 - hi, n - 1), axes=(axis,)) if a["mode"] == "reflect"
                         else _repeat(e, _slice(e, x, axis, n - 1, n), axis, hi))
        x = parts[0] if len(parts) == 1 else e("concat", *parts, axis=axis)
    return [x]


def _repeat(e, edge, axis: int, times: int):
    return edge if times == 1 else e("concat", *([edge] * times), axis=axis)


def vjp(e, ins, outs, gs, a):
    """constant: g cropped; otherwise the border's gradient folded back onto the elements it copied."""
    x = ins[0]
    g = gs[0]
    if a["mode"] == "constant":
        return [e("pad", g, lo=(0, 0) + tuple(-p[0] for p in a["padding"]),
                  hi=(0, 0) + tuple(-p[1] for p in a["padding"]), value=0.0)]
    rank = x.type.rank

    def place(v, axis, lo, hi):
        return e("pad", v, lo=tuple(lo if i == axis else 0 for i in range(rank)),
                 hi=tuple(hi if i == axis else 0 for i in range(rank)), value=0.0)

    for k in reversed(range(len(a["padding"]))):
        lo, hi = a["padding"][k]
        axis, n = 2 + k, x.type.shape[2 + k]
        out = _slice(e, g, axis, lo, lo + n)
        if lo:
            left = _slice(e, g, axis, 0, lo)
            if a["mode"] == "reflect":
                out = e("add", out, place(e("reverse", left, axes=(axis,)), axis, 1, n - 1 - lo))
            else:
                out = e("add", out, place(e("sum", left, axis=(axis,), keepdims=True), axis, 0, n - 1))
        if hi:
            right = _slice(e, g, axis, lo + n, lo + n + hi)
            if a["mode"] == "reflect":
                out = e("add", out, place(e("reverse", right, axes=(axis,)), axis, n - 1 - hi, 1))
            else:
                out = e("add", out, place(e("sum", right, axis=(axis,), keepdims=True), axis, n - 1, 0))
        g = out
    return [g]


OP = Op(name="spatial_pad", doc="a constant, reflected or replicated border around the spatial axes",
        inputs=("x",), attrs=(Attr("padding", "padding"), Attr("mode", "choice:constant|reflect|replicate", "constant"),
                              Attr("value", "float", 0.0)),
        resolve=resolve, infer=infer, reference=reference, vjp=vjp, decompose=decompose, category="shape",
        examples=('x -> spatial_pad(1, mode="reflect")',))
