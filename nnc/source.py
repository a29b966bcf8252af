"""Source files and spans: where every AST node, IR node and diagnostic points.

A span is 1-based line and column, with an exclusive end column, exactly as
`nnc check --format json` reports it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Span:
    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def to(self, other: "Span") -> "Span":
        """The span from the start of self to the end of other."""
        return Span(self.file, self.line, self.column, other.end_line, other.end_column)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class SourceFile:
    """A program text and the name it is reported under."""

    name: str
    text: str

    def line_text(self, line: int) -> str:
        lines = self.text.split("\n")
        return lines[line - 1].rstrip("\r") if 1 <= line <= len(lines) else ""

    def end_span(self) -> Span:
        lines = self.text.split("\n")
        return Span(self.name, len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 1)

    def start_span(self) -> Span:
        return Span(self.name, 1, 1, 1, 1)


class SourceSet:
    """Every file read during one compilation, by the name spans use."""

    def __init__(self) -> None:
        self.files: dict[str, SourceFile] = {}

    def add(self, source: SourceFile) -> SourceFile:
        self.files[source.name] = source
        return source

    def get(self, name: str) -> SourceFile | None:
        return self.files.get(name)


def display_name(path: Path) -> str:
    """How a file is named in diagnostics: relative to the working directory when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
