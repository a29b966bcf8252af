"""GEMM speed, one thread: nnc's kernel library against numpy (OpenBLAS) and the per-kernel gemm.py forms.

One process, contenders alternating in blocks, medians of many calls after a warm-up
(../shared/docs/backends.md §5). OpenBLAS is held to one thread (OPENBLAS_NUM_THREADS=1 is set before
numpy is imported, unless already set). Run: `python bench/gemm_speed.py [--blocks 15] [--shapes 1024,mlp1]`.
Prints a table: per shape, microseconds per call and GFLOP/s of each contender, and the library's ratio
to numpy; the load average comes first (numbers on a busy machine are not comparable).

Shapes whose name ends in `T` take B transposed (B = Wᵀ of a dense weight W[out, in], B's columns
contiguous: the library's dot path), `tA` A transposed (a weight gradient Xᵀ·dY). `--threads 1,2` adds
the library's threaded form (`nnc_gemm_f32_mt`) with the pool at each count.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nnc.backends.llvm import library as L  # noqa: E402
from nnc.backends.llvm import target as T  # noqa: E402

SHAPES = {  # name: (M, N, K), or (M, N, K, A transposed, B transposed)
    "1024": (1024, 1024, 1024),
    "mlp1": (1, 512, 784),
    "mlp64": (64, 512, 784),
    "mlp256": (256, 512, 784),
    "conv1": (6, 50176, 25),
    "mlp1T": (1, 512, 784, False, True),       # batch-1 dense with W[out, in] as it is stored
    "mlp3T": (3, 512, 784, False, True),
    "mlp64T": (64, 512, 784, False, True),     # the MLP's forward layer 1 in training
    "mlp256T": (256, 512, 784, False, True),   # its batch-256 inference (cpu_speed's mlp256 row), layer 1
    "mlp256h_T": (256, 512, 512, False, True),  # ... layer 2
    "mlp256o_T": (256, 10, 512, False, True),   # ... the 10-class layer
    "mlp64dwtA": (512, 784, 64, True, False),   # its weight gradient dYᵀ·X
    "mlp64h_T": (64, 512, 512, False, True),    # the MLP's forward layer 2 in training (x·Wᵀ)
    "mlp64h_dwtA": (512, 512, 64, True, False),  # its weight gradient
    "mlp64h_dx": (64, 512, 512),                # its input gradient dY·W
    "r18s4": (512, 49, 4608),                   # ResNet-18 stage 4's 3x3 convolutions at batch 1 (N = 7·7)
    "r18s3": (256, 196, 2304),                  # stage 3's (N = 14·14)
    "r18s4w": (256, 49, 256),                   # one of the 16 products of a Winograd-lowered stage-4 conv
    "lenet_c2": (16, 6400, 150),                  # LeNet conv2 at batch 64, all images in one product
    "lenet_fc1": (64, 120, 400),                  # its first dense layer (as [in, out])
    "lenet_dx2tA": (150, 6400, 16, True, False),  # LeNet conv2's input-gradient columns Wᵀ·dY at batch 64
    "lenet_dw2T": (16, 25, 6400, False, True),  # LeNet's conv weight gradients at batch 64: tiny M, N, huge k
    "lenet_dw1T": (6, 25, 50176, False, True),
}
GEMM = ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * 3, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                        ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                        ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64)
RUN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def library_call(h: T.Host, a, b, c, ws, threads: int = 0):
    """A closure calling nnc_gemm_f32 on these arrays (arguments converted once; a and b may be transposed
    views); with `threads`, nnc_gemm_f32_mt with the pool at that many threads."""
    eng = L.engine(h, "f32")
    fn = GEMM(eng.get_function_address(L.symbol("f32", bool(threads))))
    m, k = a.shape
    n = b.shape[1]
    size = a.itemsize
    args = (m, n, k, a.ctypes.data, a.strides[0] // size, a.strides[1] // size, b.ctypes.data,
            b.strides[0] // size, b.strides[1] // size, c.ctypes.data, n, 0, ws.ctypes.data, ws.nbytes)
    pool = None
    if threads:
        from nnc.backends.llvm.threads import process_pool
        pool = process_pool(h)

    def call():
        if pool is not None:
            pool.set_threads(threads)
        fn(*args)
    call.keep = (eng, a, b, c, ws)  # the arguments are raw addresses: keep their arrays alive
    return call


def forms_call(h: T.Host, a, b, c, use_library: bool):
    """A closure running one Matmul kernel emitted by gemm.py (its constant-size forms, or the library
    hook when `use_library`), through an entry point as an executable would."""
    from nnc.backends.llvm.emit import emit_module
    from nnc.backends.llvm.loops import Buf, Matmul
    bufs = [Buf("a", "f32", a.shape, arg=0), Buf("b", "f32", b.shape, arg=1), Buf("c", "f32", c.shape, arg=2)]
    saved = L.ENABLED
    L.ENABLED = use_library
    try:
        mod = emit_module([Matmul(bufs[2].load(), bufs[0].load(), bufs[1].load())], 3, h.triple, T.data_layout(h))
    finally:
        L.ENABLED = saved
    obj, _ = T.compile_object(str(mod), h)
    loaded = T.Loaded(obj, h)
    fn = loaded.function("nnc_run", RUN)
    spare = np.zeros(4096, np.uint8)  # arena, status, counters, sizes, offsets: unused by one Matmul
    ptrs = np.array([a.ctypes.data, b.ctypes.data, c.ctypes.data] + [spare.ctypes.data] * 8, np.uint64)
    addr = ptrs.ctypes.data

    def call():
        fn(addr)
    call.keep = (loaded, ptrs, spare, a, b, c)
    return call


def measure(calls: dict, seconds: float, blocks: int) -> dict[str, float]:
    """Median seconds per call of each contender, alternating blocks of about seconds/blocks each."""
    for f in calls.values():  # warm-up, and the calls per block
        f()
    per = {}
    for name, f in calls.items():
        t = time.perf_counter()
        f()
        per[name] = max(1, int(seconds / blocks / len(calls) / max(time.perf_counter() - t, 1e-7)))
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(blocks):
        for name, f in calls.items():
            for _ in range(per[name]):
                t = time.perf_counter()
                f()
                samples[name].append(time.perf_counter() - t)
    return {name: statistics.median(s) for name, s in samples.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--seconds", type=float, default=4.0, help="time per shape, all contenders together")
    ap.add_argument("--blocks", type=int, default=15)
    ap.add_argument("--no-forms", action="store_true", help="skip the gemm.py forms (slow to compile at 1024³)")
    ap.add_argument("--threads", default="", help="also the threaded form at these thread counts: 1,2")
    args = ap.parse_args()
    h = T.host()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; cpu {h.cpu}; "
          f"vectors {L.vectors(h)[0]} bits; OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}")
    t = time.perf_counter()
    obj, cached = L.compile_library(h, "f32", use_cache=False)
    print(f"library compile (no cache) {time.perf_counter() - t:.2f} s, {len(obj) // 1024} KB object")
    rng = np.random.default_rng(0)
    counts = [int(t) for t in args.threads.split(",") if t]
    extra = [f"lib {t} thr" for t in counts]
    print(f"{'shape':>22} | {'library':>16} | {'numpy':>16} | {'gemm.py forms':>16} | "
          + "".join(f"{x:>16} | " for x in extra) + "lib/numpy")
    for name in args.shapes.split(","):
        m, n, k, ta, tb = (SHAPES[name] + (False, False))[:5]
        a = rng.normal(size=(k, m)).astype(np.float32).T if ta else rng.normal(size=(m, k)).astype(np.float32)
        b = rng.normal(size=(n, k)).astype(np.float32).T if tb else rng.normal(size=(k, n)).astype(np.float32)
        c = np.zeros((m, n), np.float32)
        out = np.zeros((m, n), np.float32)
        ws = np.zeros(L.workspace_bytes(n, k, "f32"), np.uint8)
        calls = {"library": library_call(h, a, b, c, ws), "numpy": lambda: np.matmul(a, b, out=out)}
        if not args.no_forms and not (ta or tb):
            calls["forms"] = forms_call(h, a, b, np.zeros((m, n), np.float32), use_library=False)
        for t, x in zip(counts, extra):
            calls[x] = library_call(h, a, b, np.zeros((m, n), np.float32), ws, threads=t)
        best = measure(calls, args.seconds, args.blocks)
        ref = a.astype(np.float64) @ b
        assert np.allclose(c, ref, rtol=1e-3, atol=1e-3 * max(1.0, np.sqrt(k))), f"library result wrong on {name}"
        flops = 2 * m * n * k
        cells = []
        for who in ("library", "numpy", "forms", *extra):
            s = best.get(who)
            cells.append(f"{s * 1e6:8.1f} µs {flops / s / 1e9:5.1f}" if s else f"{'-':>16}")
        print(f"{f'{name} [{m}x{k}]·[{k}x{n}]':>22} | " + " | ".join(cells)
              + f" | {best['numpy'] / best['library']:.2f}×")
    print(f"load average {os.getloadavg()[0]:.2f} after (µs per call, GFLOP/s)")


if __name__ == "__main__":
    main()
