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
from ..elaborate.loader import resolved
from .convert import contains
from .index import index

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


_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


def walk(node):
    """Every AST node under `node` (itself included), depth first, without recursion."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (tuple, list)):
            stack.extend(reversed(n))
            continue
        if isinstance(n, Span) or not hasattr(n, "__dataclass_fields__"):
            continue
        yield n
        for name in reversed(_fields(type(n))):
            v = getattr(n, name)
            if isinstance(v, (tuple, list)) or (hasattr(v, "__dataclass_fields__") and not isinstance(v, Span)):
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
        elif isinstance(n, (ast.Input, ast.Bind, ast.LayerDef, ast.ParamDef, ast.Metric)):
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


def _item_occurrences(analysis: Analysis, item) -> list[Occurrence]:
    return index(analysis).memo(("occ", id(item)), lambda: occurrences(item))


def _globals(analysis: Analysis, path: Path) -> dict[str, Span]:
    def make() -> dict[str, Span]:
        program = _program(analysis, path)
        if program is None:
            return {}
        return {item.name: item.name_span for item in program.items
                if isinstance(item, (ast.ModelDef, ast.BlockDef, ast.TrainDef, ast.Const))}
    return index(analysis).memo(("globals", path), make)


def _imported(analysis: Analysis, path: Path, name: str, seen: set[Path]) -> Span | None:
    """Where an imported global is defined, following the imports of `path` in order."""
    module = analysis.modules.get(path)
    if module is None or path in seen:
        return None
    seen.add(path)
    for item in module.program.items:
        if isinstance(item, ast.Import):
            target = _import_target(module, item)
            if analysis.modules.get(target) is None:
                continue
            found = _globals(analysis, target).get(name) or _imported(analysis, target, name, seen)
            if found is not None:
                return found
    return None


def _import_target(module, item: ast.Import) -> Path:
    base = module.path.parent if module.path is not None else Path.cwd()
    return resolved(base / item.path)


def _resolve(analysis: Analysis, path: Path, occ: Occurrence) -> Span | None:
    """The definition span a name occurrence refers to, or None (a built-in, or unbound)."""
    if occ.is_def:
        return occ.span
    if not isinstance(occ.item, ast.Const):
        before = None
        for o in _item_occurrences(analysis, occ.item):
            if (o.span.line, o.span.column) >= (occ.span.line, occ.span.column):
                break
            if o.is_def and o.name == occ.name:
                before = o
        if before is not None:
            return before.span
    return _globals(analysis, path).get(occ.name) or _imported(analysis, path, occ.name, set())


def _at(analysis: Analysis, line: int, col: int) -> Occurrence | None:
    item = index(analysis).item_at(line)
    if item is None or isinstance(item, ast.Import):
        return None
    for o in _item_occurrences(analysis, item):
        if o.span.file == analysis.name and contains(o.span, line, col):
            return o
    return None


def definition(analysis: Analysis, line: int, col: int) -> list:
    """Where the name (or import path) under the cursor is defined: spans, or a Path for an imported file."""
    item = index(analysis).item_at(line)
    if isinstance(item, ast.Import) and contains(item.path_span, line, col):
        target = _import_target(analysis.module, item)
        return [target] if target.exists() else []
    occ = _at(analysis, line, col)
    if occ is None:
        return []
    found = _resolve(analysis, analysis.path, occ)
    return [found] if found is not None else []


def references(analysis: Analysis, line: int, col: int, include_declaration: bool = True) -> list[Span]:
    """Every place in the checked files that names the same definition as the name under the cursor."""
    occ = _at(analysis, line, col)
    if occ is None:
        return []
    target = _resolve(analysis, analysis.path, occ)
    if target is None:
        return []
    is_global = target == _globals(analysis, analysis.path).get(occ.name) or target.file != analysis.name
    if is_global:
        places = [(path, item) for path, module in analysis.modules.items() if module is not None
                  for item in module.program.items if not isinstance(item, ast.Import)]
    else:  # a binding or parameter: only its own model, block or train block can name it
        places = [(analysis.path, occ.item)]
    out: list[Span] = []
    for path, item in places:
        for o in _item_occurrences(analysis, item):
            if o.name != occ.name or (o.is_def and not include_declaration):
                continue
            if _resolve(analysis, path, o) == target:
                out.append(o.span)
                if len(out) >= MAX_REFERENCES:
                    return out
    return out


_CHILD_KINDS = {ast.Input: "Field", ast.Output: "Property", ast.LayerDef: "Object", ast.ParamDef: "Variable",
                ast.Metric: "Key"}


def _children(body) -> list[Symbol]:
    out = []
    for n in walk(body):
        kind = _CHILD_KINDS.get(type(n))
        if kind is not None:
            out.append(Symbol(n.name, kind, n.span, n.name_span))
    return out


def document_symbols(analysis: Analysis) -> list[Symbol]:
    """The outline: models, blocks, train blocks and consts, with inputs, outputs, layers and metrics inside."""
    return index(analysis).memo("outline", lambda: _outline(analysis))


def _outline(analysis: Analysis) -> list[Symbol]:
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
