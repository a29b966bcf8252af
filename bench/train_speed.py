"""Training steps per second on the numpy backend (batch 64): the baseline compiled backends must beat.

Compares with PyTorch (CPU) on the same architecture in the same process,
alternating the contenders, when torch is installed. Prints a table.
Run: python bench/train_speed.py [--steps 30] [--threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import nnc

ROOT = Path(__file__).resolve().parents[1]
CASES = [("digits_mlp", "digits", {"x": (64,)}, "y"), ("lenet5", "mnist", {"image": (1, 28, 28)}, "label")]


def nnc_stepper(program: str, train: str, batch: dict):
    t = nnc.load(ROOT / "examples" / f"{program}.nn").train(train, seed=0)
    return lambda: t.step(**batch)


def torch_stepper(program: str, batch: dict, label: str):
    import torch
    from torch import nn
    if program == "digits_mlp":
        model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, 10))
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    else:
        model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                              nn.Linear(84, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.from_numpy(next(v for k, v in batch.items() if k != label))
    y = torch.from_numpy(batch[label]).long()
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    return step


def timed(step, n: int) -> float:
    step()  # warm up
    start = time.perf_counter()
    for _ in range(n):
        step()
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    print(f"{'program':<12} {'contender':<14} {'steps/s (median of rounds)':>28}")
    for program, train, shapes, label in CASES:
        batch = {name: rng.random((64,) + shape, dtype=np.float32) for name, shape in shapes.items()}
        batch[label] = rng.integers(0, 10, 64).astype(np.int32)
        contenders = {"nnc numpy": nnc_stepper(program, train, batch)}
        if torch is not None:
            contenders["pytorch cpu"] = torch_stepper(program, batch, label)
        rates = {name: [] for name in contenders}
        for _ in range(args.rounds):  # alternate contenders so machine drift hits both alike
            for name, step in contenders.items():
                rates[name].append(timed(step, args.steps))
        for name, values in rates.items():
            print(f"{program:<12} {name:<14} {statistics.median(values):>28.1f}")


if __name__ == "__main__":
    main()
