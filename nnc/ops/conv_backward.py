"""conv_backward(g, x, w): the gradients of conv1d/conv2d with respect to input, weight and bias."""
from ..ir.types import TensorType
from .base import Attr, Op


def infer(ins, a):
    g, x, w = ins
    out = [x, w]
    if a["bias"]:
        out.append(TensorType(w.dtype, (w.shape[0],)))
    return out


def reference(arrays, a, ctx):
    from ._conv_kernels import conv_nd_backward
    g, x, w = arrays
    dx, dw, db = conv_nd_backward(g, x, w, a["stride"], a["padding"], a["dilation"], a["groups"], a["bias"])
    return [dx, dw] + ([db] if a["bias"] else [])


OP = Op(name="conv_backward", doc="the gradients of a convolution", inputs=("g", "x", "w"),
        attrs=(Attr("stride", "any"), Attr("padding", "any"), Attr("dilation", "any"), Attr("groups", "pos_int"),
               Attr("bias", "bool")),
        infer=infer, reference=reference, outputs=lambda a: 3 if a["bias"] else 2, category="gradient",
        internal=True)
