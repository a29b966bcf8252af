"""Gradient clipping by global norm (issue 11): `sgd(..., clip_norm=c)` scales one minimize line's
gradients together by min(1, c / (‖g‖ + 1e-6)), as torch.nn.utils.clip_grad_norm_ does."""
import tempfile

import numpy as np
import pytest

import nnc
from helpers import check, errors

SRC = """model m {
  input x: f32[N, 3]
  output y = x -> dense(4) -> tanh -> dense(2)
}
train t {
  input x: f32[N, 3]
  input y: f32[N, 2]
  loss = mse(m(x), y)
  minimize loss over m with OPT
}
"""


def step_delta(opt: str):
    f = tempfile.NamedTemporaryFile("w", suffix=".nn", delete=False)
    f.write(SRC.replace("OPT", opt))
    f.close()
    trainer = nnc.load(f.name).train("t", seed=0)
    before = {k: np.array(v, np.float64) for k, v in trainer.params.items()}
    rng = np.random.default_rng(0)
    trainer.step(x=rng.normal(size=(16, 3)).astype(np.float32), y=(5 * rng.normal(size=(16, 2))).astype(np.float32))
    return {k: np.array(v, np.float64) - before[k] for k, v in trainer.params.items()}


def norm(delta: dict) -> float:
    return float(np.sqrt(sum((d ** 2).sum() for d in delta.values())))


def test_sgd_steps_are_the_clipped_gradient():
    plain = step_delta("sgd(1.0)")  # with lr 1 the step is minus the gradient
    g_norm = norm(plain)
    assert g_norm > 1.0
    clipped = step_delta("sgd(1.0, clip_norm=0.5)")
    scale = 0.5 / (g_norm + 1e-6)
    for k in plain:
        np.testing.assert_allclose(clipped[k], plain[k] * scale, rtol=1e-4, atol=1e-7)
    assert abs(norm(clipped) - 0.5) < 1e-4
    loose = step_delta(f"sgd(1.0, clip_norm={2 * g_norm})")  # below the limit: unchanged
    for k in plain:
        np.testing.assert_allclose(loose[k], plain[k], rtol=1e-5, atol=1e-8)


def test_adam_accepts_clip_norm_and_its_first_step_keeps_its_size():
    # Adam's first step is lr·sign(g) whatever the scale of g: clipping must leave it (nearly) unchanged
    a, b = step_delta("adam(0.01)"), step_delta("adam(0.01, clip_norm=0.1)")
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-3, atol=1e-6)


def test_a_negative_clip_norm_is_reported_at_the_argument():
    src = SRC.replace("OPT", "adam(clip_norm=-1.0)")
    [e] = errors(check(src))
    assert e.code == "E0207" and e.span.line == 9 and "clip_norm" in e.message


def test_dense_normal_init_takes_a_std():
    f = tempfile.NamedTemporaryFile("w", suffix=".nn", delete=False)
    f.write('model m {\n  input x: f32[N, 400]\n  output y = x -> dense(300, init="normal", std=0.02)\n'
            '  output z = x -> dense(300, init="normal")\n}\n')
    f.close()
    p = nnc.load(f.name).model("m", seed=0).params
    assert abs(p["m/y.dense/weight"].std() - 0.02) < 0.001 and abs(p["m/z.dense/weight"].std() - 1.0) < 0.01
    src = 'model m {\n  input x: f32[N, 4]\n  output y = x -> dense(3, std=0.1)\n}\n'
    [e] = errors(check(src))
    assert (e.code, e.span.line, e.span.column) == ("E0105", 3, 28) and 'init="normal"' in e.message
