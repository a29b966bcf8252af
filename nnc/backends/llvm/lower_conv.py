"""The convolution lowering (op `conv`, which also carries the input and weight gradients): im2col and GEMMs.

Kept apart from lower.py's table, which maps `conv` to `lower_conv`.
"""
from __future__ import annotations

from ...ir.graph import Node
from . import loops as L
from .dims import hint
from .loops import Expr, Load, Matmul, Store


def lower_conv(lw, node: Node, xs: list[Expr]) -> Expr:
    """Per group: im2col (a Window expression stored once) and a matmul with the weights as the small
    operand, so the output lands in NCHW order without a transpose."""
    x, w = xs
    if L.cost(x) > 0:
        x = lw.materialize(x)
    w = lw.contiguous(w)
    vid = node.outputs[0]
    dtype, shape = lw.dtype(vid), lw.shape(vid)
    sp = len(shape) - 2
    n, groups = x.shape[0], node.attr("groups", 1)
    o, cg = w.shape[:2]
    kernel, out_sp = w.shape[2:], shape[2:]
    og, kt, pt = o // groups, L.numel(kernel), L.numel(out_sp)
    stride, rd, ld = node.attr("stride"), node.attr("rhs_dilation"), node.attr("lhs_dilation")
    lo = tuple(p[0] for p in node.attr("padding"))
    if any(lo) or any(p[1] for p in node.attr("padding")) or any(d > 1 for d in ld):
        # the padded (and zero-dilated) input, stored once: im2col then reads it without a bounds test
        hi = tuple(p[1] for p in node.attr("padding"))
        padded = x.shape[:2] + tuple((size - 1) * d + 1 + a + b for size, d, a, b in zip(x.shape[2:], ld, lo, hi))
        r = len(padded)
        x = lw.materialize(L.Window(x, padded, tuple(tuple(int(i == j) for j in range(r)) for i in range(r)),
                                    (0, 0) + tuple(-a for a in lo), (1, 1) + tuple(ld), 0.0))
        lo, ld = (0,) * sp, (1,) * sp
    buf = lw.new_buf(dtype, shape, node.outputs[0])
    # cols [N, Cg·K, P] feeds a matmul vectorised along P; with few output positions (a weight gradient:
    # P is the kernel's size) store it as [N, P, Cg·K] instead, so the matmul is dot products along Cg·K
    by_rows = hint(pt) < 32 <= hint(cg * kt)  # a speed choice: right for every binding
    cols_shape = (n, cg) + tuple(kernel) + tuple(out_sp)
    q = len(cols_shape)
    for g in range(groups):
        mat = [[int(j == 0) for j in range(q)], [int(j == 1) for j in range(q)]]
        const = [0, g * cg]
        for d in range(sp):
            row = [0] * q
            row[2 + d], row[2 + sp + d] = rd[d], stride[d]
            mat.append(row)
            const.append(-lo[d])
        win = L.Window(x, cols_shape, tuple(map(tuple, mat)), tuple(const), (1, 1) + tuple(ld), 0.0)
        if by_rows:  # stored as [N, P..., Cg, K...]
            stored = (n,) + tuple(out_sp) + (cg,) + tuple(kernel)
            cols = lw.new_buf(dtype, stored)
            lw.emit(Store(cols.load(), L.transpose(win, (0,) + tuple(range(2 + sp, 2 + 2 * sp)) + (1,)
                                                   + tuple(range(2, 2 + sp)))))
            b = Load(cols, (n, cg * kt, pt), (cg * kt * pt, 1, cg * kt), 0)
        else:
            cols = lw.new_buf(dtype, cols_shape)
            lw.emit(Store(cols.load(), win))
            b = Load(cols, (n, cg * kt, pt), (cg * kt * pt, pt, 1), 0)
        a = Load(w.buf, (n, og, cg * kt), (0, cg * kt, 1), w.offset + g * og * cg * kt)
        lw.emit(Matmul(Load(buf, (n, og, pt), (o * pt, pt, 1), g * og * pt), a, b))
    return buf.load()
