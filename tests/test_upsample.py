"""upsample as PyTorch's nn.Upsample / F.interpolate(scale_factor=..., align_corners=False) (issue 13, item 4):
values PyTorch prints, onnxruntime's Resize on the same input, gradients by finite differences."""
from __future__ import annotations

import numpy as np
import pytest

from gradcheck import gradcheck
from helpers import check, errors, model_src, output_shape
from nnc.interp import Context, run_graph
from nnc.passes.training import expand_grads

R = np.random.default_rng(61)


def run(inputs: str, expr: str, x: np.ndarray) -> np.ndarray:
    result = check(model_src(inputs, expr))
    assert not errors(result), [d.message for d in errors(result)]
    return run_graph(result.models["m"].graph, {"x": x}, {}, Context(), outputs=["y"])["y"]


def test_linear_upsampling_gives_what_pytorch_prints():
    # F.interpolate(torch.arange(4.).view(1, 1, 4), scale_factor=2, mode="linear")
    got = run("input x: f64[N, 1, 4]", 'x -> upsample(2, mode="linear")', np.arange(4.0).reshape(1, 1, 4))
    np.testing.assert_allclose(got[0, 0], [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0])
    got = run("input x: f64[N, 1, 2]", 'x -> upsample(3, mode="linear")', np.array([[[0.0, 3.0]]]))
    np.testing.assert_allclose(got[0, 0], [0, 0, 1, 2, 3, 3])


def test_nearest_repeats_each_element():
    x = R.normal(size=(2, 3, 2, 3))
    got = run("input x: f64[N, 3, 2, 3]", "x -> upsample([2, 3])", x)
    np.testing.assert_array_equal(got, x.repeat(2, axis=2).repeat(3, axis=3))


@pytest.mark.parametrize("mode,ort_attrs", [
    ("nearest", dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")),
    ("bilinear", dict(mode="linear", coordinate_transformation_mode="half_pixel")),
])
def test_upsample_agrees_with_onnxruntime_resize(mode, ort_attrs):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper
    scales = np.array([1, 1, 2, 3], dtype=np.float32)
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], **ort_attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (2, 3, 4, 5))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 4)],
                              [numpy_helper.from_array(scales, "scales")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    x = R.normal(size=(2, 3, 4, 5)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = run("input x: f32[N, 3, 4, 5]", f'x -> upsample([2, 3], mode="{mode}")', x)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("inputs,expr,shape", [
    ("input x: f64[N, 2, 3, 4]", "x -> upsample(2)", (2, 2, 3, 4)),
    ("input x: f64[N, 2, 3, 4]", 'x -> upsample([2, 3], mode="bilinear")', (2, 2, 3, 4)),
    ("input x: f64[N, 2, 5]", 'x -> upsample(4, mode="linear")', (1, 2, 5)),
    ("input x: f64[N, 1, 2, 3, 2]", 'x -> upsample([1, 3, 2], mode="trilinear")', (1, 1, 2, 3, 2)),
])
def test_upsample_gradients_match_finite_differences(inputs, expr, shape):
    gradcheck(model_src(inputs, expr), {"x": R.normal(size=shape)})


def test_upsample_second_derivative():
    src = model_src("input x: f64[N, 1, 3, 3]", 'grad(sum(x -> upsample(2, mode="bilinear") -> tanh), x)')
    gradcheck(src, {"x": R.normal(size=(1, 1, 3, 3))}, transform=expand_grads, rtol=1e-5, atol=1e-7)


def test_a_unet_decoder_step_checks():
    result = check(model_src("input x: f32[N, 16, 8, 8]; input skip: f32[N, 8, 16, 16]",
                             'concat(x -> upsample(2, mode="bilinear") -> conv2d(8, 3, padding=1), skip, axis=1)'))
    assert not errors(result) and output_shape(result) == "[N, 16, 16, 16]"


def test_bilinear_on_a_sequence_is_located_with_a_hint():
    (d,) = errors(check(model_src("input x: f32[N, 4, 10]", 'x -> upsample(2, mode="bilinear")')))
    assert d.code == "E0203" and d.hint == 'mode="linear" works for any'
    assert d.span.column == len("  output y = x -> upsample(2, ") + 1
