"""pool_backward(g, x): the gradient of maxpool (to each window's first maximum) or avgpool."""
from .base import Attr, Op


def reference(arrays, a, ctx):
    from . import _pool_kernels as k
    g, x = arrays
    if a["kind"] == "maxpool":
        return [k.max_pool_nd_backward(g, x, a["kernel"], a["stride"], a["padding"])]
    return [k.avg_pool_nd_backward(g, x, a["kernel"], a["stride"], a["padding"], True)]


def vjp(e, ins, outs, gs, a):
    """Linear in g. avgpool's gradient transposes to avgpool itself; maxpool's to pool_select (h at each
    window's maximum). The windows' winners are constant where differentiable, so x gets no gradient."""
    window = {k: a[k] for k in ("kernel", "stride", "padding")}
    if a["kind"] == "avgpool":
        return [e.resolved("avgpool", gs[0], remainder="drop", **window), None]
    return [e.resolved("pool_select", gs[0], ins[1], **window), None]


def decompose(e, ins, out_types, a):
    """maxpool: g at each window's first maximum; avgpool: g / window size spread over each window."""
    from ._prims import const
    from .reduce_window import sum_window_transpose
    g, x = ins
    window = {k: a[k] for k in ("kernel", "stride", "padding")}
    if a["kind"] == "maxpool":
        return [e("select_and_scatter_add", g, x, **window)]
    size = 1
    for k in a["kernel"]:
        size *= k
    return [sum_window_transpose(e, e("div", g, const(e, size, g)), x.type, window)]


OP = Op(name="pool_backward", doc="the gradient of a pooling op", inputs=("g", "x"),
        attrs=(Attr("kind", "choice:maxpool|avgpool"), Attr("kernel", "any"), Attr("stride", "any"),
               Attr("padding", "any")),
        infer=lambda ins, a: [ins[1]], reference=reference, category="gradient", internal=True, vjp=vjp,
        decompose=decompose)
