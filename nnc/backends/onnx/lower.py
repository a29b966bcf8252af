"""The lowering table: each nnc primitive as standard ONNX nodes (opset 21).

`LOWER[op](b, ins, in_types, out_types, attrs)` appends nodes to the
builder `b` and returns the ONNX names of the op's outputs. Elementwise,
shape and reduction ops live here; convolution, pooling, random numbers and
recurrent layers in nnc/backends/onnx/lower_nn.py. Broadcasting follows
NumPy's rules in both nnc and ONNX, so binary ops map one to one.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ...ir.types import TensorType
from .builder import ONNX_DTYPES, Builder

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

Rule = Callable[[Builder, list, list, list, dict], list]

UNARY = {"neg": "Neg", "exp": "Exp", "log": "Log", "sqrt": "Sqrt", "tanh": "Tanh", "sigmoid": "Sigmoid",
         "abs": "Abs", "sign": "Sign", "cos": "Cos"}
BINARY = {"add": "Add", "sub": "Sub", "mul": "Mul", "div": "Div", "maximum": "Max", "minimum": "Min",
          "pow": "Pow"}
COMPARE = {"lt": "Less", "le": "LessOrEqual", "gt": "Greater", "ge": "GreaterOrEqual", "eq": "Equal"}


def _unary(onnx_op: str) -> Rule:
    return lambda b, ins, it, ot, a: [b.op(onnx_op, ins)]


def _binary(onnx_op: str) -> Rule:
    return lambda b, ins, it, ot, a: [b.op(onnx_op, ins)]


def _constant(b, ins, it, ot, a):
    t = ot[0]
    value = bool(a["value"]) if t.dtype == "bool" else a["value"]
    return [b.const(value, t.dtype)]


def _cast(b, ins, it, ot, a):
    return [b.op("Cast", ins, to=ONNX_DTYPES[a["dtype"]])]


def _compare(b, ins, it, ot, a):
    if a["kind"] == "ne":
        return [b.op("Not", [b.op("Equal", ins)])]
    return [b.op(COMPARE[a["kind"]], ins)]


def _where(b, ins, it, ot, a):
    return [b.op("Where", ins)]


def _reduce(onnx_op: str) -> Rule:
    def rule(b, ins, it, ot, a):
        axes = tuple(a["axis"])
        if not axes:  # nothing to reduce (a scalar's sum)
            return [b.op("Identity", ins)]
        return [b.op(onnx_op, [ins[0], b.ints(axes)], keepdims=int(bool(a["keepdims"])))]
    return rule


def _argmax(b, ins, it, ot, a):
    return [b.op("ArgMax", ins, axis=a["axis"], keepdims=int(bool(a["keepdims"])), select_last_index=0)]


def _matmul(b, ins, it, ot, a):
    return [b.op("MatMul", ins)]


def _reshape(b, ins, it, ot, a):
    return [b.op("Reshape", [ins[0], b.ints(a["shape"])])]


def _reshape_like(b, ins, it, ot, a):
    return [b.op("Reshape", [ins[0], b.op("Shape", [ins[1]])])]


def _broadcast_to(b, ins, it, ot, a):
    if len(ins) > 1:
        return [b.op("Expand", [ins[0], b.op("Shape", [ins[1]])])]
    return [b.op("Expand", [ins[0], b.ints(a["shape"])])]


def _transpose(b, ins, it, ot, a):
    return [b.op("Transpose", ins, perm=list(a["perm"]))]


def _slice(b, ins, it, ot, a):
    end = INT64_MAX if a.get("end") is None else a["end"]
    return [b.op("Slice", [ins[0], b.ints([a["start"]]), b.ints([end]), b.ints([a["axis"]]),
                           b.ints([a.get("step", 1)])])]


def crop_and_pad(b: Builder, x: str, lo, hi, value: float, dtype: str, first_axis: int = 0) -> str:
    """x with lo/hi elements added (value) or removed (negative) along axes first_axis, first_axis+1, ..."""
    axes = [first_axis + i for i, (l, h) in enumerate(zip(lo, hi)) if l < 0 or h < 0]
    if axes:
        starts = [max(-lo[ax - first_axis], 0) for ax in axes]
        ends = [hi[ax - first_axis] if hi[ax - first_axis] < 0 else INT64_MAX for ax in axes]
        x = b.op("Slice", [x, b.ints(starts), b.ints(ends), b.ints(axes)])
    plo = [max(v, 0) for v in lo]
    phi = [max(v, 0) for v in hi]
    if any(plo) or any(phi):
        n = len(lo)
        pad_axes = list(range(first_axis, first_axis + n))
        x = b.op("Pad", [x, b.ints(plo + phi), b.const(value, dtype), b.ints(pad_axes)], mode="constant")
    return x


def _pad(b, ins, it, ot, a):
    value = bool(a["value"]) if it[0].dtype == "bool" else a["value"]
    out = crop_and_pad(b, ins[0], list(a["lo"]), list(a["hi"]), value, it[0].dtype)
    return [out if out != ins[0] else b.op("Identity", ins)]


def _reverse(b, ins, it, ot, a):
    axes = list(a["axes"])
    if not axes:
        return [b.op("Identity", ins)]
    n = len(axes)
    return [b.op("Slice", [ins[0], b.ints([-1] * n), b.ints([INT64_MIN] * n), b.ints(axes), b.ints([-1] * n)])]


def _concat(b, ins, it, ot, a):
    return [b.op("Concat", ins, axis=a["axis"])]


def _iota(b, ins, it, ot, a):
    ax = a["axis"]
    n = b.op("Squeeze", [b.op("Shape", [ins[0]], start=ax, end=ax + 1), b.ints([0])])
    return [b.op("Range", [b.const(0, "i64"), n, b.const(1, "i64")])]


def _gather(b, ins, it, ot, a):
    ids = ins[1] if it[1].dtype == "i64" else b.op("Cast", [ins[1]], to=ONNX_DTYPES["i64"])
    return [b.op("Gather", [ins[0], ids], axis=0)]


def _scatter_add(b, ins, it, ot, a):
    x, ids, up = ins
    ids = ids if it[1].dtype == "i64" else b.op("Cast", [ids], to=ONNX_DTYPES["i64"])
    index = b.op("Reshape", [ids, b.ints([-1, 1])])
    rows = b.op("Concat", [b.ints([-1]), b.op("Shape", [x], start=1)], axis=0)
    updates = b.op("Reshape", [up, rows])
    if it[2].dtype != it[0].dtype:
        updates = b.op("Cast", [updates], to=ONNX_DTYPES[it[0].dtype])
    return [b.op("ScatterND", [x, index, updates], reduction="add")]


def _size(b, ins, it, ot, a):
    dims = b.op("Gather", [b.op("Shape", [ins[0]]), b.ints(list(a["axis"]))], axis=0)
    n = b.op("ReduceProd", [dims], keepdims=0)
    return [b.op("Cast", [n], to=ONNX_DTYPES[ot[0].dtype])]


LOWER: dict[str, Rule] = {
    "constant": _constant, "cast": _cast, "compare": _compare, "where": _where,
    "sum": _reduce("ReduceSum"), "max": _reduce("ReduceMax"), "argmax": _argmax, "matmul": _matmul,
    "reshape": _reshape, "reshape_like": _reshape_like, "broadcast_to": _broadcast_to, "transpose": _transpose,
    "slice": _slice, "pad": _pad, "reverse": _reverse, "concat": _concat, "iota": _iota, "gather": _gather,
    "scatter_add": _scatter_add, "size": _size,
    **{k: _unary(v) for k, v in UNARY.items()}, **{k: _binary(v) for k, v in BINARY.items()},
}


def lower_node(b: Builder, op: str, ins: list[str], in_types: list[TensorType], out_types: list[TensorType],
               attrs: dict) -> list[str]:
    """The ONNX names of `op`'s outputs, after appending its nodes to b."""
    from .lower_nn import LOWER_NN
    rule = LOWER.get(op) or LOWER_NN.get(op)
    if rule is None:
        raise NotImplementedError(f"the onnx backend cannot lower {op!r} yet")
    return rule(b, ins, in_types, out_types, attrs)
