"""The front of the pipeline: files to checked, typed IR graphs plus every diagnostic."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostic, Reporter
from .elaborate import Elaborator, Loader, ModelInfo, TrainInfo
from .elaborate.values import ModelFn
from .source import SourceSet


@dataclass
class CheckResult:
    diagnostics: list[Diagnostic]
    models: dict[str, ModelInfo] = field(default_factory=dict)
    trains: dict[str, TrainInfo] = field(default_factory=dict)
    sources: SourceSet = field(default_factory=SourceSet)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def check_file(path: Path, text: str | None = None, warnings_as_errors: bool = False) -> CheckResult:
    """Parse, elaborate and shape-check one file and what it imports.

    Raises UnreadableFile when the file itself cannot be read; everything
    wrong inside it comes back as diagnostics.
    """
    reporter = Reporter()
    sources = SourceSet()
    elab = Elaborator(reporter)
    loader = Loader(reporter, sources, elab)
    module = loader.load_main(path, text)
    result = CheckResult([], sources=sources)
    if module is not None:
        for d in module.models:
            info = elab.model(ModelFn(d, module))
            if info is not None:
                result.models[d.name] = info
        for d in module.trains:
            info = elab.train(d, module)
            if info is not None:
                result.trains[d.name] = info
        _unused_warnings(elab, reporter)
    diags = reporter.sorted()
    if warnings_as_errors:
        diags = [d.as_error() for d in diags]
    result.diagnostics = diags
    return result


_UNUSED = {
    "value": ("W0001", "`{}` is computed but never used", "remove it, or start its name with `_` to keep it"),
    "input": ("W0001", "input `{}` is never used", "remove it, or use it"),
    "layer": ("W0003", "layer `{}` is never called", "call it (`x -> {}`) or remove it"),
}


def _unused_warnings(elab: Elaborator, reporter: Reporter) -> None:
    for site, name, kind in elab.usage.unused():
        code, message, hint = _UNUSED[kind]
        reporter.warning(code, message.format(name), site, "never used", hint=hint.format(name))
