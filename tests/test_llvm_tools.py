"""What the LLVM backend tells about a program: `nnc stats --backend llvm` (the memory plan),
`nnc compile --target llvm --explain` (the kernels and their `.nn` lines) and `--cpu` / NNC_LLVM_CPU."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import nnc  # noqa: E402
from nnc.backends import BackendUnavailable  # noqa: E402
from nnc.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MLP = str(ROOT / "examples" / "digits_mlp.nn")
LENET = str(ROOT / "examples" / "lenet5.nn")
KERNEL = re.compile(r"^  (k(\d+)_\w+)  (\w+) ([\dx]+|scalar)  (.+?)  (.+)$")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "llvm-cache"))
    monkeypatch.delenv("NNC_LLVM_CPU", raising=False)


def _json(capsys, *argv) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def _compiled_variant(path: str, model: str, batch: int, width: int = 64):
    """The variant a real llvm model compiles at `batch` (it runs once, so it is the code that runs)."""
    m = nnc.load(path).model(model, backend="llvm")
    m(x=np.zeros((batch, width), np.float32))
    (variant,) = m._exe._variants.values()
    return variant


# -- nnc stats --backend llvm ------------------------------------------------------------------------------

def test_stats_plan_is_the_compiled_variants_plan(capsys):
    out = _json(capsys, "stats", MLP, "--backend", "llvm", "--batch", "64", "--format", "json")
    plan = out["models"]["mlp"]["llvm"]
    variant = _compiled_variant(MLP, "mlp", 64)
    assert plan["activation_bytes"] == variant.plan.arena_bytes
    assert plan["scratch_bytes"] == variant.plan.scratch_bytes
    assert plan["kernels"] == variant.kernels
    assert plan["params_bytes"] == 9610 * 4 and plan["state_bytes"] == 0 and plan["update_bytes"] == 0
    assert plan["batch"] == 64 and plan["alignment"] == 64 and plan["activation_bytes"] % 64 == 0
    assert plan["activation_bytes"] < plan["scratch_bytes"]  # buffers are shared by liveness


def test_stats_json_keeps_every_existing_key(capsys):
    plain = _json(capsys, "stats", MLP, "--format", "json")
    with_plan = _json(capsys, "stats", MLP, "--format", "json", "--backend", "llvm")
    extra = with_plan["models"]["mlp"].pop("llvm")
    assert with_plan == plain
    assert extra["batch"] == 1


def test_stats_text_is_unchanged_but_for_the_plan_line(capsys):
    assert main(["stats", LENET]) == 0
    plain = capsys.readouterr().out
    assert main(["stats", LENET, "--backend", "llvm", "--batch", "8"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(plain.rstrip("\n") + "\n")
    (line,) = text[len(plain):].splitlines()
    assert line.startswith("llvm plan at batch 8 (cpu ") and "parameters 241.0 KiB" in line


def test_stats_batch_without_backend_is_refused(capsys):
    assert main(["stats", MLP, "--batch", "4"]) == 2
    assert capsys.readouterr().err.strip() == \
        "nnc: error: --batch and --cpu go with --backend llvm (the plan of the compiled model)"


def test_train_step_plan_counts_adam_state_and_update_buffers():
    from nnc.backends.llvm.report import train_report
    from nnc.compiler import check_file
    info = check_file(Path(MLP)).trains["digits"]
    r = train_report(info, batch=64)
    params = 9610 * 4
    assert r.params_bytes == params
    assert r.state_bytes == 2 * params + 8 + 8          # adam's m and v, the step counter, the key
    assert r.update_bytes == params + 2 * params + 8    # everything but the key is replaced by the step
    assert 0 < r.activation_bytes < r.scratch_bytes


# -- nnc compile --target llvm --explain -----------------------------------------------------------------

def _kernel_lines(text: str) -> list[re.Match]:
    rows = [line for line in text.splitlines() if line.startswith("  ")]
    matches = [KERNEL.match(line) for line in rows]
    assert all(matches), [line for line, m in zip(rows, matches) if not m]
    return matches


def test_explain_lists_the_kernels_the_variant_compiles(capsys):
    assert main(["compile", MLP, "--target", "llvm", "--explain", "--model", "mlp", "--batch", "7"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("model mlp at batch 7 (cpu ")
    rows = _kernel_lines(text)
    variant = _compiled_variant(MLP, "mlp", 7)
    assert [int(m.group(2)) for m in rows] == list(range(variant.kernels))
    for m in rows:  # the names are the functions of the LLVM module that runs
        assert re.search(rf'@"?{m.group(1)}"?\(', variant.ir)
    first_matmul = next(m for m in rows if m.group(3) == "Matmul")  # rows, columns, inner size
    assert first_matmul.group(4) == "7x128x64" and "matmul" in first_matmul.group(5).split(" + ")
    assert f"arena {variant.plan.arena_bytes} bytes" in text.splitlines()[0]


def test_every_kernel_line_names_a_line_of_the_program(capsys):
    source = Path(LENET).read_text().splitlines()
    assert main(["compile", LENET, "--target", "llvm", "--explain"]) == 0
    text = capsys.readouterr().out
    rows = _kernel_lines(text)
    assert len(rows) > 50  # the model and a training step
    seen = set()
    for m in rows:
        for where in m.group(6).split(", "):
            file, line = where.rsplit(":", 1)
            assert Path(file).name == "lenet5.nn" and 1 <= int(line) <= len(source)
            assert source[int(line) - 1].strip() and not source[int(line) - 1].lstrip().startswith("#")
            seen.add(int(line))
    conv_line = next(i for i, s in enumerate(source, 1) if "conv2d" in s)
    minimize_line = next(i for i, s in enumerate(source, 1) if "minimize" in s)
    assert {conv_line, minimize_line} <= seen


def test_explain_train_step_shows_fusion(capsys):
    assert main(["compile", MLP, "--target", "llvm", "--explain", "--train", "digits", "--batch", "64"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].startswith("train digits (one step) at batch 64")
    rows = _kernel_lines(text)
    ops = [m.group(5).split(" + ") for m in rows]
    assert any("random_uniform" in o for o in ops)  # dropout draws its mask in training
    # an Adam update of a parameter is one loop of several primitives, from the minimize line (14)
    adam = [m for m in rows if m.group(6).endswith("digits_mlp.nn:14") and len(m.group(5).split(" + ")) >= 4]
    assert adam and all(m.group(3) == "Store" for m in adam)


def test_onnx_target_refuses_explain(capsys):  # --target llvm without --explain: tests/test_llvm_library.py
    assert main(["compile", MLP, "--target", "onnx", "--explain"]) == 2
    assert "--explain lists the kernels of --target llvm" in capsys.readouterr().err


def test_explain_of_a_name_the_program_lacks(capsys):
    assert main(["compile", MLP, "--target", "llvm", "--explain", "--model", "nope"]) == 2
    assert capsys.readouterr().err.strip() == f"nnc: error: no model `nope` in {MLP} (models: mlp)"


# -- --cpu and NNC_LLVM_CPU ----------------------------------------------------------------------------------

def test_named_cpu_is_used_and_reported(capsys):
    out = _json(capsys, "stats", MLP, "--backend", "llvm", "--cpu", "x86-64", "--format", "json")
    assert out["models"]["mlp"]["llvm"]["cpu"] == "x86-64"
    assert main(["compile", MLP, "--target", "llvm", "--explain", "--cpu", "skylake-avx512"]) == 0
    assert "(cpu skylake-avx512)" in capsys.readouterr().out


def test_code_for_another_cpu_agrees_with_numpy(monkeypatch):
    x = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    want = nnc.load(MLP).model("mlp")(x=x)
    monkeypatch.setenv("NNC_LLVM_CPU", "x86-64")  # the baseline: runs on any x86-64 machine
    m = nnc.load(MLP).model("mlp", backend="llvm")
    assert m._exe.host.cpu == "x86-64" and m._exe.host.features == ""
    np.testing.assert_allclose(m(x=x), want, rtol=1e-4, atol=1e-6)


def test_unknown_cpu_is_one_clear_line(capsys):
    assert main(["stats", MLP, "--backend", "llvm", "--cpu", "skylake-avx51"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("nnc: error: LLVM knows no CPU 'skylake-avx51' for ")
    assert "did you mean skylake-avx512" in err
    assert main(["compile", MLP, "--target", "llvm", "--explain", "--cpu", "nope"]) == 2
    assert "LLVM knows no CPU 'nope'" in capsys.readouterr().err


def test_unknown_cpu_from_the_environment_is_refused(monkeypatch):
    monkeypatch.setenv("NNC_LLVM_CPU", "pentium9000")
    with pytest.raises(BackendUnavailable, match="LLVM knows no CPU 'pentium9000'"):
        nnc.load(MLP).model("mlp", backend="llvm")


def test_known_cpus_include_the_host():
    import llvmlite.binding as llvm
    from nnc.backends.llvm.target import known_cpus
    names = known_cpus()
    assert llvm.get_host_cpu_name() in names and "x86-64" in names and len(names) > 50
