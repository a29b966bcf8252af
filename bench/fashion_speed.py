"""Fashion-MNIST with examples/fashion_cnn.nn: a whole `nnc train` epoch (llvm) against the same epoch in PyTorch.

Issue 8 asks that `nnc train` on Fashion-MNIST run an epoch faster than PyTorch eager on this machine and
reach about 0.91-0.93 test accuracy in 3 epochs. This script times, in one process, whole epochs as each
runs them:

- nnc: `nnc.train.loop.run_epoch`, the function `nnc train` runs for each epoch, on the Dataset `nnc train`
  loads (nnc/train/data.py: the IDX files, t10k held out) with the Trainer `nnc train` builds (llvm backend,
  train-side metrics only): shuffling, batch slicing, the steps, the reports, the held-out evaluation;
- PyTorch eager: the same layers (torch.nn), started from nnc's initial weights, the same optimiser (Adam,
  its rate on a cosine from 2e-3 to 0 over 2,814 steps: CosineAnnealingLR stepped every step), batch 64,
  an epoch order drawn the same way, the loss read back every step (`.item()`, as nnc reports it), and the
  held-out loss and accuracy in inference mode, batch 64; at each of --threads.

The contenders alternate, one epoch each per round after a 0.3 s pause (docs/backends.md §5); the table
gives the median epoch seconds. --fraction F times the first F of the training and held-out sets instead
(the same code, fewer batches) and scales to a whole epoch; --rounds 1 --fraction 1 is one real epoch each.
--accuracy then runs `nnc train examples/fashion_cnn.nn --backend llvm --epochs 3 --format json` (a
subprocess: the real command line) and prints its per-epoch test accuracy and seconds; --torch-accuracy
trains the PyTorch network 3 epochs too, for reference.
Data: Debian's dataset-fashion-mnist (IDX files in /usr/share/datasets/fashion-mnist), or --data DIR.

The executables compile (or load from the cache) at their first call: one step and one evaluation batch
of each contender run before the timing, and that first call's seconds are printed. --nnc-threads 2,1
adds nnc contenders on fixed thread counts (the process's pool; 0 is the default: $NNC_THREADS or every
core): on a busy machine two threads can lose to one (docs/backends.md §5).

    python bench/fashion_speed.py [--rounds 3] [--fraction 0.25] [--threads 2,1] [--nnc-threads 0]
                                  [--accuracy] [--torch-accuracy]
"""
from __future__ import annotations

import argparse
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
STEPS = 2814  # the example's cosine schedule: 3 epochs of 938 steps


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


def torch_epoch(net, opt, schedule, dataset, batch: int, epoch: int, seed: int = 0) -> dict:
    """One PyTorch epoch doing what run_epoch does: a shuffled order from (seed, epoch), np.take batches,
    a step each with its loss read back, the weighted mean loss, then held-out loss and accuracy."""
    import torch
    import torch.nn.functional as F
    began = time.perf_counter()
    x, y = dataset.train["image"], dataset.train["label"]
    order = np.random.default_rng([seed, epoch]).permutation(len(x))
    total = 0.0
    net.train()
    for start in range(0, len(x), batch):
        idx = order[start:start + batch]
        xb, yb = np.take(x, idx, axis=0), np.take(y, idx, axis=0)
        opt.zero_grad()
        loss = F.cross_entropy(net(torch.from_numpy(xb)), torch.from_numpy(yb).long())
        loss.backward()
        opt.step()
        schedule.step()
        total += loss.item() * len(idx)
    vx, vy = dataset.val["image"], dataset.val["label"]
    net.eval()
    vloss = right = 0.0
    with torch.inference_mode():
        for start in range(0, len(vx), batch):
            logits = net(torch.from_numpy(vx[start:start + batch]))
            target = torch.from_numpy(vy[start:start + batch]).long()
            vloss += F.cross_entropy(logits, target, reduction="sum").item()
            right += int((logits.argmax(1) == target).sum())
    net.train()
    return {"epoch": epoch + 1, "train": {"loss": total / len(x)},
            "val": {"loss": vloss / len(vx), "accuracy": right / len(vx)},
            "seconds": round(time.perf_counter() - began, 3)}


def part_of(dataset, fraction: float):
    """The first `fraction` of the training and held-out sets (whole batches of the first), same source."""
    from nnc.train.data import Dataset
    if fraction >= 1:
        return dataset
    n = max(64, int(len(dataset) * fraction) // 64 * 64)
    m = max(64, int(dataset.num_val * fraction))
    return Dataset({k: v[:n] for k, v in dataset.train.items()}, {k: v[:m] for k, v in dataset.val.items()},
                   dataset.source, dataset.batch_axes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fraction", type=float, default=1.0, help="time this share of each epoch (scaled)")
    parser.add_argument("--threads", default="2,1", help="PyTorch's thread counts, one contender each")
    parser.add_argument("--nnc-threads", default="0", help="nnc's thread counts, one contender each (0: the "
                        "default, $NNC_THREADS or every core)")
    parser.add_argument("--accuracy", action="store_true", help="also run nnc train for 3 epochs")
    parser.add_argument("--torch-accuracy", action="store_true", help="also train PyTorch 3 epochs")
    args = parser.parse_args()
    import nnc
    from nnc.train.data import check_batch, load_data
    from nnc.train.loop import class_counts, input_specs, run_epoch
    from nnc.train.trainer import Trainer
    text = EXAMPLE.read_text()
    program = nnc.load(str(EXAMPLE))
    info = program._result.trains["fashion"]
    batch = info.settings.get("batch", 64)
    began = time.perf_counter()
    full = load_data(str(args.data), input_specs(info), num_classes=class_counts(info) or None)
    check_batch(batch, full)
    loaded = time.perf_counter() - began
    dataset = part_of(full, args.fraction)
    scale = len(full) / len(dataset)
    print(f"# {full.describe()} ({loaded:.1f} s to load); batch {batch}, {-(-len(full) // batch)} steps an "
          f"epoch; timing {len(dataset):,} + {dataset.num_val:,} of them, x{scale:.2f}; "
          f"load average {os.getloadavg()[0]:.2f}")
    began = time.perf_counter()
    trainer = Trainer(info, seed=0, program_text=text, backend="llvm", train_metrics=info.train_metrics,
                      steps_per_epoch=-(-len(full) // batch))
    print(f"# nnc: Trainer built (step and evaluation compiled or loaded from the cache) in "
          f"{time.perf_counter() - began:.1f} s")
    initial = dict(trainer.params)   # PyTorch starts from these (before nnc's warm-up step)
    first = {k: v[:batch] for k, v in dataset.train.items()}
    began = time.perf_counter()
    trainer.step(**first)   # the executables compile (or load) on their first call: not part of an epoch
    trainer.evaluate(**{k: v[:batch] for k, v in dataset.val.items()})
    print(f"# nnc: first step and evaluation (code compiled or loaded) {time.perf_counter() - began:.1f} s")
    from nnc.backends.llvm import target
    from nnc.backends.llvm.threads import process_pool
    pool = process_pool(target.host(None))
    epochs, contenders, threads, nnc_threads = {}, {}, {}, {}
    for k in (int(t) for t in args.nnc_threads.split(",")):
        name = "nnc llvm" + (f" ({k} thread{'s' if k > 1 else ''})" if k else "")
        contenders[name] = lambda e: run_epoch(trainer, dataset, batch, e, 0)
        nnc_threads[name], epochs[name] = k or None, 0
    try:
        import torch
        for k in (int(t) for t in args.threads.split(",")):
            name = f"PyTorch {torch.__version__} ({k} thread{'s' if k > 1 else ''})"
            net, opt, schedule = torch_network(initial)
            torch.set_num_threads(k)
            torch_epoch(net, opt, schedule, part_of(dataset, 64 / len(dataset)), batch, 0)  # warm up: one step
            contenders[name] = (lambda net, opt, schedule: lambda e: torch_epoch(net, opt, schedule, dataset,
                                                                                  batch, e))(net, opt, schedule)
            threads[name], epochs[name] = k, 0
    except ImportError:
        print("# PyTorch not importable: nnc alone")
    times: dict[str, list[float]] = {name: [] for name in contenders}
    rows: dict[str, dict] = {}
    for _ in range(args.rounds):
        for name, run in contenders.items():
            if name in threads:
                torch.set_num_threads(threads[name])
            else:
                pool.set_threads(nnc_threads[name])
            time.sleep(0.3)
            start = time.perf_counter()
            rows[name] = run(epochs[name])
            times[name].append((time.perf_counter() - start) * scale)
            epochs[name] += 1
    print(f"# median of {args.rounds} alternating epochs each; load average {os.getloadavg()[0]:.2f}")
    print("| contender | epoch (s) | min (s) | held-out accuracy after its last timed epoch |")
    print("| --- | --- | --- | --- |")
    med = {n: statistics.median(t) for n, t in times.items()}
    for name, t in times.items():
        print(f"| {name} | {med[name]:.1f} | {min(t):.1f} | {rows[name]['val'].get('accuracy', float('nan')):.4f} |")
    if threads:
        best = min(med[n] for n in threads)
        ours = min(med[n] for n in nnc_threads)
        print(f"# PyTorch's best / nnc's best: {best / ours:.2f}× (goal: > 1, an epoch faster than PyTorch eager)")
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
        torch.set_num_threads(max(threads.values()))
        net, opt, schedule = torch_network(dict(Trainer(info, seed=0, backend="numpy").params))
        for epoch in range(3):
            r = torch_epoch(net, opt, schedule, full, batch, epoch)
            print(f"PyTorch epoch {epoch + 1}: train loss {r['train']['loss']:.4f}, test accuracy "
                  f"{r['val']['accuracy']:.4f}, {r['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
