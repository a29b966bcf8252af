"""selu(x) = scale·(x where x > 0, alpha·(exp(x) − 1) elsewhere), PyTorch's self-normalising constants."""
from dataclasses import replace

from .common import unary

ALPHA = 1.6732632423543772848170429916717
SCALE = 1.0507009873554804934193349852946


def value_np(x, a):
    from ._numpy import np
    return (SCALE * np.where(x > 0, x, ALPHA * np.expm1(np.minimum(x, 0)))).astype(x.dtype)


def decompose(e, ins, out_types, a):
    """scale·where(x > 0, x, alpha·(exp(min(x, 0)) − 1))."""
    from ._prims import const
    x = ins[0]
    zero = const(e, 0.0, x)
    below = e("mul", const(e, ALPHA, x), e("sub", e("exp", e("minimum", x, zero)), const(e, 1.0, x)))
    return [e("mul", const(e, SCALE, x), e("where", e("compare", x, zero, kind="gt"), x, below))]


def vjp(e, ins, outs, gs, a):
    """scale where x > 0, scale·alpha·exp(x) elsewhere."""
    x = ins[0]
    c = lambda v: e.const(v, x.type.dtype)  # noqa: E731
    d = e("where", e("compare", x, c(0.0), kind="gt"), c(SCALE),
          e("mul", c(SCALE * ALPHA), e("exp", e("minimum", x, c(0.0)))))
    return [e("mul", gs[0], d)]


OP = replace(unary("selu", value_np, "scale·elu(x, alpha) with PyTorch's fixed constants", examples=("x -> selu",),
                   vjp=vjp), decompose=decompose)
