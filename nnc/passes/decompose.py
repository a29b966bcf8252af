"""Expanding composite ops into the primitives a backend supports (as tinygrad does for its renderers).

decompose(graph, supported) rewrites every node whose op is neither in
`supported` nor a primitive (nnc/ir/primitives.py) by its op's `decompose`
rule, again and again until nothing changes: a rule may use other composites
(softmax inside cross_entropy's rule), and those expand in the next round.
New nodes keep the span of the node they replace, and their names show where
they came from (`h.dense.matmul` inside scope `x.block`).
"""
from __future__ import annotations

from ..ir.graph import Graph, Node
from ..ir.primitives import PRIMITIVES
from ..ops import get as get_op
from ..ops._prims import CannotDecompose
from .emit import EmitError
from .rewrite import rewrite

MAX_ROUNDS = 16  # rules nest a few levels deep (cross_entropy → log_softmax → max, sum, ...)


class DecomposeError(Exception):
    """An op that the backend does not support and that has no rule to expand it."""


def _where(node: Node) -> str:
    return f"line {node.span.line}" if node.span is not None else "an unknown line"


def needs_expanding(op: str, supported: frozenset[str]) -> bool:
    return op not in supported and op not in PRIMITIVES


def decompose(graph: Graph, supported: frozenset[str] = frozenset()) -> Graph:
    """`graph` with every op outside `supported` ∪ PRIMITIVES replaced by its decomposition.

    Raises DecomposeError naming the op and its `.nn` line when such an op has no rule, or when a
    rule gives outputs of other types than the node it replaces (a bug in the rule).
    """
    for _ in range(MAX_ROUNDS):
        todo = [n for n in graph.nodes if needs_expanding(n.op, supported)]
        if not todo:
            return graph
        for node in todo:
            op = get_op(node.op)
            if op is None or op.decompose is None:
                raise DecomposeError(f"{node.op} at {_where(node)} ({node.path}) is not supported by this backend "
                                     f"and has no decomposition into primitives")
        graph = _expand_once(graph, supported)
    left = sorted({n.op for n in graph.nodes if needs_expanding(n.op, supported)})
    raise DecomposeError(f"decomposition did not settle after {MAX_ROUNDS} rounds: {', '.join(left)} remain")


def _expand_once(graph: Graph, supported: frozenset[str]) -> Graph:
    def replace(emit, node: Node, ins):
        if not needs_expanding(node.op, supported):
            return None
        out_types = [graph.type_of(o) for o in node.outputs]
        try:
            outs = get_op(node.op).decompose(emit, ins, out_types, node.attr_dict)
        except (CannotDecompose, EmitError) as e:
            raise DecomposeError(f"{node.op} at {_where(node)} ({node.path}) is not supported by this backend "
                                 f"and its decomposition failed: {e}") from None
        got = [o.type for o in outs]
        if got != out_types:
            raise DecomposeError(f"the decomposition of {node.op} at {_where(node)} gives "
                                 f"{', '.join(map(str, got))} where the op gives {', '.join(map(str, out_types))}")
        return list(outs)

    new, _ = rewrite(graph, replace)
    return new
