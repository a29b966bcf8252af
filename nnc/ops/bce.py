"""bce(logits, targets): binary cross entropy with the sigmoid inside, over all elements."""
from ._numpy import np

from .base import InputLint, Op
from .common import LOSS_REDUCTION, check_target, elementwise_loss_vjp, reduce_loss, scalar_of


def infer(ins, a):
    check_target(ins[0], ins[1], "bce")
    return [scalar_of(ins[0])]


def reference(arrays, a, ctx):
    z, t = arrays
    # max(z, 0) - z·t + log(1 + exp(-|z|)): never overflows
    per = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    return [reduce_loss(per.astype(z.dtype), a)]


def vjp(e, ins, outs, gs, a):
    z, t = ins
    gz = elementwise_loss_vjp(e, z, t, gs[0], e("sub", e("sigmoid", z), t), a["reduction"])
    spread = elementwise_loss_vjp(e, z, t, gs[0], e("neg", z), a["reduction"])
    return [gz, e("sum_like", spread, t)]


def decompose(e, ins, out_types, a):
    """max(z, 0) − z·t + log(1 + exp(−|z|)), reduced: never overflows."""
    from ._prims import const, reduce_loss
    z, t = ins
    soft = e("log", e("add", const(e, 1.0, z), e("exp", e("neg", e("abs", z)))))
    per = e("add", e("sub", e("maximum", z, const(e, 0.0, z)), e("mul", z, t)), soft)
    return [reduce_loss(e, per, a["reduction"], out_types[0])]


OP = Op(name="bce", doc="binary cross entropy on logits (sigmoid inside)", inputs=("logits", "targets"),
        attrs=(LOSS_REDUCTION,), infer=infer, reference=reference, category="loss", vjp=vjp,
        lints=(InputLint("logits", "sigmoid", "W0002", "sigmoid fed to bce, which applies its own",
                         "pass the logits before sigmoid; bce applies the sigmoid itself"),),
        examples=("bce(score, 1.0)",), decompose=decompose)
