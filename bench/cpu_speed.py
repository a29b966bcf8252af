"""Issue 8's table: nnc llvm against ONNX Runtime CPU, PyTorch eager CPU and numpy, in one process.

Contenders alternate in blocks (each after a pause that lets the other thread pools park, one warm-up call
first), the table shows medians of the blocks, and every contender runs the same weights: nnc's seeded
initial parameters (and random batchnorm statistics), handed to an ONNX graph built with onnx.helper the
way ONNX users build it and to a PyTorch eager network (bench/cpu_models.py); their outputs are compared
before anything is timed. Only ratios taken in one process count (../shared/docs/backends.md §5): two-
thread timings drift up to 2x between processes. Each row states issue 8's goal and whether it is met.

Contenders: `nnc llvm` (prog.model / prog.train with backend="llvm", its thread pool at its default size),
`ORT 2t` / `ORT 1t` (onnxruntime sessions with 2 and 1 intra-op threads, spinning off), `PyTorch 2t` /
`PyTorch 1t` (eager, torch.set_num_threads before each block: its OpenMP threads spin, and on a shared
machine 2 threads can be 10x slower than 1; only when importable: python -m venv --system-site-packages
/work/benchenv && /work/benchenv/bin/pip install torch==2.13.0), `numpy` (nnc's numpy backend; numpy's
own `a @ b` in the matmul row). Goals compare nnc with the best of a rival's thread counts. Compile rows
run the whole first call in a fresh process (a subprocess with NNC_CACHE_DIR set), imports included:
lenet5 with an empty cache, resnet18 with only what lenet5 left in the cache (the kernel library, where
the tree has one), then both fully cached.
`--busy` adds a table: nnc llvm on 1 and 2 threads and ORT on 1 and 2 threads, each timed with the
machine quiet and with a child process spinning on one core, alternating; the degradation is busy/quiet.
Run: [/work/benchenv/bin/]python bench/cpu_speed.py [--rounds 5] [--seconds 0.3] [--rows mlp1,matmul]
     [--busy] [--quick]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]  # this tree's nnc, whatever is installed
import cpu_models as cm  # noqa: E402

MODELS = ROOT / "bench" / "models"
ROWS = ("mlp1", "mlp256", "lenet1", "lenet64", "resnet1", "train-lenet", "train-mlp", "matmul", "compile")
COLUMNS = ("nnc llvm", "ORT 2t", "ORT 1t", "PyTorch 2t", "PyTorch 1t", "numpy")
TORCH = ("PyTorch 2t", "PyTorch 1t")
# row: (program, model, network, sample shape, batch, goal)
INFER = {"mlp1": (MODELS / "mlp.nn", "mlp", "mlp", (784,), 1, ("latency", 0.6)),
         "mlp256": (MODELS / "mlp.nn", "mlp", "mlp", (784,), 256, ("throughput", 1.0)),
         "lenet1": (MODELS / "lenet5.nn", "lenet5", "lenet5", (1, 28, 28), 1, ("latency", 0.7)),
         "lenet64": (MODELS / "lenet5.nn", "lenet5", "lenet5", (1, 28, 28), 64, ("throughput", 1.0)),
         "resnet1": (ROOT / "examples" / "resnet18.nn", "resnet18", "resnet18", (3, 224, 224), 1, ("latency", 1.2))}
# row: (program, train block, network, sample shape, optimiser, hyper-parameters, speed-up goal)
TRAIN = {"train-lenet": (MODELS / "lenet5.nn", "sgd", "lenet5", (1, 28, 28), "sgd", {"lr": 0.01, "momentum": 0.9},
                         2.5),
         "train-mlp": (MODELS / "mlp.nn", "adam", "mlp", (784,), "adam", {"lr": 1e-3}, 2.0)}

try:
    import torch
except ImportError:
    torch = None


# -- timing ---------------------------------------------------------------------------------------------

class Timer:
    def __init__(self, rounds: int, seconds: float, pause: float):
        self.rounds, self.seconds, self.pause = rounds, seconds, pause

    def block(self, call) -> float:
        """Seconds per call over one block of about `seconds`, after a pause (other pools park)."""
        time.sleep(self.pause)
        n, start = 0, time.perf_counter()
        while n < 2 or time.perf_counter() - start < self.seconds:
            call()
            n += 1
        return (time.perf_counter() - start) / n

    def alternate(self, contenders: dict, setup=None) -> dict[str, float]:
        """Median seconds per call of each contender, blocks alternating; `setup(name)` before each block."""
        for name, call in contenders.items():
            setup and setup(name)
            call()
            call()  # warm up: compile, allocate, start thread pools
        times = {name: [] for name in contenders}
        for _ in range(self.rounds):
            for name, call in contenders.items():
                setup and setup(name)
                times[name].append(self.block(call))
        return {name: statistics.median(t) for name, t in times.items()}


def setup(name: str) -> None:
    """Before a contender's block: nnc's pool at its default size, PyTorch's thread count for its column."""
    if name == "nnc llvm":
        nnc_threads(None)
    elif name.startswith("PyTorch"):
        torch.set_num_threads(int(name[-2]))


def nnc_threads(k: int | None) -> bool:
    """Set the llvm backend's thread pool to k threads (None: its default); False when the tree has none."""
    try:
        from nnc.backends.llvm import threads
        threads.process_pool().set_threads(k)
        return True
    except (ImportError, AttributeError):
        return False


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


# -- rows -----------------------------------------------------------------------------------------------

class Row:
    def __init__(self, name: str, unit: str, values: dict[str, str], goal: str, ratio: float | None,
                 met: bool | None, note: str = ""):
        self.name, self.unit, self.values, self.goal, self.ratio, self.met, self.note = \
            name, unit, values, goal, ratio, met, note


def _loaded(program: Path, model: str, backend: str, rng_state: dict | None):
    import nnc
    m = nnc.load(program).model(model, backend=backend, seed=0)
    if rng_state:
        for k, v in rng_state.items():
            m.state[k] = v
    return m


def _bn_state(m) -> dict:
    """Random batchnorm statistics (means near 0, variances in 0.5..1.5), the same for every contender."""
    rng = np.random.default_rng(1)
    return {k: ((rng.normal(size=v.shape) * 0.1) if k.endswith("running_mean")
                else rng.uniform(0.5, 1.5, v.shape)).astype(np.float32) for k, v in m.state.items()}


def _agree(outputs: dict[str, np.ndarray], reference: np.ndarray) -> str:
    worst = {n: float(np.abs(np.asarray(o) - reference).max() / max(np.abs(reference).max(), 1e-30))
             for n, o in outputs.items()}
    return "outputs agree (max rel. error " + ", ".join(f"{n} {e:.1e}" for n, e in worst.items()) + ")"


def infer_row(key: str, timer: Timer, ort_ok: bool) -> Row:
    import nnc
    from nnc.stats import model_stats
    program, model, network, shape, batch, (kind, goal) = INFER[key]
    llvm = nnc.load(program).model(model, backend="llvm", seed=0)
    state = _bn_state(llvm)
    for k, v in state.items():
        llvm.state[k] = v
    npy = _loaded(program, model, "numpy", state)
    items = cm.layers(dict(llvm.params), dict(llvm.state))
    x = np.random.default_rng(0).random((batch,) + shape, dtype=np.float32)
    feed = {llvm.inputs[0]: x}
    calls = {"nnc llvm": lambda: llvm(**feed)}
    if ort_ok:
        onnx_bytes = cm.onnx_model(network, items, shape)
        for t in (2, 1):
            s = cm.ort_session(onnx_bytes, t)
            calls[f"ORT {t}t"] = (lambda s: lambda: s.run(None, {"x": x})[0])(s)
    if torch is not None:
        run = cm.torch_infer(network, items)
        calls.update({name: lambda: run(x) for name in TORCH})
    calls["numpy"] = lambda: npy(**feed)
    reference = calls["nnc llvm"]()
    note = _agree({n: np.asarray(c()) for n, c in calls.items() if n != "nnc llvm"}, reference)
    sec = timer.alternate(calls, setup)
    flops = 2 * model_stats(llvm.graph).macs * batch
    ort = [sec[n] for n in ("ORT 2t", "ORT 1t") if n in sec]
    if kind == "latency":
        values = {n: f"{s * 1e6:,.1f} µs" for n, s in sec.items()}
        ratio = sec["nnc llvm"] / min(ort) if ort else None
        text, met = f"≤ {goal}× ORT's latency", ratio is not None and ratio <= goal
        name, unit = f"{model} batch {batch}", "latency"
    else:
        values = {n: f"{batch / s:,.0f}/s {flops / s / 1e9:.0f} GF/s" for n, s in sec.items()}
        ratio = min(ort) / sec["nnc llvm"] if ort else None
        text, met = f"≥ {goal}× ORT's throughput", ratio is not None and ratio >= goal
        name, unit = f"{model} batch {batch}", "samples/s, GFLOP/s"
    return Row(name, unit, values, text, ratio, met if ort else None, note)


def train_row(key: str, timer: Timer) -> Row:
    import nnc
    program, block, network, shape, optimizer, hyper, goal = TRAIN[key]
    rng = np.random.default_rng(0)
    x = rng.random((64,) + shape, dtype=np.float32)
    y = rng.integers(0, 10, 64).astype(np.int32)
    prog = nnc.load(program)
    t = prog.train(block, backend="llvm", seed=0)
    names = t.inputs
    batch = {names[0]: x, names[1]: y}
    items = cm.layers(dict(t.params), {})
    calls = {"nnc llvm": lambda: t.step(**batch)}
    note = ""
    if torch is not None:
        step = cm.torch_trainer(network, items, optimizer, **hyper)
        calls.update({name: lambda: step(x, y) for name in TORCH})
        torch.set_num_threads(2)
        ours = [t.step(**batch)["loss"] for _ in range(3)]  # the same three steps from the same weights
        theirs = [step(x, y) for _ in range(3)]
        note = ("losses of 3 steps: nnc " + ", ".join(f"{v:.5f}" for v in ours) + "; PyTorch "
                + ", ".join(f"{v:.5f}" for v in theirs))
    sec = timer.alternate(calls, setup)
    values = {n: f"{s * 1e3:.2f} ms" for n, s in sec.items()}
    ratio = min(sec[n] for n in TORCH) / sec["nnc llvm"] if torch is not None else None
    return Row(f"train {network} batch 64 ({optimizer})", "ms per step", values,
               f"≥ {goal}× faster than PyTorch's best", ratio, None if ratio is None else ratio >= goal, note)


def matmul_row(timer: Timer) -> Row:
    import nnc
    rng = np.random.default_rng(0)
    a, b = (rng.random((1024, 1024), dtype=np.float32) for _ in range(2))
    m = nnc.load(MODELS / "matmul.nn").model("matmul", backend="llvm")
    calls = {"nnc llvm": lambda: m(a=a, b=b), "numpy": lambda: a @ b}
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        calls.update({name: lambda: ta @ tb for name in TORCH})
    want = a.astype(np.float64) @ b
    err = float(np.abs(calls["nnc llvm"]() - want).max() / np.abs(want).max())
    sec = timer.alternate(calls, setup)
    values = {n: f"{2 * 1024 ** 3 / s / 1e9:.0f} GF/s" for n, s in sec.items()}
    ratio = sec["numpy"] / sec["nnc llvm"]
    return Row("matmul 1024³ f32", "GFLOP/s", values, "≥ 0.9× numpy's GFLOP/s", ratio, ratio >= 0.9,
               f"nnc's max rel. error against float64 {err:.1e}")


FIRST_CALL = """
import time; t0 = time.perf_counter()
import json, sys, numpy as np, nnc
t1 = time.perf_counter()
m = nnc.load(sys.argv[1]).model(sys.argv[2], backend="llvm")
x = np.zeros((1,) + tuple(json.loads(sys.argv[3])), np.float32)
m(**{m.inputs[0]: x})
t2 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "first_call": t2 - t1}))
"""


def first_call(cache_dir: str, program: Path, model: str, shape) -> dict:
    """import nnc, then load, compile and run once, in a fresh process with NNC_CACHE_DIR=cache_dir."""
    env = dict(os.environ, NNC_CACHE_DIR=cache_dir,
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", FIRST_CALL, str(program), model, json.dumps(list(shape))],
                         env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"first call of {model} failed: {out.stderr.strip()[-400:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]) | {"process": wall}


def _namespaces(cache_dir: str) -> str:
    root = Path(cache_dir)
    found = [f"{d.name} ({sum(1 for _ in d.glob('*.entry'))})" for d in sorted(root.iterdir()) if d.is_dir()] \
        if root.is_dir() else []
    return ", ".join(found) or "nothing"


def compile_rows() -> list[Row]:
    lenet = (MODELS / "lenet5.nn", "lenet5", (1, 28, 28))
    resnet = (ROOT / "examples" / "resnet18.nn", "resnet18", (3, 224, 224))
    rows = []

    def row(name, r, goal, note=""):
        total = r["imports"] + r["first_call"]
        values = {"nnc llvm": f"{total:.2f} s ({r['imports']:.2f} import + {r['first_call']:.2f})"}
        rows.append(Row(name, "s, whole first call", values, f"< {goal} s", total / goal, total < goal, note))

    with tempfile.TemporaryDirectory() as d:
        row("compile lenet5, empty cache", first_call(d, *lenet), 6.0)
        left = _namespaces(d)
        row("compile resnet18, library cached", first_call(d, *resnet), 2.0,
            f"the cache held {left} (entries) after lenet5's run")
        row("compile resnet18, fully cached", first_call(d, *resnet), 0.5)
        row("compile lenet5, fully cached", first_call(d, *lenet), 0.5)
    return rows


# -- busy machine ---------------------------------------------------------------------------------------

def busy_table(timer: Timer, ort_ok: bool) -> list[str]:
    """nnc llvm and ORT on 1 and 2 threads, quiet and with one core taken by a spinning child, alternating."""
    import nnc
    has_pool = nnc_threads(None)
    lines = [f"## Busy machine: one core taken by a spinning process ({'nnc threads set through its pool' if has_pool else 'this tree has no nnc thread pool: nnc 1t and 2t are the same code'})",
             "", "| row | contender | quiet | busy | busy / quiet |", "| --- | --- | --- | --- | --- |"]
    for key in ("mlp1", "mlp256", "lenet64"):
        program, model, network, shape, batch, _ = INFER[key]
        m = nnc.load(program).model(model, backend="llvm", seed=0)
        x = np.random.default_rng(0).random((batch,) + shape, dtype=np.float32)
        feed = {m.inputs[0]: x}
        calls = {"nnc llvm 1t": lambda: m(**feed), "nnc llvm 2t": lambda: m(**feed)}
        if ort_ok:
            onnx_bytes = cm.onnx_model(network, cm.layers(dict(m.params), dict(m.state)), shape)
            for t in (1, 2):
                s = cm.ort_session(onnx_bytes, t)
                calls[f"ORT {t}t"] = (lambda s: lambda: s.run(None, {"x": x})[0])(s)

        def setup(name):
            if name.startswith("nnc"):
                nnc_threads(int(name[-2]))
        for name, call in calls.items():
            setup(name)
            call()
        quiet = {n: [] for n in calls}
        busy = {n: [] for n in calls}
        for _ in range(timer.rounds):
            for state, table in (("quiet", quiet), ("busy", busy)):
                spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if state == "busy" else None
                try:
                    time.sleep(0.1)
                    for name, call in calls.items():
                        setup(name)
                        table[name].append(timer.block(call))
                finally:
                    if spinner is not None:
                        spinner.kill()
                        spinner.wait()
        for name in calls:
            q, b = statistics.median(quiet[name]), statistics.median(busy[name])
            lines.append(f"| {model} batch {batch} | {name} | {q * 1e6:,.1f} µs | {b * 1e6:,.1f} µs | {b / q:.2f}× |")
    nnc_threads(None)
    return lines


# -- main -----------------------------------------------------------------------------------------------

def render(rows: list[Row]) -> list[str]:
    cols = [c for c in COLUMNS if any(c in r.values for r in rows)]
    lines = ["| row | " + " | ".join(cols) + " | goal | ratio | met |",
             "| --- | " + " | ".join("---" for _ in cols) + " | --- | --- | --- |"]
    for r in rows:
        met = "—" if r.met is None else ("yes" if r.met else "**no**")
        ratio = "—" if r.ratio is None else f"{r.ratio:.2f}"
        lines.append(f"| {r.name} | " + " | ".join(r.values.get(c, "") for c in cols) + f" | {r.goal} | {ratio} | {met} |")
    notes = [f"- {r.name}: {r.note}" for r in rows if r.note]
    return lines + ([""] + notes if notes else [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating blocks per contender (median)")
    parser.add_argument("--seconds", type=float, default=0.3, help="length of one timed block")
    parser.add_argument("--pause", type=float, default=0.3, help="sleep before each block")
    parser.add_argument("--rows", default=",".join(ROWS), help="which rows: " + ",".join(ROWS))
    parser.add_argument("--busy", action="store_true", help="also the busy-machine table")
    parser.add_argument("--quick", action="store_true", help="2 rounds of 0.05 s blocks: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.pause = 2, 0.05, 0.02
    wanted = [r for r in args.rows.split(",") if r]
    unknown = [r for r in wanted if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {', '.join(unknown)} (rows: {', '.join(ROWS)})")
    timer = Timer(args.rounds, args.seconds, args.pause)
    try:
        import onnxruntime
        ort_note, ort_ok = f"onnxruntime {onnxruntime.__version__}", True
    except ImportError:
        ort_note, ort_ok = "onnxruntime not installed: ORT columns skipped", False
    torch_note = f"PyTorch {torch.__version__} (2 and 1 threads)" if torch is not None else \
        "PyTorch not importable: its column is skipped (see the docstring for the bench venv)"
    print(f"# issue 8: nnc llvm against ONNX Runtime, PyTorch and numpy; {ort_note}; {torch_note}; numpy "
          f"{np.__version__}")
    print(f"# before: {uptime()}")
    print(f"# medians of {timer.rounds} alternating blocks of {timer.seconds} s, {timer.pause} s pause before each")
    rows = []
    for key in wanted:
        if key in INFER:
            rows.append(infer_row(key, timer, ort_ok))
        elif key in TRAIN:
            rows.append(train_row(key, timer))
        elif key == "matmul":
            rows.append(matmul_row(timer))
        elif key == "compile":
            rows.extend(compile_rows())
    print("\n".join(render(rows)))
    if args.busy:
        print()
        print("\n".join(busy_table(timer, ort_ok)))
    print(f"# after: {uptime()}")
    met = [r for r in rows if r.met is not None]
    print(f"# goals met: {sum(r.met for r in met)} of {len(met)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
