"""Every backend side by side (batch-64 training steps per second, batch-1 inference latency), one process.

Contenders: nnc's numpy, llvm and onnx backends (those that run here) and
PyTorch on the CPU with the same architecture when torch is installed
(`pip install torch==2.13.0`). The onnx backend is ONNX Runtime running the
graphs nnc exports. Only ratios taken in one process count
(../shared/docs/backends.md §5): contenders alternate in blocks, each after
a 0.3 s pause so other thread pools park, one warm-up call first, medians of
the blocks; the load average is printed with the table.
Run: python bench/train_speed.py [--rounds 5] [--seconds 0.5] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this tree's nnc, whatever is installed
import nnc  # noqa: E402

# program, model, train block, data input shapes, label input
CASES = [("digits_mlp", "mlp", "digits", {"x": (64,)}, "y"),
         ("lenet5", "lenet5", "mnist", {"image": (1, 28, 28)}, "label")]
BACKENDS = ("numpy", "llvm", "onnx")


def torch_model(program: str):
    import torch
    from torch import nn
    if program == "digits_mlp":
        model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
        return model, torch.optim.Adam(model.parameters(), lr=3e-3)
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                          nn.Linear(84, 10))
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)


def torch_calls(program: str, batch: dict, label: str, single: dict):
    import torch
    from torch import nn
    model, opt = torch_model(program)
    x = torch.from_numpy(next(v for k, v in batch.items() if k != label))
    y = torch.from_numpy(batch[label]).long()
    x1 = torch.from_numpy(next(iter(single.values())))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model.eval()
            model(x1)
            model.train()
    return step, infer


def nnc_calls(program: str, model: str, train: str, backend: str, batch: dict, single: dict):
    prog = nnc.load(ROOT / "examples" / f"{program}.nn")
    t = prog.train(train, backend=backend, seed=0)
    m = prog.model(model, backend=backend, seed=0)
    return (lambda: t.step(**batch)), (lambda: m(**single))


def rate(call, seconds: float) -> float:
    time.sleep(0.3)
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < seconds:
        call()
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.5, help="length of one timed block")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch's threads")
    args = parser.parse_args()
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    from nnc.backends import BackendUnavailable, resolve
    available = []
    for name in BACKENDS:
        try:
            resolve(name)
            available.append(name)
        except BackendUnavailable as e:
            print(f"# {name}: {e}")
    rng = np.random.default_rng(0)
    print(f"# load average {os.getloadavg()[0]:.2f}; medians of {args.rounds} alternating blocks")
    print(f"| program | contender | train steps/s (batch 64) | inference µs (batch 1) |")
    print("| --- | --- | --- | --- |")
    for program, model, train, shapes, label in CASES:
        batch = {name: rng.random((64,) + shape, dtype=np.float32) for name, shape in shapes.items()}
        batch[label] = rng.integers(0, 10, 64).astype(np.int32)
        single = {name: rng.random((1,) + shape, dtype=np.float32) for name, shape in shapes.items()}
        contenders = {}
        for backend in available:
            contenders[f"nnc {backend}"] = nnc_calls(program, model, train, backend, batch, single)
        if torch is not None:
            contenders[f"pytorch {torch.__version__} cpu"] = torch_calls(program, batch, label, single)
        for step, infer in contenders.values():  # warm up: compile, allocate
            step(), infer()
        steps = {name: [] for name in contenders}
        latency = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, (step, infer) in contenders.items():
                steps[name].append(rate(step, args.seconds))
                latency[name].append(1e6 / rate(infer, args.seconds))
        for name in contenders:
            print(f"| {program} | {name} | {statistics.median(steps[name]):.1f} | "
                  f"{statistics.median(latency[name]):.0f} |")


if __name__ == "__main__":
    main()
