"""The sum of squares of several tensors: what l2(model) computes over its weights."""
from ._numpy import np

from ..ir.types import TensorType
from .base import Op


def infer(ins, a):
    return [TensorType("f32", ())]


def reference(arrays, a, ctx):
    dtype = arrays[0].dtype if arrays else np.float32
    return [np.asarray(sum(float((x.astype(np.float64) ** 2).sum()) for x in arrays), dtype=dtype)]


def decompose(e, ins, out_types, a):
    """Σ x² of every input, accumulated in f64 as the reference does, rounded once."""
    from .sum_abs import _accumulate
    return [_accumulate(e, ins, out_types[0], lambda x: e("mul", x, x))]


OP = Op(name="sum_squares", doc="sum of squared elements of every input", inputs=("x",), variadic=True,
        infer=infer, reference=reference, category="regularization", internal=True,
        vjp=lambda e, ins, outs, gs, a: [e("mul", e("mul", gs[0], e.const(2.0)), x) for x in ins], decompose=decompose)
