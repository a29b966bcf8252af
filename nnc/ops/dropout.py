"""dropout(x, p): inverted dropout — the identity in inference.

In training (and for Monte-Carlo dropout) the graph is rewritten before it
runs: x · dropout_mask(x, key, counter), where the mask keeps an element with
probability 1 − p and scales it by 1/(1 − p), so that inference needs no
rescaling (nnc/passes/training.py). The op itself is therefore the identity.
"""
from dataclasses import replace
from .base import Attr
from .common import unary


def decompose(e, ins, out_types, a):
    """x: a dropout still in the graph is in inference (training and Monte-Carlo graphs were rewritten)."""
    return [ins[0]]


OP = unary("dropout", lambda x, a: x, "zero each element with probability p in training, scale the rest by 1/(1-p)",
           (Attr("p", "prob", 0.5, "the probability of dropping an element"),), category="regularization",
           examples=("x -> dropout(0.2)",),
           vjp=lambda e, ins, outs, gs, a: [gs[0]])  # inference: the identity; training rewrites it to x·mask
OP = replace(OP, decompose=decompose)
