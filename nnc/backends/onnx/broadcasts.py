"""Explicit broadcasts that ONNX does not need: a `broadcast_to` feeding an elementwise op whose other operand
already has the result's shape is dropped, since ONNX's binary ops broadcast as NumPy does.

The broadcast pass makes every implicit broadcast a node, which a compiled backend without broadcasting
needs; lowered to ONNX as Shape + Expand each one materialises a full tensor (a scalar hyperparameter
stretched to every parameter's shape in an optimiser update). Dropping them changes no value.
"""
from __future__ import annotations

from ...ir.graph import Graph

BROADCASTING = frozenset({"add", "sub", "mul", "div", "maximum", "minimum", "pow", "where", "compare"})


def implicit_broadcasts(graph: Graph) -> tuple[dict[tuple[int, int], int], set[int]]:
    """({(node index, input position): value to read instead}, {indices of broadcast_to nodes to skip})."""
    producer = {o: (k, n) for k, n in enumerate(graph.nodes) for o in n.outputs if n.op == "broadcast_to"}
    substitute: dict[tuple[int, int], int] = {}
    for k, node in enumerate(graph.nodes):
        if node.op not in BROADCASTING:
            continue
        shape = graph.type_of(node.outputs[0]).shape
        candidates = [pos for pos, vid in enumerate(node.inputs)
                      if vid in producer and graph.type_of(vid).shape == shape
                      and graph.type_of(producer[vid][1].inputs[0]).rank <= len(shape)]
        full_elsewhere = any(graph.type_of(vid).shape == shape for pos, vid in enumerate(node.inputs)
                             if pos not in candidates)
        if not full_elsewhere:
            candidates = candidates[1:]  # one operand must still carry the result's shape
        for pos in candidates:
            substitute[(k, pos)] = producer[node.inputs[pos]][1].inputs[0]
    used = {vid for _, vid in graph.outputs}
    for k, node in enumerate(graph.nodes):
        for pos, vid in enumerate(node.inputs):
            if (k, pos) not in substitute:
                used.add(vid)
    skip = {k for vid, (k, _) in producer.items() if vid not in used}
    return substitute, skip
