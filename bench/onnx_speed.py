"""Training steps per second, numpy backend against the ONNX backend (batch 64), alternating in one process.

Only ratios taken in one process count here (docs in ../shared/docs/backends.md §5): the contenders
alternate in blocks, each block after a 0.3 s pause (so the other's thread pool is parked), one warm-up
step first, and the table shows medians of the blocks with the load average. Both rows time the
backend's own step (Executable.__call__: batch in, reports out, state kept inside); "onnx via Trainer"
adds what `Trainer.step` costs on top (it reads the step counter back every step).
Run: python bench/onnx_speed.py [--steps 30] [--rounds 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

import nnc

ROOT = Path(__file__).resolve().parents[1]
CASES = [("digits_mlp", "digits", {"x": (64,)}, "y"), ("lenet5", "mnist", {"image": (1, 28, 28)}, "label")]


def steppers(program: str, train: str, batch: dict) -> dict:
    prog = nnc.load(ROOT / "examples" / f"{program}.nn")
    out = {}
    for backend in ("numpy", "onnx"):
        t = prog.train(train, backend=backend, seed=0)
        out[f"nnc {backend}"] = (lambda exe: lambda: exe(**batch))(t._step)
        if backend == "onnx":
            out["onnx via Trainer"] = (lambda tr: lambda: tr.step(**batch))(t)
    return out


def timed(step, n: int) -> float:
    step()  # warm up
    start = time.perf_counter()
    for _ in range(n):
        step()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime's intra-op threads")
    args = parser.parse_args()
    os.environ["NNC_ONNX_THREADS"] = str(args.threads)
    rng = np.random.default_rng(0)
    print(f"load average {os.getloadavg()[0]:.2f}; onnx intra-op threads {args.threads}; "
          f"medians of {args.rounds} blocks of {args.steps} steps")
    print(f"{'program':<12} {'contender':<18} {'steps/s':>9} {'vs numpy':>9}")
    for program, train, shapes, label in CASES:
        batch = {name: rng.random((64,) + shape, dtype=np.float32) for name, shape in shapes.items()}
        batch[label] = rng.integers(0, 10, 64).astype(np.int32)
        contenders = steppers(program, train, batch)
        rates = {name: [] for name in contenders}
        for _ in range(args.rounds):  # alternate contenders so machine drift hits all alike
            for name, step in contenders.items():
                time.sleep(0.3)
                rates[name].append(timed(step, args.steps))
        base = statistics.median(rates["nnc numpy"])
        for name, values in rates.items():
            m = statistics.median(values)
            print(f"{program:<12} {name:<18} {m:>9.1f} {m / base:>8.2f}x")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
