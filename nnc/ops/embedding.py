"""embedding(ids, vocab, dim): row lookup in a [vocab, dim] table, initialised N(0, 1) as PyTorch."""
from ..ir.types import TensorType
from .base import Attr, Op, ParamSpec, ShapeError


def infer(ins, a):
    x = ins[0]
    if not x.is_int:
        raise ShapeError(f"embedding looks up integer ids, found {x}", blame="x", code="E0202",
                         label=f"this is {x}", hint="declare the input as i32 or i64")
    return [TensorType("f32", x.shape + (a["dim"],))]


def params(ins, a):
    return [ParamSpec("weight", (a["vocab"], a["dim"]), "normal", fan_in=a["vocab"], fan_out=a["dim"], decay=True)]


def reference(arrays, a, ctx):
    ids, table = arrays
    if ids.size and (ids.min() < 0 or ids.max() >= a["vocab"]):
        from ..interp import RunError  # bad input at run time, reported as such (not a bug in nnc)
        bad = int(ids.min()) if ids.min() < 0 else int(ids.max())
        raise RunError(f"token id {bad} is outside the vocabulary of {a['vocab']} of embedding({a['vocab']}, "
                       f"{a['dim']}): ids must lie in 0..{a['vocab'] - 1}")
    return [table[ids]]





def decompose(e, ins, out_types, a):
    """table[ids]: a gather."""
    ids, table = ins
    out = e("gather", table, ids)
    return [out if out.type == out_types[0] else e("cast", out, dtype=out_types[0].dtype)]


OP = Op(name="embedding", doc="a learnt vector for each integer id", inputs=("x",),
        attrs=(Attr("vocab", "pos_int"), Attr("dim", "pos_int")), infer=infer, params=params, reference=reference,
        category="layer", examples=("tokens -> embedding(1000, 64)",),
        vjp=lambda e, ins, outs, gs, a: [None, e("embedding_grad", gs[0], ins[0], ins[1])], decompose=decompose)
