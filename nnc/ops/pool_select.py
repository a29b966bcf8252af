"""pool_select(h, x): for each maxpool window of x, the value of h at the window's first maximum.

The transpose of maxpool's gradient (pool_backward with kind=maxpool), so the
two are each other's gradient rules: a second derivative through a maxpool
(WGAN-GP, R1 penalties on a CNN) is written in these ops alone. The winner is
chosen exactly as pool_backward chooses it (first maximum in row-major window
order, padding never wins), so the pair stays exact transposes.
"""
from __future__ import annotations

import math

from ..ir.types import TensorType
from .base import Attr, Op


def infer(ins, a):
    h, x = ins
    from .window import spatial_output
    out = spatial_output(x.shape[2:], a["kernel"], a["stride"], (1,) * len(a["kernel"]), a["padding"], "maxpool",
                         remainder="drop")
    return [TensorType(h.dtype, x.shape[:2] + out)]


def reference(arrays, a, ctx):
    from ._kernel_common import _compute_dtype, _pad_spatial, _windows
    from ._numpy import np
    h, x = arrays
    dtype = _compute_dtype(x)
    kernel, stride, pads = tuple(a["kernel"]), tuple(a["stride"]), tuple(tuple(p) for p in a["padding"])
    ones = (1,) * len(kernel)
    win = _windows(_pad_spatial(np.asarray(x, dtype), pads, -np.inf), kernel, stride, ones)
    out_sp = tuple(win.shape[2:2 + len(kernel)])
    n, c = x.shape[:2]
    flat = win.reshape((n, c) + out_sp + (math.prod(kernel),))
    real = _windows(_pad_spatial(np.ones((1, 1) + x.shape[2:], dtype=bool), pads, False), kernel, stride,
                    ones).reshape((1, 1) + out_sp + (math.prod(kernel),))
    with np.errstate(invalid="ignore"):
        hit = ((flat == flat.max(axis=-1, keepdims=True)) | np.isnan(flat)) & real
    idx = hit.argmax(axis=-1)[..., None]
    hwin = _windows(_pad_spatial(np.asarray(h, dtype), pads, 0.0), kernel, stride, ones)
    picked = np.take_along_axis(hwin.reshape(flat.shape), idx, axis=-1)[..., 0]
    return [np.ascontiguousarray(picked, dtype=h.dtype)]


def vjp(e, ins, outs, gs, a):
    """Linear in h; its transpose is maxpool's gradient. The winners are constant where differentiable."""
    return [e("pool_backward", gs[0], ins[1], kind="maxpool", kernel=a["kernel"], stride=a["stride"],
              padding=a["padding"]), None]


OP = Op(name="pool_select", doc="h at each maxpool window's maximum of x (the transpose of maxpool's gradient)",
        inputs=("h", "x"), attrs=(Attr("kernel", "any"), Attr("stride", "any"), Attr("padding", "any")),
        infer=infer, reference=reference, vjp=vjp, category="gradient", internal=True)
