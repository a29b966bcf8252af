"""grad(y, x): the gradient of scalar y with respect to tensor x (expanded by autodiff)."""
from .base import Op, ShapeError


def infer(ins, a):
    y, x = ins
    if y.shape != ():
        raise ShapeError(f"grad differentiates a scalar, found {y}", blame="y", code="E0203",
                         label=f"this is {y}", hint="reduce it first, e.g. with a loss or mean(...)")
    if not y.is_float or not x.is_float:
        raise ShapeError(f"grad needs float tensors, found {y} and {x}", blame="x", code="E0202")
    return [x]


OP = Op(name="grad", doc="the gradient of a scalar with respect to a tensor", inputs=("y", "x"), infer=infer,
        category="special", examples=("grad(loss, x)",))
