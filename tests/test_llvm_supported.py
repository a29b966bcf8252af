"""supported.py names exactly the ops lower.py's table lowers, and a compile served from the lowering cache
does not import the lowerings (lower.py and the modules it calls): ~30 ms of a cached first call."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("llvmlite")

ROOT = Path(__file__).resolve().parents[1]


def test_the_op_names_are_the_tables_keys():
    from nnc.backends.llvm import BACKEND
    from nnc.backends.llvm.lower import LOWERINGS
    from nnc.backends.llvm.supported import OPS
    assert OPS == frozenset(LOWERINGS)
    assert BACKEND.primitives == OPS


def test_a_cached_compile_does_not_import_the_lowerings(tmp_path):
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import nnc
        program = nnc.load(sys.argv[1])
        model = program.model("mlp", backend="llvm")
        out = model(x=np.ones((3, 784), np.float32))
        assert out.shape == (3, 10) and np.isfinite(out).all()
        print("nnc.backends.llvm.lower" in sys.modules)
    """)
    env = dict(os.environ, NNC_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    seen = []
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", script, str(ROOT / "bench" / "models" / "mlp.nn")],
                             capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr
        seen.append(run.stdout.split()[-1])
    assert seen == ["True", "False"]   # lowered the first time; the second, from the cache, without lower.py

