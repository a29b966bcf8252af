"""Patterns that decomposition rules and gradient rules write in primitive ops.

Constants take the dtype of the tensor they meet, so a rule never promotes
an f32 computation to f64 by accident; "zeros" are a broadcast constant, never
x·0 (which is NaN where x is infinite).
"""
from __future__ import annotations

from ..ir.types import TensorType


class CannotDecompose(Exception):
    """A rule that cannot express this instance in primitives (say, a slice at a symbolic offset)."""


def cannot(op: str, why: str):
    raise CannotDecompose(f"{op} cannot be written in primitives for {why}")


def const(e, value: float, like) -> object:
    """A 0-d constant of `like`'s dtype (a Tensor or a TensorType)."""
    t = like if isinstance(like, TensorType) else like.type
    return e("constant", value=float(value), dtype=t.dtype)


def full_like(e, value: float, x) -> object:
    """A tensor of x's shape and dtype filled with `value`."""
    return e("broadcast_to", const(e, value, x), x)


def zeros_like(e, x) -> object:
    return full_like(e, 0.0, x)


def full(e, value: float, t: TensorType) -> object:
    """A tensor of the static type t (every size known) filled with value."""
    return e("broadcast_to", const(e, value, t), shape=tuple(t.shape))


def reduce_to(e, g, t: TensorType):
    """g summed over the axes broadcasting added or stretched to reach t's shape, decided from the types."""
    gt = g.type
    extra = gt.rank - t.rank
    if extra:
        g = e("sum", g, axis=tuple(range(extra)), keepdims=False)
    stretched = tuple(i for i, (gd, xd) in enumerate(zip(g.type.shape, t.shape)) if xd == 1 and gd != 1)
    if stretched:
        g = e("sum", g, axis=stretched, keepdims=True)
    if g.type.dtype != t.dtype:
        g = e("cast", g, dtype=t.dtype)
    return g


def count(e, x, axes, like) -> object:
    """The number of elements of x along `axes`, as a 0-d tensor of like's dtype (known or run-time)."""
    n = 1
    for ax in axes:
        d = x.type.shape[ax]
        if not isinstance(d, int):
            s = e("size", x if x.type.is_float else e("cast", x, dtype=like.type.dtype), axis=tuple(axes))
            return s if s.type.dtype == like.type.dtype else e("cast", s, dtype=like.type.dtype)
        n *= d
    return const(e, n, like)


def mean(e, x, axes, keepdims: bool):
    """sum / count over axes."""
    return e("div", e("sum", x, axis=tuple(axes), keepdims=keepdims), count(e, x, axes, x))


def step_mask(e, x):
    """1 where x > 0, else 0, in x's dtype."""
    return e("cast", e("compare", x, const(e, 0.0, x), kind="gt"), dtype=x.type.dtype)


def expand(e, g, axes: tuple[int, ...], source):
    """g with size-1 axes inserted at `axes`; `source` has the result's rank and g's sizes elsewhere.

    A static reshape when at most one size is symbolic; else a reshape to `source` sliced to 1 along `axes`.
    """
    if not axes:
        return g
    shape = list(g.type.shape)
    for ax in sorted(axes):
        shape.insert(ax, 1)
    if sum(1 for d in shape if not isinstance(d, int)) <= 1:
        return e("reshape", g, shape=tuple(-1 if not isinstance(d, int) else d for d in shape))
    if source is None:
        cannot("a reshape", "more than one symbolic size")
    like = source
    for ax in axes:
        like = e("slice", like, start=0, end=1, axis=ax)
    return e("reshape_like", g, like)


def static_reshape(e, x, t: TensorType):
    """x reshaped to t's shape, which may hold one symbolic size (written -1)."""
    symbolic = [d for d in t.shape if not isinstance(d, int)]
    if len(symbolic) > 1:
        cannot("a reshape", f"the shape {t} with more than one symbolic size")
    if x.type.shape == t.shape:
        return x
    return e("reshape", x, shape=tuple(d if isinstance(d, int) else -1 for d in t.shape))


def reduce_loss(e, values, reduction: str, out: TensorType):
    """The sum of per-sample losses over every axis, divided by their count for "mean", in out's dtype."""
    axes = tuple(range(values.type.rank))
    total = e("sum", values, axis=axes)
    if reduction == "mean":
        total = e("div", total, count(e, values, axes, total))
    return total if total.type.dtype == out.dtype else e("cast", total, dtype=out.dtype)


def label_mask(e, labels, scores):
    """A bool [..., C] tensor, true at each row's label (C the last axis of scores)."""
    classes = e("iota", scores, axis=scores.type.rank - 1)
    ids = expand(e, e("cast", labels, dtype="i64"), (labels.type.rank,), scores)
    return e("compare", ids, classes, kind="eq")


def pick(e, scores, mask, keepdims: bool = False):
    """scores at the label of each row (the only true entry of mask along the last axis)."""
    chosen = e("where", mask, scores, zeros_like(e, scores))
    return e("sum", chosen, axis=(scores.type.rank - 1,), keepdims=keepdims)


def rows(e, x):
    """x as [N, features]: every axis after the first flattened."""
    from ..ir.types import dim_prod
    return static_reshape(e, x, x.type.with_shape((x.type.shape[0], dim_prod(x.type.shape[1:]))))
