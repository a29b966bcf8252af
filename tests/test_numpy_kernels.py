"""Tests for the numpy oracle's layer kernels (nnc/ops/_*_kernels.py, beside their ops).

Every kernel is checked twice:

* against a naive reference written here with plain loops over output
  positions and kernel taps (float64, tight tolerances), which shares no code
  with the vectorised implementation;
* against PyTorch with the same weights copied in, when torch is importable
  (those tests skip otherwise; torch is not a dependency of nnc).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from nnc.ops._attention_kernels import multi_head_attention
from nnc.ops._conv_kernels import conv_nd, conv_transpose_nd
from nnc.ops._pool_kernels import avg_pool_nd, max_pool_nd
from nnc.ops._recurrent_kernels import gru_forward, lstm_forward, rnn_forward
from nnc.ops._softmax_kernels import log_softmax, softmax

RTOL = 1e-12
ATOL = 1e-12


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------
# naive references
# --------------------------------------------------------------------------

def naive_conv(x, w, b, stride, padding, dilation, groups):
    """Direct definition: y[n, o, p] = b[o] + sum over taps and group channels."""
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    kernel = w.shape[2:]
    sp = x.shape[2:]
    og = o // groups
    out_sp = tuple((ni + lo + hi - d * (k - 1) - 1) // s + 1
                   for ni, (lo, hi), d, k, s in zip(sp, padding, dilation, kernel, stride))
    y = np.zeros((n, o) + out_sp)
    for pos in itertools.product(*(range(m) for m in out_sp)):
        for tap in itertools.product(*(range(k) for k in kernel)):
            idx = tuple(p * s - lo + t * d for p, s, (lo, _), t, d in zip(pos, stride, padding, tap, dilation))
            if any(i < 0 or i >= ni for i, ni in zip(idx, sp)):
                continue  # a zero-padded cell contributes nothing
            for g in range(groups):
                xs = x[(slice(None), slice(g * cg, (g + 1) * cg)) + idx]        # [N, Cg]
                ws = w[(slice(g * og, (g + 1) * og), slice(None)) + tap]        # [Og, Cg]
                for oo in range(og):
                    for cc in range(cg):
                        y[(slice(None), g * og + oo) + pos] += xs[:, cc] * ws[oo, cc]
    if b is not None:
        y += b.reshape((1, o) + (1,) * len(sp))
    return y


def naive_conv_transpose(x, w, b, stride, padding, output_padding, dilation, groups):
    """Direct scatter definition: input cell i, tap k lands on output i*s - p + k*d."""
    n, c = x.shape[:2]
    og = w.shape[1]
    o = og * groups
    cg = c // groups
    kernel = w.shape[2:]
    sp = x.shape[2:]
    out_sp = tuple((ni - 1) * s - 2 * p + d * (k - 1) + op + 1
                   for ni, s, p, d, k, op in zip(sp, stride, padding, dilation, kernel, output_padding))
    y = np.zeros((n, o) + out_sp)
    for pos in itertools.product(*(range(m) for m in sp)):
        for tap in itertools.product(*(range(k) for k in kernel)):
            dst = tuple(i * s - p + t * d for i, s, p, t, d in zip(pos, stride, padding, tap, dilation))
            if any(j < 0 or j >= m for j, m in zip(dst, out_sp)):
                continue
            for g in range(groups):
                for ci in range(cg):
                    cin = g * cg + ci
                    for oo in range(og):
                        y[(slice(None), g * og + oo) + dst] += x[(slice(None), cin) + pos] * w[(cin, oo) + tap]
    if b is not None:
        y += b.reshape((1, o) + (1,) * len(sp))
    return y


def naive_pool(x, kernel, stride, padding, mode, count_include_pad=True):
    """Loop over output cells; collect the real cells of each window."""
    n, c = x.shape[:2]
    sp = x.shape[2:]
    out_sp = tuple((ni + lo + hi - k) // s + 1 for ni, (lo, hi), k, s in zip(sp, padding, kernel, stride))
    y = np.zeros((n, c) + out_sp)
    for pos in itertools.product(*(range(m) for m in out_sp)):
        vals = []
        for tap in itertools.product(*(range(k) for k in kernel)):
            idx = tuple(p * s - lo + t for p, s, (lo, _), t in zip(pos, stride, padding, tap))
            if all(0 <= i < ni for i, ni in zip(idx, sp)):
                vals.append(x[(slice(None), slice(None)) + idx])
        stacked = np.stack(vals)                       # [cells, N, C]
        if mode == "max":
            y[(slice(None), slice(None)) + pos] = stacked.max(axis=0)
        else:
            denom = math.prod(kernel) if count_include_pad else len(vals)
            y[(slice(None), slice(None)) + pos] = stacked.sum(axis=0) / denom
    return y


def sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def naive_rnn(kind, x, w_ih, w_hh, b_ih, b_hh, h0, c0=None):
    """Per sample, per time step, per hidden unit, with scalar math."""
    n, t, f = x.shape
    hid = w_hh.shape[1]
    y = np.zeros((n, t, hid))
    hs, cs = [], []
    for s in range(n):
        h = h0[s].copy()
        c = None if c0 is None else c0[s].copy()
        for step in range(t):
            xt = x[s, step]

            def pre(gate, j, with_h=True):
                row = gate * hid + j
                val = float(np.dot(w_ih[row], xt) + b_ih[row])
                if with_h:
                    val += float(np.dot(w_hh[row], h) + b_hh[row])
                return val

            new_h = np.zeros(hid)
            if kind == "rnn":
                for j in range(hid):
                    new_h[j] = math.tanh(pre(0, j))
            elif kind == "lstm":
                new_c = np.zeros(hid)
                for j in range(hid):
                    i_g, f_g, g_g, o_g = sig(pre(0, j)), sig(pre(1, j)), math.tanh(pre(2, j)), sig(pre(3, j))
                    new_c[j] = f_g * c[j] + i_g * g_g
                    new_h[j] = o_g * math.tanh(new_c[j])
                c = new_c
            else:  # gru
                for j in range(hid):
                    r = sig(pre(0, j))
                    z = sig(pre(1, j))
                    hn = float(np.dot(w_hh[2 * hid + j], h) + b_hh[2 * hid + j])
                    nn_ = math.tanh(pre(2, j, with_h=False) + r * hn)
                    new_h[j] = (1 - z) * nn_ + z * h[j]
            h = new_h
            y[s, step] = h
        hs.append(h)
        cs.append(c)
    if kind == "lstm":
        return y, np.stack(hs), np.stack(cs)
    return y, np.stack(hs)


def naive_softmax_1d(row):
    m = max(row)
    ex = [math.exp(v - m) for v in row]
    tot = math.fsum(ex)
    return [e / tot for e in ex]


def naive_mha(q, k, v, wq, bq, wk, bk, wv, bv, wo, bo, heads):
    """Per sample, per head, per query: explicit projection slices and softmax."""
    n, tq, e = q.shape
    tk = k.shape[1]
    d = e // heads
    out = np.zeros((n, tq, e))
    for s in range(n):
        concat = np.zeros((tq, e))
        for hh in range(heads):
            rows = slice(hh * d, (hh + 1) * d)
            qp = q[s] @ wq[rows].T + bq[rows]
            kp = k[s] @ wk[rows].T + bk[rows]
            vp = v[s] @ wv[rows].T + bv[rows]
            for i in range(tq):
                scores = [float(np.dot(qp[i], kp[j])) / math.sqrt(d) for j in range(tk)]
                p = naive_softmax_1d(scores)
                concat[i, rows] = sum(p[j] * vp[j] for j in range(tk))
        out[s] = concat @ wo.T + bo
    return out


# --------------------------------------------------------------------------
# convolution vs naive
# --------------------------------------------------------------------------

# (N, C, O, spatial, kernel, stride, padding pairs, dilation, groups)
CONV_CASES = [
    # 1-d
    (2, 3, 4, (9,), (3,), (1,), ((0, 0),), (1,), 1),
    (2, 4, 6, (11,), (3,), (2,), ((1, 2),), (2,), 2),          # asymmetric pad, dilation, groups
    (1, 3, 2, (10,), (2,), (4,), ((0, 1),), (1,), 1),          # stride > kernel
    (2, 4, 4, (8,), (3,), (1,), ((1, 1),), (1,), 4),           # depthwise
    (1, 2, 3, (5,), (1,), (1,), ((0, 0),), (1,), 1),           # 1x1 kernel
    # 2-d
    (2, 3, 4, (7, 6), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    (1, 4, 4, (8, 9), (3, 2), (2, 1), ((0, 1), (1, 0)), (1, 1), 1),       # "same"-style asymmetric pad
    (2, 6, 4, (9, 8), (3, 3), (2, 3), ((2, 1), (0, 2)), (2, 1), 2),       # mixed stride, dilation, groups
    (1, 5, 5, (7, 7), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 5),       # depthwise
    (2, 3, 2, (8, 7), (2, 2), (3, 3), ((0, 0), (1, 1)), (1, 1), 1),       # stride > kernel
    (1, 4, 8, (6, 6), (3, 3), (1, 1), ((2, 2), (2, 2)), (2, 2), 4),       # depthwise multiplier 2
    # 3-d
    (1, 2, 4, (5, 4, 6), (3, 2, 3), (1, 2, 2), ((1, 1), (0, 1), (1, 0)), (1, 1, 2), 2),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{len(c[3])}d-k{c[4]}-s{c[5]}-p{c[6]}-d{c[7]}-g{c[8]}")
@pytest.mark.parametrize("bias", [True, False])
def test_conv_nd_matches_naive(case, bias):
    n, c, o, sp, kernel, stride, padding, dilation, groups = case
    r = rng(hash(case) % 2**32)
    x = r.standard_normal((n, c) + sp)
    w = r.standard_normal((o, c // groups) + kernel)
    b = r.standard_normal(o) if bias else None
    got = conv_nd(x, w, b, stride, padding, dilation, groups)
    want = naive_conv(x, w, b, stride, padding, dilation, groups)
    assert got.shape == want.shape
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


# (N, C_in, O, spatial, kernel, stride, padding, output_padding, dilation, groups)
CONVT_CASES = [
    (2, 3, 4, (5,), (3,), (1,), (0,), (0,), (1,), 1),
    (1, 4, 6, (6,), (3,), (2,), (1,), (1,), (1,), 2),
    (2, 2, 3, (4,), (2,), (3,), (0,), (2,), (1,), 1),              # stride > kernel, output_padding 2
    (1, 4, 4, (5,), (3,), (2,), (1,), (0,), (2,), 4),              # depthwise, dilation
    (2, 3, 2, (4, 5), (3, 3), (2, 2), (1, 1), (1, 1), (1, 1), 1),
    (1, 4, 6, (3, 4), (2, 3), (1, 2), (0, 1), (0, 1), (2, 1), 2),
    (1, 3, 3, (4, 3), (2, 2), (3, 4), (1, 0), (1, 3), (1, 1), 3),   # stride > kernel, depthwise
    (1, 2, 2, (3, 3, 2), (2, 3, 2), (2, 1, 2), (0, 1, 1), (1, 0, 0), (1, 1, 2), 1),
]


@pytest.mark.parametrize("case", CONVT_CASES, ids=lambda c: f"{len(c[3])}d-k{c[4]}-s{c[5]}-p{c[6]}-op{c[7]}-d{c[8]}-g{c[9]}")
@pytest.mark.parametrize("bias", [True, False])
def test_conv_transpose_nd_matches_naive(case, bias):
    n, c, o, sp, kernel, stride, padding, opad, dilation, groups = case
    r = rng(hash(case) % 2**32)
    x = r.standard_normal((n, c) + sp)
    w = r.standard_normal((c, o // groups) + kernel)
    b = r.standard_normal(o) if bias else None
    got = conv_transpose_nd(x, w, b, stride, padding, opad, dilation, groups)
    want = naive_conv_transpose(x, w, b, stride, padding, opad, dilation, groups)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_conv_transpose_is_adjoint_of_conv():
    """<conv(x), y> == <x, conv_transpose(y)> for the same weight (no bias)."""
    r = rng(7)
    x = r.standard_normal((2, 4, 9, 8))
    w = r.standard_normal((6, 2, 3, 2))
    stride, dilation, pad = (2, 3), (1, 2), (1, 0)
    y = conv_nd(x, w, None, stride, tuple((p, p) for p in pad), dilation, 2)
    g = r.standard_normal(y.shape)
    # output_padding recovers the input size lost to flooring.
    opad = tuple(xs - ((ys - 1) * s - 2 * p + d * (k - 1) + 1)
                 for xs, ys, s, p, d, k in zip(x.shape[2:], y.shape[2:], stride, pad, dilation, w.shape[2:]))
    # conv weight [O, C/g, K] reinterpreted as a transposed-conv weight [O, C/g, K]: in-channels = O.
    back = conv_transpose_nd(g, w, None, stride, pad, opad, dilation, 2)
    assert back.shape == x.shape
    np.testing.assert_allclose(np.vdot(y, g), np.vdot(x, back), rtol=1e-10)


def test_conv_errors():
    x = np.zeros((1, 4, 5, 5))
    with pytest.raises(ValueError, match="groups"):
        conv_nd(x, np.zeros((6, 2, 3, 3)), None, (1, 1), ((0, 0), (0, 0)), (1, 1), 3)
    with pytest.raises(ValueError, match="empty"):
        conv_nd(x, np.zeros((2, 4, 3, 3)), None, (1, 1), ((0, 0), (0, 0)), (3, 3), 1)
    with pytest.raises(ValueError, match="stride"):
        conv_nd(x, np.zeros((2, 4, 3, 3)), None, (1,), ((0, 0), (0, 0)), (1, 1), 1)
    with pytest.raises(ValueError, match="padding"):
        conv_nd(x, np.zeros((2, 4, 3, 3)), None, (1, 1), ((-1, 0), (0, 0)), (1, 1), 1)
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose_nd(x, np.zeros((4, 2, 3, 3)), None, (2, 2), (0, 0), (2, 0), (1, 1), 1)


# --------------------------------------------------------------------------
# pooling vs naive
# --------------------------------------------------------------------------

# (shape, kernel, stride, padding pairs)
POOL_CASES = [
    ((2, 3, 10), (3,), (2,), ((1, 1),)),
    ((1, 2, 9), (2,), (3,), ((0, 1),)),                     # stride > kernel, asymmetric
    ((2, 3, 7, 8), (3, 3), (2, 2), ((1, 1), (1, 1))),
    ((1, 2, 8, 7), (2, 3), (1, 2), ((0, 1), (1, 0))),        # asymmetric
    ((2, 2, 9, 9), (2, 2), (3, 3), ((1, 0), (0, 1))),        # stride > kernel
    ((1, 2, 6, 5), (3, 2), (3, 2), ((0, 0), (0, 0))),
    ((1, 2, 4, 5, 6), (2, 3, 2), (2, 1, 2), ((1, 0), (1, 1), (0, 1))),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{len(c[1])}d-k{c[1]}-s{c[2]}-p{c[3]}")
def test_max_pool_matches_naive(case):
    shape, kernel, stride, padding = case
    # All-negative input: a pad value of 0 instead of -inf would win and be caught.
    x = -np.abs(rng(1).standard_normal(shape)) - 1.0
    got = max_pool_nd(x, kernel, stride, padding)
    want = naive_pool(x, kernel, stride, padding, "max")
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{len(c[1])}d-k{c[1]}-s{c[2]}-p{c[3]}")
@pytest.mark.parametrize("include", [True, False])
def test_avg_pool_matches_naive(case, include):
    shape, kernel, stride, padding = case
    x = rng(2).standard_normal(shape)
    got = avg_pool_nd(x, kernel, stride, padding, count_include_pad=include)
    want = naive_pool(x, kernel, stride, padding, "avg", count_include_pad=include)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)


def test_avg_pool_count_include_pad_default_is_true():
    x = np.ones((1, 1, 3, 3))
    corner = avg_pool_nd(x, (3, 3), (1, 1), ((1, 1), (1, 1)))[0, 0, 0, 0]
    assert corner == pytest.approx(4 / 9)
    corner = avg_pool_nd(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)[0, 0, 0, 0]
    assert corner == pytest.approx(1.0)


# --------------------------------------------------------------------------
# recurrent layers vs naive
# --------------------------------------------------------------------------

def rnn_params(r, gates, f, h, n):
    s = 1 / math.sqrt(h)
    return (r.uniform(-s, s, (gates * h, f)), r.uniform(-s, s, (gates * h, h)),
            r.uniform(-s, s, gates * h), r.uniform(-s, s, gates * h), r.standard_normal((n, h)) * 0.5)


@pytest.mark.parametrize("n,t,f,h", [(2, 5, 3, 4), (1, 1, 2, 3), (3, 4, 5, 2)])
def test_rnn_matches_naive(n, t, f, h):
    r = rng(10 + t)
    x = r.standard_normal((n, t, f))
    w_ih, w_hh, b_ih, b_hh, h0 = rnn_params(r, 1, f, h, n)
    y, hT = rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0)
    ry, rh = naive_rnn("rnn", x, w_ih, w_hh, b_ih, b_hh, h0)
    np.testing.assert_allclose(y, ry, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(hT, rh, rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(y[:, -1], hT)


@pytest.mark.parametrize("n,t,f,h", [(2, 5, 3, 4), (1, 1, 2, 3), (3, 4, 5, 2)])
def test_lstm_matches_naive(n, t, f, h):
    r = rng(20 + t)
    x = r.standard_normal((n, t, f)) * 2
    w_ih, w_hh, b_ih, b_hh, h0 = rnn_params(r, 4, f, h, n)
    c0 = r.standard_normal((n, h))
    y, hT, cT = lstm_forward(x, w_ih, w_hh, b_ih, b_hh, h0, c0)
    ry, rh, rc = naive_rnn("lstm", x, w_ih, w_hh, b_ih, b_hh, h0, c0)
    np.testing.assert_allclose(y, ry, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(hT, rh, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(cT, rc, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("n,t,f,h", [(2, 5, 3, 4), (1, 1, 2, 3), (3, 4, 5, 2)])
def test_gru_matches_naive(n, t, f, h):
    r = rng(30 + t)
    x = r.standard_normal((n, t, f)) * 2
    w_ih, w_hh, b_ih, b_hh, h0 = rnn_params(r, 3, f, h, n)
    y, hT = gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0)
    ry, rh = naive_rnn("gru", x, w_ih, w_hh, b_ih, b_hh, h0)
    np.testing.assert_allclose(y, ry, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(hT, rh, rtol=RTOL, atol=ATOL)


def test_recurrent_defaults_are_zero_bias_and_state():
    r = rng(40)
    x = r.standard_normal((2, 3, 4))
    w_ih, w_hh, _, _, _ = rnn_params(r, 4, 4, 3, 2)
    z3, zs = np.zeros(12), np.zeros((2, 3))
    a = lstm_forward(x, w_ih, w_hh, None, None, None, None)
    b = lstm_forward(x, w_ih, w_hh, z3, z3, zs, zs)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_recurrent_extreme_inputs_stay_finite():
    """Gate pre-activations of +-1000 must saturate, not overflow to nan."""
    x = np.full((1, 2, 1), 1000.0)
    w_ih = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    w_hh = np.zeros((4, 1))
    y, h, c = lstm_forward(x, w_ih, w_hh, None, None, None, None)
    assert np.isfinite(y).all() and np.isfinite(c).all()
    # i = 1, f = 0, g = 1, o = 0  ->  c = 1, h = 0
    np.testing.assert_allclose(c, [[1.0]])
    np.testing.assert_allclose(h, [[0.0]], atol=1e-300)


# --------------------------------------------------------------------------
# attention and softmax vs naive
# --------------------------------------------------------------------------

def mha_params(r, e, ek, ev):
    return (r.standard_normal((e, e)) * 0.3, r.standard_normal(e) * 0.1,
            r.standard_normal((e, ek)) * 0.3, r.standard_normal(e) * 0.1,
            r.standard_normal((e, ev)) * 0.3, r.standard_normal(e) * 0.1,
            r.standard_normal((e, e)) * 0.3, r.standard_normal(e) * 0.1)


@pytest.mark.parametrize("n,tq,tk,e,ek,ev,heads", [
    (2, 3, 4, 8, 8, 8, 2),
    (1, 5, 2, 6, 4, 7, 3),
    (2, 1, 1, 4, 3, 5, 1),
    (1, 4, 6, 8, 5, 5, 8),   # head width 1
])
def test_mha_matches_naive(n, tq, tk, e, ek, ev, heads):
    r = rng(50 + e + heads)
    q = r.standard_normal((n, tq, e))
    k = r.standard_normal((n, tk, ek))
    v = r.standard_normal((n, tk, ev))
    params = mha_params(r, e, ek, ev)
    got = multi_head_attention(q, k, v, *params, heads)
    want = naive_mha(q, k, v, *params, heads)
    assert got.shape == (n, tq, e)
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def test_mha_errors():
    r = rng(0)
    q = r.standard_normal((1, 2, 6))
    params = mha_params(r, 6, 6, 6)
    with pytest.raises(ValueError, match="heads"):
        multi_head_attention(q, q, q, *params, 4)
    with pytest.raises(ValueError, match="wk"):
        multi_head_attention(q, q[..., :5], q, *params, 2)


@pytest.mark.parametrize("shape,axis", [((3, 5), -1), ((3, 5), 0), ((2, 3, 4), 1)])
def test_softmax_matches_naive(shape, axis):
    x = rng(60).standard_normal(shape) * 3
    got = softmax(x, axis)
    moved = np.moveaxis(x, axis, -1)
    want = np.array([naive_softmax_1d(list(row)) for row in moved.reshape(-1, moved.shape[-1])])
    want = np.moveaxis(want.reshape(moved.shape), -1, axis)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(log_softmax(x, axis), np.log(want), rtol=1e-13, atol=1e-14)


def test_softmax_is_stable():
    x = np.array([[1000.0, 1001.0, 999.0], [-1000.0, -1e4, -1000.0]])
    s = softmax(x, -1)
    ls = log_softmax(x, -1)
    assert np.isfinite(s).all() and np.isfinite(ls).all()
    np.testing.assert_allclose(s.sum(-1), 1.0)
    np.testing.assert_allclose(s[0], naive_softmax_1d([0.0, 1.0, -1.0]))
    # log_softmax keeps the very negative entry finite instead of log(0).
    np.testing.assert_allclose(ls[1], [-math.log(2), -9000.0 - math.log(2), -math.log(2)])


# --------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------

def _all_kernels(dtype):
    """Run every kernel on the same random data cast to dtype."""
    r = rng(70)
    x1 = r.standard_normal((2, 4, 7, 6)).astype(dtype)
    w = r.standard_normal((6, 2, 3, 3)).astype(dtype)
    b = r.standard_normal(6).astype(dtype)
    wt = r.standard_normal((4, 3, 3, 3)).astype(dtype)
    bt = r.standard_normal(6).astype(dtype)
    seq = r.standard_normal((2, 3, 4)).astype(dtype)
    lw = [a.astype(dtype) for a in rnn_params(r, 4, 4, 3, 2)]
    gw = [a.astype(dtype) for a in rnn_params(r, 3, 4, 3, 2)]
    mp = [a.astype(dtype) for a in mha_params(r, 4, 4, 4)]
    return {
        "conv": conv_nd(x1, w, b, (2, 1), ((1, 0), (1, 1)), (1, 1), 2),
        "convt": conv_transpose_nd(x1, wt, bt, (2, 2), (1, 1), (1, 0), (1, 1), 2),
        "max": max_pool_nd(x1, (3, 2), (2, 2), ((1, 1), (0, 1))),
        "avg": avg_pool_nd(x1, (3, 2), (2, 2), ((1, 1), (0, 1)), False),
        "rnn": rnn_forward(seq, lw[0][:3], lw[1][:3], lw[2][:3], lw[3][:3], lw[4])[0],
        "lstm": lstm_forward(seq, *lw, lw[4])[2],
        "gru": gru_forward(seq, *gw)[0],
        "mha": multi_head_attention(seq, seq, seq, *mp, 2),
        "softmax": softmax(x1, 1),
        "log_softmax": log_softmax(x1, 1),
    }


def test_dtype_is_kept():
    r32 = _all_kernels(np.float32)
    r64 = _all_kernels(np.float64)
    for name in r64:
        assert r32[name].dtype == np.float32, name
        assert r64[name].dtype == np.float64, name
        np.testing.assert_allclose(r32[name], r64[name], rtol=1e-4, atol=1e-5, err_msg=name)


def test_float32_input_with_float64_weights_stays_float32():
    x = np.ones((1, 2, 4), dtype=np.float32)
    w = np.ones((3, 2, 2), dtype=np.float64)
    assert conv_nd(x, w, None, (1,), ((0, 0),), (1,), 1).dtype == np.float32


# --------------------------------------------------------------------------
# against PyTorch (skipped when torch is not installed)
# --------------------------------------------------------------------------

TORCH_TOL = dict(rtol=1e-10, atol=1e-10)


def _torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{len(c[3])}d-k{c[4]}-s{c[5]}-p{c[6]}-d{c[7]}-g{c[8]}")
def test_conv_nd_matches_torch(case):
    torch = _torch()
    F = torch.nn.functional
    n, c, o, sp, kernel, stride, padding, dilation, groups = case
    r = rng(hash(case) % 2**32)
    x = r.standard_normal((n, c) + sp)
    w = r.standard_normal((o, c // groups) + kernel)
    b = r.standard_normal(o)
    # torch's conv only pads symmetrically: pad explicitly (F.pad lists the last axis first).
    flat = [p for pair in reversed(padding) for p in pair]
    xt = F.pad(torch.from_numpy(x), flat)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[len(sp)]
    want = conv(xt, torch.from_numpy(w), torch.from_numpy(b), stride=stride, dilation=dilation, groups=groups)
    got = conv_nd(x, w, b, stride, padding, dilation, groups)
    np.testing.assert_allclose(got, want.numpy(), **TORCH_TOL)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv_nd_matches_torch_same_padding():
    """PyTorch's padding='same' puts the odd extra cell on the high side."""
    torch = _torch()
    r = rng(80)
    x = r.standard_normal((1, 3, 9, 8))
    w = r.standard_normal((4, 3, 4, 3))
    dil = (1, 2)
    pads = []
    for k, d in zip(w.shape[2:], dil):
        total = d * (k - 1)
        pads.append((total // 2, total - total // 2))
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding="same", dilation=dil)
    got = conv_nd(x, w, None, (1, 1), tuple(pads), dil, 1)
    np.testing.assert_allclose(got, want.numpy(), **TORCH_TOL)


@pytest.mark.parametrize("case", CONVT_CASES, ids=lambda c: f"{len(c[3])}d-k{c[4]}-s{c[5]}-p{c[6]}-op{c[7]}-d{c[8]}-g{c[9]}")
def test_conv_transpose_nd_matches_torch(case):
    torch = _torch()
    F = torch.nn.functional
    n, c, o, sp, kernel, stride, padding, opad, dilation, groups = case
    r = rng(hash(case) % 2**32)
    x = r.standard_normal((n, c) + sp)
    w = r.standard_normal((c, o // groups) + kernel)
    b = r.standard_normal(o)
    convt = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[len(sp)]
    want = convt(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride, padding=padding,
                 output_padding=opad, groups=groups, dilation=dilation)
    got = conv_transpose_nd(x, w, b, stride, padding, opad, dilation, groups)
    np.testing.assert_allclose(got, want.numpy(), **TORCH_TOL)


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{len(c[1])}d-k{c[1]}-s{c[2]}-p{c[3]}")
def test_pools_match_torch(case):
    torch = _torch()
    F = torch.nn.functional
    shape, kernel, stride, padding = case
    nd = len(kernel)
    x = rng(3).standard_normal(shape)
    xt = torch.from_numpy(x)
    # Asymmetric padding: pad with -inf / 0 by hand, then pool unpadded.
    flat = [p for pair in reversed(padding) for p in pair]
    maxp = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
    avgp = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
    want = maxp(F.pad(xt, flat, value=-math.inf), kernel, stride)
    np.testing.assert_array_equal(max_pool_nd(x, kernel, stride, padding), want.numpy())
    want = avgp(F.pad(xt, flat), kernel, stride)
    np.testing.assert_allclose(avg_pool_nd(x, kernel, stride, padding), want.numpy(), **TORCH_TOL)


@pytest.mark.parametrize("include", [True, False])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_symmetric_pools_match_torch_padding(nd, include):
    """torch's own padding argument (symmetric, pad <= kernel / 2), both count_include_pad modes."""
    torch = _torch()
    F = torch.nn.functional
    shape = (2, 3) + (7, 6, 5)[:nd]
    kernel, stride, pad = (3, 2, 3)[:nd], (2, 1, 2)[:nd], (1, 1, 1)[:nd]
    x = rng(4).standard_normal(shape)
    xt = torch.from_numpy(x)
    maxp = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]
    avgp = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]
    pairs = tuple((p, p) for p in pad)
    np.testing.assert_array_equal(max_pool_nd(x, kernel, stride, pairs), maxp(xt, kernel, stride, pad).numpy())
    want = avgp(xt, kernel, stride, pad, count_include_pad=include)
    np.testing.assert_allclose(avg_pool_nd(x, kernel, stride, pairs, include), want.numpy(), **TORCH_TOL)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_recurrent_matches_torch(kind):
    torch = _torch()
    n, t, f, h = 3, 6, 5, 4
    cls = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    layer = cls(f, h, batch_first=True).double()
    r = rng(90)
    x = r.standard_normal((n, t, f))
    h0 = r.standard_normal((n, h))
    c0 = r.standard_normal((n, h))
    p = [getattr(layer, name).detach().numpy() for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    with torch.no_grad():
        if kind == "lstm":
            ty, (th, tc) = layer(torch.from_numpy(x), (torch.from_numpy(h0)[None], torch.from_numpy(c0)[None]))
            y, hT, cT = lstm_forward(x, *p, h0, c0)
            np.testing.assert_allclose(cT, tc[0].numpy(), **TORCH_TOL)
        else:
            ty, th = layer(torch.from_numpy(x), torch.from_numpy(h0)[None])
            y, hT = (rnn_forward if kind == "rnn" else gru_forward)(x, *p, h0)
    np.testing.assert_allclose(y, ty.numpy(), **TORCH_TOL)
    np.testing.assert_allclose(hT, th[0].numpy(), **TORCH_TOL)


@pytest.mark.parametrize("e,ek,ev,heads", [(8, 8, 8, 2), (6, 4, 5, 3), (8, 3, 3, 8)])
def test_mha_matches_torch(e, ek, ev, heads):
    torch = _torch()
    r = rng(100 + e)
    n, tq, tk = 2, 3, 5
    q = r.standard_normal((n, tq, e))
    k = r.standard_normal((n, tk, ek))
    v = r.standard_normal((n, tk, ev))
    wq, bq, wk, bk, wv, bv, wo, bo = mha_params(r, e, ek, ev)
    kd = None if ek == e else ek
    vd = None if ev == e else ev
    layer = torch.nn.MultiheadAttention(e, heads, batch_first=True, kdim=kd, vdim=vd).double()
    with torch.no_grad():
        if layer._qkv_same_embed_dim:
            layer.in_proj_weight.copy_(torch.from_numpy(np.concatenate([wq, wk, wv])))
        else:
            layer.q_proj_weight.copy_(torch.from_numpy(wq))
            layer.k_proj_weight.copy_(torch.from_numpy(wk))
            layer.v_proj_weight.copy_(torch.from_numpy(wv))
        layer.in_proj_bias.copy_(torch.from_numpy(np.concatenate([bq, bk, bv])))
        layer.out_proj.weight.copy_(torch.from_numpy(wo))
        layer.out_proj.bias.copy_(torch.from_numpy(bo))
        want, _ = layer(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v), need_weights=False)
    got = multi_head_attention(q, k, v, wq, bq, wk, bk, wv, bv, wo, bo, heads)
    np.testing.assert_allclose(got, want.numpy(), **TORCH_TOL)


def test_softmax_matches_torch():
    torch = _torch()
    x = rng(110).standard_normal((3, 4, 5)) * 10
    for axis in range(3):
        np.testing.assert_allclose(softmax(x, axis), torch.softmax(torch.from_numpy(x), axis).numpy(), **TORCH_TOL)
        np.testing.assert_allclose(log_softmax(x, axis), torch.log_softmax(torch.from_numpy(x), axis).numpy(),
                                   **TORCH_TOL)


def test_float32_matches_torch_float32():
    """The float32 path agrees with torch's float32 to float32 precision."""
    torch = _torch()
    r = rng(120)
    x = r.standard_normal((2, 4, 10, 9)).astype(np.float32)
    w = r.standard_normal((8, 2, 3, 3)).astype(np.float32)
    b = r.standard_normal(8).astype(np.float32)
    got = conv_nd(x, w, b, (2, 1), ((1, 1), (2, 2)), (1, 2), 2)
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b),
                                      stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)
