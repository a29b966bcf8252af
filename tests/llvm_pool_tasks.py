"""Tasks for the thread pool's tests and benchmark: a module of its own that only declares
`nnc_parallel_for` (as a model module does), compiled and loaded beside the process's pool.

    square(ctx, i)            ctx: i64[n]; ctx[i] = i*i
    empty(ctx, i)             nothing (the cost of a region itself)
    nested(ctx, i)            ctx: i64[2] = {m, address of i64[n*m]}: a region of square over row i
    overlap(ctx, i)           ctx: i64[2]; index 1 sets ctx[0]; index 0 waits (bounded) for it and
                              sets ctx[1] = 1 when it saw it: 1 only if two threads ran at once
    work(ctx, i)              ctx: i64[1+n] = {iterations, ...}; ctx[1+i] = a chain of that many dependent
                              multiply-adds from i (fixed work, not fixed time: a preempted thread
                              takes longer, as real kernels do)
    repeat(task, ctx, n, r)   r regions of task over [0, n) in a row, without Python in between
"""
from __future__ import annotations

import ctypes

import numpy as np
from llvmlite import ir

from nnc.backends.llvm import target as T
from nnc.backends.llvm import threads
from nnc.backends.llvm.pool_ir import Emitter

I64 = ir.IntType(64)
VOID = ir.VoidType()
WAIT_CYCLES = 10 ** 10   # overlap's bound on waiting: seconds, so a pool that never runs two threads fails, not hangs


def _loop(fn: ir.Function, b: ir.IRBuilder, n, body) -> None:
    Emitter.count_loop(fn, b, n, body)


def build_module(triple: str) -> ir.Module:
    m = ir.Module(name="pool_tasks")
    m.triple = triple
    pf = threads.declare_parallel_for(m)

    square = ir.Function(m, threads.TASK, "square")
    b = ir.IRBuilder(square.append_basic_block())
    ctx, i = square.args
    b.store(b.mul(i, i), b.gep(ctx, [i], source_etype=I64))
    b.ret_void()

    empty = ir.Function(m, threads.TASK, "empty")
    ir.IRBuilder(empty.append_basic_block()).ret_void()

    nested = ir.Function(m, threads.TASK, "nested")
    b = ir.IRBuilder(nested.append_basic_block())
    ctx, i = nested.args
    rows = b.load(ctx, typ=I64)
    data = b.load(b.gep(ctx, [ir.Constant(I64, 1)], source_etype=I64), typ=ir.PointerType())
    b.call(pf, [square, b.gep(data, [b.mul(i, rows)], source_etype=I64), rows])
    b.ret_void()

    overlap = ir.Function(m, threads.TASK, "overlap")
    b = ir.IRBuilder(overlap.append_basic_block())
    ctx, i = overlap.args
    cycles = ir.Function(m, ir.FunctionType(I64, []), "llvm.readcyclecounter")
    first, second, spin, seen, done = (overlap.append_basic_block(n) for n in ("first", "second", "spin", "seen",
                                                                              "done"))
    b.cbranch(b.icmp_signed("==", i, ir.Constant(I64, 0)), first, second)
    b.position_at_end(second)
    b.atomic_rmw("xchg", ctx, ir.Constant(I64, 1), "seq_cst")
    b.ret_void()
    b.position_at_end(first)
    t0 = b.call(cycles, [])
    b.branch(spin)
    b.position_at_end(spin)
    flag = b.load_atomic(ctx, "seq_cst", 8, typ=I64)
    late = b.icmp_unsigned(">", b.sub(b.call(cycles, []), t0), ir.Constant(I64, WAIT_CYCLES))
    b.cbranch(b.icmp_signed("!=", flag, ir.Constant(I64, 0)), seen, done)
    b.position_at_end(done)
    b.cbranch(late, overlap.append_basic_block("give_up"), spin)
    b.position_at_end(overlap.blocks[-1])
    b.ret_void()
    b.position_at_end(seen)
    b.store(ir.Constant(I64, 1), b.gep(ctx, [ir.Constant(I64, 1)], source_etype=I64))
    b.ret_void()

    work = ir.Function(m, threads.TASK, "work")
    b = ir.IRBuilder(work.append_basic_block())
    ctx, i = work.args
    acc = b.alloca(I64)
    b.store(i, acc)
    _loop(work, b, b.load(ctx, typ=I64), lambda b, _: b.store(
        b.add(b.mul(b.load(acc, typ=I64), ir.Constant(I64, 6364136223846793005)), ir.Constant(I64, 1442695040888963407)),
        acc))
    b.store(b.load(acc, typ=I64), b.gep(ctx, [b.add(i, ir.Constant(I64, 1))], source_etype=I64))
    b.ret_void()

    repeat = ir.Function(m, ir.FunctionType(VOID, [threads.PTR, threads.PTR, I64, I64]), "repeat")
    b = ir.IRBuilder(repeat.append_basic_block())
    task, c, n, r = repeat.args
    _loop(repeat, b, r, lambda b, _: b.call(pf, [task, c, n]))
    b.ret_void()
    return m


class Tasks:
    """The tasks module loaded beside the process's pool (which is built and published first)."""

    def __init__(self) -> None:
        self.pool = threads.process_pool()
        h = T.host()
        obj, _ = T.compile_object(str(build_module(h.triple)), h, 3)
        self._loaded = T.Loaded(obj, h)
        self.address = {name: ctypes.cast(self._loaded.function(name, ctypes.CFUNCTYPE(None)), ctypes.c_void_p).value
                        for name in ("square", "empty", "nested", "overlap", "work")}
        self._repeat = self._loaded.function("repeat", ctypes.CFUNCTYPE(
            None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64))

    def run(self, task: str, ctx: int, n: int, repeats: int = 1) -> None:
        self._repeat(self.address[task], ctx, n, repeats)

    def squares(self, n: int, repeats: int = 1) -> np.ndarray:
        a = np.full(n + 1, -1, np.int64)   # one past the end: nothing may write there
        self.run("square", a.ctypes.data, n, repeats)
        return a

    def nested(self, rows: int, cols: int) -> np.ndarray:
        data = np.full((rows, cols), -1, np.int64)
        ctx = np.array([cols, data.ctypes.data], np.int64)
        self.run("nested", ctx.ctypes.data, rows)
        return data

    def overlapped(self) -> bool:
        ctx = np.zeros(2, np.int64)
        self.run("overlap", ctx.ctypes.data, 2)
        return bool(ctx[1])
