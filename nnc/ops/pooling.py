"""Pooling shared by maxpool and avgpool: window arithmetic as convolution, no parameters."""
from ..ir.types import TensorType
from .base import Attr, Op, ShapeError, require_float
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
        padding = resolve_padding(a["padding"], x.shape[2:], kernel, stride, (1,) * n, name)
        for k, (lo, hi) in zip(kernel, padding):
            if max(lo, hi) > k // 2:
                raise ShapeError(f"{name}'s padding ({max(lo, hi)}) must be at most half its kernel ({k})",
                                 blame="padding", code="E0207",
                                 hint="a window made mostly of padding reads no input")
        return {**a, "kernel": kernel, "stride": stride, "padding": padding}

    def infer(ins, a):
        x = ins[0]
        require_float(x, "x", name)
        n = x.rank - 2
        out = spatial_output(x.shape[2:], a["kernel"], a["stride"], (1,) * n, a["padding"], name)
        return [TensorType(x.dtype, x.shape[:2] + out)]

    def reference(arrays, a, ctx):
        from . import _pool_kernels as k
        if name == "maxpool":
            return [k.max_pool_nd(arrays[0], a["kernel"], a["stride"], a["padding"])]
        return [k.avg_pool_nd(arrays[0], a["kernel"], a["stride"], a["padding"], True)]

    def vjp(e, ins, outs, gs, a):
        return [e("pool_backward", gs[0], ins[0], kind=name, kernel=a["kernel"], stride=a["stride"],
                  padding=a["padding"])]

    def decompose(e, ins, out_types, a):
        """maxpool: the window maximum; avgpool: the window sum over the window size (padding counted)."""
        from ._prims import const
        window = {k: a[k] for k in ("kernel", "stride", "padding")}
        if name == "maxpool":
            return [e("reduce_window", ins[0], kind="max", **window)]
        size = 1
        for k in a["kernel"]:
            size *= k
        return [e("div", e("reduce_window", ins[0], kind="sum", **window), const(e, size, ins[0]))]

    return Op(name=name, doc=doc, inputs=("x",), vjp=vjp,
              attrs=(Attr("kernel", "window"), Attr("stride", "window", None), Attr("padding", "padding", 0)),
              resolve=resolve, infer=infer, reference=reference, category="pool",
              examples=(f"x -> {name}(2)",), decompose=decompose)
