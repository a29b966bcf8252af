"""The LLVM executable's call path (executable.py): input addresses remembered per array, an output array
reused only once nothing refers to it. Whatever the caller keeps of a result (a name, a view, a memoryview,
a weak reference, the dict of outputs) never changes under a later call, and every bad input still gets
its message."""
from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import nnc
from nnc.interp import RunError

TWO = """model two {
  input x: f32[N, 4]
  output y = x -> relu
  output z = x -> tanh
}
"""
ONE = """model one {
  input x: f32[N, 4]
  output y = x -> tanh
}
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "llvm-cache"))


def model(tmp_path, text: str, name: str):
    path = tmp_path / f"{name}.nn"
    path.write_text(text)
    return nnc.load(path).model(name, backend="llvm")


def inputs(n: int = 6, rows: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.normal(size=(rows, 4)).astype(np.float32) for _ in range(n)]


def test_every_kind_of_reference_to_a_result_survives_the_next_calls(tmp_path):
    m = model(tmp_path, ONE, "one")
    xs = inputs()
    kept = m(x=xs[0])
    view = m(x=xs[1])[1:]
    mv = memoryview(m(x=xs[2]))
    weak_target = m(x=xs[3])
    weak = weakref.ref(weak_target)
    del weak_target
    listed = [m(x=xs[4])]
    for x in xs + xs:   # many calls whose results are dropped: their arrays may be reused
        m(x=x)
    np.testing.assert_allclose(kept, np.tanh(xs[0]), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(view, np.tanh(xs[1])[1:], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(mv), np.tanh(xs[2]), rtol=1e-6, atol=1e-7)
    if weak() is not None:   # alive only while the executable still holds it: then never overwritten
        np.testing.assert_allclose(weak(), np.tanh(xs[3]), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(listed[0], np.tanh(xs[4]), rtol=1e-6, atol=1e-7)


def test_a_dropped_result_is_reused_and_each_call_is_right(tmp_path):
    m = model(tmp_path, ONE, "one")
    xs = inputs()
    addresses = set()
    for x in xs:
        y = m(x=x)
        np.testing.assert_allclose(y, np.tanh(x), rtol=1e-6, atol=1e-7)
        addresses.add(y.__array_interface__["data"][0])
        del y
    assert len(addresses) == 1   # nothing kept: one buffer served every call
    gc.collect()


def test_the_dict_of_outputs_keeps_every_output(tmp_path):
    m = model(tmp_path, TWO, "two")
    xs = inputs()
    first = m(x=xs[0])
    second = m(x=xs[1])
    m(x=xs[2])
    for out, x in ((first, xs[0]), (second, xs[1])):
        np.testing.assert_allclose(out["y"], np.maximum(x, 0), rtol=1e-6)
        np.testing.assert_allclose(out["z"], np.tanh(x), rtol=1e-6, atol=1e-7)
    y_only = m(x=xs[3])["y"]    # the dict dropped, one output kept
    m(x=xs[4])
    np.testing.assert_allclose(y_only, np.maximum(xs[3], 0), rtol=1e-6)


def test_an_input_changed_in_place_or_reshaped_is_read_afresh(tmp_path):
    m = model(tmp_path, ONE, "one")
    x = np.ones((3, 4), np.float32)
    np.testing.assert_allclose(m(x=x), np.tanh(x), rtol=1e-6)
    x[...] = -2.0   # the same array object, new values: the remembered address reads them
    np.testing.assert_allclose(m(x=x), np.tanh(x), rtol=1e-6)
    flat = np.arange(24, dtype=np.float32) / 10
    m(x=flat.reshape(6, 4))
    flat.shape = (3, 8)
    with pytest.raises(RunError, match="x"):
        m(x=flat)
    flat.shape = (6, 4)
    np.testing.assert_allclose(m(x=flat), np.tanh(flat), rtol=1e-6)
    other = np.full((2, 4), 0.5, np.float32)   # another object at another size
    np.testing.assert_allclose(m(x=other), np.tanh(other), rtol=1e-6)


@pytest.mark.parametrize("bad, message", [
    ({"x": np.zeros((3, 5), np.float32)}, "x"),
    ({"x": np.zeros((3, 4), np.int32)}, "f32"),
    ({}, "missing input"),
    ({"x": np.zeros((3, 4), np.float32), "w": np.zeros(1, np.float32)}, "unknown input"),
])
def test_bad_inputs_after_good_calls_still_get_their_message(tmp_path, bad, message):
    m = model(tmp_path, ONE, "one")
    x = inputs(1)[0]
    m(x=x)
    m(x=x)   # the remembered addresses and reused outputs are in place
    with pytest.raises(RunError, match=message):
        m(**bad)
    np.testing.assert_allclose(m(x=x), np.tanh(x), rtol=1e-6, atol=1e-7)


def test_a_non_contiguous_input_is_right(tmp_path):
    m = model(tmp_path, ONE, "one")
    base = np.arange(48, dtype=np.float32).reshape(6, 8) / 20
    x = base[:, ::2]
    np.testing.assert_allclose(m(x=x), np.tanh(x), rtol=1e-6)
    np.testing.assert_allclose(m(x=base[::2, :4]), np.tanh(base[::2, :4]), rtol=1e-6)


def test_alternating_batch_sizes_keep_every_result(tmp_path):
    m = model(tmp_path, ONE, "one")
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(n, 4)).astype(np.float32) for n in (3, 5, 3, 1, 5, 3)]
    kept = [m(x=x) for x in xs]
    for x in xs:
        m(x=x)
    for x, y in zip(xs, kept):
        np.testing.assert_allclose(y, np.tanh(x), rtol=1e-6, atol=1e-7)


DENSE = """model affine {
  input x: f32[N, 4]
  output y = x -> dense(3)
}
"""


def test_initial_parameters_are_held_without_a_copy_and_later_loads_copy(tmp_path):
    m = model(tmp_path, DENSE, "affine")
    oracle = nnc.load(tmp_path / "affine.nn").model("affine")
    x = inputs(1)[0]
    np.testing.assert_allclose(m(x=x), oracle(x=x), rtol=1e-5, atol=1e-6)
    name = next(n for n in m.params if n.endswith("weight"))
    w = np.ones_like(m.params[name])
    m.params[name] = w
    w[...] = 5.0          # the caller's array changes afterwards: the model copied it
    oracle.params[name] = np.ones_like(w)
    np.testing.assert_allclose(m(x=x), oracle(x=x), rtol=1e-5, atol=1e-6)
    exe = m._exe
    view = np.full((8,) + w.shape, 2.0, np.float32)[3]   # not owning its data: copied by adopt_state
    exe.adopt_state({name: view})
    view[...] = 7.0
    oracle.params[name] = np.full(w.shape, 2.0, np.float32)
    np.testing.assert_allclose(m(x=x), oracle(x=x), rtol=1e-5, atol=1e-6)
