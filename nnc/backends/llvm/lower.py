"""The lowering table: each primitive → loop-level expressions and kernels (loops.py).

A graph is lowered once for every binding of its run-time size symbols: `bindings` maps each symbol to
`dims.Poly.symbol(name)` (a size known at run time) or to an int (a symbol the executable specialised),
and every shape becomes an int or a polynomial (`dims.of_graph`). A decision the lowering cannot make for
every binding raises `dims.NeedsConcrete`; choices that only affect speed use `dims.hint`.

Each node's result starts lazy (an index expression); it is materialised into a buffer only when it
must be: it is a graph output, it has more than one use, or its consumer needs memory (matmul, a
reshape of a non-contiguous view). So `dense + bias + relu`, a softmax's `x - max`, a dropout mask
from Philox and each new value of an optimiser update become one loop, and transpose, broadcast, slice
and reverse are only strides.

`LOWERINGS` is the table; `unsupported(graph)` (supported.py, which the backend imports without this
module) names the first node it cannot lower (the backend refuses at compile time with the op and its
`.nn` line).
"""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager
from typing import Callable, Iterator

from ...ir.graph import Graph, Node
from . import loops as L
from .dims import Dim, Poly, hint, of_graph
from .loops import Buf, Const, Expr, Kernel, Load, Map, Matmul, Reduce, Store
from .conv_forward import LOWERINGS as WINOGRAD_LOWERINGS
from .lower_conv import lower_conv
from .lower_pool import lower_pool_backward, lower_reduce_window, window_pick
from .recurrent import lower_recurrent, lower_recurrent_backward
from .supported import BINARY, UNARY, where


class Lowering:
    """Walks a graph once, building kernels and buffers; `value_of` gives a node input's expression."""

    def __init__(self, graph: Graph, bindings: dict[str, Dim], inputs: dict[int, Buf],
                 outputs: dict[int, list[Buf]], status: Buf | None = None):
        self.graph = graph
        self.status = status or Buf("status", "i64", (1,))
        self.checks: list[str] = []  # what a status value k > 0 means: checks[k - 1]
        self.bindings = bindings
        self.env: dict[int, Expr] = {vid: buf.load() for vid, buf in inputs.items()}
        self.outputs = outputs
        self.kernels: list[Kernel] = []
        self.scratch: list[Buf] = []
        self.uses = Counter(i for n in graph.nodes for i in value_inputs(n))
        self.node: Node | None = None
        # provenance for `nnc compile --explain`: the nodes whose lazy results a value still carries, and
        # those a kernel emitted now fuses (the node being lowered and its inputs' pending chains)
        self.chain: dict[int, tuple[Node, ...]] = {}
        self.pending: list[tuple[set[int], tuple[Node, ...]]] = []  # (the buffers it reads, the chain)
        self.order = {id(n): t for t, n in enumerate(graph.nodes)}
        self.step_loop: L.StepLoop | None = None
        self.loops = 0
        self.requires: list[tuple[Dim, int, str]] = []  # (size, least value, message): checked per binding
        # values a lowering computed ahead for a later node, by its output (lower_pool: relu's gradient
        # applied by max pooling's gradient kernel); that node's lowering is then skipped
        self.ahead: dict[int, Expr] = {}

    def require(self, size: Dim, least: int, message: str) -> None:
        """A run-time size the emitted code needs to be at least `least` (the executable checks each new
        binding before running it: a RunError with the message and the node's line)."""
        if isinstance(size, int):
            return
        where_ = f" ({where(self.node)}, {self.node.path})" if self.node else ""
        self.requires.append((size, least, f"{message}{where_}: {size} is"))

    @contextmanager
    def loop(self, count: Dim) -> Iterator[Poly]:
        """Kernels emitted inside run `count` times at run time; yields the loop variable (0, 1, ...)."""
        assert self.step_loop is None, "step loops do not nest"
        self.step_loop = L.StepLoop(f"@s{self.loops}", count)
        self.loops += 1
        try:
            yield Poly.symbol(self.step_loop.var)
        finally:
            self.step_loop = None

    # -- helpers used by the lowerings -------------------------------------------------------------
    def shape(self, vid: int) -> tuple[Dim, ...]:
        return tuple(of_graph(d, self.bindings) for d in self.graph.type_of(vid).shape)

    def dtype(self, vid: int) -> str:
        return self.graph.type_of(vid).dtype

    def new_buf(self, dtype: str, shape: tuple[int, ...], vid: int | None = None) -> Buf:
        """Where a node's result goes: its graph-output buffer when it is one, else fresh scratch."""
        if vid is not None and self.outputs.get(vid):
            return self.outputs[vid][0]
        buf = Buf(f"t{len(self.scratch)}", dtype, shape)
        self.scratch.append(buf)
        return buf

    def emit(self, kernel: Kernel) -> None:
        kernel.origin = self.node.op if self.node else "copy"
        kernel.loop = self.step_loop
        reads = {id(b) for b in kernel.reads()}
        kernel.nodes = _merge([chain for bufs, chain in self.pending if not bufs or bufs & reads], self.order)
        self.kernels.append(kernel)

    def materialize(self, x: Expr, vid: int | None = None) -> Load:
        if isinstance(x, Load) and (vid is None or not self.outputs.get(vid)):
            return x
        buf = self.new_buf(x.dtype, tuple(x.shape), vid)
        self.emit(Store(buf.load(), x))
        return buf.load()

    def contiguous(self, x: Expr) -> Load:
        if isinstance(x, Load) and x.contiguous:
            return x
        buf = self.new_buf(x.dtype, tuple(x.shape))
        self.emit(Store(buf.load(), x))
        return buf.load()

    # -- the walk ------------------------------------------------------------------------------------
    def run(self) -> None:
        for node in self.graph.nodes:
            self.node = node
            self.pending = [({id(b) for b in L.leaves(self.env[i])}, self.chain.get(i, ())) for i in node.inputs]
            self.pending.append((set(), (node,)))
            first = len(self.kernels)
            ahead = self.ahead.pop(node.outputs[0], None) if len(node.outputs) == 1 else None
            if ahead is not None:
                self.pending = []  # its nodes are the kernel's that computed it, not its readers'
            result = ahead if ahead is not None else LOWERINGS[node.op](self, node, [self.env[i] for i in node.inputs])
            for vid, value in zip(node.outputs, result if isinstance(result, list) else [result]):
                if vid in self.outputs:
                    value = self._to_outputs(vid, value)
                elif self.uses[vid] > 1 and not isinstance(value, (Load, Const)):
                    value = self.materialize(value)
                self.env[vid] = value
                written = {id(k.target.buf) for k in self.kernels[first:]}
                self.chain[vid] = () if isinstance(value, Load) and id(value.buf) in written else \
                    _merge([chain for _, chain in self.pending], self.order)
        self.node = None
        # outputs that are graph inputs or parameters passed through unchanged
        done = {id(k.target.buf) for k in self.kernels}
        for vid, bufs in self.outputs.items():
            for buf in bufs:
                if id(buf) not in done:
                    self.pending = [(set(), self.chain.get(vid, ()))]
                    self.emit(Store(buf.load(), self.env[vid]))
        self.pending = []
        from .fuse import fuse_siblings
        self.kernels = fuse_siblings(self.kernels, self.order)

    def _to_outputs(self, vid: int, result: Expr) -> Expr:
        bufs = self.outputs[vid]
        if not (isinstance(result, Load) and result.buf is bufs[0] and result.contiguous):
            self.emit(Store(bufs[0].load(), result))
        for buf in bufs[1:]:
            self.emit(Store(buf.load(), bufs[0].load()))
        return bufs[0].load()


# inputs read only for their shape (broadcast_to's and reshape_like's target, iota's and random_uniform's
# `like`, size's operand) are no use of the value: `g * g` feeding a mul and a broadcast's shape stays lazy
# instead of being stored and read back
SHAPE_ONLY = {"iota": {0}, "random_uniform": {0}, "size": {0}}
VALUE_FIRST_ONLY = ("broadcast_to", "reshape_like")


def value_inputs(node: Node) -> list[int]:
    """The node's inputs whose values (not only their shapes) its lowering reads."""
    if node.op in VALUE_FIRST_ONLY:
        return list(node.inputs[:1])
    skip = SHAPE_ONLY.get(node.op, set())
    return [v for j, v in enumerate(node.inputs) if j not in skip]


def _merge(chains: list[tuple[Node, ...]], order: dict[int, int]) -> tuple[Node, ...]:
    """The nodes of several chains once each, in graph order."""
    seen = {id(n): n for chain in chains for n in chain}
    return tuple(sorted(seen.values(), key=lambda n: order[id(n)]))


class Unsupported(Exception):
    """A node this backend cannot lower (yet)."""


# -- the table ---------------------------------------------------------------------------------------
def _out(lw: Lowering, node: Node) -> tuple[str, tuple[int, ...]]:
    vid = node.outputs[0]
    return lw.dtype(vid), lw.shape(vid)


def _elementwise(op: str) -> Callable:
    def lower(lw: Lowering, node: Node, xs: list[Expr]) -> Expr:
        dtype, shape = _out(lw, node)
        return Map(op, tuple(L.broadcast(x, shape) for x in xs), dtype, shape, dict(node.attrs))
    return lower


def _constant(lw, node, xs):
    dtype, shape = _out(lw, node)
    return L.broadcast(Const(node.attr("value"), dtype, ()), shape)


def _size(lw, node, xs):
    dtype, _ = _out(lw, node)
    n = 1
    for ax in _axes(node, len(xs[0].shape)):
        n *= xs[0].shape[ax]
    return Const(n, dtype, ())


def _iota(lw, node, xs):
    _, shape = _out(lw, node)
    return L.Iota(shape, 0)


def _axes(node: Node, rank: int) -> tuple[int, ...]:
    axis = node.attr("axis")
    if axis is None:
        return tuple(range(rank))
    axis = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted({a % rank for a in axis}))


def _reduce(kind: str) -> Callable:
    def lower(lw: Lowering, node: Node, xs: list[Expr]) -> Expr:
        x = xs[0]
        dtype, shape = _out(lw, node)
        axes = _axes(node, len(x.shape))
        kept = tuple(n for d, n in enumerate(x.shape) if d not in axes)
        buf = lw.new_buf(dtype, shape, node.outputs[0])
        if L.numel(x.shape) == 0 and kind != "sum":
            raise Unsupported(f"{node.op} of an empty tensor")
        lw.emit(Reduce(Load(buf, kept, L.contiguous_strides(kept), 0), x, axes, kind))
        return buf.load()
    return lower


def _matmul(lw, node, xs):
    a, b = (lw.materialize(x) for x in xs)
    dtype, shape = _out(lw, node)
    a2 = a if len(a.shape) > 1 else L.view(a, (1,) + a.shape, [[0, 1]], [0])
    b2 = b if len(b.shape) > 1 else L.view(b, b.shape + (1,), [[1, 0]], [0])
    m, k, n = a2.shape[-2], a2.shape[-1], b2.shape[-1]
    batch = shape[:len(shape) - (len(a.shape) > 1) - (len(b.shape) > 1)]
    full = batch + (m, n)
    rows = L.numel(batch) * m
    alt = packed = None
    from .library import dot_layout
    if b2.strides[-1] != 1 and dtype in ("f32", "f64") and hint(n) >= 8 and hint(rows) >= 4 \
            and not dot_layout(a2, b2):
        # the tiled kernel wants B's rows contiguous: a packed copy costs 1/M of the multiply; with a
        # run-time M the copy runs only when M >= 4 (else the product reads B where it is). Not when
        # the GEMM library's dot path reads B where it lies (B = Wᵀ of a dense weight W[out, in]: the
        # copy was a transpose of the whole weight every call)
        if isinstance(rows, int):
            b2 = lw.contiguous(b2)
        else:
            alt, packed, count = L.broadcast(b2, batch + (k, n)), (rows, 4), len(lw.kernels)
            b2 = lw.contiguous(b2)
            for kern in lw.kernels[count:]:
                kern.when = packed
    buf = lw.new_buf(dtype, shape, node.outputs[0])
    lw.emit(Matmul(Load(buf, full, L.contiguous_strides(full), 0), L.broadcast(a2, batch + (m, k)),
                   L.broadcast(b2, batch + (k, n)), alt=alt, packed=packed))
    return buf.load()


def _reshape(lw, node, xs):
    _, shape = _out(lw, node)
    x = lw.contiguous(xs[0])
    return Load(x.buf, shape, L.contiguous_strides(shape), x.offset)


def _broadcast_to(lw, node, xs):
    _, shape = _out(lw, node)
    x = xs[0]
    if L.cost(x) > 0 and hint(L.numel(x.shape)) < hint(L.numel(shape)):
        x = lw.materialize(x)  # computed once, not once per broadcast element
    return L.broadcast(x, shape)


def _transpose(lw, node, xs):
    return L.transpose(xs[0], tuple(node.attr("perm")))


def _slice(lw, node, xs):
    return L.slice_axis(xs[0], node.attr("axis") % len(xs[0].shape), node.attr("start"), node.attr("end"),
                        node.attr("step", 1))


def _reverse(lw, node, xs):
    return L.reverse(xs[0], tuple(a % len(xs[0].shape) for a in node.attr("axes")))


def _pad(lw, node, xs):
    _, shape = _out(lw, node)
    return L.Pad(xs[0], shape, tuple(node.attr("lo")), node.attr("value", 0.0))


def _concat(lw, node, xs):
    dtype, shape = _out(lw, node)
    axis = node.attr("axis") % len(shape)
    buf = lw.new_buf(dtype, shape, node.outputs[0])
    start: Dim = 0
    for x in xs:
        n = x.shape[axis]
        lw.emit(Store(L.sub_axis(buf.load(), axis, start, n), x))
        start = start + n
    return buf.load()


def _random(lw, node, xs):
    dtype, shape = _out(lw, node)
    return L.Random(xs[1], xs[2], node.attr("stream"), shape, dtype)


def _check(lw: Lowering, rows: int) -> int:
    lw.checks.append(f"{lw.node.op} ids must be in 0..{rows - 1} ({where(lw.node)}, {lw.node.path})")
    return len(lw.checks)


def _gather(lw, node, xs):
    table, ids = xs
    _, shape = _out(lw, node)
    if L.cost(table) > 0:
        table = lw.materialize(table)
    return L.Gather(table, ids, shape, lw.status, _check(lw, table.shape[0]))


def _scatter_add(lw, node, xs):
    x, ids, up = xs
    dtype, shape = _out(lw, node)
    rows = tuple(ids.shape) + tuple(shape[1:])
    if tuple(up.shape) != rows:  # the same elements in another shape (the oracle reshapes)
        up = lw.contiguous(up)
        up = Load(up.buf, rows, L.contiguous_strides(rows), up.offset)
    buf = lw.new_buf(dtype, shape, node.outputs[0])
    lw.emit(Store(buf.load(), x))
    lw.emit(L.ScatterRows(buf.load(), ids, up, lw.status,
                          _check(lw, shape[0])))
    return buf.load()


LOWERINGS: dict[str, Callable] = {
    **{op: _elementwise(op) for op in UNARY + BINARY + ("compare", "where", "cast")},
    "constant": _constant, "size": _size, "iota": _iota,
    "sum": _reduce("sum"), "max": _reduce("max"), "argmax": _reduce("argmax"),
    "matmul": _matmul,
    "reshape": _reshape, "reshape_like": _reshape, "broadcast_to": _broadcast_to, "transpose": _transpose,
    "slice": _slice, "reverse": _reverse, "pad": _pad, "concat": _concat,
    "random_uniform": _random,
    "gather": _gather, "scatter_add": _scatter_add,
    "rnn": lower_recurrent, "lstm": lower_recurrent, "gru": lower_recurrent,
    "recurrent_backward": lower_recurrent_backward,
    "conv": lower_conv, "reduce_window": lower_reduce_window, **WINOGRAD_LOWERINGS,
    "select_and_scatter_add": window_pick("scatter"), "pool_select": window_pick("select"),
    "pool_backward": lower_pool_backward,
}
