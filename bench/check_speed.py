"""How long `nnc check` takes as a whole process (the linter runs on every save).

Prints a table of wall times for each example, several runs each, and the
median. The goal: `nnc check examples/resnet50.nn` under 0.5 s on a 2-core
machine. Run: python bench/check_speed.py [--runs 7]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def time_check(path: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "nnc", "check", str(path)], capture_output=True)
        times.append(time.perf_counter() - start)
        if p.returncode != 0:
            raise SystemExit(f"nnc check {path} failed:\n{p.stdout.decode()}{p.stderr.decode()}")
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("files", nargs="*", type=Path)
    args = parser.parse_args()
    files = args.files or sorted((ROOT / "examples").glob("*.nn"))
    baseline = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"])
        baseline.append(time.perf_counter() - start)
    print(f"{'program':<28} {'median s':>9} {'min s':>7} {'max s':>7}")
    print(f"{'(python start-up alone)':<28} {statistics.median(baseline):>9.3f} {min(baseline):>7.3f} "
          f"{max(baseline):>7.3f}")
    for f in files:
        t = time_check(f, args.runs)
        print(f"{f.name:<28} {statistics.median(t):>9.3f} {min(t):>7.3f} {max(t):>7.3f}")


if __name__ == "__main__":
    main()
