"""batchnorm_train(x, w, b) -> (y, mean, var): batchnorm on the batch's own statistics (training graphs).

training_mode (nnc/passes/training.py) rewrites every batchnorm of a training graph into this op; its
mean and (biased) variance outputs, [1, C, 1, ...], feed the running-statistics updates. It exists for its
gradient rule: differentiating the primitives it decomposes into (mean, x − mean, mean of squares, ...)
gives four full-size reductions and three full-size stores per layer (x − mean's gradient, the variance's,
the mean's), where the closed form needs two reductions (Σg and Σg·x̂, which are the bias's and weight's
gradients anyway) and one pass for dx = w/σ·(g − Σg/n − x̂·Σg·x̂/n). On a CPU these layers are
bound by memory traffic, so the passes are the cost (Fashion-MNIST's step: about a third of its
batchnorm backward). The forward computes what training_mode's primitives did, one stored pass fewer.
"""
from ._numpy import np

from ..ir.types import TensorType
from .base import Attr, Op


def _axes(rank: int) -> tuple[int, ...]:
    return (0,) + tuple(range(2, rank))


def _view(rank: int) -> tuple[int, ...]:
    return (1, -1) + (1,) * (rank - 2)


def infer(ins, a):
    x = ins[0]
    stat = TensorType(x.dtype, (1, x.shape[1]) + (1,) * (x.rank - 2))
    return [x, stat, stat]


def reference(arrays, a, ctx):
    x, w, b = arrays
    axes, view = _axes(x.ndim), _view(x.ndim)
    mean = x.mean(axis=axes, keepdims=True)
    d = x - mean
    var = (d * d).mean(axis=axes, keepdims=True)
    inv = np.asarray(1.0, x.dtype) / np.sqrt(var + np.asarray(a["eps"], x.dtype))
    y = d * inv * w.reshape(view) + b.reshape(view)
    return [y.astype(x.dtype), mean.astype(x.dtype), var.astype(x.dtype)]


def vjp(e, ins, outs, gs, a):
    """dx = w/σ·(g − Σg/n − x̂·Σ(g·x̂)/n), dw = Σ(g·x̂), db = Σg over every axis but 1, x̂ = (x − mean)/σ
    recomputed from x and the op's own statistics (no full-size tensor kept for it); cotangents of the
    statistics (not in a training step, which only feeds them to the running averages) add
    g_mean/n + g_var·2(x − mean)/n."""
    from ._prims import count
    x, w, b = ins
    _, mean, var = outs
    g, g_mean, g_var = gs
    rank = x.type.rank
    axes, view = _axes(rank), _view(rank)
    n = count(e, x, axes, x)
    gx = gw = gb = None
    if g is not None:
        inv = e("div", e.const(1.0), e("sqrt", e("add", var, e.const(a["eps"]))))
        # x̂ emitted once per use: each use computes it on the fly (a full-size tensor would be stored
        # for a value read twice, and writing it costs more than the subtraction and product)
        gb = e("sum", g, axis=axes)
        gw = e("sum", e("mul", g, e("mul", e("sub", x, mean), inv)), axis=axes)
        scale = e("mul", inv, e("reshape", w, shape=view))
        mb = e("div", e("reshape", gb, shape=view), n)
        mw = e("div", e("reshape", gw, shape=view), n)
        gx = e("mul", scale, e("sub", e("sub", g, mb), e("mul", e("mul", e("sub", x, mean), inv), mw)))
    terms = [gx] if gx is not None else []
    if g_var is not None:
        terms.append(e("mul", e("sub", x, mean), e("div", e("mul", g_var, e.const(2.0)), n)))
    if g_mean is not None:
        terms.append(e("broadcast_to", e("div", g_mean, n), x) if not terms else e("div", g_mean, n))
    if terms:
        gx = terms[0]
        for t in terms[1:]:
            gx = e("add", gx, t)
    return [gx, gw, gb]


def decompose(e, ins, out_types, a):
    """mean, x − mean, the mean of its squares, (x − mean)·(1/sqrt(var + eps))·w + b: the values
    training_mode's primitives computed before this op existed. x − mean is emitted once per use, so each
    use computes it on the fly: as one value read twice it was stored, a full-size pass of its own."""
    from ._prims import const, mean
    x, w, b = ins
    rank = x.type.rank
    axes, view = _axes(rank), _view(rank)
    m = mean(e, x, axes, True)
    var = mean(e, e("mul", e("sub", x, m), e("sub", x, m)), axes, True)
    inv = e("div", const(e, 1.0, x), e("sqrt", e("add", var, const(e, a["eps"], x))))
    y = e("add", e("mul", e("mul", e("sub", x, m), inv), e("reshape", w, shape=view)), e("reshape", b, shape=view))
    return [y, m, var]


OP = Op(name="batchnorm_train", doc="batchnorm on the batch's statistics, with its closed-form gradient",
        inputs=("x", "w", "b"), attrs=(Attr("eps", "pos_float", 1e-5),), infer=infer, reference=reference,
        category="special", outputs=lambda a: 3, internal=True, vjp=vjp, decompose=decompose)
