"""Constant folding: scalar arithmetic on constants is done once, when the graph is prepared.

A node whose inputs are all constants and whose op is pure elementwise
arithmetic becomes one `constant` node holding its value, computed by the
op's own numpy reference in the node's dtype, so the folded graph gives the
same bits as the unfolded one on the oracle.
"""
from __future__ import annotations

from ..ir.graph import Graph
from ..ops import get as get_op
from .rewrite import rewrite

FOLDABLE = frozenset({"cast", "neg", "exp", "log", "sqrt", "tanh", "sigmoid", "abs", "sign", "add", "sub", "mul",
                      "div", "maximum", "minimum", "pow"})


def fold_constants(graph: Graph) -> Graph:
    """A copy of `graph` with every foldable node of constant scalar inputs replaced by a constant."""
    producer = graph.producer_map()
    if not any(_foldable(n, producer) for n in graph.nodes):
        return graph
    import numpy as np

    from ..interp import Context

    values: dict[int, object] = {}  # old value id -> its folded numpy value

    def replace(emit, node, ins):
        if node.op == "constant":
            values[node.outputs[0]] = get_op("constant").reference([], node.attr_dict, Context())[0]
            return None
        if node.op not in FOLDABLE or not all(i in values for i in node.inputs):
            return None
        t = graph.type_of(node.outputs[0])
        if t.rank != 0:
            return None
        result = np.asarray(get_op(node.op).reference([values[i] for i in node.inputs], node.attr_dict,
                                                      Context())[0])
        if result.dtype.name not in ("float32", "float64", "int32", "int64") or not np.isfinite(result):
            return None  # bool results and non-finite values stay computed where they are
        values[node.outputs[0]] = result
        value = int(result) if t.dtype in ("i32", "i64") else float(result)
        return [emit("constant", value=value, dtype=t.dtype)]

    return rewrite(graph, replace)[0]


def _foldable(node, producer) -> bool:
    return node.op in FOLDABLE and bool(node.inputs) and all(
        i in producer and producer[i].op == "constant" for i in node.inputs)
