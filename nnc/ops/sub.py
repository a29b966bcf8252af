"""a − b with NumPy broadcasting."""
from ._numpy import np

from .common import binary

OP = binary("sub", lambda a, b: np.subtract(a, b), "a - b, broadcast",
            vjp=lambda e, ins, outs, gs, a: [e("sum_like", gs[0], ins[0]), e("sum_like", e("neg", gs[0]), ins[1])])
