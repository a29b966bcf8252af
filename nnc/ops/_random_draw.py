"""What rand and randn share: their shape rule, the optional key and counter inputs, and the uniform draws.

A rand/randn node as the elaborator builds it has one input, `like` (the shape to draw); the passes that
run a graph for training (nnc/passes/training.py: training_mode, random_on) add the random key and the
step counter as two more inputs, so each training step or model call draws new numbers; a data-parallel
shard adds a fourth, the element offset of its first sample (nnc/train/split.py), so a sample draws the
same numbers whichever worker holds it. Without them
(a validation pass over the held-out split) the key and the counter are 0: the same numbers every time,
so held-out losses are comparable from epoch to epoch.
"""
from __future__ import annotations

from ..ir.types import TensorType
from .base import Attr, ShapeError

STREAM = Attr("stream", "int", 0, "the 32-bit stream of this draw (set per call when the program is built)")
DTYPE = Attr("dtype", "choice:f32|f64", "f32", "the dtype of the numbers")
SECOND_STREAM = 0x9E3779B9  # xor'ed into the stream for a second, independent draw (Box–Muller's angle)


def infer(op: str):
    def rule(ins, a):
        for t, name in zip(ins[1:], ("key", "counter", "offset")):
            if t.dtype != "i64" or t.rank != 0:
                raise ShapeError(f"{op} expects {name} as an i64 scalar, found {t}", blame=name, code="E0202")
        return [TensorType(a["dtype"], ins[0].shape)]
    return rule


def uniforms(arrays, a, stream: int):
    """Reference draws: Philox uniforms in [0, 1) of like's shape, as the random_uniform primitive gives them."""
    from . import _philox
    key, counter = (int(arrays[1]), int(arrays[2])) if len(arrays) >= 3 else (0, 0)
    offset = int(arrays[3]) if len(arrays) > 3 else 0  # a data-parallel shard's first element
    return _philox.uniform(arrays[0].shape, key, stream, counter, offset).astype(a["dtype"].replace("f", "float"))


def uniform_node(e, ins, a, stream: int):
    """random_uniform(like, key, counter) in primitives; key and counter are constant 0 when absent."""
    if len(ins) >= 3:
        key, counter = ins[1], ins[2]
    else:
        key = counter = e("constant", value=0, dtype="i64")
    return e("random_uniform", ins[0], key, counter, *ins[3:4], stream=stream, dtype=a["dtype"])


def no_gradient(e, ins, outs, gs, a):
    return [None] * len(ins)
