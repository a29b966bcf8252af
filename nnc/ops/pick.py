"""pick(x, ids, axis): the element of x at each id along one axis (x[i, ids[i]] for axis 1 of [N, C]).

ids has x's shape without `axis`; the result has that shape too. This is PyTorch's
`x.gather(axis, ids[..., None]).squeeze(axis)` and NumPy's take_along_axis: the
probability of each row's label (focal loss), the score of a chosen action.
"""
from ._numpy import np

from ..ir.types import TensorType, shape_str
from .base import Attr, Op, ShapeError
from .common import normalize_axis


def resolve(ins, a):
    return {**a, "axis": normalize_axis(a["axis"], ins[0].rank)}


def infer(ins, a):
    x, ids = ins
    if not ids.is_int:
        raise ShapeError(f"pick needs integer ids, found {ids}", blame="ids", code="E0202", label=f"this is {ids}")
    want = x.shape[:a["axis"]] + x.shape[a["axis"] + 1:]
    if ids.shape != want:
        raise ShapeError(f"pick needs ids of shape {shape_str(want)} (x's shape without axis {a['axis']}), "
                         f"found {ids}", blame="ids", code="E0203", label=f"this is {ids}",
                         hint="one id per position of the other axes")
    return [TensorType(x.dtype, want)]


def reference(arrays, a, ctx):
    x, ids = arrays
    axis = a["axis"]
    if ids.size and (ids.min() < 0 or ids.max() >= x.shape[axis]):
        from ..interp import RunError  # bad input at run time, reported as such (not a bug in nnc)
        raise RunError(f"pick ids must be in 0..{x.shape[axis] - 1}, found {ids.min()}..{ids.max()}")
    picked = np.take_along_axis(x, np.expand_dims(ids.astype(np.int64), axis), axis=axis)
    return [np.array(np.squeeze(picked, axis=axis), dtype=x.dtype)]


def _mask(e, x, ids, axis: int):
    """A bool tensor of x's shape, true where the index along `axis` equals the id."""
    from ._prims import expand
    positions = e("iota", x, axis=axis)
    shape = [1] * x.type.rank
    shape[axis] = -1
    positions = e("reshape", positions, shape=tuple(shape)) if x.type.rank > 1 else positions
    wide = expand(e, ids if ids.type.dtype == "i64" else e("cast", ids, dtype="i64"), (axis,), x)
    return e("compare", wide, positions, kind="eq")


def decompose(e, ins, out_types, a):
    """Σ over axis of where(ids == position, x, 0)."""
    from ._prims import zeros_like
    x, ids = ins
    return [e("sum", e("where", _mask(e, x, ids, a["axis"]), x, zeros_like(e, x)), axis=(a["axis"],))]


def vjp(e, ins, outs, gs, a):
    """g placed at each picked position, zeros elsewhere."""
    from ._prims import expand, zeros_like
    x, ids = ins
    g = expand(e, gs[0], (a["axis"],), x)
    wide = e("broadcast_to", g, x)
    return [e("where", _mask(e, x, ids, a["axis"]), wide, zeros_like(e, x)), None]


OP = Op(name="pick", doc="x at each id along an axis (take_along_axis)", inputs=("x", "ids"),
        attrs=(Attr("axis", "axis", -1, "the axis the ids index"),), infer=infer, resolve=resolve,
        reference=reference, decompose=decompose, vjp=vjp, category="shape",
        examples=("pick(probs, labels)", "pick(x, ids, axis=1)"))
