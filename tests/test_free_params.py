"""`param NAME: [dims] = init` (issue 11): a free trainable tensor in a model (learned positional embeddings,
class tokens, scales) with a stable name and a seeded initialiser; trained with the model's layers."""
import tempfile

import numpy as np
import pytest

import nnc
from helpers import check, errors, output_shape
from nnc.source import SourceFile
from nnc.syntax import parser as syntax

VIT = """const T = 16
model vit {
  input x: f32[N, T, 8]
  param pos: [T, 8] = normal(0.02)
  param cls: [1, 8]
  param gain: [8] = constant(1.5)
  param wide: [256, 64] = uniform(0.1)
  param big: f64[128, 128] = normal(std=2.0)
  h = (x + pos) * gain
  output y = concat(h, broadcast(cls, h), axis=1) -> dense(4)
  output z = sum(wide) + sum(big)
}
block broadcast(c, like) {
  return c + 0.0 * slice(like, 0, 1, axis=1)
}
"""

FIT = """model m {
  input x: f32[N, 3]
  param shift: [3]
  param scale: [3] = ones
  output y = x * scale + shift
}
model outer {
  input x: f32[N, 3]
  output y = m(m(x))
}
train fit {
  input x: f32[N, 3]
  input t: f32[N, 3]
  loss = mse(outer(x), t)
  minimize loss over outer with adam(0.05)
}
"""


def load(src: str):
    f = tempfile.NamedTemporaryFile("w", suffix=".nn", delete=False)
    f.write(src)
    f.close()
    return nnc.load(f.name)


def test_params_have_stable_names_shapes_and_seeded_initial_values():
    result = check(VIT)
    assert not errors(result), errors(result)
    assert output_shape(result, "vit", "y") == "[N, 17, 4]"
    model = load(VIT).model("vit", seed=1)
    p = model.params
    assert {"vit/pos", "vit/cls", "vit/gain", "vit/wide", "vit/big"} <= set(p)
    assert p["vit/pos"].shape == (16, 8) and p["vit/pos"].dtype == np.float32
    assert p["vit/big"].dtype == np.float64 and abs(p["vit/big"].std() - 2.0) < 0.05
    assert abs(p["vit/wide"].std() - 0.1 / np.sqrt(3)) < 0.003 and np.abs(p["vit/wide"]).max() <= 0.1
    assert 0.01 < p["vit/pos"].std() < 0.03
    np.testing.assert_array_equal(p["vit/cls"], np.zeros((1, 8), np.float32))
    np.testing.assert_array_equal(p["vit/gain"], np.full(8, 1.5, np.float32))
    again = load(VIT).model("vit", seed=1).params
    np.testing.assert_array_equal(again["vit/pos"], p["vit/pos"])
    assert not np.array_equal(load(VIT).model("vit", seed=2).params["vit/pos"], p["vit/pos"])
    x = np.random.default_rng(0).normal(size=(2, 16, 8)).astype(np.float32)
    out = model(x=x)
    assert out["y"].shape == (2, 17, 4)


def test_params_of_a_called_model_are_shared_between_calls_and_trained():
    program = load(FIT)
    trainer = program.train("fit", seed=0)
    assert sorted(trainer.params) == ["m/scale", "m/shift"]  # one pair, although m is called twice
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32)
    target = (x * 4.0 + 3.0).astype(np.float32)  # (x·s + b)·s + b with s = 2, b = 1
    for _ in range(400):
        report = trainer.step(x=x, t=target)
    assert report["loss"] < 1e-3
    np.testing.assert_allclose(np.abs(trainer.params["m/scale"]), 2.0, atol=0.02)


def test_both_parser_paths_agree_and_param_stays_a_name():
    text = VIT + "model q {\n  input x: f32[N]\n  param = x\n  output y = param\n}\n"
    source = SourceFile("t.nn", text)
    fast, lark = syntax._parse_text(source, fast=True), syntax._parse_text(source, fast=False)
    assert fast == lark and fast[1] is None
    assert not errors(check(text))


@pytest.mark.parametrize("stmt, at, code, words", [
    ("param p: [N, 4]", "N", "E0208", "a param needs known sizes, found N"),
    ("param p: [4] = gaussian(0.1)", "gaussian", "E0102", "unknown initialiser `gaussian`"),
    ("param p: i32[4]", "i32", "E0202", "a param is f32 or f64"),
    ("param p: [4] = normal(-1.0)", "-1.0", "E0207", "must not be negative"),
    ("param p: [4] = normal(mean=1.0)", "mean", "E0103", "normal has no argument `mean`"),
    ("param p: [4] = zeros(3)", "3", "E0104", "zeros takes no arguments"),
    ('param p: [4] = "a"', '"a"', "E0105", "a param's initialiser is"),
])
def test_bad_params_are_located(stmt, at, code, words):
    src = f"model m {{\n  input x: f32[N, 4]\n  {stmt}\n  output y = x\n}}\n"
    found = [e for e in errors(check(src))]
    assert len(found) == 1, found
    e = found[0]
    line = src.splitlines()[2]
    assert (e.code, e.span.line, e.span.column) == (code, 3, line.index(at) + 1), e
    assert words in e.message


def test_a_param_outside_a_model_or_block_is_e0116():
    src = "model m {\n  input x: f32[N, 4]\n  output y = x -> dense(1)\n}\ntrain t {\n  input x: f32[N, 4]\n  param p: [4]\n" \
          "  minimize mean(m(x)) over m with sgd(0.1)\n}\n"
    [e] = errors(check(src))
    assert (e.code, e.span.line, e.span.column) == ("E0116", 7, 3) and "`param` is only allowed in" in e.message
