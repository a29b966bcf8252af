"""dense(x, units): y = x·Wᵀ + b on the last axis; W is [units, in] as in PyTorch."""
from ..ir.types import TensorType
from .base import Attr, Op, ParamSpec, require_float
from .common import batch_numel, known

INITS = "choice:xavier_uniform|xavier_normal|he_uniform|he_normal|lecun_uniform|lecun_normal|normal|zeros"


def weight_init(a) -> str:
    """The weight's init string: `init`, or "normal:STD" when a std is given for init="normal" (nnc/init.py)."""
    std = a.get("std")
    if std is None:
        return a["init"]
    if a["init"] != "normal":
        from .base import ShapeError
        raise ShapeError(f'std is the standard deviation of init="normal", not of init="{a["init"]}"', blame="std",
                         code="E0105", hint='write init="normal", std=...')
    return f"normal:{float(std)!r}"


def infer(ins, a):
    x = ins[0]
    require_float(x, "x", "dense")
    weight_init(a)
    if x.rank == 0:
        from .base import ShapeError
        raise ShapeError("dense needs at least one axis, found a scalar", blame="x", code="E0206")
    known(x.shape[-1], "the last axis", "dense")
    return [TensorType(x.dtype, x.shape[:-1] + (a["units"],))]


def params(ins, a):
    fan_in = ins[0].shape[-1]
    out = [ParamSpec("weight", (a["units"], fan_in), weight_init(a), fan_in=fan_in, fan_out=a["units"], decay=True)]
    if a["bias"]:
        out.append(ParamSpec("bias", (a["units"],), "zeros"))
    return out


def reference(arrays, a, ctx):
    x, w = arrays[0], arrays[1]
    y = x @ w.T
    if a["bias"]:
        y = y + arrays[2]
    return [y.astype(x.dtype)]


def macs(ins, outs, a):
    return batch_numel(ins[0].shape[:-1]) * ins[0].shape[-1] * a["units"]


def vjp(e, ins, outs, gs, a):
    """dx = g·W; dW = gᵀ·x over every leading axis; db = g summed over them."""
    x, w = ins[0], ins[1]
    g = gs[0]
    units, features = w.type.shape
    gx = e("matmul", g, w)
    g2 = e("reshape", g, shape=(-1, units))
    x2 = e("reshape", x, shape=(-1, features))
    gw = e("matmul", e("transpose", g2, perm=(1, 0)), x2)
    out = [gx, gw]
    if a["bias"]:
        out.append(e("sum", g2, axis=(0,)))
    return out


def decompose(e, ins, out_types, a):
    """x·Wᵀ (+ b)."""
    y = e("matmul", ins[0], e("transpose", ins[1], perm=(1, 0)))
    return [e("add", y, ins[2]) if a["bias"] else y]


OP = Op(name="dense", doc="a fully connected layer on the last axis", inputs=("x",),
        attrs=(Attr("units", "pos_int"), Attr("bias", "bool", True), Attr("init", INITS, "xavier_uniform"),
               Attr("std", "nonneg_float", None, 'the standard deviation of init="normal" (1 when absent)')),
        infer=infer, params=params, reference=reference, macs=macs, category="layer",
        examples=("x -> dense(128)",), vjp=vjp, decompose=decompose)
