"""Tests for the backward (vector-Jacobian product) kernels in nnc/ops/_*_kernels.py.

Every backward kernel is checked

* against central finite differences of its own forward in float64: the
  scalar loss ``L = <G, f(inputs)>`` for a random output weight G is
  differentiated along random directions (hypothesis-drawn configurations),
  and element by element on tiny fixed shapes (a full gradient check);
* against torch.autograd with the same weights, when torch is importable
  (those tests skip otherwise; torch is not a dependency of nnc).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnc.ops._attention_kernels import multi_head_attention, multi_head_attention_backward
from nnc.ops._conv_kernels import conv_nd, conv_nd_backward, conv_transpose_nd, conv_transpose_nd_backward
from nnc.ops._pool_kernels import avg_pool_nd, avg_pool_nd_backward, max_pool_nd, max_pool_nd_backward
from nnc.ops._recurrent_kernels import (
    gru_backward,
    gru_forward,
    lstm_backward,
    lstm_forward,
    rnn_backward,
    rnn_forward,
)
from nnc.ops._softmax_kernels import log_softmax, log_softmax_backward, softmax, softmax_backward

EPS = 1e-6
RTOL = 1e-6
HYP = settings(max_examples=25, deadline=None)


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------
# finite-difference helpers
# --------------------------------------------------------------------------

def _tol(an: float, loss0: float) -> float:
    """Tolerance for one directional derivative: 1e-6 relative, plus FD rounding noise.

    Central differences with eps = 1e-6 lose about 1e-16 * |L| / eps = 1e-10 |L|
    to rounding; the truncation error is O(eps^2).
    """
    return RTOL * abs(an) + 1e-8 * max(1.0, abs(loss0))


def check_directional(loss, params: dict, grads: dict, seed: int = 0, ndirs: int = 2) -> None:
    """Compare <grad, u> with (L(p + eps u) - L(p - eps u)) / 2 eps for random u, per parameter."""
    r = rng(seed)
    loss0 = loss(params)
    for name, p in params.items():
        assert grads[name].shape == p.shape, name
        assert grads[name].dtype == np.float64, name
        for _ in range(ndirs):
            u = r.standard_normal(p.shape)
            fd = (loss({**params, name: p + EPS * u}) - loss({**params, name: p - EPS * u})) / (2 * EPS)
            an = float(np.sum(grads[name] * u))
            assert abs(fd - an) <= _tol(an, loss0), (name, fd, an)


def check_full(loss, params: dict, grads: dict) -> None:
    """Element-by-element central differences for every parameter (tiny shapes only)."""
    loss0 = loss(params)
    for name, p in params.items():
        assert grads[name].shape == p.shape, name
        fd = np.empty(p.shape)
        for idx in np.ndindex(*p.shape):
            e = np.zeros(p.shape)
            e[idx] = EPS
            fd[idx] = (loss({**params, name: p + e}) - loss({**params, name: p - e})) / (2 * EPS)
        np.testing.assert_allclose(grads[name], fd, rtol=RTOL, atol=1e-8 * max(1.0, abs(loss0)), err_msg=name)


def distinct(r: np.random.Generator, shape) -> np.ndarray:
    """Random values whose pairwise gaps are >= 0.5 / size, so no max-pool ties and no argmax flips under FD."""
    size = math.prod(shape)
    return (r.permutation(size) + r.uniform(0, 0.5, size)).reshape(shape) / size


# --------------------------------------------------------------------------
# hypothesis strategies (only valid configurations: every output axis >= 1)
# --------------------------------------------------------------------------

@st.composite
def conv_configs(draw):
    nsp = draw(st.integers(1, 2))
    groups = draw(st.integers(1, 3))
    cg = draw(st.integers(1, 2))
    og = draw(st.integers(1, 2))
    kernel, stride, dilation, pads, sizes = [], [], [], [], []
    for _ in range(nsp):
        k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        lo, hi = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        extent = d * (k - 1) + 1
        lo_size = max(1, extent - lo - hi)
        sizes.append(draw(st.integers(lo_size, lo_size + 4)))
        kernel.append(k), stride.append(s), dilation.append(d), pads.append((lo, hi))
    return dict(n=draw(st.integers(1, 2)), groups=groups, cg=cg, og=og, kernel=tuple(kernel),
                stride=tuple(stride), dilation=tuple(dilation), pads=tuple(pads), sizes=tuple(sizes),
                seed=draw(st.integers(0, 2**31 - 1)))


@st.composite
def conv_transpose_configs(draw):
    nsp = draw(st.integers(1, 2))
    kernel, stride, dilation, pads, opads, sizes = [], [], [], [], [], []
    for _ in range(nsp):
        k, s, d = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        ni = draw(st.integers(1, 4))
        op = draw(st.integers(0, max(s, d) - 1))
        full = (ni - 1) * s + d * (k - 1) + op + 1
        p = draw(st.integers(0, min(2, (full - 1) // 2)))            # output size full - 2p >= 1
        kernel.append(k), stride.append(s), dilation.append(d), pads.append(p), opads.append(op), sizes.append(ni)
    return dict(n=draw(st.integers(1, 2)), groups=draw(st.integers(1, 3)), cg=draw(st.integers(1, 2)),
                og=draw(st.integers(1, 2)), kernel=tuple(kernel), stride=tuple(stride),
                dilation=tuple(dilation), pads=tuple(pads), opads=tuple(opads), sizes=tuple(sizes),
                seed=draw(st.integers(0, 2**31 - 1)))


@st.composite
def pool_configs(draw):
    nsp = draw(st.integers(1, 2))
    kernel, stride, pads, sizes = [], [], [], []
    for _ in range(nsp):
        k, s = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        lo, hi = draw(st.integers(0, k // 2)), draw(st.integers(0, k // 2))   # PyTorch's pad <= k / 2
        lo_size = max(1, k - lo - hi)
        sizes.append(draw(st.integers(lo_size, lo_size + 4)))
        kernel.append(k), stride.append(s), pads.append((lo, hi))
    return dict(n=draw(st.integers(1, 2)), c=draw(st.integers(1, 3)), kernel=tuple(kernel),
                stride=tuple(stride), pads=tuple(pads), sizes=tuple(sizes),
                seed=draw(st.integers(0, 2**31 - 1)))


# --------------------------------------------------------------------------
# convolution
# --------------------------------------------------------------------------

def _conv_case(cfg):
    r = rng(cfg["seed"])
    c, o = cfg["cg"] * cfg["groups"], cfg["og"] * cfg["groups"]
    x = r.standard_normal((cfg["n"], c) + cfg["sizes"])
    w = r.standard_normal((o, cfg["cg"]) + cfg["kernel"])
    b = r.standard_normal(o)
    y = conv_nd(x, w, b, cfg["stride"], cfg["pads"], cfg["dilation"], cfg["groups"])
    return r, x, w, b, r.standard_normal(y.shape)


def _conv_loss(cfg, g):
    return lambda p: float(np.sum(g * conv_nd(p["x"], p["w"], p["b"], cfg["stride"], cfg["pads"],
                                              cfg["dilation"], cfg["groups"])))


@HYP
@given(conv_configs())
def test_conv_backward_finite_differences(cfg):
    _, x, w, b, g = _conv_case(cfg)
    dx, dw, db = conv_nd_backward(g, x, w, cfg["stride"], cfg["pads"], cfg["dilation"], cfg["groups"])
    check_directional(_conv_loss(cfg, g), {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db}, cfg["seed"])


CONV_CASES = [
    # (n, groups, cg, og, sizes, kernel, stride, pads, dilation)
    (2, 1, 2, 3, (7,), (3,), (2,), ((1, 0),), (1,)),                       # 1-d, stride, asymmetric pad
    (1, 2, 2, 1, (6, 5), (2, 3), (2, 1), ((0, 1), (2, 0)), (1, 2)),        # groups, dilation
    (2, 3, 1, 1, (5, 6), (3, 3), (1, 2), ((1, 1), (1, 1)), (1, 1)),        # depthwise
    (1, 3, 1, 2, (6, 6), (3, 2), (2, 3), ((1, 2), (0, 1)), (2, 1)),        # depthwise, multiplier 2
    (1, 1, 2, 2, (4, 3, 4), (2, 2, 1), (2, 1, 3), ((0, 1), (1, 0), (0, 0)), (1, 2, 1)),  # 3-d
]


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_backward_full_gradient(case):
    n, groups, cg, og, sizes, kernel, stride, pads, dilation = case
    cfg = dict(n=n, groups=groups, cg=cg, og=og, sizes=sizes, kernel=kernel, stride=stride,
               pads=pads, dilation=dilation, seed=len(sizes) * 10 + groups)
    _, x, w, b, g = _conv_case(cfg)
    dx, dw, db = conv_nd_backward(g, x, w, stride, pads, dilation, groups)
    check_full(_conv_loss(cfg, g), {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db})


def test_conv_backward_unread_tail_and_no_bias():
    # size 6, kernel 2, stride 3: cells 2 and 5 are never read; their gradient is exactly 0
    r = rng(1)
    x = r.standard_normal((2, 2, 6))
    w = r.standard_normal((3, 2, 2))
    g = r.standard_normal((2, 3, 2))
    dx, dw, db = conv_nd_backward(g, x, w, (3,), ((0, 0),), (1,), 1, need_bias=False)
    assert db is None and dx.shape == x.shape and dw.shape == w.shape
    assert np.all(dx[..., [2, 5]] == 0) and np.all(dx[..., [0, 1, 3, 4]] != 0)


def test_conv_backward_keeps_float32():
    r = rng(2)
    x = r.standard_normal((1, 2, 5, 5)).astype(np.float32)
    w = r.standard_normal((4, 1, 3, 3)).astype(np.float32)
    g = r.standard_normal((1, 4, 3, 3))
    dx, dw, db = conv_nd_backward(g, x, w, (2, 2), ((1, 1), (1, 1)), (1, 1), 2)
    assert dx.dtype == dw.dtype == db.dtype == np.float32
    dx64, dw64, db64 = conv_nd_backward(g, x.astype(np.float64), w.astype(np.float64),
                                        (2, 2), ((1, 1), (1, 1)), (1, 1), 2)
    np.testing.assert_allclose(dx, dx64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dw, dw64, rtol=1e-5, atol=1e-5)


def test_conv_backward_rejects_wrong_gradient_shape():
    x, w = np.zeros((1, 2, 5)), np.zeros((3, 2, 3))
    with pytest.raises(ValueError, match="gradient"):
        conv_nd_backward(np.zeros((1, 3, 4)), x, w, (1,), ((0, 0),), (1,), 1)


def _ct_case(cfg):
    r = rng(cfg["seed"])
    c, o = cfg["cg"] * cfg["groups"], cfg["og"] * cfg["groups"]
    x = r.standard_normal((cfg["n"], c) + cfg["sizes"])
    w = r.standard_normal((c, cfg["og"]) + cfg["kernel"])
    b = r.standard_normal(o)
    y = conv_transpose_nd(x, w, b, cfg["stride"], cfg["pads"], cfg["opads"], cfg["dilation"], cfg["groups"])
    return x, w, b, r.standard_normal(y.shape)


def _ct_loss(cfg, g):
    return lambda p: float(np.sum(g * conv_transpose_nd(p["x"], p["w"], p["b"], cfg["stride"], cfg["pads"],
                                                        cfg["opads"], cfg["dilation"], cfg["groups"])))


@HYP
@given(conv_transpose_configs())
def test_conv_transpose_backward_finite_differences(cfg):
    x, w, b, g = _ct_case(cfg)
    dx, dw, db = conv_transpose_nd_backward(g, x, w, cfg["stride"], cfg["pads"], cfg["opads"],
                                            cfg["dilation"], cfg["groups"])
    check_directional(_ct_loss(cfg, g), {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db}, cfg["seed"])


CT_CASES = [
    # (n, groups, cg, og, sizes, kernel, stride, pads, opads, dilation)
    (2, 1, 2, 2, (4,), (3,), (2,), (1,), (1,), (1,)),
    (1, 2, 1, 2, (3, 2), (2, 3), (2, 1), (0, 1), (1, 0), (1, 2)),
    (1, 1, 1, 2, (3,), (2,), (1,), (0,), (1,), (2,)),        # output_padding via dilation > stride
    (1, 3, 1, 1, (2, 3), (3, 2), (3, 2), (1, 0), (2, 1), (1, 1)),  # depthwise
]


@pytest.mark.parametrize("case", CT_CASES)
def test_conv_transpose_backward_full_gradient(case):
    n, groups, cg, og, sizes, kernel, stride, pads, opads, dilation = case
    cfg = dict(n=n, groups=groups, cg=cg, og=og, sizes=sizes, kernel=kernel, stride=stride,
               pads=pads, opads=opads, dilation=dilation, seed=7 + groups)
    x, w, b, g = _ct_case(cfg)
    dx, dw, db = conv_transpose_nd_backward(g, x, w, stride, pads, opads, dilation, groups)
    check_full(_ct_loss(cfg, g), {"x": x, "w": w, "b": b}, {"x": dx, "w": dw, "b": db})
    assert conv_transpose_nd_backward(g, x, w, stride, pads, opads, dilation, groups, need_bias=False)[2] is None


# --------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------

@HYP
@given(pool_configs(), st.booleans())
def test_pool_backward_finite_differences(cfg, include):
    r = rng(cfg["seed"])
    shape = (cfg["n"], cfg["c"]) + cfg["sizes"]
    k, s, pads = cfg["kernel"], cfg["stride"], cfg["pads"]
    x = distinct(r, shape)
    g = r.standard_normal(max_pool_nd(x, k, s, pads).shape)
    dx = max_pool_nd_backward(g, x, k, s, pads)
    check_directional(lambda p: float(np.sum(g * max_pool_nd(p["x"], k, s, pads))), {"x": x}, {"x": dx},
                      cfg["seed"])
    dx = avg_pool_nd_backward(g, x, k, s, pads, include)
    check_directional(lambda p: float(np.sum(g * avg_pool_nd(p["x"], k, s, pads, include))), {"x": x},
                      {"x": dx}, cfg["seed"])


POOL_CASES = [
    # (shape, kernel, stride, pads)
    ((2, 2, 7), (3,), (2,), ((1, 0),)),
    ((1, 2, 5, 6), (2, 3), (1, 2), ((1, 0), (1, 1))),       # overlapping windows along axis 0
    ((1, 1, 6, 5), (3, 2), (3, 3), ((0, 1), (1, 0))),       # stride > kernel: skipped cells
    ((1, 1, 3, 4, 3), (2, 2, 2), (1, 2, 1), ((1, 0), (0, 1), (0, 0))),
]


@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("include", [True, False])
def test_pool_backward_full_gradient(case, include):
    shape, k, s, pads = case
    r = rng(len(shape))
    x = distinct(r, shape)
    g = r.standard_normal(max_pool_nd(x, k, s, pads).shape)
    check_full(lambda p: float(np.sum(g * max_pool_nd(p["x"], k, s, pads))), {"x": x},
               {"x": max_pool_nd_backward(g, x, k, s, pads)})
    check_full(lambda p: float(np.sum(g * avg_pool_nd(p["x"], k, s, pads, include))), {"x": x},
               {"x": avg_pool_nd_backward(g, x, k, s, pads, include)})


def test_max_pool_backward_ties_go_to_first_in_row_major_order():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 1] = x[0, 0, 1, 0] = 5.0         # a tie inside the first 2x2 window
    g = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    dx = max_pool_nd_backward(g, x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    expected = np.zeros((4, 4))
    expected[0, 1] = 1.0                        # (0, 1) precedes (1, 0) in row-major order
    expected[0, 2] = 2.0                        # all-zero windows: their first cell
    expected[2, 0] = 3.0
    expected[2, 2] = 4.0
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_max_pool_backward_padding_never_wins():
    # a window of real -inf values next to -inf padding sends its gradient to its first real cell
    x = np.full((1, 1, 3), -np.inf)
    g = np.array([[[1.0, 2.0]]])
    dx = max_pool_nd_backward(g, x, (2,), (2,), ((1, 0),))
    np.testing.assert_array_equal(dx, [[[1.0, 2.0, 0.0]]])


def test_pool_backward_keeps_float32():
    x = rng(3).standard_normal((1, 2, 5, 5)).astype(np.float32)
    g = np.ones((1, 2, 2, 2), dtype=np.float64)
    assert max_pool_nd_backward(g, x, (2, 2), (2, 2), ((0, 0), (0, 0))).dtype == np.float32
    assert avg_pool_nd_backward(g, x, (2, 2), (2, 2), ((0, 0), (0, 0)), False).dtype == np.float32


# --------------------------------------------------------------------------
# recurrent layers
# --------------------------------------------------------------------------

def _rnn_params(r, gates, n, t, f, h, bias, init, states):
    params = {"x": r.standard_normal((n, t, f)),
              "w_ih": 0.5 * r.standard_normal((gates * h, f)),
              "w_hh": 0.5 * r.standard_normal((gates * h, h))}
    params["b_ih"] = r.standard_normal(gates * h) if bias else np.zeros(gates * h)
    params["b_hh"] = r.standard_normal(gates * h) if bias else np.zeros(gates * h)
    for s in states:
        params[s] = r.standard_normal((n, h)) if init else np.zeros((n, h))
    return params


# (n, t, f, h, bias, init, gy?, gh?)
RNN_CASES = [
    (2, 5, 3, 4, True, True, True, True),
    (1, 6, 2, 3, False, False, True, False),     # no biases, no initial state, only the sequence
    (2, 4, 3, 2, True, False, False, True),      # gradient only from the final state
    (3, 5, 1, 3, False, True, False, True),
]


def _rnn_grads_in(r, n, t, h, use_gy, use_gh, nstates):
    gy = r.standard_normal((n, t, h)) if use_gy else None
    ghs = [r.standard_normal((n, h)) if use_gh else None for _ in range(nstates)]
    return gy, ghs


def _dot(a, b):
    return 0.0 if a is None else float(np.sum(a * b))


@pytest.mark.parametrize("case", RNN_CASES)
@pytest.mark.parametrize("full", [False, True])
def test_rnn_backward_finite_differences(case, full):
    n, t, f, h, bias, init, use_gy, use_gh = case
    r = rng(11 + t)
    params = _rnn_params(r, 1, n, t, f, h, bias, init, ["h0"])
    gy, (ghT,) = _rnn_grads_in(r, n, t, h, use_gy, use_gh, 1)

    def loss(p):
        y, hT = rnn_forward(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["h0"])
        return _dot(gy, y) + _dot(ghT, hT)

    b_ih, b_hh, h0 = (params[k] if (bias if k != "h0" else init) else None for k in ("b_ih", "b_hh", "h0"))
    grads = rnn_backward(params["x"], params["w_ih"], params["w_hh"], b_ih, b_hh, h0, gy, ghT)
    assert set(grads) == {"x", "w_ih", "w_hh", "b_ih", "b_hh", "h0"}
    (check_full if full else check_directional)(loss, params, grads)


@pytest.mark.parametrize("case", RNN_CASES)
@pytest.mark.parametrize("full", [False, True])
def test_lstm_backward_finite_differences(case, full):
    n, t, f, h, bias, init, use_gy, use_gh = case
    r = rng(21 + t)
    params = _rnn_params(r, 4, n, t, f, h, bias, init, ["h0", "c0"])
    gy, (ghT, gcT) = _rnn_grads_in(r, n, t, h, use_gy, use_gh, 2)
    if not use_gy and use_gh:
        ghT = None          # and here only through the final cell state

    def loss(p):
        y, hT, cT = lstm_forward(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["h0"], p["c0"])
        return _dot(gy, y) + _dot(ghT, hT) + _dot(gcT, cT)

    opt = {k: (params[k] if (bias if k.startswith("b") else init) else None) for k in ("b_ih", "b_hh", "h0", "c0")}
    grads = lstm_backward(params["x"], params["w_ih"], params["w_hh"], opt["b_ih"], opt["b_hh"],
                          opt["h0"], opt["c0"], gy, ghT, gcT)
    assert set(grads) == {"x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0"}
    (check_full if full else check_directional)(loss, params, grads)


@pytest.mark.parametrize("case", RNN_CASES)
@pytest.mark.parametrize("full", [False, True])
def test_gru_backward_finite_differences(case, full):
    n, t, f, h, bias, init, use_gy, use_gh = case
    r = rng(31 + t)
    params = _rnn_params(r, 3, n, t, f, h, bias, init, ["h0"])
    gy, (ghT,) = _rnn_grads_in(r, n, t, h, use_gy, use_gh, 1)

    def loss(p):
        y, hT = gru_forward(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["h0"])
        return _dot(gy, y) + _dot(ghT, hT)

    b_ih, b_hh, h0 = (params[k] if (bias if k != "h0" else init) else None for k in ("b_ih", "b_hh", "h0"))
    grads = gru_backward(params["x"], params["w_ih"], params["w_hh"], b_ih, b_hh, h0, gy, ghT)
    assert set(grads) == {"x", "w_ih", "w_hh", "b_ih", "b_hh", "h0"}
    (check_full if full else check_directional)(loss, params, grads)


def test_recurrent_backward_with_no_gradient_is_zero():
    r = rng(5)
    p = _rnn_params(r, 4, 2, 4, 3, 2, True, True, ["h0", "c0"])
    grads = lstm_backward(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["h0"], p["c0"], None, None, None)
    assert all(not np.any(v) for v in grads.values())


def test_recurrent_backward_keeps_float32():
    r = rng(6)
    p = {k: v.astype(np.float32) for k, v in _rnn_params(r, 3, 2, 4, 3, 2, True, True, ["h0"]).items()}
    grads = gru_backward(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["h0"], None, np.ones((2, 2)))
    assert all(v.dtype == np.float32 for v in grads.values())


# --------------------------------------------------------------------------
# attention and softmax
# --------------------------------------------------------------------------

# (n, tq, tk, e, ek, ev, heads, bias)
ATTN_CASES = [
    (2, 3, 3, 4, 4, 4, 1, True),
    (1, 2, 4, 4, 3, 5, 2, True),       # different Tq / Tk, kdim / vdim
    (2, 4, 2, 6, 2, 3, 2, False),      # no biases
    (1, 3, 5, 6, 6, 6, 3, True),
]
ATTN_KEYS = ("q", "k", "v", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")


def _attn_params(case, seed):
    n, tq, tk, e, ek, ev, heads, bias = case
    r = rng(seed)
    p = {"q": r.standard_normal((n, tq, e)), "k": r.standard_normal((n, tk, ek)),
         "v": r.standard_normal((n, tk, ev)),
         "wq": r.standard_normal((e, e)) / math.sqrt(e), "wk": r.standard_normal((e, ek)) / math.sqrt(ek),
         "wv": r.standard_normal((e, ev)) / math.sqrt(ev), "wo": r.standard_normal((e, e)) / math.sqrt(e)}
    for name in ("bq", "bk", "bv", "bo"):
        p[name] = r.standard_normal(e) if bias else np.zeros(e)
    return p, r.standard_normal((n, tq, e))


def _attn_call(fn, p, heads, bias, *extra):
    b = (lambda name: p[name] if bias else None)
    return fn(p["q"], p["k"], p["v"], p["wq"], b("bq"), p["wk"], b("bk"), p["wv"], b("bv"),
              p["wo"], b("bo"), heads, *extra)


@pytest.mark.parametrize("case", ATTN_CASES)
@pytest.mark.parametrize("full", [False, True])
def test_attention_backward_finite_differences(case, full):
    heads, bias = case[6], case[7]
    p, g = _attn_params(case, 41 + heads)
    grads = _attn_call(multi_head_attention_backward, p, heads, bias, g)
    assert tuple(grads) == ATTN_KEYS
    loss = lambda pp: float(np.sum(g * multi_head_attention(  # noqa: E731
        pp["q"], pp["k"], pp["v"], pp["wq"], pp["bq"], pp["wk"], pp["bk"], pp["wv"], pp["bv"],
        pp["wo"], pp["bo"], heads)))
    (check_full if full else check_directional)(loss, p, grads)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_backward_finite_differences(axis):
    r = rng(50 + axis)
    x = 3 * r.standard_normal((3, 4, 5))
    g = r.standard_normal(x.shape)
    check_full(lambda p: float(np.sum(g * softmax(p["x"], axis))), {"x": x},
               {"x": softmax_backward(softmax(x, axis), g, axis)})
    check_full(lambda p: float(np.sum(g * log_softmax(p["x"], axis))), {"x": x},
               {"x": log_softmax_backward(log_softmax(x, axis), g, axis)})


def test_softmax_backward_extreme_inputs_and_dtype():
    x = np.array([[0.0, -1000.0, 1000.0], [5.0, 5.0, 5.0]], dtype=np.float32)
    g = np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 0.5]])
    for fwd, bwd in ((softmax, softmax_backward), (log_softmax, log_softmax_backward)):
        dx = bwd(fwd(x, 1), g, 1)
        assert dx.dtype == np.float32 and np.all(np.isfinite(dx))
        np.testing.assert_allclose(dx.sum(axis=1), 0, atol=1e-6)   # shift invariance of both


# --------------------------------------------------------------------------
# torch.autograd comparisons
# --------------------------------------------------------------------------

def _torch_pad(pads):
    """(lo, hi) pairs per axis -> torch.nn.functional.pad's last-axis-first flat list."""
    return [v for lo_hi in reversed(pads) for v in lo_hi]


@HYP
@given(conv_configs())
def test_conv_backward_matches_torch(cfg):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    _, x, w, b, g = _conv_case(cfg)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    conv = {1: F.conv1d, 2: F.conv2d}[len(cfg["sizes"])]
    y = conv(F.pad(tx, _torch_pad(cfg["pads"])), tw, tb, stride=cfg["stride"], dilation=cfg["dilation"],
             groups=cfg["groups"])
    (y * torch.tensor(g)).sum().backward()
    dx, dw, db = conv_nd_backward(g, x, w, cfg["stride"], cfg["pads"], cfg["dilation"], cfg["groups"])
    for ours, theirs in ((dx, tx), (dw, tw), (db, tb)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


@HYP
@given(conv_transpose_configs())
def test_conv_transpose_backward_matches_torch(cfg):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, w, b, g = _ct_case(cfg)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    conv = {1: F.conv_transpose1d, 2: F.conv_transpose2d}[len(cfg["sizes"])]
    y = conv(tx, tw, tb, stride=cfg["stride"], padding=cfg["pads"], output_padding=cfg["opads"],
             groups=cfg["groups"], dilation=cfg["dilation"])
    (y * torch.tensor(g)).sum().backward()
    dx, dw, db = conv_transpose_nd_backward(g, x, w, cfg["stride"], cfg["pads"], cfg["opads"],
                                            cfg["dilation"], cfg["groups"])
    for ours, theirs in ((dx, tx), (dw, tw), (db, tb)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


@HYP
@given(pool_configs(), st.booleans())
def test_pool_backward_matches_torch(cfg, include):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    r = rng(cfg["seed"])
    nsp = len(cfg["sizes"])
    k, s, pads = cfg["kernel"], cfg["stride"], cfg["pads"]
    x = r.standard_normal((cfg["n"], cfg["c"]) + cfg["sizes"])       # continuous: no ties
    g = r.standard_normal(max_pool_nd(x, k, s, pads).shape)
    maxp = {1: F.max_pool1d, 2: F.max_pool2d}[nsp]
    avgp = {1: F.avg_pool1d, 2: F.avg_pool2d}[nsp]
    symmetric = all(lo == hi for lo, hi in pads)

    tx = torch.tensor(x, requires_grad=True)
    if symmetric:
        y = maxp(tx, k, s, padding=tuple(lo for lo, _ in pads))
    else:
        y = maxp(F.pad(tx, _torch_pad(pads), value=-math.inf), k, s)
    (y * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(max_pool_nd_backward(g, x, k, s, pads), tx.grad.numpy(), rtol=1e-12, atol=1e-12)

    if not symmetric and not include:
        return   # torch has no asymmetric padding that is excluded from the count
    tx = torch.tensor(x, requires_grad=True)
    if symmetric:
        y = avgp(tx, k, s, padding=tuple(lo for lo, _ in pads), count_include_pad=include)
    else:
        y = avgp(F.pad(tx, _torch_pad(pads)), k, s)
    (y * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(avg_pool_nd_backward(g, x, k, s, pads, include), tx.grad.numpy(),
                               rtol=1e-12, atol=1e-12)


def test_max_pool_backward_ties_match_torch():
    torch = pytest.importorskip("torch")
    x = np.round(rng(8).standard_normal((2, 3, 6, 7)))                  # many ties
    g = rng(9).standard_normal(max_pool_nd(x, (3, 2), (2, 1), ((1, 1), (1, 1))).shape)
    tx = torch.tensor(x, requires_grad=True)
    y = torch.nn.functional.max_pool2d(tx, (3, 2), (2, 1), padding=(1, 1))
    (y * torch.tensor(g)).sum().backward()
    # summation order differs where windows overlap; a different tie winner would be off by O(1)
    np.testing.assert_allclose(max_pool_nd_backward(g, x, (3, 2), (2, 1), ((1, 1), (1, 1))), tx.grad.numpy(),
                               rtol=1e-12, atol=1e-12)


def _torch_recurrent(torch, kind, p, h0, c0, gy, ghT, gcT, bias):
    n, t, f = p["x"].shape
    gates = {"lstm": 4, "gru": 3}[kind]
    h = p["w_hh"].shape[1]
    mod = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](f, h, batch_first=True, bias=bias,
                                                            dtype=torch.float64)
    with torch.no_grad():
        mod.weight_ih_l0.copy_(torch.tensor(p["w_ih"]))
        mod.weight_hh_l0.copy_(torch.tensor(p["w_hh"]))
        if bias:
            mod.bias_ih_l0.copy_(torch.tensor(p["b_ih"]))
            mod.bias_hh_l0.copy_(torch.tensor(p["b_hh"]))
    tx = torch.tensor(p["x"], requires_grad=True)
    th0 = torch.tensor(h0 if h0 is not None else np.zeros((n, h)))[None].requires_grad_()
    if kind == "lstm":
        tc0 = torch.tensor(c0 if c0 is not None else np.zeros((n, h)))[None].requires_grad_()
        y, (hT, cT) = mod(tx, (th0, tc0))
    else:
        y, hT = mod(tx, th0)
    loss = 0
    if gy is not None:
        loss = loss + (y * torch.tensor(gy)).sum()
    if ghT is not None:
        loss = loss + (hT[0] * torch.tensor(ghT)).sum()
    if kind == "lstm" and gcT is not None:
        loss = loss + (cT[0] * torch.tensor(gcT)).sum()
    loss.backward()
    out = {"x": tx.grad, "w_ih": mod.weight_ih_l0.grad, "w_hh": mod.weight_hh_l0.grad, "h0": th0.grad[0]}
    if bias:
        out["b_ih"], out["b_hh"] = mod.bias_ih_l0.grad, mod.bias_hh_l0.grad
    if kind == "lstm":
        out["c0"] = tc0.grad[0]
    assert gates * h == p["w_ih"].shape[0]
    return {k: v.numpy() for k, v in out.items()}


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("case", RNN_CASES)
def test_recurrent_backward_matches_torch(kind, case):
    torch = pytest.importorskip("torch")
    n, t, f, h, bias, init, use_gy, use_gh = case
    r = rng(61 + t)
    states = ["h0", "c0"] if kind == "lstm" else ["h0"]
    p = _rnn_params(r, 4 if kind == "lstm" else 3, n, t, f, h, bias, init, states)
    gy, ghs = _rnn_grads_in(r, n, t, h, use_gy, use_gh, len(states))
    h0 = p["h0"] if init else None
    c0 = p.get("c0") if init else None
    b_ih, b_hh = (p["b_ih"], p["b_hh"]) if bias else (None, None)
    if kind == "lstm":
        ours = lstm_backward(p["x"], p["w_ih"], p["w_hh"], b_ih, b_hh, h0, c0, gy, ghs[0], ghs[1])
        theirs = _torch_recurrent(torch, kind, p, h0, c0, gy, ghs[0], ghs[1], bias)
    else:
        ours = gru_backward(p["x"], p["w_ih"], p["w_hh"], b_ih, b_hh, h0, gy, ghs[0])
        theirs = _torch_recurrent(torch, kind, p, h0, None, gy, ghs[0], None, bias)
    for key, val in theirs.items():
        np.testing.assert_allclose(ours[key], val, rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("case", ATTN_CASES)
def test_attention_backward_matches_torch(case):
    torch = pytest.importorskip("torch")
    heads, bias = case[6], case[7]
    p, g = _attn_params(case, 71 + heads)
    e = p["q"].shape[2]
    t = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    in_bias = torch.cat([t["bq"], t["bk"], t["bv"]]) if bias else None
    # torch's functional form is sequence first: [T, N, E]
    out, _ = torch.nn.functional.multi_head_attention_forward(
        t["q"].transpose(0, 1), t["k"].transpose(0, 1), t["v"].transpose(0, 1), e, heads,
        None, in_bias, None, None, False, 0.0, t["wo"], t["bo"] if bias else None,
        training=False, need_weights=False, use_separate_proj_weight=True,
        q_proj_weight=t["wq"], k_proj_weight=t["wk"], v_proj_weight=t["wv"])
    (out.transpose(0, 1) * torch.tensor(g)).sum().backward()
    ours = _attn_call(multi_head_attention_backward, p, heads, bias, g)
    for key in ATTN_KEYS:
        if not bias and key.startswith("b"):
            continue
        np.testing.assert_allclose(ours[key], t[key].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=key)
