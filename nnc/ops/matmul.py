"""a @ b: matrix product with NumPy's rules (batch axes broadcast)."""
from ._numpy import np

from ..ir.types import TensorType, dim_str
from .base import Op, ShapeError
from .common import batch_numel, broadcast_shapes, promote


def infer(ins, a):
    x, y = ins
    if x.rank == 0 or y.rank == 0:
        raise ShapeError(f"@ needs tensors of rank 1 or more, found {x} @ {y}", code="E0205")
    xs = x.shape if x.rank > 1 else (1,) + x.shape
    ys = y.shape if y.rank > 1 else y.shape + (1,)
    if xs[-1] != ys[-2]:
        raise ShapeError(f"cannot multiply {x} @ {y}", code="E0205",
                         label=f"inner sizes {dim_str(xs[-1])} and {dim_str(ys[-2])} differ",
                         hint="the last axis of the left operand must equal the second-to-last of the right")
    batch = broadcast_shapes(TensorType(x.dtype, xs[:-2]), TensorType(y.dtype, ys[:-2]))
    out = batch + ((xs[-2],) if x.rank > 1 else ()) + ((ys[-1],) if y.rank > 1 else ())
    return [TensorType(promote(x.dtype, y.dtype), out)]


def macs(ins, outs, a):
    x = ins[0]
    k = x.shape[-1]
    return batch_numel(outs[0].shape) * (k if isinstance(k, int) else 1)


def vjp(e, ins, outs, gs, a):
    x, y = ins
    if x.type.rank < 2 or y.type.rank < 2:
        return _vector_vjp(e, x, y, gs[0])
    swap_x = tuple(range(x.type.rank - 2)) + (x.type.rank - 1, x.type.rank - 2)
    swap_y = tuple(range(y.type.rank - 2)) + (y.type.rank - 1, y.type.rank - 2)
    gx = e("matmul", gs[0], e("transpose", y, perm=swap_y))
    gy = e("matmul", e("transpose", x, perm=swap_x), gs[0])
    return [e("sum_like", gx, x), e("sum_like", gy, y)]


def _vector_vjp(e, x, y, g):
    """A 1-d operand: lift it to a matrix, differentiate, and reshape the gradient back."""
    x2 = x if x.type.rank > 1 else e("reshape", x, shape=(1, -1))
    y2 = y if y.type.rank > 1 else e("reshape", y, shape=(-1, 1))
    g2 = e("reshape_like", g, e("matmul", x2, y2))
    gx, gy = vjp(e, [x2, y2], [], [g2], {})
    return [e("reshape_like", gx, x), e("reshape_like", gy, y)]


OP = Op(name="matmul", doc="matrix product", inputs=("a", "b"), infer=infer,
        reference=lambda arrays, a, ctx: [np.matmul(arrays[0], arrays[1])], macs=macs, category="math",
        internal=True, vjp=vjp)
