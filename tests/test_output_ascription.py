"""`output y: [N, 64] = expr`: a shape ascription on an output line parses (Lark's driver and the fast one alike)
and is checked like an ascription on any other line."""
from pathlib import Path

from helpers import ROOT, check, errors, output_shape
from nnc.source import SourceFile
from nnc.syntax import parser as syntax

SRC = """model m {
  input x: f32[N, 4]
  h: [N, 8] = x -> dense(8)
  output y: [N, 64] = h -> dense(64)
}
"""


def test_an_output_ascription_parses_and_checks():
    result = check(SRC)
    assert not result.diagnostics
    assert output_shape(result) == "[N, 64]"


def test_both_parser_paths_build_the_same_ast_with_the_ascription():
    source = SourceFile("t.nn", SRC)
    fast, lark = syntax._parse_text(source, fast=True), syntax._parse_text(source, fast=False)
    assert fast == lark
    program, problem = fast
    assert problem is None
    output = program.items[0].body[-1]
    assert output.name == "y" and [getattr(d, "id", getattr(d, "value", None)) for d in output.ascription] == ["N", 64]
    assert (output.ascription_span.line, output.ascription_span.column) == (4, 13)


def test_a_wrong_output_ascription_is_e0203_at_the_bracket():
    [e] = errors(check(SRC.replace("output y: [N, 64]", "output y: [N, 32]")))
    assert (e.code, e.span.line, e.span.column) == ("E0203", 4, 13)
    assert e.message == "shape ascription does not hold: expected [N, 32], found [N, 64]"
    assert e.hint == "differs at axis 1: 32 vs 64"
    [label] = e.labels
    assert (label.span.line, label.span.column, label.text) == (4, 23, "this is f32[N, 64]")


def test_a_rank_mismatch_on_an_output():
    [e] = errors(check(SRC.replace("output y: [N, 64]", "output y: [N, 64, 1]")))
    assert e.code == "E0203" and e.hint == "the value has rank 2, the ascription 3"


def test_symbols_in_an_output_ascription_are_compared_by_name():
    [e] = errors(check(SRC.replace("output y: [N, 64]", "output y: [M, 64]")))
    assert e.code == "E0203" and "expected [M, 64], found [N, 64]" in e.message


def test_an_output_ascription_needs_a_value():
    [e] = errors(check(SRC.replace("output y: [N, 64] = h -> dense(64)", "output y: [N, 64]")))
    assert e.code == "E0001" and e.message == "syntax error: expected `=`, found `}`" and e.span.line == 5


def test_the_grammar_the_parser_reads_is_the_documented_one():
    assert (ROOT / "grammar" / "nnc.lark").read_text() == Path(syntax.GRAMMAR_PATH).read_text()
