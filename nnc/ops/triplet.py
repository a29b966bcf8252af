"""triplet(anchor, positive, negative, margin): max(0, ‖a − p‖₂ − ‖a − n‖₂ + margin)."""
from ._numpy import np

from .base import Attr, Op, ShapeError
from .common import LOSS_REDUCTION, reduce_loss, require_same_shape, scalar_of


def infer(ins, a):
    x, p, n = ins
    if not x.is_float or x.rank < 2:
        raise ShapeError(f"triplet expects float embeddings [N, D], found {x}", blame="anchor", code="E0203")
    require_same_shape(x, p, "positive", "triplet", "positive")
    require_same_shape(x, n, "negative", "triplet", "negative")
    return [scalar_of(x)]


def reference(arrays, a, ctx):
    x, p, n = arrays
    dp = np.sqrt(((x - p) ** 2).reshape(x.shape[0], -1).sum(axis=1))
    dn = np.sqrt(((x - n) ** 2).reshape(x.shape[0], -1).sum(axis=1))
    return [reduce_loss(np.maximum(0, dp - dn + a["margin"]).astype(x.dtype), a)]


def vjp(e, ins, outs, gs, a):
    return list(e("pair_loss_grad", gs[0], *ins, loss="triplet", reduction=a["reduction"], margin=a["margin"]))


def decompose(e, ins, out_types, a):
    """max(0, ‖a − p‖ − ‖a − n‖ + margin) per triplet, reduced."""
    from ._prims import const, reduce_loss
    from .pair_loss_grad import distance
    x, p, n = ins
    _, dp = distance(e, x, p)
    _, dn = distance(e, x, n)
    per = e("maximum", e("add", e("sub", dp, dn), const(e, a["margin"], x)), const(e, 0.0, x))
    return [reduce_loss(e, per, a["reduction"], out_types[0])]


OP = Op(name="triplet", doc="triplet margin loss", inputs=("anchor", "positive", "negative"),
        attrs=(Attr("margin", "nonneg_float", 1.0), LOSS_REDUCTION), infer=infer, reference=reference,
        category="loss", vjp=vjp, examples=("triplet(ea, ep, en)",), decompose=decompose)
