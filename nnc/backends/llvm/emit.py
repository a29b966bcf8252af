"""LLVM IR from the loop-level layer: one function per kernel, and one entry point that calls them.

The entry point is `void nnc_run(ptr args)`; `args` is an array of pointers, prepared once by the
caller (the slot contract, which the C library of nnc/backends/llvm/aot relies on):

    args[0 .. n_in)        the signature's inputs          args[n_in .. n_args)  its outputs
    args[n_args]           the arena base (64-byte aligned)
    args[n_args + 1]       status (i64*: k > 0 after a call means check k - 1 failed)
    args[n_args + 2]       profile cycles (i64*, one per kernel; only read with `profile`)
    args[n_args + 3]       the size symbols' values (i64*, in the order of `LlvmExecutable.symbols`)
    args[n_args + 4]       the scratch offsets (i64*, bytes into the arena, in `Plan.scratch` order)

Sizes are run-time values: a dimension is an int or a `dims.Poly` over the size symbols, and
`KernelBuilder.dim(d)` turns it into an i64 (computed once per kernel call, in the kernel's entry block,
from its `sizes` argument). Each kernel is an internal `noinline` function taking one `noalias` pointer
per buffer it touches (buffers never overlap while both are live, which the planner guarantees), so
LLVM vectorises its loops without run-time alias checks, then the sizes pointer. Loops with a run-time
bound are guarded for zero iterations; bounds checks whose outcome depends on the binding are run-time.

Scalars: bool is i1 in registers and one byte in memory; f32/f64/i32/i64 as themselves. Elementwise
semantics follow NumPy's: maximum/minimum propagate NaN, sign(NaN) is NaN, sigmoid uses the oracle's
two-sided formula, float comparisons other than `ne` are false on NaN.
"""
from __future__ import annotations

from llvmlite import ir

from .dims import Dim, Poly, difference
from .loops import (Affine, Buf, Const, Expr, Iota, Kernel, Load, Map, Matmul, Pad, Random, Reduce, Store,
                    Gather, ScatterRows, Window, WindowPick, contiguous_strides, numel)

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
F32, F64 = ir.FloatType(), ir.DoubleType()
PTR = ir.PointerType()
REG = {"f32": F32, "f64": F64, "i32": I32, "i64": I64, "bool": I1}
MEM = {"f32": F32, "f64": F64, "i32": I32, "i64": I64, "bool": I8}
FLOATS = ("f32", "f64")
ENTRY = "nnc_run"
FAST = ("contract",)          # lets LLVM fuse a*b + c into an FMA
REASSOC = ("reassoc", "contract")  # reductions: lets LLVM vectorise the accumulation


class KernelBuilder:
    """Emits one kernel function; `ev` computes an expression's element at an index (i64 values)."""

    def __init__(self, module: ir.Module, name: str, bufs: list[Buf], slots: dict[str, int] | None = None,
                 extra: int = 0):
        """`extra` i64 arguments follow the sizes pointer (`self.extra`: a part's row range, parallel.py)."""
        self.module = module
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR] * (len(bufs) + 1) + [I64] * extra), name=name)
        fn.linkage = "internal"
        fn.attributes.add("noinline")  # inlining every kernel into the entry point quadruples compile time
        for a in fn.args[:len(bufs) + 1]:
            a.add_attribute("noalias")
        self.fn = fn
        self.bufs = list(bufs)
        self.ptr = {id(b): a for b, a in zip(bufs, fn.args)}
        self.sizes = fn.args[len(bufs)]   # i64 per size symbol (and run-time loop variable)
        self.extra = list(fn.args[len(bufs) + 1:])
        self.slots = slots or {}
        self.allocas = fn.append_basic_block("allocas")
        self.entry = ir.IRBuilder(self.allocas)  # one builder: allocas and sizes, in order
        body = fn.append_basic_block("body")
        self.b = ir.IRBuilder(body)
        self._memo: dict = {}
        self._dims: dict = {}

    def dim(self, d: Dim) -> ir.Value:
        """A size as an i64: a constant, or a polynomial computed from the symbol values (once per call,
        in the entry block, so it dominates every use). The helper the GEMM library calls for M, N, K and
        strides."""
        if not isinstance(d, Poly):
            return ir.Constant(I64, int(d))
        hit = self._dims.get(d)
        if hit is None:
            b = self.entry
            total = None
            for mono, c in d.terms:
                term = None
                for name in mono:
                    v = self._symbol(name)
                    term = v if term is None else b.mul(term, v)
                term = ir.Constant(I64, c) if term is None else term if c == 1 else b.mul(term, ir.Constant(I64, c))
                total = term if total is None else b.add(total, term)
            hit = self._dims[d] = total
        return hit

    def _symbol(self, name: str) -> ir.Value:
        hit = self._dims.get(name)
        if hit is None:
            if name not in self.slots:
                raise KeyError(f"size symbol {name} has no slot in the sizes array")
            b = self.entry
            ptr = b.gep(self.sizes, [ir.Constant(I64, self.slots[name])], source_etype=I64)
            hit = self._dims[name] = b.load(ptr, typ=I64)
        return hit

    def finish(self) -> None:
        self.b.ret_void()
        self.entry.branch(self.fn.blocks[1])

    def alloca(self, t: ir.Type) -> ir.Value:
        return self.entry.alloca(t)

    # -- loops ------------------------------------------------------------------------------------
    def for_range(self, n, body, start: ir.Value | None = None) -> None:
        """for i in range(n): body(i). `n` is an int (nothing emitted for n <= 0, a do-while otherwise), a
        Dim, or an i64 IR value (both tested for zero iterations first). With `start` (an i64 value):
        for i in range(start, n), tested for zero iterations."""
        if isinstance(n, int) and n <= 0:
            return
        b = self.b
        pre = b.block
        head = self.fn.append_basic_block("loop")
        done = self.fn.append_basic_block("done")
        bound = n if isinstance(n, ir.Value) else self.dim(n)
        first = ir.Constant(I64, 0) if start is None else start
        if isinstance(n, int) and start is None:
            b.branch(head)
        else:
            b.cbranch(b.icmp_signed(">", bound, first), head, done)
        b.position_at_end(head)
        i = b.phi(I64)
        i.add_incoming(first, pre)
        body(i)
        nxt = b.add(i, ir.Constant(I64, 1), flags=("nuw", "nsw"))
        i.add_incoming(nxt, b.block)
        b.cbranch(b.icmp_signed("<", nxt, bound), head, done)
        b.position_at_end(done)

    def nest(self, shape: tuple[int, ...], body, rows: tuple | None = None) -> None:
        """A loop nest over `shape`; with `rows` = (lo, hi) (i64 values) the first axis runs lo..hi-1 only."""
        idx: list = []

        def rec(d: int) -> None:
            if d == len(shape):
                body(list(idx))
                return

            def inner(i):
                idx.append(i)
                rec(d + 1)
                idx.pop()
            if d == 0 and rows is not None:
                self.for_range(rows[1], inner, start=rows[0])
            else:
                self.for_range(shape[d], inner)
        rec(0)

    # -- addresses --------------------------------------------------------------------------------
    def affine(self, const: Dim, coeffs, idx) -> ir.Value:
        b = self.b
        acc = self.dim(const)
        for c, i in zip(coeffs, idx):
            if c == 0:
                continue
            term = i if c == 1 else b.mul(i, self.dim(c))
            acc = b.add(acc, term)
        return acc

    def address(self, x: Load, idx) -> ir.Value:
        off = self.affine(x.offset, x.strides, idx)
        return self.b.gep(self.ptr[id(x.buf)], [off], source_etype=MEM[x.dtype])

    def load(self, x: Load, idx) -> ir.Value:
        v = self.b.load(self.address(x, idx), typ=MEM[x.dtype])
        return self.b.icmp_unsigned("!=", v, ir.Constant(I8, 0)) if x.dtype == "bool" else v

    def store(self, target: Load, idx, v: ir.Value) -> None:
        if target.dtype == "bool":
            v = self.b.zext(v, I8)
        self.b.store(v, self.address(target, idx))

    # -- expressions ------------------------------------------------------------------------------
    def ev(self, x: Expr, idx) -> ir.Value:
        key = (id(x), tuple(id(i) for i in idx))
        hit = self._memo.get(key)
        if hit is not None and hit[0] is self.b.block:
            return hit[1]
        v = self._ev(x, idx)
        self._memo[key] = (self.b.block, v)
        return v

    def _ev(self, x: Expr, idx) -> ir.Value:
        b = self.b
        if isinstance(x, Load):
            return self.load(x, idx)
        if isinstance(x, Const):
            if isinstance(x.value, Poly):  # a size as a value (the `size` op: a mean's divisor)
                from .scalar import cast
                return cast(b, self.dim(x.value), "i64", x.dtype)
            return const(x.dtype, x.value)
        if isinstance(x, Map):
            from .scalar import apply
            return apply(self, x, [self.ev(a, idx) for a in x.args])
        if isinstance(x, Affine):
            src = [self.affine(c, row, idx) for c, row in zip(x.const, x.mat)]
            return self.ev(x.src, src)
        if isinstance(x, Iota):
            return idx[x.axis]
        if isinstance(x, Pad):
            inside = ir.Constant(I1, 1)
            src = []
            for i, lo, n in zip(idx, x.lo, x.src.shape):
                s = b.sub(i, ir.Constant(I64, lo)) if lo else i
                ok = b.and_(b.icmp_signed(">=", s, ir.Constant(I64, 0)), b.icmp_signed("<", s, self.dim(n)))
                inside = b.and_(inside, ok)
                src.append(s)
            src = [b.select(inside, s, ir.Constant(I64, 0)) for s in src]
            return b.select(inside, self.ev(x.src, src), const(x.dtype, x.value))
        if isinstance(x, Window):
            return self.window(x, idx)
        if isinstance(x, Gather):
            r = len(x.ids.shape)
            row = self.row(x.ids, idx[:r], x.table.shape[0], x.status, x.check)
            return self.ev(x.table, [row] + list(idx[r:]))
        if isinstance(x, Random):
            from .philox import uniform
            linear = self.affine(0, contiguous_strides(x.shape), idx)
            return uniform(self, linear, self.ev(x.key, []), self.ev(x.counter, []), x.stream, x.dtype)
        raise TypeError(f"cannot emit {type(x).__name__}")


    def window(self, x: Window, idx) -> ir.Value:
        """x.src at the window position, or x.fill where that is padding or a hole of an input dilation."""
        b = self.b
        zero = ir.Constant(I64, 0)
        inside = None
        src = []
        for row, c, d, n in zip(x.mat, x.const, x.dil, x.src.shape):
            q = self.affine(c, row, idx)
            # the extreme positions over the output (sizes >= 1: an empty nest runs nothing); a bound is
            # skipped only when it holds for every binding
            lo = c + sum((a * (m - 1) for a, m in zip(row, x.shape) if a < 0), 0)
            hi = c + sum((a * (m - 1) for a, m in zip(row, x.shape) if a > 0), 0)
            lo_ok, hi_room = difference(lo, 0), difference(n, hi)
            if d == 1 and lo_ok is not None and lo_ok >= 0 and hi_room is not None and hi_room > 0:
                src.append(q)  # never outside: no test
                continue
            if d == 1:
                ok = b.and_(b.icmp_signed(">=", q, zero), b.icmp_signed("<", q, self.dim(n)))
                s = q
            else:
                pos = b.icmp_signed(">=", q, zero)
                qc = b.select(pos, q, zero)
                s = b.udiv(qc, ir.Constant(I64, d))
                ok = b.and_(b.and_(pos, b.icmp_unsigned("==", b.urem(qc, ir.Constant(I64, d)), zero)),
                            b.icmp_signed("<", s, self.dim(n)))
            inside = ok if inside is None else b.and_(inside, ok)
            src.append(s)
        if inside is None:
            return self.ev(x.src, src)
        src = [b.select(inside, s, zero) for s in src]
        return b.select(inside, self.ev(x.src, src), const(x.dtype, x.fill))

    def row(self, ids: Expr, idx, rows: Dim, status: Buf, check: int) -> ir.Value:
        """ids at idx as an i64 row number; outside 0..rows-1 it records `check` in status and gives 0."""
        b = self.b
        v = self.ev(ids, idx)
        v = b.sext(v, I64) if v.type.width < 64 else v
        ok = b.icmp_unsigned("<", v, self.dim(rows))  # negative ids are huge unsigned
        with b.if_then(b.not_(ok), likely=False):  # the first failed check is the one reported
            old = b.load(self.ptr[id(status)], typ=I64)
            first = b.icmp_signed("==", old, ir.Constant(I64, 0))
            b.store(b.select(first, ir.Constant(I64, check), old), self.ptr[id(status)])
        return b.select(ok, v, ir.Constant(I64, 0))

    def at_offset(self, x: Load, off: ir.Value) -> ir.Value:
        return self.b.gep(self.ptr[id(x.buf)], [off], source_etype=MEM[x.dtype])


def const(dtype: str, value) -> ir.Constant:
    if dtype in FLOATS:
        return ir.Constant(REG[dtype], float(value))
    if dtype == "bool":
        return ir.Constant(I1, int(bool(value)))
    return ir.Constant(REG[dtype], int(value))


# -- kernels --------------------------------------------------------------------------------------
def emit_store(k: KernelBuilder, kern: Store) -> None:
    """A loop nest over the target; a transposing copy (a source read along another axis than the target
    is written) walks square blocks, so both sides stay in cache."""
    from .nest import flatten
    flat = flatten(kern)
    if flat is not None:
        kern = flat
    t = kern.target
    tiled = _transpose_blocks(kern)
    if tiled is None:
        from .parallel import split_rows

        def rows(kb: KernelBuilder, lo, hi) -> None:
            def cell(idx):
                for target, x in kern.stores:  # several new values of one element (fuse.py): one loop
                    kb.store(target, idx, kb.ev(x, idx))
            kb.nest(t.shape, cell, rows=None if lo is None else (lo, hi))
        if not t.shape:
            rows(k, None, None)
        else:  # large stores in parts over the thread pool (parallel.py)
            split_rows(k, t.shape[0], numel(t.shape) * len(kern.stores), rows)
        return
    axis, size = tiled
    last = len(t.shape) - 1
    outer = tuple(d for d in range(last) if d != axis)

    def blocks(out_idx):
        def block(bb):
            def cell(inner):
                idx = [None] * len(t.shape)
                for d, i in zip(outer, out_idx):
                    idx[d] = i
                idx[axis] = k.b.add(k.b.mul(bb[0], ir.Constant(I64, size)), inner[0])
                idx[last] = k.b.add(k.b.mul(bb[1], ir.Constant(I64, size)), inner[1])
                k.store(t, idx, k.ev(kern.expr, idx))
            k.nest((size, size), cell)
        k.nest((t.shape[axis] // size, t.shape[last] // size), block)
    k.nest(tuple(t.shape[d] for d in outer), blocks)


def _transpose_blocks(kern: Store) -> tuple[int, int] | None:
    """(the axis a plain-Load source is contiguous along, the block size) when it is not the last axis."""
    x, t = kern.expr, kern.target  # only a plain Load's strides say which axis it is contiguous along
    if not isinstance(x, Load) or len(t.shape) < 2 or x.strides[-1] == 1 or not t.contiguous:
        return None
    last = len(t.shape) - 1
    unit = [d for d in range(last) if x.strides[d] == 1 and isinstance(t.shape[d], int) and t.shape[d] > 1]
    if not unit or not isinstance(t.shape[last], int):
        return None  # blocks along a run-time size would need run-time tails: a plain nest is correct
    for size in (32, 16, 8):
        if t.shape[unit[0]] % size == 0 and t.shape[last] % size == 0:
            return unit[0], size
    return None


def emit_reduce(k: KernelBuilder, kern: Reduce) -> None:
    from .nest import emit_reduce as reduce
    reduce(k, kern)


def emit_window_pick(k: KernelBuilder, kern: WindowPick) -> None:
    from .window import emit_window_pick as pick
    pick(k, kern)


def emit_scatter_rows(k: KernelBuilder, kern: ScatterRows) -> None:
    t = kern.target
    r = len(kern.ids.shape)

    def cell(idx):
        row = k.row(kern.ids, idx[:r], t.shape[0], kern.status, kern.check)
        full = [row] + list(idx[r:])
        old = k.load(t, full)
        v = k.ev(kern.up, idx)
        k.store(t, full, k.b.fadd(old, v) if t.dtype in FLOATS else k.b.add(old, v))
    k.nest(kern.up.shape, cell)


def emit_matmul(k: KernelBuilder, kern: Matmul) -> None:
    from .gemm import emit_matmul as gemm
    gemm(k, kern)


EMITTERS = {ScatterRows: emit_scatter_rows, Store: emit_store, Reduce: emit_reduce, Matmul: emit_matmul,
            WindowPick: emit_window_pick}


def kernel_buffers(kern: Kernel) -> list[Buf]:
    """The distinct buffers a kernel touches, its target first."""
    out: list[Buf] = [kern.target.buf]
    for buf in kern.reads():
        if all(buf is not o for o in out):
            out.append(buf)
    return out


def emit_module(kernels: list[Kernel], n_args: int, triple: str, data_layout: str,
                profile: bool = False, scratch: list[Buf] = (), symbols: tuple[str, ...] = ()) -> ir.Module:
    """The whole executable: one function per kernel and `nnc_run(ptr args)` calling them in order.

    Scratch buffer j lives at arena + offsets[j] (slot n_args + 4), symbol k's value is sizes[k] (slot
    n_args + 3). With `profile`, the cycle counter (llvm.readcyclecounter) read after each kernel is added
    into slot n_args + 2, an i64 array with one entry per kernel: where a step's time goes.
    """
    module = ir.Module(name="nnc")
    module.triple = triple
    module.data_layout = data_layout
    run = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), name=ENTRY)
    b = ir.IRBuilder(run.append_basic_block("entry"))
    args = run.args[0]

    def slot(n: int) -> ir.Value:
        return b.load(b.gep(args, [ir.Constant(I64, n)], source_etype=PTR), typ=PTR)

    arena, sizes, offsets = slot(n_args), slot(n_args + 3), slot(n_args + 4)
    index = {id(buf): j for j, buf in enumerate(scratch)}
    loop_vars = list(dict.fromkeys(k.loop.var for k in kernels if k.loop is not None))
    slots = {name: k for k, name in enumerate(symbols)}
    slots.update({var: len(symbols) for var in loop_vars})  # step loops never nest: one slot (share.py)
    if loop_vars:  # the kernels' sizes array: the symbols, then the step loop's variable
        local = b.alloca(I64, size=ir.Constant(I64, len(symbols) + 1))
        for k in range(len(symbols)):
            src = b.gep(sizes, [ir.Constant(I64, k)], source_etype=I64)
            b.store(b.load(src, typ=I64), b.gep(local, [ir.Constant(I64, k)], source_etype=I64))
        sizes = local
    base: dict[int, ir.Value] = {}

    def pointer(buf: Buf) -> ir.Value:
        if id(buf) not in base:
            if buf.arg is not None:
                base[id(buf)] = slot(buf.arg)
            else:
                off = b.load(b.gep(offsets, [ir.Constant(I64, index[id(buf)])], source_etype=I64), typ=I64)
                base[id(buf)] = b.gep(arena, [off], source_etype=I8)
        return base[id(buf)]

    from .share import alias, kernel_key
    emitted: dict = {}   # kernel_key -> the function emitted for it
    calls = []  # (kernel index, function, buffers), every pointer computed in the entry block
    for n, kern in enumerate(kernels):
        shape_size = numel(kern.target.shape)
        if isinstance(shape_size, int) and shape_size == 0 and not isinstance(kern, Matmul):
            continue
        bufs = kernel_buffers(kern)
        key, name = kernel_key(kern, bufs), f"k{n}_{_ident(kern.origin)}"
        if key is not None and key in emitted:  # the same code on other buffers: one function (share.py)
            fn = alias(module, name, emitted[key])
        else:
            k = KernelBuilder(module, name, bufs, slots)
            EMITTERS[type(kern)](k, kern)
            k.finish()
            fn = emitted[key] = k.fn
        calls.append((n, kern, fn, [pointer(x) for x in bufs]))

    if profile:
        clock = ir.Function(module, ir.FunctionType(I64, []), name="llvm.readcyclecounter")
        counts = slot(n_args + 2)
        last = b.alloca(I64)
        b.store(b.call(clock, []), last)

    def call(n, kern, fn, ptrs):
        if kern.when is not None:  # runs only when a run-time size is large enough (a packing copy)
            size, least = kern.when
            with b.if_then(b.icmp_signed(">=", _entry_dim(b, size, sizes, slots), ir.Constant(I64, least))):
                b.call(fn, ptrs + [sizes])
        else:
            b.call(fn, ptrs + [sizes])
        if profile:
            now = b.call(clock, [])
            counter = b.gep(counts, [ir.Constant(I64, n)], source_etype=I64)
            b.store(b.add(b.load(counter, typ=I64), b.sub(now, b.load(last, typ=I64))), counter)
            b.store(now, last)

    j = 0
    while j < len(calls):
        loop = calls[j][1].loop
        if loop is None:
            call(*calls[j])
            j += 1
            continue
        group = []
        while j < len(calls) and calls[j][1].loop is loop:
            group.append(calls[j])
            j += 1
        _entry_loop(b, run, _entry_dim(b, loop.count, sizes, slots), sizes, slots[loop.var],
                    lambda: [call(*c) for c in group])
    b.ret_void()
    return module


def _entry_dim(b: ir.IRBuilder, d: Dim, sizes: ir.Value, slots: dict[str, int]) -> ir.Value:
    """A size as an i64 in the entry point (a step loop's count)."""
    if not isinstance(d, Poly):
        return ir.Constant(I64, int(d))
    total = ir.Constant(I64, 0)
    for mono, c in d.terms:
        term = ir.Constant(I64, c)
        for name in mono:
            v = b.load(b.gep(sizes, [ir.Constant(I64, slots[name])], source_etype=I64), typ=I64)
            term = b.mul(term, v)
        total = b.add(total, term)
    return total


def _entry_loop(b: ir.IRBuilder, fn: ir.Function, count: ir.Value, sizes: ir.Value, slot: int, body) -> None:
    """for i in range(count): sizes[slot] = i; body()  — in the entry point (zero iterations allowed)."""
    pre = b.block
    head, done = fn.append_basic_block("step"), fn.append_basic_block("steps_done")
    b.cbranch(b.icmp_signed(">", count, ir.Constant(I64, 0)), head, done)
    b.position_at_end(head)
    i = b.phi(I64)
    i.add_incoming(ir.Constant(I64, 0), pre)
    b.store(i, b.gep(sizes, [ir.Constant(I64, slot)], source_etype=I64))
    body()
    nxt = b.add(i, ir.Constant(I64, 1))
    i.add_incoming(nxt, b.block)
    b.cbranch(b.icmp_signed("<", nxt, count), head, done)
    b.position_at_end(done)


def _ident(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)[:40]
