"""reshape_like(g, x): g with x's shape (the gradient of flatten and reshape)."""
from ..ir.types import TensorType
from .base import Op


def infer(ins, a):
    return [TensorType(ins[0].dtype, ins[1].shape)]


OP = Op(name="reshape_like", doc="g reshaped to x's shape", inputs=("g", "x"), infer=infer,
        reference=lambda arrays, a, ctx: [arrays[0].reshape(arrays[1].shape)], category="gradient", internal=True,
        vjp=lambda e, ins, outs, gs, a: [e("reshape_like", gs[0], ins[0]), None])  # linear: reshape back
