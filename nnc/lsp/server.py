"""The language server: pygls wiring from LSP messages to the feature modules of this package.

Every handler is wrapped by `_safe`: whatever goes wrong inside a feature, the request is answered
(with an empty result) and the problem is logged to the client, so a half-typed program can never take
the server down. Checking happens on a worker thread (documents.Scheduler); requests are answered from
the newest analysis of each file, on pygls's request threads, so a slow one never holds up the others
or the notifications that start checks.
"""
from __future__ import annotations

import functools
import logging
import traceback
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from .. import __version__
from . import complete, fixes, hover, inlay, symbols
from .analysis import Analysis
from .convert import Lines, path_to_uri, span_path, uri_to_path
from .diagnose import SOURCE, Converter, by_file
from .documents import Documents, Scheduler

log = logging.getLogger("nnc.lsp")
EXPLAIN_COMMAND = "nnc.explain"


class NncServer(LanguageServer):
    """A LanguageServer with nnc's open documents, their analyses and the check scheduler."""

    def __init__(self) -> None:
        super().__init__("nnc", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.docs = Documents()
        self.scheduler = Scheduler(self.docs, self._publish)
        self.scheduler.on_failure = self.report
        self.scheduler.on_crash = self._crashed
        self.settings = {"inlayHints": {"stages": True, "bindings": True}}
        self.found: dict[Path, dict[Path, list]] = {}  # checked file -> file -> LSP diagnostics found there
        self.failures: list[str] = []

    @property
    def encoding(self) -> str:
        try:
            return str(self.workspace.position_encoding.value if hasattr(self.workspace.position_encoding, "value")
                       else self.workspace.position_encoding or "utf-16")
        except Exception:
            return "utf-16"

    def _publish(self, path: Path, analysis: Analysis, version: int | None) -> None:
        """Publish what this check found, merged per file with what other open files' checks found there.

        A file's diagnostics are its own check's plus those that checks of files importing it point into
        it (an error inside a block shows only when some importer calls the block with a bad shape).
        """
        if self.docs.get(path) is None:
            return
        conv = Converter(analysis.sources, self.encoding)
        found: dict[Path, list[lsp.Diagnostic]] = {path: []}
        for file, diags in by_file(analysis.diagnostics, analysis.name).items():
            target = path if file == analysis.name else span_path(file)
            found.setdefault(target, []).extend(conv.diagnostic(d) for d in diags)
        before = self.found.get(path, {})
        self.found[path] = found
        for target in set(found) | set(before):
            self._send(target, version if target == path else None)

    def _send(self, target: Path, version: int | None) -> None:
        merged: list[lsp.Diagnostic] = []
        seen: set = set()
        sources = [target] + [p for p in self.found if p != target]
        for source in sources:
            for d in self.found.get(source, {}).get(target, []):
                key = (d.code, d.range.start.line, d.range.start.character, d.range.end.line, d.range.end.character,
                       d.message)
                if key not in seen:
                    seen.add(key)
                    merged.append(d)
        doc = self.docs.get(target)
        uri = doc.uri if doc is not None else path_to_uri(target)
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=merged,
                                                                            version=version))

    def _crashed(self, path: Path, version: int | None, error: BaseException) -> None:
        """The checker itself failed (a bug in nnc): say so in the file, as `nnc check` says so on stderr."""
        self.report("checking", error)
        doc = self.docs.get(path)
        if doc is None:
            return
        zero = lsp.Position(line=0, character=0)
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=doc.uri, version=version, diagnostics=[
            lsp.Diagnostic(range=lsp.Range(start=zero, end=zero), severity=lsp.DiagnosticSeverity.Error,
                           source=SOURCE, code="internal",
                           message=f"internal error while checking: {type(error).__name__}: {error}; this is a bug "
                                   f"in nnc, please report it with the program that caused it")]))

    def analysis(self, uri: str) -> Analysis | None:
        doc = self.docs.by_uri(uri)
        return self.docs.analyses.get(doc.path) if doc is not None else None

    def parsed(self, uri: str) -> Analysis | None:
        """The newest analysis whose text parsed: what the outline and completion use mid-edit."""
        doc = self.docs.by_uri(uri)
        return self.docs.parsed.get(doc.path) if doc is not None else None

    def text(self, uri: str) -> str | None:
        doc = self.docs.by_uri(uri)
        return doc.text if doc is not None else None

    def report(self, where: str, error: BaseException) -> None:
        """A bug in a feature: logged to the client once per kind, never raised."""
        line = f"nnc lsp: {where} failed: {type(error).__name__}: {error}"
        self.failures.append(line)
        log.error("%s\n%s", line, traceback.format_exc())
        try:
            self.window_log_message(lsp.LogMessageParams(type=lsp.MessageType.Error, message=line))
        except Exception:
            pass


server = NncServer()


def _safe(default=None):
    """Answer with `default` when a handler fails, after logging the failure."""
    def wrap(fn):
        @functools.wraps(fn)
        def handler(ls: NncServer, params):
            try:
                return fn(ls, params)
            except Exception as e:  # noqa: BLE001 - the point is that nothing escapes
                ls.report(fn.__name__, e)
                return default() if callable(default) else default
        return handler
    return wrap


def _position(ls: NncServer, uri: str, pos: lsp.Position) -> tuple[Analysis, Lines, int, int] | None:
    """The analysis of a document and a position in it as a 1-based (line, column)."""
    analysis = ls.analysis(uri)
    if analysis is None:
        return None
    lines = Lines(analysis.text, ls.encoding)
    line, col = lines.to_column(pos)
    return analysis, lines, line, col


# ---- documents -----------------------------------------------------------------------------------------------
@server.feature(lsp.INITIALIZE)
@_safe()
def initialize(ls: NncServer, params: lsp.InitializeParams) -> None:
    options = params.initialization_options
    if isinstance(options, dict):
        _settings(ls, options)


def _settings(ls: NncServer, options: dict) -> None:
    hints = options.get("nnc", options).get("inlayHints") if isinstance(options.get("nnc", options), dict) else None
    if isinstance(hints, dict):
        for key in ("stages", "bindings"):
            if isinstance(hints.get(key), bool):
                ls.settings["inlayHints"][key] = hints[key]


@server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
@_safe()
def did_change_configuration(ls: NncServer, params: lsp.DidChangeConfigurationParams) -> None:
    if isinstance(params.settings, dict):
        _settings(ls, params.settings)
        workspace = ls.client_capabilities.workspace if ls.client_capabilities else None
        inlay = workspace.inlay_hint if workspace else None
        if inlay is not None and inlay.refresh_support:
            ls.workspace_inlay_hint_refresh(None)


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
@_safe()
def did_open(ls: NncServer, params: lsp.DidOpenTextDocumentParams) -> None:
    item = params.text_document
    doc = ls.docs.open(item.uri, uri_to_path(item.uri), item.text, item.version)
    ls.scheduler.changed(doc.path, immediately=True)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
@_safe()
def did_change(ls: NncServer, params: lsp.DidChangeTextDocumentParams) -> None:
    doc = ls.docs.by_uri(params.text_document.uri)
    if doc is None:
        return
    document = ls.workspace.get_text_document(params.text_document.uri)
    doc.text = document.source
    doc.version = params.text_document.version
    ls.scheduler.changed(doc.path)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
@_safe()
def did_save(ls: NncServer, params: lsp.DidSaveTextDocumentParams) -> None:
    doc = ls.docs.by_uri(params.text_document.uri)
    if doc is not None:
        ls.scheduler.changed(doc.path, immediately=True)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
@_safe()
def did_close(ls: NncServer, params: lsp.DidCloseTextDocumentParams) -> None:
    doc = ls.docs.by_uri(params.text_document.uri)
    if doc is None:
        return
    importers = ls.docs.dependents(doc.path)
    ls.scheduler.forget(doc.path)
    ls.docs.close(doc.path)
    touched = set(ls.found.pop(doc.path, {})) | {doc.path}
    for target in touched:
        if target == doc.path:  # closed: its problems are no longer shown (an importer re-publishes its own)
            ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=doc.uri, diagnostics=[]))
        else:
            ls._send(target, None)
    for other in importers:  # importers now read the file from disk again
        ls.scheduler.changed(other)


@server.feature(lsp.SHUTDOWN)
@_safe()
def shutdown(ls: NncServer, params) -> None:
    ls.scheduler.shutdown()


# ---- features ------------------------------------------------------------------------------------------------
@server.feature(lsp.TEXT_DOCUMENT_HOVER)
@server.thread()
@_safe()
def on_hover(ls: NncServer, params: lsp.HoverParams) -> lsp.Hover | None:
    at = _position(ls, params.text_document.uri, params.position)
    if at is None:
        return None
    analysis, lines, line, col = at
    found = hover.hover(analysis, line, col)
    if found is None:
        return None
    text, span = found
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text),
                     range=lines.to_range(span) if span.file == analysis.name else None)


@server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT, lsp.InlayHintOptions(resolve_provider=False))
@server.thread()
@_safe(list)
def on_inlay_hint(ls: NncServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint]:
    analysis = ls.analysis(params.text_document.uri)
    if analysis is None:
        return []
    lines = Lines(analysis.text, ls.encoding)
    first, last = params.range.start.line + 1, params.range.end.line + 1
    out = []
    for h in inlay.hints(analysis, first, last, **ls.settings["inlayHints"]):
        out.append(lsp.InlayHint(position=lines.to_position(h.line, h.column), label=h.label,
                                 kind=lsp.InlayHintKind.Type, padding_left=True, tooltip=h.tooltip))
    return out


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
@server.thread()
@_safe(list)
def on_document_symbol(ls: NncServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
    analysis = ls.parsed(params.text_document.uri)  # mid-edit, the outline of the last text that parsed
    text = ls.text(params.text_document.uri)
    if analysis is None or text is None:
        return []
    lines = Lines(analysis.text, ls.encoding)
    last_line = text.count("\n") + 1  # symbols of a longer old text that would reach past the end are left out

    def convert(s: symbols.Symbol) -> lsp.DocumentSymbol:
        full = lines.to_range(s.span)
        sel = lines.to_range(s.name_span)
        return lsp.DocumentSymbol(name=s.name, kind=getattr(lsp.SymbolKind, s.kind), range=full, selection_range=sel,
                                  detail=s.detail or None, children=[convert(c) for c in s.children] or None)

    return [convert(s) for s in symbols.document_symbols(analysis) if s.span.end_line <= last_line]


def _locations(ls: NncServer, analysis: Analysis, spans) -> list[lsp.Location]:
    conv = Converter(analysis.sources, ls.encoding)
    out = []
    for span in spans:
        if isinstance(span, Path):  # an imported file: its first line
            zero = lsp.Position(line=0, character=0)
            out.append(lsp.Location(uri=path_to_uri(span), range=lsp.Range(start=zero, end=zero)))
        else:
            out.append(lsp.Location(uri=path_to_uri(span_path(span.file)), range=conv.range(span)))
    return out


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
@server.thread()
@_safe(list)
def on_definition(ls: NncServer, params: lsp.DefinitionParams) -> list[lsp.Location]:
    at = _position(ls, params.text_document.uri, params.position)
    if at is None:
        return []
    analysis, _, line, col = at
    return _locations(ls, analysis, symbols.definition(analysis, line, col))


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
@server.thread()
@_safe(list)
def on_references(ls: NncServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    at = _position(ls, params.text_document.uri, params.position)
    if at is None:
        return []
    analysis, _, line, col = at
    include = params.context.include_declaration if params.context else True
    return _locations(ls, analysis, symbols.references(analysis, line, col, include))


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[">", "(", ","]))
@server.thread()
@_safe(list)
def on_completion(ls: NncServer, params: lsp.CompletionParams) -> list[lsp.CompletionItem]:
    text = ls.text(params.text_document.uri)
    if text is None:
        return []
    lines = Lines(text, ls.encoding)
    line, col = lines.to_column(params.position)
    return complete.completions(text, line, col, ls.parsed(params.text_document.uri))


@server.feature(lsp.TEXT_DOCUMENT_SIGNATURE_HELP, lsp.SignatureHelpOptions(trigger_characters=["(", ","]))
@server.thread()
@_safe()
def on_signature_help(ls: NncServer, params: lsp.SignatureHelpParams) -> lsp.SignatureHelp | None:
    text = ls.text(params.text_document.uri)
    if text is None:
        return None
    lines = Lines(text, ls.encoding)
    line, col = lines.to_column(params.position)
    return complete.signature_help(text, line, col, ls.parsed(params.text_document.uri))


@server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
@server.thread()
@_safe(list)
def on_code_action(ls: NncServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    text = ls.text(params.text_document.uri)
    if text is None:
        return []
    return fixes.code_actions(params.text_document.uri, text, params.context.diagnostics, ls.encoding,
                              EXPLAIN_COMMAND)


@server.command(EXPLAIN_COMMAND)
@_safe()
def explain_command(ls: NncServer, args) -> str | None:
    """`nnc explain CODE` in the editor: the explanation, shown as a message and returned."""
    from ..codes import explain
    code = args[0] if isinstance(args, (list, tuple)) and args else args
    text = explain(str(code)) if code else None
    if text is None:
        return None
    ls.window_show_message(lsp.ShowMessageParams(type=lsp.MessageType.Info, message=text))
    return text


def main() -> int:
    """`nnc lsp`: serve over stdin and stdout until the client says exit."""
    server.start_io()
    return 0
