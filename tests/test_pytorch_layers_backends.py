"""Issue 13's layers on the compiled backends: they reach ONNX and LLVM as primitives (their decompositions),
and each backend computes what the numpy oracle computes, forward and gradient."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from helpers import check, model_src
from nnc.backends import BackendUnavailable, get, inference_signature, resolve
from nnc.init import initialize
from nnc.passes.autodiff import differentiate
from nnc.passes.emit import Emitter, builder_from, tensor
from nnc.passes.pipeline import prepare

PROGRAMS = [
    ("input x: f32[N, 3, 7, 7]", "x -> maxpool(3, stride=2, dilation=2, padding=[[1, 2], [0, 1]], ceil_mode=true)"),
    ("input x: f32[N, 3, 7, 7]", "x -> avgpool(3, stride=2, padding=1, count_include_pad=false, ceil_mode=true)"),
    ("input x: f32[N, 3, 7, 7]", 'x -> conv2d(4, 3, stride=3, remainder="drop") -> gelu -> silu'),
    ("input x: f32[N, 3, 7, 7]", 'x -> gelu(approximate="tanh") -> softplus -> selu -> relu6 -> hardtanh'),
    ("input x: f32[N, 4, 6, 6]", "x -> groupnorm(2) -> instancenorm -> prelu(4)"),
    ("input x: f32[N, 2, 3, 4]",
     'x -> upsample(2, mode="bilinear") -> spatial_pad(1, mode="reflect") -> spatial_pad([[1, 0], [0, 2]], '
     'mode="replicate")'),
    ("input x: f32[N, 2, 3, 3, 3]", "x -> conv3d(2, 2, padding=1) -> maxpool(2, ceil_mode=true)"),
    ("input x: f32[N, 4, 5]; input t: i64[N, 5]",
     'cross_entropy(x, t, axis=1, weight=[1, 2, 3, 4], ignore_index=0) + nll(x -> transpose([0, 2, 1]), t, '
     'reduction="sum") + huber(x, 0.5) + kl_div(x, exp(x), reduction="batchmean") + smooth_l1(x, x * 2)'),
]


def backend_or_skip(name: str):
    pytest.importorskip("onnxruntime") if name == "onnx" else pytest.importorskip("llvmlite")
    try:
        resolve(name, "cpu")
    except BackendUnavailable as err:
        pytest.skip(str(err))
    return get(name)


def with_input_gradient(graph):
    """The graph with one more output: d sum(y)/dx."""
    b = builder_from(graph)
    e = Emitter(b, graph.nodes[-1].span, "", "check")
    y = tensor(b, dict(graph.outputs)["y"])
    loss = e("sum", y, axis=tuple(range(y.type.rank)))
    x = dict(graph.inputs)["x"]
    b.outputs = list(graph.outputs) + [("__loss", loss.id)]
    full, grads = differentiate(b.build(), loss.id, [x])
    return dataclasses.replace(full, outputs=tuple(graph.outputs) + (("dx", grads[x]),))


def run(backend, graph, feeds, params):
    exe = backend.compile(prepare(graph, backend), inference_signature(graph))
    if params:
        exe.load_state(params)
    return exe(**feeds)


@pytest.mark.parametrize("name", ["onnx", "llvm"])
@pytest.mark.parametrize("inputs,expr", PROGRAMS, ids=[p[1][:50] for p in PROGRAMS])
def test_backend_agrees_with_numpy_forward_and_gradient(name, inputs, expr, monkeypatch):
    monkeypatch.setenv("NNC_ONNX_THREADS", "1")
    backend = backend_or_skip(name)
    graph = with_input_gradient(check(model_src(inputs, expr)).models["m"].graph)
    rng = np.random.default_rng(5)
    shape = tuple(int(d) for d in graph.type_of(dict(graph.inputs)["x"]).shape[1:])
    feeds = {"x": rng.normal(size=(2,) + shape).astype(np.float32)}
    if "input t" in inputs:
        feeds["t"] = rng.integers(0, 4, size=(2, 5))
    params = initialize(graph.params, 0)
    want = run(get("numpy"), graph, feeds, params)
    got = run(backend, graph, feeds, params)
    for out in ("y", "dx"):
        a, b = np.asarray(want[out]), np.asarray(got[out])
        scale = float(np.max(np.abs(a))) if a.size else 0.0
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * scale + 1e-6, err_msg=f"{name} {out}")
