"""Structural checks of a graph, run in the tests after elaboration (and after every pass, later).

It checks what every backend relies on: each value defined once before it is
used, nodes in topological order, no cycles, known ops, plain-data
attributes, and every node traceable to a source line.
"""
from __future__ import annotations

from .graph import Graph


class InvalidGraph(Exception):
    pass


def to_networkx(graph: Graph):
    """The dataflow as a networkx DiGraph: node indices, edges labelled with the value carried."""
    import networkx as nx

    g = nx.DiGraph()
    producer = {}
    for i, node in enumerate(graph.nodes):
        g.add_node(i, op=node.op, name=node.path)
        for o in node.outputs:
            producer[o] = i
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            if v in producer:
                g.add_edge(producer[v], i, value=v)
    return g


def _plain(value) -> bool:
    if isinstance(value, tuple):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


def verify(graph: Graph) -> None:
    import networkx as nx

    from ..ops import get as get_op

    defined = {vid for _, vid in graph.inputs} | {p.value.id for p in graph.params}
    for node in graph.nodes:
        if get_op(node.op) is None:
            raise InvalidGraph(f"{node.path}: unknown op {node.op!r}")
        for v in node.inputs:
            if v not in defined:
                raise InvalidGraph(f"{node.path}: input value {v} is used before it is defined")
        for o in node.outputs:
            if o in defined:
                raise InvalidGraph(f"{node.path}: value {o} is defined twice")
            defined.add(o)
        for key, value in node.attrs:
            if not _plain(value):
                raise InvalidGraph(f"{node.path}: attribute {key} holds {type(value).__name__}, not plain data")
        if node.span is None:
            raise InvalidGraph(f"{node.path}: no source span")
    for name, vid in graph.outputs:
        if vid not in defined:
            raise InvalidGraph(f"output {name} is never computed")
    if not nx.is_directed_acyclic_graph(to_networkx(graph)):
        raise InvalidGraph("the graph has a cycle")


def format_graph(graph: Graph) -> str:
    """A readable listing: one line per node with its types and source line."""
    lines = [f"graph {graph.name}"]
    for name, vid in graph.inputs:
        lines.append(f"  input  %{vid}: {graph.type_of(vid)}  # {name}")
    for p in graph.params:
        lines.append(f"  param  %{p.value.id}: {p.value.type}  # {p.name}{'' if p.trainable else ' (state)'}")
    for n in graph.nodes:
        outs = ", ".join(f"%{o}: {graph.type_of(o)}" for o in n.outputs)
        args = ", ".join(f"%{i}" for i in n.inputs)
        attrs = "".join(f", {k}={v!r}" for k, v in n.attrs)
        where = f"  # {n.span.file}:{n.span.line}" if n.span else ""
        lines.append(f"  {outs} = {n.op}({args}{attrs})  [{n.path}]{where}")
    for name, vid in graph.outputs:
        lines.append(f"  output %{vid}  # {name}")
    return "\n".join(lines)
