"""Store and Reduce loop nests over merged axes, and the reductions' loop orders.

`flatten` / `flatten_reduce`: adjacent axes that every load and target walks as one (stride[d] =
stride[d+1]·size[d+1]: contiguous data, a scalar or per-channel broadcast) merge, so a contiguous [N, 10]
is one unit-stride loop of 10·N, vectorised, and a conv bias gradient sums [N, C, H·W] rather than rows
of W. `emit_reduce`: per output in order over the reduced axes; where the innermost source axis is kept
(a dense bias gradient, [N, C] over N) whole rows of outputs accumulate in place, vectorised along C;
large reductions split over the thread pool along a kept axis (parallel.py), never a reduced one.
"""
from __future__ import annotations

from llvmlite import ir

from .emit import FLOATS, I64, REG, KernelBuilder
from .loops import Const, Expr, Load, Map, Random, Reduce, Store, contiguous_strides, numel


def flatten(kern: Store) -> Store | None:
    """The Store over fewer, longer axes: adjacent axes merge where every target and every load walks them
    as one (stride[d] = stride[d+1]·size[d+1]: contiguous data, a scalar or per-channel broadcast), so a
    contiguous [N, 10] is one loop of 10·N, unit stride, vectorised. None when nothing merges."""
    t = kern.target
    if not all(tuple(tg.shape) == tuple(t.shape) for tg, _ in kern.stores):
        return None
    loads = [tg for tg, _ in kern.stores]
    for _, x in kern.stores:
        if not _plain_loads(x, loads):
            return None
    groups = _merge_groups(t.shape, loads, lambda d: True)
    if groups is None:
        return None
    memo: dict[int, Expr] = {}
    pairs = [(_regroup(tg, groups, memo), _regroup(x, groups, memo)) for tg, x in kern.stores]
    return Store(pairs[0][0], pairs[0][1], kern.origin, tuple(pairs[1:]))


def _plain_loads(x: Expr, out: list, seen: set[int] | None = None) -> bool:
    """Collect x's loads into `out`; False when x holds anything but loads, constants, maps, Philox draws.
    Each node is visited once: expressions are DAGs, and a walk without `seen` is exponential in a fused
    chain's depth."""
    seen = set() if seen is None else seen
    if id(x) in seen:
        return True
    seen.add(id(x))
    if isinstance(x, Load):
        out.append(x)
        return True
    if isinstance(x, Const):
        return True
    if isinstance(x, Map):
        return all(_plain_loads(a, out, seen) for a in x.args)
    if isinstance(x, Random):
        return not x.key.shape and not x.counter.shape  # row-major order survives merging axes
    return False


def _merge_groups(shape, loads, same) -> list[list[int]] | None:
    """Runs of adjacent axes every load walks as one (and `same(d)` for each merged pair's d, d+1)."""
    groups = [[len(shape) - 1]] if shape else []
    for d in range(len(shape) - 2, -1, -1):
        inner = groups[0][0]
        if same(d) and all(x.strides[d] == x.strides[inner] * x.shape[inner] for x in loads) and d + 1 == inner:
            groups[0].insert(0, d)
        else:
            groups.insert(0, [d])
    return None if len(groups) == len(shape) else groups


def _regroup(x: Expr, groups: list[list[int]], memo: dict) -> Expr:
    if id(x) in memo:
        return memo[id(x)]

    def size(g, shape):
        return numel(tuple(shape[d] for d in g))
    if isinstance(x, Load):
        out = Load(x.buf, tuple(size(g, x.shape) for g in groups), tuple(x.strides[g[-1]] for g in groups), x.offset)
    elif isinstance(x, Const):
        out = x
    elif isinstance(x, Map):
        out = Map(x.op, tuple(_regroup(a, groups, memo) for a in x.args), x.dtype,
                  tuple(size(g, x.shape) for g in groups), x.attrs)
    else:  # a Philox draw: element i row-major is the same element in the merged shape
        out = Random(x.key, x.counter, x.stream, tuple(size(g, x.shape) for g in groups), x.dtype)
    memo[id(x)] = out
    return out


def emit_reduce(k: KernelBuilder, kern: Reduce) -> None:
    """Per output element, the reduction in order over the reduced axes (bit for bit the same for any
    split). Where the innermost source axis is kept (a bias gradient: [N, C] summed over N), the outputs
    are accumulated in place, a whole row of them per source row, so the loop vectorises along the kept
    axis. Large reductions run in parts over the first kept axis (parallel.py), never the reduced ones."""
    from .parallel import split_rows
    kern = flatten_reduce(kern) or kern
    t, src = kern.target, kern.src
    columns = _by_columns(kern)

    def rows(kb: KernelBuilder, lo, hi) -> None:
        span = None if lo is None else (lo, hi)
        if columns is not None:
            _reduce_columns(kb, kern, columns, span)
        else:
            _reduce_each(kb, kern, span)
    if not t.shape:
        rows(k, None, None)
    else:
        split_rows(k, t.shape[0], numel(src.shape), rows)


def flatten_reduce(kern: Reduce) -> Reduce | None:
    """The Reduce over merged axes (as `flatten`): adjacent reduced axes, or adjacent kept ones, that
    every load walks as one (a conv bias gradient sums [N, C, H·W], not [N, C, H, W] with rows of W)."""
    t, src = kern.target, kern.src
    loads: list = []
    if not t.contiguous or not _plain_loads(src, loads):
        return None
    red = set(kern.axes)
    if kern.kind == "argmax":
        groups = _merge_groups(src.shape, loads, lambda d: d not in red and d + 1 not in red)
    else:
        groups = _merge_groups(src.shape, loads, lambda d: (d in red) == (d + 1 in red))
    if groups is None:
        return None
    axes = tuple(j for j, g in enumerate(groups) if g[0] in red)
    x = _regroup(src, groups, {})
    kept = tuple(n for j, n in enumerate(x.shape) if j not in axes)
    out = Reduce(Load(t.buf, kept, contiguous_strides(kept), t.offset), x, axes, kern.kind, kern.origin)
    return out


def _by_columns(kern: Reduce) -> int | None:
    """The first source axis of the kept tail (the axes after the last reduced one) when the tail is
    worth vectorising along (its last axis kept, the target contiguous, sum or max of one dtype)."""
    src, t = kern.src, kern.target
    last = len(src.shape) - 1
    if kern.kind not in ("sum", "max") or not kern.axes or last in kern.axes or not t.contiguous:
        return None
    if src.dtype != t.dtype or src.dtype == "bool":
        return None
    return max(kern.axes) + 1


def _reduce_each(k: KernelBuilder, kern: Reduce, span) -> None:
    from .scalar import reduce_init, reduce_step
    src = kern.src
    kept = [d for d in range(len(src.shape)) if d not in kern.axes]
    red_shape = tuple(src.shape[d] for d in kern.axes)
    dtype = src.dtype
    acc = k.alloca(REG[dtype])
    best_at = k.alloca(I64) if kern.kind == "argmax" else None

    def outer(out_idx):
        k.b.store(reduce_init(kern.kind, dtype), acc)
        if best_at is not None:
            k.b.store(ir.Constant(I64, 0), best_at)

        def inner(red_idx):
            full = [None] * len(src.shape)
            for d, i in zip(kept, out_idx):
                full[d] = i
            for d, i in zip(kern.axes, red_idx):
                full[d] = i
            v = k.ev(src, full)
            reduce_step(k, kern.kind, dtype, acc, best_at, v, red_idx[0] if red_idx else None)
        k.nest(red_shape, inner)
        result = k.b.load(best_at, typ=I64) if best_at is not None else k.b.load(acc, typ=REG[dtype])
        k.store(kern.target, out_idx, result)
    k.nest(kern.target.shape, outer, rows=span)


def _reduce_columns(k: KernelBuilder, kern: Reduce, tail: int, span) -> None:
    """target[head, tail] = init; for each reduced index (in order): target[head, tail] ⊕= src[...]."""
    from .scalar import reduce_init, reduce_step
    src, t, b = kern.src, kern.target, k.b
    dtype = src.dtype
    kept = [d for d in range(len(src.shape)) if d not in kern.axes]
    head = [d for d in kept if d < tail]
    tail_axes = list(range(tail, len(src.shape)))
    red_shape = tuple(src.shape[d] for d in kern.axes)

    def per_head(hidx):
        tspan = span if not head else None   # the split axis: the first head axis, else the first tail one

        def init(tidx):
            k.store(t, hidx + tidx, reduce_init(kern.kind, dtype))
        k.nest(tuple(src.shape[d] for d in tail_axes), init, rows=tspan)

        def red(ridx):
            def step(tidx):
                full = [None] * len(src.shape)
                for d, i in zip(head + tail_axes, hidx + tidx):
                    full[d] = i
                for d, i in zip(kern.axes, ridx):
                    full[d] = i
                v = k.ev(src, full)
                ptr = k.address(t, hidx + tidx)
                if kern.kind == "sum":  # in order per output: no reassociation
                    cur = b.load(ptr, typ=REG[dtype])
                    b.store(b.fadd(cur, v) if dtype in FLOATS else b.add(cur, v), ptr)
                else:
                    reduce_step(k, kern.kind, dtype, ptr, None, v, None)
            k.nest(tuple(src.shape[d] for d in tail_axes), step, rows=tspan)
        k.nest(red_shape, red)
    k.nest(tuple(src.shape[d] for d in head), per_head, rows=span if head else None)
