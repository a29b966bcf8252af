"""The numpy reference interpreter: the oracle every backend is checked against.

It walks a graph's nodes in order and calls each op's numpy reference. It
knows nothing about any op itself.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .ir.graph import Graph
from .ir.types import eval_dim
from .ops import get as get_op

NP_DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "bool": np.bool_}


class RunError(Exception):
    """Bad inputs at run time: a missing array, a wrong dtype or shape."""


@dataclass
class Context:
    """What a reference function may need besides its inputs.

    Training graphs have dropout and batchnorm rewritten already (nnc/passes/training.py); `training`
    only switches the dropout masks on.
    """

    training: bool = False
    mc_dropout: bool = False
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))


def check_feed(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
    """Match named input arrays to the graph's inputs, checking dtype, rank and fixed sizes."""
    env: dict[int, np.ndarray] = {}
    missing = [n for n, _ in graph.inputs if n not in feeds]
    if missing:
        raise RunError(f"missing input{'s' if len(missing) > 1 else ''}: " + ", ".join(missing))
    extra = [n for n in feeds if n not in dict(graph.inputs)]
    if extra:
        raise RunError(f"unknown input{'s' if len(extra) > 1 else ''}: " + ", ".join(extra)
                       + f" (inputs are: {', '.join(n for n, _ in graph.inputs)})")
    bindings: dict[str, int] = {}
    for name, vid in graph.inputs:
        t = graph.type_of(vid)
        a = np.asarray(feeds[name])
        want = NP_DTYPES[t.dtype]
        if t.is_float and np.issubdtype(a.dtype, np.floating):
            a = a.astype(want, copy=False)
        elif t.is_int and np.issubdtype(a.dtype, np.integer):
            a = a.astype(want, copy=False)
        else:
            raise RunError(f"input {name} must be {t.dtype}, found an array of {a.dtype}")
        if a.ndim != t.rank:
            raise RunError(f"input {name} must be {t} (rank {t.rank}), found shape {list(a.shape)}")
        for axis, (d, n) in enumerate(zip(t.shape, a.shape)):
            if isinstance(d, int):
                if d != n:
                    raise RunError(f"input {name} must be {t}, found shape {list(a.shape)} (axis {axis})")
            elif len(d.terms) == 1 and len(d.terms[0][0]) == 1 and d.terms[0][1] == 1:
                sym = d.terms[0][0][0]
                if bindings.setdefault(sym, n) != n:
                    raise RunError(f"input {name}: {sym} is {bindings[sym]} elsewhere, {n} here")
        env[vid] = a
    return env


def run_graph(graph: Graph, feeds: dict[str, np.ndarray], params: dict[str, np.ndarray],
              ctx: Context | None = None, outputs: list[str] | None = None) -> dict[str, np.ndarray]:
    ctx = ctx or Context()
    env = check_feed(graph, feeds)
    for p in graph.params:
        env[p.value.id] = params[p.name]
    for node in graph.nodes:
        op = get_op(node.op)
        if op.reference is None:
            raise RunError(f"{node.op} at line {node.span.line if node.span else '?'} has no numpy reference yet")
        results = op.reference([env[i] for i in node.inputs], node.attr_dict, ctx)
        for vid, value in zip(node.outputs, results):
            env[vid] = value
    names = outputs or [n for n, _ in graph.outputs]
    out_ids = dict(graph.outputs)
    return {n: env[out_ids[n]] for n in names}
