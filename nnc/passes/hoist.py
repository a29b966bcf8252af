"""Work on parameters done once at load time: an inference graph split into a prepare part and a per-call part.

In a graph whose parameters and state do not change during a call (inference: no update outputs), every
node that reads only parameters, state and constants gives the same result on every call: batchnorm's
scale w / sqrt(var + eps), filters and biases with a folded batchnorm in them (fold_batchnorm.py). `split_static` cuts such a graph in two:

    prepare   inputs: the parameters (as data); outputs: the derived tensors the per-call part reads
    run       the graph with those tensors as non-trainable state (`Parameter`s named "hoisted:<k>/...")

An executable runs `prepare` when the parameters change (load_state, `.params[...] = `) and keeps its
outputs in buffers of its own; every call runs `run` only. The per-call results are those of the whole
graph (the same kernels compute the same values, earlier).

Not hoisted: nodes whose result depends on a size symbol (the batch), index-only views at the border
(reshape, broadcast_to, transpose, which the lowering folds into the reading loop: materialising them
would cost memory and traffic, not save work; see VIEWS), and nodes giving a graph output (a derived
tensor is never an output). A graph whose hoisted part would be views alone is not split.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..backends.base import Port, Role, Signature
from ..ir.graph import Graph, Parameter
from ..ir.types import symbols_of
from .dce import eliminate_dead_code

# left per call where their result is read per call: the lowering folds them into the reading loop, and a
# matmul reads a transposed weight where it lies (the GEMM library's dot path): a hoisted copy would change
# the kernel the product runs in (measured slower at batch 1) and its rounding. The C library runs the same
# prepare step (aot/entry.py: a second entry point), so its bits follow whatever is decided here; only the
# speed measurement keeps views per call.
VIEWS = frozenset({"reshape", "broadcast_to", "transpose"})
NEVER = frozenset({"rand", "randn", "dropout_mask", "dropout"})  # draws: never computed ahead


@dataclass(frozen=True)
class Split:
    prepare: Graph
    prepare_signature: Signature
    run: Graph
    run_signature: Signature
    derived: tuple[str, ...]  # the names of the derived tensors (prepare's outputs, run's extra state)


def split_static(graph: Graph, signature: Signature) -> Split | None:
    """The prepare and per-call graphs of an inference graph, or None when nothing is worth hoisting
    (updates in the signature, or no node computing from parameters alone)."""
    if signature.updates:
        return None
    held = {p.name for p in signature.inputs if p.role in (Role.PARAM, Role.STATE)}
    roots = {p.value.id for p in graph.params if p.name in held}
    static: set[int] = set(roots)      # values computed from parameters, state and constants only
    from_params: set[int] = set(roots)  # ... and from at least one parameter
    static_nodes = []   # nodes computing from parameters: the candidates
    constant_nodes = []  # nodes computing from constants alone (prepare needs them too; they stay per call)
    for n in graph.nodes:
        if n.op in NEVER or not all(i in static for i in n.inputs):
            continue
        if any(symbols_of(d) for o in n.outputs for d in graph.type_of(o).shape):
            continue
        static.update(n.outputs)
        if any(i in from_params for i in n.inputs):
            from_params.update(n.outputs)
            static_nodes.append(n)
        else:
            constant_nodes.append(n)
    if not static_nodes:
        return None
    readers: dict[int, list] = {}
    for n in graph.nodes:
        for i in n.inputs:
            readers.setdefault(i, []).append(n)
    outputs = {v for _, v in graph.outputs}
    hoisted_ids = {id(n) for n in static_nodes}
    # per call after all: views read per call, and nodes giving graph outputs (last to first)
    for n in reversed(static_nodes):
        per_call = [r for o in n.outputs for r in readers.get(o, []) if id(r) not in hoisted_ids]
        if any(o in outputs for o in n.outputs) or (n.op in VIEWS and per_call):
            hoisted_ids.discard(id(n))
    hoisted = [n for n in static_nodes if id(n) in hoisted_ids]
    border = []  # hoisted values read by a per-call node: the derived tensors
    for n in hoisted:
        for o in n.outputs:
            if any(id(r) not in hoisted_ids for r in readers.get(o, [])):
                border.append((n, o))
    if not border:
        return None
    names = tuple(f"hoisted:{k}/{n.path}" for k, (n, _) in enumerate(border))
    by_value = graph.param_by_value()
    used_params = sorted({i for n in static_nodes for i in n.inputs if i in by_value})
    prep = {id(n) for n in static_nodes + constant_nodes}
    prepare = Graph(f"{graph.name}.prepare", tuple((by_value[i].name, i) for i in used_params),
                    tuple((name, o) for name, (_, o) in zip(names, border)), (), tuple(n for n in graph.nodes if id(n) in prep),
                    dict(graph.values))  # views left per call may feed hoisted nodes too: every static node
    prepare = _trim(eliminate_dead_code(prepare))
    prepare_sig = Signature(tuple(Port(by_value[i].name, Role.DATA, graph.type_of(i)) for i in used_params),
                            tuple(Port(name, Role.REPORT, graph.type_of(o)) for name, (_, o) in zip(names, border)))
    derived = tuple(Parameter(name, graph.values[o], "zeros", False, n.scope) for name, (n, o) in zip(names, border))
    run = dataclasses.replace(graph, params=graph.params + derived,
                              nodes=tuple(n for n in graph.nodes if id(n) not in hoisted_ids))
    run = _trim(eliminate_dead_code(run))
    run_sig = Signature(signature.inputs + tuple(Port(p.name, Role.STATE, p.value.type) for p in derived),
                        signature.outputs)
    return Split(prepare, prepare_sig, run, run_sig, names)


def _trim(graph: Graph) -> Graph:
    """`graph` with only the values its inputs, parameters and nodes name."""
    used = {v for _, v in graph.inputs} | {v for _, v in graph.outputs} | {p.value.id for p in graph.params} \
        | {i for n in graph.nodes for i in n.inputs + n.outputs}
    return dataclasses.replace(graph, values={k: v for k, v in graph.values.items() if k in used})
