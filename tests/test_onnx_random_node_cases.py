"""Random-data ONNX nodes checked against onnxruntime (issue 13, item 5).

The ONNX node tests are weak where it matters most: all-ones kernels, one time step, identical gate weights
(reordering an LSTM's gates wrongly still passes them). These cases build the same kind of single-node ONNX
model with random weights and inputs, run it in onnxruntime, and run the .nn program that
tests/onnx_node_programs.py writes for it on the numpy backend: kernel orientation, groups, dilation and
asymmetric padding of convolutions, the gate order and layout conversion of RNN/LSTM/GRU over several steps in
every direction, and attention as ONNX's Attention op between MatMul projections.
"""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

import onnx_node_programs as programs  # noqa: E402
from onnx_node_coverage import pool_program  # noqa: E402
from helpers import check, errors  # noqa: E402
from nnc.interp import Context, run_graph  # noqa: E402

R = np.random.default_rng(13)


class Case:
    """What onnx_node_programs reads of an ONNX node test: the model and one data set."""

    def __init__(self, model, inputs: list[np.ndarray], outputs: list[np.ndarray]):
        self.model, self.data_sets, self.name = model, [(inputs, outputs)], "random"


def onnxruntime_case(node, feeds: dict[str, np.ndarray], opset: int = 21) -> Case:
    """A one-node model whose inputs are `feeds` (weights too), with onnxruntime's outputs as the expected ones."""
    ins = [helper.make_tensor_value_info(k, TensorProto.FLOAT, v.shape) for k, v in feeds.items()]
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in node.output if o]
    model = helper.make_model(helper.make_graph([node], "g", ins, outs),
                              opset_imports=[helper.make_opsetid("", opset)], ir_version=10)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = sess.run(None, feeds)
    return Case(model, list(feeds.values()), expected)


def randn(*shape) -> np.ndarray:
    return R.normal(size=shape).astype(np.float32)


def assert_matches(case: Case):
    status, why = programs.run_tolerance(case, rtol=1e-4, atol=1e-5)
    assert status == "passed", why


CONVS = [  # (x shape, W shape, attributes)
    ((2, 4, 9, 8), (6, 2, 3, 2), dict(group=2, strides=[2, 3], dilations=[2, 1], pads=[1, 0, 2, 1])),
    ((2, 3, 7, 7), (3, 1, 3, 3), dict(group=3, auto_pad="SAME_LOWER", strides=[2, 2])),
    ((2, 3, 11), (5, 3, 4), dict(strides=[2], pads=[2, 1], dilations=[2])),
    ((1, 2, 5, 6, 4), (3, 2, 3, 2, 2), dict(strides=[1, 2, 1], pads=[1, 0, 1, 1, 0, 0])),
]


@pytest.mark.parametrize("xs, ws, attrs", CONVS)
def test_convolution_matches_onnxruntime(xs, ws, attrs):
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
    assert_matches(onnxruntime_case(node, {"x": randn(*xs), "w": randn(*ws), "b": randn(ws[0])}))


TRANSPOSED = [
    ((2, 4, 4, 5), (4, 3, 3, 2), dict(group=2, strides=[2, 3], pads=[1, 0, 1, 0], output_padding=[1, 2])),
    ((1, 2, 3, 4), (2, 3, 3, 3), dict(strides=[2, 2], dilations=[2, 1], auto_pad="SAME_UPPER")),
    ((2, 3, 6), (3, 2, 3), dict(strides=[3], pads=[1, 2])),
]


@pytest.mark.parametrize("xs, ws, attrs", TRANSPOSED)
def test_transposed_convolution_matches_onnxruntime(xs, ws, attrs):
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], **attrs)
    assert_matches(onnxruntime_case(node, {"x": randn(*xs), "w": randn(*ws), "b": randn(ws[1] * attrs.get("group", 1))}))


POOLS = [
    ("MaxPool", (2, 3, 10, 9), dict(kernel_shape=[3, 2], strides=[2, 2], dilations=[2, 1], ceil_mode=1)),
    ("AveragePool", (2, 3, 7, 8), dict(kernel_shape=[3, 3], strides=[2, 3], pads=[2, 0, 1, 1], count_include_pad=0)),
    ("AveragePool", (1, 2, 6, 5, 7), dict(kernel_shape=[2, 3, 2], strides=[2, 2, 3], ceil_mode=1, count_include_pad=1,
                                          pads=[1, 1, 0, 0, 1, 1])),
]


@pytest.mark.parametrize("op, xs, attrs", POOLS)
def test_pooling_matches_onnxruntime(op, xs, attrs):
    case = onnxruntime_case(helper.make_node(op, ["x"], ["y"], **attrs), {"x": randn(*xs)})
    call, _, _ = pool_program(case.model.graph.node[0], xs)
    result = check(f"model m {{\n  input x: f32[{', '.join(map(str, xs))}]\n  output y = {call}\n}}\n")
    assert not errors(result), errors(result)
    got = run_graph(result.models["m"].graph, {"x": case.data_sets[0][0][0]}, {}, Context())["y"]
    np.testing.assert_allclose(got, case.data_sets[0][1][0], rtol=1e-5, atol=1e-6)


def recurrent_case(kind: str, direction: str, layout: int, initial: bool, t=5, n=3, f=4, h=6) -> Case:
    g = {"RNN": 1, "LSTM": 4, "GRU": 3}[kind]
    d = 2 if direction == "bidirectional" else 1
    feeds = {"x": randn(t, n, f) if layout == 0 else randn(n, t, f), "w": randn(d, g * h, f) * 0.5,
             "r": randn(d, g * h, h) * 0.5, "b": randn(d, 2 * g * h) * 0.5}
    names = ["x", "w", "r", "b", ""]
    state = (d, n, h) if layout == 0 else (n, d, h)
    if initial:
        feeds["h0"] = randn(*state)
        names.append("h0")
        if kind == "LSTM":
            feeds["c0"] = randn(*state)
            names.append("c0")
    outs = ["y", "y_h"] + (["y_c"] if kind == "LSTM" and direction != "bidirectional" else [])
    extra = {"linear_before_reset": 1} if kind == "GRU" else {}
    node = helper.make_node(kind, names, outs, hidden_size=h, direction=direction, layout=layout, **extra)
    return onnxruntime_case(node, feeds)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("direction, initial", [("forward", True), ("reverse", True), ("bidirectional", False),
                                                ("forward", False)])
def test_recurrent_layers_match_onnxruntime(kind, direction, initial):
    """Time first (layout 0): onnxruntime refuses layout 1, which the node tests' batchwise cases cover."""
    assert_matches(recurrent_case(kind, direction, 0, initial))


def test_a_wrong_gate_order_is_caught_by_the_random_cases(monkeypatch):
    """The node tests pass with an LSTM's gates left in ONNX's order; these cases do not."""
    case = recurrent_case("LSTM", "forward", 0, True)
    monkeypatch.setitem(__import__("onnx_node_recurrent").GATES, "LSTM", [0, 1, 2, 3])
    status, why = programs.run_tolerance(case, rtol=1e-4, atol=1e-5)
    assert status == "failed" and "different numbers" in why


ATTENTION = """model m {
  input q: f32[N, 4, 6]
  input kv: f32[N, 5, 3]
  LENGTHS
  output y = q -> attention(kv, kv, heads=2ARGS)
}
"""


@pytest.mark.parametrize("variant", ["plain", "causal", "lengths"])
def test_attention_matches_onnx_attention_between_projections(variant):
    """nnc's attention (PyTorch's MultiheadAttention) is ONNX's graph MatMul+Add projections, Attention
    (opset 23, q_num_heads = kv_num_heads = heads), MatMul+Add out projection; causal is is_causal, lengths a
    boolean attn_mask."""
    n, tq, tk, e, ek, heads = 2, 4, 5, 6, 3, 2
    tk = tq if variant == "causal" else tk
    src = ATTENTION.replace("5, 3", f"{tk}, {ek}").replace(
        "LENGTHS", "input lens: i64[N]" if variant == "lengths" else "").replace(
        "ARGS", {"plain": "", "causal": ", causal=true", "lengths": ", lengths=lens"}[variant])
    result = check(src)
    assert not errors(result), errors(result)
    graph = result.models["m"].graph
    p = {}
    for role, cols in (("query", e), ("key", ek), ("value", ek), ("out", e)):
        p[role] = (randn(e, cols) * 0.5, randn(e) * 0.5)
    q, kv = randn(n, tq, e), randn(n, tk, ek)
    lens = np.array([tk, 2], np.int64)
    params = {prm.name: p[prm.name.split("/")[-1].split(".")[0]][0 if prm.name.endswith("weight") else 1]
              for prm in graph.params}
    feeds = {"q": q, "kv": kv, **({"lens": lens} if variant == "lengths" else {})}
    got = run_graph(graph, feeds, params, Context())["y"]

    inits = [helper.make_tensor(f"{r}_{s}", TensorProto.FLOAT, v.shape, v.flatten())
             for r, (w, b) in p.items() for s, v in (("w", w.T.copy()), ("b", b))]
    nodes = []
    for role, src_name in (("query", "q"), ("key", "kv"), ("value", "kv")):
        nodes += [helper.make_node("MatMul", [src_name, f"{role}_w"], [f"{role}_m"]),
                  helper.make_node("Add", [f"{role}_m", f"{role}_b"], [f"{role}_p"])]
    att_in = ["query_p", "key_p", "value_p"] + (["mask"] if variant == "lengths" else [])
    nodes += [helper.make_node("Attention", att_in, ["a"], q_num_heads=heads, kv_num_heads=heads,
                               is_causal=int(variant == "causal")),
              helper.make_node("MatMul", ["a", "out_w"], ["o"]), helper.make_node("Add", ["o", "out_b"], ["y"])]
    ins = [helper.make_tensor_value_info("q", TensorProto.FLOAT, q.shape),
           helper.make_tensor_value_info("kv", TensorProto.FLOAT, kv.shape)]
    ort_feeds = {"q": q, "kv": kv}
    if variant == "lengths":  # [N, 1, Tq, Tk]: True where the key is attended
        mask = np.broadcast_to((np.arange(tk)[None, :] < lens[:, None])[:, None, None, :], (n, 1, tq, tk)).copy()
        ins.append(helper.make_tensor_value_info("mask", TensorProto.BOOL, mask.shape))
        ort_feeds["mask"] = mask
    model = helper.make_model(helper.make_graph(nodes, "g", ins, [helper.make_tensor_value_info(
        "y", TensorProto.FLOAT, None)], initializer=inits), opset_imports=[helper.make_opsetid("", 23)], ir_version=10)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, ort_feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
