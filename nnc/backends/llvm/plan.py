"""The memory plan: every scratch buffer gets a place in one arena, reused by liveness, per binding.

A buffer lives from the first kernel that writes it to the last kernel that reads or writes it; two
buffers share bytes only when their lifetimes do not overlap. Lazy expressions are evaluated inside the
kernel that consumes them, so "reads" are the kernel's reads (loops.Kernel.reads), which is exactly when
the bytes are needed. First fit, 64-byte aligned (a cache line; AVX-512 aligned loads).

Sizes are polynomials of the size symbols, so the plan is a function of a binding: `Plan` keeps each
scratch buffer's lifetime (first, last kernel) and byte size (`sizes`, an int or a `dims.Poly` whose
`terms` are plain names and ints), and `offsets(bindings)` / `arena_bytes(bindings)` lay them out for
one binding. The generated code reads the offsets from a table (one i64 per scratch buffer, in `scratch`
order), so a new layout needs no new code. A layout made for per-buffer sizes S is valid for any binding
whose every buffer fits in S: the intervals only shrink, so no two live buffers can overlap. Planning at
the largest binding seen (`layout(sizes)` of the element-wise maximum) and reusing its offsets for
smaller calls is therefore correct; the executable checks each new binding's sizes against it and grows
the plan (a new arena and offsets table, no recompilation) when a call needs more.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from .dims import Dim, evaluate
from .loops import Buf, Kernel

ALIGN = 64


def aligned(nbytes: int) -> int:
    """A buffer's bytes in the arena: at least one byte, rounded up to ALIGN."""
    return -(-max(nbytes, 1) // ALIGN) * ALIGN


@dataclass(frozen=True)
class Plan:
    scratch: tuple[Buf, ...]               # the offsets table's order (the lowering's)
    lifetimes: tuple[tuple[int, int], ...]  # (first, last) kernel index per scratch buffer; (-1, -1): unused
    sizes: tuple[Dim, ...]                  # bytes per scratch buffer, before alignment (int or Poly)

    def sizes_at(self, bindings: Mapping[str, int]) -> np.ndarray:
        """Each buffer's aligned bytes at a binding."""
        return np.array([aligned(evaluate(s, bindings)) for s in self.sizes], np.int64)

    def layout(self, sizes: Sequence[int]) -> tuple[np.ndarray, int]:
        """First fit by liveness for these aligned per-buffer sizes: (offsets, arena bytes)."""
        order = sorted(range(len(self.scratch)), key=lambda j: (self.lifetimes[j][0], -int(sizes[j])))
        placed: list[tuple[int, int, int, int]] = []  # (start time, end time, offset, end offset)
        offsets = np.zeros(len(self.scratch), np.int64)
        top = 0
        for j in order:
            start, end = self.lifetimes[j]
            size = int(sizes[j])
            busy = sorted((o, e) for s, t, o, e in placed if not (t < start or end < s))
            offset = 0
            for o, e in busy:
                if offset + size <= o:
                    break
                offset = max(offset, e)
            offsets[j] = offset
            placed.append((start, end, offset, offset + size))
            top = max(top, offset + size)
        return offsets, max(top, ALIGN)

    def offsets(self, bindings: Mapping[str, int]) -> np.ndarray:
        """Byte offsets in the arena of every scratch buffer (`scratch` order) for one binding."""
        return self.layout(self.sizes_at(bindings))[0]

    def arena_bytes(self, bindings: Mapping[str, int]) -> int:
        """The arena with reuse, at a binding."""
        return self.layout(self.sizes_at(bindings))[1]

    def scratch_bytes(self, bindings: Mapping[str, int]) -> int:
        """What the scratch buffers would take without reuse, at a binding."""
        return int(self.sizes_at(bindings).sum())


def plan_arena(kernels: list[Kernel], scratch: list[Buf]) -> Plan:
    """Every scratch buffer's lifetime (first and last kernel touching it) and symbolic size. A kernel of a
    run-time step loop runs again after the loop's last kernel: what it touches lives across the loop."""
    ids = {id(b): j for j, b in enumerate(scratch)}
    span: dict[int, tuple[int, int]] = {}
    for t, k in enumerate(kernels):
        if k.loop is not None:
            lo, _ = span.get(id(k.loop), (t, t))
            span[id(k.loop)] = (lo, t)
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for t, k in enumerate(kernels):
        lo, hi = span[id(k.loop)] if k.loop is not None else (t, t)
        for b in [k.target.buf] + k.reads():
            if id(b) in ids:
                first[id(b)] = min(first.get(id(b), lo), lo)
                last[id(b)] = max(last.get(id(b), hi), hi)
    return Plan(tuple(scratch), tuple((first.get(id(b), -1), last.get(id(b), -1)) for b in scratch),
                tuple(b.nbytes for b in scratch))


class PlanAt:
    """A plan laid out for one binding (what `nnc stats` and `--explain` print): ints."""

    def __init__(self, plan: Plan, bindings: Mapping[str, int]):
        self.plan, self.bindings = plan, dict(bindings)
        sizes = plan.sizes_at(bindings)
        self.offsets, self.arena_bytes = plan.layout(sizes)
        self.scratch_bytes = int(sizes.sum())
