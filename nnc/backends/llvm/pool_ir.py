"""The thread pool's LLVM IR (threads.py has the API, the Python side and the one-per-process rule).

Design (the facts behind it are in ../shared/docs/backends.md §3):
- The pool starts lazily on the first region with n >= 2, with a size resolved from the setting. With
  one thread, or n < 2, or n >= 2**32, a region is a plain loop on the caller, no atomics.
- Work is handed out dynamically from one 64-bit word: the region's generation in the high half and
  the number of unclaimed indices in the low half. A thread claims index n - remaining by a
  compare-and-swap that also checks the generation, so a worker waking late can never take (or run)
  an index of a later region; it reads the region's task and context only after its claim succeeded,
  when the region cannot have ended. Threads add what they ran to `done`; the caller returns when
  `done == n`. The caller never waits for a worker that claimed nothing: a sleeping or descheduled
  worker delays a region only if it holds an index, and a region runs correctly with no worker at all
  (so a missed wake-up, a worker that failed to start, or a forked child cannot deadlock).
- Workers start from the generation the creator saw (passed as the thread argument). A waiting thread
  (an idle worker, or the caller waiting for indices others hold) spins with `pause` for `spin`
  cycle-counter ticks, then calls sched_yield() until `patience` ticks, then sleeps on a futex; the
  caller wakes sleepers only when some are asleep. Workers start with every signal blocked.
- One region at a time per pool: the caller takes a lock with a try-lock; a region that cannot take it
  (a region inside a task, on any thread, or another thread's region in flight) runs as a plain loop
  on its caller. Nesting therefore never deadlocks and two Python threads never share a region's state.
"""
from __future__ import annotations

from llvmlite import ir

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
VOID = ir.VoidType()
TASK = ir.FunctionType(VOID, [PTR, I64])           # void task(ptr ctx, i64 i)
PARALLEL_FOR_TYPE = ir.FunctionType(VOID, [PTR, PTR, I64])
PARALLEL_FOR = "nnc_parallel_for"
SYMBOLS = (PARALLEL_FOR, "nnc_set_threads", "nnc_get_threads", "nnc_set_spin", "nnc_pool_shutdown",
           "nnc_pool_after_fork")
MAX_THREADS = 64
DEFAULT_SPIN = 1 << 16          # cycle-counter ticks a waiting thread spins with `pause`: 25 us at 2.6 GHz
DEFAULT_PATIENCE = 1 << 20      # ... and until then with sched_yield(), before it sleeps: 0.4 ms
FUTEX_WAIT, FUTEX_WAKE = 128, 129   # FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE
SYS_FUTEX = {"x86_64": 202, "aarch64": 98, "arm64": 98, "riscv64": 98, "ppc64le": 221, "s390x": 238}
# the spin-wait hint, as an intrinsic (inline asm needs an asm parser MCJIT is not initialised with)
PAUSE = {"x86_64": ("llvm.x86.sse2.pause", ()), "aarch64": ("llvm.aarch64.hint", (1,)),
         "arm64": ("llvm.aarch64.hint", (1,))}
SC_NPROCESSORS_ONLN = 84        # glibc's value on every architecture
SIG_BLOCK, SIG_SETMASK = 0, 2   # Linux's values on x86-64 and aarch64
SIGSET_BYTES = 128              # glibc's sigset_t
ENV = "NNC_THREADS"


def _callee(pointer: ir.Value) -> ir.Value:
    """A task pointer made callable by llvmlite's builder, which reads the callee's function type (an
    opaque pointer has none): the value's class gets a subclass that answers TASK."""
    cls = type(pointer)
    if not getattr(cls, "_nnc_task", False):
        pointer.__class__ = type("Task" + cls.__name__, (cls,), {"function_type": TASK, "_nnc_task": True})
    return pointer


def _arch(triple: str) -> str:
    return triple.split("-", 1)[0]


class Emitter:
    """Builds the pool's globals and functions into one module."""

    def __init__(self, module: ir.Module, triple: str):
        arch = _arch(triple)
        if arch not in SYS_FUTEX:
            raise ValueError(f"the nnc thread pool knows no futex system call number for {triple!r} "
                             f"(known: {', '.join(sorted(SYS_FUTEX))}); use threads=1")
        self.m = module
        self.sys_futex = SYS_FUTEX[arch]
        pause = PAUSE.get(arch)
        g = self._global
        self.lock, self.size, self.setting = g("lock", I32, 0), g("size", I32, 0), g("setting", I32, -1)
        self.resolved = g("resolved", I32, 0)
        self.gen, self.word, self.done = g("gen", I32, 0), g("word", I64, 0), g("done", I32, 0)
        self.caller_sleeping, self.sleepers = g("caller_sleeping", I32, 0), g("sleepers", I32, 0)
        self.stop, self.nworkers, self.spin = g("stop", I32, 0), g("nworkers", I32, 0), g("spin", I64, DEFAULT_SPIN)
        self.patience = g("patience", I64, DEFAULT_PATIENCE)
        self.task, self.ctx, self.n = g("task", PTR, None), g("ctx", PTR, None), g("n", I64, 0)
        self.handles = g("handles", ir.ArrayType(I64, MAX_THREADS), None)
        env = bytearray(ENV.encode() + b"\0")
        self.env_name = ir.GlobalVariable(module, ir.ArrayType(I8, len(env)), "nnc_pool.env")
        self.env_name.initializer = ir.Constant(ir.ArrayType(I8, len(env)), env)
        self.env_name.global_constant, self.env_name.linkage = True, "internal"
        d = self._declare
        self.syscall = d("syscall", ir.FunctionType(I64, [I64], var_arg=True))
        self.pthread_create = d("pthread_create", ir.FunctionType(I32, [PTR, PTR, PTR, PTR]))
        self.pthread_join = d("pthread_join", ir.FunctionType(I32, [I64, PTR]))
        self.sysconf = d("sysconf", ir.FunctionType(I64, [I32]))
        self.getenv = d("getenv", ir.FunctionType(PTR, [PTR]))
        self.atoi = d("atoi", ir.FunctionType(I32, [PTR]))
        self.sched_yield = d("sched_yield", ir.FunctionType(I32, []))
        self.sigfillset = d("sigfillset", ir.FunctionType(I32, [PTR]))
        self.pthread_sigmask = d("pthread_sigmask", ir.FunctionType(I32, [I32, PTR, PTR]))
        self.cycles = d("llvm.readcyclecounter", ir.FunctionType(I64, []))
        self.pause_fn, self.pause_args = None, ()
        if pause is not None:
            self.pause_fn = d(pause[0], ir.FunctionType(VOID, [I32] * len(pause[1])))
            self.pause_args = [ir.Constant(I32, v) for v in pause[1]]

    # -- helpers ------------------------------------------------------------------------------------
    def _global(self, name: str, t: ir.Type, init) -> ir.GlobalVariable:
        gv = ir.GlobalVariable(self.m, t, "nnc_pool." + name)
        gv.linkage = "internal"
        gv.initializer = ir.Constant(t, init)
        gv.align = 64          # each word on its own cache line: no false sharing between them
        return gv

    def _declare(self, name: str, fnty: ir.FunctionType) -> ir.Function:
        existing = self.m.globals.get(name)
        return existing if existing is not None else ir.Function(self.m, fnty, name=name)

    def _function(self, name: str, fnty: ir.FunctionType, internal: bool = True):
        fn = ir.Function(self.m, fnty, name=name)
        if internal:
            fn.linkage = "internal"
        fn.attributes.add("nounwind")
        return fn, ir.IRBuilder(fn.append_basic_block("entry"))

    @staticmethod
    def load(b: ir.IRBuilder, gv, t: ir.Type, order: str | None = None):
        size = 8 if t in (I64, PTR) else 4
        return b.load_atomic(gv, order, size, typ=t) if order else b.load(gv, typ=t)

    @staticmethod
    def store(b: ir.IRBuilder, value, gv, order: str | None = None) -> None:
        if order:
            b.store_atomic(value, gv, order, 8 if value.type in (I64, PTR) else 4)
        else:
            b.store(value, gv)

    def futex(self, b: ir.IRBuilder, word, op: int, value) -> None:
        if value.type != I64:
            value = b.zext(value, I64)
        null = ir.Constant(PTR, None)
        b.call(self.syscall, [ir.Constant(I64, self.sys_futex), word, ir.Constant(I64, op), value, null, null,
                              ir.Constant(I64, 0)])

    def pause(self, b: ir.IRBuilder) -> None:
        if self.pause_fn is not None:
            b.call(self.pause_fn, self.pause_args)

    @staticmethod
    def count_loop(fn: ir.Function, b: ir.IRBuilder, n, body) -> None:
        """for i in range(n): body(b, i) (i32 or i64, as n is); leaves `b` after the loop."""
        zero = ir.Constant(n.type, 0)
        pre = b.block
        head, loop, done = fn.append_basic_block("head"), fn.append_basic_block("body"), fn.append_basic_block("end")
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(n.type)
        i.add_incoming(zero, pre)
        b.cbranch(b.icmp_signed("<", i, n), loop, done)
        b.position_at_end(loop)
        body(b, i)
        i.add_incoming(b.add(i, ir.Constant(n.type, 1)), b.block)
        b.branch(head)
        b.position_at_end(done)

    def backoff(self, fn: ir.Function, b: ir.IRBuilder, t0, again: ir.Block, sleep: ir.Block) -> None:
        """One step of waiting that started at cycle t0: `pause` and try `again` for the first `spin`
        ticks, then sched_yield() and try again until `patience` ticks (a spinning thread that shares
        its core with the thread it waits for gives it the core), then go to `sleep` (a futex)."""
        spent = b.sub(b.call(self.cycles, []), t0)
        pause, check, yield_ = (fn.append_basic_block(n) for n in ("pause", "patience", "yield"))
        b.cbranch(b.icmp_unsigned("<", spent, self.load(b, self.spin, I64, "monotonic")), pause, check)
        b.position_at_end(pause)
        self.pause(b)
        b.branch(again)
        b.position_at_end(check)
        b.cbranch(b.icmp_unsigned("<", spent, self.load(b, self.patience, I64, "monotonic")), yield_, sleep)
        b.position_at_end(yield_)
        b.call(self.sched_yield, [])
        b.branch(again)

    def take_lock(self, fn: ir.Function, b: ir.IRBuilder) -> None:
        """Blocks until this thread holds the region lock (for the setters: never called from a task)."""
        retry, got = fn.append_basic_block("lock_retry"), fn.append_basic_block("lock_got")
        b.branch(retry)
        b.position_at_end(retry)
        ok = b.extract_value(b.cmpxchg(self.lock, ir.Constant(I32, 0), ir.Constant(I32, 1), "acquire",
                                       "monotonic"), 1)
        yield_ = fn.append_basic_block("lock_yield")
        b.cbranch(ok, got, yield_)
        b.position_at_end(yield_)
        b.call(self.sched_yield, [])
        b.branch(retry)
        b.position_at_end(got)

    # -- the pool -----------------------------------------------------------------------------------
    def emit(self) -> dict[str, ir.Function]:
        work = self.emit_work()
        worker = self.emit_worker(work)
        resolve = self.emit_resolve()
        start = self.emit_start(worker, resolve)
        stop = self.emit_stop()
        fns = {PARALLEL_FOR: self.emit_parallel_for(work, start)}
        fns.update(self.emit_setters(resolve, stop))
        return fns

    def emit_work(self) -> ir.Function:
        """void work(i32 g): claim and run indices of region g until none is left, then add them to done.

        Claims are guided: remaining / (2 * threads) indices at a time, at least one, so a region of many
        small indices costs a few compare-and-swaps per thread rather than one per index, while the last
        claims stay single indices that balance the load."""
        fn, b = self._function("nnc_pool.work", ir.FunctionType(VOID, [I32]))
        g = fn.args[0]
        entry = b.block
        div = b.shl(self.load(b, self.size, I32, "monotonic"), ir.Constant(I32, 1))
        loop, claim, try_, run = (fn.append_basic_block(n) for n in ("loop", "claim", "try", "run"))
        out, report, check, wake, ret = (fn.append_basic_block(n) for n in ("out", "report", "check", "wake", "ret"))
        b.branch(loop)
        b.position_at_end(loop)
        count = b.phi(I32)
        count.add_incoming(ir.Constant(I32, 0), entry)
        w0 = self.load(b, self.word, I64, "monotonic")
        b.branch(claim)
        b.position_at_end(claim)
        w = b.phi(I64)
        w.add_incoming(w0, loop)
        left = b.trunc(w, I32)
        ours = b.and_(b.icmp_unsigned("==", b.trunc(b.lshr(w, ir.Constant(I64, 32)), I32), g),
                      b.icmp_unsigned("!=", left, ir.Constant(I32, 0)))
        b.cbranch(ours, try_, out)
        b.position_at_end(try_)
        share = b.udiv(left, div)
        take = b.select(b.icmp_unsigned("==", share, ir.Constant(I32, 0)), ir.Constant(I32, 1), share)
        pair = b.cmpxchg(self.word, w, b.sub(w, b.zext(take, I64)), "acq_rel", "monotonic")
        w.add_incoming(b.extract_value(pair, 0), try_)
        b.cbranch(b.extract_value(pair, 1), run, claim)
        b.position_at_end(run)   # the region cannot end before these indices are done: its task and ctx hold
        n = self.load(b, self.n, I64)
        task, ctx = self.load(b, self.task, PTR), self.load(b, self.ctx, PTR)
        first = b.sub(n, b.zext(left, I64))
        self.count_loop(fn, b, b.zext(take, I64), lambda b, j: b.call(_callee(task), [ctx, b.add(first, j)]))
        count.add_incoming(b.add(count, take), b.block)
        b.branch(loop)
        b.position_at_end(out)
        b.cbranch(b.icmp_unsigned("==", count, ir.Constant(I32, 0)), ret, report)
        b.position_at_end(report)
        n32 = b.trunc(self.load(b, self.n, I64), I32)  # read before the add that may end the region
        before = b.atomic_rmw("add", self.done, count, "seq_cst")
        b.cbranch(b.icmp_unsigned("==", b.add(before, count), n32), check, ret)
        b.position_at_end(check)
        asleep = self.load(b, self.caller_sleeping, I32, "seq_cst")
        b.cbranch(b.icmp_unsigned("!=", asleep, ir.Constant(I32, 0)), wake, ret)
        b.position_at_end(wake)
        self.futex(b, self.done, FUTEX_WAKE, ir.Constant(I32, 1))
        b.branch(ret)
        b.position_at_end(ret)
        b.ret_void()
        return fn

    def emit_worker(self, work: ir.Function) -> ir.Function:
        """ptr worker(ptr g0): wait for a new generation (spin, then futex), run its region, repeat; exit on stop."""
        fn, b = self._function("nnc_pool.worker", ir.FunctionType(PTR, [PTR]))
        entry = b.block
        my0 = b.trunc(b.ptrtoint(fn.args[0], I64), I32)
        wait, spin0, spin, spin_check, sleep, dowait, awake, got, run, exit_ = (fn.append_basic_block(n) for n in (
            "wait", "spin0", "spin", "spin_check", "sleep", "dowait", "awake", "got", "run", "exit"))
        b.branch(wait)
        b.position_at_end(wait)
        my = b.phi(I32)
        my.add_incoming(my0, entry)
        gen = self.load(b, self.gen, I32, "acquire")
        b.cbranch(b.icmp_unsigned("!=", gen, my), got, spin0)
        b.position_at_end(spin0)
        t0 = b.call(self.cycles, [])
        b.branch(spin)
        b.position_at_end(spin)
        g2 = self.load(b, self.gen, I32, "monotonic")
        my.add_incoming(my, spin)
        b.cbranch(b.icmp_unsigned("!=", g2, my), wait, spin_check)
        b.position_at_end(spin_check)
        self.backoff(fn, b, t0, spin, sleep)
        b.position_at_end(sleep)
        b.atomic_rmw("add", self.sleepers, ir.Constant(I32, 1), "seq_cst")
        g3 = self.load(b, self.gen, I32, "seq_cst")
        b.cbranch(b.icmp_unsigned("==", g3, my), dowait, awake)
        b.position_at_end(dowait)
        self.futex(b, self.gen, FUTEX_WAIT, my)
        b.branch(awake)
        b.position_at_end(awake)
        b.atomic_rmw("sub", self.sleepers, ir.Constant(I32, 1), "seq_cst")
        my.add_incoming(my, awake)
        b.branch(wait)
        b.position_at_end(got)
        stop = self.load(b, self.stop, I32, "acquire")
        b.cbranch(b.icmp_unsigned("!=", stop, ir.Constant(I32, 0)), exit_, run)
        b.position_at_end(run)
        b.call(work, [gen])
        my.add_incoming(gen, run)
        b.branch(wait)
        b.position_at_end(exit_)
        b.ret(ir.Constant(PTR, None))
        return fn

    def emit_resolve(self) -> ir.Function:
        """i32 resolve(): the setting as a thread count in [1, MAX_THREADS] (< 0: $NNC_THREADS; 0: all CPUs),
        worked out once per setting (sysconf reads /sys: microseconds) and kept in `resolved`."""
        fn, b = self._function("nnc_pool.resolve", ir.FunctionType(I32, []))
        known, unknown = fn.append_basic_block("known"), fn.append_basic_block("unknown")
        r = self.load(b, self.resolved, I32, "monotonic")
        b.cbranch(b.icmp_unsigned("!=", r, ir.Constant(I32, 0)), known, unknown)
        b.position_at_end(known)
        b.ret(r)
        b.position_at_end(unknown)
        entry = b.block
        env, have_env, merge, cpus, clamp = (fn.append_basic_block(n) for n in ("env", "have_env", "merge", "cpus",
                                                                               "clamp"))
        k = self.load(b, self.setting, I32, "monotonic")
        b.cbranch(b.icmp_signed("<", k, ir.Constant(I32, 0)), env, merge)
        b.position_at_end(env)
        s = b.call(self.getenv, [self.env_name])
        b.cbranch(b.icmp_unsigned("==", s, ir.Constant(PTR, None)), merge, have_env)
        b.position_at_end(have_env)
        from_env = b.call(self.atoi, [s])
        b.branch(merge)
        b.position_at_end(merge)
        k2 = b.phi(I32)
        k2.add_incoming(k, entry)
        k2.add_incoming(ir.Constant(I32, 0), env)
        k2.add_incoming(from_env, have_env)
        b.cbranch(b.icmp_signed("<=", k2, ir.Constant(I32, 0)), cpus, clamp)
        b.position_at_end(cpus)
        online = b.trunc(b.call(self.sysconf, [ir.Constant(I32, SC_NPROCESSORS_ONLN)]), I32)
        b.branch(clamp)
        b.position_at_end(clamp)
        k3 = b.phi(I32)
        k3.add_incoming(k2, merge)
        k3.add_incoming(online, cpus)
        k4 = b.select(b.icmp_signed("<", k3, ir.Constant(I32, 1)), ir.Constant(I32, 1), k3)
        k5 = b.select(b.icmp_signed(">", k4, ir.Constant(I32, MAX_THREADS)), ir.Constant(I32, MAX_THREADS), k4)
        self.store(b, k5, self.resolved, "monotonic")
        b.ret(k5)
        return fn

    def emit_start(self, worker: ir.Function, resolve: ir.Function) -> ir.Function:
        """void start(): (lock held) create k - 1 workers, each starting from the current generation,
        with every signal blocked (they inherit the creator's mask while it is set), so signals reach the
        threads that handle them (Python's main thread: Ctrl-C still interrupts a sleep)."""
        fn, b = self._function("nnc_pool.start_workers", ir.FunctionType(VOID, []))
        k = b.call(resolve, [])
        g0 = b.inttoptr(b.zext(self.load(b, self.gen, I32, "monotonic"), I64), PTR)
        made = b.alloca(I32)
        b.store(ir.Constant(I32, 0), made)
        every = b.alloca(I8, size=ir.Constant(I32, SIGSET_BYTES))
        saved = b.alloca(I8, size=ir.Constant(I32, SIGSET_BYTES))
        b.call(self.sigfillset, [every])
        b.call(self.pthread_sigmask, [ir.Constant(I32, SIG_BLOCK), every, saved])

        def spawn(b: ir.IRBuilder, i) -> None:
            j = b.load(made, typ=I32)
            slot = b.gep(self.handles, [ir.Constant(I32, 0), j], source_etype=self.handles.value_type)
            rc = b.call(self.pthread_create, [slot, ir.Constant(PTR, None), worker, g0])
            b.store(b.add(j, b.zext(b.icmp_signed("==", rc, ir.Constant(I32, 0)), I32)), made)

        self.count_loop(fn, b, b.sub(k, ir.Constant(I32, 1)), spawn)
        b.call(self.pthread_sigmask, [ir.Constant(I32, SIG_SETMASK), saved, ir.Constant(PTR, None)])
        nw = b.load(made, typ=I32)
        self.store(b, nw, self.nworkers)
        self.store(b, b.add(nw, ir.Constant(I32, 1)), self.size, "release")
        b.ret_void()
        return fn

    def emit_stop(self) -> ir.Function:
        """void stop(): (lock held) tell the workers to exit, wake them, join them; the pool is unstarted after."""
        fn, b = self._function("nnc_pool.shutdown_workers", ir.FunctionType(VOID, []))
        some, reset = fn.append_basic_block("some"), fn.append_basic_block("reset")
        nw = self.load(b, self.nworkers, I32)
        b.cbranch(b.icmp_signed(">", nw, ir.Constant(I32, 0)), some, reset)
        b.position_at_end(some)
        self.store(b, ir.Constant(I32, 1), self.stop, "seq_cst")
        b.atomic_rmw("add", self.gen, ir.Constant(I32, 1), "seq_cst")
        self.futex(b, self.gen, FUTEX_WAKE, ir.Constant(I32, 0x7FFFFFFF))

        def join(b: ir.IRBuilder, j) -> None:
            slot = b.gep(self.handles, [ir.Constant(I32, 0), j], source_etype=self.handles.value_type)
            b.call(self.pthread_join, [b.load(slot, typ=I64), ir.Constant(PTR, None)])

        self.count_loop(fn, b, nw, join)
        self.store(b, ir.Constant(I32, 0), self.stop, "seq_cst")
        b.branch(reset)
        b.position_at_end(reset)
        self.store(b, ir.Constant(I32, 0), self.nworkers)
        self.store(b, ir.Constant(I32, 0), self.size, "release")
        b.ret_void()
        return fn

    def emit_parallel_for(self, work: ir.Function, start: ir.Function) -> ir.Function:
        fn, b = self._function(PARALLEL_FOR, PARALLEL_FOR_TYPE, internal=False)
        task, ctx, n = fn.args
        blocks = ("check", "trylock", "locked", "start", "started", "unlock_serial", "go", "wakeall", "join",
                  "wait0", "wait", "wait_spin", "wait_sleep", "wait_futex", "woke", "finish", "serial")
        bb = {name: fn.append_basic_block(name) for name in blocks}
        one, zero32 = ir.Constant(I32, 1), ir.Constant(I32, 0)
        small = b.icmp_signed("<", n, ir.Constant(I64, 2))
        huge = b.icmp_signed(">", n, ir.Constant(I64, 0xFFFFFFFF))
        b.cbranch(b.or_(small, huge), bb["serial"], bb["check"])
        b.position_at_end(bb["check"])
        size = self.load(b, self.size, I32, "acquire")
        b.cbranch(b.icmp_unsigned("==", size, one), bb["serial"], bb["trylock"])
        b.position_at_end(bb["trylock"])
        ok = b.extract_value(b.cmpxchg(self.lock, zero32, one, "acquire", "monotonic"), 1)
        b.cbranch(ok, bb["locked"], bb["serial"])   # held: a nested region, or another thread's
        b.position_at_end(bb["locked"])
        size2 = self.load(b, self.size, I32, "monotonic")
        b.cbranch(b.icmp_unsigned("==", size2, zero32), bb["start"], bb["started"])
        b.position_at_end(bb["start"])
        b.call(start, [])
        b.branch(bb["started"])
        b.position_at_end(bb["started"])
        size3 = self.load(b, self.size, I32, "monotonic")
        b.cbranch(b.icmp_unsigned("<=", size3, one), bb["unlock_serial"], bb["go"])
        b.position_at_end(bb["unlock_serial"])
        self.store(b, zero32, self.lock, "release")
        b.branch(bb["serial"])
        # publish the region: task, ctx, n and done before the word, the word before the generation
        b.position_at_end(bb["go"])
        g = b.add(self.load(b, self.gen, I32, "monotonic"), one)
        self.store(b, task, self.task)
        self.store(b, ctx, self.ctx)
        self.store(b, n, self.n)
        self.store(b, zero32, self.done, "monotonic")
        self.store(b, zero32, self.caller_sleeping, "monotonic")
        self.store(b, b.or_(b.shl(b.zext(g, I64), ir.Constant(I64, 32)), n), self.word, "release")
        self.store(b, g, self.gen, "seq_cst")
        sleepers = self.load(b, self.sleepers, I32, "seq_cst")
        b.cbranch(b.icmp_unsigned("!=", sleepers, zero32), bb["wakeall"], bb["join"])
        b.position_at_end(bb["wakeall"])
        self.futex(b, self.gen, FUTEX_WAKE, ir.Constant(I32, 0x7FFFFFFF))
        b.branch(bb["join"])
        b.position_at_end(bb["join"])
        b.call(work, [g])
        n32 = b.trunc(n, I32)
        b.branch(bb["wait0"])
        # wait for the indices other threads hold: spin, then sleep on `done`
        b.position_at_end(bb["wait0"])
        t0 = b.call(self.cycles, [])
        b.branch(bb["wait"])
        b.position_at_end(bb["wait"])
        d = self.load(b, self.done, I32, "acquire")
        b.cbranch(b.icmp_unsigned("==", d, n32), bb["finish"], bb["wait_spin"])
        b.position_at_end(bb["wait_spin"])
        self.backoff(fn, b, t0, bb["wait"], bb["wait_sleep"])
        b.position_at_end(bb["wait_sleep"])
        self.store(b, one, self.caller_sleeping, "seq_cst")
        d2 = self.load(b, self.done, I32, "seq_cst")
        b.cbranch(b.icmp_unsigned("==", d2, n32), bb["woke"], bb["wait_futex"])
        b.position_at_end(bb["wait_futex"])
        self.futex(b, self.done, FUTEX_WAIT, d2)
        b.branch(bb["woke"])
        b.position_at_end(bb["woke"])
        self.store(b, zero32, self.caller_sleeping, "monotonic")
        b.branch(bb["wait0"])
        b.position_at_end(bb["finish"])
        self.store(b, zero32, self.lock, "release")
        b.ret_void()
        # one thread: a plain loop
        b.position_at_end(bb["serial"])
        self.count_loop(fn, b, n, lambda b, i: b.call(_callee(task), [ctx, i]))
        b.ret_void()
        return fn

    def emit_setters(self, resolve: ir.Function, stop: ir.Function) -> dict[str, ir.Function]:
        fns = {}
        fn, b = self._function("nnc_set_threads", ir.FunctionType(I32, [I32]), internal=False)
        self.take_lock(fn, b)
        b.call(stop, [])
        self.store(b, fn.args[0], self.setting, "monotonic")
        self.store(b, ir.Constant(I32, 0), self.resolved, "monotonic")
        self.store(b, ir.Constant(I32, 0), self.lock, "release")
        b.ret(b.call(resolve, []))
        fns[fn.name] = fn
        fn, b = self._function("nnc_get_threads", ir.FunctionType(I32, []), internal=False)
        size = self.load(b, self.size, I32, "acquire")
        started, unstarted = fn.append_basic_block("started"), fn.append_basic_block("unstarted")
        b.cbranch(b.icmp_unsigned("!=", size, ir.Constant(I32, 0)), started, unstarted)
        b.position_at_end(started)
        b.ret(size)
        b.position_at_end(unstarted)
        b.ret(b.call(resolve, []))
        fns[fn.name] = fn
        fn, b = self._function("nnc_set_spin", ir.FunctionType(VOID, [I64, I64]), internal=False)
        self.store(b, fn.args[0], self.spin, "monotonic")
        self.store(b, fn.args[1], self.patience, "monotonic")
        b.ret_void()
        fns[fn.name] = fn
        fn, b = self._function("nnc_pool_shutdown", ir.FunctionType(VOID, []), internal=False)
        self.take_lock(fn, b)
        b.call(stop, [])
        self.store(b, ir.Constant(I32, 0), self.lock, "release")
        b.ret_void()
        fns[fn.name] = fn
        fn, b = self._function("nnc_pool_after_fork", ir.FunctionType(VOID, []), internal=False)
        for gv in (self.lock, self.size, self.nworkers, self.sleepers, self.stop, self.caller_sleeping):
            self.store(b, ir.Constant(I32, 0), gv, "seq_cst")
        b.ret_void()
        fns[fn.name] = fn
        return fns
