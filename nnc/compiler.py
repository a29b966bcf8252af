"""The front of the pipeline: files to checked, typed IR graphs plus every diagnostic."""
from __future__ import annotations

import bisect
import gc
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import Diagnostic, Reporter
from .elaborate import Elaborator, Loader, ModelInfo, TrainInfo
from .elaborate.loader import shown
from .elaborate.values import ModelFn
from .source import SourceSet, Span


@dataclass
class CheckResult:
    diagnostics: list[Diagnostic]
    models: dict[str, ModelInfo] = field(default_factory=dict)
    trains: dict[str, TrainInfo] = field(default_factory=dict)
    sources: SourceSet = field(default_factory=SourceSet)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


STACK_BYTES = 256 * 1024 * 1024
RECURSION_LIMIT = 20000
_deep = threading.local()


def check_file(path: Path, text: str | None = None, warnings_as_errors: bool = False) -> CheckResult:
    """Parse, elaborate and shape-check one file and what it imports.

    Raises UnreadableFile when the file itself cannot be read; everything
    wrong inside it comes back as diagnostics. Runs with a large stack and the
    cyclic garbage collector paused, whichever thread calls it.
    """
    return run_deep(_check_file, Path(path), text, warnings_as_errors)


def run_deep(fn, *args):
    """fn(*args) on a thread with a 256 MB stack and recursion limit 20000 (unless this is one already),
    with the cyclic garbage collector paused: checking builds millions of small acyclic objects, and
    collecting them over and over made a 5 MB program take a minute."""
    if getattr(_deep, "active", False):
        return fn(*args)
    result: list = [None]
    error: list = [None]

    def work() -> None:
        _deep.active = True
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            result[0] = fn(*args)
        except BaseException as e:  # re-raised in the caller's thread
            error[0] = e
        finally:
            if was_enabled:
                gc.enable()
            _deep.active = False

    if sys.getrecursionlimit() < RECURSION_LIMIT:
        sys.setrecursionlimit(RECURSION_LIMIT)
    worker = threading.Thread(target=work, name="nnc", daemon=True)
    old_size = threading.stack_size()
    try:
        threading.stack_size(STACK_BYTES)
        worker.start()  # the stack size is read when the thread starts
    finally:
        threading.stack_size(old_size)
    worker.join()
    if error[0] is not None:
        raise error[0]
    return result[0]


def _check_file(path: Path, text: str | None, warnings_as_errors: bool) -> CheckResult:
    reporter = Reporter()
    sources = SourceSet()
    elab = Elaborator(reporter)
    loader = Loader(reporter, sources, elab)
    top = Span(shown(path), 1, 1, 1, 1)
    module = _guard(elab, reporter, top, loader.load_main, path, text)
    result = CheckResult([], sources=sources)
    if module is not None:
        for d in module.models:
            info = _guard(elab, reporter, d.name_span, elab.model, ModelFn(d, module))
            if info is not None:
                result.models[d.name] = info
        for d in module.trains:
            info = _guard(elab, reporter, d.name_span, elab.train, d, module)
            if info is not None:
                result.trains[d.name] = info
        _unused_warnings(elab, reporter)
    diags = reporter.sorted()
    if warnings_as_errors:
        diags = [d.as_error() for d in diags]
    result.diagnostics = diags
    return result


def _guard(elab: Elaborator, reporter: Reporter, where: Span, fn, *args):
    """fn(*args), with a last line of defence: a program that still recurses too deep (the parser and
    elaborator bound nesting well before this) gets a diagnostic, never a RecursionError."""
    try:
        return fn(*args)
    except RecursionError:
        elab.depth = 0
        span = elab.current_span or where
        reporter.error("E0005", "the program nests too deeply to check", span, "nested too deep here",
                       hint="bind parts of the expression to names, or split the block into smaller ones")
        return None


_UNUSED = {
    "value": ("W0001", "`{}` is computed but never used", "remove it, or start its name with `_` to keep it"),
    "input": ("W0001", "input `{}` is never used", "remove it, or use it"),
    "layer": ("W0003", "layer `{}` is never called", "call it (`x -> {}`) or remove it"),
}


def _unused_warnings(elab: Elaborator, reporter: Reporter) -> None:
    abandoned: dict[str, list[tuple[int, int]]] = {}  # file -> sorted (first, last) lines of definitions
    for a in elab.abandoned:
        abandoned.setdefault(a.file, []).append((a.line, a.end_line))
    for spans in abandoned.values():
        spans.sort()
    for site, name, kind in elab.usage.unused():
        spans = abandoned.get(site.file)
        if spans:
            i = bisect.bisect_right(spans, (site.line, float("inf"))) - 1
            if i >= 0 and spans[i][0] <= site.line <= spans[i][1]:
                continue  # its definition stopped at an error before it could be used
        code, message, hint = _UNUSED[kind]
        reporter.warning(code, message.format(name), site, "never used", hint=hint.format(name))
