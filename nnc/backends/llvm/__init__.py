"""The LLVM backend: graphs as native code through llvmlite, run in the Python process on numpy arrays.

    loops.py       the loop-level layer: buffers, index expressions, kernels (no LLVM in it)
    dims.py        run-time sizes: `Poly` (a polynomial over the size symbols), `NeedsConcrete`
    lower.py       the lowering table, primitive → expressions and kernels, with fusion of elementwise chains
    supported.py   the table's op names and the compile-time refusal, without importing lower.py (cached compiles)
    fuse.py        multi-output fusion: related same-shaped Stores as one loop (an optimiser's update)
    lower_pool.py  pooling's lowerings; window.py emits its kernels (vector rows, the gradient as a Store)
    conv_forward.py  forward convs by Winograd F(2x2,3x3), every image's columns in one GEMM, or
                   column-strided im2col, where measured faster than lower_conv.py's im2col + GEMM
    plan.py        the memory plan: one arena, buffers reused by liveness, laid out per binding of sizes
    emit.py        LLVM IR: one function per kernel, one entry point `nnc_run(ptr args)` (the slot contract)
    share.py       kernels alike but for their buffers (ResNet's repeated blocks): one function, emitted once
    nest.py        Store and Reduce nests over merged axes; reductions along a kept inner axis
    parallel.py    split_rows: a large kernel's outer axis in parts over the pool, fixed by the sizes
    scalar.py      the elementwise scalar table and reduction steps
    philox.py      Philox-4x32-10 in IR (the dropout masks of the numpy oracle, bit for bit)
    target.py      host CPU, code generation, the on-disk object cache, MCJIT loading
    executable.py  stateful buffers, one compiled code for every batch size, calls
    threads.py     the thread pool (IR in pool_ir.py): nnc_parallel_for, one pool per process
    gemm_threads.py  nnc_gemm_<dtype>_mt: the GEMM library's product split over the pool

Sizes are run-time values: a graph is lowered and compiled once, every size symbol (`N`, a sequence
length `T`) a polynomial the code computes from the values passed in slot n_args + 3 of `nnc_run`, and
the memory plan laid out per call's binding (scratch offsets in slot n_args + 4; emit.py documents every
slot). Where code cannot be right for every value of a symbol the lowering raises `NeedsConcrete` and
that symbol alone is specialised (a variant per value, cached). Options:
`cpu` (generate for another CPU by name, checked against LLVM's names; default: $NNC_LLVM_CPU, else
this machine's), `opt` (0-3, default 3), `cache` (False: skip the disk cache), `specialize` (True:
compile per binding of every size symbol, the code before run-time sizes; for measurements),
`profile` (count cycles per kernel: `Executable.profile_table()`), `checked` (default $NNC_CHECKED=1: a
finite-value check after every kernel; the first NaN or infinity is a RunError naming the layer and the
`.nn` line, checked.py), `threads` (default $NNC_THREADS, else all cores; 1: no threads; the pool is
one per process, threads.py, so the last setting wins), `hoist` (default True: in an inference graph, work
on parameters alone is done once per load, nnc/passes/hoist.py; the C library does the same with a
prepare entry point, aot/entry.py).
"""
from __future__ import annotations

import os
from typing import Mapping

from ...ir.graph import Graph
from ..base import BackendUnavailable, Signature
from .supported import OPS, unsupported, what, where


class NotLowered(BackendUnavailable):
    """A graph holding an op this backend cannot lower yet (one line: the op and its `.nn` line)."""


class UnknownCpu(BackendUnavailable):
    """`cpu` (option, `--cpu`, NNC_LLVM_CPU) names no CPU LLVM knows for this target."""


class BadThreads(BackendUnavailable):
    """`threads` (option, NNC_THREADS) is not a whole number of threads >= 0."""


class LlvmBackend:
    name = "llvm"
    devices = ("cpu",)
    primitives = OPS   # lower.py's table, imported only when a graph is lowered (supported.py)

    @property
    def graph_passes(self):
        """Passes before decompose (nnc/passes/pipeline.py): batchnorm folded into the layer before it, then
        the Winograd convs' filter transform as a graph op (conv_forward.winograd_filters: hoisted in inference)."""
        from ...passes.fold_batchnorm import fold_batchnorm
        from .conv_forward import winograd_filters
        return (("fold_batchnorm", fold_batchnorm), ("winograd_filters", winograd_filters))

    def available(self, device: str = "cpu") -> str | None:
        return None if device == "cpu" else f"the llvm backend runs on the cpu only, not {device}"

    def compile(self, graph: Graph, signature: Signature, *, device: str = "cpu",
                options: Mapping[str, object] | None = None):
        from . import target
        from .executable import LlvmExecutable
        options = dict(options or {})
        bad = unsupported(graph)
        if bad is not None:
            raise NotLowered(f"the llvm backend cannot lower {what(graph, bad)} yet ({where(bad)}, {bad.path}); "
                             f"use --backend numpy")
        try:
            host = target.host(options.get("cpu") or os.environ.get("NNC_LLVM_CPU") or None)
        except target.UnknownCpu as e:
            raise UnknownCpu(str(e)) from None
        from . import threads
        try:
            k = threads.threads_setting(options)
        except ValueError as e:
            raise BadThreads(str(e)) from None
        if options.get("threads") is not None:   # $NNC_THREADS alone is read when the pool is built
            threads.process_pool(host).set_threads(k)
        return LlvmExecutable(graph, signature, host, opt=int(options.get("opt", 3)),
                              use_cache=bool(options.get("cache", True)), profile=bool(options.get("profile", False)),
                              checked=bool(options.get("checked", os.environ.get("NNC_CHECKED") == "1")),
                              specialize=bool(options.get("specialize", False)),
                              hoist=bool(options.get("hoist", True)))


BACKEND = LlvmBackend()
