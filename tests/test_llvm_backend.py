"""The LLVM backend against the numpy oracle: every primitive it lowers, whole examples, training steps
number for number (dropout masks included), bad input at the boundary, refusals, the object cache."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import nnc  # noqa: E402
from nnc.backends import BackendUnavailable, get, inference_signature  # noqa: E402
from nnc.elaborate.builder import GraphBuilder  # noqa: E402
from nnc.interp import RunError  # noqa: E402
from nnc.ir.types import TensorType, sym  # noqa: E402
from nnc.passes.emit import Emitter  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402
from test_primitives import PRIM_CASES, SPAN, feeds_for, one_op_graph  # noqa: E402

from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LLVM = get("llvm")
NUMPY = get("numpy")
RTOL = 1e-4


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "llvm-cache"))


def both(graph, feeds, state=None):
    """The graph's outputs on numpy and on llvm, through the backend interface."""
    sig = inference_signature(graph)
    outs = []
    for backend in (NUMPY, LLVM):
        exe = backend.compile(prepare(graph, backend), sig)
        if state:
            exe.load_state(state)
        outs.append(exe(**feeds))
    return outs


def assert_agree(a: dict, b: dict, rtol=RTOL, atol=1e-6):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, (k, a[k].dtype, b[k].dtype)
        np.testing.assert_allclose(b[k], a[k], rtol=rtol, atol=atol, err_msg=k)


def as_f32(types):
    return [TensorType("f32", t.shape) if t.dtype == "f64" else t for t in types]


def cases():
    out = []
    for name in sorted(PRIM_CASES):
        for k in range(len(PRIM_CASES[name])):
            for dtype in ("f32", "f64"):
                out.append(pytest.param(name, k, dtype, id=f"{name}-{k}-{dtype}"))
    return out


@pytest.mark.parametrize("name,k,dtype", cases())
def test_each_primitive_agrees_with_the_oracle_or_is_refused_with_its_line(name, k, dtype):
    types, attrs, makers = PRIM_CASES[name][k]
    if dtype == "f32":
        types = as_f32(types)
        attrs = {**attrs, "dtype": "f32"} if attrs.get("dtype") == "f64" else attrs
    graph = one_op_graph(name, types, attrs)
    feeds = feeds_for(graph, np.random.default_rng(k), makers)
    feeds = {n: (v.astype(np.float32) if dtype == "f32" and v.dtype == np.float64 else v) for n, v in feeds.items()}
    if name not in LLVM.primitives:
        with pytest.raises(BackendUnavailable, match=rf"cannot lower {name} yet \(line 1.*use --backend numpy"):
            LLVM.compile(prepare(graph, LLVM), inference_signature(graph))
        return
    a, b = both(graph, feeds)
    assert_agree(a, b)


def graph_of(build, inputs: dict[str, TensorType]):
    b = GraphBuilder("t")
    e = Emitter(b, SPAN, "", "t")
    xs = {n: b.add_input(n, t, SPAN) for n, t in inputs.items()}
    outs = build(e, **xs)
    b.outputs = [(f"y{i}", o.id) for i, o in enumerate(outs)]
    return b.build()


def f32(*shape):
    return TensorType("f32", shape)


ODD = [(1,), (17,), (3, 5, 7), (2, 33)]


@pytest.mark.parametrize("shape", ODD, ids=str)
def test_fused_elementwise_chains_and_reductions_at_sizes_that_do_not_fill_a_vector(shape):
    def build(e, x, y):
        z = e("maximum", e("mul", e("tanh", x), e("exp", y)), e("sigmoid", y))
        last = len(shape) - 1
        return [z, e("sum", z, axis=(last,), keepdims=True), e("max", e("neg", z), axis=(0,)),
                e("argmax", z, axis=last), e("sum", z, axis=tuple(range(len(shape))))]
    g = graph_of(build, {"x": f32(*shape), "y": f32(*shape)})
    rng = np.random.default_rng(len(shape))
    feeds = {"x": rng.normal(size=shape).astype(np.float32), "y": rng.normal(size=shape).astype(np.float32)}
    assert_agree(*both(g, feeds))


@pytest.mark.parametrize("a,b,ta,tb", [((1, 17), (17, 33), False, False), ((7, 64), (10, 64), False, True),
                                       ((64, 10), (64, 128), True, False), ((5, 3), (4, 5), True, True),
                                       ((2, 3, 9), (9, 5), False, False), ((9,), (9, 4), False, False),
                                       ((13, 7), (7, 50), False, False), ((8, 40), (24, 40), False, True),
                                       ((3, 13, 5), (5, 64), False, False), ((19, 6), (19, 33), True, False)],
                         ids=str)
def test_matmul_in_every_layout_and_with_batch_axes(a, b, ta, tb):
    """Row and column counts that leave tails after 6-row, 32- and 16-column register tiles."""
    def build(e, x, y):
        if ta:
            x = e("transpose", x, perm=(1, 0))
        if tb:
            y = e("transpose", y, perm=(1, 0))
        return [e("matmul", x, y)]
    g = graph_of(build, {"x": f32(*a), "y": f32(*b)})
    rng = np.random.default_rng(0)
    feeds = {"x": rng.normal(size=a).astype(np.float32), "y": rng.normal(size=b).astype(np.float32)}
    assert_agree(*both(g, feeds))


def test_views_compose_slices_of_transposes_of_broadcasts_and_pads_concats():
    def build(e, x, y):
        t = e("transpose", e("broadcast_to", x, shape=(4, 3, 5)), perm=(2, 0, 1))
        s = e("slice", t, start=1, end=5, step=2, axis=0)
        r = e("reverse", e("pad", y, lo=(2, -1), hi=(-1, 1), value=-2.0), axes=(1,))
        c = e("concat", e("exp", y), r, axis=0)
        return [s, c, e("reshape", e("transpose", y, perm=(1, 0)), shape=(-1,))]
    g = graph_of(build, {"x": f32(3, 5), "y": f32(3, 4)})
    rng = np.random.default_rng(1)
    feeds = {"x": rng.normal(size=(3, 5)).astype(np.float32), "y": rng.normal(size=(3, 4)).astype(np.float32)}
    assert_agree(*both(g, feeds))


def test_philox_draws_are_bit_for_bit_the_oracles():
    def build(e, x, key, step):
        return [e("random_uniform", x, key, step, stream=0xDEADBEEF, dtype="f32")]
    g = graph_of(build, {"x": f32(3, 37), "key": TensorType("i64", ()), "step": TensorType("i64", ())})
    feeds = {"x": np.zeros((3, 37), np.float32), "key": np.asarray(2**40 + 12345), "step": np.asarray(7)}
    a, b = both(g, feeds)
    np.testing.assert_array_equal(a["y0"], b["y0"])


MLP = ROOT / "examples" / "digits_mlp.nn"


@pytest.mark.parametrize("n", [1, 7, 64])
def test_digits_mlp_inference_agrees_at_every_batch_size(n):
    prog = nnc.load(MLP)
    fast, ref = prog.model("mlp", backend="llvm", seed=4), prog.model("mlp", backend="numpy", seed=4)
    x = np.random.default_rng(n).normal(size=(n, 64)).astype(np.float32)
    np.testing.assert_allclose(fast(x=x), ref(x=x), rtol=RTOL, atol=1e-6)


def test_one_executable_serves_several_batch_sizes_and_keeps_its_parameters():
    prog = nnc.load(MLP)
    fast, ref = prog.model("mlp", backend="llvm", seed=1), prog.model("mlp", backend="numpy", seed=1)
    w = np.full((128, 64), 0.01, np.float32)
    fast.params["mlp/h.dense/weight"] = w
    ref.params["mlp/h.dense/weight"] = w
    for n in (3, 1, 3):
        x = np.random.default_rng(n).normal(size=(n, 64)).astype(np.float32)
        np.testing.assert_allclose(fast(x=x), ref(x=x), rtol=RTOL, atol=1e-6)
    np.testing.assert_array_equal(fast.params["mlp/h.dense/weight"], w)


def test_digits_mlp_training_steps_number_for_number_with_dropout():
    prog = nnc.load(MLP)
    fast, ref = prog.train("digits", backend="llvm", seed=3), prog.train("digits", backend="numpy", seed=3)
    rng = np.random.default_rng(0)
    for _ in range(4):
        batch = {"x": rng.normal(size=(64, 64)).astype(np.float32), "y": rng.integers(0, 10, 64).astype(np.int32)}
        a, b = fast.step(**batch), ref.step(**batch)
        assert a["accuracy"] == b["accuracy"]
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
    for name, value in ref.params.items():
        np.testing.assert_allclose(fast.params[name], value, rtol=1e-4, atol=1e-6, err_msg=name)
    for name, value in ref.slots.items():
        np.testing.assert_allclose(fast.slots[name], value, rtol=1e-3, atol=1e-7, err_msg=name)
    assert fast.steps_done == ref.steps_done == 4


def test_a_non_finite_loss_leaves_every_parameter_and_the_step_untouched():
    prog = nnc.load(MLP)
    t = prog.train("digits", backend="llvm", seed=0)
    before = {k: v.copy() for k, v in t.params.items()}
    x = np.full((8, 64), np.inf, np.float32)
    exe = t._step
    out = exe(x=x, y=np.zeros(8, np.int32))
    assert not np.isfinite(out["loss"])
    for k, v in t.params.items():
        np.testing.assert_array_equal(v, before[k])
    assert t.steps_done == 0


def test_bad_input_at_the_boundary_is_a_run_error():
    m = nnc.load(MLP).model("mlp", backend="llvm")
    with pytest.raises(RunError, match="input x must be f32, found an array of int64"):
        m(x=np.zeros((2, 64), np.int64))
    with pytest.raises(RunError, match="input x must be"):
        m(x=np.zeros((2, 63), np.float32))
    with pytest.raises(RunError, match="rank 2"):
        m(x=np.zeros((64,), np.float32))
    with pytest.raises(RunError, match="unknown input: z"):
        m(x=np.zeros((2, 64), np.float32), z=np.zeros(1))
    with pytest.raises(RunError, match="missing input: x"):
        m()
    # a float64, a strided and a read-only array are converted, not misread
    x = np.random.default_rng(0).normal(size=(4, 128))
    ro = x[:, ::2].astype(np.float32)
    ro.flags.writeable = False
    ref = nnc.load(MLP).model("mlp", backend="numpy")
    np.testing.assert_allclose(m(x=x[:, ::2]), ref(x=x[:, ::2]), rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(m(x=ro), ref(x=ro), rtol=RTOL, atol=1e-6)


def test_load_state_checks_shapes_and_dtypes_like_the_oracle():
    m = nnc.load(MLP).model("mlp", backend="llvm")
    with pytest.raises(ValueError, match=r"must have shape \[128, 64\]"):
        m.params["mlp/h.dense/weight"] = np.zeros((64, 128), np.float32)
    with pytest.raises(ValueError, match="must be f32"):
        m.params["mlp/h.dense/bias"] = np.array(["a"] * 128)


GRU = """model m {
  input x: f32[N, 4, 3]
  output y = x -> gru(5) -> last -> dense(2)
}
train t {
  input x: f32[N, 4, 3]
  input label: i32[N]
  loss = cross_entropy(m(x), label)
  minimize loss over m with sgd(lr=0.1)
  data "synthetic"
  epochs 1
}
"""


def test_an_op_it_cannot_lower_is_refused_at_compile_time_with_its_line(tmp_path, monkeypatch):
    from nnc.backends.llvm import supported
    # every primitive is lowered: pretend one is not (the table's names, as the backend checks them)
    monkeypatch.setattr(supported, "OPS", supported.OPS - {"recurrent_backward"})
    path = tmp_path / "g.nn"
    path.write_text(GRU)
    prog = nnc.load(path)
    with pytest.raises(BackendUnavailable, match=r"^the llvm backend cannot lower recurrent_backward of gru yet "
                                                 r"\(line 3 of \S*g\.nn, \S+\); use --backend numpy$"):
        prog.train("t", backend="llvm")


def test_a_gru_trains_number_for_number(tmp_path):
    path = tmp_path / "g.nn"
    path.write_text(GRU)
    prog = nnc.load(path)
    fast, ref = prog.train("t", backend="llvm", seed=1), prog.train("t", backend="numpy", seed=1)
    rng = np.random.default_rng(0)
    for _ in range(3):
        batch = {"x": rng.normal(size=(5, 4, 3)).astype(np.float32), "label": rng.integers(0, 2, 5).astype(np.int32)}
        assert fast.step(**batch)["loss"] == pytest.approx(ref.step(**batch)["loss"], rel=1e-5)
    for name, value in ref.params.items():
        np.testing.assert_allclose(fast.params[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


def test_lstm_classifier_infers_like_the_oracle():
    prog = nnc.load(ROOT / "examples" / "lstm_classifier.nn")
    fast, ref = prog.model("reader", backend="llvm", seed=3), prog.model("reader", backend="numpy", seed=3)
    for n in (1, 5):
        x = np.random.default_rng(n).normal(size=(n, 8, 8)).astype(np.float32)
        np.testing.assert_allclose(fast(rows=x), ref(rows=x), rtol=RTOL, atol=1e-6)


def test_a_second_compile_loads_the_object_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path / "fresh"))
    g = nnc.load(MLP).graph("mlp")
    sig = inference_signature(g)
    prepared = prepare(g, LLVM)
    first = LLVM.compile(prepared, sig).variant({"N": 2})
    second = LLVM.compile(prepared, sig).variant({"N": 2})
    assert not first.cached and second.cached
    assert second.compile_seconds < first.compile_seconds


def test_the_arena_reuses_memory_by_liveness():
    from nnc.train.step import build_step
    step = build_step(nnc.load(MLP)._result.trains["digits"])
    exe = LLVM.compile(prepare(step.graph, LLVM), step.signature)
    v = exe.variant({"N": 64})
    assert v.plan.arena_bytes < v.plan.scratch_bytes


def test_symbolic_sizes_bind_per_call_from_the_inputs():
    def build(e, x, y):
        return [e("add", e("sum", x, axis=(1,)), y)]
    g = graph_of(build, {"x": TensorType("f32", (sym("N"), 3)), "y": TensorType("f32", (sym("N"),))})
    exe = LLVM.compile(prepare(g, LLVM), inference_signature(g))
    for n in (1, 5):
        x, y = np.ones((n, 3), np.float32), np.arange(n, dtype=np.float32)
        np.testing.assert_array_equal(exe(x=x, y=y)["y0"], 3 + y)
    with pytest.raises(RunError, match="N is 2 elsewhere, 3 here"):
        exe(x=np.ones((2, 3), np.float32), y=np.ones(3, np.float32))


CNNS = [("lenet5.nn", "lenet5", "mnist", (1, 28, 28)), ("digits_cnn.nn", "cnn", "digits", (1, 8, 8))]


@pytest.mark.parametrize("file,model,train,shape", CNNS, ids=[c[0] for c in CNNS])
def test_convolutional_examples_infer_and_train_number_for_number(file, model, train, shape):
    prog = nnc.load(ROOT / "examples" / file)
    fast, ref = prog.model(model, backend="llvm", seed=2), prog.model(model, backend="numpy", seed=2)
    for n in (1, 3):
        x = np.random.default_rng(n).normal(size=(n,) + shape).astype(np.float32)
        np.testing.assert_allclose(fast(image=x), ref(image=x), rtol=RTOL, atol=1e-6)
    fast, ref = prog.train(train, backend="llvm", seed=5), prog.train(train, backend="numpy", seed=5)
    rng = np.random.default_rng(1)
    image, label = fast.inputs
    for _ in range(3):
        batch = {image: rng.normal(size=(8,) + shape).astype(np.float32),
                 label: rng.integers(0, 10, 8).astype(np.int32)}
        a, b = fast.step(**batch), ref.step(**batch)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) and a["accuracy"] == b["accuracy"]
    for name, value in ref.params.items():
        np.testing.assert_allclose(fast.params[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


EMBED = """model m {
  input tokens: i32[N, 5]
  output y = tokens -> embedding(20, 8) -> flatten -> dense(3)
}
train t {
  input tokens: i32[N, 5]
  input labels: i32[N]
  logits = m(tokens)
  loss = cross_entropy(logits, labels)
  metric accuracy = accuracy(logits, labels)
  minimize loss over m with sgd(lr=0.1, momentum=0.9)
}
"""


def test_embeddings_gather_and_scatter_add_train_number_for_number(tmp_path):
    path = tmp_path / "e.nn"
    path.write_text(EMBED)
    prog = nnc.load(path)
    fast, ref = prog.train("t", backend="llvm", seed=1), prog.train("t", backend="numpy", seed=1)
    rng = np.random.default_rng(0)
    for _ in range(3):
        batch = {"tokens": rng.integers(0, 4, (6, 5)).astype(np.int32),  # repeated ids accumulate
                 "labels": rng.integers(0, 3, 6).astype(np.int32)}
        a, b = fast.step(**batch), ref.step(**batch)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) and a["accuracy"] == b["accuracy"]
    for name, value in ref.params.items():
        np.testing.assert_allclose(fast.params[name], value, rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("bad", [20, -1])
def test_an_id_outside_the_table_is_a_run_error_and_changes_nothing(tmp_path, bad):
    path = tmp_path / "e.nn"
    path.write_text(EMBED)
    t = nnc.load(path).train("t", backend="llvm", seed=1)
    before = {k: v.copy() for k, v in t.params.items()}
    tokens = np.zeros((2, 5), np.int32)
    tokens[1, 3] = bad
    with pytest.raises(RunError, match=r"gather ids must be in 0\.\.19 \(line 3 of \S*e\.nn"):
        t._step(tokens=tokens, labels=np.zeros(2, np.int32))
    for k, v in t.params.items():
        np.testing.assert_array_equal(v, before[k])
    assert t.steps_done == 0
    assert t.step(tokens=np.zeros((2, 5), np.int32), labels=np.zeros(2, np.int32))["loss"] > 0


def _history(capsys, backend: str) -> list[dict]:
    import json
    from nnc.cli import main
    assert main(["train", str(MLP), "--backend", backend, "--epochs", "4", "--format", "json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_nnc_train_on_llvm_reaches_the_accuracy_of_numpy(capsys):
    fast, ref = _history(capsys, "llvm"), _history(capsys, "numpy")
    assert len(fast) == len(ref) == 4
    assert abs(fast[-1]["val"]["accuracy"] - ref[-1]["val"]["accuracy"]) <= 0.01
    assert fast[-1]["val"]["accuracy"] > 0.9
    assert fast[-1]["train"]["loss"] == pytest.approx(ref[-1]["train"]["loss"], rel=1e-4)


@pytest.mark.parametrize("command", ["train", "run"])
def test_the_cli_refuses_an_op_it_cannot_lower_in_one_line(capsys, tmp_path, monkeypatch, command):
    from nnc.backends.llvm import supported
    from nnc.cli import main
    monkeypatch.setattr(supported, "OPS", supported.OPS - {"gru"})
    path = tmp_path / "g.nn"
    path.write_text(GRU)
    assert main([command, str(path), "--backend", "llvm"] + (["--model", "m"] if command == "run" else [])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("nnc: error: the llvm backend cannot lower gru yet (line 3 of ")


def _random_feeds(graph, names, n: int, rng) -> dict:
    feeds = {}
    for name in names:
        t = graph.input_type(name)
        shape = tuple(d if isinstance(d, int) else n for d in t.shape)
        feeds[name] = (rng.normal(size=shape).astype(np.float32) if t.is_float
                       else rng.integers(0, 2, shape).astype(np.int32))
    return feeds


@pytest.mark.parametrize("file", ["gan.nn", "fgsm.nn", "alexnet.nn", "resnet18.nn"])
def test_every_model_of_an_example_infers_like_the_oracle(file):
    prog = nnc.load(ROOT / "examples" / file)
    for name in prog.models:
        graph = prog.graph(name)
        fast, ref = prog.model(name, backend="llvm", seed=0), prog.model(name, backend="numpy", seed=0)
        feeds = _random_feeds(graph, [n for n, _ in graph.inputs], 1, np.random.default_rng(0))
        a, b = fast(**feeds), ref(**feeds)
        scale = float(np.abs(b).max())
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-5 * scale, err_msg=f"{file} {name}")


@pytest.mark.parametrize("file", ["gan.nn", "fgsm.nn", "lstm_classifier.nn"])
def test_several_train_blocks_step_number_for_number(file):
    prog = nnc.load(ROOT / "examples" / file)
    for name in prog.trains:
        fast, ref = prog.train(name, backend="llvm", seed=1), prog.train(name, backend="numpy", seed=1)
        rng = np.random.default_rng(0)
        for _ in range(3):
            feeds = _random_feeds(fast.compiled.graph, fast.inputs, 4, rng)
            a, b = fast.step(**feeds), ref.step(**feeds)
            assert a.keys() == b.keys()
            for k in a:
                assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), (file, name, k)
        for p, value in ref.params.items():
            # FGSM steps along sign(grad): a gradient within rounding of zero may take the other sign
            np.testing.assert_allclose(fast.params[p], value, rtol=1e-4, atol=1e-4 if file == "fgsm.nn" else 1e-6)


def test_matmul_in_float64_through_the_tiled_kernel():
    def build(e, x, y):
        return [e("matmul", x, y)]
    g = graph_of(build, {"x": TensorType("f64", (7, 11)), "y": TensorType("f64", (11, 21))})
    rng = np.random.default_rng(3)
    a, b = both(g, {"x": rng.normal(size=(7, 11)), "y": rng.normal(size=(11, 21))})
    np.testing.assert_allclose(b["y0"], a["y0"], rtol=1e-12)


def test_a_corrupt_cache_entry_is_rebuilt_never_loaded(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path / "c"))
    g = nnc.load(MLP).graph("mlp")
    sig, prepared = inference_signature(g), prepare(g, LLVM)
    LLVM.compile(prepared, sig).variant({"N": 3})
    entries = list((tmp_path / "c" / "llvm").glob("*.entry"))
    assert len(entries) == 1
    blob = bytearray(entries[0].read_bytes())
    blob[-100] ^= 0xFF  # one flipped bit in the object code
    entries[0].write_bytes(bytes(blob))
    exe = LLVM.compile(prepared, sig)
    exe.load_state({p.name: np.full(p.value.type.shape, 0.01, np.float32) for p in g.params})
    v = exe.variant({"N": 3})
    assert not v.cached
    assert "llvm" in capsys.readouterr().err
    out = exe(x=np.ones((3, 64), np.float32))["logits"]
    np.testing.assert_allclose(out, np.full((3, 10), 0.01 * (128 * (0.01 * 64 + 0.01)) + 0.01), rtol=1e-5)


def test_integer_division_is_true_division_as_on_numpy():
    def build(e, x, y):
        return [e("div", x, y)]
    g = graph_of(build, {"x": TensorType("i64", (3,)), "y": TensorType("i64", (3,))})
    exe = LLVM.compile(prepare(g, LLVM), inference_signature(g))  # the promotion pass casts both to f32
    out = next(iter(exe(x=np.array([-3, 3, 7]), y=np.array([2, -2, 7])).values()))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [-1.5, -1.5, 1.0])


def test_the_profile_option_counts_cycles_per_kernel():
    g = nnc.load(MLP).graph("mlp")
    exe = LLVM.compile(prepare(g, LLVM), inference_signature(g), options={"profile": True})
    exe.load_state({p.name: np.zeros(p.value.type.shape, np.float32) for p in g.params})
    exe(x=np.ones((5, 64), np.float32))
    rows = exe.profile_table()
    assert rows and all(c >= 0 for _, c in rows) and rows[0][1] > 0
    assert any("Matmul[5, 128]" in name and "'N': 5" in name for name, _ in rows)


def test_monte_carlo_dropout_draws_the_oracles_masks_call_after_call():
    prog = nnc.load(MLP)
    fast, ref = prog.model("mlp", backend="llvm", seed=9), prog.model("mlp", backend="numpy", seed=9)
    x = np.random.default_rng(0).normal(size=(3, 64)).astype(np.float32)
    draws = []
    for _ in range(2):
        a, b = fast(x=x, mc_dropout=True), ref(x=x, mc_dropout=True)
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-6)
        draws.append(a)
    assert not np.allclose(draws[0], draws[1])  # the call counter advanced: a new mask
