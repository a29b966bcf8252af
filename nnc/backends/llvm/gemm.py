"""Matrix multiply kernels: a register-tiled vector GEMM, and dot-product and row-update forms.

`Matmul` targets are [batch..., M, N] with any strides on the operands (transposes and broadcast batch
axes are strides). M, N, K and the strides are ints or run-time polynomials (dims.Poly; `k.dim(d)` is
the i64 IR value of one). Three forms, chosen per kernel from the strides and the sizes; where the
choice depends on a run-time size (M < 4 for the dot form, N >= one vector for the tiled one) both forms
are emitted behind a run-time test:

- tiled: B rows contiguous (the lowering packs B when they are not and M is large enough to pay for
  it). A tile of 6 rows × 2 vectors of C (16 floats each, 8 doubles) lives in registers across the
  whole k loop: per k, two vector loads of B, six broadcasts of A and twelve `llvm.fma` — the shape of
  the micro-kernel measured in ../shared/docs/backends.md §3, without its packing of A, its K blocking
  or threads (the next issue). Edges: a one-vector tile, then one under a mask (AVX-512 masked loads
  and stores); remaining rows by a tile with fewer rows. With a run-time M: full 6-row tiles, then a
  run-time tail of 0..5 rows by one-row tiles; with a run-time N: run-time column blocks, and the
  masked edge with a run-time lane mask.
- dot: A rows and B columns both contiguous along k and few rows (inference at batch 1, where the
  weights are read once): a dot product per output, vectorised by LLVM (reassociation allowed).
- rows: otherwise, C[i, :] += A[i, k] · B[k, :], vectorised along j by LLVM.
"""
from __future__ import annotations

from llvmlite import ir

from .dims import Poly, hint
from .emit import FLOATS, FAST, I1, I32, I64, REASSOC, REG, KernelBuilder, const
from .loops import Load, Matmul, numel

VECTOR = {"f32": 16, "f64": 8}
ROWS = 6


def _zero(d) -> bool:
    return isinstance(d, int) and d == 0


def emit_matmul(k: KernelBuilder, kern: Matmul) -> None:
    if kern.alt is not None:  # B packed only when a run-time size says so (lower.py): both products
        size, least = kern.packed
        with k.b.if_else(k.b.icmp_signed(">=", k.dim(size), ir.Constant(I64, least))) as (then, otherwise):
            with then:
                emit_matmul(k, Matmul(kern.target, kern.a, kern.b))
            with otherwise:
                emit_matmul(k, Matmul(kern.target, kern.a, kern.alt))
        return
    from .library import emit_call
    if emit_call(k, kern):  # the shape-independent GEMM library (library.py), where it pays
        return
    t, a, b = kern.target, kern.a, kern.b
    batch = t.shape[:-2]
    m, n = t.shape[-2:]
    kk = a.shape[-1]
    if _zero(numel(batch)) or _zero(m) or _zero(n):
        return
    if _zero(kk):
        k.nest(t.shape, lambda idx: k.store(t, idx, const(t.dtype, 0.0)))
        return
    dot = a.strides[-1] == 1 and b.strides[-2] == 1
    other = dot_form if dot else rows_form
    if not (t.dtype in FLOATS and b.strides[-1] == 1 and t.strides[-1] == 1):
        k.nest(batch, lambda bidx: other(k, kern, list(bidx)))
        return
    # tiled when N >= one vector and not (dot and M < 4): decided now where the sizes are ints
    width = VECTOR[t.dtype]
    tests = []
    if isinstance(n, Poly):
        tests.append(lambda: k.b.icmp_signed(">=", k.dim(n), ir.Constant(I64, width)))
    elif n < width:
        k.nest(batch, lambda bidx: other(k, kern, list(bidx)))
        return
    if dot:
        if isinstance(m, Poly):
            tests.append(lambda: k.b.icmp_signed(">=", k.dim(m), ir.Constant(I64, 4)))
        elif m < 4:
            k.nest(batch, lambda bidx: other(k, kern, list(bidx)))
            return

    def form(bidx):
        if not tests:
            tiled_form(k, kern, bidx)
            return
        cond = tests[0]()
        for test in tests[1:]:
            cond = k.b.and_(cond, test())
        with k.b.if_else(cond) as (then, otherwise):
            with then:
                tiled_form(k, kern, bidx)
            with otherwise:
                other(k, kern, bidx)
    k.nest(batch, lambda bidx: form(list(bidx)))


def _mul_add(k: KernelBuilder, dtype: str, acc, p, q, flags):
    b = k.b
    if dtype in FLOATS:
        return b.fadd(acc, b.fmul(p, q, flags=FAST), flags=flags)
    return b.add(acc, b.mul(p, q))


def dot_form(k: KernelBuilder, kern: Matmul, bidx: list) -> None:
    t, a, b = kern.target, kern.a, kern.b
    m, n = t.shape[-2:]
    dtype = t.dtype
    acc = k.alloca(REG[dtype])

    def cell(ij):
        i, j = ij
        k.b.store(const(dtype, 0.0), acc)
        k.for_range(a.shape[-1], lambda p: k.b.store(_mul_add(
            k, dtype, k.b.load(acc, typ=REG[dtype]), k.load(a, bidx + [i, p]), k.load(b, bidx + [p, j]), REASSOC),
            acc))
        k.store(t, bidx + [i, j], k.b.load(acc, typ=REG[dtype]))
    k.nest((m, n), cell)


def rows_form(k: KernelBuilder, kern: Matmul, bidx: list) -> None:
    t, a, b = kern.target, kern.a, kern.b
    m, n = t.shape[-2:]
    dtype = t.dtype

    def row(i):
        k.for_range(n, lambda j: k.store(t, bidx + [i, j], const(dtype, 0.0)))

        def over_k(p):
            aip = k.load(a, bidx + [i, p])
            k.for_range(n, lambda j: k.store(t, bidx + [i, j], _mul_add(
                k, dtype, k.load(t, bidx + [i, j]), aip, k.load(b, bidx + [p, j]), FAST)))
        k.for_range(a.shape[-1], over_k)
    k.for_range(m, row)


def tiled_form(k: KernelBuilder, kern: Matmul, bidx: list) -> None:
    t = kern.target
    m, n = t.shape[-2:]
    width = VECTOR[t.dtype]
    wide = 2 * width if hint(n) >= 2 * width else width
    bld = k.b

    def columns(i0, rows: int) -> None:
        if not isinstance(n, Poly):
            blocks, rest = divmod(n, wide)
            if blocks:
                k.for_range(blocks, lambda jb: _tile(k, kern, bidx, i0, rows, bld.mul(jb, ir.Constant(I64, wide)),
                                                     wide // width))
            start = blocks * wide
            left = rest
            if left >= width:
                _tile(k, kern, bidx, i0, rows, ir.Constant(I64, start), 1)
                start, left = start + width, left - width
            if left:  # the last columns: one vector tile under a mask (AVX-512 masked loads and stores)
                _tile(k, kern, bidx, i0, rows, ir.Constant(I64, start), 1, mask=left)
            return
        nv = k.dim(n)
        blocks = bld.udiv(nv, ir.Constant(I64, wide))
        k.for_range(blocks, lambda jb: _tile(k, kern, bidx, i0, rows, bld.mul(jb, ir.Constant(I64, wide)),
                                             wide // width))
        start = bld.mul(blocks, ir.Constant(I64, wide))
        left = bld.sub(nv, start)
        if wide > width:
            one = bld.icmp_signed(">=", left, ir.Constant(I64, width))
            with bld.if_then(one):
                _tile(k, kern, bidx, i0, rows, start, 1)
            start = bld.select(one, bld.add(start, ir.Constant(I64, width)), start)
            left = bld.select(one, bld.sub(left, ir.Constant(I64, width)), left)
        with bld.if_then(bld.icmp_signed(">", left, ir.Constant(I64, 0))):
            _tile(k, kern, bidx, i0, rows, start, 1, mask=left)

    if not isinstance(m, Poly):
        full, tail = divmod(m, ROWS)
        if full:
            k.for_range(full, lambda ib: columns(bld.mul(ib, ir.Constant(I64, ROWS)), ROWS))
        if tail:
            columns(ir.Constant(I64, full * ROWS), tail)
        return
    mv = k.dim(m)
    full = bld.udiv(mv, ir.Constant(I64, ROWS))
    k.for_range(full, lambda ib: columns(bld.mul(ib, ir.Constant(I64, ROWS)), ROWS))
    top = bld.mul(full, ir.Constant(I64, ROWS))
    # the run-time tail of 0..5 rows, one row at a time: at M < 6 (batch-1 inference) this is exactly
    # the specialised code's tile; one tile body instead of one per tail size keeps compile time down
    k.for_range(bld.sub(mv, top), lambda r: columns(bld.add(top, r), 1))


def _tile(k: KernelBuilder, kern: Matmul, bidx: list, i0, rows: int, j0, vectors: int, mask=0) -> None:
    """C[i0:i0+rows, j0:j0+vectors·width] = A[i0:i0+rows, :] @ B[:, j0:...], accumulated in registers;
    with `mask` (an int, or an i64 value in 1..width-1 at run time), one vector of which only the first
    `mask` columns exist (masked loads and stores)."""
    from .scalar import function
    t, a, b = kern.target, kern.a, kern.b
    bld = k.b
    dtype = t.dtype
    width = VECTOR[dtype]
    vt = ir.VectorType(REG[dtype], width)
    fma = function(k.module, f"llvm.fma.v{width}{'f32' if dtype == 'f32' else 'f64'}", vt, [vt, vt, vt])
    zero = ir.Constant(vt, [0.0] * width)
    undef = ir.Constant(vt, ir.Undefined)
    splat_mask = ir.Constant(ir.VectorType(I32, width), [0] * width)
    i64 = ir.IntType(64)
    accs = [[k.alloca(vt) for _ in range(vectors)] for _ in range(rows)]
    for row in accs:
        for acc in row:
            bld.store(zero, acc)
    offsets = [bld.add(j0, ir.Constant(i64, v * width)) if v else j0 for v in range(vectors)]
    size = 4 if dtype == "f32" else 8

    suffix = f"v{width}{'f32' if dtype == 'f32' else 'f64'}.p0"
    bits = ir.VectorType(I1, width)
    masked = not (isinstance(mask, int) and mask == 0)
    if isinstance(mask, int):
        lanes = ir.Constant(bits, [int(i < mask) for i in range(width)])
    else:
        vi = ir.VectorType(I64, width)
        splat = bld.shuffle_vector(bld.insert_element(ir.Constant(vi, ir.Undefined), mask, ir.Constant(I32, 0)),
                                   ir.Constant(vi, ir.Undefined), splat_mask)
        lanes = bld.icmp_unsigned("<", ir.Constant(vi, list(range(width))), splat)
    align = ir.Constant(I32, size)

    def vload(ptr):
        if not masked:
            return bld.load(ptr, typ=vt, align=size)
        fn = function(k.module, f"llvm.masked.load.{suffix}", vt, [ir.PointerType(), I32, bits, vt])
        return bld.call(fn, [ptr, align, lanes, zero])

    def vstore(v, ptr):
        if not masked:
            bld.store(v, ptr, align=size)
            return
        fn = function(k.module, f"llvm.masked.store.{suffix}", ir.VoidType(), [vt, ir.PointerType(), I32, bits])
        bld.call(fn, [v, ptr, align, lanes])

    def over_k(p):
        bv = [vload(k.address(b, bidx + [p, off])) for off in offsets]
        for r in range(rows):
            i = bld.add(i0, ir.Constant(i64, r)) if r else i0
            s = bld.shuffle_vector(bld.insert_element(undef, k.load(a, bidx + [i, p]), ir.Constant(I32, 0)),
                                   undef, splat_mask)
            for v in range(vectors):
                acc = accs[r][v]
                bld.store(bld.call(fma, [s, bv[v], bld.load(acc, typ=vt)]), acc)
    k.for_range(a.shape[-1], over_k)
    for r in range(rows):
        i = bld.add(i0, ir.Constant(i64, r)) if r else i0
        for v in range(vectors):
            vstore(bld.load(accs[r][v], typ=vt), k.address(t, bidx + [i, offsets[v]]))


__all__ = ["emit_matmul", "Load", "I1"]
