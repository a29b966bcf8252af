"""Element types and shapes whose dimensions are ints or symbolic polynomials (N, 2*T, N*T + 1).

A dimension is an `int` when known, else a `Sym`: a sum of monomials with
integer coefficients. That is enough to flatten [N, T, 16] into [N, 16*T],
to concatenate [N, T1] and [N, T2] into [N, T1 + T2], and to infer `-1` in
a reshape. A monomial multiplies atoms: symbol names, and `WindowCount`s,
the sizes polynomials cannot express (a strided window over a symbolic
axis, `(T + -3)//2 + 1`). Every size is a structured expression, so
`eval_dim` computes it from the symbols' values at run time; that is the
one evaluator every backend uses (`nnc.ir.bind` finds the values from the
input shapes).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Union

DTYPES = ("f32", "f64", "i32", "i64", "bool")
INT_DTYPES = ("i32", "i64")
FLOAT_DTYPES = ("f32", "f64")
DTYPE_BYTES = {"f32": 4, "f64": 8, "i32": 4, "i64": 8, "bool": 1}
MAX_DIM = 2**63 - 1

Atom = Union[str, "WindowCount"]  # a symbol name, or a size no polynomial expresses
Monomial = tuple[Atom, ...]  # sorted atoms (by `_atom_key`), repeated for powers


@dataclass(frozen=True)
class Sym:
    terms: tuple[tuple[Monomial, int], ...]  # sorted, no zero coefficients, at least one non-constant

    def __str__(self) -> str:
        return dim_str(self)


Dim = Union[int, Sym]


@dataclass(frozen=True)
class WindowCount:
    """`(n + offset)//stride + 1`: how many windows fit along a symbolic axis of size `n`.

    A strided convolution or pooling over a symbolic axis has this many output
    positions (offset = lo + hi - dilated kernel extent); `n` may itself be
    any size, another window count included, so nested windows stay exact.
    It prints as its formula, `(T + -3)//2 + 1`, and is one atom of a
    polynomial, so `8*((T + -3)//2 + 1)` after a flatten is still structured.
    Built only through `window_count`, which folds a known `n` to an int.
    """
    n: Dim
    offset: int
    stride: int

    def __str__(self) -> str:
        inner = f"{dim_str(self.n)} + {self.offset}" if self.offset else dim_str(self.n)
        return f"({inner})//{self.stride} + 1"


def window_count(n: Dim, offset: int, stride: int) -> Dim:
    """The size `(n + offset)//stride + 1`: an int when n is known, else a one-atom `Sym`."""
    if stride < 1:
        raise ValueError(f"window stride must be positive, got {stride}")
    if isinstance(n, int):
        return (n + offset) // stride + 1
    return Sym((((WindowCount(n, offset, stride),), 1),))


def _atom_key(a: Atom) -> str:
    """Atoms sort by their text: names, and window counts (which start with "(") before every name."""
    return a if isinstance(a, str) else str(a)


def _mono_key(m: Monomial) -> tuple[str, ...]:
    return tuple(_atom_key(a) for a in m)


def _make(terms: dict[Monomial, int]) -> Dim:
    clean = {m: c for m, c in terms.items() if c != 0}
    if not clean:
        return 0
    if set(clean) == {()}:
        return clean[()]
    return Sym(tuple(sorted(clean.items(), key=lambda mc: (-len(mc[0]), _mono_key(mc[0])))))


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
            m = tuple(sorted(ma + mb, key=_atom_key))
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


def substitute(d: Dim, mapping: Mapping[str, Dim]) -> Dim:
    """Replace symbols by dimensions (binding a model's N to its caller's batch), inside window counts too."""
    if isinstance(d, int):
        return d
    out: Dim = 0
    for m, c in d.terms:
        term: Dim = c
        for a in m:
            if isinstance(a, str):
                term = dim_mul(term, mapping.get(a, sym(a)))
            else:
                term = dim_mul(term, window_count(substitute(a.n, mapping), a.offset, a.stride))
        out = dim_add(out, term)
    return out


def symbols_of(d: Dim) -> set[str]:
    """The symbol names a size depends on, those inside window counts included."""
    out: set[str] = set()
    if isinstance(d, Sym):
        for m, _ in d.terms:
            for a in m:
                out |= {a} if isinstance(a, str) else symbols_of(a.n)
    return out


class UnboundSymbol(ValueError):
    """A size needs a symbol that the bindings do not give."""


def eval_dim(d: Dim, bindings: int | Mapping[str, int] = 1) -> int:
    """The size of `d` as an int: the one evaluator of symbolic sizes.

    With a mapping (symbol name -> size, e.g. from `nnc.ir.bind.bind_symbols`)
    the size is exact: polynomials and window counts, nested or not, are
    computed as the shape rules define them, so a backend sizes its buffers
    with this; a symbol missing from the mapping raises `UnboundSymbol`.
    With an int (default 1) it is the statistics convention of `nnc stats`:
    every atom, a symbol or a window count, is taken as that int and the
    result is clamped at 0 (a batch of one, every unknown size one).
    """
    if isinstance(d, int):
        return d
    if isinstance(bindings, int):
        return max(sum(c * bindings ** len(m) for m, c in d.terms), 0)
    missing = symbols_of(d) - bindings.keys()
    if missing:
        raise UnboundSymbol(f"size {dim_str(d)} needs a value for {', '.join(sorted(missing))}")
    return _exact(d, bindings)


def _exact(d: Dim, env: Mapping[str, int]) -> int:
    if isinstance(d, int):
        return d
    total = 0
    for m, c in d.terms:
        term = c
        for a in m:
            if isinstance(a, str):
                term *= env[a]
            else:
                term *= (_exact(a.n, env) + a.offset) // a.stride + 1
        total += term
    return total


def eval_shape(shape: Sequence[Dim], bindings: Mapping[str, int]) -> tuple[int, ...]:
    """Every size of a shape, exactly (see `eval_dim`)."""
    return tuple(eval_dim(d, bindings) for d in shape)


def _atom_str(a: Atom, bare: bool) -> str:
    """A window count stands bare only where nothing binds tighter around it; else it is parenthesised."""
    return a if isinstance(a, str) else str(a) if bare else f"({a})"


def _mono_str(m: Monomial, bare: bool = False) -> str:
    atoms = sorted(set(m), key=_atom_key)
    bare = bare and len(m) == 1
    parts = []
    for s in atoms:
        k = m.count(s)
        parts.append(_atom_str(s, bare) if k == 1 else f"{_atom_str(s, False)}^{k}")
    return "*".join(parts)


def dim_str(d: Dim) -> str:
    if isinstance(d, int):
        return str(d)
    out = ""
    for i, (m, c) in enumerate(d.terms):
        body = _mono_str(m, bare=(i == 0 and c == 1))
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
