"""maxout_grad(g, x): the gradient of maxout, to the first maximum of each group."""
from ._numpy import np
from ..ir.types import TensorType
from .base import Attr, Op


def infer(ins, a):
    return [TensorType(ins[0].dtype, ins[1].shape)]


def reference(arrays, a, ctx):
    g, x = arrays
    k = a["pieces"]
    grouped = x.reshape((x.shape[0], x.shape[1] // k, k) + x.shape[2:])
    winner = grouped.argmax(axis=2)
    onehot = (np.arange(k).reshape((1, 1, k) + (1,) * (x.ndim - 2)) == np.expand_dims(winner, 2))
    return [(onehot * np.expand_dims(g, 2)).reshape(x.shape).astype(g.dtype)]


OP = Op(name="maxout_grad", doc="the gradient of maxout", inputs=("g", "x"), attrs=(Attr("pieces", "pos_int"),),
        infer=infer, reference=reference, category="gradient", internal=True)
