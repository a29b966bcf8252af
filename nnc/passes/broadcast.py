"""Broadcasting made explicit: every operand of an elementwise op gets the op's output shape.

The shape rules broadcast as NumPy does. A compiled backend would rather
index every operand the same way, so this pass writes each implicit
broadcast as a `broadcast_to` node whose target shape comes from a tensor
that has it (`like`: its values are never read, so a symbolic batch size
needs no attribute) or, when every size is known, from a static `shape`.
Operands of two different partial shapes ([N, 1] with [1, M], no operand of
the full shape and a symbolic size) are left as they are: `broadcast_to`
would need a shape nothing in the graph has.
"""
from __future__ import annotations

from ..ir.graph import Graph
from .casts import SAME_DTYPE
from .rewrite import rewrite

ELEMENTWISE = {**SAME_DTYPE, "where": (0, 1, 2)}


def explicit_broadcasts(graph: Graph) -> Graph:
    """A copy of `graph` in which no elementwise op broadcasts implicitly (where a target shape exists)."""
    if not any(_implicit(graph, n) for n in graph.nodes):
        return graph

    def replace(emit, node, ins):
        if not _implicit(graph, node):
            return None
        positions = ELEMENTWISE[node.op]
        shape = graph.type_of(node.outputs[0]).shape
        full = next((ins[i] for i in positions if ins[i].type.shape == shape), None)
        if full is None and not all(isinstance(d, int) for d in shape):
            return None
        ins = list(ins)
        for i in positions:
            if ins[i].type.shape != shape:
                ins[i] = emit("broadcast_to", ins[i], full) if full is not None else \
                    emit("broadcast_to", ins[i], shape=tuple(shape))
        out = emit.resolved(node.op, *ins, **node.attr_dict)
        return list(out) if isinstance(out, tuple) else [out]

    return rewrite(graph, replace)[0]


def _implicit(graph: Graph, node) -> bool:
    positions = ELEMENTWISE.get(node.op)
    if positions is None:
        return False
    shape = graph.type_of(node.outputs[0]).shape
    return any(graph.type_of(node.inputs[i]).shape != shape for i in positions)
