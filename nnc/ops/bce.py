"""bce(logits, targets): binary cross entropy with the sigmoid inside, over all elements."""
from ._numpy import np

from .base import InputLint, Op
from .common import LOSS_REDUCTION, check_target, reduce_loss, scalar_of


def infer(ins, a):
    check_target(ins[0], ins[1], "bce")
    return [scalar_of(ins[0])]


def reference(arrays, a, ctx):
    z, t = arrays
    # max(z, 0) - z·t + log(1 + exp(-|z|)): never overflows
    per = np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))
    return [reduce_loss(per.astype(z.dtype), a)]


OP = Op(name="bce", doc="binary cross entropy on logits (sigmoid inside)", inputs=("logits", "targets"),
        attrs=(LOSS_REDUCTION,), infer=infer, reference=reference, category="loss",
        lints=(InputLint("logits", "sigmoid", "W0002", "sigmoid fed to bce, which applies its own",
                         "pass the logits before sigmoid; bce applies the sigmoid itself"),),
        examples=("bce(score, 1.0)",))
