"""conv_backward(g, x, w): the gradients of conv1d/conv2d/conv3d with respect to input, weight and bias."""
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


def second_order(e, ins, gs, a, backward: str, forward: str, filters: int, forward_attrs: dict) -> list:
    """The gradient rule of a convolution's backward op (conv or transposed), written in the forward op and
    the backward op itself. The backward is bilinear: dx = B(g, w), dw = C(x, g), db = Σ g, so
    for cotangents (hx, hw, hb): dg = forward(hx, w) + forward(x, hw) + hb broadcast;
    dx = the input gradient of `backward` with weight hw; dw = the weight gradient of `backward` at input hx."""
    g, x, w = ins
    hx, hw = gs[0], gs[1]
    hb = gs[2] if a["bias"] else None
    conv = dict(forward_attrs, filters=filters, kernel=tuple(w.type.shape[2:]), groups=a["groups"], bias=False)
    if forward != "conv_transpose2d":
        conv["remainder"] = "drop"  # the forward's geometry was accepted (or its drop meant) when it was checked
    terms = []
    if hx is not None:
        terms.append(e.resolved(forward, hx, w, **conv))
    if hw is not None:
        terms.append(e.resolved(forward, x, hw, **conv))
    if hb is not None:
        view = e("reshape", hb, shape=(1, -1) + (1,) * (g.type.rank - 2))
        terms.append(e("unreduce", view, g, axis=(), keepdims=True, mean=False))
    dg = terms[0] if terms else None
    for t in terms[1:]:
        dg = e("add", dg, t)
    plain = dict(a, bias=False)
    dx = e.resolved(backward, g, x, hw, **plain)[0] if hw is not None else None
    dw = e.resolved(backward, g, hx, w, **plain)[1] if hx is not None else None
    return [dg, dx, dw]


def vjp(e, ins, outs, gs, a):
    forward = {1: "conv1d", 2: "conv2d", 3: "conv3d"}[ins[1].type.rank - 2]
    return second_order(e, ins, gs, a, "conv_backward", forward, ins[2].type.shape[0],
                        {k: a[k] for k in ("stride", "padding", "dilation")})


def forward_geometry(a: dict, spatial: int) -> dict:
    """The attributes of the general `conv` that conv1d/conv2d (or the conv a transposed one transposes) is."""
    pads = tuple((p, p) if isinstance(p, int) else tuple(p) for p in a["padding"])  # transposed: one int per axis
    return {"stride": tuple(a["stride"]), "padding": pads,
            "lhs_dilation": (1,) * spatial, "rhs_dilation": tuple(a["dilation"]), "groups": a["groups"]}


def decompose(e, ins, out_types, a):
    """dx and dw as convolutions (see nnc/ops/conv.py), db the sum of g over batch and space."""
    from .conv import input_grad, weight_grad
    g, x, w = ins
    geometry = forward_geometry(a, x.type.rank - 2)
    out = [input_grad(e, g, w, x.type.shape[2:], geometry), weight_grad(e, x, g, w.type.shape[2:], geometry)]
    if a["bias"]:
        out.append(e("sum", g, axis=(0,) + tuple(range(2, g.type.rank))))
    return out


OP = Op(name="conv_backward", doc="the gradients of a convolution", inputs=("g", "x", "w"),
        attrs=(Attr("stride", "any"), Attr("padding", "any"), Attr("dilation", "any"), Attr("groups", "pos_int"),
               Attr("bias", "bool")),
        infer=infer, reference=reference, outputs=lambda a: 3 if a["bias"] else 2, category="gradient",
        internal=True, vjp=vjp, decompose=decompose)
