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


def vjp(e, ins, outs, gs, a):
    """Linear in g: the transpose is Σ h·(the gradient at g = 1). For cross_entropy the scores' Hessian
    applied to h is p·(h − Σ p·h)·g/n with p = softmax(scores); n's share of g comes from the nll gradient
    (−g/n at each label), so symbolic batch sizes need nothing special. nll is linear and hinge piecewise
    linear in the scores: no second derivative there. Labels get none."""
    g, scores, labels = ins
    h = gs[0]
    unit = e("class_loss_grad", e.const(1.0, scores.type.dtype), scores, labels, **a)
    dg = e("sum", e("mul", h, unit))
    if g.type.shape != ():
        dg = e("unreduce", dg, g, axis=(), keepdims=True, mean=False)
    if a["loss"] != "cross_entropy":
        return [dg, None, None]
    p = e("softmax", scores, axis=-1)
    centred = e("sub", h, e("sum", e("mul", p, h), axis=-1, keepdims=True))
    share = e("neg", e("sum", e("class_loss_grad", g, scores, labels, **dict(a, loss="nll")), axis=-1,
                       keepdims=True))
    return [dg, e("mul", e("mul", p, centred), share), None]


def decompose(e, ins, out_types, a):
    """softmax − one-hot (cross_entropy), −one-hot (nll), or the hinge's pushes, times g (÷ the label count)."""
    from ._prims import const, count, label_mask, pick, zeros_like
    g, s, y = ins
    mask = label_mask(e, y, s)
    onehot = e("cast", mask, dtype=s.type.dtype)
    if a["loss"] == "cross_entropy":
        d = e("sub", e("softmax", s, axis=-1), onehot)
    elif a["loss"] == "nll":
        d = e("neg", onehot)
    else:
        violated = e("compare", e("add", e("sub", s, pick(e, s, mask, keepdims=True)), const(e, a["margin"], s)),
                     const(e, 0.0, s), kind="gt")
        active = e("where", mask, zeros_like(e, s), e("cast", violated, dtype=s.type.dtype))
        d = e("where", mask, e("neg", e("sum", active, axis=(s.type.rank - 1,), keepdims=True)), active)
    scale = g if a["reduction"] == "sum" else e("div", g, count(e, y, tuple(range(y.type.rank)), g))
    return [e("mul", d, scale)]


OP = Op(name="class_loss_grad", doc="the gradient of a classification loss", inputs=("g", "scores", "labels"),
        attrs=(Attr("loss", "choice:cross_entropy|nll|hinge"), Attr("reduction", "choice:mean|sum", "mean"),
               Attr("margin", "nonneg_float", 1.0)),
        infer=infer, reference=reference, category="gradient", internal=True, vjp=vjp, decompose=decompose)
