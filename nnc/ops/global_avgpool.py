"""global_avgpool(x): the mean over every spatial axis, [N, C, H, W] → [N, C, 1, 1] (ONNX, PyTorch)."""
from ..ir.types import TensorType
from .base import Op, ShapeError, require_float


def infer(ins, a):
    x = ins[0]
    require_float(x, "x", "global_avgpool")
    if x.rank < 3:
        raise ShapeError(f"global_avgpool expects [N, C, ...spatial], found {x}", blame="x", code="E0203")
    return [TensorType(x.dtype, x.shape[:2] + (1,) * (x.rank - 2))]


def reference(arrays, a, ctx):
    x = arrays[0]
    return [x.mean(axis=tuple(range(2, x.ndim)), keepdims=True)]





def decompose(e, ins, out_types, a):
    """The mean over the spatial axes, kept as size 1."""
    from ._prims import mean
    x = ins[0]
    return [mean(e, x, tuple(range(2, x.type.rank)), True)]


OP = Op(name="global_avgpool", doc="the mean over all spatial axes, keeping them as size 1", inputs=("x",),
        infer=infer, reference=reference, category="pool", examples=("x -> global_avgpool -> flatten",),
        vjp=lambda e, ins, outs, gs, a: [e("unreduce", gs[0], ins[0], axis=tuple(range(2, ins[0].type.rank)),
                                           keepdims=True, mean=True)], decompose=decompose)
