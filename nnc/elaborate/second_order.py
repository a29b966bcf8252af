"""Which layers a program would need to differentiate twice although their gradient has no gradient rule.

`grad(...)` is expanded into the nodes of a gradient, and a `minimize` line (or
another `grad`) over a value computed from it differentiates those nodes again:
a WGAN-GP or R1 penalty on a discriminator. Every gradient op has a gradient
rule of its own or a decomposition that autodiff differentiates instead
(nnc/passes/derived_vjp.py), except recurrent_backward; `nnc check` reports a
program that would need that one (E0119) at the layer, instead of training
failing inside autodiff. The table names the backward op, so giving it an
`Op.vjp` or a `decompose` rule removes the diagnostic by itself.
"""
from __future__ import annotations

from ..ir.graph import Graph, Node
from ..ops import get as get_op
from ..ops.common import no_gradient

# forward op -> the op its gradient rule emits, whose own gradient rule may be missing
BACKWARD_OP = {"rnn": "recurrent_backward", "lstm": "recurrent_backward", "gru": "recurrent_backward",
               "attention": "attention_backward", "contrastive": "pair_loss_grad", "triplet": "pair_loss_grad"}


def _first_order_only(op: str) -> bool:
    """The op's gradient is an op with neither a gradient rule nor a decomposition to differentiate."""
    backward = get_op(BACKWARD_OP.get(op, ""))
    return backward is not None and backward.vjp is None and backward.decompose is None


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
    the grad node stands for, and on that gradient's path lies a layer whose backward op has no gradient rule."""
    if not any(_first_order_only(n.op) for n in graph.nodes) or not any(n.op == "grad" for n in graph.nodes):
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
            if _first_order_only(inner.op) and any(o in path for o in inner.outputs):
                found.append((node, inner))
    return found
