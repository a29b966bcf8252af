"""Data-parallel training: the Trainer's interface over N workers and V virtual shards, the same bits for any N | V.

Every worker holds the whole batch (all load the same data and draw the
same permutation) and computes the gradients of its contiguous block of the
V virtual shards: shard v holds samples [v·n/V, (v+1)·n/V) of a batch of n.
Per `minimize` line (nnc/train/split.py) the shards' flat buffers — the
line's gradients in its parameter order, then its report numerators — are
summed in the fixed tree of nnc/train/reduce.py, and every worker applies
the same update to the same sum, so parameters never drift apart. A shard's
computation does not depend on which worker does it (dropout masks are drawn
by global sample index; threads per worker are fixed by the launcher), so
N workers give the bits of one process computing all V shards.

Only the step is distributed; held-out evaluation runs whole on every worker
(deterministic, so every worker takes the same early-stopping decision), and
only rank 0 prints and writes checkpoints.
"""
from __future__ import annotations

import hashlib
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..backends import Role, resolve
from ..elaborate import TrainInfo
from ..init import initialize
from ..interp import NP_DTYPES
from ..passes.pipeline import prepare
from ..passes.training import KEY_INPUT, STEP_INPUT
from .checkpoint import Checkpoint, CheckpointError, check_compatible, load_checkpoint, save_checkpoint
from .reduce import Reducer
from .split import GRAD, OFFSET_INPUT, WEIGHT_INPUT, refuse_batchnorm, split_step
from .state_dict import StateDict
from .trainer import GENERATOR, NonFiniteLoss

FAULT_ENV = "NNC_FAULT"  # testing aid: KIND:RANK:STEP, KIND raise, kill, hang or skew (perturb a parameter)
FAULTS = ("raise", "kill", "hang", "skew")


@dataclass
class Options:
    """How a distributed run is laid out; recorded in every checkpoint."""

    comm: object
    virtual_shards: int
    reduction: str = "exact"
    threads: int | None = None
    check_every: int = 0  # every k steps, check that all ranks hold the same parameters (0: never)
    step_timeout: float | None = None  # seconds; a step that takes longer ends the job naming the rank
    rank: int = field(init=False)
    size: int = field(init=False)

    def __post_init__(self):
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()

    def meta(self) -> dict:
        return {"world_size": self.size, "virtual_shards": self.virtual_shards, "reduction": self.reduction,
                "threads": self.threads}


class DistributedTrainer:
    """The Trainer's interface (step, evaluate, params, checkpoint, load) for one worker of a data-parallel run."""

    def __init__(self, info: TrainInfo, options: Options, seed: int = 0, program_text: str = "",
                 backend: str = "numpy", device: str = "cpu"):
        self.info, self.name, self.seed = info, info.name, seed
        self.options = options
        self.program_hash = hashlib.sha256(program_text.encode()).hexdigest()[:16]
        self.reducer = Reducer(options.comm, options.virtual_shards, options.reduction)
        self.writes = options.rank == 0  # only rank 0 writes checkpoints
        refuse_batchnorm(info, options.size)
        self.axes = _batch_axes(info)
        self.split = split_step(info)
        be = resolve(backend, device)
        self._lines = [(line, be.compile(prepare(line.grad, be), line.grad_signature, device=device),
                        be.compile(prepare(line.update, be), line.update_signature, device=device))
                       for line in self.split.lines]
        self._eval = be.compile(prepare(self.split.forward, be), self.split.forward_signature, device=device)
        self.values: dict[str, np.ndarray] = initialize(info.graph.params, seed)
        for slot in self.split.slots:
            p = self.values[slot.param]
            self.values[slot.name] = np.zeros(p.shape, p.dtype)
        self.values[KEY_INPUT] = np.asarray(seed, np.int64)
        self.values[STEP_INPUT] = np.asarray(0, np.int64)
        self.samples_done = 0
        self.step_seconds = 0.0
        self._eval_stale = True
        self._fault = _parse_fault(os.environ.get(FAULT_ENV, ""))

    # ---- the Trainer's views
    @property
    def inputs(self) -> tuple[str, ...]:
        return self.split.batch_inputs

    @property
    def steps_done(self) -> int:
        return int(self.values[STEP_INPUT])

    @property
    def params(self) -> StateDict:
        return self._view(Role.PARAM)

    @property
    def state(self) -> StateDict:
        return self._view(Role.STATE)

    @property
    def slots(self) -> StateDict:
        return StateDict(self.values, [s.name for s in self.split.slots], self._load)

    def _view(self, role: Role) -> StateDict:
        return StateDict(self.values, [p.name for p in self.split.params if p.role is role], self._load)

    def _load(self, values: dict) -> dict:
        for name, value in values.items():
            want = self.values[name]
            a = np.asarray(value)
            if a.shape != want.shape:
                raise ValueError(f"{name} must have shape {list(want.shape)}, found {list(a.shape)}")
            self.values[name] = a.astype(want.dtype)
        self._eval_stale = True
        return self.values

    # ---- one step
    def step(self, **batch) -> dict[str, float]:
        """One training step over the whole batch (every worker is given the same batch and takes its shards)."""
        timer = self._watchdog()
        try:
            began = time.perf_counter()
            self._inject_fault()
            report = self._step(batch)
            self.step_seconds += time.perf_counter() - began
        finally:
            if timer is not None:
                timer.cancel()
        k = self.options.check_every
        if k and self.steps_done % k == 0:
            self._check_agreement()
        return report

    def _step(self, batch: dict) -> dict[str, float]:
        n = _batch_length(batch, self.axes)
        V = self.reducer.virtual_shards
        bounds = [v * n // V for v in range(V + 1)]
        before = dict(self.values)
        report: dict[str, float] = {}
        held = {KEY_INPUT: self.values[KEY_INPUT], STEP_INPUT: self.values[STEP_INPUT]}
        for line, grad_exe, update_exe in self._lines:
            sig = grad_exe.signature
            grad_exe.load_state({p.name: self.values.get(p.name, held.get(p.name)) for p in sig.inputs
                                 if p.role in (Role.PARAM, Role.STATE, Role.KEY, Role.STEP)})
            data = sig.data
            dtype = NP_DTYPES[sig.outputs[0].type.dtype]
            length = sum(int(np.prod(s, dtype=np.int64)) for s in line.shapes) + len(line.reports)
            leaves: dict[int, np.ndarray | None] = {}
            for v in self.reducer.shards:
                lo, hi = bounds[v], bounds[v + 1]
                if hi == lo:
                    leaves[v] = None
                    continue
                feeds = {name: a[lo:hi] if self.axes.get(name, 0) == 0 else a
                         for name, a in batch.items() if name in data}
                weight = np.asarray((hi - lo) / n, NP_DTYPES[sig.input(WEIGHT_INPUT).type.dtype])
                feeds[WEIGHT_INPUT] = weight
                if OFFSET_INPUT in data:
                    feeds[OFFSET_INPUT] = np.asarray(lo, np.int64)
                out = grad_exe(**feeds)
                parts = [np.asarray(out[GRAD + p], dtype).ravel() for p in line.params]
                parts.append(np.asarray([np.asarray(out[r], dtype) * weight.astype(dtype) for r in line.reports],
                                        dtype))
                leaves[v] = np.concatenate(parts)
            total = self.reducer.reduce(leaves, length, dtype)
            sums = total[length - len(line.reports):]
            report.update({r: float(s) for r, s in zip(line.reports, sums)})
            if not np.isfinite(report[line.loss]):
                self.values = before
                raise NonFiniteLoss(f"{line.loss} became {report[line.loss]} at step {self.steps_done + 1}; "
                                    f"parameters are left as they were before this step")
            grads, at = {}, 0
            for p, shape in zip(line.params, line.shapes):
                size = int(np.prod(shape, dtype=np.int64))
                grads[GRAD + p] = total[at:at + size].reshape(shape)
                at += size
            usig = update_exe.signature
            update_exe.load_state({p.name: self.values.get(p.name, held.get(p.name)) for p in usig.inputs
                                   if p.role in (Role.PARAM, Role.STATE, Role.SLOT, Role.STEP, Role.KEY)})
            update_exe(**grads)
            state = update_exe.state()
            self.values.update({name: state[name] for name in usig.updates.values()})
        self.values[STEP_INPUT] = np.asarray(self.steps_done + 1, np.int64)
        self.samples_done += n
        self._eval_stale = True
        return {name: report[name] for name in self.split.losses + self.split.metrics}

    def evaluate(self, **batch) -> dict[str, float]:
        """Losses and metrics in inference mode on the whole batch (every worker computes the same)."""
        if self._eval_stale:
            self._eval.load_state({p.name: self.values[p.name]
                                   for p in self.split.forward_signature.inputs_of(Role.PARAM, Role.STATE)})
            self._eval_stale = False
        return {name: float(v) for name, v in self._eval(**batch).items()}

    # ---- safety
    def _watchdog(self) -> threading.Timer | None:
        limit = self.options.step_timeout
        if not limit:
            return None
        rank, step, comm = self.options.rank, self.steps_done + 1, self.options.comm

        def expire():
            sys.stderr.write(f"nnc: error: rank {rank}: step {step} did not finish within {limit:g} s "
                             f"(--step-timeout: this rank, or a rank it waits for, is stuck); ending the job\n")
            sys.stderr.flush()
            comm.Abort(3)
        timer = threading.Timer(limit, expire)
        timer.daemon = True
        timer.start()
        return timer

    def _check_agreement(self) -> None:
        names = [p.name for p in self.split.params] + [s.name for s in self.split.slots]
        differ = self.reducer.agree([self.values[n] for n in names])
        if differ:
            sys.stderr.write(f"nnc: error: after step {self.steps_done} rank(s) {', '.join(map(str, differ))} "
                             f"hold other parameters than rank 0 (--check-every); ending the job\n")
            sys.stderr.flush()
            self.options.comm.Abort(4)

    def _inject_fault(self) -> None:
        if self._fault is None:
            return
        kind, rank, step = self._fault
        if rank != self.options.rank or step != self.steps_done + 1:
            return
        if kind == "raise":
            raise RuntimeError(f"{FAULT_ENV}: injected failure on rank {rank} at step {step}")
        if kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        if kind == "hang":
            time.sleep(3600)
        if kind == "skew":
            first = self.split.params[0].name
            self.values[first] = self.values[first] + np.asarray(1e-3, self.values[first].dtype)

    # ---- checkpoints
    def checkpoint(self, meta: dict | None = None) -> Checkpoint:
        info = {"train": self.name, "program": self.program_hash, "seed": self.seed, "step": self.steps_done,
                "rng": {"generator": GENERATOR, "key": self.seed, "counter": self.steps_done},
                "distributed": self.options.meta(), "position": {"samples": self.samples_done}}
        info.update(meta or {})
        if "epoch" in info:
            info["position"]["epoch"] = info["epoch"]
        return Checkpoint(dict(self.params), dict(self.state), dict(self.slots), info)

    def save(self, path, meta: dict | None = None) -> None:
        if self.writes:
            save_checkpoint(Path(path), self.checkpoint(meta))

    def load(self, path) -> dict:
        """Restore a checkpoint of a distributed run with the same virtual shards (any worker count)."""
        ckpt = load_checkpoint(Path(path))
        expected = {f"params/{k}": (v.shape, str(v.dtype)) for k, v in self.params.items()}
        expected.update({f"state/{k}": (v.shape, str(v.dtype)) for k, v in self.state.items()})
        expected.update({f"optim/{k}": (v.shape, str(v.dtype)) for k, v in self.slots.items()})
        check_compatible(ckpt, expected)
        saved = ckpt.meta.get("distributed")
        V = self.reducer.virtual_shards
        if not isinstance(saved, dict):
            raise CheckpointError(f"{path} was written by a one-process run (no --workers); a data-parallel run "
                                  f"resumes only its own checkpoints: resume it without --workers")
        if saved.get("virtual_shards") != V:
            raise CheckpointError(
                f"{path} was written with --virtual-shards {saved.get('virtual_shards')}, this run has {V}: resume "
                f"with --virtual-shards {saved.get('virtual_shards')} and any --workers dividing it (the sums are "
                f"exact only over the same shards)")
        if saved.get("reduction") != self.options.reduction:
            raise CheckpointError(f"{path} was written with --reduction {saved.get('reduction')}; resume with the "
                                  f"same reduction")
        self._load({**ckpt.params, **ckpt.state, **ckpt.optimizer})
        self.values[STEP_INPUT] = np.asarray(int(ckpt.meta.get("step", 0)), np.int64)
        self.samples_done = int((ckpt.meta.get("position") or {}).get("samples", 0))
        return ckpt.meta


def _batch_length(batch: dict, axes: dict) -> int:
    return next(len(a) for name, a in batch.items() if axes.get(name, 0) == 0)


def _batch_axes(info: TrainInfo) -> dict[str, int | None]:
    """Each input's batch axis, which must be its first (the shards and the dropout offsets cut along it);
    None: an input without the batch symbol, given whole to every shard."""
    from .data import DataError, _batch_axes as axes_of
    from .loop import input_specs
    axes = axes_of(input_specs(info), "the batch")
    late = [name for name, axis in axes.items() if axis not in (0, None)]
    if late:
        raise DataError(f"data-parallel training cuts every input along its first axis; input `{late[0]}` has "
                        f"its batch axis at {axes[late[0]]}: train it with --workers 1")
    return axes


def _parse_fault(text: str) -> tuple[str, int, int] | None:
    if not text:
        return None
    kind, _, rest = text.partition(":")
    rank, _, step = rest.partition(":")
    if kind not in FAULTS or not rank.isdigit() or not step.isdigit():
        raise ValueError(f"{FAULT_ENV}={text!r}: expected {'|'.join(FAULTS)}:RANK:STEP")
    return kind, int(rank), int(step)
