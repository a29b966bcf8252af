"""Binding a graph's size symbols (N, T, ...) from the concrete shapes of its inputs.

A backend is handed arrays, not symbols: before it can size a buffer it must
learn N and T from the input shapes, then compute every other size with
`eval_dim` (nnc/ir/types.py). `bind_symbols` does the first half for any
declared input shapes: an axis declared as a plain symbol binds it; an axis
declared as a polynomial with one unbound symbol of degree one (`2*T`,
`T + 1`, `N*T` once N is known) is solved for it; every other axis is
checked against the value its declaration evaluates to. A mismatch is a
`BindError` whose message names the input and the axis, in the words the
numpy interpreter's feed check has always used.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from .types import Dim, Sym, TensorType, eval_dim, shape_str, symbols_of

Declared = TensorType | Sequence[Dim]


class BindError(ValueError):
    """Input shapes that do not fit the declared ones (a clear message, meant for the user)."""


def bind_symbols(inputs: Sequence[tuple[str, Declared, Sequence[int]]],
                 known: Mapping[str, int] | None = None) -> dict[str, int]:
    """Symbol values from `(input name, declared type or shape, concrete shape)` triples.

    `known` gives symbols already bound (a caller's batch size). Plain-symbol
    axes are bound first, in input and axis order, so the first conflict is
    the one reported; then polynomial axes are solved or checked until no
    more progress is made. Raises BindError on a rank or size mismatch, on a
    size that no whole non-negative value of its symbol gives, and when a
    symbol appears only in axes it cannot be solved from.
    """
    env: dict[str, int] = dict(known or {})
    pending: list[tuple[str, str, int, Dim, int, tuple[int, ...]]] = []
    for name, declared, shape in inputs:
        dims = tuple(declared.shape) if isinstance(declared, TensorType) else tuple(declared)
        what = str(declared) if isinstance(declared, TensorType) else shape_str(dims)
        got = tuple(int(n) for n in shape)
        if len(got) != len(dims):
            raise BindError(f"input {name} must be {what} (rank {len(dims)}), found shape {list(got)}")
        for axis, (d, n) in enumerate(zip(dims, got)):
            if isinstance(d, int):
                if d != n:
                    raise BindError(f"input {name} must be {what}, found shape {list(got)} (axis {axis})")
            elif _plain_symbol(d) is not None:
                s = _plain_symbol(d)
                if env.setdefault(s, n) != n:
                    raise BindError(f"input {name}: {s} is {env[s]} elsewhere, {n} here")
            else:
                pending.append((name, what, axis, d, n, got))
    while pending:
        left = []
        for item in pending:
            name, what, axis, d, n, got = item
            unbound = symbols_of(d) - env.keys()
            if not unbound:
                if eval_dim(d, env) != n:
                    raise BindError(f"input {name} must be {what}, found shape {list(got)} "
                                    f"(axis {axis}: {d} is {eval_dim(d, env)})")
            elif len(unbound) == 1 and (solved := _solve(d, unbound.pop(), env, n)) is not None:
                s, value = solved
                if value is None:
                    raise BindError(f"input {name}: axis {axis} has size {n}, which {d} is for no whole {s}")
                env[s] = value
            else:
                left.append(item)
        if len(left) == len(pending):
            name, _, axis, d, n, _ = left[0]
            missing = ", ".join(sorted(symbols_of(d) - env.keys()))
            raise BindError(f"input {name}: cannot find {missing} from axis {axis} of size {n} ({d}); "
                            f"declare {missing} alone on some input axis")
        pending = left
    return env


def _plain_symbol(d: Dim) -> str | None:
    """The name when d is exactly one symbol (`T`), else None."""
    if isinstance(d, Sym) and len(d.terms) == 1:
        (m, c), = d.terms
        if c == 1 and len(m) == 1 and isinstance(m[0], str):
            return m[0]
    return None


def _atom_symbols(x) -> set[str]:
    return {x} if isinstance(x, str) else symbols_of(x.n)


def _atom_value(x, env: Mapping[str, int]) -> int:
    return env[x] if isinstance(x, str) else eval_dim(Sym((((x,), 1),)), env)


def _solve(d: Sym, s: str, env: Mapping[str, int], n: int) -> tuple[str, int | None] | None:
    """Solve d = n for s when d is a*s + b with a, b known (s to the first power, outside window counts).

    Returns None when d is not of that form, (s, None) when no whole value >= 0 fits, else (s, value).
    """
    a = b = 0
    for m, c in d.terms:
        if m.count(s) > 1 or any(s in _atom_symbols(x) for x in m if x != s):
            return None
        coeff = c
        for x in m:
            if x != s:
                coeff *= _atom_value(x, env)
        if s in m:
            a += coeff
        else:
            b += coeff
    if a == 0:
        return None
    value, rem = divmod(n - b, a)
    return (s, value) if rem == 0 and value >= 0 else (s, None)
