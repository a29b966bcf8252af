"""Arithmetic, comparison and indexing on compile-time values (ints, floats, bools, strings, lists)."""
from __future__ import annotations

import operator

from ..ir.types import Sym, dim_add, dim_mul, dim_sub
from ..ops.attrs import describe


class CompileTimeError(Exception):
    def __init__(self, message: str, code: str = "E0105", hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def arith(op: str, a, b):
    """a op b for compile-time values; raises CompileTimeError with a plain message."""
    if isinstance(a, Sym) or isinstance(b, Sym):
        if all(isinstance(v, (int, Sym)) and not isinstance(v, bool) for v in (a, b)):
            table = {"+": dim_add, "-": dim_sub, "*": dim_mul}
            if op in table:
                return table[op](a, b)
        raise CompileTimeError(f"`{op}` on a symbolic size is not supported here")
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if op == "+" and isinstance(a, list) and isinstance(b, list):
        return a + b
    if not (is_number(a) and is_number(b)):
        raise CompileTimeError(f"`{op}` needs numbers, found {describe(a)} and {describe(b)}")
    if op in ("/", "//", "%") and b == 0:
        raise CompileTimeError(f"division by zero: {a} {op} {b}", code="E0113")
    if op == "/":
        if isinstance(a, int) and isinstance(b, int):
            if a % b:
                raise CompileTimeError(f"{a} / {b} is not a whole number", code="E0113",
                                       hint=f"use `//` for integer division ({a} // {b} = {a // b}) "
                                            f"or write a float ({a}.0 / {b})")
            return a // b
        return a / b
    if op in ("//", "%"):
        if not (isinstance(a, int) and isinstance(b, int)):
            raise CompileTimeError(f"`{op}` works on ints, found {describe(a)} and {describe(b)}")
        return a // b if op == "//" else a % b
    if op == "@":
        raise CompileTimeError("`@` multiplies tensors, not numbers")
    return {"+": operator.add, "-": operator.sub, "*": operator.mul}[op](a, b)


def compare(op: str, a, b) -> bool:
    if op in ("==", "!="):
        same = a == b and type(a) is type(b) or (is_number(a) and is_number(b) and a == b)
        return same if op == "==" else not same
    if not ((is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise CompileTimeError(f"`{op}` compares numbers, found {describe(a)} and {describe(b)}")
    return {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op](a, b)
