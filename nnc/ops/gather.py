"""gather(table, ids): rows of a table at integer ids, table[ids] along axis 0 (a primitive: embeddings)."""
from ._numpy import np

from ..ir.types import TensorType
from .base import Op, ShapeError


def infer(ins, a):
    table, ids = ins
    if not ids.is_int:
        raise ShapeError(f"gather needs integer ids, found {ids}", blame="ids", code="E0202")
    if table.rank < 1:
        raise ShapeError("gather needs a table with rows, found a scalar", blame="table", code="E0203")
    return [TensorType(table.dtype, ids.shape + table.shape[1:])]


def reference(arrays, a, ctx):
    table, ids = arrays
    if ids.size and (ids.min() < 0 or ids.max() >= table.shape[0]):
        from ..interp import RunError  # bad input at run time, reported as such (not a bug in nnc)
        raise RunError(f"gather ids must be in 0..{table.shape[0] - 1}, found {ids.min()}..{ids.max()}")
    return [np.array(table[ids], order="C")]


def vjp(e, ins, outs, gs, a):
    from ._prims import zeros_like
    table, ids = ins
    return [e("scatter_add", zeros_like(e, table), ids, gs[0]), None]


OP = Op(name="gather", doc="rows of a table at integer ids", inputs=("table", "ids"), infer=infer,
        reference=reference, category="shape", vjp=vjp,
        examples=("gather(table, ids)",))
