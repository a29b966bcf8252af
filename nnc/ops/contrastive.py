"""contrastive(a, b, same, margin): ½·[same·d² + (1 − same)·max(0, margin − d)²], d = ‖a − b‖₂."""
from ._numpy import np

from .base import Attr, Op, ShapeError
from .common import LOSS_REDUCTION, reduce_loss, require_same_shape, scalar_of
from ..ir.types import shape_str


def infer(ins, a):
    x, y, same = ins
    if not x.is_float or x.rank < 2:
        raise ShapeError(f"contrastive expects float embeddings [N, D], found {x}", blame="a", code="E0203")
    require_same_shape(x, y, "b", "contrastive", "b")
    if not same.is_float or same.shape != x.shape[:1]:
        raise ShapeError(f"contrastive expects `same` as f32{shape_str(x.shape[:1])} (1 for a similar pair, "
                         f"0 otherwise), found {same}", blame="same", code="E0203", label=f"this is {same}")
    return [scalar_of(x)]


def reference(arrays, a, ctx):
    x, y, same = arrays
    d = np.sqrt(((x - y) ** 2).reshape(x.shape[0], -1).sum(axis=1))
    per = 0.5 * (same * d ** 2 + (1 - same) * np.maximum(0, a["margin"] - d) ** 2)
    return [reduce_loss(per.astype(x.dtype), a)]


def vjp(e, ins, outs, gs, a):
    return list(e("pair_loss_grad", gs[0], *ins, loss="contrastive", reduction=a["reduction"], margin=a["margin"]))


def decompose(e, ins, out_types, a):
    """½·[same·d² + (1 − same)·max(0, margin − d)²] per pair, reduced."""
    from ._prims import const, reduce_loss
    from .pair_loss_grad import distance
    x, y, same = ins
    _, d = distance(e, x, y)
    one, half = const(e, 1.0, x), const(e, 0.5, x)
    gap = e("maximum", e("sub", const(e, a["margin"], x), d), const(e, 0.0, x))
    per = e("mul", half, e("add", e("mul", same, e("mul", d, d)), e("mul", e("sub", one, same), e("mul", gap, gap))))
    return [reduce_loss(e, per, a["reduction"], out_types[0])]


OP = Op(name="contrastive", doc="contrastive loss on pairs of embeddings", inputs=("a", "b", "same"),
        attrs=(Attr("margin", "nonneg_float", 1.0), LOSS_REDUCTION), infer=infer, reference=reference,
        category="loss", vjp=vjp, examples=("contrastive(ea, eb, same)",), decompose=decompose)
