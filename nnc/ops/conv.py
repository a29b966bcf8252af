"""conv(x, w): the general convolution every convolution and its gradients are written in (a primitive).

x is [N, C, *spatial], w [O, C/groups, *kernel] (PyTorch's layout); per
spatial axis: `stride`, `padding` as (lo, hi) pairs (negative crops),
`lhs_dilation` (zeros inserted between input elements: a transposed
convolution's stride) and `rhs_dilation` (the kernel's dilation). As in
XLA/JAX, the gradient with respect to x is a convolution of g with the
flipped kernel, and the one with respect to w a convolution of x with g as
the kernel, batch and channels swapped (`input_grad`, `weight_grad` below,
shared with the composite ops' rules).
"""
from __future__ import annotations

from ._numpy import np

from ..ir.types import TensorType, dim_add, dim_mul, dim_str, dim_sub, window_count
from .base import Attr, Op, ShapeError


def dilated(n, d: int):
    """The size of n elements with d − 1 zeros between neighbours."""
    return dim_add(dim_mul(dim_add(n, -1), d), 1) if d > 1 else n


def out_size(n, k, s: int, ld: int, rd: int, lo: int, hi: int):
    """The output size along one axis; the kernel size k may be symbolic (a weight gradient's kernel is g)."""
    extent = dilated(k, rd)
    n = dilated(n, ld)
    span = dim_sub(dim_add(n, lo + hi), extent)  # an int when a symbolic kernel cancels a symbolic input
    if isinstance(span, int):
        return span // s + 1
    if s == 1:
        return dim_add(span, 1)
    if not isinstance(extent, int):
        raise ShapeError(f"conv with stride {s} needs a known kernel size, found {dim_str(k)}", code="E0208")
    return window_count(n, lo + hi - extent, s)


def infer(ins: list[TensorType], a: dict) -> list[TensorType]:
    x, w = ins
    sp = x.rank - 2
    if sp < 1 or w.rank != x.rank:
        raise ShapeError(f"conv expects x [N, C, ...] and w [O, C/groups, ...] of one rank, found {x} and {w}",
                         blame="w", code="E0203")
    for name in ("stride", "lhs_dilation", "rhs_dilation"):
        if len(a[name]) != sp:
            raise ShapeError(f"conv needs one {name} per spatial axis ({sp})", blame=name, code="E0203")
    if len(a["padding"]) != sp:
        raise ShapeError(f"conv needs one (lo, hi) padding pair per spatial axis ({sp})", blame="padding",
                         code="E0203")
    g = a["groups"]
    if dim_mul(w.shape[1], g) != x.shape[1] or not isinstance(w.shape[0], int) or w.shape[0] % g:
        raise ShapeError(f"conv with groups={g} needs w [O, C/{g}, ...] for x {x}, found {w}", blame="w",
                         code="E0203")
    out = []
    for n, k, s, ld, rd, (lo, hi) in zip(x.shape[2:], w.shape[2:], a["stride"], a["lhs_dilation"],
                                         a["rhs_dilation"], a["padding"]):
        size = out_size(n, k, s, ld, rd, lo, hi)
        if isinstance(size, int) and size < 1:
            raise ShapeError(f"conv leaves no output along an axis of size {dim_str(n)}", code="E0302")
        out.append(size)
    return [TensorType(x.dtype, (x.shape[0], w.shape[0]) + tuple(out))]


def reference(arrays, a, ctx):
    from ._conv_kernels import conv_nd
    x, w = arrays
    if any(d > 1 for d in a["lhs_dilation"]):
        shape = x.shape[:2] + tuple((n - 1) * d + 1 for n, d in zip(x.shape[2:], a["lhs_dilation"]))
        spread = np.zeros(shape, dtype=x.dtype)
        spread[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in a["lhs_dilation"])] = x
        x = spread
    crop = (slice(None), slice(None)) + tuple(slice(max(-lo, 0), n - max(-hi, 0))
                                              for n, (lo, hi) in zip(x.shape[2:], a["padding"]))
    pads = tuple((max(lo, 0), max(hi, 0)) for lo, hi in a["padding"])
    y = conv_nd(x[crop], w, None, tuple(a["stride"]), pads, tuple(a["rhs_dilation"]), a["groups"])
    return [np.ascontiguousarray(y, dtype=arrays[0].dtype)]


def _flipped(e, w, groups: int):
    """w [O, C/G, *K] as the kernel of the input gradient: [C, O/G, *K], each group's roles swapped, flipped."""
    o, cg, *kernel = w.type.shape
    sp = len(kernel)
    regroup = e("reshape", w, shape=(groups, o // groups, cg) + tuple(kernel))
    swapped = e("transpose", regroup, perm=(0, 2, 1) + tuple(range(3, 3 + sp)))
    return e("reverse", e("reshape", swapped, shape=(groups * cg, o // groups) + tuple(kernel)),
             axes=tuple(range(2, 2 + sp)))


def _int(d, what: str) -> int:
    from ._prims import cannot
    if not isinstance(d, int):
        cannot("a convolution's gradient", f"{what} of symbolic size {dim_str(d)}")
    return d


def input_grad(e, g, w, in_spatial, a: dict):
    """d⟨g, conv(x, w)⟩/dx for x of spatial sizes in_spatial: a convolution of g with the flipped kernel."""
    kernel = w.type.shape[2:]
    pads = []
    for n, o, k, s, ld, rd, (lo, hi) in zip(in_spatial, g.type.shape[2:], kernel, a["stride"], a["lhs_dilation"],
                                            a["rhs_dilation"], a["padding"]):
        extent = rd * (k - 1) + 1
        before = extent - lo - 1
        after = _int(dim_sub(dim_add(dilated(n, ld), extent - 1 - before), dilated(o, s)), "an input minus output")
        pads.append((before, after))
    return e("conv", g, _flipped(e, w, a["groups"]), stride=tuple(a["lhs_dilation"]), padding=tuple(pads),
             lhs_dilation=tuple(a["stride"]), rhs_dilation=tuple(a["rhs_dilation"]), groups=a["groups"])


def weight_grad(e, x, g, kernel, a: dict):
    """d⟨g, conv(x, w)⟩/dw: per group, x with batch and channels swapped convolved with g as the kernel."""
    sp = x.type.rank - 2
    swap = (1, 0) + tuple(range(2, 2 + sp))
    groups = a["groups"]
    pads = []
    for n, o, k, s, ld, rd, (lo, hi) in zip(x.type.shape[2:], g.type.shape[2:], kernel, a["stride"],
                                            a["lhs_dilation"], a["rhs_dilation"], a["padding"]):
        hi_w = _int(dim_sub(dim_add(dilated(o, s), (k - 1) * rd - lo), dilated(n, ld)), "an output minus input")
        pads.append((lo, hi_w))
    geometry = dict(stride=tuple(a["rhs_dilation"]), padding=tuple(pads), lhs_dilation=tuple(a["lhs_dilation"]),
                    rhs_dilation=tuple(a["stride"]), groups=1)
    c, o = _int(x.type.shape[1], "the channel axis"), _int(g.type.shape[1], "the channel axis")
    parts = []
    for j in range(groups):
        xj = x if groups == 1 else e("slice", x, start=j * c // groups, end=(j + 1) * c // groups, axis=1)
        gj = g if groups == 1 else e("slice", g, start=j * o // groups, end=(j + 1) * o // groups, axis=1)
        parts.append(e("conv", e("transpose", xj, perm=swap), e("transpose", gj, perm=swap), **geometry))
    joined = parts[0] if groups == 1 else e("concat", *parts, axis=1)  # [C/G, O, *K]
    return e("transpose", joined, perm=swap)


def vjp(e, ins, outs, gs, a):
    x, w = ins
    g = gs[0]
    return [input_grad(e, g, w, x.type.shape[2:], a), weight_grad(e, x, g, w.type.shape[2:], a)]


OP = Op(name="conv", doc="the general convolution (strides, padding pairs, input and kernel dilation, groups)",
        inputs=("x", "w"),
        attrs=(Attr("stride", "ints"), Attr("padding", "any", doc="one (lo, hi) pair per spatial axis"),
               Attr("lhs_dilation", "ints"), Attr("rhs_dilation", "ints"), Attr("groups", "pos_int", 1)),
        infer=infer, reference=reference, category="layer", internal=True, vjp=vjp)
