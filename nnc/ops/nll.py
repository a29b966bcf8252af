"""nll(log_probs, labels): −log_probs[label], averaged over the batch."""
from ._numpy import np

from .base import InputLint, Op
from . import class_loss
from .common import reduce_loss


def infer(ins, a):
    return class_loss.infer_for("nll", "log_probs")(ins, a)


def reference(arrays, a, ctx):
    if not class_loss.is_plain(a, arrays[0].ndim):
        return [class_loss.reference("nll", arrays, a)]
    logp, labels = arrays
    picked = np.take_along_axis(logp, labels[..., None].astype(np.int64), axis=-1)[..., 0]
    return [reduce_loss(-picked, a)]


def vjp(e, ins, outs, gs, a):
    if not class_loss.is_plain(a, ins[0].type.rank):
        return class_loss.vjp("nll", e, ins, outs, gs, a)
    grad = e("class_loss_grad", gs[0], ins[0], ins[1], loss="nll", reduction=a["reduction"],
             margin=a.get("margin", 1.0))
    return [grad, None]


def decompose(e, ins, out_types, a):
    """General case: class_loss.decompose. −log_probs at each label, reduced."""
    if not class_loss.is_plain(a, ins[0].type.rank):
        return class_loss.decompose("nll", e, ins, out_types, a)
    from ._prims import label_mask, pick, reduce_loss
    logp, labels = ins
    return [reduce_loss(e, e("neg", pick(e, logp, label_mask(e, labels, logp))), a["reduction"], out_types[0])]


OP = Op(name="nll", doc="negative log likelihood of log-probabilities", inputs=("log_probs", "labels"),
        attrs=class_loss.ATTRS, resolve=class_loss.resolve, infer=infer, reference=reference, category="loss",
        lints=(InputLint("log_probs", "softmax", "W0002", "softmax fed to nll, which expects log-probabilities",
                         "use log_softmax before nll"),),
        vjp=vjp, examples=("nll(x -> log_softmax, y)",), decompose=decompose)
