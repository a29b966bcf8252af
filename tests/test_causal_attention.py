"""attention(..., causal=true) (issue 11): query i attends to keys 0..i only, as PyTorch's
nn.MultiheadAttention with a causal mask; later positions do not change earlier outputs."""
import tempfile

import numpy as np
import pytest

import nnc
from helpers import check, errors

SRC = """model m {
  input x: f64[N, T, 6]
  output y = x -> attention(x, x, heads=3, causal=true)
}
"""


def model():
    f = tempfile.NamedTemporaryFile("w", suffix=".nn", delete=False)
    f.write(SRC)
    f.close()
    return nnc.load(f.name).model("m", seed=1)


def test_matches_torch_multihead_attention_with_a_causal_mask():
    torch = pytest.importorskip("torch")
    m = model()
    x = np.random.default_rng(0).normal(size=(2, 5, 6))
    p = {k.split("/")[-1]: v for k, v in m.params.items()}
    mha = torch.nn.MultiheadAttention(6, 3, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.tensor(np.concatenate([p["query.weight"], p["key.weight"], p["value.weight"]])))
        mha.in_proj_bias.copy_(torch.tensor(np.concatenate([p["query.bias"], p["key.bias"], p["value.bias"]])))
        mha.out_proj.weight.copy_(torch.tensor(p["out.weight"]))
        mha.out_proj.bias.copy_(torch.tensor(p["out.bias"]))
    xt = torch.tensor(x)
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    want, _ = mha(xt, xt, xt, attn_mask=mask, need_weights=False)
    np.testing.assert_allclose(m(x=x), want.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_a_later_position_never_changes_an_earlier_output():
    m = model()
    x = np.random.default_rng(1).normal(size=(1, 6, 6))
    changed = x.copy()
    changed[:, 4:] += 10.0
    a, b = m(x=x), m(x=changed)
    np.testing.assert_allclose(a[:, :4], b[:, :4], rtol=1e-12)
    assert not np.allclose(a[:, 4:], b[:, 4:])


def test_causal_must_be_a_bool():
    [e] = errors(check(SRC.replace("causal=true", "causal=1")))
    assert e.code == "E0105" and "causal" in e.message and e.span.line == 3


LENGTHS = """model m {
  input x: f64[N, T, 6]
  input n: i64[N]
  y = x -> attention(x, x, heads=3, lengths=n, causal=CAUSAL)
  output out = y
  output slope = grad(sum(y * y), x)
}
"""


@pytest.mark.parametrize("causal", ["false", "true"])
def test_a_padding_mask_from_lengths_matches_torch_values_and_gradients(causal):
    torch = pytest.importorskip("torch")
    f = tempfile.NamedTemporaryFile("w", suffix=".nn", delete=False)
    f.write(LENGTHS.replace("CAUSAL", causal))
    f.close()
    m = nnc.load(f.name).model("m", seed=2)
    x = np.random.default_rng(3).normal(size=(3, 5, 6))
    n = np.array([2, 5, 4])
    got = m(x=x, n=n)
    p = {k.split("/")[-1]: v for k, v in m.params.items()}
    mha = torch.nn.MultiheadAttention(6, 3, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.tensor(np.concatenate([p["query.weight"], p["key.weight"], p["value.weight"]])))
        mha.in_proj_bias.copy_(torch.tensor(np.concatenate([p["query.bias"], p["key.bias"], p["value.bias"]])))
        mha.out_proj.weight.copy_(torch.tensor(p["out.weight"]))
        mha.out_proj.bias.copy_(torch.tensor(p["out.bias"]))
    xt = torch.tensor(x, requires_grad=True)
    padding = torch.arange(5)[None, :] >= torch.tensor(n)[:, None]
    mask = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1) if causal == "true" else None
    want, _ = mha(xt, xt, xt, key_padding_mask=padding, attn_mask=mask, need_weights=False)
    (want * want).sum().backward()
    np.testing.assert_allclose(got["out"], want.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got["slope"], xt.grad.numpy(), rtol=1e-8, atol=1e-10)


def test_lengths_must_be_one_integer_per_sample():
    bad = LENGTHS.replace("CAUSAL", "false").replace("input n: i64[N]", "input n: i64[N, 2]")
    found = errors(check(bad))
    assert found and found[0].code == "E0203" and "one integer per sample" in found[0].message
    assert found[0].span.line == 4 and found[0].span.column == bad.splitlines()[3].index("lengths") + 1
