"""rnn/lstm/gru(..., bidirectional=true) (issue 11): PyTorch's bidirectional layers, [N, T, 2·units], with the
reverse direction's parameters named `.reverse`; values and gradients against torch."""
import tempfile

import numpy as np
import pytest

import nnc
from helpers import check, errors, output_shape

SRC = """model m {
  input x: f64[N, T, 3]
  h = x -> KIND(4, bidirectional=true)
  output y = h
  output slope = grad(sum(h * h), x)
}
"""


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_matches_torch_bidirectional_layers(kind):
    torch = pytest.importorskip("torch")
    f = tempfile.NamedTemporaryFile("w", suffix=".nn", delete=False)
    f.write(SRC.replace("KIND", kind))
    f.close()
    m = nnc.load(f.name).model("m", seed=4)
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](
        3, 4, batch_first=True, bidirectional=True, dtype=torch.float64)
    with torch.no_grad():
        for role in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(layer, f"{role}_l0").copy_(torch.tensor(m.params[f"m/h.{kind}/{role}"]))
            getattr(layer, f"{role}_l0_reverse").copy_(torch.tensor(m.params[f"m/h.reverse.{kind}/{role}"]))
    x = np.random.default_rng(0).normal(size=(2, 5, 3))
    got = m(x=x)
    xt = torch.tensor(x, requires_grad=True)
    want, _ = layer(xt)
    (want * want).sum().backward()
    assert got["y"].shape == (2, 5, 8)
    np.testing.assert_allclose(got["y"], want.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got["slope"], xt.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_shapes_parameter_count_and_misuse():
    src = SRC.replace("KIND", "gru")
    assert output_shape(check(src)) == "[N, T, 8]"
    [e] = errors(check(src.replace("bidirectional=true", "bidirectional=true, return_state=true")))
    assert e.code == "E0105" and "does not take `return_state` yet" in e.message
    [e] = errors(check(src.replace("bidirectional=true", 'bidirectional="yes"')))
    assert e.code == "E0105" and "true or false" in e.message and e.span.line == 3
    assert output_shape(check(src.replace("bidirectional=true", "bidirectional=false"))) == "[N, T, 4]"
