"""Hints for an unknown keyword argument that do not point the wrong way.

"did you mean `initial`?" for `lstm(init=...)` sends the user to a keyword of
another meaning (the starting state, not an initialiser). A suggestion is
made only for a likely misspelling (a few edits away), and never when the
word is itself a keyword of other built-ins: then the hint says whose
keyword it is.
"""
from __future__ import annotations

from ..ops import registry, suggest


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance with transpositions counted as one edit (Damerau, optimal string alignment)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def owners(key: str, exclude: str) -> list[str]:
    """The public built-ins other than `exclude` that take keyword `key`."""
    return [name for name, op in registry().items()
            if name != exclude and not op.internal and (op.attr(key) is not None or key in op.optional_inputs)]


def keyword_hint(op_name: str, key: str, known: list[str]) -> tuple[str | None, list[str]]:
    """(the keyword the user probably misspelt, or None; the other built-ins whose keyword `key` is)."""
    others = owners(key, op_name)
    if others:
        return None, others
    close = suggest(key, known)
    if close is not None and edit_distance(key, close) <= max(2, len(key) // 4):
        return close, []
    return None, []


def binding_site(body, name: str):
    """The statement of a model body (loops and branches included) that binds `name`, and its kind."""
    from ..syntax import ast
    for s in body:
        if isinstance(s, ast.LayerDef) and s.name == name:
            return s.name_span, "layer"
        if isinstance(s, (ast.Bind, ast.Output)) and s.name == name:
            return s.name_span, "value"
        if isinstance(s, ast.Unpack):
            for n, span in s.names:
                if n == name:
                    return span, "value"
        nested = [s.body] if isinstance(s, ast.For) else [s.then, s.otherwise or ()] if isinstance(s, ast.If) else []
        for inner in nested:
            found = binding_site(inner, name)
            if found:
                return found
    return None
