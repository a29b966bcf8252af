"""The initialiser of a `param` statement: `= normal(0.02)`, `= zeros`, `= 1.0`, ... as an init string.

The string is what nnc/init.py draws from: a kind, and after a colon its number when it has one
("normal:0.02", "uniform:0.1", "constant:1.5"). The initial value then depends only on the seed and the
parameter's stable name, like every layer's parameters.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..syntax import ast

# kind -> (its one argument, default; None when it takes none)
PARAM_INITS: dict[str, tuple[str, float] | None] = {
    "zeros": None, "ones": None, "normal": ("std", 1.0), "uniform": ("bound", 1.0), "constant": ("value", 0.0),
}
USAGE = "zeros, ones, normal(std), uniform(bound) for U(−bound, bound), constant(value) or a number"


@dataclass(frozen=True)
class InitProblem(Exception):
    code: str
    message: str
    span: object
    hint: str | None = None


def init_string(e, evaluate) -> str:
    """The init string of the expression after `=` (None: zeros); `evaluate` turns an argument's expression
    into its compile-time value. Raises InitProblem for anything else."""
    if e is None:
        return "zeros"
    if isinstance(e, ast.Name):
        func, args = e, ()
    elif isinstance(e, ast.Call) and isinstance(e.func, ast.Name):
        func, args = e.func, e.args
    else:
        value = evaluate(e)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"constant:{float(value)!r}"
        raise InitProblem("E0105", "a param's initialiser is " + USAGE, e.span)
    if func.id not in PARAM_INITS:
        from ..ops import suggest
        close = suggest(func.id, list(PARAM_INITS))
        raise InitProblem("E0102", f"unknown initialiser `{func.id}`", func.span,
                          f"did you mean `{close}`?" if close else "initialisers: " + USAGE)
    takes = PARAM_INITS[func.id]
    if takes is None:
        if args:
            raise InitProblem("E0104", f"{func.id} takes no arguments", args[0].span)
        return func.id
    name, default = takes
    if len(args) > 1:
        raise InitProblem("E0104", f"{func.id} takes one argument, `{name}`", args[1].span)
    if args and args[0].keyword not in (None, name):
        raise InitProblem("E0103", f"{func.id} has no argument `{args[0].keyword}`", args[0].keyword_span,
                          f"{func.id}({name})")
    value = evaluate(args[0].value) if args else default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InitProblem("E0105", f"{func.id}'s `{name}` must be a number", args[0].span)
    if name in ("std", "bound") and value < 0:
        raise InitProblem("E0207", f"{func.id}'s `{name}` must not be negative, found {value:g}", args[0].span)
    return f"{func.id}:{float(value)!r}"
