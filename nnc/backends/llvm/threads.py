"""A persistent thread pool written in LLVM IR: both cores without a C compiler.

`emit_pool(module)` defines these C-callable functions in an llvmlite module; `process_pool()` builds
the one pool of the process (a module of its own, loaded once, its symbols published) that every
executable shares:

    void nnc_parallel_for(ptr task, ptr ctx, i64 n)   task(ctx, i) for every i in [0, n); returns when all ran
    i32  nnc_set_threads(i32 k)       k threads from the next region on: 0 = all online CPUs, 1 = none
                                      started; < 0 = $NNC_THREADS at start (the default). Stops the pool.
    i32  nnc_get_threads()            the threads a region uses now (or would, before the pool starts)
    void nnc_set_spin(i64 spin, i64 patience)   a waiting thread spins with `pause` for `spin`
                                      cycle-counter ticks, then yields its core until `patience`, then sleeps
    void nnc_pool_shutdown()          joins the workers; the next region starts them again
    void nnc_pool_after_fork()        in a forked child: forget the parent's workers (they do not exist)

Model modules only declare `nnc_parallel_for` (`declare_parallel_for`) and find it through
`publish(pool)` (MCJIT resolves undefined symbols through LLVM's process-wide symbol table) or, in a
shared library, through the linker. Threads come from `pthread_create` and sleep with
`syscall(SYS_futex)`; MCJIT resolves both from the running process, and `gcc -shared` from libc.

The IR and its design: pool_ir.py.
"""
from __future__ import annotations

import atexit
import ctypes
import os
import threading
from typing import Mapping

from llvmlite import ir

from .pool_ir import (DEFAULT_PATIENCE, DEFAULT_SPIN, ENV, MAX_THREADS, PARALLEL_FOR, PARALLEL_FOR_TYPE, PTR,
                      SYMBOLS, TASK, Emitter)

__all__ = ["DEFAULT_PATIENCE", "DEFAULT_SPIN", "MAX_THREADS", "PARALLEL_FOR", "PTR", "SYMBOLS", "TASK", "Pool",
           "declare_parallel_for", "emit_pool", "process_pool", "publish", "threads_setting"]


def emit_pool(module: ir.Module, triple: str | None = None) -> dict[str, ir.Function]:
    """Define the pool (its globals and the functions in SYMBOLS) in `module`; returns the exported
    functions by name. `triple` (default: the module's, else this process's) picks the futex system
    call number and the spin-wait instruction. Call it for one module per process (the kernel library's):
    every module defining it is a separate pool."""
    if PARALLEL_FOR in module.globals and not module.globals[PARALLEL_FOR].is_declaration:
        raise ValueError(f"the module already defines {PARALLEL_FOR}")
    if PARALLEL_FOR in module.globals:   # declared earlier by the module's own code: define that one
        raise ValueError(f"call emit_pool before declaring {PARALLEL_FOR} in the same module")
    if triple is None:
        triple = module.triple if module.triple and not module.triple.startswith("unknown") else None
    if triple is None:
        import llvmlite.binding as llvm
        triple = llvm.get_process_triple()
    return Emitter(module, triple).emit()


def declare_parallel_for(module: ir.Module) -> ir.Function:
    """`nnc_parallel_for` in `module`: the pool's own definition when the module holds the pool, else an
    external declaration (resolved by `publish` in process, by the linker in a shared library)."""
    fn = module.globals.get(PARALLEL_FOR)
    return fn if fn is not None else ir.Function(module, PARALLEL_FOR_TYPE, name=PARALLEL_FOR)


# -- Python side -------------------------------------------------------------------------------------
def threads_setting(options: Mapping[str, object] | None = None) -> int | None:
    """The thread count asked for by the backend option `threads`, else $NNC_THREADS, else None (all
    cores); 0 means all cores, 1 no threads. Raises ValueError with a one-line message for anything else."""
    value, source = (options or {}).get("threads"), "option threads"
    if value is None:
        value, source = os.environ.get(ENV), ENV
        if value is None or value.strip() == "":
            return None
    if isinstance(value, bool):
        raise ValueError(f"{source} must be a whole number of threads (0 = all cores), not {value!r}")
    try:
        k = int(str(value).strip()) if isinstance(value, str) else int(value) if value == int(value) else None
    except (TypeError, ValueError, OverflowError):
        k = None
    if k is None or k < 0:
        raise ValueError(f"{source} must be a whole number of threads >= 0 (0 = all cores, 1 = no threads), "
                         f"not {value!r}")
    return min(k, MAX_THREADS)


class Pool:
    """ctypes handles on the pool in a loaded object (target.Loaded). Keeps the object loaded until the
    process exits: worker threads run its code, so it must never be freed while they live. Joins the
    workers at exit (atexit) and forgets them in a forked child."""

    def __init__(self, loaded) -> None:
        self._loaded = loaded
        self._setting: int | None = None     # what set_threads last asked for (-1: the default)
        self._set = loaded.function("nnc_set_threads", ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int32))
        self._get = loaded.function("nnc_get_threads", ctypes.CFUNCTYPE(ctypes.c_int32))
        self._spin = loaded.function("nnc_set_spin", ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64))
        self._shutdown = loaded.function("nnc_pool_shutdown", ctypes.CFUNCTYPE(None))
        self._after_fork = loaded.function("nnc_pool_after_fork", ctypes.CFUNCTYPE(None))
        self.parallel_for = loaded.function(PARALLEL_FOR, ctypes.CFUNCTYPE(
            None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64))
        self.addresses = {name: ctypes.cast(loaded.function(name, ctypes.CFUNCTYPE(None)), ctypes.c_void_p).value
                          for name in SYMBOLS}
        atexit.register(self.shutdown)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self._after_fork)

    def set_threads(self, k: int | None) -> int:
        """k threads from the next region on (None: $NNC_THREADS when the pool starts, else all cores);
        returns the count regions will use. The same setting again keeps the running workers."""
        k = -1 if k is None else int(k)
        if k != self._setting:
            self._setting = k
            return int(self._set(k))
        return int(self._get())

    def threads(self) -> int:
        return int(self._get())

    def set_spin(self, spin: int = DEFAULT_SPIN, patience: int = DEFAULT_PATIENCE) -> None:
        """A waiting thread spins with `pause` for `spin` cycle-counter ticks, then yields its core until
        `patience` ticks, then sleeps on a futex (0, 0: sleep at once)."""
        self._spin(int(spin), int(patience))

    def shutdown(self) -> None:
        """Join the workers (the next region starts them again)."""
        self._shutdown()


_published: dict[str, int] = {}
_publish_lock = threading.Lock()


def publish(pool: Pool) -> None:
    """Make the pool's functions resolvable by every MCJIT engine created afterwards (model modules
    declare `nnc_parallel_for`); one pool per process: publishing a second raises."""
    import llvmlite.binding as llvm
    with _publish_lock:
        if _published and _published != pool.addresses:
            raise RuntimeError("a thread pool is already published in this process (one pool per process)")
        for name, address in pool.addresses.items():
            llvm.add_symbol(name, address)
        _published.update(pool.addresses)


_pool: Pool | None = None


def process_pool(host=None) -> Pool:
    """This process's pool, built on first use: a module holding only the pool, compiled once (and cached
    on disk like any object), loaded into its own engine for the life of the process and published, so
    model modules that declare `nnc_parallel_for` find it. Its size: $NNC_THREADS when set (checked
    here, with a one-line message), else all cores; `Pool.set_threads` changes it."""
    global _pool
    with _build_lock:
        if _pool is None:
            _pool = _build(host)
        return _pool


_build_lock = threading.Lock()


def _source_digest() -> str | None:
    """A hash of the pool's generators (this file and pool_ir.py); None without sources (a frozen install)."""
    import hashlib
    from pathlib import Path
    here, digest = Path(__file__).resolve().parent, hashlib.sha256(b"nnc_pool")
    try:
        for name in ("threads.py", "pool_ir.py"):
            digest.update((here / name).read_bytes())
    except OSError:
        return None
    return digest.hexdigest()


def pool_object(h) -> tuple[bytes, bool]:
    """The pool's object code for host `h`, and whether it came from the disk cache. Keyed by its
    generators' source and the host (not its IR): a cached pool loads without generating the IR only to
    hash it (~5 ms of a cached first call). Without sources, keyed by the IR as any object."""
    from ... import cache
    from . import target as T
    source = _source_digest()
    key = None if source is None else T.cache_key("", h, 3, digest=f"pool:{source}:{h.triple}")
    if key is not None:
        hit = cache.get(T.NAMESPACE, key)
        if hit is not None:
            return hit, True
    module = ir.Module(name="nnc_pool")
    module.triple = h.triple
    emit_pool(module, h.triple)
    if key is None:
        return T.compile_object(str(module), h, 3)
    obj = T.optimise_and_emit(str(module), T.machine(h, 3), 3)
    cache.put(T.NAMESPACE, key, obj)
    return obj, False


def _build(host) -> Pool:
    from . import target as T
    h = host or T.host()
    pool = Pool(T.Loaded(pool_object(h)[0], h))
    pool.set_threads(threads_setting())
    publish(pool)
    return pool

