"""docs/onnx_node_tests.md is what tests/onnx_node_coverage.py prints: the ONNX node tests of the ops nnc can
express ran on the numpy backend (tests/onnx_node_programs.py, onnx_node_math.py and onnx_node_recurrent.py write
each one's .nn program) and matched ONNX's expected outputs; none failed."""
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
    # nothing differs; integer Div is true division in nnc (f32, as PyTorch), where ONNX truncates
    assert r["**all**"]["failed"] == "0"
    assert "integer division: nnc's `/` divides truly" in r["Div"]["not expressible, why"]
    assert r["AveragePool"]["node tests"] == r["AveragePool"]["passed (run)"] == "20"
    for op in ("Conv", "MatMul", "Softmax", "LayerNormalization", "Concat", "Transpose", "Flatten", "RNN",
               "SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss", "Selu", "PRelu", "Neg", "Abs", "Exp", "Log",
               "Sqrt", "Sign", "Sum", "Mean", "ReduceMean", "ArgMax", "ArgMin", "Gather", "HardSigmoid", "Where"):
        assert r[op]["passed (run)"] == r[op]["node tests"], op  # every node test of these runs and matches
    assert int(r["LSTM"]["passed (run)"]) >= 4 and int(r["ConvTranspose"]["passed (run)"]) >= 10
    assert int(r["**all**"]["passed (run)"]) >= 385
    for op in ("Add", "Mul", "Equal", "Greater", "Max", "Min", "Pow", "ReduceSum", "ReduceMax", "Clip", "OneHot",
               "Dropout"):  # the f32, f64, i32 and i64 cases run; the rest are other element types or options
        assert int(r[op]["passed (run)"]) >= 2, op


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


def test_the_math_programs_fail_when_written_naively():
    """ArgMax with select_last_index needs the reversal (the example has ties: the first maximum differs) and
    a negative Gather index needs the wrap (nnc's gather refuses it when the program runs); without them the
    runner reports the test failed."""
    pytest.importorskip("onnx")
    from onnx.backend.test.case.node import collect_testcases
    import onnx_node_math as math
    import onnx_node_programs as programs
    naive = {"test_argmax_no_keepdims_example_select_last_index":
             lambda src: src.replace("1 - argmax(reverse(x0, [1]), axis=1", "argmax(x0, axis=1"),
             "test_gather_negative_indices": lambda src: src.replace("where(x1 < 0, x1 + 10, x1)", "x1")}
    cases = {c.name: c for c in collect_testcases() if c.name in naive}
    original = math.math_plan
    for name, rewrite in naive.items():
        assert programs.run(cases[name]) == ("passed", ""), name

        def written(case, rewrite=rewrite):
            p = original(case)
            assert rewrite(p.src) != p.src
            p.src = rewrite(p.src)
            return p
        try:
            math.math_plan = written
            status, why = programs.run(cases[name])
        finally:
            math.math_plan = original
        assert status == "failed", (name, why)
