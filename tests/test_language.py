"""Elaboration: blocks, layers, model calls, compile-time code, naming, warnings — as language.md specifies."""
from helpers import check, errors, output_shape, warnings
from nnc.ir.types import shape_str


def codes(result):
    return [(d.code, d.span.line, d.span.column) for d in result.diagnostics]


def test_block_with_defaults_keywords_and_compile_time_if():
    r = check("""
block unit(x, width: int, act: bool = true) {
  y = x -> dense(width)
  if act {
    y = y -> relu
  }
  return y
}
model m {
  input x: f32[N, 8]
  output y = x -> unit(16) -> unit(width=4, act=false)
}
""")
    assert not r.diagnostics
    assert output_shape(r) == "[N, 4]"
    nodes = [(n.path, n.op) for n in r.models["m"].graph.nodes]
    assert nodes == [("y.unit/y.dense", "dense"), ("y.unit/y.relu", "relu"), ("y.unit_1/y.dense", "dense")]
    names = [p.name for p in r.models["m"].graph.params]
    assert names == ["m/y.unit/y.dense/weight", "m/y.unit/y.dense/bias", "m/y.unit_1/y.dense/weight",
                     "m/y.unit_1/y.dense/bias"]


def test_for_loop_shadowing_and_bindings_visible_after_bodies():
    r = check("""
const WIDTHS = [32, 16, 8]
model m {
  input x: f32[N, 4]
  for i in 0..len(WIDTHS) {
    x = x -> dense(WIDTHS[i]) -> relu
    last_width = WIDTHS[i]
  }
  assert last_width == 8, "the loop ran"
  output y = x
}
""")
    assert not errors(r)
    assert output_shape(r) == "[N, 8]"
    assert [p.name for p in r.models["m"].graph.params][::2] == ["m/x.dense/weight", "m/x.dense_1/weight",
                                                                 "m/x.dense_2/weight"]


def test_failed_assert_is_reported_at_the_keyword():
    r = check('model m {\n  input x: f32[N, 3]\n  assert channels(x) == 4, "expects 4 channels"\n  output y = x\n}\n')
    (d,) = errors(r)
    assert (d.code, d.span.line, d.span.column) == ("E0115", 3, 3)
    assert "expects 4 channels" in d.message


def test_named_layer_shares_parameters_and_checks_every_call():
    r = check("""
model m {
  input a: f32[N, 8]
  input b: f32[N, 9]
  layer enc = dense(4)
  ea = a -> enc
  eb = b -> enc
  output y = ea
}
""")
    (d,) = errors(r)
    assert (d.code, d.span.line, d.span.column) == ("E0203", 7, 8)
    assert "shared parameter" in d.message


def test_model_call_binds_symbols_and_shares_parameters_between_calls():
    r = check("""
model enc {
  input x: f32[N, 8]
  output e = x -> dense(4)
}
model pair {
  input a: f32[B, 8]
  input b: f32[B, 8]
  output y = enc(a) + enc(b)
}
""")
    assert not r.diagnostics
    assert output_shape(r, "pair", "y") == "[B, 4]"
    assert [p.name for p in r.models["pair"].graph.params] == ["enc/e.dense/weight", "enc/e.dense/bias"]


def test_model_called_with_the_wrong_input_shape_blames_the_argument():
    r = check("""
model enc {
  input x: f32[N, 8]
  output e = x -> dense(4)
}
model outer {
  input z: f32[N, 6]
  output y = enc(z)
}
""")
    (d,) = errors(r)
    assert (d.code, d.span.line, d.span.column) == ("E0202", 8, 18)
    assert "expects x: f32[N, 8], found f32[N, 6]" in d.message
    assert d.labels and d.labels[0].span.line == 3


def test_tuples_from_recurrent_layers_and_blocks():
    r = check("""
block two(x) {
  return x -> relu, x -> tanh
}
model m {
  input x: f32[N, T, 8]
  _y, h, c = x -> lstm(16, return_state=true)
  a, b = two(h)
  output out = a + b + c
}
""")
    assert not r.diagnostics, [d.message for d in r.diagnostics]
    assert output_shape(r, "m", "out") == "[N, 16]"


def test_unpacking_the_wrong_count_is_an_error():
    r = check("model m {\n  input x: f32[N, T, 8]\n  y, h = x -> lstm(16)\n  output o = y\n}\n")
    (d,) = errors(r)
    assert d.code == "E0118" and "return_state" in d.hint


def test_initial_state_for_recurrent_layers():
    r = check("""
model m {
  input x: f32[N, T, 8]
  input h0: f32[N, 16]
  input c0: f32[N, 16]
  output y = x -> lstm(16, initial=[h0, c0])
}
""")
    assert not r.diagnostics
    assert output_shape(r) == "[N, T, 16]"


def test_shape_and_channels_are_compile_time():
    r = check("""
model m {
  input x: f32[N, 3, 8, 8]
  c = channels(x)
  w = shape(x)[3]
  output y = x -> conv2d(c * 2, w // 4)
}
""")
    assert not r.diagnostics
    assert output_shape(r) == "[N, 6, 7, 7]"


def test_compile_time_arithmetic_errors():
    r = check("const A = 7 / 2\nconst B = 1 // 0\nmodel m {\n  input x: f32[N, 4]\n  output y = x\n}\n")
    assert [(d.code, d.span.line, d.span.column) for d in errors(r)] == [("E0113", 1, 13), ("E0113", 2, 13)]
    assert "//" in errors(r)[0].hint


def test_constants_as_dimensions_and_symbols():
    r = check("const F = 12\nmodel m {\n  input x: f32[N, F]\n  output y = x -> dense(F // 2)\n}\n")
    assert not r.diagnostics
    assert output_shape(r) == "[N, 6]"
    assert shape_str(r.models["m"].graph.input_type("x").shape) == "[N, 12]"


def test_train_block_structure():
    r = check("""
model mlp {
  input x: f32[N, 4]
  output logits = x -> dense(3)
}
train t {
  input x: f32[N, 4]
  input y: i32[N]
  logits = mlp(x)
  loss = cross_entropy(logits, y) + 1e-4 * l2(mlp)
  metric acc = accuracy(logits, y)
  minimize loss over mlp with sgd(lr=cosine(0.1, 1000), momentum=0.9)
  batch 32
  epochs 3
  data "digits"
}
""")
    assert not r.diagnostics, [d.message for d in r.diagnostics]
    t = r.trains["t"]
    (step,) = t.steps
    assert step.loss == "loss" and step.params == ("mlp/logits.dense/weight", "mlp/logits.dense/bias")
    assert step.optimizer.name == "sgd"
    lr = dict(step.optimizer.args)["lr"]
    assert lr.name == "cosine" and dict(lr.args) == {"lr": 0.1, "steps": 1000, "min_lr": 0.0, "per": "step"}
    assert t.settings == {"batch": 32, "epochs": 3, "data": "digits"}
    assert [n for n, _ in t.graph.outputs] == ["loss", "acc"]


def test_minimize_over_a_tensor_or_unused_model_is_an_error():
    r = check("""
model a {
  input x: f32[N, 4]
  output y = x -> dense(1)
}
model b {
  input x: f32[N, 4]
  output y = x -> dense(1)
}
train t {
  input x: f32[N, 4]
  loss = mse(a(x), 0.0)
  minimize loss over x with adam()
  minimize loss over b with adam()
}
""")
    assert [(d.code, d.span.line, d.span.column) for d in errors(r)] == [("E0108", 13, 22), ("E0108", 14, 22)]


def test_optimizer_keyword_typo_gets_a_suggestion():
    r = check("""
model a {
  input x: f32[N, 4]
  output y = x -> dense(1)
}
train t {
  input x: f32[N, 4]
  loss = mse(a(x), 0.0)
  minimize loss over a with adam(lr=1e-3, beta_1=0.5)
}
""")
    (d,) = errors(r)
    assert (d.code, d.span.line, d.span.column) == ("E0103", 9, 43)
    assert d.hint == "did you mean `beta1`?"


def test_statements_in_the_wrong_place():
    r = check("block b(x) {\n  output y = x\n  return x\n}\nmodel m {\n  input x: f32[N, 4]\n  batch 3\n"
              "  output y = b(x)\n}\n")
    assert [(d.code, d.span.line) for d in errors(r)] == [("E0116", 2), ("E0116", 7)]


def test_unused_values_warn_but_conditional_rebinding_does_not():
    r = check("""
block pick(x, deep: bool) {
  skip = x
  if deep {
    skip = x -> relu
  }
  return skip
}
model m {
  input x: f32[N, 4]
  unused = x -> tanh
  _kept = x -> sigmoid
  layer never = dense(3)
  output y = pick(x, true)
}
""")
    assert [(d.code, d.span.line, d.span.column) for d in warnings(r)] == [("W0001", 11, 3), ("W0003", 13, 9)]


def test_dropout_at_the_output_warns():
    r = check("model m {\n  input x: f32[N, 4]\n  output y = x -> dense(2) -> dropout(0.5)\n}\n")
    (d,) = warnings(r)
    assert (d.code, d.span.line, d.span.column) == ("W0004", 3, 31)


def test_sigmoid_into_bce_warns_at_the_argument():
    r = check("""
model d {
  input x: f32[N, 4]
  output p = x -> dense(1) -> sigmoid
}
train t {
  input x: f32[N, 4]
  loss = bce(d(x), 1.0)
  minimize loss over d with adam()
}
""")
    (d,) = warnings(r)
    assert (d.code, d.span.line, d.span.column) == ("W0002", 8, 14)


def test_one_mistake_is_reported_once():
    r = check("""
model m {
  input x: f32[N, 4]
  a = (x -> dense(2)) + x
  b = a -> relu
  c = b * 2
  output y = c + a
}
""")
    assert [d.code for d in errors(r)] == ["E0204"]


def test_independent_errors_are_all_reported():
    r = check("""
model m {
  input x: f32[N, 4]
  a = x -> dense(0)
  b = x -> conv2d(3, 3)
  output y = relu(nothing)
}
""")
    assert [d.code for d in errors(r)] == ["E0207", "E0203", "E0101"]


def test_import_makes_blocks_models_and_consts_visible(tmp_path):
    (tmp_path / "lib.nn").write_text("const H = 5\nblock act(x) {\n  return x -> relu\n}\n")
    main = tmp_path / "main.nn"
    main.write_text('import "lib.nn"\nmodel m {\n  input x: f32[N, 3]\n  output y = x -> dense(H) -> act\n}\n')
    from nnc.compiler import check_file
    r = check_file(main)
    assert not r.diagnostics
    assert output_shape(r) == "[N, 5]"


def test_keywords_that_are_also_names():
    r = check("model metric {\n  input data: f32[N, 2]\n  output = data -> relu\n  output output\n}\n")
    assert not r.diagnostics
    assert output_shape(r, "metric", "output") == "[N, 2]"


def test_multiline_chains_continue_after_arrows_and_brackets():
    r = check("""
model m {
  input x: f32[N, 1, 8, 8]
  y = x
    -> conv2d(4, 3,
              padding=1)   # a comment inside
    # a comment line between
    -> flatten
  output z = y ->
    dense(2)
}
""")
    assert not r.diagnostics
    assert output_shape(r, "m", "z") == "[N, 2]"


def test_arithmetic_after_a_chain_explains_precedence():
    r = check("model m {\n  input x: f32[N, 4]\n  output y = x -> dense(4) + x\n}\n")
    (d,) = errors(r)
    assert (d.code, d.span.line, d.span.column) == ("E0001", 3, 28)
    assert "parentheses" in d.hint


def test_adam_beta_of_one_is_rejected_at_its_argument():
    r = check("""
model a {
  input x: f32[N, 4]
  output y = x -> dense(1)
}
train t {
  input x: f32[N, 4]
  loss = mse(a(x), 0.0)
  minimize loss over a with adam(beta1=1.0)
}
""")
    (d,) = errors(r)
    assert (d.code, d.span.line, d.span.column) == ("E0207", 9, 34)
    assert "[0, 1)" in d.message
