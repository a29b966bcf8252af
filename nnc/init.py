"""Deterministic parameter initialisation from a seed.

Each parameter draws from its own generator, `np.random.default_rng([seed, crc32 of its name])`, so its
initial value depends only on the seed and its stable name: adding a layer elsewhere changes nothing else,
and every backend starts from the same numbers. The numbers are numpy's `Generator.uniform(-b, b, shape)` /
`Generator.normal(0, std, shape)` in float64, rounded to the parameter's dtype (f32, or f64 for an f64
model) — checkpoints and the conformance tests depend on them bit for bit (tests/test_init.py compares
them with those calls).

How they are drawn, for speed (VGG-16 has 138 M numbers, one parameter 103 M of them): straight into the
destination array in chunks of `CHUNK` doubles (no float64 array of the whole parameter), and on several
threads (numpy releases the GIL while it fills). A uniform draw takes exactly one 64-bit output of the
PCG64 stream per number (`low + (high - low) * (next_uint64 >> 11) * 2**-53`), so a uniform parameter is
cut into pieces of `PIECE` numbers, each drawn by a copy of the generator advanced (`advance`) to its
first number. A normal draw (ziggurat, rejection) uses a varying number of outputs: a normal parameter is
drawn by one thread, from the start, in chunks. Initialisers whose number is not finite (or a negative
spread) take numpy's own call, so their errors and values are numpy's.
"""
from __future__ import annotations

import math
import os
import threading
import zlib
from typing import Iterable

import numpy as np

from .ir.graph import Parameter

CHUNK = 1 << 16          # doubles drawn at a time into one thread's scratch (512 KiB: stays in L2)
PIECE = 1 << 20          # numbers of a uniform parameter drawn by one copy of its generator
PARALLEL_INIT = 1 << 18  # numbers to draw below which one thread draws all (a thread's start ~0.1 ms)


def _spec(p: Parameter) -> tuple[str, float, float]:
    """("uniform", low, high), ("normal", 0, std) or ("constant", value, 0) for `p.init`; ValueError for an
    unknown initialiser."""
    fan_in, fan_out = max(p.fan_in, 1), max(p.fan_out, 1)
    kind, _, arg = p.init.partition(":")  # "normal:0.02": a `param` statement's initialiser and its number
    if kind == "normal" and arg:
        return "normal", 0.0, float(arg)
    if kind == "uniform" and arg:
        return "uniform", -float(arg), float(arg)
    if kind == "constant":
        return "constant", float(arg or 0.0), 0.0
    if kind == "zeros":
        return "constant", 0.0, 0.0
    if kind == "ones":
        return "constant", 1.0, 0.0
    if kind == "xavier_uniform":
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        return "uniform", -bound, bound
    if kind == "xavier_normal":
        return "normal", 0.0, math.sqrt(2.0 / (fan_in + fan_out))
    if kind == "he_uniform":
        bound = math.sqrt(6.0 / fan_in)
        return "uniform", -bound, bound
    if kind == "he_normal":
        return "normal", 0.0, math.sqrt(2.0 / fan_in)
    if kind == "lecun_uniform":
        bound = math.sqrt(3.0 / fan_in)
        return "uniform", -bound, bound
    if kind == "lecun_normal":
        return "normal", 0.0, math.sqrt(1.0 / fan_in)
    if kind == "normal":
        return "normal", 0.0, 1.0
    if kind == "uniform_rnn":  # PyTorch's recurrent layers: U(-1/sqrt(H), 1/sqrt(H)), H in fan_out
        bound = 1.0 / math.sqrt(fan_out)
        return "uniform", -bound, bound
    raise ValueError(f"unknown initialiser {kind!r} for {p.name}")


def _generator(p: Parameter, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(p.name.encode())])


def _numpy_value(p: Parameter, seed: int, spec: tuple[str, float, float], shape: tuple[int, ...],
                 dtype: type) -> np.ndarray:
    """numpy's own call, all at once: for the initialisers whose number is not finite or is negative."""
    kind, a, b = spec
    rng = _generator(p, seed)
    out = rng.uniform(a, b, shape) if kind == "uniform" else rng.normal(a, b, shape)
    return out.astype(dtype)


class _Draw:
    """One parameter's destination and how to fill it: `pieces` are (start, stop) ranges of its flat
    numbers, each filled by `fill` independently of the others (a normal parameter has one piece)."""

    def __init__(self, p: Parameter, seed: int, spec: tuple[str, float, float], out: np.ndarray):
        self.kind, self.a, self.b = spec
        self.flat = out.reshape(-1)
        self.state = _generator(p, seed).bit_generator.state
        n = self.flat.size
        step = PIECE if self.kind == "uniform" else max(n, 1)
        self.pieces = [(i, min(i + step, n)) for i in range(0, n, step)]

    def fill(self, start: int, stop: int, scratch: np.ndarray) -> None:
        bits = np.random.PCG64()
        bits.state = self.state
        if start:
            bits.advance(start)   # one 64-bit output per uniform number
        gen = np.random.Generator(bits)
        for i in range(start, stop, CHUNK):
            j = min(i + CHUNK, stop)
            buf = scratch[: j - i]
            if self.kind == "uniform":   # numpy: low + (high - low) * u, u in [0, 1)
                gen.random(out=buf)
                np.multiply(buf, self.b - self.a, out=buf)
            else:                        # numpy: loc + scale * z
                gen.standard_normal(out=buf)
                np.multiply(buf, self.b, out=buf)
            if self.flat.dtype == np.float64:
                np.add(buf, self.a, out=self.flat[i:j])
            else:                        # rounded to float32 once, as astype does
                np.add(buf, self.a, out=buf)
                self.flat[i:j] = buf


def _threads(numbers: int) -> int:
    """Threads to draw `numbers` on: the usable cores, at most $NNC_THREADS when it is a positive whole
    number (1: no threads), one below PARALLEL_INIT numbers."""
    if numbers < PARALLEL_INIT:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    setting = os.environ.get("NNC_THREADS", "").strip()
    if setting.isdigit() and int(setting) > 0:
        cores = min(cores, int(setting))
    return max(1, cores)


def initialize(params: Iterable[Parameter], seed: int, threads: int | None = None) -> dict[str, np.ndarray]:
    """name -> initial value of every parameter, drawn from `seed` (the module docstring says how). The
    numbers do not depend on `threads` (None: as many as _threads chooses)."""
    params = list(params)
    values: dict[str, np.ndarray] = {}
    draws: list[_Draw] = []
    for p in params:
        spec = _spec(p)
        shape = tuple(int(d) for d in p.value.type.shape)
        dtype = np.float64 if p.value.type.dtype == "f64" else np.float32
        kind, a, b = spec
        if kind == "constant":
            values[p.name] = np.zeros(shape, dtype) if a == 0.0 and math.copysign(1.0, a) > 0 \
                else np.full(shape, a, dtype)
        elif not (math.isfinite(a) and math.isfinite(b) and b >= a and math.isfinite(b - a)):
            values[p.name] = _numpy_value(p, seed, spec, shape, dtype)
        else:
            out = np.empty(shape, dtype)
            values[p.name] = out
            draws.append(_Draw(p, seed, spec, out))
    tasks = [(d, start, stop) for d in draws for start, stop in d.pieces]
    tasks.sort(key=lambda t: t[1] - t[2])   # longest first (a whole normal parameter before the pieces)
    k = min(threads if threads is not None else _threads(sum(t[2] - t[1] for t in tasks)), len(tasks))
    if k <= 1:
        scratch = np.empty(CHUNK)
        for d, start, stop in tasks:
            d.fill(start, stop, scratch)
        return {p.name: values[p.name] for p in params}
    queue = iter(tasks)   # next() on it is atomic under the GIL: each task is drawn once
    lock = threading.Lock()
    failed: list[BaseException] = []

    def work() -> None:
        scratch = np.empty(CHUNK)
        try:
            while not failed:
                with lock:
                    task = next(queue, None)
                if task is None:
                    return
                task[0].fill(task[1], task[2], scratch)
        except BaseException as e:  # noqa: BLE001 - raised again by the caller's thread
            failed.append(e)
    helpers = [threading.Thread(target=work, name="nnc-init", daemon=True) for _ in range(k - 1)]
    for t in helpers:
        t.start()
    work()
    for t in helpers:
        t.join()
    if failed:
        raise failed[0]
    return {p.name: values[p.name] for p in params}


def initial_value(p: Parameter, seed: int, threads: int | None = None) -> np.ndarray:
    """The initial value of one parameter: `initialize([p], seed)[p.name]`."""
    return initialize([p], seed, threads)[p.name]
