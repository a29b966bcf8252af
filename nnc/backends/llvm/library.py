"""The GEMM kernel library: shape-independent matrix multiplies compiled once per CPU and cached.

One LLVM module per element type (f32, f64; each compiled when first needed) exports

    void nnc_gemm_f32(i64 m, i64 n, i64 k, ptr a, i64 rsa, i64 csa, ptr b, i64 rsb, i64 csb,
                      ptr c, i64 ldc, i64 accumulate, ptr ws, i64 ws_bytes)
    void nnc_gemm_f32_mt(... the same ...)    the product split over the thread pool (gemm_threads.py)

C[m, n] = A[m, k] · B[k, n] (or C += … when `accumulate` ≠ 0). All sizes are run-time values; strides are
in elements: A[i, p] is a[i·rsa + p·csa], B[p, j] is b[p·rsb + j·csb], C[i, j] is c[i·ldc + j]. A
transposed operand is just other strides (dW = Xᵀ·dY has rsa = 1). `ws` is the packing workspace, owned
by the caller (never a global, so two calls on two threads are safe); when `ws_bytes` is below
`workspace_bytes(n, k)` the function takes what it needs from its own stack frame instead (≤ 550 KB).

Paths (../shared/docs/backends.md §3 is the measured recipe; docs/backends.md has what was measured here):
- direct, B's rows contiguous (every Matmul the lowering emits): no packing. Tiles of RD rows × VD vectors
  of C (6 × 4 with AVX-512: 24 accumulators; 1-2 rows × 2·VD vectors when m ≤ 2) read A and B in place,
  k in equal blocks of at most KC_DIRECT; the last n % (VD·W) columns run one tile of as many vectors,
  the last vector's loads and stores under a lane mask (ResNet's 49-column products). B is
  streamed once at batch 1 (packing B per call was 6× slower there), the short wide im2col products of
  convolutions read their columns once, and at every size measured here packing B did not pay.
- dot, A's rows and B's columns contiguous along k (B = Wᵀ of a dense weight W[out, in], convolution
  weight gradients; microkernel.dot_tile): 4×4 tiles of per-output vector accumulators along k, the 16
  reduced together (microkernel.hsum_many); one row of C (batch 1) in 1×16 tiles, 16 rows of W streamed
  at once; k in blocks of KC_DOT (block 0 stored, each next added in order), rows of A in blocks of about
  DOT_A_BYTES (each block over all columns: it stays in L2 while B's columns pass; large M, batch 256).
  Measured faster than packing B at every M tried (64: 514 against 689 µs; 256: 2222 against 2356 µs
  on one thread, load 1.7; 1024³ equal) and 3.6-10× the packed path at M = 1..16.
- packed, B column-strided otherwise (Goto blocking): per NC columns and KC = 256 rows of k (equal blocks), B is
  packed into NR-wide panels (kc × NR, in L2), then per MR rows A is packed into one panel (in L1) and the
  MR×NR micro-kernel runs along the B panels; partial A panels run the 8/4/2/1-row kernels, partial B
  panels masked stores. This is the only path that uses the workspace.

The widest vectors the target has are used (AVX-512: 16 floats, MR = 12; AVX2: 8 floats, MR = 6; SSE
without FMA: fmul + fadd), found by compiling a probe for the CPU. The object is cached (nnc/cache.py,
namespace `llvm`) under a key of the library's version and source, llvmlite's and LLVM's versions, the
host, the element type and the relocation model; `object(host, dtype, pic=True)` is the position-
independent one that links into a shared library (reloc "pic", code model "default"), and the part POOL
is the thread pool's object, which the GEMM objects call.

Threads: the serial function is reentrant; `_mt` splits C by columns or rows (several parts per thread
where no packing is repeated), or a small C's k by the serial function's own blocks (partial sums added
in block order), so its numbers are the serial ones bit for bit; each part on its own stack workspace.
"""
from __future__ import annotations

import hashlib
import os
import threading

import llvmlite
import llvmlite.binding as llvm
from llvmlite import ir

from ... import cache
from . import microkernel as mk
from .microkernel import I64, PTR, Emitter, Geometry, geometry, loop, smin

VERSION = "nnc-gemm-1"   # bump when the library's code or signature changes
KC = 256                 # rows of k per packed block
NC_BYTES = 512 * 1024    # one packed B block (kc × nc) in L2: nc = 512 floats, 256 doubles
GEMV_M = 1               # rows of C up to which each row is a row update (B read row by row)
KC_DIRECT = 512          # rows of k per block on the direct path
DIRECT_M = 1 << 62          # rows up to which B (rows contiguous) is read in place: packing never paid
DOT_M = 1 << 62          # rows up to which A rows and B columns contiguous along k take the dot path
KC_DOT = 1024            # elements of k per block on the dot path (a multiple of every vector width)
DOT_A_BYTES = 256 * 1024 # bytes of A per row block on the dot path (a quarter of a 1 MB L2): [256x784]·Wᵀ
                         # 1957-2031 -> 1941-1955 µs on one thread, 984 -> 970 µs on two (64-512 KB equal;
                         # load 0.9-1.5, so within about the noise); same bits
ALIGN = 64
DTYPES = ("f32", "f64")
POOL = "pool"            # the thread pool's part of the library (threads.py)
SIGNATURE = [("m", I64), ("n", I64), ("k", I64), ("a", PTR), ("rsa", I64), ("csa", I64), ("b", PTR),
             ("rsb", I64), ("csb", I64), ("c", PTR), ("ldc", I64), ("accumulate", I64), ("ws", PTR),
             ("ws_bytes", I64)]

_lock = threading.Lock()
_objects: dict[tuple, bytes] = {}
_probes: dict[tuple, tuple[int, bool]] = {}


def symbol(dtype: str, threads: bool = False) -> str:
    """The exported name: nnc_gemm_f32, or nnc_gemm_f32_mt (the same product over the thread pool)."""
    return f"nnc_gemm_{dtype}_mt" if threads else f"nnc_gemm_{dtype}"


def nc_of(dtype: str) -> int:
    return NC_BYTES // (KC * mk.SIZE[dtype])


def workspace_bytes(n: int, k: int, dtype: str = "f32", host=None) -> int:
    """Bytes of workspace a call with these sizes uses on the packed path (0 is enough for the direct
    path); an upper bound over every host (it takes the AVX-512 panel height, the larger)."""
    if n <= 0 or k <= 0:
        return 0
    size = mk.SIZE[dtype]
    kc = min(KC, k)
    nr = 2 * 64 // size     # the widest panel any geometry uses (AVX-512: 32 floats, 16 doubles)
    ncr = min(nc_of(dtype), -(-n // nr) * nr)
    return ALIGN + _round(12 * kc * size) + kc * ncr * size


def _round(x: int) -> int:
    return -(-x // ALIGN) * ALIGN


WORKSPACE_MAX = {d: workspace_bytes(1 << 30, 1 << 30, d) for d in DTYPES}


# -- the target's vectors ------------------------------------------------------------------------
def _machine(h, pic: bool = False) -> "llvm.TargetMachine":
    from . import target
    target.init()
    return llvm.Target.from_triple(h.triple).create_target_machine(
        cpu=h.cpu, features=h.features, opt=3, reloc="pic" if pic else "default",
        codemodel="default" if pic else "jitdefault")


def vectors(h) -> tuple[int, bool]:
    """(widest vector register in bits, whether FMA exists) for a host: a probe function using 512-bit
    vectors and llvm.fma is compiled for it and its assembly read (zmm registers, vfmadd)."""
    key = (h.triple, h.cpu, h.features)
    hit = _probes.get(key)
    if hit is None:
        m = ir.Module(name="probe")
        m.triple = h.triple
        vt = ir.VectorType(ir.FloatType(), 16)
        fma = ir.Function(m, ir.FunctionType(vt, [vt] * 3), name="llvm.fma.v16f32")
        fn = ir.Function(m, ir.FunctionType(ir.VoidType(), [PTR]), name="probe")
        b = ir.IRBuilder(fn.append_basic_block())
        x = b.load(fn.args[0], typ=vt)
        b.store(b.call(fma, [x, x, x]), fn.args[0])
        b.ret_void()
        asm = _machine(h).emit_assembly(llvm.parse_assembly(str(m)))
        bits = 512 if "zmm" in asm else 256 if "ymm" in asm else 128
        hit = _probes[key] = (bits, "vfmadd" in asm)
    return hit


TILE: dict = {}   # overrides of the geometry's fields (experiments: {"mr": 6, "nv": 4})


def geometry_for(h, dtype: str) -> Geometry:
    import dataclasses
    bits, fma = vectors(h)
    return dataclasses.replace(geometry(dtype, bits, fma), **TILE)


# -- the module ------------------------------------------------------------------------------------
def module(h, dtype: str = "f32") -> ir.Module:
    """The library's IR for one element type on one host (see the module docstring); `dtype` POOL: the
    thread pool alone (threads.py), which the C library links beside the GEMM objects."""
    if dtype not in DTYPES + (POOL,):
        raise ValueError(f"the GEMM library has no {dtype} functions (only {', '.join(DTYPES)})")
    m = ir.Module(name=f"nnc_gemm_{dtype}")
    m.triple = h.triple
    m.data_layout = str(_machine(h).target_data)
    if dtype == POOL:
        from .threads import emit_pool
        emit_pool(m, h.triple)
        return m
    g = geometry_for(h, dtype)
    e = Emitter(m, g)
    micro = {r: mk.packed(e, r) for r in (g.mr,) + g.tails}
    wide = {r: mk.direct(e, r, g.vd) for r in range(1, g.rd + 1)}
    narrow = {r: mk.direct(e, r, 1) for r in range(1, g.rd + 1)}
    part = {v: {r: mk.direct(e, r, v, mask_last=True) for r in range(1, g.rd + 1)} for v in range(2, g.vd + 1)}
    thin = {r: mk.direct(e, r, 2 * g.vd) for r in (1, 2)}
    gemv = mk.row_update(e)
    pack_a, pack_b = mk.pack_a(e), mk.pack_b(e)
    dots = {(r, cols): mk.dot_tile(e, r, cols) for r in range(1, dot_rows(g) + 1) for cols in (DOT_COLS, 1)}
    if gemv_dot_cols(g) != DOT_COLS:
        dots[1, gemv_dot_cols(g)] = mk.dot_tile(e, 1, gemv_dot_cols(g))
    serial = _driver(e, micro, wide, narrow, thin, gemv, pack_a, pack_b, dots, part)
    from .gemm_threads import emit_parallel_gemm
    emit_parallel_gemm(m, serial, dtype, g.mr, lanes=g.lanes)   # nnc_gemm_<dtype>_mt: over the thread pool
    return m


def _c(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


def _workspace(b: ir.IRBuilder, ws, ws_bytes, need):
    """The caller's workspace when it holds `need` bytes, else as much of this stack frame; aligned."""
    fn = b.function
    enough = b.icmp_signed(">=", ws_bytes, need)
    given_blk, stack_blk, ready = (fn.append_basic_block(x) for x in ("ws_given", "ws_stack", "ws_ready"))
    b.cbranch(b.and_(enough, b.icmp_unsigned("!=", ws, ir.Constant(PTR, None))), given_blk, stack_blk)
    b.position_at_end(stack_blk)
    own = b.alloca(ir.IntType(8), size=need)
    b.branch(ready)
    b.position_at_end(given_blk)
    b.branch(ready)
    b.position_at_end(ready)
    raw = b.phi(PTR)
    raw.add_incoming(own, stack_blk)
    raw.add_incoming(ws, given_blk)
    addr = b.ptrtoint(raw, I64)
    base = b.sub(b.and_(b.add(addr, _c(ALIGN - 1)), _c(-ALIGN)), addr)
    return b.gep(raw, [base], source_etype=ir.IntType(8))


def _ceil(b: ir.IRBuilder, x, y):
    """ceil(x / y) for x ≥ 0, y > 0."""
    return b.sdiv(b.add(x, b.sub(y, _c(1))), y)


def _by_rows(b: ir.IRBuilder, r, fns: dict[int, ir.Function], args) -> None:
    """Call fns[r](*args) for the run-time row count r (a switch over the kernels' row counts)."""
    fn = b.function
    join = fn.append_basic_block("rows_done")
    sw = b.switch(r, join)
    for rows, f in fns.items():
        blk = fn.append_basic_block(f"rows{rows}")
        sw.add_case(_c(rows), blk)
        b.position_at_end(blk)
        b.call(f, args)
        b.branch(join)
    b.position_at_end(join)


DOT_COLS = 4             # columns of a dot tile (gemm_threads.py splits the dot path's columns in these)
GEMV_DOT_COLS = 16       # ... of the one-row dot tile (batch 1: more rows of W streamed at once) with 32
                         # vector registers; half as many with 16 (gemv_dot_cols)


def gemv_dot_cols(g: Geometry) -> int:
    """Columns of the one-row dot tile: GEMV_DOT_COLS accumulators with 32 vector registers, half with 16."""
    return GEMV_DOT_COLS if g.lanes * g.size >= 64 else max(GEMV_DOT_COLS // 2, DOT_COLS)


def dot_rows(g: Geometry) -> int:
    """Rows of a dot tile: 4 × 4 accumulators + 8 loads in 32 vector registers, 2 × 4 + 6 in 16."""
    return 4 if g.lanes * g.size >= 64 else 2


def dot_case(b: ir.IRBuilder, m, csa, rsb, csb):
    """The i1 test for the dot path (gemm_threads.py asks the same): A's rows and B's columns contiguous
    along k, B's rows not, m ≤ DOT_M."""
    one = _c(1)
    return b.and_(b.and_(b.icmp_signed("==", csa, one), b.icmp_signed("==", rsb, one)),
                  b.and_(b.icmp_signed("!=", csb, one), b.icmp_signed("<=", m, _c(DOT_M))))


def _dot_path(e: Emitter, b: ir.IRBuilder, dots, args, beta0, cols: int = DOT_COLS) -> None:
    """C by dot tiles: k in blocks of KC_DOT (C = block 0, then += each next block, in order: the
    threaded form's column parts sum exactly so), per block tiles of DOT_COLS columns (B's columns in L1)
    over every row tile of A, then the last columns one at a time."""
    m, n, k, a, rsa, csa, bm, rsb, csb, c, ldc = args
    rows = max(r for r, _ in dots)
    zero = _c(0)
    kstep = b.mul(_ceil(b, _ceil(b, k, _ceil(b, k, _c(KC_DOT))), _c(e.g.lanes)), _c(e.g.lanes))
    nfull = b.sub(n, b.srem(n, _c(cols)))

    def depth(pc):
        kc = smin(b, kstep, b.sub(k, pc))
        beta = b.or_(beta0, b.zext(b.icmp_signed(">", pc, zero), I64))
        ap, bp = e.gep(b, a, pc), e.gep(b, bm, pc)

        # rows of A in equal blocks of about DOT_A_BYTES (a multiple of the tile's rows), each block
        # over all columns: the block stays in L2 while B's columns stream past it
        per = smin(b, m, b.mul(_ceil(b, _c(DOT_A_BYTES), b.mul(kc, _c(e.g.size * rows))), _c(rows)))
        mstep = b.mul(_ceil(b, _ceil(b, m, _ceil(b, m, per)), _c(rows)), _c(rows))

        def row_block(ib):
            iend = smin(b, m, b.add(ib, mstep))

            def tiles(cols, j0):
                def rows_at(i0):
                    r = smin(b, _c(rows), b.sub(iend, i0))
                    fns = {rr: f for (rr, cc), f in dots.items() if cc == cols}
                    _by_rows(b, r, fns, [kc, e.gep(b, ap, b.mul(i0, rsa)), rsa, e.gep(b, bp, b.mul(j0, csb)),
                                         csb, e.gep(b, c, b.add(b.mul(i0, ldc), j0)), ldc, beta])
                loop(b, ib, iend, rows, rows_at, "ti")
            loop(b, zero, nfull, cols, lambda j0: tiles(cols, j0), "tj")
            start = nfull
            if cols != DOT_COLS:   # the one-row path's last columns: DOT_COLS at a time, then one at a time
                start = b.sub(n, b.srem(n, _c(DOT_COLS)))
                loop(b, nfull, start, DOT_COLS, lambda j0: tiles(DOT_COLS, j0), "tm")
            loop(b, start, n, 1, lambda j0: tiles(1, j0), "tl")
        loop(b, zero, m, mstep, row_block, "tb")
    loop(b, zero, k, kstep, depth, "tk")


def _driver(e: Emitter, micro, wide, narrow, thin, gemv, pack_a, pack_b, dots, part) -> ir.Function:
    g = e.g
    fn = e.function(symbol(g.dtype), SIGNATURE, linkage="external")
    for arg in fn.args:
        arg.attributes.discard("noalias")  # a and b may be one buffer (X·Xᵀ); callers keep c apart
    m, n, k, a, rsa, csa, bm, rsb, csb, c, ldc, acc, ws, ws_bytes = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    zero, one = _c(0), _c(1)
    ret = fn.append_basic_block("ret")
    work = fn.append_basic_block("work")
    b.cbranch(b.or_(b.icmp_signed("<=", m, zero), b.icmp_signed("<=", n, zero)), ret, work)
    b.position_at_end(work)
    beta0 = b.zext(b.icmp_signed("!=", acc, zero), I64)
    empty_k, some_k = fn.append_basic_block("k0"), fn.append_basic_block("k")
    b.cbranch(b.icmp_signed("<=", k, zero), empty_k, some_k)

    b.position_at_end(empty_k)   # an empty sum: C = 0, or C unchanged when accumulating
    with b.if_then(b.icmp_signed("==", beta0, zero)):
        loop(b, zero, m, 1, lambda i: loop(
            b, zero, n, 1, lambda j: b.store(ir.Constant(e.t, 0.0), e.gep(b, c, b.add(b.mul(i, ldc), j))), "zj"),
            "zi")
    b.branch(ret)

    b.position_at_end(some_k)
    dot_blk, other_blk = fn.append_basic_block("dot"), fn.append_basic_block("not_dot")
    b.cbranch(dot_case(b, m, csa, rsb, csb), dot_blk, other_blk)
    b.position_at_end(dot_blk)
    if gemv_dot_cols(g) != DOT_COLS:
        one_row, rows_blk = fn.append_basic_block("dot_one_row"), fn.append_basic_block("dot_rows")
        b.cbranch(b.icmp_signed("==", m, one), one_row, rows_blk)
        b.position_at_end(one_row)
        _dot_path(e, b, {rc: f for rc, f in dots.items() if rc[0] == 1}, fn.args[:11], beta0, gemv_dot_cols(g))
        b.branch(ret)
        b.position_at_end(rows_blk)
    _dot_path(e, b, {rc: f for rc, f in dots.items() if rc[1] in (DOT_COLS, 1)}, fn.args[:11], beta0)
    b.branch(ret)
    b.position_at_end(other_blk)
    direct_blk, packed_blk = fn.append_basic_block("direct"), fn.append_basic_block("packed")
    small = b.and_(b.icmp_signed("<=", m, _c(DIRECT_M)), b.icmp_signed("==", csb, one))
    b.cbranch(small, direct_blk, packed_blk)

    # -- direct: tiles of rd rows × vd vectors (twice as wide for one or two rows: more loads in flight
    # on the stream of B), then one-vector tiles for the last columns ----------------------------------
    b.position_at_end(direct_blk)

    def direct_path(fns, vw, rd):
        nfull = b.sub(n, b.srem(n, _c(vw)))
        kstep = _ceil(b, k, _ceil(b, k, _c(KC_DIRECT)))   # equal blocks of k, each ≤ KC_DIRECT

        def depth(pc):
            kc = smin(b, kstep, b.sub(k, pc))
            beta = b.or_(beta0, b.zext(b.icmp_signed(">", pc, zero), I64))
            ap = e.gep(b, a, b.mul(pc, csa))
            bp = e.gep(b, bm, b.mul(pc, rsb))

            def tiles(fns, j0):
                def rows(i0):
                    r = smin(b, _c(rd), b.sub(m, i0))
                    args = [kc, e.gep(b, ap, b.mul(i0, rsa)), rsa, csa, e.gep(b, bp, j0), rsb,
                            e.gep(b, c, b.add(b.mul(i0, ldc), j0)), ldc, b.sub(n, j0), beta]
                    _by_rows(b, r, fns, args)
                loop(b, zero, m, rd, rows, "di")
            loop(b, zero, nfull, vw, lambda j0: tiles(fns, j0), "dj")
            if vw != g.vd * g.lanes:   # thin tiles: the last columns one vector at a time
                loop(b, nfull, n, g.lanes, lambda j0: tiles(narrow, j0), "dt")
                return
            # the last n % (vd·W) columns as one tile of as many vectors, the last one masked
            vleft = _ceil(b, b.sub(n, nfull), _c(g.lanes))
            done = fn.append_basic_block("parts_done")
            sw = b.switch(vleft, done)
            for v, fns_v in [(1, narrow)] + sorted(part.items()):
                blk = fn.append_basic_block(f"part{v}")
                sw.add_case(_c(v), blk)
                b.position_at_end(blk)
                tiles(fns_v, nfull)
                b.branch(done)
            b.position_at_end(done)
        loop(b, zero, k, kstep, depth, "dk")
        b.branch(ret)
    thin_blk, wide_blk, one_blk = (fn.append_basic_block(x) for x in ("thin", "wide", "one_row"))
    rows_blk = fn.append_basic_block("rows")
    b.cbranch(b.icmp_signed("<=", m, _c(GEMV_M)), one_blk, rows_blk)
    b.position_at_end(one_blk)   # a row of C at a time, B read row after row
    loop(b, zero, m, 1, lambda i: b.call(gemv, [n, k, e.gep(b, a, b.mul(i, rsa)), csa, bm, rsb,
                                                e.gep(b, c, b.mul(i, ldc)), beta0]), "gi")
    b.branch(ret)
    b.position_at_end(rows_blk)
    b.cbranch(b.icmp_signed("<=", m, _c(max(thin))), thin_blk, wide_blk)
    b.position_at_end(thin_blk)
    direct_path(thin, 2 * g.vd * g.lanes, max(thin))
    b.position_at_end(wide_blk)
    direct_path(wide, g.vd * g.lanes, g.rd)

    # -- packed ---------------------------------------------------------------------------------------
    b.position_at_end(packed_blk)
    size = g.size
    nc_max = max(nc_of(g.dtype) // g.nr, 1) * g.nr   # whole panels
    kcw = smin(b, _c(KC), k)
    ncw = smin(b, _c(nc_max), b.mul(b.sdiv(b.add(n, _c(g.nr - 1)), _c(g.nr)), _c(g.nr)))
    a_bytes = b.and_(b.add(b.mul(kcw, _c(g.mr * size)), _c(ALIGN - 1)), _c(-ALIGN))
    need = b.add(_c(ALIGN), b.add(a_bytes, b.mul(b.mul(kcw, ncw), _c(size))))
    wsa = _workspace(b, ws, ws_bytes, need)
    wsb = b.gep(wsa, [a_bytes], source_etype=ir.IntType(8))

    # blocks of equal size (784 = 4 × 196, not 3 × 256 + 16: a thin last block pays C's loads and stores)
    nstep = b.mul(_ceil(b, _ceil(b, n, _ceil(b, n, _c(nc_max))), _c(g.nr)), _c(g.nr))
    kstep = _ceil(b, k, _ceil(b, k, _c(KC)))

    def column_block(jc):
        nc = smin(b, nstep, b.sub(n, jc))

        def depth_block(pc):
            kc = smin(b, kstep, b.sub(k, pc))
            beta = b.or_(beta0, b.zext(b.icmp_signed(">", pc, zero), I64))
            b.call(pack_b, [kc, nc, e.gep(b, bm, b.add(b.mul(pc, rsb), b.mul(jc, csb))), rsb, csb, wsb])

            def row_panel(ic):
                mr = smin(b, _c(g.mr), b.sub(m, ic))
                b.call(pack_a, [mr, kc, e.gep(b, a, b.add(b.mul(ic, rsa), b.mul(pc, csa))), rsa, csa, wsa])
                crow = e.gep(b, c, b.add(b.mul(ic, ldc), jc))
                whole = b.icmp_signed("==", mr, _c(g.mr))

                def panel(jr):
                    bp = e.gep(b, wsb, b.mul(jr, kc))
                    cp = e.gep(b, crow, jr)
                    nleft = b.sub(nc, jr)
                    with b.if_else(whole) as (full, part):
                        with full:
                            b.call(micro[g.mr], [kc, wsa, bp, cp, ldc, nleft, beta])
                        with part:
                            for t in g.tails:   # mr's binary digits, largest first
                                r0 = b.and_(mr, _c(~(2 * t - 1)))
                                with b.if_then(b.icmp_signed("!=", b.and_(mr, _c(t)), zero)):
                                    b.call(micro[t], [kc, e.gep(b, wsa, r0), bp, e.gep(b, cp, b.mul(r0, ldc)),
                                                      ldc, nleft, beta])
                loop(b, zero, nc, g.nr, panel, "jr")
            loop(b, zero, m, g.mr, row_panel, "ic")
        loop(b, zero, k, kstep, depth_block, "pc")
    loop(b, zero, n, nstep, column_block, "jc")
    b.branch(ret)
    b.position_at_end(ret)
    b.ret_void()
    return fn


# -- compiling and caching ------------------------------------------------------------------------
def _source_digest() -> str:
    """A hash of this file, microkernel.py and the pool's generators (gemm_threads.py, threads.py,
    pool_ir.py): an edited generator never loads an old cached library."""
    from pathlib import Path
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in ("library.py", "microkernel.py", "gemm_threads.py", "threads.py", "pool_ir.py"):
        try:
            digest.update((here / name).read_bytes())
        except OSError:  # no sources (a frozen install): VERSION alone
            pass
    return digest.hexdigest()


def cache_key(h, dtype: str, pic: bool) -> str:
    """The library's cache key: its version and source, llvmlite's and LLVM's versions, the host (triple,
    CPU, features), the element type, the relocation model and the tuning constants."""
    from .target import GENERATOR
    version = ".".join(str(v) for v in llvm.llvm_version_info)
    tuning = (f"{KC},{NC_BYTES},{KC_DIRECT},{GEMV_DOT_COLS},{DIRECT_M},{GEMV_M},{DOT_M},{KC_DOT},{DOT_A_BYTES},"
              f"{sorted(TILE.items())}")
    return cache.make_key(VERSION, _source_digest(), GENERATOR, llvmlite.__version__, version, h.triple, h.cpu,
                          h.features, dtype, "pic" if pic else "jit", tuning)


def object(h, dtype: str = "f32", pic: bool = False, use_cache: bool = True) -> bytes:  # noqa: A001
    """The library's object code for a host (compiled once per process, and once per cache)."""
    key = (h, dtype, pic)
    with _lock:
        hit = _objects.get(key)
        if hit is not None:
            return hit
        obj, _ = compile_library(h, dtype, pic, use_cache)
        _objects[key] = obj
        return obj


def compile_library(h, dtype: str = "f32", pic: bool = False, use_cache: bool = True) -> tuple[bytes, bool]:
    """(object code, whether it came from the disk cache); no in-process memo (object() has that)."""
    from .target import NAMESPACE
    key = cache_key(h, dtype, pic)
    if use_cache:
        hit = cache.get(NAMESPACE, key)
        if hit is not None:
            return hit, True
    from .target import optimise_and_emit
    obj = optimise_and_emit(str(module(h, dtype)), _machine(h, pic), 3)
    if use_cache:
        cache.put(NAMESPACE, key, obj)
    return obj, False


def undefined_symbols(obj: bytes) -> set[str] | None:
    """The names an ELF64 object uses without defining (from its .symtab and .strtab); None when the
    object has no ELF symbol table (another format)."""
    import struct
    sections = {}
    for sec in llvm.ObjectFileRef.from_data(obj).sections():
        name = sec.name()
        name = name.decode() if isinstance(name, bytes) else name
        if name in (".symtab", ".strtab"):
            sections[name] = sec.data()
    if len(sections) < 2 or obj[:4] != b"\x7fELF" or obj[4] != 2:
        return None
    symtab, strtab = sections[".symtab"], sections[".strtab"]
    out = set()
    for off in range(0, len(symtab) - 23, 24):
        name, _, _, shndx = struct.unpack_from("<IBBH", symtab, off)
        if shndx == 0 and name:
            out.add(strtab[name:strtab.index(b"\0", name)].decode())
    return out


def needed(obj: bytes) -> list[str]:
    """The parts of the library an object calls without defining them: POOL first (the thread pool, which
    the GEMM objects call too), then the element types."""
    used = undefined_symbols(obj)
    if used is None:  # not ELF: the names in the object at all
        used = {name for name in [symbol(d) for d in DTYPES] + [symbol(d, True) for d in DTYPES]
                + ["nnc_parallel_for"] if name.encode() + b"\0" in obj}
    dtypes = [d for d in DTYPES if symbol(d) in used or symbol(d, True) in used]
    pool = bool(dtypes) or "nnc_parallel_for" in used
    return ([POOL] if pool else []) + dtypes


def engine(h, dtype: str = "f32"):
    """An MCJIT engine holding the library of one element type alone (tests, benchmarks); its functions
    by `engine.get_function_address(symbol(dtype))`. Keep the engine alive while they may run."""
    from . import target
    eng = llvm.create_mcjit_compiler(llvm.parse_assembly(""), target.machine(h))
    lib = object(h, dtype)
    load_beside(eng, lib, h)
    eng.add_object_file(llvm.ObjectFileRef.from_data(lib))
    eng.finalize_object()
    return eng


def load_beside(engine, obj: bytes, h) -> None:
    """Add to an MCJIT engine the library objects `obj` calls (target.Loaded, before `obj` itself). The
    pool is not loaded per engine: one per process is built and its symbols published (threads.py), and
    every engine resolves them from there."""
    for part in needed(obj):
        if part == POOL:
            from .threads import process_pool
            process_pool(h)
        else:
            engine.add_object_file(llvm.ObjectFileRef.from_data(object(h, part)))


def digest(obj: bytes) -> str:
    return hashlib.sha256(obj).hexdigest()[:16]


# -- calls from a model's kernels (gemm.py's hook) -------------------------------------------------
ENABLED = os.environ.get("NNC_GEMM_LIBRARY", "1") != "0"   # NNC_GEMM_LIBRARY=0: gemm.py's own forms only
THREADS = True          # Matmul kernels call nnc_gemm_<dtype>_mt (split over the pool when it pays)
STRIDED_B = False        # column-strided B to the packed path too (measured: 2.4-3.7x the row form at
                         # M = 64-256, but slower than the dot form at M = 4 and for conv weight gradients)
MIN_WORK = 0             # M·N·K from which a Matmul calls the library (set from bench/gemm_speed.py)


def declare(module: ir.Module, dtype: str, threads: bool = False) -> ir.Function:
    """The library function as an external declaration in a model's module (once per module)."""
    name = symbol(dtype, threads)
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [t for _, t in SIGNATURE]), name=name)
    return fn


def dot_layout(a, b) -> bool:
    """Whether operands A and B (loops.Load views) are laid out for the dot path: A's rows and B's columns
    contiguous along k (B = Wᵀ of a dense weight W[out, in]; convolution weight gradients). The library
    takes such a B where it lies (lower.py then skips its transposing copy); the run-time test is
    `dot_case`."""
    return ENABLED and a.strides[-1] == 1 and b.strides[-2] == 1


def pays(m, n, kk, dtype: str) -> bool:
    """Whether a product of these sizes (ints, or run-time sizes judged at their hint) goes to the library."""
    from .dims import hint
    m, n, kk = hint(m), hint(n), hint(kk)
    return m * n * kk >= MIN_WORK


def emit_call(k, kern, workspace: tuple | None = None) -> bool:
    """Emit, into kernel builder k, calls of the library for a Matmul kernel (one per batch index), and
    say True; or say False and emit nothing, leaving the kernel to gemm.py's own forms. `workspace`:
    (i8 pointer, i64 bytes) IR values of a planned buffer of workspace_bytes(n, k); without one the
    library takes its workspace from its stack frame."""
    t, a, b = kern.target, kern.a, kern.b
    if not ENABLED or t.dtype not in DTYPES or t.dtype != a.dtype or t.dtype != b.dtype:
        return False
    m, n = t.shape[-2:]
    kk = a.shape[-1]
    batch = t.shape[:-2]
    if any(isinstance(d, int) and d == 0 for d in (m, n, kk, *batch)):
        return False  # gemm.py's early exits
    if t.strides[-1] != 1 or (b.strides[-1] != 1 and not STRIDED_B and not dot_layout(a, b)) \
            or not pays(m, n, kk, t.dtype):
        return False
    fn = declare(k.module, t.dtype, THREADS)
    dim = k.dim if hasattr(k, "dim") else (lambda d: ir.Constant(I64, int(d)))
    ws = workspace or (ir.Constant(PTR, None), _c(0))
    zero = _c(0)

    def one(bidx):
        bidx = list(bidx)
        at = lambda x: k.address(x, bidx + [zero, zero])  # noqa: E731
        k.b.call(fn, [dim(m), dim(n), dim(kk), at(a), dim(a.strides[-2]), dim(a.strides[-1]), at(b),
                      dim(b.strides[-2]), dim(b.strides[-1]), at(t), dim(t.strides[-2]), zero, *ws])
    k.nest(batch, one)
    return True
