"""How long `nnc lsp` takes from a change to published diagnostics, as an editor sees it.

Starts the server, opens a file, then sends full-text changes that alternate between a clean text and
one with a shape error, and times each `textDocument/didChange` to the `publishDiagnostics` of that
version (the server's 5 ms coalescing delay included). Files: a generated 200-line program and ResNet-50. The goals
(issue 12): 100 ms for the 200-line file, 300 ms for ResNet-50. "check" is the check alone, in process;
the rest is the coalescing delay, JSON-RPC and the client. Timings depend on the load: see `uptime`.
Run: python bench/lsp_latency.py [--edits 40]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from lsp_client import LspClient  # noqa: E402


def program_200_lines() -> str:
    """A realistic 200-line file: a residual block, consts, and ten small convolutional models."""
    lines = ["# generated for bench/lsp_latency.py", "const width = 32", "const classes = 10", "",
             "block residual(x, filters: int) {",
             "  y = x -> conv2d(filters, 3, padding=1) -> batchnorm -> relu",
             "  y = y -> conv2d(filters, 3, padding=1) -> batchnorm",
             "  return relu(y + x)", "}", ""]
    i = 0
    while len(lines) < 190:
        lines += [f"model net{i} {{",
                  "  input image: f32[N, 3, 32, 32]",
                  "  h = image -> conv2d(width, 3, padding=1) -> batchnorm -> relu",
                  "  h = residual(h, width)",
                  "  h = h -> maxpool(2)",
                  "  h = residual(h, width)",
                  "  h = h -> conv2d(64, 3, stride=2, padding=1) -> relu",
                  "  features = h -> global_avgpool -> flatten",
                  "  hidden = features -> dense(128) -> relu -> dropout(0.1)",
                  "  output logits = hidden -> dense(classes)",
                  "}", ""]
        i += 1
    lines += ["# end"] * (200 - len(lines))
    return "\n".join(lines[:200]) + "\n"


BREAKS = {"200-line": ("conv2d(64, 3, stride=2, padding=1)", "conv2d(64, 3, stride=3)"),
          "ResNet-50": ("f32[N, 3, 224, 224]", "f32[N, 3, 224]")}  # each is an error (a window, a rank)


def broken(name: str, text: str) -> str:
    """The same text with one shape error in it."""
    old, new = BREAKS[name]
    assert old in text, name
    return text.replace(old, new, 1)


def measure(name: str, text: str, edits: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        client = LspClient(cwd=tmp)
        try:
            client.initialize(Path(tmp))
            uri = (Path(tmp) / f"{name.lower()}.nn").as_uri()
            client.open(uri, text, version=1)
            client.diagnostics(uri, version=1, timeout=60)
            bad = broken(name, text)
            times = []
            for v in range(2, edits + 2):
                body = bad if v % 2 else text
                start = time.perf_counter()
                client.change(uri, body, version=v)
                diags = client.diagnostics(uri, version=v, timeout=60)
                times.append(time.perf_counter() - start)
                errors = [d for d in diags if d["severity"] == 1]
                if bool(errors) != (body is bad):
                    raise SystemExit(f"{name}: unexpected diagnostics for version {v}: {diags}")
            client.shutdown()
            return times
        finally:
            client.kill()


def check_alone(text: str, runs: int = 9) -> float:
    """The median time of the check itself, in this process (what the latency adds the protocol to)."""
    from nnc.lsp.analysis import analyze
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            start = time.perf_counter()
            analyze(Path(tmp) / "x.nn", text)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=40)
    args = parser.parse_args()
    resnet = (ROOT / "examples" / "resnet50.nn").read_text()
    cases = [("200-line", program_200_lines(), 0.100), ("ResNet-50", resnet, 0.300)]
    print(f"{'file':<12} {'lines':>5} {'edits':>5} {'check':>9} {'median':>9} {'p90':>9} {'max':>9} {'goal':>7}  ok")
    for name, text, goal in cases:
        times = sorted(measure(name, text, args.edits))
        p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
        ok = "yes" if p90 <= goal else "NO"
        print(f"{name:<12} {text.count(chr(10)):>5} {len(times):>5} {check_alone(text) * 1000:>7.1f}ms "
              f"{statistics.median(times) * 1000:>7.1f}ms "
              f"{p90 * 1000:>7.1f}ms {times[-1] * 1000:>7.1f}ms {goal * 1000:>5.0f}ms  {ok}")


if __name__ == "__main__":
    main()
