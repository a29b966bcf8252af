"""Dead-code elimination: drop every node none of whose outputs reaches a graph output.

Graph inputs and parameters stay, even when unused: they are the graph's
interface (its signature), not computation.
"""
from __future__ import annotations

import dataclasses

from ..ir.graph import Graph


def eliminate_dead_code(graph: Graph) -> Graph:
    live = {vid for _, vid in graph.outputs}
    kept = []
    for node in reversed(graph.nodes):
        if any(o in live for o in node.outputs):
            kept.append(node)
            live.update(node.inputs)
    if len(kept) == len(graph.nodes):
        return graph
    kept.reverse()
    used = live | {v for _, v in graph.inputs} | {p.value.id for p in graph.params} \
        | {o for n in kept for o in n.outputs}
    return dataclasses.replace(graph, nodes=tuple(kept), values={k: v for k, v in graph.values.items() if k in used})
