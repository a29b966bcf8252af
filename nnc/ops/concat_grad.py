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


OP = Op(name="concat_grad", doc="the gradient of concat, one piece per input", inputs=("g", "x"), variadic=False,
        attrs=(Attr("axis", "axis", 1), Attr("pieces", "pos_int", 2)), infer=infer, reference=reference,
        outputs=lambda a: a["pieces"], category="gradient", internal=True)
