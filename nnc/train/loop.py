"""The training loop of `nnc train`: epochs of shuffled mini-batches, held-out metrics, early stopping,
atomic checkpoints, bit-for-bit resume, a progress bar and loss curves.

Reproducibility: the batch order of epoch e comes from a generator seeded by
(seed, e), dropout masks from the counter-based generator keyed by (seed,
step, node) (the step is saved in every checkpoint), and the held-out split
from the seed, so resuming from the
checkpoint of epoch 3 continues exactly as an uninterrupted run would.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from ..elaborate import TrainInfo
from .checkpoint import LAST_NAME, latest_checkpoint, save_to_directory
from .data import DataError, Dataset, InputSpec, batches, check_batch, load_data
from .token_ids import embedding_vocabularies
from .trainer import NonFiniteLoss, Trainer

CLASS_OPS = ("cross_entropy", "nll", "hinge", "accuracy")


class TrainingStopped(Exception):
    """Training could not go on (a NaN loss, a checkpoint that does not fit); the message says why."""


@dataclass
class Settings:
    data: str | None = None
    epochs: int | None = None
    batch: int | None = None
    seed: int = 0
    val_fraction: float = 0.1
    checkpoint: Path | None = None
    resume: bool = False
    patience: int | None = None
    plot: Path | None = None
    json_lines: bool = False
    backend: str = "numpy"
    device: str = "cpu"
    progress: bool | None = None  # None: only when standard error is a terminal
    base_dir: Path | None = None
    distributed: object | None = None  # nnc.train.distributed.Options: one rank of `nnc train --workers N`
    init_from: Path | None = None  # --init-from CKPT: start from another run's weights, matched by name


@dataclass
class History:
    epochs: list[dict] = field(default_factory=list)
    best: float | None = None
    best_epoch: int | None = None
    since_best: int = 0


def input_specs(info: TrainInfo) -> list[InputSpec]:
    g = info.graph
    return [InputSpec.from_type(name, g.type_of(vid)) for name, vid in g.inputs]


def class_counts(info: TrainInfo) -> dict[str, int]:
    """For each integer input used as class labels, the number of classes (the scores' last axis)."""
    g = info.graph
    inputs = {vid: name for name, vid in g.inputs}
    out: dict[str, int] = {}
    for node in g.nodes:
        if node.op in CLASS_OPS and node.inputs[1] in inputs:
            classes = g.type_of(node.inputs[0]).shape[-1]
            if isinstance(classes, int):
                out[inputs[node.inputs[1]]] = classes
    return out


def mean_report(parts: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    total = sum(n for n, _ in parts)
    keys = parts[0][1].keys() if parts else ()
    return {k: sum(n * r[k] for n, r in parts) / total for k in keys}


def evaluate(trainer: Trainer, arrays: dict[str, np.ndarray], batch: int) -> dict[str, float]:
    """Losses and metrics on held-out data in inference mode, weighted by batch size."""
    if not arrays or not len(next(iter(arrays.values()))):
        return {}
    parts = []
    for b in batches(arrays, batch, np.random.default_rng(0), shuffle=False):
        n = len(next(iter(b.values())))
        parts.append((n, trainer.evaluate(**b)))
    return mean_report(parts)


def run_epoch(trainer: Trainer, dataset: Dataset, batch: int, epoch: int, seed: int = 0,
              progress: "_Progress | None" = None) -> dict:
    """One epoch as `nnc train` runs it: the training batches in the order drawn from (seed, epoch), one
    step each, then the held-out metrics. Returns the epoch's row ({"epoch", "train", "val", "seconds"}:
    the seconds cover all of it). Raises NonFiniteLoss (the progress bar closed) when a loss is not finite.
    bench/fashion_speed.py times this function against PyTorch."""
    began = time.perf_counter()
    parts = []
    order = np.random.default_rng([seed, epoch])
    try:
        for b in batches(dataset.train, batch, order, axes=dataset.batch_axes):
            report = trainer.step(**b)
            parts.append((len(next(iter(b.values()))), report))
            if progress:
                progress.advance(report)
    finally:
        if progress:
            progress.close()
    return {"epoch": epoch + 1, "train": mean_report(parts), "val": evaluate(trainer, dataset.val, batch),
            "seconds": round(time.perf_counter() - began, 3)}


def train(info: TrainInfo, settings: Settings, out: TextIO | None = None, err: TextIO | None = None,
          program_text: str = "") -> History:
    out, err = out or sys.stdout, err or sys.stderr
    data = settings.data or info.settings.get("data")
    if data is None:
        raise DataError(f"train `{info.name}` names no data: add `data \"digits\"` to it or pass --data")
    epochs = settings.epochs or info.settings.get("epochs", 10)
    batch = settings.batch or info.settings.get("batch", 32)
    dataset = load_data(data, input_specs(info), seed=settings.seed, val_fraction=settings.val_fraction,
                        base_dir=settings.base_dir, num_classes=class_counts(info) or None,
                        vocab=embedding_vocabularies(info.graph))
    check_batch(batch, dataset)
    if settings.distributed is not None:  # data-parallel: the same interface, the step split over ranks
        from .distributed import DistributedTrainer
        trainer = DistributedTrainer(info, settings.distributed, seed=settings.seed, program_text=program_text,
                                     backend=settings.backend, device=settings.device)
    else:
        trainer = Trainer(info, seed=settings.seed, program_text=program_text, backend=settings.backend,
                          device=settings.device, train_metrics=info.train_metrics,  # others: held-out only
                          steps_per_epoch=(len(dataset) + batch - 1) // batch)
    history = History()
    start_epoch = 0
    if settings.init_from is not None:
        from .init_from import init_from
        for line in init_from(trainer, settings.init_from).lines():
            print(line, file=err if settings.json_lines else out)
    if settings.resume:
        start_epoch, history = _resume(trainer, settings, info, err)
    if not settings.json_lines:
        print(f"training {info.name}: {dataset.describe()}, batch {batch}, epochs {epochs}", file=out)
    show_progress = settings.progress if settings.progress is not None else err.isatty()
    for epoch in range(start_epoch, epochs):
        steps = (len(dataset) + batch - 1) // batch
        progress = _Progress(err, f"epoch {epoch + 1}/{epochs}", steps) if show_progress else None
        try:
            row = run_epoch(trainer, dataset, batch, epoch, settings.seed, progress)
        except NonFiniteLoss as e:
            kept = f"; the checkpoint of epoch {epoch} is kept" if settings.checkpoint and epoch else ""
            raise TrainingStopped(f"training stopped in epoch {epoch + 1}: {e}{kept}") from None
        if settings.distributed is not None:
            row["workers"] = settings.distributed.size
        history.epochs.append(row)
        improved = _track_best(history, row, info.settings.get("monitor"))
        if settings.checkpoint and getattr(trainer, "writes", True):  # rank 0 alone writes
            meta = {"epoch": epoch + 1, "history": history.epochs, "best": history.best,
                    "best_epoch": history.best_epoch, "since_best": history.since_best}
            save_to_directory(settings.checkpoint, trainer.checkpoint(meta), best=improved)
        print(json.dumps(row) if settings.json_lines else _format_row(row, epochs), file=out, flush=True)
        if settings.plot and getattr(trainer, "writes", True):
            plot_curves(history, settings.plot)
        if settings.patience is not None and history.since_best >= settings.patience:
            if not settings.json_lines:
                watched = _monitored(row, info.settings.get("monitor"))
                print(f"early stopping: no improvement of the held-out {watched} for {settings.patience} "
                      f"epochs (best at epoch {history.best_epoch})", file=out)
            break
    history.trainer = trainer  # type: ignore[attr-defined]
    return history


def _monitored(row: dict, monitor: tuple[str, str] | None = None) -> str:
    """The watched value: the train block's `monitor`, else the first minimized loss."""
    if monitor is not None:
        return monitor[0]
    source = row["val"] or row["train"]
    return next(iter(source))


def _track_best(history: History, row: dict, monitor: tuple[str, str] | None = None) -> bool:
    source = row["val"] or row["train"]
    name = _monitored(row, monitor)
    if name not in source:  # a metric computed on the held-out split only, and there is none
        raise TrainingStopped(f"`monitor {name}`: {name} is computed on the held-out split only and there is "
                              f"none; write `metric {name} = ... on train` or keep --val above 0")
    value = source[name]
    upward = monitor is not None and monitor[1] == "max"
    if history.best is None or (value > history.best if upward else value < history.best):
        history.best, history.best_epoch, history.since_best = value, row["epoch"], 0
        return True
    history.since_best += 1
    return False


def _resume(trainer: Trainer, settings: Settings, info: TrainInfo, err: TextIO) -> tuple[int, History]:
    if settings.checkpoint is None:
        raise TrainingStopped("--resume needs --checkpoint DIR (the folder of an earlier run)")
    path = latest_checkpoint(settings.checkpoint)
    if path is None:
        raise TrainingStopped(f"--resume: no checkpoint in {settings.checkpoint} (expected {LAST_NAME})")
    meta = trainer.load(path)
    if meta.get("train") != info.name:
        raise TrainingStopped(f"{path} was written by train `{meta.get('train')}`, not `{info.name}`")
    if meta.get("seed") != settings.seed:
        raise TrainingStopped(f"{path} was written with --seed {meta.get('seed')}; resume with the same seed")
    history = History(list(meta.get("history", [])), meta.get("best"), meta.get("best_epoch"),
                      int(meta.get("since_best", 0)))
    return int(meta.get("epoch", 0)), history


def _format_row(row: dict, epochs: int) -> str:
    def fmt(d):
        return "  ".join(f"{k} {v:.4f}" for k, v in d.items())
    text = f"epoch {row['epoch']:>{len(str(epochs))}}/{epochs}  {fmt(row['train'])}"
    if row["val"]:
        text += f"  | val {fmt(row['val'])}"
    return text + f"  ({row['seconds']:.1f} s)"


class _Progress:
    """A one-line progress bar on standard error (a terminal only)."""

    def __init__(self, stream: TextIO, title: str, total: int):
        self.stream, self.title, self.total, self.done = stream, title, max(total, 1), 0

    def advance(self, report: dict[str, float]) -> None:
        self.done += 1
        width = 30
        filled = width * self.done // self.total
        first = next(iter(report.items()), None)
        tail = f" {first[0]} {first[1]:.4f}" if first else ""
        self.stream.write(f"\r{self.title} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}{tail}")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r" + " " * 90 + "\r")
        self.stream.flush()


def plot_curves(history: History, path: Path) -> None:
    """Loss and metrics per epoch, training and held-out, one panel per quantity; written atomically."""
    import os
    import tempfile

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    names = list(history.epochs[0]["train"]) if history.epochs else []
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(4.5 * max(len(names), 1), 3.5), squeeze=False)
    epochs = [r["epoch"] for r in history.epochs]
    for ax, name in zip(axes[0], names):
        ax.plot(epochs, [r["train"][name] for r in history.epochs], marker="o", label="train")
        if history.epochs[0]["val"]:
            ax.plot(epochs, [r["val"].get(name, float("nan")) for r in history.epochs], marker="o", label="held out")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
