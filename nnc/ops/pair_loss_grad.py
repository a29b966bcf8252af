"""pair_loss_grad(g, a, b, c): gradients of contrastive (a, b, same) or triplet (anchor, positive, negative)."""
from ._numpy import np
from ..ir.types import TensorType
from .base import Attr, Op


def infer(ins, a):
    return [TensorType(t.dtype, t.shape) for t in ins[1:]]


def _dist(u, v):
    diff = (u - v).reshape(u.shape[0], -1)
    d = np.sqrt((diff ** 2).sum(axis=1))
    return diff, d


def reference(arrays, a, ctx):
    g, x, y, z = arrays
    n = x.shape[0]
    scale = g / (n if a["reduction"] == "mean" else 1)
    m = a["margin"]
    if a["loss"] == "contrastive":
        diff, d = _dist(x, y)
        safe = np.where(d > 0, d, 1)
        # d/dx of ½[s·d² + (1−s)·max(0, m−d)²] = s·diff − (1−s)·max(0, m−d)·diff/d
        coef = z - (1 - z) * np.maximum(0, m - d) / safe * (d > 0)
        gx = (coef[:, None] * diff).reshape(x.shape) * scale
        gs = (0.5 * (d ** 2 - np.maximum(0, m - d) ** 2)) * scale
        return [gx.astype(x.dtype), (-gx).astype(y.dtype), gs.astype(z.dtype)]
    dp_diff, dp = _dist(x, y)
    dn_diff, dn = _dist(x, z)
    active = (dp - dn + m > 0).astype(x.dtype)
    up = dp_diff / np.where(dp > 0, dp, 1)[:, None]
    un = dn_diff / np.where(dn > 0, dn, 1)[:, None]
    ga = (active[:, None] * (up - un)).reshape(x.shape) * scale
    gp = (active[:, None] * -up).reshape(y.shape) * scale
    gn = (active[:, None] * un).reshape(z.shape) * scale
    return [ga.astype(x.dtype), gp.astype(y.dtype), gn.astype(z.dtype)]


def distance(e, u, v):
    """(u − v) as [N, features] and its row norms d [N]."""
    from ._prims import rows
    diff = rows(e, e("sub", u, v))
    return diff, e("sqrt", e("sum", e("mul", diff, diff), axis=(1,)))


def decompose(e, ins, out_types, a):
    """The reference's formulas in primitives: division by a distance only where it is positive."""
    from ._prims import const, count, expand, step_mask
    g, x, y, z = ins
    scale = g if a["reduction"] == "sum" else e("div", g, count(e, x, (0,), g))
    m, zero, one = const(e, a["margin"], x), const(e, 0.0, x), const(e, 1.0, x)

    def safe(d):
        return e("where", e("compare", d, zero, kind="gt"), d, e("broadcast_to", one, d))

    def column(v, diff):
        return expand(e, v, (1,), diff)

    def back(v, like):
        return e("mul", e("reshape_like", v, like), scale)

    if a["loss"] == "contrastive":
        diff, d = distance(e, x, y)
        gap = e("maximum", e("sub", m, d), zero)
        coef = e("sub", z, e("mul", e("div", e("mul", e("sub", one, z), gap), safe(d)), step_mask(e, d)))
        gx = back(e("mul", column(coef, diff), diff), x)
        gs = e("mul", e("mul", const(e, 0.5, x), e("sub", e("mul", d, d), e("mul", gap, gap))), scale)
        return [gx, e("neg", gx), gs]
    dp_diff, dp = distance(e, x, y)
    dn_diff, dn = distance(e, x, z)
    active = column(step_mask(e, e("add", e("sub", dp, dn), m)), dp_diff)
    up = e("div", dp_diff, column(safe(dp), dp_diff))
    un = e("div", dn_diff, column(safe(dn), dn_diff))
    return [back(e("mul", active, e("sub", up, un)), x), back(e("mul", active, e("neg", up)), y),
            back(e("mul", active, un), z)]


OP = Op(name="pair_loss_grad", doc="the gradient of contrastive or triplet loss", inputs=("g", "a", "b", "c"),
        attrs=(Attr("loss", "choice:contrastive|triplet"), Attr("reduction", "choice:mean|sum", "mean"),
               Attr("margin", "nonneg_float", 1.0)),
        infer=infer, reference=reference, outputs=lambda a: 3, category="gradient", internal=True, decompose=decompose)
