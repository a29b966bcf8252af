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


OP = Op(name="pair_loss_grad", doc="the gradient of contrastive or triplet loss", inputs=("g", "a", "b", "c"),
        attrs=(Attr("loss", "choice:contrastive|triplet"), Attr("reduction", "choice:mean|sum", "mean"),
               Attr("margin", "nonneg_float", 1.0)),
        infer=infer, reference=reference, outputs=lambda a: 3, category="gradient", internal=True)
