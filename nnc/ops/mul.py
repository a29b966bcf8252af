"""a · b elementwise with NumPy broadcasting."""
from ._numpy import np

from .common import binary

OP = binary("mul", lambda a, b: np.multiply(a, b), "a * b, broadcast",
            vjp=lambda e, ins, outs, gs, a: [e("sum_like", e("mul", gs[0], ins[1]), ins[0]),
                                             e("sum_like", e("mul", gs[0], ins[0]), ins[1])])
