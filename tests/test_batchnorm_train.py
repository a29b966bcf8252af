"""batchnorm_train (training-mode batchnorm as one op, nnc/ops/batchnorm_train.py): its closed-form gradient
against the gradient of its own decomposition (the primitives training graphs were made of before), for
every output's cotangent, in float64; training graphs use it; and models with batchnorm train on the llvm
backend step for step as the numpy oracle trains them (running statistics included)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import nnc
from nnc.interp import Context, run_graph
from nnc.ir.types import TensorType, sym
from nnc.passes.autodiff import differentiate
from nnc.passes.decompose import decompose
from nnc.passes.emit import Emitter, builder_from, tensor
from test_primitives import one_op_graph


def _loss_graph(graph, weighted: tuple[bool, bool, bool]):
    """graph (inputs x0, x1, x2; outputs y0, y1, y2) with inputs r0.. and the output loss = Σ yk·rk."""
    b = builder_from(graph)
    e = Emitter(b, None, "", "loss")
    loss = None
    for k, (name, vid) in enumerate(graph.outputs):
        if weighted[k]:
            y = tensor(b, vid)
            term = e("sum", e("mul", y, b.add_input(f"r{k}", y.type, None)))
            loss = term if loss is None else e("add", loss, term)
    b.outputs = [("loss", loss.id)]
    return b.build(), loss.id


def _grads(graph, weighted, feeds):
    g, loss = _loss_graph(graph, weighted)
    wrt = [v for n, v in g.inputs if n in ("x0", "x1", "x2")]
    full, grads = differentiate(g, loss, wrt)
    full = dataclasses.replace(full, outputs=tuple((f"d{k}", grads[v]) for k, v in enumerate(wrt)
                                                 if grads[v] is not None))
    return run_graph(full, {n: v for n, v in feeds.items() if n in dict(g.inputs)}, {}, Context())


@pytest.mark.parametrize("weighted", [(True, False, False), (True, True, True), (False, True, False),
                                      (False, False, True)])
@pytest.mark.parametrize("shape", [(4, 3, 2, 5), (6, 2)])
def test_the_closed_form_gradient_is_the_decompositions(shape, weighted):
    c = shape[1]
    stat = (1, c) + (1,) * (len(shape) - 2)
    types = [TensorType("f64", (sym("N"),) + shape[1:]), TensorType("f64", (c,)), TensorType("f64", (c,))]
    graph = one_op_graph("batchnorm_train", types, {"eps": 1e-3})
    rng = np.random.default_rng(1)
    feeds = {"x0": rng.normal(size=shape) * 2 + 1, "x1": rng.normal(size=c), "x2": rng.normal(size=c),
             "r0": rng.normal(size=shape), "r1": rng.normal(size=stat), "r2": rng.normal(size=stat)}
    want = _grads(decompose(graph, frozenset()), weighted, feeds)  # autodiff through the primitives
    got = _grads(graph, weighted, feeds)                             # the op's own rule
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-8, atol=1e-9, err_msg=k)  # cancellation: the forms round apart


def test_training_graphs_use_the_op():
    from helpers import check, model_src
    from nnc.passes.training import training_mode
    graph = check(model_src("input x: f64[N, 3, 2, 2]", "x -> batchnorm")).models["m"].graph
    ops = [n.op for n in training_mode(graph)[0].nodes]
    assert ops.count("batchnorm_train") == 1 and "batchnorm" not in ops


SRC = """model m {{
  input x: f32[N, 2, {h}, {h}]
  output y = x -> conv2d(4, 3, padding=1{bias}) -> batchnorm -> relu -> maxpool(2)
    -> conv2d(3, 3, padding=1{bias}) -> batchnorm -> relu -> flatten -> dense(2)
}}
train t {{
  input x: f32[N, 2, {h}, {h}]
  input label: i32[N]
  loss = cross_entropy(m(x), label)
  minimize loss over m with {opt}
  data "synthetic"
  epochs 1
}}
"""


# a convolution's bias before batchnorm has a gradient of 0 but for rounding (Σdx), which Adam scales to whole
# steps: the Adam case has none, or the two backends' rounding noise would be compared
@pytest.mark.parametrize("h,opt,bias", [(8, "sgd(lr=0.1, momentum=0.9)", ""), (6, "adam(lr=0.01)", ", bias=false")])
def test_models_with_batchnorm_train_on_llvm_as_the_oracle_does(tmp_path, monkeypatch, h, opt, bias):
    pytest.importorskip("llvmlite")
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "bn.nn"
    path.write_text(SRC.format(h=h, opt=opt, bias=bias))
    prog = nnc.load(path)
    fast, ref = prog.train("t", backend="llvm", seed=1), prog.train("t", backend="numpy", seed=1)
    rng = np.random.default_rng(0)
    for batch in (5, 2, 5):
        feeds = {"x": rng.normal(size=(batch, 2, h, h)).astype(np.float32),
                 "label": rng.integers(0, 2, batch).astype(np.int32)}
        assert fast.step(**feeds)["loss"] == pytest.approx(ref.step(**feeds)["loss"], rel=1e-4)
    for name, value in ref.params.items():
        np.testing.assert_allclose(fast.params[name], value, rtol=1e-3, atol=1e-5, err_msg=name)
    for name, value in ref.state.items():
        np.testing.assert_allclose(fast.state[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def test_the_gradient_before_the_first_conv_is_stored_as_its_weight_gradient_reads_it():
    """lower_conv._relayout: batchnorm's input gradient, stored by one elementwise kernel and read by nothing
    else yet, is written [C, N, H, W] for the first conv's weight-gradient GEMM (no transposed copy of
    [N, C, H, W]); the step above checks its values against the oracle."""
    pytest.importorskip("llvmlite")
    from nnc.backends.llvm import report as R
    from nnc.compiler import check_file
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    path = root / "examples" / "fashion_cnn.nn"
    first_conv = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "conv2d(32" in text)
    r = R.train_report(check_file(path).trains["fashion"], batch=4)
    copies = [k for k in r.kernels if k.kind == "Store" and k.ops == ("transpose", "conv")
              and any(line == first_conv for _, line in k.lines)]
    assert [k.loops for k in copies] == [(1, 4, 28, 28)]  # only the image's, not the 32x4x28x28 gradient
