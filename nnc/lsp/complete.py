"""Completion and signature help, from the op registry, the optimiser tables and the names in scope.

Nothing here is a hand-kept list of built-ins: ops come from `nnc.ops.registry()` (their docs, inputs
and Attr lists), optimisers and schedules from `nnc.optimizers`, keywords from the parser. The call
under the cursor is found by lexing the text before it (strings and comments skipped), so completion
works on a file that does not parse.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from lsprotocol import types as lsp

from ..elaborate.elaborator import COMPILE_TIME_FUNCTIONS
from ..ops import registry
from ..ops.base import Attr, Op
from ..optimizers import OPTIMIZERS, SCHEDULES
from ..syntax import ast
from ..syntax.parser import _KEYWORDS
from .analysis import Analysis
from .index import index
from .symbols import occurrences

LOOKBACK = 4000  # characters before the cursor searched for the enclosing call
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")
_COMPILE_TIME_DOCS = {"shape": "the shape of a tensor, as a list", "channels": "the size of axis 1 of a tensor",
                      "params": "the trainable parameters of a model or layer", "l1": "sum of |w| over weights",
                      "l2": "sum of w² over weights", "len": "the length of a list"}


def _default(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "none"
    return str(value)


def attr_label(a: Attr) -> str:
    return a.name if a.required else f"{a.name}={_default(a.default)}"


@dataclass(frozen=True)
class Signature:
    name: str
    label: str
    params: tuple[str, ...]  # each parameter's text, as it appears in label
    names: tuple[str, ...]  # each parameter's name (for keyword arguments)
    doc: str


def op_signature(op: Op, piped: bool) -> Signature:
    attrs = [a for a in op.attrs if a.name != "initial_states"]
    inputs = list(op.inputs[1:] if piped else op.inputs)
    params = inputs + [attr_label(a) for a in attrs] + [f"{n}=..." for n in op.optional_inputs]
    names = inputs + [a.name for a in attrs] + list(op.optional_inputs)
    head = f"{op.inputs[0]} -> " if piped and op.inputs else ""
    doc = op.doc + ("".join(f"\n\n    {e}" for e in op.examples) if op.examples else "")
    return Signature(op.name, f"{head}{op.name}({', '.join(params)})", tuple(params), tuple(names), doc)


def table_signature(name: str, attrs, what: str) -> Signature:
    params = [attr_label(a) for a in attrs]
    return Signature(name, f"{name}({', '.join(params)})", tuple(params), tuple(a.name for a in attrs), what)


def _block_signature(item: ast.BlockDef, piped: bool) -> Signature:
    params = [p.name + (f": {p.type}" if p.type else "") for p in item.params]
    names = [p.name for p in item.params]
    if piped and params:
        params, names = params[1:], names[1:]
    return Signature(item.name, f"{item.name}({', '.join(params)})", tuple(params), tuple(names), "block")


def _globals(analysis: Analysis | None) -> dict:
    """Blocks, models and consts of the checked file and its imports, by name."""
    if analysis is None:
        return {}

    def make() -> dict:
        out: dict = {}
        for module in analysis.modules.values():
            for item in module.program.items if module is not None else ():
                if isinstance(item, (ast.BlockDef, ast.ModelDef, ast.Const, ast.TrainDef)):
                    out.setdefault(item.name, item)
        return out
    return index(analysis).memo("completion-globals", make)


def signature_of(name: str, piped: bool, analysis: Analysis | None) -> Signature | None:
    op = registry().get(name)
    if op is not None and not op.internal:
        return op_signature(op, piped)
    if name in OPTIMIZERS:
        return table_signature(name, OPTIMIZERS[name], "optimiser")
    if name in SCHEDULES:
        return table_signature(name, SCHEDULES[name], "learning-rate schedule")
    item = _globals(analysis).get(name)
    if isinstance(item, ast.BlockDef):
        return _block_signature(item, piped)
    if isinstance(item, ast.ModelDef):
        inputs = [f"{s.name}: {s.dtype}[...]" for s in item.body if isinstance(s, ast.Input)]
        names = [s.name for s in item.body if isinstance(s, ast.Input)]
        if piped and inputs:
            inputs, names = inputs[1:], names[1:]
        return Signature(name, f"{name}({', '.join(inputs)})", tuple(inputs), tuple(names), "model")
    return None


@dataclass
class CallContext:
    name: str  # the callee
    piped: bool  # written as a `->` stage
    index: int  # which argument the cursor is in (0-based)
    keyword: str | None  # the keyword of that argument, if written
    used: tuple[str, ...]  # keywords already given


def context(text: str, offset: int) -> tuple[CallContext | None, bool]:
    """The innermost call whose parenthesis is open at `offset`, and whether the cursor follows `->`."""
    start = max(0, offset - LOOKBACK)
    s = text[start:offset]
    stack: list[dict] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "#":
            j = s.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == '"':
            j = s.find('"', i + 1)
            nl = s.find("\n", i + 1)
            if j < 0 or (0 <= nl < j):
                i = n if nl < 0 else nl
            else:
                i = j + 1
            continue
        if c == "(":
            m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", s[:i])
            name = m.group(1) if m else ""
            before = s[:m.start()] if m else s[:i]
            piped = bool(re.search(r"->\s*$", before))
            stack.append({"name": name, "piped": piped, "index": 0, "used": [], "kw": None})
        elif c in "[{":
            stack.append({"name": "", "piped": False, "index": 0, "used": [], "kw": None, "bracket": True})
        elif c in ")]}":
            if stack:
                stack.pop()
        elif c == "," and stack:
            stack[-1]["index"] += 1
            stack[-1]["kw"] = None
        elif c == "=" and stack and s[i + 1:i + 2] != "=" and s[i - 1:i] not in "=!<>":
            m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", s[:i])
            if m:
                stack[-1]["kw"] = m.group(1)
                stack[-1]["used"].append(m.group(1))
        i += 1
    tail = s[: len(s) - len(_WORD.search(s).group(0))] if _WORD.search(s) else s
    after_arrow = bool(re.search(r"->\s*$", tail))
    for frame in reversed(stack):
        if frame.get("bracket"):
            return None, after_arrow
        if frame["name"]:
            return CallContext(frame["name"], frame["piped"], frame["index"], frame["kw"],
                               tuple(frame["used"])), after_arrow
        return None, after_arrow
    return None, after_arrow


def _offset(text: str, line: int, col: int) -> int:
    lines = text.split("\n")
    line = max(1, min(line, len(lines)))
    return sum(len(l) + 1 for l in lines[: line - 1]) + min(col - 1, len(lines[line - 1]))


def _doc(text: str) -> lsp.MarkupContent:
    return lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text)


def _locals(analysis: Analysis | None, line: int) -> dict[str, str]:
    """Names bound in the model, block or train block around `line`, with what they are."""
    out: dict[str, str] = {}
    item = index(analysis).item_at(line) if analysis is not None else None
    if getattr(item, "body_end", None) is None:
        return out
    for o in occurrences(item):
        if o.is_def and o.name != item.name:
            out.setdefault(o.name, "value")
    return out


def completions(text: str, line: int, col: int, analysis: Analysis | None) -> list[lsp.CompletionItem]:
    """Completion items at the 1-based (line, column) of `text`; the client filters them by the typed prefix."""
    offset = _offset(text, line, col)
    call, after_arrow = context(text, offset)
    word = _WORD.search(text[max(0, offset - 200):offset])
    prefix = word.group(0).lower() if word else ""
    items = _all_items(call, after_arrow, line, analysis)
    if prefix:
        items = [i for i in items if (i.filter_text or i.label).lower().startswith(prefix)]
    return items


def _all_items(call: CallContext | None, after_arrow: bool, line: int,
               analysis: Analysis | None) -> list[lsp.CompletionItem]:
    items: list[lsp.CompletionItem] = []
    if call is not None and call.keyword is None:
        sig = signature_of(call.name, call.piped, analysis)
        if sig is not None:
            op = registry().get(call.name)
            inputs = set(op.inputs) if op is not None else set()
            for p, name in zip(sig.params, sig.names):
                if name in call.used or name in inputs:
                    continue
                items.append(lsp.CompletionItem(label=f"{name}=", kind=lsp.CompletionItemKind.Property,
                                                detail=p, insert_text=f"{name}=", sort_text=f"0{name}",
                                                filter_text=name))
    for name, op in registry().items():
        if op.internal:
            continue
        sig = op_signature(op, True)
        items.append(lsp.CompletionItem(
            label=name, kind=lsp.CompletionItemKind.Function, detail=sig.label, documentation=_doc(sig.doc),
            sort_text=("1" if after_arrow and op.category in ("layer", "activation", "pool", "shape")
                       else "2") + name,
            label_details=lsp.CompletionItemLabelDetails(detail=sig.label[sig.label.index("("):])))
    if not after_arrow:
        for table, what in ((OPTIMIZERS, "optimiser"), (SCHEDULES, "learning-rate schedule")):
            for name, attrs in table.items():
                sig = table_signature(name, attrs, what)
                items.append(lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Function, detail=sig.label,
                                                documentation=_doc(what), sort_text="3" + name))
        for name in COMPILE_TIME_FUNCTIONS:
            items.append(lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Function, detail=f"{name}(...)",
                                            documentation=_doc(_COMPILE_TIME_DOCS.get(name, "")),
                                            sort_text="3" + name))
    for name, item in _globals(analysis).items():
        kind = {ast.BlockDef: lsp.CompletionItemKind.Function, ast.ModelDef: lsp.CompletionItemKind.Class,
                ast.Const: lsp.CompletionItemKind.Constant}.get(type(item), lsp.CompletionItemKind.Module)
        if isinstance(item, ast.TrainDef):
            continue
        detail = _block_signature(item, after_arrow).label if isinstance(item, ast.BlockDef) else type(
            item).__name__.replace("Def", "").lower()
        items.append(lsp.CompletionItem(label=name, kind=kind, detail=detail, sort_text="1" + name))
    if not after_arrow:
        for name in _locals(analysis, line):
            items.append(lsp.CompletionItem(label=name, kind=lsp.CompletionItemKind.Variable, sort_text="1" + name))
        for word in sorted(k.lower() for k in _KEYWORDS):
            items.append(lsp.CompletionItem(label=word, kind=lsp.CompletionItemKind.Keyword, sort_text="4" + word))
    return items


def signature_help(text: str, line: int, col: int, analysis: Analysis | None) -> lsp.SignatureHelp | None:
    """The signature of the call around the cursor, with the argument under it active."""
    call, _ = context(text, _offset(text, line, col))
    if call is None:
        return None
    sig = signature_of(call.name, call.piped, analysis)
    if sig is None:
        return None
    active = call.index
    if call.keyword is not None and call.keyword in sig.names:
        active = sig.names.index(call.keyword)
    active = min(active, max(len(sig.params) - 1, 0))
    params = [lsp.ParameterInformation(label=p) for p in sig.params]
    info = lsp.SignatureInformation(label=sig.label, documentation=_doc(sig.doc), parameters=params,
                                    active_parameter=active)
    return lsp.SignatureHelp(signatures=[info], active_signature=0, active_parameter=active)
