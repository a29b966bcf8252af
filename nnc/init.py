"""Deterministic parameter initialisation from a seed.

Values are drawn in float64 and rounded to the parameter's declared dtype
(f32, or f64 for an f64 model). Each parameter draws from its own generator seeded by (seed, crc32 of its
name), so a parameter's initial value depends only on the seed and its
stable name: adding a layer elsewhere changes nothing else, and every
backend starts from the same numbers.
"""
from __future__ import annotations

import math
import zlib

import numpy as np

from .ir.graph import Parameter


def initial_value(p: Parameter, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, zlib.crc32(p.name.encode())])
    shape = tuple(int(d) for d in p.value.type.shape)
    fan_in, fan_out = max(p.fan_in, 1), max(p.fan_out, 1)
    kind, _, arg = p.init.partition(":")  # "normal:0.02": a `param` statement's initialiser and its number
    if kind == "normal" and arg:
        out = rng.normal(0.0, float(arg), shape)
    elif kind == "uniform" and arg:
        out = rng.uniform(-float(arg), float(arg), shape)
    elif kind == "constant":
        out = np.full(shape, float(arg or 0.0))
    elif kind == "zeros":
        out = np.zeros(shape)
    elif kind == "ones":
        out = np.ones(shape)
    elif kind == "xavier_uniform":
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        out = rng.uniform(-bound, bound, shape)
    elif kind == "xavier_normal":
        out = rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), shape)
    elif kind == "he_uniform":
        bound = math.sqrt(6.0 / fan_in)
        out = rng.uniform(-bound, bound, shape)
    elif kind == "he_normal":
        out = rng.normal(0.0, math.sqrt(2.0 / fan_in), shape)
    elif kind == "lecun_uniform":
        bound = math.sqrt(3.0 / fan_in)
        out = rng.uniform(-bound, bound, shape)
    elif kind == "lecun_normal":
        out = rng.normal(0.0, math.sqrt(1.0 / fan_in), shape)
    elif kind == "normal":
        out = rng.normal(0.0, 1.0, shape)
    elif kind == "uniform_rnn":  # PyTorch's recurrent layers: U(-1/sqrt(H), 1/sqrt(H)), H in fan_out
        bound = 1.0 / math.sqrt(fan_out)
        out = rng.uniform(-bound, bound, shape)
    else:
        raise ValueError(f"unknown initialiser {kind!r} for {p.name}")
    return out.astype(np.float64 if p.value.type.dtype == "f64" else np.float32)


def initialize(params, seed: int) -> dict[str, np.ndarray]:
    return {p.name: initial_value(p, seed) for p in params}
