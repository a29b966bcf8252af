"""examples/fashion_cnn.nn (issue 8's Fashion-MNIST network): it checks, its shapes and sizes are what the
comment says, and `nnc train` runs it end to end on the built-in synthetic data and on an IDX folder laid
out like Debian's dataset-fashion-mnist (a small one written here). Accuracy on the real data is measured
by bench/fashion_speed.py --accuracy, not here (minutes of training)."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from nnc.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = str(ROOT / "examples" / "fashion_cnn.nn")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "fashion-cache"))


def _json(capsys, *argv) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_check_and_stats(capsys):
    out = _json(capsys, "check", EXAMPLE, "--format", "json")
    assert out["diagnostics"] == []
    assert out["models"]["fashion_cnn"]["outputs"]["logits"]["shape"] == ["N", 10]
    stats = _json(capsys, "stats", EXAMPLE, "--format", "json")["models"]["fashion_cnn"]
    # conv 1->32 without bias (288: batchnorm follows) + bn (64) + conv 32->64 without bias (18,432) + bn (128)
    # + dense 3136->128 (401,536) + dense 128->10
    assert stats["params"] == 288 + 64 + 18_432 + 128 + 401_536 + 1_290
    assert stats["macs"] == 28 * 28 * 32 * 9 + 14 * 14 * 64 * 32 * 9 + 3136 * 128 + 128 * 10
    shapes = {layer["op"]: layer["output_shape"] for layer in stats["layers"]}
    assert shapes["flatten"] == ["N", 3136]
    assert [layer["op"] for layer in stats["layers"]].count("batchnorm") == 2


def _epochs(capsys, *argv) -> list[dict]:
    assert main(["train", EXAMPLE, "--format", "json", *argv]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_trains_on_synthetic_data(capsys):
    pytest.importorskip("llvmlite")
    (epoch,) = _epochs(capsys, "--data", "synthetic", "--epochs", "1", "--backend", "llvm")
    assert epoch["epoch"] == 1 and np.isfinite(epoch["train"]["loss"])
    assert 0.0 <= epoch["val"]["accuracy"] <= 1.0


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_trains_on_an_idx_folder_like_debians(capsys, tmp_path):
    """Ten classes that differ in brightness: the training loss falls within 2 epochs of 512 images (the
    held-out numbers use batchnorm's running statistics, still far from the data's after 16 steps)."""
    pytest.importorskip("llvmlite")
    rng = np.random.default_rng(0)
    for split, n in (("train", 512), ("t10k", 128)):
        labels = rng.integers(0, 10, n)
        images = np.clip(labels[:, None, None] * 25 + rng.integers(0, 20, (n, 28, 28)), 0, 255)
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", labels)
    epochs = _epochs(capsys, "--data", str(tmp_path), "--epochs", "2", "--backend", "llvm")
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[-1]["train"]["loss"] < 0.7 * epochs[0]["train"]["loss"]
    assert all(0.0 <= e["val"]["accuracy"] <= 1.0 and np.isfinite(e["val"]["loss"]) for e in epochs)
