"""Philox-4x32-10 in LLVM IR, bit for bit nnc's layout (nnc/ops/_philox.py).

counter = (i mod 2^32, i >> 32, stream, step mod 2^32), key = (seed mod 2^32, seed >> 32); ten rounds
of two 32×32 → 64-bit multiplies; the first output word u gives (u >> 8) · 2^-24. Integer arithmetic
only, so the numpy oracle and this backend draw the same dropout masks. Straight-line code with no
calls: LLVM vectorises it inside the loop that draws a tensor.
"""
from __future__ import annotations

from llvmlite import ir

from ...ops._philox import M0, M1, ROUNDS, W0, W1
from .emit import F32, I32, I64, KernelBuilder

_SHIFT = ir.Constant(I64, 32)


def _i32(v: int) -> ir.Constant:
    """A 32-bit constant written as the signed number of the same bits (what LLVM's parser wants)."""
    v &= 0xFFFFFFFF
    return ir.Constant(I32, v - (1 << 32) if v >= 1 << 31 else v)


def _mulhilo(b: ir.IRBuilder, m: int, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    p = b.mul(ir.Constant(I64, m), b.zext(x, I64))
    return b.trunc(b.lshr(p, _SHIFT), I32), b.trunc(p, I32)


def uniform(k: KernelBuilder, i: ir.Value, key: ir.Value, counter: ir.Value, stream: int, dtype: str) -> ir.Value:
    """The uniform number of element `i` (an i64) for the i64 `key` and `counter`, as `dtype`."""
    b = k.b
    c0, c1 = b.trunc(i, I32), b.trunc(b.lshr(i, _SHIFT), I32)
    c2, c3 = _i32(stream), b.trunc(counter, I32)
    k0, k1 = b.trunc(key, I32), b.trunc(b.lshr(key, _SHIFT), I32)
    for r in range(ROUNDS):
        if r:
            k0 = b.add(k0, _i32(W0))
            k1 = b.add(k1, _i32(W1))
        hi0, lo0 = _mulhilo(b, M0, c0)
        hi1, lo1 = _mulhilo(b, M1, c2)
        c0, c1, c2, c3 = b.xor(b.xor(hi1, c1), k0), lo1, b.xor(b.xor(hi0, c3), k1), lo0
    u = b.uitofp(b.lshr(c0, ir.Constant(I32, 8)), F32)
    u = b.fmul(u, ir.Constant(F32, 2.0 ** -24))
    return u if dtype == "f32" else b.fpext(u, ir.DoubleType())
