"""Reverse-mode automatic differentiation as a graph-to-graph transform.

differentiate(graph, loss, wrt) appends to the graph the nodes that compute
d loss / d w for each value w in wrt, walking the nodes that lie between
them in reverse and calling each op's gradient rule (`Op.vjp`). Gradient
rules write nnc ops through an Emitter, so the result is an ordinary graph
that every backend runs. Gradients reaching one value from several uses are
summed.
"""
from __future__ import annotations

from ..ir.graph import Graph, Node
from ..ops import get as get_op
from .emit import Emitter, builder_from, tensor


class NotDifferentiable(Exception):
    """An op on the path from the parameters to the loss has no gradient rule."""

    def __init__(self, node: Node):
        where = f" (line {node.span.line})" if node.span else ""
        super().__init__(f"{node.op} at {node.path}{where} has no gradient rule yet")
        self.node = node


def dependents(graph: Graph, sources: set[int]) -> set[int]:
    """Every value computed from one of `sources` (the sources included)."""
    out = set(sources)
    for node in graph.nodes:
        if any(i in out for i in node.inputs):
            out.update(node.outputs)
    return out


def differentiate(graph: Graph, loss: int, wrt: list[int], tag: str = "grad") -> tuple[Graph, dict[int, int | None]]:
    """The graph extended with gradients of scalar `loss`; maps each w to its gradient's value id.

    A w that does not influence the loss maps to None (its gradient is zero).
    """
    b = builder_from(graph)
    depends = dependents(graph, set(wrt))
    needed = {loss}
    path: list[Node] = []
    for node in reversed(graph.nodes):
        if any(o in needed for o in node.outputs):
            needed.update(node.inputs)
            if any(o in depends for o in node.outputs):
                path.append(node)
    loss_node = b.producer.get(loss)
    seed_emit = Emitter(b, loss_node.span if loss_node else None, loss_node.scope if loss_node else "", tag)
    cotangent: dict[int, object] = {}
    if loss in depends:
        cotangent[loss] = seed_emit.const(1.0, graph.values[loss].type.dtype)
    for node in path:
        grads = [cotangent.get(o) for o in node.outputs]
        if all(g is None for g in grads):
            continue
        op = get_op(node.op)
        if op.vjp is None and op.decompose is None:
            raise NotDifferentiable(node)
        emit = Emitter(b, node.span, node.scope, f"{node.name}.{tag}")
        ins = [tensor(b, i) for i in node.inputs]
        outs = [tensor(b, o) for o in node.outputs]
        if op.vjp is not None:
            input_grads = op.vjp(emit, ins, outs, grads, node.attr_dict)
        else:  # a kernel without a rule of its own (attention_backward): differentiate its decomposition
            from .derived_vjp import vjp_from_decomposition
            input_grads = vjp_from_decomposition(emit, op, ins, outs, grads, node.attr_dict)
        if len(input_grads) != len(node.inputs):
            raise AssertionError(f"{node.op}'s gradient rule gave {len(input_grads)} gradients "
                                 f"for {len(node.inputs)} inputs")
        for vid, g in zip(node.inputs, input_grads):
            if g is None or vid not in depends:
                continue
            cotangent[vid] = g if vid not in cotangent else emit("add", cotangent[vid], g)
    result = {w: (cotangent[w].id if w in cotangent else None) for w in wrt}
    return b.build(), result
