"""The token filter between Lark's lexer and parser: newlines, brackets and depth.

Newlines end statements, except where a statement obviously goes on: inside
( and [, after an operator, `->`, `,`, `=` or `{`, before `}` or `else`, and
before a line that starts with `->`. The same pass checks that brackets
match and that nesting stays within a bound, so that an unclosed `{` is
reported at the `{` and a 10,000-deep expression is a diagnostic, not a
RecursionError.
"""
from __future__ import annotations

from lark import Token

MAX_NESTING = 200
MAX_PREFIX_RUN = 64

_OPENERS = {"LPAR": "RPAR", "LSQB": "RSQB", "LBRACE": "RBRACE"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}
_TEXT = {"LPAR": "(", "RPAR": ")", "LSQB": "[", "RSQB": "]", "LBRACE": "{", "RBRACE": "}"}

# A newline after one of these does not end the statement.
_CONTINUE_AFTER = {
    "ARROW", "COMMA", "EQUAL", "COLON", "ADD_OP", "MUL_OP", "POW", "COMPARE", "AND", "OR", "NOT",
    "LPAR", "LSQB", "LBRACE", "DOTDOT", "IF", "ELSE", "IN", "OVER", "WITH",
}
# A newline before one of these does not end the statement.
_CONTINUE_BEFORE = {"ARROW", "RBRACE", "ELSE"}


class LayoutError(Exception):
    """A bracket or nesting problem found while filtering tokens."""

    def __init__(self, code: str, message: str, token: Token, label: str = "",
                 related: list[tuple[Token, str]] | None = None, hint: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.token = token
        self.label = label
        self.related = related or []
        self.hint = hint


def too_deep(tok: Token, depth: int) -> LayoutError:
    return LayoutError("E0005", f"brackets nest more than {MAX_NESTING} deep", tok,
                       f"this `{_TEXT[tok.type]}` is level {depth}", hint="bind parts of the expression to names")


def unmatched(tok: Token) -> LayoutError:
    return LayoutError("E0001", f"unmatched `{_TEXT[tok.type]}`", tok, "nothing here is open")


def mismatched(tok: Token, opener: Token) -> LayoutError:
    return LayoutError("E0001", f"mismatched `{_TEXT[tok.type]}`", tok,
                       f"expected `{_TEXT[_OPENERS[opener.type]]}` to close the `{_TEXT[opener.type]}`",
                       related=[(opener, f"this `{_TEXT[opener.type]}` is still open")])


def too_many_prefixes(tok: Token) -> LayoutError:
    return LayoutError("E0005", f"more than {MAX_PREFIX_RUN} operators in a row", tok, "too many prefix operators",
                       hint="remove the extra signs, or bind parts of the expression to names")


def never_closed(opener: Token) -> LayoutError:
    return LayoutError("E0002", f"this `{_TEXT[opener.type]}` is never closed", opener, "unclosed",
                       hint=f"add the matching `{_TEXT[_OPENERS[opener.type]]}`")


class Layout:
    """Lark post-lexer implementing the rules above."""

    always_accept = ("_NL",)

    def process(self, stream):
        stack: list[Token] = []
        prev: Token | None = None
        pending_newline: Token | None = None
        prefix_run = 0
        for tok in stream:
            kind = tok.type
            if kind == "_NL":
                if stack and stack[-1].type != "LBRACE":
                    continue
                if prev is None or prev.type in _CONTINUE_AFTER:
                    continue
                pending_newline = pending_newline or tok
                continue
            if pending_newline is not None:
                if kind not in _CONTINUE_BEFORE:
                    yield pending_newline
                pending_newline = None
            if kind in _OPENERS:
                if len(stack) >= MAX_NESTING:
                    raise too_deep(tok, len(stack) + 1)
                stack.append(tok)
            elif kind in _CLOSERS:
                if not stack:
                    raise unmatched(tok)
                opener = stack.pop()
                if _OPENERS[opener.type] != kind:
                    raise mismatched(tok, opener)
            if kind in ("ADD_OP", "NOT"):
                prefix_run += 1
                if prefix_run > MAX_PREFIX_RUN:
                    raise too_many_prefixes(tok)
            else:
                prefix_run = 0
            prev = tok
            yield tok
        if stack:
            raise never_closed(stack[-1])
