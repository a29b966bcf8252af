"""embedding_grad(g, ids, table): the rows of g added into a zero table at their ids."""
from ._numpy import np
from ..ir.types import TensorType
from .base import Op


def infer(ins, a):
    return [TensorType(ins[0].dtype, ins[2].shape)]


def reference(arrays, a, ctx):
    g, ids, table = arrays
    out = np.zeros(table.shape, dtype=g.dtype)
    np.add.at(out, ids.reshape(-1), g.reshape(-1, table.shape[1]))
    return [out]


def decompose(e, ins, out_types, a):
    """The rows of g added into a zero table at their ids: scatter_add."""
    from ._prims import full
    g, ids, table = ins
    return [e("scatter_add", full(e, 0.0, out_types[0]), ids, g)]


OP = Op(name="embedding_grad", doc="the gradient of an embedding table", inputs=("g", "ids", "table"), infer=infer,
        reference=reference, category="gradient", internal=True,
        vjp=lambda e, ins, outs, gs, a: [  # linear in g: the transpose looks the rows up again
            e("embedding", ins[1], gs[0], vocab=ins[2].type.shape[0], dim=ins[2].type.shape[1]), None, None],
        decompose=decompose)
