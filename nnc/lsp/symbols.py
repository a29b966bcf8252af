"""Navigation from the AST: document symbols, go to definition and find references.

Names resolve as the language scopes them: a name inside a model, block or train block is first a
binding of that body (the nearest one written before it, since rebinding is allowed), then a parameter
of the block, then a global of the file (const, block, model), then a global of an imported file.
Everything here walks the AST without recursion, so any nesting the parser accepts is fine.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from ..source import Span
from ..syntax import ast
from .analysis import Analysis
from .convert import contains

MAX_REFERENCES = 10_000


@dataclass
class Symbol:
    name: str
    kind: str  # an lsprotocol SymbolKind member name
    span: Span
    name_span: Span
    detail: str = ""
    children: list["Symbol"] = field(default_factory=list)


@dataclass(frozen=True)
class Occurrence:
    """A name written in the program: a definition (`x = ...`, `model m`) or a use (`x`, `-> m`)."""

    name: str
    span: Span
    is_def: bool
    item: object  # the top-level item it is inside (None for an import)


def walk(node):
    """Every AST node under `node` (itself included), depth first, without recursion."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (tuple, list)):
            stack.extend(reversed(n))
            continue
        if not dataclasses.is_dataclass(n) or isinstance(n, Span):
            continue
        yield n
        for f in reversed(dataclasses.fields(n)):
            v = getattr(n, f.name)
            if isinstance(v, (tuple, list)) or (dataclasses.is_dataclass(v) and not isinstance(v, Span)):
                stack.append(v)


def _name_span(span: Span, name: str) -> Span:
    return Span(span.file, span.line, span.column, span.line, span.column + len(name))


def _full(item) -> Span:
    end = getattr(item, "body_end", None)
    return item.span.to(end) if end is not None else item.span


def occurrences(item) -> list[Occurrence]:
    """Every definition and use of a name inside one top-level item, in the order they are written."""
    out: list[Occurrence] = []
    if isinstance(item, (ast.ModelDef, ast.BlockDef, ast.TrainDef, ast.Const)):
        out.append(Occurrence(item.name, item.name_span, True, item))
    if isinstance(item, ast.BlockDef):
        for p in item.params:
            out.append(Occurrence(p.name, _name_span(p.span, p.name), True, item))
    for n in walk(getattr(item, "body", None) or getattr(item, "value", None) or ()):
        if isinstance(n, ast.Name):
            out.append(Occurrence(n.id, n.span, False, item))
        elif isinstance(n, ast.Stage):
            out.append(Occurrence(n.name, n.name_span, False, item))
        elif isinstance(n, (ast.Input, ast.Bind, ast.LayerDef, ast.Metric)):
            out.append(Occurrence(n.name, n.name_span, True, item))
        elif isinstance(n, ast.Output):
            out.append(Occurrence(n.name, n.name_span, n.value is not None, item))
        elif isinstance(n, ast.Unpack):
            out += [Occurrence(name, span, True, item) for name, span in n.names]
        elif isinstance(n, ast.For):
            out.append(Occurrence(n.var, n.var_span, True, item))
        elif isinstance(n, ast.Minimize):
            out += [Occurrence(name, span, False, item) for name, span in n.targets]
    out.sort(key=lambda o: (o.span.line, o.span.column))
    return out


def _program(analysis: Analysis, path: Path | None = None):
    module = analysis.modules.get(path or analysis.path)
    return module.program if module is not None else None


def _globals(program) -> dict[str, Span]:
    return {item.name: item.name_span for item in program.items
            if isinstance(item, (ast.ModelDef, ast.BlockDef, ast.TrainDef, ast.Const))}


def _imported(analysis: Analysis, path: Path, name: str, seen: set[Path]) -> Span | None:
    """Where an imported global is defined, following the imports of `path` in order."""
    module = analysis.modules.get(path)
    if module is None or path in seen:
        return None
    seen.add(path)
    for item in module.program.items:
        if isinstance(item, ast.Import):
            target = _import_target(analysis, module, item)
            other = analysis.modules.get(target) if target else None
            if other is None:
                continue
            found = _globals(other.program).get(name) or _imported(analysis, target, name, seen)
            if found is not None:
                return found
    return None


def _import_target(analysis: Analysis, module, item: ast.Import) -> Path | None:
    from ..elaborate.loader import resolved
    base = module.path.parent if module.path is not None else Path.cwd()
    return resolved(base / item.path)


def _resolve(analysis: Analysis, path: Path, occ: Occurrence, local: list[Occurrence]) -> Span | None:
    """The definition span a name occurrence refers to, or None (a built-in, or unbound)."""
    if occ.is_def:
        return occ.span
    before = [o for o in local if o.is_def and o.name == occ.name and o.item is occ.item
              and (o.span.line, o.span.column) < (occ.span.line, occ.span.column)
              and not isinstance(o.item, ast.Const)]
    if before:
        return before[-1].span
    program = _program(analysis, path)
    found = _globals(program).get(occ.name) if program is not None else None
    return found or _imported(analysis, path, occ.name, set())


def _all_occurrences(analysis: Analysis, path: Path) -> list[Occurrence]:
    program = _program(analysis, path)
    if program is None:
        return []
    return [o for item in program.items if not isinstance(item, ast.Import) for o in occurrences(item)]


def _at(analysis: Analysis, line: int, col: int) -> tuple[Occurrence | None, list[Occurrence]]:
    occs = _all_occurrences(analysis, analysis.path)
    for o in occs:
        if o.span.file == analysis.name and contains(o.span, line, col):
            return o, occs
    return None, occs


def definition(analysis: Analysis, line: int, col: int) -> list:
    """Where the name (or import path) under the cursor is defined: spans, or a Path for an imported file."""
    program = _program(analysis)
    if program is None:
        return []
    for item in program.items:
        if isinstance(item, ast.Import) and contains(item.path_span, line, col):
            target = _import_target(analysis, analysis.module, item)
            return [target] if target is not None and target.exists() else []
    occ, occs = _at(analysis, line, col)
    if occ is None:
        return []
    found = _resolve(analysis, analysis.path, occ, occs)
    return [found] if found is not None else []


def references(analysis: Analysis, line: int, col: int, include_declaration: bool = True) -> list[Span]:
    """Every place in the checked files that names the same definition as the name under the cursor."""
    occ, occs = _at(analysis, line, col)
    if occ is None:
        return []
    target = _resolve(analysis, analysis.path, occ, occs)
    if target is None:
        return []
    out: list[Span] = []
    for path in analysis.modules:
        here = occs if path == analysis.path else _all_occurrences(analysis, path)
        for o in here:
            if o.name != occ.name or (o.is_def and not include_declaration):
                continue
            if _resolve(analysis, path, o, here) == target:
                out.append(o.span)
                if len(out) >= MAX_REFERENCES:
                    return out
    return out


_CHILD_KINDS = {ast.Input: "Field", ast.Output: "Property", ast.LayerDef: "Object", ast.Metric: "Key"}


def _children(body) -> list[Symbol]:
    out = []
    for n in walk(body):
        kind = _CHILD_KINDS.get(type(n))
        if kind is not None:
            out.append(Symbol(n.name, kind, n.span, n.name_span))
    return out


def document_symbols(analysis: Analysis) -> list[Symbol]:
    """The outline: models, blocks, train blocks and consts, with inputs, outputs, layers and metrics inside."""
    program = _program(analysis)
    if program is None:
        return []
    out = []
    for item in program.items:
        if isinstance(item, ast.ModelDef):
            info = analysis.models.get(item.name)
            detail = ""
            if info is not None:
                g = info.graph
                detail = ", ".join(f"{n}: {g.type_of(v)}" for n, v in g.inputs)
                if g.outputs:
                    detail += " → " + ", ".join(f"{g.type_of(v)}" for _, v in g.outputs)
            out.append(Symbol(item.name, "Class", _full(item), item.name_span, detail, _children(item.body)))
        elif isinstance(item, ast.BlockDef):
            params = ", ".join(p.name + (f": {p.type}" if p.type else "") for p in item.params)
            out.append(Symbol(item.name, "Function", _full(item), item.name_span, f"({params})",
                              _children(item.body)))
        elif isinstance(item, ast.TrainDef):
            out.append(Symbol(item.name, "Event", _full(item), item.name_span, "train", _children(item.body)))
        elif isinstance(item, ast.Const):
            out.append(Symbol(item.name, "Constant", item.span, item.name_span))
    return out
