"""Training end to end: the digits reach their accuracy, resume is bit-for-bit, NaN stops cleanly, GANs stay finite."""
import json
from pathlib import Path

import numpy as np
import pytest

import nnc
from helpers import ROOT, check
from nnc.cli import main
from nnc.train.checkpoint import load_checkpoint

EXAMPLES = ROOT / "examples"


def json_rows(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


def test_digits_mlp_reaches_96_percent(capsys):
    assert main(["train", str(EXAMPLES / "digits_mlp.nn"), "--format", "json"]) == 0
    rows = json_rows(capsys)
    assert [r["epoch"] for r in rows] == list(range(1, 21))
    assert rows[-1]["val"]["accuracy"] >= 0.96
    assert rows[-1]["train"]["loss"] < rows[0]["train"]["loss"] / 5


def test_small_cnn_on_digits_reaches_97_percent(capsys):
    assert main(["train", str(EXAMPLES / "digits_cnn.nn"), "--format", "json"]) == 0
    assert json_rows(capsys)[-1]["val"]["accuracy"] >= 0.97


def test_fgsm_lowers_accuracy_and_adversarial_training_raises_it_again(capsys):
    assert main(["train", str(EXAMPLES / "fgsm.nn"), "--train", "clean", "--format", "json"]) == 0
    clean = json_rows(capsys)[-1]["val"]
    assert main(["train", str(EXAMPLES / "fgsm.nn"), "--train", "robust", "--format", "json"]) == 0
    robust = json_rows(capsys)[-1]["val"]
    assert clean["accuracy"] >= 0.95 and clean["adv_accuracy"] < 0.6
    assert robust["adv_accuracy"] > clean["adv_accuracy"] + 0.2


def test_gan_losses_stay_finite(capsys):
    assert main(["train", str(EXAMPLES / "gan.nn"), "--format", "json", "--epochs", "10"]) == 0
    rows = json_rows(capsys)
    assert len(rows) == 10
    assert all(np.isfinite(v) for r in rows for v in r["train"].values())


def test_resume_after_3_of_6_epochs_equals_6_straight(tmp_path, capsys):
    program = str(EXAMPLES / "digits_mlp.nn")
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train", program, "--epochs", "6", "--checkpoint", str(straight), "--format", "json"]) == 0
    rows_straight = json_rows(capsys)
    assert main(["train", program, "--epochs", "3", "--checkpoint", str(split), "--format", "json"]) == 0
    first = json_rows(capsys)
    assert main(["train", program, "--epochs", "6", "--checkpoint", str(split), "--resume", "--format", "json"]) == 0
    rest = json_rows(capsys)
    a = load_checkpoint(straight / "last.safetensors")
    b = load_checkpoint(split / "last.safetensors")
    for name in a.params:
        assert np.array_equal(a.params[name], b.params[name]), name
    for name in a.optimizer:
        assert np.array_equal(a.optimizer[name], b.optimizer[name]), name
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in rows_straight]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in first + rest]


def test_a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, capsys):
    src = (EXAMPLES / "digits_mlp.nn").read_text()
    good = tmp_path / "good.nn"
    good.write_text(src)
    ckpt = tmp_path / "ck"
    assert main(["train", str(good), "--epochs", "1", "--checkpoint", str(ckpt)]) == 0
    before = (ckpt / "last.safetensors").read_bytes()
    bad = tmp_path / "bad.nn"
    bad.write_text(src.replace("adam(lr=3e-3)", "adam(lr=1e30)"))
    capsys.readouterr()
    assert main(["train", str(bad), "--epochs", "3", "--checkpoint", str(ckpt), "--resume"]) == 1
    err = capsys.readouterr().err
    assert "became" in err and "at step" in err and "epoch 2" in err
    assert (ckpt / "last.safetensors").read_bytes() == before


def test_bad_data_is_reported_before_the_first_step(tmp_path, capsys):
    data = tmp_path / "d.npz"
    np.savez(data, x=np.zeros((10, 64), np.float32), labels=np.zeros(10, np.int32))
    assert main(["train", str(EXAMPLES / "digits_mlp.nn"), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "no array named 'y'" in err and "epoch" not in err
    np.savez(data, x=np.zeros((10, 64), np.float32), y=np.full(10, 12, np.int32))
    assert main(["train", str(EXAMPLES / "digits_mlp.nn"), "--data", str(data)]) == 2
    assert "12" in capsys.readouterr().err


def test_python_api_step_params_save_load(tmp_path):
    prog = nnc.load(EXAMPLES / "digits_mlp.nn")
    t = prog.train("digits", backend="numpy", seed=0)
    assert list(t.params) == list(prog.model("mlp", seed=0).params)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 64), np.float32), rng.integers(0, 10, 16).astype(np.int32)
    first = t.step(x=x, y=y)
    assert set(first) == {"loss", "accuracy"}
    t.save(tmp_path / "c.safetensors")
    after_one = {k: v.copy() for k, v in t.params.items()}
    second = t.step(x=x, y=y)
    assert second["loss"] < first["loss"]
    u = prog.train("digits", seed=0)
    u.load(tmp_path / "c.safetensors")
    assert all(np.array_equal(u.params[k], after_one[k]) for k in after_one)
    assert u.step(x=x, y=y) == second


def test_gan_second_step_sees_the_updated_discriminator():
    """g_loss is computed with the discriminator after its update in the same step, as in PyTorch loops."""
    prog = nnc.load(EXAMPLES / "gan.nn")
    t = prog.train("gan", seed=0)
    rng = np.random.default_rng(1)
    real, z = rng.normal(size=(8, 2)).astype(np.float32), rng.normal(size=(8, 8)).astype(np.float32)
    out = t.step(real=real, z=z)
    # recompute g_loss by hand from the parameters after the step (generator as before its own update)
    u = prog.train("gan", seed=0)
    gen_before = {k: v for k, v in u.params.items() if k.startswith("generator/")}
    disc_after = {k: v for k, v in t.params.items() if k.startswith("discriminator/")}
    g = prog.model("generator")
    for k, v in gen_before.items():
        g.params[k] = v
    d = prog.model("discriminator")
    for k, v in disc_after.items():
        d.params[k] = v
    s = d(point=g(z=z))
    expected = np.mean(np.maximum(s, 0) - s + np.log1p(np.exp(-np.abs(s))))
    assert out["g_loss"] == pytest.approx(expected, rel=1e-5)


def test_plot_and_monte_carlo_dropout_inference(tmp_path, capsys):
    program = str(EXAMPLES / "digits_mlp.nn")
    plot, ckpt = tmp_path / "curves.png", tmp_path / "ck"
    assert main(["train", program, "--epochs", "2", "--checkpoint", str(ckpt), "--plot", str(plot)]) == 0
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    x = tmp_path / "x.npy"
    np.save(x, np.random.default_rng(0).random((5, 64), dtype=np.float32))
    out = tmp_path / "out.npz"
    args = ["run", program, "--model", "mlp", "--weights", str(ckpt / "last.safetensors"), "--input", f"x={x}"]
    assert main(args + ["-o", str(out)]) == 0
    plain = np.load(out)["logits"]
    assert main(args + ["-o", str(out), "--mc-samples", "30"]) == 0
    mc = np.load(out)
    assert mc["logits_mean"].shape == mc["logits_std"].shape == (5, 10)
    assert (mc["logits_std"] > 0).all()  # dropout stays on
    assert np.abs(mc["logits_mean"] - plain).mean() < 0.5 * np.abs(plain).mean()
    # the inference without --mc-samples is deterministic: dropout is off
    assert main(args + ["-o", str(out)]) == 0
    assert np.array_equal(np.load(out)["logits"], plain)


def test_early_stopping_with_patience(capsys):
    assert main(["train", str(EXAMPLES / "digits_mlp.nn"), "--epochs", "60", "--patience", "2"]) == 0
    out = capsys.readouterr().out
    assert "early stopping" in out
    assert "epoch 60/60" not in out
