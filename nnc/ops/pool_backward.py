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
        return [e.resolved("avgpool", gs[0], **window), None]
    return [e.resolved("pool_select", gs[0], ins[1], **window), None]


OP = Op(name="pool_backward", doc="the gradient of a pooling op", inputs=("g", "x"),
        attrs=(Attr("kind", "choice:maxpool|avgpool"), Attr("kernel", "any"), Attr("stride", "any"),
               Attr("padding", "any")),
        infer=lambda ins, a: [ins[1]], reference=reference, category="gradient", internal=True, vjp=vjp)
