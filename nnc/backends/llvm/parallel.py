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
MIN_WORK = 1 << 19   # below this a kernel runs in one piece (measured, docs/backends.md "Fusion and parallel loops")


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
