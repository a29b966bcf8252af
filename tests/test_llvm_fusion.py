"""The LLVM backend's multi-output fusion (fuse.py), parallel parts (parallel.py) and column reductions
(emit.py): every optimiser's update number for number with the numpy oracle over several steps, one
kernel per parameter update, results bit for bit the same on 1 and on 2 threads, odd sizes."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import nnc  # noqa: E402
from nnc.backends import get, inference_signature  # noqa: E402
from nnc.backends.llvm import threads  # noqa: E402
from nnc.backends.llvm.loops import Store  # noqa: E402
from nnc.backends.llvm.parallel import MIN_WORK, parts_of  # noqa: E402
from nnc.ir.types import TensorType  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402
from test_llvm_backend import graph_of  # noqa: E402

LLVM, NUMPY = get("llvm"), get("numpy")

OPTIMISERS = ["sgd(lr=0.1)", "sgd(lr=0.05, momentum=0.9)", "sgd(lr=0.05, momentum=0.9, nesterov=true)",
              "sgd(lr=0.05, weight_decay=0.01)", "adam(lr=0.01)", "adamw(lr=0.01)", "rmsprop(lr=0.01)",
              "rmsprop(lr=0.01, momentum=0.5)", "adagrad(lr=0.1)", "lamb(lr=0.01)"]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "llvm-cache"))


def program(tmp_path, optimiser: str, inputs: int = 13, hidden: int = 37):
    path = tmp_path / "opt.nn"
    path.write_text(f"""
model m {{
  input x: f32[N, {inputs}]
  output y = x -> dense({hidden}) -> relu -> dense(5)
}}
train t {{
  input x: f32[N, {inputs}]
  input labels: i32[N]
  logits = m(x)
  loss = cross_entropy(logits, labels)
  minimize loss over m with {optimiser}
}}
""")
    return nnc.load(path)


def batches(n: int, inputs: int, steps: int = 4):
    rng = np.random.default_rng(7)
    return [{"x": rng.normal(size=(n, inputs)).astype(np.float32),
             "labels": rng.integers(0, 5, n).astype(np.int32)} for _ in range(steps)]


@pytest.mark.parametrize("optimiser", OPTIMISERS)
def test_every_optimiser_updates_number_for_number_with_the_oracle(tmp_path, optimiser):
    prog = program(tmp_path, optimiser)
    fast, ref = prog.train("t", backend="llvm", seed=2), prog.train("t", backend="numpy", seed=2)
    for batch in batches(7, 13):
        a, b = fast.step(**batch), ref.step(**batch)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    for name, value in ref.params.items():
        np.testing.assert_allclose(fast.params[name], value, rtol=1e-4, atol=1e-6, err_msg=name)
    for name, value in ref.slots.items():
        np.testing.assert_allclose(fast.slots[name], value, rtol=1e-3, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("optimiser", ["adam(lr=0.01)", "rmsprop(lr=0.01, momentum=0.5)", "sgd(lr=0.05, momentum=0.9)",
                                       "adagrad(lr=0.1)"])
def test_an_update_is_one_kernel_per_parameter(tmp_path, optimiser):
    t = program(tmp_path, optimiser).train("t", backend="llvm", seed=0)
    lw, _ = t._step.lower({"N": 8})
    for name in t.params:
        # the kernels writing the new parameter or any of its new optimiser slots (new/0.adam.m/<name>, ...)
        writers = [k for k in lw.kernels if any(tgt.buf.name == f"new/{name}" or tgt.buf.name.endswith(f"/{name}")
                                                and tgt.buf.name.startswith("new/")
                                                for tgt, _ in getattr(k, "stores", ((k.target, None),)))]
        assert len(writers) == 1, (name, [k.origin for k in writers])
        assert isinstance(writers[0], Store)
    slots = {n for n in t.slots}
    if slots:  # and every slot's new value is one of those stores
        written = {tgt.buf.name for k in lw.kernels for tgt, _ in getattr(k, "stores", ())}
        assert {f"new/{n}" for n in slots} <= written


def test_large_updates_run_in_parts_and_agree_bit_for_bit_on_one_and_two_threads(tmp_path):
    inputs, hidden = 601, 300          # 180,300 weights (3 new values each): above the split threshold, odd sizes
    assert parts_of(hidden, inputs * hidden * 3)[0] > 1
    prog = program(tmp_path, "adam(lr=0.01)", inputs, hidden)
    pool = threads.process_pool()
    results = []
    try:
        for k in (1, 2):
            pool.set_threads(k)
            t = prog.train("t", backend="llvm", seed=3)
            losses = [t.step(**batch)["loss"] for batch in batches(9, inputs, 3)]
            results.append((losses, {n: v.copy() for n, v in t.params.items()},
                            {n: v.copy() for n, v in t.slots.items()}))
    finally:
        pool.set_threads(None)
    (l1, p1, s1), (l2, p2, s2) = results
    assert l1 == l2
    for name in p1:
        np.testing.assert_array_equal(p1[name], p2[name], err_msg=name)
    for name in s1:
        np.testing.assert_array_equal(s1[name], s2[name], err_msg=name)
    ref = prog.train("t", backend="numpy", seed=3)
    for batch in batches(9, inputs, 3):
        ref.step(**batch)
    for name, value in ref.params.items():  # 601 inputs: Adam's m/sqrt(v) magnifies sums' rounding near g = 0
        np.testing.assert_allclose(p2[name], value, rtol=1e-3, atol=1e-5, err_msg=name)


REDUCTIONS = [((3, 37), (0,)), ((5, 7, 3), (0,)), ((5, 7, 3), (1,)), ((4, 5, 6, 7), (0, 2)), ((2, 33), (0,)),
              ((1031, 509), (0,)), ((509, 1031), (1,)), ((130, 17, 257), (1,))]


@pytest.mark.parametrize("shape,axes", REDUCTIONS, ids=str)
def test_reductions_over_leading_axes_agree_with_the_oracle_on_one_and_two_threads(shape, axes):
    def build(e, x):
        return [e("sum", x, axis=axes), e("max", x, axis=axes), e("add", e("mul", x, x), x)]
    g = graph_of(build, {"x": TensorType("f32", shape)})
    x = np.random.default_rng(len(shape)).normal(size=shape).astype(np.float32)
    x.flat[::97] = -np.inf if x.size > 500 else x.flat[::97]
    ref = NUMPY.compile(prepare(g, NUMPY), inference_signature(g))(x=x)
    pool = threads.process_pool()
    outs = []
    try:
        for k in (1, 2):
            pool.set_threads(k)
            exe = LLVM.compile(prepare(g, LLVM), inference_signature(g))
            outs.append(exe(x=x))
    finally:
        pool.set_threads(None)
    for name in ref:
        np.testing.assert_allclose(outs[0][name], ref[name], rtol=1e-5, atol=1e-5, err_msg=name)
        np.testing.assert_array_equal(outs[0][name], outs[1][name], err_msg=name)


def test_the_split_depends_on_the_sizes_alone():
    assert parts_of(512, MIN_WORK - 1) == (1, 512)
    parts, per = parts_of(512, 512 * 784 * 3)
    assert parts * per >= 512 > (parts - 1) * per and parts > 1
    assert parts_of(1, 10 ** 9) == (1, 1)


def test_expression_walks_visit_a_shared_node_once():
    """A chain that reads each value twice (x·x, as gelu/silu and their gradients do) is a DAG of 2·depth
    nodes but 2^depth paths: every walk over it must be linear (an exponential one never returns)."""
    from nnc.backends.llvm import loops as L
    from nnc.backends.llvm.fuse import _has_gather, _substitute
    from nnc.backends.llvm.nest import _plain_loads
    from nnc.backends.llvm.report import _maps
    buf = L.Buf("x", "f32", (4, 8))
    x = buf.load()
    for _ in range(200):
        x = L.Map("mul", (x, x), "f32", (4, 8))
    assert len(L.nodes(x)) == 201
    assert L.leaves(x) == [buf]
    assert L.cost(x) == 200 and _maps(x) == 200
    assert not _has_gather(x)
    loads: list = []
    assert _plain_loads(x, loads) and len(loads) == 1
    assert _substitute(x, {}, {}) is x
