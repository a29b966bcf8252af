"""kl_div(log_probs, target, log_target=false): target·(log target − log_probs), PyTorch's kl_div.

The prediction is log-probabilities (as PyTorch takes it); the target is
probabilities, or log-probabilities with log_target=true. A target of 0
contributes 0 (0·log 0 = 0). "batchmean" (the sum over the batch size) is the
mathematical KL divergence; "mean" (over every element) is PyTorch's default.
"""
from .base import Attr
from .pointwise_loss import make_pointwise_loss


def value_np(x, y, a):
    from ._numpy import np
    if a["log_target"]:
        return np.exp(y) * (y - x)
    safe = np.where(y > 0, y, 1)
    return np.where(y > 0, y * np.log(safe), 0) - y * x


def value(e, x, y, a):
    if a["log_target"]:
        return e("mul", e("exp", y), e("sub", y, x))
    return e("sub", _xlogx(e, y), e("mul", y, x))


def _positive(e, y):
    from ._prims import const
    return e("compare", y, const(e, 0.0, y), kind="gt")


def _xlogx(e, y):
    """y·log y, 0 where y ≤ 0 (the log never sees a non-positive value, so no NaN reaches a gradient)."""
    from ._prims import full_like, zeros_like
    pos = _positive(e, y)
    safe = e("where", pos, y, full_like(e, 1.0, y))
    return e("where", pos, e("mul", y, e("log", safe)), zeros_like(e, y))


def derivatives(e, x, y, a):
    """−target (−exp(target)) for the log-probabilities; log target + 1 − log_probs for the target."""
    from ._prims import const, full_like
    if a["log_target"]:
        p = e("exp", y)
        return e("neg", p), e("mul", p, e("add", e("sub", y, x), const(e, 1.0, y)))
    safe = e("where", _positive(e, y), y, full_like(e, 1.0, y))
    return e("neg", y), e("sub", e("add", e("log", safe), const(e, 1.0, y)), x)


OP = make_pointwise_loss("kl_div", "the Kullback-Leibler divergence of a target from log-probabilities",
                         (Attr("log_target", "bool", False),), value_np, value, derivatives,
                         reductions="mean|sum|none|batchmean", args=("log_probs", "target"),
                         example='kl_div(x -> log_softmax, p, reduction="batchmean")')
