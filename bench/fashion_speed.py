"""Fashion-MNIST with examples/fashion_cnn.nn: nnc llvm's training against the same network in PyTorch eager.

Issue 8 asks that `nnc train` on Fashion-MNIST run an epoch faster than PyTorch eager on this machine and
reach about 0.91-0.93 test accuracy in 3 epochs. This script measures both, in one process for speed:
the nnc trainer (prog.train(..., backend="llvm")) and a torch.nn network of the same layers, started
from nnc's initial weights, with the same optimiser (Adam, its rate on a cosine from 2e-3 to 0 over
2,814 steps: torch's CosineAnnealingLR stepped every step), step on the same batches of the real
training set (batch 64, the block's size) in alternating blocks of --steps steps after a 0.3 s pause;
the table gives the median step time and the epoch it implies (938 steps), or with --full one whole
epoch each, timed end to end. --accuracy
then runs `nnc train examples/fashion_cnn.nn --backend llvm --epochs 3 --format json` (a subprocess: the
real command line) and prints its per-epoch test accuracy and seconds; --torch-accuracy trains the
PyTorch network 3 epochs too, for reference.
Data: Debian's dataset-fashion-mnist (IDX files in /usr/share/datasets/fashion-mnist), or --data DIR.
Run: python bench/fashion_speed.py [--rounds 3] [--steps 50] [--threads 2,1] [--full] [--accuracy] [--torch-accuracy]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this tree's nnc
EXAMPLE = ROOT / "examples" / "fashion_cnn.nn"
DATA = Path("/usr/share/datasets/fashion-mnist")
BATCH = 64
STEPS = 2814  # the example's cosine schedule: 3 epochs of 938 steps


def idx(path: Path) -> np.ndarray:
    """An IDX file (plain or .gz) as a uint8 array."""
    for p in (path, path.with_name(path.name + ".gz")):
        if p.exists():
            raw = (gzip.open if p.suffix == ".gz" else open)(p, "rb").read()
            dims = raw[3]
            shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
            return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)
    raise SystemExit(f"fashion_speed: no {path.name}[.gz] in {path.parent} (apt-get install dataset-fashion-mnist)")


def load(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images scaled to [0, 1] as [N, 1, 28, 28] float32 (as nnc's IDX loader fills them), labels int32."""
    images = idx(folder / f"{split}-images-idx3-ubyte").astype(np.float32)[:, None] / 255.0
    return images, idx(folder / f"{split}-labels-idx1-ubyte").astype(np.int32)


def torch_network(params: dict):
    """The layers of examples/fashion_cnn.nn in torch.nn, with nnc's initial weights (same order)."""
    import torch
    from torch import nn
    net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    ours = list(params.values())
    theirs = list(net.parameters())
    assert [a.shape for a in ours] == [tuple(p.shape) for p in theirs], "the networks differ"
    with torch.no_grad():
        for p, a in zip(theirs, ours):
            p.copy_(torch.from_numpy(np.asarray(a)))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)  # the example's adam(lr=cosine(2e-3, 2814))
    return net, opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=STEPS)


def torch_step(net, opt, schedule):
    import torch
    import torch.nn.functional as F

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y).long())
        loss.backward()
        opt.step()
        schedule.step()
        return loss.item()
    return step


def batches(x, y, seed: int):
    """Endless mini-batches of 64 in a seeded order (each epoch reshuffled)."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(x))
        for i in range(0, len(x) - BATCH + 1, BATCH):
            j = order[i:i + BATCH]
            yield np.ascontiguousarray(x[j]), y[j]


def torch_accuracy(net, x, y) -> float:
    import torch
    net.eval()
    with torch.inference_mode():
        right = sum(int((net(torch.from_numpy(x[i:i + 1000])).argmax(1).numpy() == y[i:i + 1000]).sum())
                    for i in range(0, len(x), 1000))
    net.train()
    return right / len(x)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50, help="steps in one timed block")
    parser.add_argument("--threads", default="2,1", help="PyTorch's thread counts, one contender each")
    parser.add_argument("--full", action="store_true", help="time one whole epoch of each instead of blocks")
    parser.add_argument("--accuracy", action="store_true", help="also run nnc train for 3 epochs")
    parser.add_argument("--torch-accuracy", action="store_true", help="also train PyTorch 3 epochs")
    args = parser.parse_args()
    import nnc
    x, y = load(args.data, "train")
    tx, ty = load(args.data, "t10k")
    steps_per_epoch = -(-len(x) // BATCH)
    print(f"# Fashion-MNIST {len(x)} train / {len(tx)} test images from {args.data}; batch {BATCH}, "
          f"{steps_per_epoch} steps an epoch; load average {os.getloadavg()[0]:.2f}")
    trainer = nnc.load(EXAMPLE).train("fashion", backend="llvm", seed=0)
    contenders = {"nnc llvm": lambda xb, yb: trainer.step(image=xb, label=yb)}
    threads = {}
    try:
        import torch
        net, opt, schedule = torch_network(dict(trainer.params))
        step = torch_step(net, opt, schedule)
        for k in (int(t) for t in args.threads.split(",")):
            name = f"PyTorch {torch.__version__} ({k} thread{'s' if k > 1 else ''})"
            contenders[name], threads[name] = step, k
    except ImportError:
        print("# PyTorch not importable: nnc alone")
    feeds = {name: batches(x, y, 0) for name in contenders}

    def setup(name):
        if name in threads:
            torch.set_num_threads(threads[name])

    for name, step in contenders.items():
        setup(name)
        step(*next(feeds[name]))  # warm up (compile)
    if args.full:
        seconds = {}
        for name, step in contenders.items():
            setup(name)
            time.sleep(0.3)
            start = time.perf_counter()
            for _ in range(len(x) // BATCH):
                step(*next(feeds[name]))
            seconds[name] = time.perf_counter() - start
        per_step = {n: s / (len(x) // BATCH) for n, s in seconds.items()}
    else:
        times = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, step in contenders.items():
                setup(name)
                time.sleep(0.3)
                start = time.perf_counter()
                for _ in range(args.steps):
                    step(*next(feeds[name]))
                times[name].append((time.perf_counter() - start) / args.steps)
        per_step = {n: statistics.median(t) for n, t in times.items()}
    how = "one whole epoch each" if args.full else f"medians of {args.rounds} alternating blocks of {args.steps} steps"
    print(f"# {how}; load average {os.getloadavg()[0]:.2f}")
    print("| contender | ms per step | epoch (s) |")
    print("| --- | --- | --- |")
    for name, s in per_step.items():
        print(f"| {name} | {s * 1e3:.1f} | {s * steps_per_epoch:.1f} |")
    if threads:
        best = min(per_step[n] for n in threads)
        print(f"# PyTorch's best / nnc llvm: {best / per_step['nnc llvm']:.2f}× (goal: > 1, an epoch faster than "
              f"PyTorch eager)")
    if args.accuracy:
        print("# nnc train examples/fashion_cnn.nn --backend llvm --epochs 3 (test = the t10k files)")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, "-m", "nnc", "train", str(EXAMPLE), "--data", str(args.data),
                              "--backend", "llvm", "--epochs", "3", "--format", "json"],
                             capture_output=True, text=True, env=env)
        if out.returncode != 0:
            print(out.stderr.strip()[-1000:])
            return 1
        for line in out.stdout.splitlines():
            r = json.loads(line)
            print(f"epoch {r['epoch']}: train loss {r['train']['loss']:.4f}, test accuracy "
                  f"{r['val']['accuracy']:.4f}, {r['seconds']:.1f} s")
    if args.torch_accuracy and threads:
        net2, opt2, schedule2 = torch_network(dict(nnc.load(EXAMPLE).train("fashion", backend="numpy",
                                                                            seed=0).params))
        step = torch_step(net2, opt2, schedule2)
        for epoch in range(3):
            start = time.perf_counter()
            feed = batches(x, y, 100 + epoch)
            for _ in range(len(x) // BATCH):
                step(*next(feed))
            print(f"PyTorch epoch {epoch + 1}: test accuracy {torch_accuracy(net2, tx, ty):.4f}, "
                  f"{time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
