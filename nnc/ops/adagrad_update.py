"""adagrad_update(param, grad, sum_sq, lr): one Adagrad step, as torch.optim.Adagrad (no lr decay)."""
from ._numpy import np

from .base import Attr, Op
from .sgd_update import out, update_infer

NAMES = ("param", "grad", "sum_sq", "lr")


def reference(arrays, a, ctx):
    p, g, s, lr = arrays
    dtype = p.dtype
    dt = dtype.type
    lr = dt(lr)
    if a["weight_decay"] > 0:
        g = g + dt(a["weight_decay"]) * p
    s = s + g * g
    p = p - lr * g / (np.sqrt(s) + dt(a["eps"]))
    return [out(p, dtype), out(s, dtype)]


OP = Op(name="adagrad_update", doc="one Adagrad step: the new parameter and sum of squared gradients",
        inputs=NAMES, attrs=(Attr("eps", "pos_float", 1e-10), Attr("weight_decay", "nonneg_float", 0.0)),
        infer=update_infer("adagrad_update", NAMES), reference=reference, category="special",
        outputs=lambda a: 2, internal=True)
