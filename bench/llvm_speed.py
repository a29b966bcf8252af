"""The LLVM backend against the numpy backend, alternating in one process: inference latency at batch 1,
training steps per second at batch 64, and compile time with an empty cache.

Only ratios taken in one process count (../shared/docs/backends.md §5): contenders alternate in blocks,
each block after a 0.3 s pause, one warm-up call first; the table shows medians of the blocks. Both time
what a user calls (Model.__call__ and Trainer.step, the public API). Compile time is
the first call at a batch size (code generation for that binding of sizes) with NNC_CACHE_DIR pointing
at an empty directory, then the same in a fresh executable with the cache filled.
Run: python bench/llvm_speed.py [--rounds 5] [--examples digits_mlp,lenet5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this tree's nnc, whatever is installed
import nnc  # noqa: E402

# example, model, train block (None: inference only), its data input shapes, its label input
CASES = [("digits_mlp", "mlp", "digits", {"x": (64,)}, "y"),
         ("digits_cnn", "cnn", "digits", {"image": (1, 8, 8)}, "label"),
         ("lenet5", "lenet5", "mnist", {"image": (1, 28, 28)}, "label"),
         ("lstm_classifier", "reader", "digits", {"rows": (8, 8)}, "label"),
         ("alexnet", "alexnet", None, {"image": (3, 224, 224)}, None),
         ("resnet18", "resnet18", None, {"image": (3, 224, 224)}, None)]


def rate(call, seconds: float = 0.5, at_least: int = 3) -> float:
    """Calls per second over about `seconds` (after a pause that lets other thread pools park)."""
    time.sleep(0.3)
    n, start = 0, time.perf_counter()
    while n < at_least or time.perf_counter() - start < seconds:
        call()
        n += 1
    return n / (time.perf_counter() - start)


def alternate(contenders: dict, rounds: int) -> dict:
    for call in contenders.values():
        call()  # warm up (and compile)
    rates = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, call in contenders.items():
            rates[name].append(rate(call))
    return {name: statistics.median(r) for name, r in rates.items()}


def compile_seconds(prog, model: str, feeds: dict) -> tuple[float, float]:
    """First call at a batch size with an empty cache, then in a new executable with the cache filled."""
    old = os.environ.get("NNC_CACHE_DIR")
    with tempfile.TemporaryDirectory() as d:
        os.environ["NNC_CACHE_DIR"] = d
        times = []
        for _ in range(2):
            m = prog.model(model, backend="llvm")
            start = time.perf_counter()
            m(**feeds)
            times.append(time.perf_counter() - start)
    if old is None:
        os.environ.pop("NNC_CACHE_DIR", None)
    else:
        os.environ["NNC_CACHE_DIR"] = old
    return times[0], times[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--examples", default=",".join(c[0] for c in CASES))
    args = parser.parse_args()
    wanted = args.examples.split(",")
    rng = np.random.default_rng(0)
    print(f"load average {os.getloadavg()[0]:.2f}; medians of {args.rounds} alternating blocks")
    print(f"{'example':<15} {'measure':<22} {'numpy':>10} {'llvm':>10} {'llvm/numpy':>10}")
    for example, model, train, shapes, label in CASES:
        if example not in wanted:
            continue
        prog = nnc.load(ROOT / "examples" / f"{example}.nn")
        one = {name: rng.random((1,) + shape, dtype=np.float32) for name, shape in shapes.items()}
        cold, warm = compile_seconds(prog, model, one)
        print(f"{example:<15} {'compile (empty cache)':<22} {'':>10} {cold:>9.2f}s {'':>10}")
        print(f"{example:<15} {'compile (cached)':<22} {'':>10} {warm:>9.3f}s {'':>10}")
        models = {b: prog.model(model, backend=b) for b in ("numpy", "llvm")}
        lat = alternate({b: (lambda e: lambda: e(**one))(e) for b, e in models.items()}, args.rounds)
        print(f"{example:<15} {'infer batch 1 (µs)':<22} {1e6 / lat['numpy']:>10.1f} {1e6 / lat['llvm']:>10.1f} "
              f"{lat['llvm'] / lat['numpy']:>9.1f}x")
        if train is None:
            continue
        batch = {name: rng.random((64,) + shape, dtype=np.float32) for name, shape in shapes.items()}
        batch[label] = rng.integers(0, 10, 64).astype(np.int32)
        steps = {b: prog.train(train, backend=b, seed=0) for b in ("numpy", "llvm")}
        sps = alternate({b: (lambda t: lambda: t.step(**batch))(t) for b, t in steps.items()}, args.rounds)
        print(f"{example:<15} {'train batch 64 (steps/s)':<22} {sps['numpy']:>10.1f} {sps['llvm']:>10.1f} "
              f"{sps['llvm'] / sps['numpy']:>9.1f}x")


if __name__ == "__main__":
    main()
