"""Losses that reduce one value per element of a prediction and a target (huber, smooth_l1, kl_div).

Each is given by its per-element value (numpy and nnc ops) and its
per-element derivatives with respect to both arguments; this module adds the
shape rule (a float target of the prediction's shape, or a scalar), the
reductions PyTorch has ("mean" over every element, "sum", "none", and for
kl_div "batchmean": the sum over the batch size), the gradient and the
decomposition.
"""
from __future__ import annotations

from typing import Callable

from ..ir.types import TensorType
from .base import Attr, Op
from .common import check_target, scalar_of


def make_pointwise_loss(name: str, doc: str, attrs: tuple[Attr, ...], value_np: Callable, value: Callable,
                        derivatives: Callable, reductions: str = "mean|sum|none",
                        args: tuple[str, str] = ("a", "b"), example: str = "") -> Op:
    """value_np(x, y, attrs) -> per-element array; value(e, x, y, attrs) -> per-element tensor;
    derivatives(e, x, y, attrs) -> (d value/dx, d value/dy), per element."""

    def infer(ins, a):
        check_target(ins[0], ins[1], name, arg=args[1])
        out = scalar_of(ins[0])
        return [out.with_shape(ins[0].shape) if a["reduction"] == "none" else out]

    def reference(arrays, a, ctx):
        from ._numpy import np
        x, y = arrays
        v = np.asarray(value_np(x, y, a), dtype=x.dtype)
        out_dtype = np.float64 if x.dtype == np.float64 else np.float32
        if a["reduction"] == "none":
            return [v.astype(out_dtype)]
        total = v.sum()
        if a["reduction"] == "mean":
            total = total / max(v.size, 1)
        elif a["reduction"] == "batchmean":
            total = total / max(v.shape[0] if v.ndim else 1, 1)
        return [np.asarray(total, dtype=out_dtype)]

    def _reduce(e, v, a, out: TensorType):
        from ._prims import count
        if a["reduction"] != "none":
            every = tuple(range(v.type.rank))
            total = e("sum", v, axis=every)
            if a["reduction"] == "mean":
                total = e("div", total, count(e, v, every, total))
            elif a["reduction"] == "batchmean" and v.type.rank:
                total = e("div", total, count(e, v, (0,), total))
            v = total
        return v if v.type.dtype == out.dtype else e("cast", v, dtype=out.dtype)

    def decompose(e, ins, out_types, a):
        return [_reduce(e, value(e, ins[0], ins[1], a), a, out_types[0])]

    def vjp(e, ins, outs, gs, a):
        from ._prims import count
        x, y = ins
        g = gs[0]
        if g.type.dtype != x.type.dtype:
            g = e("cast", g, dtype=x.type.dtype)
        every = tuple(range(x.type.rank))
        if a["reduction"] == "none":
            spread = g
        else:
            if a["reduction"] == "batchmean" and x.type.rank:
                g = e("div", g, count(e, x, (0,), g))
            spread = e("unreduce", g, x, axis=every, keepdims=False, mean=a["reduction"] == "mean")
        dx, dy = derivatives(e, x, y, a)
        return [e("mul", spread, dx), e("sum_like", e("mul", spread, dy), y)]

    return Op(name=name, doc=doc, inputs=args,
              attrs=attrs + (Attr("reduction", f"choice:{reductions}", "mean",
                                  "mean over every element, sum, or one loss per element"),),
              infer=infer, reference=reference, category="loss", vjp=vjp, decompose=decompose,
              examples=(example,) if example else ())
