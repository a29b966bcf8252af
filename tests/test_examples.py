"""The example programs check cleanly and match torchvision's parameter and MAC counts."""
import json

import pytest

from helpers import ROOT, check, errors
from nnc.cli import main
from nnc.stats import model_stats

EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))

# torchvision's parameter counts; MACs as ptflops/fvcore report them (conv and dense products only).
REFERENCE = {
    "alexnet": (61_100_840, 0.71e9),
    "vgg16": (138_357_544, 15.47e9),
    "resnet18": (11_689_512, 1.81e9),
    "resnet50": (25_557_032, 4.09e9),
}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_checks_without_diagnostics(path):
    result = check(path.read_text(), name=str(path))
    assert not result.diagnostics, [f"{d.span}: {d.message}" for d in result.diagnostics]
    assert result.models


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_image_models_match_torchvision(name):
    params, macs = REFERENCE[name]
    result = check((ROOT / "examples" / f"{name}.nn").read_text())
    stats = model_stats(result.models[name].graph)
    assert stats.params == params
    assert abs(stats.macs - macs) / macs < 0.01, stats.macs
    assert [str(d) for d in result.models[name].graph.output_type("logits").shape] == ["N", "1000"]


def test_stats_json_for_resnet50(capsys):
    assert main(["stats", str(ROOT / "examples" / "resnet50.nn"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)["models"]["resnet50"]
    assert data["params"] == 25_557_032
    assert data["state"] == 2 * sum(l["params"] // 2 for l in data["layers"] if l["op"] == "batchnorm")
    first = data["layers"][0]
    assert first == {"name": "x.conv2d", "op": "conv2d", "line": 24, "output_shape": ["N", 64, 112, 112],
                     "params": 9408, "macs": 118_013_952, "activation_bytes": 64 * 112 * 112 * 4}


def test_lstm_classifier_counts():
    result = check((ROOT / "examples" / "lstm_classifier.nn").read_text())
    stats = model_stats(result.models["reader"].graph)
    # LSTM: 4·(F·H + H·H + 2·H) with F = 8, H = 64, then dense 64 -> 10
    assert stats.params == 4 * (8 * 64 + 64 * 64 + 2 * 64) + 64 * 10 + 10
    assert stats.macs == 8 * 4 * 64 * (8 + 64) + 640


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_graphs_verify(path):
    from nnc.ir.verify import format_graph, verify
    result = check(path.read_text(), name=str(path))
    for info in list(result.models.values()) + list(result.trains.values()):
        verify(info.graph)
        listing = format_graph(info.graph)
        assert listing.count("\n") >= len(info.graph.nodes)
