"""Inlay hints: the shape after each stage of a `->` chain and after each binding, from the last analysis.

Stages and bindings can be switched off separately (the client's `nnc.inlayHints.stages` and
`nnc.inlayHints.bindings` settings). A binding with a written type (`h: [N, 64] = ...`) gets none,
and neither does the last stage of a chain bound to a name (the binding's hint says the same).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir.types import TensorType
from ..syntax import ast
from .analysis import Analysis
from .hover import type_text
from .index import index
from .symbols import walk

MAX_LABEL = 60


@dataclass(frozen=True)
class Hint:
    line: int  # 1-based, like spans
    column: int
    label: str
    tooltip: str | None = None


def _label(types: list) -> tuple[str, str | None]:
    """The shape only (`[N, 6, 28, 28]`, with the dtype when it is not f32); every call's when they differ."""
    def one(t) -> str:
        if isinstance(t, TensorType):
            return str(t) if t.dtype != "f32" else str(t)[3:]
        return type_text(t)
    if len(types) == 1:
        text = one(types[0])
    else:
        text = " | ".join(one(t) for t in types[:2]) + (" | …" if len(types) > 2 else "")
    full = "\n".join(type_text(t) for t in types)
    if len(text) > MAX_LABEL:
        text = text[:MAX_LABEL - 1] + "…"
    return text, (full if len(types) > 1 or len(full) > MAX_LABEL else None)


def hints(analysis: Analysis, first_line: int, last_line: int, stages: bool = True,
          bindings: bool = True) -> list[Hint]:
    """Hints on lines first_line..last_line (1-based, inclusive) of the checked file."""
    module = analysis.module
    if module is None:
        return []
    out: list[Hint] = []
    mine = analysis.name

    def add(span, types) -> None:
        if span.file == mine and first_line <= span.end_line <= last_line and types:
            text, tip = _label(types)
            out.append(Hint(span.end_line, span.end_column, ": " + text, tip))

    for n in walk(index(analysis).items_between(first_line, last_line)):
        if bindings and isinstance(n, (ast.Bind, ast.Output)) and getattr(n, "ascription", None) is None:
            add(n.name_span, analysis.types.get(n.name_span))
        elif bindings and isinstance(n, ast.Unpack):
            for _, span in n.names:
                add(span, analysis.types.get(span))
        elif stages and isinstance(n, ast.Pipe):
            last = n.stages[-1] if n.stages else None
            for st in n.stages:
                if st is last and bindings:
                    continue
                add(st.span, analysis.types.get(st.span))
    out.sort(key=lambda h: (h.line, h.column))
    return out
