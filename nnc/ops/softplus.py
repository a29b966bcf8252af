"""softplus(x, beta=1, threshold=20) = log(1 + exp(beta·x))/beta, and x where beta·x > threshold (PyTorch)."""
from dataclasses import replace

from .base import Attr
from .common import unary


def value_np(x, a):
    from ._numpy import np
    z = a["beta"] * x
    return np.where(z > a["threshold"], x, np.logaddexp(0.0, z) / a["beta"]).astype(x.dtype)


def decompose(e, ins, out_types, a):
    """where(z > threshold, x, (max(z, 0) + log(1 + exp(−|z|)))/beta), z = beta·x: exp never overflows."""
    from ._prims import const
    x = ins[0]
    z = e("mul", const(e, a["beta"], x), x)
    soft = e("add", e("maximum", z, const(e, 0.0, x)),
             e("log", e("add", const(e, 1.0, x), e("exp", e("neg", e("abs", z))))))
    return [e("where", e("compare", z, const(e, a["threshold"], x), kind="gt"), x,
              e("div", soft, const(e, a["beta"], x)))]


def vjp(e, ins, outs, gs, a):
    """sigmoid(beta·x), 1 above the threshold."""
    x = ins[0]
    z = e("mul", e.const(a["beta"], x.type.dtype), x)
    above = e("compare", z, e.const(a["threshold"], x.type.dtype), kind="gt")
    d = e("where", above, e.const(1.0, x.type.dtype), e("sigmoid", z))
    return [e("mul", gs[0], d)]


OP = replace(unary("softplus", value_np, "log(1 + exp(beta·x))/beta, linear above the threshold",
                   (Attr("beta", "pos_float", 1.0), Attr("threshold", "float", 20.0)),
                   examples=("x -> softplus",), vjp=vjp), decompose=decompose)
