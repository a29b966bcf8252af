"""nnc diagnostics as LSP diagnostics: range, severity, code, related locations, and a link to the explanation.

The text is what `nnc check` prints: the message, the label under the caret, every note and the hint
(the hint also travels in `data`, where quick fixes read it). Secondary labels become related locations.
The code links to its section of docs/diagnostics.md when that file is at hand (a source checkout), and
the code action "Explain E0301" runs `nnc explain E0301` in the server for any install.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from lsprotocol import types as lsp

from ..diagnostics import Diagnostic
from ..source import SourceSet
from .convert import Lines, path_to_uri, span_path

SOURCE = "nnc"


@lru_cache(maxsize=1)
def _doc_sections() -> tuple[str | None, dict[str, str]]:
    """The URI of docs/diagnostics.md (a source checkout's, else the copy installed with the package), and
    each code's heading anchor in it."""
    package = Path(__file__).resolve().parents[1]
    doc = next((d for d in (package.parent / "docs" / "diagnostics.md", package / "data" / "diagnostics.md")
                if d.is_file()), None)
    if doc is None:
        return None, {}
    anchors = {}
    try:
        text = doc.read_text(encoding="utf-8")
    except OSError:
        return None, {}
    for line in text.splitlines():
        m = re.match(r"## ([EW]\d{4})\b(.*)", line)
        if m:
            heading = (m.group(1) + m.group(2)).strip().lower()
            anchors[m.group(1)] = re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", heading))
    return doc.as_uri(), anchors


def explain_link(code: str) -> str | None:
    """A URI for the explanation of a code, or None when the docs are not installed."""
    uri, anchors = _doc_sections()
    if uri is None or code not in anchors:
        return None
    return f"{uri}#{anchors[code]}"


def message_of(d: Diagnostic) -> str:
    parts = [d.message]
    if d.label:
        parts.append(d.label)
    parts += [f"note: {n}" for n in d.notes]
    if d.hint:
        parts.append(f"hint: {d.hint}")
    return "\n".join(parts)


class Converter:
    """Converts diagnostics against the texts that were checked (so ranges match what was analysed)."""

    def __init__(self, sources: SourceSet, encoding: str = "utf-16"):
        self.sources = sources
        self.encoding = encoding
        self._lines: dict[str, Lines] = {}

    def lines(self, file: str) -> Lines:
        lines = self._lines.get(file)
        if lines is None:
            src = self.sources.get(file)
            lines = self._lines[file] = Lines(src.text if src is not None else "", self.encoding)
        return lines

    def range(self, span) -> lsp.Range:
        if span is None:
            return lsp.Range(start=lsp.Position(line=0, character=0), end=lsp.Position(line=0, character=0))
        return self.lines(span.file).to_range(span)

    def diagnostic(self, d: Diagnostic) -> lsp.Diagnostic:
        related = [lsp.DiagnosticRelatedInformation(
            location=lsp.Location(uri=path_to_uri(span_path(l.span.file)), range=self.range(l.span)),
            message=l.text or "here") for l in d.labels]
        link = explain_link(d.code)
        tags = [lsp.DiagnosticTag.Unnecessary] if d.code == "W0001" or d.code == "W0003" else None
        return lsp.Diagnostic(
            range=self.range(d.span),
            message=message_of(d),
            severity=lsp.DiagnosticSeverity.Error if d.is_error else lsp.DiagnosticSeverity.Warning,
            code=d.code,
            code_description=lsp.CodeDescription(href=link) if link else None,
            source=SOURCE,
            related_information=related or None,
            tags=tags,
            data={"hint": d.hint, "explain": f"nnc explain {d.code}"},
        )


def by_file(diagnostics: list[Diagnostic], main: str) -> dict[str, list[Diagnostic]]:
    """Diagnostics grouped by the file they point into (the main file's name for those without a span)."""
    out: dict[str, list[Diagnostic]] = {main: []}
    for d in diagnostics:
        out.setdefault(d.span.file if d.span else main, []).append(d)
    return out
