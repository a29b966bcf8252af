"""docs/onnx_node_tests.md is what tests/onnx_node_coverage.py prints: the ONNX node tests of the ops nnc can
express ran on the numpy backend (tests/onnx_node_programs.py writes each one's .nn program) and matched ONNX's
expected outputs; none failed."""
import pytest

from helpers import ROOT


def rows(got: str) -> dict[str, list[str]]:
    header = [c.strip() for c in got.splitlines()[0].strip("| ").split(" | ")]
    return {line.split(" | ")[0].strip("| "): dict(zip(header, (c.strip(" |") for c in line.split(" | "))))
            for line in got.splitlines()[2:]}


def test_the_node_test_table_in_the_docs_is_current():
    pytest.importorskip("onnx")
    from onnx_node_coverage import table
    text = (ROOT / "docs" / "onnx_node_tests.md").read_text()
    got = table()
    assert got in text, got
    r = rows(got)
    assert r["**all**"]["failed"] == "0"
    assert r["AveragePool"]["node tests"] == r["AveragePool"]["passed (run)"] == "20"
    for op in ("Conv", "MatMul", "Softmax", "LayerNormalization", "Concat", "Transpose", "Flatten", "RNN",
               "SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss", "Selu", "PRelu"):
        assert r[op]["passed (run)"] == r[op]["node tests"], op  # every node test of these runs and matches
    assert int(r["LSTM"]["passed (run)"]) >= 4 and int(r["ConvTranspose"]["passed (run)"]) >= 10
    assert int(r["**all**"]["passed (run)"]) >= 240


def test_a_node_test_with_a_wrong_translation_fails():
    """The runner reports a mismatch rather than passing everything: a Softmax node test compared after
    the program is changed to normalise another axis."""
    pytest.importorskip("onnx")
    from onnx.backend.test.case.node import collect_testcases
    import onnx_node_programs as programs
    case = next(c for c in collect_testcases() if c.name == "test_softmax_axis_0")
    assert programs.run(case) == ("passed", "")
    original = programs._one
    try:
        programs._one = lambda c, call, extra=None: original(c, call.replace("axis=0", "axis=1"), extra)
        status, why = programs.run(case)
    finally:
        programs._one = original
    assert status == "failed" and "different numbers" in why
