"""dropout(x, p): inverted dropout in training, the identity in inference.

Kept elements are scaled by 1/(1 − p) in training so that inference needs no
rescaling; Monte-Carlo dropout keeps it on in inference (ctx.mc_dropout).
"""
from ._numpy import np

from dataclasses import replace

from .base import Attr
from .common import unary


def dropout(arrays, a, ctx):
    x, p = arrays[0], a["p"]
    if p == 0 or not (ctx.training or ctx.mc_dropout):
        return [x]
    keep = ctx.rng.random(x.shape) >= p
    return [(x * keep / (1 - p)).astype(x.dtype)]


OP = unary("dropout", lambda x, a: x, "zero each element with probability p in training, scale the rest by 1/(1-p)",
           (Attr("p", "prob", 0.5, "the probability of dropping an element"),), category="regularization",
           examples=("x -> dropout(0.2)",),
           vjp=lambda e, ins, outs, gs, a: [gs[0]])  # inference: the identity; training rewrites it to x·mask
OP = replace(OP, reference=dropout)
