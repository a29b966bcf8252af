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


OP = Op(name="matmul", doc="matrix product", inputs=("a", "b"), infer=infer,
        reference=lambda arrays, a, ctx: [np.matmul(arrays[0], arrays[1])], macs=macs, category="math",
        internal=True)
