"""exp, log and tanh as straight-line IR that LLVM vectorises, f32 and f64.

`llvm.exp.*`, `llvm.log.*` and libm's `tanhf` are scalar calls inside a loop (no vector library is linked:
MCJIT and the C library's `ldd` rule both exclude libmvec), so a loop holding them ran one element at a
time — an LSTM step's gates at 0.3 GFLOP/s, a cross-entropy's log one element a call. These are Cephes'
algorithms (the ones numpy's float32 paths are accurate to), with no fast-math flags (LLVM neither
reassociates nor contracts them, so results are the same in every loop and in the C library):

- exp f32: n = round(x·log2 e), r = x − n·ln 2 in two parts, a degree-6 polynomial, 2^n built in the
  exponent bits as 2^(n>>1)·2^(n−n>>1) (both factors normal). +inf above 88.72, 0 below −87.33 (numpy
  gives denormals there: an absolute difference < 1.2e-38).
- exp f64: the same reduction, then Cephes' Padé form 1 + 2r·P(r²)/(Q(r²) − r·P(r²)); the two-factor
  2^n reaches the denormal results down to −745.13 (0 below, +inf above 709.78).
- log f32: x = m·2^e with m in [√½, √2) (subnormals scaled by 2^23 first), log(1 + f) by f − f²/2 +
  f³·P(f) (degree 8), then e·ln 2 in two parts. 0 → −inf, negative → NaN, +inf → +inf.
- log f64: the same split, log(1 + f) = f − f²/2 + f³·P(f)/Q(f) (Cephes' degree-5 rational form).
- tanh f32: an odd polynomial below |x| = 0.625 and 1 − 2/(e^{2|x|} + 1) above; f64 the same with
  Cephes' rational form x + x³·P(x²)/Q(x²) below.

Measured against numpy in float64 (tests/test_llvm_vmath.py): f32 within 2.5e-7 relative (2 ulp),
f64 within 4.5e-16 (2 ulp), over the whole range, subnormals included; NaN stays NaN.
"""
from __future__ import annotations

from llvmlite import ir

F32 = ir.FloatType()
F64 = ir.DoubleType()
I32 = ir.IntType(32)
I64 = ir.IntType(64)


def _c(v: float, t: ir.Type = F32) -> ir.Constant:
    return ir.Constant(t, v)


def _poly(b: ir.IRBuilder, x, coeffs: list[float], t: ir.Type = F32):
    """coeffs[0]·x^k + ... + coeffs[k] by Horner's rule (Cephes' polevl)."""
    acc = _c(coeffs[0], t)
    for c in coeffs[1:]:
        acc = b.fadd(b.fmul(acc, x), _c(c, t))
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
    out = _times_pow2(b, y, n, F32)
    out = b.select(b.fcmp_ordered(">", x, _c(hi)), _c(float("inf")), out)
    out = b.select(b.fcmp_ordered("<", x, _c(lo)), _c(0.0), out)
    return b.select(b.fcmp_unordered("!=", x, x), x, out)

def _times_pow2(b: ir.IRBuilder, y: ir.Value, n: ir.Value, ty) -> ir.Value:
    """y · 2^n (n a whole number held as a float) as y · 2^(n>>1) · 2^(n - n>>1): both factors' exponent
    fields stay normal over exp's whole range (f32 n in [-126, 128]), so a denormal result is rounded once."""
    it, bias, bits = (I32, 127, 23) if ty is F32 else (I64, 1023, 52)
    ni = b.fptosi(n, it)
    n1 = b.ashr(ni, ir.Constant(it, 1))
    n2 = b.sub(ni, n1)

    def pow2(e):
        return b.bitcast(b.shl(b.add(e, ir.Constant(it, bias)), ir.Constant(it, bits)), ty)
    return b.fmul(b.fmul(y, pow2(n1)), pow2(n2))



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


# Cephes' logf: log(1 + f) = f - f²/2 + f³·P(f) for f in [√½ - 1, √2 - 1)
_LOGF_P = [7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
           -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1]
_LN2_HI, _LN2_LO = 0.693359375, -2.121944400546905827679e-4   # ln 2 = HI + LO, HI exact in few bits


def _log_specials(b: ir.IRBuilder, x, out, t: ir.Type):
    """0 → -inf, negative → NaN, +inf → +inf, NaN → NaN around the finite positive result `out`."""
    out = b.select(b.fcmp_ordered("==", x, _c(float("inf"), t)), x, out)
    out = b.select(b.fcmp_ordered("==", x, _c(0.0, t)), _c(float("-inf"), t), out)
    out = b.select(b.fcmp_ordered("<", x, _c(0.0, t)), _c(float("nan"), t), out)
    return b.select(b.fcmp_unordered("!=", x, x), x, out)


def _split(b: ir.IRBuilder, x, t: ir.Type, bits: int, mantissa: int, bias: int, tiny: float):
    """x > 0 as (f, e) with x = (1 + f)·2^e, 1 + f in [√½, √2) (a subnormal scaled into the normal range
    first): the exponent and mantissa fields read from the bits; f is exact (Sterbenz)."""
    it = ir.IntType(bits)
    sub = b.fcmp_ordered("<", x, _c(tiny, t))
    scale = float(1 << mantissa)
    xs = b.select(sub, b.fmul(x, _c(scale, t)), x)
    i = b.bitcast(xs, it)
    field = b.and_(b.lshr(i, ir.Constant(it, mantissa)), ir.Constant(it, (1 << (bits - 1 - mantissa)) - 1))
    e = b.sub(field, b.select(sub, ir.Constant(it, bias - 1 + mantissa), ir.Constant(it, bias - 1)))
    half_bits = (bias - 1) << mantissa   # the exponent field of [0.5, 1)
    m = b.bitcast(b.or_(b.and_(i, ir.Constant(it, (1 << mantissa) - 1)), ir.Constant(it, half_bits)), t)  # [0.5, 1)
    low = b.fcmp_ordered("<", m, _c(0.70710678118654752440, t))
    e = b.sub(e, b.zext(low, it))
    f = b.select(low, b.fsub(b.fadd(m, m), _c(1.0, t)), b.fsub(m, _c(1.0, t)))
    return f, b.sitofp(e, t)


def log_f32(b: ir.IRBuilder, module: ir.Module, x: ir.Value) -> ir.Value:
    """Cephes' logf, straight-line (the module docstring)."""
    f, fe = _split(b, x, F32, 32, 23, 127, 1.17549435e-38)
    z = b.fmul(f, f)
    y = b.fmul(b.fmul(_poly(b, f, _LOGF_P), f), z)
    y = b.fadd(y, b.fmul(fe, _c(_LN2_LO)))
    y = b.fadd(y, b.fmul(z, _c(-0.5)))
    out = b.fadd(b.fadd(f, y), b.fmul(fe, _c(_LN2_HI)))
    return _log_specials(b, x, out, F32)


# Cephes' log (double): log(1 + f) = f - f²/2 + f³·P(f)/Q(f), Q monic
_LOG_P = [1.01875663804580931796e-4, 4.97494994976747001425e-1, 4.70579119878881725854e0,
          1.44989225341610930846e1, 1.79368678507819816313e1, 7.70838733755885391666e0]
_LOG_Q = [1.0, 1.12873587189167450590e1, 4.52279145837532221105e1, 8.29875266912776603211e1,
          7.11544750618563894466e1, 2.31251620126765340583e1]


def log_f64(b: ir.IRBuilder, module: ir.Module, x: ir.Value) -> ir.Value:
    """Cephes' log for doubles, its log(1 + f) rational form at every exponent, straight-line."""
    f, fe = _split(b, x, F64, 64, 52, 1023, 2.2250738585072014e-308)
    z = b.fmul(f, f)
    y = b.fmul(f, b.fdiv(b.fmul(z, _poly(b, f, _LOG_P, F64)), _poly(b, f, _LOG_Q, F64)))
    y = b.fsub(y, b.fmul(fe, _c(-_LN2_LO, F64)))
    y = b.fsub(y, b.fmul(z, _c(0.5, F64)))
    out = b.fadd(b.fadd(f, y), b.fmul(fe, _c(_LN2_HI, F64)))
    return _log_specials(b, x, out, F64)


# Cephes' exp (double): e^r = 1 + 2r·P(r²)/(Q(r²) - r·P(r²)) for |r| <= ln 2 / 2
_EXP_P = [1.26177193074810590878e-4, 3.02994407707441961300e-2, 9.99999999999999999910e-1]
_EXP_Q = [3.00198505138664455042e-6, 2.52448340349684104192e-3, 2.27265548208155028766e-1,
          2.00000000000000000009e0]


def exp_f64(b: ir.IRBuilder, module: ir.Module, x: ir.Value) -> ir.Value:
    """Cephes' exp for doubles, straight-line; 2^n as two normal factors, so denormal results are
    rounded once (as libm's) and the ends overflow to +inf and underflow to 0 by themselves."""
    from .scalar import function
    floor = function(module, "llvm.floor.f64", F64, [F64])
    hi, lo = 710.0, -746.0     # beyond: +inf and 0 whatever the reduction (e^709.79 overflows)
    xc = b.select(b.fcmp_ordered(">", x, _c(hi, F64)), _c(hi, F64),
                  b.select(b.fcmp_ordered("<", x, _c(lo, F64)), _c(lo, F64), x))
    n = b.call(floor, [b.fadd(b.fmul(xc, _c(1.4426950408889634073599, F64)), _c(0.5, F64))])
    r = b.fsub(b.fsub(xc, b.fmul(n, _c(6.93145751953125e-1, F64))), b.fmul(n, _c(1.42860682030941723212e-6, F64)))
    rr = b.fmul(r, r)
    p = b.fmul(r, _poly(b, rr, _EXP_P, F64))
    q = b.fdiv(p, b.fsub(_poly(b, rr, _EXP_Q, F64), p))
    y = b.fadd(_c(1.0, F64), b.fmul(_c(2.0, F64), q))
    out = _times_pow2(b, y, n, F64)
    return b.select(b.fcmp_unordered("!=", x, x), x, out)


# Cephes' tanh (double) below |x| = 0.625: x + x·z·P(z)/Q(z), z = x², Q monic
_TANH_P = [-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3]
_TANH_Q = [1.0, 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3]


def tanh_f64(b: ir.IRBuilder, module: ir.Module, x: ir.Value) -> ir.Value:
    """Cephes' tanh for doubles, straight-line: the rational form below |x| = 0.625, 1 − 2/(e^{2|x|} + 1)
    above (exp_f64; ±1 once e^{2|x|} overflows)."""
    from .scalar import function
    fabs = function(module, "llvm.fabs.f64", F64, [F64])
    copysign = function(module, "llvm.copysign.f64", F64, [F64, F64])
    a = b.call(fabs, [x])
    z = b.fmul(x, x)
    small = b.fadd(x, b.fmul(b.fmul(x, z), b.fdiv(_poly(b, z, _TANH_P, F64), _poly(b, z, _TANH_Q, F64))))
    s = exp_f64(b, module, b.fmul(a, _c(2.0, F64)))
    large = b.call(copysign, [b.fsub(_c(1.0, F64), b.fdiv(_c(2.0, F64), b.fadd(s, _c(1.0, F64)))), x])
    out = b.select(b.fcmp_ordered("<", a, _c(0.625, F64)), small, large)
    return b.select(b.fcmp_unordered("!=", x, x), x, out)


VECTOR = {("exp", "f32"): exp_f32, ("tanh", "f32"): tanh_f32, ("log", "f32"): log_f32,
          ("exp", "f64"): exp_f64, ("log", "f64"): log_f64, ("tanh", "f64"): tanh_f64}
