"""conv_winograd(x, u): a 3×3 stride-1 convolution from filters already transformed (internal).

`u` is `winograd_filter(w)` [16, O, C]; the result is `conv(x, w)` with the same `padding` (pairs, >= 0),
stride, dilation and groups 1: [N, O, H + lo + hi − 2, W + lo + hi − 2]. Made by the llvm backend's pass
`winograd_filters` (nnc/backends/llvm/conv_forward.py), lowered by conv_forward's Winograd F(2×2, 3×3).
The reference recovers w exactly in real arithmetic (G has a left inverse) and convolves.
"""
from __future__ import annotations

from ._numpy import np

from ..ir.types import TensorType, dim_add
from .base import Attr, Op, ShapeError
from .winograd_filter import G


def infer(ins: list[TensorType], a: dict) -> list[TensorType]:
    x, u = ins
    pads = a["padding"]
    if x.rank != 4 or u.rank != 3 or u.shape[0] != 16 or x.dtype != u.dtype or u.shape[2] != x.shape[1]:
        raise ShapeError(f"conv_winograd expects x [N, C, H, W] and u [16, O, C] of one dtype, found {x} and {u}",
                         blame="u", code="E0203")
    if len(pads) != 2 or any(len(p) != 2 or min(p) < 0 for p in pads):
        raise ShapeError("conv_winograd needs two (lo, hi) padding pairs >= 0", blame="padding", code="E0203")
    out = [dim_add(n, lo + hi - 2) for n, (lo, hi) in zip(x.shape[2:], pads)]
    if any(isinstance(d, int) and d < 1 for d in out):
        raise ShapeError(f"conv_winograd leaves no output for {x}", code="E0302")
    return [TensorType(x.dtype, (x.shape[0], u.shape[1]) + tuple(out))]


def reference(arrays, a, ctx):
    from ._conv_kernels import conv_nd
    x, u = arrays
    left = np.linalg.pinv(np.asarray(G, dtype=np.float64))   # 3×4: left · G = I
    w = np.einsum("ax,xyoc,by->ocab", left, u.astype(np.float64).reshape((4, 4) + u.shape[1:]), left)
    y = conv_nd(x, w.astype(x.dtype), None, (1, 1), tuple(tuple(p) for p in a["padding"]), (1, 1), 1)
    return [np.ascontiguousarray(y, dtype=x.dtype)]


OP = Op(name="conv_winograd", doc="a 3×3 stride-1 convolution of x with Winograd-transformed filters u",
        inputs=("x", "u"), attrs=(Attr("padding", "any", doc="one (lo, hi) pair per spatial axis"),),
        infer=infer, reference=reference, category="layer", internal=True)
