"""Pooling shared by maxpool and avgpool, as PyTorch and ONNX define it; no parameters.

Window arithmetic as convolution (nnc/ops/window.py), plus `dilation`,
`ceil_mode` (a last, partial window: PyTorch's rule), `count_include_pad`
for avgpool (PyTorch's default true: padding counts in the divisor, but what
ceil_mode adds never does), padding per side, and padding above half the
kernel as long as every window reads a real element. The geometry and the
general path in primitives live in nnc/ops/pool_window.py.
"""
from ..ir.types import TensorType
from .base import Attr, Op, ShapeError, require_float
from .pool_window import check_reads_input, geometry, is_plain, max_transpose, sum_transpose, window_counts, \
    window_reduce
from .window import per_axis, resolve_padding, spatial_output


def make_pool(name: str, doc: str) -> Op:
    def resolve(ins, a):
        x = ins[0]
        if x.rank not in (3, 4, 5):
            raise ShapeError(f"{name} expects [N, C, L], [N, C, H, W] or [N, C, D, H, W], found {x}", blame="x",
                             code="E0203")
        n = x.rank - 2
        kernel = per_axis(a["kernel"], n, "kernel")
        stride = per_axis(a["stride"] if a["stride"] is not None else a["kernel"], n, "stride")
        dilation = per_axis(a["dilation"], n, "dilation")
        padding = resolve_padding(a["padding"], x.shape[2:], kernel, stride, dilation, name)
        return {**a, "kernel": kernel, "stride": stride, "dilation": dilation, "padding": padding}

    def infer(ins, a):
        x = ins[0]
        require_float(x, "x", name)
        dilation, pads, _ = geometry(x.shape[2:], a, name)
        out = spatial_output(x.shape[2:], a["kernel"], a["stride"], dilation, pads, name,
                             symmetric_pad=all(lo == hi for lo, hi in a["padding"]),
                             remainder=a.get("remainder", "error"), pool=not a.get("ceil_mode"))
        check_reads_input(x.shape[2:], a["kernel"], a["stride"], dilation, pads, name)
        if any(d > 1 for d in dilation) and not all(isinstance(s, int) for s in x.shape[2:]):
            raise ShapeError(f"{name} with dilation needs known spatial sizes, found {x}", blame="dilation",
                             code="E0208", hint="give the spatial axes fixed sizes")
        return [TensorType(x.dtype, x.shape[:2] + out)]

    def reference(arrays, a, ctx):
        from . import _pool_kernels as k
        x = arrays[0]
        dilation, pads, counted = geometry(x.shape[2:], a, name)
        if not is_plain(name, dilation, pads, counted):
            return [k.pool_nd(x, name, a["kernel"], a["stride"], dilation, pads, counted)]
        if name == "maxpool":
            return [k.max_pool_nd(x, a["kernel"], a["stride"], pads)]
        return [k.avg_pool_nd(x, a["kernel"], a["stride"], pads, True)]

    def vjp(e, ins, outs, gs, a):
        x = ins[0]
        dilation, pads, counted = geometry(x.type.shape[2:], a, name)
        if is_plain(name, dilation, pads, counted):
            return [e("pool_backward", gs[0], x, kind=name, kernel=a["kernel"], stride=a["stride"], padding=pads)]
        if name == "maxpool":
            return [max_transpose(e, gs[0], x, outs[0], a["kernel"], a["stride"], dilation, pads)]
        counts = window_counts(e, x, a["kernel"], a["stride"], dilation, pads, counted, outs[0].type.shape[2:])
        return [sum_transpose(e, e("div", gs[0], counts), x, a["kernel"], a["stride"], dilation, pads)]

    def decompose(e, ins, out_types, a):
        """maxpool: the window maximum; avgpool: the window sum over the window size (padding counted), or
        over each window's count of counted cells."""
        from ._prims import const
        x = ins[0]
        dilation, pads, counted = geometry(x.type.shape[2:], a, name)
        out = out_types[0].shape[2:]
        if name == "maxpool":
            return [window_reduce(e, x, "max", a["kernel"], a["stride"], dilation, pads, out)]
        sums = window_reduce(e, x, "sum", a["kernel"], a["stride"], dilation, pads, out)
        if is_plain(name, dilation, pads, counted):
            size = 1
            for k in a["kernel"]:
                size *= k
            return [e("div", sums, const(e, size, x))]
        return [e("div", sums, window_counts(e, x, a["kernel"], a["stride"], dilation, pads, counted, out))]

    attrs = (Attr("kernel", "window"), Attr("stride", "window", None), Attr("padding", "padding", 0),
             Attr("dilation", "window", 1), Attr("ceil_mode", "bool", False),
             Attr("remainder", "choice:error|drop", "error",
                  doc='"drop" accepts windows that leave the last input elements unread'))
    if name == "avgpool":
        attrs += (Attr("count_include_pad", "bool", True, doc="padding counts in the divisor (PyTorch's default)"),)
    return Op(name=name, doc=doc, inputs=("x",), vjp=vjp, attrs=attrs, resolve=resolve, infer=infer,
              reference=reference, category="pool", examples=(f"x -> {name}(2)",), decompose=decompose)
