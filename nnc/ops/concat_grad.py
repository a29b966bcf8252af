"""concat_grad(g, x1, x2, ...): g split back into pieces shaped like each concatenated input."""
from ._numpy import np
from ..ir.types import TensorType
from .base import Attr, Op


def infer(ins, a):
    return [TensorType(ins[0].dtype, t.shape) for t in ins[1:]]


def reference(arrays, a, ctx):
    g, xs = arrays[0], arrays[1:]
    cuts = np.cumsum([x.shape[a["axis"]] for x in xs])[:-1]
    return list(np.split(g, cuts, axis=a["axis"]))


def vjp(e, ins, outs, gs, a):
    """Splitting is linear; its transpose joins the pieces' gradients again (zeros for a piece with none)."""
    from .common import filled_like
    parts = [h if h is not None else filled_like(e, piece, 0.0) for h, piece in zip(gs, outs)]
    return [e("concat", *parts, axis=a["axis"])] + [None] * (len(ins) - 1)


def decompose(e, ins, out_types, a):
    """One slice of g per input, at the offsets the input sizes give (known when the graph is built)."""
    from ._prims import cannot
    g, axis = ins[0], a["axis"]
    out, start = [], 0
    for t in out_types:
        size = t.shape[axis]
        if not isinstance(start, int) or not isinstance(size, int):
            cannot("concat_grad", "a piece of symbolic size along the concat axis")
        out.append(e("slice", g, start=start, end=start + size, axis=axis))
        start += size
    return out


OP = Op(name="concat_grad", doc="the gradient of concat, one piece per input", inputs=("g", "x"), variadic=True,
        attrs=(Attr("axis", "axis", 1), Attr("pieces", "pos_int", 2)), infer=infer, reference=reference,
        outputs=lambda a: a["pieces"], category="gradient", internal=True, vjp=vjp, decompose=decompose)
