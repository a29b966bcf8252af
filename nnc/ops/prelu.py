"""prelu(x, num_parameters=1, init=0.25): x where x > 0, a·x elsewhere, with a learnt (PyTorch's PReLU).

One slope shared by every element, or one per channel (axis 1) with
num_parameters = C. The weight [num_parameters] starts at `init` and is left
out of l1()/l2() weight decay, as PyTorch's documentation advises.
"""
from .base import Attr, Op, ParamSpec, ShapeError, require_float
from .common import batch_numel


def infer(ins, a):
    x = ins[0]
    require_float(x, "x", "prelu")
    k = a["num_parameters"]
    if k != 1 and (x.rank < 2 or x.shape[1] != k):
        raise ShapeError(f"prelu with num_parameters={k} needs {k} channels on axis 1, found {x}",
                         blame="num_parameters", code="E0203", hint="num_parameters is 1 or the channel count")
    return [x]


def params(ins, a):
    return [ParamSpec("weight", (a["num_parameters"],), f"constant:{a['init']!r}")]


def macs(ins, outs, a):
    return batch_numel(ins[0].shape)


def _slope_shape(x_rank: int, k: int) -> tuple[int, ...]:
    return (1, k) + (1,) * (x_rank - 2) if k != 1 else (1,)


def reference(arrays, a, ctx):
    from ._numpy import np
    x, w = arrays
    slope = w.reshape(_slope_shape(x.ndim, a["num_parameters"]))
    return [np.where(x > 0, x, slope * x).astype(x.dtype)]


def _slope(e, x, w, a):
    k = a["num_parameters"]
    return w if k == 1 else e("reshape", w, shape=_slope_shape(x.type.rank, k))


def decompose(e, ins, out_types, a):
    """where(x > 0, x, a·x), a broadcast over the channel axis."""
    from ._prims import const
    x, w = ins
    return [e("where", e("compare", x, const(e, 0.0, x), kind="gt"), x, e("mul", _slope(e, x, w, a), x))]


def vjp(e, ins, outs, gs, a):
    """dx = g where x > 0, a·g elsewhere; da = Σ g·x where x ≤ 0, over every axis but the channel's."""
    x, w = ins
    g = gs[0]
    above = e("compare", x, e.const(0.0, x.type.dtype), kind="gt")
    zero = e.const(0.0, x.type.dtype)
    gx = e("where", above, g, e("mul", g, _slope(e, x, w, a)))
    below = e("where", above, zero, e("mul", g, x))
    if a["num_parameters"] == 1:
        gw = e("reshape", e("sum", below, axis=tuple(range(x.type.rank))), shape=(1,))
    else:
        gw = e("sum", below, axis=(0,) + tuple(range(2, x.type.rank)))
    return [gx, gw]


OP = Op(name="prelu", doc="leaky relu with a learnt slope, shared or per channel", inputs=("x",),
        attrs=(Attr("num_parameters", "pos_int", 1), Attr("init", "float", 0.25)),
        infer=infer, params=params, macs=macs, reference=reference, category="layer", vjp=vjp,
        decompose=decompose, examples=("x -> prelu",))
