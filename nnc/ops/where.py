"""where(cond, a, b): a where cond holds, b elsewhere, all three broadcast (a primitive)."""
from ._numpy import np

from ..ir.types import TensorType
from .base import Op, ShapeError
from .common import broadcast_shapes, promote


def infer(ins, a):
    c, x, y = ins
    if c.dtype != "bool":
        raise ShapeError(f"where needs a bool condition, found {c}", blame="cond", code="E0202")
    shape = broadcast_shapes(c, TensorType(x.dtype, broadcast_shapes(x, y)))
    return [TensorType(promote(x.dtype, y.dtype), shape)]


def reference(arrays, a, ctx):
    c, x, y = arrays
    return [np.asarray(np.where(c, x, y), dtype=np.result_type(x.dtype, y.dtype))]


def vjp(e, ins, outs, gs, a):
    from ._prims import reduce_to, zeros_like
    c, x, y = ins
    g = gs[0]
    zero = zeros_like(e, g)
    return [None, reduce_to(e, e("where", c, g, zero), x.type), reduce_to(e, e("where", c, zero, g), y.type)]


OP = Op(name="where", doc="elementwise choice between a and b", inputs=("cond", "a", "b"), infer=infer,
        reference=reference, category="math", vjp=vjp,
        examples=("where(x > 0, x, 0.1 * x)", "where(mask, a, b)"))
