"""The GEMM library's inner functions in LLVM IR: register-tiled micro-kernels and the packing routines.

All sizes and strides are run-time i64 values (elements, not bytes); every function is `noinline` and
internal to the library module, so LLVM compiles each once as written (../shared/docs/backends.md §3:
a 12×32 tile of C in 24 `<16 x float>` accumulators, per k two aligned loads of a packed B row, twelve
broadcasts of A and `llvm.fma`; the k loop is not unrolled by hand, which made LLVM spill accumulators).

Shapes are described by a `Geometry`: W lanes per vector (16 floats with AVX-512, 8 with AVX2), NR = 2·W
columns per packed B panel, MR rows per packed A panel (12 with 32 vector registers, 6 with 16), and
the direct (unpacked) kernel's tile: up to RD rows × VD vectors.

- `packed(R)`: C[R, NR] (=|+=) Apanel[kc, MR] · Bpanel[kc, NR]; A read at a row offset, so the tails of
  a partial A panel run the 8/4/2/1-row kernels on the same panel. Columns past `nleft` are neither
  read nor written (AVX-512/AVX2 masked loads and stores).
- `direct(R, V)`: the same product read straight from A and B with their strides, no packing: small M
  (batch-1 inference streams B once) and the short, wide im2col products of convolutions. With V = 1
  the B loads are masked too (the last columns of a row of B).
- `row_update`: one row of C as c += a[p]·B[p, :], four rows of B at a time (batch-1 inference: B read
  row after row, c in L1).
- `pack_b`, `pack_a`: copies into the panel layouts, zero-filling B's missing columns.
"""
from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

I1, I32, I64 = ir.IntType(1), ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
SCALAR = {"f32": ir.FloatType(), "f64": ir.DoubleType()}
SIZE = {"f32": 4, "f64": 8}


@dataclass(frozen=True)
class Geometry:
    """Register tiling of one element type on one target (see the module docstring)."""

    dtype: str
    lanes: int        # W: elements per vector register
    mr: int           # rows of a packed A panel (the main micro-kernel's rows)
    rd: int           # most rows of a direct kernel
    vd: int           # vectors per row of a direct kernel
    fma: bool         # the target has FMA instructions (else fmul + fadd, contractible)
    nv: int = 2       # vectors per row of the packed micro-kernel (NR = nv · W)

    @property
    def nr(self) -> int:
        return self.nv * self.lanes

    @property
    def size(self) -> int:
        return SIZE[self.dtype]

    @property
    def tails(self) -> tuple[int, ...]:
        """Row counts of the kernels that finish a partial A panel (its row count's binary digits)."""
        out, r = [], 1
        while r < self.mr:
            out.append(r)
            r *= 2
        return tuple(reversed(out))


def geometry(dtype: str, vector_bits: int, fma: bool) -> Geometry:
    lanes = max(vector_bits // (8 * SIZE[dtype]), 1)
    if vector_bits >= 512:   # 32 registers: 24 accumulators, 2 B vectors, 1 broadcast
        return Geometry(dtype, lanes, mr=12, rd=6, vd=4, fma=fma)
    return Geometry(dtype, lanes, mr=6, rd=6, vd=2, fma=fma)   # 16 registers: 12 + 2 + 1


class Emitter:
    """Helpers shared by the library's functions, on one module and one geometry."""

    def __init__(self, module: ir.Module, g: Geometry):
        self.module, self.g = module, g
        self.t = SCALAR[g.dtype]
        self.vt = ir.VectorType(self.t, g.lanes)
        self.mt = ir.VectorType(I1, g.lanes)
        suffix = f"v{g.lanes}{g.dtype}"
        self.fma = self.declare(f"llvm.fma.{suffix}", self.vt, [self.vt] * 3)
        self.mload = self.declare(f"llvm.masked.load.{suffix}.p0", self.vt, [PTR, I32, self.mt, self.vt])
        self.mstore = self.declare(f"llvm.masked.store.{suffix}.p0", ir.VoidType(), [self.vt, PTR, I32, self.mt])
        self.zero = ir.Constant(self.vt, [0.0] * g.lanes)
        self.lane_ids = [ir.Constant(ir.VectorType(I64, g.lanes), [v * g.lanes + i for i in range(g.lanes)])
                         for v in range(max(g.nv, 2 * g.vd))]

    def declare(self, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, args), name=name)
        return fn

    def function(self, name: str, args: list[tuple[str, ir.Type]], linkage: str = "internal") -> ir.Function:
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), [t for _, t in args]), name=name)
        fn.linkage = linkage
        fn.attributes.add("noinline")
        fn.attributes.add("nounwind")
        for a, (n, t) in zip(fn.args, args):
            a.name = n
            if isinstance(t, ir.PointerType):
                a.add_attribute("noalias")
        return fn

    # -- small pieces ---------------------------------------------------------------------------
    def gep(self, b: ir.IRBuilder, p, off, t=None):
        return b.gep(p, [off], source_etype=t or self.t)

    def splat(self, b: ir.IRBuilder, x):
        undef = ir.Constant(self.vt, ir.Undefined)
        return b.shuffle_vector(b.insert_element(undef, x, ir.Constant(I32, 0)), undef,
                                ir.Constant(ir.VectorType(I32, self.g.lanes), [0] * self.g.lanes))

    def mul_add(self, b: ir.IRBuilder, x, y, acc):
        if self.g.fma:
            return b.call(self.fma, [x, y, acc])
        return b.fadd(b.fmul(x, y, flags=("contract",)), acc, flags=("contract",))

    def mask(self, b: ir.IRBuilder, nleft, v: int):
        """Lanes of vector v (columns v·W ..) that are below nleft."""
        n = b.insert_element(ir.Constant(ir.VectorType(I64, self.g.lanes), ir.Undefined), nleft, ir.Constant(I32, 0))
        n = b.shuffle_vector(n, n, ir.Constant(ir.VectorType(I32, self.g.lanes), [0] * self.g.lanes))
        return b.icmp_signed("<", self.lane_ids[v], n)

    def align(self, v: int) -> int:
        return self.g.size * self.g.lanes if v >= 0 else self.g.size

    def store_tile(self, fn: ir.Function, b: ir.IRBuilder, accs, c, ldc, nleft, beta, width: int,
                   masked_only: bool = False) -> None:
        """C[r, v·W ..] = acc (beta 0) or += acc (beta 1); whole vectors when nleft ≥ width, else masked
        (`masked_only`: always masked, half the code, for tiles that are mostly partial)."""
        full = b.icmp_signed(">=", nleft, ir.Constant(I64, width))
        if masked_only:
            full = ir.Constant(I1, 0)
        add = b.icmp_signed("!=", beta, ir.Constant(I64, 0))
        done = fn.append_basic_block("stored")
        blocks = {}
        for masked in (False, True)[int(masked_only):]:
            for accumulate in (False, True):
                blocks[masked, accumulate] = fn.append_basic_block(f"store_{'m' if masked else 'f'}{int(accumulate)}")
        pick_f, pick_m = fn.append_basic_block("full"), fn.append_basic_block("part")
        b.cbranch(full, pick_f, pick_m)
        b.position_at_end(pick_f)
        if masked_only:
            b.unreachable()
        for masked, pick in ((False, pick_f), (True, pick_m))[int(masked_only):]:
            b.position_at_end(pick)
            b.cbranch(add, blocks[masked, True], blocks[masked, False])
        a = ir.Constant(I32, self.g.size)
        for (masked, accumulate), blk in blocks.items():
            b.position_at_end(blk)
            masks = [self.mask(b, nleft, v) for v in range(len(accs[0]))] if masked else None
            for r, row in enumerate(accs):
                base = self.gep(b, c, b.mul(ir.Constant(I64, r), ldc)) if r else c
                for v, acc in enumerate(row):
                    p = self.gep(b, base, ir.Constant(I64, v * self.g.lanes)) if v else base
                    if masked:
                        if accumulate:
                            acc = b.fadd(b.call(self.mload, [p, a, masks[v], self.zero]), acc)
                        b.call(self.mstore, [acc, p, a, masks[v]])
                    else:
                        if accumulate:
                            acc = b.fadd(b.load(p, typ=self.vt, align=self.g.size), acc)
                        b.store(acc, p, align=self.g.size)
            b.branch(done)
        b.position_at_end(done)


def packed(e: Emitter, rows: int) -> ir.Function:
    """void (i64 kc, ptr ap, ptr bp, ptr c, i64 ldc, i64 nleft, i64 beta): see the module docstring.

    ap: the first of `rows` rows in a packed A panel (MR elements per k); bp: a packed B panel (NR per k,
    aligned to a vector); kc ≥ 1."""
    g = e.g
    fn = e.function(f"nnc_mk_{g.dtype}_{rows}x{g.nr}", [("kc", I64), ("ap", PTR), ("bp", PTR), ("c", PTR),
                                                         ("ldc", I64), ("nleft", I64), ("beta", I64)])
    kc, ap, bp, c, ldc, nleft, beta = fn.args
    entry, loop, exit_ = (fn.append_basic_block(n) for n in ("entry", "k", "tile"))
    b = ir.IRBuilder(entry)
    b.branch(loop)
    b.position_at_end(loop)
    p = b.phi(I64, name="p")
    p.add_incoming(ir.Constant(I64, 0), entry)
    accs = [[b.phi(e.vt) for _ in range(g.nv)] for _ in range(rows)]
    for row in accs:
        for acc in row:
            acc.add_incoming(e.zero, entry)
    brow = e.gep(b, bp, b.mul(p, ir.Constant(I64, g.nr)))
    bv = [b.load(e.gep(b, brow, ir.Constant(I64, v * g.lanes)) if v else brow, typ=e.vt, align=e.align(v))
          for v in range(g.nv)]
    arow = e.gep(b, ap, b.mul(p, ir.Constant(I64, g.mr)))
    new = []
    for r in range(rows):
        s = e.splat(b, b.load(e.gep(b, arow, ir.Constant(I64, r)) if r else arow, typ=e.t))
        new.append([e.mul_add(b, s, bv[v], accs[r][v]) for v in range(g.nv)])
    nxt = b.add(p, ir.Constant(I64, 1), flags=("nuw", "nsw"))
    for r in range(rows):
        for v in range(g.nv):
            accs[r][v].add_incoming(new[r][v], loop)
    p.add_incoming(nxt, loop)
    b.cbranch(b.icmp_signed("<", nxt, kc), loop, exit_)
    b.position_at_end(exit_)
    e.store_tile(fn, b, new, c, ldc, nleft, beta, g.nr)
    b.ret_void()
    return fn


def direct(e: Emitter, rows: int, vectors: int, mask_last: bool = False) -> ir.Function:
    """void (i64 k, ptr a, i64 rsa, i64 csa, ptr b, i64 rsb, ptr c, i64 ldc, i64 nleft, i64 beta):
    C[rows, vectors·W] (=|+=) A[rows, k] · B[k, vectors·W] read in place (B's columns contiguous); k ≥ 1.
    With one vector, or `mask_last`, the last vector's B loads are masked by nleft too (a tile over the
    last columns of B: [512×4608]·[4608×49] runs one 4-vector tile per row block, not four 1-vector ones)."""
    g = e.g
    fn = e.function(f"nnc_dk_{g.dtype}_{rows}x{vectors * g.lanes}{'m' if mask_last and vectors > 1 else ''}",
                    [("k", I64), ("a", PTR), ("rsa", I64), ("csa", I64), ("b", PTR), ("rsb", I64), ("c", PTR),
                     ("ldc", I64), ("nleft", I64), ("beta", I64)])
    kk, a, rsa, csa, bmat, rsb, c, ldc, nleft, beta = fn.args
    entry, loop, exit_ = (fn.append_basic_block(n) for n in ("entry", "k", "tile"))
    b = ir.IRBuilder(entry)
    rowp = [e.gep(b, a, b.mul(ir.Constant(I64, r), rsa)) if r else a for r in range(rows)]
    bmask = e.mask(b, nleft, vectors - 1) if vectors == 1 or mask_last else None
    b.branch(loop)
    b.position_at_end(loop)
    p = b.phi(I64, name="p")
    p.add_incoming(ir.Constant(I64, 0), entry)
    accs = [[b.phi(e.vt) for _ in range(vectors)] for _ in range(rows)]
    for row in accs:
        for acc in row:
            acc.add_incoming(e.zero, entry)
    brow = e.gep(b, bmat, b.mul(p, rsb))
    bv = [b.load(e.gep(b, brow, ir.Constant(I64, v * g.lanes)) if v else brow, typ=e.vt, align=g.size)
          for v in range(vectors - (bmask is not None))]
    if bmask is not None:
        last = e.gep(b, brow, ir.Constant(I64, (vectors - 1) * g.lanes)) if vectors > 1 else brow
        bv.append(b.call(e.mload, [last, ir.Constant(I32, g.size), bmask, e.zero]))
    off = b.mul(p, csa)
    new = []
    for r in range(rows):
        s = e.splat(b, b.load(e.gep(b, rowp[r], off), typ=e.t))
        new.append([e.mul_add(b, s, bv[v], accs[r][v]) for v in range(vectors)])
    nxt = b.add(p, ir.Constant(I64, 1), flags=("nuw", "nsw"))
    for r in range(rows):
        for v in range(vectors):
            accs[r][v].add_incoming(new[r][v], loop)
    p.add_incoming(nxt, loop)
    b.cbranch(b.icmp_signed("<", nxt, kk), loop, exit_)
    b.position_at_end(exit_)
    e.store_tile(fn, b, new, c, ldc, nleft, beta, vectors * g.lanes, masked_only=bool(mask_last and vectors > 1))
    b.ret_void()
    return fn


def loop(b: ir.IRBuilder, start, stop, step: int | ir.Value, body, name: str = "i") -> None:
    """for (i = start; i < stop; i += step) body(i), all i64 (a test first: the range may be empty)."""
    fn = b.function
    pre = b.block
    head, inner, done = (fn.append_basic_block(f"{name}_{s}") for s in ("head", "body", "done"))
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64, name=name)
    i.add_incoming(start, pre)
    b.cbranch(b.icmp_signed("<", i, stop), inner, done)
    b.position_at_end(inner)
    body(i)
    step = ir.Constant(I64, step) if isinstance(step, int) else step
    i.add_incoming(b.add(i, step, flags=("nsw",)), b.block)
    b.branch(head)
    b.position_at_end(done)


def smin(b: ir.IRBuilder, x, y):
    return b.select(b.icmp_signed("<", x, y), x, y)


def pack_b(e: Emitter) -> ir.Function:
    """void (i64 kc, i64 nc, ptr b, i64 rsb, i64 csb, ptr dst): B[kc, nc] (strides rsb, csb) into
    ceil(nc / NR) panels of kc × NR, one after another, missing columns zero. Contiguous rows (csb = 1)
    are copied a vector at a time (masked at the edge); other layouts element by element."""
    g = e.g
    fn = e.function(f"nnc_pack_b_{g.dtype}", [("kc", I64), ("nc", I64), ("b", PTR), ("rsb", I64), ("csb", I64),
                                              ("dst", PTR)])
    kc, nc, src, rsb, csb, dst = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    nr = ir.Constant(I64, g.nr)
    rows_contig = b.icmp_signed("==", csb, ir.Constant(I64, 1))
    vec, gen, done = (fn.append_basic_block(n) for n in ("vector", "general", "done"))
    b.cbranch(rows_contig, vec, gen)

    b.position_at_end(vec)

    def vpanel(j0):
        out = e.gep(b, dst, b.mul(j0, kc))
        nleft = b.sub(nc, j0)
        masks = [e.mask(b, nleft, v) for v in range(g.nv)]  # all lanes but in the last panel
        col = e.gep(b, src, j0)

        def krow(p):
            s = e.gep(b, col, b.mul(p, rsb))
            d = e.gep(b, out, b.mul(p, nr))
            for v in range(g.nv):
                sv = e.gep(b, s, ir.Constant(I64, v * g.lanes)) if v else s
                dv = e.gep(b, d, ir.Constant(I64, v * g.lanes)) if v else d
                x = b.call(e.mload, [sv, ir.Constant(I32, g.size), masks[v], e.zero])
                b.store(x, dv, align=e.align(v))
        loop(b, ir.Constant(I64, 0), kc, 1, krow, "p")
    loop(b, ir.Constant(I64, 0), nc, g.nr, vpanel, "jv")
    b.branch(done)

    b.position_at_end(gen)

    def gpanel(j0):
        out = e.gep(b, dst, b.mul(j0, kc))
        width = smin(b, nr, b.sub(nc, j0))

        def column(j):
            s = e.gep(b, src, b.mul(b.add(j0, j), csb))
            loop(b, ir.Constant(I64, 0), kc, 1,
                 lambda p: b.store(b.load(e.gep(b, s, b.mul(p, rsb)), typ=e.t),
                                   e.gep(b, out, b.add(b.mul(p, nr), j))), "pg")
        loop(b, ir.Constant(I64, 0), width, 1, column, "jj")

        def zeros(j):
            loop(b, ir.Constant(I64, 0), kc, 1,
                 lambda p: b.store(ir.Constant(e.t, 0.0), e.gep(b, out, b.add(b.mul(p, nr), j))), "pz")
        loop(b, width, nr, 1, zeros, "jz")
    loop(b, ir.Constant(I64, 0), nc, g.nr, gpanel, "jg")
    b.branch(done)
    b.position_at_end(done)
    b.ret_void()
    return fn


def pack_a(e: Emitter) -> ir.Function:
    """void (i64 mr, i64 kc, ptr a, i64 rsa, i64 csa, ptr dst): A[mr, kc] (strides rsa, csa) into one
    panel, dst[p·MR + r] = A[r, p]; rows past mr are left as they are (the tail kernels never read them).
    The loop order follows A's layout so the reads are sequential."""
    g = e.g
    fn = e.function(f"nnc_pack_a_{g.dtype}", [("mr", I64), ("kc", I64), ("a", PTR), ("rsa", I64), ("csa", I64),
                                              ("dst", PTR)])
    mr, kc, src, rsa, csa, dst = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    big = ir.Constant(I64, g.mr)
    by_rows, by_cols, done = (fn.append_basic_block(n) for n in ("rows", "cols", "done"))
    b.cbranch(b.icmp_signed("==", csa, ir.Constant(I64, 1)), by_rows, by_cols)
    for blk, outer_n, inner_n, order in ((by_rows, mr, kc, "rp"), (by_cols, kc, mr, "pr")):
        b.position_at_end(blk)

        def outer(x, inner_n=inner_n, order=order):
            def inner(y):
                r, p = (x, y) if order == "rp" else (y, x)
                v = b.load(e.gep(b, src, b.add(b.mul(r, rsa), b.mul(p, csa))), typ=e.t)
                b.store(v, e.gep(b, dst, b.add(b.mul(p, big), r)))
            loop(b, ir.Constant(I64, 0), inner_n, 1, inner, "y")
        loop(b, ir.Constant(I64, 0), outer_n, 1, outer, "x")
        b.branch(done)
    b.position_at_end(done)
    b.ret_void()
    return fn


def row_update(e: Emitter, unroll: int = 4) -> ir.Function:
    """void (i64 n, i64 k, ptr a, i64 csa, ptr b, i64 rsb, ptr c, i64 beta): one row of C, c[0:n] (=|+=)
    a[0:k] · B[k, n] with B's rows contiguous, as c += a[p]·B[p, :] over `unroll` rows of B at a time: B is
    read row after row (sequential streams, as a matrix-vector product wants), c stays in L1, and each
    element is still summed in the order p = 0, 1, 2, ..."""
    g = e.g
    fn = e.function(f"nnc_gemv_{g.dtype}", [("n", I64), ("k", I64), ("a", PTR), ("csa", I64), ("b", PTR),
                                             ("rsb", I64), ("c", PTR), ("beta", I64)])
    n, kk, a, csa, bmat, rsb, c, beta = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    zero = ir.Constant(I64, 0)
    w = ir.Constant(I64, g.lanes)
    nfull = b.sub(n, b.srem(n, w))
    tail = b.sub(n, nfull)
    tmask = e.mask(b, tail, 0)
    align = ir.Constant(I32, g.size)

    def each_vector(body) -> None:
        """body(j, masked) for the full vectors of c, then the masked last one."""
        loop(b, zero, nfull, g.lanes, lambda j: body(j, False), "vj")
        with b.if_then(b.icmp_signed(">", tail, zero)):
            body(nfull, True)

    def vload(p, masked: bool):
        return b.call(e.mload, [p, align, tmask, e.zero]) if masked else b.load(p, typ=e.vt, align=g.size)

    def vstore(v, p, masked: bool) -> None:
        if masked:
            b.call(e.mstore, [v, p, align, tmask])
        else:
            b.store(v, p, align=g.size)

    with b.if_then(b.icmp_signed("==", beta, zero)):
        each_vector(lambda j, masked: vstore(e.zero, e.gep(b, c, j), masked))

    def rows(count: int):
        def step(p):
            s = [e.splat(b, b.load(e.gep(b, a, b.mul(b.add(p, ir.Constant(I64, u)), csa)), typ=e.t))
                 for u in range(count)]
            r = [e.gep(b, bmat, b.mul(b.add(p, ir.Constant(I64, u)), rsb)) for u in range(count)]

            def update(j, masked: bool) -> None:
                cp = e.gep(b, c, j)
                acc = vload(cp, masked)
                for u in range(count):
                    acc = e.mul_add(b, s[u], vload(e.gep(b, r[u], j), masked), acc)
                vstore(acc, cp, masked)
            each_vector(update)
        return step
    kfull = b.sub(kk, b.srem(kk, ir.Constant(I64, unroll)))
    loop(b, zero, kfull, unroll, rows(unroll), "p4")
    loop(b, kfull, kk, 1, rows(1), "p1")
    b.ret_void()
    return fn


def hsum(e: Emitter, b: ir.IRBuilder, v):
    """The sum of a vector's lanes by halving (lo + hi, log2(W) steps): a fixed order, so every caller gets
    the same bits."""
    width = e.g.lanes
    while width > 1:
        half = width // 2
        lo = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, half), list(range(half))))
        hi = b.shuffle_vector(v, v, ir.Constant(ir.VectorType(I32, half), list(range(half, width))))
        v, width = b.fadd(lo, hi), half
    return b.extract_element(v, ir.Constant(I32, 0))


def hsum4(e: Emitter, b: ir.IRBuilder, vs: list) -> list:
    """The lane sums of four vectors, the very additions of `hsum` on each (lane i + lane i + W/2, then
    i + W/4, ...), but done on the four at once: after the first two steps one vector holds a quarter of
    each, so 4 outputs cost about as many shuffles as one. Needs W ≥ 4."""
    w = e.g.lanes
    half, q = w // 2, w // 4

    def mix(x, y, idx):
        return b.shuffle_vector(x, y, ir.Constant(ir.VectorType(I32, len(idx)), idx))
    pairs = []
    for x, y in ((vs[0], vs[1]), (vs[2], vs[3])):   # [x's half-sums | y's half-sums]
        lo = list(range(half)) + list(range(w, w + half))
        hi = list(range(half, w)) + list(range(w + half, 2 * w))
        pairs.append(b.fadd(mix(x, y, lo), mix(x, y, hi)))
    starts = (0, half, w, w + half)   # each output's part in (pairs[0], pairs[1]) as one 2W-lane source
    v = b.fadd(mix(pairs[0], pairs[1], [s + i for s in starts for i in range(q)]),
               mix(pairs[0], pairs[1], [s + q + i for s in starts for i in range(q)]))
    g = q
    while g > 1:
        h = g // 2
        v = b.fadd(mix(v, v, [k * g + i for k in range(4) for i in range(h)]),
                   mix(v, v, [k * g + h + i for k in range(4) for i in range(h)]))
        g = h
    return [b.extract_element(v, ir.Constant(I32, k)) for k in range(4)]


def hsum_many(e: Emitter, b: ir.IRBuilder, vs: list) -> list:
    """The lane sums of several vectors, each by the very additions of `hsum` (lane i + lane i + W/2, then
    i + W/4, ...), done on all at once: pairs of vectors are halved into one (x's half-sums beside y's),
    so W outputs end in one vector after W - 1 pair steps instead of W·log2(W) shuffles. Returns
    vectors holding the sums in the order of `vs`, W per vector (the last one padded); len(vs) is padded
    to a power of two with zero vectors (their lanes are garbage the caller ignores)."""
    w = e.g.lanes
    n = 1
    while n < len(vs):
        n *= 2
    vs = list(vs) + [e.zero] * (n - len(vs))

    def mix(x, y, idx):
        return b.shuffle_vector(x, y, ir.Constant(ir.VectorType(I32, len(idx)), idx))
    g = w   # lanes per output still to be summed; each vector holds w // g outputs, g lanes each
    while g > 1 and len(vs) > 1:
        h = g // 2
        groups = w // g
        lo = [k * g + i for k in range(groups) for i in range(h)]
        hi = [k * g + h + i for k in range(groups) for i in range(h)]
        vs = [b.fadd(mix(x, y, lo + [w + j for j in lo]), mix(x, y, hi + [w + j for j in hi]))
              for x, y in zip(vs[0::2], vs[1::2])]
        g = h
    while g > 1:   # one vector left: halve inside it
        h = g // 2
        groups = w // g
        lo = [k * g + i for k in range(groups) for i in range(h)]
        hi = [k * g + h + i for k in range(groups) for i in range(h)]
        v = vs[0]
        vs = [b.fadd(mix(v, v, lo + lo), mix(v, v, hi + hi))]
        g = h
    return vs


def dot_tile(e: Emitter, rows: int, cols: int) -> ir.Function:
    """void (i64 k, ptr a, i64 rsa, ptr b, i64 csb, ptr c, i64 ldc, i64 beta): C[rows, cols] (=|+=)
    A[rows, k] · B[k, cols] where A's rows and B's columns are contiguous along k (csa = rsb = 1: dense
    weights W[out, in] as B = Wᵀ, convolution weight gradients): one vector accumulator per output along
    k, the last k % W under a lane mask, each summed by `hsum`. Every output's value depends only on its
    own row and column (never on the tile it ran in), so any split of C between threads gives the same
    bits. k ≥ 1."""
    g = e.g
    fn = e.function(f"nnc_dot_{g.dtype}_{rows}x{cols}",
                    [("k", I64), ("a", PTR), ("rsa", I64), ("b", PTR), ("csb", I64), ("c", PTR), ("ldc", I64),
                     ("beta", I64)])
    kk, a, rsa, bmat, csb, c, ldc, beta = fn.args
    entry, body, tail = (fn.append_basic_block(n) for n in ("entry", "k", "tail"))
    b = ir.IRBuilder(entry)
    w = ir.Constant(I64, g.lanes)
    zero = ir.Constant(I64, 0)
    arow = [e.gep(b, a, b.mul(ir.Constant(I64, r), rsa)) if r else a for r in range(rows)]
    bcol = [e.gep(b, bmat, b.mul(ir.Constant(I64, j), csb)) if j else bmat for j in range(cols)]
    nfull = b.sub(kk, b.srem(kk, w))
    b.cbranch(b.icmp_signed(">", nfull, zero), body, tail)
    b.position_at_end(body)
    p = b.phi(I64, name="p")
    p.add_incoming(zero, entry)
    accs = [[b.phi(e.vt) for _ in range(cols)] for _ in range(rows)]
    for row in accs:
        for acc in row:
            acc.add_incoming(e.zero, entry)
    av = [b.load(e.gep(b, x, p), typ=e.vt, align=g.size) for x in arow]
    bv = [b.load(e.gep(b, x, p), typ=e.vt, align=g.size) for x in bcol]
    new = [[e.mul_add(b, av[r], bv[j], accs[r][j]) for j in range(cols)] for r in range(rows)]
    nxt = b.add(p, w, flags=("nsw",))
    for r in range(rows):
        for j in range(cols):
            accs[r][j].add_incoming(new[r][j], body)
    p.add_incoming(nxt, body)
    b.cbranch(b.icmp_signed("<", nxt, nfull), body, tail)

    b.position_at_end(tail)   # the last k % W elements under a mask, when k % W ≠ 0
    last = [[b.phi(e.vt) for _ in range(cols)] for _ in range(rows)]
    for r in range(rows):
        for j in range(cols):
            last[r][j].add_incoming(e.zero, entry)
            last[r][j].add_incoming(new[r][j], body)
    masked_blk, sum_blk = fn.append_basic_block("masked"), fn.append_basic_block("sum")
    b.cbranch(b.icmp_signed(">", kk, nfull), masked_blk, sum_blk)
    b.position_at_end(masked_blk)
    mask = e.mask(b, b.sub(kk, nfull), 0)
    align = ir.Constant(I32, g.size)
    av = [b.call(e.mload, [e.gep(b, x, nfull), align, mask, e.zero]) for x in arow]
    bv = [b.call(e.mload, [e.gep(b, x, nfull), align, mask, e.zero]) for x in bcol]
    tailed = [e.mul_add(b, av[r], bv[j], last[r][j]) for r in range(rows) for j in range(cols)]
    b.branch(sum_blk)
    b.position_at_end(sum_blk)
    done = []
    for x, y in zip(tailed, [v for row in last for v in row]):
        phi = b.phi(e.vt)
        phi.add_incoming(x, masked_blk)
        phi.add_incoming(y, tail)
        done.append(phi)
    add = b.icmp_signed("!=", beta, zero)
    sums = hsum_many(e, b, done) if len(done) > 1 else [None]
    for r in range(rows):
        crow = e.gep(b, c, b.mul(ir.Constant(I64, r), ldc)) if r else c
        if cols > 1 and g.lanes % cols == 0:   # the row's sums are `cols` neighbouring lanes: one short vector
            first = r * cols
            src = sums[first // g.lanes]
            row = b.shuffle_vector(src, src, ir.Constant(ir.VectorType(I32, cols),
                                                         [first % g.lanes + j for j in range(cols)]))
            old = b.load(crow, typ=ir.VectorType(e.t, cols), align=g.size)
            b.store(b.select(add, b.fadd(old, row), row), crow, align=g.size)
            continue
        for j in range(cols):
            at = r * cols + j
            s = (b.extract_element(sums[at // g.lanes], ir.Constant(I32, at % g.lanes)) if len(done) > 1
                 else hsum(e, b, done[0]))
            ptr = e.gep(b, crow, ir.Constant(I64, j)) if j else crow
            old = b.load(ptr, typ=e.t)
            b.store(b.select(add, b.fadd(old, s), s), ptr)
    b.ret_void()
    return fn
