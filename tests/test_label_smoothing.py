"""cross_entropy(..., label_smoothing=ε) (issue 11) against torch.nn.functional.cross_entropy: values and
gradients, with weights, ignore_index, the class axis and every reduction."""
import tempfile

import numpy as np
import pytest

import nnc
from helpers import check, errors

torch = pytest.importorskip("torch")

CASES = [
    ("[N, 5]", "[N]", {}, ""),
    ("[N, 5]", "[N]", {"reduction": "sum"}, ', reduction="sum"'),
    ("[N, 5]", "[N]", {"reduction": "none"}, ', reduction="none"'),
    ("[N, 5]", "[N]", {"weight": [1.0, 2.0, 0.5, 3.0, 1.5]}, ", weight=[1.0, 2.0, 0.5, 3.0, 1.5]"),
    ("[N, 5]", "[N]", {"ignore_index": 2}, ", ignore_index=2"),
    ("[N, 5, T]", "[N, T]", {"weight": [1.0, 2.0, 0.5, 3.0, 1.5], "ignore_index": 0},
     ", axis=1, weight=[1.0, 2.0, 0.5, 3.0, 1.5], ignore_index=0"),
]


@pytest.mark.parametrize("scores, labels, options, written", CASES)
def test_values_and_gradients_match_torch(scores, labels, options, written):
    src = (f"model m {{\n  input z: f64{scores}\n  input y: i64{labels}\n"
           f"  loss = cross_entropy(z, y, label_smoothing=0.2{written})\n"
           f"  output value = loss\n  output slope = grad(sum(loss), z)\n}}\n")
    f = tempfile.NamedTemporaryFile("w", suffix=".nn", delete=False)
    f.write(src)
    f.close()
    rng = np.random.default_rng(0)
    shape = (4, 5, 3) if "T" in scores else (4, 5)
    z = rng.normal(size=shape)
    y = rng.integers(0, 5, size=(4, 3) if "T" in labels else (4,))
    y.flat[1] = options.get("ignore_index", y.flat[1])
    out = nnc.load(f.name).model("m")(z=z, y=y)
    zt = torch.tensor(z, requires_grad=True)
    kwargs = {k: (torch.tensor(v, dtype=torch.float64) if k == "weight" else v) for k, v in options.items()}
    want = torch.nn.functional.cross_entropy(zt, torch.tensor(y), label_smoothing=0.2, **kwargs)
    want.sum().backward()
    np.testing.assert_allclose(out["value"], want.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["slope"], zt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_label_smoothing_is_checked():
    src = "model m {\n  input z: f32[N, 5]\n  input y: i32[N]\n  output v = cross_entropy(z, y, label_smoothing=1.5)\n}\n"
    [e] = errors(check(src))
    assert e.code == "E0207" and "label_smoothing" in e.message and e.span.line == 4
    [e] = errors(check(src.replace("cross_entropy(z, y, label_smoothing=1.5)", "nll(z, y, label_smoothing=0.1)")))
    assert e.code == "E0103"  # as in PyTorch, nll has none
