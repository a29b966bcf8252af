"""The shared conformance programs must all hold (skipped in a clone without ../shared)."""
import os
import subprocess
import sys

import pytest

from helpers import ROOT, SHARED

CHECK = SHARED / "conformance" / "check.py"


@pytest.mark.skipif(not CHECK.exists(), reason="no ../shared/conformance beside this checkout")
def test_conformance_suite_passes():
    env = dict(os.environ, NNC=f"{sys.executable} -m nnc")
    p = subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    last = p.stdout.strip().splitlines()[-1]
    assert p.returncode == 0 and last.endswith(" 0 failed"), p.stdout
