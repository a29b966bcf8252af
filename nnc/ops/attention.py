"""attention(query, keys, values, heads): multi-head attention as torch.nn.MultiheadAttention."""
from ..ir.types import TensorType, dim_str, eval_dim
from .base import Attr, Op, ParamSpec, ShapeError, require_float
from .common import known


def parts(ins):
    """(q, k, v and the eight projections, lengths or None): lengths, when given, is the node's 4th input."""
    ins = list(ins)
    if len(ins) == 12:
        return ins[:3] + ins[4:], ins[3]
    return ins, None


def infer(ins, a):
    q, k, v = ins[:3]
    if len(ins) == 4:
        lengths = ins[3]
        if not lengths.is_int or lengths.shape != (q.shape[0],):
            raise ShapeError(f"attention's lengths are one integer per sample, [{dim_str(q.shape[0])}], found "
                             f"{lengths}", blame="initial", code="E0203" if lengths.is_int else "E0202",
                             label=f"this is {lengths}", hint="the number of keys that are not padding, per sample")
    for t, arg in ((q, "query"), (k, "keys"), (v, "values")):
        require_float(t, arg, "attention")
        if t.rank != 3:
            raise ShapeError(f"attention expects {arg} as [N, T, E], found {t}", blame=arg, code="E0203")
        known(t.shape[2], "the feature axis", "attention", blame=arg)
    e = q.shape[2]
    if k.shape[1] != v.shape[1]:
        raise ShapeError(f"keys and values must have the same length, found {k} and {v}", blame="values",
                         code="E0203", label=f"{dim_str(v.shape[1])} steps, keys have {dim_str(k.shape[1])}")
    for t, arg in ((k, "keys"), (v, "values")):
        if t.shape[0] != q.shape[0]:
            raise ShapeError(f"{arg} must have the query's batch {dim_str(q.shape[0])}, found {t}", blame=arg,
                             code="E0203")
    if e % a["heads"]:
        raise ShapeError(f"attention with {a['heads']} heads needs the query's {e} features divisible by it",
                         blame="heads", code="E0303")
    return [q]


def params(ins, a):
    e, ek, ev = ins[0].shape[2], ins[1].shape[2], ins[2].shape[2]
    out = []
    for role, fan_in in (("query", e), ("key", ek), ("value", ev), ("out", e)):
        out.append(ParamSpec(f"{role}.weight", (e, fan_in), "xavier_uniform", fan_in=fan_in, fan_out=e, decay=True))
        out.append(ParamSpec(f"{role}.bias", (e,), "zeros"))
    return out


def reference(arrays, a, ctx):
    from ._attention_kernels import multi_head_attention
    core, lengths = parts(arrays)
    return [multi_head_attention(*core, a["heads"], a.get("causal", False), lengths)]


def macs(ins, outs, a):
    q, k, v = ins
    n, tq, tk = eval_dim(q.shape[0]), eval_dim(q.shape[1]), eval_dim(k.shape[1])
    e, ek, ev = q.shape[2], k.shape[2], v.shape[2]
    return n * (tq * e * e + tk * ek * e + tk * ev * e + 2 * tq * tk * e + tq * e * e)


def vjp(e, ins, outs, gs, a):
    core, lengths = parts(ins)
    extra = [lengths] if lengths is not None else []
    grads = list(e("attention_backward", *core, gs[0], *extra, heads=a["heads"], causal=a.get("causal", False)))
    return grads[:3] + [None] * len(extra) + grads[3:]


def heads_forward(e, ins, heads: int, causal: bool = False, lengths=None):
    """The projections Q, K, V [N, T, E] and, per head h (features h·D..(h+1)·D), its slices of Q, K, V and its
    attention weights softmax(Q_h K_hᵀ / √D) [N, Tq, Tk]. Heads are slices, not a reshape to [N, H, T, D], so
    symbolic N and T need no shape attribute."""
    import math
    from ._prims import const
    q, k, v, wq, bq, wk, bk, wv, bv = ins[:9]

    def linear(x, w, b):
        return e("add", e("matmul", x, e("transpose", w, perm=(1, 0))), b)

    qp, kp, vp = linear(q, wq, bq), linear(k, wk, bk), linear(v, wv, bv)
    d = q.type.shape[2] // heads
    scale = const(e, 1.0 / math.sqrt(d), q)
    per_head = []
    for h in range(heads):
        part = [e("slice", t, start=h * d, end=(h + 1) * d, axis=2) for t in (qp, kp, vp)]
        scores = e("mul", e("matmul", part[0], e("transpose", part[1], perm=(0, 2, 1))), scale)
        if causal:
            scores = causal_mask(e, scores)
        if lengths is not None:
            scores = padding_mask(e, scores, lengths)
        per_head.append((*part, e("softmax", scores, axis=-1)))
    return (qp, kp, vp), per_head, scale


def causal_mask(e, scores):
    """scores [N, Tq, Tk] with −inf where key j > query i: softmax then gives those keys weight 0."""
    from ._prims import const, full_like
    rows = e("reshape", e("iota", scores, axis=1), shape=(-1, 1))
    cols = e("reshape", e("iota", scores, axis=2), shape=(1, -1))
    later = e("compare", cols, rows, kind="gt")
    return e("where", later, full_like(e, float("-inf"), scores), scores)


def padding_mask(e, scores, lengths):
    """scores [N, Tq, Tk] with −inf at the keys j ≥ lengths[n] of each sample n."""
    from ._prims import full_like
    keys = e("reshape", e("iota", scores, axis=2), shape=(1, 1, -1))
    limit = e("reshape", lengths if lengths.type.dtype == "i64" else e("cast", lengths, dtype="i64"), shape=(-1, 1, 1))
    return e("where", e("compare", keys, limit, kind="ge"), full_like(e, float("-inf"), scores), scores)


def decompose(e, ins, out_types, a):
    """Per head softmax(Q_h K_hᵀ/√D)·V_h (keys after the query masked when causal), the heads concatenated
    and projected by wo."""
    core, lengths = parts(ins)
    _, per_head, _ = heads_forward(e, core, a["heads"], a.get("causal", False), lengths)
    heads = [e("matmul", attn, vh) for _, _, vh, attn in per_head]
    ctx = heads[0] if len(heads) == 1 else e("concat", *heads, axis=2)
    wo, bo = core[9], core[10]
    return [e("add", e("matmul", ctx, e("transpose", wo, perm=(1, 0))), bo)]


OP = Op(name="attention", doc="multi-head attention; the tensor through -> is the query",
        inputs=("query", "keys", "values"), optional_inputs=("lengths",),
        attrs=(Attr("heads", "pos_int", 1),
               Attr("causal", "bool", False, "query i attends to keys 0..i only (a decoder's self-attention)")),
        infer=infer, params=params,
        reference=reference, macs=macs, category="layer", vjp=vjp,
        examples=("x -> attention(memory, memory, heads=4)", "x -> attention(x, x, heads=4, causal=true)"),
        decompose=decompose)
