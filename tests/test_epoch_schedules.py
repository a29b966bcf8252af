"""Schedules counted in epochs (issue 11): `cosine(0.1, 10, per="epoch")`, step_decay every N epochs, ...:
nnc train converts them with the number of steps in an epoch (its data and batch size)."""
import io
import math

import numpy as np
import pytest

import nnc
from helpers import check, errors
from nnc.ops.lr_schedule import NeedsEpochLength, schedule_from_spec, schedule_value
from nnc.train.loop import Settings, train

SRC = """model m {
  input x: f32[N, 64]
  output y = x -> dense(10)
}
train t {
  input x: f32[N, 64]
  input y: i32[N]
  loss = cross_entropy(m(x), y)
  minimize loss over m with sgd(SCHEDULE)
  batch 100
  data "digits"
}
"""


def spec_of(tmp_path, schedule: str):
    path = tmp_path / "t.nn"
    path.write_text(SRC.replace("SCHEDULE", schedule))
    program = nnc.load(path)
    return program, dict(program._result.trains["t"].steps[0].optimizer.args)["lr"]


def test_epoch_counts_become_step_counts(tmp_path):
    _, spec = spec_of(tmp_path, 'step_decay(0.1, 2, 0.5, per="epoch")')
    assert schedule_from_spec(spec, 17) == ("step_decay", 0.1, 34, 0.5)
    _, spec = spec_of(tmp_path, 'warmup(1, cosine(0.1, 3, per="epoch"), per="epoch")')
    assert schedule_from_spec(spec, 10) == ("warmup", 10, ("cosine", 0.1, 30, 0.0))
    _, spec = spec_of(tmp_path, 'inverse_time(0.1, 0.5, per="epoch")')
    encoded = schedule_from_spec(spec, 4)
    assert schedule_value(encoded, 8) == pytest.approx(0.1 / (1 + 0.5 * 2))  # 2 epochs of 4 steps
    _, spec = spec_of(tmp_path, "cosine(0.1, 50)")  # per="step" stays as written
    assert schedule_from_spec(spec, 17) == ("cosine", 0.1, 50, 0.0)


def test_without_the_epoch_length_a_clear_error(tmp_path):
    program, spec = spec_of(tmp_path, 'cosine(0.1, 3, per="epoch")')
    with pytest.raises(NeedsEpochLength, match="counts epochs"):
        schedule_from_spec(spec)
    with pytest.raises(NeedsEpochLength):
        program.train("t")


def test_nnc_train_decays_once_per_epoch(tmp_path):
    program, _ = spec_of(tmp_path, 'step_decay(0.5, 1, 0.1, per="epoch")')
    info = program._result.trains["t"]
    history = train(info, Settings(epochs=2, base_dir=tmp_path), io.StringIO(), io.StringIO())
    trainer = history.trainer
    steps = trainer.steps_done
    per_epoch = steps // 2
    assert per_epoch == math.ceil(1617 / 100)  # the digits' training split, batch 100
    lr = trainer.compiled.graph.nodes
    encoded = next(n.attr("schedule") for n in lr if n.op == "lr_schedule")
    assert encoded == ("step_decay", 0.5, per_epoch, 0.1)


def test_a_bad_per_is_reported():
    [e] = errors(check(SRC.replace("SCHEDULE", 'cosine(0.1, 3, per="epochs")')))
    assert e.code == "E0105" and "per" in e.message
