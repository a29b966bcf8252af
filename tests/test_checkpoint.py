"""Checkpoints: exact round trips, atomic writes that survive failures and SIGKILL, clear errors, compatibility."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from nnc.train import checkpoint as ck
from nnc.train.checkpoint import (BEST_NAME, LAST_NAME, Checkpoint, CheckpointError, check_compatible,
                                  latest_checkpoint, load_checkpoint, nonfinite_tensors, restore_rng,
                                  rng_state, save_checkpoint, save_to_directory)

REPO = Path(__file__).resolve().parent.parent


def bits(a: np.ndarray) -> tuple:
    a = np.asarray(a)
    return a.dtype.name, a.shape, a.astype(a.dtype.newbyteorder("<")).tobytes()


def sample(step: int = 7) -> Checkpoint:
    r = np.random.default_rng(step)
    return Checkpoint(
        params={"mlp/h.dense/weight": r.standard_normal((4, 3)).astype(np.float32),
                "mlp/h.dense/bias": r.standard_normal(3).astype(np.float32)},
        state={"mlp/bn/running_mean": r.standard_normal(3)},
        optimizer={"adam/m/mlp/h.dense/weight": np.zeros((4, 3), np.float32), "adam/t": np.array(step, np.int64)},
        meta={"step": step, "epoch": 1, "train": "fit"})


def temps(directory: Path) -> list[str]:
    return sorted(n for n in os.listdir(directory) if ".tmp-" in n)


# ------------------------------------------------------------------------------------------- round trips

def test_round_trip_every_dtype_bit_for_bit(tmp_path):
    r = np.random.default_rng(0)
    params = {
        "f32": r.standard_normal((3, 5)).astype(np.float32),
        "f64": r.standard_normal((2, 2, 2)),
        "i32": r.integers(-2**31, 2**31, size=7, dtype=np.int32),
        "i64": np.array([-2**63, -1, 0, 2**63 - 1], np.int64),
        "u8": np.arange(256, dtype=np.uint8).reshape(16, 16),
        "f16": np.array([1.5, -0.0, 65504], np.float16),
        "i8": np.array([-128, 127], np.int8), "i16": np.array([-32768], np.int16),
        "u16": np.array([65535], np.uint16), "u32": np.array([2**32 - 1], np.uint32),
        "u64": np.array([2**64 - 1], np.uint64), "bool": np.array([[True, False]]),
        "scalar/f32": np.array(3.25, np.float32), "scalar/i64": np.array(-5, np.int64),
        "scalar/u8": np.array(200, np.uint8), "numpy scalar": np.float64(0.1),
        "empty": np.zeros((0, 3), np.float32), "empty1": np.zeros(0, np.int32),
        "a.b/c.d/e": np.ones(2), "deep/a/b/c/d/e/f.g.h": np.ones(1, np.int32), "ünï/cødé": np.ones(1),
        "tiny": np.array([5e-324, -5e-324, 2.2250738585072014e-308, -0.0]),
    }
    ckpt = Checkpoint(params=params, state={"bn/var": np.array(1.0, np.float32)},
                      optimizer={"sgd/momentum/f32": np.full((3, 5), 0.5, np.float32)}, meta={"step": 3})
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, ckpt)
    back = load_checkpoint(path)
    assert back == ckpt
    assert set(back.params) == set(params)
    for name, a in params.items():
        b = back.params[name]
        assert bits(b) == bits(a), name
        assert isinstance(b, np.ndarray) and b.flags.writeable and b.flags.c_contiguous and b.dtype.isnative
    assert back.params["scalar/f32"].shape == () and back.params["scalar/f32"].dtype == np.float32
    assert back.params["numpy scalar"].shape == ()
    back.params["f32"][0, 0] = 1.0  # writable: the training loop updates in place


def test_special_floats_round_trip_when_allowed(tmp_path):
    nan_payload = np.array([0x7FC00001, 0xFFC12345], np.uint32).view(np.float32)
    a = np.concatenate([nan_payload, np.array([np.inf, -np.inf, -0.0, 1e-45], np.float32)])
    ckpt = Checkpoint({"w": a}, {}, {}, {})
    save_checkpoint(tmp_path / "c", ckpt, allow_nonfinite=True)
    assert bits(load_checkpoint(tmp_path / "c").params["w"]) == bits(a)


def test_non_contiguous_and_big_endian_arrays_keep_their_values(tmp_path):
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    ckpt = Checkpoint({"t": base.T, "strided": base[::2, ::3], "fortran": np.asfortranarray(base),
                       "big": base.astype(">f8"), "big_i": np.arange(5, dtype=">i4")}, {}, {}, {})
    save_checkpoint(tmp_path / "c", ckpt)
    back = load_checkpoint(tmp_path / "c")
    for name, a in ckpt.params.items():
        assert np.array_equal(back.params[name], a), name
        assert back.params[name].dtype.isnative
    assert back == ckpt


def test_empty_checkpoint_and_empty_sections(tmp_path):
    for ckpt in (Checkpoint({}, {}, {}, {}), Checkpoint({"w": np.ones(2)}, {}, {}, {}),
                 Checkpoint({}, {"s": np.ones(1)}, {}, {"a": {}}), Checkpoint({}, {}, {"o": np.ones(1)}, {"l": []})):
        save_checkpoint(tmp_path / "c", ckpt)
        back = load_checkpoint(tmp_path / "c")
        assert back == ckpt
        assert (back.params, back.state, back.optimizer, back.meta) == (
            {k: back.params[k] for k in ckpt.params}, {k: back.state[k] for k in ckpt.state},
            {k: back.optimizer[k] for k in ckpt.optimizer}, ckpt.meta)


def test_meta_round_trips_exactly(tmp_path):
    meta = {
        "step": 12345, "epoch": 3, "seed": 2**64 + 17, "negative big": -(2**100),
        "lr": 0.1, "tiny": 5e-324, "third": 1 / 3, "best": float("inf"), "worst": float("-inf"),
        "flag": True, "none": None, "name": "fit ünïcødé \"quoted\" \n newline",
        "program_hash": "sha256:" + "ab" * 32,
        "nested": {"a": {"b": {"c": [1, 2.5, "x", None, [True, {"d": []}]]}}},
        "history": [{"step": i, "loss": 1.0 / (i + 1)} for i in range(50)],
    }
    save_checkpoint(tmp_path / "c", Checkpoint({}, {}, {}, meta))
    back = load_checkpoint(tmp_path / "c").meta
    assert back == meta
    assert type(back["seed"]) is int and back["seed"] == 2**64 + 17
    assert all(type(h["loss"]) is float for h in back["history"])


def test_meta_nan_tuples_and_numpy_scalars(tmp_path):
    meta = {"loss": float("nan"), "shape": (2, 3), "n": np.int64(2**62), "x": np.float32(0.1), "ok": np.bool_(True)}
    save_checkpoint(tmp_path / "c", Checkpoint({}, {}, {}, meta))
    back = load_checkpoint(tmp_path / "c").meta
    assert np.isnan(back["loss"])
    assert back["shape"] == [2, 3]  # JSON has no tuples
    assert back["n"] == 2**62 and type(back["n"]) is int
    assert np.float32(back["x"]) == np.float32(0.1)
    assert back["ok"] is True


@pytest.mark.parametrize("kind", ["PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"])
def test_restored_generator_continues_the_same_stream(tmp_path, kind):
    g = np.random.Generator(getattr(np.random, kind)(1234))
    g.random(17)
    g.integers(0, 10, size=3, dtype=np.int32)  # leaves a buffered half-word in some generators
    save_checkpoint(tmp_path / "c", Checkpoint({}, {}, {}, {"rng": {"data": rng_state(g)}}))
    restored = restore_rng(load_checkpoint(tmp_path / "c").meta["rng"]["data"])
    assert np.array_equal(g.random(100), restored.random(100))
    assert np.array_equal(g.integers(0, 2**63, 50), restored.integers(0, 2**63, 50))
    assert np.array_equal(g.permutation(1000), restored.permutation(1000))
    assert np.array_equal(g.standard_normal(10, dtype=np.float32), restored.standard_normal(10, dtype=np.float32))


def test_raw_pcg64_state_with_big_ints_survives_meta(tmp_path):
    g = np.random.default_rng(99)
    g.random(5)
    state = g.bit_generator.state
    assert state["state"]["state"] > 2**64  # a 128-bit integer
    save_checkpoint(tmp_path / "c", Checkpoint({}, {}, {}, {"rng": state}))
    loaded = load_checkpoint(tmp_path / "c").meta["rng"]
    assert loaded == state
    h = np.random.Generator(np.random.PCG64())
    h.bit_generator.state = loaded
    assert np.array_equal(g.random(20), h.random(20))


def test_restore_rng_rejects_nonsense():
    for bad in ({}, {"bit_generator": "os.system"}, {"bit_generator": "PCG64", "state": {"state": "x"}}):
        with pytest.raises(CheckpointError, match="random generator"):
            restore_rng(bad)


# ----------------------------------------------------------------------------- refusing to write bad data

@pytest.mark.parametrize("ckpt, message", [
    (Checkpoint({"w": np.ones(2, np.complex128)}, {}, {}, {}), "dtype complex128"),
    (Checkpoint({"w": np.array([object()])}, {}, {}, {}), "dtype object"),
    (Checkpoint({"w": [1.0, 2.0]}, {}, {}, {}), "is a list, not a numpy array"),
    (Checkpoint({"": np.ones(1)}, {}, {}, {}), "names are non-empty strings"),
    (Checkpoint({}, {}, {}, {"rng": np.random.MT19937(0).state}), r"meta\['rng'\]\['state'\]\['key'\].*rng_state"),
    (Checkpoint({}, {}, {}, {1: "int key"}), "meta keys must be strings"),
    (Checkpoint({}, {}, {}, {"p": Path("x")}), r"meta\['p'\] is a PosixPath|meta\['p'\] is a WindowsPath"),
    (Checkpoint({}, {}, {}, ["not", "a", "dict"]), "meta must be a dict"),
    (Checkpoint({"w": np.array([1.0, np.nan], np.float32)}, {}, {}, {}), "NaN or infinite values in params/w"),
    (Checkpoint({}, {}, {"adam/v/w": np.array([np.inf])}, {}), "optim/adam/v/w"),
])
def test_invalid_checkpoints_are_refused_before_touching_the_disk(tmp_path, ckpt, message):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, sample(1))
    with pytest.raises(CheckpointError, match=message):
        save_checkpoint(path, ckpt)
    assert load_checkpoint(path) == sample(1)
    assert temps(tmp_path) == []


def test_cyclic_meta_is_refused(tmp_path):
    meta: dict = {}
    meta["self"] = meta
    with pytest.raises(CheckpointError, match="contains itself"):
        save_checkpoint(tmp_path / "c", Checkpoint({}, {}, {}, meta))


def test_nonfinite_tensors_lists_stored_keys():
    c = Checkpoint({"a": np.array([1.0, np.nan]), "b": np.ones(2), "i": np.array([1])},
                   {"s": np.array(np.inf, np.float32)}, {}, {})
    assert nonfinite_tensors(c) == ["params/a", "state/s"]


# ---------------------------------------------------------------------------------------------- atomicity

def test_failed_rename_leaves_previous_checkpoint_and_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, sample(1))
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError(errno.EXDEV, "simulated rename failure")
    monkeypatch.setattr(ck.os, "replace", broken_replace)
    with pytest.raises(CheckpointError, match="simulated rename failure.*previous file there.*unchanged"):
        save_checkpoint(path, sample(2))
    assert path.read_bytes() == before
    assert load_checkpoint(path) == sample(1)
    assert temps(tmp_path) == []


def test_write_failing_part_way_leaves_previous_checkpoint(tmp_path, monkeypatch):
    """The disk fills up after half the new file is written: the temp file is half-written, then removed."""
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, sample(1))
    seen = {}

    def full_disk_fsync(fd):
        seen["size"] = os.fstat(fd).st_size
        os.ftruncate(fd, seen["size"] // 2)
        seen["temps"] = temps(tmp_path)
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(ck.os, "fsync", full_disk_fsync)
    with pytest.raises(CheckpointError, match="No space left on device"):
        save_checkpoint(path, sample(2))
    assert seen["temps"] == [f".c.safetensors.tmp-{os.getpid()}"]  # it did exist, obviously temporary
    assert load_checkpoint(path) == sample(1)
    assert temps(tmp_path) == []


def test_interrupt_during_write_propagates_and_cleans_up(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, sample(1))

    def interrupted(fd):
        raise KeyboardInterrupt
    monkeypatch.setattr(ck.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, sample(2))
    assert load_checkpoint(path) == sample(1)
    assert temps(tmp_path) == []


def test_fsync_and_rename_happen_in_order(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(ck.os, "fsync", lambda fd: (calls.append(("fsync", os.fstat(fd).st_mode)), real_fsync(fd)))
    monkeypatch.setattr(ck.os, "replace", lambda a, b: (calls.append(("replace", Path(a).name, Path(b).name)),
                                                        real_replace(a, b)))
    save_checkpoint(tmp_path / "c.safetensors", sample(1))
    import stat
    kinds = [c[0] if c[0] == "replace" else ("fsync-dir" if stat.S_ISDIR(c[1]) else "fsync-file") for c in calls]
    assert kinds[:2] == ["fsync-file", "replace"]
    assert calls[1][1:] == (f".c.safetensors.tmp-{os.getpid()}", "c.safetensors")
    if os.name == "posix":
        assert kinds[2:] == ["fsync-dir"]


def test_stray_truncated_temp_does_not_affect_loading_and_is_cleaned(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, sample(1))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stray = tmp_path / f".c.safetensors.tmp-{dead.pid}"
    stray.write_bytes(path.read_bytes()[:100])  # a writer that died mid-way
    assert load_checkpoint(path) == sample(1)
    assert latest_checkpoint(tmp_path) is None  # not a DIR/last.safetensors layout, and never the temp
    save_checkpoint(path, sample(2))
    assert load_checkpoint(path) == sample(2)
    if os.name == "posix":
        assert temps(tmp_path) == []


_WRITER = textwrap.dedent("""
    import os, sys, time
    import numpy as np
    from nnc.train import checkpoint as ck
    path, mode = sys.argv[1], sys.argv[2]
    if mode == "stall-before-rename":
        real = os.replace
        def stalled(a, b):
            print("renaming", flush=True)
            time.sleep(60)
            real(a, b)
        ck.os.replace = stalled
    if mode == "stall-mid-write":
        real_fdopen = os.fdopen
        class HalfWriter:
            def __init__(self, f): self.f = f
            def __enter__(self): return self
            def __exit__(self, *exc): self.f.close()
            def fileno(self): return self.f.fileno()
            def flush(self): self.f.flush()
            def write(self, blob):
                self.f.write(blob[:len(blob) // 2])
                self.f.flush()
                print("half-written", len(blob), flush=True)
                time.sleep(60)
        ck.os.fdopen = lambda fd, mode: HalfWriter(real_fdopen(fd, mode))
    i = 0
    while True:
        w = np.full(1_000_000, i, np.float32)
        c = ck.Checkpoint({"w": w}, {"bn/mean": np.full(1000, i, np.float64)},
                          {"adam/m/w": np.full(1_000_000, -i, np.float32)}, {"version": i})
        print("saving", i, flush=True)
        ck.save_checkpoint(path, c)
        print("saved", i, flush=True)
        i += 1
""")


def _consistent(path: Path) -> int:
    c = load_checkpoint(path)
    v = c.meta["version"]
    assert c.params["w"].shape == (1_000_000,) and (c.params["w"] == v).all()
    assert (c.state["bn/mean"] == v).all() and (c.optimizer["adam/m/w"] == -v).all()
    return v


def _writer(path: Path, mode: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", _WRITER, str(path), mode], stdout=subprocess.PIPE,
                            text=True, env=env, cwd=REPO)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_at_random_moments_leaves_a_complete_checkpoint(tmp_path):
    """Time one save of the writer, then kill it at fractions of that time into the next save."""
    path = tmp_path / "c.safetensors"
    for fraction in (0.1, 0.3, 0.5, 0.7, 0.9):
        proc = _writer(path, "loop")
        saved, started = -1, {}
        try:
            for line in proc.stdout:
                kind, n = line.split()
                n = int(n)
                if kind == "saving":
                    started[n] = time.perf_counter()
                if kind == "saved":
                    saved = n
                    duration = time.perf_counter() - started[n]
                if kind == "saving" and n == 2:
                    time.sleep(fraction * duration)
                    break
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            proc.stdout.close()
        v = _consistent(path)
        assert v >= saved, (v, saved)  # never older than what was reported saved


def _kill_at(path: Path, mode: str, marker: str) -> subprocess.Popen:
    proc = _writer(path, mode)
    try:
        for line in proc.stdout:
            if line.startswith(marker):
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    return proc


def _version(v: int) -> Checkpoint:
    return Checkpoint({"w": np.full(1_000_000, v, np.float32)}, {"bn/mean": np.full(1000, float(v))},
                      {"adam/m/w": np.full(1_000_000, -v, np.float32)}, {"version": v})


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_with_a_half_written_temp_keeps_the_previous_version(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, _version(41))
    proc = _kill_at(path, "stall-mid-write", "half-written")
    stray = tmp_path / f".c.safetensors.tmp-{proc.pid}"
    assert temps(tmp_path) == [stray.name]
    assert 0 < stray.stat().st_size < path.stat().st_size  # really half-written
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(stray)
    assert _consistent(path) == 41
    save_checkpoint(path, sample(3))  # the next save removes the dead writer's temp file
    assert temps(tmp_path) == [] or os.name != "posix"


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_between_fsync_and_rename_keeps_the_previous_version(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, _version(41))
    proc = _kill_at(path, "stall-before-rename", "renaming")
    assert temps(tmp_path) == [f".c.safetensors.tmp-{proc.pid}"]  # complete, never renamed
    assert _consistent(path) == 41
    save_checkpoint(path, sample(3))
    assert temps(tmp_path) == [] or os.name != "posix"


# -------------------------------------------------------------------------------------- errors on loading

def _no_library_exception(excinfo):
    assert type(excinfo.value) is CheckpointError
    err = excinfo.value
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)  # no chained traceback


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match=r"no checkpoint at .*nope\.safetensors: the file does not exist") as e:
        load_checkpoint(tmp_path / "nope.safetensors")
    _no_library_exception(e)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(CheckpointError, match="is a directory, not a checkpoint file"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"\x01\x02\x03", "only 3 bytes long"),
    (b"hello, this is a text file and not a checkpoint\n", "not a safetensors file"),
    (b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all", "not a safetensors file: its header is not JSON"),
    (b"\x04\x00\x00\x00\x00\x00\x00\x00[1] ", "does not begin with a safetensors header"),
    (b"\x04\x00\x00\x00\x00\x00\x00\x00{\xff\xfe}", "not a safetensors file: its header is not JSON"),
    (bytes(range(256)) * 4, "not a safetensors file"),
    (b"PK\x03\x04" + b"\x00" * 100, "not a safetensors file"),
])
def test_garbage_files(tmp_path, content, message):
    path = tmp_path / "c.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as e:
        load_checkpoint(path)
    assert str(path) in str(e.value)
    _no_library_exception(e)


def test_every_truncation_is_a_clear_error(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, sample(1))
    full = path.read_bytes()
    header_end = 8 + int.from_bytes(full[:8], "little")
    for cut in range(len(full)):
        path.write_bytes(full[:cut])
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(path)
        _no_library_exception(e)
        if 8 < cut:
            assert "truncated" in str(e.value), (cut, str(e.value))
        if cut >= header_end:
            assert "tensors need" in str(e.value)
    path.write_bytes(full + b"extra")
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        load_checkpoint(path)


def test_safetensors_file_from_another_tool(tmp_path):
    path = tmp_path / "model.safetensors"
    safetensors.numpy.save_file({"weight": np.ones(3, np.float32)}, path)
    with pytest.raises(CheckpointError, match="not an nnc checkpoint.*written by something else") as e:
        load_checkpoint(path)
    _no_library_exception(e)
    safetensors.numpy.save_file({"weight": np.ones(3, np.float32)}, path, metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match=r"not an nnc checkpoint.*\(its metadata: format=pt\)"):
        load_checkpoint(path)


@pytest.mark.parametrize("metadata, tensors, message", [
    ({"nnc": "{}", "nnc.format": "2"}, {}, r"newer nnc \(checkpoint format 2; this nnc reads format 1"),
    ({"nnc": "{}"}, {}, "format version None is not a number"),
    ({"nnc": "{}", "nnc.format": "one"}, {}, "format version 'one' is not a number"),
    ({"nnc": "{broken", "nnc.format": "1"}, {}, "'nnc' entry is not JSON"),
    ({"nnc": "[1, 2]", "nnc.format": "1"}, {}, "not a JSON object"),
    ({"nnc": "{}", "nnc.format": "1"}, {"weights/w": np.ones(1)}, "'weights/w', outside params/, state/ and optim/"),
    ({"nnc": "{}", "nnc.format": "1"}, {"params/": np.ones(1)}, "outside params/"),
])
def test_damaged_or_foreign_nnc_metadata(tmp_path, metadata, tensors, message):
    path = tmp_path / "c.safetensors"
    path.write_bytes(safetensors.numpy.save(tensors, metadata=metadata))
    with pytest.raises(CheckpointError, match=message) as e:
        load_checkpoint(path)
    _no_library_exception(e)


def test_corrupt_tensor_table_is_wrapped(tmp_path):
    path = tmp_path / "c.safetensors"
    header = json.dumps({"__metadata__": {"nnc": "{}", "nnc.format": "1"},
                         "params/w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 4]}}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\x00" * 4)
    with pytest.raises(CheckpointError, match="not a valid safetensors file") as e:
        load_checkpoint(path)
    _no_library_exception(e)


def test_write_errors_are_checkpoint_errors(tmp_path):
    (tmp_path / "dir.safetensors").mkdir()
    with pytest.raises(CheckpointError, match="it is a directory"):
        save_checkpoint(tmp_path / "dir.safetensors", sample(1))
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="cannot create"):
        save_checkpoint(tmp_path / "file" / "c.safetensors", sample(1))


def test_missing_parent_directories_are_created(tmp_path):
    path = tmp_path / "runs" / "a" / "c.safetensors"
    save_checkpoint(path, sample(1))
    assert load_checkpoint(path) == sample(1)


# ------------------------------------------------------------------------------------------ compatibility

def test_check_compatible_accepts_a_matching_program():
    c = sample(1)
    check_compatible(c, c.specs())
    check_compatible(c, {k: (list(s), np.dtype(d)) for k, (s, d) in c.specs().items()})  # lists, dtype objects


def test_check_compatible_names_every_problem():
    c = sample(1)
    expected = c.specs()
    del expected["params/mlp/h.dense/bias"]                               # unexpected in the checkpoint
    del expected["optim/adam/t"]                                          # unexpected too
    expected["params/mlp/out.dense/weight"] = ((3, 10), "float32")        # missing from the checkpoint
    expected["state/mlp/bn/running_var"] = ((3,), "float64")              # missing too
    expected["params/mlp/h.dense/weight"] = ((4, 5), "float32")           # mis-shaped
    expected["state/mlp/bn/running_mean"] = ((3,), "float32")             # mis-typed
    expected["optim/adam/m/mlp/h.dense/weight"] = ((), "float32")         # mis-shaped (scalar)
    with pytest.raises(CheckpointError) as e:
        check_compatible(c, expected)
    err = e.value
    assert err.missing == ("params/mlp/out.dense/weight", "state/mlp/bn/running_var")
    assert err.unexpected == ("optim/adam/t", "params/mlp/h.dense/bias")
    assert [m[0] for m in err.mismatched] == ["optim/adam/m/mlp/h.dense/weight", "params/mlp/h.dense/weight",
                                              "state/mlp/bn/running_mean"]
    msg = str(err)
    assert msg.startswith("checkpoint does not fit this program (2 missing, 2 unexpected, 3 mismatched):")
    assert "missing:    params/mlp/out.dense/weight  float32[3, 10]" in msg
    assert "missing:    state/mlp/bn/running_var  float64[3]" in msg
    assert "unexpected: params/mlp/h.dense/bias  float32[3]" in msg
    assert "unexpected: optim/adam/t  int64[]" in msg
    assert "mismatched: params/mlp/h.dense/weight  checkpoint float32[4, 3], program float32[4, 5]" in msg
    assert "mismatched: state/mlp/bn/running_mean  checkpoint float64[3], program float32[3]" in msg
    assert "mismatched: optim/adam/m/mlp/h.dense/weight  checkpoint float32[4, 3], program float32[]" in msg


def test_check_compatible_sections():
    c = sample(1)
    weights_only = {k: v for k, v in c.specs().items() if not k.startswith("optim/")}
    with pytest.raises(CheckpointError, match="unexpected: optim/adam/t") as e:
        check_compatible(c, weights_only)
    assert e.value.missing == () and e.value.mismatched == ()
    check_compatible(c, weights_only, sections=("params", "state"))
    with pytest.raises(ValueError, match="unknown checkpoint section"):
        check_compatible(c, weights_only, sections=("optimizer",))
    with pytest.raises(ValueError, match="does not start with params/"):
        check_compatible(c, {"mlp/h.dense/weight": ((4, 3), "float32")})


def test_compatibility_after_a_round_trip(tmp_path):
    c = sample(4)
    save_checkpoint(tmp_path / "c", c)
    check_compatible(load_checkpoint(tmp_path / "c"), c.specs())


# ------------------------------------------------------------------------------- --checkpoint directories

def test_checkpoint_directory(tmp_path):
    d = tmp_path / "run"
    assert latest_checkpoint(d) is None
    d.mkdir()
    assert latest_checkpoint(d) is None
    assert save_to_directory(d, sample(1), best=True) == d / LAST_NAME
    assert load_checkpoint(d / BEST_NAME) == sample(1)
    save_to_directory(d, sample(2))
    assert latest_checkpoint(d) == d / LAST_NAME
    assert load_checkpoint(latest_checkpoint(d)) == sample(2)
    assert load_checkpoint(d / BEST_NAME) == sample(1)  # best only moves when told
    assert sorted(os.listdir(d)) == [BEST_NAME, LAST_NAME]
    with pytest.raises(CheckpointError, match="is a file, not a checkpoint directory"):
        latest_checkpoint(d / LAST_NAME)


def test_equality_is_bit_for_bit():
    a = Checkpoint({"w": np.array([np.nan, 0.0])}, {}, {}, {"x": float("nan")})
    assert a == Checkpoint({"w": np.array([np.nan, 0.0])}, {}, {}, {"x": float("nan")})
    assert a != Checkpoint({"w": np.array([np.nan, -0.0])}, {}, {}, {"x": float("nan")})
    assert a != Checkpoint({"w": np.array([np.nan, 0.0], np.float32)}, {}, {}, {"x": float("nan")})
    assert a != Checkpoint({"w": np.array([[np.nan, 0.0]])}, {}, {}, {"x": float("nan")})
    assert a != Checkpoint({"w": np.array([np.nan, 0.0])}, {}, {}, {"x": 1})
    assert a != Checkpoint({}, {"w": np.array([np.nan, 0.0])}, {}, {"x": float("nan")})
    assert "tensors" in repr(a) and "nan" not in repr(a)
