"""The GEMM kernel library (nnc/backends/llvm/library.py) against numpy: random shapes, transposed and
padded operands, accumulation, both element types, the AVX2 and SSE geometries; its workspace bound; its
objects (the exported symbol, the position-independent one linked by the C compiler); its cache; and the
Matmul kernels that call it."""
from __future__ import annotations

import ctypes
import shutil
import struct
import subprocess

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import llvmlite.binding as llvm  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from nnc.backends.llvm import library as L  # noqa: E402
from nnc.backends.llvm import target as T  # noqa: E402

NP = {"f32": np.float32, "f64": np.float64}
TOL = {"f32": 2e-5, "f64": 1e-12}
GEMM = ctypes.CFUNCTYPE(None, *[ctypes.c_int64] * 3, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                        ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                        ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "gemm-cache"))


_engines: dict = {}


def gemm(dtype: str = "f32", cpu: str | None = None, threads: bool = False):
    """nnc_gemm_<dtype> (or its _mt form) compiled for `cpu` (default: this machine), loaded once per session."""
    key = (dtype, cpu)
    if key not in _engines:
        eng = L.engine(T.host(cpu), dtype)
        _engines[key] = (eng, GEMM(eng.get_function_address(L.symbol(dtype))),
                         GEMM(eng.get_function_address(L.symbol(dtype, threads=True))))
    return _engines[key][2 if threads else 1]


def operand(rng, rows: int, cols: int, dtype: str, transposed: bool, pad: int):
    """A [rows, cols] view with its strides in elements: row-major with `pad` extra columns, or the
    transpose of a column-major array."""
    shape = (cols, rows + pad) if transposed else (rows, cols + pad)
    full = rng.uniform(-1, 1, size=shape).astype(NP[dtype])
    view = full[:, :rows].T if transposed else full[:, :cols]
    size = full.itemsize
    return full, view, view.strides[0] // size, view.strides[1] // size


def run(m, n, k, dtype="f32", ta=False, tb=False, pad=0, accumulate=False, ws=None, cpu=None, seed=0,
        threads=False):
    """C from the library and from numpy (float64), for one product."""
    rng = np.random.default_rng(seed)
    a_full, a, rsa, csa = operand(rng, m, k, dtype, ta, pad)
    b_full, b, rsb, csb = operand(rng, k, n, dtype, tb, pad)
    ldc = n + pad
    c_full = rng.uniform(-1, 1, size=(m, ldc)).astype(NP[dtype])
    want = c_full.astype(np.float64)
    want[:, :n] = a.astype(np.float64) @ b + (want[:, :n] if accumulate else 0)
    ws_ptr, ws_bytes = (ws.ctypes.data, ws.nbytes) if ws is not None else (None, 0)
    gemm(dtype, cpu, threads)(m, n, k, a_full.ctypes.data, rsa, csa, b_full.ctypes.data, rsb, csb, c_full.ctypes.data,
                     ldc, int(accumulate), ws_ptr, ws_bytes)
    return c_full, want


def check(m, n, k, dtype="f32", **kw):
    got, want = run(m, n, k, dtype, **kw)
    scale = max(1.0, np.sqrt(k))
    np.testing.assert_allclose(got, want, rtol=TOL[dtype] * scale, atol=TOL[dtype] * scale,
                               err_msg=f"{m}x{n}x{k} {dtype} {kw}")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=st.integers(1, 40), n=st.integers(1, 90), k=st.integers(0, 70), dtype=st.sampled_from(["f32", "f64"]),
       ta=st.booleans(), tb=st.booleans(), pad=st.sampled_from([0, 3]), accumulate=st.booleans())
def test_random_products_agree_with_numpy(m, n, k, dtype, ta, tb, pad, accumulate):
    check(m, n, k, dtype, ta=ta, tb=tb, pad=pad, accumulate=accumulate, seed=m * 1000 + n * 10 + k)


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("m", range(1, 14))
def test_every_small_row_count_and_ragged_columns(m, dtype):
    for n in (1, 15, 17, 33, 70, 129):
        check(m, n, 37, dtype)
        check(m, n, 37, dtype, tb=True)   # the dot path (A's rows, B's columns contiguous along k)
        check(m, n, 37, dtype, ta=True, tb=True)   # the packed path: its 12/8/4/2/1-row kernels


@pytest.mark.parametrize("shape", [(3, 40, 1100), (20, 70, 600), (64, 100, 300), (130, 530, 257), (1, 1, 1)])
@pytest.mark.parametrize("tb", [False, True])
def test_blocks_of_k_and_n_and_accumulation(shape, tb):
    check(*shape, tb=tb)
    check(*shape, tb=tb, ta=True, accumulate=True)


@pytest.mark.parametrize("shape", [(200, 300, 100), (300, 40, 100), (5, 1000, 700), (64, 64, 64), (256, 196, 300),
                                   (130, 49, 700), (64, 512, 64), (512, 200, 64), (64, 10, 512), (64, 20, 300)])
@pytest.mark.parametrize("tb", [False, True])
def test_the_threaded_form_computes_the_serial_forms_numbers_bit_for_bit(shape, tb):
    """nnc_gemm_f32_mt splits C by columns or rows, never k: every element is summed in the same order."""
    serial, _ = run(*shape, tb=tb, accumulate=True)
    threaded, want = run(*shape, tb=tb, accumulate=True, threads=True)
    np.testing.assert_array_equal(threaded, serial)
    np.testing.assert_allclose(threaded, want, rtol=1e-4, atol=1e-4)


def test_an_empty_sum_zeroes_c_or_leaves_it_when_accumulating():
    got, want = run(5, 7, 0)
    assert (got == 0).all() and np.array_equal(got, want)
    got, want = run(5, 7, 0, accumulate=True)
    np.testing.assert_array_equal(got, want)
    got, _ = run(0, 7, 3)          # nothing to do, nothing touched
    assert got.shape == (0, 7)


@pytest.mark.parametrize("shape", [(30, 100, 300), (13, 1000, 600), (40, 7, 2000)])
def test_the_workspace_bound_holds_and_nothing_past_it_is_written(shape):
    m, n, k = shape
    need = L.workspace_bytes(n, k, "f32")
    assert 0 < need <= L.WORKSPACE_MAX["f32"]
    guard = 4096
    ws = np.zeros(need + guard, np.uint8)
    ws[need:] = 0xA5
    check(m, n, k, ta=True, tb=True, ws=ws[:need])   # A and B strided: the packed path uses the workspace
    assert (ws[need:] == 0xA5).all()
    assert ws[:need].any()                     # and it was the caller's workspace that held the panels
    check(m, n, k, ta=True, tb=True, ws=np.zeros(64, np.uint8))   # too small: the stack is used instead


@pytest.mark.parametrize("cpu", ["x86-64-v3", "x86-64"])
def test_the_avx2_and_sse_geometries_compute_the_same_products(cpu):
    if cpu not in T.known_cpus():
        pytest.skip(f"LLVM has no {cpu}")
    bits, fma = L.vectors(T.host(cpu))
    assert (bits, fma) == ((256, True) if cpu == "x86-64-v3" else (128, False))
    for m, n, k, tb in [(1, 50, 30, False), (7, 33, 17, True), (13, 70, 300, False), (25, 40, 9, True)]:
        check(m, n, k, cpu=cpu, tb=tb)
        check(m, n, k, "f64", cpu=cpu, tb=tb, accumulate=True)


def test_this_machine_gets_its_widest_vectors():
    bits, fma = L.vectors(T.host())
    flags = T.host().features
    assert bits == (512 if "+avx512f" in flags else 256 if "+avx" in flags else 128)
    assert fma == ("+fma" in flags)


@pytest.mark.parametrize("cpu", [None, "x86-64-v3"])
def test_the_k_loop_of_every_kernel_keeps_its_accumulators_in_registers(cpu):
    if cpu is not None and cpu not in T.known_cpus():
        pytest.skip(f"LLVM has no {cpu}")
    h = T.host(cpu)
    mod = llvm.parse_assembly(str(L.module(h, "f32")))
    tm = L._machine(h)
    tuning = llvm.create_pipeline_tuning_options(speed_level=3)
    tuning.loop_unrolling = False
    pb = llvm.create_pass_builder(tm, tuning)
    pb.getModulePassManager().run(mod, pb)
    asm = tm.emit_assembly(mod)
    names = [line[:-1] for line in asm.splitlines()
             if line.startswith(("nnc_mk_", "nnc_dk_", "nnc_dot_")) and line.endswith(":")]
    assert len(names) >= 10
    for name in names:
        start = asm.index(f"\n{name}:")
        lines = asm[start:asm.index(".Lfunc_end", start)].splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith(".LBB"))   # the k loop's head
        end = next(i for i in range(start, len(lines)) if lines[i].strip().startswith("j") and ".LBB" in lines[i])
        body = "\n".join(lines[start:end])
        assert "rsp" not in body and "rbp" not in body, body
        assert "fmadd" in body or "mulp" in body


def elf_symbols(obj: bytes) -> dict[str, tuple[int, int]]:
    """name -> (binding, section index) of an ELF64 object's symbol table (from llvmlite's sections)."""
    sections = {}
    for s in llvm.ObjectFileRef.from_data(obj).sections():
        name = s.name()
        sections[name.decode() if isinstance(name, bytes) else name] = s.data()
    symtab, strtab = sections[".symtab"], sections[".strtab"]
    out = {}
    for off in range(0, len(symtab), 24):
        name, info, _, shndx = struct.unpack_from("<IBBH", symtab, off)
        end = strtab.index(b"\0", name)
        out[strtab[name:end].decode()] = (info >> 4, shndx)
    return out


@pytest.mark.parametrize("pic", [False, True])
def test_the_object_exports_one_global_function_per_element_type(pic):
    h = T.host()
    for dtype in ("f32", "f64"):
        syms = elf_symbols(L.object(h, dtype, pic=pic))
        binding, section = syms[L.symbol(dtype)]
        assert binding == 1 and section != 0          # GLOBAL, defined
        assert all(b == 0 for name, (b, _) in syms.items() if name.startswith(("nnc_mk_", "nnc_dk_", "nnc_pack")))


def test_the_pic_object_links_into_a_shared_library(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    objects = []
    for part in (L.POOL, "f32"):   # the GEMM object calls the pool (nnc_gemm_f32_mt)
        obj = tmp_path / f"{part}.o"
        obj.write_bytes(L.object(T.host(), part, pic=True))
        objects.append(str(obj))
    so = tmp_path / "libgemm.so"
    subprocess.run([cc, "-shared", "-pthread", "-o", str(so), *objects], check=True, capture_output=True)
    lib = ctypes.CDLL(str(so))
    a = np.arange(12 * 40, dtype=np.float32).reshape(120, 4) / 100
    b = np.ones((4, 500), np.float32)
    for name in ("nnc_gemm_f32", "nnc_gemm_f32_mt"):
        fn = GEMM(ctypes.cast(getattr(lib, name), ctypes.c_void_p).value)
        c = np.zeros((120, 500), np.float32)
        fn(120, 500, 4, a.ctypes.data, 4, 1, b.ctypes.data, 500, 1, c.ctypes.data, 500, 0, None, 0)
        np.testing.assert_allclose(c, a @ b, rtol=1e-6)
    ctypes.CFUNCTYPE(None)(ctypes.cast(lib.nnc_pool_shutdown, ctypes.c_void_p).value)()


def test_an_object_needs_the_parts_it_calls_and_not_those_it_defines():
    h = T.host()
    assert L.needed(L.object(h, "f32")) == [L.POOL]      # the library calls the pool, defines the rest
    assert L.needed(L.object(h, L.POOL)) == []
    assert L.undefined_symbols(L.object(h, "f64", pic=True)) >= {"nnc_parallel_for", "nnc_get_threads"}


def test_the_library_is_compiled_once_then_read_from_the_cache():
    h = T.host()
    first, hit1 = L.compile_library(h, "f32")
    second, hit2 = L.compile_library(h, "f32")
    assert hit2 and first == second
    assert L.cache_key(h, "f32", False) != L.cache_key(h, "f32", True) != L.cache_key(h, "f64", True)
    assert L.cache_key(h, "f32", False) != L.cache_key(T.host("x86-64-v3"), "f32", False)


def test_an_element_type_without_functions_is_refused_with_a_message():
    with pytest.raises(ValueError, match="no i32 functions"):
        L.module(T.host(), "i32")


def _matmul_module(a_shape, b_shape, dtype="f32", transpose_a=False):
    from nnc.backends.llvm.emit import emit_module
    from nnc.backends.llvm.loops import Buf, Load, Matmul
    h = T.host()
    abuf, bbuf = Buf("a", dtype, a_shape, arg=0), Buf("b", dtype, b_shape, arg=1)
    a = abuf.load()
    if transpose_a:
        a = Load(abuf, a_shape[::-1], (1, a_shape[1]), 0)
    m, n = a.shape[0], b_shape[1]
    cbuf = Buf("c", dtype, (m, n), arg=2)
    mod = emit_module([Matmul(cbuf.load(), a, bbuf.load())], 3, h.triple, T.data_layout(h))
    return str(mod), h


@pytest.mark.parametrize("transpose_a", [False, True])
def test_a_matmul_kernel_calls_the_library_and_agrees_with_numpy(transpose_a):
    ir_text, h = _matmul_module((30, 20), (30 if transpose_a else 20, 50), transpose_a=transpose_a)
    assert 'declare void @"nnc_gemm_f32_mt"' in ir_text
    obj, _ = T.compile_object(ir_text, h)
    assert L.needed(obj) == [L.POOL, "f32"]
    loaded = T.Loaded(obj, h)
    run_fn = loaded.function("nnc_run", ctypes.CFUNCTYPE(None, ctypes.c_void_p))
    rng = np.random.default_rng(1)
    a = rng.normal(size=(30, 20)).astype(np.float32)
    b = rng.normal(size=(30 if transpose_a else 20, 50)).astype(np.float32)
    c = np.zeros((20 if transpose_a else 30, 50), np.float32)
    spare = np.zeros(4096, np.uint8)
    ptrs = np.array([a.ctypes.data, b.ctypes.data, c.ctypes.data] + [spare.ctypes.data] * 8, np.uint64)
    run_fn(ptrs.ctypes.data)
    np.testing.assert_allclose(c, (a.T if transpose_a else a) @ b, rtol=1e-5, atol=1e-5)


def test_switched_off_the_kernels_keep_their_own_forms(monkeypatch):
    monkeypatch.setattr(L, "ENABLED", False)
    ir_text, _ = _matmul_module((30, 20), (20, 50))
    assert "nnc_gemm" not in ir_text


def test_a_model_with_a_run_time_batch_calls_the_library_at_every_batch_size():
    """digits_mlp compiled once for every batch size: its dense layers are library calls whose M is the
    run-time batch, and each batch size agrees with the numpy oracle."""
    from pathlib import Path

    import nnc
    from nnc.backends import get, inference_signature
    from nnc.passes.pipeline import prepare
    graph = nnc.load(Path(__file__).resolve().parent.parent / "examples" / "digits_mlp.nn").graph("mlp")
    llvm_backend, numpy_backend = get("llvm"), get("numpy")
    sig = inference_signature(graph)
    fast = llvm_backend.compile(prepare(graph, llvm_backend), sig)
    ref = numpy_backend.compile(prepare(graph, numpy_backend), sig)
    from nnc.backends.llvm.executable import LlvmExecutable
    rng = np.random.default_rng(3)
    state = {name: rng.normal(scale=0.1, size=a.shape).astype(a.dtype) for name, a in fast.state().items()}
    fast.load_state(state)
    ref.load_state(state)
    for n in (1, 5, 64):
        x = rng.normal(size=(n, 64)).astype(np.float32)
        a, b = fast(x=x), ref(x=x)
        for key in b:
            np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-6)
    assert isinstance(fast, LlvmExecutable)
    texts = [v.ir for v in fast._variants.values()]
    assert len(texts) == 1 and texts[0].count('call void @"nnc_gemm_f32_mt"') >= 2


# -- the dot path: A's rows and B's columns contiguous along k (B = Wᵀ, convolution weight gradients) -----
def _pool():
    from nnc.backends.llvm import threads
    return threads.process_pool(T.host())


def run_threads(count: int, *shape, **kw):
    """run(...) through nnc_gemm_<dtype>_mt with the pool at `count` threads (restored after)."""
    from nnc.backends.llvm import threads
    pool = _pool()
    pool.set_threads(count)
    try:
        return run(*shape, threads=True, **kw)
    finally:
        pool.set_threads(threads.threads_setting())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(m=st.integers(1, 13), n=st.integers(1, 41), k=st.integers(0, 3000), dtype=st.sampled_from(["f32", "f64"]),
       pad=st.sampled_from([0, 5]), accumulate=st.booleans())
def test_dot_path_products_agree_with_numpy_and_are_the_same_on_one_and_two_threads(m, n, k, dtype, pad, accumulate):
    kw = dict(tb=True, pad=pad, accumulate=accumulate, seed=m * 7 + n * 3 + k)
    check(m, n, k, dtype, **kw)
    one, _ = run_threads(1, m, n, k, dtype, **kw)
    two, want = run_threads(2, m, n, k, dtype, **kw)
    serial, _ = run(m, n, k, dtype, **kw)
    np.testing.assert_array_equal(one, serial)
    np.testing.assert_array_equal(two, serial)


@pytest.mark.parametrize("tb", [True, False])
@pytest.mark.parametrize("shape", [(6, 25, 50176), (16, 25, 6400), (2, 3, 5000), (1, 512, 784), (3, 511, 785),
                                   (64, 130, 784), (30, 34, 33000)])
@pytest.mark.parametrize("accumulate", [True, False])
def test_small_c_long_k_and_dense_shapes_bit_for_bit_on_one_and_two_threads(shape, tb, accumulate):
    """The convolution weight-gradient shapes (tiny M, N; huge k: split in blocks of k over the threads,
    partial sums added in block order) and dense layers with B = Wᵀ (batch 1..64, the dot path) or
    B = W: numpy's numbers, and the same bits serial, on one thread and on two."""
    serial, want = run(*shape, tb=tb, accumulate=accumulate)
    scale = np.sqrt(shape[2])
    np.testing.assert_allclose(serial, want, rtol=2e-5 * scale, atol=2e-5 * scale)
    for count in (1, 2):
        got, _ = run_threads(count, *shape, tb=tb, accumulate=accumulate)
        np.testing.assert_array_equal(got, serial)


@pytest.mark.parametrize("tb", [True, False])
@pytest.mark.parametrize("n, k", [(512, 784), (512, 512), (1000, 300), (257, 700), (4096, 64), (130, 1100)])
def test_one_row_products_are_the_same_bits_on_one_two_and_three_threads(n, k, tb):
    """Batch 1 (m = 1, the row-update and one-row dot paths): C's columns in parts over 1, 2 and 3 threads
    (3: parts that do not fall on a power of two); whichever thread or part computes a column, the same
    bits as the serial function, and numpy's numbers; accumulating too."""
    for accumulate in (False, True):
        serial, want = run(1, n, k, tb=tb, accumulate=accumulate, seed=n + k)
        np.testing.assert_allclose(serial, want, rtol=1e-4 * np.sqrt(k), atol=1e-4 * np.sqrt(k))
        for count in (1, 2, 3):
            got, _ = run_threads(count, 1, n, k, tb=tb, accumulate=accumulate, seed=n + k)
            np.testing.assert_array_equal(got, serial)


def test_dense_layers_read_their_weights_in_place_not_through_a_transposing_copy():
    """digits_mlp's dense layers multiply by Wᵀ (W is [out, in]): each is a Matmul kernel reading W where
    it lies; no kernel stores a [in, out] copy of a weight first."""
    from pathlib import Path

    import nnc
    from nnc.backends import get, inference_signature
    from nnc.backends.llvm.loops import Matmul
    from nnc.passes.pipeline import prepare
    graph = nnc.load(Path(__file__).resolve().parent.parent / "examples" / "digits_mlp.nn").graph("mlp")
    backend = get("llvm")
    fast = backend.compile(prepare(graph, backend), inference_signature(graph))
    lw, _ = fast._lower_symbolic({})
    weights = {tuple(a.shape) for name, a in fast.state().items() if name.endswith("weight")}
    assert weights == {(128, 64), (10, 128)}
    products = [k for k in lw.kernels if isinstance(k, Matmul)]
    # B = Wᵀ read in place (the dot path), or W given as [in, out] by the graph already
    assert len(products) == 2 and all(L.dot_layout(k.a, k.b) or k.b.strides[-1] == 1 for k in products)
    copies = [k for k in lw.kernels if not isinstance(k, Matmul) and tuple(k.target.shape)[::-1] in weights]
    assert not copies


def test_a_training_step_reads_its_dense_weights_in_place():
    """digits_mlp's training step (weights W[out, in] as the optimiser updates them): the forward products
    x·Wᵀ are Matmul kernels on the dot path, and no kernel copies a weight transposed."""
    from pathlib import Path

    import nnc
    from nnc.backends.llvm.loops import Matmul
    t = nnc.load(Path(__file__).resolve().parent.parent / "examples" / "digits_mlp.nn").train("digits", backend="llvm")
    lw, _ = t._step._lower_symbolic({})
    weights = {tuple(v.shape) for name, v in t.params.items() if name.endswith("weight")}
    assert weights == {(128, 64), (10, 128)}
    products = [k for k in lw.kernels if isinstance(k, Matmul)]
    assert sum(L.dot_layout(k.a, k.b) for k in products) >= 2
    copies = [k for k in lw.kernels if not isinstance(k, Matmul) and tuple(k.target.shape)[::-1] in weights]
    assert not copies


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("cpu", [None, "x86-64-v3"])
@pytest.mark.parametrize("m, n", [(5, 8), (1, 39)])
def test_a_dot_tile_sums_each_output_as_a_single_column_does(dtype, cpu, m, n):
    """On the dot path an output's bits do not depend on the tile that computed it (4 columns summed
    together, 16 in one row, or one alone): the guarantee the threaded form's column split rests on."""
    rng = np.random.default_rng(5)
    k = 1000
    a = rng.uniform(-1, 1, size=(m, k)).astype(NP[dtype])
    w = rng.uniform(-1, 1, size=(n, k)).astype(NP[dtype])   # B = wᵀ: columns contiguous along k
    whole = np.zeros((m, n), NP[dtype])
    fn = gemm(dtype, cpu)
    fn(m, n, k, a.ctypes.data, k, 1, w.ctypes.data, 1, k, whole.ctypes.data, n, 0, None, 0)
    for j in range(n):
        alone = np.zeros((m, 1), NP[dtype])
        col = np.ascontiguousarray(w[j:j + 1])
        fn(m, 1, k, a.ctypes.data, k, 1, col.ctypes.data, 1, k, alone.ctypes.data, 1, 0, None, 0)
        np.testing.assert_array_equal(whole[:, j], alone[:, 0])


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("m, n, k", [(203, 37, 1500), (256, 10, 784), (97, 21, 3000)])
def test_the_dot_paths_row_blocks_leave_every_row_as_computed_alone(dtype, m, n, k):
    """At large M the dot path runs A's rows in blocks of about L.DOT_A_BYTES (here 3-6 blocks, the last
    short): numpy's numbers, and each row's bits are those of that row computed alone (one block), on one
    thread and on two."""
    assert m * k * np.dtype(NP[dtype]).itemsize > 2 * L.DOT_A_BYTES
    rng = np.random.default_rng(m + n + k)
    a = rng.uniform(-1, 1, size=(m, k)).astype(NP[dtype])
    w = rng.uniform(-1, 1, size=(n, k)).astype(NP[dtype])   # B = wᵀ: columns contiguous along k
    whole = np.zeros((m, n), NP[dtype])
    fn = gemm(dtype, None)
    fn(m, n, k, a.ctypes.data, k, 1, w.ctypes.data, 1, k, whole.ctypes.data, n, 0, None, 0)
    want = a.astype(np.float64) @ w.T.astype(np.float64)
    np.testing.assert_allclose(whole, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))
    for i in range(m):
        alone = np.zeros((1, n), NP[dtype])
        row = np.ascontiguousarray(a[i:i + 1])
        fn(1, n, k, row.ctypes.data, k, 1, w.ctypes.data, 1, k, alone.ctypes.data, n, 0, None, 0)
        np.testing.assert_array_equal(whole[i], alone[0])
    for count in (1, 2):
        got, _ = run_threads(count, m, n, k, dtype, tb=True)
        serial, _ = run(m, n, k, dtype, tb=True)
        np.testing.assert_array_equal(got, serial)
