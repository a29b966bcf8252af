"""groupnorm(x, groups): normalise each sample's channel groups of [N, C, ...] (PyTorch's GroupNorm).

The channels split into `groups` consecutive groups; each group of each
sample is normalised over its channels and every spatial position, then a
learnt scale and shift per channel (weight [C] ones, bias [C] zeros) apply
when `affine`. instancenorm is the case groups = C with affine off by
default (PyTorch's InstanceNorm1d/2d/3d without running statistics).
"""
from __future__ import annotations

from .base import Attr, Op, ParamSpec, ShapeError, require_float
from .common import batch_numel, known


def make_norm(name: str, doc: str, grouped: bool, affine: bool) -> Op:
    def groups_of(x, a) -> int:
        return a["groups"] if grouped else x.shape[1]

    def infer(ins, a):
        x = ins[0]
        require_float(x, "x", name)
        if x.rank < (2 if grouped else 3):
            want = "[N, C, L], [N, C, H, W] or [N, C, D, H, W]" if not grouped else "[N, C, ...]"
            raise ShapeError(f"{name} expects {want}, found {x}", blame="x", code="E0203",
                             label=f"this has rank {x.rank}")
        c = known(x.shape[1], "the channel axis", name)
        if grouped and c % a["groups"]:
            raise ShapeError(f"groupnorm with groups={a['groups']} needs channels ({c}) divisible by it",
                             blame="groups", code="E0303")
        g = groups_of(x, a)
        if g < c and sum(1 for d in (x.shape[0],) + x.shape[2:] if not isinstance(d, int)) > 1:
            raise ShapeError(f"{name} over groups of several channels needs known spatial sizes, found {x}",
                             blame="x", code="E0208", hint="give the spatial axes fixed sizes, or use instancenorm")
        return [x]

    def params(ins, a):
        c = ins[0].shape[1]
        if not a["affine"]:
            return []
        return [ParamSpec("weight", (c,), "ones"), ParamSpec("bias", (c,), "zeros")]

    def macs(ins, outs, a):
        return batch_numel(ins[0].shape)

    def reference(arrays, a, ctx):
        from ._numpy import np
        x = arrays[0]
        n, c = x.shape[:2]
        g = a["groups"] if grouped else c
        v = x.reshape((n, g, -1))
        mean = v.mean(axis=2, keepdims=True)
        var = v.var(axis=2, keepdims=True)
        y = ((v - mean) / np.sqrt(var + a["eps"])).reshape(x.shape)
        if a["affine"]:
            shape = (1, c) + (1,) * (x.ndim - 2)
            y = y * arrays[1].reshape(shape) + arrays[2].reshape(shape)
        return [y.astype(x.dtype)]

    def view(e, x, g: int):
        """x as [N, G, C/G, ...] (or x itself for instance norm) and the axes each group's statistics span."""
        c = x.type.shape[1]
        rank = x.type.rank
        if g == c:
            return x, tuple(range(2, rank))
        shape = (-1 if not isinstance(x.type.shape[0], int) else x.type.shape[0], g, c // g) + tuple(
            -1 if not isinstance(d, int) else d for d in x.type.shape[2:])
        return e("reshape", x, shape=shape), tuple(range(2, rank + 1))

    def back(e, v, x):
        return v if v.type.shape == x.type.shape else e("reshape_like", v, x)

    def stats(e, x, a):
        from ._prims import const, mean
        v, axes = view(e, x, groups_of(x.type, a))
        d = e("sub", v, mean(e, v, axes, True))
        inv = e("div", const(e, 1.0, x), e("sqrt", e("add", mean(e, e("mul", d, d), axes, True),
                                                      const(e, a["eps"], x))))
        return v, axes, e("mul", d, inv), inv

    def channel(e, p, x):
        return e("reshape", p, shape=(1, -1) + (1,) * (x.type.rank - 2))

    def decompose(e, ins, out_types, a):
        """(x − mean)/sqrt(var + eps) over each group, var the mean squared deviation; then ·w + b."""
        x = ins[0]
        _, _, xhat, _ = stats(e, x, a)
        y = back(e, xhat, x)
        if a["affine"]:
            y = e("add", e("mul", y, channel(e, ins[1], x)), channel(e, ins[2], x))
        return [y]

    def vjp(e, ins, outs, gs, a):
        """dx = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))/σ over each group, ĝ = g·w; dw = Σ g·x̂, db = Σ g."""
        from ._prims import mean
        x = ins[0]
        g = gs[0]
        _, axes, xhat, inv = stats(e, x, a)
        gh = e("mul", g, channel(e, ins[1], x)) if a["affine"] else g
        ghv, _ = view(e, gh, groups_of(x.type, a))
        centred = e("sub", ghv, mean(e, ghv, axes, True))
        gx = back(e, e("mul", inv, e("sub", centred, e("mul", xhat, mean(e, e("mul", ghv, xhat), axes, True)))), x)
        if not a["affine"]:
            return [gx]
        over = (0,) + tuple(range(2, x.type.rank))
        return [gx, e("sum", e("mul", g, back(e, xhat, x)), axis=over), e("sum", g, axis=over)]

    attrs = ((Attr("groups", "pos_int"),) if grouped else ()) + (
        Attr("eps", "pos_float", 1e-5), Attr("affine", "bool", affine, "a learnt scale and shift per channel"))
    return Op(name=name, doc=doc, inputs=("x",), attrs=attrs, infer=infer, params=params, macs=macs,
              reference=reference, category="layer", vjp=vjp, decompose=decompose,
              examples=(f"x -> {name}(8)" if grouped else f"x -> {name}",))


OP = make_norm("groupnorm", "normalise groups of channels per sample", True, True)
