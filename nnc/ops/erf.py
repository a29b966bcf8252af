"""erf(x): the error function, elementwise (exact gelu is written in it).

Its decomposition and its numpy kernel evaluate erfc(|x|) by the Chebyshev
expansion of Numerical Recipes (3rd ed., §6.2.2), 28 coefficients, accurate
to a few units in the last place of float64 (tests compare with math.erf);
then erf(x) = sign(x)·(1 − erfc(|x|)). The primitives are abs, div, mul,
add, sub, exp and sign, so every backend that lowers them runs it.
"""
from dataclasses import replace
from math import pi, sqrt

from .common import unary

COF = (-1.3026537197817094, 6.4196979235649026e-1, 1.9476473204185836e-2, -9.561514786808631e-3,
       -9.46595344482036e-4, 3.66839497852761e-4, 4.2523324806907e-5, -2.0278578112534e-5, -1.624290004647e-6,
       1.303655835580e-6, 1.5626441722e-8, -8.5238095915e-8, 6.529054439e-9, 5.059343495e-9, -9.91364156e-10,
       -2.27365122e-10, 9.6467911e-11, 2.394038e-12, -6.886027e-12, 8.94487e-13, 3.13092e-13, -1.12708e-13,
       3.81e-16, 7.106e-15, -1.523e-15, -9.4e-17, 1.21e-16, -2.8e-17)


def erf_np(x):
    """erf of a numpy array, in its dtype."""
    from ._numpy import np
    z = np.abs(x)
    t = 2.0 / (2.0 + z)
    ty = 4.0 * t - 2.0
    d = np.zeros_like(z)
    dd = np.zeros_like(z)
    for c in COF[:0:-1]:
        d, dd = ty * d - dd + c, d
    erfc = t * np.exp(-z * z + 0.5 * (COF[0] + ty * d) - dd)
    return (np.sign(x) * (1.0 - erfc)).astype(x.dtype)


def decompose(e, ins, out_types, a):
    """The Chebyshev expansion above, by Clenshaw's recurrence, in primitives."""
    from ._prims import const
    x = ins[0]
    z = e("abs", x)
    t = e("div", const(e, 2.0, x), e("add", const(e, 2.0, x), z))
    ty = e("sub", e("mul", const(e, 4.0, x), t), const(e, 2.0, x))
    d = dd = None
    for c in COF[:0:-1]:
        step = const(e, c, x) if d is None else e("add", e("sub", e("mul", ty, d), dd), const(e, c, x))
        d, dd = step, (d if d is not None else const(e, 0.0, x))
    inner = e("sub", e("add", e("neg", e("mul", z, z)),
                       e("mul", const(e, 0.5, x), e("add", const(e, COF[0], x), e("mul", ty, d)))), dd)
    erfc = e("mul", t, e("exp", inner))
    return [e("mul", e("sign", x), e("sub", const(e, 1.0, x), erfc))]


def vjp(e, ins, outs, gs, a):
    """2/√π · exp(−x²)."""
    x = ins[0]
    return [e("mul", gs[0], e("mul", e.const(2.0 / sqrt(pi), x.type.dtype), e("exp", e("neg", e("mul", x, x)))))]


OP = replace(unary("erf", lambda x, a: erf_np(x), "the error function", category="math", internal=True, vjp=vjp),
             decompose=decompose)
