"""conv_transpose2d(x, filters, kernel, ...): the gradient of conv2d as a layer; weight [in, out/groups, kh, kw]."""
from ..ir.types import TensorType, dim_add, dim_mul
from .base import Attr, Op, ParamSpec, ShapeError, require_float
from .common import batch_numel, known
from .dense import INITS
from .window import AXIS_NAMES, per_axis


def resolve(ins, a):
    x = ins[0]
    if x.rank != 4:
        raise ShapeError(f"conv_transpose2d expects [N, C, H, W], found {x}", blame="x", code="E0203")
    out = dict(a)
    for key in ("kernel", "stride", "padding", "output_padding", "dilation"):
        out[key] = per_axis(a[key], 2, key)
    return out


def infer(ins, a):
    x = ins[0]
    require_float(x, "x", "conv_transpose2d")
    c = known(x.shape[1], "the channel axis", "conv_transpose2d")
    g = a["groups"]
    if c % g or a["filters"] % g:
        raise ShapeError(f"conv_transpose2d with groups={g} needs channels ({c}) and filters ({a['filters']}) "
                         f"divisible by {g}", blame="groups", code="E0303")
    sizes = []
    for n, k, s, p, op, d, axis in zip(x.shape[2:], a["kernel"], a["stride"], a["padding"], a["output_padding"],
                                       a["dilation"], AXIS_NAMES[2]):
        if op >= max(s, d):
            raise ShapeError(f"output_padding ({op}) must be smaller than the stride or the dilation", code="E0207",
                             blame="output_padding")
        extra = -2 * p + d * (k - 1) + op + 1
        size = dim_add(dim_mul(dim_add(n, -1), s), extra)
        if isinstance(size, int) and size <= 0:
            raise ShapeError("conv_transpose2d's padding leaves nothing", code="E0302",
                             label=f"{axis}: ({n} - 1)·{s} - 2·{p} + {d}·({k} - 1) + {op} + 1 = {size}")
        sizes.append(size)
    return [TensorType(x.dtype, (x.shape[0], a["filters"]) + tuple(sizes))]


def params(ins, a):
    c = ins[0].shape[1]
    k = a["kernel"][0] * a["kernel"][1]
    w = ParamSpec("weight", (c, a["filters"] // a["groups"]) + a["kernel"], a["init"],
                  fan_in=a["filters"] // a["groups"] * k, fan_out=c * k, decay=True)
    return [w] + ([ParamSpec("bias", (a["filters"],), "zeros")] if a["bias"] else [])


def reference(arrays, a, ctx):
    from ._conv_kernels import conv_transpose_nd
    b = arrays[2] if a["bias"] else None
    return [conv_transpose_nd(arrays[0], arrays[1], b, a["stride"], a["padding"], a["output_padding"],
                              a["dilation"], a["groups"])]


def macs(ins, outs, a):
    k = a["kernel"][0] * a["kernel"][1]
    return batch_numel(ins[0].shape) * (a["filters"] // a["groups"]) * k


def vjp(e, ins, outs, gs, a):
    return list(e("conv_transpose_backward", gs[0], ins[0], ins[1], stride=a["stride"], padding=a["padding"],
                  output_padding=a["output_padding"], dilation=a["dilation"], groups=a["groups"], bias=a["bias"]))


def decompose(e, ins, out_types, a):
    """The input gradient of the convolution it transposes (output_padding fixes the size), plus the bias."""
    from .conv import input_grad
    from .conv_backward import forward_geometry
    x, w = ins[0], ins[1]
    y = input_grad(e, x, w, out_types[0].shape[2:], forward_geometry(a, x.type.rank - 2))
    if a["bias"]:
        y = e("add", y, e("reshape", ins[2], shape=(1, -1) + (1,) * (x.type.rank - 2)))
    return [y]


OP = Op(name="conv_transpose2d", doc="transposed 2-d convolution (upsampling), [N, C, H, W]", inputs=("x",),
        attrs=(Attr("filters", "pos_int"), Attr("kernel", "window"), Attr("stride", "window", 1),
               Attr("padding", "nonneg_window", 0), Attr("output_padding", "nonneg_window", 0),
               Attr("dilation", "window", 1), Attr("groups", "pos_int", 1), Attr("bias", "bool", True),
               Attr("init", INITS, "xavier_uniform")),
        resolve=resolve, infer=infer, params=params, reference=reference, macs=macs, category="layer", vjp=vjp,
        examples=("x -> conv_transpose2d(16, 4, stride=2, padding=1)",), decompose=decompose)
