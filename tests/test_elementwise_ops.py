"""The elementwise and indexing built-ins of issue 11: maximum, minimum, clip, where, comparisons, `**`/pow,
argmax, one_hot, gather and pick, run on the numpy backend against NumPy, their gradients by finite
differences, and their diagnostics by line, column and message."""
import numpy as np
import pytest

import nnc
from nnc.interp import RunError
from helpers import check, errors, output_shape
from nnc.source import SourceFile
from nnc.syntax import parser as syntax

PROGRAM = """model m {
  input x: f32[N, 5]
  input t: i32[N]
  output a = maximum(x, 0.5)
  output b = minimum(x, -0.5)
  output c = clip(x, -1, 1)
  output d = where(x > 0, x, 0.1 * x)
  output e = x ** 2
  output f = -x ** 2
  output g = pow(abs(x), 0.5)
  output h = argmax(x)
  output i = one_hot(t, 5)
  output j = pick(x, t)
  output k = gather(x, t)
  output l = (x >= 0.25) == (x > -1)
  output n = 2 ** 10 * x
}
"""


def run(src: str, name: str = "m", **feeds):
    path = _write(src)
    return nnc.load(path).model(name)(**feeds)


def _write(src: str) -> str:
    import tempfile
    f = tempfile.NamedTemporaryFile("w", suffix=".nn", delete=False)
    f.write(src)
    f.close()
    return f.name


def test_every_new_op_computes_what_numpy_computes():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    t = np.array([0, 3, 2, 2], np.int32)
    out = run(PROGRAM, x=x, t=t)
    np.testing.assert_allclose(out["a"], np.maximum(x, 0.5))
    np.testing.assert_allclose(out["b"], np.minimum(x, -0.5))
    np.testing.assert_allclose(out["c"], np.clip(x, -1, 1))
    np.testing.assert_allclose(out["d"], np.where(x > 0, x, np.float32(0.1) * x))
    np.testing.assert_allclose(out["e"], x ** 2, rtol=1e-6)
    np.testing.assert_allclose(out["f"], -(x ** 2), rtol=1e-6)
    np.testing.assert_allclose(out["g"], np.abs(x) ** 0.5, rtol=1e-6)
    np.testing.assert_array_equal(out["h"], np.argmax(x, axis=-1))
    np.testing.assert_array_equal(out["i"], np.eye(5, dtype=np.float32)[t])
    np.testing.assert_allclose(out["j"], x[np.arange(4), t])
    with pytest.raises(RunError, match="pick ids must be in 0..4, found 0..5"):
        run(PROGRAM.replace("output k = gather(x, t)\n", ""), x=x, t=np.array([0, 5, 2, 2], np.int32))
    np.testing.assert_allclose(out["k"], x[t])
    assert out["l"].dtype == np.bool_
    np.testing.assert_array_equal(out["l"], (x >= 0.25) == (x > -1))
    np.testing.assert_allclose(out["n"], 1024 * x)
    assert out["e"].dtype == np.float32 and out["h"].dtype == np.int64 and out["i"].dtype == np.float32


def test_shapes_and_dtypes_are_checked():
    result = check(PROGRAM)
    assert not errors(result)
    assert output_shape(result, output="h") == "[N]" and output_shape(result, output="i") == "[N, 5]"
    assert output_shape(result, output="j") == "[N]" and output_shape(result, output="k") == "[N, 5]"


def test_a_huber_loss_written_with_the_new_ops_trains():
    src = """model reg {
  input x: f32[N, 3]
  output y = x -> dense(1)
}
train fit {
  input x: f32[N, 3]
  input t: f32[N, 1]
  e = abs(reg(x) - t)
  huber = mean(where(e < 1.0, 0.5 * e ** 2, e - 0.5))
  minimize huber over reg with adam(0.05)
}
"""
    program = nnc.load(_write(src))
    trainer = program.train("fit")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    t = (x @ np.array([[1.0], [-2.0], [0.5]], np.float32)).astype(np.float32)
    losses = [float(trainer.step(x=x, t=t)["huber"]) for _ in range(150)]
    assert losses[-1] < 0.1 * losses[0]


def test_pow_and_pick_and_clip_gradients_match_finite_differences():
    """grad() of a scalar built from the new ops, against central differences in float64."""
    src = """model m {
  input x: f64[N, 4]
  input t: i32[N]
  s = sum(pick(x ** 3, t)) + sum(clip(x, -0.5, 0.5) * x) + sum(maximum(x, 0.1) * minimum(x, 0.2))
  output g = grad(s, x)
  output v = s
}
"""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4))
    t = np.array([1, 3, 0], np.int32)
    model = nnc.load(_write(src)).model("m")
    g = model(x=x, t=t)["g"]
    eps = 1e-6
    numeric = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        hi, lo = x.copy(), x.copy()
        hi[idx] += eps
        lo[idx] -= eps
        numeric[idx] = (model(x=hi, t=t)["v"] - model(x=lo, t=t)["v"]) / (2 * eps)
    np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-6)


def test_both_parser_paths_build_the_same_tree_for_power_and_comparisons():
    for text in (PROGRAM, "model m {\n  input x: f32[N]\n  output y = -x ** 2 ** 0.5 * x\n}\n",
                 "model m {\n  input x: f32[N]\n  output y = x **\n    2\n}\n"):
        source = SourceFile("t.nn", text)
        fast, lark = syntax._parse_text(source, fast=True), syntax._parse_text(source, fast=False)
        assert fast == lark and fast[1] is None


def test_power_groups_to_the_right_and_binds_tighter_than_a_sign():
    program, _ = syntax._parse_text(SourceFile("t.nn", "const c = -2 ** 3 ** 2\n"))
    value = program.items[0].value
    assert value.op == "-" and value.operand.rest[0].op == "**"
    assert value.operand.rest[0].value.rest[0].op == "**"  # 3 ** 2 is the exponent
    result = check("const c = -2 ** 3 ** 2\nconst d = 2.0 ** -1\n"
                   "model m {\n  input x: f32[N, c + 600]\n  output y = x * d\n}\n")
    assert not errors(result) and output_shape(result) == "[N, 88]"  # -512 + 600


@pytest.mark.parametrize("expr, at, code, words", [
    ("where(x, x, 0)", "x, x", "E0202", "where needs a bool condition"),
    ("clip(x, 1, -1)", "1, -1", "E0207", "clip needs lo <= hi"),
    ("one_hot(x, 4)", "x, 4", "E0202", "one_hot needs integer ids"),
    ("pick(x, t2)", "t2", "E0203", "pick needs ids of shape [N]"),
    ("x > \"a\"", ">", "E0202", "cannot compare a tensor with"),
    ("maximum(x, \"a\")", '"a"', "E0105", "maximum needs a tensor as its argument `b`"),
    ("2 ** 100", "**", "E0114", "larger than 2^63 - 1"),
])
def test_bad_uses_are_located(expr, at, code, words):
    src = f"model m {{\n  input x: f32[N, 4]\n  input t2: i32[N, 2]\n  output y = {expr}\n}}\n"
    [e] = errors(check(src))
    line = src.splitlines()[3]
    assert (e.code, e.span.line, e.span.column) == (code, 4, line.index(at) + 1), e
    assert words in e.message
