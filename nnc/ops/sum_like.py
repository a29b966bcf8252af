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


def vjp(e, ins, outs, gs, a):
    """Summing over broadcast axes is linear; its transpose broadcasts back (x gives only a shape)."""
    g, x = ins
    extra = tuple(range(g.type.rank - x.type.rank))
    return [e("unreduce", gs[0], g, axis=extra, keepdims=False, mean=False), None]


def decompose(e, ins, out_types, a):
    """sum over the axes the types say broadcasting added or stretched (decided when the graph is built)."""
    from ._prims import reduce_to
    return [reduce_to(e, ins[0], out_types[0])]


OP = Op(name="sum_like", doc="reduce a broadcast gradient back to the shape of x", inputs=("g", "x"), infer=infer,
        reference=reference, category="gradient", internal=True, vjp=vjp, decompose=decompose)
