"""Reversing an axis (issue 11): `reverse(x, [axes])` and slices with a negative step, as Python's
x[start:end:step], on the numpy backend against NumPy, with gradients; symbolic axes reversed whole."""
import tempfile

import numpy as np
import pytest

import nnc
from helpers import check, errors, output_shape

X = np.arange(2 * 7 * 4, dtype=np.float64).reshape(2, 7, 4)
CASES = [
    ("slice(x, -1, step=-1)", X[:, ::-1]),
    ("slice(x, 5, 1, step=-2)", X[:, 5:1:-2]),
    ("x -> slice(-2, step=-3)", X[:, -2::-3]),
    ("slice(x, 3, step=-1, axis=2)", X[:, :, 3::-1]),
    ("slice(x, 1, -9, -1, -1)", X[:, :, 1:-9:-1]),
    ("reverse(x, [1, 2])", X[:, ::-1, ::-1]),
    ("x -> reverse([0])", X[::-1]),
]


def model(expr: str, dims: str = "7, 4") -> str:
    return f"model m {{\n  input x: f64[N, {dims}]\n  output y = {expr}\n  output g = grad(sum(({expr}) * ({expr})), x)\n}}\n"


def run(src: str, **feeds):
    f = tempfile.NamedTemporaryFile("w", suffix=".nn", delete=False)
    f.write(src)
    f.close()
    return nnc.load(f.name).model("m")(**feeds)


@pytest.mark.parametrize("expr, want", CASES, ids=[c[0] for c in CASES])
def test_backward_slices_and_reverse_match_numpy(expr, want):
    out = run(model(expr), x=X)
    np.testing.assert_array_equal(out["y"], want)
    # the gradient of Σ y² is 2·x where x is picked, 0 elsewhere
    expected = np.zeros_like(X)
    index = np.arange(X.size, dtype=np.float64).reshape(X.shape)
    chosen = run(model(expr), x=index)["y"].astype(np.int64).ravel()
    expected.flat[chosen] = 2 * X.flat[chosen]
    np.testing.assert_allclose(out["g"], expected)


def test_a_symbolic_axis_is_reversed_whole():
    src = model("slice(x, -1, step=-1)", "T, 4")
    assert output_shape(check(src)) == "[N, T, 4]"
    x = np.arange(2 * 5 * 4, dtype=np.float64).reshape(2, 5, 4)
    np.testing.assert_array_equal(run(src, x=x)["y"], x[:, ::-1])


def one(expr: str, dims: str = "7, 4") -> str:
    return f"model m {{\n  input x: f64[N, {dims}]\n  output y = {expr}\n}}\n"


def test_what_cannot_be_sliced_backwards_is_located():
    [e] = errors(check(one("slice(x, -1, step=-2)", "T, 4")))
    assert e.code == "E0208" and e.span.line == 3 and "can only reverse it whole" in e.message
    [e] = errors(check(one("slice(x, 0, 3, step=-1)")))
    assert e.code == "E0207" and "is empty" in e.message
    [e] = errors(check(one("reverse(x, 1)")))
    assert e.code == "E0105" and "list of ints" in e.message
