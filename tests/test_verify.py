"""`nnc verify`: the oracle against a backend, value by value, naming the first node that diverges."""
import json

import pytest

from helpers import ROOT, check
from nnc import backends
from nnc.backends.numpy import NumpyBackend
from nnc.cli import main
from nnc.passes.rewrite import rewrite
from nnc.verify import verify_program

SRC = """model m {
  input x: f32[N, 6]
  h = x -> dense(5) -> relu
  output y = h -> dense(3)
}
train t {
  input x: f32[N, 6]
  input label: i64[N]
  loss = cross_entropy(m(x), label)
  minimize loss over m with sgd(lr=0.1, momentum=0.9)
}
"""


class ReluIsAbs(NumpyBackend):
    """A broken backend: it computes relu as abs."""

    name = "broken"

    def compile(self, graph, signature, *, device="cpu", options=None):
        wrong = rewrite(graph, lambda emit, node, ins: [emit("abs", ins[0])] if node.op == "relu" else None)[0]
        return super().compile(wrong, signature, device=device, options=options)


@pytest.fixture
def broken(monkeypatch):
    monkeypatch.setitem(backends._LOADED, "broken", ReluIsAbs())


def test_the_oracle_agrees_with_itself_on_every_example_model_and_step():
    result = check((ROOT / "examples" / "lenet5.nn").read_text(), str(ROOT / "examples" / "lenet5.nn"))
    results = verify_program(result, "numpy")
    assert [(r.kind, r.name, r.agrees) for r in results] == [("model", "lenet5", True), ("train", "mnist", True)]
    assert all(r.values > 5 and r.max_rel == 0 for r in results)


def test_a_broken_backend_is_caught_at_the_first_node_that_diverges(broken):
    results = verify_program(check(SRC, "net.nn"), "broken")
    assert [(r.kind, r.name, r.agrees) for r in results] == [("model", "m", False), ("train", "t", False)]
    for r in results:
        d = r.divergence
        assert (d.op, d.file, d.line) == ("relu", "net.nn", 3), d
        assert d.node.endswith("h.relu") and d.max_abs > 0.01


def test_verify_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "net.nn"
    path.write_text(SRC)
    assert main(["verify", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("model m: agrees with numpy (") and out[1].startswith("train t: agrees with numpy (")
    assert main(["verify", str(path), "--train", "t", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["agrees"] is True and [r["name"] for r in doc["results"]] == ["t"]
    assert main(["verify", str(path), "--model", "nope"]) == 2
    assert "no model `nope`" in capsys.readouterr().err


def test_the_text_report_names_the_node_line_and_error(broken, tmp_path, capsys):
    from nnc.verify import format_result
    results = verify_program(check(SRC, "net.nn"), "broken", model="m")
    text = format_result(results[0], "broken")
    assert text.startswith("model m: DIVERGES at h.relu (relu, net.nn:3); max abs error ")
