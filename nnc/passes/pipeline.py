"""The ordered pass list of each backend, and `prepare`, which runs it.

Building a graph is semantic and the same for every backend: elaboration,
then for a training step `expand_grads`, `training_mode` and autodiff
(nnc/train/step.py), for Monte-Carlo dropout `dropout_on`. What follows is
a backend's own preparation, one pure graph → graph function after another:

    (backend)      a backend's own passes on composites (`graph_passes`: llvm folds batchnorm)
    decompose      composites → the primitives the backend lowers (skipped by the oracle)
    broadcast      implicit broadcasts → broadcast_to (compiled backends; the oracle broadcasts itself)
    promote_dtypes binary ops on equal dtypes, with explicit casts
    fold_constants compile-time arithmetic on constants
    dead_code      nodes that reach no output

With verification on (NNC_VERIFY_PASSES=1, set in the tests) the full
verifier runs after every pass and names the pass that broke a graph.
"""
from __future__ import annotations

import os
from typing import Callable

from ..ir.graph import Graph
from .casts import promote_dtypes
from .dce import eliminate_dead_code
from .fold import fold_constants

Pass = Callable[[Graph], Graph]


def passes_for(backend) -> list[tuple[str, Pass]]:
    """The ordered (name, pass) list that prepares a graph for `backend`."""
    out: list[tuple[str, Pass]] = list(getattr(backend, "graph_passes", ()))  # a backend's own, first
    primitives = getattr(backend, "primitives", None)
    if primitives is not None:
        from .broadcast import explicit_broadcasts
        from .decompose import decompose
        out.append(("decompose", lambda g: decompose(g, primitives)))
        out.append(("broadcast", explicit_broadcasts))
    out += _common()
    return out


def _common() -> list[tuple[str, Pass]]:
    return [("promote_dtypes", promote_dtypes), ("fold_constants", fold_constants),
            ("dead_code", eliminate_dead_code)]


def verify_passes_default() -> bool:
    return os.environ.get("NNC_VERIFY_PASSES", "") not in ("", "0")


def prepare(graph: Graph, backend, verify_each: bool | None = None, signature=None) -> Graph:
    """`graph` after every pass of `backend`'s list, verified after each when asked (or in the tests).

    With a `signature`, verification also checks the graph against it: every port present with its type,
    and no node reading an input after the node that computes the value replacing it."""
    if verify_each is None:
        verify_each = verify_passes_default()
    if verify_each:
        _verify(graph, "building", signature)
    for name, run in passes_for(backend):
        graph = run(graph)
        if verify_each:
            _verify(graph, name, signature)
    return graph


def _verify(graph: Graph, after: str, signature) -> None:
    from ..ir.verify import InvalidGraph, verify, verify_updates
    try:
        verify(graph, full=True)
        if signature is not None:
            signature.check(graph)
            verify_updates(graph, signature)
    except InvalidGraph as e:
        raise InvalidGraph(f"after {after}: {e}") from None
