"""clip(x, lo, hi): x limited to [lo, hi] elementwise (PGD's projection, clipped values, Huber-style losses)."""
from ._numpy import np

from .base import Attr, Op, ShapeError, require_float


def infer(ins, a):
    require_float(ins[0], "x", "clip")
    if a["lo"] > a["hi"]:
        raise ShapeError(f"clip needs lo <= hi, found lo={a['lo']:g} > hi={a['hi']:g}", blame="lo", code="E0207",
                         label="larger than hi", hint="swap the bounds: clip(x, lo, hi)")
    return [ins[0]]


def reference(arrays, a, ctx):
    x = arrays[0]
    return [np.clip(x, a["lo"], a["hi"]).astype(x.dtype)]


def decompose(e, ins, out_types, a):
    """minimum(maximum(x, lo), hi)."""
    from ._prims import const
    x = ins[0]
    return [e("minimum", e("maximum", x, const(e, a["lo"], x)), const(e, a["hi"], x))]


def vjp(e, ins, outs, gs, a):
    """g where lo <= x <= hi, else 0 (at a bound the gradient passes, as maximum's and minimum's do)."""
    from ._prims import const, zeros_like
    x, g = ins[0], gs[0]
    inside = e("where", e("compare", x, const(e, a["lo"], x), kind="ge"), g, zeros_like(e, g))
    return [e("where", e("compare", x, const(e, a["hi"], x), kind="le"), inside, zeros_like(e, g))]


OP = Op(name="clip", doc="x limited to [lo, hi], elementwise", inputs=("x",),
        attrs=(Attr("lo", "float", doc="the lower bound"), Attr("hi", "float", doc="the upper bound")),
        infer=infer, reference=reference, decompose=decompose, vjp=vjp, category="math",
        examples=("clip(x, -1, 1)", "x -> clip(0.0, 6.0)"))
