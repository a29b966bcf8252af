"""What the LLVM backend makes of a model or a training step at one batch size, without generating code.

`nnc stats --backend llvm` reports the memory plan (bytes of parameters, state, the arena of activations,
what the scratch buffers would take without reuse); `nnc compile --target llvm --explain` lists the
kernels with the primitives fused into each, its loop sizes and the `.nn` lines they came from. Both read
the same lowering and plan a compiled variant is built from (`LlvmExecutable.lower`), so the numbers are
those of the code that runs.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...ir.graph import Graph
from ...ir.types import symbols_of
from ..base import Role, Signature
from .loops import Kernel, Matmul, Reduce, ScatterRows
from .plan import ALIGN

STATE_ROLES = (Role.STATE, Role.SLOT, Role.STEP, Role.KEY)


@dataclass(frozen=True)
class KernelInfo:
    name: str                           # the kernel's function in the LLVM module (k3_add)
    kind: str                           # Store, Reduce, Matmul, WindowPick, ScatterRows
    ops: tuple[str, ...]                # the primitives fused into it, in graph order
    loops: tuple[int, ...]              # its iteration space (a matmul: rows, columns, then the inner size)
    lines: tuple[tuple[str, int], ...]  # the `.nn` (file, line) pairs of those primitives

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "ops": list(self.ops), "loops": list(self.loops),
                "lines": [{"file": f, "line": n} for f, n in self.lines]}

    def text(self) -> str:
        where = ", ".join(f"{f}:{n}" for f, n in self.lines) or "(no source line)"
        return f"{self.name}  {self.kind} {'x'.join(map(str, self.loops)) or 'scalar'}  {' + '.join(self.ops)}  {where}"


@dataclass(frozen=True)
class Report:
    what: str
    batch: int
    cpu: str
    params_bytes: int      # trainable parameters
    state_bytes: int       # non-trainable state, optimiser slots, counters
    update_bytes: int      # the second buffer of every updated input (updates commit by swapping)
    activation_bytes: int  # the arena: every intermediate, buffers shared by liveness
    scratch_bytes: int     # what the intermediates would take without sharing
    kernels: tuple[KernelInfo, ...]

    def plan_json(self) -> dict:
        return {"backend": "llvm", "batch": self.batch, "cpu": self.cpu, "params_bytes": self.params_bytes,
                "state_bytes": self.state_bytes, "update_bytes": self.update_bytes,
                "activation_bytes": self.activation_bytes, "scratch_bytes": self.scratch_bytes,
                "alignment": ALIGN, "kernels": len(self.kernels)}


def model_graph(graph: Graph) -> tuple[Graph, Signature]:
    """The graph and signature `nnc.load(...).model(name, backend="llvm")` compiles for a model."""
    from ...api import _counted
    from ...passes.training import RANDOM_OPS, expand_grads, random_on
    from .. import inference_signature
    if any(n.op == "grad" for n in graph.nodes):
        graph = expand_grads(graph)
    if any(n.op in RANDOM_OPS for n in graph.nodes):
        return _counted(random_on(graph))
    return graph, inference_signature(graph)


def step_graph(info) -> tuple[Graph, Signature]:
    """The graph and signature of one training step of a train block (what `nnc train` compiles)."""
    from ...train.step import build_step
    step = build_step(info)
    return step.graph, step.signature


def report(graph: Graph, signature: Signature, what: str, batch: int = 1, cpu: str | None = None) -> Report:
    """Lower `graph` for every size symbol bound to `batch` and plan its arena (no LLVM code is made)."""
    from ...passes.pipeline import prepare
    from . import BACKEND
    exe = BACKEND.compile(prepare(graph, BACKEND, signature=signature), signature,
                          options={"cpu": cpu} if cpu else None)
    symbols = set().union(*(symbols_of(d) for p in list(signature.inputs) + list(signature.outputs)
                            for d in p.type.shape))
    lw, plan = exe.lower({s: batch for s in sorted(symbols)})

    def nbytes(roles) -> int:
        return sum(_bytes(exe, p) for p in signature.inputs if p.role in roles)

    updated = {p.replaces for p in signature.outputs if p.replaces is not None}
    return Report(what, batch, exe.host.cpu, nbytes((Role.PARAM,)), nbytes(STATE_ROLES),
                  sum(_bytes(exe, p) for p in signature.inputs if p.name in updated),
                  plan.arena_bytes, plan.scratch_bytes, tuple(_info(n, k) for n, k in enumerate(lw.kernels)))


def _bytes(exe, port) -> int:
    from .loops import DTYPE_BYTES, numel
    return max(numel(exe._shape(port.type, {})), 1) * DTYPE_BYTES[port.type.dtype]


def _info(n: int, k: Kernel) -> KernelInfo:
    from .emit import _ident
    if isinstance(k, Matmul):
        loops = tuple(k.target.shape) + (k.a.shape[-1],)
    elif isinstance(k, Reduce):
        loops = tuple(k.src.shape)
    elif isinstance(k, ScatterRows):
        loops = tuple(k.up.shape)
    else:
        loops = tuple(k.target.shape)
    ops = tuple(n.op for n in k.nodes if n.op != "constant") or (k.origin,)
    lines = sorted({(n.span.file, n.span.line) for n in k.nodes if n.span is not None})
    return KernelInfo(f"k{n}_{_ident(k.origin)}", type(k).__name__, ops, loops, tuple(lines))


def model_report(info, batch: int = 1, cpu: str | None = None) -> Report:
    """The plan and kernels of a checked model (`result.models[name]`) at `batch`."""
    graph, signature = model_graph(info.graph)
    return report(graph, signature, f"model {info.name}", batch, cpu)


def train_report(info, batch: int = 1, cpu: str | None = None) -> Report:
    """The plan and kernels of one training step of a checked train block at `batch`."""
    graph, signature = step_graph(info)
    return report(graph, signature, f"train {info.name} (one step)", batch, cpu)


def plan_text(r: Report) -> str:
    """The memory plan in one line, as `nnc stats --backend llvm` prints it under a model's table."""
    from ...stats import human_bytes
    return (f"llvm plan at batch {r.batch} (cpu {r.cpu}): parameters {human_bytes(r.params_bytes)}, "
            f"state {human_bytes(r.state_bytes)}, activations {human_bytes(r.activation_bytes)} in one arena "
            f"({human_bytes(r.scratch_bytes)} without reuse), {ALIGN}-byte aligned, {len(r.kernels)} kernels")


def explain_text(r: Report) -> str:
    """`nnc compile --target llvm --explain`: a heading, then one line per kernel in the order they run."""
    head = (f"{r.what} at batch {r.batch} (cpu {r.cpu}): {len(r.kernels)} kernels, "
            f"arena {r.activation_bytes} bytes")
    return "\n".join([head] + ["  " + k.text() for k in r.kernels])
