"""The numpy reference interpreter: the oracle every backend is checked against.

It walks a graph's nodes in order and calls each op's numpy reference. It
knows nothing about any op itself. Everything a run depends on is in the
graph and its inputs: training mode and dropout are decided when the graph is
built, and random numbers come from the key and counter inputs.

In strict mode (NNC_STRICT=1, on in the tests) every result is checked
against the dtype and shape the IR states for it, so a reference that
returns float64 where the IR says f32 is a bug found at once.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .ir.graph import Graph, Node
from .ir.types import TensorType, dim_str
from .ops import get as get_op

NP_DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "bool": np.bool_}


class RunError(Exception):
    """Bad inputs at run time: a missing array, a wrong dtype or shape."""


class StrictError(AssertionError):
    """The oracle computed a result whose dtype or shape differs from the IR's: a bug in an op."""


@dataclass
class Context:
    """What a reference function may need besides its inputs (nothing, today: the graph says it all)."""

    strict: bool = False


def strict_default() -> bool:
    return os.environ.get("NNC_STRICT", "") not in ("", "0")


def check_feed(graph: Graph, feeds: dict[str, np.ndarray]) -> tuple[dict[int, np.ndarray], dict[str, int]]:
    """Match named input arrays to the graph's inputs, checking dtype, rank and fixed sizes; returns the
    arrays by value id and the size symbols bound from their shapes."""
    env: dict[int, np.ndarray] = {}
    missing = [n for n, _ in graph.inputs if n not in feeds]
    if missing:
        raise RunError(f"missing input{'s' if len(missing) > 1 else ''}: " + ", ".join(missing))
    extra = [n for n in feeds if n not in dict(graph.inputs)]
    if extra:
        raise RunError(f"unknown input{'s' if len(extra) > 1 else ''}: " + ", ".join(extra)
                       + f" (inputs are: {', '.join(n for n, _ in graph.inputs)})")
    shapes = []
    for name, vid in graph.inputs:
        t = graph.type_of(vid)
        a = np.asarray(feeds[name])
        want = NP_DTYPES[t.dtype]
        if t.is_float and np.issubdtype(a.dtype, np.floating):
            a = a.astype(want, copy=False)
        elif t.is_int and np.issubdtype(a.dtype, np.integer):
            a = a.astype(want, copy=False)
        elif t.dtype == "bool" and a.dtype == np.bool_:
            pass
        else:
            raise RunError(f"input {name} must be {t.dtype}, found an array of {a.dtype}")
        shapes.append((name, t, a.shape))
        env[vid] = a
    from .ir.bind import BindError, bind_symbols
    try:
        bindings = bind_symbols(shapes)
    except BindError as e:
        raise RunError(str(e)) from None
    return env, bindings


def run_graph(graph: Graph, feeds: dict[str, np.ndarray], params: dict[str, np.ndarray],
              ctx: Context | None = None, outputs: list[str] | None = None,
              strict: bool | None = None) -> dict[str, np.ndarray]:
    if strict is None:
        strict = ctx.strict if ctx is not None else strict_default()
    ctx = ctx or Context(strict=strict)
    env, bindings = check_feed(graph, feeds)
    for p in graph.params:
        env[p.value.id] = params[p.name]
    for node in graph.nodes:
        op = get_op(node.op)
        if op.reference is None:
            raise RunError(f"{node.op} at line {node.span.line if node.span else '?'} has no numpy reference yet")
        results = op.reference([env[i] for i in node.inputs], node.attr_dict, ctx)
        for vid, value in zip(node.outputs, results):
            env[vid] = value
            if strict:
                _check_result(node, graph.type_of(vid), value, bindings)
    names = outputs or [n for n, _ in graph.outputs]
    out_ids = dict(graph.outputs)
    return {n: env[out_ids[n]] for n in names}


def _size(d, bindings: dict[str, int]) -> int | None:
    """A dimension's size under the bindings (the one evaluator, eval_dim); None when a symbol is unbound."""
    from .ir.types import UnboundSymbol, eval_dim
    try:
        return eval_dim(d, bindings)
    except UnboundSymbol:
        return None


def _check_result(node: Node, t: TensorType, value, bindings: dict[str, int]) -> None:
    where = f"{node.op} at {node.path}" + (f" (line {node.span.line})" if node.span else "")
    a = np.asarray(value)
    if not isinstance(value, np.ndarray) and not isinstance(value, np.generic):
        raise StrictError(f"{where} returned {type(value).__name__}, not an array")
    if a.dtype != NP_DTYPES[t.dtype]:
        raise StrictError(f"{where} returned {a.dtype} where the IR says {t}")
    if a.ndim != t.rank:
        raise StrictError(f"{where} returned shape {list(a.shape)} where the IR says {t}")
    for axis, (d, n) in enumerate(zip(t.shape, a.shape)):
        want = _size(d, bindings)
        if want is not None and want != n:
            raise StrictError(f"{where} returned shape {list(a.shape)} where the IR says {t} "
                              f"(axis {axis}: {dim_str(d)} = {want})")
