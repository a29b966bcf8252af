"""The backend interface: the registry, typed step signatures, executables, and what goes through them."""
import subprocess
import sys

import numpy as np
import pytest

import nnc
from helpers import ROOT
from nnc.backends import BackendUnavailable, Role, get, names, resolve
from nnc.cli import main
from nnc.ir.verify import InvalidGraph, verify_updates
from nnc.train.trainer import NonFiniteLoss

MLP = """
model mlp {
  input x: f32[N, 4]
  output y = x -> dense(8) -> relu -> dropout(0.25) -> dense(3)
}
train t {
  input x: f32[N, 4]
  input label: i64[N]
  loss = cross_entropy(mlp(x), label)
  metric acc = accuracy(mlp(x), label)
  minimize loss over mlp with adam(lr=0.01)
}
"""


def program(tmp_path, src=MLP, name="p.nn"):
    path = tmp_path / name
    path.write_text(src)
    return nnc.load(path)


def batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return {"x": rng.normal(size=(n, 4)).astype(np.float32), "label": rng.integers(0, 3, n)}


def test_the_registry_names_every_backend_and_says_why_one_cannot_run():
    assert names() == ("numpy", "llvm", "onnx")
    assert get("numpy").name == "numpy"
    assert resolve("onnx", "cpu").name == "onnx"  # built (tests/test_onnx_backend.py)
    assert resolve("numpy", "cpu").name == "numpy"
    assert get("llvm").name == "llvm" and resolve("llvm", "cpu").name == "llvm"
    with pytest.raises(BackendUnavailable, match="unknown backend 'tpu'"):
        get("tpu")
    with pytest.raises(BackendUnavailable, match="runs on cpu, not cuda"):
        resolve("numpy", "cuda")


def test_importing_the_registry_and_checking_import_no_numpy_llvmlite_or_onnx():
    code = ("import sys, nnc.backends, nnc.cli\n"
            "from nnc.compiler import check_file\n"
            "from pathlib import Path\n"
            f"check_file(Path({str(ROOT / 'examples' / 'lenet5.nn')!r}))\n"
            "bad = [m for m in ('numpy', 'llvmlite', 'onnx', 'onnxruntime') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("command", ["train", "run"])
def test_a_backend_that_cannot_run_here_is_one_line_and_status_2(tmp_path, capsys, command):
    path = tmp_path / "p.nn"
    path.write_text(MLP)
    args = [command, str(path), "--backend", "llvm", "--device", "cuda"] + (["--model", "mlp"] if command == "run"
                                                                            else [])
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nnc: error: the llvm backend runs on cpu, not cuda"]
    assert main([command, str(path), "--device", "cuda"] + (["--model", "mlp"] if command == "run" else [])) == 2
    assert capsys.readouterr().err.strip() == "nnc: error: the numpy backend runs on cpu, not cuda"


def test_the_step_signature_gives_every_input_and_output_a_role(tmp_path):
    t = program(tmp_path).train("t", seed=0)
    sig = t.compiled.signature
    roles = {p.name: p.role for p in sig.inputs}
    assert roles["x"] is Role.DATA and roles["label"] is Role.DATA
    assert roles["mlp/y.dense/weight"] is Role.PARAM
    assert roles["nnc.step"] is Role.STEP and roles["nnc.key"] is Role.KEY
    assert {n for n, r in roles.items() if r is Role.SLOT} == {
        f"0.adam.{s}/mlp/y.{layer}/{p}" for s in ("m", "v") for layer in ("dense", "dense_1")
        for p in ("weight", "bias")}
    reports = {p.name: p.loss for p in sig.outputs if p.role is Role.REPORT}
    assert reports == {"loss": True, "acc": False}
    updates = sig.updates
    assert set(updates.values()) == {n for n, r in roles.items() if r in (Role.PARAM, Role.SLOT, Role.STEP)}
    for port in sig.outputs:
        if port.replaces:
            assert sig.input(port.replaces).type == port.type and port.role is sig.input(port.replaces).role
    sig.check(t.compiled.graph)
    verify_updates(t.compiled.graph, sig)


def test_the_verifier_finds_a_read_after_the_update(tmp_path):
    import dataclasses
    t = program(tmp_path).train("t", seed=0)
    graph, sig = t.compiled.graph, t.compiled.signature
    update = next(n for n in graph.nodes if n.op == "adam_update")
    weight = update.inputs[0]
    late = dataclasses.replace(update, name="late_reader", outputs=tuple(max(graph.values) + 1 + i
                                                                          for i in range(len(update.outputs))))
    values = dict(graph.values)
    values.update({new: dataclasses.replace(graph.values[old], id=new) for old, new in zip(update.outputs,
                                                                                          late.outputs)})
    assert late.inputs[0] == weight
    bad = dataclasses.replace(graph, nodes=graph.nodes + (late,), values=values)
    with pytest.raises(InvalidGraph, match="late_reader reads mlp/y.dense.*/weight after"):
        verify_updates(bad, sig)


def test_a_non_finite_loss_leaves_every_parameter_slot_and_counter_as_it_was(tmp_path):
    t = program(tmp_path).train("t", seed=0)
    t.step(**batch())
    before = {k: v.copy() for k, v in t._step.state().items()}
    bad = batch()
    bad["x"][0, 0] = np.inf
    with pytest.raises(NonFiniteLoss, match="loss became nan at step 2"):
        t.step(**bad)
    after = t._step.state()
    assert before.keys() == after.keys()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)
    assert t.steps_done == 1


def test_parameters_are_read_and_assigned_through_the_executable(tmp_path):
    prog = program(tmp_path)
    m = prog.model("mlp", seed=3)
    x = batch()["x"]
    w = m.params["mlp/y.dense/weight"]
    assert w.dtype == np.float32 and w.shape == (8, 4)
    m.params["mlp/y.dense/weight"] = np.zeros((8, 4))  # float64 in: kept as the declared f32
    assert m.params["mlp/y.dense/weight"].dtype == np.float32
    np.testing.assert_array_equal(m(x=x), np.broadcast_to(m.params["mlp/y.dense_1/bias"], (6, 3)))
    with pytest.raises(ValueError, match=r"mlp/y.dense/weight must have shape \[8, 4\], found \[4, 8\]"):
        m.params["mlp/y.dense/weight"] = np.zeros((4, 8))
    with pytest.raises(KeyError, match="no parameter"):
        m.params["nope"] = np.zeros(1)
    t = prog.train("t", seed=3)
    t.params["mlp/y.dense/weight"] = np.ones((8, 4), np.float32)
    np.testing.assert_array_equal(t.params["mlp/y.dense/weight"], 1.0)
    np.testing.assert_array_equal(t.checkpoint().params["mlp/y.dense/weight"], 1.0)


def test_unknown_and_held_inputs_are_clear_run_errors(tmp_path):
    from nnc.interp import RunError
    t = program(tmp_path).train("t", seed=0)
    with pytest.raises(RunError, match=r"unknown input: z \(inputs are: x, label\)"):
        t.step(**batch(), z=np.zeros(1))
    with pytest.raises(RunError, match="nnc.step is held by the executable"):
        t._step(**batch(), **{"nnc.step": np.asarray(3)})


def test_dropout_masks_depend_on_seed_step_and_node_only(tmp_path):
    prog = program(tmp_path)
    a, b, c = prog.train("t", seed=1), prog.train("t", seed=1), prog.train("t", seed=2)
    xs = [batch(seed=i) for i in range(3)]
    ra = [a.step(**x) for x in xs]
    assert ra == [b.step(**x) for x in xs]
    assert ra != [c.step(**x) for x in xs]
    state = a.checkpoint().meta["rng"]
    assert state == {"generator": "philox4x32-10", "key": 1, "counter": 3}


def test_a_train_block_may_name_an_input_step(tmp_path):
    model, train = MLP.split("train t")
    src = model + "train t" + train.replace("input x:", "input step:").replace("mlp(x)", "mlp(step)")
    t = program(tmp_path, src).train("t", seed=0)
    data = batch()
    report = t.step(step=data["x"], label=data["label"])
    assert np.isfinite(report["loss"]) and t.steps_done == 1


def test_a_called_model_may_name_its_batch_symbol_differently(tmp_path):
    src = """
model enc {
  input x: f32[B, 8]
  h: [B, 4] = x -> dense(4)
  output z = h
}
model outer {
  input x: f32[N, 8]
  output y = enc(x) -> dense(2)
}
"""
    y = program(tmp_path, src).model("outer")(x=np.ones((3, 8), np.float32))
    assert y.shape == (3, 2)


def test_an_f64_program_trains_in_f64(tmp_path):
    src = MLP.replace("f32[", "f64[")
    t = program(tmp_path, src).train("t", seed=0)
    d = batch()
    first = t.step(x=d["x"].astype(np.float64), label=d["label"])
    assert all(v.dtype == np.float64 for v in list(t.params.values()) + list(t.slots.values()))
    assert np.isfinite(first["loss"])
    m = program(tmp_path, src).model("mlp")
    assert m(x=d["x"]).dtype == np.float64


@pytest.mark.parametrize("optimizer", ["sgd(lr=0)", "adam(lr=0.0)", "sgd(lr=cosine(0.0, 10))"])
def test_a_learning_rate_of_zero_freezes_the_parameters(tmp_path, optimizer):
    t = program(tmp_path, MLP.replace("adam(lr=0.01)", optimizer)).train("t", seed=0)
    before = {k: v.copy() for k, v in t.params.items()}
    t.step(**batch())
    for k, v in t.params.items():
        np.testing.assert_array_equal(v, before[k])


def test_a_negative_learning_rate_is_still_an_error(tmp_path):
    path = tmp_path / "p.nn"
    path.write_text(MLP.replace("adam(lr=0.01)", "sgd(lr=-0.1)"))
    with pytest.raises(nnc.CompileError) as err:
        nnc.load(path)
    d = next(d for d in err.value.diagnostics if d.is_error)
    assert (d.code, d.span.line) == ("E0207", 11) and "must not be negative" in d.message


def test_device_auto_picks_what_runs_here_and_says_why_cuda_was_passed_over(monkeypatch):
    from nnc.backends import pick_device
    assert pick_device("numpy", "auto") == ("cpu", None)  # the numpy backend has no cuda to pass over
    assert pick_device("numpy", "cpu") == ("cpu", None)

    class CudaLess:
        name, devices, primitives = "fake", ("cpu", "cuda"), None

        def available(self, device="cpu"):
            return None if device == "cpu" else "the fake backend cannot use cuda here: no driver"
    monkeypatch.setitem(__import__("nnc.backends", fromlist=["_LOADED"])._LOADED, "fake", CudaLess())
    assert pick_device("fake", "auto") == ("cpu", "--device auto: the fake backend cannot use cuda here: no driver; "
                                                  "running on the cpu")
    with pytest.raises(BackendUnavailable, match="cannot use cuda here"):
        pick_device("fake", "cuda")


def test_verify_counts_nan_on_both_sides_as_agreement():
    from nnc.verify import _errors
    assert _errors(np.array([np.nan, 1.0]), np.array([np.nan, 1.0])) == (0.0, 0.0)
    assert _errors(np.array([np.nan, 1.0]), np.array([0.0, 1.0]))[1] == float("inf")
