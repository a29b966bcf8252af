"""Between nnc's spans and LSP's ranges, and between span file names and document URIs.

nnc spans are 1-based lines and columns counted in characters (code points), with an exclusive end
column. LSP positions are 0-based, with the character offset in the negotiated encoding: UTF-16 code
units unless the client agreed to UTF-32 or UTF-8. `Lines` converts both ways for one text.
"""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp

from ..source import Span


def _units(text: str, encoding: str) -> int:
    if encoding == "utf-32":
        return len(text)
    if encoding == "utf-8":
        return len(text.encode("utf-8", errors="surrogatepass"))
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


class Lines:
    """One document's lines, for converting positions in the client's encoding."""

    def __init__(self, text: str, encoding: str = "utf-16"):
        self.lines = text.split("\n")
        self.encoding = encoding

    def line(self, n: int) -> str:
        """Line n (0-based), without its line ending; "" past the end."""
        return self.lines[n].rstrip("\r") if 0 <= n < len(self.lines) else ""

    def to_position(self, line: int, column: int) -> lsp.Position:
        """A 1-based line and character column as an LSP position."""
        text = self.line(line - 1)
        col = max(0, min(column - 1, len(text)))
        if self.encoding != "utf-32" and not text.isascii():
            col = _units(text[:col], self.encoding)
        return lsp.Position(line=max(line - 1, 0), character=col)

    def to_range(self, span: Span) -> lsp.Range:
        start = self.to_position(span.line, span.column)
        end = self.to_position(span.end_line, span.end_column)
        if (end.line, end.character) < (start.line, start.character):
            end = start
        return lsp.Range(start=start, end=end)

    def to_column(self, pos: lsp.Position) -> tuple[int, int]:
        """An LSP position as a 1-based (line, character column)."""
        text = self.line(pos.line)
        if self.encoding == "utf-32" or text.isascii():
            return pos.line + 1, min(pos.character, len(text)) + 1
        units = 0
        for i, c in enumerate(text):
            if units >= pos.character:
                return pos.line + 1, i + 1
            units += _units(c, self.encoding)
        return pos.line + 1, len(text) + 1

    def offset(self, pos: lsp.Position) -> int:
        """The character offset into the whole text of an LSP position."""
        line, col = self.to_column(pos)
        line = min(line, len(self.lines))
        return sum(len(l) + 1 for l in self.lines[: line - 1]) + col - 1


def contains(span: Span, line: int, column: int) -> bool:
    """Whether the 1-based (line, column) lies in the span (its end column included, for a cursor after it)."""
    if (line, column) < (span.line, span.column):
        return False
    return (line, column) <= (span.end_line, span.end_column)


def uri_to_path(uri: str) -> Path:
    """A file:// URI as an absolute path; any other URI as a path named after it (never opened)."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = unquote(parsed.path)
        if os.name == "nt" and path.startswith("/") and len(path) > 2 and path[2] == ":":
            path = path[1:]
        return Path(path)
    return Path.cwd() / ("untitled-" + "".join(c if c.isalnum() else "_" for c in uri)[-60:] + ".nn")


def path_to_uri(path: Path) -> str:
    return Path(os.path.abspath(path)).as_uri()


def span_path(file: str) -> Path:
    """The resolved path of a file as spans name it (relative to the working directory, or absolute)."""
    p = Path(file)
    p = p if p.is_absolute() else Path.cwd() / p
    try:
        return p.resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(os.path.abspath(p))
