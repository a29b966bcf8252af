"""Run-time sizes against specialised code on the LLVM backend, in one process.

The same graph (digits_mlp, lenet5: inference at batch 1, a training step at batch 64) compiled twice,
with run-time sizes (the default) and with option `specialize=True` (a variant per batch size, the code
before run-time sizes); the two alternate in blocks of 0.3 s and the medians are printed, with the
compile time of the first batch size (empty cache, the GEMM library built beforehand) and of a second.
Run: [ROUNDS=11] [NNC_THREADS=1] [NNC_GEMM_LIBRARY=0] python bench/llvm_runtime_sizes.py
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ["NNC_CACHE_DIR"] = tempfile.mkdtemp()

import numpy as np  # noqa: E402

from nnc.backends import get  # noqa: E402
from nnc.backends.llvm.report import model_graph, step_graph  # noqa: E402
from nnc.compiler import check_file  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402

LLVM = get("llvm")
CASES = [("digits_mlp", "mlp", "digits", "x", (64,), "y"),
         ("lenet5", "lenet5", "mnist", "image", (1, 28, 28), "label")]
NP = {"f32": np.float32, "i64": np.int64, "i32": np.int32}


def rate(call, seconds: float = 0.3) -> float:
    """Seconds per call over about `seconds`."""
    time.sleep(0.05)
    n, start = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - start < seconds:
        call()
        n += 1
    return (time.perf_counter() - start) / n


def alternate(calls: dict, rounds: int) -> dict:
    for call in calls.values():
        call()
    seen: dict = {k: [] for k in calls}
    for _ in range(rounds):
        for k, call in calls.items():
            seen[k].append(rate(call))
    return {k: statistics.median(v) for k, v in seen.items()}


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    rounds = int(os.environ.get("ROUNDS", "5"))
    try:  # the GEMM library compiles once per process and CPU: not part of a model's compile time
        from nnc.backends.llvm import library, target
        if library.ENABLED:
            for dtype in ("f32", "f64"):
                library.object(target.host(), dtype)
    except ImportError:
        pass
    rng = np.random.default_rng(0)
    print(f"load {os.getloadavg()[0]:.2f}  library={os.environ.get('NNC_GEMM_LIBRARY', '1')} "
          f"threads={os.environ.get('NNC_THREADS', 'default')}  medians of {rounds}")
    for example, model, train, xin, shape, label in CASES:
        checked = check_file(ROOT / "examples" / f"{example}.nn")
        for kind, (g, sig), batch in (("infer b1", model_graph(checked.models[model].graph), 1),
                                      ("train b64", step_graph(checked.trains[train]), 64)):
            prepared = prepare(g, LLVM, signature=sig)
            exes = {"runtime": LLVM.compile(prepared, sig, options={"cache": False}),
                    "specialize": LLVM.compile(prepared, sig, options={"cache": False, "specialize": True})}
            state = {p.name: (rng.normal(size=p.type.shape) * 0.05).astype(np.float32) if p.type.dtype == "f32"
                     else np.zeros(p.type.shape, NP[p.type.dtype]) for p in sig.inputs if p.role.name != "DATA"}
            feeds = {xin: rng.normal(size=(batch,) + shape).astype(np.float32)}
            if kind.startswith("train"):
                feeds[label] = rng.integers(0, 10, batch).astype(np.int32)
            other = {**feeds, xin: rng.normal(size=(7,) + shape).astype(np.float32)}
            if label in other:
                other[label] = feeds[label][:7]
            first, second = {}, {}
            for name, exe in exes.items():
                exe.load_state(state)
                first[name] = timed(lambda: exe(**feeds))
                second[name] = timed(lambda: exe(**other))  # a second batch size
                exe.load_state(state)
            med = alternate({k: (lambda e: lambda: e(**feeds))(e) for k, e in exes.items()}, rounds)
            unit = (lambda s: f"{s * 1e6:8.1f} us") if batch == 1 else (lambda s: f"{1 / s:8.0f} steps/s")
            print(f"{example:11} {kind:9} runtime {unit(med['runtime'])}  specialize {unit(med['specialize'])}  "
                  f"compile runtime {first['runtime']:.2f}s specialize {first['specialize']:.2f}s  "
                  f"2nd batch size: runtime {second['runtime'] * 1e3:.1f} ms, "
                  f"specialize {second['specialize'] * 1e3:.0f} ms")
    print(f"load {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
