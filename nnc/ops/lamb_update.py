"""lamb_update(param, grad, m, v, step, lr): one LAMB step (You et al. 2019) with a per-tensor trust ratio.

m, v, m̂, v̂ as adam_update; r = m̂/(√v̂ + eps) + wd·p; the step is scaled by
‖p‖₂/‖r‖₂ (1 when either norm is zero). Norms are computed in the parameter's dtype.
"""
from ._numpy import np

from .adam_update import moments
from .base import Attr, Op
from .sgd_update import check_beta, out, update_infer

NAMES = ("param", "grad", "m", "v", "step", "lr")
_infer = update_infer("lamb_update", NAMES)


def infer(ins, a):
    check_beta(a, "lamb_update", "beta1", "beta2")
    return _infer(ins, a)


def trust_ratio(p, r):
    dt = p.dtype.type
    p_norm = np.sqrt(np.sum(p * p, dtype=p.dtype))
    r_norm = np.sqrt(np.sum(r * r, dtype=p.dtype))
    if p_norm > 0 and r_norm > 0:
        return dt(p_norm / r_norm)
    return dt(1.0)


def reference(arrays, a, ctx):
    p, g, m, v, step, lr = arrays
    dtype = p.dtype
    dt = dtype.type
    t = int(step) + 1
    m, v, m_hat, v_hat = moments(g, m, v, t, a)
    r = m_hat / (np.sqrt(v_hat) + dt(a["eps"]))
    if a["weight_decay"] > 0:
        r = r + dt(a["weight_decay"]) * p
    r = np.asarray(r, dtype=dtype)
    trust = trust_ratio(p, r)
    p = p - dt(lr) * trust * r
    return [out(p, dtype), out(m, dtype), out(v, dtype)]


def decompose(e, ins, out_types, a):
    """Adam's direction r (+ wd·p), scaled by the trust ratio ‖p‖/‖r‖ (1 when either norm is 0)."""
    from ._prims import const
    from .adam_update import decomposed_moments
    p, g, m, v, step, lr = ins
    dtype = p.type.dtype
    m, v, m_hat, v_hat = decomposed_moments(e, g, m, v, step, a)
    r = e("div", m_hat, e("add", e("sqrt", v_hat), const(e, a["eps"], p)))
    if a["weight_decay"] > 0:
        r = e("add", r, e("mul", const(e, a["weight_decay"], p), p))
    zero = const(e, 0.0, p)
    p_norm = e("sqrt", e("sum", e("mul", p, p)))
    r_norm = e("sqrt", e("sum", e("mul", r, r)))
    one = const(e, 1.0, p)
    r_pos = e("compare", r_norm, zero, kind="gt")
    ratio = e("div", p_norm, e("where", r_pos, r_norm, one))
    trust = e("where", e("compare", p_norm, zero, kind="gt"), e("where", r_pos, ratio, one), one)
    return [e("sub", p, e("mul", e("mul", e("cast", lr, dtype=dtype), trust), r)), m, v]


OP = Op(name="lamb_update", doc="one LAMB step: the new parameter and moment estimates", inputs=NAMES,
        attrs=(Attr("beta1", "unit_float", 0.9), Attr("beta2", "unit_float", 0.999), Attr("eps", "pos_float", 1e-6),
               Attr("weight_decay", "nonneg_float", 0.0)),
        infer=infer, reference=reference, category="special", outputs=lambda a: 3, internal=True, decompose=decompose)
