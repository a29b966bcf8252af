"""cross_entropy(logits, labels): −log softmax(logits)[label], averaged over the batch."""
from ._numpy import np

from .base import InputLint, Op
from . import class_loss
from .common import reduce_loss


def infer(ins, a):
    return class_loss.infer_for("cross_entropy", "logits")(ins, a)


def reference(arrays, a, ctx):
    if not class_loss.is_plain(a, arrays[0].ndim):
        return [class_loss.reference("cross_entropy", arrays, a)]
    from ._softmax_kernels import log_softmax
    logits, labels = arrays
    logp = log_softmax(logits, -1)
    picked = np.take_along_axis(logp, labels[..., None].astype(np.int64), axis=-1)[..., 0]
    return [reduce_loss(-picked, a)]


def vjp(e, ins, outs, gs, a):
    if not class_loss.is_plain(a, ins[0].type.rank):
        return class_loss.vjp("cross_entropy", e, ins, outs, gs, a)
    grad = e("class_loss_grad", gs[0], ins[0], ins[1], loss="cross_entropy", reduction=a["reduction"],
             margin=a.get("margin", 1.0))
    return [grad, None]


def decompose(e, ins, out_types, a):
    """General case: class_loss.decompose. −log_softmax(logits) at each label, reduced."""
    if not class_loss.is_plain(a, ins[0].type.rank):
        return class_loss.decompose("cross_entropy", e, ins, out_types, a)
    from ._prims import label_mask, pick, reduce_loss
    logits, labels = ins
    logp = e("log_softmax", logits, axis=-1)
    return [reduce_loss(e, e("neg", pick(e, logp, label_mask(e, labels, logits))), a["reduction"], out_types[0])]


OP = Op(name="cross_entropy", doc="softmax cross entropy with integer labels (softmax inside)",
        inputs=("logits", "labels"), attrs=class_loss.ATTRS + (class_loss.LABEL_SMOOTHING,),
        resolve=class_loss.resolve, infer=infer, reference=reference, category="loss",
        lints=(InputLint("logits", "softmax", "W0002", "softmax fed to cross_entropy, which applies its own",
                         "pass the logits before softmax; cross_entropy applies log-softmax itself"),),
        vjp=vjp, examples=("cross_entropy(logits, y)",), decompose=decompose)
