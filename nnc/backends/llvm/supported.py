"""Which ops the llvm backend lowers, and the refusal of a graph holding one it cannot — without the
lowerings themselves.

The backend's `primitives` and its compile-time refusal need only the table's op names; importing lower.py
(the table and everything it calls: lower_conv, conv_forward, col2im, pools, recurrent layers, emit) costs
~30 ms, which a compile served from the lowering cache (plan_cache.py) never needs otherwise. `OPS` is
exactly the keys of lower.py's `LOWERINGS` (tests/test_llvm_supported.py): an op added there is added here.
"""
from __future__ import annotations

from ...ir.graph import Graph, Node

UNARY = ("neg", "exp", "log", "sqrt", "tanh", "sigmoid", "abs", "sign", "cos")
BINARY = ("add", "sub", "mul", "div", "maximum", "minimum", "pow")
FLOAT_ONLY = {"exp", "log", "sqrt", "tanh", "sigmoid", "cos", "div", "pow", "conv", "reduce_window",
              "select_and_scatter_add", "pool_select", "rnn", "lstm", "gru", "recurrent_backward",
              "winograd_filter", "conv_winograd"}
OPS = frozenset(UNARY + BINARY + (
    "compare", "where", "cast", "constant", "size", "iota", "sum", "max", "argmax", "matmul", "reshape",
    "reshape_like", "broadcast_to", "transpose", "slice", "reverse", "pad", "concat", "random_uniform", "gather",
    "scatter_add", "rnn", "lstm", "gru", "recurrent_backward", "conv", "reduce_window", "select_and_scatter_add",
    "pool_select", "pool_backward", "winograd_filter", "conv_winograd"))


def where(node: Node) -> str:
    """The node's place in the `.nn` text as a refusal names it: `line 12 of net.nn`, else its path."""
    span = node.span
    if span is None:
        return node.path
    return f"line {span.line}" + (f" of {span.file}" if getattr(span, "file", None) else "")


def what(graph: Graph, node: Node) -> str:
    """The op as a refusal names it: `div`, or `div on i64` where only its integer form is missing."""
    dtype = graph.type_of(node.outputs[0]).dtype if node.outputs else ""
    if node.op == "recurrent_backward":
        return f"recurrent_backward of {node.attr('kind')}"
    if node.op in OPS and node.op in FLOAT_ONLY and dtype not in ("f32", "f64"):
        return f"{node.op} on {dtype}"
    return node.op


def unsupported(graph: Graph) -> Node | None:
    """The first node the table cannot lower, or None."""
    for node in graph.nodes:
        if node.op not in OPS:
            return node
        if node.op in FLOAT_ONLY and graph.type_of(node.outputs[0]).dtype not in ("f32", "f64"):
            return node
        if len(node.outputs) != 1 and node.op not in ("rnn", "lstm", "gru", "recurrent_backward"):
            return node
    return None
