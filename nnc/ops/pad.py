"""pad(x, lo, hi, value): a constant border of lo[i] elements before and hi[i] after axis i (a primitive).

Negative amounts crop, as in XLA, so the gradient of a pad is a pad: the
same amounts negated.
"""
from ._numpy import np

from ..ir.types import dim_add, dim_str
from .base import Attr, Op, ShapeError


def infer(ins, a):
    x = ins[0]
    lo, hi = a["lo"], a["hi"]
    if len(lo) != x.rank or len(hi) != x.rank:
        raise ShapeError(f"pad needs one lo and one hi per axis of {x}, found {len(lo)} and {len(hi)}",
                         blame="lo", code="E0203")
    shape = []
    for d, l, h in zip(x.shape, lo, hi):
        n = dim_add(d, l + h)
        if isinstance(n, int) and n < 0:
            raise ShapeError(f"pad crops more than axis of size {dim_str(d)}", blame="lo", code="E0207")
        shape.append(n)
    return [x.with_shape(tuple(shape))]


def reference(arrays, a, ctx):
    x = arrays[0]
    crop = tuple(slice(max(-l, 0), x.shape[i] - max(-h, 0)) for i, (l, h) in enumerate(zip(a["lo"], a["hi"])))
    x = x[crop]
    widths = [(max(l, 0), max(h, 0)) for l, h in zip(a["lo"], a["hi"])]
    return [np.pad(x, widths, constant_values=np.asarray(a["value"], dtype=x.dtype))]


def vjp(e, ins, outs, gs, a):
    neg = lambda v: tuple(-i for i in v)  # noqa: E731
    return [e("pad", gs[0], lo=neg(a["lo"]), hi=neg(a["hi"]), value=0.0)]


OP = Op(name="pad", doc="a constant border per axis (negative amounts crop)", inputs=("x",),
        attrs=(Attr("lo", "ints"), Attr("hi", "ints"), Attr("value", "float", 0.0)), infer=infer,
        reference=reference, category="shape", internal=True, vjp=vjp)
