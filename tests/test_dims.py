"""Symbolic sizes as structured expressions: printing, the one evaluator, binding symbols from input shapes.

The evaluator is checked against the shapes the numpy interpreter actually
produces for nested strided windows over symbolic axes, for several sizes.
"""
import numpy as np
import pytest

from helpers import check, errors, output_shape
from nnc.api import Program
from nnc.ir.bind import BindError, bind_symbols
from nnc.ir.types import (TensorType, UnboundSymbol, WindowCount, dim_add, dim_mul, dim_neg, dim_str, dim_sub,
                          eval_dim, eval_shape, substitute, sym, symbols_of, window_count)
from nnc.stats import model_stats

T, N, H, W = sym("T"), sym("N"), sym("H"), sym("W")

WINDOWS_1D = """model m {
  input x: f32[N, 4, T]
  h = x -> conv1d(8, 3, stride=2) -> relu
  p = h -> maxpool(2)
  q = p -> conv1d(8, 3, stride=1, padding=1) -> avgpool(3, stride=2, padding=1)
  output a = h
  output b = p
  output c = q
  output d = q -> flatten
}
"""

WINDOWS_2D = """model m {
  input x: f32[N, 3, H, W]
  a = x -> conv2d(4, 5, stride=2, padding=2)
  b = a -> maxpool(3, stride=2)
  output a = a
  output b = b
  output c = b -> conv2d(2, 3, stride=3, dilation=2)
}
"""


def _python_value(text: str, env: dict[str, int]) -> int:
    """The printed size read as Python reads it: the rendering must mean what the evaluator computes."""
    return eval(text.replace("^", "**"), {"__builtins__": {}}, dict(env))


def test_window_sizes_print_as_before():
    r = check(WINDOWS_1D)
    assert not errors(r)
    assert output_shape(r, output="a") == "[N, 8, (T + -3)//2 + 1]"
    assert output_shape(r, output="b") == "[N, 8, ((T + -3)//2 + 1 + -2)//2 + 1]"
    assert output_shape(r, output="c") == "[N, 8, (((T + -3)//2 + 1 + -2)//2 + 1 + -1)//2 + 1]"
    # a product of a window count is parenthesised (it used to print as 8*(...)//2 + 1, which misreads)
    assert output_shape(r, output="d") == "[N, 8*((((T + -3)//2 + 1 + -2)//2 + 1 + -1)//2 + 1)]"
    assert str(window_count(T, 0, 2)) == "(T)//2 + 1"


def test_mismatched_windows_are_named_in_the_diagnostic():
    src = ("model m {\n  input x: f32[N, 4, T]\n  a = x -> conv1d(8, 3, stride=2)\n"
           "  b = x -> conv1d(8, 5, stride=2)\n  output y = a + b\n}\n")
    (e,) = errors(check(src))
    assert (e.code, e.span.line) == ("E0204", 5)
    assert e.message == "cannot broadcast f32[N, 8, (T + -3)//2 + 1] with f32[N, 8, (T + -5)//2 + 1]"


def test_a_flattened_window_needs_a_known_size_for_dense():
    src = "model m {\n  input x: f32[N, 4, T]\n  output y = x -> conv1d(8, 3, stride=2) -> flatten -> dense(3)\n}\n"
    (e,) = errors(check(src))
    assert (e.code, e.span.line) == ("E0208", 3)
    assert e.message == "dense needs a known size for the last axis, found 8*((T + -3)//2 + 1)"


@pytest.mark.parametrize("t", [7, 8, 9, 10, 16, 31])
def test_nested_1d_windows_evaluate_to_the_interpreters_shapes(t):
    prog = Program(check(WINDOWS_1D))
    graph = prog.graph("m")
    x = np.random.default_rng(t).normal(size=(2, 4, t)).astype(np.float32)
    got = prog.model("m")(x=x)
    env = bind_symbols([(name, graph.type_of(vid), x.shape) for name, vid in graph.inputs])
    assert env == {"N": 2, "T": t}
    for name, vid in graph.outputs:
        assert eval_shape(graph.type_of(vid).shape, env) == got[name].shape, name


@pytest.mark.parametrize("h, w", [(21, 21), (24, 29), (33, 26)])
def test_nested_2d_windows_evaluate_to_the_interpreters_shapes(h, w):
    prog = Program(check(WINDOWS_2D))
    graph = prog.graph("m")
    x = np.random.default_rng(h * w).normal(size=(1, 3, h, w)).astype(np.float32)
    got = prog.model("m")(x=x)
    env = bind_symbols([("x", graph.type_of(graph.inputs[0][1]), x.shape)])
    for name, vid in graph.outputs:
        assert eval_shape(graph.type_of(vid).shape, env) == got[name].shape, name


def test_printed_sizes_mean_what_the_evaluator_computes():
    w1 = window_count(T, -3, 2)
    w2 = window_count(w1, -2, 2)
    sizes = [w1, w2, dim_mul(w2, 8), dim_mul(w1, w1), dim_sub(0, w1), dim_add(dim_mul(N, T), dim_neg(w1)),
             dim_mul(dim_mul(window_count(H, -1, 2), window_count(W, -1, 2)), 2), dim_add(w1, T)]
    for t in (3, 4, 11, 20):
        env = {"T": t, "N": 3, "H": t + 1, "W": 2 * t}
        for d in sizes:
            assert _python_value(dim_str(d), env) == eval_dim(d, env), dim_str(d)


def test_window_counts_are_exact_and_fold_when_known():
    w1 = window_count(T, -3, 2)
    assert eval_dim(w1, {"T": 20}) == (20 - 3) // 2 + 1
    assert eval_dim(window_count(w1, -2, 2), {"T": 20}) == ((20 - 3) // 2 + 1 - 2) // 2 + 1
    assert window_count(20, -3, 2) == 9
    assert substitute(w1, {"T": 20}) == 9
    assert str(substitute(w1, {"T": sym("S")})) == "(S + -3)//2 + 1"
    assert symbols_of(dim_mul(window_count(w1, -2, 2), N)) == {"N", "T"}
    assert dim_sub(dim_add(w1, T), T) == w1
    assert dim_sub(w1, window_count(T, -3, 2)) == 0
    assert isinstance(w1.terms[0][0][0], WindowCount)
    with pytest.raises(ValueError):
        window_count(T, 0, 0)


def test_the_statistics_convention_is_unchanged():
    """eval_dim(d, 1) takes every symbol and every window count as 1, as `nnc stats` always has."""
    w1 = window_count(T, -3, 2)
    assert eval_dim(w1) == 1
    assert eval_dim(dim_mul(w1, 8)) == 8
    assert eval_dim(dim_sub(T, 2)) == 0
    assert TensorType("f32", (N, 8, w1)).numel() == 8
    stats = model_stats(check(WINDOWS_1D).models["m"].graph)
    assert stats.macs == 8 * 4 * 3 + 8 * 8 * 3


def test_an_unbound_symbol_is_a_clear_error():
    with pytest.raises(UnboundSymbol, match=r"size \(T \+ -3\)//2 \+ 1 needs a value for T"):
        eval_dim(window_count(T, -3, 2), {"N": 2})


def test_bind_symbols_solves_linear_sizes_and_checks_the_rest():
    x = TensorType("f32", (N, 4, T))
    env = bind_symbols([("x", x, (2, 4, 9)), ("y", (N, dim_mul(T, 2)), (2, 18)),
                        ("z", (dim_add(dim_mul(N, sym("S")), 1),), (7,))])
    assert env == {"N": 2, "T": 9, "S": 3}
    assert bind_symbols([("y", (dim_add(T, 1),), (5,))], known={"N": 1}) == {"N": 1, "T": 4}


@pytest.mark.parametrize("inputs, message", [
    ([("x", TensorType("f32", (N, 4)), (2, 4, 1))], "input x must be f32[N, 4] (rank 2), found shape [2, 4, 1]"),
    ([("x", TensorType("f32", (N, 4)), (2, 5))], "input x must be f32[N, 4], found shape [2, 5] (axis 1)"),
    ([("x", (N, T), (2, 3)), ("y", (T,), (4,))], "input y: T is 3 elsewhere, 4 here"),
    ([("x", (N, T), (2, 3)), ("y", (dim_add(T, 1),), (5,))],
     "input y must be [T + 1], found shape [5] (axis 0: T + 1 is 4)"),
    ([("y", (N, dim_mul(T, 2)), (2, 17))], "input y: axis 1 has size 17, which 2*T is for no whole T"),
    ([("y", (N, window_count(T, -3, 2)), (2, 7))],
     "input y: cannot find T from axis 1 of size 7 ((T + -3)//2 + 1); declare T alone on some input axis"),
])
def test_bind_symbols_reports_mismatches(inputs, message):
    with pytest.raises(BindError) as info:
        bind_symbols(inputs)
    assert str(info.value) == message
