"""maximum(a, b) elementwise with NumPy broadcasting (a primitive; relu is maximum(x, 0))."""
from dataclasses import replace

from ._numpy import np

from .common import binary


def choose_vjp(kind: str):
    """The gradient of maximum (kind "ge") or minimum ("le"): to a where a wins or ties, else to b."""

    def vjp(e, ins, outs, gs, a):
        from ._prims import reduce_to, zeros_like
        x, y = ins
        g = gs[0]
        first = e("compare", x, y, kind=kind)
        zero = zeros_like(e, g)
        return [reduce_to(e, e("where", first, g, zero), x.type), reduce_to(e, e("where", first, zero, g), y.type)]

    return vjp


OP = replace(binary("maximum", lambda a, b: np.maximum(a, b), "the larger of a and b, broadcast",
                    vjp=choose_vjp("ge")), internal=False, examples=("maximum(x, 0)", "maximum(a, b)"))
