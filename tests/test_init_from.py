"""`nnc train --init-from CKPT` (issue 11): a train block starts from another run's weights, matched by
parameter name, and says what was and was not loaded."""
import io
from pathlib import Path

import numpy as np

import nnc
from nnc.cli import main
from nnc.train.checkpoint import load_checkpoint
from nnc.train.loop import Settings, train

BASE = """model net {
  input x: f32[N, 64]
  h = x -> dense(32) -> relu
  output logits = h -> dense(10)
}
train pre {
  input x: f32[N, 64]
  input y: i32[N]
  loss = cross_entropy(net(x), y)
  minimize loss over net with adam(3e-3)
  batch 64
  data "digits"
}
"""

# the same trunk (h.dense), a new head of another size, and a new layer
TRANSFER = """model net {
  input x: f32[N, 64]
  h = x -> dense(32) -> relu
  extra = h -> dense(16) -> relu
  output logits = extra -> dense(5)
}
train fine {
  input x: f32[N, 64]
  input y: i32[N]
  loss = cross_entropy(net(x), y)
  minimize loss over net with adam(1e-3)
  batch 64
  data "digits"
}
"""


def write(tmp: Path, name: str, src: str) -> Path:
    path = tmp / name
    path.write_text(src)
    return path


def test_init_from_loads_matching_names_and_reports_the_rest(tmp_path, capsys):
    base = write(tmp_path, "base.nn", BASE)
    assert main(["train", str(base), "--epochs", "1", "--checkpoint", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    program = nnc.load(write(tmp_path, "fine.nn", TRANSFER.replace("dense(5)", "dense(10)")))
    out = io.StringIO()
    history = train(program._result.trains["fine"], Settings(epochs=1, init_from=tmp_path / "run" / "last.safetensors",
                                                             base_dir=tmp_path), out, io.StringIO())
    lines = out.getvalue().splitlines()
    assert lines[0] == f"init from {tmp_path / 'run' / 'last.safetensors'}: loaded 3 of 6 parameter and state tensors"
    assert lines[1] == ("  not in the checkpoint (initialised from the seed): net/extra.dense/weight, "
                        "net/extra.dense/bias")
    assert lines[2].startswith("  shape or dtype differs (initialised from the seed): net/logits.dense/weight "
                               "(float32[10, 32] in the checkpoint, float32[10, 16] here)")
    assert history.epochs  # it trained


def test_the_loaded_values_are_the_checkpoints(tmp_path):
    base = write(tmp_path, "base.nn", BASE)
    assert main(["train", str(base), "--epochs", "1", "--checkpoint", str(tmp_path / "run"), "--format", "json"]) == 0
    ckpt = tmp_path / "run" / "last.safetensors"
    saved = load_checkpoint(ckpt).params
    from nnc.train.init_from import init_from
    trainer = nnc.load(write(tmp_path, "fine.nn", TRANSFER)).train("fine", seed=3)
    report = init_from(trainer, ckpt)
    assert report.loaded == ["net/h.dense/weight", "net/h.dense/bias"]
    np.testing.assert_array_equal(trainer.params["net/h.dense/weight"], saved["net/h.dense/weight"])
    assert trainer.steps_done == 0  # a new run: optimiser state and step counter start fresh


def test_init_from_with_resume_or_a_missing_file_is_one_line(tmp_path, capsys):
    base = write(tmp_path, "base.nn", BASE)
    assert main(["train", str(base), "--epochs", "1", "--init-from", "x.safetensors", "--resume",
                 "--checkpoint", str(tmp_path)]) == 2
    assert "--init-from starts a new run" in capsys.readouterr().err
    assert main(["train", str(base), "--epochs", "1", "--init-from", str(tmp_path / "none.safetensors")]) != 0
    err = capsys.readouterr().err
    assert err.startswith("nnc: error:") and "none.safetensors" in err and "Traceback" not in err
