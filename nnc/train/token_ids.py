"""Token ids against the vocabularies of the embeddings they feed, checked before anything runs.

An id at or above an embedding's vocabulary (or below 0) has no row to look
up. `nnc train` checks the data when it is loaded (as it checks labels
against the class count), and `nnc run` checks its inputs, so the message
names the array, the bad id and the vocabulary instead of failing inside a
step.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..ir.graph import Graph

# ops that pass integer ids through unchanged (only rearranged), so an input reaching an embedding through
# them is still a token id
_PASS_THROUGH = frozenset({"reshape", "flatten", "slice", "last", "concat", "transpose", "stop_gradient",
                           "reverse", "reshape_like"})


@dataclass(frozen=True)
class Vocabulary:
    size: int  # the smallest vocabulary among the embeddings the input feeds
    line: int | None  # where that embedding is called


def embedding_vocabularies(graph: Graph) -> dict[str, Vocabulary]:
    """For each integer input of `graph` that feeds an embedding, the vocabulary its ids must fit."""
    inputs = {vid: name for name, vid in graph.inputs}
    producer = {o: n for n in graph.nodes for o in n.outputs}
    out: dict[str, Vocabulary] = {}
    for node in graph.nodes:
        if node.op != "embedding":
            continue
        size = node.attr("vocab")
        todo, seen = [node.inputs[0]], set()
        while todo:
            vid = todo.pop()
            if vid in seen:
                continue
            seen.add(vid)
            if vid in inputs:
                name = inputs[vid]
                if name not in out or size < out[name].size:
                    out[name] = Vocabulary(size, node.span.line if node.span else None)
                continue
            source = producer.get(vid)
            if source is not None and source.op in _PASS_THROUGH:
                todo.extend(i for i in source.inputs if graph.values[i].type.is_int)
    return out


def token_id_problem(arrays: Mapping[str, object], vocab: Mapping[str, Vocabulary], where) -> str | None:
    """A message for the first array holding an id outside its vocabulary, or None when all fit.

    where(name) names the array in the message ("data.npz: array 'tokens'", "input tokens").
    """
    import numpy as np
    for name, v in vocab.items():
        a = arrays.get(name)
        if a is None:
            continue
        a = np.asarray(a)
        if a.size == 0 or a.dtype.kind not in "iu":
            continue
        outside = (a < 0) | (a >= v.size)
        if not outside.any():
            continue
        bad = int(a[outside].flat[0])
        count = int(np.count_nonzero(outside))
        at = f" (line {v.line})" if v.line is not None else ""
        outside_count = f"{count:,} {'id does' if count == 1 else 'ids do'} not"
        return (f"{where(name)} holds token id {bad}, outside the vocabulary of {v.size} of the embedding it "
                f"feeds{at}: ids must lie in 0..{v.size - 1} ({outside_count}); enlarge the embedding's "
                "vocabulary or map unknown tokens to an id below it")
    return None
