"""Kernels split over the thread pool: `split_rows`, a kernel's outermost loop in parts of a fixed size.

A kernel function (emit.py's `k<n>_...`, called directly by the entry point: checked.py and the profile
rely on it) that is large enough does its work through `nnc_parallel_for` (threads.py) instead of one
loop: its loop nest moves into a `k<n>_..._rows(bufs..., sizes, lo, hi)` function running the outermost
axis over [lo, hi) (noalias pointers, so it vectorises as the kernel did), and a `k<n>_..._part(ctx, p)`
task calls it for part p. How the rows are split depends on the sizes alone — never on the thread count —
so every element is computed by the same code in the same order whatever the threads: a reduction is
split over kept axes only (each output is summed by one part, in order), and the results are bit for bit
those of one thread. Parts hold about `PART` elements of work; below `MIN_WORK` there is one part and the
nest runs in the kernel itself (no call); with run-time sizes the kernel tests that at run time.

The threshold, measured with bench/parallel_threshold.py (29 Nov, this 2-core machine; kernel time from the
`profile` cycle counts; one piece ÷ split on 2 threads, medians of 9 alternating blocks, in brackets the
fastest; `x + y`, `tanh(x)`, and an Adam-like update fused into one kernel of three stores):

    elements        2^15         2^16         2^17         2^18         2^19
    quiet (08:21, both cores idle at the start, load average 1.4):
    x + y       1.86 (1.70)  1.91 (1.96)  2.11 (2.08)  2.00 (2.00)  1.94 (1.98)   one piece 4.0 .. 77.5 µs
    tanh        1.90 (1.99)  0.99 (1.89)  1.59 (1.91)  1.62 (1.92)  1.84 (1.87)   24.3 .. 380 µs
    adam        1.16 (1.13)  1.43 (1.44)  1.62 (1.58)  2.16 (2.13)  1.76 (1.81)   11.4 .. 238 µs
    another session busy on the other core (08:17, load 2.1): 0.68-1.08 (fastest blocks 0.8-2.3)
    load 3.6-5 (07:39, 07:48): 0.2-1.0 (x + y at 2^19: 76 -> 328 µs, a part waiting on a preempted thread);
    1.0-1.4 only at 2^21-2^22

Splitting pays from 2^15 when the second core is free and loses up to 4x when it is not. MIN_WORK = 2^17
(it was 2^19, set under load): 1.6-2.2x there on a quiet machine, and below it a kernel takes under about
60 µs, where a sleeping worker's wake-up (about 57 µs, docs/backends.md §3) can cost what the split saves.
PART = 2^16 (2^14..2^17 measured alike, 07:19): two parts at the threshold. MIN_WORK >= PART always (a
kernel of less than PART work would get no part).

A split Store after a GEMM run on two threads (29 Nov, 09:16, load 1.0-1.5; `nnc stats bench/models/mlp.nn
--profile --batch 256`): mlp's bias+relu after layer 2 (k3, [256, 512]) took 34-40 µs on two threads, the
same code after layer 1 (k1) 9.6-10.6, k3 on one thread 12-13. Not the pool's wake-up nor the split: in
one piece on two threads k3 took 57-68 µs. The arena (plan.py, first fit) puts k3's target on the bytes
of layer 2's input, which the GEMM just read on both cores (its column parts each read all of A), so
every store first invalidates the other core's copy; with the arena's reuse switched off (a diagnosis
only) k3 took 11-18 µs (and k1, then writing cold lines, 25). A fix belongs to the plan (not placing a
target on bytes the previous kernel read on other cores), not to the split.

Usage from an emitter: `split_rows(k, rows, work, emit_rows)` where `emit_rows(kb, lo, hi)` emits the nest
with its first axis over [lo, hi) into builder `kb` (`kb.nest(shape, body, rows=(lo, hi))`); lo and hi are
None when the kernel runs in one piece (the whole axis: `rows=None`).
"""
from __future__ import annotations

from typing import Callable

from llvmlite import ir

from .dims import Dim, Poly
from .emit import I64, PTR, KernelBuilder

PART = 1 << 16       # elements of work per part
MIN_WORK = 1 << 17   # below this a kernel runs in one piece (measured: the module docstring)


def parts_of(rows: int, work: int) -> tuple[int, int]:
    """(parts, rows per part) for a concrete size: the split the generated code makes."""
    if rows <= 0 or work < MIN_WORK:
        return 1, max(rows, 0)
    parts = min(rows, work // PART)
    per = -(-rows // parts)
    return -(-rows // per), per


def split_rows(k: KernelBuilder, rows: Dim, work: Dim, emit_rows: Callable[[KernelBuilder, ir.Value, ir.Value], None],
               ) -> None:
    """Emit into kernel `k` the rows [0, rows) of its loop nest (`emit_rows(kb, lo, hi)`), in parallel parts
    when `work` (elements touched, an int or Poly) is at least MIN_WORK; `rows` counts the outermost axis."""
    zero = ir.Constant(I64, 0)
    if isinstance(rows, int) and isinstance(work, int):
        if parts_of(rows, work)[0] <= 1:
            emit_rows(k, None, None)
            return
    body = KernelBuilder(k.module, f"{k.fn.name}_rows", k.bufs, k.slots, extra=2)
    lo, hi = body.extra
    emit_rows(body, lo, hi)
    body.finish()
    task = _task(k, body.fn)
    b = k.b
    n, w = k.dim(rows), k.dim(work)
    args = list(k.fn.args[:len(k.bufs) + 1])
    if not isinstance(rows, Poly) and not isinstance(work, Poly):
        _, per = parts_of(rows, work)
        per_v, parts = ir.Constant(I64, per), ir.Constant(I64, parts_of(rows, work)[0])
        _dispatch(k, task, args, n, per_v, parts)
        return
    big = b.and_(b.icmp_signed(">=", w, ir.Constant(I64, MIN_WORK)), b.icmp_signed(">", n, ir.Constant(I64, 1)))
    with b.if_else(big) as (then, otherwise):
        with then:
            raw = _min(b, n, b.sdiv(w, ir.Constant(I64, PART)))
            per = _ceil(b, n, raw)
            _dispatch(k, task, args, n, per, _ceil(b, n, per))
        with otherwise:
            b.call(body.fn, args + [zero, n])


def _dispatch(k: KernelBuilder, task: ir.Function, args: list, n: ir.Value, per: ir.Value, parts: ir.Value) -> None:
    """ctx = {the kernel's pointers, rows, rows per part}; nnc_parallel_for(task, ctx, parts)."""
    from .threads import declare_parallel_for
    b = k.b
    ctx = k.entry.alloca(I64, size=ir.Constant(I64, len(args) + 2))
    for j, a in enumerate(args):
        b.store(b.ptrtoint(a, I64), b.gep(ctx, [ir.Constant(I64, j)], source_etype=I64))
    b.store(n, b.gep(ctx, [ir.Constant(I64, len(args))], source_etype=I64))
    b.store(per, b.gep(ctx, [ir.Constant(I64, len(args) + 1)], source_etype=I64))
    b.call(declare_parallel_for(k.module), [task, ctx, parts])


def _task(k: KernelBuilder, rows_fn: ir.Function) -> ir.Function:
    """void k<n>_..._part(ptr ctx, i64 p): rows_fn over part p's rows."""
    count = len(k.bufs) + 1
    fn = ir.Function(k.module, ir.FunctionType(ir.VoidType(), [PTR, I64]), name=f"{k.fn.name}_part")
    fn.linkage = "internal"
    ctx, p = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def slot(j):
        return b.load(b.gep(ctx, [ir.Constant(I64, j)], source_etype=I64), typ=I64)
    ptrs = [b.inttoptr(slot(j), PTR) for j in range(count)]
    n, per = slot(count), slot(count + 1)
    lo = b.mul(p, per)
    hi = _min(b, b.add(lo, per), n)
    b.call(rows_fn, ptrs + [lo, hi])
    b.ret_void()
    return fn


def _min(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(b.icmp_signed("<", x, y), x, y)


def _ceil(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.sdiv(b.add(x, b.sub(y, ir.Constant(I64, 1))), y)
