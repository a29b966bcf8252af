"""Diagnostics as data, with one text renderer (rustc's layout) and one JSON renderer."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from .source import SourceSet, Span


@dataclass(frozen=True)
class Label:
    """A secondary place worth showing, with a short text under it."""

    span: Span
    text: str


@dataclass(frozen=True)
class Diagnostic:
    severity: str  # "error" | "warning"
    code: str
    message: str
    span: Span | None
    label: str = ""  # the text under the primary caret
    hint: str | None = None
    labels: tuple[Label, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_error(self) -> "Diagnostic":
        return Diagnostic("error", self.code, self.message, self.span, self.label, self.hint, self.labels, self.notes)

    def to_json(self) -> dict:
        s = self.span
        out = {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": s.file if s else None,
            "line": s.line if s else None,
            "column": s.column if s else None,
            "end_line": s.end_line if s else None,
            "end_column": s.end_column if s else None,
            "hint": self.hint,
        }
        if self.label:
            out["label"] = self.label
        if self.labels:
            out["labels"] = [
                {"file": l.span.file, "line": l.span.line, "column": l.span.column,
                 "end_line": l.span.end_line, "end_column": l.span.end_column, "text": l.text}
                for l in self.labels
            ]
        if self.notes:
            out["notes"] = list(self.notes)
        return out


class CompileError(Exception):
    """Raised by nnc.load when a program has errors; carries every diagnostic."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: SourceSet | None = None):
        self.diagnostics = list(diagnostics)
        self.sources = sources
        errors = [d for d in self.diagnostics if d.is_error]
        first = errors[0] if errors else (self.diagnostics[0] if self.diagnostics else None)
        summary = f"{first.span}: {first.message}" if first and first.span else (first.message if first else "error")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(summary + more)

    def render(self) -> str:
        return render_text(self.diagnostics, self.sources or SourceSet())


def sort_key(d: Diagnostic):
    s = d.span
    return (s.file, s.line, s.column) if s else ("", 0, 0)


def _gutter_width(diag: Diagnostic) -> int:
    lines = [diag.span.line] if diag.span else [1]
    lines += [l.span.line for l in diag.labels]
    return len(str(max(lines)))


def _pad(text: str, column: int) -> str:
    """Spaces up to a 1-based column, keeping tabs so marks land under the right character."""
    return "".join("\t" if c == "\t" else " " for c in text[: column - 1]).ljust(column - 1)


def _mark_extent(span: Span, line: int, text: str) -> tuple[int, int]:
    start = span.column if span.line == line else 1
    end = span.end_column if span.end_line == line else len(text) + 1
    return start, max(end, start + 1)


MAX_SHOWN = 160  # characters of one source line shown; a longer line is cut to a window around its marks
_CONTEXT = 40  # characters shown before the first mark when a line is cut


def _fill(row: str, upto: int, text: str) -> str:
    """row padded to `upto` characters, with a tab wherever the source line has one (so marks line up)."""
    if len(row) >= upto:
        return row
    return row + "".join("\t" if text[i:i + 1] == "\t" else " " for i in range(len(row), upto))


def _printable(text: str) -> str:
    """Control characters (a NUL, an escape sequence) shown as one replacement character each."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == "\t" else "\ufffd" for c in text)


def _window(text: str, extents: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """A very long line (a generated program, binary data) cut to MAX_SHOWN characters around its marks."""
    if len(text) <= MAX_SHOWN:
        return text, extents
    lo = max(0, min(start for start, _ in extents) - 1 - _CONTEXT)
    hi = min(len(text), lo + MAX_SHOWN)
    lead, tail = ("..." if lo > 0 else ""), ("..." if hi < len(text) else "")
    shown = lead + text[lo:hi] + tail
    first, last = len(lead) + 1, len(lead) + (hi - lo) + 1
    moved = []
    for start, end in extents:
        start = min(max(start - lo + len(lead), first), last)
        end = min(max(end - lo + len(lead), start + 1), max(last, start + 1))
        moved.append((start, end))
    return shown, moved


def _line_block(text: str, line: int, marks: list[tuple[Span, str, str]], width: int) -> list[str]:
    """One source line with every mark on it, the rightmost label inline and the others hanging below."""
    bar = " " * width + " |"
    marks = sorted(marks, key=lambda m: _mark_extent(m[0], line, text)[0])
    text, extents = _window(text, [_mark_extent(m[0], line, text) for m in marks])
    text = _printable(text)
    under = ""
    for (span, char, _), (start, end) in zip(marks, extents):
        under = _fill(under, start - 1, text) if len(under) < start - 1 else under[: start - 1]
        under += char * (end - start)
    out = [f"{line:>{width}} | {text}"]
    last_text = marks[-1][2]
    out.append(f"{bar} {under}" + (f" {last_text}" if last_text else ""))
    hanging = [(m, e) for m, e in zip(marks[:-1], extents[:-1]) if m[2]]
    if hanging:
        cols = [e[0] for _, e in hanging]
        out.append(f"{bar} " + _bars(cols, len(cols), text))
        for i in range(len(hanging) - 1, -1, -1):
            out.append(f"{bar} " + _fill(_bars(cols, i, text), cols[i] - 1, text) + hanging[i][0][2])
    return out


def _bars(cols: list[int], n: int, text: str = "") -> str:
    row = ""
    for c in cols[:n]:
        row = _fill(row, c - 1, text)[: c - 1] + "|"
    return row


def render_one(d: Diagnostic, sources: SourceSet, lines: dict | None = None) -> str:
    out = [f"{d.severity}[{d.code}]: {d.message}"]
    width = _gutter_width(d)
    bar = " " * width + " |"
    if d.span:
        out.append(f"{' ' * width}--> {d.span.file}:{d.span.line}:{d.span.column}")
        out.append(bar)
        by_place: dict[tuple[str, int], list] = {}
        for span, char, text in [(d.span, "^", d.label)] + [(l.span, "-", l.text) for l in d.labels]:
            by_place.setdefault((span.file, span.line), []).append((span, char, text))
        places = sorted(by_place, key=lambda p: (p[0] != d.span.file, p))
        for i, (file, line) in enumerate(places):
            src = sources.get(file)
            if src is None:
                continue
            if file != d.span.file:
                out.append(f"{' ' * width}::: {file}:{line}")
            elif i and line > places[i - 1][1] + 1:
                out.append(bar)
            out += _line_block(_line_text(src, line, lines), line, by_place[(file, line)], width)
        out.append(bar)
    for note in d.notes:
        out.append(f"{' ' * width} = note: {note}")
    if d.hint:
        out.append(f"{' ' * width} = hint: {d.hint}")
    return "\n".join(out)


def _line_text(src, line: int, cache: dict | None) -> str:
    """src.line_text(line), splitting each file once per rendering rather than once per diagnostic."""
    if cache is None:
        return src.line_text(line)
    lines = cache.get(src.name)
    if lines is None:
        lines = cache[src.name] = src.text.split("\n")
    return lines[line - 1].rstrip("\r") if 1 <= line <= len(lines) else ""


def render_text(diagnostics: Iterable[Diagnostic], sources: SourceSet) -> str:
    diags = list(diagnostics)
    lines: dict = {}
    parts = [render_one(d, sources, lines) for d in diags]
    errors = sum(d.is_error for d in diags)
    warnings = len(diags) - errors
    summary = []
    if errors:
        summary.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        summary.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    if summary:
        parts.append(" and ".join(summary) + " found")
    return "\n\n".join(parts)


class Reporter:
    """Collects diagnostics once each (a block elaborated twice reports its errors once)."""

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []
        self._seen: set = set()

    def add(self, d: Diagnostic) -> None:
        key = (d.severity, d.code, d.span, d.message)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(d)

    def error(self, code: str, message: str, span: Span | None, label: str = "", hint: str | None = None,
              labels: Iterable[Label] = (), notes: Iterable[str] = ()) -> None:
        self.add(Diagnostic("error", code, message, span, label, hint, tuple(labels), tuple(notes)))

    def warning(self, code: str, message: str, span: Span | None, label: str = "", hint: str | None = None,
                labels: Iterable[Label] = (), notes: Iterable[str] = ()) -> None:
        self.add(Diagnostic("warning", code, message, span, label, hint, tuple(labels), tuple(notes)))

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.items)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=sort_key)
