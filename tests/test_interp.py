"""The numpy interpreter: forward passes against formulas written out here, seeded initialisation, the API."""
import numpy as np
import pytest

import nnc
from helpers import ROOT, check
from nnc.api import Program
from nnc.interp import RunError


def program(src: str) -> Program:
    return Program(check(src))


def test_mlp_forward_matches_the_formula():
    m = program("model m {\n  input x: f32[N, 5]\n  output y = x -> dense(7) -> relu -> dense(3)\n}\n").model("m")
    x = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    p = m.params
    w1, b1 = p["m/y.dense/weight"], p["m/y.dense/bias"]
    w2, b2 = p["m/y.dense_1/weight"], p["m/y.dense_1/bias"]
    expected = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    np.testing.assert_allclose(m(x=x), expected, rtol=1e-6)
    assert m(x=x).dtype == np.float32


def test_initialisation_is_seeded_per_parameter_name():
    src = "model m {\n  input x: f32[N, 6]\n  output y = x -> dense(4)\n}\n"
    a, b, c = (program(src).model("m", seed=s) for s in (0, 0, 1))
    w = a.params["m/y.dense/weight"]
    np.testing.assert_array_equal(w, b.params["m/y.dense/weight"])
    assert not np.array_equal(w, c.params["m/y.dense/weight"])
    bound = np.sqrt(6 / (6 + 4))  # Xavier-uniform
    assert w.shape == (4, 6) and np.abs(w).max() <= bound and np.abs(w).max() > bound / 2
    assert not a.params["m/y.dense/bias"].any()
    # adding an unrelated layer elsewhere leaves this parameter's initial value unchanged
    src2 = "model m {\n  input x: f32[N, 6]\n  z = x -> dense(9)\n  output y = x -> dense(4)\n}\n"
    other = program(src2.replace("  z =", "  _z =")).model("m", seed=0)
    np.testing.assert_array_equal(other.params["m/y.dense/weight"], w)


def test_batchnorm_uses_running_statistics_in_inference():
    m = program("model m {\n  input x: f32[N, 3, 2, 2]\n  output y = x -> batchnorm(eps=0.001)\n}\n").model("m")
    assert set(m.state) == {"m/y.batchnorm/running_mean", "m/y.batchnorm/running_var"}
    m.state["m/y.batchnorm/running_mean"] = np.array([1.0, 2.0, 3.0])
    m.state["m/y.batchnorm/running_var"] = np.array([4.0, 1.0, 0.25])
    m.params["m/y.batchnorm/weight"] = np.array([1.0, 2.0, 3.0])
    x = np.ones((2, 3, 2, 2), np.float32)
    y = m(x=x)
    expected = (1 - np.array([1, 2, 3.0])) / np.sqrt(np.array([4, 1, 0.25]) + 0.001) * np.array([1, 2, 3.0])
    np.testing.assert_allclose(y[0, :, 0, 0], expected, rtol=1e-5)


def test_dropout_is_the_identity_in_inference_and_random_with_mc_dropout():
    m = program("model m {\n  input x: f32[N, 100]\n  h = x -> dropout(0.5)\n  output y = h -> relu\n}\n").model("m")
    x = np.ones((2, 100), np.float32)
    np.testing.assert_array_equal(m(x=x), x)
    y = m(x=x, mc_dropout=True)
    assert set(np.unique(y)) == {0.0, 2.0}


def test_mc_dropout_calls_are_independent_samples_reproducible_from_the_seed():
    src = "model m {\n  input x: f32[N, 100]\n  output y = x -> dropout(0.5)\n}\n"
    a, b, c = (program(src).model("m", seed=s) for s in (7, 7, 8))
    x = np.ones((2, 100), np.float32)
    first, second = a(x=x, mc_dropout=True), a(x=x, mc_dropout=True)
    assert not np.array_equal(first, second)  # each call draws new masks
    np.testing.assert_array_equal(b(x=x, mc_dropout=True), first)  # the same seed: the same sequence
    np.testing.assert_array_equal(b(x=x, mc_dropout=True), second)
    assert not np.array_equal(c(x=x, mc_dropout=True), first)  # another seed: other masks
    assert abs(float(np.mean(first == 0)) - 0.5) < 0.1


def test_losses_against_their_formulas():
    src = """
model m {
  input z: f32[N, 3]
  input t: i32[N]
  input a: f32[N, 3]
  output ce = cross_entropy(z, t)
  output hi = hinge(z, t)
  output mse_sum = mse(z, a, reduction="sum")
  output b = bce(z, a)
  output acc = accuracy(z, t)
}
"""
    m = program(src).model("m")
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 3)).astype(np.float32)
    a = rng.uniform(size=(5, 3)).astype(np.float32)
    t = np.array([0, 2, 1, 1, 0], np.int32)
    out = m(z=z, t=t, a=a)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(out["ce"], -logp[np.arange(5), t].mean(), rtol=1e-5)
    margins = np.maximum(0, z - z[np.arange(5), t][:, None] + 1)
    margins[np.arange(5), t] = 0
    np.testing.assert_allclose(out["hi"], margins.sum(axis=1).mean(), rtol=1e-5)
    np.testing.assert_allclose(out["mse_sum"], ((z - a) ** 2).sum(), rtol=1e-5)
    s = 1 / (1 + np.exp(-z))
    np.testing.assert_allclose(out["b"], -(a * np.log(s) + (1 - a) * np.log(1 - s)).mean(), rtol=1e-5)
    np.testing.assert_allclose(out["acc"], (z.argmax(axis=1) == t).mean())


def test_contrastive_and_triplet_against_their_formulas():
    src = """
model m {
  input a: f32[N, 4]
  input b: f32[N, 4]
  input c: f32[N, 4]
  input same: f32[N]
  output con = contrastive(a, b, same, margin=2.0)
  output tri = triplet(a, b, c, margin=0.5)
}
"""
    rng = np.random.default_rng(2)
    a, b, c = (rng.normal(size=(6, 4)).astype(np.float32) for _ in range(3))
    same = np.array([1, 0, 1, 0, 0, 1], np.float32)
    out = program(src).model("m")(a=a, b=b, c=c, same=same)
    d = np.linalg.norm(a - b, axis=1)
    np.testing.assert_allclose(out["con"], np.mean(0.5 * (same * d**2 + (1 - same) * np.maximum(0, 2 - d) ** 2)),
                               rtol=1e-5)
    dn = np.linalg.norm(a - c, axis=1)
    np.testing.assert_allclose(out["tri"], np.mean(np.maximum(0, d - dn + 0.5)), rtol=1e-5)


def test_conformance_lenet5_runs_and_shapes_match(tmp_path):
    prog = nnc.load(ROOT / "examples" / "lenet5.nn")
    m = prog.model("lenet5", seed=0)
    y = m(image=np.zeros((3, 1, 28, 28), np.float32))
    assert y.shape == (3, 10)
    assert list(m.params) == ["lenet5/features.conv2d/weight", "lenet5/features.conv2d/bias",
                              "lenet5/features.conv2d_1/weight", "lenet5/features.conv2d_1/bias",
                              "lenet5/logits.dense/weight", "lenet5/logits.dense/bias",
                              "lenet5/logits.dense_1/weight", "lenet5/logits.dense_1/bias",
                              "lenet5/logits.dense_2/weight", "lenet5/logits.dense_2/bias"]


def test_bad_feeds_are_clear_errors():
    m = program("model m {\n  input x: f32[N, 5]\n  output y = x -> dense(2)\n}\n").model("m")
    with pytest.raises(RunError, match="missing input: x"):
        m()
    with pytest.raises(RunError, match=r"must be f32\[N, 5\], found shape \[2, 4\]"):
        m(x=np.zeros((2, 4)))
    with pytest.raises(RunError, match="must be f32, found an array of int64"):
        m(x=np.zeros((2, 5), np.int64))
    with pytest.raises(ValueError, match=r"must have shape \[2, 5\]"):
        m.params["m/y.dense/weight"] = np.zeros((5, 2))


def test_load_raises_compile_error_with_every_diagnostic(tmp_path):
    bad = tmp_path / "bad.nn"
    bad.write_text("model m {\n  input x: f32[N, 4]\n  a = x -> dense(0)\n  output y = relu(nope)\n}\n")
    with pytest.raises(nnc.CompileError) as info:
        nnc.load(bad)
    assert [d.code for d in info.value.diagnostics if d.is_error] == ["E0207", "E0101"]
    assert "bad.nn:3" in str(info.value)


def test_grad_inside_a_model_for_adversarial_inputs():
    src = """
model attack {
  input x: f32[N, 4]
  input y: i32[N]
  loss = cross_entropy(x -> dense(3), y)
  output x_adv = x + 0.5 * sign(grad(loss, x))
}
"""
    m = program(src).model("attack")
    x = np.random.default_rng(0).normal(size=(2, 4)).astype(np.float32)
    y = np.array([0, 2], np.int32)
    adv = m(x=x, y=y)
    w, b = m.params["attack/loss.dense/weight"], m.params["attack/loss.dense/bias"]
    z = x @ w.T + b
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(2), y] -= 1
    np.testing.assert_allclose(adv, x + 0.5 * np.sign(p @ w / 2), rtol=1e-6)
