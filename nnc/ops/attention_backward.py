"""attention_backward(q, k, v, wq, bq, wk, bk, wv, bv, wo, bo, g): the gradients of multi-head attention."""
from .base import Attr, Op

ORDER = ("q", "k", "v", "wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")


def reference(arrays, a, ctx):
    from ._attention_kernels import multi_head_attention_backward
    lengths = arrays[12] if len(arrays) > 12 else None
    d = multi_head_attention_backward(*arrays[:11], a["heads"], arrays[11], a.get("causal", False), lengths)
    return [d[name] for name in ORDER]


def decompose(e, ins, out_types, a):
    """The forward recomputed per head, then the chain reversed with matmuls and softmax's backward."""
    from .attention import heads_forward
    q, k, v, wq, bq, wk, bk, wv, bv, wo, bo, g = ins[:12]
    heads = a["heads"]
    _, per_head, scale = heads_forward(e, ins[:12], heads, a.get("causal", False), ins[12] if len(ins) > 12 else None)
    d = q.type.shape[2] // heads
    t = lambda x: e("transpose", x, perm=(0, 2, 1))  # noqa: E731
    join = lambda xs: xs[0] if len(xs) == 1 else e("concat", *xs, axis=2)  # noqa: E731
    dctx = e("matmul", g, wo)
    dq, dk, dv, ctx = [], [], [], []
    for h, (qh, kh, vh, attn) in enumerate(per_head):
        dctx_h = e("slice", dctx, start=h * d, end=(h + 1) * d, axis=2)
        dattn = e("matmul", dctx_h, t(vh))
        dv.append(e("matmul", t(attn), dctx_h))
        dot = e("sum", e("mul", dattn, attn), axis=(2,), keepdims=True)
        dscores = e("mul", e("mul", attn, e("sub", dattn, dot)), scale)
        dq.append(e("matmul", dscores, kh))
        dk.append(e("matmul", t(dscores), qh))
        ctx.append(e("matmul", attn, vh))
    out = {}
    for name, x, w, dproj in (("q", q, wq, join(dq)), ("k", k, wk, join(dk)), ("v", v, wv, join(dv))):
        out[name] = e("matmul", dproj, w)
        out["w" + name] = _weight_grad(e, dproj, x)
        out["b" + name] = e("sum", dproj, axis=(0, 1))
    out["wo"] = _weight_grad(e, g, join(ctx))
    out["bo"] = e("sum", g, axis=(0, 1))
    return [out[name] for name in ORDER]


def _weight_grad(e, dy, x):
    """Σ over batch and time of dyᵀ·x: [E, F]."""
    rows = lambda z: e("reshape", z, shape=(-1, z.type.shape[2]))  # noqa: E731
    return e("matmul", e("transpose", rows(dy), perm=(1, 0)), rows(x))


OP = Op(name="attention_backward", doc="the gradients of attention", inputs=ORDER + ("g",), optional_inputs=("lengths",),
        attrs=(Attr("heads", "pos_int"), Attr("causal", "bool", False)), infer=lambda ins, a: list(ins[:11]),
        reference=reference,
        outputs=lambda a: 11, category="gradient", internal=True, decompose=decompose)
