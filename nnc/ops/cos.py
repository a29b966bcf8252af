"""cos(x) elementwise (a primitive: cosine learning-rate schedules)."""
from ._numpy import np

from .common import unary


def vjp(e, ins, outs, gs, a):
    """−sin x = −cos(x − π/2)."""
    from ._prims import const
    x = ins[0]
    return [e("neg", e("mul", gs[0], e("cos", e("sub", x, const(e, np.pi / 2, x)))))]


OP = unary("cos", lambda x, a: np.cos(x), "the cosine of x", category="math", internal=True, vjp=vjp)
