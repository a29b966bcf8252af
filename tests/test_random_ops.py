"""rand and randn in a program (issue 11): drawn from the seeded counter-based generator (Philox), new numbers
at every training step and model call, the same sequence for the same seed; a WGAN-GP whose noise and
interpolation weights come from the program trains; misuse is diagnosed at the call."""
import tempfile
from pathlib import Path

import numpy as np
import pytest

import nnc
from helpers import check, errors, output_shape

ROOT = Path(__file__).resolve().parents[1]

MODEL = """model g {
  input x: f32[N, 4]
  output z = randn([N, 3, 8])
  output u = rand([N, 2], -1.0, 3.0)
  output w = randn(x, mean=5.0, std=0.1)
  output k = randn([2, 5], dtype="f64")
}
"""

TRAIN = """model m {
  input x: f32[N, 2]
  output y = x -> dense(1)
}
train t {
  input x: f32[N, 2]
  noise = randn([N, 1])
  loss = mean((m(x) - noise) ** 2)
  metric drawn = mean(noise)
  minimize loss over m with sgd(0.01)
}
"""


def load(src: str):
    f = tempfile.NamedTemporaryFile("w", suffix=".nn", delete=False)
    f.write(src)
    f.close()
    return nnc.load(f.name)


def test_a_model_draws_new_numbers_on_every_call_from_its_seed():
    x = np.zeros((4000, 4), np.float32)
    m = load(MODEL).model("g", seed=3)
    a, b = m(x=x), m(x=x)
    assert a["z"].shape == (4000, 3, 8) and a["z"].dtype == np.float32 and a["k"].dtype == np.float64
    z = a["z"].ravel()
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02
    assert abs(np.mean(z > 1.0) - 0.1587) < 0.01  # the normal's upper tail, not a uniform's
    assert a["u"].min() >= -1.0 and a["u"].max() < 3.0 and abs(a["u"].mean() - 1.0) < 0.05
    assert abs(a["w"].mean() - 5.0) < 0.01 and abs(a["w"].std() - 0.1) < 0.01
    assert not np.array_equal(a["z"], b["z"])  # the call counter advances
    again = load(MODEL).model("g", seed=3)(x=x)
    np.testing.assert_array_equal(again["z"], a["z"])
    other = load(MODEL).model("g", seed=4)(x=x)
    assert not np.array_equal(other["z"], a["z"])
    assert np.corrcoef(a["z"][:, 0].ravel(), a["z"][:, 1].ravel())[0, 1] < 0.05  # positions draw apart


def test_each_training_step_draws_new_noise_and_a_seed_repeats_them():
    x = np.ones((256, 2), np.float32)
    runs = []
    for seed in (0, 0, 1):
        trainer = load(TRAIN).train("t", seed=seed)
        runs.append([trainer.step(x=x)["drawn"] for _ in range(3)])
    assert runs[0] == runs[1] and runs[0] != runs[2]
    assert len(set(runs[0])) == 3 and all(abs(v) < 0.25 for v in runs[0])


def test_the_wgan_gp_example_trains_its_generator_towards_the_data():
    prog = nnc.load(ROOT / "examples" / "wgan_gp.nn")
    gen = prog.model("generator")
    trainer = prog.train("wgan", seed=0)
    centre = np.array([2.0, -1.0], np.float32)
    z = np.random.default_rng(5).normal(size=(2000, 8)).astype(np.float32)
    before = np.linalg.norm(gen(z=z).mean(axis=0) - centre)
    rng = np.random.default_rng(0)
    for _ in range(600):
        report = trainer.step(real=(centre + 0.3 * rng.normal(size=(64, 2))).astype(np.float32))
        assert all(np.isfinite(v) for v in report.values())
    gen.params.update({k: np.asarray(trainer.params[k]) for k in gen.params})
    after = np.linalg.norm(gen(z=z).mean(axis=0) - centre)
    assert before > 1.5 and after < 0.5, (before, after)


@pytest.mark.parametrize("expr, at, code, words", [
    ("randn([M, 8])", "[M", "E0208", "no tensor here has an axis of size M"),
    ('randn([N, "a"])', '"a"', "E0105", "a dimension must be an int or a symbol"),
    ("randn([N, 0])", "0", "E0207", "a dimension must be positive"),
    ("randn([1, 2], 0.0, 1.0, 7, 3)", "3)", "E0105", "`dtype` must be one of"),
    ("randn(x, key=x)", "key", "E0103", "randn has no argument `key`"),
    ("rand(x, 1.0, 1.0)", "1.0, 1.0", "E0207", "rand needs lo < hi"),
    ("randn(x, std=-1.0)", "std", "E0207", "std >= 0"),
])
def test_bad_draws_are_located(expr, at, code, words):
    src = f"model m {{\n  input x: f32[N, 4]\n  output y = {expr}\n}}\n"
    [e] = errors(check(src))
    line = src.splitlines()[2]
    assert (e.code, e.span.line, e.span.column) == (code, 3, line.index(at) + 1), e
    assert words in e.message


def test_shapes_follow_the_list_or_the_tensor():
    result = check(MODEL)
    assert not errors(result)
    assert output_shape(result, "g", "z") == "[N, 3, 8]" and output_shape(result, "g", "w") == "[N, 4]"
    assert output_shape(result, "g", "k") == "[2, 5]"
