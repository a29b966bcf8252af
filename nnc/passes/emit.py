"""Adding nodes to a graph from inside a pass, with each op's own shape rule giving the types.

Passes (autodiff above all) write new computation in nnc ops, the same way
a program does, so every backend can run what they produce.
"""
from __future__ import annotations

from ..elaborate.builder import GraphBuilder
from ..elaborate.values import Tensor
from ..ir.graph import Graph
from ..ir.types import TensorType
from ..ops import get as get_op
from ..source import Span


class EmitError(Exception):
    """A pass asked for an op that does not fit its inputs: a bug in the pass, not in the program."""


def builder_from(graph: Graph, name: str | None = None) -> GraphBuilder:
    """A builder that continues an existing graph (same value ids, nodes, parameters)."""
    b = GraphBuilder(name or graph.name)
    b.values = dict(graph.values)
    b.nodes = list(graph.nodes)
    b.inputs = list(graph.inputs)
    b.outputs = list(graph.outputs)
    b.params = {p.name: p for p in graph.params}
    b.next_id = max(graph.values) + 1 if graph.values else 0
    for node in graph.nodes:
        for o in node.outputs:
            b.producer[o] = node
    return b


def tensor(graph_or_builder, vid: int) -> Tensor:
    values = graph_or_builder.values
    return Tensor(vid, values[vid].type)


class Emitter:
    """emit("mul", a, b) adds a node and returns its output(s); attributes default as the op declares."""

    def __init__(self, builder: GraphBuilder, span: Span | None, scope: str, prefix: str):
        self.builder = builder
        self.span = span
        self.scope = scope
        self.prefix = prefix

    def __call__(self, op_name: str, *inputs: Tensor, **attrs):
        return self._emit(op_name, inputs, attrs, True)

    def resolved(self, op_name: str, *inputs: Tensor, **attrs):
        """As calling the emitter, but with attributes already in their resolved form (per-axis tuples,
        (lo, hi) padding pairs), as a gradient rule copies them from a node; the op's resolve is skipped."""
        return self._emit(op_name, inputs, attrs, False)

    def _emit(self, op_name: str, inputs, attrs: dict, resolve: bool):
        op = get_op(op_name)
        if op is None:
            raise EmitError(f"unknown op {op_name}")
        full = {}
        for a in op.attrs:
            if a.name in attrs:
                full[a.name] = attrs.pop(a.name)
            elif a.required:
                raise EmitError(f"{op_name} needs attribute {a.name}")
            else:
                full[a.name] = a.default
        if attrs:
            raise EmitError(f"{op_name} has no attributes {sorted(attrs)}")
        types = [t.type for t in inputs]
        from ..ops.base import ShapeError
        try:
            full, out_types = op.output_types(types, full) if resolve else (full, op.infer(types, full))
        except ShapeError as e:
            raise EmitError(f"{op_name} on {', '.join(str(t) for t in types)}: {e.message}") from None
        name = self.builder.unique_name(self.scope, f"{self.prefix}.{op_name}")
        outs = self.builder.add_node(op_name, list(inputs), out_types, full, self.span, name, self.scope)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def const(self, value: float, dtype: str = "f32") -> Tensor:
        """A scalar constant; an integer dtype keeps an integer value (no round trip through float)."""
        return self("constant", value=int(value) if dtype in ("i32", "i64") else float(value), dtype=dtype)

    def type_of(self, t: Tensor) -> TensorType:
        return t.type
