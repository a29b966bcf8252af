"""Copying a graph while replacing some nodes by others: the shared machinery of the rewriting passes."""
from __future__ import annotations

from typing import Callable

from ..elaborate.builder import GraphBuilder
from ..elaborate.values import Tensor
from ..ir.graph import Graph, Node
from .emit import Emitter


def rewrite(graph: Graph, replace: Callable[[Emitter, Node, list[Tensor]], list[Tensor] | None],
            name: str | None = None) -> tuple[Graph, dict[int, int]]:
    """A copy of `graph` in which `replace(emit, node, inputs)` may return new outputs for a node.

    Returns the new graph and the map from old value ids to new ones (inputs and parameters keep their ids).
    Nodes for which `replace` returns None are copied unchanged.
    """
    b = GraphBuilder(name or graph.name)
    b.values = {}
    ids: dict[int, int] = {}
    for n, vid in graph.inputs:
        b.values[vid] = graph.values[vid]
        ids[vid] = vid
    b.inputs = list(graph.inputs)
    for p in graph.params:
        b.values[p.value.id] = p.value
        ids[p.value.id] = p.value.id
        b.params[p.name] = p
    b.values.update({k: v for k, v in graph.values.items() if k not in b.values})
    b.next_id = max(graph.values) + 1 if graph.values else 0  # new values never reuse an old id
    for node in graph.nodes:
        ins = [Tensor(ids[i], b.values[ids[i]].type) for i in node.inputs]
        emit = Emitter(b, node.span, node.scope, node.name)
        new = replace(emit, node, ins)
        if new is None:
            outs = b.add_node(node.op, ins, [graph.values[o].type for o in node.outputs], node.attr_dict, node.span,
                              node.name, node.scope)
        else:
            outs = new
        for old, out in zip(node.outputs, outs):
            ids[old] = out.id
    b.outputs = [(n, ids[v]) for n, v in graph.outputs]
    used = {i for node in b.nodes for i in node.inputs + node.outputs} | {v for _, v in b.outputs} \
        | {v for _, v in b.inputs} | {p.value.id for p in b.params.values()}
    b.values = {k: v for k, v in b.values.items() if k in used}
    return b.build(), ids
