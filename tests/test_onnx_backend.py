"""The ONNX backend against the numpy oracle: every primitive forward and backward, every example's inference
at two batch sizes, consecutive training steps (same seed, same dropout masks), the checker and ONNX shape
inference on every exported graph, the executable's state rules, and training from the command line."""
from __future__ import annotations

import dataclasses
import glob
import json

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

import nnc  # noqa: E402
from helpers import ROOT  # noqa: E402
from nnc.backends import BackendUnavailable, Role, get, inference_signature, resolve  # noqa: E402
from nnc.cli import main  # noqa: E402
from nnc.elaborate.builder import GraphBuilder  # noqa: E402
from nnc.ir.types import TensorType, eval_dim  # noqa: E402
from nnc.passes.autodiff import differentiate  # noqa: E402
from nnc.passes.emit import Emitter  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402
from nnc.train.step import build_step  # noqa: E402
from test_primitives import PRIM_CASES, SPAN, _tensor, feeds_for, one_op_graph  # noqa: E402

EXAMPLES = ROOT / "examples"
ONNX = get("onnx")
NUMPY = get("numpy")


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """Results differ between one and two intra-op threads (backends.md §4): tests fix the count."""
    monkeypatch.setenv("NNC_ONNX_THREADS", "1")


def run_both(graph, feeds, state=None, signature=None):
    sig = signature or inference_signature(graph)
    out = []
    for backend in (NUMPY, ONNX):
        exe = backend.compile(prepare(graph, backend), sig)
        if state:
            exe.load_state(state)
        out.append(exe(**feeds))
    return out


def assert_close(want: dict, got: dict, rtol: float = 1e-4, what: str = "") -> None:
    assert set(want) == set(got), what
    for name in want:
        a, b = np.asarray(want[name]), np.asarray(got[name])
        assert a.shape == b.shape and a.dtype == b.dtype, (what, name, a.shape, b.shape, a.dtype, b.dtype)
        scale = float(np.max(np.abs(a))) if a.size and a.dtype != np.bool_ else 0.0
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol * scale + 1e-7, err_msg=f"{what} {name}")


# --- every primitive, forward and backward ---------------------------------------------------------------

def f32_types(types):
    """ONNX Runtime has no float64 Conv, ConvTranspose or pooling on the CPU: the cases run in float32."""
    return [TensorType("f32", t.shape) if t.dtype == "f64" else t for t in types]


def gradient_graph(graph):
    """Outputs y_k and the gradients of L = sum_k sum(y_k * r_k) with respect to every float input."""
    b = GraphBuilder(graph.name)
    b.values, b.nodes, b.inputs = dict(graph.values), list(graph.nodes), list(graph.inputs)
    b.next_id = max(graph.values) + 1
    for n in graph.nodes:
        for o in n.outputs:
            b.producer[o] = n
    e = Emitter(b, SPAN, "", "check")
    loss = None
    for name, vid in graph.outputs:
        t = graph.type_of(vid)
        if not t.is_float:
            continue
        r = b.add_input(f"r_{name}", TensorType(t.dtype, t.shape), SPAN)
        term = e("sum", e("mul", _tensor(b, vid), r))
        loss = term if loss is None else e("add", loss, term)
    if loss is None:
        return None
    b.outputs = list(graph.outputs) + [("loss", loss.id)]
    wrt = [(n, v) for n, v in graph.inputs if graph.type_of(v).is_float]
    full, grads = differentiate(b.build(), loss.id, [v for _, v in wrt])
    extra = tuple((f"grad_{n}", grads[v]) for n, v in wrt if grads[v] is not None)
    return dataclasses.replace(full, outputs=full.outputs + extra)


def _cases():
    return [pytest.param(name, k, id=f"{name}-{k}") for name in sorted(PRIM_CASES)
            for k in range(len(PRIM_CASES[name]))]


@pytest.mark.parametrize("name,k", _cases())
def test_every_primitive_forward_and_backward_matches_the_oracle(name, k):
    types, attrs, makers = PRIM_CASES[name][k]
    graph = one_op_graph(name, f32_types(types), attrs)
    rng = np.random.default_rng(k)
    feeds = feeds_for(graph, rng, makers)
    want, got = run_both(graph, feeds)
    assert_close(want, got, what=f"{name} forward")
    grad = gradient_graph(graph)
    if grad is None or not any(n.startswith("grad_") for n, _ in grad.outputs):
        return
    feeds = feeds_for(grad, np.random.default_rng(k), makers)
    want, got = run_both(grad, feeds)
    assert_close(want, got, what=f"{name} backward")


def test_the_backend_lowers_exactly_the_primitive_set():
    from nnc.ir.primitives import PRIMITIVES
    assert ONNX.primitives == PRIMITIVES


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_recurrent_layers_with_initial_states_and_their_gradients_match_the_oracle(kind):
    types = [TensorType("f32", (2, 4, 3)), TensorType("f32", (2, 5))]  # an initial h (lstm: c starts at 0)
    graph = one_op_graph(kind, types, {"units": 5, "return_state": True, "initial_states": 1})
    feeds = feeds_for(graph, np.random.default_rng(0))
    assert_close(*run_both(graph, feeds), what=kind)
    grad = gradient_graph(graph)
    feeds = feeds_for(grad, np.random.default_rng(1))
    assert_close(*run_both(grad, feeds), what=f"{kind} backward")


def test_a_recurrent_layer_over_a_symbolic_length_is_refused_with_its_op_and_line():
    from nnc.ir.types import sym
    graph = one_op_graph("lstm", [TensorType("f32", (2, sym("T"), 3))], {"units": 2})
    with pytest.raises(BackendUnavailable, match=r"lstm over a sequence of symbolic length T .* t\.nn:1"):
        ONNX.compile(prepare(graph, ONNX), inference_signature(graph))


def test_random_numbers_are_nnc_philox_bit_for_bit():
    from nnc.ops._philox import uniform
    graph = one_op_graph("random_uniform", [TensorType("f32", (3, 1000)), TensorType("i64", ()),
                                            TensorType("i64", ())], {"stream": 0xDEADBEEF, "dtype": "f32"})
    seed, step = -(2**40) - 7, 2**33 + 5  # both words of the key, the counter's low word only
    exe = ONNX.compile(prepare(graph, ONNX), inference_signature(graph))
    got = exe(x0=np.zeros((3, 1000), np.float32), x1=np.asarray(seed), x2=np.asarray(step))["y0"]
    assert np.array_equal(got, uniform((3, 1000), seed, 0xDEADBEEF, step))


# --- every example: checker, shape inference, names ---------------------------------------------------------

def example_graphs():
    out = []
    for path in sorted(glob.glob(str(EXAMPLES / "*.nn"))):
        result = nnc.load(path)._result
        out += [pytest.param(path, "model", n, id=f"{path.split('/')[-1]}-{n}") for n in result.models]
        out += [pytest.param(path, "train", n, id=f"{path.split('/')[-1]}-{n}.step") for n in result.trains]
    return out


@pytest.mark.parametrize("path,kind,name", example_graphs())
def test_every_example_passes_the_checker_and_shape_inference_agrees_with_nnc(path, kind, name):
    from nnc.backends.onnx.checks import shape_disagreements
    from nnc.backends.onnx.export import export
    result = nnc.load(path)._result
    graph = result.models[name].graph if kind == "model" else build_step(result.trains[name]).graph
    prepared = prepare(graph, ONNX)
    exported = export(prepared)
    assert shape_disagreements(prepared, exported) == []  # runs onnx.checker.check_model(full_check=True)
    model = exported.model
    assert model.ir_version == 10 and model.opset_import[0].version == 21
    assert {i.name for i in model.graph.input} >= {n for n, _ in graph.inputs}
    assert [o.name for o in model.graph.output] == [n for n, _ in graph.outputs]
    batch = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.HasField("dim_value")  # the batch stays symbolic
    file = path.split("/")[-1]
    located = [n for n in model.graph.node if n.op_type != "Constant" and n.name.split("#")[0] != "outputs"]
    assert located and all(f"@{file}:" in n.name and n.doc_string.split(":")[0].endswith(file) for n in located)


# --- inference and training through the interface -------------------------------------------------------------

INFERENCE = ["lenet5", "digits_mlp", "digits_cnn", "resnet18", "lstm_classifier", "gan", "fgsm"]


def random_feeds(graph, names, batch: int, rng):
    out = {}
    for n in names:
        t = graph.input_type(n)
        shape = tuple(eval_dim(d, batch) for d in t.shape)
        out[n] = rng.random(shape).astype(np.float32) if t.is_float else rng.integers(0, 3, shape)
    return out


@pytest.mark.parametrize("example", INFERENCE)
def test_every_example_model_matches_the_oracle_at_two_batch_sizes(example):
    prog = nnc.load(EXAMPLES / f"{example}.nn")
    for name, info in prog._result.models.items():
        models = [prog.model(name, backend=b, seed=1) for b in ("numpy", "onnx")]
        for batch in (1, 2):
            feeds = random_feeds(info.graph, [n for n, _ in info.graph.inputs], batch, np.random.default_rng(batch))
            want, got = (m(**feeds) for m in models)
            want, got = (v if isinstance(v, dict) else {"y": v} for v in (want, got))
            assert_close(want, got, what=f"{example}/{name} batch {batch}")


@pytest.mark.parametrize("example", ["digits_mlp", "lenet5", "gan", "lstm_classifier"])
def test_consecutive_training_steps_match_the_oracle(example):
    prog = nnc.load(EXAMPLES / f"{example}.nn")
    for name in prog._result.trains:
        trainers = [prog.train(name, backend=b, seed=7) for b in ("numpy", "onnx")]
        graph = trainers[0].compiled.graph
        rng = np.random.default_rng(0)
        for step, batch in enumerate((8, 3, 8, 5)):  # two batch sizes: a size baked into the graph fails
            feeds = random_feeds(graph, trainers[0].inputs, batch, rng)
            want, got = (t.step(**feeds) for t in trainers)
            assert_close(want, got, what=f"{example} step {step}")
        for view in ("params", "state", "slots"):
            assert_close(dict(getattr(trainers[0], view)), dict(getattr(trainers[1], view)), what=view)
        assert trainers[1].steps_done == 4


def test_dropout_masks_are_the_oracles_in_training_and_monte_carlo_inference():
    prog = nnc.load(EXAMPLES / "digits_mlp.nn")
    x = np.random.default_rng(0).random((5, 64)).astype(np.float32)
    models = [prog.model("mlp", backend=b, seed=11) for b in ("numpy", "onnx")]
    for _ in range(3):  # each sample draws new masks from the step counter
        want, got = (m(mc_dropout=True, x=x) for m in models)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not np.allclose(models[1](mc_dropout=True, x=x), models[1](mc_dropout=True, x=x))


# --- the executable's rules ------------------------------------------------------------------------------

def test_a_non_finite_loss_leaves_every_parameter_slot_and_the_step_unchanged():
    t = nnc.load(EXAMPLES / "digits_mlp.nn").train("digits", backend="onnx", seed=0)
    rng = np.random.default_rng(0)
    t.step(x=rng.random((4, 64)).astype(np.float32), y=np.arange(4))
    before = t._step.state()
    bad = np.full((4, 64), np.inf, np.float32)
    with pytest.raises(Exception, match="at step 2; parameters are left as they were"):
        t.step(x=bad, y=np.arange(4))
    after = t._step.state()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert t.steps_done == 1
    t.step(x=rng.random((4, 64)).astype(np.float32), y=np.arange(4))
    assert t.steps_done == 2


def test_load_state_copies_checks_and_converts_like_the_oracle():
    t = nnc.load(EXAMPLES / "digits_mlp.nn").train("digits", backend="onnx", seed=0)
    w = np.ones((128, 64))  # float64 in, float32 held
    t.params["mlp/h.dense/weight"] = w
    t.step(x=np.ones((2, 64), np.float32), y=np.zeros(2, np.int64))
    assert np.all(w == 1.0)  # the caller's array is never written
    assert t.params["mlp/h.dense/weight"].dtype == np.float32
    with pytest.raises(ValueError, match=r"must have shape \[128, 64\], found \[3\]"):
        t._step.load_state({"mlp/h.dense/weight": np.zeros(3)})
    with pytest.raises(KeyError, match="no parameter"):
        t._step.load_state({"nope": np.zeros(3)})


def test_feeding_mistakes_are_one_line_run_errors():
    from nnc.interp import RunError
    model = nnc.load(EXAMPLES / "lenet5.nn").model("lenet5", backend="onnx")
    with pytest.raises(RunError, match="missing input"):
        model()
    with pytest.raises(RunError, match="unknown input"):
        model(image=np.zeros((1, 1, 28, 28), np.float32), other=np.zeros(1))
    with pytest.raises(RunError, match="must be f32"):
        model(image=np.zeros((1, 1, 28, 28), bool))


def test_float64_runs_where_onnxruntime_has_kernels_and_says_why_not_elsewhere(tmp_path, capsys):
    path = tmp_path / "f64.nn"
    path.write_text("model d {\n  input x: f64[N, 4]\n  output y = x -> dense(3) -> tanh -> dense(2)\n}\n"
                    "model c {\n  input x: f64[N, 1, 6, 6]\n  output y = x -> conv2d(2, 3) -> flatten\n}\n")
    prog = nnc.load(path)
    x = np.random.default_rng(0).random((2, 4))
    got = prog.model("d", backend="onnx")(x=x)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, prog.model("d")(x=x), rtol=1e-12)
    np.save(tmp_path / "x.npy", np.ones((2, 1, 6, 6)))
    assert main(["run", str(path), "--model", "c", "--backend", "onnx", "--input", f"x={tmp_path / 'x.npy'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no float64 Conv" in err and "conv2d" in err and "f64.nn:7" in err


def test_cuda_says_in_one_line_why_it_cannot_run_here():
    why = ONNX.available("cuda")
    if why is None:
        pytest.skip("a CUDA device is present")
    assert "\n" not in why and "cuda" in why
    with pytest.raises(BackendUnavailable, match="cannot use cuda here"):
        resolve("onnx", "cuda")
    assert ONNX.available("tpu") == "the onnx backend runs on cpu or cuda, not tpu"


def test_nnc_train_with_the_onnx_backend_reaches_numpys_accuracy(capsys):
    accuracy = {}
    for backend in ("numpy", "onnx"):
        assert main(["train", str(EXAMPLES / "digits_mlp.nn"), "--epochs", "4", "--format", "json",
                     "--backend", backend]) == 0
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
        accuracy[backend] = rows[-1]["val"]["accuracy"]
    assert accuracy["onnx"] >= 0.9
    assert abs(accuracy["onnx"] - accuracy["numpy"]) <= 0.01


# --- nnc compile --target onnx ------------------------------------------------------------------------------

def _python_blocks(readme: str) -> list[str]:
    import re
    return re.findall(r"```python\n(.*?)```", readme, re.S)


ONLY_ORT = ("\nimport sys\nbad = [m for m in sys.modules if m.split('.')[0] in ('nnc', 'onnx')]\n"
            "assert not bad, f'imported {bad}'\n")


def test_compile_writes_models_steps_and_a_readme_whose_code_runs_with_onnxruntime_alone(tmp_path, capsys):
    import subprocess
    import sys
    out = tmp_path / "out"
    assert main(["compile", str(EXAMPLES / "digits_mlp.nn"), "--target", "onnx", "-o", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "mlp.onnx"), str(out / "digits.step.onnx"), str(out / "README.md")]
    readme = (out / "README.md").read_text()
    blocks = _python_blocks(readme)
    assert len(blocks) == 2 and "new/X" in readme
    for code in blocks:
        r = subprocess.run([sys.executable, "-I", "-c", code + ONLY_ORT], capture_output=True, text=True, cwd=out)
        assert r.returncode == 0, r.stderr
    assert [line.split()[0] for line in r.stdout.splitlines()] == ["0", "1", "2"]


def test_the_compiled_step_fed_back_as_the_readme_says_trains_like_nnc(tmp_path):
    """Three steps in a fresh process with onnxruntime and numpy only, against the numpy oracle's Trainer."""
    import subprocess
    import sys
    assert main(["compile", str(EXAMPLES / "digits_mlp.nn"), "--target", "onnx", "--train", "digits",
                 "-o", str(tmp_path), "--seed", "5"]) == 0
    assert not (tmp_path / "mlp.onnx").exists()
    code = (
        "import json, numpy as np, onnxruntime as ort\n"
        "so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.log_severity_level = 3\n"
        "s = ort.InferenceSession('digits.step.onnx', so, providers=['CPUExecutionProvider'])\n"
        "updates = json.loads(s.get_modelmeta().custom_metadata_map['nnc.updates'])\n"
        "names = [o.name for o in s.get_outputs()]\n"
        "state, losses, rng = {}, [], np.random.default_rng(0)\n"
        "for step in range(3):\n"
        "    batch = {'x': rng.random((8, 64)).astype(np.float32), 'y': rng.integers(0, 10, 8).astype(np.int32)}\n"
        "    values = dict(zip(names, s.run(names, {**batch, **state})))\n"
        "    state = {updates[n]: values[n] for n in updates}\n"
        "    losses.append(float(values['loss']))\n"
        "print(json.dumps(losses))\n" + ONLY_ORT)
    r = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    t = nnc.load(EXAMPLES / "digits_mlp.nn").train("digits", seed=5)
    rng = np.random.default_rng(0)
    want = [t.step(x=rng.random((8, 64)).astype(np.float32), y=rng.integers(0, 10, 8).astype(np.int32))["loss"]
            for _ in range(3)]
    np.testing.assert_allclose(json.loads(r.stdout), want, rtol=1e-4)


def test_compile_mistakes_are_one_line_and_status_2(tmp_path, capsys):
    program = str(EXAMPLES / "digits_mlp.nn")
    assert main(["compile", program, "--target", "onnx", "--embed-weights", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == ("nnc: error: --batch, --cpu, --embed-weights and --checked go with "
                                               "--target llvm")
    assert main(["compile", program, "--target", "onnx", "--model", "nope", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"nnc: error: no model `nope` in {program} (models: mlp)"
    assert main(["compile", str(tmp_path / "missing.nn"), "--target", "onnx"]) == 2
    assert capsys.readouterr().err.strip().startswith("nnc: error:")
