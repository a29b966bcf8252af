"""Activations and conv3d as PyTorch defines them (issue 13, item 4).

Values against PyTorch's documented formulas (math.erf for the exact gelu),
gradients against central finite differences in float64, second
derivatives through the expanded grad(...).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from gradcheck import gradcheck
from helpers import check, errors, model_src, output_shape
from nnc.interp import Context, run_graph
from nnc.passes.training import expand_grads

R = np.random.default_rng(41)
X = np.concatenate([np.linspace(-8, 8, 161), [-30.0, -0.0, 1e-9, 30.0]]).reshape(1, -1)


def run(expr: str, x: np.ndarray) -> np.ndarray:
    result = check(model_src(f"input x: f64[N, {x.shape[1]}]", expr))
    assert not errors(result), [d.message for d in errors(result)]
    return run_graph(result.models["m"].graph, {"x": x}, {}, Context(), outputs=["y"])["y"]


def test_erf_is_exact_to_the_last_bits():
    from nnc.ops.erf import erf_np
    want = np.vectorize(math.erf)(X)
    np.testing.assert_allclose(erf_np(X), want, rtol=0, atol=1e-15)


SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
FORMULAS = [
    ("x -> gelu", lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    ('x -> gelu(approximate="tanh")',
     lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    ("x -> silu", lambda x: x / (1 + np.exp(-x))),
    ("x -> softplus", lambda x: np.where(x > 20, x, np.log1p(np.exp(x)))),
    ("x -> softplus(beta=2, threshold=5)", lambda x: np.where(2 * x > 5, x, np.log1p(np.exp(2 * x)) / 2)),
    ("x -> selu", lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0)))),
    ("x -> hardtanh", lambda x: np.clip(x, -1, 1)),
    ("x -> hardtanh(min_val=-2, max_val=0.5)", lambda x: np.clip(x, -2, 0.5)),
    ("x -> relu6", lambda x: np.clip(x, 0, 6)),
]


@pytest.mark.parametrize("expr,formula", FORMULAS, ids=[c[0] for c in FORMULAS])
def test_activation_values_follow_pytorchs_formulas(expr, formula):
    np.testing.assert_allclose(run(expr, X), formula(X), rtol=1e-14, atol=1e-15)


GRADS = ["x -> gelu", 'x -> gelu(approximate="tanh")', "x -> silu", "x -> softplus(beta=1.5)", "x -> selu",
         "x -> hardtanh(min_val=-0.5, max_val=0.7)", "x * 4 -> relu6"]


@pytest.mark.parametrize("expr", GRADS)
def test_activation_gradients_match_finite_differences(expr):
    x = R.normal(size=(3, 5)) * 2
    gradcheck(model_src("input x: f64[N, 5]", expr), {"x": x})


@pytest.mark.parametrize("act", ["gelu", 'gelu(approximate="tanh")', "silu", "softplus", "selu"])
def test_smooth_activations_have_second_derivatives(act):
    src = model_src("input x: f64[N, 3]", f"grad(sum(x -> dense(3) -> {act} -> dense(2) -> {act}), x)")
    gradcheck(src, {"x": R.normal(size=(2, 3))}, transform=expand_grads, rtol=1e-5, atol=1e-7)


def test_hardtanh_bounds_in_the_wrong_order_are_located():
    (d,) = errors(check(model_src("input x: f32[N, 5]", "x -> hardtanh(min_val=2, max_val=1)")))
    assert d.code == "E0207" and "min_val below max_val" in d.message
    assert d.span.column == len("  output y = x -> hardtanh(min_val=2, ") + 1


def test_conv3d_shapes_parameters_and_gradients():
    result = check(model_src("input x: f32[N, 2, 8, 9, 10]", "x -> conv3d(4, 3, stride=[1, 2, 3], padding=1)"))
    assert not errors(result)
    assert output_shape(result) == "[N, 4, 8, 5, 4]"
    (w, b) = result.models["m"].graph.params
    assert w.value.type.shape == (4, 2, 3, 3, 3) and b.value.type.shape == (4,)
    gradcheck(model_src("input x: f64[N, 2, 4, 5, 3]", "x -> conv3d(2, 2, padding=[1, 0, 1], dilation=[1, 2, 1])"),
              {"x": R.normal(size=(1, 2, 4, 5, 3))})


def test_conv3d_agrees_with_onnxruntime():
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper, numpy_helper
    from nnc.init import initialize
    result = check(model_src("input x: f32[N, 2, 5, 6, 7]", "x -> conv3d(3, [3, 2, 3], stride=[2, 1, 2], padding=1, "
                                                               'groups=1, remainder="drop")'))
    graph = result.models["m"].graph
    params = initialize(graph.params, 3)
    w, b = (params[p.name] for p in graph.params)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 2, 3], strides=[2, 1, 2],
                            pads=[1, 1, 1, 1, 1, 1])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, (1, 2, 5, 6, 7))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None] * 5)],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    x = R.normal(size=(1, 2, 5, 6, 7)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = run_graph(graph, {"x": x}, params, Context(), outputs=["y"])["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_3d_pooling_gradients():
    gradcheck(model_src("input x: f64[N, 1, 5, 4, 5]", "x -> maxpool(2, ceil_mode=true) -> avgpool(2, padding=1)"),
              {"x": R.normal(size=(1, 1, 5, 4, 5))})


def test_depthwise_convolution_is_groups_equal_to_channels():
    """PyTorch's depthwise convolution: groups = channels, one [1, k, k] kernel per channel (× a multiplier)."""
    result = check(model_src("input x: f32[N, 8, 16, 16]", "x -> conv2d(16, 3, padding=1, groups=8)"))
    (w, _) = result.models["m"].graph.params
    assert w.value.type.shape == (16, 1, 3, 3)
    gradcheck(model_src("input x: f64[N, 3, 5, 5]", "x -> conv2d(3, 3, padding=1, groups=3)"),
              {"x": R.normal(size=(2, 3, 5, 5))})


def test_prelu_learns_one_slope_or_one_per_channel():
    from nnc.init import initialize
    result = check(model_src("input x: f64[N, 3, 4]", "x -> prelu(3)"))
    graph = result.models["m"].graph
    (p,) = graph.params
    assert p.value.type.shape == (3,)
    np.testing.assert_array_equal(initialize(graph.params, 0)[p.name], [0.25, 0.25, 0.25])
    x = R.normal(size=(2, 3, 4))
    a = np.array([0.1, -0.5, 2.0])
    got = run_graph(graph, {"x": x}, {p.name: a}, Context(), outputs=["y"])["y"]
    np.testing.assert_allclose(got, np.where(x > 0, x, a.reshape(1, 3, 1) * x))


@pytest.mark.parametrize("inputs,expr,shape", [
    ("input x: f64[N, 3, 4]", "x -> prelu", (2, 3, 4)), ("input x: f64[N, 3, 2, 2]", "x -> prelu(3, init=0.1)",
                                                           (2, 3, 2, 2)),
])
def test_prelu_gradients_for_input_and_slope(inputs, expr, shape):
    gradcheck(model_src(inputs, expr), {"x": R.normal(size=shape)})


def test_prelu_with_a_slope_per_channel_needs_that_many_channels():
    (d,) = errors(check(model_src("input x: f32[N, 3, 4]", "x -> prelu(4)")))
    assert (d.code, d.span.column) == ("E0203", len("  output y = x -> prelu(") + 1)
