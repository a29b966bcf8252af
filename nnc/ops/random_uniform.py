"""random_uniform(like, key, counter): uniform numbers in [0, 1) shaped like `like`, from Philox-4x32-10.

The primitive behind every random number in a graph (dropout masks, and
later noise). `key` is the random key (the seed) and `counter` the step or
call counter, both i64 scalars fed by the executable; `stream` is fixed per
node when the graph is built. An optional fourth input, `offset` (an i64
scalar), shifts the element index the counter uses (data-parallel shards
draw by global sample index); without it the offset is 0. See nnc/ops/_philox.py for the exact layout
every backend reproduces bit for bit.
"""
from ..ir.types import TensorType
from . import _philox
from .base import Attr, Op, ShapeError


def infer(ins, a):
    for t, name in tuple(zip(ins[1:], ("key", "counter", "offset"))):
        if t.dtype != "i64" or t.rank != 0:
            raise ShapeError(f"random_uniform expects {name} as an i64 scalar, found {t}", blame=name, code="E0202")
    return [TensorType(a["dtype"], ins[0].shape)]


def reference(arrays, a, ctx):
    like, key, counter = arrays[:3]
    offset = int(arrays[3]) if len(arrays) > 3 else 0
    u = _philox.uniform(like.shape, int(key), a["stream"], int(counter), offset)
    return [u.astype(a["dtype"].replace("f", "float"))]


OP = Op(name="random_uniform", doc="uniform random numbers in [0, 1), shaped like a tensor (Philox-4x32-10)",
        inputs=("like", "key", "counter"), optional_inputs=("offset",),
        attrs=(Attr("stream", "int", 0, "a 32-bit stream number, fixed per node"),
               Attr("dtype", "choice:f32|f64", "f32")),
        infer=infer, reference=reference, category="special", internal=True,
        vjp=lambda e, ins, outs, gs, a: [None] * len(ins))
