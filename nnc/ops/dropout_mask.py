"""dropout_mask(x, key, counter, p): the inverted-dropout mask, 0 or 1/(1 − p) per element.

A training graph (and a Monte-Carlo dropout graph) writes dropout as x · mask,
so the backward pass uses the same mask as the forward pass. The mask is drawn
from the counter-based generator (random_uniform): an element is kept when its
uniform number u satisfies u >= p, so every backend keeps the same elements.
An optional fourth input, `offset` (i64 scalar), is random_uniform's element
offset (a data-parallel shard's first global element); absent, it is 0.
"""
from ._numpy import np
from . import _philox
from .base import Attr, Op
from .random_uniform import infer as random_infer


def infer(ins, a):
    random_infer(ins, {"dtype": "f32"})
    return [ins[0]]


def reference(arrays, a, ctx):
    x, key, counter = arrays[:3]
    offset = int(arrays[3]) if len(arrays) > 3 else 0
    u = _philox.uniform(x.shape, int(key), a["stream"], int(counter), offset)
    keep = u >= np.float32(a["p"])
    return [(keep / (1 - a["p"])).astype(x.dtype)]


def decompose(e, ins, out_types, attrs):
    x, key, counter = ins[:3]
    u = e("random_uniform", x, key, counter, *ins[3:], stream=attrs["stream"])
    keep = e("cast", e("compare", u, e.const(attrs["p"]), kind="ge"), dtype=x.type.dtype)
    return [e("mul", keep, e.const(1.0 / (1.0 - attrs["p"]), x.type.dtype))]


OP = Op(name="dropout_mask", doc="a random inverted-dropout mask", inputs=("x", "key", "counter"), optional_inputs=("offset",),
        attrs=(Attr("p", "prob", 0.5), Attr("stream", "int", 0)),
        infer=infer, reference=reference, category="regularization", internal=True,
        vjp=lambda e, ins, outs, gs, a: [None] * len(ins), decompose=decompose)
