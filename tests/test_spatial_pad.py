"""spatial_pad: constant, reflect and replicate borders (PyTorch's F.pad, ONNX's Pad) — issue 13, item 4.
Values against numpy's pad and onnxruntime, gradients by finite differences, errors located."""
from __future__ import annotations

import numpy as np
import pytest

from gradcheck import gradcheck
from helpers import check, errors, model_src, output_shape
from nnc.interp import Context, run_graph

R = np.random.default_rng(71)


def run(inputs: str, expr: str, x: np.ndarray) -> np.ndarray:
    result = check(model_src(inputs, expr))
    assert not errors(result), [d.message for d in errors(result)]
    return run_graph(result.models["m"].graph, {"x": x}, {}, Context(), outputs=["y"])["y"]


def test_reflect_does_not_repeat_the_edge_and_replicate_does():
    x = np.arange(4.0).reshape(1, 1, 4)
    np.testing.assert_array_equal(run("input x: f64[N, 1, 4]", 'x -> spatial_pad([[2, 1]], mode="reflect")', x)[0, 0],
                                  [2, 1, 0, 1, 2, 3, 2])
    np.testing.assert_array_equal(run("input x: f64[N, 1, 4]", 'x -> spatial_pad([[2, 1]], mode="replicate")', x)[0, 0],
                                  [0, 0, 0, 1, 2, 3, 3])
    np.testing.assert_array_equal(run("input x: f64[N, 1, 4]", "x -> spatial_pad(1, value=-1)", x)[0, 0],
                                  [-1, 0, 1, 2, 3, -1])


@pytest.mark.parametrize("mode,onnx_mode", [("constant", "constant"), ("reflect", "reflect"), ("replicate", "edge")])
def test_spatial_pad_agrees_with_onnxruntime(mode, onnx_mode):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper
    pads = np.array([0, 0, 1, 2, 0, 0, 2, 0], dtype=np.int64)  # [N, C, H, W] begins, then ends
    node = helper.make_node("Pad", ["x", "pads"], ["y"], mode=onnx_mode)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (2, 3, 4, 5))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)],
                              [numpy_helper.from_array(pads, "pads")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    x = R.normal(size=(2, 3, 4, 5)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = run("input x: f32[N, 3, 4, 5]", f'x -> spatial_pad([[1, 2], [2, 0]], mode="{mode}")', x)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("inputs,expr,shape", [
    ("input x: f64[N, 2, 4, 5]", 'x -> spatial_pad([[1, 2], [3, 0]], mode="reflect")', (2, 2, 4, 5)),
    ("input x: f64[N, 2, 4, 5]", 'x -> spatial_pad([2, 1], mode="replicate")', (2, 2, 4, 5)),
    ("input x: f64[N, 2, T]", "x -> spatial_pad([[1, 2]], value=1.5)", (2, 2, 4)),
    ("input x: f64[N, 1, 3, 2, 3]", 'x -> spatial_pad(1, mode="reflect")', (1, 1, 3, 2, 3)),
])
def test_spatial_pad_gradients_match_finite_differences(inputs, expr, shape):
    gradcheck(model_src(inputs, expr), {"x": R.normal(size=shape)})


def test_reflecting_more_than_the_axis_holds_is_located():
    (d,) = errors(check(model_src("input x: f32[N, 2, 4]", 'x -> spatial_pad(4, mode="reflect")')))
    assert (d.code, d.span.column) == ("E0207", len("  output y = x -> spatial_pad(") + 1)
    assert d.hint == "reflection does not repeat the edge; use replicate for more"


def test_constant_padding_keeps_symbolic_sizes():
    result = check(model_src("input x: f32[N, 2, T]", "x -> spatial_pad([[0, 3]])"))
    assert output_shape(result) == "[N, 2, T + 3]"
