"""flatten(x): keep axis 0, flatten the rest ([N, 16, 5, 5] → [N, 400]), as nn.Flatten and Keras."""
from ..ir.types import dim_prod
from .base import Op, ShapeError


def infer(ins, a):
    x = ins[0]
    if x.rank == 0:
        raise ShapeError("flatten needs a batch axis, found a scalar", blame="x", code="E0206")
    return [x.with_shape((x.shape[0], dim_prod(x.shape[1:])))]


def reference(arrays, a, ctx):
    x = arrays[0]
    return [x.reshape(x.shape[0], -1)]





def decompose(e, ins, out_types, a):
    """A reshape to [N, rest]."""
    from ._prims import static_reshape
    return [static_reshape(e, ins[0], out_types[0])]


OP = Op(name="flatten", doc="keep axis 0 and flatten the others into one", inputs=("x",), infer=infer,
        reference=reference, category="shape", examples=("x -> flatten",),
        vjp=lambda e, ins, outs, gs, a: [e("reshape_like", gs[0], ins[0])], decompose=decompose)
