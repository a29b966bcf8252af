"""Run-time sizes on the LLVM backend: one compiled code serves every batch size (growing and shrinking),
numbers equal to the numpy oracle at each, exactly one compilation; odd sizes on vector tails; a
symbolic sequence length; a symbol that must be specialised still runs, one compilation per value."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import nnc  # noqa: E402
from nnc.backends import get, inference_signature  # noqa: E402
from nnc.backends.llvm.dims import NeedsConcrete, Poly, evaluate, hint  # noqa: E402
from nnc.interp import RunError  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LLVM = get("llvm")
RTOL = 1e-4
SIZES = (1, 7, 64, 3, 64)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "llvm-cache"))


def _feeds(graph, names, n: int, rng, high: int = 2) -> dict:
    feeds = {}
    for name in names:
        t = graph.input_type(name)
        shape = tuple(d if isinstance(d, int) else n for d in t.shape)
        feeds[name] = (rng.normal(size=shape).astype(np.float32) if t.is_float
                       else rng.integers(0, high, shape).astype(np.int32))
    return feeds


# -- the polynomial ----------------------------------------------------------------------------------

def test_poly_arithmetic_equality_and_refused_decisions():
    n, t = Poly.symbol("N"), Poly.symbol("T")
    p = 8 * n * t + 3 - n
    assert str(p) == "8*N*T - N + 3"
    assert p.evaluate({"N": 2, "T": 5}) == 8 * 2 * 5 + 3 - 2
    assert (n + 1) - n == 1 and isinstance((n + 1) - n, int)   # a constant Poly is an int
    assert n * 2 == 2 * n and n != 1 and hash(n * 2) == hash(2 * n)
    assert evaluate(5, {}) == 5 and hint(n * 2) == 128
    assert (4 * n) // 2 == 2 * n
    with pytest.raises(NeedsConcrete, match="needs the value of N"):
        _ = n < 4
    with pytest.raises(NeedsConcrete):
        range(t)
    with pytest.raises(NeedsConcrete):
        bool(n)
    with pytest.raises(NeedsConcrete):
        _ = (3 * n) // 2


# -- one compilation for every batch size --------------------------------------------------------------

INFER = [("digits_mlp.nn", "mlp"), ("lenet5.nn", "lenet5"), ("lstm_classifier.nn", "reader"),
         ("gan.nn", "generator"), ("gan.nn", "discriminator")]


@pytest.mark.parametrize("file,model", INFER, ids=[f"{f}-{m}" for f, m in INFER])
def test_inference_at_growing_and_shrinking_batch_sizes_compiles_once(file, model):
    prog = nnc.load(ROOT / "examples" / file)
    fast, ref = prog.model(model, backend="llvm", seed=2), prog.model(model, backend="numpy", seed=2)
    graph = prog.graph(model)
    rng = np.random.default_rng(0)
    for n in SIZES:
        feeds = _feeds(graph, [name for name, _ in graph.inputs], n, rng)
        a, b = fast(**feeds), ref(**feeds)
        scale = max(float(np.abs(b).max()), 1.0)
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-5 * scale, err_msg=f"{file} {model} N={n}")
    exe = fast._exe
    assert exe.compilations == 1 and exe.special == () and len(exe._variants) == 1
    (v,) = exe._variants.values()
    assert v.bindings == {exe.symbols[0]: 64}  # the arena is planned for the largest batch seen


TRAIN = [("digits_mlp.nn", "digits"), ("lenet5.nn", "mnist"), ("lstm_classifier.nn", "digits"), ("gan.nn", "gan")]


@pytest.mark.parametrize("file,name", TRAIN, ids=[f"{f}-{t}" for f, t in TRAIN])
def test_training_steps_at_growing_and_shrinking_batch_sizes_compile_once(file, name):
    prog = nnc.load(ROOT / "examples" / file)
    fast, ref = prog.train(name, backend="llvm", seed=1), prog.train(name, backend="numpy", seed=1)
    rng = np.random.default_rng(0)
    for n in SIZES:
        feeds = _feeds(fast.compiled.graph, fast.inputs, n, rng, high=10)
        a, b = fast.step(**feeds), ref.step(**feeds)
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-4, abs=1e-5), (file, name, n, k)
    for p, value in ref.params.items():
        np.testing.assert_allclose(fast.params[p], value, rtol=1e-3, atol=1e-5, err_msg=p)
    assert fast._step.compilations == 1 and fast._step.special == ()


# -- odd sizes, vector tails, N = 0 ------------------------------------------------------------------------

@pytest.fixture(params=["library", "gemm.py"])
def gemm_forms(request, monkeypatch):
    """Every test using it runs twice: with the GEMM library (library.py) and with gemm.py's own forms."""
    if request.param == "gemm.py":
        monkeypatch.setattr("nnc.backends.llvm.library.ENABLED", False)
    return request.param


def test_odd_batch_sizes_on_the_gemm_tails_and_vector_tails(gemm_forms):
    prog = nnc.load(ROOT / "examples" / "digits_mlp.nn")
    fast, ref = prog.model("mlp", backend="llvm", seed=4), prog.model("mlp", backend="numpy", seed=4)
    for n in (1, 5, 13, 2, 6, 11):  # every tail of the 6-row tile: 0..5 rows
        x = np.random.default_rng(n).normal(size=(n, 64)).astype(np.float32)
        np.testing.assert_allclose(fast(x=x), ref(x=x), rtol=RTOL, atol=1e-6, err_msg=str(n))
    assert fast._exe.compilations == 1


def _graph(text: str, tmp_path, name: str = "m"):
    path = tmp_path / "p.nn"
    path.write_text(text)
    return nnc.load(path), path


SYMBOLIC_COLUMNS = """model m {
  input a: DT[N, K]
  input b: DT[K, M]
  input c: DT[M, K]
  output y = relu(a @ b) + a @ transpose(c, [1, 0])
}
"""


@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_a_matmul_whose_every_size_is_symbolic(tmp_path, dtype, gemm_forms):
    prog, _ = _graph(SYMBOLIC_COLUMNS.replace("DT", dtype), tmp_path)
    fast, ref = prog.model("m", backend="llvm"), prog.model("m", backend="numpy")
    rng, np_dtype = np.random.default_rng(0), {"f32": np.float32, "f64": np.float64}[dtype]
    for n, k, m in [(1, 3, 1), (5, 7, 17), (13, 64, 40), (7, 1, 33), (2, 9, 16), (6, 5, 15), (12, 20, 64)]:
        a = rng.normal(size=(n, k)).astype(np_dtype)
        b = rng.normal(size=(k, m)).astype(np_dtype)
        c = rng.normal(size=(m, k)).astype(np_dtype)
        np.testing.assert_allclose(fast(a=a, b=b, c=c), ref(a=a, b=b, c=c), rtol=RTOL, atol=1e-5,
                                   err_msg=f"{n} {k} {m}")
    assert fast._exe.compilations == 1 and fast._exe.symbols == ("K", "M", "N")


def test_an_empty_batch_runs_or_is_a_clear_run_error():
    prog = nnc.load(ROOT / "examples" / "digits_mlp.nn")
    fast, ref = prog.model("mlp", backend="llvm", seed=4), prog.model("mlp", backend="numpy", seed=4)
    x = np.zeros((0, 64), np.float32)
    try:
        want = ref(x=x)
    except RunError as e:  # the language refuses an empty batch: llvm must say the same
        with pytest.raises(RunError, match=str(e)[:20]):
            fast(x=x)
        return
    got = fast(x=x)
    assert got.shape == want.shape == (0, 10)
    # and the code still runs a real batch afterwards
    x = np.ones((3, 64), np.float32)
    np.testing.assert_allclose(fast(x=x), ref(x=x), rtol=RTOL, atol=1e-6)


# -- a symbolic sequence length --------------------------------------------------------------------------

SEQUENCE = """model m {
  input x: f32[N, T, 6]
  output y = x -> LAYER(10) -> last -> dense(3)
}
train t {
  input x: f32[N, T, 6]
  input label: i32[N]
  logits = m(x)
  loss = cross_entropy(logits, label)
  minimize loss over m with adam(lr=0.01)
}
"""


@pytest.mark.parametrize("layer", ["lstm", "gru", "rnn"])
def test_a_recurrent_layer_over_a_symbolic_sequence_length(tmp_path, layer):
    prog, _ = _graph(SEQUENCE.replace("LAYER", layer), tmp_path)
    fast, ref = prog.model("m", backend="llvm", seed=1), prog.model("m", backend="numpy", seed=1)
    rng = np.random.default_rng(0)
    for n, t in [(2, 1), (3, 3), (1, 8), (4, 3)]:
        x = rng.normal(size=(n, t, 6)).astype(np.float32)
        np.testing.assert_allclose(fast(x=x), ref(x=x), rtol=RTOL, atol=1e-6, err_msg=f"N={n} T={t}")
    exe = fast._exe
    assert exe.symbols == ("N", "T") and exe.special == () and exe.compilations == 1  # T is a run-time loop
    with pytest.raises(RunError, match=rf"{layer} needs a sequence of at least one step \(line 3 .*\): T is 0"):
        fast(x=np.zeros((2, 0, 6), np.float32))
    fast, ref = prog.train("t", backend="llvm", seed=1), prog.train("t", backend="numpy", seed=1)
    for n, t in [(2, 1), (3, 3), (1, 8), (3, 3)]:
        feeds = {"x": rng.normal(size=(n, t, 6)).astype(np.float32), "label": rng.integers(0, 3, n).astype(np.int32)}
        a, b = fast.step(**feeds), ref.step(**feeds)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4), (n, t)
    for p, value in ref.params.items():
        np.testing.assert_allclose(fast.params[p], value, rtol=1e-3, atol=1e-5, err_msg=p)
    assert fast._step.compilations == 1 and fast._step.special == ()


# -- a symbol that must be specialised -------------------------------------------------------------------

STRIDED = """model m {
  input x: f32[N, 2, L]
  output y = x -> conv1d(3, 3, stride=2) -> relu
}
"""


def test_a_specialised_symbol_compiles_once_per_value_and_stays_correct(tmp_path):
    """A strided window over a symbolic length has a size no polynomial expresses: L is specialised,
    N stays a run-time size."""
    prog, _ = _graph(STRIDED, tmp_path)
    fast, ref = prog.model("m", backend="llvm", seed=0), prog.model("m", backend="numpy", seed=0)
    rng = np.random.default_rng(0)
    for n, length in [(1, 9), (4, 9), (2, 12), (5, 12), (3, 9)]:
        x = rng.normal(size=(n, 2, length)).astype(np.float32)
        np.testing.assert_allclose(fast(x=x), ref(x=x), rtol=RTOL, atol=1e-5, err_msg=f"N={n} L={length}")
    exe = fast._exe
    assert exe.special == ("L",) and "L" in exe.why_special
    assert exe.compilations == 2 and sorted(exe._variants) == [(9,), (12,)]


def test_the_plan_is_a_function_of_the_binding():
    from nnc.train.step import build_step
    step = build_step(nnc.load(ROOT / "examples" / "digits_mlp.nn")._result.trains["digits"])
    exe = LLVM.compile(prepare(step.graph, LLVM), step.signature)
    _, at64 = exe.lower({"N": 64})
    plan = at64.plan
    assert all(isinstance(s, (int, Poly)) for s in plan.sizes) and any(isinstance(s, Poly) for s in plan.sizes)
    assert len(plan.lifetimes) == len(plan.scratch) == len(plan.offsets({"N": 2}))
    assert plan.arena_bytes({"N": 64}) == at64.arena_bytes > plan.arena_bytes({"N": 2})
    assert plan.offsets({"N": 64}).dtype == np.int64
    # buffers laid out for N=64 hold N=2: no two live buffers overlap at the smaller sizes
    sizes = plan.sizes_at({"N": 2})
    offsets = plan.offsets({"N": 64})
    for i, (s1, e1) in enumerate(plan.lifetimes):
        for j, (s2, e2) in enumerate(plan.lifetimes[:i]):
            if not (e1 < s2 or e2 < s1):
                assert offsets[i] + sizes[i] <= offsets[j] or offsets[j] + sizes[j] <= offsets[i]


def test_a_larger_batch_grows_the_arena_without_compiling(tmp_path):
    prog = nnc.load(ROOT / "examples" / "digits_mlp.nn")
    t = prog.train("digits", backend="llvm", seed=0)
    rng = np.random.default_rng(0)
    sizes = []
    for n in (2, 16, 4, 128):
        t.step(x=rng.normal(size=(n, 64)).astype(np.float32), y=rng.integers(0, 10, n).astype(np.int32))
        (v,) = t._step._variants.values()
        sizes.append(v.plan.arena_bytes)
    assert sizes[0] < sizes[1] == sizes[2] < sizes[3]
    assert t._step.compilations == 1


def test_option_specialize_compiles_per_batch_size_as_before():
    g = nnc.load(ROOT / "examples" / "digits_mlp.nn").graph("mlp")
    sig = inference_signature(g)
    exe = LLVM.compile(prepare(g, LLVM), sig, options={"specialize": True})
    general = LLVM.compile(prepare(g, LLVM), sig)
    state = {p.name: np.random.default_rng(0).normal(size=p.value.type.shape).astype(np.float32) for p in g.params}
    exe.load_state(state)
    general.load_state(state)
    for n in (1, 9, 1):
        x = np.random.default_rng(n).normal(size=(n, 64)).astype(np.float32)
        np.testing.assert_allclose(exe(x=x)["logits"], general(x=x)["logits"], rtol=1e-5, atol=1e-6)
    assert exe.special == ("N",) and exe.compilations == 2 and general.compilations == 1
    (v1, v9) = (exe._variants[(1,)], exe._variants[(9,)])
    assert "@\"nnc_run\"" in v1.ir and v1.ir != v9.ir  # the sizes are constants in each variant's code
