"""`checked`: a finite-value check after every kernel, naming the layer and the `.nn` line of the first
NaN or infinity (`nnc run --checked`, the backend option `checked=True`, `nnc compile --target llvm
--checked`).

`add_checks(module, kernels, ...)` rewrites an emitted module (emit.emit_module's output) in place: after
each call of a kernel whose target is a float buffer written contiguously, the entry point calls
`nnc_check_f32/f64(target, start, count, status, code)`, which scans what the kernel wrote and, when it
holds a NaN or an infinity and no earlier check has failed, stores `code` in the status slot (the slot
embedding checks use: code k means message k - 1). The later kernels still run (on the bad values); the
caller reports the first failure only, so the layer named is the first one that produced a non-finite value.
Kernels writing a strided part of a buffer (a concatenation's slice) are not checked: the bytes around
the slice are not theirs; the kernel that reads the whole buffer next is.
"""
from __future__ import annotations

import re

from llvmlite import ir

I1, I64 = ir.IntType(1), ir.IntType(64)
PTR = ir.PointerType()
FLOATS = {"f32": ir.FloatType(), "f64": ir.DoubleType()}
KERNEL = re.compile(r"k(\d+)_")


def _check_function(module: ir.Module, dtype: str) -> ir.Function:
    """void nnc_check_DTYPE(ptr p, i64 start, i64 count, ptr status, i64 code)."""
    name = f"nnc_check_{dtype}"
    if name in module.globals:
        return module.globals[name]
    t = FLOATS[dtype]
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, I64, I64, PTR, I64]), name=name)
    fn.linkage = "internal"
    fn.attributes.add("noinline")
    p, start, count, status, code = fn.args
    entry, loop, done, report, out = (fn.append_basic_block(n) for n in ("entry", "loop", "done", "report", "out"))
    b = ir.IRBuilder(entry)
    b.cbranch(b.icmp_signed(">", count, ir.Constant(I64, 0)), loop, out)
    b.position_at_end(loop)
    i = b.phi(I64)
    bad = b.phi(I1)
    i.add_incoming(ir.Constant(I64, 0), entry)
    bad.add_incoming(ir.Constant(I1, 0), entry)
    v = b.load(b.gep(p, [b.add(start, i)], source_etype=t), typ=t)
    fabs = module.declare_intrinsic("llvm.fabs", [t])
    nonfinite = b.fcmp_unordered("==", b.call(fabs, [v]), ir.Constant(t, float("inf")))  # NaN or ±inf
    now = b.or_(bad, nonfinite)
    nxt = b.add(i, ir.Constant(I64, 1))
    i.add_incoming(nxt, loop)
    bad.add_incoming(now, loop)
    b.cbranch(b.icmp_signed("<", nxt, count), loop, done)
    b.position_at_end(done)
    old = b.load(status, typ=I64)
    b.cbranch(b.and_(now, b.icmp_signed("==", old, ir.Constant(I64, 0))), report, out)
    b.position_at_end(report)
    b.store(code, status)
    b.branch(out)
    b.position_at_end(out)
    b.ret_void()
    return fn


def _dim(b: ir.IRBuilder, d, sizes, symbols: tuple[str, ...]) -> ir.Value:
    """An int or dims.Poly as an i64 computed from the sizes array (slot n_args + 3)."""
    if isinstance(d, int):
        return ir.Constant(I64, d)
    acc = ir.Constant(I64, 0)
    for mono, c in d.terms:
        term = ir.Constant(I64, c)
        for name in mono:
            if name not in symbols:
                raise KeyError(name)
            v = b.load(b.gep(sizes, [ir.Constant(I64, symbols.index(name))], source_etype=I64), typ=I64)
            term = b.mul(term, v)
        acc = b.add(acc, term)
    return acc


# ops that make a NaN or an infinity of finite values: in a fused kernel (a log fused into the sum of a
# mean, an optimiser's update) the first of them is named, else the kernel's last op
RISKY = ("log", "div", "exp", "sqrt", "pow", "rsqrt")


def origin_text(kern) -> str:
    """The layer, op and `.nn` line a kernel's value comes from: `layer loss.log (log at net.nn:10)`."""
    nodes = [n for n in kern.nodes if n.op != "constant"]
    risky = [n for n in nodes if n.op in RISKY]
    node = risky[0] if risky else nodes[-1] if nodes else None
    if node is None:
        return kern.origin or "a kernel"
    where = f"{node.span.file}:{node.span.line}" if node.span is not None else "no source line"
    return f"layer {node.path} ({node.op} at {where})"


def add_checks(module: ir.Module, kernels: list, n_args: int, symbols: tuple[str, ...] = (),
               first_code: int = 1, entry: str = "nnc_run") -> list[str]:
    """Insert the checks into `module`'s entry point; the message of each code, from `first_code` on."""
    from .emit import kernel_buffers
    from .loops import numel
    run = module.globals[entry]
    args = run.args[0]
    messages: list[str] = []
    calls = [(block, ins) for block in run.blocks for ins in list(block.instructions)
             if isinstance(ins, ir.CallInstr) and KERNEL.match(getattr(ins.callee, "name", ""))]
    for block, call in calls:
        kern = kernels[int(KERNEL.match(call.callee.name).group(1))]
        bufs = kernel_buffers(kern)
        b = ir.IRBuilder(block)
        b.position_after(call)
        # a fused Store (fuse.py) writes several targets: each is checked, in the order they are computed
        for t in [t for t, _ in getattr(kern, "stores", ((kern.target, None),))]:
            if t.dtype not in FLOATS or not t.contiguous:
                continue

            def slot(n: int) -> ir.Value:
                return b.load(b.gep(args, [ir.Constant(I64, n)], source_etype=PTR), typ=PTR)
            sizes = slot(n_args + 3) if symbols else None
            try:
                start, count = _dim(b, t.offset, sizes, symbols), _dim(b, numel(t.shape), sizes, symbols)
            except KeyError:
                continue
            code = first_code + len(messages)
            ptr = call.args[next(j for j, x in enumerate(bufs) if x is t.buf)]
            b.call(_check_function(module, t.dtype), [ptr, start, count, slot(n_args + 1), ir.Constant(I64, code)])
            messages.append(f"{origin_text(kern)} produced a NaN or an infinity (checked)")
    return messages
