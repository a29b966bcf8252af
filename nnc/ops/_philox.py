"""Philox-4x32-10, the counter-based generator behind every random number nnc draws.

A counter-based generator is a pure function of (key, counter): no hidden
state, so numpy, LLVM and ONNX compute the same bits from integer
arithmetic alone, and a resumed run draws exactly what an uninterrupted one
would (JAX and tinygrad do the same with Threefry). nnc's layout, which
every backend must follow bit for bit:

    key     = (seed mod 2^32, (seed >> 32) mod 2^32)
    counter = (i mod 2^32, (i >> 32) mod 2^32, stream, step mod 2^32)

for element i of the drawn tensor, where i = offset + (the element's row-major
position); `offset` is 0 unless the node has the optional element-offset input
(data-parallel training feeds it (first global sample of the shard) ×
(elements per sample), so a sample draws the same numbers on whichever worker
holds it: nnc/train/split.py). `stream` is a 32-bit
number fixed per random node when the graph is built (from the node's path)
and `step` is the step or call counter. The first output word u gives
uniform = (u >> 8) · 2^-24, a float32 in [0, 1) that is exact in float32 and
float64 alike.
"""
from __future__ import annotations

import zlib

from ._numpy import np

M0, M1 = 0xD2511F53, 0xCD9E8D57  # the round multipliers
W0, W1 = 0x9E3779B9, 0xBB67AE85  # the key schedule's Weyl constants
ROUNDS = 10
MASK32 = 0xFFFFFFFF


def stream_of(path: str) -> int:
    """The stream number of a random node: a 32-bit hash of its stable path."""
    return zlib.crc32(path.encode())


def philox4x32(counter: tuple, key: tuple) -> tuple:
    """Philox-4x32-10 on arrays (or ints) of 32-bit words held in uint64; returns the four output words."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in counter)
    k0, k1 = (np.uint64(int(k) & MASK32) for k in key)
    m0, m1, mask = np.uint64(M0), np.uint64(M1), np.uint64(MASK32)
    shift = np.uint64(32)
    for r in range(ROUNDS):
        if r:
            k0 = np.uint64((int(k0) + W0) & MASK32)
            k1 = np.uint64((int(k1) + W1) & MASK32)
        p0 = m0 * c0  # 32 x 32 -> 64 bits: exact in uint64
        p1 = m1 * c2
        c0, c1, c2, c3 = ((p1 >> shift) ^ c1 ^ k0), (p1 & mask), ((p0 >> shift) ^ c3 ^ k1), (p0 & mask)
    return c0, c1, c2, c3


def uniform(shape: tuple[int, ...], seed: int, stream: int, step: int, offset: int = 0) -> "np.ndarray":
    """A float32 array of `shape` drawn uniformly from [0, 1) by nnc's layout above; element i of the
    array uses counter index offset + i (offset 0: the layout every graph without an offset input uses)."""
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    i = np.arange(n, dtype=np.uint64) + np.uint64(int(offset) & 0xFFFFFFFFFFFFFFFF)
    seed, step = int(seed) & 0xFFFFFFFFFFFFFFFF, int(step)
    words = philox4x32((i & np.uint64(MASK32), i >> np.uint64(32), np.full(n, stream & MASK32, np.uint64),
                        np.full(n, step & MASK32, np.uint64)), (seed & MASK32, seed >> 32))
    u = (words[0] >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)
    return u.reshape(shape)
