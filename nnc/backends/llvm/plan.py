"""The static memory plan: every scratch buffer gets a place in one arena, reused by liveness.

A buffer lives from the first kernel that writes it to the last kernel that reads or writes it; two
buffers share bytes only when their lifetimes do not overlap. Lazy expressions are evaluated inside the
kernel that consumes them, so "reads" are the kernel's reads (loops.Kernel.reads), which is exactly when
the bytes are needed. First fit, 64-byte aligned (a cache line; AVX-512 aligned loads).
"""
from __future__ import annotations

from dataclasses import dataclass

from .loops import Buf, Kernel

ALIGN = 64


@dataclass(frozen=True)
class Plan:
    arena_bytes: int       # the arena with reuse
    scratch_bytes: int     # what the scratch buffers would take without reuse


def plan_arena(kernels: list[Kernel], scratch: list[Buf]) -> Plan:
    """Set `offset` on every scratch buffer; returns the arena's size."""
    ids = {id(b) for b in scratch}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for t, k in enumerate(kernels):
        for b in [k.target.buf] + k.reads():
            if id(b) in ids:
                first.setdefault(id(b), t)
                last[id(b)] = t
    placed: list[tuple[int, int, int, int]] = []  # (start time, end time, offset, end offset)
    top = 0
    for b in sorted(scratch, key=lambda b: (first.get(id(b), -1), -b.nbytes)):
        start, end = first.get(id(b), -1), last.get(id(b), -1)
        size = -(-b.nbytes // ALIGN) * ALIGN
        busy = sorted((o, e) for s, t, o, e in placed if not (t < start or end < s))
        offset = 0
        for o, e in busy:
            if offset + size <= o:
                break
            offset = max(offset, e)
        b.offset = offset
        placed.append((start, end, offset, offset + size))
        top = max(top, offset + size)
    return Plan(arena_bytes=max(top, ALIGN), scratch_bytes=sum(-(-b.nbytes // ALIGN) * ALIGN for b in scratch))
