"""The loop-level layer between the graph and LLVM IR: buffers, index expressions and kernels.

Everything here is plain Python data whose sizes are ints or run-time polynomials over the graph's size
symbols (`dims.Poly`: `N`, `8*N`), so one lowering serves every batch size, and it can be planned (which
buffer lives where in the arena, as a function of the binding) before a line of LLVM IR is written.
Shapes, strides, offsets, `numel` and `Buf.nbytes` may all be such polynomials. An `Expr` says how
to compute one element of a tensor at an index tuple: a `Load` from a
buffer through strides (transpose, broadcast, slice and reverse are only new strides), an elementwise
`Map` of other expressions, a constant, an index (`Iota`), a padded view, or a Philox draw. A `Kernel`
materialises an expression into a buffer: `Store` (a loop nest over the output, so a whole chain of
elementwise ops is one loop), `Reduce` (sum, max, argmax over axes, the source fused in), `Matmul`.
Elementwise and reduction code is thus written once, in emit.py, not per op (as TVM's TE or
tinygrad's kernels).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .dims import Dim, NeedsConcrete, Poly

DTYPE_BYTES = {"f32": 4, "f64": 8, "i32": 4, "i64": 8, "bool": 1}


def contiguous_strides(shape: tuple[Dim, ...]) -> tuple[Dim, ...]:
    """Row-major strides, in elements."""
    out, n = [], 1
    for d in reversed(shape):
        out.append(n)
        n *= d
    return tuple(reversed(out))


def numel(shape: tuple[Dim, ...]) -> Dim:
    n: Dim = 1
    for d in shape:
        n *= d
    return n


@dataclass(eq=False)
class Buf:
    """A materialised tensor: an argument slot of the entry point (`arg`), or a place in the arena."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    arg: int | None = None        # index in the entry point's pointer array
    offset: int | None = None     # byte offset in the arena (scratch buffers), set by the planner

    @property
    def nbytes(self) -> Dim:
        """Bytes at a binding (a Poly when a size is symbolic; the planner gives every buffer >= 1 byte)."""
        n = numel(self.shape)
        return n * DTYPE_BYTES[self.dtype] if isinstance(n, Poly) else max(n, 1) * DTYPE_BYTES[self.dtype]

    def load(self) -> "Load":
        return Load(self, self.shape, contiguous_strides(self.shape), 0)


class Expr:
    """One element of a tensor as a function of its index; `dtype` and concrete `shape`."""

    dtype: str
    shape: tuple[int, ...]


@dataclass(eq=False)
class Load(Expr):
    buf: Buf
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    offset: int

    @property
    def dtype(self) -> str:
        return self.buf.dtype

    @property
    def contiguous(self) -> bool:
        """Row-major for every binding (axes of size 1 have any stride; a symbolic size may be 1 or not,
        so its stride must match)."""
        n = numel(self.shape)
        if isinstance(n, int) and n <= 1:
            return True
        want = contiguous_strides(self.shape)
        return all(s == w for d, s, w in zip(self.shape, self.strides, want) if not (isinstance(d, int) and d == 1))


@dataclass(eq=False)
class Const(Expr):
    value: float | int | bool
    dtype: str
    shape: tuple[int, ...] = ()


@dataclass(eq=False)
class Map(Expr):
    """An elementwise op of same-shaped arguments (`op` names an entry of emit.py's scalar table)."""

    op: str
    args: tuple[Expr, ...]
    dtype: str
    shape: tuple[int, ...]
    attrs: dict = field(default_factory=dict)


@dataclass(eq=False)
class Affine(Expr):
    """src at index  const + mat · out_index  (one row of `mat` per axis of src)."""

    src: Expr
    shape: tuple[int, ...]
    mat: tuple[tuple[int, ...], ...]
    const: tuple[int, ...]

    @property
    def dtype(self) -> str:
        return self.src.dtype


@dataclass(eq=False)
class Pad(Expr):
    """src at out_index − lo where that lies inside src, else `value` (negative lo/hi are crops)."""

    src: Expr
    shape: tuple[int, ...]
    lo: tuple[int, ...]
    value: float

    @property
    def dtype(self) -> str:
        return self.src.dtype


@dataclass(eq=False)
class Window(Expr):
    """Sliding windows: q = const + mat · out_index per axis of src; where `dil` > 1 (an input dilation)
    only multiples of dil are real, at q / dil; src there when inside it, else `fill` (padding)."""

    src: Expr
    shape: tuple[int, ...]
    mat: tuple[tuple[int, ...], ...]
    const: tuple[int, ...]
    dil: tuple[int, ...]
    fill: float

    @property
    def dtype(self) -> str:
        return self.src.dtype


@dataclass(eq=False)
class Gather(Expr):
    """table[ids[i...], j...] (rows along axis 0). An id outside the table writes `check` into the
    `status` buffer (the executable turns it into a RunError) and reads row 0 instead."""

    table: Expr
    ids: Expr
    shape: tuple[int, ...]
    status: Buf
    check: int

    @property
    def dtype(self) -> str:
        return self.table.dtype


@dataclass(eq=False)
class Iota(Expr):
    shape: tuple[int, ...]
    axis: int
    dtype: str = "i64"


@dataclass(eq=False)
class Random(Expr):
    """Philox-4x32-10 uniforms in [0, 1) by nnc's layout (nnc/ops/_philox.py), element i row-major."""

    key: Expr
    counter: Expr
    stream: int
    shape: tuple[int, ...]
    dtype: str


def view(x: Expr, shape: tuple[Dim, ...], mat, const) -> Expr:
    """x re-indexed: element j of the result is x[const + mat·j]; folded into strides where x is a Load."""
    mat = tuple(tuple(r) for r in mat)
    const = tuple(const)
    if isinstance(x, Load):
        strides = tuple(sum(x.strides[d] * mat[d][j] for d in range(len(x.shape))) for j in range(len(shape)))
        return Load(x.buf, tuple(shape), strides, x.offset + sum(s * c for s, c in zip(x.strides, const)))
    if isinstance(x, Const):
        return Const(x.value, x.dtype, tuple(shape))
    if isinstance(x, Affine):
        inner = x.mat
        m2 = tuple(tuple(sum(inner[d][k] * mat[k][j] for k in range(len(mat))) for j in range(len(shape)))
                   for d in range(len(inner)))
        c2 = tuple(x.const[d] + sum(inner[d][k] * const[k] for k in range(len(const))) for d in range(len(inner)))
        return Affine(x.src, tuple(shape), m2, c2)
    return Affine(x, tuple(shape), mat, const)


def transpose(x: Expr, perm: tuple[int, ...]) -> Expr:
    r = len(perm)
    mat = [[0] * r for _ in range(r)]
    for j, p in enumerate(perm):
        mat[p][j] = 1
    return view(x, tuple(x.shape[p] for p in perm), mat, [0] * r)


def broadcast(x: Expr, shape: tuple[int, ...]) -> Expr:
    """NumPy broadcasting of x to `shape` (axes aligned at the right)."""
    if tuple(x.shape) == tuple(shape):
        return x
    r, q = len(x.shape), len(shape)
    mat = [[0] * q for _ in range(r)]
    for d in range(r):
        if x.shape[d] != 1:
            mat[d][d + q - r] = 1
    return view(x, tuple(shape), mat, [0] * r)


def slice_axis(x: Expr, axis: int, start, end, step: int) -> Expr:
    n = x.shape[axis]
    if isinstance(n, Poly) or isinstance(start, Poly) or isinstance(end, Poly):
        start, size = _symbolic_slice(n, start, end, step)
    else:
        start, end, step = slice(start, end, step).indices(n)
        size = len(range(start, end, step))
    return sub_axis(x, axis, start, size, step)


def _symbolic_slice(n: Dim, start, end, step: int) -> tuple[Dim, Dim]:
    """(start, size) of x[start:end:step] along an axis of symbolic size: the forms whose bounds need no
    clamping (0 <= start <= end <= n, step 1); anything else specialises the symbol."""
    start = 0 if start is None else start
    end = n if end is None else end
    if step == 1 and not (isinstance(start, int) and start < 0) and not (isinstance(end, int) and end < 0):
        return start, end - start
    sym = next(iter(sorted(d.symbols())) for d in (n, start, end) if isinstance(d, Poly))
    raise NeedsConcrete(sym, f"slice [{start}:{end}:{step}] of an axis of size {n}")


def sub_axis(x: Expr, axis: int, start: Dim, size: Dim, step: int = 1) -> Expr:
    """x[..., start : start + size·step : step, ...] along `axis`, bounds already known to be inside."""
    r = len(x.shape)
    mat = [[int(d == j) for j in range(r)] for d in range(r)]
    mat[axis][axis] = step
    const = [0] * r
    const[axis] = start
    shape = list(x.shape)
    shape[axis] = size
    return view(x, tuple(shape), mat, const)


def reverse(x: Expr, axes: tuple[int, ...]) -> Expr:
    r = len(x.shape)
    mat = [[int(d == j) for j in range(r)] for d in range(r)]
    const = [0] * r
    for a in axes:
        mat[a][a] = -1
        const[a] = x.shape[a] - 1
    return view(x, x.shape, mat, const)


def _children(x: Expr) -> tuple[Expr, ...]:
    if isinstance(x, Map):
        return tuple(x.args)
    if isinstance(x, (Affine, Pad, Window)):
        return (x.src,)
    if isinstance(x, Random):
        return (x.key, x.counter)
    if isinstance(x, Gather):
        return (x.table, x.ids)
    return ()


def nodes(x: Expr) -> list[Expr]:
    """Every node of an expression once, parents before children. Expressions are DAGs (a fused chain
    reads a value in several places), so a walk without this memo is exponential in the chain's depth."""
    seen: set[int] = set()
    out: list[Expr] = []
    stack = [x]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        out.append(e)
        stack.extend(reversed(_children(e)))
    return out


def leaves(x: Expr) -> list[Buf]:
    """Every buffer an expression reads, once each."""
    out: list[Buf] = []
    for e in nodes(x):
        found = [e.buf] if isinstance(e, Load) else [e.status] if isinstance(e, Gather) else []
        out += [b for b in found if all(b is not o for o in out)]
    return out


def cost(x: Expr) -> int:
    """A rough count of scalar operations per element (each shared node once, as emission computes it
    once): what recomputing x in a broadcast would cost."""
    total = 0
    for e in nodes(x):
        if isinstance(e, Map):
            total += 1
        elif isinstance(e, (Affine, Pad, Window)):
            total += 1
        elif not isinstance(e, (Load, Const, Iota)):
            return 50
    return total


@dataclass(eq=False)
class StepLoop:
    """A run-time loop of the entry point (a recurrent layer's steps): the kernels tagged with it run, in
    order, `count` times, with the loop variable `var` (a symbol of the sizes array, `@s0`) = 0, 1, ...
    Their offsets may use `var`; the buffers they touch live across the whole loop (plan.py)."""

    var: str
    count: Dim


class Kernel:
    """A loop nest that writes one buffer (`target`, a Load naming where) and reads `reads()`."""

    target: Load
    origin: str = ""
    nodes: tuple = ()  # the graph nodes fused into it (set by the lowering; `nnc compile --explain`)
    loop: StepLoop | None = None  # set by the lowering for the kernels of a run-time step loop
    when: tuple | None = None     # (size, least): the kernel runs only when size >= least (a packing copy)

    def reads(self) -> list[Buf]:
        raise NotImplementedError

    def targets(self) -> tuple[Load, ...]:
        """Every place the kernel writes (a Store's `more` targets too)."""
        return (self.target,)


@dataclass(eq=False)
class Store(Kernel):
    """target[i] = expr[i] over the target's index space; `more` holds further (target, expr) pairs over
    the same space, computed and stored in the same loop (an optimiser's new values: fuse.py). Their
    targets count among `reads()` (what the kernel touches besides `target`: liveness, arguments)."""

    target: Load
    expr: Expr
    origin: str = ""
    more: tuple = ()

    def reads(self) -> list[Buf]:
        out = leaves(self.expr)
        for t, x in self.more:
            out += [t.buf] + leaves(x)
        return out

    @property
    def stores(self) -> tuple:
        """Every (target, expr) pair, `target` first."""
        return ((self.target, self.expr),) + tuple(self.more)

    def targets(self) -> tuple[Load, ...]:
        return (self.target,) + tuple(t for t, _ in self.more)


@dataclass(eq=False)
class Reduce(Kernel):
    """target[kept index] = kind over `axes` of src (kind: sum, max, argmax); target has the kept axes only."""

    target: Load
    src: Expr
    axes: tuple[int, ...]
    kind: str
    origin: str = ""

    def reads(self) -> list[Buf]:
        return leaves(self.src)


@dataclass(eq=False)
class Matmul(Kernel):
    """target[..., i, j] = sum_k a[..., i, k] · b[..., k, j]; batch axes already broadcast by strides.
    With `alt`: b is a packed copy of alt made only when `packed` = (size, least) holds at run time;
    otherwise the product reads alt."""

    target: Load
    a: Load
    b: Load
    origin: str = ""
    alt: Load | None = None
    packed: tuple | None = None

    def reads(self) -> list[Buf]:
        return [self.a.buf, self.b.buf] + ([self.alt.buf] if self.alt is not None else [])


@dataclass(eq=False)
class WindowPick(Kernel):
    """Max pooling's winners: per window of x (first maximum, NaN first, padding never wins),
    `select` writes h at the winner to target[n, c, window]; `scatter` adds g[n, c, window] to
    target[n, c, winner] (target zeroed first). x, h and a scatter's target are contiguous."""

    target: Load
    x: Load
    other: Load          # h (select) or g (scatter)
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    lo: tuple[int, ...]
    mode: str
    origin: str = ""

    def reads(self) -> list[Buf]:
        return [self.x.buf, self.other.buf]


@dataclass(eq=False)
class ScatterRows(Kernel):
    """target[ids[i...], j...] += up[i..., j...], in order (repeated ids accumulate); bad ids as Gather."""

    target: Load
    ids: Expr
    up: Expr
    status: Buf
    check: int
    origin: str = ""

    def reads(self) -> list[Buf]:
        return leaves(self.ids) + leaves(self.up) + [self.status]
