"""Where splitting an elementwise kernel over the thread pool starts to pay (parallel.py's MIN_WORK, PART).

parallel.py splits a Store/Reduce kernel's outer axis into parts of about PART elements run through
`nnc_parallel_for` once its work reaches MIN_WORK elements. This measures, in one process, elementwise kernels
of 2^14..2^22 elements compiled three ways: in one piece (MIN_WORK above every size), split in parts of PART
elements (at most half the kernel, so there are two parts at least) on 1 thread, and the same split on 2
threads (the pool's `set_threads`), alternating the contenders in blocks and taking medians (docs/backends.md
§5). Times are the kernels' own, from the `profile` option's cycle counts (the pool's dispatch and waits
included; the Python call and the output arrays' allocation, which page-faults at these sizes, left out:
inside a step the arena is warm). Kernels: `x + y` (memory-bound: two loads, one store), `tanh(x)` (vmath.py's
straight-line IR: about 30 flops an element) and an Adam-like fused update (`m' = .9m + .1g`, `v' = .999v +
.001g²`, `p' = p - lr·m'/(√v' + ε)`: five loads, three stores, a sqrt and a division). Each cell is the median
(and, in brackets, the fastest) of the rounds: on a shared machine the fastest block is the one least
disturbed. The last column, one piece ÷ 2 threads, is the speed-up of splitting; MIN_WORK should sit where it
stays above 1 on a quiet machine. --parts also times PART = 2^14, 2^15, 2^17 at 2 threads.

    python bench/parallel_threshold.py [--rounds 9] [--parts] [--sizes 15,16,17,18,19] [--kernels add,tanh,adam]

The table in parallel.py's docstring came from `--rounds 9 --sizes 15,16,17,18,19` with both cores idle.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KERNELS = {
    "add": ("input x: f32[N]\n  input y: f32[N]\n  output z = x + y", ("x", "y")),
    "tanh": ("input x: f32[N]\n  output z = tanh(x)", ("x",)),
    "adam": ("input p: f32[N]\n  input g: f32[N]\n  input m: f32[N]\n  input v: f32[N]\n"
             "  output m2 = m * 0.9 + g * 0.1\n  output v2 = v * 0.999 + g * g * 0.001\n"
             "  output p2 = p - (m * 0.9 + g * 0.1) * 0.001 / (sqrt(v * 0.999 + g * g * 0.001) + 1e-8)",
             ("p", "g", "m", "v")),
}


def compile_model(name: str, min_work: int, part: int):
    """The kernel `name` compiled with the `profile` option (cycles per kernel) and parallel.py's MIN_WORK and
    PART set as given (they are read when the code is generated, at the first call: so it is called here;
    the object cache keys on the IR, and the lowering cache is off while a setting differs)."""
    import nnc
    from nnc.backends.llvm import BACKEND, parallel
    from nnc.backends.llvm.report import model_graph
    from nnc.passes.pipeline import prepare
    saved = parallel.MIN_WORK, parallel.PART
    parallel.MIN_WORK, parallel.PART = min_work, part
    try:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "k.nn"
            path.write_text(f"model k {{\n  {KERNELS[name][0]}\n}}\n")
            graph, signature = model_graph(nnc.load(str(path)).graph("k"))
            exe = BACKEND.compile(prepare(graph, BACKEND, signature=signature), signature,
                                  options={"profile": True})
            exe(**{i: np.ones(4, np.float32) for i in KERNELS[name][1]})
            return exe
    finally:
        parallel.MIN_WORK, parallel.PART = saved


def kernel_seconds(exe, feeds: dict, calls: int) -> float:
    """Seconds per call in the compiled kernels alone (their cycle counts: no Python, no output allocation)."""
    from nnc.backends.llvm.report import cycles_per_second
    before = sum(c for _, c in exe.profile_table())
    for _ in range(calls):
        exe(**feeds)
    return (sum(c for _, c in exe.profile_table()) - before) / calls / cycles_per_second()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sizes", default="14,15,16,17,18,19,20,21,22", help="log2 of the element counts")
    parser.add_argument("--kernels", default="add,tanh,adam")
    parser.add_argument("--parts", action="store_true", help="also PART = 2^14, 2^15, 2^17 at 2 threads")
    args = parser.parse_args()
    from nnc.backends.llvm import parallel, target, threads
    pool = threads.process_pool(target.host(None))
    part = parallel.PART
    print(f"# load average {os.getloadavg()[0]:.2f}; PART = 2^{part.bit_length() - 1}; kernel µs per call, medians of "
          f"{args.rounds} alternating blocks")
    extra = [14, 15, 17] if args.parts else []
    head = ["one piece", "split, 1 thread", "split, 2 threads"] + [f"2 threads, parts 2^{p}" for p in extra]
    print("| kernel | elements | " + " | ".join(head) + " | one piece ÷ 2 threads |")
    print("|" + " --- |" * (len(head) + 3))
    rng = np.random.default_rng(0)
    for name in args.kernels.split(","):
        whole = compile_model(name, 1 << 40, part)
        for log2 in (int(s) for s in args.sizes.split(",")):
            n = 1 << log2
            each = min(part, n // 2)   # MIN_WORK = the part: every size here is split (and MIN_WORK >= PART)
            split = compile_model(name, each, each)
            models = {"one piece": (whole, 1), "split, 1 thread": (split, 1), "split, 2 threads": (split, 2)}
            for p in extra:
                models[f"2 threads, parts 2^{p}"] = (compile_model(name, min(1 << p, n // 2), min(1 << p, n // 2)), 2)
            feeds = {i: rng.random(n, dtype=np.float32) + 0.5 for i in KERNELS[name][1]}
            calls = max(3, (1 << 24) // n)  # about 16M elements a block
            times: dict[str, list[float]] = {h: [] for h in head}
            for h in head:
                model, k = models[h]
                pool.set_threads(k)
                model(**feeds)
            for _ in range(args.rounds):
                for h in head:
                    model, k = models[h]
                    pool.set_threads(k)
                    model(**feeds)
                    times[h].append(kernel_seconds(model, feeds, calls) * 1e6)
            med = {h: statistics.median(t) for h, t in times.items()}
            least = {h: min(t) for h, t in times.items()}
            cells = " | ".join(f"{med[h]:.1f} ({least[h]:.1f})" for h in head)
            print(f"| {name} | 2^{log2} | {cells} | {med['one piece'] / med['split, 2 threads']:.2f}× "
                  f"({least['one piece'] / least['split, 2 threads']:.2f}×) |", flush=True)
    pool.set_threads(None)
    print(f"# load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
