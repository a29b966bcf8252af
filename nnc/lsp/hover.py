"""Hover: the inferred type of a value, and for a layer call its parameters, MACs and window arithmetic.

Everything comes from the last analysis (analysis.types and analysis.calls); nothing is re-checked. A
block called with several shapes shows each one it was called with.
"""
from __future__ import annotations

from ..ir.types import dim_str
from ..ops import get as get_op
from ..ops.window import AXIS_NAMES
from ..source import Span
from ..syntax import ast
from .analysis import Analysis, CallRecord
from .convert import contains
from .index import index
from .symbols import walk

MAX_SHOWN = 4  # distinct shapes listed for one place


def type_text(t) -> str:
    if isinstance(t, tuple):
        return "(" + ", ".join(str(x) for x in t) + ")"
    return str(t)


def _smallest(spans, line: int, col: int) -> Span | None:
    best = None
    for s in spans:
        if s.file is None or not contains(s, line, col):
            continue
        if best is None or (s.end_line - s.line, s.end_column - s.column if s.line == s.end_line else 0,
                            -s.column) < (best.end_line - best.line,
                                          best.end_column - best.column if best.line == best.end_line else 0,
                                          -best.column):
            best = s
    return best


def window_lines(rec: CallRecord) -> list[str]:
    """`height and width: (28 - 5 + 2·2)/1 + 1 = 28` for each distinct spatial axis of a conv or pool call."""
    attrs = dict(rec.attrs)
    if not {"kernel", "stride", "padding"} <= set(attrs) or not rec.inputs or rec.op.startswith("conv_transpose"):
        return []
    x, y = rec.inputs[0], rec.outputs[0]
    kernel, stride, padding = attrs["kernel"], attrs["stride"], attrs["padding"]
    dilation = attrs.get("dilation") or (1,) * len(kernel)
    n_axes = len(kernel)
    names = AXIS_NAMES.get(n_axes, tuple(f"axis {i + 2}" for i in range(n_axes)))
    rows: list[tuple[str, str]] = []
    for i in range(n_axes):
        n, k, s, d = x.shape[2 + i], kernel[i], stride[i], dilation[i]
        lo, hi = padding[i]
        pad = f"2·{lo}" if lo == hi else f"{lo}+{hi}"
        size = dim_str(n)
        if d == 1:
            formula = f"({size} - {k} + {pad})/{s} + 1"
        else:
            formula = f"({size} + {pad} - {d}·({k} - 1) - 1)/{s} + 1"
        rows.append((names[i], f"{formula} = {dim_str(y.shape[2 + i])}"))
    merged: list[tuple[list[str], str]] = []
    for axis, text in rows:
        for group in merged:
            if group[1] == text:
                group[0].append(axis)
                break
        else:
            merged.append(([axis], text))
    return [f"{' and '.join(axes)}: {text}" for axes, text in merged]


def _macs(rec: CallRecord) -> int | None:
    op = get_op(rec.op)
    if op is None or op.macs is None:
        return None
    try:
        return op.macs(list(rec.inputs), list(rec.outputs), dict(rec.attrs))
    except Exception:  # a MAC count is a nicety; a surprising attribute never breaks hover
        return None


def call_text(records: list[CallRecord], callee: str | None = None) -> str:
    """The op (or the shared layer naming it), its types per call, parameters, MACs and window arithmetic."""
    rec = records[0]
    op = get_op(rec.op)
    name = f"layer {callee} = {rec.op}" if callee and callee != rec.op else rec.op
    head = f"**{name}**" + (f" — {op.doc}" if op is not None and op.doc else "")
    out = [head, ""]
    for r in records[:MAX_SHOWN]:
        ins = ", ".join(f"`{t}`" for t in r.inputs)
        outs = ", ".join(f"`{t}`" for t in r.outputs)
        out.append(f"{ins} → {outs}  ")
        facts = []
        if r.params:
            facts.append(f"parameters: {r.params:,}")
        macs = _macs(r)
        if macs:
            facts.append(f"MACs: {macs:,} per sample")
        if facts:
            out.append(" · ".join(facts) + "  ")
        for w in window_lines(r):
            out.append(f"`{w}`  ")
        out.append("")
    if len(records) > MAX_SHOWN:
        out.append(f"…and {len(records) - MAX_SHOWN} more shapes")
    return "\n".join(out).rstrip()


def value_text(name: str, types: list) -> str:
    if len(types) == 1:
        return f"`{name}`: `{type_text(types[0])}`"
    lines = [f"`{name}`, one type per call:"] + [f"- `{type_text(t)}`" for t in types[:MAX_SHOWN]]
    if len(types) > MAX_SHOWN:
        lines.append(f"- …and {len(types) - MAX_SHOWN} more")
    return "\n".join(lines)


def _arrow_target(analysis: Analysis, line: int, col: int) -> int:
    """A cursor on `->` hovers the stage after it."""
    text = index(analysis).line_text(line)
    i = col - 1
    if 0 <= i < len(text) and text[i] in "->" and ("->" in text[max(i - 1, 0):i + 2]):
        j = i + 1 if text[i] == "-" else i
        j += 1
        while j < len(text) and text[j] in " \t":
            j += 1
        return j + 1
    return col


def _name_at(analysis: Analysis, span: Span) -> str:
    if span.line == span.end_line:
        return index(analysis).line_text(span.line)[span.column - 1:span.end_column - 1] or "value"
    return "value"


def _block_signature(analysis: Analysis, name: str) -> str | None:
    def make() -> dict:
        out: dict = {}
        for module in analysis.modules.values():
            for item in module.program.items if module is not None else ():
                if isinstance(item, ast.BlockDef):
                    params = ", ".join(p.name + (f": {p.type}" if p.type else "") for p in item.params)
                    out.setdefault(item.name, f"block {item.name}({params})")
                elif isinstance(item, ast.ModelDef):
                    out.setdefault(item.name, f"model {item.name}")
        return out
    return index(analysis).memo("signatures", make).get(name)


def hover(analysis: Analysis, line: int, col: int) -> tuple[str, Span] | None:
    """Markdown for the value, call or `->` stage at the 1-based (line, column), and the span it covers."""
    col = _arrow_target(analysis, line, col)
    idx = index(analysis)
    call_span = _smallest(idx.call_spans(line), line, col)
    type_span = _smallest(idx.type_spans(line), line, col)
    if call_span is not None and (type_span is None or not _inside(type_span, call_span)):
        return call_text(analysis.calls[call_span], _callee(analysis, call_span)), call_span
    if type_span is not None:
        types = analysis.types[type_span]
        callee = _callee(analysis, type_span)
        if callee is not None:
            sig = _block_signature(analysis, callee)
            text = (f"**{sig}**\n\n" if sig else "") + "→ " + ", ".join(f"`{type_text(t)}`" for t in types[:MAX_SHOWN])
            return text, type_span
        return value_text(_name_at(analysis, type_span), types), type_span
    return _model_summary(analysis, line, col)


def _model_summary(analysis: Analysis, line: int, col: int) -> tuple[str, Span] | None:
    """On a model's name: its inputs and outputs, parameters and MACs per sample (as `nnc stats` counts)."""
    item = index(analysis).item_at(line)
    if not isinstance(item, ast.ModelDef) or not contains(item.name_span, line, col):
        return None
    info = analysis.models.get(item.name)
    if info is None:
        return f"**model {item.name}** (has errors)", item.name_span
    from ..stats import model_stats
    g = info.graph
    stats = model_stats(g)
    ins = ", ".join(f"{n}: `{g.type_of(v)}`" for n, v in g.inputs)
    outs = ", ".join(f"{n}: `{g.type_of(v)}`" for n, v in g.outputs)
    text = (f"**model {item.name}**\n\n{ins} → {outs}  \nparameters: {stats.params:,}"
            + (f" (+ {stats.state:,} state)" if stats.state else "") + f" · MACs: {stats.macs:,} per sample")
    return text, item.name_span


def _inside(inner: Span, outer: Span) -> bool:
    """inner lies strictly within outer (a name among a call's arguments)."""
    return inner != outer and contains(outer, inner.line, inner.column) and contains(outer, inner.end_line,
                                                                                      inner.end_column)


def _callee(analysis: Analysis, span: Span) -> str | None:
    """The block or model name when `span` is a call or stage of one (not a plain name)."""
    item = index(analysis).item_at(span.line)
    if item is None:
        return None

    def make() -> dict:
        out = {}
        for n in walk(item):
            if isinstance(n, ast.Stage):
                out[n.span] = n.name
            elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
                out[n.span] = n.func.id
        return out
    return index(analysis).memo(("callees", id(item)), make).get(span)
