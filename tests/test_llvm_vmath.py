"""The llvm backend's vectorisable math (vmath.py) against numpy, over the whole range: f32 exp and tanh
within 2.5e-7 relative of float64 in the normal range, sigmoid through them; f32 log and f64 exp, log and
tanh within 1-2 ulp of numpy's (correctly rounded) results, subnormal inputs and results included; the
same NaNs, infinities and zeros; and no math calls left in the compiled code (they keep loops scalar)."""
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
        with np.errstate(over="ignore"):
            want = want64.astype(np.float32)
        got = np.asarray(out[name])
        assert np.array_equal(np.isnan(got), np.isnan(want)), name
        assert np.array_equal(np.isposinf(got), np.isposinf(want)), name
        normal = np.isfinite(want) & (np.abs(want) >= np.finfo(np.float32).tiny)
        rel = np.abs(got[normal].astype(np.float64) - want64[normal]) / np.abs(want64[normal])
        assert rel.max() < 2.5e-7, (name, rel.max())
        tiny = np.isfinite(want) & ~normal
        assert np.all(np.abs(got[tiny]) < 1.2e-38), name


LOG_SRC = """model m {
  input x: f32[N]
  input w: f64[N]
  output l = log(x)
  output e = exp(w)
  output lw = log(w)
  output tw = tanh(w)
}
"""


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Distance in units in the last place (same-sign finite values: the difference of their bit patterns)."""
    it = np.int32 if got.dtype == np.float32 else np.int64
    return np.abs(got.view(it).astype(np.int64) - want.view(it).astype(np.int64))


def test_log_f32_and_exp_log_f64_match_numpy_everywhere(tmp_path):
    path = tmp_path / "m.nn"
    path.write_text(LOG_SRC)
    model = nnc.load(str(path)).model("m", backend="llvm")
    rng = np.random.default_rng(0)
    tiny32 = [1.4e-45, 3e-39, 1.1754942e-38, 1.17549435e-38]   # subnormals and the smallest normal
    x = np.concatenate([np.exp(rng.uniform(-103.2, 88.7, 150000)), rng.uniform(0.5, 2.0, 50000), tiny32,
                        [1.0, 1 + 2 ** -23, 1 - 2 ** -24, 0.70710677, 0.7071068, 3.4028235e38, 0.0, -0.0, -1.0,
                         -1e-40, np.inf, -np.inf, np.nan]]).astype(np.float32)
    w = np.concatenate([rng.uniform(-750, 712, 100000), rng.uniform(-1, 1, 50000), rng.uniform(-30, 30, 50000),
                        np.exp(rng.uniform(-744, 709, 50000)),
                        [5e-324, 1e-310, 2.2250738585072014e-308, 709.78, 709.79, -708.4, -745.13, -745.14, 1.0,
                         1 + 2 ** -52, 0.625, -0.625, 0.6249999999, 19.06, 0.0, -0.0, -1.0, np.inf, -np.inf,
                         np.nan]])
    w = np.concatenate([w, np.zeros(len(x) - len(w))]) if len(w) < len(x) else w
    x = np.concatenate([x, np.ones(len(w) - len(x), np.float32)])
    out = model(x=x, w=w)
    with np.errstate(all="ignore"):
        wants = {"l": np.log(x.astype(np.float64)).astype(np.float32), "e": np.exp(w), "lw": np.log(w),
                 "tw": np.tanh(w)}
    # (name, most ulps from numpy's correctly rounded value at a normal result)
    for name, most in (("l", 1), ("e", 2), ("lw", 1), ("tw", 2)):
        got, want = np.asarray(out[name]), wants[name]
        assert got.dtype == want.dtype, name
        assert np.array_equal(np.isnan(got), np.isnan(want)), name
        special = ~np.isfinite(want)
        assert np.array_equal(got[special & ~np.isnan(want)], want[special & ~np.isnan(want)]), name
        normal = np.isfinite(want) & (np.abs(want) >= np.finfo(want.dtype).tiny)
        assert _ulps(got[normal], want[normal]).max() <= most, name
        sub = np.isfinite(want) & ~normal   # exp's denormal results: within 1 ulp of a denormal
        assert np.all(np.abs(got[sub] - want[sub]) <= 2 * np.finfo(want.dtype).smallest_subnormal), name
    assert out["l"][np.isinf(x) & (x < 0)].size == 1 and np.isnan(out["l"][np.isinf(x) & (x < 0)]).all()
    assert np.isneginf(out["l"][x == 0]).all() and np.isneginf(out["lw"][w == 0]).all()
    assert np.isnan(out["l"][(x < 0)]).all() and np.isnan(out["lw"][w < 0]).all()


def test_log_and_exp_are_straight_line_ir_not_calls(tmp_path):
    """The loops holding them must be free of calls (a call keeps a loop scalar): no llvm.log/llvm.exp."""
    path = tmp_path / "m.nn"
    path.write_text(LOG_SRC)
    model = nnc.load(str(path)).model("m", backend="llvm")
    model(x=np.ones(4, np.float32), w=np.ones(4))
    texts = [v.ir for v in model._exe._variants.values()]
    assert texts
    for text in texts:
        for name in ("@llvm.log.f32", "@llvm.log.f64", "@llvm.exp.f64", "@llvm.exp.f32", "@logf", "@expf",
                     "@tanh", "@tanhf"):
            assert name not in text, name
