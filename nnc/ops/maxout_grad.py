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


def vjp(e, ins, outs, gs, a):
    """Linear in g (a one-hot of each group's winner times g): the transpose sums h over that one-hot within
    each group of `pieces` channels. The one-hot is constant where it is differentiable, so x gets none."""
    from .common import filled_like
    g, x = ins
    k = a["pieces"]
    onehot = e("maxout_grad", filled_like(e, g, 1.0), x, pieces=k)
    picked = e("mul", gs[0], onehot)
    # channel j of every group is slice(start=j, step=k); summing the k slices sums each group (any sizes)
    total = None
    for j in range(k):
        part = e("slice", picked, axis=1, start=j, end=None, step=k)
        total = part if total is None else e("add", total, part)
    return [total, None]


def decompose(e, ins, out_types, a):
    """g at the first maximum of each group (argmax against iota), zeros elsewhere."""
    from ._prims import static_reshape
    g, x = ins
    k = a["pieces"]
    t = g.type
    grouped = static_reshape(e, x, x.type.with_shape(t.shape[:2] + (k,) + t.shape[2:]))
    winner = e("argmax", grouped, axis=2, keepdims=True)
    slots = e("reshape", e("iota", grouped, axis=2), shape=(1, 1, k) + (1,) * (t.rank - 2))
    onehot = e("cast", e("compare", slots, winner, kind="eq"), dtype=out_types[0].dtype)
    spread = e("mul", onehot, static_reshape(e, g, t.with_shape(t.shape[:2] + (1,) + t.shape[2:])))
    return [e("reshape_like", spread, x)]


OP = Op(name="maxout_grad", doc="the gradient of maxout", inputs=("g", "x"), attrs=(Attr("pieces", "pos_int"),),
        infer=infer, reference=reference, category="gradient", internal=True, vjp=vjp, decompose=decompose)
