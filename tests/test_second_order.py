"""Second derivatives: every op autodiff can emit has a gradient rule of its own, checked by central finite
differences in float64 on graphs whose grad(...) is already expanded (WGAN-GP, R1, input-gradient penalties)."""
import numpy as np
import pytest

from gradcheck import gradcheck
from helpers import model_src
from nnc.ops import registry
from nnc.passes.training import expand_grads

R = np.random.default_rng(11)

# (id, input lines, expression differentiated twice: y = grad(sum(expr * w), x) for a fixed random w)
CASES = [
    ("dense tanh", "input x: f64[N, 3]", "x -> dense(4) -> tanh -> dense(2)", (2, 3)),
    ("dense relu sigmoid", "input x: f64[N, 3]", "x -> dense(4) -> relu -> dense(3) -> sigmoid", (2, 3)),
    ("softmax log_softmax", "input x: f64[N, 4]", "x -> dense(3) -> tanh -> log_softmax", (2, 4)),
    ("mean and max reductions", "input x: f64[N, 4]", "max(x -> dense(3) -> tanh, axis=1) + mean(x * x, axis=1)",
     (3, 4)),
    ("concat slice last", "input x: f64[N, 3, 2]",
     "concat(x -> last, slice(x, axis=1, start=1) -> flatten, axis=1) -> dense(2) -> tanh", (2, 3, 2)),
    ("reshape broadcasting", "input x: f64[N, 6]", "reshape(x -> tanh, [-1, 2, 3]) * reshape(x, [-1, 2, 3])",
     (2, 6)),
    ("maxout", "input x: f64[N, 4]", "x -> dense(6) -> tanh -> maxout(2) -> dense(2)", (2, 4)),
    ("maxout over channels of a sequence", "input x: f64[N, 6, T]", "tanh(x * x) -> maxout(3) -> tanh", (2, 6, 3)),
    ("conv net with pooling", "input x: f64[N, 2, 6, 6]",
     "x -> conv2d(3, 3, padding=1) -> tanh -> maxpool(2) -> conv2d(2, 2, stride=1) -> tanh "
     "-> avgpool(2) -> flatten -> dense(2)", (2, 2, 6, 6)),
    ("overlapping maxpool, padded avgpool", "input x: f64[N, 1, 5, 5]",
     "x -> conv2d(2, 2, padding=1, bias=false) -> tanh -> maxpool(3, stride=1, padding=1) "
     "-> avgpool(3, stride=2, padding=1)", (1, 1, 5, 5)),
    ("conv1d", "input x: f64[N, 2, 7]", 'x -> conv1d(3, 3, padding="same") -> tanh', (2, 2, 7)),
    ("conv_transpose2d", "input x: f64[N, 2, 3, 3]", "x -> conv_transpose2d(2, 3, stride=2, padding=1) -> tanh",
     (1, 2, 3, 3)),
]


def twice(expr: str) -> str:
    return f"grad(sum({expr}), x)"


@pytest.mark.parametrize("name,inputs,expr,shape", CASES, ids=[c[0] for c in CASES])
def test_second_derivatives_match_finite_differences(name, inputs, expr, shape):
    gradcheck(model_src(inputs, twice(expr)), {"x": R.normal(size=shape)}, transform=expand_grads,
              rtol=1e-5, atol=1e-6)


def test_cross_entropy_second_derivative():
    src = model_src("input x: f64[N, 4]; input labels: i64[N]",
                    "grad(cross_entropy(x -> dense(3) -> tanh -> dense(3), labels), x)")
    gradcheck(src, {"x": R.normal(size=(3, 4)), "labels": np.array([0, 2, 1])}, transform=expand_grads)


def test_nll_and_hinge_second_derivatives():
    for loss in ("nll(log_softmax(x -> dense(3)), labels)", "hinge(x -> dense(3) -> tanh, labels)"):
        src = model_src("input x: f64[N, 4]; input labels: i64[N]", f"grad({loss}, x) * x")
        gradcheck(src, {"x": R.normal(size=(3, 4)), "labels": np.array([0, 2, 1])}, transform=expand_grads)


def test_embedding_second_derivative():
    src = model_src("input ids: i64[N, 3]; input x: f64[N, 3, 4]",
                    "grad(sum(tanh((ids -> embedding(5, 4)) * x)), x)")
    gradcheck(src, {"ids": np.array([[0, 4, 2], [1, 1, 3]]), "x": R.normal(size=(2, 3, 4))},
              transform=expand_grads)


@pytest.mark.parametrize("inputs,expr,shape", [
    ("input x: f64[N, 3]", "x -> dense(3) -> tanh -> dense(1)", (2, 3)),
    ("input x: f64[N, 1, 4, 4]", "x -> conv2d(2, 3, padding=1) -> tanh -> maxpool(2)", (1, 1, 4, 4)),
], ids=["dense", "maxpool"])
def test_third_derivatives(inputs, expr, shape):
    """The gradient rules of the second-order ops (pool_select is maxpool's) are differentiated once more."""
    src = model_src(inputs, f"grad(sum(grad(sum({expr}), x) * tanh(x)), x)")
    gradcheck(src, {"x": R.normal(size=shape)}, transform=expand_grads, rtol=1e-5, atol=1e-6)


def test_attention_second_derivative_through_its_decomposition():
    """attention_backward has no rule of its own: autodiff differentiates its decomposition (derived_vjp.py)."""
    src = model_src("input x: f64[N, T, 4]", "grad(sum(x -> attention(x, x, heads=2) -> tanh), x)")
    gradcheck(src, {"x": R.normal(size=(2, 3, 4))}, transform=expand_grads, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", [
    "contrastive(x -> dense(3) -> tanh, y -> dense(3) -> tanh, s)",
    "triplet(x -> dense(3) -> tanh, y -> dense(3), (y * 0.5 - x) -> dense(3)) + 0.0 * sum(s)",
], ids=["contrastive", "triplet"])
def test_pair_loss_second_derivatives_through_their_decomposition(loss):
    src = model_src("input x: f64[N, 4]; input y: f64[N, 4]; input s: f64[N]", f"grad({loss}, x)")
    gradcheck(src, {"x": R.normal(size=(3, 4)), "y": R.normal(size=(3, 4)), "s": np.array([1.0, 0.0, 1.0])},
              transform=expand_grads, rtol=1e-5, atol=1e-6, skip=("s",))


# Recurrent layers over a sequence length known when the graph is built: recurrent_backward's gradient
# differentiates backpropagation through time unrolled in nnc ops (nnc/ops/_recurrent_bptt.py).
# (id, lines after `input x: f64[N, 3, 2]`, expression differentiated twice)
RECURRENT_CASES = [
    ("rnn", "", "x -> rnn(3) -> tanh"),
    ("lstm", "", "x -> lstm(2)"),
    ("gru", "", "x -> gru(2) -> last"),
    ("rnn with h0 and return_state", "input h0: f64[N, 3]; s, h = x -> rnn(3, return_state=true, initial=h0)",
     "sum(s * s, axis=1) + h * h0"),
    ("lstm with h0, c0 and return_state",
     "input h0: f64[N, 2]; input c0: f64[N, 2]; s, h, c = x -> lstm(2, return_state=true, initial=[h0, c0])",
     "h * c + sum(tanh(s), axis=1)"),
    ("lstm return_state, final c only", "s, h, c = x -> lstm(2, return_state=true)", "c * c"),
    ("gru with h0 and return_state", "input h0: f64[N, 2]; s, h = x -> gru(2, return_state=true, initial=h0)",
     "h * h + sum(s, axis=1)"),
    ("bidirectional lstm", "", "x -> lstm(2, bidirectional=true) -> tanh"),
    ("bidirectional gru", "", "x -> gru(2, bidirectional=true) -> last"),
]


@pytest.mark.parametrize("name,inputs,expr", RECURRENT_CASES, ids=[c[0] for c in RECURRENT_CASES])
def test_recurrent_second_derivatives_with_a_static_length(name, inputs, expr):
    feeds = {"x": R.normal(size=(2, 3, 2))}
    if "h0" in inputs:
        feeds["h0"] = R.normal(size=(2, 3 if "rnn" in name else 2))
    if "c0" in inputs:
        feeds["c0"] = R.normal(size=(2, 2))
    src = model_src("input x: f64[N, 3, 2];" + inputs, twice(expr))
    gradcheck(src, feeds, transform=expand_grads, rtol=1e-5, atol=1e-6)


def test_lstm_third_derivative():
    """recurrent_backward's gradient is written in differentiable ops, so it is differentiated once more."""
    src = model_src("input x: f64[N, 2, 2]", "grad(sum(grad(sum(x -> lstm(2) -> last), x) * tanh(x)), x)")
    gradcheck(src, {"x": R.normal(size=(2, 2, 2))}, transform=expand_grads, rtol=1e-5, atol=1e-6)


def test_every_op_autodiff_emits_has_a_gradient_rule():
    emitted = {name for name, op in registry().items() if op.category == "gradient"}
    missing = {name for name in emitted if registry()[name].vjp is None and registry()[name].decompose is None}
    assert not missing, sorted(missing)


WGAN_GP = """
model d {
  input x: f32[N, 1, 6, 6]
  output score = x -> conv2d(2, 3, padding=1) -> tanh -> maxpool(2) -> flatten -> dense(1)
}
model g {
  input z: f32[N, 4]
  output x = z -> dense(36) -> tanh -> reshape([-1, 1, 6, 6])
}
train t {
  input real: f32[N, 1, 6, 6]
  input z: f32[N, 4]
  input labels: i64[N]
  fake = g(z)
  grads = grad(sum(d(real)), real)
  d_loss = mean(d(stop_gradient(fake))) - 0.5 * mean(d(real)) + 10.0 * mean(grads * grads)
  minimize d_loss over d with sgd(lr=0.1)
  penalty = grad(sum(d(fake)), fake)
  g_loss = -mean(d(fake)) + mean(penalty * penalty)
  minimize g_loss over g with sgd(lr=0.1)
}
"""


def test_a_gradient_penalty_trains_every_parameter_of_both_models():
    from helpers import check, errors
    from nnc.api import Program
    result = check(WGAN_GP)
    assert not errors(result), [d.message for d in errors(result)]
    trainer = Program(result).train("t")
    rng = np.random.default_rng(0)
    before = {k: v.copy() for k, v in trainer.params.items()}
    report = trainer.step(real=rng.normal(size=(3, 1, 6, 6)).astype(np.float32),
                          z=rng.normal(size=(3, 4)).astype(np.float32), labels=np.zeros(3, np.int64))
    assert all(np.isfinite(v) for v in report.values())
    assert len(before) == 6 and all(np.any(before[k] != trainer.params[k]) for k in before)


LSTM_CRITIC = """model d {
  input x: f32[N, T, 4]
  output s = x -> lstm(8) -> last -> dense(1)
}
train t {
  input x: f32[N, T, 4]
  g = grad(sum(d(x)), x)
  minimize mean(g * g) + mean(d(x)) over d with adam(lr=1e-3)
}
train fgsm {
  input x: f32[N, T, 4]
  x2 = x + 0.1 * sign(grad(sum(d(x)), x))
  minimize mean(d(x2)) over d with adam(lr=1e-3)
}
"""


def test_a_penalty_through_a_recurrent_layer_of_symbolic_length_is_e0119_at_the_layer():
    from helpers import check, errors
    [e] = errors(check(LSTM_CRITIC))
    assert (e.code, e.span.line, e.span.column) == ("E0119", 3, 19)
    assert e.message == ("the gradient of `lstm` cannot be differentiated again: its sequence length `T` is not "
                         "known when the graph is built")
    assert "needs a fixed length" in e.hint and "[N, 16, F] rather than [N, T, F]" in e.hint
    assert [lab.span.line for lab in e.labels] == [7, 8]


def test_a_wgan_gp_step_with_an_lstm_critic_of_static_length_trains_every_parameter():
    from helpers import check, errors
    from nnc.api import Program
    src = LSTM_CRITIC.replace("f32[N, T, 4]", "f32[N, 5, 4]")
    result = check(src)
    assert not errors(result), [d.message for d in errors(result)]
    trainer = Program(result).train("t")
    before = {k: v.copy() for k, v in trainer.params.items()}
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype(np.float32)
    losses = [v for _ in range(3) for v in trainer.step(x=x).values()]  # one minimize line: one loss
    assert all(np.isfinite(v) for v in losses) and losses[-1] < losses[0], losses
    assert len(before) == 6 and all(np.any(before[k] != trainer.params[k]) for k in before)


def test_fgsm_through_an_lstm_differentiates_once_and_is_fine():
    from helpers import check, errors
    assert not errors(check(LSTM_CRITIC.split("train t {")[0] + "train fgsm {" + LSTM_CRITIC.split("train fgsm {")[1]))


def test_a_gradient_of_a_gradient_through_a_gru_is_e0119_only_over_a_symbolic_length():
    from helpers import check, errors
    src = model_src("input x: f32[N, T, 4]", "grad(sum(grad(sum(x -> gru(4)), x) * x), x)")
    assert [e.code for e in errors(check(src))] == ["E0119"]
    assert not errors(check(src.replace("f32[N, T, 4]", "f32[N, 7, 4]")))
    src = model_src("input x: f32[N, T, 4]", "grad(sum(grad(sum(x -> attention(x, x, heads=2)), x) * x), x)")
    assert not errors(check(src))


def test_nnc_train_runs_a_gradient_penalty_end_to_end(tmp_path, capsys):
    from nnc.cli import main
    src = WGAN_GP.rstrip().rstrip("}") + '  data "synthetic"\n  epochs 2\n  batch 32\n}\n'
    (tmp_path / "wgan_gp.nn").write_text(src)
    assert main(["train", str(tmp_path / "wgan_gp.nn"), "--format", "json"]) == 0
    import json
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(rows) == 2 and all(np.isfinite(v) for r in rows for v in r["train"].values())


LSTM_WGAN_GP = """model d {
  input x: f32[N, 5, 4]
  output s = x -> lstm(8) -> last -> dense(1)
}
model g {
  input z: f32[N, 4]
  output x = z -> dense(20) -> tanh -> reshape([-1, 5, 4])
}
train t {
  input x: f32[N, 5, 4]
  input z: f32[N, 4]
  fake = g(z)
  gp = grad(sum(d(x)), x)
  minimize mean(d(stop_gradient(fake))) - mean(d(x)) + 10.0 * mean(gp * gp) over d with adam(lr=1e-3)
  minimize -mean(d(fake)) over g with adam(lr=1e-3)
  data "synthetic"
  epochs 2
  batch 16
}
"""


def test_nnc_train_runs_wgan_gp_with_an_lstm_critic_end_to_end(tmp_path, capsys):
    from nnc.cli import main
    (tmp_path / "lstm_gp.nn").write_text(LSTM_WGAN_GP)
    assert main(["train", str(tmp_path / "lstm_gp.nn"), "--format", "json"]) == 0
    import json
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(rows) == 2 and all(np.isfinite(v) for r in rows for v in r["train"].values())
