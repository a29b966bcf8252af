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
    bindings = {s: batch for s in sorted(symbols)}
    lw, plan = exe.lower(bindings)

    def nbytes(roles) -> int:
        return sum(_bytes(exe, p) for p in signature.inputs if p.role in roles)

    updated = {p.replaces for p in signature.outputs if p.replaces is not None}
    return Report(what, batch, exe.host.cpu, nbytes((Role.PARAM,)), nbytes(STATE_ROLES),
                  sum(_bytes(exe, p) for p in signature.inputs if p.name in updated),
                  plan.arena_bytes, plan.scratch_bytes, tuple(_info(n, k, bindings) for n, k in enumerate(lw.kernels)))


def _bytes(exe, port) -> int:
    from .loops import DTYPE_BYTES, numel
    return max(numel(exe._shape(port.type, {})), 1) * DTYPE_BYTES[port.type.dtype]


def _info(n: int, k: Kernel, bindings: dict[str, int]) -> KernelInfo:
    from .dims import evaluate
    from .emit import _ident
    if isinstance(k, Matmul):
        loops = tuple(k.target.shape) + (k.a.shape[-1],)
    elif isinstance(k, Reduce):
        loops = tuple(k.src.shape)
    elif isinstance(k, ScatterRows):
        loops = tuple(k.up.shape)
    else:
        loops = tuple(k.target.shape)
    loops = tuple(evaluate(d, bindings) for d in loops)  # sizes are run-time polynomials: at this batch
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


# -- `nnc stats --backend llvm --profile`: where a call's time goes, kernel by kernel -----------------------

PEAK_NAMESPACE = "llvm-peak"
PEAK_VERSION = "1"   # bump when the peak kernel or its measurement changes
CHAINS = 12          # independent FMA chains: enough to cover the FMA latency on two ports


@dataclass(frozen=True)
class Peak:
    """The machine's measured FMA throughput in GFLOP/s (a multiply-add counts two), one core and all."""
    one_core: float
    all_cores: float
    cores: int

    def to_json(self) -> dict:
        return {"one_core_gflops": round(self.one_core, 1), "all_cores_gflops": round(self.all_cores, 1),
                "cores": self.cores}


@dataclass(frozen=True)
class ProfileRow:
    kernel: KernelInfo
    seconds: float   # per call
    flops: int       # per call

    @property
    def gflops(self) -> float:
        return self.flops / self.seconds / 1e9 if self.seconds > 0 else 0.0

    def to_json(self, peak: Peak) -> dict:
        return self.kernel.to_json() | {"us_per_call": round(self.seconds * 1e6, 4), "flops": self.flops,
                                        "gflops": round(self.gflops, 3),
                                        "peak_share": round(self.gflops / peak.all_cores, 5)}


@dataclass(frozen=True)
class Profile:
    what: str
    batch: int
    cpu: str
    calls: int
    call_seconds: float     # median wall time of one whole call (perf_counter around Executable.__call__)
    cycles_per_second: float
    peak: Peak
    rows: tuple[ProfileRow, ...]  # most expensive first

    @property
    def kernel_seconds(self) -> float:
        return sum(r.seconds for r in self.rows)

    @property
    def flops(self) -> int:
        return sum(r.flops for r in self.rows)

    def to_json(self) -> dict:
        total = self.kernel_seconds
        return {"batch": self.batch, "cpu": self.cpu, "calls": self.calls,
                "call_us": round(self.call_seconds * 1e6, 3), "kernels_us": round(total * 1e6, 3),
                "flops": self.flops, "gflops": round(self.flops / total / 1e9, 3) if total > 0 else 0.0,
                "cycles_per_second": round(self.cycles_per_second), "peak": self.peak.to_json(),
                "kernels": [r.to_json(self.peak) for r in self.rows]}


def kernel_flops(k: Kernel, bindings: dict[str, int] | None = None) -> int:
    """Floating-point operations of one run of a kernel at `bindings` (its sizes may be polynomials in the
    size symbols): 2·M·N·K for a matmul (batch axes included), else the elements it computes times the
    arithmetic operations fused per element (a reduction adds one per element it reads; pooling's winners
    one comparison per window element; a row scatter one add). A kernel of a run-time step loop (a
    recurrent layer's steps, a convolution's images) counts once per step."""
    from .dims import evaluate
    from .loops import WindowPick

    def size(shape) -> int:
        n = 1
        for d in shape:
            n *= evaluate(d, bindings or {})
        return n
    steps = evaluate(k.loop.count, bindings or {}) if k.loop is not None else 1
    if isinstance(k, Matmul):
        return 2 * size(k.target.shape) * size(k.a.shape[-1:]) * steps
    if isinstance(k, Reduce):
        return size(k.src.shape) * (1 + _maps(k.src)) * steps
    if isinstance(k, WindowPick):
        return size(k.target.shape if k.mode == "select" else k.other.shape) * size(k.kernel) * steps
    if isinstance(k, ScatterRows):
        return size(k.up.shape) * (1 + _maps(k.up)) * steps
    from .loops import Store
    stores = k.stores if isinstance(k, Store) else ((k.target, k.expr),) if getattr(k, "expr", None) else ()
    if not stores:
        return 0
    seen: set[int] = set()  # a fused Store computes a node its values share once (emission memoises by node)
    return size(k.target.shape) * sum(_maps(x, seen) for _, x in stores) * steps


def _maps(x, seen: set[int] | None = None) -> int:
    """Arithmetic operations per element of an index expression (its Map nodes, each once; views and loads
    are free)."""
    from .loops import Affine, Gather, Map, Pad, Window
    seen = set() if seen is None else seen
    if id(x) in seen:
        return 0
    seen.add(id(x))
    if isinstance(x, Map):
        return 1 + sum(_maps(a, seen) for a in x.args)
    if isinstance(x, (Affine, Pad, Window)):
        return _maps(x.src, seen)
    if isinstance(x, Gather):
        return _maps(x.table, seen)
    return 0


def profile(graph: Graph, signature: Signature, what: str, batch: int = 1, calls: int = 20, seed: int = 0,
            cpu: str | None = None) -> Profile:
    """Compile `graph` with the `profile` option (cycle counts per kernel), run one warm-up call and `calls`
    timed calls on seeded random inputs (every size symbol bound to `batch`), and attribute the cycles to
    the kernels of the lowering, converted to seconds by the cycle counter's measured rate: per kernel the
    median over the calls, so a call that another process preempted does not count."""
    import statistics
    import time

    import numpy as np

    from ...init import initialize
    from ...interp import NP_DTYPES
    from ...passes.pipeline import prepare
    from . import BACKEND
    options = {"profile": True} | ({"cpu": cpu} if cpu else {})
    exe = BACKEND.compile(prepare(graph, BACKEND, signature=signature), signature, options=options)
    symbols = set().union(*(symbols_of(d) for p in list(signature.inputs) + list(signature.outputs)
                            for d in p.type.shape))
    bindings = {s: batch for s in sorted(symbols)}
    values = initialize(graph.params, seed)
    for p in signature.inputs:
        if p.role in STATE_ROLES + (Role.PARAM,) and p.name not in values:  # slots, counters, key: zeros
            values[p.name] = np.zeros(exe._shape(p.type, bindings), NP_DTYPES[p.type.dtype])
    exe.load_state({p.name: values[p.name] for p in signature.inputs if p.role is not Role.DATA})
    rng = np.random.default_rng([seed, 0x9F0F11E])
    feeds = {}
    for p in signature.inputs:
        if p.role is Role.DATA:
            shape = exe._shape(p.type, bindings)
            feeds[p.name] = (rng.normal(size=shape).astype(NP_DTYPES[p.type.dtype]) if p.type.is_float
                             else rng.integers(0, 2, shape).astype(NP_DTYPES[p.type.dtype]))
    exe(**feeds)  # compiles; its cycles are left out below
    walls, deltas = [], []
    before = _cycles(exe.profile_table())
    for _ in range(calls):
        start = time.perf_counter()
        exe(**feeds)
        walls.append(time.perf_counter() - start)
        after = _cycles(exe.profile_table())
        deltas.append({n: c - before.get(n, 0) for n, c in after.items()})
        before = after
    rate = cycles_per_second()
    lw, _ = exe.lower(bindings)
    # per kernel, the median over calls: one call preempted by another process does not count
    rows = [ProfileRow(_info(n, k, bindings), statistics.median(d.get(n, 0) for d in deltas) / rate,
                       kernel_flops(k, bindings)) for n, k in enumerate(lw.kernels)]
    rows.sort(key=lambda r: (-r.seconds, r.kernel.name))
    return Profile(what, batch, exe.host.cpu, calls, statistics.median(walls), rate, peak(), tuple(rows))


def _cycles(table) -> dict[int, int]:
    """Cycles per kernel index from `Executable.profile_table()` rows ("k3_conv2d ...", cycles)."""
    import re
    out: dict[int, int] = {}
    for name, cycles in table:
        m = re.match(r"k(\d+)_", name)
        if m:
            out[int(m.group(1))] = out.get(int(m.group(1)), 0) + int(cycles)
    return out


def model_profile(info, batch: int = 1, calls: int = 20, cpu: str | None = None) -> Profile:
    graph, signature = model_graph(info.graph)
    return profile(graph, signature, f"model {info.name}", batch, calls, cpu=cpu)


def train_profile(info, batch: int = 1, calls: int = 20, cpu: str | None = None) -> Profile:
    graph, signature = step_graph(info)
    return profile(graph, signature, f"train {info.name} (one step)", batch, calls, cpu=cpu)


def stats_profiles(models: dict, train=None, batch: int = 1, cpu: str | None = None,
                   calls: int = 20) -> tuple[dict[str, Profile], Profile | None]:
    """`nnc stats --backend llvm --profile`: the profile of each checked model (name -> info), and of one
    training step of the checked train block `train` (None when not given)."""
    return ({name: model_profile(info, batch, calls, cpu) for name, info in models.items()},
            None if train is None else train_profile(train, batch, calls, cpu))


def profile_text(p: Profile) -> str:
    """The profile as `nnc stats --backend llvm --profile` prints it: a heading, one line per kernel (most
    time first), the totals."""
    total = p.kernel_seconds or 1e-30
    head = (f"llvm profile of {p.what} at batch {p.batch} (cpu {p.cpu}), median of {p.calls} calls: "
            f"{p.call_seconds * 1e6:.1f} µs a call, {p.kernel_seconds * 1e6:.1f} µs in {len(p.rows)} kernels; "
            f"measured peak {p.peak.all_cores:.0f} GFLOP/s on {p.peak.cores} cores, {p.peak.one_core:.0f} on one")
    lines = [head, f"  {'kernel':<28} {'kind':<11} {'µs/call':>9} {'time':>6} {'MFLOP':>9} {'GFLOP/s':>8} "
                   f"{'peak':>6}  line"]
    for r in p.rows:
        where = ", ".join(f"{f.rsplit('/', 1)[-1]}:{n}" for f, n in r.kernel.lines) or "-"
        lines.append(f"  {r.kernel.name[:28]:<28} {r.kernel.kind[:11]:<11} {r.seconds * 1e6:>9.2f} "
                     f"{r.seconds / total:>6.1%} {r.flops / 1e6:>9.3f} {r.gflops:>8.2f} "
                     f"{r.gflops / p.peak.all_cores:>6.1%}  {where}")
    gflops = p.flops / total / 1e9
    lines.append(f"  {'total':<28} {'':<11} {p.kernel_seconds * 1e6:>9.2f} {1:>6.0%} {p.flops / 1e6:>9.3f} "
                 f"{gflops:>8.2f} {gflops / p.peak.all_cores:>6.1%}")
    return "\n".join(lines)


# -- the clock and the peak ------------------------------------------------------------------------------

_clock = None
_rate: float | None = None


def _peak_code():
    """A module with `nnc_cycles()` (the cycle counter) and `nnc_fma(n, ptr)` (n rounds of CHAINS
    independent vector FMAs on the widest vectors the CPU has), loaded once per process."""
    global _clock
    if _clock is None:
        import ctypes

        from llvmlite import ir

        from . import target as T
        h = T.host()
        width = 16 if "+avx512f" in h.features else 8 if "+avx" in h.features else 4
        i64, f32, ptr = ir.IntType(64), ir.FloatType(), ir.PointerType()
        vec = ir.VectorType(f32, width)
        m = ir.Module(name="nnc_peak")
        m.triple, m.data_layout = h.triple, T.data_layout(h)
        counter = ir.Function(m, ir.FunctionType(i64, []), name="llvm.readcyclecounter")
        f = ir.Function(m, ir.FunctionType(i64, []), name="nnc_cycles")
        b = ir.IRBuilder(f.append_basic_block("entry"))
        b.ret(b.call(counter, []))
        fma = ir.Function(m, ir.FunctionType(vec, [vec, vec, vec]), name=f"llvm.fma.v{width}f32")
        f = ir.Function(m, ir.FunctionType(ir.VoidType(), [i64, ptr]), name="nnc_fma")
        n, out = f.args
        entry, loop, done = (f.append_basic_block(s) for s in ("entry", "loop", "done"))
        b = ir.IRBuilder(entry)
        scale = b.load(b.gep(out, [ir.Constant(i64, 0)], source_etype=vec), typ=vec, align=4)
        shift = b.load(b.gep(out, [ir.Constant(i64, 1)], source_etype=vec), typ=vec, align=4)
        b.branch(loop)
        b = ir.IRBuilder(loop)
        i = b.phi(i64)
        accs = [b.phi(vec) for _ in range(CHAINS)]
        new = [b.call(fma, [a, scale, shift]) for a in accs]
        nxt = b.add(i, ir.Constant(i64, 1))
        i.add_incoming(ir.Constant(i64, 0), entry)
        i.add_incoming(nxt, loop)
        for a, v in zip(accs, new):
            a.add_incoming(shift, entry)
            a.add_incoming(v, loop)
        b.cbranch(b.icmp_signed("<", nxt, n), loop, done)
        b = ir.IRBuilder(done)
        total = new[0]
        for v in new[1:]:
            total = b.fadd(total, v)
        b.store(total, b.gep(out, [ir.Constant(i64, 2)], source_etype=vec), align=4)
        b.ret_void()
        obj, _ = T.compile_object(str(m), h, 3, use_cache=False)
        loaded = T.Loaded(obj, h)
        _clock = (loaded, loaded.function("nnc_cycles", ctypes.CFUNCTYPE(ctypes.c_int64)),
                  loaded.function("nnc_fma", ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_void_p)), width, h)
    return _clock


def cycles_per_second(seconds: float = 0.02) -> float:
    """The cycle counter's rate (llvm.readcyclecounter: the TSC on x86), measured once per process against
    time.perf_counter over `seconds`: converts the profile's cycles to time."""
    global _rate
    if _rate is None:
        import time
        _, clock, _, _, _ = _peak_code()
        c0, t0 = clock(), time.perf_counter()
        time.sleep(seconds)
        c1, t1 = clock(), time.perf_counter()
        _rate = (c1 - c0) / (t1 - t0)
    return _rate


def peak(refresh: bool = False) -> Peak:
    """The machine's FMA peak, measured once (a fraction of a second) and kept in nnc's cache (namespace
    llvm-peak, keyed by CPU name, features and llvmlite version), so every profile compares with the same
    number (`nnc cache clear` measures it again). All cores: the kernel runs on that many threads at once
    (ctypes releases the GIL); measured on a busy machine it is too low, so it is never taken below one core's."""
    import json
    import os

    import llvmlite

    from ... import cache
    _, _, _, width, h = _peak_code()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    key = cache.make_key(PEAK_VERSION, llvmlite.__version__, h.cpu, h.features, str(cores))
    if not refresh:
        hit = cache.get(PEAK_NAMESPACE, key)
        if hit is not None:
            try:
                d = json.loads(hit)
                return Peak(float(d["one_core"]), float(d["all_cores"]), int(d["cores"]))
            except (ValueError, KeyError, TypeError):
                pass
    one = measure_peak(1)
    result = Peak(one, max(measure_peak(cores), one), cores)  # another process on a core only lowers it
    cache.put(PEAK_NAMESPACE, key, json.dumps({"one_core": result.one_core, "all_cores": result.all_cores,
                                               "cores": cores}).encode())
    return result


def measure_peak(threads: int, seconds: float = 0.1, tries: int = 3) -> float:
    """GFLOP/s of the FMA kernel on `threads` threads at once: the best of `tries` runs of about `seconds`."""
    import threading
    import time

    import numpy as np
    _, _, fma, width, _ = _peak_code()
    bufs = [np.full(3 * width, 0.999, np.float32) for _ in range(threads)]
    for buf in bufs:
        buf[width:2 * width] = 0.001  # x ← 0.999·x + 0.001 stays near 1: no overflow, no denormals
    start = time.perf_counter()
    fma(10000, bufs[0].ctypes.data)
    per_round = (time.perf_counter() - start) / 10000
    rounds = max(int(seconds / max(per_round, 1e-10)), 1000)
    best = 0.0
    for _ in range(tries):
        gate = threading.Barrier(threads + 1)
        workers = [threading.Thread(target=lambda b=b: (gate.wait(), fma(rounds, b.ctypes.data))) for b in bufs]
        for w in workers:
            w.start()
        gate.wait()
        start = time.perf_counter()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - start
        best = max(best, threads * rounds * CHAINS * width * 2 / elapsed / 1e9)
    return best
