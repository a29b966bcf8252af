"""Metrics on training batches only when asked (issue 11): `nnc train` computes a metric on the held-out
split only, unless it is written `metric NAME = expr on train`; the Python Trainer still reports all."""
import json
import tempfile

import numpy as np

import nnc
from helpers import check, errors
from nnc.cli import main
from nnc.passes.dce import eliminate_dead_code
from nnc.source import SourceFile
from nnc.syntax import parser as syntax
from nnc.train.step import build_step

SRC = """model mlp {
  input x: f32[N, 64]
  output logits = x -> dense(32) -> relu -> dense(10)
}
train t {
  input x: f32[N, 64]
  input y: i32[N]
  logits = mlp(x)
  loss = cross_entropy(logits, y)
  x_adv = x + 0.1 * sign(grad(loss, x))
  metric accuracy = accuracy(logits, y) on train
  metric adv_accuracy = accuracy(mlp(x_adv), y)
  minimize loss over mlp with adam(lr=3e-3)
  batch 64
  data "digits"
}
"""


def path_of(src: str) -> str:
    f = tempfile.NamedTemporaryFile("w", suffix=".nn", delete=False)
    f.write(src)
    f.close()
    return f.name


def test_on_train_parses_on_both_paths_and_on_stays_a_name():
    text = SRC + "model q {\n  input on: f32[N]\n  output y = on\n}\n"
    source = SourceFile("t.nn", text)
    fast, lark = syntax._parse_text(source, fast=True), syntax._parse_text(source, fast=False)
    assert fast == lark and fast[1] is None
    metrics = [s for s in fast[0].items[1].body if type(s).__name__ == "Metric"]
    assert [(m.name, m.on_train) for m in metrics] == [("accuracy", True), ("adv_accuracy", False)]
    assert not errors(check(text))


def test_nnc_train_reports_held_out_metrics_and_only_on_train_ones_on_batches(capsys):
    assert main(["train", path_of(SRC), "--epochs", "1", "--format", "json"]) == 0
    row = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")][-1]
    assert set(row["train"]) == {"loss", "accuracy"}
    assert set(row["val"]) == {"loss", "accuracy", "adv_accuracy"}


def test_a_metric_not_on_train_costs_nothing_in_the_step_graph():
    info = nnc.load(path_of(SRC))._result.trains["t"]
    every, lean = build_step(info), build_step(info, info.train_metrics)
    assert info.train_metrics == ("accuracy",)
    assert lean.metrics == ("accuracy",) and every.metrics == ("accuracy", "adv_accuracy")
    lean_nodes = eliminate_dead_code(lean.graph).nodes  # what a backend compiles
    every_nodes = eliminate_dead_code(every.graph).nodes
    assert sum(n.op == "accuracy" for n in lean_nodes) == 1 and sum(n.op == "accuracy" for n in every_nodes) == 2
    assert sum(n.op == "dense" for n in lean_nodes) == 2 and sum(n.op == "dense" for n in every_nodes) == 4


def test_the_python_trainer_still_reports_every_metric():
    trainer = nnc.load(path_of(SRC)).train("t")
    rng = np.random.default_rng(0)
    report = trainer.step(x=rng.normal(size=(8, 64)).astype(np.float32), y=np.arange(8, dtype=np.int32))
    assert set(report) == {"loss", "accuracy", "adv_accuracy"}
