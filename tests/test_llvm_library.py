"""`nnc compile --target llvm`: the C library (issue 9), driven through ctypes as an embedder would.

The library is compiled once per module, by `nnc compile` in a subprocess as a user runs it; its outputs
must equal the in-process llvm backend's bit for bit (inference and training steps), and the numpy
oracle's within the usual tolerance. The nnc cache is a fresh folder, so nothing compiled by an older
tree is reused.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import nnc  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LENET = "examples/lenet5.nn"
RTOL = 1e-4
P = ctypes.c_void_p
I64 = ctypes.c_int64
CC = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")
pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler")

NNC_OK, NNC_E_NULL, NNC_E_BATCH, NNC_E_NAME, NNC_E_SIZE, NNC_E_IO, NNC_E_FORMAT = 0, 1, 2, 3, 4, 5, 6
NNC_E_TRUNCATED, NNC_E_VERSION, NNC_E_MODEL, NNC_E_CHECKSUM = 7, 8, 9, 10
NNC_E_NOT_FINITE, NNC_E_LOSS = 13, 14


def nnc_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nnc", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNC_CACHE_DIR", str(tmp_path_factory.mktemp("nnc-cache")))
        yield


@pytest.fixture(scope="module")
def out(cache, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lenet5-lib")
    done = nnc_cli("compile", LENET, "--target", "llvm", "-o", str(folder))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(folder / f) for f in ("liblenet5.so", "liblenet5.a", "lenet5.h",
                                                             "lenet5.safetensors", "mnist.safetensors", "README.md")]
    return folder


class Lib:
    """The library through ctypes: lib.call("lenet5_forward", ...) -> status code."""

    def __init__(self, path: Path):
        self.dll = ctypes.CDLL(str(path))
        for prefix in ("lenet5", "mnist"):
            getattr(self.dll, f"{prefix}_last_error").restype = ctypes.c_char_p
            getattr(self.dll, f"{prefix}_arena_bytes").restype = ctypes.c_int64

    def create(self, prefix: str, max_batch: int, weights: Path | None = None) -> P:
        m = P()
        rc = getattr(self.dll, f"{prefix}_create")(ctypes.byref(m), I64(max_batch))
        assert rc == NNC_OK, self.error(prefix, None)
        if weights is not None:
            assert self.load(prefix, m, weights) == NNC_OK, self.error(prefix, m)
        return m

    def load(self, prefix: str, m, path) -> int:
        return getattr(self.dll, f"{prefix}_load")(m, str(path).encode())

    def error(self, prefix: str, m) -> str:
        return getattr(self.dll, f"{prefix}_last_error")(m).decode()

    def forward(self, m, x: np.ndarray, batch: int | None = None) -> tuple[int, np.ndarray]:
        x = np.ascontiguousarray(x, np.float32)
        y = np.zeros((x.shape[0], 10), np.float32)
        rc = self.dll.lenet5_forward(m, I64(x.shape[0] if batch is None else batch), x.ctypes.data_as(P),
                                     y.ctypes.data_as(P))
        return rc, y

    def step(self, t, x: np.ndarray, y: np.ndarray) -> tuple[int, float, float]:
        loss, acc = np.zeros((), np.float32), np.zeros((), np.float32)
        rc = self.dll.mnist_step(t, I64(len(x)), x.ctypes.data_as(P), y.ctypes.data_as(P), loss.ctypes.data_as(P),
                                 acc.ctypes.data_as(P))
        return rc, float(loss), float(acc)

    def get(self, prefix: str, m, name: str, like: np.ndarray) -> np.ndarray:
        a = np.empty_like(like)
        rc = getattr(self.dll, f"{prefix}_get")(m, name.encode(), a.ctypes.data_as(P), ctypes.c_size_t(a.nbytes))
        assert rc == NNC_OK, self.error(prefix, m)
        return a


@pytest.fixture(scope="module")
def lib(out) -> Lib:
    return Lib(out / "liblenet5.so")


@pytest.fixture(scope="module")
def program(cache):
    return nnc.load(ROOT / LENET)


def batch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, n).astype(np.int32)


# -- the artifacts ----------------------------------------------------------------------------------

def test_header_documents_the_abi(out):
    h = (out / "lenet5.h").read_text()
    for text in ("int lenet5_create(lenet5_t **out, int64_t max_batch);",
                 "int lenet5_forward(lenet5_t *m, int64_t batch, const float *image, float *logits);",
                 "int mnist_step(mnist_t *m, int64_t batch, const float *image, const int32_t *label, float *loss, "
                 "float *accuracy);",
                 "int mnist_save(mnist_t *m, const char *path);", "const char *lenet5_last_error(const lenet5_t *m);",
                 "/* input image: f32[B, 1, 28, 28] (float) */", "/* output logits: f32[B, 10] (float) */",
                 '#define LENET5_FEATURES_CONV2D_WEIGHT "lenet5/features.conv2d/weight"',
                 "#define LENET5_FEATURES_CONV2D_WEIGHT_BYTES 600", "#define LENET5_PARAMS_BYTES 246824",
                 "#define LENET5_ALIGNMENT 64", "NNC_E_CHECKSUM = 10", "#define MNIST_COMPILED_BATCH 0"):
        assert text in h, text
    # the header compiles on its own, as C and as C++
    src = out / "h.c"
    src.write_text('#include "lenet5.h"\nint main(void) { return LENET5_TENSORS == 10 ? 0 : 1; }\n')
    subprocess.run([CC, "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-I", str(out), str(src), "-o",
                    str(out / "h")], check=True)
    cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if cxx:
        (out / "h.cc").write_text(src.read_text())
        subprocess.run([cxx, "-std=c++11", "-Wall", "-Werror", "-I", str(out), str(out / "h.cc"), "-o",
                        str(out / "hcc")], check=True)


def test_library_needs_only_libc_libm_and_pthreads(out):
    ldd = shutil.which("ldd")
    if ldd is None:
        pytest.skip("no ldd")
    text = subprocess.run([ldd, str(out / "liblenet5.so")], capture_output=True, text=True, check=True).stdout
    names = [line.split()[0] for line in text.splitlines() if line.strip()]
    allowed = ("linux-vdso", "libc.so", "libm.so", "libpthread.so", "ld-linux", "/lib64/ld-linux", "/lib/ld-linux")
    assert names and all(n.startswith(allowed) for n in names), text
    exported = subprocess.run(["nm", "-D", "--defined-only", str(out / "liblenet5.so")], capture_output=True,
                              text=True).stdout.split()
    functions = [w for w in exported if w.startswith(("lenet5_", "mnist_", "nnc"))]
    assert functions and all(not f.startswith("nnc") for f in functions), functions  # only the C API


# -- the same numbers as in process --------------------------------------------------------------------

def test_inference_equals_the_in_process_backend_bit_for_bit(lib, out, program):
    m = lib.create("lenet5", 8, out / "lenet5.safetensors")
    ref = program.model("lenet5", backend="llvm", seed=0)
    oracle = program.model("lenet5", backend="numpy", seed=0)
    for n in (1, 3, 8, 2):  # any batch up to the maximum, growing and shrinking
        x, _ = batch(n, n)
        rc, y = lib.forward(m, x)
        assert rc == NNC_OK, lib.error("lenet5", m)
        np.testing.assert_array_equal(y, ref(image=x))
        np.testing.assert_allclose(y, oracle(image=x), rtol=RTOL, atol=1e-6)
    lib.dll.lenet5_destroy(m)


def test_training_steps_equal_the_in_process_backend_bit_for_bit(lib, out, program, tmp_path):
    t = lib.create("mnist", 8, out / "mnist.safetensors")
    ref = program.train("mnist", backend="llvm", seed=0)
    oracle = program.train("mnist", backend="numpy", seed=0)
    for s, n in enumerate((8, 5, 8, 8)):
        x, y = batch(n, 100 + s)
        rc, loss, acc = lib.step(t, x, y)
        assert rc == NNC_OK, lib.error("mnist", t)
        want = ref.step(image=x, label=y)
        assert (loss, acc) == (want["loss"], want["accuracy"])
        assert loss == pytest.approx(oracle.step(image=x, label=y)["loss"], rel=RTOL)
    for name, value in ref.params.items():
        np.testing.assert_array_equal(lib.get("mnist", t, name, value), value, err_msg=name)
    for name, value in ref.slots.items():
        np.testing.assert_array_equal(lib.get("mnist", t, name, value), value, err_msg=name)
    assert lib.get("mnist", t, "nnc.step", np.zeros((), np.int64)) == 4
    # the saved training state is an nnc checkpoint: Python resumes from it, and back
    path = tmp_path / "state.safetensors"
    assert lib.dll.mnist_save(t, str(path).encode()) == NNC_OK, lib.error("mnist", t)
    resumed = program.train("mnist", backend="llvm", seed=0)
    assert resumed.load(path)["step"] == 4
    x, y = batch(8, 7)
    rc, loss, _ = lib.step(t, x, y)
    assert rc == NNC_OK and loss == resumed.step(image=x, label=y)["loss"] == ref.step(image=x, label=y)["loss"]
    ref.save(tmp_path / "python.safetensors")  # no checksum: loads all the same
    u = lib.create("mnist", 8, tmp_path / "python.safetensors")
    assert lib.get("mnist", u, "nnc.step", np.zeros((), np.int64)) == 5
    for d in (t, u):
        lib.dll.mnist_destroy(d)


def test_a_non_finite_loss_commits_nothing(lib, out):
    t = lib.create("mnist", 2, out / "mnist.safetensors")
    w = "lenet5/logits.dense_2/bias"
    before = lib.get("mnist", t, w, np.zeros(10, np.float32))
    x, y = batch(2, 3)
    x[0, 0, 0, 0] = np.inf
    rc, loss, _ = lib.step(t, x, y)
    assert rc == NNC_E_LOSS and not np.isfinite(loss)
    assert "the loss loss is" in lib.error("mnist", t) and "not committed" in lib.error("mnist", t)
    np.testing.assert_array_equal(lib.get("mnist", t, w, before), before)
    assert lib.get("mnist", t, "nnc.step", np.zeros((), np.int64)) == 0


def test_two_threads_with_two_instances(lib, out):
    xs = [batch(4, 50 + k)[0] for k in range(2)]
    alone = []
    for x in xs:
        m = lib.create("lenet5", 4, out / "lenet5.safetensors")
        alone.append(lib.forward(m, x)[1])
        lib.dll.lenet5_destroy(m)
    results: list = [[], []]

    def work(k: int) -> None:
        m = lib.create("lenet5", 4, out / "lenet5.safetensors")
        for _ in range(30):
            results[k].append(lib.forward(m, xs[k]))  # ctypes releases the GIL: the calls overlap
        lib.dll.lenet5_destroy(m)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for k in range(2):
        assert len(results[k]) == 30
        for rc, y in results[k]:
            assert rc == NNC_OK
            np.testing.assert_array_equal(y, alone[k])


def test_arena_bytes_grow_with_the_maximum_batch(lib):
    one, sixty_four = lib.dll.lenet5_arena_bytes(I64(1)), lib.dll.lenet5_arena_bytes(I64(64))
    assert 0 < one < sixty_four and lib.dll.lenet5_arena_bytes(I64(0)) == -1


def test_an_arena_the_caller_owns(lib, out, program):
    need = lib.dll.lenet5_arena_bytes(I64(3))
    raw = np.zeros(need + 128, np.uint8)
    start = (-raw.ctypes.data) % 64
    arena = raw[start:start + need]
    m = P()
    rc = lib.dll.lenet5_create_in(ctypes.byref(m), I64(3), arena.ctypes.data_as(P), ctypes.c_size_t(need - 64))
    assert rc == NNC_E_SIZE and "is too small: batches of 3 need" in lib.error("lenet5", None)
    rc = lib.dll.lenet5_create_in(ctypes.byref(m), I64(3), raw[start + 4:].ctypes.data_as(P), ctypes.c_size_t(need))
    assert rc == NNC_E_SIZE and "must be 64-byte aligned" in lib.error("lenet5", None)
    assert lib.dll.lenet5_create_in(ctypes.byref(m), I64(3), None, ctypes.c_size_t(need)) == NNC_E_NULL
    assert lib.dll.lenet5_create_in(ctypes.byref(m), I64(3), arena.ctypes.data_as(P), ctypes.c_size_t(need)) == NNC_OK
    assert lib.load("lenet5", m, out / "lenet5.safetensors") == NNC_OK
    x, _ = batch(3, 8)
    rc, y = lib.forward(m, x)
    assert rc == NNC_OK and arena.any()  # the intermediates went there
    np.testing.assert_array_equal(y, program.model("lenet5", backend="llvm", seed=0)(image=x))
    lib.dll.lenet5_destroy(m)  # leaves the arena to its owner


def test_embedded_weights(cache, tmp_path, program):
    done = nnc_cli("compile", LENET, "--target", "llvm", "--model", "lenet5", "--embed-weights", "--seed", "3",
                   "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "lenet5.h", "liblenet5.a", "liblenet5.so"]
    dll = ctypes.CDLL(str(tmp_path / "liblenet5.so"))
    m = P()
    assert dll.lenet5_create(ctypes.byref(m), I64(2)) == NNC_OK
    x, _ = batch(2, 9)
    y = np.zeros((2, 10), np.float32)
    assert dll.lenet5_forward(m, I64(2), x.ctypes.data_as(P), y.ctypes.data_as(P)) == NNC_OK
    np.testing.assert_array_equal(y, program.model("lenet5", backend="llvm", seed=3)(image=x))
    dll.lenet5_destroy(m)


# -- bad input at the C boundary: a status code and a message, the instance unchanged ------------------

def test_bad_batch_sizes_and_null_pointers(lib, out):
    m = lib.create("lenet5", 4, out / "lenet5.safetensors")
    x, _ = batch(8, 1)
    assert lib.forward(m, x[:5])[0] == NNC_E_BATCH
    assert lib.error("lenet5", m) == "batch 5 is outside 1..4 (the maximum this instance was created with)"
    assert lib.forward(m, x[:4], batch=0)[0] == NNC_E_BATCH
    y = np.zeros((1, 10), np.float32)
    assert lib.dll.lenet5_forward(m, I64(1), None, y.ctypes.data_as(P)) == NNC_E_NULL
    assert lib.error("lenet5", m) == "the input image is NULL"
    assert lib.dll.lenet5_forward(None, I64(1), x.ctypes.data_as(P), y.ctypes.data_as(P)) == NNC_E_NULL
    assert lib.error("lenet5", None) == "lenet5_forward: the instance is NULL"
    assert lib.dll.lenet5_forward(m, I64(1), x.ctypes.data_as(P), None) == NNC_OK  # NULL output: not returned
    assert lib.dll.lenet5_create(None, I64(1)) == NNC_E_NULL
    bad = P()
    assert lib.dll.lenet5_create(ctypes.byref(bad), I64(0)) == NNC_E_BATCH and not bad.value
    assert lib.error("lenet5", None) == "lenet5_create: the maximum batch size must be at least 1, not 0"
    assert lib.dll.lenet5_load(m, None) == NNC_E_NULL
    lib.dll.lenet5_destroy(None)  # a no-op, as free(NULL)
    lib.dll.lenet5_destroy(m)


def test_an_absurd_maximum_batch_is_refused(lib):
    m = P()
    assert lib.dll.lenet5_create(ctypes.byref(m), I64(1 << 40)) == NNC_E_BATCH and not m.value
    assert "is more than this library plans for" in lib.error("lenet5", None)


def test_damaged_weights_never_crash(lib, out):
    """Random bytes flipped, cut or inserted anywhere in a weights file: a status code, never a crash."""
    good = (out / "lenet5.safetensors").read_bytes()
    m = lib.create("lenet5", 1, out / "lenet5.safetensors")
    rng = np.random.default_rng(0)
    codes = set()
    head = int.from_bytes(good[:8], "little") + 8
    for k in range(400):
        data = bytearray(good)
        at = int(rng.integers(0, head + 64))  # mostly the header, where the parsing is
        if k % 3 == 0:
            data[at] ^= 1 << int(rng.integers(0, 8))
        elif k % 3 == 1:
            del data[at:at + int(rng.integers(1, 40))]
        else:
            data[at:at] = bytes(rng.integers(0, 256, int(rng.integers(1, 8)), dtype=np.uint8))
        codes.add(_load_bytes(lib, m, bytes(data), out))
    assert codes <= {NNC_OK, NNC_E_FORMAT, NNC_E_TRUNCATED, NNC_E_VERSION, NNC_E_MODEL, NNC_E_CHECKSUM}
    assert NNC_E_CHECKSUM in codes and NNC_E_FORMAT in codes
    lib.dll.lenet5_destroy(m)


def _load_bytes(lib: Lib, m, data: bytes, out: Path) -> int:
    path = out / "fuzz.safetensors"
    path.write_bytes(data)
    return lib.load("lenet5", m, path)


def test_parameters_by_name(lib, out):
    m = lib.create("lenet5", 1, out / "lenet5.safetensors")
    w = np.arange(10, dtype=np.float32)
    name = b"lenet5/logits.dense_2/bias"
    assert lib.dll.lenet5_set(m, name, w.ctypes.data_as(P), ctypes.c_size_t(40)) == NNC_OK
    np.testing.assert_array_equal(lib.get("lenet5", m, name.decode(), w), w)
    assert lib.dll.lenet5_set(m, b"lenet5/nope", w.ctypes.data_as(P), ctypes.c_size_t(40)) == NNC_E_NAME
    assert lib.error("lenet5", m) == "no tensor named lenet5/nope in model lenet5"
    assert lib.dll.lenet5_get(m, name, w.ctypes.data_as(P), ctypes.c_size_t(36)) == NNC_E_SIZE
    assert lib.error("lenet5", m) == "lenet5/logits.dense_2/bias holds 40 bytes, not 36"
    assert lib.dll.lenet5_get(m, name, None, ctypes.c_size_t(40)) == NNC_E_NULL
    lib.dll.lenet5_destroy(m)


def _bad_files(out: Path, tmp: Path) -> list[tuple[str, bytes | None, int, str]]:
    """(what, the file's bytes or None for no file, the status, a part of the message)."""
    from nnc.train.checkpoint import Checkpoint, save_checkpoint
    good = (out / "lenet5.safetensors").read_bytes()
    corrupted = bytearray(good)
    corrupted[-5] ^= 0x40
    other = tmp / "other.safetensors"
    save_checkpoint(other, Checkpoint({"mlp/h.dense/weight": np.zeros((3, 2), np.float32)}, {}, {}, {"step": 0}))
    shape = tmp / "shape.safetensors"
    params = {p: np.zeros(1, np.float32) for p in ("lenet5/features.conv2d/weight",)}
    save_checkpoint(shape, Checkpoint(params, {}, {}, {"step": 0}))
    import safetensors.numpy
    return [("missing", None, NNC_E_IO, "cannot open"),
            ("truncated", good[:len(good) // 2], NNC_E_TRUNCATED, "is truncated"),
            ("tiny", good[:5], NNC_E_TRUNCATED, "is truncated"),
            ("not safetensors", b"\x10\0\0\0\0\0\0\0not a json header", NNC_E_FORMAT, "not a safetensors file"),
            ("foreign", safetensors.numpy.save({"a": np.zeros(2, np.float32)}), NNC_E_FORMAT, "without nnc metadata"),
            ("version", good.replace(b'"nnc.format":"1"', b'"nnc.format":"2"'), NNC_E_VERSION,
             "is of weights format 2; this library reads format 1"),
            ("corrupted", bytes(corrupted), NNC_E_CHECKSUM, "is corrupted: the CRC-32 of its data is"),
            ("another model", other.read_bytes(), NNC_E_MODEL,
             "has no tensor params/lenet5/features.conv2d/weight: it was written for another model"),
            ("another shape", shape.read_bytes(), NNC_E_MODEL, "holds params/lenet5/features.conv2d/weight as F32[1]")]


def test_bad_weights_files_are_refused_and_change_nothing(lib, out, tmp_path):
    m = lib.create("lenet5", 2, out / "lenet5.safetensors")
    x, _ = batch(2, 4)
    before = lib.forward(m, x)[1]
    for what, data, code, message in _bad_files(out, tmp_path):
        path = tmp_path / f"{what}.safetensors"
        if data is not None:
            path.write_bytes(data)
        assert lib.load("lenet5", m, path) == code, (what, lib.error("lenet5", m))
        assert message in lib.error("lenet5", m), (what, lib.error("lenet5", m))
        assert str(path) in lib.error("lenet5", m), what
        np.testing.assert_array_equal(lib.forward(m, x)[1], before, err_msg=what)
    lib.dll.lenet5_destroy(m)


# -- the embedding example -------------------------------------------------------------------------------

def test_embedding_example_prints_what_the_python_api_computes(out, program, tmp_path):
    src = ROOT / "examples" / "embed" / "lenet5_demo.c"
    shared, static = tmp_path / "demo", tmp_path / "demo_static"
    subprocess.run([CC, "-O2", "-Wall", "-Werror", str(src), f"-I{out}", f"-L{out}", "-llenet5",
                    f"-Wl,-rpath,{out}", "-o", str(shared)], check=True)
    subprocess.run([CC, "-O2", str(src), f"-I{out}", str(out / "liblenet5.a"), "-lm", "-pthread", "-o", str(static)],
                   check=True)
    rng = np.random.default_rng(11)
    image = rng.random((1, 1, 28, 28), dtype=np.float32)
    x, y = batch(6, 12)
    (tmp_path / "image.f32").write_bytes(image.tobytes())
    (tmp_path / "batch.bin").write_bytes(np.int32(6).tobytes() + x.tobytes() + y.tobytes())
    model = program.model("lenet5", backend="llvm", seed=0)
    trainer = program.train("mnist", backend="llvm", seed=0)
    want = [f"class {int(np.argmax(model(image=image)))}"]
    losses = []
    for s in range(5):
        r = trainer.step(image=x, label=y)
        losses.append(r["loss"])
        want.append(f"step {s + 1} loss {r['loss']:.9g} accuracy {r['accuracy']:.9g}")
    for name, value in trainer.params.items():
        model.params[name] = value
    want.append(f"class after training {int(np.argmax(model(image=image)))}")
    assert losses[-1] < losses[0]  # the loss goes down
    for exe in (shared, static):
        done = subprocess.run([str(exe), str(out), str(tmp_path / "image.f32"), str(tmp_path / "batch.bin"), "5"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines() == want
    bad = subprocess.run([str(shared), str(tmp_path), str(tmp_path / "image.f32"), str(tmp_path / "batch.bin"), "1"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and bad.stderr.startswith(f"error {NNC_E_IO}: cannot open {tmp_path}/lenet5.safetensors")


# -- --checked: the first NaN named by its layer and line ------------------------------------------------

NAN_PROGRAM = """model net {
  input x: f32[B, 4]
  output y = x -> dense(3)
}

train fit {
  input x: f32[B, 4]
  input t: f32[B, 3]
  y = net(x)
  loss = mean(log(y - t))
  minimize loss over net with sgd(lr=0.1)
  batch 4
  data "synthetic"
}
"""
NAN_MESSAGE = "layer loss.log (log at {file}:10) produced a NaN or an infinity (checked)"


def test_checked_library_names_the_layer_and_line(cache, tmp_path):
    (tmp_path / "nan.nn").write_text(NAN_PROGRAM)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "nnc", "compile", "nan.nn", "--target", "llvm", "--train", "fit",
                           "--checked", "-o", str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    dll = ctypes.CDLL(str(out / "libfit.so"))
    dll.fit_last_error.restype = ctypes.c_char_p
    t = P()
    assert dll.fit_create(ctypes.byref(t), I64(4)) == NNC_OK
    assert dll.fit_load(t, str(out / "fit.safetensors").encode()) == NNC_OK
    x, target = np.ones((4, 4), np.float32), np.full((4, 3), 100.0, np.float32)
    loss = np.zeros((), np.float32)
    assert dll.fit_step(t, I64(4), x.ctypes.data_as(P), target.ctypes.data_as(P), loss.ctypes.data_as(P)) == \
        NNC_E_NOT_FINITE
    assert dll.fit_last_error(t).decode() == NAN_MESSAGE.format(file="nan.nn")
    target[:] = -100.0  # finite everywhere: the same library steps
    assert dll.fit_step(t, I64(4), x.ctypes.data_as(P), target.ctypes.data_as(P), loss.ctypes.data_as(P)) == NNC_OK
    dll.fit_destroy(t)


def test_checked_in_process_and_nnc_run(cache, tmp_path, monkeypatch):
    from nnc.interp import RunError
    path = tmp_path / "nan.nn"
    path.write_text(NAN_PROGRAM)
    prog = nnc.load(path)
    x, target = np.ones((4, 4), np.float32), np.full((4, 3), 100.0, np.float32)
    monkeypatch.setenv("NNC_CHECKED", "1")  # the backend option `checked`, as nnc run --checked sets it
    trainer = prog.train("fit", backend="llvm", seed=0)
    with pytest.raises(RunError) as e:
        trainer.step(x=x, t=target)
    assert str(e.value) == NAN_MESSAGE.format(file=path)
    monkeypatch.delenv("NNC_CHECKED")
    (tmp_path / "m.nn").write_text("model net {\n  input x: f32[B, 4]\n  h = x -> dense(3)\n"
                                   "  output y = log(h - 100.0)\n}\n")
    np.save(tmp_path / "x.npy", np.full((2, 4), -5.0, np.float32))
    done = subprocess.run([sys.executable, "-m", "nnc", "run", "m.nn", "--input", "x=x.npy", "--backend", "llvm",
                           "--checked"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    assert done.stderr.strip().endswith("layer y.log (log at m.nn:4) produced a NaN or an infinity (checked)")
    done = subprocess.run([sys.executable, "-m", "nnc", "run", "m.nn", "--input", "x=x.npy", "--checked"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "--checked goes with --backend llvm" in done.stderr


def test_without_a_c_compiler_the_message_says_what_to_install(tmp_path, monkeypatch, capsys):
    from nnc.cli import main
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("CC", raising=False)
    assert main(["compile", str(ROOT / LENET), "--target", "llvm", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nnc: error: no C compiler found (looked for $CC, cc, gcc, clang)") and "install gcc" in err
    assert not (tmp_path / "out").exists()


def test_a_gan_steps_as_in_process(cache, tmp_path):
    """Two minimize lines, random noise from the instance's key and step counter: the same numbers."""
    from nnc.backends.base import Role
    from nnc.backends.llvm.report import step_graph
    from nnc.interp import NP_DTYPES
    done = nnc_cli("compile", "examples/gan.nn", "--target", "llvm", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    prog = nnc.load(ROOT / "examples" / "gan.nn")
    dll = ctypes.CDLL(str(tmp_path / "libgan.so"))
    rng = np.random.default_rng(5)
    for name, info in prog._result.trains.items():
        sig = step_graph(info)[1]
        getattr(dll, f"{name}_last_error").restype = ctypes.c_char_p
        t = P()
        assert getattr(dll, f"{name}_create")(ctypes.byref(t), I64(4)) == NNC_OK
        assert getattr(dll, f"{name}_load")(t, str(tmp_path / f"{name}.safetensors").encode()) == NNC_OK
        ref = prog.train(name, backend="llvm", seed=0)
        for _ in range(3):
            feeds = {p.name: rng.random(tuple(4 if not isinstance(d, int) else d for d in p.type.shape))
                     .astype(NP_DTYPES[p.type.dtype]) for p in sig.inputs_of(Role.DATA)}
            reports = [np.zeros((), NP_DTYPES[p.type.dtype]) for p in sig.outputs_of(Role.REPORT)]
            rc = getattr(dll, f"{name}_step")(t, I64(4), *[a.ctypes.data_as(P) for a in feeds.values()],
                                              *[a.ctypes.data_as(P) for a in reports])
            assert rc == NNC_OK, getattr(dll, f"{name}_last_error")(t)
            want = ref.step(**feeds)
            assert {p.name: float(a) for p, a in zip(sig.outputs_of(Role.REPORT), reports)} == \
                {p.name: want[p.name] for p in sig.outputs_of(Role.REPORT)}
        getattr(dll, f"{name}_destroy")(t)


def test_an_embedding_id_out_of_range_and_checked_codes_after_it(cache, tmp_path):
    (tmp_path / "e.nn").write_text("model m {\n  input tokens: i32[N, 5]\n"
                                   "  output y = tokens -> embedding(20, 8) -> flatten -> dense(3) -> log\n}\n")
    done = subprocess.run([sys.executable, "-m", "nnc", "compile", "e.nn", "--target", "llvm", "--checked", "-o",
                           "out"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    dll = ctypes.CDLL(str(tmp_path / "out" / "libe.so"))
    dll.m_last_error.restype = ctypes.c_char_p
    m = P()
    assert dll.m_create(ctypes.byref(m), I64(2)) == NNC_OK
    assert dll.m_load(m, str(tmp_path / "out" / "m.safetensors").encode()) == NNC_OK
    ids, y = np.array([[1, 2, 3, 4, 25], [0, 0, 0, 0, 0]], np.int32), np.zeros((2, 3), np.float32)
    assert dll.m_forward(m, I64(2), ids.ctypes.data_as(P), y.ctypes.data_as(P)) == 12  # NNC_E_CHECK
    assert dll.m_last_error(m).decode().startswith("gather ids must be in 0..19 (line 3 of e.nn")
    ids[0, 4] = 5
    bias = np.full(3, -50.0, np.float32)  # every logit negative: log gives NaN
    assert dll.m_set(m, b"m/y.dense/bias", bias.ctypes.data_as(P), ctypes.c_size_t(12)) == NNC_OK
    assert dll.m_forward(m, I64(2), ids.ctypes.data_as(P), y.ctypes.data_as(P)) == NNC_E_NOT_FINITE
    assert dll.m_last_error(m).decode() == "layer y.log (log at e.nn:3) produced a NaN or an infinity (checked)"
    dll.m_destroy(m)


def test_an_unknown_cpu_is_one_line_and_writes_nothing(tmp_path, capsys):
    from nnc.cli import main
    assert main(["compile", str(ROOT / LENET), "--target", "llvm", "--cpu", "nope", "-o", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("nnc: error: LLVM knows no CPU 'nope'")
    assert not (tmp_path / "o").exists()
