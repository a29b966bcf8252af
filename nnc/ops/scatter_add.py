"""scatter_add(x, ids, updates): x with updates[i] added to row ids[i], repeats summed (a primitive).

The transpose of gather: the gradient of an embedding lookup.
"""
from ._numpy import np

from ..ir.types import shape_str
from .base import Op, ShapeError


def infer(ins, a):
    x, ids, up = ins
    if not ids.is_int:
        raise ShapeError(f"scatter_add needs integer ids, found {ids}", blame="ids", code="E0202")
    want = ids.shape + x.shape[1:]
    if up.shape != want:
        raise ShapeError(f"scatter_add needs updates of shape {shape_str(want)}, found {up}", blame="updates",
                         code="E0203")
    return [x]


def reference(arrays, a, ctx):
    x, ids, up = arrays
    out = np.array(x, copy=True)
    np.add.at(out, ids.reshape(-1), up.reshape((-1,) + x.shape[1:]).astype(x.dtype))
    return [out]


def vjp(e, ins, outs, gs, a):
    return [gs[0], None, e("gather", gs[0], ins[1])]


OP = Op(name="scatter_add", doc="rows added into x at integer ids", inputs=("x", "ids", "updates"), infer=infer,
        reference=reference, category="shape", internal=True, vjp=vjp)
