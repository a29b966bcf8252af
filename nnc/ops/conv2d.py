"""conv2d(x, filters, kernel, ...): 2-d convolution on NCHW, weight [out, in/groups, kh, kw]."""
from ..ir.types import TensorType, dim_str
from .base import Attr, Op, ParamSpec, ShapeError, require_float
from .common import batch_numel, known
from .dense import INITS
from .window import per_axis, resolve_padding, spatial_output

_LAYOUT = {1: "[N, C, L]", 2: "[N, C, H, W]", 3: "[N, C, D, H, W]"}


def make_conv(name: str, spatial: int) -> Op:
    def resolve(ins, a):
        x = ins[0]
        if x.rank != spatial + 2:
            raise ShapeError(f"{name} expects {_LAYOUT[spatial]}, found {x}", blame="x", code="E0203",
                             label=f"this has rank {x.rank}, not {spatial + 2}")
        kernel = per_axis(a["kernel"], spatial, "kernel")
        stride = per_axis(a["stride"], spatial, "stride")
        dilation = per_axis(a["dilation"], spatial, "dilation")
        padding = resolve_padding(a["padding"], x.shape[2:], kernel, stride, dilation, name)
        return {**a, "kernel": kernel, "stride": stride, "dilation": dilation, "padding": padding}

    def infer(ins, a):
        x = ins[0]
        require_float(x, "x", name)
        if not isinstance(x.shape[1], int) and isinstance(x.shape[-1], int):
            # [N, T, 4]: channels last, as sequence data usually comes. A fixed size for axis 1 would check
            # and then convolve over the wrong axis, so the hint is the transpose.
            perm = [0, x.rank - 1] + list(range(1, x.rank - 1))
            raise ShapeError(f"{name} needs a known size for the channel axis (axis 1, channels first), found "
                             f"{dim_str(x.shape[1])}", code="E0208", label=f"the channel axis is {dim_str(x.shape[1])}",
                             hint=f"{x} looks channels-last; {name} takes {_LAYOUT[spatial]}: write "
                                  f"`x -> transpose({perm}) -> {name}(...)`")
        c = known(x.shape[1], "the channel axis", name)
        g = a["groups"]
        if c % g or a["filters"] % g:
            raise ShapeError(f"{name} with groups={g} needs input channels ({c}) and filters ({a['filters']}) "
                             f"divisible by {g}", blame="groups", code="E0303")
        out = spatial_output(x.shape[2:], a["kernel"], a["stride"], a["dilation"], a["padding"], name,
                             symmetric_pad=a["padding"] and all(lo == hi for lo, hi in a["padding"]),
                             remainder=a["remainder"])
        return [TensorType(x.dtype, (x.shape[0], a["filters"]) + out)]

    def params(ins, a):
        c = ins[0].shape[1]
        k = 1
        for v in a["kernel"]:
            k *= v
        w = ParamSpec("weight", (a["filters"], c // a["groups"]) + a["kernel"], a["init"],
                      fan_in=c // a["groups"] * k, fan_out=a["filters"] * k, decay=True)
        return [w] + ([ParamSpec("bias", (a["filters"],), "zeros")] if a["bias"] else [])

    def reference(arrays, a, ctx):
        from ._conv_kernels import conv_nd
        b = arrays[2] if a["bias"] else None
        return [conv_nd(arrays[0], arrays[1], b, a["stride"], a["padding"], a["dilation"], a["groups"])]

    def macs(ins, outs, a):
        k = 1
        for v in a["kernel"]:
            k *= v
        return batch_numel(outs[0].shape) * (ins[0].shape[1] // a["groups"]) * k

    def vjp(e, ins, outs, gs, a):
        grads = e("conv_backward", gs[0], ins[0], ins[1], stride=a["stride"], padding=a["padding"],
                  dilation=a["dilation"], groups=a["groups"], bias=a["bias"])
        return list(grads)

    return Op(name=name, doc=f"{spatial}-d convolution, {_LAYOUT[spatial]}", inputs=("x",), vjp=vjp,
              attrs=(Attr("filters", "pos_int"), Attr("kernel", "window"), Attr("stride", "window", 1),
                     Attr("padding", "padding", 0), Attr("dilation", "window", 1), Attr("groups", "pos_int", 1),
                     Attr("bias", "bool", True), Attr("init", INITS, "xavier_uniform"),
                     Attr("remainder", "choice:error|drop", "error",
                          doc='"drop" accepts windows that leave the last input elements unread')),
              resolve=resolve, infer=infer, params=params, reference=reference, macs=macs, category="layer",
              examples=(f"x -> {name}(16, 3, padding=1)",), decompose=decompose)


def decompose(e, ins, out_types, a):
    """The general convolution (kernel dilation as its rhs_dilation), plus the bias per channel."""
    from .conv_backward import forward_geometry
    x, w = ins[0], ins[1]
    y = e("conv", x, w, **forward_geometry(a, x.type.rank - 2))
    if a["bias"]:
        y = e("add", y, e("reshape", ins[2], shape=(1, -1) + (1,) * (x.type.rank - 2)))
    return [y]


OP = make_conv("conv2d", 2)
