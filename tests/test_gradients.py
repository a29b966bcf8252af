"""Every differentiable op's gradient against central finite differences in float64."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from gradcheck import gradcheck
from helpers import model_src

R = np.random.default_rng(7)


def away_from_zero(shape):
    x = R.normal(size=shape)
    return np.where(np.abs(x) < 0.1, 0.5, x)


X = "input x: f64[N, 5]"
CASES = [
    ("relu", X, "x -> relu", {"x": away_from_zero((3, 5))}),
    ("leaky_relu", X, "x -> leaky_relu(0.2)", {"x": away_from_zero((3, 5))}),
    ("elu", X, "x -> elu(0.7)", {"x": away_from_zero((3, 5))}),
    ("sigmoid", X, "x -> sigmoid", {"x": R.normal(size=(3, 5))}),
    ("tanh", X, "x -> tanh", {"x": R.normal(size=(3, 5))}),
    ("exp", X, "exp(x)", {"x": R.normal(size=(3, 5))}),
    ("log", X, "log(x)", {"x": R.uniform(0.5, 2, size=(3, 5))}),
    ("sqrt", X, "sqrt(x)", {"x": R.uniform(0.5, 2, size=(3, 5))}),
    ("abs", X, "abs(x)", {"x": away_from_zero((3, 5))}),
    ("neg", X, "-x", {"x": R.normal(size=(3, 5))}),
    ("softmax", X, "x -> softmax", {"x": R.normal(size=(3, 5))}),
    ("softmax axis 0", X, "x -> softmax(axis=0)", {"x": R.normal(size=(3, 5))}),
    ("log_softmax", X, "x -> log_softmax", {"x": R.normal(size=(3, 5))}),
    ("add broadcast", "input a: f64[N, 5]; input b: f64[5]", "a + b", {"a": R.normal(size=(3, 5)), "b": R.normal(size=5)}),
    ("sub broadcast", "input a: f64[N, 1]; input b: f64[1, 5]", "a - b",
     {"a": R.normal(size=(3, 1)), "b": R.normal(size=(1, 5))}),
    ("mul broadcast", "input a: f64[N, 5]; input b: f64[N, 1]", "a * b",
     {"a": R.normal(size=(3, 5)), "b": R.normal(size=(3, 1))}),
    ("div", "input a: f64[N, 5]; input b: f64[N, 5]", "a / b",
     {"a": R.normal(size=(3, 5)), "b": R.uniform(0.5, 2, size=(3, 5))}),
    ("scalar times", X, "0.5 * x + 2", {"x": R.normal(size=(3, 5))}),
    ("matmul", "input a: f64[N, 4]; input b: f64[4, 3]", "a @ b", {"a": R.normal(size=(2, 4)), "b": R.normal(size=(4, 3))}),
    ("matmul batched", "input a: f64[B, 2, 4]; input b: f64[4, 3]", "a @ b",
     {"a": R.normal(size=(2, 2, 4)), "b": R.normal(size=(4, 3))}),
    ("matmul vector", "input a: f64[N, 4]; input b: f64[4]", "a @ b", {"a": R.normal(size=(2, 4)), "b": R.normal(size=4)}),
    ("dense", X, "x -> dense(3)", {"x": R.normal(size=(2, 5))}),
    ("dense rank 3", "input x: f64[N, T, 5]", "x -> dense(2, bias=false)", {"x": R.normal(size=(2, 3, 5))}),
    ("sum", "input x: f64[N, 3, 4]", "x -> sum(axis=1)", {"x": R.normal(size=(2, 3, 4))}),
    ("mean keepdims", "input x: f64[N, 3, 4]", "x -> mean(axis=[1, 2], keepdims=true)", {"x": R.normal(size=(2, 3, 4))}),
    ("mean all", "input x: f64[N, 3]", "mean(x)", {"x": R.normal(size=(2, 3))}),
    ("max", "input x: f64[N, 3, 4]", "x -> max(axis=2)", {"x": R.normal(size=(2, 3, 4))}),
    ("flatten", "input x: f64[N, 2, 3]", "x -> flatten", {"x": R.normal(size=(2, 2, 3))}),
    ("reshape", "input x: f64[N, 6]", "x -> reshape([-1, 3, 2])", {"x": R.normal(size=(2, 6))}),
    ("transpose", "input x: f64[N, 2, 3]", "x -> transpose([2, 0, 1])", {"x": R.normal(size=(2, 2, 3))}),
    ("concat", "input a: f64[N, 2]; input b: f64[N, 3]", "concat(a, b, b)", {"a": R.normal(size=(2, 2)), "b": R.normal(size=(2, 3))}),
    ("slice", "input x: f64[N, 6]", "x -> slice(1, 5, step=2)", {"x": R.normal(size=(2, 6))}),
    ("last", "input x: f64[N, 4, 3]", "x -> last", {"x": R.normal(size=(2, 4, 3))}),
    ("maxout", "input x: f64[N, 6]", "x -> maxout(3)", {"x": R.normal(size=(2, 6))}),
    ("global_avgpool", "input x: f64[N, 2, 3, 3]", "x -> global_avgpool", {"x": R.normal(size=(2, 2, 3, 3))}),
    ("embedding", "input ids: i32[N, T]", "ids -> embedding(5, 3)", {"ids": np.array([[0, 2, 2], [4, 1, 0]])}),
    ("batchnorm inference", "input x: f64[N, 3, 2, 2]", "x -> batchnorm", {"x": R.normal(size=(2, 3, 2, 2))}),
    ("layernorm", "input x: f64[N, 2, 4]", "x -> layernorm", {"x": R.normal(size=(2, 2, 4))}),
    ("cross_entropy", "input z: f64[N, 4]; input t: i32[N]", "cross_entropy(z, t)",
     {"z": R.normal(size=(3, 4)), "t": np.array([0, 3, 1])}),
    ("cross_entropy sum", "input z: f64[N, T, 4]; input t: i32[N, T]", 'cross_entropy(z, t, reduction="sum")',
     {"z": R.normal(size=(2, 3, 4)), "t": np.array([[0, 3, 1], [2, 2, 0]])}),
    ("nll", "input z: f64[N, 4]; input t: i32[N]", "nll(z -> log_softmax, t)", {"z": R.normal(size=(3, 4)), "t": np.array([0, 3, 1])}),
    ("hinge", "input z: f64[N, 4]; input t: i32[N]", "hinge(z, t)", {"z": R.normal(size=(3, 4)), "t": np.array([0, 3, 1])}),
    ("contrastive", "input a: f64[N, 3]; input b: f64[N, 3]; input s: f64[N]", "contrastive(a, b, s, margin=2.5)",
     {"a": R.normal(size=(4, 3)), "b": R.normal(size=(4, 3)), "s": np.array([1.0, 0.0, 0.0, 1.0])}),
    ("triplet", "input a: f64[N, 3]; input p: f64[N, 3]; input q: f64[N, 3]", "triplet(a, p, q, margin=3.0)",
     {"a": R.normal(size=(4, 3)), "p": R.normal(size=(4, 3)), "q": R.normal(size=(4, 3))}),
    ("bce", "input z: f64[N, 3]; input t: f64[N, 3]", "bce(z, t)", {"z": R.normal(size=(2, 3)), "t": R.uniform(size=(2, 3))}),
    ("bce scalar target", "input z: f64[N, 1]", "bce(z, 1.0)", {"z": R.normal(size=(4, 1))}),
    ("mse", "input a: f64[N, 3]; input b: f64[N, 3]", "mse(a, b)", {"a": R.normal(size=(2, 3)), "b": R.normal(size=(2, 3))}),
    ("l1_loss", "input a: f64[N, 3]; input b: f64[N, 3]", 'l1_loss(a, b, reduction="sum")',
     {"a": R.normal(size=(2, 3)), "b": R.normal(size=(2, 3)) + 3}),
    ("sign", "input a: f64[N, 3]", "a * sign(a)", {"a": away_from_zero((2, 3))}),
    ("maximum", "input a: f64[N, 3]; input b: f64[3]", "maximum(a, b)", {"a": R.normal(size=(2, 3)), "b": R.normal(size=3)}),
    ("minimum scalar", X, "minimum(x, 0.3)", {"x": away_from_zero((3, 5))}),
    ("clip", X, "clip(x, -0.5, 0.5)", {"x": np.linspace(-1.2, 1.2, 15).reshape(3, 5)}),
    ("where", "input a: f64[N, 3]; input b: f64[N, 3]", "where(a > b, a * b, b)",
     {"a": R.normal(size=(2, 3)), "b": R.normal(size=(2, 3))}),
    ("pow", "input a: f64[N, 3]; input b: f64[N, 3]", "a ** b + a ** 3",
     {"a": R.uniform(0.5, 2, size=(2, 3)), "b": R.normal(size=(2, 3))}),
    ("pick", "input z: f64[N, 4]; input t: i32[N]", "pick(z -> softmax, t)", {"z": R.normal(size=(3, 4)), "t": np.array([0, 3, 1])}),
    ("gather", "input z: f64[5, 2]; input t: i32[N]", "gather(z, t)", {"z": R.normal(size=(5, 2)), "t": np.array([0, 4, 4])}),
]


@pytest.mark.parametrize("name,inputs,expr,feeds", CASES, ids=[c[0] for c in CASES])
def test_gradient_matches_finite_differences(name, inputs, expr, feeds):
    gradcheck(model_src(inputs, expr), {k: np.array(v) for k, v in feeds.items()})


def test_l2_penalty_gradient():
    src = "model m {\n  input x: f64[N, 3]\n  h = x -> dense(2)\n  output y = sum(h) + 0.1 * l2(m)\n}\n"
    gradcheck(src, {"x": R.normal(size=(2, 3))})


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 3), features=st.integers(1, 4), units=st.integers(1, 4), depth=st.integers(1, 3))
def test_random_mlps(batch, features, units, depth):
    layers = " -> ".join(["dense(%d) -> tanh" % units] * depth)
    src = f"model m {{\n  input x: f64[N, {features}]\n  output y = x -> {layers}\n}}\n"
    gradcheck(src, {"x": np.random.default_rng(batch * 7 + features).normal(size=(batch, features))})


def test_stop_gradient_blocks_the_gradient():
    """d/da [a · stop_gradient(a)] is a (the stopped factor is a constant), where finite differences see 2a."""
    from gradcheck import projected
    from helpers import check
    from nnc.interp import Context, run_graph
    from nnc.passes.autodiff import differentiate
    import dataclasses
    graph, loss = projected(check(model_src("input a: f64[N, 3]", "a * stop_gradient(a)")).models["m"].graph, "y")
    a_id = dict(graph.inputs)["a"]
    full, grads = differentiate(graph, loss, [a_id])
    full = dataclasses.replace(full, outputs=(("g", grads[a_id]),))
    a = R.normal(size=(2, 3))
    r = R.normal(size=(2, 3))
    np.testing.assert_allclose(run_graph(full, {"a": a, "__r": r}, {}, Context())["g"], a * r)


LAYER_CASES = [
    ("conv2d", "input x: f64[N, 2, 5, 5]", "x -> conv2d(3, 3, stride=2, padding=1)", (2, 2, 5, 5)),
    ("conv2d groups dilation", "input x: f64[N, 4, 6, 6]", "x -> conv2d(4, 2, dilation=2, groups=2, bias=false)",
     (1, 4, 6, 6)),
    ("conv1d same", "input x: f64[N, 2, 7]", 'x -> conv1d(3, 3, padding="same")', (2, 2, 7)),
    ("conv_transpose2d", "input x: f64[N, 2, 3, 3]", "x -> conv_transpose2d(2, 3, stride=2, padding=1)",
     (1, 2, 3, 3)),
    ("maxpool", "input x: f64[N, 2, 4, 4]", "x -> maxpool(2)", (2, 2, 4, 4)),
    ("avgpool padded", "input x: f64[N, 1, 5, 5]", "x -> avgpool(3, stride=2, padding=1)", (2, 1, 5, 5)),
    ("rnn", "input x: f64[N, T, 3]", "x -> rnn(4)", (2, 3, 3)),
    ("lstm final state", "input x: f64[N, T, 3]", "x -> lstm(3) -> last", (2, 4, 3)),
    ("gru", "input x: f64[N, T, 3]", "x -> gru(2)", (2, 3, 3)),
    ("attention", "input x: f64[N, T, 4]", "x -> attention(x, x, heads=2)", (2, 3, 4)),
    ("attention causal", "input x: f64[N, T, 4]", "x -> attention(x, x, heads=2, causal=true)", (2, 3, 4)),
]


@pytest.mark.parametrize("name,inputs,expr,shape", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_gradients_match_finite_differences(name, inputs, expr, shape):
    gradcheck(model_src(inputs, expr), {"x": R.normal(size=shape)}, rtol=1e-5, atol=1e-6)


def test_lstm_with_initial_state_and_returned_states():
    src = """
model m {
  input x: f64[N, T, 3]
  input h0: f64[N, 2]
  input c0: f64[N, 2]
  y, h, c = x -> lstm(2, return_state=true, initial=[h0, c0])
  output out = h * c + sum(y, axis=1)
}
"""
    gradcheck(src, {"x": R.normal(size=(2, 3, 3)), "h0": R.normal(size=(2, 2)), "c0": R.normal(size=(2, 2))},
              output="out")


def test_batchnorm_in_training_mode():
    from nnc.passes.training import training_mode
    gradcheck(model_src("input x: f64[N, 3, 2, 2]", "x -> batchnorm"), {"x": R.normal(size=(4, 3, 2, 2))},
              transform=lambda g: training_mode(g)[0])


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_random_convolutions(data):
    groups = data.draw(st.sampled_from([1, 2]))
    channels = groups * data.draw(st.integers(1, 2))
    filters = groups * data.draw(st.integers(1, 2))
    kernel = data.draw(st.integers(1, 3))
    dilation = data.draw(st.integers(1, 2))
    stride = data.draw(st.integers(1, 2))
    padding = data.draw(st.integers(0, 1))
    extent = dilation * (kernel - 1) + 1
    size = data.draw(st.integers(max(extent - 2 * padding, 1), 6))
    expr = f"x -> conv2d({filters}, {kernel}, stride={stride}, padding={padding}, dilation={dilation}, groups={groups})"
    src = model_src(f"input x: f64[N, {channels}, {size}, {size}]", expr)
    from helpers import check, errors
    if errors(check(src)):  # the window rule may reject a drawn configuration; that is its job, not this test's
        return
    gradcheck(src, {"x": np.random.default_rng(size).normal(size=(1, channels, size, size))}, rtol=1e-5, atol=1e-6)


@settings(max_examples=15, deadline=None)
@given(kind=st.sampled_from(["rnn", "lstm", "gru"]), steps=st.integers(2, 5), units=st.integers(1, 3))
def test_random_recurrent_layers(kind, steps, units):
    gradcheck(model_src("input x: f64[N, T, 2]", f"x -> {kind}({units})"),
              {"x": np.random.default_rng(steps).normal(size=(2, steps, 2))}, rtol=1e-5, atol=1e-6)
