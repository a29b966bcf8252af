"""`nnc train --init-from CKPT`: start a train block from another run's weights (fine-tuning, transfer).

Parameters and batchnorm state are matched by their stable names (docs/language.md, Parameter names);
a tensor whose shape or dtype differs is left at its initial value, like one the checkpoint lacks.
Optimiser slots and the step counter start fresh: this is a new run, not a resumed one (--resume).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .checkpoint import load_checkpoint


@dataclass
class InitReport:
    """What --init-from loaded and what it did not, by parameter name."""

    path: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # the run's tensors the checkpoint lacks
    mismatched: list[str] = field(default_factory=list)  # "name: shape [..] in the checkpoint, [..] here"
    unused: list[str] = field(default_factory=list)  # the checkpoint's tensors this run has not

    def lines(self) -> list[str]:
        total = len(self.loaded) + len(self.missing) + len(self.mismatched)
        out = [f"init from {self.path}: loaded {len(self.loaded)} of {total} parameter and state tensors"]
        for title, names in (("not in the checkpoint (initialised from the seed)", self.missing),
                             ("shape or dtype differs (initialised from the seed)", self.mismatched),
                             ("in the checkpoint but not in this train block (ignored)", self.unused)):
            if names:
                shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
                out.append(f"  {title}: {shown}")
        return out


def init_from(trainer, path: Path) -> InitReport:
    """Load every parameter and state tensor of `trainer` that `path` holds with the same shape and dtype."""
    ckpt = load_checkpoint(Path(path))
    report = InitReport(str(path))
    for view, saved in ((trainer.params, ckpt.params), (trainer.state, ckpt.state)):
        values = {}
        for name, current in view.items():
            if name not in saved:
                report.missing.append(name)
                continue
            value = saved[name]
            if tuple(value.shape) != tuple(current.shape) or value.dtype != current.dtype:
                report.mismatched.append(f"{name} ({_describe(value)} in the checkpoint, {_describe(current)} here)")
                continue
            values[name] = value
            report.loaded.append(name)
        if values:
            view.update(values)
    here = set(trainer.params) | set(trainer.state)
    report.unused = [n for n in list(ckpt.params) + list(ckpt.state) if n not in here]
    return report


def _describe(a) -> str:
    return f"{a.dtype}[{', '.join(str(d) for d in a.shape)}]"
