"""rmsprop_update(param, grad, sq_avg, momentum_buf, lr): one RMSprop step, as torch.optim.RMSprop (not centred)."""
from ._numpy import np

from .base import Attr, Op
from .sgd_update import out, update_infer

NAMES = ("param", "grad", "sq_avg", "momentum_buf", "lr")


def reference(arrays, a, ctx):
    p, g, s, b, lr = arrays
    dtype = p.dtype
    dt = dtype.type
    lr = dt(lr)
    alpha = a["alpha"]
    if a["weight_decay"] > 0:
        g = g + dt(a["weight_decay"]) * p
    s = dt(alpha) * s + dt(1.0 - alpha) * (g * g)
    avg = np.sqrt(s) + dt(a["eps"])
    if a["momentum"] > 0:
        b = dt(a["momentum"]) * b + g / avg
        p = p - lr * b
    else:
        p = p - lr * g / avg
    return [out(p, dtype), out(s, dtype), out(b, dtype)]


def decompose(e, ins, out_types, a):
    """The squared average, then the step (through the momentum buffer when momentum > 0)."""
    from ._prims import const
    p, g, s, b, lr = ins
    lr = e("cast", lr, dtype=p.type.dtype)
    alpha = a["alpha"]
    if a["weight_decay"] > 0:
        g = e("add", g, e("mul", const(e, a["weight_decay"], p), p))
    s = e("add", e("mul", const(e, alpha, p), s), e("mul", const(e, 1.0 - alpha, p), e("mul", g, g)))
    avg = e("add", e("sqrt", s), const(e, a["eps"], p))
    if a["momentum"] > 0:
        b = e("add", e("mul", const(e, a["momentum"], p), b), e("div", g, avg))
        return [e("sub", p, e("mul", lr, b)), s, b]
    return [e("sub", p, e("div", e("mul", lr, g), avg)), s, b]


OP = Op(name="rmsprop_update", doc="one RMSprop step: the new parameter, squared average and momentum buffer",
        inputs=NAMES, attrs=(Attr("alpha", "unit_float", 0.99), Attr("eps", "pos_float", 1e-8),
                             Attr("momentum", "nonneg_float", 0.0), Attr("weight_decay", "nonneg_float", 0.0)),
        infer=update_infer("rmsprop_update", NAMES), reference=reference, category="special",
        outputs=lambda a: 3, internal=True, decompose=decompose)
