"""A random-network differential test: hypothesis writes small valid programs (convolutions, pooling,
normalisation, dropout, dense layers, several optimisers and losses), tracking sizes by the shape rules so
every program checks; each model's inference and two training steps must agree between numpy and onnx."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("onnxruntime")

import nnc  # noqa: E402
from test_onnx_backend import assert_close, random_feeds  # noqa: E402

ACTIVATIONS = ["relu", "tanh", "sigmoid", "elu", "leaky_relu(0.1)"]
OPTIMIZERS = ["sgd(lr=0.05, momentum=0.9)", "adam(lr=0.01)", "rmsprop(lr=0.001)", "adagrad(lr=0.1)",
              "adamw(lr=0.01)"]


@st.composite
def programs(draw) -> str:
    """The text of a model `net` and a train block `fit`, valid by construction."""
    layers = []
    image = draw(st.booleans())
    if image:
        c, h, w = draw(st.integers(1, 3)), draw(st.integers(5, 9)), draw(st.integers(5, 9))
        source = f"input x: f32[N, {c}, {h}, {w}]"
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(["conv", "conv", "pool", "act", "batchnorm", "dropout"]))
            if kind == "conv":
                k, s, p = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 1))
                if min(h, w) + 2 * p < k or (h + 2 * p - k) % s or (w + 2 * p - k) % s:
                    continue  # nnc wants windows that tile the input exactly
                c = draw(st.integers(1, 4))
                layers.append(f"conv2d({c}, {k}, stride={s}, padding={p})")
                h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            elif kind == "pool" and h % 2 == 0 and w % 2 == 0:
                layers.append(draw(st.sampled_from(["maxpool(2)", "avgpool(2)"])))
                h, w = h // 2, w // 2
            elif kind == "pool" and h % 2 == 1 and w % 2 == 1 and h > 1 and w > 1:
                layers.append(draw(st.sampled_from(["maxpool(3, stride=2, padding=1)", "avgpool(3, stride=2)"])))
                h, w = (h - 1) // 2 + (1 if "padding" in layers[-1] else 0), (w - 1) // 2 + (1 if "padding" in layers[-1] else 0)
            elif kind == "act":
                layers.append(draw(st.sampled_from(ACTIVATIONS)))
            elif kind == "batchnorm":
                layers.append("batchnorm")
            elif kind == "dropout":
                layers.append("dropout(0.3)")
        layers.append("flatten")
    else:
        source = f"input x: f32[N, {draw(st.integers(2, 12))}]"
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["dense", "act", "layernorm", "dropout"]))
        layers.append({"dense": f"dense({draw(st.integers(2, 16))})", "act": draw(st.sampled_from(ACTIVATIONS)),
                       "layernorm": "layernorm", "dropout": "dropout(0.2)"}[kind])
    classes = draw(st.integers(3, 5))  # labels are drawn from 0..2
    layers.append(f"dense({classes})")
    loss = draw(st.sampled_from(["cross_entropy(y, label)", "mse(y, target)"]))
    label = "input label: i32[N]" if loss.startswith("cross") else f"input target: f32[N, {classes}]"
    return (f"model net {{\n  {source}\n  output y = x -> {' -> '.join(layers)}\n}}\n\n"
            f"train fit {{\n  {source}\n  {label}\n  y = net(x)\n  loss = {loss}\n"
            f"  minimize loss over net with {draw(st.sampled_from(OPTIMIZERS))}\n}}\n")


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("NNC_ONNX_THREADS", "1")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(programs(), st.integers(0, 3))
def test_random_networks_agree_between_numpy_and_onnx(text, seed):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.nn"
        path.write_text(text)
        prog = nnc.load(path)
        graph = prog._result.models["net"].graph
        feeds = random_feeds(graph, ["x"], 3, np.random.default_rng(seed))
        want, got = (prog.model("net", backend=b, seed=seed)(**feeds) for b in ("numpy", "onnx"))
        assert_close({"y": want}, {"y": got}, what=text)
        trainers = [prog.train("fit", backend=b, seed=seed) for b in ("numpy", "onnx")]
        step_graph = trainers[0].compiled.graph
        rng = np.random.default_rng(seed)
        for batch in (4, 2, 4):  # two batch sizes: a size baked into the graph would fail here
            batch_feeds = random_feeds(step_graph, trainers[0].inputs, batch, rng)
            want, got = (t.step(**batch_feeds) for t in trainers)
            assert_close(want, got, what=text)  # each loss after the updates of the steps before
        if "sgd" in text:
            # Adam, RMSprop and Adagrad divide by the gradient's own size, so a parameter whose gradient is
            # zero in exact arithmetic (a bias before a normalisation) moves by ±lr on rounding noise alone;
            # the losses above are blind to such parameters, and SGD's parameters are compared exactly.
            assert_close(dict(trainers[0].params), dict(trainers[1].params), what=text)
