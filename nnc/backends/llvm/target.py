"""The host target, code generation to an object, the on-disk object cache, and loading into MCJIT.

Facts this follows (docs/backends.md §3, measured on llvmlite 0.50 / LLVM 22): `llvm.initialize()`
raises, so only the native target and asm printer are initialised; MCJIT owns its TargetMachine, so
every engine gets its own (sharing one segfaults when the first engine is freed); an emitted object is
cached and loaded with `add_object_file` (a few ms) instead of MCJIT's own cache (which still parses the
IR). The cache key is the IR text's hash with the code generator's version, llvmlite's and LLVM's
versions, the CPU name and its feature string and the optimisation level, so a cache entry built for
another CPU or another compiler is never loaded; a corrupt entry is rejected by nnc/cache.py and rebuilt.
"""
from __future__ import annotations

import ctypes
import hashlib
import threading
from dataclasses import dataclass

import llvmlite
import llvmlite.binding as llvm

from ... import cache

GENERATOR = "nnc-llvm-1"   # bump when emitted code changes meaning for the same IR text
NAMESPACE = "llvm"
_lock = threading.Lock()
_ready = False


def init() -> None:
    global _ready
    with _lock:
        if not _ready:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _ready = True


@dataclass(frozen=True)
class Host:
    triple: str
    cpu: str
    features: str


class UnknownCpu(ValueError):
    """A CPU name LLVM does not know for this target (one line, with the nearest known names)."""


def host(cpu: str | None = None) -> Host:
    """The CPU code is generated for: this machine's, or `cpu` by name (its default features).

    A named CPU is checked against the names LLVM knows for the process's target: LLVM itself would only
    warn on standard error and generate generic code."""
    init()
    if cpu is None:
        return Host(llvm.get_process_triple(), llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten())
    known = known_cpus()
    if known and cpu not in known:
        import difflib
        near = difflib.get_close_matches(cpu, known, n=4, cutoff=0.5)
        examples = [c for c in ("x86-64-v3", "skylake-avx512", "znver4") if c in known] or known[:3]
        hint = f"did you mean {', '.join(near)}?" if near else f"e.g. {', '.join(examples)};"
        raise UnknownCpu(f"LLVM knows no CPU {cpu!r} for {llvm.get_process_triple()} ({hint} "
                         f"{len(known)} names in all; this machine is {llvm.get_host_cpu_name()})")
    return Host(llvm.get_process_triple(), cpu, "")


_known: list[str] | None = None


def known_cpus() -> list[str]:
    """The CPU names LLVM accepts for the process's target, read once from its `-mcpu=help` listing
    (printed on file descriptor 2 when a target machine is made for CPU "help"); empty when unreadable."""
    global _known
    if _known is None:
        import os
        import sys
        import tempfile
        init()
        with _lock, tempfile.TemporaryFile() as tmp:
            sys.stderr.flush()
            saved = os.dup(2)
            try:
                os.dup2(tmp.fileno(), 2)
                llvm.Target.from_triple(llvm.get_process_triple()).create_target_machine(cpu="help")
            finally:
                os.dup2(saved, 2)
                os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
        rows = text.split("Available CPUs for this target:", 1)[-1].split("Available features", 1)[0]
        _known = sorted({line.split()[0] for line in rows.splitlines() if " - " in line})
    return _known


def machine(h: Host, opt: int = 3) -> "llvm.TargetMachine":
    """A new TargetMachine (never shared between engines)."""
    init()
    target = llvm.Target.from_triple(h.triple)
    return target.create_target_machine(cpu=h.cpu, features=h.features, opt=opt, reloc="default",
                                        codemodel="jitdefault")


def data_layout(h: Host) -> str:
    return str(machine(h).target_data)


def ir_digest(ir_text: str) -> str:
    """The IR text's SHA-256: what names an object in the cache (a lowering record keeps it, plan_cache.py)."""
    return hashlib.sha256(ir_text.encode()).hexdigest()


def cache_key(ir_text: str, h: Host, opt: int, digest: str | None = None) -> str:
    llvm_version = ".".join(str(v) for v in llvm.llvm_version_info)
    return cache.make_key(GENERATOR, llvmlite.__version__, llvm_version, h.cpu, h.features, str(opt),
                          digest if digest is not None else ir_digest(ir_text))


def cached_object(digest: str, h: Host, opt: int = 3) -> bytes | None:
    """The cached object of the IR whose hash is `digest`, or None (never compiled here, or rejected)."""
    return cache.get(NAMESPACE, cache_key("", h, opt, digest))


def compile_object(ir_text: str, h: Host, opt: int = 3, use_cache: bool = True) -> tuple[bytes, bool]:
    """The object code for `ir_text`, and whether it came from the cache."""
    key = cache_key(ir_text, h, opt)
    if use_cache:
        hit = cache.get(NAMESPACE, key)
        if hit is not None:
            return hit, True
    obj = optimise_and_emit(ir_text, machine(h, opt), opt)
    if use_cache:
        cache.put(NAMESPACE, key, obj)
    return obj, False


def optimise_and_emit(ir_text: str, tm: "llvm.TargetMachine", opt: int = 3) -> bytes:
    """Parse, verify, run LLVM's pipeline at `opt` and emit an object for `tm` — without loop unrolling:
    constant trip counts got fully unrolled (2x compile time for little speed) and unrolled k loops
    spilled the GEMM's accumulators (backends.md §3)."""
    mod = llvm.parse_assembly(ir_text)
    mod.verify()
    tuning = llvm.create_pipeline_tuning_options(speed_level=opt)
    tuning.loop_unrolling = False
    pb = llvm.create_pass_builder(tm, tuning)
    pb.getModulePassManager().run(mod, pb)
    return tm.emit_object(mod)


class Loaded:
    """An object loaded into its own MCJIT engine, with the GEMM library objects it calls (library.py,
    compiled once and cached); keeps the engine alive while the code may run."""

    def __init__(self, obj: bytes, h: Host):
        from . import library
        self._engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine(h))
        library.load_beside(self._engine, obj, h)  # the GEMM library (and thread pool) the object calls
        self._engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        self._engine.finalize_object()

    def function(self, name: str, prototype) -> "ctypes._CFuncPtr":
        address = self._engine.get_function_address(name)
        if not address:
            raise RuntimeError(f"the compiled object has no function {name}")
        return prototype(address)
