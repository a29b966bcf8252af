"""layernorm(x): normalise the last axis of each sample, with a learnt scale and shift."""
from ._numpy import np

from .base import Attr, Op, ParamSpec, ShapeError, require_float
from .common import known


def infer(ins, a):
    x = ins[0]
    require_float(x, "x", "layernorm")
    if x.rank < 1:
        raise ShapeError("layernorm needs at least one axis", blame="x", code="E0206")
    known(x.shape[-1], "the last axis", "layernorm")
    return [x]


def params(ins, a):
    d = ins[0].shape[-1]
    return [ParamSpec("weight", (d,), "ones"), ParamSpec("bias", (d,), "zeros")]


def reference(arrays, a, ctx):
    x, w, b = arrays
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return [((x - mean) / np.sqrt(var + a["eps"]) * w + b).astype(x.dtype)]


OP = Op(name="layernorm", doc="normalise the last axis", inputs=("x",), attrs=(Attr("eps", "pos_float", 1e-5),),
        infer=infer, params=params, reference=reference, category="layer", examples=("x -> layernorm",))
