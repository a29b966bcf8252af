"""a / b elementwise with NumPy broadcasting: true division, as in PyTorch and NumPy.

Two integer (or bool) tensors divide to f32, PyTorch's default float (`torch.tensor([3]) / 2` is 1.5);
the promotion pass casts the operands, so a backend's `div` only ever sees floats.
"""
from dataclasses import replace

from ._numpy import np

from ..ir.types import TensorType
from .common import binary, broadcast_shapes, promote


def infer(ins, a):
    dtype = promote(ins[0].dtype, ins[1].dtype)
    return [TensorType(dtype if dtype in ("f32", "f64") else "f32", broadcast_shapes(ins[0], ins[1]))]


def reference(arrays, a, ctx):
    x, y = arrays
    dtype = np.result_type(x.dtype, y.dtype)
    out = np.true_divide(x, y)
    return [out.astype(dtype if np.issubdtype(dtype, np.floating) else np.float32, copy=False)]

def vjp(e, ins, outs, gs, a):
    x, y = ins
    gx = e("div", gs[0], y)
    gy = e("neg", e("mul", gx, outs[0]))  # -g·x/y² = -(g/y)·(x/y)
    return [e("sum_like", gx, x), e("sum_like", gy, y)]


OP = replace(binary("div", lambda a, b: np.divide(a, b), "a / b (true division), broadcast", vjp=vjp), infer=infer,
             reference=reference)
