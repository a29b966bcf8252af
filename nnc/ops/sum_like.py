"""sum_like(g, x): g summed over the axes that broadcasting added or stretched, giving x's shape.

The gradient of every broadcasting op passes through it.
"""
from ._numpy import np
from ..ir.types import TensorType
from .base import Op


def infer(ins, a):
    return [TensorType(ins[0].dtype, ins[1].shape)]


def reference(arrays, a, ctx):
    g, x = arrays
    extra = g.ndim - x.ndim
    if extra:
        g = g.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, (gd, xd) in enumerate(zip(g.shape, x.shape)) if xd == 1 and gd != 1)
    if stretched:
        g = g.sum(axis=stretched, keepdims=True)
    return [np.array(g.reshape(x.shape), order="C")]  # (ascontiguousarray would make 0-d arrays 1-d)


OP = Op(name="sum_like", doc="reduce a broadcast gradient back to the shape of x", inputs=("g", "x"), infer=infer,
        reference=reference, category="gradient", internal=True)
