"""`nnc verify`: run a program's models and training steps on the numpy oracle and on another backend,
and say whether they agree — or which node first diverges, with its `.nn` line and the largest error.

Both run the same *probe* graph: the program's graph with every intermediate
value added as a reported output, so a compiled backend's result can be
compared with the oracle value by value, in graph order, through nothing but
the backend interface. Inputs are seeded random arrays (integers in {0, 1},
valid labels and token ids for any layer), parameters the seeded
initialisation every backend shares; a train block runs `steps` steps.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .backends import Port, Role, Signature, inference_signature, resolve
from .init import initialize
from .interp import NP_DTYPES
from .ir.graph import Graph
from .ir.types import eval_dim, symbols_of
from .passes.pipeline import prepare

PROBE = "probe/"


@dataclass
class Divergence:
    node: str  # the node's path
    op: str
    line: int | None
    file: str | None
    max_abs: float
    max_rel: float


@dataclass
class Result:
    kind: str  # "model" | "train"
    name: str
    agrees: bool
    values: int  # how many values were compared
    max_abs: float
    max_rel: float
    divergence: Divergence | None = None
    error: str | None = None
    extra: dict = field(default_factory=dict)

    def json(self) -> dict:
        out = {"kind": self.kind, "name": self.name, "agrees": self.agrees, "values": self.values,
               "max_abs_error": self.max_abs, "max_rel_error": self.max_rel}
        if self.divergence:
            d = self.divergence
            out["first_divergence"] = {"node": d.node, "op": d.op, "file": d.file, "line": d.line,
                                       "max_abs_error": d.max_abs, "max_rel_error": d.max_rel}
        if self.error:
            out["error"] = self.error
        return out


def with_probes(graph: Graph, signature: Signature) -> tuple[Graph, Signature, dict[str, object]]:
    """The graph with every node's float or integer outputs reported as probe/K; K -> the node."""
    import dataclasses
    outputs = list(graph.outputs)
    ports = list(signature.outputs)
    nodes: dict[str, object] = {}
    for node in graph.nodes:
        for vid in node.outputs:
            t = graph.type_of(vid)
            if t.dtype == "bool":
                continue
            name = f"{PROBE}{len(nodes)}"
            nodes[name] = node
            outputs.append((name, vid))
            ports.append(Port(name, Role.REPORT, t))
    return (dataclasses.replace(graph, outputs=tuple(outputs)),
            Signature(signature.inputs, tuple(ports)), nodes)


def random_inputs(graph: Graph, names, seed: int, batch: int) -> dict[str, np.ndarray]:
    """Seeded inputs: the first symbol is the batch, every other symbol 16; floats normal, integers 0 or 1."""
    rng = np.random.default_rng([seed, 0x7E51F7])
    types = {n: graph.type_of(v) for n, v in graph.inputs if n in names}
    bindings: dict[str, int] = {}
    for t in types.values():
        for d in t.shape:
            for s in sorted(symbols_of(d)):
                bindings.setdefault(s, batch if not bindings else 16)
    out = {}
    for name, t in types.items():
        shape = tuple(eval_dim(d, bindings) for d in t.shape)
        if t.is_float:
            out[name] = rng.normal(size=shape).astype(NP_DTYPES[t.dtype])
        else:
            out[name] = rng.integers(0, 2, shape).astype(NP_DTYPES[t.dtype])
    return out


def _errors(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf"), float("inf")
    if a.size == 0:
        return 0.0, 0.0
    both_nan = np.isnan(a) & np.isnan(b)
    diff = np.where(both_nan, 0.0, np.abs(a - b))
    diff = np.where(np.isinf(a) & (a == b), 0.0, diff)
    rel = np.where(both_nan, 0.0, diff / np.maximum(np.abs(a), 1.0))  # NaN on both sides agrees
    return float(np.nanmax(np.where(np.isnan(diff), np.inf, diff))), float(np.nanmax(np.where(np.isnan(rel), np.inf,
                                                                                              rel)))


def compare(graph: Graph, signature: Signature, state: dict, feeds_per_call: list[dict], backend, device: str,
            rtol: float, kind: str, name: str) -> Result:
    """Run the probe graph on the oracle and on `backend`, call by call; the first divergence in graph order."""
    probed, sig, nodes = with_probes(graph, signature)
    oracle_backend = resolve("numpy")
    runs = []
    for b in (oracle_backend, backend):
        exe = b.compile(prepare(probed, b), sig, device=device)
        exe.load_state(state)
        runs.append([exe(**feeds) for feeds in feeds_per_call])
    worst_abs = worst_rel = 0.0
    count = 0
    for want_call, got_call in zip(*runs):
        for port in sig.outputs:  # the program's own reports first, then the probes in graph order
            if port.role is not Role.REPORT:
                continue
            abs_err, rel_err = _errors(want_call[port.name], got_call[port.name])
            count += 1
            worst_abs, worst_rel = max(worst_abs, abs_err), max(worst_rel, rel_err)
    agrees = worst_rel <= rtol
    divergence = None
    if not agrees:
        for want_call, got_call in zip(*runs):
            for probe, node in nodes.items():
                abs_err, rel_err = _errors(want_call[probe], got_call[probe])
                if rel_err > rtol:
                    divergence = Divergence(node.path, node.op, node.span.line if node.span else None,
                                            node.span.file if node.span else None, abs_err, rel_err)
                    break
            if divergence:
                break
    return Result(kind, name, agrees, count, worst_abs, worst_rel, divergence)


def verify_model(graph: Graph, backend, device: str = "cpu", seed: int = 0, batch: int = 2,
                 rtol: float = 1e-4) -> Result:
    if any(n.op == "grad" for n in graph.nodes):
        from .passes.training import expand_grads
        graph = expand_grads(graph)
    sig = inference_signature(graph)
    feeds = random_inputs(graph, sig.data, seed, batch)
    return compare(graph, sig, initialize(graph.params, seed), [feeds], backend, device, rtol, "model", graph.name)


def verify_train(info, backend, device: str = "cpu", seed: int = 0, batch: int = 2, steps: int = 2,
                 rtol: float = 1e-4) -> Result:
    from .passes.training import KEY_INPUT, STEP_INPUT
    from .train.step import build_step
    step = build_step(info)
    graph, sig = step.graph, step.signature
    state = initialize(graph.params, seed)
    state.update({p.name: np.zeros(tuple(int(d) for d in p.type.shape), NP_DTYPES[p.type.dtype])
                  for p in sig.inputs_of(Role.SLOT)})
    state[KEY_INPUT] = np.asarray(seed, np.int64)
    state[STEP_INPUT] = np.asarray(0, np.int64)
    feeds = [random_inputs(graph, sig.data, seed + k, batch) for k in range(steps)]
    return compare(graph, sig, state, feeds, backend, device, rtol, "train", info.name)


def verify_program(result, backend_name: str, device: str = "cpu", model: str | None = None,
                   train: str | None = None, seed: int = 0, batch: int = 2, rtol: float = 1e-4) -> list[Result]:
    """Every model and train block of a checked program (or the one named), oracle against `backend_name`."""
    backend = resolve(backend_name, device)
    out = []
    models = [model] if model else ([] if train else list(result.models))
    trains = [train] if train else ([] if model else list(result.trains))
    for name in models:
        out.append(_guard("model", name, lambda: verify_model(result.models[name].graph, backend, device, seed,
                                                              batch, rtol)))
    for name in trains:
        out.append(_guard("train", name, lambda: verify_train(result.trains[name], backend, device, seed, batch,
                                                              rtol=rtol)))
    return out


def _guard(kind: str, name: str, run) -> Result:
    """A backend that cannot compile or run a graph is a finding of its own, not a crash of nnc verify."""
    from .backends import BackendUnavailable
    from .interp import RunError
    try:
        return run()
    except (BackendUnavailable, RunError, NotImplementedError) as e:
        return Result(kind, name, False, 0, float("nan"), float("nan"), error=str(e))


def format_result(r: Result, backend: str) -> str:
    what = f"{r.kind} {r.name}"
    if r.error:
        return f"{what}: the {backend} backend could not run it: {r.error}"
    if r.agrees:
        return f"{what}: agrees with numpy ({r.values} values, largest relative error {r.max_rel:.2g})"
    d = r.divergence
    where = f" at {d.node} ({d.op}, {d.file}:{d.line})" if d else ""
    first = f"; max abs error {d.max_abs:.3g}, relative {d.max_rel:.3g}" if d else ""
    return f"{what}: DIVERGES{where}{first}"
