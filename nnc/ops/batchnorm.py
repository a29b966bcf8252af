"""batchnorm(x): normalise each channel (axis 1); batch statistics in training, running ones in inference."""
from ._numpy import np

from .base import Attr, Op, ParamSpec, ShapeError, require_float
from .common import known


def infer(ins, a):
    x = ins[0]
    require_float(x, "x", "batchnorm")
    if x.rank < 2:
        raise ShapeError(f"batchnorm normalises axis 1, found {x}", blame="x", code="E0206")
    known(x.shape[1], "the channel axis", "batchnorm")
    return [x]


def params(ins, a):
    c = ins[0].shape[1]
    return [ParamSpec("weight", (c,), "ones"), ParamSpec("bias", (c,), "zeros"),
            ParamSpec("running_mean", (c,), "zeros", trainable=False),
            ParamSpec("running_var", (c,), "ones", trainable=False)]


def reference(arrays, a, ctx):
    x, w, b, mean, var = arrays
    shape = (1, -1) + (1,) * (x.ndim - 2)
    # running statistics: training graphs replace batchnorm by batch-statistics ops (nnc/passes/training.py)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + a["eps"]) * w.reshape(shape) + b.reshape(shape)
    return [y.astype(x.dtype)]


def channel_view(e, v, rank):
    """A per-channel vector [C] as [1, C, 1, ...] so it broadcasts over [N, C, ...]."""
    return e("reshape", v, shape=(1, -1) + (1,) * (rank - 2))


def vjp(e, ins, outs, gs, a):
    """Inference mode (running statistics); training graphs rewrite batchnorm into primitives first."""
    x, w, b, mean, var = ins
    g = gs[0]
    rank = x.type.rank
    axes = (0,) + tuple(range(2, rank))
    inv = e("div", e.const(1.0), e("sqrt", e("add", var, e.const(a["eps"]))))
    xhat = e("mul", e("sub", x, channel_view(e, mean, rank)), channel_view(e, inv, rank))
    gx = e("mul", g, channel_view(e, e("mul", w, inv), rank))
    gw = e("sum", e("mul", g, xhat), axis=axes)
    gb = e("sum", g, axis=axes)
    return [gx, gw, gb, None, None]


def decompose(e, ins, out_types, a):
    """Inference: (x − running mean) / sqrt(running var + eps)·w + b, per channel (axis 1)."""
    from ._prims import const
    x, w, b, mean, var = ins
    rank = x.type.rank
    view = lambda v: channel_view(e, v, rank)  # noqa: E731
    y = e("div", e("sub", x, view(mean)), e("sqrt", e("add", view(var), const(e, a["eps"], x))))
    return [e("add", e("mul", y, view(w)), view(b))]


OP = Op(name="batchnorm", doc="per-channel normalisation with a learnt scale and shift", inputs=("x",),
        attrs=(Attr("momentum", "unit_float", 0.1), Attr("eps", "pos_float", 1e-5)),
        infer=infer, params=params, reference=reference, category="layer", vjp=vjp, examples=("x -> batchnorm",),
        decompose=decompose)
