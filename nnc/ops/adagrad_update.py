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


def decompose(e, ins, out_types, a):
    """s + g², then p − lr·g/(√s + eps), in the parameter's dtype."""
    from ._prims import const
    p, g, s, lr = ins
    lr = e("cast", lr, dtype=p.type.dtype)
    if a["weight_decay"] > 0:
        g = e("add", g, e("mul", const(e, a["weight_decay"], p), p))
    s = e("add", s, e("mul", g, g))
    step = e("div", e("mul", lr, g), e("add", e("sqrt", s), const(e, a["eps"], p)))
    return [e("sub", p, step), s]


OP = Op(name="adagrad_update", doc="one Adagrad step: the new parameter and sum of squared gradients",
        inputs=NAMES, attrs=(Attr("eps", "pos_float", 1e-10), Attr("weight_decay", "nonneg_float", 0.0)),
        infer=update_infer("adagrad_update", NAMES), reference=reference, category="special",
        outputs=lambda a: 2, internal=True, decompose=decompose)
