"""Losses as PyTorch defines them (issue 13, item 3).

cross_entropy and nll with `weight=`, `ignore_index=`, `reduction="none"`
and the class axis at 1; huber, smooth_l1 and kl_div. Values are checked
against formulas written out here sample by sample (PyTorch's documented
definitions), gradients against central finite differences in float64,
diagnostics by code, column and hint.
"""
from __future__ import annotations

import numpy as np
import pytest

from gradcheck import gradcheck
from helpers import check, errors, model_src, output_shape
from nnc.interp import Context, run_graph
from nnc.passes.training import expand_grads

R = np.random.default_rng(31)


def run(inputs: str, expr: str, feeds: dict) -> np.ndarray:
    result = check(model_src(inputs, expr))
    assert not errors(result), [d.message for d in errors(result)]
    return run_graph(result.models["m"].graph, feeds, {}, Context(), outputs=["y"])["y"]


def log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def test_cross_entropy_over_pytorchs_class_axis_with_weights_and_ignored_padding():
    x = R.normal(size=(2, 4, 3))
    t = np.array([[1, 0, 3], [2, 2, 0]])
    w = [0.5, 1.0, 2.0, 3.0]
    lp = log_softmax(x, 1)
    per = np.array([[-lp[n, t[n, k], k] * w[t[n, k]] * (t[n, k] != 0) for k in range(3)] for n in range(2)])
    weights = np.array([[w[t[n, k]] * (t[n, k] != 0) for k in range(3)] for n in range(2)])
    inputs = "input x: f64[N, 4, T]; input t: i64[N, T]"
    common = "axis=1, weight=[0.5, 1, 2, 3], ignore_index=0"
    got = run(inputs, f"cross_entropy(x, t, {common})", {"x": x, "t": t})
    np.testing.assert_allclose(got, per.sum() / weights.sum(), rtol=1e-12)
    got = run(inputs, f'cross_entropy(x, t, {common}, reduction="none")', {"x": x, "t": t})
    assert got.shape == (2, 3)
    np.testing.assert_allclose(got, per, rtol=1e-12)
    got = run(inputs, f'cross_entropy(x, t, {common}, reduction="sum")', {"x": x, "t": t})
    np.testing.assert_allclose(got, per.sum(), rtol=1e-12)


def test_nll_ignores_a_label_outside_the_classes_and_averages_over_the_rest():
    x = R.normal(size=(4, 3))
    t = np.array([2, -100, 0, -100])
    got = run("input x: f64[N, 3]; input t: i64[N]", "nll(x, t, ignore_index=-100)", {"x": x, "t": t})
    np.testing.assert_allclose(got, -(x[0, 2] + x[2, 0]) / 2, rtol=1e-12)


def test_the_plain_case_is_unchanged_by_the_options_at_their_defaults():
    x, t = R.normal(size=(5, 3)), np.array([0, 2, 1, 1, 0])
    inputs = "input x: f64[N, 3]; input t: i64[N]"
    plain = run(inputs, "cross_entropy(x, t)", {"x": x, "t": t})
    spelled = run(inputs, "cross_entropy(x, t, weight=[1, 1, 1], axis=-1)", {"x": x, "t": t})
    np.testing.assert_allclose(spelled, plain, rtol=1e-12)
    np.testing.assert_allclose(plain, -log_softmax(x, 1)[np.arange(5), t].mean(), rtol=1e-12)


CLASS_GRADS = [
    ("cross_entropy", 'reduction="none"'), ("cross_entropy", "weight=[1, 2, 0.5, 3], ignore_index=1"),
    ("cross_entropy", 'axis=1, reduction="sum", ignore_index=3'), ("nll", "weight=[1, 2, 0.5, 3]"),
    ("nll", 'axis=1, reduction="none"'), ("nll", "ignore_index=0"),
]


@pytest.mark.parametrize("op,options", CLASS_GRADS, ids=[f"{o} {a}" for o, a in CLASS_GRADS])
def test_class_loss_gradients_match_finite_differences(op, options):
    if "axis=1" in options:
        inputs, x, t = "input x: f64[N, 4, T]; input t: i64[N, T]", R.normal(size=(2, 4, 3)), R.integers(0, 4, (2, 3))
    else:
        inputs, x, t = "input x: f64[N, T, 4]; input t: i64[N, T]", R.normal(size=(2, 3, 4)), R.integers(0, 4, (2, 3))
    t[0, 0] = 1 if "ignore_index=1" in options else t[0, 0]  # at least one ignored sample where there is one
    gradcheck(model_src(inputs, f"{op}(x, t, {options})"), {"x": x, "t": t})


def test_second_derivative_of_a_weighted_cross_entropy_over_the_class_axis():
    src = model_src("input x: f64[N, 3, T]; input t: i64[N, T]",
                    "grad(cross_entropy(x -> conv1d(3, 1) -> tanh, t, axis=1, weight=[1, 2, 3], ignore_index=2), x)")
    gradcheck(src, {"x": R.normal(size=(2, 3, 4)), "t": np.array([[0, 1, 2, 1], [2, 0, 0, 1]])},
              transform=expand_grads, rtol=1e-5, atol=1e-7)


def test_pytorchs_layout_without_axis_gets_the_axis_hint():
    src = model_src("input x: f32[N, 5, T]; input t: i64[N, T]", "cross_entropy(x, t)")
    (d,) = errors(check(src))
    assert (d.code, d.span.line, d.span.column) == ("E0203", 4, len("  output y = cross_entropy(x, ") + 1)
    assert d.hint.endswith("write axis=1")


@pytest.mark.parametrize("expr,at,words", [
    ("cross_entropy(x, t, weight=[1, 2])", "weight", "weight lists 2 classes"),
    ('nll(x, t, weight=["a", 1, 2])', "weight", "list of numbers"),
    ("cross_entropy(x, t, axis=2)", "axis", "out of range"),
    ('nll(x, t, reduction="avg")', "reduction", '"none"'),
])
def test_class_loss_option_errors_are_located(expr, at, words):
    (d,) = errors(check(model_src("input x: f32[N, 3]; input t: i64[N]", expr)))
    assert d.span.column == len("  output y = ") + expr.index(at) + 1, (d.code, d.message)
    assert words in d.message


def test_huber_and_smooth_l1_follow_pytorchs_formulas():
    a = np.array([[0.5, -2.0, 0.2, 3.0]])
    b = np.zeros((1, 4))
    inputs = "input a: f64[N, 4]; input b: f64[N, 4]"
    got = run(inputs, 'huber(a, b, reduction="none")', {"a": a, "b": b})
    np.testing.assert_allclose(got, [[0.125, 1.5, 0.02, 2.5]])
    got = run(inputs, 'huber(a, b, delta=2, reduction="sum")', {"a": a, "b": b})
    np.testing.assert_allclose(got, 0.125 + 2.0 + 0.02 + 2 * (3 - 1))
    got = run(inputs, 'smooth_l1(a, b, beta=0.5, reduction="none")', {"a": a, "b": b})
    np.testing.assert_allclose(got, [[0.25, 1.75, 0.04, 2.75]])
    got = run(inputs, "smooth_l1(a, b, beta=0)", {"a": a, "b": b})
    np.testing.assert_allclose(got, np.abs(a).mean())


def test_kl_div_follows_pytorchs_formula_and_counts_a_zero_target_as_zero():
    lq = log_softmax(R.normal(size=(3, 4)), 1)
    p = np.exp(log_softmax(R.normal(size=(3, 4)), 1))
    p[0, 2] = 0.0
    pointwise = np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0) - p * lq
    inputs = "input q: f64[N, 4]; input p: f64[N, 4]"
    np.testing.assert_allclose(run(inputs, "kl_div(q, p)", {"q": lq, "p": p}), pointwise.mean(), rtol=1e-12)
    np.testing.assert_allclose(run(inputs, 'kl_div(q, p, reduction="batchmean")', {"q": lq, "p": p}),
                               pointwise.sum() / 3, rtol=1e-12)
    logp = log_softmax(R.normal(size=(3, 4)), 1)
    np.testing.assert_allclose(run(inputs, 'kl_div(q, p, log_target=true, reduction="none")', {"q": lq, "p": logp}),
                               np.exp(logp) * (logp - lq), rtol=1e-12)


POINTWISE_GRADS = [
    ("huber(a, b, delta=0.7)", {}), ('huber(a, 0.2, reduction="none")', {}), ("smooth_l1(a, b, beta=0.4)", {}),
    ('smooth_l1(a, b, beta=0, reduction="sum")', {}), ('kl_div(a, b, reduction="batchmean")', {"b": "positive"}),
    ('kl_div(a, b, log_target=true, reduction="none")', {}),
]


@pytest.mark.parametrize("expr,kinds", POINTWISE_GRADS, ids=[c[0] for c in POINTWISE_GRADS])
def test_pointwise_loss_gradients_match_finite_differences(expr, kinds):
    a = R.normal(size=(3, 4)) * 2
    b = np.abs(R.normal(size=(3, 4))) + 0.1 if kinds.get("b") == "positive" else R.normal(size=(3, 4))
    gradcheck(model_src("input a: f64[N, 4]; input b: f64[N, 4]", expr), {"a": a, "b": b})


def test_pointwise_losses_keep_the_prediction_shape_without_reduction():
    result = check(model_src("input a: f32[N, T, 4]; input b: f32[N, T, 4]", 'huber(a, b, reduction="none")'))
    assert output_shape(result) == "[N, T, 4]"
