"""Pooling on the LLVM backend against the numpy oracle (window.py, lower_pool.py).

The primitives (reduce_window max and sum, select_and_scatter_add, pool_select, pool_backward) on
integer-valued inputs, so windows hold ties, with NaN and -inf planted: the first maximum must win,
the first NaN over numbers, padding never; windows that overlap and windows with gaps between them,
padding on either side, odd sizes whose last elements no window reads, 1-d, 2-d and 3-d, f32 and f64,
batch 1 and 5 (one compiled code: the batch is a run-time size), rows long enough for the vector code
and short ones. Then whole models trained step for step as the oracle trains them through maxpool and
avgpool with ceil_mode, dilation and count_include_pad.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import nnc  # noqa: E402
from nnc.backends import get, inference_signature  # noqa: E402
from nnc.ir.types import TensorType, sym  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402
from test_llvm_backend import graph_of  # noqa: E402

LLVM, NUMPY = get("llvm"), get("numpy")
NP = {"f32": np.float32, "f64": np.float64}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "llvm-cache"))


# (spatial shape, kernel, stride, padding): interior rows long enough for vectors, short ones, edges
GEOMETRIES = [
    ((28, 28), (2, 2), (2, 2), ((0, 0), (0, 0))),         # lenet5's pooling
    ((7, 9), (2, 2), (2, 2), ((0, 0), (0, 0))),           # odd sizes: the last row and column unread
    ((8, 8), (3, 3), (2, 2), ((1, 1), (1, 1))),           # overlapping windows, padding both sides
    ((9, 11), (3, 2), (1, 3), ((1, 2), (0, 1))),          # stride < kernel on one axis, gaps on the other
    ((10, 10), (2, 2), (3, 3), ((1, 1), (0, 2))),         # gaps between windows, uneven padding
    ((5, 5), (2, 2), (2, 2), ((1, 1), (1, 1))),           # windows half padding
    ((6, 35), (1, 2), (2, 2), ((0, 0), (0, 1))),          # a long row: several vectors and an overlap
    ((4, 4), (4, 4), (4, 4), ((0, 0), (0, 0))),           # one window per plane
    ((13,), (3,), (2,), ((1, 1),)),                       # 1-d
    ((40,), (2,), (2,), ((0, 1),)),                       # 1-d, a long row with padding after
    ((5, 6, 7), (2, 2, 2), (2, 2, 2), ((1, 0), (0, 1), (1, 1))),  # 3-d
    ((4, 6, 19), (2, 3, 2), (1, 2, 2), ((0, 1), (1, 1), (0, 0))),  # 3-d, overlapping along the depth
    ((64, 66), (2, 2), (2, 2), ((0, 0), (0, 0))),         # many vectors per row
    ((66, 64), (3, 3), (2, 2), ((1, 1), (1, 1))),         # the same, windows overlapping
]


def _out(spatial, kernel, stride, pads):
    return tuple((n + a + b - k) // s + 1 for n, k, s, (a, b) in zip(spatial, kernel, stride, pads))


def _x(shape, dtype, rng):
    """Integers in -2..1 (ties in every window) with NaN and -inf planted."""
    x = rng.integers(-2, 2, size=shape).astype(NP[dtype])
    x.flat[::11] = np.nan
    x.flat[3::13] = -np.inf
    return x


def _agree(graph, feeds_at):
    """Run `graph` (batch N symbolic) on both backends at batch 1 and 5 through one executable each."""
    sig = inference_signature(graph)
    fast = LLVM.compile(prepare(graph, LLVM), sig)
    ref = NUMPY.compile(prepare(graph, NUMPY), sig)
    for n in (1, 5):
        feeds = feeds_at(n)
        a, b = ref(**feeds), fast(**feeds)
        for k in a:
            assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape
            np.testing.assert_allclose(b[k], a[k], rtol=1e-6, atol=1e-6, equal_nan=True, err_msg=f"{k} at batch {n}")


def _geometry_ids():
    return [f"{'x'.join(map(str, g[0]))}-k{''.join(map(str, g[1]))}-s{''.join(map(str, g[2]))}" for g in GEOMETRIES]


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("kind", ["max", "sum"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_geometry_ids())
def test_reduce_window_agrees_with_nan_ties_and_padding(geometry, kind, dtype):
    spatial, kernel, stride, pads = geometry
    n = sym("N")

    def build(e, x):
        return [e("reduce_window", x, kind=kind, kernel=kernel, stride=stride, padding=pads)]
    graph = graph_of(build, {"x": TensorType(dtype, (n, 3) + spatial)})
    rng = np.random.default_rng(1)
    _agree(graph, lambda b: {"x": _x((b, 3) + spatial, dtype, rng)})


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("op", ["select_and_scatter_add", "pool_select", "pool_backward max", "pool_backward avg"])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=_geometry_ids())
def test_max_pooling_winners_and_pooling_gradients_agree(geometry, op, dtype):
    spatial, kernel, stride, pads = geometry
    n = sym("N")
    window = _out(spatial, kernel, stride, pads)
    g_spatial = spatial if op == "pool_select" else window
    name, _, kind = op.partition(" ")
    attrs = {"kind": "maxpool" if kind == "max" else "avgpool"} if kind else {}

    def build(e, g, x):
        return [e(name, g, x, kernel=kernel, stride=stride, padding=pads, **attrs)]
    graph = graph_of(build, {"g": TensorType(dtype, (n, 2) + g_spatial), "x": TensorType(dtype, (n, 2) + spatial)})
    rng = np.random.default_rng(2)
    _agree(graph, lambda b: {"g": rng.standard_normal((b, 2) + g_spatial).astype(NP[dtype]),
                             "x": _x((b, 2) + spatial, dtype, rng)})


def test_a_window_of_padding_only_gives_minus_infinity_and_picks_nothing():
    pads = ((2, 2),)  # kernel 2, padding 2: the first and last windows read padding only

    def build(e, g, x):
        return [e("reduce_window", x, kind="max", kernel=(2,), stride=(2,), padding=pads),
                e("select_and_scatter_add", g, x, kernel=(2,), stride=(2,), padding=pads)]
    graph = graph_of(build, {"g": TensorType("f32", (1, 1, 5)), "x": TensorType("f32", (1, 1, 6))})
    sig = inference_signature(graph)
    out = LLVM.compile(prepare(graph, LLVM), sig)(g=np.arange(1, 6, dtype=np.float32).reshape(1, 1, 5),
                                                  x=np.array([[[3, 1, -1, 5, np.nan, 2]]], np.float32))
    np.testing.assert_array_equal(out["y0"][0, 0], [-np.inf, 3, 5, np.nan, -np.inf])
    np.testing.assert_array_equal(out["y1"][0, 0], [2, 0, 0, 3, 4, 0])


def _train_src(shape: str, layers: str) -> str:
    return f"""model m {{
  input x: f32[N, {shape}]
  output y = x -> {layers} -> flatten -> dense(2)
}}
train t {{
  input x: f32[N, {shape}]
  input label: i32[N]
  loss = cross_entropy(m(x), label)
  minimize loss over m with sgd(lr=0.1)
  data "synthetic"
  epochs 1
}}
"""


@pytest.mark.parametrize("shape,layers", [
    ("2, 9, 11", "dense(11) -> maxpool(3, stride=2, ceil_mode=true)"),
    ("2, 9, 11", "dense(11) -> avgpool(3, stride=2, ceil_mode=true)"),
    ("2, 8, 8", "dense(8) -> relu -> maxpool(2)"),
    ("2, 8, 8", "dense(8) -> avgpool(2)"),
    ("2, 8, 8", "dense(8) -> avgpool(3, stride=1, padding=1, count_include_pad=false)"),
    ("2, 10, 10", "dense(10) -> maxpool(2, dilation=2)"),
    ("2, 10, 10", "dense(10) -> avgpool(2, stride=2, padding=1)"),
    ("3, 17", "dense(17) -> maxpool(3, stride=2, padding=1)"),
    ("2, 4, 6, 6", "dense(6) -> maxpool(2)"),
    ("2, 4, 6, 6", "dense(6) -> avgpool(2)"),
    ("3, 6, 6", "dense(6) -> global_avgpool"),
], ids=lambda v: v.replace(" ", ""))
def test_models_train_through_pooling_step_for_step(tmp_path, shape, layers):
    path = tmp_path / "p.nn"
    path.write_text(_train_src(shape, layers))
    prog = nnc.load(path)
    fast, ref = prog.train("t", backend="llvm", seed=1), prog.train("t", backend="numpy", seed=1)
    rng = np.random.default_rng(0)
    dims = tuple(int(d) for d in shape.split(","))
    for batch in (5, 1, 5):
        feeds = {"x": rng.normal(size=(batch,) + dims).astype(np.float32),
                 "label": rng.integers(0, 2, batch).astype(np.int32)}
        assert fast.step(**feeds)["loss"] == pytest.approx(ref.step(**feeds)["loss"], rel=1e-5)
    for name, value in ref.params.items():
        np.testing.assert_allclose(fast.params[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def test_a_run_time_sequence_length_trains_through_pooling(tmp_path):
    """T is a size symbol: one compiled code for every length, the windows' interior and edges at run time."""
    src = """model m {
  input x: f32[N, 2, T]
  output y = x -> conv1d(3, 3, padding=1) -> maxpool(2, remainder="drop")
    -> avgpool(3, stride=2, padding=1) -> global_avgpool -> flatten -> dense(2)
}
train t {
  input x: f32[N, 2, T]
  input label: i32[N]
  loss = cross_entropy(m(x), label)
  minimize loss over m with sgd(lr=0.1)
  data "synthetic"
  epochs 1
}
"""
    path = tmp_path / "s.nn"
    path.write_text(src)
    prog = nnc.load(path)
    fast, ref = prog.train("t", backend="llvm", seed=2), prog.train("t", backend="numpy", seed=2)
    rng = np.random.default_rng(0)
    for batch, length in ((3, 41), (1, 4), (2, 17), (3, 80)):
        feeds = {"x": rng.normal(size=(batch, 2, length)).astype(np.float32),
                 "label": rng.integers(0, 2, batch).astype(np.int32)}
        assert fast.step(**feeds)["loss"] == pytest.approx(ref.step(**feeds)["loss"], rel=1e-5)
    for name, value in ref.params.items():
        np.testing.assert_allclose(fast.params[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("kernel,stride,pads", [((2, 2), (2, 2), ((0, 0), (0, 0))), ((3, 3), (2, 2), ((1, 1), (1, 1)))])
def test_planes_in_parts_on_the_thread_pool_agree_at_one_and_two_threads(kernel, stride, pads):
    """Large enough for parallel.py's parts (at batch 5, not at batch 1): the oracle's numbers, the same bits
    on 1 and 2 threads."""
    from nnc.backends.llvm import threads
    n, spatial = sym("N"), (256, 258)
    window = _out(spatial, kernel, stride, pads)

    def build(e, g, x):
        return [e("reduce_window", x, kind="max", kernel=kernel, stride=stride, padding=pads),
                e("select_and_scatter_add", g, x, kernel=kernel, stride=stride, padding=pads)]
    graph = graph_of(build, {"g": TensorType("f32", (n, 2) + window), "x": TensorType("f32", (n, 2) + spatial)})
    rng = np.random.default_rng(3)
    feeds = {"g": rng.standard_normal((5, 2) + window).astype(np.float32), "x": _x((5, 2) + spatial, "f32", rng)}
    sig = inference_signature(graph)
    fast = LLVM.compile(prepare(graph, LLVM), sig)
    ref = NUMPY.compile(prepare(graph, NUMPY), sig)(**feeds)
    pool = threads.process_pool()
    before = pool.threads()
    try:
        outs = []
        for k in (1, 2):
            pool.set_threads(k)
            outs.append(fast(**feeds))
    finally:
        pool.set_threads(before)
    assert any(line.startswith("define") and "_part" in line for line in fast.variant({"N": 5}).ir.splitlines())
    for name in ref:
        np.testing.assert_allclose(outs[0][name], ref[name], rtol=1e-6, atol=1e-6, equal_nan=True)
        np.testing.assert_array_equal(outs[0][name], outs[1][name])
