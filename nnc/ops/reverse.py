"""reverse(x, axes): x flipped along the given axes (a primitive; convolution gradients flip kernels)."""
from ._numpy import np

from .base import Attr, Op, same_type
from .common import normalize_axis


def resolve(ins, a):
    return {**a, "axes": tuple(sorted({normalize_axis(ax, ins[0].rank, blame="axes") for ax in a["axes"]}))}


OP = Op(name="reverse", doc="flip along axes", inputs=("x",), attrs=(Attr("axes", "ints"),), infer=same_type,
        resolve=resolve, reference=lambda arrays, a, ctx: [np.array(np.flip(arrays[0], a["axes"]), order="C")],
        category="shape", examples=("reverse(x, [1])",),
        vjp=lambda e, ins, outs, gs, a: [e("reverse", gs[0], axes=a["axes"])])
