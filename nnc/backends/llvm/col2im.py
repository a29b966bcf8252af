"""col2im of all images in one kernel (`Col2Im`, made by lower_conv._col2im_all): the input gradient's
columns dcols [O, K..., N, I...] (one GEMM over every image) added into y [N, O, H...] plane by plane,
each plane in cache while every kernel position's rows land in it, a row as vectors (window.py's `_Vec`),
the planes in parts over the pool (window.py's `_split`: parts fixed by the sizes, so the bits do not
depend on the thread count). Importing this module adds its emitter to emit.py's EMITTERS.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from .emit import EMITTERS, KernelBuilder, const
from .loops import Kernel, Load, numel
from .window import _c, _planes, _split, _Vec


@dataclass(eq=False)
class Col2Im(Kernel):
    """col2im of all images in one pass (lower_conv.py's input gradients): target y [N, O, H...] =
    Σ over the kernel positions k of cols[o, k, n, i] at h = i + lo − k·rd, over the i that land inside y
    (no input dilation). Each plane y[n, o] is zeroed and then receives every kernel position's rows while
    it is in cache, a row as one vector add (`emit_col2im`); the planes are split over the thread pool."""

    target: Load          # y [N, O, H...], contiguous
    cols: Load            # [O, K..., N, I...], contiguous
    kernel: tuple[int, ...] = ()
    rd: tuple[int, ...] = ()
    lo: tuple[int, ...] = ()
    origin: str = ""

    def reads(self) -> list:
        return [self.cols.buf]


def emit_col2im(k: KernelBuilder, kern: Col2Im) -> None:
    """Per plane y[n, o]: zeros, then per kernel position (unrolled) and row of the input positions that
    land inside (a loop over every spatial axis but the last), the row added as vectors of at most 16."""
    t = kern.target
    sp = len(kern.kernel)
    if any(not isinstance(d, int) for d in tuple(t.shape[2:]) + tuple(kern.cols.shape[-sp:])):
        raise ValueError("col2im needs the spatial sizes known")  # lower_conv._transposed makes sure
    work = numel(t.shape) * (1 + numel(kern.kernel))
    # the planes channel by channel (o outer, n inner): cols[o, k, n, :] is then read in order, K streams
    _split(k, t, work, lambda kb, rows: _planes(kb, (t.shape[1], t.shape[0]), rows,
                                                lambda on: _col2im_plane(kb, kern, on[::-1])))


def _col2im_plane(k: KernelBuilder, kern: Col2Im, nc) -> None:
    """One plane y[n, o] (nc = [n, o], i64 values): zeroed, then every kernel position's rows added."""
    t, c = kern.target, kern.cols
    sp = len(kern.kernel)
    out_sp, in_sp = tuple(t.shape[2:]), tuple(c.shape[-sp:])
    b = k.b
    dtype = t.dtype
    width = 16 if dtype == "f32" else 8
    vec = _Vec(k, width)
    nn, oo = nc
    k.nest(out_sp, lambda idx: k.store(t, [nn, oo] + list(idx), const(dtype, 0.0)))
    for kpos in itertools.product(*(range(s) for s in kern.kernel)):
        first = [max(0, kk * r - lo) for kk, r, lo in zip(kpos, kern.rd, kern.lo)]
        last = [min(i - 1, h - 1 - lo + kk * r) for i, h, kk, r, lo in zip(in_sp, out_sp, kpos, kern.rd, kern.lo)]
        if any(z < a for a, z in zip(first, last)):
            continue
        shift = [lo - kk * r for kk, r, lo in zip(kpos, kern.rd, kern.lo)]
        length = last[-1] - first[-1] + 1

        def row(outer, kpos=kpos, first=first, shift=shift, length=length):
            ins = [b.add(v, _c(f)) for v, f in zip(outer, first[:-1])]
            outs = [b.add(v, _c(s)) for v, s in zip(ins, shift[:-1])]
            for j0 in range(0, length, width):
                size = min(width, length - j0)
                src = vec.load(c, [oo] + [_c(v) for v in kpos] + [nn] + ins + [_c(first[-1] + j0)], size)
                dst = [nn, oo] + outs + [_c(first[-1] + j0 + shift[-1])]
                vec.store(t, dst, b.fadd(vec.load(t, dst, size), src))
        k.nest(tuple(z - a + 1 for a, z in zip(first[:-1], last[:-1])), row)


EMITTERS[Col2Im] = emit_col2im
