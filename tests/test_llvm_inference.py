"""Inference on the llvm backend: work on parameters done once per load (hoist.py), batchnorm folded into the
layer before it (fold_batchnorm.py). Results against the numpy oracle and against the executable without
hoisting (the same bits: hoisting moves kernels, it does not change them)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import nnc  # noqa: E402
from nnc.backends import Role, get, inference_signature  # noqa: E402
from nnc.interp import RunError  # noqa: E402
from nnc.passes.fold_batchnorm import fold_batchnorm  # noqa: E402
from nnc.passes.hoist import split_static  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LLVM = get("llvm")
NUMPY = get("numpy")

CONV_BN = """model net {
  input x: f32[N, 3, 8, 8]
  output y = x -> conv2d(4, 3, padding=1) -> batchnorm -> relu -> conv2d(5, 3, bias=false) -> batchnorm
}
"""
DENSE_BN = """model net {
  input x: f32[N, 6]
  output y = x -> dense(7) -> batchnorm -> relu -> dense(3)
}
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "llvm-cache"))


def program(tmp_path, text: str):
    path = tmp_path / "m.nn"
    path.write_text(text)
    return nnc.load(path)


def random_values(graph, seed: int) -> dict:
    """Every parameter and state drawn at random (variances positive), so that folding has work to do."""
    rng = np.random.default_rng(seed)
    out = {}
    for p in graph.params:
        shape = tuple(p.value.type.shape)
        a = rng.standard_normal(shape).astype(np.float32)
        out[p.name] = np.abs(a) + 0.5 if p.name.endswith("running_var") else a
    return out


def models(prog, values: dict):
    """The program's model on llvm (hoisting on, as compiled by default) and on the numpy oracle."""
    m, o = prog.model("net", backend="llvm"), prog.model("net", backend="numpy")
    for model in (m, o):
        model.params.update({k: v for k, v in values.items() if k in model.params})
        model.state.update({k: v for k, v in values.items() if k in model.state})
    return m, o


@pytest.mark.parametrize("text", [CONV_BN, DENSE_BN], ids=["conv+bn", "dense+bn"])
def test_folded_and_hoisted_results_agree_with_the_oracle(tmp_path, text):
    prog = program(tmp_path, text)
    m, o = models(prog, random_values(prog.graph("net"), 1))
    exe = m._exe
    assert exe._prepare is not None and exe._derived  # the folded weights are computed once, at load
    ops = {n.op for n in exe.graph.nodes}
    assert not ops & {"batchnorm", "sqrt", "div", "sub"}, ops  # no batchnorm left in the per-call code
    x = np.random.default_rng(2).standard_normal((2,) + tuple(prog.graph("net").input_type("x").shape[1:]))
    np.testing.assert_allclose(m(x=x), o(x=x), rtol=1e-4, atol=1e-5)


def test_the_fold_pass_removes_batchnorm_and_keeps_the_values(tmp_path):
    prog = program(tmp_path, CONV_BN)
    graph = prog.graph("net")
    folded = fold_batchnorm(graph)
    assert [n.op for n in graph.nodes].count("batchnorm") == 2
    assert "batchnorm" not in [n.op for n in folded.nodes]
    assert [p.name for p in folded.params] == [p.name for p in graph.params]  # the interface is the same
    sig = inference_signature(graph)
    values = random_values(graph, 3)
    x = np.random.default_rng(4).standard_normal((3, 3, 8, 8)).astype(np.float32)
    outs = []
    for g in (graph, folded):  # both on the oracle: the fold alone, no llvm
        exe = NUMPY.compile(prepare(g, NUMPY), sig)
        exe.load_state(values)
        outs.append(exe(x=x)["y"])
    np.testing.assert_allclose(outs[1], outs[0], rtol=1e-4, atol=1e-5)


def test_a_batchnorm_whose_input_is_read_twice_is_not_folded(tmp_path):
    prog = program(tmp_path, "model net {\n  input x: f32[N, 3, 4, 4]\n  h = x -> conv2d(2, 1)\n"
                             "  output y = h -> batchnorm\n  output z = h\n}\n")
    assert fold_batchnorm(prog.graph("net")) is prog.graph("net")


def test_hoisted_bits_equal_the_plain_executable(tmp_path):
    prog = program(tmp_path, CONV_BN)
    graph = prog.graph("net")
    sig = inference_signature(graph)
    prepared = prepare(graph, LLVM, signature=sig)
    values = random_values(graph, 5)
    x = np.random.default_rng(6).standard_normal((2, 3, 8, 8)).astype(np.float32)
    outs = []
    for hoist in (False, True):
        exe = LLVM.compile(prepared, sig, options={"hoist": hoist})
        exe.load_state(values)
        assert (exe._prepare is not None) == hoist
        outs.append(exe(x=x)["y"])
    np.testing.assert_array_equal(outs[1], outs[0])


def test_assigning_a_parameter_after_a_call_changes_the_next_result(tmp_path):
    prog = program(tmp_path, CONV_BN)
    m, o = models(prog, random_values(prog.graph("net"), 7))
    x = np.random.default_rng(8).standard_normal((1, 3, 8, 8)).astype(np.float32)
    before = m(x=x)
    np.testing.assert_allclose(before, o(x=x), rtol=1e-4, atol=1e-5)
    name = next(n for n in m.params if n.endswith("batchnorm/weight"))
    new = np.full(m.params[name].shape, 2.5, np.float32)
    m.params[name] = new
    o.params[name] = new
    after = m(x=x)
    assert not np.allclose(after, before)
    np.testing.assert_allclose(after, o(x=x), rtol=1e-4, atol=1e-5)
    state = next(n for n in m.state if n.endswith("running_mean"))  # state too, through .state[...] =
    m.state[state] = o.state[state] = np.ones(m.state[state].shape, np.float32)
    np.testing.assert_allclose(m(x=x), o(x=x), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(m.params[name], new)  # reading back gives what was assigned


def test_load_state_then_call(tmp_path):
    prog = program(tmp_path, DENSE_BN)
    graph = prog.graph("net")
    sig = inference_signature(graph)
    exe = LLVM.compile(prepare(graph, LLVM, signature=sig), sig)
    with pytest.raises(RunError, match="no value loaded"):
        exe(x=np.zeros((1, 6), np.float32))
    values = random_values(graph, 9)
    exe.load_state(values)
    oracle = NUMPY.compile(prepare(graph, NUMPY), sig)
    oracle.load_state(values)
    x = np.random.default_rng(10).standard_normal((4, 6)).astype(np.float32)
    np.testing.assert_allclose(exe(x=x)["y"], oracle(x=x)["y"], rtol=1e-4, atol=1e-5)
    # the derived tensors are the executable's own: not in state(), not loadable, not fed
    assert set(exe.state()) == {p.name for p in graph.params}
    derived = exe._derived[0]
    with pytest.raises(KeyError, match="no parameter, state, slot or counter"):
        exe.load_state({derived: np.zeros(1, np.float32)})
    with pytest.raises(RunError, match="unknown input"):
        exe(x=x, **{derived: np.zeros(1, np.float32)})
    values2 = random_values(graph, 11)
    exe.load_state(values2)
    oracle.load_state(values2)
    np.testing.assert_allclose(exe(x=x)["y"], oracle(x=x)["y"], rtol=1e-4, atol=1e-5)


def test_split_leaves_training_graphs_and_views_alone(tmp_path):
    prog = program(tmp_path, DENSE_BN)
    graph = prepare(prog.graph("net"), LLVM)
    sig = inference_signature(graph)
    split = split_static(graph, sig)
    assert split is not None
    hoisted_ops = {n.op for n in split.prepare.nodes}
    per_call = {n.op for n in split.run.nodes}
    assert "matmul" in per_call and "matmul" not in hoisted_ops
    # every derived tensor has a fixed shape and is read per call as state
    for port in split.run_signature.inputs:
        if port.name in split.derived:
            assert port.role is Role.STATE and all(isinstance(d, int) for d in port.type.shape)
    # the transposes of dense weights stay per call (read in place by the matmul), even of a folded weight
    held = {p.value.id for p in split.run.params}
    transposes = [n for n in split.run.nodes if n.op == "transpose"]
    assert len(transposes) == 2 and all(n.inputs[0] in held for n in transposes)
    # a step with updates is never split
    from nnc.backends import Port, Signature
    param = next(p for p in sig.inputs if p.role is Role.PARAM)
    update = Port("new", Role.PARAM, param.type, replaces=param.name)
    assert split_static(graph, Signature(sig.inputs, sig.outputs + (update,))) is None


def test_mlp_has_nothing_to_hoist():
    """The dense weights' transposes are read in place: an MLP runs unsplit (its bits as before)."""
    prog = nnc.load(ROOT / "bench" / "models" / "mlp.nn")
    m = prog.model("mlp", backend="llvm")
    assert m._exe._prepare is None


@pytest.mark.parametrize("batch", [1, 2])
def test_resnet18_against_the_oracle(batch):
    prog = nnc.load(ROOT / "examples" / "resnet18.nn")
    graph = prog.graph(prog.models[0])
    values = random_values(graph, 12)
    for p in graph.params:  # small weights keep 18 layers of activations in range
        if "conv2d" in p.name.rsplit("/", 2)[-2] and p.name.endswith("/weight"):
            values[p.name] *= np.float32(0.05)
    m, o = prog.model(prog.models[0], backend="llvm"), prog.model(prog.models[0], backend="numpy")
    for model in (m, o):
        model.params.update({k: v for k, v in values.items() if k in model.params})
        model.state.update({k: v for k, v in values.items() if k in model.state})
    assert m._exe._prepare is not None
    assert not {"sqrt", "sub"} & {n.op for n in m._exe.graph.nodes}  # batchnorm folded, its scale hoisted
    x = np.random.default_rng(13).standard_normal((batch, 3, 224, 224)).astype(np.float32)
    want = o(image=x)
    np.testing.assert_allclose(m(image=x), want, rtol=1e-3, atol=1e-3 * float(np.abs(want).max()))


def test_the_call_fast_path_and_the_slow_one_agree(tmp_path):
    """A call with arrays of the right dtype, C-contiguous, takes the fast path; every other input (a list,
    f64, a transposed view, a read-only array) is converted or refused as before, with the same results."""
    prog = program(tmp_path, DENSE_BN)
    m, o = models(prog, random_values(prog.graph("net"), 14))
    exe = m._exe
    x = np.random.default_rng(15).standard_normal((3, 6)).astype(np.float32)
    want = o(x=x)
    frozen = x.copy()
    frozen.flags.writeable = False
    for given in (x, x.astype(np.float64), np.asfortranarray(x), frozen, x.tolist()):
        np.testing.assert_allclose(exe(x=given)["y"], want, rtol=1e-4, atol=1e-5)
    assert exe(x=x[:1])["y"].shape == (1, 3)  # a new batch size after the first
    with pytest.raises(RunError, match="unknown input"):
        exe(x=x, z=x)
    with pytest.raises(RunError, match="missing input"):
        exe()
    with pytest.raises(RunError, match="must be f32"):
        exe(x=x.astype(np.int32))
    with pytest.raises(RunError):
        exe(x=np.zeros((3, 5), np.float32))  # the wrong feature count
