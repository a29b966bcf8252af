"""The C library's prepare step: parameter-only work hoisted out of the forward call, as in process.

A conv + batchnorm model (ResNet-like: folded filters and biases are derived tensors) compiled by
`nnc compile --target llvm` must equal the in-process llvm backend (which hoists by default) bit for bit
at several batches, after create (compiled-in weights), after load, and after set of a parameter or a
state tensor; the derived tensors are not among the tensors an embedder names, the memory plan counts
them, and a caller's arena holds the prepare step's intermediates too.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import nnc  # noqa: E402
from test_llvm_library import cache, nnc_cli  # noqa: E402,F401  (the same CLI runner and private cache fixture)

ROOT = Path(__file__).resolve().parent.parent
CC = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler")
P, I64 = ctypes.c_void_p, ctypes.c_int64
NNC_OK, NNC_E_NAME, NNC_E_SIZE = 0, 3, 4

CONVBN = """block basic(x, width: int, stride: int = 1) {
  y = x -> conv2d(width, 3, stride=stride, padding=1, bias=false) -> batchnorm -> relu
        -> conv2d(width, 3, padding=1, bias=false) -> batchnorm
  skip = x
  if stride != 1 or channels(x) != width {
    skip = x -> conv2d(width, 1, stride=stride, bias=false) -> batchnorm
  }
  return relu(y + skip)
}

model convbn {
  input image: f32[N, 3, 16, 16]
  x = image -> conv2d(8, 3, padding=1, bias=false) -> batchnorm -> relu -> maxpool(2)
  x = x -> basic(8) -> basic(16, 2)
  output logits = x -> global_avgpool -> flatten -> dense(10)
}
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("src") / "convbn.nn"
    path.write_text(CONVBN)
    return path


@pytest.fixture(scope="module")
def out(cache, source, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("convbn-lib")
    done = nnc_cli("compile", str(source), "--target", "llvm", "-o", str(folder))
    assert done.returncode == 0, done.stderr
    return folder


@pytest.fixture(scope="module")
def program(cache, source):
    return nnc.load(source)


class ConvBn:
    """libconvbn through ctypes."""

    def __init__(self, path: Path):
        self.dll = ctypes.CDLL(str(path))
        self.dll.convbn_last_error.restype = ctypes.c_char_p
        self.dll.convbn_arena_bytes.restype = ctypes.c_int64

    def create(self, max_batch: int, weights: Path | None = None) -> P:
        m = P()
        assert self.dll.convbn_create(ctypes.byref(m), I64(max_batch)) == NNC_OK, self.error(None)
        if weights is not None:
            assert self.dll.convbn_load(m, str(weights).encode()) == NNC_OK, self.error(m)
        return m

    def error(self, m) -> str:
        return self.dll.convbn_last_error(m).decode()

    def forward(self, m, x: np.ndarray) -> np.ndarray:
        y = np.zeros((len(x), 10), np.float32)
        rc = self.dll.convbn_forward(m, I64(len(x)), x.ctypes.data_as(P), y.ctypes.data_as(P))
        assert rc == NNC_OK, self.error(m)
        return y

    def set(self, m, name: str, value: np.ndarray) -> int:
        a = np.ascontiguousarray(value, np.float32)
        return self.dll.convbn_set(m, name.encode(), a.ctypes.data_as(P), ctypes.c_size_t(a.nbytes))


@pytest.fixture(scope="module")
def lib(out) -> ConvBn:
    return ConvBn(out / "libconvbn.so")


def images(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3, 16, 16), dtype=np.float32)


def test_the_library_has_a_prepare_step_and_its_header_says_so(out, program):
    h = (out / "convbn.h").read_text()
    exe = program.model("convbn", backend="llvm", seed=0)._exe
    derived = exe._derived
    assert derived, "the in-process executable hoists the folded batchnorm"
    assert "Prepare step: " in h and "the next PREFIX_forward computes them first" in h
    assert "A set marks the derived tensors stale" in h
    assert all(name not in h for name in derived)  # never named to the embedder
    held = [p for p in exe.signature.inputs if p.role.name in ("PARAM", "STATE")]
    assert f"#define CONVBN_TENSORS {len(held)}" in h
    nbytes = sum(int(np.prod(exe._values[name].shape)) * 4 for name in derived)
    assert f"#define CONVBN_DERIVED_BYTES {nbytes}" in h
    nm = subprocess.run(["nm", str(out / "libconvbn.a")], capture_output=True, text=True).stdout
    assert "nnc_prepare_convbn" in nm and "nnc_convbn_run" in nm


def test_forward_equals_in_process_with_hoisting_bit_for_bit(lib, out, program):
    m = lib.create(8, out / "convbn.safetensors")
    ref = program.model("convbn", backend="llvm", seed=0)
    oracle = program.model("convbn", backend="numpy", seed=0)
    for n in (1, 3, 8, 2):
        x = images(n, n)
        y = lib.forward(m, x)
        np.testing.assert_array_equal(y, ref(image=x))
        np.testing.assert_allclose(y, oracle(image=x), rtol=1e-4, atol=1e-5)
    lib.dll.convbn_destroy(m)


def test_set_then_forward_recomputes_the_derived_tensors(lib, out, program):
    m = lib.create(4, out / "convbn.safetensors")
    ref = program.model("convbn", backend="llvm", seed=0)
    x = images(4, 20)
    before = lib.forward(m, x)
    rng = np.random.default_rng(5)
    w = "convbn/x.basic/y.conv2d/weight"
    var = "convbn/x.batchnorm/running_var"
    new_w = rng.standard_normal(ref.params[w].shape).astype(np.float32) * 0.1
    new_var = rng.random(ref.state[var].shape, dtype=np.float32) + 0.5
    assert lib.set(m, w, new_w) == NNC_OK and lib.set(m, var, new_var) == NNC_OK  # two sets, one prepare
    ref.params[w] = new_w
    ref.state[var] = new_var
    after = lib.forward(m, x)
    assert not np.array_equal(after, before)
    np.testing.assert_array_equal(after, ref(image=x))
    np.testing.assert_array_equal(lib.forward(m, x[:1]), ref(image=x[:1]))
    # the derived tensors are not the embedder's: no name reaches them
    derived = ref._exe._derived[0]
    assert lib.set(m, derived, np.zeros(1, np.float32)) == NNC_E_NAME
    assert lib.error(m) == f"no tensor named {derived} in model convbn"
    lib.dll.convbn_destroy(m)


def test_load_then_forward(lib, out, program, tmp_path):
    a = lib.create(2, out / "convbn.safetensors")
    x = images(2, 30)
    first = lib.forward(a, x)
    bias = "convbn/logits.dense/bias"
    gamma = "convbn/x.basic_1/y.batchnorm_1/weight"
    ref = program.model("convbn", backend="llvm", seed=0)
    assert gamma in ref.params, list(ref.params)
    ref.params[gamma] = np.linspace(0.5, 2.0, 16, dtype=np.float32)
    ref.params[bias] = np.arange(10, dtype=np.float32)
    for name in (gamma, bias):
        assert lib.set(a, name, ref.params[name]) == NNC_OK
    path = tmp_path / "changed.safetensors"
    assert lib.dll.convbn_save(a, str(path).encode()) == NNC_OK, lib.error(a)
    b = lib.create(2, out / "convbn.safetensors")
    np.testing.assert_array_equal(lib.forward(b, x), first)  # prepared from the first weights
    assert lib.dll.convbn_load(b, str(path).encode()) == NNC_OK, lib.error(b)
    np.testing.assert_array_equal(lib.forward(b, x), ref(image=x))
    assert lib.dll.convbn_load(b, str(out / "convbn.safetensors").encode()) == NNC_OK
    np.testing.assert_array_equal(lib.forward(b, x), first)
    # the saved file holds parameters and state only, and the Python API reads it
    back = program.model("convbn", backend="llvm", seed=0)
    from nnc.train.checkpoint import load_checkpoint
    ck = load_checkpoint(path)
    assert not any(k.startswith("hoisted:") for k in list(ck.params) + list(ck.state))
    for name, value in ck.params.items():
        back.params[name] = value
    np.testing.assert_array_equal(back(image=x), ref(image=x))
    for m in (a, b):
        lib.dll.convbn_destroy(m)


def test_an_arena_the_caller_owns_serves_the_prepare_step_too(lib, out, program):
    need = lib.dll.convbn_arena_bytes(I64(3))
    assert need >= lib.dll.convbn_arena_bytes(I64(1)) > 0
    h = (out / "convbn.h").read_text()
    assert f"#define CONVBN_ACTIVATION_BYTES {lib.dll.convbn_arena_bytes(I64(1))}" in h
    raw = np.zeros(need + 64, np.uint8)
    start = (-raw.ctypes.data) % 64
    arena = raw[start:start + need]
    m = P()
    small = ctypes.c_size_t(need - 64)
    assert lib.dll.convbn_create_in(ctypes.byref(m), I64(3), arena.ctypes.data_as(P), small) == NNC_E_SIZE
    assert lib.dll.convbn_create_in(ctypes.byref(m), I64(3), arena.ctypes.data_as(P), ctypes.c_size_t(need)) == 0
    assert lib.dll.convbn_load(m, str(out / "convbn.safetensors").encode()) == NNC_OK
    x = images(3, 40)
    np.testing.assert_array_equal(lib.forward(m, x), program.model("convbn", backend="llvm", seed=0)(image=x))
    assert arena.any()
    lib.dll.convbn_destroy(m)


def test_compiled_in_weights_are_prepared_after_create(cache, source, program, tmp_path):
    done = nnc_cli("compile", str(source), "--target", "llvm", "--embed-weights", "--seed", "3", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    lib = ConvBn(tmp_path / "libconvbn.so")
    m = lib.create(2)
    x = images(2, 50)
    np.testing.assert_array_equal(lib.forward(m, x), program.model("convbn", backend="llvm", seed=3)(image=x))
    lib.dll.convbn_destroy(m)


def test_without_hoisting_one_entry_point_and_the_same_bits(cache, source, program, tmp_path):
    from nnc.backends.llvm.aot import compile_library
    compile_library(program._result, tmp_path, "convbn", "convbn", None, 0, str(source), hoist=False)
    h = (tmp_path / "convbn.h").read_text()
    assert "Prepare step" not in h and "#define CONVBN_DERIVED_BYTES 0" in h
    assert "nnc_prepare_convbn" not in subprocess.run(["nm", str(tmp_path / "libconvbn.a")], capture_output=True,
                                                      text=True).stdout
    lib = ConvBn(tmp_path / "libconvbn.so")
    m = lib.create(3, tmp_path / "convbn.safetensors")
    x = images(3, 60)
    np.testing.assert_array_equal(lib.forward(m, x), program.model("convbn", backend="llvm", seed=0)(image=x))
    lib.dll.convbn_destroy(m)


def test_checked_names_a_nan_of_the_prepare_step(cache, source, tmp_path):
    done = nnc_cli("compile", str(source), "--target", "llvm", "--checked", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    lib = ConvBn(tmp_path / "libconvbn.so")
    m = lib.create(2, tmp_path / "convbn.safetensors")
    assert lib.set(m, "convbn/x.batchnorm/running_var", np.full(8, -2.0, np.float32)) == NNC_OK  # sqrt(< 0)
    x = images(2, 70)
    y = np.zeros((2, 10), np.float32)
    for _ in range(2):  # the derived tensors stay stale: the next forward tries again
        assert lib.dll.convbn_forward(m, I64(2), x.ctypes.data_as(P), y.ctypes.data_as(P)) == 13  # NOT_FINITE
        assert lib.error(m) == ("computing the tensors derived from the parameters: layer x.batchnorm.sqrt "
                                f"(sqrt at {source}:13) produced a NaN or an infinity (checked)")
    lib.dll.convbn_destroy(m)
