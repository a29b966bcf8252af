"""Shared test helpers: check a program given as text, find diagnostics, read inferred shapes."""
from __future__ import annotations

from pathlib import Path

from nnc.compiler import CheckResult, check_file
from nnc.ir.types import shape_str

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def check(src: str, name: str = "t.nn") -> CheckResult:
    return check_file(Path(name), text=src)


def errors(result: CheckResult):
    return [d for d in result.diagnostics if d.is_error]


def warnings(result: CheckResult):
    return [d for d in result.diagnostics if not d.is_error]


def output_shape(result: CheckResult, model: str = "m", output: str = "y") -> str:
    return shape_str(result.models[model].graph.output_type(output).shape)


def model_src(inputs: str, expr: str) -> str:
    """A one-output model `m` with the given input lines and `output y = expr` on line 2 + len(inputs)."""
    lines = ["model m {"] + [f"  {l}" for l in inputs.split(";") if l.strip()] + [f"  output y = {expr}", "}"]
    return "\n".join(lines) + "\n"
