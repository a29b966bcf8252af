"""bench/cpu_speed.py's contenders compute what nnc computes, and `--quick` prints issue 8's table.

No timing is asserted (timing goals live in bench/): the ONNX graphs built with onnx.helper from nnc's
weights must give nnc's numbers, and the smoke run must print a row with its goal and verdict.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llvmlite")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import nnc  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import cpu_models as cm  # noqa: E402


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "bench-cache"))


@pytest.mark.parametrize("program, model, shape", [
    ("bench/models/mlp.nn", "mlp", (784,)),
    ("bench/models/lenet5.nn", "lenet5", (1, 28, 28)),
])
def test_onnx_graph_from_nnc_weights_matches_the_oracle(program, model, shape):
    m = nnc.load(ROOT / program).model(model, backend="numpy", seed=0)
    x = np.random.default_rng(0).random((3,) + shape, dtype=np.float32)
    want = m(**{m.inputs[0]: x})
    for threads in (1, 2):
        session = cm.ort_session(cm.onnx_model(model, cm.layers(dict(m.params), dict(m.state)), shape), threads)
        got = session.run(None, {"x": x})[0]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_resnet18_layers_are_taken_in_nnc_order():
    """The builder consumes every conv, batchnorm and dense of examples/resnet18.nn with matching shapes."""
    m = nnc.load(ROOT / "examples" / "resnet18.nn")
    info = m._model_info("resnet18")
    from nnc.init import initialize
    values = initialize(info.graph.params, 0)
    trainable = {p.name for p in info.graph.params if p.trainable}
    items = cm.layers({k: v for k, v in values.items() if k in trainable},
                      {k: v for k, v in values.items() if k not in trainable})
    model = cm.onnx_model("resnet18", items, (3, 224, 224))
    import onnx
    graph = onnx.load_from_string(model).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("Conv") == 20 and ops.count("BatchNormalization") == 20 and ops.count("Gemm") == 1
    assert ops.count("Add") == 8 and ops.count("MaxPool") == 1


def test_layers_with_a_wrong_order_are_refused():
    m = nnc.load(ROOT / "bench" / "models" / "lenet5.nn").model("lenet5", backend="numpy")
    items = cm.layers(dict(m.params), {})
    with pytest.raises(ValueError, match="expected a conv2d layer"):
        cm.onnx_model("lenet5", items[2:] + items[:2], (1, 28, 28))


def test_quick_run_prints_the_table():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "cpu_speed.py"), "--quick", "--rows", "mlp1"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("# issue 8") and any("load average" in line for line in lines)
    (row,) = [line for line in lines if line.startswith("| mlp batch 1 |")]
    assert "µs" in row and "≤ 0.6× ORT's latency" in row and ("yes" in row or "**no**" in row)
    assert any(line.startswith("- mlp batch 1: outputs agree") for line in lines)
    assert lines[-1].startswith("# goals met:")


def test_unknown_row_is_a_usage_error():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "cpu_speed.py"), "--rows", "nope"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "unknown rows nope" in out.stderr
