"""The scalar table: one LLVM instruction sequence per elementwise op, and the reduction steps.

Semantics are the numpy oracle's (nnc/ops/*.py references): NaN propagates through maximum, minimum,
max reductions and sign; `ne` is true on NaN; sigmoid is exp(-|x|)-based on both sides; float → int
casts truncate; anything → bool is "not zero". Math functions are LLVM intrinsics, declared with an
explicit function type (llvmlite 0.50 needs it), or libm (tanh), which MCJIT resolves in the process;
f32 exp, log and tanh and f64 exp and log are straight-line IR instead (vmath.py), so the loops holding
them vectorise.
"""
from __future__ import annotations

from llvmlite import ir

from .emit import F32, F64, FLOATS, I1, I64, REG, KernelBuilder, REASSOC, const
from .loops import Map

INTRINSICS = {"exp": "llvm.exp", "log": "llvm.log", "sqrt": "llvm.sqrt", "cos": "llvm.cos", "abs": "llvm.fabs",
              "pow": "llvm.pow"}
LIBM = {"tanh": {"f32": "tanhf", "f64": "tanh"}}
FCMP = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}


def function(module: ir.Module, name: str, ret: ir.Type, args: list[ir.Type]) -> ir.Function:
    """A declared function (intrinsic or libm) of an explicit type, declared once per module."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, args), name=name)
    return fn


def _math(k: KernelBuilder, op: str, dtype: str, args: list[ir.Value]) -> ir.Value:
    t = REG[dtype]
    from .vmath import VECTOR
    vector = VECTOR.get((op, dtype))
    if vector is not None:  # vectorisable straight-line IR (vmath.py): the calls kept loops scalar
        return vector(k.b, k.module, args[0])
    if op in LIBM:
        name = LIBM[op][dtype]
    else:
        name = f"{INTRINSICS[op]}.{'f32' if dtype == 'f32' else 'f64'}"
    return k.b.call(function(k.module, name, t, [t] * len(args)), args)


def apply(k: KernelBuilder, x: Map, args: list[ir.Value]) -> ir.Value:
    """x.op of already computed argument values (same dtype unless the op says otherwise)."""
    b, op = k.b, x.op
    src = x.args[0].dtype if x.args else x.dtype
    fl = src in FLOATS
    if op == "cast":
        return cast(b, args[0], src, x.dtype)
    if op == "where":
        return b.select(args[0], args[1], args[2])
    if op == "compare":
        kind = x.attrs["kind"]
        if fl:
            return b.fcmp_unordered("!=", *args) if kind == "ne" else b.fcmp_ordered(FCMP[kind], *args)
        if src == "bool":
            return b.icmp_unsigned(FCMP[kind], *args)
        return b.icmp_signed(FCMP[kind], *args)
    if op in ("add", "sub", "mul", "div"):
        if fl:
            return {"add": b.fadd, "sub": b.fsub, "mul": b.fmul, "div": b.fdiv}[op](*args, flags=())
        return {"add": b.add, "sub": b.sub, "mul": b.mul}[op](*args)
    if op in ("maximum", "minimum"):
        p, q = args
        if fl:  # NaN in either propagates (numpy)
            take_p = b.or_(b.fcmp_ordered(">" if op == "maximum" else "<", p, q), b.fcmp_unordered("!=", p, p))
        else:
            take_p = b.icmp_signed(">" if op == "maximum" else "<", p, q)
        return b.select(take_p, p, q)
    if op == "neg":
        return b.fneg(args[0]) if fl else b.neg(args[0])
    if op == "abs" and not fl:
        v = args[0]
        return b.select(b.icmp_signed("<", v, ir.Constant(v.type, 0)), b.neg(v), v)
    if op == "sign":
        v = args[0]
        if fl:
            one, zero = const(src, 1.0), const(src, 0.0)
            s = b.select(b.fcmp_ordered(">", v, zero), one,
                         b.select(b.fcmp_ordered("<", v, zero), const(src, -1.0), zero))
            return b.select(b.fcmp_unordered("!=", v, v), v, s)
        zero = ir.Constant(v.type, 0)
        return b.select(b.icmp_signed(">", v, zero), ir.Constant(v.type, 1),
                        b.select(b.icmp_signed("<", v, zero), ir.Constant(v.type, -1), zero))
    if op == "sigmoid":
        v = args[0]
        e = _math(k, "exp", src, [b.fneg(_math(k, "abs", src, [v]))])
        one = const(src, 1.0)
        den = b.fadd(one, e)
        return b.select(b.fcmp_ordered(">=", v, const(src, 0.0)), b.fdiv(one, den), b.fdiv(e, den))
    if op in INTRINSICS or op in LIBM:
        return _math(k, op, src, args)
    raise NotImplementedError(op)


def cast(b: ir.IRBuilder, v: ir.Value, src: str, dst: str) -> ir.Value:
    if src == dst:
        return v
    t = REG[dst]
    if dst == "bool":
        if src in FLOATS:
            return b.fcmp_unordered("!=", v, ir.Constant(v.type, 0.0))
        return b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))
    if src == "bool":
        return b.uitofp(v, t) if dst in FLOATS else b.zext(v, t)
    if src in FLOATS and dst in FLOATS:
        return b.fpext(v, t) if dst == "f64" else b.fptrunc(v, t)
    if src in FLOATS:
        return b.fptosi(v, t)
    if dst in FLOATS:
        return b.sitofp(v, t)
    return b.sext(v, t) if t.width > v.type.width else b.trunc(v, t)


def reduce_init(kind: str, dtype: str) -> ir.Constant:
    if kind == "sum":
        return const(dtype, 0)
    if dtype in FLOATS:
        return const(dtype, float("-inf"))
    return ir.Constant(REG[dtype], -(1 << (REG[dtype].width - 1)))


def reduce_step(k: KernelBuilder, kind: str, dtype: str, acc, best_at, v, at) -> None:
    """acc ⊕= v; for argmax also the position `at` of the first maximum (the first NaN wins, as numpy)."""
    b = k.b
    cur = b.load(acc, typ=REG[dtype])
    fl = dtype in FLOATS
    if kind == "sum":
        b.store(b.fadd(cur, v, flags=REASSOC) if fl else b.add(cur, v), acc)
        return
    if fl:
        better = b.fcmp_ordered(">", v, cur)
        nan_first = b.and_(b.fcmp_unordered("!=", v, v), b.fcmp_ordered("==", cur, cur))
        take = b.or_(better, nan_first)
    else:
        take = b.icmp_signed(">", v, cur)
    if kind == "argmax":
        b.store(b.select(take, at, b.load(best_at, typ=I64)), best_at)
    b.store(b.select(take, v, cur), acc)


__all__ = ["apply", "cast", "reduce_init", "reduce_step", "F32", "F64", "I1"]
