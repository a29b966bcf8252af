"""hardtanh(x, min_val=-1, max_val=1): x clipped to [min_val, max_val]; relu6 is hardtanh(0, 6)."""
from dataclasses import replace

from .base import Attr, ShapeError, require_float
from .common import unary


def make_clip(name: str, lo: float | None, hi: float | None, doc: str, example: str):
    """The op; lo/hi None take the bounds from the attributes min_val/max_val."""

    def bounds(a):
        return (a["min_val"] if lo is None else lo), (a["max_val"] if hi is None else hi)

    def value_np(x, a):
        from ._numpy import np
        low, high = bounds(a)
        return np.clip(x, low, high).astype(x.dtype)

    def infer(ins, a):
        require_float(ins[0], "x", name)
        low, high = bounds(a)
        if low >= high:
            raise ShapeError(f"{name} needs min_val below max_val, found {low:g} and {high:g}", blame="max_val",
                             code="E0207")
        return [ins[0]]

    def decompose(e, ins, out_types, a):
        """minimum(maximum(x, min_val), max_val)."""
        from ._prims import const
        low, high = bounds(a)
        x = ins[0]
        return [e("minimum", e("maximum", x, const(e, low, x)), const(e, high, x))]

    def vjp(e, ins, outs, gs, a):
        """1 strictly inside the bounds, 0 outside and on them (PyTorch)."""
        low, high = bounds(a)
        x = ins[0]
        c = lambda v: e.const(v, x.type.dtype)  # noqa: E731
        inside = e("mul", e("cast", e("compare", x, c(low), kind="gt"), dtype=x.type.dtype),
                   e("cast", e("compare", x, c(high), kind="lt"), dtype=x.type.dtype))
        return [e("mul", gs[0], inside)]

    attrs = (Attr("min_val", "float", -1.0), Attr("max_val", "float", 1.0)) if lo is None else ()
    return replace(unary(name, value_np, doc, attrs, examples=(example,), vjp=vjp), infer=infer, decompose=decompose)


OP = make_clip("hardtanh", None, None, "x clipped to [min_val, max_val]", "x -> hardtanh")
