"""Elementwise and reduction kernels of the LLVM backend on 1 and on 2 threads (parallel.py's split), in
one process, alternating: an Adam update of one parameter (one fused kernel writing m', v' and p') and a
bias-gradient sum (x[N, C] summed over N) at several sizes. Prints per kernel the median µs from the
cycle counter (option profile) and the ratio; note `uptime` with the numbers (2 shared cores).

    python bench/llvm_fusion_speed.py [--rounds 15]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from nnc.backends import get, inference_signature  # noqa: E402
from nnc.backends.llvm import threads  # noqa: E402
from nnc.backends.llvm.report import cycles_per_second  # noqa: E402
from nnc.elaborate.builder import GraphBuilder  # noqa: E402
from nnc.ir.types import TensorType  # noqa: E402
from nnc.passes.emit import Emitter  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402
from nnc.source import Span  # noqa: E402

SPAN = Span("bench.nn", 1, 1, 1, 2)
LLVM = get("llvm")


def graph(build, inputs):
    b = GraphBuilder("t")
    e = Emitter(b, SPAN, "", "t")
    xs = {n: b.add_input(n, t, SPAN) for n, t in inputs.items()}
    outs = build(e, **xs)
    b.outputs = [(f"y{i}", o.id) for i, o in enumerate(outs)]
    return b.build()


def adam(e, p, m, v, g):
    def c(x):
        return e("constant", value=x, dtype="f32")

    def k(x, like):
        return e("broadcast_to", c(x), like, shape=())
    m2 = e("add", e("mul", k(0.9, m), m), e("mul", k(0.1, g), g))
    v2 = e("add", e("mul", k(0.999, v), v), e("mul", k(0.001, g), e("mul", g, g)))
    step = e("div", e("mul", k(1e-3, m2), m2), e("add", e("sqrt", v2), k(1e-8, v2)))
    return [m2, v2, e("sub", p, step)]


def column_sum(e, x):
    return [e("sum", x, axis=(0,))]


def case(name, build, shapes, rounds):
    g = graph(build, {n: TensorType("f32", s) for n, s in shapes.items()})
    exe = LLVM.compile(prepare(g, LLVM), inference_signature(g), options={"profile": True, "cache": False})
    rng = np.random.default_rng(0)
    feeds = {n: np.abs(rng.normal(size=s)).astype(np.float32) for n, s in shapes.items()}
    exe(**feeds)
    pool = threads.process_pool()
    rate = cycles_per_second()
    times = {1: [], 2: []}
    for _ in range(rounds):
        for t in (1, 2):
            pool.set_threads(t)
            before = sum(c for _, c in exe.profile_table())
            for _ in range(5):
                exe(**feeds)
            times[t].append((sum(c for _, c in exe.profile_table()) - before) / 5 / rate * 1e6)
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"{name:34s} {one:9.1f} {two:9.1f} {one / two:6.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f}   µs per call (all kernels), median of {args.rounds} rounds")
    print(f"{'case':34s} {'1 thread':>9s} {'2 threads':>9s} {'ratio':>7s}")
    for n in (16384, 65536, 131072, 401408, 1 << 21):
        case(f"adam update, {n} elements", adam, {x: (n // 512, 512) for x in "pmvg"}, args.rounds)
    for n, c in ((64, 512), (256, 512), (64, 4096), (1024, 1024)):
        case(f"sum over N of x[{n}, {c}]", column_sum, {"x": (n, c)}, args.rounds)
    time.sleep(0)


if __name__ == "__main__":
    main()
