"""Windowed layers as PyTorch and ONNX define them (issue 13, items 1 and 2).

The window rule's explicit ways out (`remainder="drop"`, `ceil_mode=true`),
pooling's dilation, ceil_mode, count_include_pad, per-side padding and
padding above half the kernel: diagnostics by line, column and hint, numbers
against hand-computed PyTorch values and against onnxruntime running the
same ONNX node, gradients against central finite differences in float64.
"""
from __future__ import annotations

import numpy as np
import pytest

from gradcheck import gradcheck
from helpers import check, errors, model_src, output_shape
from nnc.interp import Context, run_graph
from nnc.passes.training import expand_grads

R = np.random.default_rng(13)


def run(inputs: str, expr: str, x: np.ndarray) -> np.ndarray:
    result = check(model_src(inputs, expr))
    assert not errors(result), [d.message for d in errors(result)]
    return run_graph(result.models["m"].graph, {"x": x}, {}, Context(), outputs=["y"])["y"]


def one_error(inputs: str, expr: str):
    errs = errors(check(model_src(inputs, expr)))
    assert len(errs) == 1, [e.message for e in errs]
    return errs[0]


# ---- item 1: the window rule and its explicit ways out ------------------------------------------------------

def test_the_hint_offers_ceil_mode_and_remainder_beside_padding_and_stride():
    d = one_error("input x: f32[N, 3, 7, 7]", "x -> maxpool(2)")
    assert (d.code, d.span.line, d.span.column) == ("E0301", 3, 19)
    assert d.hint.split("; ") == ["padding=1 gives (7 - 2 + 2)/2 + 1 = 4", "stride=1 gives 6",
                                  "ceil_mode=true gives 4 (a last, partial window)",
                                  'remainder="drop" gives 3 and never reads element 6, as PyTorch and ONNX do']


def test_a_convolution_is_offered_remainder_but_not_ceil_mode():
    d = one_error("input x: f32[N, 3, 7, 7]", "x -> conv2d(4, 3, stride=3)")
    assert d.code == "E0301" and "ceil_mode" not in d.hint
    assert d.hint.endswith('remainder="drop" gives 2 and never reads element 6, as PyTorch and ONNX do')


@pytest.mark.parametrize("inputs,expr,shape", [
    ("input x: f32[N, 3, 7, 7]", 'x -> maxpool(2, remainder="drop")', "[N, 3, 3, 3]"),
    ("input x: f32[N, 3, 7, 7]", "x -> maxpool(2, ceil_mode=true)", "[N, 3, 4, 4]"),
    ("input x: f32[N, 3, 7, 7]", 'x -> avgpool(2, remainder="drop")', "[N, 3, 3, 3]"),
    ("input x: f32[N, 3, 7, 7]", 'x -> conv2d(4, 3, stride=3, remainder="drop")', "[N, 4, 2, 2]"),
    ("input x: f32[N, 2, 11]", 'x -> conv1d(4, 4, stride=2, remainder="drop")', "[N, 4, 4]"),
    ("input x: f32[N, 3, 8, 8]", "x -> maxpool(2, ceil_mode=true)", "[N, 3, 4, 4]"),  # exact: no extra window
])
def test_drop_and_ceil_mode_accept_what_pytorch_accepts(inputs, expr, shape):
    result = check(model_src(inputs, expr))
    assert not errors(result), [d.message for d in errors(result)]
    assert output_shape(result) == shape


def test_drop_reads_what_pytorch_reads():
    x = R.normal(size=(2, 3, 7, 7))
    got = run("input x: f64[N, 3, 7, 7]", 'x -> maxpool(2, remainder="drop")', x)
    np.testing.assert_array_equal(got, x[:, :, :6, :6].reshape(2, 3, 3, 2, 3, 2).max(axis=(3, 5)))


def test_a_strided_convolution_that_drops_a_row_trains_end_to_end():
    gradcheck(model_src("input x: f64[N, 2, 6, 5]", 'x -> conv2d(2, 3, stride=2, remainder="drop")'),
              {"x": R.normal(size=(2, 2, 6, 5))})


def test_ceil_mode_with_a_symbolic_size_and_a_stride_is_located():
    d = one_error("input x: f32[N, 3, H, W]", "x -> maxpool(2, ceil_mode=true)")
    assert (d.code, d.span.column) == ("E0208", len("  output y = x -> maxpool(2, ") + 1)
    assert "known size" in d.message


def test_the_quick_fix_grammar_reads_the_new_settings():
    from nnc.lsp.fixes import _SETTING
    d = one_error("input x: f32[N, 3, 7, 7]", "x -> maxpool(2)")
    found = [(m.group(1), m.group(2)) for m in _SETTING.finditer(d.hint)]
    assert ("ceil_mode", "true") in found and ("remainder", '"drop"') in found


# ---- item 2: pooling as PyTorch and ONNX have it ------------------------------------------------------------

def test_ceil_mode_average_divides_by_what_pytorch_divides_by():
    """avg_pool1d(arange(6), 3, 2, padding=1, ceil_mode=True): windows start at -1, 1, 3, 5; the last one holds
    x[5], the counted padding after it, and a cell ceil_mode adds, which never counts."""
    x = np.arange(6.0).reshape(1, 1, 6)
    got = run("input x: f64[N, 1, 6]", "x -> avgpool(3, stride=2, padding=1, ceil_mode=true)", x)
    np.testing.assert_allclose(got[0, 0], [(0 + 1) / 3, (1 + 2 + 3) / 3, (3 + 4 + 5) / 3, 5 / 2])
    got = run("input x: f64[N, 1, 6]",
              "x -> avgpool(3, stride=2, padding=1, ceil_mode=true, count_include_pad=false)", x)
    np.testing.assert_allclose(got[0, 0], [(0 + 1) / 2, 2, 4, 5])


def test_padding_above_half_the_kernel_is_accepted_when_every_window_reads_input():
    x = R.normal(size=(1, 1, 5))
    got = run("input x: f64[N, 1, 5]", "x -> maxpool(3, stride=1, padding=2)", x)
    xp = np.concatenate([[-np.inf] * 2, x[0, 0], [-np.inf] * 2])
    np.testing.assert_array_equal(got[0, 0], [xp[i:i + 3].max() for i in range(7)])


def test_a_window_of_only_padding_is_located_at_the_padding():
    d = one_error("input x: f32[N, 3, 7, 7]", "x -> maxpool(3, stride=1, padding=[3, 1])")
    assert (d.code, d.span.line, d.span.column) == ("E0207", 3, len("  output y = x -> maxpool(3, stride=1, ") + 1)
    assert d.message == "maxpool's window 0 along the height reads only padding"
    assert d.label == "it covers -3..-1 of a height of 7 (padding 3+3)"
    assert d.hint == "padding up to 2 per side keeps a real element in every window of kernel 3"


def test_per_side_padding_is_the_onnx_pads():
    x = R.normal(size=(1, 1, 4, 4))
    got = run("input x: f64[N, 1, 4, 4]", "x -> maxpool(2, stride=2, padding=[[1, 1], [0, 0]])", x)
    xp = np.pad(x[0, 0], ((1, 1), (0, 0)), constant_values=-np.inf)
    np.testing.assert_array_equal(got[0, 0], xp.reshape(3, 2, 2, 2).max(axis=(1, 3)))


def test_per_side_padding_must_name_both_sides():
    d = one_error("input x: f32[N, 3, 8, 8]", "x -> avgpool(2, padding=[[1], [1, 1]])")
    assert d.code == "E0203" and "[before, after]" in d.message


ORT_CASES = [
    # (ONNX op, ONNX attributes, nnc call, input shape)
    ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1), "maxpool(2, ceil_mode=true)", (2, 3, 7, 5)),
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[1, 1], dilations=[2, 2]), "maxpool(3, stride=1, dilation=2)",
     (1, 2, 7, 8)),
    ("MaxPool", dict(kernel_shape=[3, 2], strides=[2, 1], dilations=[2, 3], pads=[1, 0, 2, 1], ceil_mode=1),
     "maxpool([3, 2], stride=[2, 1], dilation=[2, 3], padding=[[1, 2], [0, 1]], ceil_mode=true)", (1, 2, 8, 7)),
    ("MaxPool", dict(kernel_shape=[3], strides=[1], pads=[2, 2]), "maxpool(3, stride=1, padding=2)", (2, 2, 6)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0),
     "avgpool(3, stride=2, padding=1, count_include_pad=false)", (2, 2, 7, 7)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 0, 1, 2], count_include_pad=1),
     "avgpool(3, stride=2, padding=[[1, 1], [0, 2]])", (1, 2, 7, 7)),
    ("AveragePool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1, count_include_pad=0),
     "avgpool(2, ceil_mode=true, count_include_pad=false)", (1, 2, 5, 7)),
    ("AveragePool", dict(kernel_shape=[3], strides=[1], pads=[2, 2], count_include_pad=0),
     "avgpool(3, stride=1, padding=2, count_include_pad=false)", (2, 2, 5)),
    ("MaxPool", dict(kernel_shape=[2, 2, 2], strides=[2, 2, 2], ceil_mode=1), "maxpool(2, ceil_mode=true)",
     (1, 2, 3, 4, 5)),
]


@pytest.mark.parametrize("op,attrs,call,shape", ORT_CASES, ids=[c[2] for c in ORT_CASES])
def test_pooling_agrees_with_onnxruntime(op, attrs, call, shape):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * len(shape))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    x = R.normal(size=shape).astype(np.float32)  # onnxruntime's AveragePool has no double kernel
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    dims = ", ".join(str(d) for d in shape[1:])
    got = run(f"input x: f32[N, {dims}]", f"x -> {call}", x)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


GRAD_CASES = [
    ("input x: f64[N, 2, 7, 6]", "x -> maxpool(2, ceil_mode=true)", (2, 2, 7, 6)),
    ("input x: f64[N, 2, 7, 6]", "x -> maxpool(3, stride=2, dilation=2, padding=[[1, 2], [0, 1]])", (1, 2, 7, 6)),
    ("input x: f64[N, 2, 6]", "x -> avgpool(3, stride=2, padding=1, ceil_mode=true)", (2, 2, 6)),
    ("input x: f64[N, 2, 6, 5]", "x -> avgpool(3, stride=2, padding=1, count_include_pad=false)", (2, 2, 6, 5)),
    ("input x: f64[N, 2, 7, 7]", "x -> avgpool(3, stride=1, dilation=2, padding=2)", (1, 2, 7, 7)),
    ("input x: f64[N, 1, 5, 5]", "x -> maxpool(3, stride=1, padding=2)", (2, 1, 5, 5)),
    ("input x: f64[N, 2, 7]", 'x -> avgpool(2, remainder="drop")', (2, 2, 7)),
]


@pytest.mark.parametrize("inputs,expr,shape", GRAD_CASES, ids=[c[1] for c in GRAD_CASES])
def test_pooling_gradients_match_finite_differences(inputs, expr, shape):
    gradcheck(model_src(inputs, expr), {"x": R.normal(size=shape)}, rtol=1e-5, atol=1e-6)


def test_second_derivative_through_ceil_mode_and_dilated_pooling():
    """A gradient penalty differentiates the pooling gradient again: the general path is made of ops that
    have gradients themselves."""
    src = """model m {
  input x: f64[N, 1, 6, 6]
  h = x -> conv2d(2, 2, padding=1, bias=false) -> tanh
  a = h -> maxpool(2, stride=2, dilation=2, ceil_mode=true)
  b = h -> avgpool(3, stride=2, padding=1, count_include_pad=false)
  output y = grad(sum(a * a) + sum(b * b * b), x)
}
"""
    gradcheck(src, {"x": R.normal(size=(1, 1, 6, 6))}, transform=expand_grads, rtol=1e-4, atol=1e-6)


def test_the_documented_examples_have_the_documented_shapes():
    """docs/language.md's window examples: each line's comment starts with the shape the line infers."""
    import re
    from helpers import ROOT
    text = (ROOT / "docs" / "language.md").read_text()
    block = text[text.index("input x: f32[N, 3, 7, 7]\na = x -> maxpool(2)"):]
    block = block[:block.index("```")]
    lines = [l for l in block.splitlines()[2:] if l.strip()]
    assert len(lines) >= 5
    for line in lines:
        expr, comment = line.split("#", 1)
        name, value = expr.split("=", 1)
        want = re.match(r"\s*(\[[^\]]*\])", comment).group(1)
        result = check(model_src("input x: f32[N, 3, 7, 7]", value.strip()))
        assert not errors(result), (line, [d.message for d in errors(result)])
        assert output_shape(result) == want, line


def test_second_derivative_through_a_convolution_that_drops_a_row():
    """conv_backward's own gradient re-emits the forward convolution; the drop stays accepted there."""
    src = model_src("input x: f64[N, 1, 6, 5]",
                    'grad(sum(x -> conv2d(2, 3, stride=2, remainder="drop") -> tanh), x)')
    gradcheck(src, {"x": R.normal(size=(1, 1, 6, 5))}, transform=expand_grads, rtol=1e-5, atol=1e-7)
