"""Dtype promotion made explicit: every elementwise op of several tensors sees one dtype.

The shape rules promote (f32 with f64 gives f64, as NumPy and PyTorch do);
this pass writes each implicit conversion as a `cast` node, so that a backend
lowering `add` or `where` never converts types itself and every backend
rounds at the same places. Constants that become casts of constants are
folded afterwards (nnc/passes/fold.py).
"""
from __future__ import annotations

from ..ir.graph import Graph
from ..ops.common import promote
from .rewrite import rewrite

# op -> the positions of its inputs that must share one dtype
SAME_DTYPE = {op: (0, 1) for op in ("add", "sub", "mul", "div", "maximum", "minimum", "pow", "compare")}
SAME_DTYPE["where"] = (1, 2)


def promote_dtypes(graph: Graph) -> Graph:
    """A copy of `graph` in which the operands of every elementwise op have equal dtypes (casts inserted)."""
    if not any(_mixed(graph, n) for n in graph.nodes):
        return graph

    def replace(emit, node, ins):
        if not _mixed(graph, node):
            return None
        positions = SAME_DTYPE[node.op]
        target = _target(graph, node)
        ins = [emit("cast", t, dtype=target) if i in positions and t.type.dtype != target else t
               for i, t in enumerate(ins)]
        return emit.resolved(node.op, *ins, **node.attr_dict)

    return rewrite(graph, lambda emit, node, ins: _as_list(replace(emit, node, ins)))[0]


def _as_list(out):
    if out is None:
        return None
    return list(out) if isinstance(out, tuple) else [out]


def _mixed(graph: Graph, node) -> bool:
    """Whether some operand's dtype differs from the one the op computes in."""
    positions = SAME_DTYPE.get(node.op)
    if positions is None:
        return False
    target = _target(graph, node)
    return any(graph.type_of(node.inputs[i]).dtype != target for i in positions)


def _target(graph: Graph, node) -> str:
    """The dtype the op computes in: its result's (integer `/` gives f32), or for a comparison, the operands'
    common promotion."""
    if node.op != "compare":
        return graph.type_of(node.outputs[0]).dtype
    out = "bool"
    for i in SAME_DTYPE["compare"]:
        out = promote(out, graph.type_of(node.inputs[i]).dtype)
    return out
