"""nnc.ops' registry imports an op's module when the op is first looked up (nnc/ops/__init__.py): exact
because every op lives in the module of its name, which this checks against a full discovery."""
from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import nnc.ops as ops
from nnc.ops.base import Op

ROOT = Path(__file__).resolve().parents[1]


def test_every_op_lives_in_the_module_of_its_name():
    for info in pkgutil.iter_modules(ops.__path__):
        if info.name in ops._HELPERS or info.name.startswith("_"):
            continue
        op = getattr(importlib.import_module(f"nnc.ops.{info.name}"), "OP", None)
        assert op is None or (isinstance(op, Op) and op.name == info.name), info.name


def test_lookups_import_one_module_and_enumeration_all(tmp_path):
    code = """
import sys
from nnc.ops import get, registry
assert get("conv2d").name == "conv2d" and get("no_such_op") is None and get("base") is None
loaded = sorted(m for m in sys.modules if m.startswith("nnc.ops.") and m.count(".") == 2)
print(len(loaded))
names = list(registry())
assert names == sorted(names) and "conv2d" in names and "relu" in names
print(len(names), len(registry()), "dense" in registry(), registry()["dense"].name)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.split("\n")[:2]
    assert int(first) < 12   # conv2d and the helpers it imports, not the 120 op modules
    n, n2, has_dense, dense = second.split()
    assert int(n) == int(n2) > 100 and has_dense == "True" and dense == "dense"


def test_the_registry_enumerates_like_a_full_discovery():
    found = {}
    for info in pkgutil.iter_modules(ops.__path__):
        if info.name in ops._HELPERS or info.name.startswith("_"):
            continue
        op = getattr(importlib.import_module(f"nnc.ops.{info.name}"), "OP", None)
        if isinstance(op, Op):
            found[op.name] = op
    assert list(ops.registry().items()) == sorted(found.items())
    assert ops.public_names() == [n for n, op in sorted(found.items()) if not op.internal]
