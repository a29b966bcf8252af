"""nnc.init draws exactly numpy's numbers: `Generator.uniform` / `Generator.normal` of the parameter's own
generator in float64, rounded to its dtype (the implementation before it was chunked and threaded, kept here
as the oracle), bit for bit, on any number of threads, for every initialiser and odd sizes."""
from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

import nnc.init as init
from nnc.init import initial_value, initialize
from nnc.ir.graph import Parameter, Value
from nnc.ir.types import TensorType

KINDS = ["xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
         "normal", "uniform_rnn", "normal:0.02", "uniform:0.3", "uniform:0", "normal:0", "constant:0.7",
         "constant:-0", "constant", "zeros", "ones", "uniform:1e-300", "normal:3.5"]


def reference(p: Parameter, seed: int) -> np.ndarray:
    """nnc.init.initial_value as it was written first: numpy's calls on the whole shape, then astype."""
    rng = np.random.default_rng([seed, zlib.crc32(p.name.encode())])
    shape = tuple(int(d) for d in p.value.type.shape)
    fan_in, fan_out = max(p.fan_in, 1), max(p.fan_out, 1)
    kind, _, arg = p.init.partition(":")
    bounds = {"xavier_uniform": math.sqrt(6.0 / (fan_in + fan_out)), "he_uniform": math.sqrt(6.0 / fan_in),
              "lecun_uniform": math.sqrt(3.0 / fan_in), "uniform_rnn": 1.0 / math.sqrt(fan_out)}
    stds = {"xavier_normal": math.sqrt(2.0 / (fan_in + fan_out)), "he_normal": math.sqrt(2.0 / fan_in),
            "lecun_normal": math.sqrt(1.0 / fan_in), "normal": 1.0}
    if kind == "normal" and arg:
        out = rng.normal(0.0, float(arg), shape)
    elif kind == "uniform" and arg:
        out = rng.uniform(-float(arg), float(arg), shape)
    elif kind == "constant":
        out = np.full(shape, float(arg or 0.0))
    elif kind in ("zeros", "ones"):
        out = np.full(shape, 1.0 if kind == "ones" else 0.0)
    elif kind in bounds:
        out = rng.uniform(-bounds[kind], bounds[kind], shape)
    elif kind in stds:
        out = rng.normal(0.0, stds[kind], shape)
    else:
        raise ValueError(f"unknown initialiser {kind!r} for {p.name}")
    return out.astype(np.float64 if p.value.type.dtype == "f64" else np.float32)


def param(name: str, shape: tuple[int, ...], kind: str, dtype: str = "f32", fan_in: int = 7,
          fan_out: int = 3) -> Parameter:
    return Parameter(name, Value(0, TensorType(dtype, shape)), kind, True, name.rpartition("/")[0],
                     fan_in, fan_out)


def same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    width = np.uint64 if want.dtype == np.float64 else np.uint32
    np.testing.assert_array_equal(got.view(width), want.view(width))   # bits: -0.0, NaN payloads too


@pytest.fixture
def small_pieces(monkeypatch):
    """Pieces and chunks a few hundred numbers long, so that small shapes cross many boundaries."""
    monkeypatch.setattr(init, "PIECE", 997)
    monkeypatch.setattr(init, "CHUNK", 256)
    monkeypatch.setattr(init, "PARALLEL_INIT", 0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", ["f32", "f64"])
def test_every_initialiser_gives_numpys_numbers(kind, dtype, small_pieces):
    shapes = [(), (1,), (5,), (255,), (256,), (257,), (996, 1), (997,), (998,), (3, 7, 5, 19), (4097, 3)]
    params = [param(f"m/layer{i}/w", s, kind, dtype, fan_in=3 + i, fan_out=11 * i + 1)
              for i, s in enumerate(shapes)]
    for seed in (0, 1, 12345):
        want = {p.name: reference(p, seed) for p in params}
        for threads in (1, 2, 3, 8):
            got = initialize(params, seed, threads=threads)
            assert list(got) == list(want)
            for name in want:
                same(got[name], want[name])
        for p in params[-3:]:
            same(initial_value(p, seed), want[p.name])


def test_big_uniform_and_normal_parameters_at_the_real_sizes():
    """The real PIECE and CHUNK: a uniform parameter cut in pieces across threads (a generator advanced to
    each), an odd size, and a normal one drawn from its start in chunks."""
    params = [param("big/fc/weight", (4099, 517), "xavier_uniform", fan_in=4099, fan_out=517),
              param("big/fc2/weight", (1031, 1023), "he_normal", fan_in=1023),
              param("big/fc3/weight", (3 * init.PIECE + 5,), "lecun_uniform", "f64", fan_in=9)]
    want = {p.name: reference(p, 7) for p in params}
    for threads in (1, 2, None):
        got = initialize(params, 7, threads=threads)
        for name in want:
            same(got[name], want[name])


def test_a_real_models_parameters_whatever_the_thread_count(monkeypatch, small_pieces):
    from pathlib import Path

    import nnc
    params = nnc.load(Path(__file__).resolve().parents[1] / "examples" / "lenet5.nn").graph("lenet5").params
    want = {p.name: reference(p, 3) for p in params}
    for setting in ("1", "2", "0", ""):
        monkeypatch.setenv("NNC_THREADS", setting)
        got = initialize(params, 3)
        assert list(got) == list(want)
        for name in want:
            same(got[name], want[name])


@pytest.mark.parametrize("kind", ["uniform:inf", "uniform:nan", "uniform:-0.5", "normal:-1", "normal:nan",
                                  "normal:inf", "uniform:1e308"])
def test_numbers_numpy_refuses_or_that_are_not_finite_behave_as_numpys(kind, small_pieces):
    p = param("odd/w", (3, 5), kind)
    try:
        want = reference(p, 0)
    except (ValueError, OverflowError) as e:
        with pytest.raises(type(e), match=str(e)[:20]):
            initialize([p], 0, threads=2)
        return
    same(initialize([p], 0, threads=2)[p.name], want)


def test_an_unknown_initialiser_is_named_before_anything_is_drawn(small_pieces):
    params = [param("ok/w", (5000,), "he_uniform"), param("bad/w", (3,), "bogus")]
    with pytest.raises(ValueError, match="unknown initialiser 'bogus' for bad/w"):
        initialize(params, 0, threads=2)
    with pytest.raises(ValueError, match="unknown initialiser 'nope'"):
        initial_value(param("x/w", (2,), "nope"), 0)


def test_the_arrays_are_fresh_and_writable(small_pieces):
    params = [param("a/w", (300, 7), "xavier_uniform"), param("a/b", (7,), "zeros"), param("a/g", (7,), "ones")]
    first, second = initialize(params, 0, threads=2), initialize(params, 0, threads=2)
    for name in first:
        assert first[name].flags.writeable and first[name].flags.c_contiguous
        assert not np.shares_memory(first[name], second[name])


def test_a_model_starts_from_these_numbers():
    from pathlib import Path

    import nnc
    model = nnc.load(Path(__file__).resolve().parents[1] / "examples" / "lenet5.nn").model("lenet5", seed=5)
    for p in model.graph.params:
        same(np.asarray(model.params[p.name] if p.trainable else model.state[p.name]), reference(p, 5))
