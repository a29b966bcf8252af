"""Checking and normalising compile-time arguments by kind.

A kind names what an argument accepts; `normalize` turns the program's
value into the plain data stored in IR attributes, or raises AttrError with
a message that names what was expected and what was found.
"""
from __future__ import annotations


class AttrError(Exception):
    def __init__(self, message: str, code: str = "E0105", hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint


def describe(value) -> str:
    if isinstance(value, bool):
        return f"the bool `{'true' if value else 'false'}`"
    if isinstance(value, int):
        return f"the int `{value}`"
    if isinstance(value, float):
        return f"the float `{value:g}`"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, (list, tuple)):
        return "a list"
    return getattr(value, "describe", lambda: type(value).__name__)()


def _int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        hint = None
        if isinstance(value, float) and value.is_integer():
            hint = f"write `{int(value)}`"
        raise AttrError(f"{what} must be an int, found {describe(value)}", hint=hint)
    return value


def _positive(value, what: str) -> int:
    v = _int(value, what)
    if v <= 0:
        raise AttrError(f"{what} must be positive, found {v}", code="E0207")
    return v


def _nonneg(value, what: str) -> int:
    v = _int(value, what)
    if v < 0:
        raise AttrError(f"{what} must not be negative, found {v}", code="E0207")
    return v


def _float(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AttrError(f"{what} must be a number, found {describe(value)}")
    return float(value)


def _int_or_list(value, what: str, each) -> int | tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        if not value:
            raise AttrError(f"{what} must not be an empty list")
        return tuple(each(v, what) for v in value)
    return each(value, what)


def _side_pair(value, what: str):
    """One axis of padding: an int (both sides) or [lo, hi] (padding given per side)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise AttrError(f"{what} per side must be [before, after] for each axis, found a list of {len(value)}",
                            code="E0203")
        return tuple(_nonneg(v, what) for v in value)
    return _nonneg(value, what)


def normalize(kind: str, value, what: str):
    """Check `value` against `kind`; return the plain value stored in the IR."""
    if kind == "any":
        return value
    if kind == "int":
        return _int(value, what)
    if kind == "pos_int":
        return _positive(value, what)
    if kind == "nonneg_int":
        return _nonneg(value, what)
    if kind == "float":
        return _float(value, what)
    if kind == "nonneg_float":
        v = _float(value, what)
        if v < 0:
            raise AttrError(f"{what} must not be negative, found {v:g}", code="E0207")
        return v
    if kind == "pos_float":
        v = _float(value, what)
        if v <= 0:
            raise AttrError(f"{what} must be positive, found {v:g}", code="E0207")
        return v
    if kind == "prob":
        v = _float(value, what)
        if not 0.0 <= v < 1.0:
            raise AttrError(f"{what} must be in [0, 1), found {v:g}", code="E0207")
        return v
    if kind == "unit_float":
        v = _float(value, what)
        if not 0.0 <= v <= 1.0:
            raise AttrError(f"{what} must be in [0, 1], found {v:g}", code="E0207")
        return v
    if kind == "bool":
        if not isinstance(value, bool):
            raise AttrError(f"{what} must be `true` or `false`, found {describe(value)}")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise AttrError(f"{what} must be a string, found {describe(value)}")
        return value
    if kind.startswith("choice:"):
        choices = kind[len("choice:"):].split("|")
        if value not in choices:
            listed = ", ".join(f'"{c}"' for c in choices)
            raise AttrError(f"{what} must be one of {listed}, found {describe(value)}")
        return value
    if kind == "window":
        return _int_or_list(value, what, _positive)
    if kind == "nonneg_window":
        return _int_or_list(value, what, _nonneg)
    if kind == "padding":
        if isinstance(value, str):
            if value not in ("same", "same_lower", "valid"):
                raise AttrError(f'{what} must be an int, a list of ints, [[lo, hi], ...], "same", "same_lower" or '
                                f'"valid", found {describe(value)}')
            return value
        return _int_or_list(value, what, _side_pair)
    if kind == "axis":
        return _int(value, what)
    if kind == "axes":
        if value is None:
            return None
        return _int_or_list(value, what, _int)
    if kind == "ints":
        if not isinstance(value, (list, tuple)):
            raise AttrError(f"{what} must be a list of ints, found {describe(value)}")
        return tuple(_int(v, what) for v in value)
    raise ValueError(f"unknown attribute kind {kind!r}")
