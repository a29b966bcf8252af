"""gelu(x, approximate="none"): x·Φ(x), exactly (erf) or by PyTorch's tanh approximation."""
from dataclasses import replace
from math import pi, sqrt

from .base import Attr
from .common import unary

K = sqrt(2.0 / pi)
C = 0.044715


def value_np(x, a):
    from ._numpy import np
    from .erf import erf_np
    if a["approximate"] == "tanh":
        return (0.5 * x * (1.0 + np.tanh(K * (x + C * x ** 3)))).astype(x.dtype)
    return (0.5 * x * (1.0 + erf_np(x / sqrt(2.0)))).astype(x.dtype)


def decompose(e, ins, out_types, a):
    """½x(1 + erf(x/√2)), or ½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    from ._prims import const
    x = ins[0]
    if a["approximate"] == "tanh":
        inner = e("mul", const(e, K, x), e("add", x, e("mul", const(e, C, x), e("mul", x, e("mul", x, x)))))
        s = e("tanh", inner)
    else:
        s = e("erf", e("mul", x, const(e, 1.0 / sqrt(2.0), x)))
    return [e("mul", e("mul", const(e, 0.5, x), x), e("add", const(e, 1.0, x), s))]


def vjp(e, ins, outs, gs, a):
    """Φ(x) + x·φ(x) exactly; for tanh, ½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²)."""
    x = ins[0]
    c = lambda v: e.const(v, x.type.dtype)  # noqa: E731
    if a["approximate"] == "tanh":
        t = e("tanh", e("mul", c(K), e("add", x, e("mul", c(C), e("mul", x, e("mul", x, x))))))
        slope = e("mul", c(K), e("add", c(1.0), e("mul", c(3 * C), e("mul", x, x))))
        d = e("add", e("mul", c(0.5), e("add", c(1.0), t)),
              e("mul", e("mul", c(0.5), x), e("mul", e("sub", c(1.0), e("mul", t, t)), slope)))
    else:
        cdf = e("mul", c(0.5), e("add", c(1.0), e("erf", e("mul", x, c(1.0 / sqrt(2.0))))))
        pdf = e("mul", c(1.0 / sqrt(2.0 * pi)), e("exp", e("mul", c(-0.5), e("mul", x, x))))
        d = e("add", cdf, e("mul", x, pdf))
    return [e("mul", gs[0], d)]


OP = replace(unary("gelu", value_np, "x·Φ(x): exact (erf), or the tanh approximation",
                   (Attr("approximate", "choice:none|tanh", "none"),), examples=("x -> gelu",), vjp=vjp),
             decompose=decompose)
