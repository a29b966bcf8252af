"""`nnc stats --backend llvm --profile`: per kernel time, FLOPs, GFLOP/s and share of the measured peak.

Structure and arithmetic only (no timing assertion): FLOPs are exact for a known dense layer, the kernels
are those `nnc compile --explain` lists, times add up to the totals, the peak is measured once and cached.
"""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("llvmlite")

from nnc.backends.llvm import report  # noqa: E402
from nnc.cli import main  # noqa: E402
from nnc.compiler import check_file  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MLP = str(ROOT / "examples" / "digits_mlp.nn")
DENSE = """\
model d {
  input x: f32[N, 32]
  output y = x -> dense(16)
}
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "profile-cache"))
    monkeypatch.delenv("NNC_LLVM_CPU", raising=False)


@pytest.fixture
def dense(tmp_path) -> str:
    path = tmp_path / "dense.nn"
    path.write_text(DENSE)
    return str(path)


def _json(capsys, *argv) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def _explained(capsys, *argv) -> list[str]:
    """The kernel names `nnc compile --target llvm --explain` lists, in the order they run."""
    assert main(["compile", *argv, "--target", "llvm", "--explain"]) == 0
    return [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("  k")]


def _check_profile(p: dict, batch: int) -> None:
    assert p["batch"] == batch and p["calls"] == 20 and p["cpu"]
    assert p["peak"]["all_cores_gflops"] >= p["peak"]["one_core_gflops"] > 0 and p["peak"]["cores"] >= 1
    assert p["cycles_per_second"] > 1e8
    times = [k["us_per_call"] for k in p["kernels"]]
    assert times == sorted(times, reverse=True)  # most expensive first
    assert sum(times) == pytest.approx(p["kernels_us"], rel=1e-3, abs=1e-2)
    assert p["flops"] == sum(k["flops"] for k in p["kernels"])
    assert p["call_us"] > 0
    for k in p["kernels"]:
        assert set(k) >= {"name", "kind", "ops", "loops", "lines", "us_per_call", "flops", "gflops", "peak_share"}
        assert k["us_per_call"] >= 0 and k["flops"] >= 0
        if k["us_per_call"] >= 0.05:  # (rounded to 1e-4 µs: tiny kernels' ratios are not exact)
            assert k["gflops"] == pytest.approx(k["flops"] / k["us_per_call"] / 1e3, rel=1e-2, abs=1e-3)


def test_dense_layer_flops_are_exactly_2mnk(capsys, dense):
    out = _json(capsys, "stats", dense, "--backend", "llvm", "--profile", "--batch", "8", "--format", "json")
    p = out["models"]["d"]["profile"]
    _check_profile(p, 8)
    (mm,) = [k for k in p["kernels"] if k["kind"] == "Matmul"]
    assert mm["loops"] == [8, 16, 32] and mm["flops"] == 2 * 8 * 16 * 32
    assert all(line["line"] == 3 for k in p["kernels"] for line in k["lines"])  # every kernel is the dense line
    assert {k["name"] for k in p["kernels"]} == set(_explained(capsys, dense, "--batch", "8"))


def test_json_keeps_every_stats_key_and_adds_profile(capsys):
    plain = _json(capsys, "stats", MLP, "--backend", "llvm", "--format", "json")
    profiled = _json(capsys, "stats", MLP, "--backend", "llvm", "--profile", "--format", "json")
    p = profiled["models"]["mlp"].pop("profile")
    assert profiled == plain
    _check_profile(p, 1)
    assert len(p["kernels"]) == plain["models"]["mlp"]["llvm"]["kernels"]


def test_train_step_profile_has_the_explained_kernels(capsys):
    out = _json(capsys, "stats", MLP, "--backend", "llvm", "--profile", "--train", "digits", "--batch", "16",
                "--format", "json")
    assert out["models"] == {}  # --train alone profiles only the step
    p = out["trains"]["digits"]["profile"]
    _check_profile(p, 16)
    explained = _explained(capsys, MLP, "--train", "digits", "--batch", "16")
    assert sorted(k["name"] for k in p["kernels"]) == sorted(explained)
    result = check_file(Path(MLP))
    kernels = report.train_report(result.trains["digits"], 16).kernels
    flops = {k.name: report.kernel_flops(lk, {"N": 16})
             for k, lk in zip(kernels, _lowered(result.trains["digits"], 16))}
    assert {k["name"]: k["flops"] for k in p["kernels"]} == flops
    # the first layer's forward product: 16 samples x 128 units x 64 inputs
    assert any(k["kind"] == "Matmul" and k["loops"] == [16, 128, 64] and k["flops"] == 2 * 16 * 128 * 64
               for k in p["kernels"])


def _lowered(info, batch: int):
    from nnc.backends.llvm import BACKEND
    from nnc.passes.pipeline import prepare
    graph, sig = report.step_graph(info)
    exe = BACKEND.compile(prepare(graph, BACKEND, signature=sig), sig)
    lw, _ = exe.lower({"N": batch})
    return lw.kernels


def test_text_table(capsys, dense):
    assert main(["stats", dense, "--backend", "llvm", "--profile", "--batch", "4"]) == 0
    out = capsys.readouterr().out
    head = next(line for line in out.splitlines() if line.startswith("llvm profile of model d at batch 4"))
    assert "µs a call" in head and "measured peak" in head
    rows = [line.split() for line in out.splitlines() if line.startswith("  k") and not line.startswith("  kernel")]
    assert rows and all(r[-1] == "dense.nn:3" for r in rows)
    assert sum(float(r[2]) for r in rows) == pytest.approx(
        float(next(line for line in out.splitlines() if line.startswith("  total")).split()[1]), abs=0.05)
    assert "GFLOP/s" in out and "peak" in out


@pytest.mark.parametrize("argv, message", [
    (["--profile"], "--profile goes with --backend llvm"),
    (["--backend", "llvm", "--train", "digits"], "--train with --profile"),
    (["--backend", "llvm", "--profile", "--train", "nope"], "no train block `nope`"),
])
def test_bad_flags_are_usage_errors(capsys, argv, message):
    assert main(["stats", MLP, *argv]) == 2
    assert message in capsys.readouterr().err


def test_peak_is_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path / "cache"))
    first = report.peak()
    assert (tmp_path / "cache" / report.PEAK_NAMESPACE).is_dir()
    assert report.peak() == first  # read back, not measured again
    assert first.all_cores >= first.one_core > 0


def test_flops_of_kernel_kinds():
    """A reduction counts one operation per element read; a store its fused maps per element written."""
    src = textwrap.dedent("""\
        model s {
          input x: f32[N, 10]
          output y = sum(exp(x) * 2.0)
        }
        """)
    result = check_file(Path("s.nn"), text=src)
    kernels = report.model_report(result.models["s"], 3).kernels
    assert kernels
    r = report.profile(*report.model_graph(result.models["s"].graph), "model s", 3, calls=2)
    total = sum(row.flops for row in r.rows)
    assert total >= 30  # 30 elements summed, exp and the product fused into the sum or stored before it
    assert len(r.rows) == len(kernels)
