"""Element types and shapes whose dimensions are ints or symbolic polynomials (N, 2*T, N*T + 1).

A dimension is an `int` when known, else a `Sym`: a sum of monomials over
symbol names with integer coefficients. That is enough to flatten
[N, T, 16] into [N, 16*T], to concatenate [N, T1] and [N, T2] into
[N, T1 + T2], and to infer `-1` in a reshape. A size that polynomials cannot
express (a strided window over a symbolic axis) becomes an opaque atom whose
name is the formula, e.g. `(T - 3)//2 + 1`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

DTYPES = ("f32", "f64", "i32", "i64", "bool")
INT_DTYPES = ("i32", "i64")
FLOAT_DTYPES = ("f32", "f64")
DTYPE_BYTES = {"f32": 4, "f64": 8, "i32": 4, "i64": 8, "bool": 1}
MAX_DIM = 2**63 - 1

Monomial = tuple[str, ...]  # sorted symbol names, repeated for powers


@dataclass(frozen=True)
class Sym:
    terms: tuple[tuple[Monomial, int], ...]  # sorted, no zero coefficients, at least one non-constant

    def __str__(self) -> str:
        return dim_str(self)


Dim = Union[int, Sym]


def _make(terms: dict[Monomial, int]) -> Dim:
    clean = {m: c for m, c in terms.items() if c != 0}
    if not clean:
        return 0
    if set(clean) == {()}:
        return clean[()]
    return Sym(tuple(sorted(clean.items(), key=lambda mc: (-len(mc[0]), mc[0]))))


def _terms(d: Dim) -> dict[Monomial, int]:
    if isinstance(d, int):
        return {(): d} if d else {}
    return dict(d.terms)


def sym(name: str) -> Sym:
    return Sym((((name,), 1),))


def is_symbolic(d: Dim) -> bool:
    return isinstance(d, Sym)


def dim_add(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    t = _terms(a)
    for m, c in _terms(b).items():
        t[m] = t.get(m, 0) + c
    return _make(t)


def dim_neg(a: Dim) -> Dim:
    return -a if isinstance(a, int) else _make({m: -c for m, c in _terms(a).items()})


def dim_sub(a: Dim, b: Dim) -> Dim:
    return dim_add(a, dim_neg(b))


def dim_mul(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    out: dict[Monomial, int] = {}
    for ma, ca in _terms(a).items():
        for mb, cb in _terms(b).items():
            m = tuple(sorted(ma + mb))
            out[m] = out.get(m, 0) + ca * cb
    return _make(out)


def dim_prod(dims) -> Dim:
    out: Dim = 1
    for d in dims:
        out = dim_mul(out, d)
    return out


def dim_div_exact(a: Dim, b: Dim) -> Dim | None:
    """a / b when it divides exactly as polynomials, else None."""
    if isinstance(b, int):
        if b == 0:
            return None
        if isinstance(a, int):
            return a // b if a % b == 0 else None
        t = _terms(a)
        if all(c % b == 0 for c in t.values()):
            return _make({m: c // b for m, c in t.items()})
        return None
    # a symbolic divisor: only a single monomial divides, term by term
    if len(b.terms) != 1:
        return 1 if a == b else None
    (mb, cb), = b.terms
    out: dict[Monomial, int] = {}
    for m, c in _terms(a).items():
        rest = list(m)
        for s in mb:
            if s not in rest:
                return None
            rest.remove(s)
        if c % cb:
            return None
        out[tuple(rest)] = c // cb
    return _make(out)


def opaque(formula: str) -> Sym:
    """A size known only by its formula (a strided window over a symbolic axis)."""
    return sym(formula)


def substitute(d: Dim, mapping: dict[str, Dim]) -> Dim:
    """Replace symbols by dimensions (binding a model's N to its caller's batch)."""
    if isinstance(d, int):
        return d
    out: Dim = 0
    for m, c in d.terms:
        term: Dim = c
        for s in m:
            term = dim_mul(term, mapping.get(s, sym(s)))
        out = dim_add(out, term)
    return out


def symbols_of(d: Dim) -> set[str]:
    return set() if isinstance(d, int) else {s for m, _ in d.terms for s in m}


def eval_dim(d: Dim, value: int = 1) -> int:
    """The size with every symbol set to `value` (batch of one for statistics)."""
    if isinstance(d, int):
        return d
    return max(sum(c * value ** len(m) for m, c in d.terms), 0)


def _mono_str(m: Monomial) -> str:
    parts = []
    for s in sorted(set(m)):
        k = m.count(s)
        parts.append(s if k == 1 else f"{s}^{k}")
    return "*".join(parts)


def dim_str(d: Dim) -> str:
    if isinstance(d, int):
        return str(d)
    out = ""
    for i, (m, c) in enumerate(d.terms):
        body = _mono_str(m)
        if m == ():
            text = str(abs(c))
        elif abs(c) == 1:
            text = body
        else:
            text = f"{abs(c)}*{body}"
        if i == 0:
            out = ("-" if c < 0 else "") + text
        else:
            out += (" - " if c < 0 else " + ") + text
    return out


def shape_str(shape) -> str:
    return "[" + ", ".join(dim_str(d) for d in shape) + "]"


def shape_json(shape) -> list:
    return [d if isinstance(d, int) else dim_str(d) for d in shape]


@dataclass(frozen=True)
class TensorType:
    dtype: str
    shape: tuple[Dim, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    @property
    def is_int(self) -> bool:
        return self.dtype in INT_DTYPES

    def with_shape(self, shape) -> "TensorType":
        return TensorType(self.dtype, tuple(shape))

    def numel(self, batch: int = 1) -> int:
        n = 1
        for d in self.shape:
            n *= eval_dim(d, batch)
        return n

    def nbytes(self, batch: int = 1) -> int:
        return self.numel(batch) * DTYPE_BYTES[self.dtype]

    def __str__(self) -> str:
        return f"{self.dtype}{shape_str(self.shape)}"
