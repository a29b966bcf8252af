"""`nnc lsp` end to end: a real JSON-RPC client (tests/lsp_client.py) talking to the server over stdio."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from lsp_client import LspClient  # noqa: E402

from nnc.compiler import check_file  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

BROKEN = """model m {
  input x: f32[N, 1, 7, 7]
  y = x -> conv2d(4, 3, stride=3)
  output z = y -> flatten -> dense(10)
}
"""

GOOD = """const width = 16

block unit(x, filters: int) {
  return x -> conv2d(filters, 3, padding=1) -> relu
}

model net {
  input image: f32[N, 1, 28, 28]
  h = image -> conv2d(6, 5, padding=2) -> relu -> maxpool(2)
  h2 = unit(h, width)
  output logits = h2 -> flatten -> dense(10)
}
"""


def pos(line: int, character: int) -> dict:
    return {"line": line, "character": character}


def doc(uri: str) -> dict:
    return {"textDocument": {"uri": uri}}


@pytest.fixture
def client(tmp_path):
    c = LspClient(cwd=tmp_path)
    c.initialize(tmp_path)
    yield c
    c.kill()


def apply_edits(text: str, edits: list[dict]) -> str:
    lines = text.split("\n")

    def offset(p):
        return sum(len(l) + 1 for l in lines[:p["line"]]) + p["character"]
    for e in sorted(edits, key=lambda e: offset(e["range"]["start"]), reverse=True):
        text = text[:offset(e["range"]["start"])] + e["newText"] + text[offset(e["range"]["end"]):]
    return text


def test_diagnostic_at_the_right_range_with_code_related_location_and_link(client, tmp_path):
    uri = (tmp_path / "net.nn").as_uri()
    client.open(uri, BROKEN, version=1)
    diags = client.diagnostics(uri, version=1)
    assert len(diags) == 1
    d = diags[0]
    assert d["code"] == "E0301" and d["severity"] == 1 and d["source"] == "nnc"
    # `conv2d(4, 3, stride=3)` on line 3 (0-based 2), columns 11..33
    assert d["range"] == {"start": pos(2, 11), "end": pos(2, 33)}
    assert d["message"].startswith("conv2d does not fit its input")
    assert "hint: padding=1 gives" in d["message"] and d["data"]["hint"].startswith("padding=1")
    related = d["relatedInformation"]
    assert related[0]["location"]["uri"] == uri
    assert related[0]["location"]["range"]["start"] == pos(2, 6)  # the `x` it flows from
    assert related[0]["message"] == "this is f32[N, 1, 7, 7]"
    if (ROOT / "docs" / "diagnostics.md").exists():
        assert d["codeDescription"]["href"].endswith("diagnostics.md#e0301-window-does-not-fit-error")


def test_incremental_changes_are_applied(client, tmp_path):
    uri = (tmp_path / "inc.nn").as_uri()
    client.open(uri, BROKEN, version=1)
    assert [d["code"] for d in client.diagnostics(uri, version=1)] == ["E0301"]
    # stride=3 -> stride=1, as an editor sends a one-character edit
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
        {"range": {"start": pos(2, 31), "end": pos(2, 32)}, "text": "1"}]})
    assert client.diagnostics(uri, version=2) == []


def test_diagnostics_are_those_of_nnc_check(tmp_path):
    from nnc.lsp.analysis import analyze
    for path in sorted((ROOT / "examples").glob("*.nn")) + [tmp_path / "broken.nn"]:
        if path.name == "broken.nn":
            path.write_text(BROKEN + "model q {\n  input a: f32[N, 4]\n  unused = a -> relu\n  output b = a -> rleu\n}\n")
        text = path.read_text()
        assert analyze(path, text).diagnostics == check_file(path, text).diagnostics, path.name


def test_explain_command_returns_the_explanation(client, tmp_path):
    text = client.request("workspace/executeCommand", {"command": "nnc.explain", "arguments": ["E0301"]})
    assert "E0301" in text or "window" in text.lower()


def test_hover_a_value_gives_its_shape_and_a_conv_its_arithmetic(client, tmp_path):
    uri = (tmp_path / "good.nn").as_uri()
    client.open(uri, GOOD)
    assert client.diagnostics(uri) == []
    # `h` where it is bound (line 9, 0-based 8, column 2)
    h = client.request("textDocument/hover", {**doc(uri), "position": pos(8, 2)})
    assert "`f32[N, 6, 14, 14]`" in h["contents"]["value"]
    # the conv2d stage of that line
    conv = client.request("textDocument/hover", {**doc(uri), "position": pos(8, 17)})["contents"]["value"]
    assert "**conv2d**" in conv and "parameters: 156" in conv and "MACs: 117,600" in conv
    assert "(28 - 5 + 2·2)/1 + 1 = 28" in conv
    # the `->` before maxpool hovers the maxpool stage
    arrow = client.request("textDocument/hover", {**doc(uri), "position": pos(8, 47)})["contents"]["value"]
    assert "**maxpool**" in arrow and "(28 - 2 + 2·0)/2 + 1 = 14" in arrow
    # a use of a block: its signature and result type
    unit = client.request("textDocument/hover", {**doc(uri), "position": pos(9, 8)})["contents"]["value"]
    assert "block unit(x, filters: int)" in unit and "f32[N, 16, 14, 14]" in unit
    # a model's name: its signature and totals (156 + 880 + 31,370 parameters)
    net = client.request("textDocument/hover", {**doc(uri), "position": pos(6, 7)})["contents"]["value"]
    assert "image: `f32[N, 1, 28, 28]` → logits: `f32[N, 10]`" in net and "parameters: 32,406" in net
    # nothing under the cursor: a null result, not an error
    assert client.request("textDocument/hover", {**doc(uri), "position": pos(0, 0)}) is None


def test_complete_conv_gives_the_conv_layers_with_signatures(client, tmp_path):
    uri = (tmp_path / "c.nn").as_uri()
    text = "model m {\n  input x: f32[N, 3, 8, 8]\n  output y = x -> conv\n}\n"
    client.open(uri, text)
    client.diagnostics(uri)
    items = client.request("textDocument/completion", {**doc(uri), "position": pos(2, 22)})
    items = items["items"] if isinstance(items, dict) else items
    labels = {i["label"]: i for i in items}
    assert {"conv1d", "conv2d", "conv_transpose2d"} <= set(labels)
    assert all(label.startswith("conv") for label in labels)
    assert labels["conv2d"]["detail"].startswith("x -> conv2d(filters, kernel, stride=1, padding=0")
    assert "2-d convolution" in labels["conv2d"]["documentation"]["value"]


def test_keyword_arguments_and_signature_help_inside_a_call(client, tmp_path):
    uri = (tmp_path / "k.nn").as_uri()
    text = "model m {\n  input x: f32[N, 3, 8, 8]\n  output y = x -> maxpool(2, str\n}\n"
    client.open(uri, text)
    client.diagnostics(uri)
    items = client.request("textDocument/completion", {**doc(uri), "position": pos(2, 32)})
    assert [i["label"] for i in items if i["kind"] == 10] == ["stride="]  # 10: Property
    help_ = client.request("textDocument/signatureHelp", {**doc(uri), "position": pos(2, 29)})
    sig = help_["signatures"][0]
    assert sig["label"].startswith("x -> maxpool(kernel, stride=")
    assert sig["parameters"][help_["activeParameter"]]["label"].startswith("stride")


def test_quick_fix_makes_the_file_check_clean(client, tmp_path):
    path = tmp_path / "fix.nn"
    uri = path.as_uri()
    client.open(uri, BROKEN, version=1)
    diags = client.diagnostics(uri, version=1)
    actions = client.request("textDocument/codeAction", {
        **doc(uri), "range": diags[0]["range"], "context": {"diagnostics": diags}})
    fixes = [a for a in actions if a.get("kind") == "quickfix"]
    assert [a["title"] for a in fixes][:2] == ["Set padding=1", "Set stride=2"]  # every alternative the hint names
    assert any(a.get("command", {}).get("command") == "nnc.explain" for a in actions)
    for fix in fixes:
        fixed = apply_edits(BROKEN, fix["edit"]["changes"][uri])
        path.write_text(fixed)
        assert check_file(path).diagnostics == [], fixed
    fixed = apply_edits(BROKEN, fixes[0]["edit"]["changes"][uri])
    assert "conv2d(4, 3, stride=3, padding=1)" in fixed
    client.change(uri, fixed, version=2)
    assert client.diagnostics(uri, version=2) == []


def test_did_you_mean_quick_fix(client, tmp_path):
    uri = (tmp_path / "typo.nn").as_uri()
    text = "model m {\n  input x: f32[N, 4]\n  output y = x -> rleu\n}\n"
    client.open(uri, text)
    diags = client.diagnostics(uri)
    assert diags[0]["code"] == "E0102"
    actions = client.request("textDocument/codeAction", {**doc(uri), "range": diags[0]["range"],
                                                           "context": {"diagnostics": diags}})
    fix = [a for a in actions if a.get("kind") == "quickfix"][0]
    assert fix["title"] == "Replace `rleu` with `relu`"
    client.change(uri, apply_edits(text, fix["edit"]["changes"][uri]), version=2)
    assert client.diagnostics(uri, version=2) == []


def test_broken_intermediate_edits_never_crash_the_server(client, tmp_path):
    uri = (tmp_path / "edit.nn").as_uri()
    client.open(uri, GOOD, version=1)
    client.diagnostics(uri, version=1)
    states = [
        GOOD[:120],  # cut mid-block
        GOOD.replace("}", "", 1),  # unterminated block
        GOOD.replace("(6, 5, padding=2)", '(6, 5, padding="'),  # unterminated string
        "model {{{ ((( -> -> ->",
        "\x00\x01\xff garbage \ud800" * 50,
        GOOD.replace("conv2d(6, 5", "conv2d(6, 50"),  # a kernel larger than the input
        "model m {\n" + "  x = " + "(" * 500 + "1" + ")" * 500 + "\n}\n",  # deep nesting
        "",
        GOOD * 3,  # everything defined three times
        "import \"missing.nn\"\n" + GOOD,
        "model m {\n  input x: f32[N, 4]\n  for i in 0..100000000 {\n    x = x -> relu\n  }\n  output y = x\n}\n",
    ]
    version = 1
    for text in states:
        version += 1
        client.change(uri, text, version)
        # every request is answered while the file is in this state
        for line in range(0, 12, 3):
            client.request("textDocument/hover", {**doc(uri), "position": pos(line, 5)})
            client.request("textDocument/completion", {**doc(uri), "position": pos(line, 5)})
            client.request("textDocument/signatureHelp", {**doc(uri), "position": pos(line, 5)})
            client.request("textDocument/definition", {**doc(uri), "position": pos(line, 5)})
            client.request("textDocument/references", {**doc(uri), "position": pos(line, 5),
                                                       "context": {"includeDeclaration": True}})
        client.request("textDocument/documentSymbol", doc(uri))
        client.request("textDocument/inlayHint", {**doc(uri), "range": {"start": pos(0, 0), "end": pos(99, 0)}})
        assert isinstance(client.diagnostics(uri, version=version, timeout=60), list)
    version += 1
    client.change(uri, GOOD, version)
    assert client.diagnostics(uri, version=version) == []
    logged = [n for n in client.notifications if n.get("method") == "window/logMessage"
              and n["params"]["type"] == 1]
    assert logged == [], logged  # no feature ever failed
    assert client.shutdown() == 0


def test_a_5mb_paste_is_checked_without_blocking_requests(client, tmp_path):
    uri = (tmp_path / "big.nn").as_uri()
    client.open(uri, GOOD, version=1)
    client.diagnostics(uri, version=1)
    # a good program, then 5 MB pasted from somewhere else (a log, a binary): checked on the worker thread
    big = GOOD + "model pasted {\n" + "  x = y @@ $$ 0x1f \"\n" * 250_000 + "}\n"
    assert len(big) > 5_000_000
    client.change(uri, big, version=2)
    started = time.monotonic()
    hover = client.request("textDocument/hover", {**doc(uri), "position": pos(8, 2)}, timeout=10)
    assert hover is None or "f32[N, 6, 14, 14]" in hover["contents"]["value"]  # from the previous check
    items = client.request("textDocument/completion", {**doc(uri), "position": pos(250_010, 6)}, timeout=10)
    assert items and time.monotonic() - started < 10
    diags = client.diagnostics(uri, version=2, timeout=120)
    assert diags and diags[0]["code"].startswith("E000") and diags[0]["range"]["start"]["line"] == 13
    # once checked, requests on the 5 MB text are still answered
    client.request("textDocument/hover", {**doc(uri), "position": pos(200_000, 5)}, timeout=10)
    client.request("textDocument/documentSymbol", doc(uri), timeout=10)
    client.change(uri, GOOD, version=3)
    assert client.diagnostics(uri, version=3, timeout=60) == []


def test_navigation_and_outline(client, tmp_path):
    uri = (tmp_path / "nav.nn").as_uri()
    client.open(uri, GOOD)
    client.diagnostics(uri)
    symbols = client.request("textDocument/documentSymbol", doc(uri))
    assert [(s["name"], s["kind"]) for s in symbols] == [("width", 14), ("unit", 12), ("net", 5)]
    assert [c["name"] for c in symbols[2]["children"]] == ["image", "logits"]
    # `unit` used on line 10 -> its block on line 3; `width` -> the const; `h` -> its binding
    loc = client.request("textDocument/definition", {**doc(uri), "position": pos(9, 7)})
    assert loc == [{"uri": uri, "range": {"start": pos(2, 6), "end": pos(2, 10)}}]
    loc = client.request("textDocument/definition", {**doc(uri), "position": pos(9, 16)})
    assert loc[0]["range"]["start"] == pos(0, 6)
    loc = client.request("textDocument/definition", {**doc(uri), "position": pos(9, 12)})
    assert loc[0]["range"]["start"] == pos(8, 2)
    refs = client.request("textDocument/references", {**doc(uri), "position": pos(8, 2),
                                                      "context": {"includeDeclaration": True}})
    assert sorted(r["range"]["start"]["line"] for r in refs) == [8, 9]
    # `x` inside the block is the block's parameter, not anything of the model
    refs = client.request("textDocument/references", {**doc(uri), "position": pos(2, 11),
                                                      "context": {"includeDeclaration": True}})
    assert sorted((r["range"]["start"]["line"], r["range"]["start"]["character"]) for r in refs) == [(2, 11), (3, 9)]
    # mid-edit (a syntax error at the end), the outline of the last text that parsed stays
    client.change(uri, GOOD + "model broken {\n  x = \n", version=2)
    assert client.diagnostics(uri, version=2)[0]["code"].startswith("E000")
    symbols = client.request("textDocument/documentSymbol", doc(uri))
    assert [s["name"] for s in symbols] == ["width", "unit", "net"]
    # and completion still knows the block, with its signature
    items = client.request("textDocument/completion", {**doc(uri), "position": pos(13, 5)})
    assert any(i["label"] == "unit" and i["detail"] == "unit(x, filters: int)" for i in items)


def test_imports_navigate_and_importers_are_rechecked(client, tmp_path):
    lib, main = tmp_path / "lib.nn", tmp_path / "main.nn"
    lib_text = "block head(x) {\n  return x -> dense(10)\n}\n"
    lib.write_text(lib_text)
    main_text = ('import "lib.nn"\n\nmodel m {\n  input x: f32[N, 8]\n  output y = x -> head\n}\n')
    main.write_text(main_text)
    client.open(main.as_uri(), main_text)
    assert client.diagnostics(main.as_uri()) == []
    loc = client.request("textDocument/definition", {**doc(main.as_uri()), "position": pos(4, 19)})
    assert loc == [{"uri": lib.as_uri(), "range": {"start": pos(0, 6), "end": pos(0, 10)}}]
    loc = client.request("textDocument/definition", {**doc(main.as_uri()), "position": pos(0, 9)})
    assert loc[0]["uri"] == lib.as_uri()
    # editing the open import (unsaved) re-checks the file importing it
    client.open(lib.as_uri(), lib_text, version=1)
    client.diagnostics(lib.as_uri(), version=1)
    mark = len(client.notifications)
    client.change(lib.as_uri(), "block head(x) {\n  return x -> conv2d(4, 3)\n}\n", version=2)
    assert client.diagnostics(main.as_uri(), after=mark) == []  # main itself is fine
    # the block is wrong only for the shape main calls it with: shown in lib.nn, found by main's check
    diags = client.wait_notification("textDocument/publishDiagnostics",
                                     lambda p: p["uri"] == lib.as_uri() and p["diagnostics"], after=mark)["diagnostics"]
    assert [d["code"] for d in diags] == ["E0203"]
    assert diags[0]["range"]["start"]["line"] == 1


def test_inlay_hints_follow_the_client_setting(client, tmp_path):
    uri = (tmp_path / "hints.nn").as_uri()
    client.open(uri, GOOD)
    client.diagnostics(uri)
    whole = {**doc(uri), "range": {"start": pos(0, 0), "end": pos(20, 0)}}
    hints = client.request("textDocument/inlayHint", whole)
    labels = {(h["position"]["line"], h["position"]["character"]): h["label"] for h in hints}
    assert labels[(8, 3)] == ": [N, 6, 14, 14]"  # after `h`
    assert labels[(8, 38)] == ": [N, 6, 28, 28]"  # after the conv2d stage
    client.notify("workspace/didChangeConfiguration", {"settings": {"nnc": {"inlayHints": {"stages": False}}}})
    hints = client.request("textDocument/inlayHint", whole)
    assert (8, 38) not in {(h["position"]["line"], h["position"]["character"]) for h in hints}
    assert (8, 3) in {(h["position"]["line"], h["position"]["character"]) for h in hints}


def test_shutdown_and_exit_are_clean(tmp_path):
    c = LspClient(cwd=tmp_path)
    try:
        c.initialize(tmp_path)
        assert c.shutdown() == 0
    finally:
        c.kill()


def test_the_server_imports_no_numpy_llvmlite_or_onnx(tmp_path):
    """The server process itself, through every feature: `-X importtime` lists each module it imports."""
    c = LspClient(cwd=tmp_path, args=[sys.executable, "-X", "importtime", "-m", "nnc", "lsp"])
    try:
        c.initialize(tmp_path)
        uri = (tmp_path / "n.nn").as_uri()
        c.open(uri, GOOD)
        assert c.diagnostics(uri) == []
        c.request("textDocument/hover", {**doc(uri), "position": pos(8, 17)})
        c.request("textDocument/completion", {**doc(uri), "position": pos(8, 17)})
        c.request("textDocument/inlayHint", {**doc(uri), "range": {"start": pos(0, 0), "end": pos(20, 0)}})
        c.request("textDocument/documentSymbol", doc(uri))
        c.change(uri, BROKEN, version=2)
        diags = c.diagnostics(uri, version=2)
        c.request("textDocument/codeAction", {**doc(uri), "range": diags[0]["range"],
                                              "context": {"diagnostics": diags}})
        assert c.shutdown() == 0
    finally:
        c.kill()
    imported = set()
    while not c.stderr.empty():
        line = c.stderr.get()
        if line.startswith("import time:") and "|" in line:
            imported.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    assert "nnc" in imported and "pygls" in imported  # the listing is real
    assert not imported & {"numpy", "llvmlite", "onnx", "onnxruntime"}


def test_vscode_extension_packages(tmp_path):
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("node/npx is not installed")
    probe = subprocess.run([npx, "--no-install", "@vscode/vsce", "--version"], capture_output=True, text=True,
                           timeout=120)
    if probe.returncode != 0:
        pytest.skip("@vscode/vsce is not installed (npm install -g @vscode/vsce)")
    work = tmp_path / "vscode"
    shutil.copytree(ROOT / "editors" / "vscode", work, ignore=shutil.ignore_patterns("node_modules", "*.vsix"))
    install = subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=work, capture_output=True,
                             text=True, timeout=300)
    if install.returncode != 0:
        pytest.skip("npm cannot install vscode-languageclient here (offline?)")
    assert subprocess.run(["node", "--check", "extension.js"], cwd=work).returncode == 0
    out = subprocess.run([npx, "--no-install", "@vscode/vsce", "package", "--allow-missing-repository",
                          "--skip-license", "-o", str(tmp_path / "nnc.vsix")], cwd=work, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert (tmp_path / "nnc.vsix").stat().st_size > 0


def test_vscode_grammar_and_configuration_match_the_language():
    from nnc.ir.types import DTYPES
    from nnc.syntax.parser import _KEYWORDS
    folder = ROOT / "editors" / "vscode"
    grammar = json.loads((folder / "syntaxes" / "nnc.tmLanguage.json").read_text())
    package = json.loads((folder / "package.json").read_text())
    config = json.loads((folder / "language-configuration.json").read_text())
    highlighted = json.dumps(grammar["repository"])
    for word in sorted(k.lower() for k in _KEYWORDS):
        assert f"|{word}|" in highlighted or f"({word}|" in highlighted or f"|{word})" in highlighted, word
    for dtype in DTYPES:
        assert dtype in grammar["repository"]["dtype"]["match"]
    assert config["comments"]["lineComment"] == "#"
    assert package["contributes"]["languages"][0]["extensions"] == [".nn"]
    assert package["contributes"]["grammars"][0]["scopeName"] == grammar["scopeName"]


def test_positions_in_utf16_and_back():
    from lsprotocol.types import Position

    from nnc.lsp.convert import Lines
    from nnc.source import Span
    text = "# 😀 é\nx = 1\n"
    lines = Lines(text, "utf-16")
    # the character after the emoji: column 4 in code points, 4 UTF-16 units after "# " + surrogate pair
    assert lines.to_position(1, 4) == Position(line=0, character=4)
    assert lines.to_column(Position(line=0, character=5)) == (1, 5)
    assert Lines(text, "utf-32").to_position(1, 4) == Position(line=0, character=3)
    assert Lines(text, "utf-8").to_position(1, 5) == Position(line=0, character=7)
    r = lines.to_range(Span("f", 2, 1, 2, 2))
    assert (r.start.line, r.start.character, r.end.character) == (1, 0, 1)
    assert lines.to_position(99, 99) == Position(line=98, character=0)  # past the end: clamped, never raises


def test_setting_edits_keep_the_rest_of_the_call():
    from nnc.lsp.fixes import setting_edit
    assert setting_edit("conv2d(4, 3, stride=3)", "padding", "1") == "conv2d(4, 3, stride=3, padding=1)"
    assert setting_edit("conv2d(4, 3, stride=3)", "stride", "2") == "conv2d(4, 3, stride=2)"
    assert setting_edit("maxpool(2, padding = 0, init=\"a,b\")", "padding", "1") == \
        "maxpool(2, padding = 1, init=\"a,b\")"
    assert setting_edit("pool()", "stride", "2") == "pool(stride=2)"
    assert setting_edit("x", "stride", "2") is None


def test_call_context_skips_strings_comments_and_closed_calls():
    from nnc.lsp.complete import context
    text = 'y = x -> conv2d(4, f(2), # (not a call\n  init="a(", str'
    call, after_arrow = context(text, len(text))
    assert (call.name, call.piped, call.index, call.keyword) == ("conv2d", True, 3, None)
    assert call.used == ("init",)
    call, after_arrow = context("y = x -> con", len("y = x -> con"))
    assert call is None and after_arrow


def test_a_crashing_check_is_reported_and_the_next_one_still_runs(tmp_path):
    import asyncio

    from nnc.lsp.documents import Documents, Scheduler

    docs = Documents()
    doc = docs.open("file:///x.nn", tmp_path / "x.nn", GOOD, 1)
    published, crashed = [], []
    real_check = docs.check
    calls = []

    def check(path):
        calls.append(path)
        if len(calls) == 1:
            raise NameError("a bug in the checker")
        return real_check(path)

    docs.check = check

    async def scenario():
        s = Scheduler(docs, lambda path, analysis, version: published.append((version, analysis.diagnostics)))
        s.on_crash = lambda path, version, e: crashed.append((version, str(e)))
        s.changed(doc.path, immediately=True)
        while not crashed:
            await asyncio.sleep(0.01)
        doc.text, doc.version = BROKEN, 2
        s.changed(doc.path)
        while not published:
            await asyncio.sleep(0.01)
        s.shutdown()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert crashed == [(1, "a bug in the checker")]
    assert [(v, [d.code for d in ds]) for v, ds in published] == [(2, ["E0301"])]
