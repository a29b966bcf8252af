"""The geometry of maxpool and avgpool as PyTorch and ONNX define it, and its general path in primitives.

A pooling node keeps the padding the program wrote; `geometry` adds what
ceil_mode reads past the input (extra padding after it) and says which
padding counts in an average's divisor (count_include_pad). The common case —
no dilation and, for avgpool, one divisor for every window — runs through
reduce_window and pool_backward; the rest (dilated windows, a divisor per
window) is written here: the window sum through reduce_window or one strided
slice per kernel tap, the divisor as the window sum of a mask of ones, and the
dilated maximum's gradient sent to each window's first maximum, tap by tap.
"""
from __future__ import annotations

import itertools

from ..ir.types import TensorType, dim_str
from .base import ShapeError
from .window import AXIS_NAMES, ceil_extra


def axes(value, n: int) -> tuple:
    """A per-axis tuple from a resolved tuple or an unresolved int default (a rule emitting the op)."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * n


def geometry(spatial, a: dict, op: str) -> tuple[tuple, tuple, tuple]:
    """(dilation, padding read with ceil_mode's extra after the input, padding counted in the divisor)."""
    n = len(spatial)
    dilation = axes(a.get("dilation", 1), n)
    written = tuple(tuple(p) for p in a["padding"])
    pads = []
    for size, k, s, d, (lo, hi) in zip(spatial, axes(a["kernel"], n), axes(a["stride"], n), dilation, written):
        extra = 0
        if a.get("ceil_mode"):
            if isinstance(size, int):
                extra = ceil_extra(size, k, s, d, lo, hi)
            elif s > 1:
                raise ShapeError(f"{op} with ceil_mode=true and stride {s} needs a known size, found {dim_str(size)}",
                                 blame="ceil_mode", code="E0208", hint="give the axis a fixed size")
        pads.append((lo, hi + extra))
    counted = written if a.get("count_include_pad", True) else ((0, 0),) * n
    return dilation, tuple(pads), counted


def is_plain(op: str, dilation, pads, counted) -> bool:
    """True when reduce_window and pool_backward express the op: no dilation, one divisor for every window."""
    return all(d == 1 for d in dilation) and (op == "maxpool" or tuple(pads) == tuple(counted))


def check_reads_input(spatial, kernel, stride, dilation, padding, op: str) -> None:
    """Padding may exceed half the kernel (ONNX allows it) as long as every window reads a real element."""
    names = AXIS_NAMES.get(len(spatial), ())
    for i, (n, k, s, d, (lo, hi)) in enumerate(zip(spatial, kernel, stride, dilation, padding)):
        extent = d * (k - 1) + 1
        axis = names[i] if i < len(names) else f"axis {i + 2}"
        if not isinstance(n, int):
            if max(lo, hi) > extent - 1:
                raise ShapeError(f"{op}'s padding ({max(lo, hi)}) leaves a window of only padding", blame="padding",
                                 code="E0207", label=f"the {axis} ({dim_str(n)}) has no known size",
                                 hint=f"with an unknown size, padding up to {extent - 1} per side always "
                                      f"reads input")
            continue
        if n + lo + hi < extent:
            continue  # the shape rule reports E0302
        out = (n + lo + hi - extent) // s + 1
        for o in range(out):
            taps = [o * s - lo + j * d for j in range(k)]
            if not any(0 <= t < n for t in taps):
                raise ShapeError(f"{op}'s window {o} along the {axis} reads only padding", blame="padding",
                                 code="E0207",
                                 label=f"it covers {taps[0]}..{taps[-1]} of a {axis} of {n} (padding {lo}+{hi})",
                                 hint=f"padding up to {extent - 1} per side keeps a real element in every "
                                      f"window of kernel {k}" + (f" dilated by {d}" if d > 1 else ""))


def _tap(e, xp, offsets, stride, out):
    """xp[:, :, o·s + offset] for every output position o along each spatial axis, and the chain of slices."""
    chain = [xp]
    for i, (off, s, o) in enumerate(zip(offsets, stride, out)):
        chain.append(e("slice", chain[-1], start=off, end=off + (o - 1) * s + 1, axis=2 + i, step=s))
    return chain


def _untap(e, g, chain, offsets, stride, out):
    """The transpose of _tap: g put back among zeros in the shape of the padded input."""
    for i in reversed(range(len(offsets))):
        off, s, o = offsets[i], stride[i], out[i]
        g = e("slice_grad", g, chain[i], axis=2 + i, start=off, end=off + (o - 1) * s + 1, step=s)
    return g


def _static(t: TensorType, op: str) -> tuple[int, ...]:
    from ._prims import cannot
    if not all(isinstance(d, int) for d in t.shape[2:]):
        cannot(op, f"dilated windows over symbolic sizes {t}")
    return t.shape[2:]


def _padded(e, x, pads, value: float):
    if all(lo == hi == 0 for lo, hi in pads):
        return x
    return e("pad", x, lo=(0, 0) + tuple(p[0] for p in pads), hi=(0, 0) + tuple(p[1] for p in pads), value=value)


def _taps(kernel, dilation):
    return [tuple(j * d for j, d in zip(js, dilation)) for js in itertools.product(*(range(k) for k in kernel))]


def window_reduce(e, x, kind: str, kernel, stride, dilation, pads, out):
    """The max or sum of each (dilated) window of x padded by pads (−inf for max, 0 for sum)."""
    if all(d == 1 for d in dilation):
        return e("reduce_window", x, kind=kind, kernel=tuple(kernel), stride=tuple(stride), padding=tuple(pads))
    _static(x.type, "dilated pooling")
    xp = _padded(e, x, pads, float("-inf") if kind == "max" else 0.0)
    acc = None
    for offsets in _taps(kernel, dilation):
        t = _tap(e, xp, offsets, stride, out)[-1]
        acc = t if acc is None else e("maximum" if kind == "max" else "add", acc, t)
    return acc


def window_counts(e, x, kernel, stride, dilation, pads, counted, out):
    """How many counted cells each window holds, [1, 1, *out]: the window sum of a mask of ones."""
    from ._prims import full_like
    corner = e("slice", e("slice", x, start=0, end=1, axis=0), start=0, end=1, axis=1)
    mask = _padded(e, full_like(e, 1.0, corner), counted, 1.0)
    rest = tuple((lo - clo, hi - chi) for (lo, hi), (clo, chi) in zip(pads, counted))
    return window_reduce(e, mask, "sum", kernel, stride, dilation, rest, out)


def sum_transpose(e, g, x, kernel, stride, dilation, pads):
    """The transpose of the window sum: each output's g added over its window, in x's shape."""
    from .reduce_window import sum_window_transpose
    if all(d == 1 for d in dilation):
        return sum_window_transpose(e, g, x.type, {"kernel": tuple(kernel), "stride": tuple(stride),
                                                    "padding": tuple(pads)})
    out = g.type.shape[2:]
    xp = _padded(e, x, pads, 0.0)
    acc = None
    for offsets in _taps(kernel, dilation):
        back = _untap(e, g, _tap(e, xp, offsets, stride, out), offsets, stride, out)
        acc = back if acc is None else e("add", acc, back)
    return _padded(e, acc, tuple((-lo, -hi) for lo, hi in pads), 0.0)


def max_transpose(e, g, x, y, kernel, stride, dilation, pads):
    """The dilated maximum's gradient: g to each window's first maximum in row-major tap order."""
    from ._prims import const, zeros_like
    out = y.type.shape[2:]
    xp = _padded(e, x, pads, float("-inf"))
    one, zero = const(e, 1.0, y), const(e, 0.0, y)
    taken, acc = zeros_like(e, y), None
    for offsets in _taps(kernel, dilation):
        chain = _tap(e, xp, offsets, stride, out)
        hit = e("where", e("compare", chain[-1], y, kind="eq"), one, zero)
        first = e("mul", hit, e("sub", one, taken))
        taken = e("add", taken, first)
        back = _untap(e, e("mul", g, first), chain, offsets, stride, out)
        acc = back if acc is None else e("add", acc, back)
    return _padded(e, acc, tuple((-lo, -hi) for lo, hi in pads), 0.0)
