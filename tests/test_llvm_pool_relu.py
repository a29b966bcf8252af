"""Relu's gradient applied by max pooling's gradient kernel (lower_pool._relu_after, window.ReluPoolGrad):
mul(pool_backward(g, relu(a)), sign(relu(a))) as one pass, against the numpy oracle, over the geometries
of tests/test_llvm_pool.py (windows that overlap keep the two kernels), with ties, zeros at the winners
(relu's gradient 0 there), NaN and -inf planted, f32 and f64, batch 1 and 5; and models trained step for
step through conv -> relu -> maxpool as the oracle trains them."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import nnc  # noqa: E402
from nnc.backends import inference_signature  # noqa: E402
from nnc.ir.types import TensorType, sym  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402
from test_llvm_backend import graph_of  # noqa: E402
from test_llvm_pool import GEOMETRIES, LLVM, NP, _agree, _geometry_ids, _out, _x  # noqa: E402


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "llvm-cache"))


def _graph(dtype, spatial, kernel, stride, pads, swap: bool = False):
    """dx = pool_backward(g, relu(a)) · sign(relu(a)), relu written twice as autodiff writes it."""
    n = sym("N")

    def relu(e, a):
        zero = e("broadcast_to", e("constant", value=0.0, dtype=dtype), a, shape=())
        return e("maximum", a, zero)

    def build(e, g, a):
        pb = e("pool_backward", g, relu(e, a), kind="maxpool", kernel=kernel, stride=stride, padding=pads)
        mask = e("sign", relu(e, a))
        return [e("mul", mask, pb) if swap else e("mul", pb, mask)]
    window = _out(spatial, kernel, stride, pads)
    return graph_of(build, {"g": TensorType(dtype, (n, 2) + window), "a": TensorType(dtype, (n, 2) + spatial)})


def _kinds(graph):
    lw, _ = LLVM.compile(prepare(graph, LLVM), inference_signature(graph)).lower({"N": 5})
    return [type(k).__name__ for k in lw.kernels]


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_geometry_ids())
def test_relu_gradient_after_max_pooling_gradient_agrees(geometry, dtype):
    spatial, kernel, stride, pads = geometry
    graph = _graph(dtype, spatial, kernel, stride, pads)
    window = _out(spatial, kernel, stride, pads)
    rng = np.random.default_rng(3)
    _agree(graph, lambda b: {"g": rng.standard_normal((b, 2) + window).astype(NP[dtype]),
                             "a": _x((b, 2) + spatial, dtype, rng)})
    fused = "ReluPoolGrad" in _kinds(graph)
    assert fused == all(s >= k for s, k in zip(stride, kernel))  # windows apart: one pass


# rows of windows shorter than two vectors with no padding: one vector of exactly the row's length
WHOLE_ROWS = [
    ((10, 10), (2, 2), (2, 2), ((0, 0), (0, 0))),   # 5 windows a row (lenet5's conv2)
    ((4, 24), (2, 2), (2, 2), ((0, 0), (0, 0))),    # 12
    ((6, 31), (3, 3), (3, 3), ((0, 0), (0, 0))),    # 10, a last column no window reads
    ((5, 27), (1, 3), (1, 2), ((0, 0), (0, 0))),    # 13 overlapping windows (the forward and scatter paths)
]


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("geometry", WHOLE_ROWS, ids=lambda g: "x".join(map(str, g[0])))
def test_rows_in_one_vector_of_their_length_agree(geometry, dtype):
    spatial, kernel, stride, pads = geometry
    window = _out(spatial, kernel, stride, pads)
    n = sym("N")

    def build(e, g, x):
        return [e("reduce_window", x, kind="max", kernel=kernel, stride=stride, padding=pads),
                e("pool_backward", g, x, kind="maxpool", kernel=kernel, stride=stride, padding=pads)]
    plain = graph_of(build, {"g": TensorType(dtype, (n, 2) + window), "x": TensorType(dtype, (n, 2) + spatial)})
    rng = np.random.default_rng(4)
    _agree(plain, lambda b: {"g": rng.standard_normal((b, 2) + window).astype(NP[dtype]),
                             "x": _x((b, 2) + spatial, dtype, rng)})
    fused = _graph(dtype, spatial, kernel, stride, pads)
    _agree(fused, lambda b: {"g": rng.standard_normal((b, 2) + window).astype(NP[dtype]),
                             "a": _x((b, 2) + spatial, dtype, rng)})


def test_the_mul_is_gone_and_either_operand_order_fuses():
    for swap in (False, True):
        kinds = _kinds(_graph("f32", (28, 28), (2, 2), (2, 2), ((0, 0), (0, 0)), swap))
        assert kinds == ["Store", "ReluPoolGrad"]  # relu(a) stored for the kernel to read; no mul kernel


def test_zeros_at_the_winners_give_zero_and_nan_stays_nan():
    graph = _graph("f32", (4,), (2,), (2,), ((0, 0),))
    exe = LLVM.compile(prepare(graph, LLVM), inference_signature(graph))
    a = np.array([[[-1.0, 0.0, 3.0, np.nan]] * 2], np.float32)
    got = exe(g=np.array([[[5.0, 7.0]] * 2], np.float32), a=a)["y0"][0, 1]
    np.testing.assert_array_equal(got, [0.0, 0.0, 0.0, np.nan])  # relu's 0 wins the first; NaN the second


SRC = """model m {{
  input x: f32[N, {c}, {h}, {w}]
  output y = x -> conv2d(4, 3, padding=1) -> relu -> maxpool({pool}) -> conv2d(3, 2) -> relu
    -> maxpool(2, ceil_mode=true) -> flatten -> dense(2)
}}
train t {{
  input x: f32[N, {c}, {h}, {w}]
  input label: i32[N]
  loss = cross_entropy(m(x), label)
  minimize loss over m with sgd(lr=0.1, momentum=0.9)
  data "synthetic"
  epochs 1
}}
"""


@pytest.mark.parametrize("c,h,w,pool", [(1, 12, 12, "2"), (2, 11, 9, "2, stride=3"), (1, 12, 15, "3")])
def test_models_train_through_relu_and_max_pooling_step_for_step(tmp_path, c, h, w, pool):
    path = tmp_path / "p.nn"
    path.write_text(SRC.format(c=c, h=h, w=w, pool=pool))
    prog = nnc.load(path)
    fast, ref = prog.train("t", backend="llvm", seed=1), prog.train("t", backend="numpy", seed=1)
    rng = np.random.default_rng(0)
    for batch in (5, 1, 5):
        feeds = {"x": rng.normal(size=(batch, c, h, w)).astype(np.float32),
                 "label": rng.integers(0, 2, batch).astype(np.int32)}
        assert fast.step(**feeds)["loss"] == pytest.approx(ref.step(**feeds)["loss"], rel=1e-5)
    for name, value in ref.params.items():
        np.testing.assert_allclose(fast.params[name], value, rtol=1e-4, atol=1e-6, err_msg=name)
