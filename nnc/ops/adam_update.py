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


def decomposed_moments(e, g, m, v, step, a: dict):
    """m, v, m̂, v̂ in primitives; the bias corrections 1 − β^t are f64 arithmetic on t = step + 1, rounded once
    to the parameter's dtype, as the reference computes them (every backend must round at the same place)."""
    from ._prims import const
    b1, b2 = a["beta1"], a["beta2"]
    m = e("add", e("mul", const(e, b1, g), m), e("mul", const(e, 1.0 - b1, g), g))
    v = e("add", e("mul", const(e, b2, g), v), e("mul", const(e, 1.0 - b2, g), e("mul", g, g)))
    t = e("add", e("cast", step, dtype="f64"), e.const(1.0, "f64"))

    def correction(beta):
        return e("cast", e("sub", e.const(1.0, "f64"), e("pow", e.const(beta, "f64"), t)), dtype=g.type.dtype)

    return m, v, e("div", m, correction(b1)), e("div", v, correction(b2))


def decompose(e, ins, out_types, a):
    """Adam or AdamW in primitives, scalar hyperparameter arithmetic in f64 as the reference does."""
    from ._prims import const
    p, g, m, v, step, lr = ins
    dtype = p.type.dtype
    wd = a["weight_decay"]
    if wd > 0:
        if a["decoupled"]:
            shrink = e("sub", e.const(1.0, "f64"), e("mul", e("cast", lr, dtype="f64"), e.const(wd, "f64")))
            p = e("mul", p, e("cast", shrink, dtype=dtype))
        else:
            g = e("add", g, e("mul", const(e, wd, p), p))
    m, v, m_hat, v_hat = decomposed_moments(e, g, m, v, step, a)
    update = e("div", e("mul", e("cast", lr, dtype=dtype), m_hat), e("add", e("sqrt", v_hat), const(e, a["eps"], p)))
    return [e("sub", p, update), m, v]


OP = Op(name="adam_update", doc="one Adam or AdamW step: the new parameter and moment estimates", inputs=NAMES,
        attrs=(Attr("beta1", "unit_float", 0.9), Attr("beta2", "unit_float", 0.999), Attr("eps", "pos_float", 1e-8),
               Attr("weight_decay", "nonneg_float", 0.0),
               Attr("decoupled", "bool", False, "AdamW: decay the parameter, not the gradient")),
        infer=infer, reference=reference, category="special", outputs=lambda a: 3, internal=True, decompose=decompose)
