"""The LLVM backend's lowering cache (plan_cache.py): a fully cached compile skips lowering and gives the same
numbers; anything that changes the code misses; a damaged record is detected and rebuilt, never trusted."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nnc
from nnc import cache
from nnc.backends import get, inference_signature
from nnc.backends.llvm import plan_cache
from nnc.passes.pipeline import prepare

ROOT = Path(__file__).resolve().parents[1]
LLVM = get("llvm")
NUMPY = get("numpy")
MODEL = """model net {{
  input x: f32[N, 12]
  output y = x -> dense({width}) -> {act} -> dense(3)
}}
"""


@pytest.fixture(autouse=True)
def _fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path / "cache"))


def program(tmp_path: Path, width: int = 16, act: str = "relu") -> Path:
    path = tmp_path / f"net_{width}_{act}.nn"
    path.write_text(MODEL.format(width=width, act=act))
    return path


def variants(exe) -> list:
    """Every compiled variant of an executable and of its hoisted `prepare` executable."""
    out = list(exe._variants.values())
    if exe._prepare is not None:
        out += variants(exe._prepare)
    return out


def run(path: Path, **options):
    """(outputs of the llvm model at batch 5, the numpy oracle's, the llvm executable)."""
    x = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    graph = nnc.load(path).graph("net")
    sig = inference_signature(graph)
    oracle_model = nnc.load(path).model("net")
    state = {**dict(oracle_model.params), **dict(oracle_model.state)}
    outs = []
    for backend, opts in ((LLVM, options), (NUMPY, {})):
        exe = backend.compile(prepare(graph, backend), sig, options=opts)
        exe.load_state(dict(state))
        outs.append(exe(x=x)["y"])
    return outs[0], outs[1], exe_of(outs, graph, sig, options, state, x)


def exe_of(outs, graph, sig, options, state, x):
    exe = LLVM.compile(prepare(graph, LLVM), sig, options=options)
    exe.load_state(dict(state))
    again = exe(x=x)["y"]
    np.testing.assert_array_equal(again, outs[0])  # a second compile in the process: the same bits
    return exe


def refuse(self):
    raise AssertionError("lowered although the lowering was cached")


def test_a_fully_cached_compile_skips_lowering_and_gives_the_same_numbers(tmp_path, monkeypatch):
    path = program(tmp_path)
    first, oracle, exe = run(path)
    np.testing.assert_allclose(first, oracle, rtol=1e-5, atol=1e-6)
    assert all(v.from_record for v in variants(exe))   # the second compile of run() came from the records
    from nnc.backends.llvm.lower import Lowering
    with monkeypatch.context() as patched:
        patched.setattr(Lowering, "run", refuse)
        model = nnc.load(path).model("net", backend="llvm")
        x = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
        np.testing.assert_array_equal(model(x=x), first)
    assert all(v.from_record and v.cached for v in variants(model._exe))
    v = variants(model._exe)[0]
    assert v.ir == variants(exe)[0].ir   # the IR is generated again on request, the same text


def test_a_changed_model_or_option_misses(tmp_path, monkeypatch):
    run(program(tmp_path))
    for path, options in ((program(tmp_path, width=17), {}), (program(tmp_path, act="tanh"), {}),
                          (program(tmp_path), {"checked": True}), (program(tmp_path), {"profile": True}),
                          (program(tmp_path), {"opt": 2})):
        graph = nnc.load(path).graph("net")
        exe = LLVM.compile(prepare(graph, LLVM), inference_signature(graph), options=options)
        v = exe.variant({"N": 5})
        assert not v.from_record, (path.name, options)
        got, oracle, _ = run(path, **options)
        np.testing.assert_allclose(got, oracle, rtol=1e-5, atol=1e-6)


def test_an_nnc_environment_variable_or_another_source_misses(tmp_path, monkeypatch):
    path = program(tmp_path)
    run(path)
    graph = nnc.load(path).graph("net")
    sig = inference_signature(graph)
    monkeypatch.setenv("NNC_SOMETHING_NEW", "1")
    assert not LLVM.compile(prepare(graph, LLVM), sig).variant({"N": 5}).from_record
    monkeypatch.delenv("NNC_SOMETHING_NEW")
    assert LLVM.compile(prepare(graph, LLVM), sig).variant({"N": 5}).from_record
    monkeypatch.setattr(plan_cache, "_source", "0" * 64)   # nnc's sources edited
    assert not LLVM.compile(prepare(graph, LLVM), sig).variant({"N": 5}).from_record


def test_a_module_setting_changed_at_run_time_bypasses_the_cache(tmp_path, monkeypatch):
    from nnc.backends.llvm import library
    path = program(tmp_path, width=64)
    run(path)
    before = set(os.listdir(tmp_path / "cache" / plan_cache.NAMESPACE))
    monkeypatch.setattr(library, "ENABLED", not library.ENABLED)
    got, oracle, exe = run(path)
    assert not any(v.from_record for v in variants(exe))
    np.testing.assert_allclose(got, oracle, rtol=1e-5, atol=1e-6)
    assert set(os.listdir(tmp_path / "cache" / plan_cache.NAMESPACE)) == before   # and nothing written


def damage(entry: Path, how: str) -> None:
    blob = entry.read_bytes()
    if how == "truncated":
        entry.write_bytes(blob[: len(blob) - 7])
    elif how == "flipped":
        entry.write_bytes(blob[:-3] + bytes([blob[-3] ^ 0x20]) + blob[-2:])
    else:
        entry.write_bytes(b"")


@pytest.mark.parametrize("how", ["truncated", "flipped", "empty"])
def test_a_damaged_record_is_detected_and_rebuilt(tmp_path, how, capfd):
    path = program(tmp_path)
    first, oracle, _ = run(path)
    entries = sorted((tmp_path / "cache" / plan_cache.NAMESPACE).glob("*.entry"))
    for entry in entries:
        damage(entry, how)
    capfd.readouterr()
    model = nnc.load(path).model("net", backend="llvm")
    x = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    np.testing.assert_array_equal(model(x=x), first)
    err = capfd.readouterr().err
    assert "ignoring the cache entry llvm-plan/" in err and "rebuilding it" in err
    assert not any(v.from_record for v in variants(model._exe))
    again = nnc.load(path).model("net", backend="llvm")     # rebuilt: the next one is cached again
    assert all(v.from_record for v in variants(again._exe))


def test_a_record_that_decodes_but_describes_nothing_is_ignored(tmp_path, capfd):
    path = program(tmp_path)
    first, _, exe = run(path)
    keys = [plan_cache.key(e, {}) for e in [exe] + ([exe._prepare] if exe._prepare else [])]
    for k, bad in zip(keys, ({"format": plan_cache.FORMAT, "checks": 5}, {"format": plan_cache.FORMAT,
                             "ir": "0" * 64, "checks": [], "requires": [], "kernels": [], "scratch": [],
                             "lifetimes": [], "sizes": []})):
        cache.put(plan_cache.NAMESPACE, k, json.dumps(bad).encode())
    cache.put(plan_cache.NAMESPACE, keys[0], b"\xff not json")
    model = nnc.load(path).model("net", backend="llvm")
    x = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    np.testing.assert_array_equal(model(x=x), first)
    assert "lowering record" in capfd.readouterr().err


def test_a_record_whose_object_is_gone_compiles_again(tmp_path):
    path = program(tmp_path)
    first, _, _ = run(path)
    for entry in (tmp_path / "cache" / "llvm").glob("*.entry"):
        if entry.stat().st_size < 200_000:   # the model's objects, not the GEMM library
            entry.unlink()
    model = nnc.load(path).model("net", backend="llvm")
    x = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
    np.testing.assert_array_equal(model(x=x), first)


def test_records_hold_sizes_as_data():
    from nnc.backends.llvm.dims import Poly
    for d in (0, 7, Poly.symbol("N") * 3 + 4, Poly.symbol("N") * Poly.symbol("T")):
        assert plan_cache.dim_in(json.loads(json.dumps(plan_cache.dim_out(d)))) == d
    for bad in (True, "N", {"p": []}, {"p": [[["N"], "2"]]}, {"q": 1}, None):
        with pytest.raises(plan_cache.BadRecord):
            plan_cache.dim_in(bad)


CONCURRENT = """
import sys, numpy as np, nnc
m = nnc.load(sys.argv[1]).model("net", backend="llvm")
x = np.random.default_rng(0).normal(size=(5, 12)).astype(np.float32)
np.save(sys.argv[2], m(x=x))
"""


def test_processes_filling_one_cache_at_once_agree(tmp_path):
    path = program(tmp_path, width=24)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT, str(path), str(tmp_path / f"out{i}.npy")],
                              env=env, stderr=subprocess.PIPE, text=True) for i in range(3)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errs
    assert not any("ignoring" in e for e in errs), errs
    outs = [np.load(tmp_path / f"out{i}.npy") for i in range(3)]
    _, oracle, _ = run(path)
    for o in outs:
        np.testing.assert_allclose(o, oracle, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(o, outs[0])


def test_the_executable_names_the_entry_point_emit_defines():
    from nnc.backends.llvm import emit, executable
    assert executable.ENTRY == emit.ENTRY


def test_the_source_digest_follows_every_write_even_one_that_keeps_size_and_mtime(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("A = 1\n")
    (package / "sub" / "b.py").write_text("B = 2\n")
    monkeypatch.setattr(plan_cache, "_PACKAGE", package)

    def digest() -> str:
        monkeypatch.setattr(plan_cache, "_source", None)
        return plan_cache.source_digest()
    first = digest()
    assert digest() == first
    b = package / "sub" / "b.py"
    st = b.stat()
    b.write_text("B = 3\n")    # same size
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns))   # and the old mtime: the ctime still moves
    changed = digest()
    assert changed != first
    b.write_text("B = 2\n")
    assert digest() == first   # the content decides, not the history
    (package / "c.py").write_text("")
    assert digest() not in (first, changed)


def test_a_stat_signature_is_recorded_only_for_files_older_than_the_clock_can_confuse(tmp_path, monkeypatch):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "a.py").write_text("A = 1\n")
    monkeypatch.setattr(plan_cache, "_PACKAGE", package)
    monkeypatch.setattr(plan_cache, "_source", None)
    plan_cache.source_digest()
    assert not [e for e in (tmp_path / "cache" / plan_cache.NAMESPACE).glob("*.entry")]   # just written: racy
    monkeypatch.setattr(plan_cache, "RACY_NS", -1)
    monkeypatch.setattr(plan_cache, "_source", None)
    plan_cache.source_digest()
    assert len(list((tmp_path / "cache" / plan_cache.NAMESPACE).glob("*.entry"))) == 1


def test_the_pool_size_does_not_change_the_code_so_it_hits(tmp_path, monkeypatch):
    path = program(tmp_path)
    run(path)
    graph = nnc.load(path).graph("net")
    monkeypatch.setenv("NNC_THREADS", "1")
    assert LLVM.compile(prepare(graph, LLVM), inference_signature(graph)).variant({"N": 5}).from_record


STRIDED = """model m {
  input x: f32[N, 2, L]
  output y = x -> conv1d(3, 3, stride=2) -> relu
}
"""


def test_a_symbol_that_must_be_specialised_is_recorded_and_read_without_lowering(tmp_path, monkeypatch):
    path = tmp_path / "strided.nn"
    path.write_text(STRIDED)
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(n, 2, length)).astype(np.float32) for n, length in ((2, 9), (3, 12))]
    first = nnc.load(path).model("m", backend="llvm")
    want = [first(x=x) for x in xs]
    assert first._exe.special == ("L",)
    from nnc.backends.llvm.lower import Lowering
    with monkeypatch.context() as patched:
        patched.setattr(Lowering, "run", refuse)
        again = nnc.load(path).model("m", backend="llvm")
        for x, y in zip(xs, want):
            np.testing.assert_array_equal(again(x=x), y)
    exe = again._exe
    assert exe.special == ("L",) and "L" in exe.why_special   # learnt from the record: no lowering
    assert all(v.from_record for v in exe._variants.values())
    oracle = nnc.load(path).model("m")
    for x, y in zip(xs, want):
        np.testing.assert_allclose(y, oracle(x=x), rtol=1e-4, atol=1e-5)


def test_a_setting_checked_once_is_checked_again_when_replaced(tmp_path, monkeypatch):
    from nnc.backends.llvm import lower_conv
    run(program(tmp_path))      # the settings measured and every loaded module verified
    src = plan_cache.source_digest()
    assert plan_cache.usable(src)
    monkeypatch.setattr(lower_conv, "PER_IMAGE", int(str(lower_conv.PER_IMAGE + 1)))
    assert not plan_cache.usable(src)
    monkeypatch.setattr(lower_conv, "PER_IMAGE", int(str(lower_conv.PER_IMAGE - 1)))   # equal, another object
    assert plan_cache.usable(src)
    monkeypatch.setattr(lower_conv, "NEW_KNOB", 3, raising=False)   # a setting the code does not have
    assert not plan_cache.usable(src)
