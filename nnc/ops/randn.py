"""randn(shape, mean, std): normal random numbers (Box–Muller from two Philox uniforms of different streams).

`shape` is a list such as [N, 8], its symbols bound from the program's tensors, or a tensor whose shape
is taken (a GAN's noise, a VAE's reparameterisation). Each training step and model call draws new
numbers (nnc/ops/_random_draw.py).
"""
import math

from . import _random_draw as draw
from ._numpy import np
from .base import Attr, Op, ShapeError


def infer(ins, a):
    if a["std"] < 0:
        raise ShapeError(f"randn needs std >= 0, found {a['std']:g}", blame="std", code="E0207", label="negative")
    return draw.infer("randn")(ins, a)


def reference(arrays, a, ctx):
    u1 = draw.uniforms(arrays, a, a["stream"])
    u2 = draw.uniforms(arrays, a, a["stream"] ^ draw.SECOND_STREAM)
    dtype = u1.dtype
    radius = np.sqrt(dtype.type(-2.0) * np.log(dtype.type(1.0) - u1))
    z = radius * np.cos(dtype.type(2 * math.pi) * u2)
    return [(z * dtype.type(a["std"]) + dtype.type(a["mean"])).astype(dtype)]


def decompose(e, ins, out_types, a):
    """mean + std·√(−2·log(1 − u1))·cos(2π·u2); 1 − u1 lies in (0, 1], so the log is finite."""
    from ._prims import const
    u1 = draw.uniform_node(e, ins, a, a["stream"])
    u2 = draw.uniform_node(e, ins, a, a["stream"] ^ draw.SECOND_STREAM)
    radius = e("sqrt", e("mul", const(e, -2.0, u1), e("log", e("sub", const(e, 1.0, u1), u1))))
    z = e("mul", radius, e("cos", e("mul", const(e, 2 * math.pi, u2), u2)))
    if a["std"] != 1.0:
        z = e("mul", z, const(e, a["std"], z))
    if a["mean"] != 0.0:
        z = e("add", z, const(e, a["mean"], z))
    return [z]


OP = Op(name="randn", doc="normal random numbers of a shape (Box–Muller)", inputs=("like",),
        optional_inputs=("key", "counter", "offset"),
        attrs=(Attr("mean", "float", 0.0, "the mean"), Attr("std", "float", 1.0, "the standard deviation"),
               draw.STREAM, draw.DTYPE),
        infer=infer, reference=reference, decompose=decompose, vjp=draw.no_gradient, category="special",
        examples=("randn([N, 8])", "randn(shape(mu)) * sigma + mu"))
