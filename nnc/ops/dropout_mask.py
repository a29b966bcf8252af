"""dropout_mask(x, p): the training-time dropout mask, 0 or 1/(1 − p) per element (ones in inference).

A training graph writes dropout as x · mask so that the backward pass uses
the same mask as the forward pass.
"""
from ._numpy import np
from .base import Attr, Op


def reference(arrays, a, ctx):
    x, p = arrays[0], a["p"]
    if p == 0 or not (ctx.training or ctx.mc_dropout):
        return [np.ones_like(x)]
    keep = ctx.rng.random(x.shape) >= p
    return [(keep / (1 - p)).astype(x.dtype)]





OP = Op(name="dropout_mask", doc="a random inverted-dropout mask", inputs=("x",), attrs=(Attr("p", "prob", 0.5),),
        infer=lambda ins, a: [ins[0]], reference=reference, category="regularization", internal=True,
        vjp=lambda e, ins, outs, gs, a: [None])
