"""numpy kernels of multi-head attention, forward and backward (ops attention, attention_backward).
Shared rules: ``_kernel_common``."""
from __future__ import annotations

import math

from ._kernel_common import (
    _as,
    _check_grad,
    _compute_dtype,
)
from ._numpy import np
from ._softmax_kernels import softmax, softmax_backward

__all__ = [
    "multi_head_attention",
    "multi_head_attention_backward",
]


def _check_attention(fn: str, q, k, v, wq, bq, wk, bk, wv, bv, wo, bo, heads: int) -> tuple[int, int, int]:
    """Check attention's inputs and weights against each other; return (N, Tq, E)."""
    if q.ndim != 3 or k.ndim != 3 or v.ndim != 3:
        raise ValueError(f"{fn}: q, k, v must be 3-d, got {q.shape}, {k.shape}, {v.shape}")
    n, tq, e = q.shape
    if k.shape[0] != n or v.shape[0] != n or k.shape[1] != v.shape[1]:
        raise ValueError(f"{fn}: k {k.shape} and v {v.shape} must be [N, Tk, *] with N = {n}")
    if heads < 1 or e % heads:
        raise ValueError(f"{fn}: heads={heads} must divide the embedding size {e}")
    expected = {"wq": (wq, (e, e)), "wk": (wk, (e, k.shape[2])), "wv": (wv, (e, v.shape[2])), "wo": (wo, (e, e))}
    for label, (arr, shape) in expected.items():
        if arr.shape != shape:
            raise ValueError(f"{fn}: {label} must have shape {shape}, got {arr.shape}")
    for label, arr in (("bq", bq), ("bk", bk), ("bv", bv), ("bo", bo)):
        if arr is not None and arr.shape != (e,):
            raise ValueError(f"{fn}: {label} must have shape ({e},), got {arr.shape}")
    return n, tq, e


def _masked(scores: np.ndarray, causal: bool, lengths: np.ndarray | None = None) -> np.ndarray:
    """Scores [N, H, Tq, Tk] with −inf where key j comes after query i (causal) or is padding (j ≥ lengths[n]),
    so softmax gives those keys weight 0."""
    if causal:
        later = np.triu(np.ones(scores.shape[-2:], dtype=bool), k=1)
        scores = np.where(later, scores.dtype.type(-np.inf), scores)
    if lengths is not None:
        padding = np.arange(scores.shape[-1])[None, :] >= np.asarray(lengths, dtype=np.int64).reshape(-1, 1)
        scores = np.where(padding[:, None, None, :], scores.dtype.type(-np.inf), scores)
    return scores


def multi_head_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                         wq: np.ndarray, bq: np.ndarray | None,
                         wk: np.ndarray, bk: np.ndarray | None,
                         wv: np.ndarray, bv: np.ndarray | None,
                         wo: np.ndarray, bo: np.ndarray | None,
                         heads: int, causal: bool = False, lengths: np.ndarray | None = None) -> np.ndarray:
    """Multi-head attention as torch.nn.MultiheadAttention(batch_first=True, kdim, vdim).

    q is ``[N, Tq, E]``, k ``[N, Tk, Ek]``, v ``[N, Tk, Ev]``; the projections
    are ``wq [E, E]``, ``wk [E, Ek]``, ``wv [E, Ev]``, ``wo [E, E]`` with
    ``[E]`` biases (None means no bias), applied as ``x W^T + b`` like
    nn.Linear. Each of the ``heads`` heads of width ``D = E / heads`` computes
    ``softmax(Q K^T / sqrt(D)) V`` over the keys; the heads are concatenated
    and projected by ``wo``. ``causal``: query i attends to keys 0..i only (PyTorch's is_causal, aligned at
    the top left); ``lengths`` [N]: sample n attends to its first lengths[n] keys only (padding); no
    dropout. Returns ``[N, Tq, E]``
    (PyTorch's first output; the averaged attention weights are not returned).
    """
    dtype = _compute_dtype(q)
    q, k, v, wq, wk, wv, wo = (np.asarray(a, dtype=dtype) for a in (q, k, v, wq, wk, wv, wo))
    bq, bk, bv, bo = (_as(a, dtype) for a in (bq, bk, bv, bo))
    heads = int(heads)
    n, tq, e = _check_attention("multi_head_attention", q, k, v, wq, bq, wk, bk, wv, bv, wo, bo, heads)

    def linear(a: np.ndarray, wt: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        out = a @ wt.T
        return out if bias is None else out + bias

    d = e // heads
    tk = k.shape[1]
    qh = linear(q, wq, bq).reshape(n, tq, heads, d).transpose(0, 2, 1, 3)   # [N, H, Tq, D]
    kh = linear(k, wk, bk).reshape(n, tk, heads, d).transpose(0, 2, 1, 3)   # [N, H, Tk, D]
    vh = linear(v, wv, bv).reshape(n, tk, heads, d).transpose(0, 2, 1, 3)   # [N, H, Tk, D]
    scores = (qh @ kh.transpose(0, 1, 3, 2)) * dtype.type(1.0 / math.sqrt(d))  # [N, H, Tq, Tk]
    attn = softmax(_masked(scores, causal, lengths), axis=-1)
    ctx = (attn @ vh).transpose(0, 2, 1, 3).reshape(n, tq, e)              # [N, Tq, E]
    return np.ascontiguousarray(linear(ctx, wo, bo), dtype=dtype)


def multi_head_attention_backward(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                                  wq: np.ndarray, bq: np.ndarray | None,
                                  wk: np.ndarray, bk: np.ndarray | None,
                                  wv: np.ndarray, bv: np.ndarray | None,
                                  wo: np.ndarray, bo: np.ndarray | None,
                                  heads: int, g: np.ndarray, causal: bool = False,
                                  lengths: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Gradients of ``multi_head_attention(q, k, v, wq, bq, wk, bk, wv, bv, wo, bo, heads)``.

    g is the gradient w.r.t. the output ``[N, Tq, E]``. The forward is
    recomputed (projections, per-head scores, softmax, context), then the
    chain is reversed with batched matmuls: output projection, ``attn @ V``,
    ``softmax_backward`` over the keys, the scaled ``Q K^T`` and finally the
    three input projections. Returns a dict with keys "q", "k", "v", "wq",
    "bq", "wk", "bk", "wv", "bv", "wo", "bo", each shaped like that argument
    (a bias given as None gets the gradient of the zero bias it stood for).
    When the same array is passed as q, k and v (self-attention) the caller
    adds the three input gradients.
    """
    dtype = _compute_dtype(q)
    q, k, v, wq, wk, wv, wo = (np.asarray(a, dtype=dtype) for a in (q, k, v, wq, wk, wv, wo))
    bq, bk, bv, bo = (_as(a, dtype) for a in (bq, bk, bv, bo))
    heads = int(heads)
    n, tq, e = _check_attention("multi_head_attention_backward", q, k, v, wq, bq, wk, bk, wv, bv, wo, bo, heads)
    g = _check_grad("multi_head_attention_backward", g, (n, tq, e), dtype)

    def linear(a: np.ndarray, wt: np.ndarray, bias: np.ndarray | None) -> np.ndarray:
        out = a @ wt.T
        return out if bias is None else out + bias

    def split(a: np.ndarray) -> np.ndarray:                   # [N, T, E] -> [N, H, T, D]
        return a.reshape(a.shape[0], a.shape[1], heads, d).transpose(0, 2, 1, 3)

    def merge(a: np.ndarray) -> np.ndarray:                   # [N, H, T, D] -> [N, T, E]
        return a.transpose(0, 2, 1, 3).reshape(a.shape[0], a.shape[2], e)

    d = e // heads
    scale = dtype.type(1.0 / math.sqrt(d))
    qh, kh, vh = split(linear(q, wq, bq)), split(linear(k, wk, bk)), split(linear(v, wv, bv))
    attn = softmax(_masked((qh @ kh.transpose(0, 1, 3, 2)) * scale, causal, lengths), axis=-1)  # [N, H, Tq, Tk]
    ctx = merge(attn @ vh)                                                    # [N, Tq, E]

    dctx = split(g @ wo)                                                      # [N, H, Tq, D]
    dattn = dctx @ vh.transpose(0, 1, 3, 2)                                   # [N, H, Tq, Tk]
    dvh = attn.transpose(0, 1, 3, 2) @ dctx                                   # [N, H, Tk, D]
    dscores = softmax_backward(attn, dattn, axis=-1) * scale
    dqh = dscores @ kh                                                        # [N, H, Tq, D]
    dkh = dscores.transpose(0, 1, 3, 2) @ qh                                  # [N, H, Tk, D]

    out: dict[str, np.ndarray] = {}
    for name, inp, wt, dproj in (("q", q, wq, merge(dqh)), ("k", k, wk, merge(dkh)), ("v", v, wv, merge(dvh))):
        out[name] = np.ascontiguousarray(dproj @ wt, dtype=dtype)
        out["w" + name] = np.einsum("nte,ntf->ef", dproj, inp, optimize=True).astype(dtype, copy=False)
        out["b" + name] = dproj.sum(axis=(0, 1)).astype(dtype, copy=False)
    out["wo"] = np.einsum("nte,ntf->ef", g, ctx, optimize=True).astype(dtype, copy=False)
    out["bo"] = g.sum(axis=(0, 1)).astype(dtype, copy=False)
    return {key: out[key] for key in ("q", "k", "v", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")}
