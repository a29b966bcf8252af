"""Program text to AST, and syntax errors to diagnostics in plain words."""
from __future__ import annotations

import difflib
import functools
import operator
import re
import threading
from pathlib import Path

from lark import Lark, Token
from lark import __version__ as _LARK_VERSION
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..diagnostics import Diagnostic, Label
from ..source import SourceFile, Span
from . import ast
from . import layout
from .layout import _CLOSERS, _CONTINUE_AFTER, _CONTINUE_BEFORE, _OPENERS, MAX_NESTING, MAX_PREFIX_RUN, Layout, LayoutError

GRAMMAR_PATH = Path(__file__).with_name("nnc.lark")


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    """The LALR parser with ToAst embedded: the AST is built as rules are reduced.

    No parse tree is built and nothing recurses, so a 5 MB program or a chain of
    20,000 `->` parses in time linear in its length and at any stack depth.

    The tables come from nnc's private cache (nnc/cache.py) as JSON, never as a pickle
    (nnc/syntax/tables.py); on a miss, or an entry that cannot be loaded, they are built
    from the grammar and stored. Without a usable cache directory they are built every time.
    """
    from .. import cache
    from . import tables
    text = GRAMMAR_PATH.read_text()
    build = dict(parser="lalr", lexer="basic", maybe_placeholders=True)
    runtime = dict(postlex=Layout(), transformer=_TO_AST.callbacks())
    key = cache.make_key("lark-tables", str(tables.FORMAT), _LARK_VERSION, repr(sorted(build.items())), text)
    blob = cache.get("parser", key)
    if blob is not None:
        try:
            return tables.load(blob, **runtime)
        except Exception as e:  # a verified entry that still does not load (a Lark change): rebuild it
            cache.warn(f"the cached parser tables do not load ({type(e).__name__}); rebuilding them")
    parser = Lark(text, **build, **runtime)
    try:
        blob = tables.dump(parser)
        tables.load(blob, **runtime)  # only tables that load again are stored (10 ms, on a miss only)
    except Exception:  # a Lark whose tables JSON cannot hold or that loads them differently: run uncached
        return parser
    cache.put("parser", key, blob)
    return parser


@functools.lru_cache(maxsize=1)
def _fast_parser() -> "FastParser | None":
    try:
        return FastParser(_parser())
    except Exception:  # a Lark whose internals differ from what FastParser reads: use Lark's driver only
        return None


# Every character of a text, in runs: whitespace, newlines, names, numbers, comments, strings and
# operators; anything else one character at a time (and then the fast path gives up).
_FAST_TOKEN = re.compile(r'[ \t\f\r]+|\n+|[A-Za-z_][A-Za-z0-9_]*|[0-9]+\.[0-9]+(?:[eE][+-]?[0-9]+)?'
                         r'|[0-9]+[eE][+-]?[0-9]+|[0-9]+|->|#[^\n]*|"(?:[^"\\\n]|\\[^\n])*"|\.\.|[=!<>]=|//|\*\*|[\s\S]')
_SINGLE = {"->": "ARROW", "..": "DOTDOT", "==": "COMPARE", "!=": "COMPARE", "<=": "COMPARE", ">=": "COMPARE",
           "<": "COMPARE", ">": "COMPARE", "+": "ADD_OP", "-": "ADD_OP", "**": "POW", "//": "MUL_OP", "*": "MUL_OP",
           "/": "MUL_OP", "%": "MUL_OP", "@": "MUL_OP", "(": "LPAR", ")": "RPAR", "[": "LSQB", "]": "RSQB",
           "{": "LBRACE", "}": "RBRACE", "=": "EQUAL", ":": "COLON", ",": "COMMA"}
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_DIGITS = frozenset("0123456789")


class _NotFast(Exception):
    """The fast path cannot handle this text; Lark's own driver parses it (and reports what is wrong)."""


class FastParser:
    """The same LALR table and AST callbacks as Lark's parser, driven by a tighter loop.

    Lark's generic lexer and driver cost about 10 microseconds a token, which made a 5 MB program take
    over ten seconds to parse. This path splits the text with one `findall`, applies the Layout rules
    in the same loop (layout_tokens), and drives Lark's own LALR table, jumping over runs of reductions
    that only pass a single child through (`?expr: chain`, `ident: NAME`) and calling the AST builders
    without Lark's generic child filter. It accepts exactly what Lark accepts and builds the same AST
    (tests/test_fuzz.py compares the two on mutated programs); at the first sign of an error it gives
    up and Lark's lexer, Layout and driver parse the text again, so syntax errors are found and
    described in one place. tokens() is Lark's lexer in a loop, for reading tokens back after an error.
    """

    def __init__(self, lark: Lark):
        lexer = lark.parser.lexer.lexer
        scanner = lexer.scanner
        if len(scanner._mres) != 1:
            raise _NotFast("more than one lexer expression")
        self.regex = scanner._mres[0]
        self.ignore = frozenset(lexer.ignore_types)
        self.newline_types = frozenset(lexer.newline_types)
        self.retype: dict[str, dict[str, str]] = {}  # NAME -> {"import": "IMPORT", ...}
        for name, cb in lexer.callback.items():
            if type(cb).__name__ != "UnlessCallback":
                raise _NotFast(f"an unknown lexer callback on {name}")
            self.retype[name] = {t.pattern.value: t.name for t in cb.scanner.terminals}
        lalr = lark.parser.parser.parser
        callbacks = lalr.callbacks
        if any(isinstance(k, str) for k in callbacks):
            raise _NotFast("token callbacks")
        table = lalr.parse_table
        self.start = table.start_states["start"]
        self.end = table.end_states["start"]
        reduce_info: dict = {}
        sentinel = object()
        for rule, cb in callbacks.items():
            size = len(rule.expansion)
            passthrough = False
            if size == 1:
                try:
                    passthrough = cb([sentinel]) is sentinel
                except Exception:
                    passthrough = False
            reduce_info[rule] = (size, rule.origin.name, None if passthrough else _direct(cb))
        self.keywords = dict(self.retype.get("NAME", {}))
        self.unit_chains: dict = {}
        self.lark_states = table.states
        self.states: dict = {}
        for state, actions in table.states.items():
            row = {}
            for symbol, (action, arg) in actions.items():
                if action.name == "Shift":
                    row[symbol] = (True, arg)
                else:
                    row[symbol] = (False, reduce_info[arg])
            self.states[state] = row

    def tokens(self, text: str):
        match = self.regex.match
        ignore, newline_types, retype = self.ignore, self.newline_types, self.retype
        pos, line, line_start, n = 0, 1, 0, len(text)
        while pos < n:
            m = match(text, pos)
            if m is None:
                raise _NotFast("no token here")
            kind = m.lastgroup
            end = m.end()
            if kind in newline_types:
                value = m.group()
                count = value.count("\n")
                if count:
                    column = pos - line_start + 1
                    start_line = line
                    line += count
                    line_start = pos + value.rindex("\n") + 1
                    if kind not in ignore:
                        yield _token(kind, value, pos, start_line, column, line, end - line_start + 1, end)
                    pos = end
                    continue
            if kind in ignore:
                pos = end
                continue
            value = m.group()
            if kind in retype:
                kind = retype[kind].get(value, kind)
            column = pos - line_start + 1
            yield _token(kind, value, pos, line, column, line, column + end - pos, end)
            pos = end

    def layout_tokens(self, text: str):
        """Lark's lexer and Layout.process() in one loop: the tokens the parser sees, and the same errors
        (UnexpectedCharacters, LayoutError) at the same moments, so that Lark's slower path is needed
        only if something unforeseen happens (and tests/test_fuzz.py holds the two to the same result)."""
        keywords = self.keywords
        single = _SINGLE
        stack: list[Token] = []
        prev = None  # the kind of the last token passed on
        pending = None  # (offset, line, column) of a newline that waits to be passed on
        prefix_run = 0
        pos, line, line_start = 0, 1, 0
        for value in _FAST_TOKEN.findall(text):
            first = value[0]
            start = pos
            pos += len(value)
            if first in " \t\f\r":
                continue
            if first == "\n":
                here = (start, line, start - line_start + 1)
                line += len(value)
                line_start = pos
                if stack and stack[-1].type != "LBRACE":
                    continue
                if prev is None or prev in _CONTINUE_AFTER:
                    continue
                pending = pending or here
                continue
            if first == "#":
                continue
            if first in _NAME_START:
                kind = keywords.get(value, "NAME")
            elif first in _DIGITS:
                kind = "FLOAT" if ("." in value or "e" in value or "E" in value) else "INT"
            elif first == '"' and len(value) > 1:
                kind = "STRING"
            else:
                kind = single.get(value)
                if kind is None:  # no token starts here
                    raise UnexpectedCharacters(text, start, line, start - line_start + 1)
            if pending is not None:
                if kind not in _CONTINUE_BEFORE:
                    at, nl_line, nl_column = pending
                    yield _token("_NL", "\n", at, nl_line, nl_column, nl_line + 1, 1, at + 1)
                pending = None
            column = start - line_start + 1
            tok = _token(kind, value, start, line, column, line, column + len(value), pos)
            if kind in _OPENERS:
                if len(stack) >= MAX_NESTING:
                    raise layout.too_deep(tok, len(stack) + 1)
                stack.append(tok)
            elif kind in _CLOSERS:
                if not stack:
                    raise layout.unmatched(tok)
                opener = stack.pop()
                if _OPENERS[opener.type] != kind:
                    raise layout.mismatched(tok, opener)
            if kind == "ADD_OP" or kind == "NOT":
                prefix_run += 1
                if prefix_run > MAX_PREFIX_RUN:
                    raise layout.too_many_prefixes(tok)
            else:
                prefix_run = 0
            prev = kind
            yield tok
        if stack:
            raise layout.never_closed(stack[-1])

    def parse(self, text: str):
        states, end_state = self.states, self.end
        state_stack = [self.start]
        value_stack: list = []
        push_state, push_value = state_stack.append, value_stack.append
        units = self.unit_chains
        tok = None
        for tok in self.layout_tokens(text):
            kind = tok.type
            while True:
                top = state_stack[-1]
                action = states[top].get(kind)
                if action is None:
                    raise self.unexpected(tok, top)
                shift, arg = action
                if shift:
                    push_state(arg)
                    push_value(tok)
                    break
                size, origin, cb = arg
                if cb is None:
                    # A run of pass-through reductions (`?postfix: atom`, `?factor: postfix`, ... up to
                    # `?expr`) pops and pushes one state each over the same state below: where it ends
                    # depends only on that state, this one and the lookahead, so it is looked up once.
                    below = state_stack[-2]
                    key = (below, top, kind)
                    goal = units.get(key)
                    if goal is None:
                        goal = states[below][origin][1]
                        while True:
                            action = states[goal].get(kind)
                            if action is None or action[0] or action[1][2] is not None:
                                break
                            goal = states[below][action[1][1]][1]
                        units[key] = goal
                    state_stack[-1] = goal
                    continue
                else:
                    children = value_stack[-size:] if size else []
                    if size:
                        del state_stack[-size:]
                        del value_stack[-size:]
                    push_value(cb(children))
                push_state(states[state_stack[-1]][origin][1])
        end = Token.new_borrow_pos("$END", "", tok) if tok is not None else Token("$END", "", 0, 1, 1)
        while True:
            action = states[state_stack[-1]].get("$END")
            if action is None:
                raise self.unexpected(end, state_stack[-1])
            shift, arg = action
            if shift:
                raise _NotFast("shift at the end")
            size, origin, cb = arg
            if cb is None:
                del state_stack[-1]
            else:
                children = value_stack[-size:] if size else []
                if size:
                    del state_stack[-size:]
                    del value_stack[-size:]
                push_value(cb(children))
            push_state(states[state_stack[-1]][origin][1])
            if state_stack[-1] == end_state:
                return value_stack[-1]


    def unexpected(self, tok: Token, state) -> UnexpectedToken:
        """What Lark's driver raises for a token the table has no action for, with the same expected set."""
        return UnexpectedToken(tok, {s for s in self.lark_states[state] if s.isupper()})


def _direct(cb):
    """Lark's callback for a rule, without its generic child filter where the filter only picks children
    by position: `bind_stmt: ident "=" expr` calls ToAst.bind_stmt(c[0], c[2]) directly."""
    method = getattr(getattr(cb, "node_builder", None), "method", None)
    if type(cb).__name__ != "ChildFilterLALR_NoPlaceholders" or method is None:
        return cb
    if any(expand for _, expand in cb.to_include):
        return cb
    picks = [i for i, _ in cb.to_include]
    if not picks:
        return lambda children: method()
    if len(picks) == 1:
        (only,) = picks
        return lambda children: method(children[only])
    pick = operator.itemgetter(*picks)
    return lambda children: method(*pick(children))


def _token(kind, value, start_pos, line, column, end_line, end_column, end_pos) -> Token:
    """Token(...) without the argument juggling of Token.__new__ (this runs once per token)."""
    tok = str.__new__(Token, value)
    tok.type, tok.value, tok.start_pos, tok.line, tok.column = kind, value, start_pos, line, column
    tok.end_line, tok.end_column, tok.end_pos = end_line, end_column, end_pos
    return tok


class SyntaxProblem(Exception):
    """A file that does not parse: its first syntax error, and every one found (one per item at most)."""

    def __init__(self, diagnostic: Diagnostic, diagnostics: list[Diagnostic] | None = None):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic
        self.diagnostics = diagnostics or [diagnostic]


def parse_program(source: SourceFile) -> ast.Program:
    """Parse one file; raises SyntaxProblem with a diagnostic on the first syntax error."""
    problem = check_text(source)
    if problem:
        raise SyntaxProblem(problem)
    if not source.text.strip() or all(
            not l.strip() or l.lstrip().startswith("#") for l in source.text.splitlines()):
        raise SyntaxProblem(Diagnostic("error", "E0004", "the program is empty", source.start_span(),
                                       "nothing to check here",
                                       hint="a program defines at least one `model`, `train` or `block`"))
    text = source.text
    if text.startswith("\ufeff"):  # a byte order mark some editors write; not part of the program
        text = " " + text[1:]
        source = SourceFile(source.name, text)
    program, problem = _parse_text(source)
    if problem is None:
        return program
    # Report the syntax errors of later items too: start again at the next line that begins an item
    # (`model`, `train`, `block`, `const`, `import` at the start of a line) after the error, and
    # shift what that finds back to this file's lines. Items are only parsed here, not elaborated.
    problems = [problem]
    lines = text.split("\n")
    started = 1
    while len(problems) < MAX_SYNTAX_ERRORS:
        restart = _next_item_line(lines, problem.span, started)
        if restart is None:
            break
        rest = "\n".join(lines[restart - 1:])
        _, later = _parse_text(SourceFile(source.name, rest))
        if later is None:
            break
        problem = _shift_lines(later, restart - 1)
        problems.append(problem)
        started = restart
    raise SyntaxProblem(problems[0], problems)


MAX_SYNTAX_ERRORS = 20
_ITEM_START = re.compile(r"(import|const|block|model|train)\b")


def _next_item_line(lines: list[str], span: Span | None, started: int) -> int | None:
    """The first line after the one at fault (or the one at fault, when the error is an item keyword at
    its start) that begins an item, later than where the last attempt started."""
    if span is None:
        return None
    first = span.line if span.column == 1 and _ITEM_START.match(lines[span.line - 1] if span.line <= len(lines)
                                                                  else "") else span.line + 1
    for number in range(max(first, started + 1), len(lines) + 1):
        if _ITEM_START.match(lines[number - 1]):
            return number
    return None


def _shift_lines(d: Diagnostic, by: int) -> Diagnostic:
    def move(s: Span | None) -> Span | None:
        return None if s is None else Span(s.file, s.line + by, s.column, s.end_line + by, s.end_column)
    return Diagnostic(d.severity, d.code, d.message, move(d.span), d.label, d.hint,
                      tuple(Label(move(l.span), l.text) for l in d.labels), d.notes)


def _parse_text(source: SourceFile, fast: bool = True) -> tuple[ast.Program | None, Diagnostic | None]:
    """The program, or the diagnostic for its first syntax error (fast=False: through Lark's own driver)."""
    previous = _TO_AST.file
    _TO_AST.file = source.name
    try:
        fast_parser = _fast_parser() if fast else None
        if fast_parser is not None:
            try:
                return fast_parser.parse(source.text), None
            except (SyntaxProblem, LayoutError, UnexpectedInput):
                raise  # a syntax error, found where Lark finds it: described below
            except Exception:  # anything unforeseen: Lark's own driver parses the text again
                pass
        return _parser().parse(source.text), None
    except SyntaxProblem as e:
        return None, e.diagnostic
    except LayoutError as e:
        return None, _layout_diagnostic(e, source)
    except UnexpectedInput as e:
        return None, _syntax_diagnostic(e, source)
    except VisitError as e:
        if isinstance(e.orig_exc, SyntaxProblem):
            return None, e.orig_exc.diagnostic
        if isinstance(e.orig_exc, LayoutError):
            return None, _layout_diagnostic(e.orig_exc, source)
        raise
    finally:
        _TO_AST.file = previous


def check_text(source: SourceFile) -> Diagnostic | None:
    """Problems with the characters themselves, before any token is read: the first NUL byte or
    invalid UTF-8 sequence (decoded as U+FFFD), whichever comes first."""
    text = source.text
    nul, bad = text.find("\x00"), text.find("\ufffd")
    if nul < 0 and bad < 0:
        return None
    if nul >= 0 and (bad < 0 or nul < bad):
        return Diagnostic("error", "E0003", "the file contains a NUL byte", _offset_span(source, nul), "here",
                          hint="is this a binary file? .nn programs are UTF-8 text")
    return Diagnostic("error", "E0003", "the file is not valid UTF-8 text", _offset_span(source, bad), "this byte",
                      hint="is this a binary file, or saved in another encoding? .nn programs are UTF-8 text")


def _offset_span(source: SourceFile, offset: int) -> Span:
    line = source.text.count("\n", 0, offset) + 1
    col = offset - (source.text.rfind("\n", 0, offset) + 1) + 1
    return Span(source.name, line, col, line, col + 1)


def _new_span(file: str, line: int, column: int, end_line: int, end_column: int) -> Span:
    """Span(...), about three times faster: a parse makes one for every token and every node, and the
    frozen dataclass's __init__ (five object.__setattr__ calls) was a tenth of the time."""
    span = _object_new(Span)
    fields = span.__dict__
    fields["file"] = file
    fields["line"] = line
    fields["column"] = column
    fields["end_line"] = end_line
    fields["end_column"] = end_column
    return span


_object_new = object.__new__
if hasattr(Span, "__slots__") or not hasattr(_object_new(Span), "__dict__"):  # pragma: no cover
    _new_span = Span  # noqa: F811 - a Span without a __dict__: the ordinary constructor


def _token_span(file: str, tok: Token) -> Span:
    end_line = tok.end_line if tok.end_line is not None else tok.line
    end_col = tok.end_column if tok.end_column is not None else tok.column + max(len(tok.value), 1)
    if tok.type == "_NL":  # a newline token ends on the next line; point at the end of this one
        return _new_span(file, tok.line, tok.column, tok.line, tok.column + 1)
    return _new_span(file, tok.line, tok.column, end_line, end_col)


def _layout_diagnostic(e: LayoutError, source: SourceFile) -> Diagnostic:
    labels = tuple(Label(_token_span(source.name, t), text) for t, text in e.related)
    return Diagnostic("error", e.code, e.message, _token_span(source.name, e.token), e.label, e.hint, labels)


_EXPRESSION_START = {"NAME", "INT", "FLOAT", "STRING", "TRUE", "FALSE", "LPAR", "LSQB", "ADD_OP", "NOT"}
_SOFT_KEYWORDS = {"METRIC", "BATCH", "EPOCHS", "DATA", "OVER", "WITH", "LAYER", "INPUT", "OUTPUT", "MINIMIZE",
                  "PARAM", "ON", "MONITOR"}
_WORDS = {
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
    "_NL": "the end of the line", "$END": "the end of the file", "ARROW": "`->`", "DOTDOT": "`..`",
    "COMPARE": "a comparison", "ADD_OP": "`+` or `-`", "POW": "`**`", "MUL_OP": "`*`, `/`, `//`, `%` or `@`",
    "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LBRACE": "`{`", "RBRACE": "`}`",
    "EQUAL": "`=`", "COMMA": "`,`", "COLON": "`:`",
}
_KEYWORDS = {
    "IMPORT", "CONST", "BLOCK", "MODEL", "TRAIN", "INPUT", "OUTPUT", "LAYER", "PARAM", "RETURN", "FOR", "IN", "IF",
    "ELSE", "AND", "OR", "NOT", "MINIMIZE", "OVER", "WITH", "METRIC", "BATCH", "EPOCHS", "DATA", "ASSERT",
    "TRUE", "FALSE",
}
_ORDER = ["expression", "NAME", "EQUAL", "COLON", "COMMA", "RPAR", "RSQB", "RBRACE", "LBRACE", "ARROW",
          "_NL", "$END"]


def _describe_expected(expected: set[str]) -> str:
    names = set(expected)
    if len(names) > 1:
        names.discard("ON")  # `metric m = expr on train` only: not worth naming after every expression
    parts: list[str] = []
    if len(names & _EXPRESSION_START) >= 4:
        parts.append("an expression")
        names -= _EXPRESSION_START | _SOFT_KEYWORDS
    operators = {"ADD_OP", "MUL_OP", "COMPARE", "AND", "OR", "ARROW", "IF"}
    if len(names & operators) >= 3:
        # After a complete expression LALR lists every token that could follow it; say it plainly.
        return "an operator or the end of the statement"
    enders = {"COMMA", "RPAR", "RSQB", "RBRACE", "LBRACE", "_NL", "$END", "DOTDOT", "ELSE", "IF", "OVER", "WITH"}
    if len(names & enders) >= 4:
        # After a complete `-> stage`: its arguments, another stage, or whatever ends the expression.
        names -= enders
        rest = sorted(names, key=lambda n: (_ORDER.index(n) if n in _ORDER else 99, n))
        parts += [f"`{n.lower()}`" if n in _KEYWORDS else _WORDS.get(n, f"`{n.lower()}`") for n in rest]
        parts.append("the end of the statement")
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
    top_level = {"IMPORT", "CONST", "BLOCK", "MODEL", "TRAIN"}
    if len(names & top_level) >= 3:
        parts.append("`model`, `train`, `block`, `const` or `import`")
        names -= top_level
    statement = {"INPUT", "OUTPUT", "LAYER", "FOR", "IF", "ASSERT", "RETURN", "MINIMIZE", "METRIC"}
    # Soft keywords are names too, so only `for`, `assert` and `return` show that a statement may start.
    if names & {"FOR", "ASSERT", "RETURN"} and len(names & statement) >= 4:
        parts.append("a statement")
        names -= statement | {"BATCH", "EPOCHS", "DATA", "NAME"} | _SOFT_KEYWORDS
    if "NAME" in names:
        names -= _SOFT_KEYWORDS  # `over`, `data`, ... may be names: "a name" covers them
    rest = sorted(names, key=lambda n: (_ORDER.index(n) if n in _ORDER else 99, n))
    for n in rest:
        if n in _KEYWORDS:
            parts.append(f"`{n.lower()}`")
        else:
            parts.append(_WORDS.get(n, f"`{n.lower()}`"))
    if not parts:
        return "something else"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


_TEXT_OF = {"LPAR": ")", "LSQB": "]", "LBRACE": "}"}
_CONTINUERS = ("->", ",", "+", "-", "**", "*", "/", "%", "@", "=", "and", "or", "not")


def _innermost_open(source: SourceFile, tok: Token) -> Token | None:
    """The innermost bracket still open where the parser stopped (read again from the text)."""
    upto = getattr(tok, "start_pos", None)
    if tok.type == "$END" or upto is None:
        return None
    stack: list[Token] = []
    pos, line, line_start = 0, 1, 0
    for value in _FAST_TOKEN.findall(source.text):
        if pos >= upto:
            break
        start = pos
        pos += len(value)
        if value[0] == "\n":
            line += len(value)
            line_start = pos
        elif value in ("(", "[", "{"):
            column = start - line_start + 1
            stack.append(_token(_SINGLE[value], value, start, line, column, line, column + 1, pos))
        elif value in (")", "]", "}") and stack:
            stack.pop()
    return stack[-1] if stack else None


def _continued_from(source: SourceFile, tok: Token) -> str | None:
    """When the error is the first or second token of its line and the line above ends with `->` (or
    another operator that carries a statement on), what it ends with."""
    if tok.type in ("$END", "_NL") or not getattr(tok, "line", None) or tok.line < 2:
        return None
    before = source.line_text(tok.line)[: tok.column - 1].split()
    if len(before) > 1:
        return None
    for number in range(tok.line - 1, 0, -1):
        text = source.line_text(number).split("#", 1)[0].rstrip()
        if text:
            return next((c for c in _CONTINUERS if text.endswith(c)), None)
    return None


def _close_keyword(tok: Token, expected: set[str]) -> str | None:
    """`modle` where `model` is expected."""
    if tok.type != "NAME":
        return None
    words = [n.lower() for n in expected if n in _KEYWORDS and n not in _SOFT_KEYWORDS]
    close = difflib.get_close_matches(str(tok), words, n=1, cutoff=0.75)
    return close[0] if close else None


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    if tok.type == "_NL":
        return "the end of the line"
    if tok.type in _KEYWORDS:
        return f"the keyword `{tok.value}`"
    if tok.type == "NAME":
        return f"the name `{tok.value}`"
    if tok.type in ("INT", "FLOAT"):
        return f"the number `{tok.value}`"
    if tok.type == "STRING":
        return f"the string {tok.value}"
    return f"`{tok.value}`"


def _syntax_diagnostic(e: UnexpectedInput, source: SourceFile) -> Diagnostic:
    if isinstance(e, UnexpectedCharacters):
        span = Span(source.name, e.line, e.column, e.line, e.column + 1)
        char = source.text[e.pos_in_stream] if e.pos_in_stream < len(source.text) else ""
        if char == '"':
            return Diagnostic("error", "E0002", "this string is never closed", span, "the string starts here",
                              hint='strings end with `"` on the same line')
        if char == "=" and source.text[e.pos_in_stream:e.pos_in_stream + 2] != "==":
            pass
        shown = repr(char)[1:-1] if not char.isprintable() else char
        return Diagnostic("error", "E0001", f"unexpected character `{shown}`", span,
                          "no token of the language starts with this character")
    if isinstance(e, UnexpectedToken):
        tok = e.token
        if tok.type == "$END":
            # Lark gives the end token the place of the last token read: point just after it.
            if getattr(tok, "end_line", None) and getattr(tok, "end_column", None):
                span = Span(source.name, tok.end_line, tok.end_column, tok.end_line, tok.end_column + 1)
            else:
                span = source.end_span()
        else:
            span = _token_span(source.name, tok)
        expected = set(e.expected) if e.expected else set()
        found = _describe_token(tok)
        message = f"expected {_describe_expected(expected)}, found {found}"
        hint = None
        labels: tuple[Label, ...] = ()
        opener = _innermost_open(source, tok)
        continued = _continued_from(source, tok)
        misspelt = _close_keyword(tok, expected)
        if misspelt:
            hint = f"did you mean `{misspelt}`?"
        elif tok.type in ("MODEL", "TRAIN", "BLOCK", "CONST", "IMPORT"):
            # An item keyword inside a body: the body above was never closed.
            hint = "is a `}` missing above this line?"
            if opener is not None and opener.type == "LBRACE":
                labels = (Label(_token_span(source.name, opener), "this `{` is still open"),)
        elif opener is not None and opener.type in ("LPAR", "LSQB") and opener.line < tok.line:
            close = _TEXT_OF[opener.type]
            hint = f"is a `{close}` missing? Inside brackets a statement goes on over line ends"
            labels = (Label(_token_span(source.name, opener), f"this `{opener.value}` is still open"),)
        elif continued is not None:
            hint = (f"the line above ends with `{continued}`, so this line continues its statement; "
                    "finish that statement first")
        elif tok.type == "EQUAL" and "COMPARE" in expected:
            hint = "`=` binds a name; to compare, write `==`"
        elif tok.type in _KEYWORDS and "NAME" in expected:
            hint = f"`{tok.value}` is a keyword and cannot be used as a name"
        elif tok.type in ("ADD_OP", "MUL_OP") and "->" in source.line_text(tok.line)[: tok.column - 1]:
            hint = "`->` binds looser than arithmetic: put the chain in parentheses, `(x -> f) + y`"
        elif tok.type in ("NAME", "INT", "FLOAT", "LPAR") and "ARROW" in expected:
            hint = "two values in a row: is an operator or `->` missing between them?"
        elif tok.type == "_NL" and _EXPRESSION_START & expected:
            hint = "a statement may continue on the next line only after an operator, `->`, `,` or an open bracket"
        elif tok.type == "$END" and "RBRACE" in expected:
            hint = "a `}` is missing"
        return Diagnostic("error", "E0001", "syntax error: " + message, span,
                          f"unexpected {found.split(' `')[0].replace('the ', '')}", hint, labels)
    if isinstance(e, UnexpectedEOF):
        span = source.end_span()
        return Diagnostic("error", "E0001", "syntax error: unexpected end of file", span, "the program stops here")
    span = Span(source.name, getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1,
                getattr(e, "line", 1) or 1, (getattr(e, "column", 1) or 1) + 1)
    return Diagnostic("error", "E0001", "syntax error", span)


def _span(file: str, x) -> Span:
    if isinstance(x, Token):
        return _token_span(file, x)
    return x.span


class _PerThread(threading.local):
    file = ""


class ToAst:
    """Rule reductions to AST nodes; every node keeps the span of its text.

    One instance serves every parse (Lark binds its callbacks once); the name of
    the file being parsed is per thread, so threads may parse at the same time.
    """

    def __init__(self) -> None:
        self._local = _PerThread()

    @property
    def file(self) -> str:
        return self._local.file

    @file.setter
    def file(self, name: str) -> None:
        self._local.file = name

    def callbacks(self):
        """An object with one attribute per rule, each taking the list of children as Lark passes them."""
        table = type("ToAstCallbacks", (), {})()
        for name in dir(type(self)):
            if name.startswith("_") or name in ("file", "callbacks", "sp"):
                continue
            method = getattr(self, name)
            call = (lambda _m: lambda children: _m(*children))(method)
            call.method = method  # FastParser calls it directly, without Lark's child filter
            setattr(table, name, call)
        return table

    def sp(self, first, last=None) -> Span:
        file = self._local.file
        a = _token_span(file, first) if isinstance(first, Token) else first.span
        if last is None:
            return a
        b = _token_span(file, last) if isinstance(last, Token) else last.span
        return _new_span(a.file, a.line, a.column, b.end_line, b.end_column)

    def ident(self, tok):
        return tok

    # ---- top level
    def start(self, *items):
        return ast.Program(self.file, tuple(i for i in items if i is not None))

    def import_item(self, kw, path):
        return ast.Import(self.sp(kw, path), _unquote(path), self.sp(path))

    def const_item(self, kw, name, value):
        return ast.Const(self.sp(kw, value), str(name), self.sp(name), value)

    def block_def(self, kw, name, *rest):
        body = rest[-1]
        params = tuple(p for p in rest[:-1] if p is not None)
        stmts, end = body
        return ast.BlockDef(self.sp(kw, end), str(name), self.sp(name), params, stmts, self.sp(end))

    def param(self, name, type_name, default):
        end = default if default is not None else (type_name if type_name is not None else name)
        return ast.Param(self.sp(name, end), str(name), str(type_name) if type_name is not None else None,
                         self.sp(type_name) if type_name is not None else None, default)

    def model_def(self, kw, name, body):
        stmts, end = body
        return ast.ModelDef(self.sp(kw, end), str(name), self.sp(name), stmts, self.sp(end))

    def train_def(self, kw, name, body):
        stmts, end = body
        return ast.TrainDef(self.sp(kw, end), str(name), self.sp(name), stmts, self.sp(end))

    def body(self, lbrace, *rest):
        end = rest[-1]
        return tuple(s for s in rest[:-1] if s is not None), end

    # ---- statements
    def input_stmt(self, kw, name, dtype, lsqb, dims, rsqb):
        return ast.Input(self.sp(kw, rsqb), str(name), self.sp(name), str(dtype), self.sp(dtype), dims)

    def bind_stmt(self, name, value):
        return ast.Bind(self.sp(name, value), str(name), self.sp(name), value)

    def ascribe_stmt(self, name, lsqb, dims, rsqb, value):
        return ast.Bind(self.sp(name, value), str(name), self.sp(name), value, dims, self.sp(lsqb))

    def unpack_stmt(self, *parts):
        names, value = parts[:-1], parts[-1]
        return ast.Unpack(self.sp(names[0], value), tuple((str(n), self.sp(n)) for n in names), value)

    def param_stmt(self, kw, name, dtype, lsqb, dims, rsqb, init=None):
        return ast.ParamDef(self.sp(kw, init if init is not None else rsqb), str(name), self.sp(name),
                            None if dtype is None else str(dtype), None if dtype is None else self.sp(dtype), dims,
                            init)

    def layer_stmt(self, kw, name, value):
        return ast.LayerDef(self.sp(kw, value), str(name), self.sp(name), value)

    def output_stmt(self, kw, name, value):
        return ast.Output(self.sp(kw, value if value is not None else name), str(name), self.sp(name), value)

    def output_ascribe_stmt(self, kw, name, lsqb, dims, rsqb, value):
        return ast.Output(self.sp(kw, value), str(name), self.sp(name), value, dims, self.sp(lsqb))

    def for_stmt(self, kw, var, in_kw, start, dotdot, end, body):
        stmts, close = body
        return ast.For(self.sp(kw, close), str(var), self.sp(var), start, end, stmts)

    def if_stmt(self, kw, cond, then, else_kw=None, otherwise=None):
        then_stmts, close = then
        if otherwise is None:
            return ast.If(self.sp(kw, close), cond, then_stmts, None)
        if isinstance(otherwise, ast.If):
            return ast.If(self.sp(kw, otherwise), cond, then_stmts, (otherwise,))
        other_stmts, other_close = otherwise
        return ast.If(self.sp(kw, other_close), cond, then_stmts, other_stmts)

    def assert_stmt(self, kw, cond, message):
        return ast.Assert(self.sp(kw, message if message is not None else cond), self.sp(kw), cond, message)

    def return_stmt(self, kw, *values):
        return ast.Return(self.sp(kw, values[-1]), tuple(values))

    def minimize_stmt(self, kw, value, over, *rest):
        optimizer = rest[-1]
        targets = tuple((str(t), self.sp(t)) for t in rest[:-2])
        return ast.Minimize(self.sp(kw, optimizer), self.sp(kw), value, targets, optimizer)

    def metric_stmt(self, kw, name, value, on=None, train=None):
        return ast.Metric(self.sp(kw, train if train is not None else value), str(name), self.sp(name), value,
                          train is not None)

    def monitor_stmt(self, kw, name, mode=None):
        return ast.Monitor(self.sp(kw, mode if mode is not None else name), str(name), self.sp(name),
                           None if mode is None else str(mode), None if mode is None else self.sp(mode))

    def setting_stmt(self, kw, value):
        return ast.Setting(self.sp(kw, value), str(kw), value)

    def dims(self, *items):
        return tuple(i for i in items if i is not None)

    # ---- expressions
    def ternary(self, then, if_kw, cond, else_kw, otherwise):
        return ast.Ternary(self.sp(then, otherwise), then, cond, otherwise)

    def pipe(self, head, *rest):
        stages = tuple(s for s in rest if not isinstance(s, Token))
        return ast.Pipe(self.sp(head, stages[-1]), head, stages)

    def stage(self, name, lpar=None, args=None, rpar=None):
        if lpar is None:
            return ast.Stage(self.sp(name), str(name), self.sp(name), ())
        return ast.Stage(self.sp(name, rpar), str(name), self.sp(name), args)

    def _bool(self, op, items):
        operands = tuple(i for i in items if not isinstance(i, Token))
        return ast.BoolOp(self.sp(operands[0], operands[-1]), op, operands)

    def or_op(self, *items):
        return self._bool("or", items)

    def and_op(self, *items):
        return self._bool("and", items)

    def not_op(self, kw, operand):
        return ast.BoolOp(self.sp(kw, operand), "not", (operand,))

    def compare(self, left, op, right):
        return ast.Compare(self.sp(left, right), str(op), self.sp(op), left, right)

    def arith_op(self, first, *rest):
        pairs = tuple(ast.Operand(str(rest[i]), self.sp(rest[i]), rest[i + 1]) for i in range(0, len(rest), 2))
        return ast.Arith(self.sp(first, pairs[-1].value), first, pairs)

    def power_op(self, base, op, exponent):
        """`a ** b` is an Arith of one `**` operand (right-grouped: `a ** b ** c` nests in the exponent)."""
        return ast.Arith(self.sp(base, exponent), base, (ast.Operand("**", self.sp(op), exponent),))

    def unary(self, op, operand):
        return ast.Unary(self.sp(op, operand), str(op), operand)

    def call(self, func, lpar, args, rpar):
        return ast.Call(self.sp(func, rpar), func, args)

    def index(self, target, lsqb, idx, rsqb):
        return ast.Index(self.sp(target, rsqb), target, idx)

    def name(self, tok):
        return ast.Name(self.sp(tok), str(tok))

    def int_lit(self, tok):
        digits = str(tok).lstrip("0")
        if len(digits) > MAX_INT_DIGITS:
            raise SyntaxProblem(Diagnostic(
                "error", "E0114", f"this integer has {len(digits):,} digits", self.sp(tok), "too large",
                hint="a size or count is at most 2^63 - 1 (19 digits)"))
        return ast.Literal(self.sp(tok), int(digits or "0"))

    def float_lit(self, tok):
        value = float(tok)
        if value == float("inf"):
            raise SyntaxProblem(Diagnostic(
                "error", "E0114", f"the number `{_shorten(str(tok))}` is too large for a float", self.sp(tok),
                "too large", hint="floats are at most about 1.8e308"))
        return ast.Literal(self.sp(tok), value)

    def string_lit(self, tok):
        return ast.Literal(self.sp(tok), _unquote(tok))

    def true_lit(self, tok):
        return ast.Literal(self.sp(tok), True)

    def false_lit(self, tok):
        return ast.Literal(self.sp(tok), False)

    def paren(self, lpar, value, rpar):
        return value

    def list_lit(self, lsqb, *rest):
        rsqb = rest[-1]
        items = tuple(i for i in rest[:-1] if i is not None)
        return ast.ListLit(self.sp(lsqb, rsqb), items)

    def args(self, *items):
        out = []
        for i in items:
            if i is None:
                continue
            out.append(i if isinstance(i, ast.Arg) else ast.Arg(i.span, i))
        return tuple(out)

    def kwarg(self, name, value):
        return ast.Arg(self.sp(name, value), value, str(name), self.sp(name))


_TO_AST = ToAst()
MAX_INT_DIGITS = 4000  # Python refuses to read longer ints; every real size has 19 digits or fewer


def _shorten(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _unquote(tok) -> str:
    s = str(tok)[1:-1]
    return s.replace('\\"', '"').replace("\\\\", "\\").replace("\\n", "\n").replace("\\t", "\t")
