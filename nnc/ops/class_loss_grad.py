"""class_loss_grad(g, scores, labels): the gradient of cross_entropy, nll or hinge with respect to the scores."""
from ._numpy import np
from ..ir.types import TensorType
from .base import Attr, Op


def infer(ins, a):
    return [TensorType(ins[1].dtype, ins[1].shape)]


def reference(arrays, a, ctx):
    from ._softmax_kernels import softmax
    g, s, y = arrays
    y = y.astype(np.int64)[..., None]
    if a["loss"] == "cross_entropy":
        d = softmax(s, -1)
        np.put_along_axis(d, y, np.take_along_axis(d, y, axis=-1) - 1, axis=-1)
    elif a["loss"] == "nll":
        d = np.zeros_like(s)
        np.put_along_axis(d, y, -1, axis=-1)
    else:  # hinge: each violating class pushes itself up and the true class down
        sy = np.take_along_axis(s, y, axis=-1)
        active = (s - sy + a["margin"] > 0).astype(s.dtype)
        np.put_along_axis(active, y, 0, axis=-1)
        d = active
        np.put_along_axis(d, y, -active.sum(axis=-1, keepdims=True), axis=-1)
    scale = g / (y.size if a["reduction"] == "mean" else 1)
    return [(d * scale).astype(s.dtype)]


OP = Op(name="class_loss_grad", doc="the gradient of a classification loss", inputs=("g", "scores", "labels"),
        attrs=(Attr("loss", "choice:cross_entropy|nll|hinge"), Attr("reduction", "choice:mean|sum", "mean"),
               Attr("margin", "nonneg_float", 1.0)),
        infer=infer, reference=reference, category="gradient", internal=True)
