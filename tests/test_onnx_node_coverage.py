"""docs/onnx_node_tests.md is what tests/onnx_node_coverage.py prints: the pooling, Pad and Resize node tests it
counts as expressible ran on the numpy backend and matched ONNX's expected outputs."""
import pytest

from helpers import ROOT


def test_the_node_test_table_in_the_docs_is_current():
    pytest.importorskip("onnx")
    from onnx_node_coverage import table
    text = (ROOT / "docs" / "onnx_node_tests.md").read_text()
    got = table()
    assert got in text, got
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ") for line in got.splitlines()[2:]}
    assert rows["AveragePool"][1] == rows["AveragePool"][3] == "20"  # every AveragePool node test runs and matches
    assert int(rows["MaxPool"][3]) >= 16
