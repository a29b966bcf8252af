"""The Winograd filter transform as graph ops (conv_forward.winograd_filters: conv(x, w) →
conv_winograd(x, winograd_filter(w))): hoisted to load time in an inference graph (the prepare step computes
U, every call reads it), the same bits as the per-call transform, the oracle's numbers through batchnorm
folding, per-call in training and where the filters are data, f64, and the ops' own references."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import nnc  # noqa: E402
from nnc.backends import get, inference_signature  # noqa: E402
from nnc.backends.llvm import BACKEND, conv_forward  # noqa: E402
from nnc.ops import registry  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402
from test_llvm_conv_forward import forward_graph  # noqa: E402
from test_llvm_conv import geometry  # noqa: E402

NAMES = ("winograd_filter", "conv_winograd")

PROGRAM = """
model net {
  input x: f32[N, 16, 9, 8]
  h = x -> conv2d(16, 3, padding=1) -> batchnorm -> relu
  output y = h -> conv2d(24, 3, padding=1) -> batchnorm -> relu -> conv2d(8, 1)
}
"""


@pytest.fixture(autouse=True)
def _setup(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "llvm-cache"))
    monkeypatch.setattr(conv_forward, "WINO_MIN_CHANNELS", 16)


def test_the_backend_lowers_the_ops_and_runs_the_pass():
    assert set(NAMES) <= BACKEND.primitives
    assert [name for name, _ in BACKEND.graph_passes] == ["fold_batchnorm", "winograd_filters"]


def _y(result):
    return result["y"] if isinstance(result, dict) else result


def _load(tmp_path, backend: str):
    path = tmp_path / "net.nn"
    path.write_text(PROGRAM)
    return nnc.load(path).model("net", backend=backend, seed=1)


def test_inference_hoists_the_transform_and_agrees_with_the_oracle(tmp_path):
    m, ref = _load(tmp_path, "llvm"), _load(tmp_path, "numpy")
    exe = m._exe
    assert exe._prepare is not None
    assert [n.op for n in exe._prepare.graph.nodes].count("winograd_filter") == 2   # at load time
    per_call = [n.op for n in exe.graph.nodes]
    assert per_call.count("conv_winograd") == 2 and "winograd_filter" not in per_call
    x = np.random.default_rng(0).normal(size=(3, 16, 9, 8)).astype(np.float32)
    np.testing.assert_allclose(_y(m(x=x)), _y(ref(x=x)), rtol=2e-4, atol=2e-4)
    m.params[next(n for n in m.params if n.endswith("weight"))] *= 0.5   # new filters: U computed again
    ref.params[next(n for n in ref.params if n.endswith("weight"))] *= 0.5
    np.testing.assert_allclose(_y(m(x=x)), _y(ref(x=x)), rtol=2e-4, atol=2e-4)


def test_hoisted_and_per_call_transforms_give_the_same_bits(tmp_path):
    m = _load(tmp_path, "llvm")
    x = np.random.default_rng(1).normal(size=(2, 16, 9, 8)).astype(np.float32)
    hoisted = _y(m(x=x))
    graph = nnc.load(tmp_path / "net.nn").graph("net")
    llvm = get("llvm")
    exe = llvm.compile(prepare(graph, llvm), inference_signature(graph), options={"hoist": False})
    assert exe._prepare is None and "winograd_filter" in [n.op for n in exe.graph.nodes]
    exe.load_state(m._exe.state())
    assert np.array_equal(_y(exe(x=x)), hoisted)   # U by the same kernel, once per load or every call


def test_filters_that_are_data_are_transformed_per_call():
    graph = forward_graph("f32", (16, 7, 6), (20, 16, 3, 3), geometry(2, padding=1), False)
    sig = inference_signature(graph)
    llvm = get("llvm")
    exe = llvm.compile(prepare(graph, llvm), sig)
    assert exe._prepare is None and "winograd_filter" in [n.op for n in exe.graph.nodes]
    rng = np.random.default_rng(1)
    w = rng.normal(size=(20, 16, 3, 3)).astype(np.float32)
    ref = get("numpy").compile(prepare(graph, get("numpy")), sig)
    for n in (2, 0, 1):
        x = rng.normal(size=(n, 16, 7, 6)).astype(np.float32)
        np.testing.assert_allclose(exe(x=x, w=w)["y"], ref(x=x, w=w)["y"], rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_the_ops_references_are_the_convolution(dtype):
    reg = registry()
    rng = np.random.default_rng(2)
    np_dtype = np.float32 if dtype == "f32" else np.float64
    w = rng.normal(size=(5, 4, 3, 3)).astype(np_dtype)
    x = rng.normal(size=(2, 4, 7, 6)).astype(np_dtype)
    pads = ((1, 1), (0, 2))
    u = reg["winograd_filter"].reference([w], {}, None)[0]
    assert u.shape == (16, 5, 4) and u.dtype == np_dtype
    y = reg["conv_winograd"].reference([x, u], {"padding": pads}, None)[0]
    want = reg["conv"].reference([x, w], {"padding": pads, "stride": (1, 1), "lhs_dilation": (1, 1),
                                          "rhs_dilation": (1, 1), "groups": 1}, None)[0]
    assert y.dtype == np_dtype
    np.testing.assert_allclose(y, want, rtol=1e-4 if dtype == "f32" else 1e-10, atol=1e-4 if dtype == "f32" else 1e-10)


def test_bad_operands_get_a_clear_shape_error():
    from nnc.ir.types import TensorType
    from nnc.ops.base import ShapeError
    reg = registry()
    with pytest.raises(ShapeError, match="3×3 filters"):
        reg["winograd_filter"].infer([TensorType("f32", (4, 4, 5, 5))], {})
    with pytest.raises(ShapeError, match="u \\[16, O, C\\]"):
        reg["conv_winograd"].infer([TensorType("f32", (1, 4, 6, 6)), TensorType("f32", (16, 5, 3))],
                                   {"padding": ((1, 1), (1, 1))})
    assert reg["conv_winograd"].infer([TensorType("f32", (1, 4, 6, 6)), TensorType("f32", (16, 5, 4))],
                                      {"padding": ((1, 1), (0, 0))})[0].shape == (1, 5, 6, 4)
