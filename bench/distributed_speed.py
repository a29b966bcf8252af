"""Data-parallel training speed: steps per second and the share of a step spent communicating, 1, 2 and 4 ranks.

For each program and rank count it starts `mpiexec -n N python -m mpi4py
bench/distributed_speed.py --child ...` (one BLAS thread a rank; four ranks
on a two-core machine are oversubscribed), runs warm-up steps and then
timed steps of the numpy backend on one fixed global batch, for both
reductions (the exact fixed-order tree and MPI's Allreduce). Communication
is the time inside MPI calls on rank 0 (it includes waiting for the slowest
rank). The one-process step (nnc's Trainer, no split) is the first row.
Run: python bench/distributed_speed.py [--steps 30] [--batch 128] [--ranks 1 2 4]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WIDE_MLP = """model wide {
  input x: f32[N, 784]
  output logits = x -> dense(512) -> relu -> dense(512) -> relu -> dense(10)
}
train t {
  input x: f32[N, 784]
  input y: i32[N]
  loss = cross_entropy(wide(x), y)
  minimize loss over wide with adam(lr=1e-3)
}
"""


def programs(tmp: Path) -> dict[str, Path]:
    wide = tmp / "wide_mlp.nn"
    wide.write_text(WIDE_MLP)
    return {"digits_mlp": ROOT / "examples" / "digits_mlp.nn", "mlp 784-512-512-10": wide}


def batch_for(info, size: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for name, vid in info.graph.inputs:
        t = info.graph.type_of(vid)
        shape = (size,) + tuple(int(d) for d in t.shape[1:])
        out[name] = (rng.integers(0, 10, shape).astype(np.int32) if t.dtype.startswith("i")
                     else rng.standard_normal(shape).astype(np.float32))
    return out


def child(args) -> None:
    from mpi4py import MPI

    from nnc.compiler import check_file
    from nnc.train.distributed import DistributedTrainer, Options
    from nnc.train.trainer import Trainer
    info = next(iter(check_file(Path(args.program)).trains.values()))
    batch = batch_for(info, args.batch)
    comm = MPI.COMM_WORLD
    if args.whole:
        trainer = Trainer(info, seed=0)
        comm_seconds = lambda: 0.0  # noqa: E731
    else:
        trainer = DistributedTrainer(info, Options(comm, comm.Get_size(), args.reduction, 1), seed=0)
        comm_seconds = lambda: trainer.reducer.seconds  # noqa: E731
    for _ in range(3):
        trainer.step(**batch)
    comm.Barrier()
    before = comm_seconds()
    began = time.perf_counter()
    for _ in range(args.steps):
        trainer.step(**batch)
    comm.Barrier()
    elapsed = time.perf_counter() - began
    if comm.Get_rank() == 0:
        print(json.dumps({"steps_per_s": args.steps / elapsed, "comm_share": (comm_seconds() - before) / elapsed}))


def run(program: Path, ranks: int, reduction: str, steps: int, batch: int, whole: bool = False) -> dict:
    from nnc.train.launch import THREAD_ENV, mpiexec
    env = dict(os.environ, **{name: "1" for name in THREAD_ENV})
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "mpi4py", __file__, "--child", "--program",
           str(program), "--reduction", reduction, "--steps", str(steps), "--batch", str(batch)]
    done = subprocess.run(cmd + (["--whole"] if whole else []), env=env, capture_output=True, text=True, timeout=600)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--whole", action="store_true")
    ap.add_argument("--program")
    ap.add_argument("--reduction", default="exact")
    args = ap.parse_args()
    if args.child:
        return child(args)
    print(f"numpy backend, batch {args.batch}, {args.steps} timed steps, 1 BLAS thread a rank, {os.cpu_count()} cores")
    print(f"{'program':<20} {'ranks':>5} {'reduction':<10} {'steps/s':>8} {'comm share':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, program in programs(Path(tmp)).items():
            r = run(program, 1, "exact", args.steps, args.batch, whole=True)
            print(f"{name:<20} {1:>5} {'(no split)':<10} {r['steps_per_s']:>8.1f} {'-':>10}", flush=True)
            for ranks in args.ranks:
                for reduction in ("exact", "allreduce"):
                    r = run(program, ranks, reduction, args.steps, args.batch)
                    print(f"{name:<20} {ranks:>5} {reduction:<10} {r['steps_per_s']:>8.1f} "
                          f"{100 * r['comm_share']:>9.1f}%", flush=True)


if __name__ == "__main__":
    main()
