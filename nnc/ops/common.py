"""Shared pieces of op definitions: elementwise factories, broadcasting, axes, reductions."""
from __future__ import annotations

from typing import Callable

from ..ir.types import TensorType, dim_str, eval_dim, shape_str
from .base import Attr, Op, ShapeError, same_type, require_float

LOSS_REDUCTION = Attr("reduction", "choice:mean|sum", "mean", "mean over the batch, or the sum")


def unary(name: str, fn: Callable, doc: str, attrs: tuple[Attr, ...] = (), category: str = "activation",
          float_only: bool = True, internal: bool = False, examples=(), vjp: Callable | None = None) -> Op:
    """An elementwise op of one tensor: same dtype and shape out."""

    def infer(ins, a):
        if float_only:
            require_float(ins[0], "x", name)
        return same_type(ins, a)

    def reference(arrays, a, ctx):
        return [fn(arrays[0], a)]

    return Op(name=name, doc=doc, inputs=("x",), attrs=attrs, infer=infer, reference=reference,
              category=category, internal=internal, examples=examples, vjp=vjp)


_RANK = {"bool": 0, "i32": 1, "i64": 2, "f32": 3, "f64": 4}


def promote(a: str, b: str) -> str:
    """The dtype of a binary op's result: bool < i32 < i64 < f32 < f64, as NumPy and PyTorch promote."""
    return a if _RANK[a] >= _RANK[b] else b


def broadcast_shapes(a: TensorType, b: TensorType) -> tuple:
    """NumPy broadcasting; two different symbols do not broadcast (they may differ at run time)."""
    ra, rb = a.shape[::-1], b.shape[::-1]
    out = []
    for i in range(max(len(ra), len(rb))):
        da = ra[i] if i < len(ra) else 1
        db = rb[i] if i < len(rb) else 1
        if da == db or db == 1:
            out.append(da)
        elif da == 1:
            out.append(db)
        else:
            axis = max(len(ra), len(rb)) - 1 - i
            raise ShapeError(f"cannot broadcast {a} with {b}", code="E0204",
                             label=f"axis {axis}: {dim_str(da)} vs {dim_str(db)}",
                             hint="sizes must be equal or 1 along every axis, counted from the right")
    return tuple(out[::-1])


def binary(name: str, fn: Callable, doc: str, vjp: Callable | None = None) -> Op:
    def infer(ins, a):
        return [TensorType(promote(ins[0].dtype, ins[1].dtype), broadcast_shapes(ins[0], ins[1]))]

    def reference(arrays, a, ctx):
        return [fn(arrays[0], arrays[1])]

    return Op(name=name, doc=doc, inputs=("a", "b"), infer=infer, reference=reference, category="math",
              internal=True, vjp=vjp)


def normalize_axis(axis: int, rank: int, blame: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise ShapeError(f"axis {axis} is out of range for a tensor of rank {rank}", code="E0206", blame=blame,
                         label=f"valid axes are {-rank}..{rank - 1}" if rank else "a scalar has no axes")
    return axis % rank


def reduce_op(name: str, fn: Callable, doc: str, vjp: Callable | None = None) -> Op:
    def resolve(ins, a):
        rank = ins[0].rank
        axes = a.get("axis")
        if axes is None:
            norm = tuple(range(rank))
        else:
            norm = tuple(sorted({normalize_axis(x, rank) for x in (axes if isinstance(axes, tuple) else (axes,))}))
        return {**a, "axis": norm}

    def infer(ins, a):
        shape = ins[0].shape
        keep = a["keepdims"]
        out = tuple((1 if i in a["axis"] else d) for i, d in enumerate(shape) if keep or i not in a["axis"])
        return [TensorType(ins[0].dtype, out)]

    def reference(arrays, a, ctx):
        return [fn(arrays[0], axis=a["axis"], keepdims=a["keepdims"])]

    return Op(name=name, doc=doc, inputs=("x",),
              attrs=(Attr("axis", "axes", None, "an axis or list of axes; all when absent"),
                     Attr("keepdims", "bool", False)),
              infer=infer, resolve=resolve, reference=reference, category="reduce",
              examples=(f"{name}(x, axis=1)",), vjp=vjp)


def known(d, what: str, op: str, blame: str = "callee") -> int:
    if not isinstance(d, int):
        raise ShapeError(f"{op} needs a known size for {what}, found {dim_str(d)}", code="E0208", blame=blame,
                         label=f"{what} is {dim_str(d)}",
                         hint="declare that axis with a fixed size in the input's type")
    return d


def batch_numel(shape) -> int:
    n = 1
    for d in shape:
        n *= eval_dim(d)
    return n


def require_same_shape(a: TensorType, b: TensorType, arg: str, op: str, what: str) -> None:
    if a.shape != b.shape:
        raise ShapeError(f"{op} expects {what} of the same shape as {shape_str(a.shape)}, found {b}",
                         blame=arg, code="E0203", label=f"this is {b}")


def scalar_of(t: TensorType) -> TensorType:
    return TensorType("f32" if t.dtype != "f64" else "f64", ())


def check_class_labels(scores: TensorType, labels: TensorType, op: str, what: str = "logits") -> None:
    """scores [..., C] (float) with integer labels [...] — the classification losses' contract."""
    if not scores.is_float:
        raise ShapeError(f"{op} expects float {what}, found {scores}", blame=what, code="E0202")
    if scores.rank < 1:
        raise ShapeError(f"{op} expects {what} with a class axis, found a scalar", blame=what, code="E0203")
    if not labels.is_int:
        raise ShapeError(f"{op} expects integer class labels, found {labels}", blame="labels", code="E0202",
                         label=f"this is {labels}",
                         hint="labels are class indices: declare them as i32 or i64"
                              + ("; for float targets use bce or mse" if labels.is_float else ""))
    if labels.shape != scores.shape[:-1]:
        raise ShapeError(f"{op} expects labels of shape {shape_str(scores.shape[:-1])} for {what} {scores}, "
                         f"found {labels}", blame="labels", code="E0203", label=f"this is {labels}",
                         hint="one label per row of scores; the class axis is the last one")


def check_target(pred: TensorType, target: TensorType, op: str, arg: str = "targets") -> None:
    """A float target of the prediction's shape, or a scalar (bce(s, 1.0))."""
    if not pred.is_float:
        raise ShapeError(f"{op} expects float predictions, found {pred}", blame=arg, code="E0202")
    if not target.is_float:
        raise ShapeError(f"{op} expects float targets, found {target}", blame=arg, code="E0202",
                         label=f"this is {target}")
    if target.shape not in (pred.shape, ()):
        raise ShapeError(f"{op} expects targets of shape {shape_str(pred.shape)} (or a scalar), found {target}",
                         blame=arg, code="E0203", label=f"this is {target}")


def reduce_loss(values, a):
    """Mean or sum of per-sample losses, as a 0-d array of their dtype."""
    import numpy as np
    out = values.sum() if a["reduction"] == "sum" else values.mean()
    return np.asarray(out, dtype=values.dtype)


def step_of(e, x):
    """1 where x > 0, else 0, written in nnc ops (sign of relu)."""
    return e("sign", e("relu", x))


def no_gradient(e, ins, outs, gs, a):
    """The rule of ops whose output does not change smoothly with their inputs (sign, metrics, masks)."""
    return [None] * len(ins)


def elementwise_loss_vjp(e, pred, target, g, derivative, reduction: str):
    """The gradient of a loss that reduces a per-element value: spread g, times the per-element derivative."""
    spread = e("unreduce", g, derivative, axis=tuple(range(derivative.type.rank)), keepdims=False,
               mean=reduction == "mean")
    return e("mul", spread, derivative)


def filled_like(e, t, value: float, dtype: str | None = None):
    """A tensor of t's shape holding `value` (a constant broadcast by unreduce), in nnc ops.

    Gradient rules of gradient ops (second derivatives) use it for ones and zeros of a run-time shape.
    """
    dtype = dtype or (t.type.dtype if t.type.is_float else "f32")
    return e("unreduce", e.const(value, dtype), t, axis=(), keepdims=True, mean=False)
