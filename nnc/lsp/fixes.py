"""Quick fixes: the hints of a diagnostic that are concrete edits, as code actions.

- "did you mean `relu`?" replaces the diagnostic's range (a name, a keyword, an element type);
- "padding=1 gives ...; stride=2 gives ..." sets that keyword argument of the call the diagnostic
  points at: its value is replaced when the call has it, otherwise it is added before the `)`.

Every diagnostic also gets "Explain E0301", which runs `nnc explain` in the server. The edits are
computed against the document as the client has it now, and only when the range still holds the text
they expect (a call, a name), so a stale diagnostic never produces a broken edit.
"""
from __future__ import annotations

import re

from lsprotocol import types as lsp

from .convert import Lines

_DID_YOU_MEAN = re.compile(r"did you mean `([^`]+)`\?")
_SETTING = re.compile(r"\b([a-z_][a-z0-9_]*)=(\"[^\"]*\"|[^\s;,]+) (?:gives|would)")
_CALL = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*$", re.S)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _slice(lines: Lines, r: lsp.Range) -> tuple[int, int]:
    return lines.offset(r.start), lines.offset(r.end)


def _edit(uri: str, r: lsp.Range, new_text: str) -> lsp.WorkspaceEdit:
    return lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(range=r, new_text=new_text)]})


def _top_level_args(args: str) -> list[tuple[int, int]]:
    """(start, end) of each comma-separated argument, ignoring commas inside brackets and strings."""
    out, depth, start, in_str = [], 0, 0, False
    for i, c in enumerate(args):
        if in_str:
            in_str = c != '"'
        elif c == '"':
            in_str = True
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == "," and depth == 0:
            out.append((start, i))
            start = i + 1
    if args[start:].strip():
        out.append((start, len(args)))
    return out


def setting_edit(call_text: str, key: str, value: str) -> str | None:
    """The call's text with `key=value` set: replaced when given, added otherwise; None if it is no call."""
    m = _CALL.match(call_text)
    if m is None:
        return None
    args_start = m.start(2)
    args = m.group(2)
    for s, e in _top_level_args(args):
        part = args[s:e]
        km = re.match(r"(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*=\s*)(.*?)(\s*)$", part, re.S)
        if km and km.group(2) == key and not km.group(3).strip().startswith("=="):
            vs = args_start + s + km.start(4)
            ve = args_start + s + km.end(4)
            return call_text[:vs] + value + call_text[ve:]
    close = args_start + len(args.rstrip())
    sep = ", " if args.strip() else ""
    return call_text[:close] + f"{sep}{key}={value}" + call_text[close:]


def _fixes_for(uri: str, text: str, lines: Lines, d: lsp.Diagnostic) -> list[lsp.CodeAction]:
    hint = d.data.get("hint") if isinstance(d.data, dict) else None
    if not hint:
        return []
    start, end = _slice(lines, d.range)
    current = text[start:end]
    out = []
    for m in _DID_YOU_MEAN.finditer(hint):
        if _NAME.match(current) and _NAME.match(m.group(1)):
            out.append(lsp.CodeAction(title=f"Replace `{current}` with `{m.group(1)}`",
                                      kind=lsp.CodeActionKind.QuickFix, diagnostics=[d], is_preferred=True,
                                      edit=_edit(uri, d.range, m.group(1))))
    for i, m in enumerate(_SETTING.finditer(hint)):
        key, value = m.group(1), m.group(2)
        fixed = setting_edit(current, key, value)
        if fixed is None:
            continue
        out.append(lsp.CodeAction(title=f"Set {key}={value}", kind=lsp.CodeActionKind.QuickFix, diagnostics=[d],
                                  is_preferred=i == 0, edit=_edit(uri, d.range, fixed)))
    return out


def code_actions(uri: str, text: str, diagnostics: list[lsp.Diagnostic], encoding: str,
                 explain_command: str) -> list[lsp.CodeAction]:
    """Quick fixes for the nnc diagnostics the client sends, then one "Explain" per code."""
    lines = Lines(text, encoding)
    actions: list[lsp.CodeAction] = []
    explained: set[str] = set()
    for d in diagnostics:
        if d.source != "nnc":
            continue
        actions += _fixes_for(uri, text, lines, d)
        code = str(d.code) if d.code else ""
        if code and code not in explained:
            explained.add(code)
            actions.append(lsp.CodeAction(
                title=f"Explain {code} (nnc explain {code})", kind=lsp.CodeActionKind.Empty, diagnostics=[d],
                command=lsp.Command(title=f"nnc explain {code}", command=explain_command, arguments=[code])))
    return actions
