"""transpose(x, [perm]): permute every axis, batch included, as NumPy."""
from ._numpy import np

from .base import Attr, Op, ShapeError


def infer(ins, a):
    x = ins[0]
    perm = a["perm"]
    if sorted(p % x.rank if -x.rank <= p < x.rank else -99 for p in perm) != list(range(x.rank)):
        raise ShapeError(f"transpose needs a permutation of 0..{x.rank - 1}, found {list(perm)}", blame="perm",
                         code="E0206")
    return [x.with_shape(tuple(x.shape[p] for p in perm))]


def vjp(e, ins, outs, gs, a):
    rank = ins[0].type.rank
    perm = [p % rank for p in a["perm"]]
    inverse = tuple(perm.index(i) for i in range(rank))
    return [e("transpose", gs[0], perm=inverse)]


OP = Op(name="transpose", doc="permute the axes", inputs=("x",), attrs=(Attr("perm", "ints"),), infer=infer,
        reference=lambda arrays, a, ctx: [np.transpose(arrays[0], a["perm"])], category="shape",
        examples=("x -> transpose([0, 2, 1])",), vjp=vjp)
