"""pow(a, b) = a ** b elementwise with NumPy broadcasting (a primitive)."""
from dataclasses import replace

from ._numpy import np

from .common import binary


def vjp(e, ins, outs, gs, a):
    """d/da = b·a^(b−1); d/db = log(a)·a^b (only where a > 0 is it finite)."""
    from ._prims import const, reduce_to
    x, y = ins
    g = gs[0]
    gx = e("mul", g, e("mul", y, e("pow", x, e("sub", y, const(e, 1.0, y)))))
    gy = e("mul", g, e("mul", e("log", x), outs[0]))
    return [reduce_to(e, gx, x.type), reduce_to(e, gy, y.type) if y.type.is_float else None]


OP = replace(binary("pow", lambda a, b: np.power(a, b), "a to the power b, broadcast (also `a ** b`)", vjp=vjp),
             internal=False, examples=("x ** 2", "pow(x, 0.5)"))
