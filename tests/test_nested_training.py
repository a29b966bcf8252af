"""A model's trainable parameters include those of every model and `layer` it calls (as PyTorch's
module.parameters()): `minimize ... over outer` trains inner's parameters too."""
import numpy as np

from helpers import check, errors

NESTED = """
model inner {
  input x: f32[N, 4]
  layer shared = dense(8)
  output h = x -> shared -> tanh -> shared2(8)
}
block shared2(x, units: int) {
  return x -> dense(units) -> relu
}
model outer {
  input x: f32[N, 4]
  output y = inner(x) -> dense(3)
}
model wrap {
  input x: f32[N, 4]
  output y = inner(x)
}
model other {
  input x: f32[N, 4]
  output y = x -> dense(3)
}
train t {
  input x: f32[N, 4]
  input labels: i64[N]
  loss = cross_entropy(outer(x), labels) + mean(other(x))
  minimize loss over outer with sgd(lr=0.1)
}
train only_inner {
  input x: f32[N, 4]
  loss = mean(wrap(x) * wrap(x))
  minimize loss over wrap with sgd(lr=0.1)
  metric penalty = l2(wrap)
}
"""

FEEDS = {"x": np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32),
         "labels": np.array([0, 1, 2, 0, 1, 2])}


def step_changes(train: str) -> dict[str, bool]:
    trainer = _trainer(train)
    before = {k: v.copy() for k, v in trainer.params.items()}
    trainer.step(**{k: v for k, v in FEEDS.items() if k in trainer.inputs})
    return {k: bool(np.any(before[k] != trainer.params[k])) for k in before}


def _trainer(train: str):
    from nnc.api import Program
    result = check(NESTED)
    assert not errors(result), [d.message for d in errors(result)]
    return Program(result).train(train)


def test_minimize_over_outer_trains_every_parameter_of_the_models_it_calls():
    changed = step_changes("t")
    inner = [k for k in changed if k.startswith("inner/")]
    outer = [k for k in changed if k.startswith("outer/")]
    assert len(inner) == 4 and len(outer) == 2, sorted(changed)  # the shared layer, the block's dense, outer's dense
    assert all(changed[k] for k in inner + outer), changed
    assert not any(changed[k] for k in changed if k.startswith("other/")), changed  # not a target: frozen


def test_a_model_whose_only_layers_are_inside_another_model_is_a_valid_target():
    result = check(NESTED)
    assert not errors(result), [d.message for d in errors(result)]
    changed = step_changes("only_inner")
    assert changed and all(changed.values()), changed


def test_l2_of_a_model_counts_the_weights_of_the_models_it_calls():
    from nnc.interp import Context, run_graph
    from nnc.init import initialize
    graph = check(NESTED).trains["only_inner"].graph
    params = initialize(graph.params, 0)
    out = run_graph(graph, {"x": FEEDS["x"]}, params, Context())
    weights = [v for k, v in params.items() if k.endswith("weight")]
    assert len(weights) == 2
    np.testing.assert_allclose(out["penalty"], sum(float((w.astype(np.float64) ** 2).sum()) for w in weights),
                               rtol=1e-5)


def test_a_model_called_nowhere_is_still_e0108():
    src = NESTED.replace("minimize loss over outer", "minimize loss over outer, wrap")
    result = check(src)
    [e] = errors(result)
    assert e.code == "E0108" and "`wrap` is not used" in e.message
