"""col2im in one kernel (`Col2Im`, made by lower_conv._col2im_all): an input gradient's columns
dcols [O, K..., N, I...] (a GEMM's output: one image's in a step loop, or every image's) added into
y [N, O, H...]: the images in parts over the pool (parallel.split_rows: parts fixed by the sizes, so the
bits do not depend on the thread count), in each part channel by channel, dcols read in order while the
part's planes of the channel stay in cache, a row as vectors (window.py's `_Vec`). Split over the
channels instead it was ~15% slower on lenet5's conv2 over all images (6 channels in parts of 3).
Importing this module adds its emitter to emit.py's EMITTERS.
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
    (no input dilation). Each channel's planes are zeroed and then receive every kernel position's rows
    while in cache, a row as vector adds (`emit_col2im`); the images are split over the pool."""

    target: Load          # y [N, O, H...], contiguous
    cols: Load            # [O, K..., N, I...], contiguous
    kernel: tuple[int, ...] = ()
    rd: tuple[int, ...] = ()
    lo: tuple[int, ...] = ()
    origin: str = ""

    def reads(self) -> list:
        return [self.cols.buf]


def emit_col2im(k: KernelBuilder, kern: Col2Im) -> None:
    """The images in parts over the pool; in each part channel by channel: the part's planes y[n, o]
    zeroed, then per kernel position (unrolled) and image the rows of the input positions that land
    inside added, as vectors of at most 16: dcols[o, k, n0:n1, :] is read as one sequential stream while
    the part's planes of the channel stay in cache."""
    t = kern.target
    sp = len(kern.kernel)
    if any(not isinstance(d, int) for d in tuple(t.shape[2:]) + tuple(kern.cols.shape[-sp:])):
        raise ValueError("col2im needs the spatial sizes known")  # lower_conv._transposed makes sure
    from .parallel import split_rows
    work = numel(t.shape) * (1 + numel(kern.kernel))

    def images(kb: KernelBuilder, lo, hi) -> None:
        lo, hi = (_c(0), kb.dim(t.shape[0])) if lo is None else (lo, hi)
        _span(kb, _c(0), _c(t.shape[1]), lambda o: _col2im_channel(kb, kern, o, lo, hi))
    split_rows(k, t.shape[0], work, images)


def _col2im_channel(k: KernelBuilder, kern: Col2Im, oo, lo, hi) -> None:
    """The planes y[lo:hi, o] (i64 values): zeroed, then every kernel position's rows of those images."""
    t, c = kern.target, kern.cols
    sp = len(kern.kernel)
    out_sp, in_sp = tuple(t.shape[2:]), tuple(c.shape[-sp:])
    b = k.b
    dtype = t.dtype
    width = 16 if dtype == "f32" else 8
    vec = _Vec(k, width)
    _span(k, lo, hi, lambda nn: k.nest(out_sp, lambda idx: k.store(t, [nn, oo] + list(idx), const(dtype, 0.0))))
    for kpos in itertools.product(*(range(s) for s in kern.kernel)):
        first = [max(0, kk * r - p) for kk, r, p in zip(kpos, kern.rd, kern.lo)]
        last = [min(i - 1, h - 1 - p + kk * r) for i, h, kk, r, p in zip(in_sp, out_sp, kpos, kern.rd, kern.lo)]
        if any(z < a for a, z in zip(first, last)):
            continue
        shift = [p - kk * r for kk, r, p in zip(kpos, kern.rd, kern.lo)]
        length = last[-1] - first[-1] + 1

        def row(nn, outer, kpos=kpos, first=first, shift=shift, length=length):
            ins = [b.add(v, _c(f)) for v, f in zip(outer, first[:-1])]
            outs = [b.add(v, _c(s)) for v, s in zip(ins, shift[:-1])]
            for j0 in range(0, length, width):
                size = min(width, length - j0)
                src = vec.load(c, [oo] + [_c(v) for v in kpos] + [nn] + ins + [_c(first[-1] + j0)], size)
                dst = [nn, oo] + outs + [_c(first[-1] + j0 + shift[-1])]
                vec.store(t, dst, b.fadd(vec.load(t, dst, size), src))
        rows = tuple(z - a + 1 for a, z in zip(first[:-1], last[:-1]))
        _span(k, lo, hi, lambda nn, row=row, rows=rows: k.nest(rows, lambda outer: row(nn, outer)))


EMITTERS[Col2Im] = emit_col2im
