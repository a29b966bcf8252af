"""Per-analysis lookup tables, built lazily once and shared by every request on that analysis.

A request must not cost time in proportion to the whole file: a 5 MB program has a million AST nodes.
So the spans that carry types and calls are bucketed by line, the top-level items are kept sorted by
line (the item around a cursor is a bisection away), and an item's names are walked only when a
request needs that item. Analyses never change once made, so the tables never go stale; two threads
building the same table at once both get a correct one.
"""
from __future__ import annotations

import bisect

from ..source import Span
from .analysis import Analysis

MAX_LINES_PER_SPAN = 200  # a span longer than this is found from its first line only


def index(analysis: Analysis) -> "Index":
    found = analysis.__dict__.get("_index")
    if found is None:
        found = analysis.__dict__["_index"] = Index(analysis)
    return found


def _by_line(spans, file: str) -> dict[int, list[Span]]:
    out: dict[int, list[Span]] = {}
    for s in spans:
        if s.file != file:
            continue
        for line in range(s.line, min(s.end_line, s.line + MAX_LINES_PER_SPAN) + 1):
            out.setdefault(line, []).append(s)
    return out


def item_end(item) -> Span:
    return getattr(item, "body_end", None) or item.span


class Index:
    def __init__(self, analysis: Analysis):
        self.analysis = analysis
        self._types: dict[int, list[Span]] | None = None
        self._calls: dict[int, list[Span]] | None = None
        self._items: list | None = None
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._lines: list[str] | None = None
        self.cache: dict = {}

    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.analysis.text.split("\n")
        return self._lines

    def line_text(self, line: int) -> str:
        lines = self.lines()
        return lines[line - 1].rstrip("\r") if 1 <= line <= len(lines) else ""

    def type_spans(self, line: int) -> list[Span]:
        if self._types is None:
            self._types = _by_line(self.analysis.types, self.analysis.name)
        return self._types.get(line, [])

    def call_spans(self, line: int) -> list[Span]:
        if self._calls is None:
            self._calls = _by_line(self.analysis.calls, self.analysis.name)
        return self._calls.get(line, [])

    def items(self) -> list:
        """The checked file's top-level items, in the order they are written (they never overlap)."""
        if self._items is None:
            module = self.analysis.module
            items = list(module.program.items) if module is not None else []
            items.sort(key=lambda i: (i.span.line, i.span.column))
            self._starts = [i.span.line for i in items]
            self._ends = [item_end(i).end_line for i in items]
            self._items = items
        return self._items

    def item_at(self, line: int):
        """The top-level item whose text covers `line`, or None."""
        items = self.items()
        i = bisect.bisect_right(self._starts, line) - 1
        return items[i] if i >= 0 and self._ends[i] >= line else None

    def items_between(self, first: int, last: int) -> list:
        """The items overlapping lines first..last."""
        items = self.items()
        return items[bisect.bisect_left(self._ends, first):bisect.bisect_right(self._starts, last)]

    def memo(self, key, make):
        """A value computed once per analysis (occurrences of an item, the outline, ...)."""
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]
