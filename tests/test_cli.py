"""The command line as cli.md specifies it: output formats, exit statuses, explain."""
import json
import subprocess
import sys

from helpers import ROOT
from nnc.cli import main


def write(tmp_path, text, name="net.nn"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_check_json_shape_follows_the_contract(tmp_path, capsys):
    f = write(tmp_path, "model mlp {\n  input x: f32[N, 64]\n  y = x -> conv2d(16, 3, stride=3)\n"
                        "  output logits = x -> dense(10)\n}\n")
    assert main(["check", f, "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    (d,) = data["diagnostics"]
    assert set(d) >= {"severity", "code", "message", "file", "line", "column", "end_line", "end_column", "hint"}
    assert (d["severity"], d["code"], d["line"], d["column"], d["end_line"], d["end_column"]) == \
        ("error", "E0203", 3, 7, 3, 8)
    assert data["models"] == {"mlp": {"inputs": {"x": {"dtype": "f32", "shape": ["N", 64]}},
                                      "outputs": {"logits": {"dtype": "f32", "shape": ["N", 10]}}}}


def test_check_text_is_rustc_style(tmp_path, capsys):
    f = write(tmp_path, "model m {\n  input x: f32[N, 1, 7, 7]\n  output y = x -> conv2d(16, 3, stride=3)\n}\n")
    assert main(["check", f]) == 1
    out = capsys.readouterr().out
    assert "error[E0301]: conv2d does not fit its input" in out
    assert "--> " in out and "net.nn:3:19" in out
    assert " 3 |   output y = x -> conv2d(16, 3, stride=3)" in out or "3 |   output y = x -> conv2d" in out
    assert "^^^^^^^^^^^^^^^^^^^^^^^" in out
    assert "= hint: padding=1 gives (7 - 3 + 2)/3 + 1 = 3; stride=2 gives 3" in out


def test_warnings_exit_zero_unless_w_error(tmp_path, capsys):
    f = write(tmp_path, "model m {\n  input x: f32[N, 4]\n  h = x -> relu\n  output y = x\n}\n")
    assert main(["check", f]) == 0
    assert "warning[W0001]" in capsys.readouterr().out
    assert main(["check", f, "-W", "error"]) == 1
    assert "error[W0001]" in capsys.readouterr().out


def test_missing_file_is_exit_2(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.nn")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_bad_flag_is_exit_2():
    p = subprocess.run([sys.executable, "-m", "nnc", "check", "--frobnicate", "x.nn"], capture_output=True, text=True)
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_several_files_in_one_check(tmp_path, capsys):
    a = write(tmp_path, "model a {\n  input x: f32[N, 4]\n  output y = x\n}\n", "a.nn")
    b = write(tmp_path, "model b {\n  input x: f32[N, 4]\n  output y = relu(z)\n}\n", "b.nn")
    assert main(["check", a, b, "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert set(data["models"]) == {"a", "b"} and data["models"]["b"]["outputs"] == {}
    assert all(d["file"].endswith("b.nn") for d in data["diagnostics"])
    assert [d["code"] for d in data["diagnostics"] if d["severity"] == "error"] == ["E0101"]


def test_stats_text_table_has_totals(capsys):
    assert main(["stats", str(ROOT / "examples" / "digits_mlp.nn")]) == 0
    out = capsys.readouterr().out
    assert "h.dense" in out and "logits.dense" in out and "total" in out
    assert "9,610" in out and "9,472" in out


def test_stats_for_a_model_that_does_not_exist(capsys):
    assert main(["stats", str(ROOT / "examples" / "digits_mlp.nn"), "--model", "nope"]) == 2
    assert "no model `nope`" in capsys.readouterr().err


def test_stats_of_a_program_with_errors_prints_them(tmp_path, capsys):
    f = write(tmp_path, "model m {\n  input x: f32[N, 4]\n  output y = x -> dense(0)\n}\n")
    assert main(["stats", f]) == 1
    assert "E0207" in capsys.readouterr().err


def test_explain_prints_the_long_form(capsys):
    assert main(["explain", "E0301"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("E0301: window does not fit") and "Example:" in out
    assert main(["explain", "E9999"]) == 2
