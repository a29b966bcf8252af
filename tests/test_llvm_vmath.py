"""The llvm backend's vectorisable f32 exp and tanh (vmath.py) against numpy in float64, over the whole
range: within 2.5e-7 relative in the normal range, the same NaNs and infinities, sigmoid through them."""
import numpy as np
import pytest

import nnc

pytest.importorskip("llvmlite")

SRC = """model m {
  input x: f32[N]
  output e = exp(x)
  output t = tanh(x)
  output s = sigmoid(x)
}
"""


def test_exp_tanh_sigmoid_match_numpy_everywhere(tmp_path):
    path = tmp_path / "m.nn"
    path.write_text(SRC)
    model = nnc.load(str(path)).model("m", backend="llvm")
    specials = [0.0, -0.0, 1e-8, -1e-8, 0.624, 0.626, 88.7, 88.73, -87.3, -87.4, -200, np.inf, -np.inf, np.nan]
    x = np.concatenate([np.linspace(-120, 120, 100001), np.linspace(-1, 1, 100001), specials]).astype(np.float32)
    out = model(x=x)
    with np.errstate(over="ignore"):
        wants = {"e": np.exp(x.astype(np.float64)), "t": np.tanh(x.astype(np.float64)),
                 "s": 1 / (1 + np.exp(-x.astype(np.float64)))}
    for name, want64 in wants.items():
        want = want64.astype(np.float32)
        got = np.asarray(out[name])
        assert np.array_equal(np.isnan(got), np.isnan(want)), name
        assert np.array_equal(np.isposinf(got), np.isposinf(want)), name
        normal = np.isfinite(want) & (np.abs(want) >= np.finfo(np.float32).tiny)
        rel = np.abs(got[normal].astype(np.float64) - want64[normal]) / np.abs(want64[normal])
        assert rel.max() < 2.5e-7, (name, rel.max())
        tiny = np.isfinite(want) & ~normal
        assert np.all(np.abs(got[tiny]) < 1.2e-38), name
