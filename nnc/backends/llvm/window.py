"""Pooling kernels in LLVM IR: max pooling's winners per window (WindowPick: select and scatter), kept
out of emit.py so it stays small; emit.py's EMITTERS calls in here."""
from __future__ import annotations

from llvmlite import ir

from .emit import I1, I64, MEM, REG, KernelBuilder, const
from .loops import WindowPick, contiguous_strides


def emit_window_pick(k: KernelBuilder, kern: WindowPick) -> None:
    """Per window of x: the first maximum (padding never wins), then select h there or scatter g to it."""
    b, x, sp = k.b, kern.x, len(kern.kernel)
    dtype = x.dtype
    plane = contiguous_strides(x.shape[2:])
    t = kern.target
    if kern.mode == "scatter":
        k.nest(t.shape, lambda idx: k.store(t, idx, const(t.dtype, 0.0)))
    out_shape = t.shape if kern.mode == "select" else kern.other.shape
    best, at, found = k.alloca(REG[dtype]), k.alloca(I64), k.alloca(I1)
    zero = ir.Constant(I64, 0)

    def window(idx):
        n, c, ps = idx[0], idx[1], idx[2:]
        b.store(const(dtype, float("-inf")), best)
        b.store(zero, at)
        b.store(ir.Constant(I1, 0), found)
        base = k.affine(x.offset, x.strides[:2], [n, c])

        def cell(ks):
            ok, lin = ir.Constant(I1, 1), zero
            for p, kk, s, lo, size, st in zip(ps, ks, kern.stride, kern.lo, x.shape[2:], plane):
                q = b.sub(b.add(b.mul(p, ir.Constant(I64, s)), kk), ir.Constant(I64, lo))
                ok = b.and_(ok, b.and_(b.icmp_signed(">=", q, zero), b.icmp_signed("<", q, k.dim(size))))
                lin = b.add(lin, b.mul(q, k.dim(st)))
            lin = b.select(ok, lin, zero)
            v = b.load(k.at_offset(x, b.add(base, lin)), typ=MEM[dtype])
            cur, seen = b.load(best, typ=REG[dtype]), b.load(found, typ=I1)
            better = b.or_(b.fcmp_ordered(">", v, cur),
                           b.and_(b.fcmp_unordered("!=", v, v), b.fcmp_ordered("==", cur, cur)))
            take = b.and_(ok, b.or_(b.not_(seen), better))
            b.store(b.select(take, v, cur), best)
            b.store(b.select(take, lin, b.load(at, typ=I64)), at)
            b.store(b.or_(seen, take), found)
        k.nest(kern.kernel, cell)
        lin, seen = b.load(at, typ=I64), b.load(found, typ=I1)
        other = kern.other
        if kern.mode == "select":
            hbase = k.affine(other.offset, other.strides[:2], [n, c])
            v = b.load(k.at_offset(other, b.add(hbase, lin)), typ=MEM[other.dtype])
            k.store(t, idx, b.select(seen, v, const(other.dtype, 0.0)))
        else:
            g = b.select(seen, k.load(other, idx), const(other.dtype, 0.0))
            ptr = k.at_offset(t, b.add(k.affine(t.offset, t.strides[:2], [n, c]), lin))
            b.store(b.fadd(b.load(ptr, typ=MEM[t.dtype]), g), ptr)
    k.nest(out_shape[:2] + tuple(out_shape[2:2 + sp]), window)
