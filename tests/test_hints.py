"""Diagnostics that point the right way: channels-last convolutions suggest the transpose, a keyword of
another meaning is never proposed, and a layer inside a model named as a `minimize` target says how to name it."""
from helpers import check, errors, model_src
from nnc.elaborate.hints import edit_distance


def only_error(src: str):
    [e] = errors(check(src))
    return e


def test_conv1d_on_channels_last_suggests_the_transpose():
    e = only_error(model_src("input x: f32[N, T, 4]", "x -> conv1d(8, 3)"))
    assert (e.code, e.span.line, e.span.column) == ("E0208", 3, 19)
    assert e.message == "conv1d needs a known size for the channel axis (axis 1, channels first), found T"
    assert e.hint == ("f32[N, T, 4] looks channels-last; conv1d takes [N, C, L]: "
                      "write `x -> transpose([0, 2, 1]) -> conv1d(...)`")


def test_conv2d_on_channels_last_suggests_the_transpose():
    e = only_error(model_src("input x: f32[N, H, W, 3]", "x -> conv2d(8, 3)"))
    assert e.code == "E0208" and "transpose([0, 3, 1, 2]) -> conv2d(...)" in e.hint


def test_the_hint_is_followed_and_checks():
    assert not errors(check(model_src("input x: f32[N, T, 4]", "x -> transpose([0, 2, 1]) -> conv1d(8, 3)")))


def test_an_unknown_channel_axis_that_is_not_channels_last_keeps_the_plain_hint():
    e = only_error(model_src("input x: f32[N, C, T]", "x -> conv1d(8, 3)"))
    assert e.code == "E0208" and e.hint == "declare that axis with a fixed size in the input's type"


def test_lstm_init_is_not_offered_initial():
    e = only_error(model_src("input x: f32[N, T, 4]", 'x -> lstm(8, init="zeros")'))
    assert (e.code, e.span.line, e.span.column, e.message) == ("E0103", 3, 27, "lstm has no argument `init`")
    assert "initial" not in e.hint
    assert e.hint.startswith("`init` is an argument of conv1d, conv2d, conv3d, conv_transpose2d and others, not of "
                             "lstm; usage: x -> lstm(")


def test_bidirectional_is_not_offered_initial():
    # a direct call takes it now (tests/test_bidirectional.py); a shared `layer` does not yet
    src = "model m {\n  input x: f32[N, T, 4]\n  layer g = gru(8, bidirectional=true)\n  output y = x -> g\n}\n"
    e = only_error(src)
    assert (e.code, e.span.line, e.span.column) == ("E0103", 3, 20)
    assert "initial" not in e.hint and e.hint.startswith("usage: x -> gru(")


def test_a_misspelt_keyword_still_gets_did_you_mean():
    e = only_error(model_src("input x: f32[N, 4]", 'x -> dense(8, inti="zeros")'))
    assert e.hint == "did you mean `init`?"
    e = only_error(model_src("input x: f32[N, 2, 8, 8]", "x -> conv2d(4, 3, paddng=1)"))
    assert e.hint == "did you mean `padding`?"


def test_edit_distance():
    assert [edit_distance(a, b) for a, b in [("init", "initial"), ("inti", "init"), ("", "ab"), ("ab", "ab")]] \
        == [3, 1, 2, 0]


TRAIN = """model enc {
  input x: f32[N, 4]
  layer proj = dense(8)
  h = x -> proj -> relu
  output y = h -> dense(2)
}
train t {
  input x: f32[N, 4]
  loss = mean(enc(x))
  minimize loss over TARGET with sgd(lr=0.1)
}
"""


def test_a_layer_of_a_model_as_minimize_target_says_how_to_name_it():
    e = only_error(TRAIN.replace("TARGET", "proj"))
    assert (e.code, e.span.line, e.span.column) == ("E0108", 10, 22)
    assert e.message == "`proj` is a layer inside model `enc`, not a name in this train block"
    assert [(lab.span.line, lab.span.column, lab.text) for lab in e.labels] == [(3, 9, "bound inside `enc`")]
    assert e.hint == ("`over enc` trains all of `enc`'s parameters; to train only `proj`, move it into a model of "
                      "its own that `enc` calls, and name that model here")


def test_a_value_of_a_model_as_minimize_target():
    e = only_error(TRAIN.replace("TARGET", "h"))
    assert e.code == "E0108" and e.message == "`h` is a value inside model `enc`, not a name in this train block"


def test_a_name_bound_nowhere_is_still_unbound():
    e = only_error(TRAIN.replace("TARGET", "nothing"))
    assert (e.code, e.message) == ("E0101", "unbound name `nothing`")
