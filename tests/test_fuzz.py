"""Property tests: mutated programs end in diagnostics or success, never in an exception or a hang.

The seeds are the conformance programs (../shared/conformance, when that checkout is there; the
tests that need only them are skipped otherwise) and the project's own examples. Each is split
roughly into tokens (names, numbers, strings, operators, brackets, whitespace and newlines kept),
then tokens and lines are deleted, duplicated, swapped, replaced and inserted; other mutants get odd
characters (line ends of every kind, control and non-ASCII characters) dropped in. Whatever comes
out, `nnc check` must return diagnostics or success within seconds, every diagnostic must have a
known code and point at a place that exists in the program text, and the fast parser must agree
with Lark's own driver: the same AST, or the same first syntax error.
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnc import cli
from nnc.codes import CODES
from nnc.compiler import check_file
from nnc.source import SourceFile
from nnc.syntax import parser as syntax

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"

EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))
CONFORMANCE_FILES = sorted(CONFORMANCE.glob("*.nn")) if CONFORMANCE.is_dir() else []
SEEDS = [(p, p.read_text()) for p in EXAMPLES + CONFORMANCE_FILES]
CONFORMANCE_SEEDS = [(p, p.read_text()) for p in CONFORMANCE_FILES]

# Rough tokens: joined back together they give the text again, newlines and all.
TOKEN = re.compile(r'\n|[ \t]+|#[^\n]*|"[^"\n]*"?|[A-Za-z_][A-Za-z0-9_]*|[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?'
                   r'|->|\.\.|==|!=|<=|>=|//|.')
# Extra tokens worth dropping in: brackets, strings, operators, keywords and numbers at the edges.
ODD_TOKENS = ["(", ")", "[", "]", "{", "}", '"', ",", "=", ":", "->", "..", "-", "not", "if", "else", "for",
              "in", "return", "output", "input", "layer", "model", "block", "0", "-1", "1e999", "2.5",
              "99999999999999999999", "N", "x", "\n", "#", "\t", "import", "const", "@", "%", "//"]

SLOW = 5.0  # seconds: one mutant of a seed program checks in milliseconds
DEADLINE = timedelta(seconds=SLOW)


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


@st.composite
def mutants(draw, seeds=SEEDS):
    path, text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "replace", "insert",
                                     "delete line", "duplicate line", "swap lines"]))
        if kind.endswith(("line", "lines")):
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            if kind == "delete line" and len(lines) > 1:
                del lines[i]
            elif kind == "duplicate line":
                lines.insert(i, lines[i])
            else:
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
            continue
        toks = tokens(text)
        if not toks:
            break
        i = draw(st.integers(0, len(toks) - 1))
        if kind == "delete":
            del toks[i]
        elif kind == "duplicate":
            toks.insert(i, toks[i])
        elif kind == "swap":
            j = draw(st.integers(0, len(toks) - 1))
            toks[i], toks[j] = toks[j], toks[i]
        elif kind == "replace":
            toks[i] = draw(st.sampled_from(toks))
        else:
            toks.insert(i, draw(st.sampled_from(ODD_TOKENS)))
        text = "".join(toks)
    return path, text


# Characters the lexer must take apart the same way on both paths: line ends of every kind, tabs and
# form feeds, quotes and escapes, characters no token starts with, control and non-ASCII characters.
ODD_CHARS = list("\r\n\t\f\v \"\\#(){}[],:=-+*/%@<>!._0123456789eE") + ["λ", "é", "\u00a0", "\u2028", "\x00",
                                                                           "\x1b", "\ufeff", "\ufffd"]


@st.composite
def char_mutants(draw, seeds=SEEDS):
    """Single characters inserted, deleted and replaced."""
    path, text = draw(st.sampled_from(seeds))
    chars = list(text)
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(chars)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        if kind == "insert" or i == len(chars):
            chars.insert(i, draw(st.sampled_from(ODD_CHARS)))
        elif kind == "delete":
            del chars[i]
        else:
            chars[i] = draw(st.sampled_from(ODD_CHARS))
    return path, "".join(chars)


def assert_well_placed(result, path: Path, text: str) -> None:
    """Every diagnostic has a known code and a place inside the text of the file it names."""
    for d in result.diagnostics:
        assert d.severity in ("error", "warning")
        assert d.code in CODES, d.code
        assert d.message.strip()
        assert d.span is not None, d
        source = result.sources.get(d.span.file)
        assert source is not None, d.span.file
        lines = source.text.split("\n")
        s = d.span
        assert 1 <= s.line <= len(lines), (s, len(lines))
        assert 1 <= s.column <= len(lines[s.line - 1]) + 1, (s, lines[s.line - 1])
        assert (s.end_line, s.end_column) >= (s.line, s.column), s
        assert s.end_line <= len(lines), (s, len(lines))
        json.dumps(d.to_json())


def test_the_seeds_exist_and_check():
    assert len(EXAMPLES) >= 5
    for path, text in SEEDS:
        assert_well_placed(check_file(path, text=text), path, text)


@settings(max_examples=3000, deadline=DEADLINE, database=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(mutants())
def test_mutated_programs_end_in_diagnostics_or_success(mutant):
    path, text = mutant
    started = time.monotonic()
    result = check_file(path, text=text)  # must not raise
    assert time.monotonic() - started < SLOW
    assert_well_placed(result, path, text)


@pytest.mark.skipif(not CONFORMANCE_SEEDS, reason="../shared/conformance is not checked out beside this project")
@settings(max_examples=800, deadline=DEADLINE, database=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(mutants(CONFORMANCE_SEEDS))
def test_mutated_conformance_programs_end_in_diagnostics_or_success(mutant):
    path, text = mutant
    assert_well_placed(check_file(path, text=text), path, text)


@settings(max_examples=600, deadline=DEADLINE, database=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(char_mutants())
def test_programs_with_odd_characters_end_in_diagnostics_or_success(mutant):
    path, text = mutant
    result = check_file(path, text=text)
    assert_well_placed(result, path, text)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(mutants())
def test_mutated_programs_through_the_command_line(tmp_path_factory, mutant):
    path, text = mutant
    file = tmp_path_factory.mktemp("fuzz") / path.name
    file.write_text(text)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(["check", str(file), "--format", "json"])
    assert status in (0, 1), (status, err.getvalue())
    assert "Traceback" not in err.getvalue()
    report = json.loads(out.getvalue())
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert status == (1 if errors else 0)
    for d in report["diagnostics"]:
        assert d["line"] >= 1 and d["column"] >= 1 and d["file"]


@settings(max_examples=1000, deadline=DEADLINE, database=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(st.one_of(mutants(), char_mutants()))
def test_the_fast_parser_agrees_with_lark_on_every_text(mutant):
    """The tight LALR loop (FastParser) and Lark's own lexer, Layout and driver must give the same AST for
    every text they accept, and the same first syntax error for every text they reject."""
    path, text = mutant
    assert syntax._fast_parser() is not None
    source = SourceFile(path.name, text)
    assert syntax._parse_text(source, fast=True) == syntax._parse_text(source, fast=False)
