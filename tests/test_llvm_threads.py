"""The LLVM thread pool (nnc/backends/llvm/threads.py): every index runs exactly once for any n and
thread count, two threads really run at once, nested regions and concurrent Python threads neither
deadlock nor mix their work, and a process using the pool exits (or forks) cleanly. Runs that could
deadlock run in a subprocess under a timeout, so a deadlock fails the test instead of hanging the suite."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llvmlite")

from llvmlite import ir  # noqa: E402

from nnc.backends.llvm import threads  # noqa: E402

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


@pytest.fixture(scope="module")
def tasks():
    from llvm_pool_tasks import Tasks
    t = Tasks()
    yield t
    t.pool.set_spin()
    t.pool.set_threads(threads.threads_setting())


def squares_ok(a: np.ndarray, n: int) -> bool:
    return bool((a[:n] == np.arange(n, dtype=np.int64) ** 2).all() and a[n] == -1)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_every_index_runs_once(tasks, k):
    assert tasks.pool.set_threads(k) == k
    for n in (0, 1, 2, 3, 100, 10000):
        assert squares_ok(tasks.squares(n), n), n
        assert squares_ok(tasks.squares(n, repeats=5), n), n
    assert tasks.pool.threads() == k


@pytest.mark.parametrize("spin", [(threads.DEFAULT_SPIN, threads.DEFAULT_PATIENCE), (0, 0), (0, 10 ** 9)])
def test_two_threads_run_at_once(tasks, spin):
    # index 0 waits (bounded) until index 1 has started: only a second thread can start it; with (0, 0)
    # the worker is asleep on its futex when the region begins and must be woken; with (0, 10**9) it
    # waits in sched_yield()
    tasks.pool.set_threads(2)
    tasks.pool.set_spin(*spin)
    try:
        assert tasks.overlapped()
    finally:
        tasks.pool.set_spin()


@pytest.mark.parametrize("k", [1, 2, 3])
def test_nested_regions_run_serially_inside(tasks, k):
    tasks.pool.set_threads(k)
    data = tasks.nested(7, 33)
    assert (data == np.arange(33, dtype=np.int64) ** 2).all()


def test_two_python_threads_do_not_mix(tasks):
    tasks.pool.set_threads(2)
    errors: list[str] = []

    def caller(n: int) -> None:
        for _ in range(40):
            if not squares_ok(tasks.squares(n, repeats=3), n):
                errors.append(f"squares {n}")
            if not (tasks.nested(5, n // 100) == np.arange(n // 100) ** 2).all():
                errors.append(f"nested {n}")

    ts = [threading.Thread(target=caller, args=(n,)) for n in (3000, 5100)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []


def test_set_threads_and_shutdown_restart_the_pool(tasks):
    for k in (2, 3, 1, 2):
        assert tasks.pool.set_threads(k) == k
        assert squares_ok(tasks.squares(999), 999)
    tasks.pool.shutdown()
    assert squares_ok(tasks.squares(999), 999)    # started again by the region
    assert tasks.pool.threads() == 2


def test_all_cores_by_default(tasks):
    import os
    assert tasks.pool.set_threads(0) == min(os.cpu_count(), threads.MAX_THREADS)
    assert squares_ok(tasks.squares(500), 500)


def test_threads_setting(monkeypatch):
    monkeypatch.delenv("NNC_THREADS", raising=False)
    assert threads.threads_setting({}) is None
    assert threads.threads_setting({"threads": 2}) == 2
    assert threads.threads_setting({"threads": "3"}) == 3
    assert threads.threads_setting({"threads": 0}) == 0
    assert threads.threads_setting({"threads": 1000}) == threads.MAX_THREADS
    monkeypatch.setenv("NNC_THREADS", " 1 ")
    assert threads.threads_setting({}) == 1
    assert threads.threads_setting({"threads": 2}) == 2     # the option wins over the environment
    monkeypatch.setenv("NNC_THREADS", "many")
    with pytest.raises(ValueError, match=r"^NNC_THREADS must be a whole number of threads >= 0 .*'many'"):
        threads.threads_setting({})
    for bad in (-1, 2.5, True, "two", [2]):
        with pytest.raises(ValueError, match="^option threads must be a whole number"):
            threads.threads_setting({"threads": bad})


def test_emit_pool_once_per_module():
    m = ir.Module()
    fns = threads.emit_pool(m, "x86_64-unknown-linux-gnu")
    assert set(fns) == set(threads.SYMBOLS)
    assert threads.declare_parallel_for(m) is fns[threads.PARALLEL_FOR]
    with pytest.raises(ValueError, match="already defines nnc_parallel_for"):
        threads.emit_pool(m)
    with pytest.raises(ValueError, match="no futex system call number for 'mips-unknown-linux-gnu'"):
        threads.emit_pool(ir.Module(), "mips-unknown-linux-gnu")
    m2 = ir.Module()
    threads.declare_parallel_for(m2)
    with pytest.raises(ValueError, match="before declaring"):
        threads.emit_pool(m2)


def test_a_cached_pool_loads_without_generating_its_ir(tmp_path, monkeypatch):
    """The pool's object is keyed by its generators' source and the host: the second lookup is a cache hit
    that never emits the IR, and it is the same code as the IR compiled and cached by its text."""
    from nnc.backends.llvm import target as T
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path))
    h = T.host()
    first, hit = threads.pool_object(h)
    assert not hit
    module = ir.Module(name="nnc_pool")
    module.triple = h.triple
    threads.emit_pool(module, h.triple)
    assert first == T.optimise_and_emit(str(module), T.machine(h, 3), 3)

    def no_ir(*args, **kwargs):
        raise AssertionError("the pool's IR was generated on a cache hit")
    monkeypatch.setattr(threads, "emit_pool", no_ir)
    again, hit = threads.pool_object(h)
    assert hit and again == first
    monkeypatch.setattr(threads, "_source_digest", lambda: None)   # no sources: keyed by the IR, generated
    with pytest.raises(AssertionError, match="generated on a cache hit"):
        threads.pool_object(h)


def run_script(body: str, timeout: float) -> subprocess.CompletedProcess:
    """`body` in a fresh Python process with the tasks module loaded as `t`; a hang fails by timeout."""
    script = textwrap.dedent("""
        import os, sys
        import numpy as np
        sys.path.insert(0, {tests!r})
        from llvm_pool_tasks import Tasks
        t = Tasks()
        def check(n, repeats=1):
            a = t.squares(n, repeats)
            assert (a[:n] == np.arange(n) ** 2).all() and a[n] == -1, n
    """).format(tests=str(TESTS)) + textwrap.dedent(body)
    try:
        return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the pool deadlocked: no exit within {timeout} s")


def test_many_regions_in_a_row_without_deadlock():
    r = run_script("""
        for k, spin in ((2, ()), (2, (0, 0)), (2, (300, 300)), (2, (0, 5000)), (3, (0, 0)), (4, (3000, 6000))):
            t.pool.set_threads(k)
            t.pool.set_spin(*spin)
            for n in (2, 3, 17):
                check(n, repeats=10000)
            t.run("empty", 0, 2, 10000)
            for _ in range(300):     # from Python: each region after a short idle gap
                check(5)
        print("ok")
    """, timeout=180)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


@pytest.mark.parametrize("how", ["return", "shutdown", "sys.exit"])
def test_process_exits_after_use(how):
    end = {"return": "", "shutdown": "t.pool.shutdown()", "sys.exit": "sys.exit(0)"}[how]
    r = run_script(f"""
        t.pool.set_threads(2)
        check(1000, repeats=50)
        t.nested(4, 40)
        print("ok", flush=True)
        {end}
    """, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_forked_child_runs_regions():
    r = run_script("""
        t.pool.set_threads(2)
        check(1000, repeats=20)          # the parent's workers are running
        pid = os.fork()
        if pid == 0:
            try:
                check(1000, repeats=20)  # the child has none until the pool starts again
                assert t.pool.threads() == 2 and t.overlapped()
                os._exit(0)
            except BaseException:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        check(1000, repeats=20)
        print("ok" if status == 0 else f"child status {status}")
    """, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr[-2000:]


# -- the GEMM library over the pool (gemm_threads.py) ------------------------------------------------
@pytest.fixture(scope="module")
def gemm(tasks):
    """The library module with its parallel driver, loaded beside the pool: (pool, mt, loaded)."""
    import ctypes
    library = pytest.importorskip("nnc.backends.llvm.library")
    from nnc.backends.llvm import gemm_threads
    from nnc.backends.llvm import target as T
    h = T.host()
    m = library.module(h, "f32")
    mr = library.geometry_for(h, "f32").mr
    if gemm_threads.parallel_symbol("f32") not in m.globals:  # library.py adds it itself now
        gemm_threads.emit_parallel_gemm(m, m.globals[library.symbol("f32")], "f32", mr)
    gemm_threads.emit_parallel_gemm(m, m.globals[library.symbol("f32")], "f32", mr, parts=3, name="gemm_parts3")
    obj, _ = T.compile_object(str(m), h, 3)
    loaded = T.Loaded(obj, h)
    i64, p = ctypes.c_int64, ctypes.c_void_p
    proto = ctypes.CFUNCTYPE(None, i64, i64, i64, p, i64, i64, p, i64, i64, p, i64, i64, p, i64)
    yield tasks.pool, {1: loaded.function(gemm_threads.parallel_symbol("f32"), proto),
                       3: loaded.function("gemm_parts3", proto)}, loaded
    tasks.pool.set_threads(threads.threads_setting())


def call_gemm(fn, a: np.ndarray, b: np.ndarray, c: np.ndarray, accumulate: bool = False) -> None:
    (m, k), n = a.shape, b.shape[1]
    s = 4
    fn(m, n, k, a.ctypes.data, a.strides[0] // s, a.strides[1] // s, b.ctypes.data, b.strides[0] // s,
       b.strides[1] // s, c.ctypes.data, c.strides[0] // s, int(accumulate), None, 0)


SHAPES = [(1, 784, 512), (3, 200, 130), (64, 784, 512), (256, 784, 512), (5, 100, 70), (300, 50, 10),
          (1000, 30, 3), (1000, 60, 3), (7, 300, 129), (100, 1000, 63), (2, 2, 2), (40, 0, 9)]


@pytest.mark.parametrize("k, parts", [(1, 1), (2, 1), (3, 1), (2, 3)])
def test_parallel_gemm_matches_numpy(gemm, k, parts):
    pool, drivers, _ = gemm
    mt = drivers[parts]
    pool.set_threads(k)
    rng = np.random.default_rng(k)
    for m, kk, n in SHAPES:
        a = rng.standard_normal((m, kk)).astype(np.float32)
        b = rng.standard_normal((kk, n)).astype(np.float32)
        want = a.astype(np.float64) @ b
        scale = max(1.0, float(np.abs(want).max()))
        c = np.full((m, n), np.nan, np.float32)
        call_gemm(mt, a, b, c)
        assert np.abs(c - want).max() / scale < 1e-5, (m, kk, n)
        # transposed operands (strides), accumulation into C, and C a view with a longer row
        c2 = np.ones((m, n + 5), np.float32)
        call_gemm(mt, np.asfortranarray(a), np.asfortranarray(b), c2[:, :n], accumulate=True)
        assert np.abs(c2[:, :n] - 1 - want).max() / scale < 1e-5, (m, kk, n)
        assert (c2[:, n:] == 1).all()



def test_the_threads_option_sets_the_pool(tasks, monkeypatch):
    import nnc
    from nnc.backends import get, inference_signature
    from nnc.backends.llvm import BadThreads
    from nnc.passes.pipeline import prepare
    llvm = get("llvm")
    g = nnc.load(ROOT / "examples" / "digits_mlp.nn").graph("mlp")
    g = prepare(g, llvm)
    x = np.random.default_rng(0).normal(size=(256, 64)).astype(np.float32)
    params = {p.name: np.random.default_rng(1).normal(size=p.value.type.shape).astype(np.float32) * 0.1
              for p in g.params}
    outs = []
    for k in (1, 2):
        exe = llvm.compile(g, inference_signature(g), options={"threads": k})
        assert tasks.pool.threads() == k
        exe.load_state(params)
        outs.append(next(iter(exe(x=x).values())))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-6)
    with pytest.raises(BadThreads, match="^option threads must be a whole number of threads >= 0"):
        llvm.compile(g, inference_signature(g), options={"threads": -2})
    monkeypatch.setenv("NNC_THREADS", "lots")
    with pytest.raises(BadThreads, match="^NNC_THREADS must be a whole number"):
        llvm.compile(g, inference_signature(g))


def test_resizing_while_other_threads_run_regions():
    # set_threads and shutdown wait for the region lock; regions that find it taken run serially
    r = run_script("""
        import threading
        t.pool.set_threads(2)
        errors, stop = [], threading.Event()
        def regions(seed):
            rng = np.random.default_rng(seed)
            while not stop.is_set():
                n = int(rng.integers(0, 3000))
                a = t.squares(n, repeats=2)
                if not ((a[:n] == np.arange(n) ** 2).all() and a[n] == -1):
                    errors.append(n)
        runners = [threading.Thread(target=regions, args=(s,)) for s in (1, 2)]
        for r in runners:
            r.start()
        for i in range(60):
            if i % 7 == 3:
                t.pool.shutdown()
            else:
                t.pool.set_threads(1 + i % 3)
            t.pool.set_spin(*((0, 0) if i % 2 else (1 << 16, 1 << 20)))
        stop.set()
        for r in runners:
            r.join()
        print("ok" if not errors else errors[:5])
    """, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stdout + r.stderr[-2000:]


def test_a_process_using_the_backend_with_threads_exits():
    code = textwrap.dedent("""
        import numpy as np, nnc
        m = nnc.load({path!r}).model("mlp", backend="llvm")
        x = np.random.default_rng(0).normal(size=(256, 64)).astype(np.float32)
        for _ in range(20):
            m(x=x)
        print("ok")
    """).format(path=str(ROOT / "examples" / "digits_mlp.nn"))
    env = dict(os.environ, NNC_THREADS="2")
    try:
        r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                           env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("a process using the llvm backend with 2 threads did not exit")
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
