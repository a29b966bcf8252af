"""Multi-output fusion: sibling Store kernels over the same index space become one loop.

The lowering keeps each node's result lazy until it must be stored, so a single new value is already one
loop; but an optimiser update has several outputs per parameter (Adam: m', v', p'), and each output is
a Store of its own that re-reads the inputs (and p' re-reads m' and v' from memory). `fuse_siblings`
merges a Store into an earlier one (moved down to it) when both write contiguous targets of the same
shape and the later one reads the earlier one's targets or shares an input with it: one loop reads p,
m, v and g once and writes m', v' and p'. Where the later kernel reads an earlier target at the same
index, that read is replaced by the expression that computed it (emit.py's per-element memo then
evaluates it once), so the value never round-trips through memory.

A kernel moves down past the kernels between the two only when none of them reads its targets or
writes what it touches; the later kernel may read an earlier target only element for element (same
shape, strides and offset). Kernels of a run-time step loop, conditional packing copies, transposing
copies and expressions that record a status (Gather) are left alone. The results are the same numbers:
each element's arithmetic is unchanged, only loops are merged.
"""
from __future__ import annotations

from .loops import Affine, Buf, Expr, Gather, Kernel, Load, Map, Pad, Random, Store, Window, leaves, numel

WINDOW = 16   # how many kernels back a partner is searched for


def fuse_siblings(kernels: list[Kernel], order: dict[int, int] | None = None) -> list[Kernel]:
    """The kernel list with related same-shaped Store kernels merged (see the module docstring)."""
    out: list[Kernel] = []
    for kern in kernels:
        merged = None
        if _fusable(kern):
            for j in range(len(out) - 1, max(-1, len(out) - 1 - WINDOW), -1):
                merged = _merge(out[j], kern, out[j + 1:], order)
                if merged is not None:
                    del out[j]
                    break
        out.append(merged if merged is not None else kern)
    return out


def _fusable(k: Kernel) -> bool:
    from .emit import _transpose_blocks
    if not isinstance(k, Store) or k.loop is not None or k.when is not None:
        return False
    n = numel(k.target.shape)
    if isinstance(n, int) and n <= 1:
        return False
    return all(t.contiguous and not _has_gather(x) for t, x in k.stores) and _transpose_blocks(k) is None


def _has_gather(x: Expr) -> bool:
    from .loops import nodes
    return any(isinstance(e, Gather) for e in nodes(x))


def _writes(k: Kernel) -> set[int]:
    if isinstance(k, Store):
        return {id(t.buf) for t, _ in k.stores}
    out = {id(k.target.buf)}
    status = getattr(k, "status", None)
    if isinstance(status, Buf):
        out.add(id(status))
    return out


def _touches(k: Kernel) -> set[int]:
    return {id(b) for b in k.reads()} | _writes(k)


def _merge(g: Kernel, kern: Store, between: list[Kernel], order) -> Store | None:
    """g and kern as one Store (g's stores first), or None when that is not allowed or not useful."""
    if tuple(g.target.shape) != tuple(kern.target.shape) or not _fusable(g):   # the cheap test first
        return None
    targets = {id(t.buf): (t, x) for t, x in g.stores}
    own = _writes(g)
    inputs = {id(b) for b in leaves(g.expr)} | {id(b) for _, x in g.more for b in leaves(x)}
    kern_reads = {id(b) for b in kern.reads()}
    if not (kern_reads & own or kern_reads & (inputs - own)):
        return None                      # unrelated: nothing read once instead of twice
    if id(kern.target.buf) in own | inputs:
        return None
    touched = _touches(g)
    for x in between:                    # g moves down past these
        if _writes(x) & touched or {id(b) for b in x.reads()} & own:
            return None
    memo: dict[int, Expr] = {}
    expr = _substitute(kern.expr, targets, memo)
    if expr is None:
        return None
    fused = Store(g.target, g.expr, origin=kern.origin, more=tuple(g.more) + ((kern.target, expr),))
    nodes = {id(n): n for n in tuple(g.nodes) + tuple(kern.nodes)}
    fused.nodes = tuple(sorted(nodes.values(), key=lambda n: order[id(n)])) if order else tuple(nodes.values())
    return fused


def _substitute(x: Expr, targets: dict[int, tuple], memo: dict[int, Expr | None]) -> Expr | None:
    """x with every element-for-element read of a fused target replaced by the target's expression;
    None when x reads such a target any other way. `memo` holds every node's answer, None included
    (expressions are DAGs: without it the walk is exponential in a chain's depth)."""
    if id(x) in memo:
        return memo[id(x)]
    out: Expr | None = x
    if isinstance(x, Load):
        if id(x.buf) in targets:
            t, value = targets[id(x.buf)]
            same = (tuple(x.shape) == tuple(t.shape) and tuple(x.strides) == tuple(t.strides)
                    and x.offset == t.offset)
            out = value if same else None
    elif isinstance(x, Map):
        args = [_substitute(a, targets, memo) for a in x.args]
        if any(a is None for a in args):
            out = None
        elif any(a is not b for a, b in zip(args, x.args)):
            out = Map(x.op, tuple(args), x.dtype, x.shape, x.attrs)
    elif isinstance(x, (Affine, Pad, Window, Random, Gather)):
        if any(id(b) in targets for b in leaves(x)):
            out = None                   # read through a view: another element than the one computed
    memo[id(x)] = out
    return out
