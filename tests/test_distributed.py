"""Data-parallel training (`nnc train --workers N`): the same bits for any N dividing V, failures that end the job.

The MPI runs start real `mpiexec` jobs (the mpich wheel of the test extra);
each takes a few seconds on two cores, four ranks oversubscribed. The
in-process tests check the pieces without MPI: the reduction tree, the
element offset of dropout masks, and that the shards' summed gradients are
the batch-mean gradient of the one-process step.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nnc.compiler import check_file
from nnc.ops import _philox
from nnc.train.distributed import DistributedTrainer, Options
from nnc.train.reduce import LocalComm, Reducer, cover, tree_sum
from nnc.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
MLP = ROOT / "examples" / "digits_mlp.nn"
GAN = ROOT / "examples" / "gan.nn"

try:
    import mpi4py  # noqa: F401
    HAVE_MPI = True
except ImportError:
    HAVE_MPI = False
needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="mpi4py cannot be imported (pip install '.[distributed]')")


def train_info(path: Path):
    result = check_file(path)
    return next(iter(result.trains.values()))


def nnc_train(*args, fault: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("NNC_FAULT", None)
    if fault:
        env["NNC_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "nnc", "train", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout)


def tensors(directory: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file
    return load_file(str(directory / "last.safetensors"))


def assert_same_bits(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]), k


# 1797 digits in batches of 90: 20 steps, the last one uneven (87 samples)
MLP_20_STEPS = ("--epochs", 1, "--batch", 90, "--val", 0, "--format", "json", "--check-every", 1)


# ---- in-process: the pieces ------------------------------------------------------------------------------------
def test_cover_splits_the_tree_at_the_workers_blocks():
    assert cover(0, 4, 0, 4) == [(0, 4)]
    assert cover(0, 4, 2, 4) == [(2, 4)]
    assert cover(0, 6, 0, 2) == [(0, 1), (1, 2)]  # tree over 6: (0,3) = 0 + (1,3); (3,6) = 3 + (4,6)
    assert cover(0, 6, 2, 4) == [(2, 3), (3, 4)]


def test_tree_sum_is_the_same_from_any_blocks():
    rng = np.random.default_rng(1)
    leaves = [rng.standard_normal(1000).astype(np.float32) for _ in range(8)]
    whole = tree_sum(0, 8, lambda lo, hi: leaves[lo] if hi - lo == 1 else None)
    assert np.array_equal(whole, ((leaves[0] + leaves[1]) + (leaves[2] + leaves[3]))
                          + ((leaves[4] + leaves[5]) + (leaves[6] + leaves[7])))
    for workers in (2, 4):
        per = 8 // workers
        partial = {}
        for r in range(workers):
            for lo, hi in cover(0, 8, r * per, (r + 1) * per):
                partial[(lo, hi)] = tree_sum(lo, hi, lambda a, b: leaves[a] if b - a == 1 else None)
        assert np.array_equal(tree_sum(0, 8, lambda lo, hi: partial.get((lo, hi))), whole)


def test_reducer_one_process_and_empty_shards():
    r = Reducer(LocalComm(), 4)
    leaves = {0: np.ones(3, np.float32), 1: None, 2: np.full(3, 2, np.float32), 3: None}
    assert np.array_equal(r.reduce(leaves, 3, np.float32), np.full(3, 3, np.float32))
    with pytest.raises(ValueError, match="not a multiple"):
        Reducer(LocalComm(), 0)


def test_uniform_offset_draws_the_rows_of_the_whole_tensor():
    whole = _philox.uniform((10, 7), seed=3, stream=11, step=5)
    part = _philox.uniform((4, 7), seed=3, stream=11, step=5, offset=3 * 7)
    assert np.array_equal(part, whole[3:7])
    assert np.array_equal(_philox.uniform((2, 7), 3, 11, 5, offset=0), whole[:2])


def test_one_shard_reports_the_one_process_step_and_shards_sum_to_the_batch_mean(tmp_path):
    program = tmp_path / "mlp_sgd.nn"  # plain SGD: a parameter's change is lr times its gradient
    program.write_text(MLP.read_text().replace("adam(lr=3e-3)", "sgd(lr=0.5)"))
    info = train_info(program)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((70, 64)).astype(np.float32)
    y = rng.integers(0, 10, 70).astype(np.int32)
    whole = Trainer(info, seed=0)
    shards = {v: DistributedTrainer(info, Options(LocalComm(), v), seed=0) for v in (1, 2, 4)}
    expected = whole.step(x=x, y=y)
    reports = {v: t.step(x=x, y=y) for v, t in shards.items()}
    assert reports[1] == expected  # the same graph on one shard: the same masks and bits
    for v in (2, 4):  # dropout masks by global sample index: only the summation order differs
        assert reports[v]["loss"] == pytest.approx(expected["loss"], rel=1e-6)
        for name, value in whole.params.items():
            np.testing.assert_allclose(shards[v].params[name], value, rtol=1e-5, atol=1e-7)


def test_batchnorm_refused_with_several_workers(tmp_path):
    from nnc.train.split import BatchnormRefused
    program = tmp_path / "bn.nn"
    program.write_text("model m {\n  input x: f32[N, 4]\n  output y = x -> dense(8) -> batchnorm -> dense(2)\n}\n"
                       "train t {\n  input x: f32[N, 4]\n  input y: i32[N]\n  loss = cross_entropy(m(x), y)\n"
                       "  minimize loss over m with sgd(lr=0.1)\n}\n")
    info = train_info(program)

    class Two(LocalComm):
        def Get_size(self):
            return 2
    with pytest.raises(BatchnormRefused, match=r"bn.nn:3:.*batchnorm.*--workers 1"):
        DistributedTrainer(info, Options(Two(), 2))


# ---- MPI jobs ----------------------------------------------------------------------------------------------------
@needs_mpi
def test_two_ranks_equal_one_process_with_two_virtual_shards(tmp_path):
    two = nnc_train(MLP, "--workers", 2, *MLP_20_STEPS, "--checkpoint", tmp_path / "two")
    one = nnc_train(MLP, "--workers", 1, "--virtual-shards", 2, *MLP_20_STEPS, "--checkpoint", tmp_path / "one")
    assert two.returncode == 0, two.stderr
    assert one.returncode == 0, one.stderr
    assert_same_bits(tensors(tmp_path / "two"), tensors(tmp_path / "one"))
    row_two, row_one = (__import__("json").loads(r.stdout.splitlines()[-1]) for r in (two, one))
    assert row_two["workers"] == 2 and row_one["workers"] == 1
    assert row_two["train"] == row_one["train"]
    from nnc.train.checkpoint import load_checkpoint
    meta = load_checkpoint(tmp_path / "two" / "last.safetensors").meta
    assert meta["step"] == 20
    assert meta["distributed"] == {"world_size": 2, "virtual_shards": 2, "reduction": "exact", "threads": 1}
    assert meta["position"] == {"samples": 1797, "epoch": 1}
    # launched by mpiexec itself (as on a cluster): nnc finds the world and computes the same bits
    from nnc.train.launch import mpiexec
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop("NNC_FAULT", None)
    cmd = [mpiexec(), "-n", "2", sys.executable, "-m", "nnc", "train", str(MLP), *map(str, MLP_20_STEPS),
           "--checkpoint", str(tmp_path / "world")]
    world = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert world.returncode == 0, world.stderr
    assert_same_bits(tensors(tmp_path / "world"), tensors(tmp_path / "two"))
    assert load_checkpoint(tmp_path / "world" / "last.safetensors").meta["distributed"]["threads"] == 1
    # MPI's own Allreduce: the same computation, summed in MPI's order (close, not promised equal)
    fast = nnc_train(MLP, "--workers", 2, "--reduction", "allreduce", *MLP_20_STEPS, "--checkpoint", tmp_path / "ar")
    assert fast.returncode == 0, fast.stderr
    exact = tensors(tmp_path / "two")
    for name, value in tensors(tmp_path / "ar").items():
        np.testing.assert_allclose(value, exact[name], rtol=1e-4, atol=1e-6)
    assert load_checkpoint(tmp_path / "ar" / "last.safetensors").meta["distributed"]["reduction"] == "allreduce"


@needs_mpi
def test_four_ranks_equal_one_and_two_at_four_virtual_shards(tmp_path):
    runs = {}
    for workers in (4, 2, 1):
        r = nnc_train(MLP, "--workers", workers, "--virtual-shards", 4, *MLP_20_STEPS,
                      "--checkpoint", tmp_path / str(workers))
        assert r.returncode == 0, r.stderr
        runs[workers] = tensors(tmp_path / str(workers))
    assert_same_bits(runs[4], runs[2])
    assert_same_bits(runs[4], runs[1])


@needs_mpi
def test_gan_on_two_ranks_equals_its_one_process_reference(tmp_path):
    args = ("--epochs", 1, "--val", 0, "--check-every", 1)
    two = nnc_train(GAN, "--workers", 2, *args, "--checkpoint", tmp_path / "two")
    one = nnc_train(GAN, "--workers", 1, "--virtual-shards", 2, *args, "--checkpoint", tmp_path / "one")
    assert two.returncode == 0 and one.returncode == 0, two.stderr + one.stderr
    got = tensors(tmp_path / "two")
    assert any(k.startswith("optim/1.adam") for k in got)  # both minimize lines ran
    assert_same_bits(got, tensors(tmp_path / "one"))


@needs_mpi
def test_ranks_that_disagree_end_the_job_naming_them(tmp_path):
    r = nnc_train(MLP, "--workers", 2, *MLP_20_STEPS, fault="skew:1:3")
    assert r.returncode != 0
    assert "after step 3 rank(s) 1 hold other parameters than rank 0" in r.stderr


@needs_mpi
def test_an_exception_on_one_rank_ends_the_job():
    began = time.monotonic()
    r = nnc_train(MLP, "--workers", 2, *MLP_20_STEPS, fault="raise:1:3", timeout=60)
    assert r.returncode != 0
    assert "rank 1 failed" in r.stderr and "injected failure on rank 1 at step 3" in r.stderr
    assert time.monotonic() - began < 30


@needs_mpi
def test_a_stuck_rank_ends_the_job_after_the_step_timeout():
    began = time.monotonic()
    # 5 s, not less: on a loaded 2-core machine an honest early step can take a couple of seconds
    r = nnc_train(MLP, "--workers", 2, *MLP_20_STEPS, "--step-timeout", 5, fault="hang:0:3", timeout=90)
    assert r.returncode != 0
    assert "step 3 did not finish within 5 s" in r.stderr and "rank " in r.stderr
    assert time.monotonic() - began < 45


@needs_mpi
def test_resume_after_a_killed_rank_equals_an_uninterrupted_run(tmp_path):
    args = ("--epochs", 2, "--batch", 128, "--val", 0)  # 15 steps an epoch; rank 1 dies in step 20
    began = time.monotonic()
    killed = nnc_train(MLP, "--workers", 2, *args, "--checkpoint", tmp_path / "k", fault="kill:1:20", timeout=60)
    assert killed.returncode != 0
    assert time.monotonic() - began < 30
    # resumed on another worker count with the same virtual shards: exact
    resumed = nnc_train(MLP, "--workers", 1, "--virtual-shards", 2, *args, "--checkpoint", tmp_path / "k", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    whole = nnc_train(MLP, "--workers", 2, *args, "--checkpoint", tmp_path / "u")
    assert whole.returncode == 0, whole.stderr
    assert_same_bits(tensors(tmp_path / "k"), tensors(tmp_path / "u"))
    other = nnc_train(MLP, "--workers", 2, "--virtual-shards", 4, *args, "--checkpoint", tmp_path / "k", "--resume")
    assert other.returncode == 1
    assert "written with --virtual-shards 2, this run has 4" in other.stderr


@needs_mpi
def test_bad_worker_options_get_one_line():
    r = nnc_train(MLP, "--workers", 2, "--virtual-shards", 3)
    assert r.returncode == 2
    assert r.stderr.strip() == ("nnc: error: --virtual-shards 3 is not a multiple of --workers 2 "
                                "(every worker takes V/N shards)")


def test_program_noise_is_drawn_by_global_sample_as_in_one_process(tmp_path):
    program = tmp_path / "noisy.nn"
    program.write_text("model m {\n  input x: f32[N, 6]\n  output y = x -> dense(8) -> tanh -> dense(3)\n}\n"
                       "train t {\n  input x: f32[N, 6]\n  input y: i32[N]\n"
                       "  loss = cross_entropy(m(x + randn(x)), y)\n  minimize loss over m with sgd(lr=0.5)\n}\n")
    info = train_info(program)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10, 6)).astype(np.float32)
    y = rng.integers(0, 3, 10).astype(np.int32)
    expected = Trainer(info, seed=0).step(x=x, y=y)
    for v in (2, 5):  # each shard draws the noise rows the whole batch would give its samples
        got = DistributedTrainer(info, Options(LocalComm(), v), seed=0).step(x=x, y=y)
        assert got["loss"] == pytest.approx(expected["loss"], rel=1e-6)
