"""rand(shape, lo, hi): uniform random numbers in [lo, hi), drawn from the counter-based generator (Philox).

`shape` is a list such as [N, 8], its symbols bound from the program's tensors, or a tensor whose shape
is taken. Each training step and model call draws new numbers (nnc/ops/_random_draw.py).
"""
from . import _random_draw as draw
from .base import Attr, Op, ShapeError


def infer(ins, a):
    if a["lo"] >= a["hi"]:
        raise ShapeError(f"rand needs lo < hi, found lo={a['lo']:g}, hi={a['hi']:g}", blame="lo", code="E0207",
                         label="not below hi")
    return draw.infer("rand")(ins, a)


def reference(arrays, a, ctx):
    u = draw.uniforms(arrays, a, a["stream"])
    return [(u * (a["hi"] - a["lo"]) + a["lo"]).astype(u.dtype)]


def decompose(e, ins, out_types, a):
    """lo + (hi − lo)·u, u = random_uniform."""
    from ._prims import const
    u = draw.uniform_node(e, ins, a, a["stream"])
    if (a["lo"], a["hi"]) == (0.0, 1.0):
        return [u]
    return [e("add", e("mul", u, const(e, a["hi"] - a["lo"], u)), const(e, a["lo"], u))]


OP = Op(name="rand", doc="uniform random numbers in [lo, hi) of a shape", inputs=("like",),
        optional_inputs=("key", "counter", "offset"),
        attrs=(Attr("lo", "float", 0.0, "the lower bound"), Attr("hi", "float", 1.0, "the upper bound (excluded)"),
               draw.STREAM, draw.DTYPE),
        infer=infer, reference=reference, decompose=decompose, vjp=draw.no_gradient, category="special",
        examples=("rand([N, 8])", "rand(shape(x), -1.0, 1.0)"))
