"""Lowering rules for the layer-like primitives: convolution, window reductions, max-pool gradients, and
Philox random numbers computed in the graph with uint64 integer ops (bit for bit nnc/ops/_philox.py).
"""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from ...ops import _philox
from .builder import ONNX_DTYPES, Builder
from .lower import crop_and_pad


def _crop(b: Builder, x: str, padding) -> tuple[str, list[int], list[int]]:
    """x cropped where a padding amount is negative; the remaining (non-negative) lo and hi pads."""
    lo = [int(p[0]) for p in padding]
    hi = [int(p[1]) for p in padding]
    neg_lo = [min(v, 0) for v in lo]
    neg_hi = [min(v, 0) for v in hi]
    if any(neg_lo) or any(neg_hi):
        x = crop_and_pad(b, x, neg_lo, neg_hi, 0.0, "f32", first_axis=2)
    return x, [max(v, 0) for v in lo], [max(v, 0) for v in hi]


def _conv(b, ins, it, ot, a):
    x, w = ins
    if any(d > 1 for d in a["lhs_dilation"]):
        return [_conv_dilated_input(b, x, w, it[1], a)]
    x, lo, hi = _crop(b, x, a["padding"])
    return [b.op("Conv", [x, w], strides=list(a["stride"]), pads=lo + hi, dilations=list(a["rhs_dilation"]),
                 group=int(a["groups"]))]


def _conv_dilated_input(b: Builder, x: str, w: str, wt, a: dict) -> str:
    """A convolution of the input with zeros inserted (a transposed convolution, as the input gradient of a
    strided one) as ConvTranspose: the kernel is regrouped to [C, O/G, *K] and flipped back, padding beyond
    the kernel's reach becomes zero rows around the result, and a stride keeps every s-th output."""
    o, cg, *kernel = wt.shape
    groups = int(a["groups"])
    sp = len(kernel)
    regroup = b.op("Reshape", [w, b.ints([groups, o // groups, cg] + kernel)])
    swapped = b.op("Transpose", [regroup], perm=[0, 2, 1] + list(range(3, 3 + sp)))
    wt2 = b.op("Reshape", [swapped, b.ints([groups * cg, o // groups] + kernel)])
    flipped = b.op("Slice", [wt2, b.ints([-1] * sp), b.ints([np.iinfo(np.int64).min] * sp),
                             b.ints(list(range(2, 2 + sp))), b.ints([-1] * sp)])
    pb, pe, extra_lo, extra_hi = [], [], [], []
    for k, rd, (lo, hi) in zip(kernel, a["rhs_dilation"], a["padding"]):
        ext = rd * (k - 1) + 1
        b0, e0 = ext - 1 - lo, ext - 1 - hi
        pb.append(max(b0, 0))
        pe.append(max(e0, 0))
        extra_lo.append(max(-b0, 0))
        extra_hi.append(max(-e0, 0))
    y = b.op("ConvTranspose", [x, flipped], strides=list(a["lhs_dilation"]), pads=pb + pe,
             dilations=list(a["rhs_dilation"]), group=groups)
    if any(extra_lo) or any(extra_hi):
        y = crop_and_pad(b, y, extra_lo, extra_hi, 0.0, wt.dtype, first_axis=2)
    if any(s > 1 for s in a["stride"]):
        y = b.op("Slice", [y, b.ints([0] * sp), b.ints([np.iinfo(np.int64).max] * sp),
                           b.ints(list(range(2, 2 + sp))), b.ints(list(a["stride"]))])
    return y


def _max_pool(b: Builder, x: str, a: dict, indices: bool = False):
    x, lo, hi = _crop(b, x, a["padding"])
    kernel = list(a["kernel"])
    return b.op("MaxPool", [x], n_out=2 if indices else 1, kernel_shape=kernel, strides=list(a["stride"]),
                pads=lo + hi)


def _reduce_window(b, ins, it, ot, a):
    if a["kind"] == "max":
        return [_max_pool(b, ins[0], a)]
    x, lo, hi = _crop(b, ins[0], a["padding"])
    c = it[0].shape[1]
    ones = b.const(np.ones((c, 1) + tuple(a["kernel"])), it[0].dtype)
    return [b.op("Conv", [x, ones], strides=list(a["stride"]), pads=lo + hi, group=int(c))]


def _winners(b: Builder, x: str, a: dict) -> str:
    """The flat index (into all of x) of each max-pool window's first maximum: MaxPool's Indices output."""
    if any(p[0] < 0 or p[1] < 0 for p in a["padding"]):
        raise NotImplementedError("a max-pool gradient with negative padding")
    return _max_pool(b, x, a, indices=True)[1]


def _select_and_scatter_add(b, ins, it, ot, a):
    g, x = ins
    flat = b.op("Reshape", [_winners(b, x, a), b.ints([-1])])
    total = b.op("Reshape", [b.op("Size", [x]), b.ints([1])])
    zeros = b.op("ConstantOfShape", [total], value=_scalar_tensor(0.0, ot[0].dtype))
    summed = b.op("ScatterElements", [zeros, flat, b.op("Reshape", [g, b.ints([-1])])], axis=0, reduction="add")
    return [b.op("Reshape", [summed, b.op("Shape", [x])])]


def _pool_select(b, ins, it, ot, a):
    h, x = ins
    return [b.op("Gather", [b.op("Reshape", [h, b.ints([-1])]), _winners(b, x, a)], axis=0)]


def _scalar_tensor(value: float, dtype: str):
    from onnx import numpy_helper

    from .builder import NP_DTYPES
    return numpy_helper.from_array(np.asarray([value], dtype=NP_DTYPES[dtype]))


def _random_uniform(b, ins, it, ot, a):
    """Philox-4x32-10 on uint64 words (products of two 32-bit words are exact), nnc's counter layout."""
    like, key, counter = ins
    u64 = TensorProto.UINT64
    mask = b.const(_philox.MASK32, np.uint64)
    shift32, shift8 = b.const(32, np.uint64), b.const(8, np.uint64)

    def band(v):
        return b.op("BitwiseAnd", [v, mask])

    def shr(v, s):
        return b.op("BitShift", [v, s], direction="RIGHT")

    n = b.op("Size", [like])
    i = b.op("Cast", [b.op("Range", [b.const(0, "i64"), n, b.const(1, "i64")])], to=u64)
    k = b.op("Cast", [key], to=u64)
    k0, k1 = band(k), shr(k, shift32)
    c0, c1 = band(i), shr(i, shift32)
    c2 = b.const(int(a["stream"]) & _philox.MASK32, np.uint64)
    c3 = band(b.op("Cast", [counter], to=u64))
    m0, m1 = b.const(_philox.M0, np.uint64), b.const(_philox.M1, np.uint64)
    w0, w1 = b.const(_philox.W0, np.uint64), b.const(_philox.W1, np.uint64)
    for r in range(_philox.ROUNDS):
        if r:
            k0 = band(b.op("Add", [k0, w0]))
            k1 = band(b.op("Add", [k1, w1]))
        p0 = b.op("Mul", [m0, c0])
        p1 = b.op("Mul", [m1, c2])
        c0, c1, c2, c3 = (b.op("BitwiseXor", [b.op("BitwiseXor", [shr(p1, shift32), c1]), k0]), band(p1),
                          b.op("BitwiseXor", [b.op("BitwiseXor", [shr(p0, shift32), c3]), k1]), band(p0))
    c0 = b.op("Expand", [c0, b.op("Reshape", [n, b.ints([1])])])  # every word depends on i only through c0
    u = b.op("Mul", [b.op("Cast", [shr(c0, shift8)], to=ONNX_DTYPES["f32"]), b.const(2.0 ** -24, "f32")])
    u = b.op("Reshape", [u, b.op("Shape", [like])])
    if ot[0].dtype != "f32":
        u = b.op("Cast", [u], to=ONNX_DTYPES[ot[0].dtype])
    return [u]


LOWER_NN = {
    "conv": _conv, "reduce_window": _reduce_window, "select_and_scatter_add": _select_and_scatter_add,
    "pool_select": _pool_select, "random_uniform": _random_uniform,
}


def _recurrent():
    from .lower_rnn import LOWER_RNN
    return LOWER_RNN


LOWER_NN.update(_recurrent())
