"""Token ids outside an embedding's vocabulary: a clear error naming the array, the id and the vocabulary, found
when nnc train loads the data (before the first step), by nnc run before running, and by Model calls."""
import numpy as np
import pytest

from helpers import check
from nnc.api import Program, RunError
from nnc.cli import main
from nnc.train.token_ids import embedding_vocabularies

PROGRAM = """model m {
  input tokens: i64[N, 5]
  output y = tokens -> embedding(20, 8) -> flatten -> dense(2)
}
train t {
  input tokens: i64[N, 5]
  input labels: i64[N]
  loss = cross_entropy(m(reshape(tokens, [-1, 5])), labels)
  minimize loss over m with sgd(lr=0.1)
  data "tokens.npz"
  epochs 1
  batch 8
}
"""


@pytest.fixture
def program(tmp_path):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 20, size=(40, 5))
    tokens[7, 2] = 25
    np.savez(tmp_path / "tokens.npz", tokens=tokens, labels=rng.integers(0, 2, size=40))
    np.save(tmp_path / "bad.npy", tokens[5:9])
    np.save(tmp_path / "good.npy", tokens[:4])
    (tmp_path / "p.nn").write_text(PROGRAM)
    return tmp_path


def test_nnc_train_refuses_an_id_outside_the_vocabulary_when_loading(program, capsys):
    assert main(["train", str(program / "p.nn")]) == 2
    captured = capsys.readouterr()
    assert "training t" not in captured.out  # stopped before the first step
    assert "internal error" not in captured.err
    assert "array 'tokens' holds token id 25, outside the vocabulary of 20 of the embedding it feeds (line 3): " \
           "ids must lie in 0..19 (1 id does not)" in captured.err


def test_negative_ids_are_refused_too(program, capsys):
    data = dict(np.load(program / "tokens.npz"))
    data["tokens"] = np.abs(data["tokens"]) % 20
    data["tokens"][0, 0] = -3
    np.savez(program / "tokens.npz", **data)
    assert main(["train", str(program / "p.nn")]) == 2
    assert "negative" in capsys.readouterr().err


def test_ids_inside_the_vocabulary_train(program, capsys):
    data = dict(np.load(program / "tokens.npz"))
    data["tokens"] = data["tokens"] % 20
    np.savez(program / "tokens.npz", **data)
    assert main(["train", str(program / "p.nn")]) == 0


def test_synthetic_ids_are_drawn_inside_a_small_vocabulary(tmp_path, capsys):
    src = PROGRAM.replace("embedding(20, 8)", "embedding(3, 8)").replace('"tokens.npz"', '"synthetic"')
    (tmp_path / "p.nn").write_text(src)
    assert main(["train", str(tmp_path / "p.nn")]) == 0


def test_nnc_run_names_the_input_the_id_and_the_vocabulary(program, capsys):
    assert main(["run", str(program / "p.nn"), "--input", f"tokens={program / 'bad.npy'}"]) == 2
    err = capsys.readouterr().err
    assert "internal error" not in err
    assert "input tokens holds token id 25, outside the vocabulary of 20" in err
    assert main(["run", str(program / "p.nn"), "--input", f"tokens={program / 'good.npy'}"]) == 0


def test_a_model_call_raises_run_error(program):
    model = Program(check(PROGRAM)).model("m")
    with pytest.raises(RunError, match="token id 25 is outside the vocabulary of 20"):
        model(tokens=np.load(program / "bad.npy"))


def test_vocabularies_follow_ids_through_rearranging_ops():
    info = check(PROGRAM).trains["t"]
    vocab = embedding_vocabularies(info.graph)
    assert list(vocab) == ["tokens"] and vocab["tokens"].size == 20 and vocab["tokens"].line == 3
