"""A small ONNX graph builder: fresh names, deduplicated constants, node names and doc strings from `.nn` spans.

Every lowering rule writes its nodes through one `Builder`, which stamps
each node with the name and source position of the nnc node it came from
(`features.conv2d@lenet5.nn:12#3`, doc_string `lenet5.nn:12:5`): ONNX Runtime
quotes node names in its errors and profiles, and Netron shows both.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from onnx import NodeProto, TensorProto, helper, numpy_helper

OPSET = 21  # standard ops only; ONNX Runtime 1.31 supports every op used here at this opset
IR_VERSION = 10  # onnx 1.23 writes 14 by default; ONNX Runtime 1.31 reads 13 at most

ONNX_DTYPES = {"f32": TensorProto.FLOAT, "f64": TensorProto.DOUBLE, "i32": TensorProto.INT32,
               "i64": TensorProto.INT64, "bool": TensorProto.BOOL}
NP_DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "bool": np.bool_}


class Builder:
    """Nodes and constants of one ONNX graph under construction."""

    def __init__(self) -> None:
        self.nodes: list[NodeProto] = []
        self._count = 0
        self._consts: dict[tuple, str] = {}
        self._where: tuple[str, str] = ("", "")  # (node-name prefix, doc string) of the nnc node being lowered
        self._k = 0

    def at(self, path: str, span) -> None:
        """Stamp the following nodes with the nnc node `path` and its `.nn` span."""
        if span is not None:
            where = f"{os.path.basename(span.file)}:{span.line}"
            self._where = (f"{path}@{where}", f"{span.file}:{span.line}:{span.column}")
        else:
            self._where = (path, "")
        self._k = 0

    def fresh(self, hint: str = "t") -> str:
        self._count += 1
        return f"_{hint}{self._count}"

    def op(self, op_type: str, inputs: Sequence[str], n_out: int = 1, outputs: Sequence[str] | None = None,
           **attrs) -> str | list[str]:
        """Append one node; returns its output name (or names when n_out > 1)."""
        outs = list(outputs) if outputs is not None else [self.fresh() for _ in range(n_out)]
        self._k += 1
        prefix, doc = self._where
        name = f"{prefix}#{self._k}" if prefix else self.fresh(op_type)
        node = helper.make_node(op_type, list(inputs), outs, name=f"{name}:{self._count}", **attrs)
        if doc:
            node.doc_string = doc
        self.nodes.append(node)
        return outs if n_out > 1 or outputs is not None and len(outs) > 1 else outs[0]

    def const(self, value, dtype: str | type = "i64") -> str:
        """A Constant node holding `value` (deduplicated by dtype, shape and bytes)."""
        npdt = NP_DTYPES[dtype] if isinstance(dtype, str) else dtype
        a = np.asarray(value, dtype=npdt)
        key = (a.dtype.str, a.shape, a.tobytes())
        if key not in self._consts:
            name = self.fresh("c")
            saved, self._where = self._where, ("", "")
            self.nodes.append(helper.make_node("Constant", [], [name], name=name,
                                               value=numpy_helper.from_array(a, name)))
            self._where = saved
            self._consts[key] = name
        return self._consts[key]

    def ints(self, values: Sequence[int]) -> str:
        """A 1-D int64 constant (axes, shapes, starts)."""
        return self.const(np.asarray(list(values), dtype=np.int64).reshape(-1), "i64")
