"""`nnc graph`: the dataflow graph as built and as decomposed, in text, DOT and SVG."""
import re
import shutil

import pytest

from helpers import ROOT
from nnc.cli import main

LENET = str(ROOT / "examples" / "lenet5.nn")


def test_text_lists_both_stages_with_ops_shapes_and_lines(capsys):
    assert main(["graph", LENET, "--model", "lenet5"]) == 0
    out = capsys.readouterr().out
    built, prims = out.split("# model lenet5: primitives")
    assert built.startswith("# model lenet5: built")
    assert "conv2d(" in built and "f32[B, 6, 28, 28]" in built and "lenet5.nn:5" in built
    assert "conv2d(" not in prims and "conv(" in prims and "reduce_window(" in prims
    from nnc.ir.primitives import PRIMITIVES
    ops = set(re.findall(r"= (\w+)\(", prims))
    assert ops <= PRIMITIVES, ops - PRIMITIVES


def test_a_training_step_and_one_stage(capsys):
    assert main(["graph", str(ROOT / "examples" / "gan.nn"), "--train", "gan", "--stage", "built"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# train gan (one step): built") and "primitives" not in out
    assert "adam_update(" in out or "sgd_update(" in out


def test_dot_has_one_labelled_box_per_node(tmp_path, capsys):
    path = tmp_path / "g.dot"
    assert main(["graph", LENET, "--model", "lenet5", "--stage", "built", "-o", str(path)]) == 0
    assert "wrote" in capsys.readouterr().out
    dot = path.read_text()
    boxes = re.findall(r'n\d+ \[shape=box, style="rounded", label="([^"]*)"', dot)
    assert len(boxes) == 12
    assert boxes[0].split("\\n") == ["conv2d", "f32[B, 6, 28, 28]", "weight, bias", "line 5"]
    assert dot.count("->") >= 12


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_through_graphviz(tmp_path, capsys):
    path = tmp_path / "g.svg"
    assert main(["graph", LENET, "--model", "lenet5", "-o", str(path)]) == 0
    svg = path.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "maxpool" in svg and "reduce_window" in svg


def test_without_graphviz_svg_is_refused_and_nothing_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    path = tmp_path / "g.svg"
    path.write_text("keep me")
    assert main(["graph", LENET, "--model", "lenet5", "-o", str(path)]) == 2
    assert "needs Graphviz's `dot`" in capsys.readouterr().err
    assert path.read_text() == "keep me"


def test_bad_names_are_usage_errors(capsys):
    assert main(["graph", LENET, "--model", "nope"]) == 2
    assert "no model `nope`" in capsys.readouterr().err
