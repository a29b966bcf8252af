"""conv_transpose_backward(g, x, w): the gradients of conv_transpose2d."""
from ..ir.types import TensorType
from .base import Attr, Op


def infer(ins, a):
    g, x, w = ins
    return [x, w] + ([TensorType(w.dtype, (w.shape[1] * a["groups"],))] if a["bias"] else [])


def reference(arrays, a, ctx):
    from ._conv_kernels import conv_transpose_nd_backward
    g, x, w = arrays
    dx, dw, db = conv_transpose_nd_backward(g, x, w, a["stride"], a["padding"], a["output_padding"], a["dilation"],
                                            a["groups"], a["bias"])
    return [dx, dw] + ([db] if a["bias"] else [])


def vjp(e, ins, outs, gs, a):
    """As conv_backward's rule (see there), with conv_transpose2d as the forward."""
    from .conv_backward import second_order
    return second_order(e, ins, gs, a, "conv_transpose_backward", "conv_transpose2d",
                        ins[2].type.shape[1] * a["groups"],
                        {k: a[k] for k in ("stride", "padding", "output_padding", "dilation")})


def decompose(e, ins, out_types, a):
    """A transposed convolution is the input gradient of a convolution: its dx is that convolution of g, its
    dw the convolution's weight gradient with g as the input and x as the output's gradient."""
    from .conv import weight_grad
    from .conv_backward import forward_geometry
    g, x, w = ins
    geometry = forward_geometry(a, x.type.rank - 2)
    out = [e("conv", g, w, **geometry), weight_grad(e, g, x, w.type.shape[2:], geometry)]
    if a["bias"]:
        out.append(e("sum", g, axis=(0,) + tuple(range(2, g.type.rank))))
    return out


OP = Op(name="conv_transpose_backward", doc="the gradients of a transposed convolution", inputs=("g", "x", "w"),
        attrs=(Attr("stride", "any"), Attr("padding", "any"), Attr("output_padding", "any"), Attr("dilation", "any"),
               Attr("groups", "pos_int"), Attr("bias", "bool")),
        infer=infer, reference=reference, outputs=lambda a: 3 if a["bias"] else 2, category="gradient",
        internal=True, vjp=vjp, decompose=decompose)
