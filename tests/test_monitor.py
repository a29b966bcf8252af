"""`monitor NAME [min|max]` in a train block (issue 11): what --patience and best.safetensors follow, as
Keras's `monitor`: a minimized loss (min by default) or a metric (max by default)."""
import io

import pytest

import nnc
from helpers import check, errors
from nnc.source import SourceFile
from nnc.syntax import parser as syntax
from nnc.train.checkpoint import load_checkpoint
from nnc.train.loop import Settings, TrainingStopped, train

SRC = """model mlp {
  input x: f32[N, 64]
  output logits = x -> dense(32) -> relu -> dense(10)
}
train t {
  input x: f32[N, 64]
  input y: i32[N]
  logits = mlp(x)
  loss = cross_entropy(logits, y)
  metric accuracy = accuracy(logits, y)
  MONITOR
  minimize loss over mlp with sgd(0.05)
  batch 64
  data "digits"
}
"""


def info_of(tmp_path, monitor: str):
    path = tmp_path / "t.nn"
    path.write_text(SRC.replace("MONITOR", monitor))
    return nnc.load(path)._result.trains["t"]


def test_monitor_parses_on_both_paths_and_sets_the_direction():
    for line, want in (("monitor accuracy", ("accuracy", "max")), ("monitor loss", ("loss", "min")),
                       ("monitor accuracy min", ("accuracy", "min"))):
        text = SRC.replace("MONITOR", line)
        source = SourceFile("t.nn", text)
        fast, lark = syntax._parse_text(source, fast=True), syntax._parse_text(source, fast=False)
        assert fast == lark and fast[1] is None
        result = check(text)
        assert not errors(result) and result.trains["t"].settings["monitor"] == want


def test_best_and_patience_follow_the_monitored_metric_upwards(tmp_path):
    info = info_of(tmp_path, "monitor accuracy")
    out = io.StringIO()
    history = train(info, Settings(epochs=4, checkpoint=tmp_path / "run", patience=10), out, io.StringIO())
    accuracies = [row["val"]["accuracy"] for row in history.epochs]
    assert history.best == max(accuracies)
    assert history.best_epoch == 1 + accuracies.index(max(accuracies))
    best = load_checkpoint(tmp_path / "run" / "best.safetensors")
    assert best.meta["epoch"] == history.best_epoch


def test_patience_names_the_monitored_value(tmp_path):
    info = info_of(tmp_path, "monitor loss max")  # a loss that falls never improves upwards: stops early
    out = io.StringIO()
    history = train(info, Settings(epochs=6, patience=2), out, io.StringIO())
    assert len(history.epochs) == 3 and history.best_epoch == 1
    assert "early stopping: no improvement of the held-out loss for 2 epochs (best at epoch 1)" in out.getvalue()


def test_a_held_out_metric_without_a_held_out_split_is_a_clear_stop(tmp_path):
    with pytest.raises(TrainingStopped, match="`monitor accuracy`: accuracy is computed on the held-out split only"):
        train(info_of(tmp_path, "monitor accuracy"), Settings(epochs=1, val_fraction=0.0), io.StringIO(),
              io.StringIO())


@pytest.mark.parametrize("line, at, code, words", [
    ("monitor acc", "acc", "E0101", "`monitor` names a loss or a metric of this train block, found `acc`"),
    ("monitor accuracy up", "up", "E0105", "down (`min`) or up (`max`)"),
])
def test_bad_monitors_are_located(line, at, code, words):
    text = SRC.replace("MONITOR", line)
    [e] = errors(check(text))
    assert (e.code, e.span.line, e.span.column) == (code, 11, 3 + line.index(at)) and words in e.message


def test_monitor_outside_a_train_block_is_e0116():
    [e] = errors(check("model m {\n  input x: f32[N]\n  monitor x\n  output y = x\n}\n"))
    assert e.code == "E0116" and "`monitor` is only allowed in a `train`" in e.message
