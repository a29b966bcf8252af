"""accuracy(logits, labels): the fraction of rows whose largest score is the label."""
from ._numpy import np

from .base import Op
from .common import check_class_labels, no_gradient, scalar_of


def infer(ins, a):
    check_class_labels(ins[0], ins[1], "accuracy")
    return [scalar_of(ins[0])]


def reference(arrays, a, ctx):
    logits, labels = arrays
    return [np.asarray((logits.argmax(axis=-1) == labels).mean(), dtype=logits.dtype)]


def decompose(e, ins, out_types, a):
    """The mean, over rows, of argmax(logits) = label (computed in f64, then rounded)."""
    from ._prims import reduce_loss
    logits, labels = ins
    hit = e("compare", e("argmax", logits, axis=-1), e("cast", labels, dtype="i64"), kind="eq")
    return [reduce_loss(e, e("cast", hit, dtype="f64"), "mean", out_types[0])]


OP = Op(name="accuracy", doc="the fraction of correct argmax predictions", inputs=("logits", "labels"),
        infer=infer, reference=reference, category="metric", examples=("accuracy(logits, y)",), vjp=no_gradient,
        decompose=decompose)
