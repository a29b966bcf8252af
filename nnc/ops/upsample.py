"""upsample(x, scale=2, mode="nearest"): enlarge the spatial axes of [N, C, ...] by whole factors (PyTorch's
nn.Upsample / F.interpolate with scale_factor, align_corners=False).

"nearest" repeats each element `scale` times; "linear" ("bilinear",
"trilinear": the same rule on each axis in turn) reads at the source position
(o + ½)/scale − ½, clamped to the input, between its two neighbours. With a
whole factor every output phase r of an axis has a fixed offset
δ = (r + ½)/scale − ½, so the decomposition is a few slices of the
edge-replicated input weighted per phase and interleaved (no gather), and
the gradient is that construction transposed.
"""
from __future__ import annotations

from ..ir.types import TensorType, dim_mul, dim_str
from .base import Attr, Op, ShapeError, require_float
from .window import per_axis

LINEAR = ("linear", "bilinear", "trilinear")


def resolve(ins, a):
    x = ins[0]
    if x.rank < 3:
        raise ShapeError(f"upsample expects [N, C, L], [N, C, H, W] or [N, C, D, H, W], found {x}", blame="x",
                         code="E0203", label=f"this has rank {x.rank}")
    return {**a, "scale": per_axis(a["scale"], x.rank - 2, "scale")}


def infer(ins, a):
    x = ins[0]
    require_float(x, "x", "upsample")
    spatial = x.shape[2:]
    if a["mode"] in LINEAR[1:] and len(spatial) != LINEAR.index(a["mode"]) + 1:
        raise ShapeError(f'mode="{a["mode"]}" is for {LINEAR.index(a["mode"]) + 1} spatial axes, {x} has '
                         f"{len(spatial)}", blame="mode", code="E0203", hint='mode="linear" works for any')
    for d in spatial:
        if not isinstance(d, int):
            raise ShapeError(f"upsample needs known spatial sizes, found {dim_str(d)} in {x}", blame="x",
                             code="E0208", hint="give the spatial axes fixed sizes")
    return [TensorType(x.dtype, x.shape[:2] + tuple(dim_mul(d, s) for d, s in zip(spatial, a["scale"])))]


def _positions(n: int, s: int):
    """PyTorch's source index pair and weight of each output position along one axis (align_corners=False)."""
    out = []
    for o in range(n * s):
        src = max((o + 0.5) / s - 0.5, 0.0)
        i0 = int(src)
        out.append((i0, min(i0 + 1, n - 1), src - i0))
    return out


def reference(arrays, a, ctx):
    from ._numpy import np
    x = arrays[0]
    for k, s in enumerate(a["scale"]):
        axis = 2 + k
        if a["mode"] == "nearest":
            x = np.repeat(x, s, axis=axis)
            continue
        pos = _positions(x.shape[axis], s)
        i0 = np.array([p[0] for p in pos])
        i1 = np.array([p[1] for p in pos])
        lam = np.array([p[2] for p in pos], dtype=x.dtype).reshape((-1,) + (1,) * (x.ndim - axis - 1))
        x = np.take(x, i0, axis=axis) * (1 - lam) + np.take(x, i1, axis=axis) * lam
    return [np.ascontiguousarray(x, dtype=arrays[0].dtype)]


def _static(shape) -> tuple:
    return tuple(-1 if not isinstance(d, int) else d for d in shape)


def _interleave(e, phases, axis: int, t: TensorType):
    """Phases [.., n, ..] each → [.., n, s, ..] → [.., n·s, ..] along axis."""
    shape = list(t.shape)
    shape.insert(axis + 1, 1)
    parts = [e("reshape", p, shape=_static(shape)) for p in phases]
    joined = parts[0] if len(parts) == 1 else e("concat", *parts, axis=axis + 1)
    merged = list(t.shape)
    merged[axis] = t.shape[axis] * len(phases)
    return e("reshape", joined, shape=_static(merged))


def _deltas(s: int) -> list[float]:
    return [(r + 0.5) / s - 0.5 for r in range(s)]


def _axis_up(e, x, axis: int, s: int, mode: str):
    from ._prims import const
    n = x.type.shape[axis]
    if mode == "nearest":
        return _interleave(e, [x] * s, axis, x.type)
    first = e("slice", x, start=0, end=1, axis=axis)
    last = e("slice", x, start=n - 1, end=n, axis=axis)
    padded = e("concat", first, x, last, axis=axis)
    left, right = (e("slice", padded, start=0, end=n, axis=axis), e("slice", padded, start=2, end=n + 2, axis=axis))
    phases = []
    for d in _deltas(s):
        side = right if d > 0 else left
        phases.append(x if d == 0 else e("add", e("mul", x, const(e, 1 - abs(d), x)),
                                         e("mul", side, const(e, abs(d), x))))
    return _interleave(e, phases, axis, x.type)


def decompose(e, ins, out_types, a):
    """Each axis in turn: repeated (nearest), or a weighted pair of edge-replicated neighbours per phase."""
    x = ins[0]
    for k, s in enumerate(a["scale"]):
        if s > 1:
            x = _axis_up(e, x, 2 + k, s, a["mode"])
    return [x]


def _axis_down(e, g, t: TensorType, axis: int, s: int, mode: str):
    """The transpose of _axis_up: g [.., n·s, ..] to t's shape [.., n, ..]."""
    from ._prims import const
    n = t.shape[axis]
    split = list(g.type.shape)
    split[axis:axis + 1] = [n, s]
    phased = e("reshape", g, shape=_static(split))
    if mode == "nearest":
        return e("sum", phased, axis=(axis + 1,))
    rank = t.rank

    def pad(v, lo, hi):
        return e("pad", v, lo=tuple(lo if i == axis else 0 for i in range(rank)),
                 hi=tuple(hi if i == axis else 0 for i in range(rank)), value=0.0)

    total = None
    for r, d in enumerate(_deltas(s)):
        gr = e("reshape", e("slice", phased, start=r, end=r + 1, axis=axis + 1), shape=_static(t.shape))
        terms = [pad(e("mul", gr, const(e, 1 - abs(d), gr)), 1, 1)]
        if d != 0:
            shifted = e("mul", gr, const(e, abs(d), gr))
            terms.append(pad(shifted, 2, 0) if d > 0 else pad(shifted, 0, 2))
        for term in terms:
            total = term if total is None else e("add", total, term)
    inner = e("slice", total, start=1, end=n + 1, axis=axis)
    edge_lo = pad(e("slice", total, start=0, end=1, axis=axis), 0, n - 1)
    edge_hi = pad(e("slice", total, start=n + 1, end=n + 2, axis=axis), n - 1, 0)
    return e("add", e("add", inner, edge_lo), edge_hi)


def vjp(e, ins, outs, gs, a):
    """Each axis's construction transposed, last axis first."""
    x = ins[0]
    shapes = [x.type]
    for k, s in enumerate(a["scale"]):
        t = shapes[-1]
        shapes.append(t.with_shape(t.shape[:2 + k] + (dim_mul(t.shape[2 + k], s),) + t.shape[3 + k:]))
    g = gs[0]
    for k in reversed(range(len(a["scale"]))):
        if a["scale"][k] > 1:
            g = _axis_down(e, g, shapes[k], 2 + k, a["scale"][k], a["mode"])
    return [g]


OP = Op(name="upsample", doc="enlarge the spatial axes by whole factors, nearest or (bi/tri)linear",
        inputs=("x",),
        attrs=(Attr("scale", "window", 2), Attr("mode", "choice:nearest|" + "|".join(LINEAR), "nearest")),
        resolve=resolve, infer=infer, reference=reference, vjp=vjp, decompose=decompose, category="shape",
        examples=("x -> upsample(2)",))
