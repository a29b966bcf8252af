"""The sum of absolute values of several tensors: what l1(model) computes over its weights."""
from ._numpy import np

from ..ir.types import TensorType
from .base import Op


def infer(ins, a):
    return [TensorType("f32", ())]


def reference(arrays, a, ctx):
    dtype = arrays[0].dtype if arrays else np.float32
    return [np.asarray(sum(float(np.abs(x.astype(np.float64)).sum()) for x in arrays), dtype=dtype)]


def decompose(e, ins, out_types, a):
    """Σ |x| of every input, accumulated in f64 as the reference does, rounded once."""
    return [_accumulate(e, ins, out_types[0], lambda x: e("abs", x))]


def _accumulate(e, ins, out, each):
    total = None
    for x in ins:
        part = e("sum", each(e("cast", x, dtype="f64")))
        total = part if total is None else e("add", total, part)
    return e("cast", total, dtype=out.dtype)


OP = Op(name="sum_abs", doc="sum of absolute elements of every input", inputs=("x",), variadic=True,
        infer=infer, reference=reference, category="regularization", internal=True,
        vjp=lambda e, ins, outs, gs, a: [e("mul", gs[0], e("sign", x)) for x in ins], decompose=decompose)
