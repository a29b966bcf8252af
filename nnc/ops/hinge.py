"""hinge(scores, labels, margin): Σ_{j≠y} max(0, s_j − s_y + margin), the multi-class SVM loss."""
from ._numpy import np

from .base import Attr, Op
from .common import LOSS_REDUCTION, check_class_labels, reduce_loss, scalar_of


def infer(ins, a):
    check_class_labels(ins[0], ins[1], "hinge", what="scores")
    return [scalar_of(ins[0])]


def reference(arrays, a, ctx):
    s, y = arrays
    sy = np.take_along_axis(s, y[..., None].astype(np.int64), axis=-1)
    margins = np.maximum(0, s - sy + a["margin"])
    np.put_along_axis(margins, y[..., None].astype(np.int64), 0, axis=-1)
    return [reduce_loss(margins.sum(axis=-1), a)]


def vjp(e, ins, outs, gs, a):
    grad = e("class_loss_grad", gs[0], ins[0], ins[1], loss="hinge", reduction=a["reduction"],
             margin=a.get("margin", 1.0))
    return [grad, None]


def decompose(e, ins, out_types, a):
    """Σ over the other classes of max(0, s − s_label + margin), reduced."""
    from ._prims import const, label_mask, pick, reduce_loss, zeros_like
    s, y = ins
    mask = label_mask(e, y, s)
    margins = e("maximum", e("add", e("sub", s, pick(e, s, mask, keepdims=True)), const(e, a["margin"], s)),
                const(e, 0.0, s))
    per = e("sum", e("where", mask, zeros_like(e, s), margins), axis=(s.type.rank - 1,))
    return [reduce_loss(e, per, a["reduction"], out_types[0])]


OP = Op(name="hinge", doc="multi-class hinge loss", inputs=("scores", "labels"),
        attrs=(Attr("margin", "nonneg_float", 1.0), LOSS_REDUCTION), infer=infer, reference=reference,
        category="loss", vjp=vjp, examples=("hinge(scores, y)",), decompose=decompose)
