"""Sizes known only at run time: `Poly`, a polynomial over the graph's size symbols, and `NeedsConcrete`.

The LLVM backend compiles one code for every batch size: a dimension in the loop layer (loops.py) is an
`int` or a `Poly` (integer coefficients over monomials of symbol names: `N`, `8*N*T + 3`), and emit.py
turns a `Poly` into IR computed from the symbol values the entry point receives. A `Poly` supports `+`,
`-`, `*` with ints and with each other, exact equality (a `Poly` is never equal to an int: it is
normalised to an int when constant) and `evaluate(bindings)`.

Python code that *decides* from a size must not silently pick one answer for every binding: ordering
comparisons, `bool`, `//`, `%`, `int()` and `range()` of a `Poly` raise `NeedsConcrete`, naming the symbol;
the executable then specialises that symbol (compiles one variant per value of it, as before run-time
sizes). Decisions that stay correct whatever the binding (a tile shape, whether to pack an operand) may
use `hint(d)`, the size at a representative binding (every symbol = HINT); bounds that matter for
correctness are emitted as run-time tests. Loop variables of run-time loops are symbols too (`@s0`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Union

HINT = 64  # the representative value of every run-time symbol, for decisions that only affect speed

Monomial = tuple[str, ...]  # sorted symbol names, repeated for powers


class NeedsConcrete(Exception):
    """Lowering needs the value of `symbol` (a decision no run-time code was written for): specialise it."""

    def __init__(self, symbol: str, why: str):
        super().__init__(f"{why} needs the value of {symbol}")
        self.symbol, self.why = symbol, why


def _make(terms: dict[Monomial, int]) -> "Dim":
    clean = {m: c for m, c in terms.items() if c != 0}
    if not clean:
        return 0
    if set(clean) == {()}:
        return clean[()]
    return Poly(tuple(sorted(clean.items(), key=lambda mc: (-len(mc[0]), mc[0]))))


def _terms(d: "Dim") -> dict[Monomial, int]:
    if isinstance(d, Poly):
        return dict(d.terms)
    return {(): int(d)} if d else {}


@dataclass(frozen=True)
class Poly:
    """sum of coefficient · product of symbols; `terms` are (monomial, coefficient), sorted, no constant-only
    Poly (that is an int). Inspectable by the C library: `terms` is plain tuples of names and ints."""

    terms: tuple[tuple[Monomial, int], ...]

    @staticmethod
    def symbol(name: str) -> "Poly":
        return Poly((((name,), 1),))

    # -- arithmetic ---------------------------------------------------------------------------------
    def __add__(self, other: "Dim") -> "Dim":
        if not isinstance(other, (int, Poly)):
            return NotImplemented
        t = _terms(self)
        for m, c in _terms(other).items():
            t[m] = t.get(m, 0) + c
        return _make(t)

    __radd__ = __add__

    def __neg__(self) -> "Dim":
        return _make({m: -c for m, c in self.terms})

    def __sub__(self, other: "Dim") -> "Dim":
        if not isinstance(other, (int, Poly)):
            return NotImplemented
        return self + (-other)

    def __rsub__(self, other: "Dim") -> "Dim":
        return (-self) + other

    def __mul__(self, other: "Dim") -> "Dim":
        if not isinstance(other, (int, Poly)):
            return NotImplemented
        out: dict[Monomial, int] = {}
        for ma, ca in _terms(self).items():
            for mb, cb in _terms(other).items():
                m = tuple(sorted(ma + mb))
                out[m] = out.get(m, 0) + ca * cb
        return _make(out)

    __rmul__ = __mul__

    def exact_div(self, k: int) -> "Dim":
        """self / k when every coefficient divides (a size split into equal parts), else NeedsConcrete."""
        if all(c % k == 0 for _, c in self.terms):
            return _make({m: c // k for m, c in self.terms})
        raise NeedsConcrete(self.first(), f"dividing {self} by {k}")

    # -- what it is -------------------------------------------------------------------------------------
    def symbols(self) -> set[str]:
        return {s for m, _ in self.terms for s in m}

    def first(self) -> str:
        return min(self.symbols())

    def evaluate(self, bindings: Mapping[str, int]) -> int:
        total = 0
        for m, c in self.terms:
            for s in m:
                c *= bindings[s]
            total += c
        return total

    def __str__(self) -> str:
        parts = []
        for m, c in self.terms:
            mono = "*".join(m)
            if not m:
                parts.append(str(c))
            elif c == 1:
                parts.append(mono)
            elif c == -1:
                parts.append("-" + mono)
            else:
                parts.append(f"{c}*{mono}")
        return " + ".join(parts).replace("+ -", "- ")

    __repr__ = __str__

    # -- decisions a Poly cannot make -----------------------------------------------------------------
    def _refuse(self, what: str):
        raise NeedsConcrete(self.first(), what)

    def __lt__(self, other):
        self._refuse(f"comparing {self}")

    __le__ = __gt__ = __ge__ = __lt__

    def __bool__(self):
        self._refuse(f"testing {self} for zero")

    def __index__(self):
        self._refuse(f"using {self} as a Python int")

    __int__ = __index__

    def __floordiv__(self, other):
        if isinstance(other, int) and other > 0:
            return self.exact_div(other)
        self._refuse(f"dividing {self}")

    def __mod__(self, other):
        self._refuse(f"{self} modulo {other}")

    __rfloordiv__ = __rmod__ = __divmod__ = __rdivmod__ = __mod__


Dim = Union[int, Poly]


def is_poly(d: object) -> bool:
    return isinstance(d, Poly)


def evaluate(d: Dim, bindings: Mapping[str, int]) -> int:
    """d at a binding of its symbols (an int stays itself)."""
    return d.evaluate(bindings) if isinstance(d, Poly) else int(d)


def hint(d: Dim) -> int:
    """d at the representative binding (every symbol HINT): for choices that only affect speed."""
    return d.evaluate(_Hint()) if isinstance(d, Poly) else int(d)


class _Hint(dict):
    def __missing__(self, key):
        return HINT


def symbols(*ds: Dim) -> set[str]:
    out: set[str] = set()
    for d in ds:
        if isinstance(d, Poly):
            out |= d.symbols()
    return out


def difference(a: Dim, b: Dim) -> int | None:
    """a - b when it is the same for every binding (an int), else None."""
    d = a - b
    return d if isinstance(d, int) else None


def of_graph(d, bindings: Mapping[str, Dim]) -> Dim:
    """A graph dimension (nnc.ir.types: int or Sym) with its symbols replaced by `bindings` (ints for
    specialised symbols, `Poly.symbol(name)` for run-time ones). A window count over a run-time symbol
    (a strided window along a symbolic axis) has no polynomial: NeedsConcrete."""
    from ...ir.types import Sym, UnboundSymbol, eval_dim, symbols_of
    if isinstance(d, int):
        return d
    names = symbols_of(d)
    missing = names - bindings.keys()
    if missing:
        raise UnboundSymbol(f"size {d} needs a value for {', '.join(sorted(missing))}")
    if all(isinstance(bindings[s], int) for s in names):
        return eval_dim(d, {s: bindings[s] for s in names})
    total: Dim = 0
    for m, c in d.terms:
        term: Dim = c
        for a in m:
            if not isinstance(a, str):
                free = sorted(s for s in symbols_of(a.n) if not isinstance(bindings[s], int))
                if free:
                    raise NeedsConcrete(free[0], f"the window count {a}")
                term = term * eval_dim(Sym(((((a,), 1),))), {s: bindings[s] for s in symbols_of(a.n)})
            else:
                term = term * bindings[a]
        total = total + term
    return total

