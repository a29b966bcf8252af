"""A train block on any backend: one `step` per batch, parameters by stable name, checkpoints.

This is the object behind `prog.train(name, backend=..., seed=0)` and the
training loop of `nnc train`. It builds the training-step graph and its
signature once, has the chosen backend compile it (and the inference-mode
graph used for held-out metrics), and talks to the two executables only
through the backend interface: load_state, state and calls.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..backends import Role, resolve
from ..elaborate import TrainInfo
from ..init import initialize
from ..interp import NP_DTYPES, RunError
from ..passes.pipeline import prepare
from ..passes.training import KEY_INPUT, STEP_INPUT
from .checkpoint import Checkpoint, CheckpointError, check_compatible, load_checkpoint, save_checkpoint
from .state_dict import StateDict
from .step import build_step

GENERATOR = "philox4x32-10"


class NonFiniteLoss(Exception):
    """A loss became NaN or infinite; the message names the step."""


class Trainer:
    def __init__(self, info: TrainInfo, seed: int = 0, program_text: str = "", backend: str = "numpy",
                 device: str = "cpu", train_metrics=None, steps_per_epoch: int | None = None):
        """train_metrics: the metrics step() reports (all when None); evaluate() reports every metric.
        steps_per_epoch: the steps of one epoch, for schedules counted in epochs (per="epoch")."""
        self.info = info
        self.name = info.name
        self.seed = seed
        self.program_hash = hashlib.sha256(program_text.encode()).hexdigest()[:16]
        self.backend = resolve(backend, device)
        self.compiled = build_step(info, train_metrics, steps_per_epoch)
        step = self.compiled
        self._step = self.backend.compile(prepare(step.graph, self.backend, signature=step.signature),
                                          step.signature, device=device)
        self._eval = self.backend.compile(prepare(step.forward, self.backend, signature=step.forward_signature),
                                          step.forward_signature, device=device)
        values = initialize(step.graph.params, seed)
        values.update({p.name: np.zeros(_shape(p), NP_DTYPES[p.type.dtype])
                       for p in step.signature.inputs_of(Role.SLOT)})
        values[KEY_INPUT] = np.asarray(seed, np.int64)
        values[STEP_INPUT] = np.asarray(0, np.int64)
        self._step.load_state(values)
        self._eval_stale = True
        self._steps = 0  # mirrors the executable's counter, so a step never reads state back from a device

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.compiled.batch_inputs

    @property
    def steps_done(self) -> int:
        return self._steps

    @property
    def params(self) -> StateDict:
        """name -> array of every trainable parameter; assigning one loads it into the executable."""
        return self._view(Role.PARAM)

    @property
    def state(self) -> StateDict:
        return self._view(Role.STATE)

    @property
    def slots(self) -> StateDict:
        return self._view(Role.SLOT)

    def _view(self, role: Role) -> StateDict:
        names = [p.name for p in self.compiled.signature.inputs_of(role)]
        return StateDict(self._step.state(), names, self._load)

    def _load(self, values: dict) -> dict:
        self._step.load_state(values)
        self._eval_stale = True
        return self._step.state()

    def step(self, **batch) -> dict[str, float]:
        """One training step: every `minimize` line once. Returns every minimized value and metric by name."""
        out = self._step(**batch)
        report = {name: float(out[name]) for name in self.compiled.losses + self.compiled.metrics}
        bad = [name for name in self.compiled.losses if not np.isfinite(report[name])]
        if bad:  # the executable committed nothing
            raise NonFiniteLoss(f"{bad[0]} became {report[bad[0]]} at step {self._steps + 1}; parameters are "
                                f"left as they were before this step")
        self._steps += 1
        self._eval_stale = True
        return report

    def evaluate(self, **batch) -> dict[str, float]:
        """Losses and metrics in inference mode (no dropout, running batchnorm statistics), no update."""
        if self._eval_stale:
            current = self._step.state()
            self._eval.load_state({p.name: current[p.name]
                                   for p in self.compiled.forward_signature.inputs_of(Role.PARAM, Role.STATE)})
            self._eval_stale = False
        out = self._eval(**batch)
        return {name: float(v) for name, v in out.items()}

    # ---- checkpoints
    def checkpoint(self, meta: dict | None = None) -> Checkpoint:
        info = {"train": self.name, "program": self.program_hash, "seed": self.seed, "step": self.steps_done,
                "rng": {"generator": GENERATOR, "key": self.seed, "counter": self.steps_done}}
        info.update(meta or {})
        return Checkpoint(dict(self.params), dict(self.state), dict(self.slots), info)

    def save(self, path, meta: dict | None = None) -> None:
        save_checkpoint(Path(path), self.checkpoint(meta))

    def load(self, path) -> dict:
        """Restore parameters, state, optimiser slots and the step counter; returns the saved meta."""
        ckpt = load_checkpoint(Path(path))
        expected = {f"params/{k}": (v.shape, str(v.dtype)) for k, v in self.params.items()}
        expected.update({f"state/{k}": (v.shape, str(v.dtype)) for k, v in self.state.items()})
        expected.update({f"optim/{k}": (v.shape, str(v.dtype)) for k, v in self.slots.items()})
        check_compatible(ckpt, expected)
        rng = ckpt.meta.get("rng")
        if isinstance(rng, dict) and rng.get("generator") not in (None, GENERATOR):
            raise CheckpointError(f"{path} was written with the random generator {rng.get('generator')!r}; "
                                  f"this nnc draws from {GENERATOR}")
        values = {**ckpt.params, **ckpt.state, **ckpt.optimizer}
        values[STEP_INPUT] = np.asarray(int(ckpt.meta.get("step", 0)), np.int64)
        self._load(values)
        self._steps = int(ckpt.meta.get("step", 0))
        return ckpt.meta


def _shape(port) -> tuple[int, ...]:
    return tuple(int(d) for d in port.type.shape)


__all__ = ["Trainer", "NonFiniteLoss", "RunError", "CheckpointError"]
