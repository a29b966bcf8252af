"""cross_entropy and nll as PyTorch defines them: `weight=`, `ignore_index=`, `reduction="none"`, the class axis.

Each sample's loss is −w·log p[label] with w = weight[label] (1 without
weights) and w = 0 where the label is ignore_index; "mean" divides the sum by
Σ w (PyTorch's weighted mean: with neither option, the sample count), "sum"
does not, "none" keeps one loss per sample. The class axis is the last one by
default and `axis=1` for PyTorch's [N, C, d1, ...]. The plain case (none of
these) keeps the fused path through class_loss_grad; this module is the rest,
written in ops that have gradients of their own, so second derivatives need
nothing more.
"""
from __future__ import annotations

from ..ir.types import TensorType, shape_str
from .base import Attr, ShapeError
from .common import check_class_labels, normalize_axis, scalar_of

ATTRS = (Attr("reduction", "choice:mean|sum|none", "mean", "mean (weighted), sum, or one loss per sample"),
         Attr("weight", "any", None, "one weight per class, a list of numbers"),
         Attr("ignore_index", "int", None, "a label whose samples count for nothing (padding)"),
         Attr("axis", "axis", -1, "the class axis: last, or 1 for PyTorch's [N, C, d1, ...]"))
# cross_entropy only (as in PyTorch): the target is (1 − ε)·one-hot + ε/C spread over every class
LABEL_SMOOTHING = Attr("label_smoothing", "unit_float", 0.0, "ε: the share of the target spread over all classes")


def is_plain(a: dict, rank: int) -> bool:
    return (a.get("weight") is None and a.get("ignore_index") is None and a.get("reduction", "mean") != "none"
            and a.get("axis", -1) in (-1, rank - 1) and not a.get("label_smoothing"))


def resolve(ins, a: dict) -> dict:
    """The class axis made non-negative; weight checked as one number per class."""
    scores = ins[0]
    axis = normalize_axis(a["axis"], scores.rank) if scores.rank else -1
    weight = a["weight"]
    if weight is not None:
        if not isinstance(weight, (list, tuple)) or not weight or \
                not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weight):
            raise ShapeError("weight must be a list of numbers, one per class", blame="weight", code="E0105")
        classes = scores.shape[axis] if scores.rank else None
        if len(weight) != classes:
            raise ShapeError(f"weight lists {len(weight)} classes, the scores {scores} have "
                             f"{classes if isinstance(classes, int) else 'an unknown number of'} on axis {axis}",
                             blame="weight", code="E0203", label=f"{len(weight)} weights")
        weight = tuple(float(w) for w in weight)
    return {**a, "axis": axis, "weight": weight}


def infer_for(op: str, what: str):
    def infer(ins, a):
        scores, labels = ins
        axis = a["axis"]
        if scores.rank >= 3 and axis == scores.rank - 1 and labels.shape == scores.shape[:1] + scores.shape[2:] \
                and labels.shape != scores.shape[:-1]:
            raise ShapeError(f"{op} expects labels of shape {shape_str(scores.shape[:-1])} for {what} {scores}, "
                             f"found {labels}", blame="labels", code="E0203", label=f"this is {labels}",
                             hint=f"{scores} looks like PyTorch's [N, C, ...] with classes on axis 1: write axis=1")
        check_class_labels(moved(scores, axis), labels, op, what)
        out = scalar_of(scores)
        return [out.with_shape(labels.shape) if a["reduction"] == "none" else out]
    return infer


def moved(t: TensorType, axis: int) -> TensorType:
    """t's type with the class axis moved last."""
    return t.with_shape(t.shape[:axis] + t.shape[axis + 1:] + (t.shape[axis],))


def _perm(rank: int, axis: int) -> tuple[int, ...]:
    return tuple(i for i in range(rank) if i != axis) + (axis,)


def _inverse(perm) -> tuple[int, ...]:
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return tuple(out)


def reference(op: str, arrays, a: dict):
    """The numpy oracle of the general case."""
    from ._numpy import np
    from ._softmax_kernels import log_softmax
    scores, labels = arrays
    s = np.moveaxis(scores, a["axis"], -1)
    logp = log_softmax(s, -1) if op == "cross_entropy" else s
    y = labels.astype(np.int64)
    valid = np.ones(y.shape, dtype=bool) if a["ignore_index"] is None else y != a["ignore_index"]
    safe = np.where(valid, y, 0)
    picked = np.take_along_axis(logp, safe[..., None], axis=-1)[..., 0]
    w = np.ones(y.shape, dtype=s.dtype) if a["weight"] is None else np.asarray(a["weight"], dtype=s.dtype)[safe]
    w = np.where(valid, w, 0).astype(s.dtype)
    per = (-picked * w).astype(s.dtype)
    eps = a.get("label_smoothing", 0.0)
    if eps:  # PyTorch: (1 − ε)·nll + ε/C·(−Σ_c w_c·log p_c), nothing for ignored samples
        row = np.ones(s.shape[-1], s.dtype) if a["weight"] is None else np.asarray(a["weight"], dtype=s.dtype)
        spread = -(logp * row).sum(-1) * valid
        per = ((1 - eps) * per + eps / s.shape[-1] * spread).astype(s.dtype)
    if a["reduction"] == "none":
        return per
    total = per.sum()
    if a["reduction"] == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):
            total = total / w.sum()
    return np.asarray(total, dtype=s.dtype)


def _row(e, values, like):
    """A [C] tensor of compile-time numbers, in like's dtype."""
    from ._prims import const
    parts = [e("reshape", const(e, v, like), shape=(1,)) for v in values]
    return parts[0] if len(parts) == 1 else e("concat", *parts, axis=0)


def _weights(e, s, labels, a):
    """(mask of each row's label, w·one-hot [..., C] in s's dtype) with the class axis of s last."""
    from ._prims import const, expand, label_mask
    mask = label_mask(e, labels, s)
    onehot = e("cast", mask, dtype=s.type.dtype)
    if a["ignore_index"] is not None:
        keep = e("compare", labels, const(e, a["ignore_index"], labels), kind="ne")
        onehot = e("mul", onehot, expand(e, e("cast", keep, dtype=s.type.dtype), (labels.type.rank,), s))
    if a["weight"] is not None:
        onehot = e("mul", onehot, _row(e, a["weight"], s))
    return mask, onehot


def _target(e, s, labels, a, weighted):
    """The target each row's −Σ q·log p is taken against: w·one-hot, or with label smoothing ε
    (1 − ε)·w·one-hot + ε/C·w_c on every class of the rows that are not ignored."""
    from ._prims import const, expand, full
    eps = a.get("label_smoothing", 0.0)
    if not eps:
        return weighted
    classes = s.type.shape[-1]
    if not isinstance(classes, int):
        from ._prims import cannot
        cannot("label smoothing", "a symbolic number of classes")
    row = full(e, 1.0, TensorType(s.type.dtype, (classes,))) if a["weight"] is None else _row(e, a["weight"], s)
    spread = e("broadcast_to", row, s)
    if a["ignore_index"] is not None:
        keep = e("compare", labels, const(e, a["ignore_index"], labels), kind="ne")
        spread = e("mul", spread, expand(e, e("cast", keep, dtype=s.type.dtype), (labels.type.rank,), s))
    return e("add", e("mul", weighted, const(e, 1.0 - eps, s)), e("mul", spread, const(e, eps / classes, s)))


def _classes_last(e, x, axis: int):
    rank = x.type.rank
    return x if axis == rank - 1 else e("transpose", x, perm=_perm(rank, axis))


def decompose(op: str, e, ins, out_types, a):
    """−(log_softmax(scores) or log_probs) at each label times its weight, reduced."""
    from ._prims import pick
    scores, labels = ins
    s = _classes_last(e, scores, a["axis"])
    logp = e("log_softmax", s, axis=-1) if op == "cross_entropy" else s
    mask, weighted = _weights(e, s, labels, a)
    last = (s.type.rank - 1,)
    w = e("sum", weighted, axis=last)
    if a.get("label_smoothing"):
        per = e("neg", e("sum", e("mul", _target(e, s, labels, a, weighted), logp), axis=last))
    else:
        per = e("neg", e("mul", pick(e, logp, mask), w))
    out = out_types[0]
    if a["reduction"] != "none":
        every = tuple(range(per.type.rank))
        per = e("sum", per, axis=every)
        if a["reduction"] == "mean":
            per = e("div", per, e("sum", w, axis=every))
    return [per if per.type.dtype == out.dtype else e("cast", per, dtype=out.dtype)]


def vjp(op: str, e, ins, outs, gs, a):
    """(softmax·w_label − w·one-hot) for cross_entropy, −w·one-hot for nll, times g (÷ Σ w for "mean")."""
    from ._prims import expand
    scores, labels = ins
    g = gs[0]
    s = _classes_last(e, scores, a["axis"])
    _, weighted = _weights(e, s, labels, a)
    last = s.type.rank - 1
    if op == "cross_entropy":
        q = _target(e, s, labels, a, weighted)
        d = e("sub", e("mul", e("softmax", s, axis=-1), e("sum", q, axis=(last,), keepdims=True)), q)
    else:
        d = e("neg", weighted)
    if g.type.dtype != s.type.dtype:
        g = e("cast", g, dtype=s.type.dtype)
    if a["reduction"] == "none":
        scale = expand(e, g, (last,), s)
    elif a["reduction"] == "sum":
        scale = g
    else:
        scale = e("div", g, e("sum", weighted, axis=tuple(range(s.type.rank))))
    grad = e("mul", d, scale)
    if a["axis"] != last:
        grad = e("transpose", grad, perm=_inverse(_perm(s.type.rank, a["axis"])))
    return [grad, None]
