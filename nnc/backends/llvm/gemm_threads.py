"""Matrix multiplies over the thread pool: a driver with the GEMM library's signature that splits C
between threads and calls the library's single-thread function on each part.

    void nnc_gemm_{dtype}_mt(i64 m, i64 n, i64 k, ptr a, i64 rsa, i64 csa, ptr b, i64 rsb, i64 csb,
                             ptr c, i64 ldc, i64 accumulate, ptr ws, i64 ws_bytes)

Same arguments and result as `nnc_gemm_{dtype}` (library.py). With one thread, or less than
MIN_WORK multiply-adds, it is one call of that function. Otherwise C is split into parts claimed
dynamically by the threads (`nnc_parallel_for`): one part per thread where a part repeats packing (the
packed path), else (dot and direct paths, which read A and B in place) up to FINE_PARTS per thread of at
least PART_WORK multiply-adds each, so a thread that wakes late or is preempted by another process
leaves its share to the others instead of holding the region up. An output's bits never depend on the
part or tile that computes it (each is summed alone, in the serial function's order of k), so the
result is the same at every thread count:

- over k when C is small (≤ KSPLIT_MN elements) and k spans 2 or more of the library's blocks on the dot
  or direct path (convolution weight gradients: [6×50176]·[50176×25]): each task computes one block of
  k into its own partial sum on the caller's stack (≤ KSPLIT_CELLS elements), then C = P0 + P1 + ... in
  block order: exactly the serial function's blocks and order, so the same bits.
- on the dot path (A's rows, B's columns contiguous along k), over columns in DOT_COLS-wide parts (every
  output of the dot path is summed alone, whichever tile computes it) when n ≥ 4·DOT_COLS per thread,
  or when rows would not split; else over rows.
- the direct path with n < 4·COLUMNS per thread and m >= 2·MR per thread (ResNet's 7×7 and 14×14
  outputs: [512×4608]·[4608×49]): over rows, which balance better there and repeat nothing.
- over columns when n >= COLUMNS per thread: parts of a multiple of COLUMNS columns (a multiple of every
  tile width the library uses). Each part packs only its own columns of B; A is packed per column block
  of the library's loop anyway, so no packing is repeated — and at small m (batch-1 inference, where B,
  the weights, is streamed) each core streams half of B (docs/backends.md §3: the [1×784]·[784×512]
  product ran in 10.9 µs on two threads against 30.6 µs on one).
- else over rows, when m >= 2·MR per thread: parts of a multiple of MR rows (the micro-kernel's height),
  each packing all of B again (n is small here, so B is too).
- else one call.

Each part takes its packing workspace from its own thread's stack (the library does that when given no
workspace), so threads never share one. A region inside a task runs serially (threads.py), so this may
be called from code that is itself parallel.
"""
from __future__ import annotations

from llvmlite import ir

from . import threads

I32, I64 = ir.IntType(32), ir.IntType(64)
PTR = ir.PointerType()
COLUMNS = 64            # column parts are multiples of this
MIN_WORK = 1 << 17      # multiply-adds from which a product is split: measured, [6×25]·[25×576] (86,400) took
                        # 3.1 µs on one thread and on two, [64×64]·[64×64] (262,144) 6.1 → 4.3 µs
PARTS_PER_THREAD = 1    # parts of C per thread where each part repeats packing (the packed path)
FINE_PARTS = 4          # at most this many parts per thread where parts repeat nothing (dot, direct paths)
PART_WORK = 1 << 20     # ... each of at least this many multiply-adds (about 10 µs on one core)
ELEMENT = {"f32": ir.FloatType(), "f64": ir.DoubleType()}
SLOTS = ("m", "n", "k", "a", "rsa", "csa", "b", "rsb", "csb", "c", "ldc", "acc", "by_rows", "chunk", "ws")
POINTERS = ("a", "b", "c", "ws")
KSPLIT_MN = 1024        # C of at most this many elements with k of 2 or more blocks: split k instead
KSPLIT_CELLS = 1 << 15  # the partial sums (blocks × m × n elements) live on the stack: at most this many


def parallel_symbol(dtype: str) -> str:
    return f"nnc_gemm_{dtype}_mt"


def declare_parallel_gemm(module: ir.Module, dtype: str) -> ir.Function:
    """`nnc_gemm_{dtype}_mt` in a model's module: the library's definition when present, else a declaration."""
    fn = module.globals.get(parallel_symbol(dtype))
    if fn is None:
        sig = [I64, I64, I64, PTR, I64, I64, PTR, I64, I64, PTR, I64, I64, PTR, I64]
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), sig), name=parallel_symbol(dtype))
    return fn


def _c(v: int) -> ir.Constant:
    return ir.Constant(I64, v)


def _ceil(b: ir.IRBuilder, x, y):
    return b.sdiv(b.add(x, b.sub(y, _c(1))), y)


def _min(b: ir.IRBuilder, x, y):
    return b.select(b.icmp_signed("<", x, y), x, y)


def _kstep(b: ir.IRBuilder, k, is_dot, lanes: int):
    """The library's block of k on the dot path (KC_DOT, rounded to whole vectors) or the direct path
    (KC_DIRECT): the same formulas as library.py's, so a block computed alone is the block it computes."""
    from .library import KC_DIRECT, KC_DOT
    dot = b.mul(_ceil(b, _ceil(b, k, _ceil(b, k, _c(KC_DOT))), _c(lanes)), _c(lanes))
    return b.select(is_dot, dot, _ceil(b, k, _ceil(b, k, _c(KC_DIRECT))))


def _task(module: ir.Module, name: str, slots: dict):
    """A pool task `void name(ptr ctx, i64 i)`: (the function, a builder at its entry, i, the context's
    slots loaded by name — pointers as pointers)."""
    task = ir.Function(module, threads.TASK, name=name)
    task.linkage = "internal"
    b = ir.IRBuilder(task.append_basic_block("entry"))
    ctx, i = task.args

    def get(slot: str):
        v = b.load(b.gep(ctx, [_c(slots[slot])], source_etype=I64), typ=I64)
        return b.inttoptr(v, PTR) if slot in POINTERS else v
    return task, b, i, {slot: get(slot) for slot in SLOTS}


def _k_task(module: ir.Module, serial: ir.Function, name: str, et, slots: dict) -> ir.Function:
    """Task i of a split of k: block i of k into its own m × n partial sum (ws + i·m·n, from zero)."""
    task, b, i, v = _task(module, f"{name}.kpart", slots)
    pc = b.mul(i, v["chunk"])
    kc = _min(b, v["chunk"], b.sub(v["k"], pc))
    part = b.gep(v["ws"], [b.mul(i, b.mul(v["m"], v["n"]))], source_etype=et)
    b.call(serial, [v["m"], v["n"], kc, b.gep(v["a"], [b.mul(pc, v["csa"])], source_etype=et), v["rsa"], v["csa"],
                    b.gep(v["b"], [b.mul(pc, v["rsb"])], source_etype=et), v["rsb"], v["csb"], part, v["n"], _c(0),
                    ir.Constant(PTR, None), _c(0)])
    b.ret_void()
    return task


def _sum_parts(b: ir.IRBuilder, et, args, ws, blocks) -> None:
    """C = P0 + P1 + ... (or C + P0 + P1 + ... when accumulating), in this order: what the serial
    function's blocks of k compute (C = block 0, then += each next block)."""
    from .microkernel import loop
    m, n, c, ldc, acc = args[0], args[1], args[9], args[10], args[11]
    zero = _c(0)
    cells = b.mul(m, n)
    slot = b.alloca(et)

    def cell(i, j):
        at = b.add(b.mul(i, n), j)
        cp = b.gep(c, [b.add(b.mul(i, ldc), j)], source_etype=et)
        first = b.load(b.gep(ws, [at], source_etype=et), typ=et)
        with b.if_else(b.icmp_signed("!=", acc, zero)) as (add, put):
            with add:
                b.store(b.fadd(b.load(cp, typ=et), first), slot)
            with put:
                b.store(first, slot)
        loop(b, _c(1), blocks, 1, lambda q: b.store(b.fadd(b.load(slot, typ=et), b.load(
            b.gep(ws, [b.add(b.mul(q, cells), at)], source_etype=et), typ=et)), slot), "q")
        b.store(b.load(slot, typ=et), cp)
    loop(b, zero, m, 1, lambda i: loop(b, zero, n, 1, lambda j: cell(i, j), "sj"), "si")


def emit_parallel_gemm(module: ir.Module, serial: ir.Function, dtype: str, mr: int,
                       parts: int = PARTS_PER_THREAD, name: str | None = None, lanes: int = 16) -> ir.Function:
    """Define `nnc_gemm_{dtype}_mt` (or `name`) in `module` (the library's, which defines `serial`, the
    library's `nnc_gemm_{dtype}`); `mr` is the micro-kernel's row count, `lanes` its vector width; C is
    cut into about `parts` parts per thread. The pool's `nnc_parallel_for` and `nnc_get_threads` are
    declared (or taken from the module when it defines the pool)."""
    name = base = name or parallel_symbol(dtype)
    if dtype not in ELEMENT:
        raise ValueError(f"no parallel GEMM for {dtype} (only {', '.join(ELEMENT)})")
    et = ELEMENT[dtype]
    parallel_for = threads.declare_parallel_for(module)
    get_threads = module.globals.get("nnc_get_threads") or ir.Function(
        module, ir.FunctionType(I32, []), name="nnc_get_threads")
    slots = {name: i for i, name in enumerate(SLOTS)}

    # the task: part i of C
    task, b, i, v = _task(module, f"{name}.part", slots)
    start = b.mul(i, v["chunk"])
    rows_blk, cols_blk = task.append_basic_block("rows"), task.append_basic_block("columns")
    b.cbranch(b.icmp_signed("!=", v["by_rows"], _c(0)), rows_blk, cols_blk)
    null, zero = ir.Constant(PTR, None), _c(0)
    b.position_at_end(rows_blk)
    mm = _min(b, v["chunk"], b.sub(v["m"], start))
    b.call(serial, [mm, v["n"], v["k"], b.gep(v["a"], [b.mul(start, v["rsa"])], source_etype=et), v["rsa"], v["csa"],
                    v["b"], v["rsb"], v["csb"], b.gep(v["c"], [b.mul(start, v["ldc"])], source_etype=et), v["ldc"],
                    v["acc"], null, zero])
    b.ret_void()
    b.position_at_end(cols_blk)
    nn = _min(b, v["chunk"], b.sub(v["n"], start))
    b.call(serial, [v["m"], nn, v["k"], v["a"], v["rsa"], v["csa"],
                    b.gep(v["b"], [b.mul(start, v["csb"])], source_etype=et), v["rsb"], v["csb"],
                    b.gep(v["c"], [start], source_etype=et), v["ldc"], v["acc"], null, zero])
    b.ret_void()

    # the driver
    fn = ir.Function(module, serial.function_type, name=name)
    args = list(fn.args)
    m, n, k = args[:3]
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    one_call, split, by_cols, try_rows, by_rows = (fn.append_basic_block(x) for x in (
        "one_call", "split", "by_columns", "try_rows", "by_rows"))
    work = b.mul(b.mul(m, n), k)
    positive = b.and_(b.and_(b.icmp_signed(">", m, _c(0)), b.icmp_signed(">", n, _c(0))),
                      b.icmp_signed(">", k, _c(0)))
    big = b.and_(positive, b.icmp_signed(">=", work, _c(MIN_WORK)))
    b.cbranch(big, split, one_call)
    b.position_at_end(one_call)
    b.call(serial, args)
    b.ret_void()
    b.position_at_end(split)
    t = b.sext(b.call(get_threads, []), I64)
    ctx = b.alloca(I64, size=_c(len(SLOTS)))
    for name, value in zip(SLOTS[:12], args[:12]):
        slot = b.gep(ctx, [_c(slots[name])], source_etype=I64)
        b.store(b.ptrtoint(value, I64) if name in POINTERS else value, slot)

    def run(by_rows_flag: int, size, unit: int) -> None:
        # parts per thread: `parts` where a part repeats packing; on the dot and direct paths, which
        # pack nothing, up to FINE_PARTS of PART_WORK each, so a thread that starts late or is preempted
        # leaves its parts to the others (dynamic claiming) instead of holding up the region
        fine = b.sdiv(work, b.mul(t, _c(PART_WORK)))
        fine = _min(b, _c(FINE_PARTS), b.select(b.icmp_signed("<", fine, _c(parts)), _c(parts), fine))
        per = b.select(b.or_(is_dot, direct), fine, _c(parts))
        chunk = b.mul(_ceil(b, _ceil(b, size, b.mul(t, per)), _c(unit)), _c(unit))
        b.store(_c(by_rows_flag), b.gep(ctx, [_c(slots["by_rows"])], source_etype=I64))
        b.store(chunk, b.gep(ctx, [_c(slots["chunk"])], source_etype=I64))
        b.call(parallel_for, [task, ctx, _ceil(b, size, chunk)])
        b.ret_void()

    two = b.icmp_signed(">=", t, _c(2))
    from .library import DIRECT_M, DOT_COLS, GEMV_M, dot_case
    is_dot = dot_case(b, m, args[5], args[7], args[8])
    # a small C with a long k (convolution weight gradients): blocks of k in parallel, each into its own
    # partial sum, then added in block order — the serial function's own blocks and order, so the same bits
    direct = b.and_(b.icmp_signed("==", args[8], _c(1)), b.and_(b.icmp_signed(">", m, _c(GEMV_M)),
                                                                 b.icmp_signed("<=", m, _c(DIRECT_M))))
    kstep = _kstep(b, k, is_dot, lanes)
    blocks = _ceil(b, k, kstep)
    cells = b.mul(m, n)
    ksplit = b.and_(b.and_(two, b.or_(is_dot, direct)),
                    b.and_(b.and_(b.icmp_signed("<=", cells, _c(KSPLIT_MN)), b.icmp_signed(">=", blocks, _c(2))),
                           b.icmp_signed("<=", b.mul(cells, blocks), _c(KSPLIT_CELLS))))
    k_blk, not_k = fn.append_basic_block("by_k"), fn.append_basic_block("not_by_k")
    b.cbranch(ksplit, k_blk, not_k)
    b.position_at_end(k_blk)
    ws = b.alloca(et, size=b.mul(cells, blocks))
    b.store(b.ptrtoint(ws, I64), b.gep(ctx, [_c(slots["ws"])], source_etype=I64))
    b.store(kstep, b.gep(ctx, [_c(slots["chunk"])], source_etype=I64))
    b.call(parallel_for, [_k_task(module, serial, base, et, slots), ctx, blocks])
    _sum_parts(b, et, args, ws, blocks)
    b.ret_void()
    b.position_at_end(not_k)
    # the dot path (library.py): every output is summed alone, so columns split in dot tiles
    dot_blk, dot_cols, other = (fn.append_basic_block(x) for x in ("dot", "dot_columns", "not_dot"))
    b.cbranch(is_dot, dot_blk, other)
    b.position_at_end(dot_blk)
    # columns when each thread gets 4 tiles' worth; fewer (a 10-class output layer: parts of 8 and 2
    # columns) split rows when there are enough, which balance
    wide_n = b.icmp_signed(">=", n, b.mul(t, _c(4 * DOT_COLS)))
    rows_ok = b.icmp_signed(">=", m, b.mul(t, _c(2 * mr)))
    some_n = b.icmp_signed(">=", n, b.mul(t, _c(DOT_COLS)))
    b.cbranch(b.and_(two, b.or_(wide_n, b.and_(some_n, b.not_(rows_ok)))), dot_cols, try_rows)
    b.position_at_end(dot_cols)
    run(0, n, DOT_COLS)
    b.position_at_end(other)
    # the direct path with few column parts (n < 4·COLUMNS per thread: ResNet's 7×7 and 14×14 outputs):
    # rows, which balance better and cost the same there (B is read in place, nothing is packed)
    few_cols = b.icmp_signed("<", n, b.mul(t, _c(4 * COLUMNS)))
    rows_first = b.and_(b.and_(direct, few_cols), b.icmp_signed(">=", m, b.mul(t, _c(2 * mr))))
    cols_ok = b.and_(b.icmp_signed(">=", n, b.mul(t, _c(COLUMNS))), b.not_(rows_first))
    b.cbranch(b.and_(two, cols_ok), by_cols, try_rows)
    b.position_at_end(by_cols)
    run(0, n, COLUMNS)
    b.position_at_end(try_rows)
    b.cbranch(b.and_(two, b.icmp_signed(">=", m, b.mul(t, _c(2 * mr)))), by_rows, one_call)
    b.position_at_end(by_rows)
    run(1, m, mr)
    return fn
