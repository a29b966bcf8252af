"""adam_update(param, grad, m, v, step, lr): one Adam step (AdamW with decoupled=true), as torch.optim.Adam/AdamW.

`step` holds t − 1, the number of updates already applied; the bias
corrections use t = step + 1, computed in double and rounded once.
"""
from ._numpy import np

from .base import Attr, Op
from .sgd_update import check_beta, out, update_infer

NAMES = ("param", "grad", "m", "v", "step", "lr")
_infer = update_infer("adam_update", NAMES)


def infer(ins, a):
    check_beta(a, "adam_update", "beta1", "beta2")
    return _infer(ins, a)


def moments(g, m, v, t: int, a: dict):
    """m, v and their bias-corrected m̂, v̂ (shared with lamb_update)."""
    dt = g.dtype.type
    b1, b2 = a["beta1"], a["beta2"]
    m = dt(b1) * m + dt(1.0 - b1) * g
    v = dt(b2) * v + dt(1.0 - b2) * (g * g)
    m_hat = m / dt(1.0 - b1 ** t)
    v_hat = v / dt(1.0 - b2 ** t)
    return m, v, m_hat, v_hat


def reference(arrays, a, ctx):
    p, g, m, v, step, lr = arrays
    dtype = p.dtype
    dt = dtype.type
    t = int(step) + 1
    wd = a["weight_decay"]
    if wd > 0:
        if a["decoupled"]:
            p = p * dt(1.0 - float(lr) * wd)
        else:
            g = g + dt(wd) * p
    m, v, m_hat, v_hat = moments(np.asarray(g, dtype=dtype), m, v, t, a)
    p = p - dt(lr) * m_hat / (np.sqrt(v_hat) + dt(a["eps"]))
    return [out(p, dtype), out(m, dtype), out(v, dtype)]


OP = Op(name="adam_update", doc="one Adam or AdamW step: the new parameter and moment estimates", inputs=NAMES,
        attrs=(Attr("beta1", "unit_float", 0.9), Attr("beta2", "unit_float", 0.999), Attr("eps", "pos_float", 1e-8),
               Attr("weight_decay", "nonneg_float", 0.0),
               Attr("decoupled", "bool", False, "AdamW: decay the parameter, not the gradient")),
        infer=infer, reference=reference, category="special", outputs=lambda a: 3, internal=True)
