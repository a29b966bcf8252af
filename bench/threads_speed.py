"""The LLVM thread pool's costs, 1 thread against 2, on a quiet machine and with another process
keeping one core busy (issue 8: "under a busy machine the 2-thread path degrades no worse than the
single-thread one").

    python bench/threads_speed.py [--quick] [--policies] [--gemm]

--policies adds 2-thread columns for other ways of waiting (spin, patience in cycle-counter ticks):
spinning with `pause` only, sleeping at once, and the default (pause briefly, then sched_yield, then sleep).

Per case, medians over alternating blocks in one process (docs/backends.md §5):
- empty region, back to back: regions of an empty task over [0, 2) in a loop inside LLVM code (ns each)
- 2 x 1 us, 2 x 20 us of work, back to back: two items of fixed arithmetic (a dependent multiply-add chain)
- empty region / 2 x 20 us after 10 ms idle: one region called from Python after a 10 ms sleep, so
  the workers are asleep on their futex (includes about 1 us of ctypes call)
--gemm adds the GEMM library's product split over the pool (gemm_threads.py), GFLOP/s at 1 and 2
threads, quiet and busy, for 1024³, [1×784]·[784×512], [64×784]·[784×512] and [256×784]·[784×512].
The busy core is a `python -c "while True: pass"` child, started for the second table and killed after.
The tasks come from tests/llvm_pool_tasks.py (a module that declares nnc_parallel_for, like a model).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from llvm_pool_tasks import Tasks  # noqa: E402
from nnc.backends.llvm.threads import DEFAULT_PATIENCE, DEFAULT_SPIN  # noqa: E402

WORK_ITERATIONS = 18000   # about 20 us of dependent multiply-adds on this machine


def back_to_back(t: Tasks, task: str, ctx: int, n: int, regions: int) -> float:
    start = time.perf_counter()
    t.run(task, ctx, n, regions)
    return (time.perf_counter() - start) / regions


def after_idle(t: Tasks, task: str, ctx: int, n: int, samples: int) -> float:
    times = []
    for _ in range(samples):
        time.sleep(0.010)
        start = time.perf_counter()
        t.run(task, ctx, n, 1)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


DEFAULT = ("2 threads", (DEFAULT_SPIN, DEFAULT_PATIENCE))
POLICIES = [("2, pause only", (1 << 20, 1 << 20)), ("2, sleep at once", (0, 0))]


def table(t: Tasks, quick: bool, policies) -> dict[str, dict[str, float]]:
    ctx = np.zeros(3, np.int64)
    ctx[0] = WORK_ITERATIONS
    small = np.zeros(3, np.int64)
    small[0] = WORK_ITERATIONS // 20
    cases = {
        "empty region, back to back (us)": lambda: back_to_back(t, "empty", 0, 2, 20000 if quick else 100000),
        "2 x 1 us of work, back to back (us)": lambda: back_to_back(t, "work", small.ctypes.data, 2,
                                                                     2000 if quick else 10000),
        "2 x 20 us of work, back to back (us)": lambda: back_to_back(t, "work", ctx.ctypes.data, 2,
                                                                      100 if quick else 500),
        "empty region after 10 ms idle (us)": lambda: after_idle(t, "empty", 0, 2, 10 if quick else 30),
        "2 x 20 us of work after 10 ms idle (us)": lambda: after_idle(t, "work", ctx.ctypes.data, 2,
                                                                        10 if quick else 30),
    }
    columns = [("1 thread", 1, (DEFAULT_SPIN, DEFAULT_PATIENCE))] + [(c, 2, spin) for c, spin in policies]
    results: dict[str, dict[str, list[float]]] = {name: {c[0]: [] for c in columns} for name in cases}
    for _ in range(3 if quick else 5):
        for column, k, spin in columns:
            t.pool.set_threads(k)
            t.pool.set_spin(*spin)
            t.run("work", ctx.ctypes.data, 2, 20)  # warm-up: the workers start
            for name, measure in cases.items():
                results[name][column].append(measure() * 1e6)
    t.pool.set_spin()
    return {name: {c: statistics.median(v) for c, v in per.items()} for name, per in results.items()}


GEMM_SHAPES = [(1024, 1024, 1024), (1, 784, 512), (64, 784, 512), (256, 784, 512)]


class Gemm:
    """The library module with the parallel driver, loaded beside the pool."""

    def __init__(self) -> None:
        import ctypes
        from nnc.backends.llvm import gemm_threads, library
        from nnc.backends.llvm import target as T
        h = T.host()
        m = library.module(h, "f32")
        mr = library.geometry_for(h, "f32").mr
        if gemm_threads.parallel_symbol("f32") not in m.globals:   # the library defines it once wired in
            gemm_threads.emit_parallel_gemm(m, m.globals[library.symbol("f32")], "f32", mr)
        gemm_threads.emit_parallel_gemm(m, m.globals[library.symbol("f32")], "f32", mr, parts=2, name="gemm_parts2")
        obj, _ = T.compile_object(str(m), h, 3)
        self._loaded = T.Loaded(obj, h)
        i64, p = ctypes.c_int64, ctypes.c_void_p
        proto = ctypes.CFUNCTYPE(None, i64, i64, i64, p, i64, i64, p, i64, i64, p, i64, i64, p, i64)
        self.fn = self._loaded.function(gemm_threads.parallel_symbol("f32"), proto)
        self.fns = {1: self.fn, 2: self._loaded.function("gemm_parts2", proto)}
        rng = np.random.default_rng(0)
        self.data = {}
        for m_, k, n in GEMM_SHAPES:
            a, b = rng.standard_normal((m_, k), np.float32), rng.standard_normal((k, n), np.float32)
            c = np.empty((m_, n), np.float32)
            self.data[(m_, k, n)] = (a, b, c, [m_, n, k, a.ctypes.data, k, 1, b.ctypes.data, n, 1, c.ctypes.data, n, 0,
                                               None, 0])
            self.fn(*self.data[(m_, k, n)][3])
            assert np.allclose(c, a @ b, rtol=1e-3, atol=1e-3)

    def gflops(self, shape, seconds: float = 0.05, parts: int = 1) -> float:
        args, fn = self.data[shape][3], self.fns[parts]
        flop = 2 * shape[0] * shape[1] * shape[2]
        reps = max(1, int(seconds * 100e9 / flop))
        start = time.perf_counter()
        for _ in range(reps):
            fn(*args)
        return flop * reps / (time.perf_counter() - start) / 1e9


def gemm_table(t: Tasks, g: Gemm, quick: bool) -> dict[str, dict[str, float]]:
    columns = (("1 thread", 1, 1), ("2 threads", 2, 1), ("2, two parts each", 2, 2))
    rows: dict[str, dict[str, list[float]]] = {f"{m}×{k}×{n} GFLOP/s": {c[0]: [] for c in columns}
                                               for m, k, n in GEMM_SHAPES}
    for _ in range(3 if quick else 7):
        for column, k, parts in columns:
            t.pool.set_threads(k)
            time.sleep(0.05)
            for shape, name in zip(GEMM_SHAPES, rows):
                g.gflops(shape, 0.005, parts)     # warm-up (and the workers start)
                rows[name][column].append(g.gflops(shape, 0.02 if quick else 0.05, parts))
    return {name: {c: statistics.median(v) for c, v in per.items()} for name, per in rows.items()}


def show(title: str, rows: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}   (load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f})")
    columns = list(dict.fromkeys(c for v in rows.values() for c in v))
    print("| case | " + " | ".join(columns) + " |\n|" + " --- |" * (len(columns) + 1))
    for name, v in rows.items():
        print(f"| {name} | " + " | ".join(f"{v[c]:.3f}" if c in v else "" for c in columns) + " |")


def main() -> None:
    quick = "--quick" in sys.argv
    t = Tasks()
    policies = [DEFAULT] + (POLICIES if "--policies" in sys.argv else [])
    gemm = Gemm() if "--gemm" in sys.argv else None
    quiet = table(t, quick, policies)
    if gemm:
        quiet.update(gemm_table(t, gemm, quick))
    show("quiet machine", quiet)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        busy = table(t, quick, policies)
        if gemm:
            busy.update(gemm_table(t, gemm, quick))
    finally:
        hog.kill()
        hog.wait()
    show("one core kept busy by another process", busy)
    print("\nbusy / quiet, per thread count (how much each path degrades under load):")
    for name in quiet:
        print(f"  {name}: " + ", ".join(f"{c} {busy[name][c] / quiet[name][c]:.2f}x" for c in quiet[name])
              + f"; 2 threads busy against 1 thread busy {busy[name]['2 threads'] / busy[name]['1 thread']:.2f}")
    print("(times: above 1 is slower; GFLOP/s: below 1 is slower)")
    t.pool.set_threads(None)


if __name__ == "__main__":
    main()
