"""Summing the virtual shards' flat buffers across workers: a fixed-order tree (exact) or MPI's Allreduce.

The exact reduction sums V leaf buffers (one per virtual shard) in one
fixed balanced binary tree over 0..V-1, whatever the number of workers N
(N divides V; worker r holds the contiguous leaves r·V/N .. (r+1)·V/N - 1):

    sum(lo, hi) = leaf lo                         when hi - lo = 1
                = sum(lo, mid) + sum(mid, hi)     mid = (lo + hi) // 2

Each worker sums the largest subtrees that lie wholly among its own leaves,
the partial sums of every worker are gathered (MPI Allgather, one
contiguous block per worker; MPICH's Allgatherv measured 10-60 times
slower), and every worker finishes the same tree
from them. A float addition of the same two numbers gives the same bits, so
every N dividing V yields the bits of one process summing the V leaves in
this tree. MPI's own Allreduce (`allreduce`) sums in an order that depends
on the implementation, the message size and N: faster for many workers,
not reproducible across N.

`LocalComm` stands in for MPI with one process (no mpi4py needed).
"""
from __future__ import annotations

import time
import zlib
from typing import Callable, Protocol

import numpy as np

REDUCTIONS = ("exact", "allreduce")


class Comm(Protocol):
    """The few MPI calls used here (mpi4py's Comm has them)."""

    def Get_rank(self) -> int: ...
    def Get_size(self) -> int: ...


class LocalComm:
    """A world of one process: what the reducer and the trainer need of an MPI communicator."""

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 1

    def allgather(self, value):
        return [value]

    def Abort(self, code: int = 1) -> None:
        import os
        os._exit(code)


def cover(lo: int, hi: int, first: int, last: int) -> list[tuple[int, int]]:
    """The largest subtrees of the tree over [lo, hi) whose leaves all lie in [first, last), left to right."""
    if first <= lo and hi <= last:
        return [(lo, hi)]
    if hi - lo == 1 or hi <= first or lo >= last:
        return []
    mid = (lo + hi) // 2
    return cover(lo, mid, first, last) + cover(mid, hi, first, last)


def tree_sum(lo: int, hi: int, known: Callable[[int, int], np.ndarray | None]) -> np.ndarray:
    """The sum over leaves [lo, hi) in the fixed tree; `known(lo, hi)` gives a subtree already summed (or None)."""
    have = known(lo, hi)
    if have is not None:
        return have
    if hi - lo == 1:
        raise KeyError(f"leaf {lo} is not known")
    mid = (lo + hi) // 2
    return tree_sum(lo, mid, known) + tree_sum(mid, hi, known)


class Reducer:
    """Sums per-virtual-shard flat buffers over all workers; times what it spends communicating."""

    def __init__(self, comm, virtual_shards: int, mode: str = "exact"):
        if mode not in REDUCTIONS:
            raise ValueError(f"unknown reduction {mode!r}; choose {' or '.join(REDUCTIONS)}")
        self.comm = comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        if virtual_shards < 1 or virtual_shards % self.size:
            raise ValueError(f"--virtual-shards {virtual_shards} is not a multiple of the {self.size} workers")
        self.virtual_shards = virtual_shards
        self.mode = mode
        per = virtual_shards // self.size
        self.shards = range(self.rank * per, (self.rank + 1) * per)  # this worker's virtual shards
        self.parts = [cover(0, virtual_shards, r * per, (r + 1) * per) for r in range(self.size)]
        self.seconds = 0.0  # time spent in MPI calls

    def reduce(self, leaves: dict[int, np.ndarray | None], length: int, dtype) -> np.ndarray:
        """The sum over all V virtual shards of their buffers; `leaves` holds this worker's (None: an empty
        shard, which adds nothing)."""
        zero = None

        def leaf(lo: int, hi: int):
            nonlocal zero
            if hi - lo != 1 or lo not in leaves:
                return None
            if leaves[lo] is None:
                zero = np.zeros(length, dtype) if zero is None else zero
                return zero
            return leaves[lo]

        if self.mode == "allreduce":
            local = tree_sum(self.shards.start, self.shards.stop, leaf)
            if self.size == 1:
                return local
            out = np.empty_like(local)
            began = time.perf_counter()
            from mpi4py import MPI
            self.comm.Allreduce(local, out, op=MPI.SUM)
            self.seconds += time.perf_counter() - began
            return out
        mine = [tree_sum(lo, hi, leaf) for lo, hi in self.parts[self.rank]]
        if self.size == 1:
            partial = dict(zip(self.parts[0], mine))
            return tree_sum(0, self.virtual_shards, lambda lo, hi: partial.get((lo, hi)))
        width = max(len(p) for p in self.parts)  # equal blocks: MPICH's Allgatherv is far slower than Allgather
        send = np.zeros(width * length, dtype)
        for i, part in enumerate(mine):
            send[i * length:(i + 1) * length] = part
        recv = np.empty(self.size * width * length, dtype)
        began = time.perf_counter()
        self.comm.Allgather(send, recv)
        self.seconds += time.perf_counter() - began
        partial = {}
        for r, parts in enumerate(self.parts):
            for i, key in enumerate(parts):
                at = (r * width + i) * length
                partial[key] = recv[at:at + length]
        return tree_sum(0, self.virtual_shards, lambda lo, hi: partial.get((lo, hi)))

    def agree(self, arrays: list[np.ndarray]) -> list[int]:
        """The ranks whose checksum of `arrays` differs from rank 0's (empty: every rank holds the same bits)."""
        crc = 0
        for a in arrays:
            crc = zlib.crc32(np.ascontiguousarray(a).tobytes(), crc)
        began = time.perf_counter()
        sums = self.comm.allgather(crc)
        self.seconds += time.perf_counter() - began
        return [r for r, s in enumerate(sums) if s != sums[0]]
