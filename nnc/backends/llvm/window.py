"""Pooling kernels in LLVM IR: the window max or sum (`PoolReduce`, the forward of max and average
pooling) and max pooling's winners (`WindowPick`: select, and scatter = its gradient), kept out of emit.py.

The fast forms walk the last spatial axis in a loop LLVM vectorises (the kernel's taps unrolled, each a
strided load), and split every axis into the windows that read only input (no bounds test) and the
few at the edges (padding tested per tap). Where windows do not overlap (every stride >= its kernel
size) the gradient is a Store over the input rather than a scatter: the input is tiled by stride-sized
blocks, one per window, and each block's cells get g where they hold the window's first maximum, else 0
(cells outside every window 0): no zeroing pass, no read-modify-write. Semantics are the oracle's:
the first maximum in row-major window order wins, the first NaN wins over numbers, padding never wins,
a window of padding only gives -inf (max), 0 (sum), and picks nothing.

`PoolReduce` is a `Reduce` (reports and plans treat it as one); window.py adds its emitter to emit.py's
EMITTERS when imported (lower_pool.py imports it before making one).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from llvmlite import ir

from .emit import EMITTERS, I1, I64, MEM, REG, KernelBuilder, const
from .loops import Expr, Load, Reduce, WindowPick, contiguous_strides, numel

MAX_TAPS = 64  # unrolled taps (forward) or cells (gradient blocks) per window; beyond: the general loops


@dataclass(eq=False)
class PoolReduce(Reduce):
    """A Reduce over a pooling Window of `x` (src keeps the Window for reports): target[n, c, p...] =
    kind (max or sum) over the taps t of x[n, c, p·stride + t - lo], padding -inf (max) or 0 (sum)."""

    x: Expr | None = None
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    lo: tuple[int, ...] = ()


@dataclass(eq=False)
class AvgPoolGrad(WindowPick):
    """Average pooling's gradient (pool_backward kind avgpool): target[n, c, q] = the sum of
    g[n, c, p] / size over the windows p holding q (x and other are both g; mode "avg")."""

    size: int = 1


@dataclass(eq=False)
class ReluPoolGrad(WindowPick):
    """Max pooling's gradient times relu's where x = relu(a) is what was pooled (lower_pool._relu_after):
    target = scatter(g at each window's first maximum of x) · sign(x), windows that do not overlap (mode
    "scatter", emitted by _scatter_blocks): one pass instead of the scatter and a mul over its output."""


def _c(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


def _min(b: ir.IRBuilder, a, c):
    return b.select(b.icmp_signed("<", a, c), a, c)


def _max(b: ir.IRBuilder, a, c):
    return b.select(b.icmp_signed(">", a, c), a, c)


def _all(b: ir.IRBuilder, conds):
    out = None
    for c in conds:
        out = c if out is None else b.and_(out, c)
    return out


def _span(k: KernelBuilder, start, stop, body) -> None:
    """for p in range(start, stop): body(p) (i64 values; nothing when stop <= start)."""
    b = k.b
    k.for_range(b.sub(stop, start), lambda i: body(b.add(start, i, flags=("nsw",))))


def _interior(k: KernelBuilder, size, count, s: int, lo: int, extent: int):
    """[a, z): the positions p < count whose cells p·s - lo + r, r < extent, all lie in 0..size-1."""
    b = k.b
    a = _min(b, _c(-(-lo // s)), count)
    num = b.add(size, _c(lo - extent))
    z = b.select(b.icmp_signed(">=", num, _c(0)), b.add(b.sdiv(num, _c(s)), _c(1)), _c(0))
    return a, _max(b, a, _min(b, z, count))


def _sign(b: ir.IRBuilder, v, zero, one, minus):
    """scalar.py's sign of v (scalars or vectors, the constants alike): 1, -1, 0 for ±0, NaN for NaN."""
    s = b.select(b.fcmp_ordered(">", v, zero), one, b.select(b.fcmp_ordered("<", v, zero), minus, zero))
    return b.select(b.fcmp_unordered("!=", v, v), v, s)


def _better(b: ir.IRBuilder, v, cur):
    """v replaces cur as the maximum: greater, or the first NaN over a number (numpy's argmax)."""
    return b.or_(b.fcmp_ordered(">", v, cur), b.and_(b.fcmp_unordered("!=", v, v), b.fcmp_ordered("==", cur, cur)))


class _Vec:
    """V lanes of windows along the last axis: splats, a row of x as one vector load, its lanes for a tap
    (every s-th element), and s vectors interleaved back into one row."""

    def __init__(self, k: KernelBuilder, lanes: int):
        self.k, self.b, self.n = k, k.b, lanes

    def splat(self, c: ir.Constant) -> ir.Constant:
        return ir.Constant(ir.VectorType(c.type, self.n), [c.constant] * self.n)

    def load(self, x: Load, idx, length: int) -> ir.Value:
        ptr = self.k.at_offset(x, self.k.affine(x.offset, x.strides, idx))
        return self.b.load(ptr, typ=ir.VectorType(MEM[x.dtype], length), align=_BYTES[x.dtype])

    def store(self, t: Load, idx, v: ir.Value) -> None:
        ptr = self.k.at_offset(t, self.k.affine(t.offset, t.strides, idx))
        self.b.store(v, ptr, align=_BYTES[t.dtype])

    def lanes(self, row: ir.Value, start: int, step: int) -> ir.Value:
        mask = ir.Constant(ir.VectorType(ir.IntType(32), self.n), [start + i * step for i in range(self.n)])
        return self.b.shuffle_vector(row, ir.Constant(row.type, ir.Undefined), mask)

    def interleave(self, vecs: list[ir.Value]) -> ir.Value:
        """One row from s vectors of lanes: element i·s + r is vecs[r][i]."""
        b, n, m = self.b, self.n, len(vecs)
        if m == 1:
            return vecs[0]
        acc = vecs[0]
        for v in vecs[1:]:  # concatenate: acc's lanes, then v's
            size = acc.type.count
            wide = v if size == n else b.shuffle_vector(v, ir.Constant(v.type, ir.Undefined), ir.Constant(
                ir.VectorType(ir.IntType(32), size), [i if i < n else 0 for i in range(size)]))
            acc = b.shuffle_vector(acc, wide, ir.Constant(ir.VectorType(ir.IntType(32), size + n),
                                                          list(range(size)) + [size + i for i in range(n)]))
        mask = [r * n + i for i in range(n) for r in range(m)]
        return b.shuffle_vector(acc, ir.Constant(acc.type, ir.Undefined),
                                ir.Constant(ir.VectorType(ir.IntType(32), n * m), mask))


_BYTES = {"f32": 4, "f64": 8}


def _lane_count(dtype: str, count, whole: bool = False) -> int:
    """Windows per vector: a 64-byte row of x at stride 2, fewer when the axis is known to be shorter.
    With `whole` (every window of the row reads input only, so the vector run is the whole row) a row
    shorter than two vectors is one vector of exactly its length (LLVM widens it): no second, overlapping
    chunk (lenet5's 5 and 14 windows: 125 -> 65 and 121 -> 91 instructions per block row)."""
    most = 8 if dtype == "f32" else 4
    if isinstance(count, int) and whole and 2 <= count < 2 * most:
        return count
    if isinstance(count, int):
        while most > count:
            most //= 2
    return most


def _vector_ok(*xs) -> bool:
    return all(isinstance(x, Load) and x.strides and x.strides[-1] == 1 and x.dtype in ("f32", "f64") for x in xs)


def _split(k: KernelBuilder, t: Load, work, emit) -> None:
    """emit(kb, rows) for the n·c planes of t: rows = (lo, hi) of one part when parallel.py's split_rows
    runs them as parts over the thread pool (a fixed split by sizes alone: the same bits on any number of
    threads), None for all of them in this kernel."""
    try:
        from .parallel import split_rows
    except ImportError:  # no pool helper: one piece
        emit(k, None)
        return
    split_rows(k, t.shape[0] * t.shape[1], work, lambda kb, lo, hi: emit(kb, None if lo is None else (lo, hi)))


def _rows(k: KernelBuilder, counts, spans, body, chunk=None, lanes: int = 0, overlap: bool = True,
          rows=None) -> None:
    """The planes n·c (all, or rows = (lo, hi) of them), in each the nest over every spatial axis but the
    last (`counts[2:]`), then the last axis in three runs:
    body(idx, p, inside) with inside True only on the interior run of a row interior along every outer
    axis (`spans`: per spatial axis its interior [a, z) and its count). With `chunk`, that interior run
    goes `lanes` windows at a time, chunk(idx, p0), the last chunk overlapping the one before (the kernels
    only store, so a window done twice stores the same values twice; without `overlap` the windows left
    over go one by one); scalar when the run is shorter."""
    b = k.b

    def interior(idx, a, z):
        if chunk is None:
            _span(k, a, z, lambda p: body(idx, p, True))
            return
        count = b.sub(z, a)
        with b.if_else(b.icmp_signed(">=", count, _c(lanes)), likely=True) as (then, otherwise):
            with then:
                k.for_range(b.sdiv(count, _c(lanes)), lambda i: chunk(idx, b.add(a, b.mul(i, _c(lanes)))))
                if overlap:
                    with b.if_then(b.icmp_signed("!=", b.srem(count, _c(lanes)), _c(0))):
                        chunk(idx, b.sub(z, _c(lanes)))
                else:
                    _span(k, b.sub(z, b.srem(count, _c(lanes))), z, lambda p: body(idx, p, True))
            with otherwise:
                _span(k, a, z, lambda p: body(idx, p, True))

    def row(idx):
        n_last = spans[-1][2]
        a, z = spans[-1][0], spans[-1][1]
        outer = [b.and_(b.icmp_signed(">=", p, lo), b.icmp_signed("<", p, hi))
                 for p, (lo, hi, _) in zip(idx[2:], spans[:-1])]
        edge = lambda p: body(idx, p, False)  # noqa: E731
        _span(k, _c(0), a, edge)
        if outer:
            with b.if_else(_all(b, outer), likely=True) as (then, otherwise):
                with then:
                    interior(idx, a, z)
                with otherwise:
                    _span(k, a, z, edge)
        else:
            interior(idx, a, z)
        _span(k, z, n_last, edge)
    _planes(k, counts, rows, lambda nc: k.nest(tuple(counts[2:]), lambda rest: row(nc + rest)))


def _planes(k: KernelBuilder, counts, rows, body) -> None:
    """body([n, c]) for the planes [lo, hi) of the N·C planes (all when rows is None)."""
    b = k.b
    lo, hi = rows if rows is not None else (_c(0), k.dim(counts[0] * counts[1]))
    chans = k.dim(counts[1])
    _span(k, lo, hi, lambda i: body([b.sdiv(i, chans), b.srem(i, chans)]))


def emit_pool_reduce(k: KernelBuilder, kern: PoolReduce) -> None:
    """target = max or sum over each window: taps unrolled, the last spatial axis vectorised."""
    t = kern.target
    _split(k, t, numel(kern.x.shape) + numel(t.shape), lambda kb, rows: _forward(
        kb, t, kern.x, None, kern.kernel, kern.stride, kern.lo, kern.kind, rows=rows))


def _forward(k: KernelBuilder, t, x, h, kernel, stride, lo, kind: str, dest=None, rows=None) -> None:
    """kind max/sum: t = the window max/sum of x; kind select: t = h at each window's first maximum of x;
    kind scatter (windows that overlap): dest (x's shape) zeroed, then t (g) added at each first maximum."""
    b = k.b
    picks = kind in ("select", "scatter")
    if kind == "scatter":
        _planes(k, dest.shape, rows, lambda nc: k.nest(tuple(dest.shape[2:]), lambda rest: k.store(
            dest, nc + rest, const(dest.dtype, 0.0))))

    def tapped(nc, q):  # what a select picks: h's value, or where dest's element is
        if kind == "select":
            return k.ev(h, nc + q)
        return k.affine(dest.offset, dest.strides, nc + q) if kind == "scatter" else None
    dtype = x.dtype
    sizes = [k.dim(n) for n in x.shape[2:]]
    outs = [k.dim(n) for n in t.shape[2:]]
    spans = [_interior(k, size, out, s, l, kk) + (out,) for size, out, s, l, kk in zip(sizes, outs, stride, lo, kernel)]
    taps = list(itertools.product(*(range(kk) for kk in kernel)))
    fill = const(dtype, float("-inf") if kind != "sum" else 0.0)

    def step(acc, pick, v, hv):
        """The next tap of an interior window (every tap real): acc and pick updated."""
        if acc is None:
            return v, hv
        if kind == "sum":
            return b.fadd(acc, v), None
        take = _better(b, v, acc)
        return b.select(take, v, acc), (b.select(take, hv, pick) if picks else None)

    def window(idx, p_last, inside: bool):
        ps = list(idx[2:]) + [p_last]
        acc, pick, seen = (None, None, None) if inside else (fill, None, None)
        if picks and not inside:
            pick, seen = const(h.dtype, 0.0) if kind == "select" else _c(0), ir.Constant(I1, 0)
        for tap in taps:
            q = [b.add(b.mul(p, _c(s)), _c(j - l)) for p, j, s, l in zip(ps, tap, stride, lo)]
            if inside:
                v = k.ev(x, list(idx[:2]) + q)
                acc, pick = step(acc, pick, v, tapped(list(idx[:2]), q))
                continue
            real = _all(b, [b.and_(b.icmp_signed(">=", v, _c(0)), b.icmp_signed("<", v, n)) for v, n in zip(q, sizes)])
            q = [b.select(real, v, _c(0)) for v in q]
            v = k.ev(x, list(idx[:2]) + q)
            if kind == "sum":
                acc = b.fadd(acc, b.select(real, v, fill))
                continue
            take = _better(b, v, acc)
            if picks:
                take = b.and_(real, b.or_(take, b.not_(seen)))
                seen = b.or_(seen, take)
                pick = b.select(take, tapped(list(idx[:2]), q), pick)
            else:
                take = b.and_(real, take)
            acc = b.select(take, v, acc)
        if kind == "scatter":
            gv = k.ev(t, idx + [p_last])
            if seen is None:
                _add(k.at_offset(dest, pick), gv)
                return
            with b.if_then(seen):
                _add(k.at_offset(dest, pick), gv)
            return
        k.store(t, idx + [p_last], pick if kind == "select" else acc)

    n_last = t.shape[-1]
    lanes = _lane_count(dtype, n_last, lo[-1] == 0 and isinstance(n_last, int) and isinstance(x.shape[-1], int)
                        and (n_last - 1) * stride[-1] + kernel[-1] <= x.shape[-1])
    vec = _Vec(k, lanes)
    s_last, k_last, lo_last = stride[-1], kernel[-1], lo[-1]
    length = (lanes - 1) * s_last + k_last  # the elements of a row the lanes' taps cover

    def chunk(idx, p0):
        nc, outer = list(idx[:2]), list(idx[2:])
        start = b.sub(b.mul(p0, _c(s_last)), _c(lo_last))
        acc = pick = None
        for otap in itertools.product(*(range(kk) for kk in kernel[:-1])):
            q = [b.add(b.mul(p, _c(s)), _c(j - l)) for p, j, s, l in zip(outer, otap, stride, lo)]
            row = vec.load(x, nc + q + [start], length)
            hrow = vec.load(h, nc + q + [start], length) if kind == "select" else None
            for j in range(k_last):
                # scatter: where the tap lies in dest from the window's first element (strides are ints)
                rel = vec.splat(_c(sum(o * st for o, st in zip(otap, dest.strides[2:])) + j)) if kind == "scatter" \
                    else None
                acc, pick = step(acc, pick, vec.lanes(row, j, s_last),
                                 vec.lanes(hrow, j, s_last) if hrow is not None else rel)
        if kind != "scatter":
            vec.store(t, nc + outer + [p0], pick if kind == "select" else acc)
            return
        # the winners found V at a time; g added to each in window order (windows may share elements)
        base = k.affine(dest.offset, dest.strides, nc + [b.sub(b.mul(p, _c(s)), _c(l)) for p, s, l
                                                          in zip(outer, stride, lo)] + [start])
        gv = vec.load(t, nc + outer + [p0], lanes)
        for lane in range(lanes):
            off = b.add(b.add(base, _c(lane * s_last)), b.extract_element(pick, ir.Constant(ir.IntType(32), lane)))
            _add(k.at_offset(dest, off), b.extract_element(gv, ir.Constant(ir.IntType(32), lane)))

    def _add(ptr, v):
        b.store(b.fadd(b.load(ptr, typ=MEM[dtype]), v), ptr)
    use = lanes >= 2 and _vector_ok(x, t, *([h] if kind == "select" else [dest] if kind == "scatter" else []))
    if kind == "scatter":
        use = use and all(isinstance(st, int) for st in dest.strides[2:])
    _rows(k, list(t.shape[:2]) + outs[:-1], spans, window, chunk if use else None, lanes,
          overlap=kind != "scatter", rows=rows)


def emit_window_pick(k: KernelBuilder, kern: WindowPick) -> None:
    """Max pooling's winners: the vectorised forms when they apply, else the general loops."""
    cells = 1
    for s in kern.stride:
        cells *= s
    taps = 1
    for kk in kern.kernel:
        taps *= kk
    t = kern.target
    work = numel(t.shape) + numel(kern.other.shape)
    apart = all(s >= kk for s, kk in zip(kern.stride, kern.kernel))  # windows do not overlap
    if kern.mode == "select" and taps <= MAX_TAPS:
        _split(k, t, work, lambda kb, rows: _forward(kb, t, kern.x, kern.other, kern.kernel, kern.stride, kern.lo,
                                                     "select", rows=rows))
    elif kern.mode in ("scatter", "avg") and cells <= MAX_TAPS and apart:
        _split(k, t, work, lambda kb, rows: _scatter_blocks(kb, kern, rows))
    elif isinstance(kern, ReluPoolGrad):
        raise ValueError("relu's gradient is applied only where pooling's windows do not overlap")
    elif kern.mode == "avg":
        _avg_general(k, kern)
    elif kern.mode == "scatter" and taps <= MAX_TAPS:
        _split(k, t, work, lambda kb, rows: _forward(kb, kern.other, kern.x, None, kern.kernel, kern.stride, kern.lo,
                                                     "scatter", dest=t, rows=rows))
    else:
        _pick_general(k, kern)


def _avg_general(k: KernelBuilder, kern: AvgPoolGrad) -> None:
    """Overlapping windows: each cell q sums g/size over its windows p, ceil((q+lo-k+1)/s) <= p <= (q+lo)/s."""
    b, g, t = k.b, kern.other, kern.target
    dtype = t.dtype
    outs = [k.dim(n) for n in g.shape[2:]]
    size = const(dtype, float(kern.size))
    acc = k.alloca(REG[dtype])

    def cell(idx):
        first, counts = [], []
        for q, out, kk, s, l in zip(idx[2:], outs, kern.kernel, kern.stride, kern.lo):
            num = b.add(q, _c(l - kk + 1))
            lo_p = b.select(b.icmp_signed(">", num, _c(0)), b.sdiv(b.add(num, _c(s - 1)), _c(s)), _c(0))
            hi_p = _min(b, b.sub(out, _c(1)), b.sdiv(b.add(q, _c(l)), _c(s)))
            first.append(lo_p)
            counts.append(_max(b, b.sub(b.add(hi_p, _c(1)), lo_p), _c(0)))
        b.store(const(dtype, 0.0), acc)

        def add(ws):
            ps = [b.add(f, w) for f, w in zip(first, ws)]
            b.store(b.fadd(b.load(acc, typ=REG[dtype]), b.fdiv(k.ev(g, list(idx[:2]) + ps), size)), acc)
        k.nest(tuple(counts), add)
        k.store(t, idx, b.load(acc, typ=REG[dtype]))
    k.nest(t.shape, cell)


def _scatter_blocks(k: KernelBuilder, kern: WindowPick, rows=None) -> None:
    """Windows that do not overlap: dx (the target, x's shape) as a Store over stride-sized blocks."""
    b, x, g, t = k.b, kern.x, kern.other, kern.target
    dtype = t.dtype
    avg = const(dtype, float(kern.size)) if kern.mode == "avg" else None
    relu = isinstance(kern, ReluPoolGrad)
    sizes = [k.dim(n) for n in t.shape[2:]]
    outs = [k.dim(n) for n in g.shape[2:]]
    blocks = [b.sdiv(b.add(size, _c(l + s - 1)), _c(s)) for size, s, l in zip(sizes, kern.stride, kern.lo)]
    spans = []
    for size, out, s, l, nb in zip(sizes, outs, kern.stride, kern.lo, blocks):
        a, z = _interior(k, size, out, s, l, s)
        spans.append((_min(b, a, nb), _min(b, z, nb), nb))
    cells = list(itertools.product(*(range(s) for s in kern.stride)))
    window_cell = [all(r < kk for r, kk in zip(cell, kern.kernel)) for cell in cells]
    zero = const(dtype, 0.0)

    def block(idx, p_last, inside: bool):
        bs = list(idx[2:]) + [p_last]
        nc = list(idx[:2])
        exists = None if inside else _all(b, [b.icmp_signed("<", p, n) for p, n in zip(bs, outs)])
        pos, real = [], []
        for cell in cells:
            q = [b.add(b.mul(p, _c(s)), _c(r - l)) for p, r, s, l in zip(bs, cell, kern.stride, kern.lo)]
            ok = None if inside else _all(b, [b.and_(b.icmp_signed(">=", v, _c(0)), b.icmp_signed("<", v, n))
                                              for v, n in zip(q, sizes)])
            pos.append(q if inside else [b.select(ok, v, _c(0)) for v in q])
            real.append(ok)
        best, at, seen = const(dtype, float("-inf")), _c(-1), ir.Constant(I1, 0)
        for j in range(len(cells)):
            if not window_cell[j] or avg is not None:
                continue
            v = k.ev(x, nc + pos[j])
            if inside and j == 0:
                best, at, seen = v, _c(0), ir.Constant(I1, 1)
                continue
            take = _better(b, v, best) if inside else b.or_(b.not_(seen), _better(b, v, best))
            if not inside:
                take = b.and_(b.and_(exists, real[j]), take)
            best, at, seen = b.select(take, v, best), b.select(take, _c(j), at), b.or_(seen, take)
        gi = bs if inside else [b.select(exists, p, _c(0)) for p in bs]
        gv = k.ev(g, nc + gi)
        if avg is not None:
            gv = b.select(exists, b.fdiv(gv, avg), zero) if exists is not None else b.fdiv(gv, avg)
        for j in range(len(cells)):
            hit = ir.Constant(I1, 1) if avg is not None else b.icmp_signed("==", at, _c(j))
            v = b.select(hit, gv, zero) if window_cell[j] else zero
            if relu:
                v = b.fmul(v, _sign(b, k.ev(x, nc + pos[j]), zero, const(dtype, 1.0), const(dtype, -1.0)))
            if inside:
                k.store(t, nc + pos[j], v)
            else:
                with b.if_then(real[j]):
                    k.store(t, nc + pos[j], v)

    g_last, t_last = g.shape[-1], t.shape[-1]
    lanes = _lane_count(dtype, g_last, kern.lo[-1] == 0 and isinstance(g_last, int) and isinstance(t_last, int)
                        and t_last == g_last * kern.stride[-1])
    vec = _Vec(k, lanes)
    vec2 = _Vec(k, lanes * kern.stride[-1])  # splats as wide as a row of cells
    s_last, lo_last = kern.stride[-1], kern.lo[-1]

    def chunk(idx, p0):
        nc, outer = list(idx[:2]), list(idx[2:])
        start = b.sub(b.mul(p0, _c(s_last)), _c(lo_last))
        rows = {}
        best = at = None
        for j, cell in enumerate(cells):
            if not window_cell[j] or avg is not None:
                continue
            r_outer = cell[:-1]
            if r_outer not in rows:
                q = [b.add(b.mul(p, _c(s)), _c(r - l)) for p, r, s, l in zip(outer, r_outer, kern.stride, kern.lo)]
                rows[r_outer] = vec.load(x, nc + q + [start], lanes * s_last)
            v = vec.lanes(rows[r_outer], cell[-1], s_last)
            if best is None:
                best, at = v, vec.splat(ir.Constant(ir.IntType(32), j))
                continue
            take = _better(b, v, best)
            best, at = b.select(take, v, best), b.select(take, vec.splat(ir.Constant(ir.IntType(32), j)), at)
        gv = vec.load(g, nc + outer + [p0], lanes)
        if avg is not None:
            gv = b.fdiv(gv, vec.splat(avg))
        zeros = vec.splat(zero)
        for r_outer in itertools.product(*(range(s) for s in kern.stride[:-1])):
            q = [b.add(b.mul(p, _c(s)), _c(r - l)) for p, r, s, l in zip(outer, r_outer, kern.stride, kern.lo)]
            parts = []
            for r in range(s_last):
                j = cells.index(r_outer + (r,))
                if avg is not None or not window_cell[j]:
                    parts.append(gv if window_cell[j] else zeros)
                    continue
                hit = b.icmp_signed("==", at, vec.splat(ir.Constant(ir.IntType(32), j)))
                parts.append(b.select(hit, gv, zeros))
            out = vec.interleave(parts)
            if relu:  # relu's gradient: · sign(x) over the whole row of cells
                xrow = rows.get(r_outer) or vec.load(x, nc + q + [start], lanes * s_last)
                out = b.fmul(out, _sign(b, xrow, vec2.splat(zero), vec2.splat(const(dtype, 1.0)),
                                        vec2.splat(const(dtype, -1.0))))
            vec.store(t, nc + q + [start], out)
    use = lanes >= 2 and _vector_ok(x, g, t)
    _rows(k, list(t.shape[:2]) + blocks[:-1], spans, block, chunk if use else None, lanes, rows=rows)


EMITTERS[PoolReduce] = emit_pool_reduce
EMITTERS[AvgPoolGrad] = emit_window_pick
EMITTERS[ReluPoolGrad] = emit_window_pick


def _pick_general(k: KernelBuilder, kern: WindowPick) -> None:
    """Any geometry (overlapping windows too): per window of x the first maximum (padding never wins), then
    select h there or add g to it (the target zeroed first)."""
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
