"""A train block on the numpy backend: one `step` per batch, parameters by stable name, checkpoints.

This is the object behind `prog.train(name, backend="numpy", seed=0)` and
the training loop of `nnc train`.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..elaborate import TrainInfo
from ..init import initialize
from ..interp import Context, RunError, run_graph
from .checkpoint import Checkpoint, CheckpointError, check_compatible, load_checkpoint, restore_rng, rng_state, \
    save_checkpoint
from .step import STEP_INPUT, build_step, slot_input


class NonFiniteLoss(Exception):
    """A loss became NaN or infinite; the message names the step."""


class Trainer:
    def __init__(self, info: TrainInfo, seed: int = 0, program_text: str = ""):
        self.info = info
        self.name = info.name
        self.seed = seed
        self.program_hash = hashlib.sha256(program_text.encode()).hexdigest()[:16]
        self.compiled = build_step(info)
        graph = self.compiled.graph
        values = initialize(graph.params, seed)
        self.params = {p.name: values[p.name] for p in graph.params if p.trainable}
        self.state = {p.name: values[p.name] for p in graph.params if not p.trainable}
        shapes = {p.name: tuple(p.value.type.shape) for p in graph.params}
        self.slots = {s.name: np.zeros(shapes[s.param], np.float32) for s in self.compiled.slots}
        self.steps_done = 0
        self.rng = np.random.default_rng([seed, 0x6E6E63])  # dropout masks; separate from initialisation

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.compiled.batch_inputs

    def _values(self) -> dict[str, np.ndarray]:
        return {**self.params, **self.state}

    def step(self, **batch) -> dict[str, float]:
        """One training step: every `minimize` line once. Returns every minimized value and metric by name."""
        feeds = dict(batch)
        feeds[STEP_INPUT] = np.asarray(self.steps_done, np.int64)
        for slot in self.compiled.slots:
            feeds[slot_input(slot)] = self.slots[slot.name]
        with np.errstate(all="ignore"):  # overflow shows up as a non-finite loss, reported below
            out = run_graph(self.compiled.graph, feeds, self._values(), Context(training=True, rng=self.rng))
        report = {name: float(out[name]) for name in self.compiled.losses + self.compiled.metrics}
        bad = [name for name in self.compiled.losses if not np.isfinite(report[name])]
        if bad:
            raise NonFiniteLoss(f"{bad[0]} became {report[bad[0]]} at step {self.steps_done + 1}; parameters are "
                                f"left as they were before this step")
        for key, value in out.items():
            kind, _, name = key.partition(":")
            if kind == "param":
                self.params[name] = value
            elif kind == "optim":
                self.slots[name] = value
            elif kind == "state":
                self.state[name] = value.astype(np.float32)
        self.steps_done += 1
        return report

    def evaluate(self, **batch) -> dict[str, float]:
        """Losses and metrics in inference mode (no dropout, running batchnorm statistics), no update."""
        with np.errstate(all="ignore"):
            out = run_graph(self.compiled.forward, batch, self._values(), Context(training=False))
        return {name: float(v) for name, v in out.items()}

    # ---- checkpoints
    def checkpoint(self, meta: dict | None = None) -> Checkpoint:
        info = {"train": self.name, "program": self.program_hash, "seed": self.seed, "step": self.steps_done,
                "rng": rng_state(self.rng)}
        info.update(meta or {})
        return Checkpoint(dict(self.params), dict(self.state), dict(self.slots), info)

    def save(self, path, meta: dict | None = None) -> None:
        save_checkpoint(Path(path), self.checkpoint(meta))

    def load(self, path) -> dict:
        """Restore parameters, state, optimiser slots, step and random stream; returns the saved meta."""
        ckpt = load_checkpoint(Path(path))
        expected = {f"params/{k}": (v.shape, str(v.dtype)) for k, v in self.params.items()}
        expected.update({f"state/{k}": (v.shape, str(v.dtype)) for k, v in self.state.items()})
        expected.update({f"optim/{k}": (v.shape, str(v.dtype)) for k, v in self.slots.items()})
        check_compatible(ckpt, expected)
        self.params.update(ckpt.params)
        self.state.update(ckpt.state)
        self.slots.update(ckpt.optimizer)
        self.steps_done = int(ckpt.meta.get("step", 0))
        if "rng" in ckpt.meta:
            self.rng = restore_rng(ckpt.meta["rng"])
        return ckpt.meta


__all__ = ["Trainer", "NonFiniteLoss", "RunError", "CheckpointError"]
