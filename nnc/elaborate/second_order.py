"""Which layers a program would need to differentiate twice although their gradient cannot be differentiated.

`grad(...)` is expanded into the nodes of a gradient, and a `minimize` line (or
another `grad`) over a value computed from it differentiates those nodes again:
a WGAN-GP or R1 penalty on a discriminator. Every gradient op has a gradient
rule of its own or a decomposition that autodiff differentiates instead
(nnc/passes/derived_vjp.py). recurrent_backward's rule (rnn, lstm, gru)
differentiates backpropagation through time unrolled over the sequence, so it
applies only where the sequence length is a number when the graph is built;
`nnc check` reports a program that would need it over a symbolic length
(E0119) at the layer, instead of training failing inside autodiff.
"""
from __future__ import annotations

from ..ir.graph import Graph, Node
from ..ops import get as get_op
from ..ops.common import no_gradient

# forward op -> the op its gradient rule emits, whose own gradient rule may be missing
BACKWARD_OP = {"rnn": "recurrent_backward", "lstm": "recurrent_backward", "gru": "recurrent_backward",
               "attention": "attention_backward", "contrastive": "pair_loss_grad", "triplet": "pair_loss_grad"}


RECURRENT = {"rnn", "lstm", "gru"}


def unknown_length(graph: Graph, node: Node) -> str | None:
    """The symbol naming a recurrent layer's sequence length when it is not a number, else None."""
    if node.op not in RECURRENT:
        return None
    t = graph.type_of(node.inputs[0]).shape[1]
    return None if isinstance(t, int) else str(t)


def _first_order_only(graph: Graph, node: Node) -> bool:
    """The node's gradient is an op whose own gradient cannot be built here: it has neither a gradient rule
    nor a decomposition to differentiate, or (recurrent layers) it unrolls over a length that is not known."""
    backward = get_op(BACKWARD_OP.get(node.op, ""))
    if backward is None:
        return False
    if backward.vjp is None and backward.decompose is None:
        return True
    return unknown_length(graph, node) is not None


def _ancestors(producer: dict[int, Node], value: int, stop_at_no_gradient: bool) -> set[int]:
    """The values `value` is computed from (itself included); optionally only those a gradient flows to."""
    seen, todo = {value}, [value]
    while todo:
        node = producer.get(todo.pop())
        if node is None:
            continue
        if stop_at_no_gradient:
            op = get_op(node.op)
            if op is not None and op.vjp is no_gradient:
                continue
        for i in node.inputs:
            if i not in seen:
                seen.add(i)
                todo.append(i)
    return seen


def _dependents(graph: Graph, sources: set[int]) -> set[int]:
    out = set(sources)
    for node in graph.nodes:
        if any(i in out for i in node.inputs):
            out.update(node.outputs)
    return out


def twice_differentiated(graph: Graph, loss: int, wrt: set[int]) -> list[tuple[Node, Node]]:
    """(grad node, layer node) pairs: differentiating `loss` with respect to `wrt` differentiates the gradient
    the grad node stands for, and on that gradient's path lies a layer whose backward op cannot be differentiated
    (a recurrent layer over a symbolic sequence length)."""
    if not any(_first_order_only(graph, n) for n in graph.nodes) or not any(n.op == "grad" for n in graph.nodes):
        return []
    producer = {o: n for n in graph.nodes for o in n.outputs}
    reached = _ancestors(producer, loss, stop_at_no_gradient=True)
    influenced = _dependents(graph, wrt)
    found: list[tuple[Node, Node]] = []
    for node in graph.nodes:
        if node.op != "grad" or node.outputs[0] not in reached or node.outputs[0] not in influenced:
            continue
        y, x = node.inputs
        path = _ancestors(producer, y, stop_at_no_gradient=True) & _dependents(graph, {x})
        for inner in graph.nodes:
            if _first_order_only(graph, inner) and any(o in path for o in inner.outputs):
                found.append((node, inner))
    return found
