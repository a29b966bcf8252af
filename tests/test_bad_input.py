"""Bad input: every malformed, hostile or oversized program ends in a located diagnostic, never a crash.

Each test runs `nnc check FILE --format json` (in-process through nnc.cli.main, or as a separate
process where a time bound matters) and checks the exit status, the diagnostic code, the exact line
and column, and words of the message. Exit status: 0 ok, 1 the program has errors, 2 the file cannot
be read (missing, a directory) or bad usage; never 3 (an internal error) and never a traceback.
"""
from __future__ import annotations

import functools
import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from nnc import cli

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    status: int
    diagnostics: list[dict]
    stdout: str
    stderr: str

    @property
    def errors(self) -> list[dict]:
        return [d for d in self.diagnostics if d["severity"] == "error"]

    def only_error(self, code: str) -> dict:
        """The one error of the run, which must have this code."""
        assert len(self.errors) == 1, self.errors
        (d,) = self.errors
        assert d["code"] == code, d
        return d


@pytest.fixture
def nnc_check(tmp_path, capsys):
    """Write a program (text or bytes) to a file and run `nnc check FILE --format json` on it in-process."""

    def run(program: str | bytes | None, name: str = "t.nn", *extra: str, path: Path | None = None) -> Outcome:
        file = path if path is not None else tmp_path / name
        if isinstance(program, bytes):
            file.write_bytes(program)
        elif program is not None:
            file.write_text(program)
        capsys.readouterr()
        status = cli.main(["check", str(file), "--format", "json", *extra])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        assert status != cli.EXIT_INTERNAL, err
        diagnostics = json.loads(out)["diagnostics"] if out.strip() else []
        return Outcome(status, diagnostics, out, err)

    return run


def at(d: dict, line: int, column: int, *words: str) -> None:
    """The diagnostic starts at line:column and its message (or hint) says each of the words."""
    assert (d["line"], d["column"]) == (line, column), d
    said = (d["message"] + " " + (d["hint"] or "")).lower()
    for word in words:
        assert word.lower() in said, (word, d)


def model(*lines: str) -> str:
    """`model m` with `input x: f32[N, 4]` on line 2 and the given lines from line 3 on."""
    return "\n".join(["model m {", "  input x: f32[N, 4]", *("  " + l for l in lines), "}"]) + "\n"


def nnc_process(*args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    """`python -m nnc ARGS` as its own process; returns it and the CPU seconds it used.

    CPU time, not wall time, is what is bounded: other work on a shared machine slows the wall clock
    but not the CPU time. `timeout` bounds the wall clock, so a hang still fails the test.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-m", "nnc", *args], capture_output=True, text=True, timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return done, cpu


# ---- files that are not programs ---------------------------------------------------------------------

def test_an_empty_file_is_an_error(nnc_check):
    r = nnc_check("")
    assert r.status == 1
    at(r.only_error("E0004"), 1, 1, "empty")


def test_a_file_of_comments_and_blank_lines_is_empty(nnc_check):
    r = nnc_check("\n\n# nothing but a comment\n   \n")
    assert r.status == 1
    at(r.only_error("E0004"), 1, 1, "empty")


def test_binary_garbage_is_not_text(nnc_check):
    garbage = bytes([0x89]) + b"PNG\r\n\x1a\n" + bytes(range(256)) * 8
    r = nnc_check(garbage, "image.nn")
    assert r.status == 1
    at(r.only_error("E0003"), 1, 1, "UTF-8", "binary")


def test_invalid_utf8_is_reported_at_the_byte(nnc_check):
    r = nnc_check(model("output y = x -> relu  # caf\xe9").encode("latin-1"))
    assert r.status == 1
    at(r.only_error("E0003"), 3, 30, "not valid UTF-8")


def test_a_nul_byte_is_reported_where_it_is(nnc_check):
    r = nnc_check(model("h = x -> relu\x00", "output y = h"))
    assert r.status == 1
    at(r.only_error("E0003"), 3, 16, "NUL byte")


def test_the_text_rendering_of_binary_input_prints_no_control_characters(tmp_path, capsys):
    file = tmp_path / "nul.nn"
    file.write_bytes(b"model m {\n  input x: f32[N, 4]\x00\x1b[31m\n}\n")
    assert cli.main(["check", str(file)]) == 1
    out = capsys.readouterr().out
    assert "error[E0003]" in out and "\x00" not in out and "\x1b" not in out


def test_a_byte_order_mark_and_windows_line_ends_are_fine(nnc_check):
    r = nnc_check(b"\xef\xbb\xbf" + model("output y = x -> relu").replace("\n", "\r\n").encode())
    assert r.status == 0, r.diagnostics
    assert not r.errors


def test_a_missing_file_is_exit_2(nnc_check, tmp_path):
    r = nnc_check(None, path=tmp_path / "nowhere.nn")
    assert r.status == 2
    assert "no such file" in r.stderr


def test_a_directory_is_exit_2(nnc_check, tmp_path):
    r = nnc_check(None, path=tmp_path)
    assert r.status == 2
    assert "is a directory" in r.stderr


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads every file")
def test_an_unreadable_file_is_exit_2(nnc_check, tmp_path):
    file = tmp_path / "secret.nn"
    file.write_text(model("output y = x -> relu"))
    file.chmod(0)
    try:
        r = nnc_check(None, path=file)
    finally:
        file.chmod(0o644)
    assert r.status == 2


def test_a_file_over_the_size_limit_is_exit_2_without_reading_it(nnc_check, tmp_path):
    file = tmp_path / "huge.nn"
    with open(file, "wb") as f:
        f.truncate(17 * 2**20)  # sparse: 17 MiB of nothing, written in no time
    r = nnc_check(None, path=file)
    assert r.status == 2
    assert "limited to 16 MiB" in r.stderr


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_device_is_not_read_forever(nnc_check, tmp_path):
    r = nnc_check(None, path=Path("/dev/zero"))
    assert r.status == 2
    assert "not a regular file" in r.stderr
    r = nnc_check('import "/dev/zero"\n' + model("output y = x -> relu"))
    assert r.status == 1
    at(r.only_error("E0109"), 1, 8, 'cannot import "/dev/zero"')


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_symlink_loop_is_a_diagnostic_not_a_crash(nnc_check, tmp_path):
    loop = tmp_path / "loop.nn"
    loop.symlink_to(loop)
    r = nnc_check(None, path=loop)
    assert r.status == 2
    r = nnc_check('import "loop.nn"\n' + model("output y = x -> relu"))
    assert r.status == 1
    at(r.only_error("E0109"), 1, 8, 'cannot import "loop.nn"')


def test_bad_usage_is_exit_2_without_a_traceback(capsys):
    assert cli.main([]) == 2
    assert cli.main(["check"]) == 2
    assert cli.main(["check", "x.nn", "--format", "yaml"]) == 2
    assert cli.main(["frobnicate"]) == 2
    assert cli.main(["explain", "E9999"]) == 2
    assert "Traceback" not in capsys.readouterr().err


# ---- unterminated things -------------------------------------------------------------------------------

def test_an_unterminated_block_is_reported_at_its_brace(nnc_check):
    r = nnc_check("model m {\n  input x: f32[N, 4]\n  output y = x -> relu\n")
    assert r.status == 1
    at(r.only_error("E0002"), 1, 9, "never closed", "}")


def test_an_unterminated_string_is_reported_at_its_quote(nnc_check):
    r = nnc_check('train t {\n  data "digits\n  batch 4\n}\n')
    assert r.status == 1
    at(r.only_error("E0002"), 2, 8, "string", "never closed")


def test_an_unclosed_parenthesis_is_named_where_the_next_line_fails(nnc_check):
    r = nnc_check(model("output y = x -> dense(4", "z = 1"))
    assert r.status == 1
    d = r.only_error("E0001")
    at(d, 4, 3, "found the name `z`", "is a `)` missing?")
    assert (d["labels"][0]["line"], d["labels"][0]["column"]) == (3, 24)
    assert "still open" in d["labels"][0]["text"]


def test_an_unclosed_parenthesis_at_the_end_of_the_file(nnc_check):
    r = nnc_check("const K = max(1,\n")
    assert r.status == 1
    at(r.only_error("E0002"), 1, 14, "never closed", ")")


def test_a_stray_closing_brace(nnc_check):
    r = nnc_check(model("output y = x -> relu") + "}\n")
    assert r.status == 1
    at(r.only_error("E0001"), 5, 1, "unmatched")


def test_a_syntax_error_says_what_was_expected_and_found(nnc_check):
    r = nnc_check(model("output y = x ->", "z = 1"))
    assert r.status == 1
    # `->` carries the statement on to the next line, so `z` is the stage and `=` cannot follow it.
    at(r.only_error("E0001"), 4, 5, "expected `->`, `(` or the end of the statement", "found `=`",
       "the line above ends with `->`")


def test_a_missing_stage_after_the_last_arrow(nnc_check):
    r = nnc_check(model("output y = x ->"))
    assert r.status == 1
    at(r.only_error("E0001"), 4, 1, "expected a name", "found `}`")


def test_a_misspelt_item_keyword_gets_a_suggestion(nnc_check):
    r = nnc_check("modle m {\n}\n")
    assert r.status == 1
    at(r.only_error("E0001"), 1, 1, "found the name `modle`", "did you mean `model`?")


def test_the_end_of_file_error_points_after_the_last_token(nnc_check):
    r = nnc_check('import\n\n')
    assert r.status == 1
    at(r.only_error("E0001"), 1, 7, "expected a string", "end of the file")


# ---- size and depth ------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def big_program(target_bytes: int) -> tuple[str, int]:
    """Realistic generated code: a documented residual block and a model that calls it, over and over."""
    unit = (
        "# ---------------------------------------------------------------------------------------\n"
        "# unit {i}: a residual pair of 3x3 convolutions with batch normalisation, for 8x8 feature\n"
        "# maps of 16 channels; net{i} stacks two of them and classifies into ten classes.\n"
        "block unit{i}(x, width: int = 16) {{\n"
        "  y = x -> conv2d(width, 3, padding=1, bias=false) -> batchnorm -> relu\n"
        "  y = y -> conv2d(width, 3, padding=1, bias=false) -> batchnorm\n"
        "  return relu(y + x)\n"
        "}}\n"
        "\n"
        "model net{i} {{\n"
        "  input image: f32[N, 16, 8, 8]\n"
        "  h = image -> unit{i}(16) -> unit{i}(width=16)\n"
        "  output logits = h -> global_avgpool -> flatten -> dense(10)\n"
        "}}\n"
        "\n")
    parts, size, i = [], 0, 0
    while size < target_bytes:
        part = unit.format(i=i)
        parts.append(part)
        size += len(part)
        i += 1
    return "".join(parts), i


def test_a_5_mb_program_checks_in_bounded_time(tmp_path):
    text, units = big_program(5_000_000)
    file = tmp_path / "big.nn"
    file.write_text(text)
    assert file.stat().st_size >= 5_000_000
    done, seconds = nnc_process("check", str(file), "--format", "json", timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert not report["diagnostics"]
    assert len(report["models"]) == units
    assert report["models"][f"net{units - 1}"]["outputs"]["logits"]["shape"] == ["N", 10]
    assert seconds < 20, f"a 5 MB program took {seconds:.1f} CPU seconds"


def test_an_error_at_the_end_of_a_5_mb_program_is_found_and_placed(tmp_path):
    text, units = big_program(5_000_000)
    lines = text.count("\n")
    text += "model broken {\n  input x: f32[N, 4]\n  output y = x -> dense(0)\n}\n"
    file = tmp_path / "big.nn"
    file.write_text(text)
    done, seconds = nnc_process("check", str(file), "--format", "json", timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    (d,) = [d for d in json.loads(done.stdout)["diagnostics"] if d["severity"] == "error"]
    assert (d["code"], d["line"], d["column"]) == ("E0207", lines + 3, 25)
    assert seconds < 20, f"a 5 MB program took {seconds:.1f} CPU seconds"


def test_a_syntax_error_at_the_end_of_a_5_mb_program_is_found_quickly(tmp_path):
    text, units = big_program(5_000_000)
    lines = text.count("\n")
    text += "model broken {\n  input x: f32[N, 4]\n  output y = x ->\n}\n"
    file = tmp_path / "big.nn"
    file.write_text(text)
    done, seconds = nnc_process("check", str(file), "--format", "json", timeout=120)
    assert done.returncode == 1, done.stderr[-2000:]
    (d,) = json.loads(done.stdout)["diagnostics"]
    assert (d["code"], d["line"], d["column"]) == ("E0001", lines + 4, 1)
    assert seconds < 20, f"a 5 MB program took {seconds:.1f} CPU seconds"


def test_10000_nested_parentheses_are_a_diagnostic(nnc_check):
    r = nnc_check(model("output y = " + "(" * 10_000 + "x" + ")" * 10_000))
    assert r.status == 1
    # `output y = ` puts the first parenthesis at column 14; with the model's `{` the 200th is one too many.
    at(r.only_error("E0005"), 3, 14 + 199, "nest more than 200 deep")


def test_10000_nested_brackets_in_a_constant(nnc_check):
    r = nnc_check("const K = " + "[" * 10_000 + "1" + "]" * 10_000 + "\n" + model("output y = x"))
    assert r.status == 1
    at(r.only_error("E0005"), 1, 11 + 200, "nest more than 200 deep")


def test_a_chain_of_20000_arrows_is_checked_quickly(tmp_path):
    file = tmp_path / "chain.nn"
    file.write_text(model("output y = x" + " -> relu" * 20_000))
    done, seconds = nnc_process("check", str(file), "--format", "json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["models"]["m"]["outputs"]["y"]["shape"] == ["N", 4]
    assert seconds < 10, f"20,000 arrows took {seconds:.1f} CPU seconds"


def test_a_chain_of_20000_arrows_one_per_line(tmp_path):
    file = tmp_path / "chain.nn"
    file.write_text(model("output y = x", *["  -> tanh"] * 20_000))
    done, seconds = nnc_process("check", str(file), "--format", "json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert seconds < 10, f"20,000 arrows took {seconds:.1f} CPU seconds"


def test_an_error_at_the_end_of_a_long_chain_is_placed(nnc_check):
    r = nnc_check(model("output y = x" + " -> relu" * 20_000 + " -> relux"))
    assert r.status == 1
    at(r.only_error("E0102"), 3, 15 + 8 * 20_000 + 4, "unknown function `relux`", "did you mean `relu`?")


def test_an_else_if_chain_of_3000_branches(nnc_check):
    chain = " else ".join(f"if K == {i} {{\n    h = x -> relu\n  }}" for i in range(3000))
    r = nnc_check("const K = 2999\n" + model("h = x", chain + " else {\n    h = x -> tanh\n  }", "output y = h"))
    assert r.status == 0, r.diagnostics[:3]


def test_a_ternary_chain_of_10000_choices(nnc_check):
    r = nnc_check("const K = " + "1 if false else " * 10_000 + "2\n" + model("output y = x -> dense(K)"))
    assert r.status == 0, r.diagnostics[:3]


def test_5000_unary_minus_signs(nnc_check):
    r = nnc_check("const K = " + "-" * 5000 + "1\n" + model("output y = x"))
    assert r.status == 1
    # `const K = ` is 10 columns; the 65th sign is one too many.
    at(r.only_error("E0005"), 1, 11 + 64, "more than 64 operators in a row")


def test_unary_minus_hidden_between_parentheses_nests_too_deep_but_does_not_crash(nnc_check):
    r = nnc_check("const K = " + ("-" * 60 + "(") * 190 + "1" + ")" * 190 + "\n" + model("output y = x"))
    assert r.status == 1
    d = r.only_error("E0005")
    assert d["line"] == 1 and "nest more than" in d["message"]


def test_10000_indexes_in_a_row(nnc_check):
    r = nnc_check("const L = [1]\nconst K = L" + "[0]" * 10_000 + "\n" + model("output y = x"))
    assert r.status == 1
    at(r.only_error("E0005"), 2, 11, "nest more than")


def test_10000_calls_in_a_row(nnc_check):
    r = nnc_check(model("output y = relu(x)" + "(x)" * 10_000))
    assert r.status == 1
    at(r.only_error("E0005"), 3, 14, "nest more than")


def test_an_integer_with_5000_digits(nnc_check):
    r = nnc_check("const K = " + "9" * 5000 + "\n" + model("output y = x"))
    assert r.status == 1
    at(r.only_error("E0114"), 1, 11, "5,000 digits")


def test_a_float_too_large(nnc_check):
    r = nnc_check(model("output y = x -> dropout(1e999)"))
    assert r.status == 1
    at(r.only_error("E0114"), 3, 27, "too large")


def test_a_dimension_above_2_63_minus_1(nnc_check):
    r = nnc_check(model("input z: f32[N, 9223372036854775808]", "output y = z -> relu"))
    assert r.status == 1
    at(r.only_error("E0114"), 3, 19, "larger than 2^63 - 1")


def test_a_dimension_of_exactly_2_63_minus_1_is_fine(nnc_check):
    r = nnc_check(model("input z: f32[N, 9223372036854775807]", "output y = z -> relu", "output w = x"))
    assert r.status == 0, r.diagnostics


def test_a_loop_of_100_million_iterations_is_refused_quickly(tmp_path):
    file = tmp_path / "loop.nn"
    file.write_text(model("h = x", "for i in 0..100000000 {", "  h = h -> relu", "}", "output y = h"))
    done, seconds = nnc_process("check", str(file), "--format", "json")
    assert done.returncode == 1
    errors = [d for d in json.loads(done.stdout)["diagnostics"] if d["severity"] == "error"]
    assert len(errors) == 1
    at(errors[0], 4, 12, "100,000,000 times", "limit")
    assert errors[0]["code"] == "E0112"
    assert seconds < 10


def test_nested_loops_with_empty_bodies_end_in_a_diagnostic_not_a_hang(tmp_path):
    """10^10 iterations that build nothing: every iteration counts against the budget."""
    file = tmp_path / "nest.nn"
    file.write_text(model("for i in 0..100000 {", "  for j in 0..100000 {", "  }", "}", "output y = x"))
    done, seconds = nnc_process("check", str(file), "--format", "json", timeout=60)
    assert done.returncode == 1
    (d,) = json.loads(done.stdout)["diagnostics"]  # and no "x is never used" after the check stopped
    assert d["code"] == "E0112"
    at(d, 3, 12, "loop unrolls into too many operations")
    assert seconds < 10


def test_nested_loops_that_build_too_much_are_reported_at_the_outer_loop(nnc_check):
    r = nnc_check(model("for i in 0..11 {", "  for j in 0..100000 {", "    k = i * j", "  }", "}", "output y = x"))
    assert r.status == 1
    d = r.only_error("E0112")
    at(d, 3, 12, "loop unrolls into too many operations")
    assert "2,000,000" in d["label"]
    assert not [d for d in r.diagnostics if d["severity"] == "warning"]


# ---- compile-time values that would grow without bound -------------------------------------------------

def test_a_string_doubled_in_a_loop_stops_at_the_limit(nnc_check):
    r = nnc_check(model('s = "ab"', "for i in 0..40 {", "  s = s + s", "}", "output y = x"))
    assert r.status == 1
    at(r.only_error("E0112"), 5, 11, "string would have 1,048,576 characters", "limit of 1,000,000")


def test_a_list_doubled_in_a_loop_stops_at_the_limit(nnc_check):
    r = nnc_check(model("l = [1]", "for i in 0..40 {", "  l = l + l", "}", "output y = x"))
    assert r.status == 1
    at(r.only_error("E0112"), 5, 11, "list would have 1,048,576 items")


def test_an_int_squared_in_a_loop_stops_past_2_63(nnc_check):
    r = nnc_check(model("k = 3", "for i in 0..40 {", "  k = k * k", "}", "output y = x"))
    assert r.status == 1
    at(r.only_error("E0114"), 5, 11, "larger than 2^63 - 1")


def test_a_symbolic_size_squared_in_a_loop_stops(nnc_check):
    r = nnc_check(model("n = shape(x)[0]", "for i in 0..40 {", "  n = n * n", "}", "output y = x"))
    assert r.status == 1
    at(r.only_error("E0114"), 5, 11, "symbolic size too large")


@pytest.mark.parametrize("call,column,words", [
    ("dense(1{zeros})", 25, "dense: `units` is a 401-digit number"),
    ("dropout(1{zeros})", 27, "dropout: `p` is a 401-digit number"),
    ("reshape([1{zeros}, -1])", 27, "reshape: `shape` is a 401-digit number"),
])
def test_a_huge_int_argument_is_a_diagnostic_not_an_overflow(nnc_check, call, column, words):
    r = nnc_check(model("output y = x -> " + call.format(zeros="0" * 400)))
    assert r.status == 1
    at(r.only_error("E0114"), 3, column, words)


def test_a_huge_int_beside_a_tensor(nnc_check):
    r = nnc_check(model("output y = x * 1" + "0" * 400))
    assert r.status == 1
    at(r.only_error("E0114"), 3, 18, "too large for a tensor constant")


def test_a_shape_rule_that_overflows_2_63(nnc_check):
    r = nnc_check("model m {\n  input x: f32[N, 9223372036854775807, 4]\n  output y = x -> flatten\n}\n")
    assert r.status == 1
    at(r.only_error("E0114"), 3, 19, "flatten gives a dimension", "larger than 2^63 - 1")


# ---- compile-time mistakes ---------------------------------------------------------------------------

def test_a_block_that_calls_itself(nnc_check):
    r = nnc_check("block f(x) {\n  return x -> f\n}\n" + model("output y = x -> f"))
    assert r.status == 1
    at(r.only_error("E0111"), 2, 15, "block `f` calls itself")


def test_two_blocks_that_call_each_other(nnc_check):
    r = nnc_check("block f(x) {\n  return x -> g\n}\nblock g(x) {\n  return f(x)\n}\n" + model("output y = x -> f"))
    assert r.status == 1
    at(r.only_error("E0111"), 5, 10, "calls itself through", "`f` -> `g` -> `f`")


def test_a_model_that_calls_itself(nnc_check):
    r = nnc_check(model("output y = m(x)"))
    assert r.status == 1
    at(r.only_error("E0111"), 3, 14, "model `m` calls itself")


def test_division_by_zero_in_a_constant(nnc_check):
    r = nnc_check("const K = 7 / 0\n" + model("output y = x -> dense(K)"))
    assert r.status == 1
    at(r.only_error("E0113"), 1, 13, "division by zero")


def test_remainder_by_zero_inside_a_model(nnc_check):
    r = nnc_check(model("output y = x -> dense(8 % (4 - 4))"))
    assert r.status == 1
    at(r.only_error("E0113"), 3, 27, "division by zero")


@pytest.mark.parametrize("dims,column,value", [("N, 0", 19, "0"), ("N, -3", 19, "-3")])
def test_a_zero_or_negative_dimension(nnc_check, dims, column, value):
    r = nnc_check(model(f"input z: f32[{dims}]", "output y = z -> relu", "output w = x"))
    assert r.status == 1
    at(r.only_error("E0207"), 3, column, "must be positive", value)


def test_a_zero_size(nnc_check):
    r = nnc_check(model("output y = x -> dense(0)"))
    assert r.status == 1
    at(r.only_error("E0207"), 3, 25, "units", "must be positive", "0")


@pytest.mark.parametrize("stride", ["0", "-1"])
def test_a_zero_or_negative_stride(nnc_check, stride):
    r = nnc_check("model m {\n  input x: f32[N, 1, 8, 8]\n"
                  f"  output y = x -> conv2d(4, 3, stride={stride})\n}}\n")
    assert r.status == 1
    at(r.only_error("E0207"), 3, 32, "stride", "must be positive", stride)  # at `stride=...`


def test_a_float_where_an_int_is_needed(nnc_check):
    r = nnc_check(model("output y = x -> dense(12.5)"))
    assert r.status == 1
    at(r.only_error("E0105"), 3, 25, "units", "must be an int", "12.5")


def test_a_float_dimension(nnc_check):
    r = nnc_check(model("input z: f32[N, 4.5]", "output y = z", "output w = x"))
    assert r.status == 1
    at(r.only_error("E0105"), 3, 19, "dimension must be an int", "4.5")


def test_a_float_loop_bound(nnc_check):
    r = nnc_check(model("h = x", "for i in 0..2.5 {", "  h = h -> relu", "}", "output y = h"))
    assert r.status == 1
    at(r.only_error("E0105"), 4, 15, "`for` range needs ints", "2.5")
    assert not [d for d in r.diagnostics if d["severity"] == "warning"], "no unused-value warning cascades"


def test_an_unknown_builtin(nnc_check):
    r = nnc_check(model("output y = x -> relux"))
    assert r.status == 1
    at(r.only_error("E0102"), 3, 19, "unknown function `relux`", "did you mean `relu`?")


def test_an_unknown_function_called_directly(nnc_check):
    r = nnc_check(model("output y = sigmod(x)"))
    assert r.status == 1
    at(r.only_error("E0102"), 3, 14, "unknown function `sigmod`", "did you mean `sigmoid`?")


def test_too_few_arguments(nnc_check):
    r = nnc_check(model("output y = x -> dense()"))
    assert r.status == 1
    at(r.only_error("E0104"), 3, 19, "missing its argument `units`", "usage")


def test_too_many_arguments(nnc_check):
    r = nnc_check(model('output y = x -> dense(4, true, "normal", 0.1, 5)'))
    assert r.status == 1
    at(r.only_error("E0104"), 3, 49, "takes 4 arguments", "found 5")  # at the fifth argument


def test_too_many_arguments_to_a_block(nnc_check):
    r = nnc_check("block b(x, k: int) {\n  return x -> dense(k)\n}\n" + model("output y = b(x, 4, 5)"))
    assert r.status == 1
    at(r.only_error("E0104"), 6, 22, "block `b` takes 2 arguments, found 3")


def test_a_misspelt_keyword_gets_did_you_mean(nnc_check):
    r = nnc_check("model m {\n  input x: f32[N, 1, 8, 8]\n  output y = x -> conv2d(4, 3, strides=2)\n}\n")
    assert r.status == 1
    at(r.only_error("E0103"), 3, 32, "no argument `strides`", "did you mean `stride`?")


def test_a_keyword_given_twice(nnc_check):
    r = nnc_check(model("output y = x -> dense(4, units=5)"))
    assert r.status == 1
    at(r.only_error("E0104"), 3, 28, "got `units` twice")


def test_duplicate_input_names(nnc_check):
    r = nnc_check(model("input x: f32[N, 8]", "output y = x -> relu"))
    assert r.status == 1
    d = r.only_error("E0106")
    at(d, 3, 9, "duplicate input `x`")
    assert d["labels"][0]["line"] == 2  # "first declared here"


def test_a_model_without_an_output(nnc_check):
    r = nnc_check(model("h = x -> relu"))
    assert r.status == 1
    at(r.only_error("E0107"), 1, 7, "model `m` has no output")


def test_minimize_over_something_that_is_not_a_model_or_layer(nnc_check):
    r = nnc_check(model("output y = x -> dense(2)") + (
        "train t {\n"
        "  input x: f32[N, 4]\n"
        "  input label: i32[N]\n"
        "  loss = cross_entropy(m(x), label)\n"
        "  minimize loss over x with sgd(lr=0.1)\n"
        "}\n"))
    assert r.status == 1
    at(r.only_error("E0108"), 9, 22, "over models and layers", "`x` is a tensor")


def test_minimize_over_a_constant(nnc_check):
    r = nnc_check("const LR = 0.1\n" + model("output y = x -> dense(2)") + (
        "train t {\n"
        "  input x: f32[N, 4]\n"
        "  input label: i32[N]\n"
        "  loss = cross_entropy(m(x), label)\n"
        "  minimize loss over LR with sgd(lr=LR)\n"
        "}\n"))
    assert r.status == 1
    at(r.only_error("E0108"), 10, 22, "`LR` is the float")


def test_a_name_used_before_it_is_bound(nnc_check):
    r = nnc_check(model("a = b -> relu", "b = x -> relu", "output y = a + b"))
    assert r.status == 1
    at(r.only_error("E0101"), 3, 7, "unbound name `b`")


def test_a_block_parameter_declared_twice(nnc_check):
    r = nnc_check("block b(x, x) {\n  return x\n}\n" + model("output y = b(x, x)"))
    assert r.status == 1
    d = r.only_error("E0106")
    at(d, 1, 12, "declares the parameter `x` twice")
    assert (d["labels"][0]["line"], d["labels"][0]["column"]) == (1, 9)


def test_ten_thousand_unbound_names_are_reported_quickly(tmp_path):
    """Each "did you mean" reads every name in scope: only the first searches are made, so 10,000
    errors in a 10,000-line model cost seconds, not the minutes a search for each took."""
    file = tmp_path / "many.nn"
    file.write_text(model(*[f"h{i} = y{i} -> relu" for i in range(10_000)], "output out = x"))
    for fmt in ("json", "text"):
        done, seconds = nnc_process("check", str(file), "--format", fmt, timeout=120)
        assert done.returncode == 1
        assert seconds < 10, f"10,000 unbound names took {seconds:.1f} CPU seconds ({fmt})"
    assert "10000 errors found" in done.stdout


# ---- imports -------------------------------------------------------------------------------------------

def test_a_missing_import(nnc_check):
    r = nnc_check('import "layers/missing.nn"\n' + model("output y = x -> unit"))
    assert r.status == 1
    d = r.only_error("E0109")  # and no "unknown function `unit`" after it
    at(d, 1, 8, 'cannot import "layers/missing.nn"')


def test_importing_a_directory(nnc_check, tmp_path):
    (tmp_path / "lib.nn").mkdir()
    r = nnc_check('import "lib.nn"\n' + model("output y = x -> relu"))
    assert r.status == 1
    at(r.only_error("E0109"), 1, 8, 'cannot import "lib.nn"')


def test_an_import_cycle(nnc_check, tmp_path):
    (tmp_path / "b.nn").write_text('import "a.nn"\nblock fb(x) {\n  return x -> relu\n}\n')
    r = nnc_check('import "b.nn"\nblock fa(x) {\n  return x -> tanh\n}\n', "a.nn")
    assert r.status == 1
    d = r.only_error("E0110")
    assert d["file"].endswith("b.nn")
    at(d, 1, 8, "import cycle", "a.nn -> b.nn -> a.nn")


def test_a_file_that_imports_itself(nnc_check):
    r = nnc_check('import "self.nn"\n' + model("output y = x -> relu"), "self.nn")
    assert r.status == 1
    at(r.only_error("E0110"), 1, 8, "import cycle")


def test_a_syntax_error_in_an_imported_file_is_reported_there_once(nnc_check, tmp_path):
    (tmp_path / "lib.nn").write_text("block unit(x) {\n  return x ->\n}\n")
    r = nnc_check('import "lib.nn"\n' + model("output y = x -> unit"))
    assert r.status == 1
    d = r.only_error("E0001")
    assert d["file"].endswith("lib.nn")
    at(d, 3, 1, "expected a name")


def test_an_import_that_works(nnc_check, tmp_path):
    (tmp_path / "lib.nn").write_text("block unit(x) {\n  return x -> relu\n}\n")
    r = nnc_check('import "lib.nn"\n' + model("output y = x -> unit"))
    assert r.status == 0, r.diagnostics


# ---- many errors, no cascades --------------------------------------------------------------------------

def test_two_independent_errors_are_both_reported(nnc_check):
    r = nnc_check(model("a = x -> relux", "b = x -> dense(0)", "output y = x"))
    assert r.status == 1
    assert [(d["code"], d["line"], d["column"]) for d in r.errors] == [("E0102", 3, 12), ("E0207", 4, 18)]


def test_errors_in_two_models_are_both_reported(nnc_check):
    r = nnc_check(model("output y = x -> dense(0)") + model("output y = x -> relux").replace("model m", "model n"))
    assert r.status == 1
    assert [(d["code"], d["line"]) for d in r.errors] == [("E0207", 3), ("E0102", 7)]


def test_syntax_errors_in_two_items_are_both_reported(nnc_check):
    program = model("output y = x ->") + model("output y = x -> relu )").replace("model m", "model n") + \
        model("output y = x -> relu").replace("model m", "model o")
    r = nnc_check(program)
    assert r.status == 1
    assert [(d["code"], d["line"], d["column"]) for d in r.errors] == [("E0001", 4, 1), ("E0001", 7, 24)]


def test_a_missing_closing_brace_is_one_error_not_two(nnc_check):
    program = "model m {\n  input x: f32[N, 4]\n  output y = x -> relu\n\n" + model("output y = x -> relu").replace(
        "model m", "model n")
    r = nnc_check(program)
    assert r.status == 1
    d = r.only_error("E0001")
    at(d, 5, 1, "found the keyword `model`", "`}` missing")


def test_an_unbound_name_used_three_times_is_one_error(nnc_check):
    r = nnc_check(model("a = hidden -> relu", "b = hidden -> tanh", "c = hidden + a + b", "output y = c"))
    assert r.status == 1
    at(r.only_error("E0101"), 3, 7, "unbound name `hidden`")


def test_an_unknown_function_does_not_cascade(nnc_check):
    r = nnc_check(model("h = x -> dense(4) -> relux", "z = h -> dense(2) -> softmax", "output y = z + h"))
    assert r.status == 1
    at(r.only_error("E0102"), 3, 24, "unknown function `relux`")


def test_a_failed_minimize_line_does_not_also_say_there_is_nothing_to_minimize(nnc_check):
    r = nnc_check(model("output y = x -> dense(2)") + (
        "train t {\n  input x: f32[N, 4]\n  input label: i32[N]\n"
        "  loss = cross_entropy(m(x), label)\n  minimize loss over x with sgd(lr=0.1)\n}\n"))
    assert [d["code"] for d in r.errors] == ["E0108"]


def test_the_json_always_has_a_place_for_every_error(nnc_check):
    r = nnc_check(model("a = hidden", "b = x -> dense(0.5) -> relux", "c = a @ b", "output y = c"))
    assert r.status == 1
    for d in r.diagnostics:
        assert d["file"] and d["line"] >= 1 and d["column"] >= 1
        assert (d["end_line"], d["end_column"]) >= (d["line"], d["column"])


# ---- the library, not just the command line ------------------------------------------------------------

def test_check_file_survives_deep_input_on_a_small_stack():
    """check_file gives itself a large stack, whatever thread calls it."""
    import threading

    from nnc.compiler import check_file
    results = []

    def work():
        results.append(check_file(Path("t.nn"), text="const K = " + "1 if false else " * 5000 + "2\n"
                                  + model("output y = x -> dense(K)")))

    old = threading.stack_size()
    threading.stack_size(512 * 1024)
    try:
        t = threading.Thread(target=work)
        t.start()
        t.join()
    finally:
        threading.stack_size(old)
    (r,) = results
    assert not [d for d in r.diagnostics if d.is_error]


def test_long_lines_are_cut_in_the_text_rendering(tmp_path, capsys):
    file = tmp_path / "long.nn"
    file.write_text(model("output y = x" + " -> relu" * 5000 + " -> relux"))
    assert cli.main(["check", str(file)]) == 1
    out = capsys.readouterr().out
    assert "unknown function `relux`" in out
    assert max(len(line) for line in out.splitlines()) < 400
    (shown,) = [line for line in out.splitlines() if line.startswith("3 | ")]
    assert shown.startswith("3 | ...") and shown.endswith("-> relu -> relux")
