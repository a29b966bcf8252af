"""maxout(x, pieces): the maximum over groups of `pieces` consecutive channels (axis 1)."""
from ..ir.types import dim_div_exact, dim_str
from .base import Attr, Op, ShapeError, require_float


def infer(ins, a):
    x = ins[0]
    require_float(x, "x", "maxout")
    if x.rank < 2:
        raise ShapeError(f"maxout works on axis 1, found {x}", blame="x", code="E0206")
    c = dim_div_exact(x.shape[1], a["pieces"])
    if c is None:
        raise ShapeError(f"maxout({a['pieces']}) needs axis 1 divisible by {a['pieces']}, found {dim_str(x.shape[1])}",
                         code="E0203", label=f"{dim_str(x.shape[1])} channels",
                         hint="the layer before maxout should produce units·pieces features")
    return [x.with_shape((x.shape[0], c) + x.shape[2:])]


def reference(arrays, a, ctx):
    x = arrays[0]
    k = a["pieces"]
    return [x.reshape((x.shape[0], x.shape[1] // k, k) + x.shape[2:]).max(axis=2)]





def decompose(e, ins, out_types, a):
    """[N, C·k, ...] viewed as [N, C, k, ...], the maximum over the k axis."""
    from ._prims import static_reshape
    x, k = ins[0], a["pieces"]
    t = out_types[0]
    grouped = static_reshape(e, x, t.with_shape(t.shape[:2] + (k,) + t.shape[2:]))
    return [e("max", grouped, axis=(2,))]


OP = Op(name="maxout", doc="the maximum over each group of `pieces` channels", inputs=("x",),
        attrs=(Attr("pieces", "pos_int"),), infer=infer, reference=reference, category="activation",
        examples=("x -> dense(256) -> maxout(4)",),
        vjp=lambda e, ins, outs, gs, a: [e("maxout_grad", gs[0], ins[0], pieces=a["pieces"])], decompose=decompose)
