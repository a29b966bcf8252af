"""col2im of all images in one kernel (`Col2Im`, made by lower_conv._col2im_all): the input gradient's
columns dcols [O, K..., N, I...] (one GEMM over every image) added into y [N, O, H...] channel by
channel, dcols read in order while the channel's planes stay in cache, a row as vectors (window.py's
`_Vec`), the channels in parts over the pool (parallel.split_rows: parts fixed by the sizes, so the bits
do not depend on the thread count). Importing this module adds its emitter to emit.py's EMITTERS.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from .emit import EMITTERS, KernelBuilder, const
from .loops import Kernel, Load, numel
from .window import _c, _span, _Vec


@dataclass(eq=False)
class Col2Im(Kernel):
    """col2im of all images in one pass (lower_conv.py's input gradients): target y [N, O, H...] =
    Σ over the kernel positions k of cols[o, k, n, i] at h = i + lo − k·rd, over the i that land inside y
    (no input dilation). Each channel's planes y[:, o] are zeroed and then receive every kernel position's
    rows while in cache, a row as vector adds (`emit_col2im`); the channels are split over the pool."""

    target: Load          # y [N, O, H...], contiguous
    cols: Load            # [O, K..., N, I...], contiguous
    kernel: tuple[int, ...] = ()
    rd: tuple[int, ...] = ()
    lo: tuple[int, ...] = ()
    origin: str = ""

    def reads(self) -> list:
        return [self.cols.buf]


def emit_col2im(k: KernelBuilder, kern: Col2Im) -> None:
    """Channel by channel (the channels in parts over the pool): the planes y[:, o] zeroed, then per
    kernel position (unrolled) and image the rows of the input positions that land inside added, as
    vectors of at most 16: dcols[o, k, :, :] is read as one sequential stream while the channel's planes
    (N·H·W elements) stay in cache."""
    t = kern.target
    sp = len(kern.kernel)
    if any(not isinstance(d, int) for d in tuple(t.shape[2:]) + tuple(kern.cols.shape[-sp:])):
        raise ValueError("col2im needs the spatial sizes known")  # lower_conv._transposed makes sure
    from .parallel import split_rows
    work = numel(t.shape) * (1 + numel(kern.kernel))

    def channels(kb: KernelBuilder, lo, hi) -> None:
        lo, hi = (_c(0), _c(t.shape[1])) if lo is None else (lo, hi)
        _span(kb, lo, hi, lambda o: _col2im_channel(kb, kern, o))
    split_rows(k, t.shape[1], work, channels)


def _col2im_channel(k: KernelBuilder, kern: Col2Im, oo) -> None:
    """The planes y[:, o] (o an i64 value): zeroed, then every kernel position's rows of every image."""
    t, c = kern.target, kern.cols
    sp = len(kern.kernel)
    out_sp, in_sp = tuple(t.shape[2:]), tuple(c.shape[-sp:])
    b = k.b
    dtype = t.dtype
    width = 16 if dtype == "f32" else 8
    vec = _Vec(k, width)
    k.nest((t.shape[0],) + out_sp, lambda idx: k.store(t, [idx[0], oo] + list(idx[1:]), const(dtype, 0.0)))
    for kpos in itertools.product(*(range(s) for s in kern.kernel)):
        first = [max(0, kk * r - lo) for kk, r, lo in zip(kpos, kern.rd, kern.lo)]
        last = [min(i - 1, h - 1 - lo + kk * r) for i, h, kk, r, lo in zip(in_sp, out_sp, kpos, kern.rd, kern.lo)]
        if any(z < a for a, z in zip(first, last)):
            continue
        shift = [lo - kk * r for kk, r, lo in zip(kpos, kern.rd, kern.lo)]
        length = last[-1] - first[-1] + 1

        def row(idx, kpos=kpos, first=first, shift=shift, length=length):
            nn, outer = idx[0], idx[1:]
            ins = [b.add(v, _c(f)) for v, f in zip(outer, first[:-1])]
            outs = [b.add(v, _c(s)) for v, s in zip(ins, shift[:-1])]
            for j0 in range(0, length, width):
                size = min(width, length - j0)
                src = vec.load(c, [oo] + [_c(v) for v in kpos] + [nn] + ins + [_c(first[-1] + j0)], size)
                dst = [nn, oo] + outs + [_c(first[-1] + j0 + shift[-1])]
                vec.store(t, dst, b.fadd(vec.load(t, dst, size), src))
        k.nest((t.shape[0],) + tuple(z - a + 1 for a, z in zip(first[:-1], last[:-1])), row)


EMITTERS[Col2Im] = emit_col2im
