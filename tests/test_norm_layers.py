"""groupnorm and instancenorm as PyTorch defines them (issue 13, item 4): values against the formula written
out per group, parameters laid out as PyTorch's, gradients and second derivatives by finite differences."""
from __future__ import annotations

import numpy as np
import pytest

from gradcheck import gradcheck
from helpers import check, errors, model_src, output_shape
from nnc.interp import Context, run_graph
from nnc.passes.training import expand_grads

R = np.random.default_rng(51)


def test_groupnorm_normalises_each_group_of_each_sample():
    x = R.normal(size=(2, 6, 3, 2)) * 3 + 1
    result = check(model_src("input x: f64[N, 6, 3, 2]", "x -> groupnorm(3, eps=0.01)"))
    graph = result.models["m"].graph
    w, b = R.normal(size=6), R.normal(size=6)
    (pw, pb) = graph.params
    assert (pw.value.type.shape, pb.value.type.shape, pw.init, pb.init) == ((6,), (6,), "ones", "zeros")
    got = run_graph(graph, {"x": x}, {pw.name: w, pb.name: b}, Context(), outputs=["y"])["y"]
    want = np.empty_like(x)
    for n in range(2):
        for g in range(3):
            block = x[n, 2 * g:2 * g + 2]
            want[n, 2 * g:2 * g + 2] = (block - block.mean()) / np.sqrt(block.var() + 0.01)
    want = want * w.reshape(1, 6, 1, 1) + b.reshape(1, 6, 1, 1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_instancenorm_has_no_parameters_by_default_and_keeps_symbolic_lengths():
    result = check(model_src("input x: f64[N, 4, T]", "x -> instancenorm"))
    assert not errors(result) and output_shape(result) == "[N, 4, T]"
    graph = result.models["m"].graph
    assert graph.params == () or list(graph.params) == []
    x = R.normal(size=(3, 4, 7))
    got = run_graph(graph, {"x": x}, {}, Context(), outputs=["y"])["y"]
    want = (x - x.mean(axis=2, keepdims=True)) / np.sqrt(x.var(axis=2, keepdims=True) + 1e-5)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("inputs,expr,shape", [
    ("input x: f64[N, 6, 4, 3]", "x -> groupnorm(3)", (2, 6, 4, 3)),
    ("input x: f64[N, 6, 5]", "x -> groupnorm(2, affine=false)", (2, 6, 5)),
    ("input x: f64[N, 4, T]", "x -> instancenorm(affine=true)", (2, 4, 5)),
    ("input x: f64[N, 3, 2, 3, 2]", "x -> instancenorm", (2, 3, 2, 3, 2)),
])
def test_norm_gradients_match_finite_differences(inputs, expr, shape):
    gradcheck(model_src(inputs, expr), {"x": R.normal(size=shape)})


def test_groupnorm_second_derivative():
    src = model_src("input x: f64[N, 4, 3]", "grad(sum(x -> groupnorm(2) -> tanh -> instancenorm -> tanh), x)")
    gradcheck(src, {"x": R.normal(size=(2, 4, 3))}, transform=expand_grads, rtol=1e-5, atol=1e-7)


def test_groups_that_do_not_divide_the_channels_are_located():
    (d,) = errors(check(model_src("input x: f32[N, 6, 8, 8]", "x -> groupnorm(4)")))
    assert (d.code, d.span.column) == ("E0303", len("  output y = x -> groupnorm(") + 1)
