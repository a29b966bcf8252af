"""Program text to AST, and syntax errors to diagnostics in plain words."""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..diagnostics import Diagnostic, Label
from ..source import SourceFile, Span
from . import ast
from .layout import Layout, LayoutError

GRAMMAR_PATH = Path(__file__).with_name("nnc.lark")


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    text = GRAMMAR_PATH.read_text()
    cache_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nnc"
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache: str | bool = str(cache_dir / "grammar.lark-cache")
    except OSError:
        cache = str(Path(tempfile.gettempdir()) / "nnc-grammar.lark-cache")
    return Lark(text, parser="lalr", lexer="basic", postlex=Layout(), propagate_positions=True,
                maybe_placeholders=True, cache=cache)


class SyntaxProblem(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


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
    try:
        tree = _parser().parse(source.text)
    except LayoutError as e:
        raise SyntaxProblem(_layout_diagnostic(e, source)) from None
    except UnexpectedInput as e:
        raise SyntaxProblem(_syntax_diagnostic(e, source)) from None
    try:
        return ToAst(source.name).transform(tree)
    except VisitError as e:
        if isinstance(e.orig_exc, SyntaxProblem):
            raise e.orig_exc from None
        raise


def check_text(source: SourceFile) -> Diagnostic | None:
    """Problems with the characters themselves, before any token is read."""
    text = source.text
    nul = text.find("\x00")
    if nul >= 0:
        span = _offset_span(source, nul)
        return Diagnostic("error", "E0003", "the file contains a NUL byte", span, "here",
                          hint="is this a binary file? .nn programs are UTF-8 text")
    bad = text.find("\ufffd")
    if bad >= 0:
        span = _offset_span(source, bad)
        return Diagnostic("error", "E0003", "the file is not valid UTF-8 text", span, "this byte",
                          hint=".nn programs are UTF-8 text")
    return None


def _offset_span(source: SourceFile, offset: int) -> Span:
    line = source.text.count("\n", 0, offset) + 1
    col = offset - (source.text.rfind("\n", 0, offset) + 1) + 1
    return Span(source.name, line, col, line, col + 1)


def _token_span(file: str, tok: Token) -> Span:
    end_line = tok.end_line if tok.end_line is not None else tok.line
    end_col = tok.end_column if tok.end_column is not None else tok.column + max(len(tok.value), 1)
    if tok.type == "_NL":  # a newline token ends on the next line; point at the end of this one
        return Span(file, tok.line, tok.column, tok.line, tok.column + 1)
    return Span(file, tok.line, tok.column, end_line, end_col)


def _layout_diagnostic(e: LayoutError, source: SourceFile) -> Diagnostic:
    labels = tuple(Label(_token_span(source.name, t), text) for t, text in e.related)
    return Diagnostic("error", e.code, e.message, _token_span(source.name, e.token), e.label, e.hint, labels)


_EXPRESSION_START = {"NAME", "INT", "FLOAT", "STRING", "TRUE", "FALSE", "LPAR", "LSQB", "ADD_OP", "NOT"}
_SOFT_KEYWORDS = {"METRIC", "BATCH", "EPOCHS", "DATA", "OVER", "WITH", "LAYER", "INPUT", "OUTPUT", "MINIMIZE"}
_WORDS = {
    "NAME": "a name", "INT": "an integer", "FLOAT": "a number", "STRING": "a string",
    "_NL": "the end of the line", "$END": "the end of the file", "ARROW": "`->`", "DOTDOT": "`..`",
    "COMPARE": "a comparison", "ADD_OP": "`+` or `-`", "MUL_OP": "`*`, `/`, `//`, `%` or `@`",
    "LPAR": "`(`", "RPAR": "`)`", "LSQB": "`[`", "RSQB": "`]`", "LBRACE": "`{`", "RBRACE": "`}`",
    "EQUAL": "`=`", "COMMA": "`,`", "COLON": "`:`",
}
_KEYWORDS = {
    "IMPORT", "CONST", "BLOCK", "MODEL", "TRAIN", "INPUT", "OUTPUT", "LAYER", "RETURN", "FOR", "IN", "IF",
    "ELSE", "AND", "OR", "NOT", "MINIMIZE", "OVER", "WITH", "METRIC", "BATCH", "EPOCHS", "DATA", "ASSERT",
    "TRUE", "FALSE",
}
_ORDER = ["expression", "NAME", "EQUAL", "COLON", "COMMA", "RPAR", "RSQB", "RBRACE", "LBRACE", "ARROW",
          "_NL", "$END"]


def _describe_expected(expected: set[str]) -> str:
    names = set(expected)
    parts: list[str] = []
    if len(names & _EXPRESSION_START) >= 4:
        parts.append("an expression")
        names -= _EXPRESSION_START | _SOFT_KEYWORDS
    operators = {"ADD_OP", "MUL_OP", "COMPARE", "AND", "OR", "ARROW", "IF"}
    if len(names & operators) >= 3:
        # After a complete expression LALR lists every token that could follow it; say it plainly.
        return "an operator or the end of the statement"
    top_level = {"IMPORT", "CONST", "BLOCK", "MODEL", "TRAIN"}
    if len(names & top_level) >= 3:
        parts.append("`model`, `train`, `block`, `const` or `import`")
        names -= top_level
    statement = {"INPUT", "OUTPUT", "LAYER", "FOR", "IF", "ASSERT", "RETURN", "MINIMIZE", "METRIC"}
    if len(names & statement) >= 4:
        parts.append("a statement")
        names -= statement | {"BATCH", "EPOCHS", "DATA"}
    rest = sorted(names, key=lambda n: (_ORDER.index(n) if n in _ORDER else 99, n))
    for n in rest:
        if n in _KEYWORDS:
            parts.append(f"`{n.lower()}`")
        else:
            parts.append(_WORDS.get(n, f"`{n.lower()}`"))
    if not parts:
        return "something else"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


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
            span = source.end_span()
        else:
            span = _token_span(source.name, tok)
        expected = set(e.expected) if e.expected else set()
        found = _describe_token(tok)
        message = f"expected {_describe_expected(expected)}, found {found}"
        hint = None
        prev = getattr(e, "_prev_token", None)
        if tok.type == "EQUAL" and "COMPARE" in expected:
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
        return Diagnostic("error", "E0001", "syntax error: " + message, span, f"unexpected {found.split(' `')[0].replace('the ', '')}", hint)
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


@v_args(inline=True)
class ToAst(Transformer):
    """Lark tree to AST; every node keeps the span of its text."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file

    def sp(self, first, last=None) -> Span:
        a = _span(self.file, first)
        return a.to(_span(self.file, last)) if last is not None else a

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

    def layer_stmt(self, kw, name, value):
        return ast.LayerDef(self.sp(kw, value), str(name), self.sp(name), value)

    def output_stmt(self, kw, name, value):
        return ast.Output(self.sp(kw, value if value is not None else name), str(name), self.sp(name), value)

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

    def metric_stmt(self, kw, name, value):
        return ast.Metric(self.sp(kw, value), str(name), self.sp(name), value)

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

    def unary(self, op, operand):
        return ast.Unary(self.sp(op, operand), str(op), operand)

    def call(self, func, lpar, args, rpar):
        return ast.Call(self.sp(func, rpar), func, args)

    def index(self, target, lsqb, idx, rsqb):
        return ast.Index(self.sp(target, rsqb), target, idx)

    def name(self, tok):
        return ast.Name(self.sp(tok), str(tok))

    def int_lit(self, tok):
        return ast.Literal(self.sp(tok), int(tok))

    def float_lit(self, tok):
        return ast.Literal(self.sp(tok), float(tok))

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


def _unquote(tok) -> str:
    s = str(tok)[1:-1]
    return s.replace('\\"', '"').replace("\\\\", "\\").replace("\\n", "\n").replace("\\t", "\t")
