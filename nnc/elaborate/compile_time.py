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


MAX_INT = 2**63 - 1  # compile-time ints are sizes and counts
MAX_ITEMS = 1_000_000  # characters of a string, items of a list built at compile time
MAX_SYM_TERMS = 256  # terms of a symbolic size (N*T + 2*N + 1 has three)
MAX_SYM_DEGREE = 16  # symbols multiplied in one term (N*N*T has degree three)


def shown(v) -> str:
    """A number for a message: very long ints are not spelled out."""
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 10**30:
        return f"a {len(str(abs(v))):,}-digit number"
    return str(v)


def _too_big(what: str, hint: str = "compile-time ints are sizes and counts, at most 2^63 - 1") -> CompileTimeError:
    return CompileTimeError(what, code="E0114", hint=hint)


def _check_sym(d, op: str):
    """A symbolic size that stays small: a few terms of low degree with coefficients that fit."""
    if isinstance(d, Sym):
        if len(d.terms) > MAX_SYM_TERMS or any(len(m) > MAX_SYM_DEGREE for m, _ in d.terms):
            raise _too_big(f"`{op}` makes a symbolic size too large to work with",
                           hint="symbolic sizes are sums of a few products of symbols")
        if any(abs(c) > MAX_INT for _, c in d.terms):
            raise _too_big(f"`{op}` makes a coefficient larger than 2^63 - 1")
    elif isinstance(d, int) and abs(d) > MAX_INT:
        raise _too_big(f"`{op}` gives {shown(d)}, larger than 2^63 - 1")
    return d


def _sym_size(d) -> tuple[int, int]:
    """(terms, degree) of an int or a symbolic size."""
    if isinstance(d, Sym):
        return len(d.terms), max(len(m) for m, _ in d.terms)
    return 1, 0


def arith(op: str, a, b):
    """a op b for compile-time values; raises CompileTimeError with a plain message.

    Results stay bounded, so that a compile-time loop that doubles a string or squares a number ends in
    a diagnostic, not in a machine out of memory: ints within 2^63 - 1, strings and lists within
    1,000,000 items, symbolic sizes within a few hundred terms.
    """
    if isinstance(a, Sym) or isinstance(b, Sym):
        if all(isinstance(v, (int, Sym)) and not isinstance(v, bool) for v in (a, b)):
            table = {"+": dim_add, "-": dim_sub, "*": dim_mul}
            if op in table:
                if op == "*":
                    (ta, da), (tb, db) = _sym_size(a), _sym_size(b)
                    if ta * tb > MAX_SYM_TERMS or da + db > MAX_SYM_DEGREE:
                        raise _too_big("`*` makes a symbolic size too large to work with",
                                       hint="symbolic sizes are sums of a few products of symbols")
                return _check_sym(table[op](a, b), op)
        raise CompileTimeError(f"`{op}` on a symbolic size is not supported here")
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        if len(a) + len(b) > MAX_ITEMS:
            raise CompileTimeError(f"this string would have {len(a) + len(b):,} characters, more than the "
                                   f"limit of {MAX_ITEMS:,}", code="E0112")
        return a + b
    if op == "+" and isinstance(a, list) and isinstance(b, list):
        if len(a) + len(b) > MAX_ITEMS:
            raise CompileTimeError(f"this list would have {len(a) + len(b):,} items, more than the "
                                   f"limit of {MAX_ITEMS:,}", code="E0112")
        return a + b
    if not (is_number(a) and is_number(b)):
        raise CompileTimeError(f"`{op}` needs numbers, found {describe(a)} and {describe(b)}")
    if op in ("/", "//", "%") and b == 0:
        raise CompileTimeError(f"division by zero: {shown(a)} {op} {shown(b)}", code="E0113")
    if isinstance(a, int) and isinstance(b, int) and op == "*" and a.bit_length() + b.bit_length() > 256:
        raise _too_big(f"`*` gives a number far larger than 2^63 - 1")
    try:
        result = _arith_numbers(op, a, b)
    except OverflowError:  # an int too large to meet a float
        raise _too_big(f"`{op}` on {shown(a)} and {shown(b)} does not fit a float",
                       hint="floats are at most about 1.8e308") from None
    if isinstance(result, int) and abs(result) > MAX_INT:
        raise _too_big(f"`{op}` gives {shown(result)}, larger than 2^63 - 1")
    return result


def _arith_numbers(op: str, a, b):
    if op == "/":
        if isinstance(a, int) and isinstance(b, int):
            if a % b:
                raise CompileTimeError(f"{shown(a)} / {shown(b)} is not a whole number", code="E0113",
                                       hint=f"use `//` for integer division ({shown(a)} // {shown(b)} = "
                                            f"{shown(a // b)}) or write a float ({shown(a)}.0 / {shown(b)})")
            return a // b
        return a / b
    if op in ("//", "%"):
        if not (isinstance(a, int) and isinstance(b, int)):
            raise CompileTimeError(f"`{op}` works on ints, found {describe(a)} and {describe(b)}")
        return a // b if op == "//" else a % b
    if op == "@":
        raise CompileTimeError("`@` multiplies tensors, not numbers")
    return {"+": operator.add, "-": operator.sub, "*": operator.mul}[op](a, b)


def power(a, b):
    """a ** b on compile-time numbers: an int for ints with a non-negative exponent, else a float."""
    if not (is_number(a) and is_number(b)):
        raise CompileTimeError(f"`**` needs numbers, found {describe(a)} and {describe(b)}")
    if isinstance(a, int) and isinstance(b, int) and b >= 0:
        if abs(a) > 1 and a.bit_length() * b > 256:
            raise _too_big("`**` gives a number far larger than 2^63 - 1")
        result = a ** b
        if abs(result) > MAX_INT:
            raise _too_big(f"`**` gives {shown(result)}, larger than 2^63 - 1")
        return result
    try:
        result = float(a) ** float(b)
    except ZeroDivisionError:
        raise CompileTimeError(f"division by zero: {shown(a)} ** {shown(b)}", code="E0113") from None
    except OverflowError:
        raise _too_big(f"`**` on {shown(a)} and {shown(b)} does not fit a float",
                       hint="floats are at most about 1.8e308") from None
    if isinstance(result, complex):
        raise CompileTimeError(f"{shown(a)} ** {shown(b)} is not a real number", code="E0113")
    return result


def compare(op: str, a, b) -> bool:
    if op in ("==", "!="):
        same = a == b and type(a) is type(b) or (is_number(a) and is_number(b) and a == b)
        return same if op == "==" else not same
    if not ((is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str))):
        raise CompileTimeError(f"`{op}` compares numbers, found {describe(a)} and {describe(b)}")
    return {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}[op](a, b)
