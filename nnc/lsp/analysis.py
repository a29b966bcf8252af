"""One check of one open file for the editor: the CLI's diagnostics plus what hover and inlay hints need.

`analyze` runs the same pipeline as `nnc.compiler.check_file` (parse, load imports, elaborate every model
and train block, unused-value warnings), with two differences that only an editor needs:

- imported files that are open in the editor are read from their unsaved text, not from disk;
- the elaborator records the type of every value it sees at the span it sees it (names, bindings, calls),
  and the op, input types, attributes and parameter count of every op call, so that hover and inlay hints
  answer from the last check instead of re-running anything.

A test compares the diagnostics with `check_file`'s, so the two stay the same.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..compiler import _guard, _unused_warnings, run_deep
from ..diagnostics import Diagnostic, Reporter
from ..elaborate import Elaborator, Loader, ModelInfo, TrainInfo, UnreadableFile
from ..elaborate.loader import resolved, shown
from ..elaborate.values import ModelFn, Tensor, TupleValue
from ..ir.types import TensorType
from ..source import SourceSet, Span

MAX_TYPES_PER_SPAN = 8  # a block called with many shapes keeps its first few


@dataclass(frozen=True)
class CallRecord:
    """One op call as the elaborator made it: enough for hover to show parameters, MACs and window arithmetic."""

    op: str
    inputs: tuple[TensorType, ...]
    outputs: tuple[TensorType, ...]
    attrs: tuple
    params: int  # trainable parameter values this call uses
    layer: str  # the parameter path ("lenet5/features.conv2d")


@dataclass
class Analysis:
    """Everything one check found, indexed by span."""

    path: Path  # resolved path of the checked file
    name: str  # the name its spans use
    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    models: dict[str, ModelInfo] = field(default_factory=dict)
    trains: dict[str, TrainInfo] = field(default_factory=dict)
    sources: SourceSet = field(default_factory=SourceSet)
    modules: dict = field(default_factory=dict)  # resolved Path -> elaborate.Module (None when it failed to parse)
    types: dict[Span, list] = field(default_factory=dict)  # span -> distinct TensorTypes seen there
    calls: dict[Span, list[CallRecord]] = field(default_factory=dict)  # call span -> distinct records
    unreadable: str | None = None

    @property
    def module(self):
        """The checked file's Module (with its AST), or None when it did not parse."""
        return self.modules.get(self.path)

    def files(self) -> set[Path]:
        """Every file this check read: the file itself and everything it imports."""
        return set(self.modules)


def _add(table: dict, key: Span, item) -> None:
    items = table.get(key)
    if items is None:
        table[key] = [item]
    elif item not in items and len(items) < MAX_TYPES_PER_SPAN:
        items.append(item)


def _types_of(value) -> list[TensorType]:
    if isinstance(value, Tensor):
        return [value.type]
    if isinstance(value, TupleValue):
        return [t for v in value.items for t in _types_of(v)]
    return []


class RecordingElaborator(Elaborator):
    """The elaborator, noting each value's type where it appears. It never changes what is reported.

    Each override calls the elaborator's own method first and only reads what it left behind (the scope,
    the builder's newest node), passing any further arguments through, so the elaborator can grow.
    """

    def __init__(self, reporter: Reporter):
        super().__init__(reporter)
        self.types: dict[Span, list] = {}
        self.calls: dict[Span, list[CallRecord]] = {}

    def _note(self, span: Span | None, value) -> None:
        if span is None:
            return
        types = _types_of(value)
        if isinstance(value, TupleValue) and types:
            _add(self.types, span, tuple(types))
        elif types:
            _add(self.types, span, types[0])

    def _bound(self, frame, name: str, span: Span) -> None:
        binding = frame.scope.names.get(name)
        if binding is not None:
            self._note(span, binding.value)

    def ev_Name(self, e, frame):
        value = super().ev_Name(e, frame)
        self._note(e.span, value)
        return value

    def exec_Bind(self, s, frame, conditional):
        super().exec_Bind(s, frame, conditional)
        self._bound(frame, s.name, s.name_span)

    def exec_Input(self, s, frame, conditional):
        super().exec_Input(s, frame, conditional)
        self._bound(frame, s.name, s.name_span)

    def exec_ParamDef(self, s, frame, conditional):
        super().exec_ParamDef(s, frame, conditional)
        self._bound(frame, s.name, s.name_span)

    def exec_Unpack(self, s, frame, conditional):
        super().exec_Unpack(s, frame, conditional)
        for name, span in s.names:
            self._bound(frame, name, span)

    def exec_Output(self, s, frame, conditional):
        before = len(frame.outputs)
        super().exec_Output(s, frame, conditional)
        if len(frame.outputs) > before:
            self._note(s.name_span, frame.outputs[-1][1])

    def call(self, callee, pos, kw, call_span, callee_span, frame, *rest, **options):
        value = super().call(callee, pos, kw, call_span, callee_span, frame, *rest, **options)
        self._note(call_span, value)
        return value

    def apply_op(self, op, pos, kw, call_span, callee_span, frame, *rest, **options):
        builder = frame.builder
        before = len(builder.nodes) if builder is not None else 0
        value = super().apply_op(op, pos, kw, call_span, callee_span, frame, *rest, **options)
        if builder is not None and len(builder.nodes) > before and call_span is not None:
            node = builder.nodes[-1]
            by_value = {p.value.id: p for p in builder.params.values()}
            params = [by_value[i] for i in node.inputs if i in by_value]
            data = tuple(builder.values[i].type for i in node.inputs if i not in by_value)
            outs = tuple(builder.values[o].type for o in node.outputs)
            count = sum(p.value.type.numel() for p in params if p.trainable)
            layer_path = params[0].layer if params else ""
            _add(self.calls, call_span, CallRecord(op.name, data, outs, node.attrs, count, layer_path))
        return value


class EditorLoader(Loader):
    """The loader, reading files open in the editor from their unsaved text."""

    def __init__(self, reporter, sources, elaborator, open_text: Callable[[Path], str | None]):
        super().__init__(reporter, sources, elaborator)
        self.open_text = open_text

    def read(self, path: Path, main: bool = True) -> str:
        text = self.open_text(resolved(path))
        return text if text is not None else super().read(path, main)


def analyze(path: Path, text: str, open_text: Callable[[Path], str | None] = lambda p: None) -> Analysis:
    """Check `text` as the file at `path`, with open files' unsaved text for its imports."""
    return run_deep(_analyze, Path(path), text, open_text)


def _analyze(path: Path, text: str, open_text) -> Analysis:
    reporter = Reporter()
    sources = SourceSet()
    elab = RecordingElaborator(reporter)
    loader = EditorLoader(reporter, sources, elab, open_text)
    key = resolved(path)
    out = Analysis(key, shown(path), text, sources=sources)
    top = Span(out.name, 1, 1, 1, 1)
    try:
        module = _guard(elab, reporter, top, loader.load_main, path, text)
    except UnreadableFile as e:  # only an import's text is read from disk, and that is reported; kept as a guard
        out.unreadable = str(e)
        module = None
    if module is not None:
        for d in module.models:
            info = _guard(elab, reporter, d.name_span, elab.model, ModelFn(d, module))
            if info is not None:
                out.models[d.name] = info
        for d in module.trains:
            info = _guard(elab, reporter, d.name_span, elab.train, d, module)
            if info is not None:
                out.trains[d.name] = info
        _unused_warnings(elab, reporter)
    out.diagnostics = reporter.sorted()
    out.modules = dict(loader.modules)
    out.types = elab.types
    out.calls = elab.calls
    return out
