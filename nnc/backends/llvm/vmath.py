"""exp and tanh for f32 as straight-line IR that LLVM vectorises.

`llvm.exp.f32` and libm's `tanhf` are scalar calls inside a loop (no vector library is linked: MCJIT
and the C library's `ldd` rule both exclude libmvec), so a loop holding them ran one element at a time —
an LSTM step's gates at 0.3 GFLOP/s. These are Cephes' single-precision algorithms (the same ones
numpy's float32 paths are accurate to): exp by n = round(x·log2 e), r = x − n·ln 2 in two parts, a
degree-6 polynomial and 2^n built in the exponent bits; tanh by an odd polynomial below |x| = 0.625 and
1 − 2/(e^{2|x|} + 1) above. Both within 2 ulp of the correctly rounded result in the normal range; exp
is +inf above 88.72 and 0 below −87.33 (numpy gives denormals there: an absolute difference < 1.2e-38);
NaN stays NaN.
"""
from __future__ import annotations

from llvmlite import ir

F32 = ir.FloatType()
I32 = ir.IntType(32)


def _c(v: float) -> ir.Constant:
    return ir.Constant(F32, v)


def _poly(b: ir.IRBuilder, x, coeffs: list[float]):
    acc = _c(coeffs[0])
    for c in coeffs[1:]:
        acc = b.fadd(b.fmul(acc, x), _c(c))
    return acc


def exp_f32(b: ir.IRBuilder, module: ir.Module, x: ir.Value) -> ir.Value:
    from .scalar import function
    floor = function(module, "llvm.floor.f32", F32, [F32])
    hi, lo = 88.72283935546875, -87.33654022216797
    xc = b.select(b.fcmp_ordered(">", x, _c(hi)), _c(hi), b.select(b.fcmp_ordered("<", x, _c(lo)), _c(lo), x))
    n = b.call(floor, [b.fadd(b.fmul(xc, _c(1.44269504088896341)), _c(0.5))])
    r = b.fsub(b.fsub(xc, b.fmul(n, _c(0.693359375))), b.fmul(n, _c(-2.12194440e-4)))
    p = _poly(b, r, [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
                     5.0000001201e-1])
    y = b.fadd(b.fadd(b.fmul(b.fmul(p, r), r), r), _c(1.0))
    # 2^n for n in [-126, 128] as 2^(n>>1) · 2^(n - n>>1): both factors' exponent fields stay normal
    ni = b.fptosi(n, I32)
    n1 = b.ashr(ni, ir.Constant(I32, 1))
    n2 = b.sub(ni, n1)

    def pow2(e):
        return b.bitcast(b.shl(b.add(e, ir.Constant(I32, 127)), ir.Constant(I32, 23)), F32)
    out = b.fmul(b.fmul(y, pow2(n1)), pow2(n2))
    out = b.select(b.fcmp_ordered(">", x, _c(hi)), _c(float("inf")), out)
    out = b.select(b.fcmp_ordered("<", x, _c(lo)), _c(0.0), out)
    return b.select(b.fcmp_unordered("!=", x, x), x, out)


def tanh_f32(b: ir.IRBuilder, module: ir.Module, x: ir.Value) -> ir.Value:
    from .scalar import function
    fabs = function(module, "llvm.fabs.f32", F32, [F32])
    copysign = function(module, "llvm.copysign.f32", F32, [F32, F32])
    a = b.call(fabs, [x])
    z = b.fmul(x, x)
    small = b.fadd(b.fmul(b.fmul(_poly(b, z, [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2,
                                            1.33314422036e-1, -3.33332819422e-1]), z), x), x)
    s = exp_f32(b, module, b.fmul(a, _c(2.0)))
    large = b.call(copysign, [b.fsub(_c(1.0), b.fdiv(_c(2.0), b.fadd(s, _c(1.0)))), x])
    out = b.select(b.fcmp_ordered("<", a, _c(0.625)), small, large)
    return b.select(b.fcmp_unordered("!=", x, x), x, out)
