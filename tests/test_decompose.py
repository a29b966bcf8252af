"""Composite ops decompose into primitives that compute what the composite's numpy reference computes.

Driven by the registry: every op with a `decompose` rule needs an entry in CASES (a test fails otherwise);
its one-node graph, decomposed, must hold only primitives, verify, and match the reference in float64.
"""
from __future__ import annotations

import numpy as np
import pytest

from nnc.interp import Context, run_graph
from nnc.ir.primitives import PRIMITIVES
from nnc.ir.types import TensorType, dim_add, sym
from nnc.ir.verify import verify
from nnc.ops import registry
from nnc.passes.decompose import DecomposeError, decompose
from test_primitives import SIZES, concrete, feeds_for, one_op_graph

N, T = sym("N"), sym("T")


def f(*shape) -> TensorType:
    return TensorType("f64", tuple(shape))


def i(*shape) -> TensorType:
    return TensorType("i64", tuple(shape))


def f32(*shape) -> TensorType:
    return TensorType("f32", tuple(shape))


def lengths(longest: int):
    """Sequence lengths 1..longest (attention's padding mask needs at least one key per sample)."""
    return lambda rng, shape: rng.integers(1, longest + 1, size=shape)


def labels(classes: int):
    return lambda rng, shape: rng.integers(0, classes, size=shape)


def positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def unit(rng, shape):
    return rng.integers(0, 2, size=shape) * 1.0


def wide(rng, shape):
    return rng.normal(scale=30.0, size=shape)


def steps(rng, shape):
    return rng.integers(0, 12, size=shape)


def zeros(rng, shape):
    return np.zeros(shape)


def update_types(tensors: int, dtype: str = "f64", step: bool = False) -> list:
    """param, grad and the slots ([2, 3] of one dtype), then the step count if any, then an f32 learning rate."""
    return [TensorType(dtype, (2, 3))] * tensors + ([i()] if step else []) + [TensorType("f32", ())]


def attention_types(q, k, v) -> list:
    """attention_backward's inputs: q, k, v, the four projections with biases, and g (the query's type)."""
    e = q.shape[2]
    w = lambda fan_in: [f(e, fan_in), f(e)]  # noqa: E731
    return [q, k, v] + w(e) + w(k.shape[2]) + w(v.shape[2]) + w(e) + [q]


def conv_geometry(stride, dilation, groups: int, bias: bool, padding=None) -> dict:
    """conv_backward's resolved attributes; padding defaults to (1, 1) on every axis."""
    padding = padding if padding is not None else ((1, 1),) * len(stride)
    return {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups, "bias": bias}


def pool_window(kind: str, k: int, s: int, p: int, spatial: int = 2) -> dict:
    return {"kind": kind, "kernel": (k,) * spatial, "stride": (s,) * spatial, "padding": ((p, p),) * spatial}


def ties(rng, shape):
    """0s and 1s with a 1 in every row: maxima of 1, often tied (the y fed with them is `ones`)."""
    x = rng.integers(0, 2, size=shape) * 1.0
    x[..., 0] = 1.0
    return x


def ones(rng, shape):
    return np.ones(shape)


# op -> cases of (input types, attributes, {input name: maker of its values})
CASES: dict[str, list[tuple]] = {
    "sum_like": [([f(2, 3, 4), f(3, 1)], {}, {}), ([f(N, 4), f(4)], {}, {}), ([f(2, 3), f(2, 3)], {}, {})],
    "unreduce": [([f(3), f(3, 4)], {"axis": (1,)}, {}),
                 ([f(N, 1), f(N, 5)], {"axis": (1,), "keepdims": True, "mean": True}, {}),
                 ([f(N, T), f(N, T, 4)], {"axis": (2,), "mean": True}, {}),
                 ([f(), f(N, 3)], {"axis": (0, 1), "mean": True}, {})],
    "max_grad": [([f(2), f(2, 5), f(2)], {"axis": (1,)}, {"x1": ties, "x2": ones}),
                 ([f(1, 1), f(3, 4), f(1, 1)], {"axis": (0, 1), "keepdims": True}, {"x1": ties, "x2": ones}),
                 ([f(N, 1), f(N, 4), f(N, 1)], {"axis": (1,), "keepdims": True}, {"x1": ties, "x2": ones})],
    "embedding_grad": [([f(N, 3, 4), i(N, 3), f(5, 4)], {}, {"x1": labels(5)})],
    "concat_grad": [([f(2, 7), f(2, 3), f(2, 4)], {"axis": 1, "pieces": 2}, {})],
    "slice_grad": [([f(2, 2, 3), f(2, 5, 3)], {"axis": 1, "start": 1, "end": 3}, {}),
                   ([f(2, 2, 3), f(2, 5, 3)], {"axis": 1, "start": 0, "end": 5, "step": 3}, {}),
                   ([f(2, 2, 3), f(2, 5, 3)], {"axis": 1, "start": -4, "end": -1, "step": 2}, {}),
                   ([f(N, 3), f(N, T, 3)], {"axis": 1, "drop_axis": True}, {}),
                   ([f(N, 3), f(N, 4, 3)], {"axis": 1, "drop_axis": True}, {}),
                   ([f(N, 2), f(N, T)], {"axis": 1, "start": 1, "end": 3}, {})],
    "relu": [([f(2, 5)], {}, {})],
    "leaky_relu": [([f(2, 5)], {"alpha": 0.2}, {})],
    "elu": [([f(2, 5)], {"alpha": 0.7}, {})],
    "erf": [([f(3, 7)], {}, {"x0": wide})],
    "gelu": [([f(2, 5)], {}, {"x0": wide}), ([f(N, 5)], {"approximate": "tanh"}, {})],
    "silu": [([f(2, 5)], {}, {"x0": wide})],
    "softplus": [([f(2, 5)], {}, {"x0": wide}), ([f(N, 5)], {"beta": 2.0, "threshold": 1.0}, {})],
    "selu": [([f(2, 5)], {}, {"x0": wide})],
    "hardtanh": [([f(2, 5)], {"min_val": -0.5, "max_val": 0.3}, {})],
    "relu6": [([f(2, 5)], {}, {"x0": wide})],
    "prelu": [([f(N, 3, 4)], {"num_parameters": 3}, {}), ([f(2, 5)], {}, {})],
    "softmax": [([f(N, 5)], {}, {}), ([f(2, 3, 4)], {"axis": 1}, {})],
    "log_softmax": [([f(N, 5)], {}, {}), ([f(2, 3, 4)], {"axis": 0}, {})],
    "mean": [([f(N, 3, 4)], {"axis": (0, 2)}, {}), ([f(2, 3)], {"axis": 1, "keepdims": True}, {})],
    "stop_gradient": [([f(2, 3)], {}, {})],
    "flatten": [([f(N, 2, 3, 4)], {}, {})],
    "spatial_pad": [([f(N, 2, 3, 4)], {"padding": ((1, 2), (0, 3)), "mode": "reflect"}, {}),
                    ([f(2, 2, 3)], {"padding": 2, "mode": "replicate"}, {}),
                    ([f(N, 2, T)], {"padding": ((2, 1),), "value": -0.5}, {})],
    "upsample": [([f(N, 2, 3, 4)], {"scale": (2, 3)}, {}), ([f(2, 2, 3, 4)], {"scale": (3, 2), "mode": "bilinear"}, {}),
                 ([f(N, 1, 4)], {"scale": 4, "mode": "linear"}, {})],
    "last": [([f(N, T, 3)], {}, {}), ([f(2, 4)], {}, {})],
    "global_avgpool": [([f(N, 3, 4, 5)], {}, {})],
    "rand": [([f(N, 3)], {"stream": 7, "dtype": "f64"}, {}),
             ([f(N, 3), i(), i()], {"lo": -2.0, "hi": 3.0, "stream": 9, "dtype": "f64"}, {})],
    "randn": [([f(N, 3)], {"stream": 7, "dtype": "f64"}, {}),
              ([f(2, 3, 4), i(), i()], {"mean": 1.5, "std": 0.5, "stream": 11, "dtype": "f64"}, {})],
    "clip": [([f(N, 5)], {"lo": -0.5, "hi": 0.5}, {}), ([f32(2, 3)], {"lo": 0.0, "hi": 0.0}, {})],
    "one_hot": [([i(N, 3)], {"classes": 5}, {"x0": labels(5)}),
                ([TensorType("i32", (4,))], {"classes": 3, "dtype": "f64"}, {"x0": labels(4)})],
    "pick": [([f(N, 5), i(N)], {"axis": 1}, {"x1": labels(5)}), ([f(2, 4, 3), i(2, 3)], {"axis": 1}, {"x1": labels(4)}),
             ([f(4), i()], {"axis": 0}, {"x1": labels(4)})],
    "sum_abs": [([f32(2, 3), f32(4)], {}, {})],
    "sum_squares": [([f32(2, 3), f32(4), f32(1)], {}, {})],
    "maxout": [([f(N, 6, 2)], {"pieces": 3}, {})],
    "maxout_grad": [([f(N, 2, 2), f(N, 6, 2)], {"pieces": 3}, {"x1": ties})],
    "embedding": [([i(N, 3)], {"vocab": 5, "dim": 4}, {"x0": labels(5)})],
    "dense": [([f(N, 3, 4)], {"units": 2}, {}), ([f(2, 4)], {"units": 3, "bias": False}, {})],
    "layernorm": [([f(N, 3, 4)], {"eps": 1e-3}, {})],
    "groupnorm": [([f(N, 6, 2, 3)], {"groups": 3, "eps": 1e-3}, {}),
                  ([f(2, 4, 5)], {"groups": 2, "affine": False}, {})],
    "instancenorm": [([f(N, 3, T)], {}, {}), ([f(2, 3, 2, 2)], {"affine": True}, {})],
    "dropout": [([f(N, 4)], {"p": 0.3}, {})],
    "dropout_mask": [([f(N, 40), i(), i()], {"p": 0.3, "stream": 2}, {})],
    "batchnorm": [([f(N, 3, 2, 2)], {}, {"x4": positive}), ([f(2, 3)], {"eps": 0.1}, {"x4": positive})],
    "batchnorm_train": [([f(N, 3, 2, 2), f(3), f(3)], {}, {}), ([f(4, 3), f(3), f(3)], {"eps": 0.1}, {})],
    "mse": [([f(N, 3), f(N, 3)], {}, {}), ([f(2, 3), f()], {"reduction": "sum"}, {})],
    "l1_loss": [([f(N, 3), f(N, 3)], {}, {}), ([f(2, 3), f()], {"reduction": "sum"}, {})],
    "bce": [([f(N, 3), f(N, 3)], {}, {"x0": wide, "x1": unit}), ([f(4), f()], {"reduction": "sum"}, {"x1": unit})],
    "cross_entropy": [([f(N, 5), i(N)], {}, {"x1": labels(5)}),
                      ([f(2, 3, 4), i(2, 3)], {"reduction": "sum"}, {"x0": wide, "x1": labels(4)}),
                      ([f(N, 4, T), i(N, T)], {"axis": 1, "weight": [1, 2, 0.5, 3], "ignore_index": 2},
                       {"x1": labels(4)}),
                      ([f(N, 3), i(N)], {"reduction": "none", "ignore_index": 0}, {"x1": labels(3)}),
                      ([f(N, 4, T), i(N, T)], {"axis": 1, "weight": [1, 2, 0.5, 3], "ignore_index": 2,
                                              "label_smoothing": 0.3}, {"x1": labels(4)}),
                      ([f(N, 5), i(N)], {"label_smoothing": 0.1}, {"x1": labels(5)})],
    "nll": [([f(N, 5), i(N)], {}, {"x1": labels(5)}), ([f(N, T, 4), i(N, T)], {"reduction": "sum"}, {"x1": labels(4)}),
            ([f(2, 3, 4), i(2, 4)], {"axis": 1, "reduction": "none", "weight": [2, 1, 3]}, {"x1": labels(3)})],
    "huber": [([f(N, 3), f(N, 3)], {"delta": 0.5}, {}), ([f(2, 3), f()], {"reduction": "none"}, {})],
    "smooth_l1": [([f(N, 3), f(N, 3)], {"beta": 0.5, "reduction": "sum"}, {}), ([f(2, 3), f(2, 3)], {"beta": 0.0}, {})],
    "kl_div": [([f(N, 3), f(N, 3)], {"reduction": "batchmean"}, {"x1": positive}),
               ([f(2, 3), f(2, 3)], {"log_target": True, "reduction": "none"}, {})],
    "hinge": [([f(N, 5), i(N)], {"margin": 0.5}, {"x1": labels(5)}),
              ([f(2, 3, 4), i(2, 3)], {"reduction": "sum"}, {"x1": labels(4)})],
    "accuracy": [([f32(N, 5), i(N)], {}, {"x1": labels(5)}), ([f32(7, 3), TensorType("i32", (7,))], {},
                                                                {"x1": labels(3)})],
    "class_loss_grad": [([f(), f(N, 5), i(N)], {"loss": loss, "reduction": r, "margin": 0.5}, {"x2": labels(5)})
                        for loss in ("cross_entropy", "nll", "hinge") for r in ("mean", "sum")]
                       + [([f(), f(N, T, 4), i(N, T)], {"loss": "cross_entropy"}, {"x2": labels(4)})],
    "contrastive": [([f(N, 3), f(N, 3), f(N)], {"margin": 2.0}, {"x2": unit}),
                    ([f(3, 2, 2), f(3, 2, 2), f(3)], {"reduction": "sum"}, {"x2": unit})],
    "triplet": [([f(N, 3), f(N, 3), f(N, 3)], {"margin": 0.5}, {}), ([f(4, 2, 2)] * 3, {"reduction": "sum"}, {})],
    "pair_loss_grad": [([f(), f(N, 3), f(N, 3), f(N)], {"loss": "contrastive", "margin": 2.0, "reduction": r},
                        {"x3": unit}) for r in ("mean", "sum")]
                      + [([f(), f(3, 2, 2), f(3, 2, 2), f(3, 2, 2)], {"loss": "triplet", "margin": m}, {})
                         for m in (0.5, 3.0)],
    "sgd_update": [(update_types(3), {}, {}),
                   (update_types(3), {"momentum": 0.9, "weight_decay": 0.01}, {}),
                   (update_types(3, "f32"), {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}, {})],
    "adagrad_update": [(update_types(3), {}, {"x2": positive}),
                       (update_types(3, "f32"), {"weight_decay": 0.1, "eps": 1e-3}, {"x2": positive})],
    "rmsprop_update": [(update_types(4), {}, {"x2": positive}),
                       (update_types(4, "f32"), {"momentum": 0.5, "weight_decay": 0.1}, {"x2": positive})],
    "adam_update": [(update_types(4, step=True), {}, {"x3": positive, "x4": steps}),
                    (update_types(4, "f32", step=True), {"weight_decay": 0.1, "decoupled": True},
                     {"x3": positive, "x4": steps}),
                    (update_types(4, "f32", step=True), {"weight_decay": 0.1, "beta2": 0.99},
                     {"x3": positive, "x4": steps})],
    "lamb_update": [(update_types(4, step=True), {}, {"x3": positive, "x4": steps}),
                    (update_types(4, "f32", step=True), {"weight_decay": 0.1}, {"x3": positive, "x4": steps}),
                    (update_types(4, step=True), {}, {"x0": zeros, "x3": positive, "x4": steps})],
    "lr_schedule": [([i()], {"schedule": s}, {"x0": steps}) for s in
                    (0.1, ("cosine", 0.1, 7, 0.001), ("step_decay", 0.5, 3, 0.1), ("inverse_time", 0.2, 0.05),
                     ("warmup", 5, ("cosine", 0.1, 20, 0.0)), ("warmup", 4, 0.3))],
    "attention": [([f(N, T, 4), f(N, 5, 3), f(N, 5, 2)], {"heads": 2}, {}), ([f(2, 3, 4)] * 3, {}, {}),
                  ([f(N, T, 4), f(N, T, 3), f(N, T, 2)], {"heads": 2, "causal": True}, {}),
                  ([f(2, 4, 4), f(2, 3, 4), f(2, 3, 4)], {"causal": True}, {}),
                  ([f(N, T, 4), f(N, 5, 3), f(N, 5, 2), i(N)], {"heads": 2}, {"x3": lengths(5)})],
    "attention_backward": [(attention_types(f(N, T, 4), f(N, 5, 3), f(N, 5, 2)), {"heads": 2}, {}),
                           (attention_types(f(2, 3, 6), f(2, 3, 6), f(2, 3, 6)), {"heads": 3}, {}),
                           (attention_types(f(2, 3, 6), f(2, 3, 6), f(2, 3, 6)), {"heads": 3, "causal": True}, {}),
                           (attention_types(f(N, T, 4), f(N, 5, 3), f(N, 5, 2)) + [i(N)], {"heads": 2},
                            {"x12": lengths(5)})],
    "conv2d": [([f(N, 4, 5, 6)], {"filters": 6, "kernel": 3, "stride": 2, "padding": 1, "groups": 2}, {}),
               ([f(2, 3, 7, 7)], {"filters": 2, "kernel": (3, 2), "dilation": (2, 1), "padding": "same",
                                  "bias": False}, {})],
    "conv1d": [([f(N, 2, 9)], {"filters": 3, "kernel": 4, "stride": 3, "padding": 2}, {})],
    "conv3d": [([f(N, 2, 4, 3, 5)], {"filters": 2, "kernel": 2, "stride": (1, 2, 2), "padding": 1,
                                     "remainder": "drop"}, {})],
    "conv_backward": [([f(N, 6, 3, 3), f(N, 4, 5, 6), f(6, 2, 3, 3)], conv_geometry((2, 2), (1, 1), 2, True), {}),
                      ([f(2, 2, 7, 7), f(2, 3, 7, 7), f(2, 3, 3, 2)],
                       conv_geometry((1, 1), (2, 1), 1, False, ((2, 2), (0, 1))), {}),
                      ([f(N, 3, 4), f(N, 2, 9), f(3, 2, 4)], conv_geometry((3,), (1,), 1, True, ((2, 2),)), {}),
                      ([f(N, 3, dim_add(T, -1)), f(N, 2, T), f(3, 2, 4)], conv_geometry((1,), (1,), 1, True), {})],
    "conv_transpose2d": [([f(N, 4, 3, 3)], {"filters": 6, "kernel": 3, "stride": 2, "padding": 1,
                                            "output_padding": 1, "groups": 2}, {}),
                         ([f(2, 3, 4, 3)], {"filters": 2, "kernel": (2, 3), "dilation": (2, 1), "bias": False}, {})],
    "conv_transpose_backward": [([f(N, 6, 6, 6), f(N, 4, 3, 3), f(4, 3, 3, 3)],
                                 dict(conv_geometry((2, 2), (1, 1), 2, True, (1, 1)), output_padding=(1, 1)), {}),
                                ([f(2, 2, 5, 5), f(2, 3, 4, 3), f(3, 2, 2, 3)],
                                 dict(conv_geometry((1, 1), (1, 1), 1, False, (0, 0)), output_padding=(0, 0)), {})],
    "maxpool": [([f(N, 2, 5, 5)], {"kernel": 3, "stride": 2, "padding": 1}, {"x0": ties}),
                ([f(2, 3, 6)], {"kernel": 2}, {}),
                ([f(N, 2, 7, 7)], {"kernel": 2, "ceil_mode": True}, {}),
                ([f(2, 2, 7, 6)], {"kernel": (3, 2), "stride": 2, "padding": 2, "dilation": 2, "ceil_mode": True},
                 {"x0": ties})],
    "avgpool": [([f(N, 2, 5, 5)], {"kernel": 3, "stride": 2, "padding": 1}, {}), ([f(2, 3, 6)], {"kernel": 2}, {}),
                ([f(N, 2, 6, 5)], {"kernel": 3, "stride": 2, "padding": ((1, 1), (0, 2)), "ceil_mode": True}, {}),
                ([f(N, 2, 6)], {"kernel": 3, "stride": 2, "padding": 1, "count_include_pad": False}, {}),
                ([f(2, 2, 7, 6)], {"kernel": 2, "stride": 1, "padding": 1, "dilation": (2, 3),
                                   "count_include_pad": False}, {})],
    "pool_backward": [([f(N, 2, 3, 3), f(N, 2, 5, 5)], pool_window("maxpool", 3, 2, 1), {"x1": ties}),
                      ([f(N, 2, 3, 3), f(N, 2, 5, 5)], pool_window("avgpool", 3, 2, 1), {}),
                      ([f(2, 3, 3), f(2, 3, 6)], pool_window("avgpool", 2, 2, 0, spatial=1), {})],
}


def _with_rules() -> list[str]:
    return [name for name, op in registry().items() if op.decompose is not None]


def test_every_composite_with_a_rule_has_a_case():
    missing = [name for name in _with_rules() if name not in CASES]
    assert not missing, f"ops with a decompose rule but no case in CASES: {missing}"


def test_no_primitive_has_a_rule():
    assert not [n for n in _with_rules() if n in PRIMITIVES]


def _params():
    return [pytest.param(name, k, id=f"{name}-{k}") for name in sorted(CASES) for k in range(len(CASES[name]))]


@pytest.mark.parametrize("name,k", _params())
def test_decomposition_matches_the_reference(name, k):
    types, attrs, makers = CASES[name][k]
    graph = one_op_graph(name, types, attrs)
    flat = decompose(graph, frozenset())
    verify(flat)
    left = sorted({n.op for n in flat.nodes if n.op not in PRIMITIVES})
    assert not left, left
    assert all(n.span == graph.nodes[0].span for n in flat.nodes)
    assert [flat.type_of(v) for _, v in flat.outputs] == [graph.type_of(v) for _, v in graph.outputs]
    for seed in range(2):
        feeds = feeds_for(graph, np.random.default_rng(seed), makers)
        want = run_graph(graph, feeds, {}, Context())
        got = run_graph(flat, feeds, {}, Context())
        for out in want:
            assert got[out].dtype == want[out].dtype, out
            assert np.isfinite(want[out]).all(), f"the case of {name} makes a non-finite reference"
            tol = 1e-12 if want[out].dtype != np.float32 else 1e-6  # a last-bit difference in f64 may round up
            np.testing.assert_allclose(got[out], want[out], rtol=tol, atol=tol, err_msg=f"{name} {out}")


BINARY = {"add", "sub", "mul", "div", "maximum", "minimum", "pow", "compare", "matmul"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_decompositions_mix_no_dtypes(name):
    """Binary nodes a rule writes see one dtype (constants take their partner's), so dtype promotion need not
    run again after decomposition."""
    for types, attrs, _ in CASES[name]:
        flat = decompose(one_op_graph(name, types, attrs), frozenset())
        for node in flat.nodes:
            operands = node.inputs[1:] if node.op == "where" else node.inputs if node.op in BINARY else ()
            assert len({flat.type_of(v).dtype for v in operands}) <= 1, f"{name}: {node.name}"


def test_a_supported_op_is_left_alone():
    graph = one_op_graph("sum_like", [f(2, 3), f(3)], {})
    assert [n.op for n in decompose(graph, frozenset({"sum_like"})).nodes] == ["sum_like"]


def test_an_op_without_a_rule_is_named_with_its_line():
    graph = one_op_graph("grad", [f(), f(3)], {})
    with pytest.raises(DecomposeError, match=r"grad at line 1 .*no decomposition"):
        decompose(graph, frozenset())


def test_a_rule_that_cannot_express_an_instance_says_why_with_the_line():
    graph = one_op_graph("concat_grad", [f(dim_add(N, T), 3), f(N, 3), f(T, 3)], {"axis": 0, "pieces": 2})
    with pytest.raises(DecomposeError, match=r"concat_grad at line 1 .*symbolic size"):
        decompose(graph, frozenset())


def test_sizes_used_by_the_cases_are_bound():
    assert concrete((N, T, 2)) == (SIZES["N"], SIZES["T"], 2)


# --- whole programs: every example's inference graphs and training steps ------------------------------------

from helpers import ROOT, check  # noqa: E402

EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))
SMALL = {"digits_mlp", "digits_cnn", "lenet5", "lstm_classifier", "gan", "fgsm"}  # cheap enough to run


def _graphs(path):
    """(label, graph) for each model and each training step of an example."""
    from nnc.train.step import build_step
    result = check(path.read_text(), name=str(path))
    assert not result.errors, [d.message for d in result.errors]
    out = [(f"model {name}", info.graph) for name, info in result.models.items()]
    out += [(f"train {name}", build_step(info).graph) for name, info in result.trains.items()]
    return out


def _feeds(graph, rng):
    """Every input: floats non-negative (optimiser slots such as Adam's v must be), ints 0 or 1 (valid labels,
    token ids and step counts); every symbolic size 2."""
    feeds = {}
    for name, vid in graph.inputs:
        t = graph.type_of(vid)
        shape = tuple(d if isinstance(d, int) else 2 for d in t.shape)
        feeds[name] = np.abs(rng.normal(size=shape)) if t.is_float else rng.integers(0, 2, size=shape)
    return feeds


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_programs_decompose_to_primitives(path):
    from nnc.init import initialize
    for label, graph in _graphs(path):
        flat = decompose(graph, frozenset())
        verify(flat)
        left = sorted({n.op for n in flat.nodes if n.op not in PRIMITIVES})
        assert not left, f"{path.stem} {label}: {left}"
        assert [flat.type_of(v) for _, v in flat.outputs] == [graph.type_of(v) for _, v in graph.outputs]
        if path.stem not in SMALL:
            continue
        rng = np.random.default_rng(0)
        feeds, params = _feeds(graph, rng), initialize(graph.params, 0)
        want = run_graph(graph, feeds, params, Context())
        got = run_graph(flat, feeds, params, Context())
        for out in want:
            assert got[out].dtype == want[out].dtype, (label, out)
            np.testing.assert_allclose(got[out], want[out], rtol=2e-4, atol=2e-5, err_msg=f"{path.stem} {label} {out}")


SEQUENCE_PROGRAM = """
model tagger {
  input x: f32[N, 3, T]
  h = x -> conv1d(4, 3, padding=1) -> batchnorm -> relu -> conv1d(2, 3, padding="same", dilation=2)
  output y = h -> transpose([0, 2, 1]) -> dense(5) -> log_softmax
}

train tags {
  input x: f32[N, 3, T]
  input tag: i32[N, T]
  y = tagger(x)
  loss = nll(y, tag)
  minimize loss over tagger with sgd(lr=0.1, momentum=0.9)
  batch 4
  epochs 1
}
"""


def test_a_program_over_a_symbolic_length_decomposes_and_computes_the_same():
    """conv1d over [N, C, T]: the weight gradient is a convolution whose kernel (g) has the symbolic length."""
    from nnc.init import initialize
    from nnc.train.step import build_step
    result = check(SEQUENCE_PROGRAM)
    assert not result.errors, [d.message for d in result.errors]
    for graph in (result.models["tagger"].graph, build_step(result.trains["tags"]).graph):
        flat = decompose(graph, frozenset())
        verify(flat)
        assert not {n.op for n in flat.nodes} - PRIMITIVES
        rng = np.random.default_rng(1)
        feeds, params = _feeds(graph, rng), initialize(graph.params, 1)
        want = run_graph(graph, feeds, params, Context())
        got = run_graph(flat, feeds, params, Context())
        for out in want:
            np.testing.assert_allclose(got[out], want[out], rtol=2e-4, atol=2e-5, err_msg=out)
