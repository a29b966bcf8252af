"""Checks of a graph, run in the tests after elaboration and after every pass.

`verify` checks what every backend relies on: each value defined once before
it is used, nodes in topological order, no cycles, known ops, plain-data
attributes, and every node traceable to a source line. With full=True it also
re-runs each op's own contract: the number of inputs and outputs, the
attribute schema, and the shape rule, whose output types must be those the
graph records. `verify_updates` checks a step graph against its signature: no
node reads an input after the node that writes the value replacing it, so a
backend may update that input in place.
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


def verify(graph: Graph, full: bool = False) -> None:
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
        if full:
            _check_contract(graph, node, get_op(node.op))
    for name, vid in graph.outputs:
        if vid not in defined:
            raise InvalidGraph(f"output {name} is never computed")
    if not nx.is_directed_acyclic_graph(to_networkx(graph)):
        raise InvalidGraph("the graph has a cycle")


def _check_contract(graph: Graph, node, op) -> None:
    """Arity, attribute schema and the shape rule re-run: the node is what its op says it is."""
    from ..ops.base import ShapeError

    n = len(node.inputs)
    params = 0
    if op.variadic:
        if n < 1:
            raise InvalidGraph(f"{node.path}: {node.op} needs at least one input")
    else:
        base = len(op.inputs)
        params = len(op.params(_types(graph, node.inputs[:base]), node.attr_dict)) if op.params else 0
        if not base + params <= n <= base + params + len(op.optional_inputs):
            raise InvalidGraph(f"{node.path}: {node.op} takes {base + params} inputs, found {n}")
    declared = {a.name for a in op.attrs}
    attrs = node.attr_dict
    unknown = sorted(set(attrs) - declared)
    if unknown:
        raise InvalidGraph(f"{node.path}: {node.op} has no attribute {unknown[0]!r}")
    missing = [a.name for a in op.attrs if a.required and a.name not in attrs]
    if missing:
        raise InvalidGraph(f"{node.path}: {node.op} lacks its attribute {missing[0]!r}")
    ins = _types(graph, node.inputs[:n - params])  # a layer's shape rule sees its data, not its parameters
    try:
        outs = op.infer(ins, attrs)  # attributes are stored resolved: the shape rule alone, no resolve
    except ShapeError as e:
        raise InvalidGraph(f"{node.path}: {node.op} rejects its inputs "
                           f"({', '.join(str(t) for t in ins)}): {e.message}") from None
    recorded = _types(graph, node.outputs)
    if list(outs) != recorded:
        raise InvalidGraph(f"{node.path}: {node.op} gives {', '.join(str(t) for t in outs)}, the graph records "
                           f"{', '.join(str(t) for t in recorded)}")


def _types(graph: Graph, ids) -> list:
    return [graph.type_of(v) for v in ids]


def verify_updates(graph: Graph, signature) -> None:
    """No node reads an input after the node that computes the value replacing it (in-place safety)."""
    position = {o: i for i, node in enumerate(graph.nodes) for o in node.outputs}
    through = {"stop_gradient"}  # an identity: the value is written by whatever computed its input
    producer = graph.producer_map()
    inputs = dict(graph.inputs)
    params = {p.name: p.value.id for p in graph.params}
    outputs = dict(graph.outputs)
    readers: dict[int, list[int]] = {}
    for i, node in enumerate(graph.nodes):
        for v in node.inputs:
            readers.setdefault(v, []).append(i)
    for port in signature.outputs:
        if port.replaces is None:
            continue
        old = inputs.get(port.replaces, params.get(port.replaces))
        new = outputs[port.name]
        while new in producer and producer[new].op in through:
            new = producer[new].inputs[0]
        if new == old or new not in position:
            continue
        writer = position[new]
        late = [i for i in readers.get(old, []) if i > writer]
        if late:
            node = graph.nodes[late[0]]
            raise InvalidGraph(f"{node.path} reads {port.replaces} after {graph.nodes[writer].path} "
                               f"computed the value that replaces it")


def format_graph(graph: Graph) -> str:
    """A readable listing: one line per node with its types and source line."""
    lines = [f"graph {graph.name}"]
    for name, vid in graph.inputs:
        lines.append(f"  input  %{vid}: {graph.type_of(vid)}  # {name}")
    for p in graph.params:
        lines.append(f"  param  %{p.value.id}: {p.value.type}  # {p.name}{'' if p.trainable else ' (state)'}")
    for n in graph.nodes:
        outs = ", ".join(f"%{o}: {graph.type_of(o)}" for o in n.outputs)
        args = ", ".join([f"%{i}" for i in n.inputs] + [f"{k}={v!r}" for k, v in n.attrs])
        attrs = ""
        where = f"  # {n.span.file}:{n.span.line}" if n.span else ""
        lines.append(f"  {outs} = {n.op}({args}{attrs})  [{n.path}]{where}")
    for name, vid in graph.outputs:
        lines.append(f"  output %{vid}  # {name}")
    return "\n".join(lines)
