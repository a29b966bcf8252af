"""pool_backward(g, x): the gradient of maxpool (to each window's first maximum) or avgpool."""
from .base import Attr, Op


def reference(arrays, a, ctx):
    from . import _pool_kernels as k
    g, x = arrays
    if a["kind"] == "maxpool":
        return [k.max_pool_nd_backward(g, x, a["kernel"], a["stride"], a["padding"])]
    return [k.avg_pool_nd_backward(g, x, a["kernel"], a["stride"], a["padding"], True)]


OP = Op(name="pool_backward", doc="the gradient of a pooling op", inputs=("g", "x"),
        attrs=(Attr("kind", "choice:maxpool|avgpool"), Attr("kernel", "any"), Attr("stride", "any"),
               Attr("padding", "any")),
        infer=lambda ins, a: [ins[1]], reference=reference, category="gradient", internal=True)
