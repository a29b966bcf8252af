"""reduce_window(x, kind, kernel, stride, padding): the max or sum of each window of the spatial axes of
[N, C, ...] (a primitive: pooling). Padding ((lo, hi) per axis) holds −inf for max, 0 for sum."""
from __future__ import annotations


from ._numpy import np

from ..ir.types import TensorType
from .base import Attr, Op


def infer(ins, a):
    from .window import spatial_output
    x = ins[0]
    n = x.rank - 2
    out = spatial_output(x.shape[2:], a["kernel"], a["stride"], (1,) * n, a["padding"], "reduce_window", remainder="drop")
    return [TensorType(x.dtype, x.shape[:2] + out)]


def reference(arrays, a, ctx):
    from ._kernel_common import _pad_spatial, _windows
    x = arrays[0]
    n = x.ndim - 2
    pads = tuple(tuple(p) for p in a["padding"])
    win = _windows(_pad_spatial(x, pads, -np.inf if a["kind"] == "max" else 0.0), tuple(a["kernel"]),
                   tuple(a["stride"]), (1,) * n)
    axes = tuple(range(2 + n, 2 + 2 * n))
    out = win.max(axis=axes) if a["kind"] == "max" else win.sum(axis=axes)
    return [np.ascontiguousarray(out, dtype=x.dtype)]


def vjp(e, ins, outs, gs, a):
    """max: g to each window's first maximum (select_and_scatter_add); sum: g spread over each window, which
    is the input gradient of a depthwise convolution with a kernel of ones."""
    x = ins[0]
    window = {k: a[k] for k in ("kernel", "stride", "padding")}
    if a["kind"] == "max":
        return [e("select_and_scatter_add", gs[0], x, **window)]
    return [sum_window_transpose(e, gs[0], x.type, a)]


def sum_window_transpose(e, g, x: TensorType, a: dict):
    """The transpose of a window sum: each output's g added over its window, in x's shape."""
    from ._prims import full
    from .conv import _int, input_grad
    c = _int(x.shape[1], "the channel axis")
    n = x.rank - 2
    ones = full(e, 1.0, TensorType(g.type.dtype, (c, 1) + tuple(a["kernel"])))
    geometry = {"stride": tuple(a["stride"]), "padding": tuple(tuple(p) for p in a["padding"]),
                "lhs_dilation": (1,) * n, "rhs_dilation": (1,) * n, "groups": c}
    return input_grad(e, g, ones, x.shape[2:], geometry)


OP = Op(name="reduce_window", doc="the max or sum of each window over the spatial axes", inputs=("x",),
        attrs=(Attr("kind", "choice:max|sum"), Attr("kernel", "any"), Attr("stride", "any"), Attr("padding", "any")),
        infer=infer, reference=reference, category="pool", internal=True, vjp=vjp)

