"""Every built-in's shape rule, on valid programs and on the errors it must report.

Each case is a one-output model; errors are asserted by code, line, column
(located at the substring `at` of the expression) and words of the message.
A last test makes sure every public op of the registry has cases here.
"""
import pytest

from helpers import check, errors, model_src, output_shape
from nnc.ops import registry

X2 = "input x: f32[N, 16]"
IMG = "input x: f32[N, 3, 32, 32]"
SEQ = "input x: f32[N, T, 8]"

OK = [
    ("relu", X2, "x -> relu", "[N, 16]"),
    ("leaky_relu", X2, "x -> leaky_relu(0.2)", "[N, 16]"),
    ("elu", X2, "x -> elu(alpha=0.5)", "[N, 16]"),
    ("sigmoid", X2, "x -> sigmoid", "[N, 16]"),
    ("tanh", X2, "x -> tanh", "[N, 16]"),
    ("exp", X2, "exp(x)", "[N, 16]"),
    ("log", X2, "log(x)", "[N, 16]"),
    ("sqrt", X2, "sqrt(x)", "[N, 16]"),
    ("abs", X2, "abs(x)", "[N, 16]"),
    ("sign", X2, "sign(x)", "[N, 16]"),
    ("stop_gradient", X2, "stop_gradient(x)", "[N, 16]"),
    ("softmax", X2, "x -> softmax(axis=1)", "[N, 16]"),
    ("log_softmax", X2, "x -> log_softmax", "[N, 16]"),
    ("maxout", X2, "x -> maxout(4)", "[N, 4]"),
    ("maxout", IMG, "x -> conv2d(6, 1) -> maxout(3)", "[N, 2, 32, 32]"),
    ("dropout", X2, "x -> dropout(0.3)", "[N, 16]"),
    ("dense", X2, "x -> dense(8)", "[N, 8]"),
    ("dense", "input x: f32[N, T, 16]", "x -> dense(8, bias=false)", "[N, T, 8]"),
    ("conv2d", IMG, "x -> conv2d(16, 3, padding=1)", "[N, 16, 32, 32]"),
    ("conv2d", IMG, "x -> conv2d(16, 3, stride=2, padding=1)", "[N, 16, 16, 16]"),
    ("conv2d", IMG, "x -> conv2d(16, 3, dilation=2)", "[N, 16, 28, 28]"),
    ("conv2d", IMG, "x -> conv2d(6, 3, groups=3)", "[N, 6, 30, 30]"),
    ("conv2d", IMG, "x -> conv2d(16, [3, 5])", "[N, 16, 30, 28]"),
    ("conv2d", IMG, 'x -> conv2d(16, 3, stride=2, padding="same")', "[N, 16, 16, 16]"),
    ("conv2d", IMG, 'x -> conv2d(16, 5, padding="valid")', "[N, 16, 28, 28]"),
    ("conv2d", IMG, "x -> conv2d(16, 7, stride=2, padding=[3, 1])", "[N, 16, 16, 14]"),
    ("conv2d", "input x: f32[N, 3, 224, 224]", "x -> conv2d(64, 7, stride=2, padding=3)", "[N, 64, 112, 112]"),
    ("conv2d", "input x: f32[N, 64, 56, 56]", "x -> conv2d(128, 1, stride=2)", "[N, 128, 28, 28]"),
    ("conv2d", "input x: f32[N, 3, H, W]", "x -> conv2d(8, 3)", "[N, 8, H - 2, W - 2]"),
    ("conv1d", "input x: f32[N, 4, 100]", "x -> conv1d(8, 5)", "[N, 8, 96]"),
    ("conv1d", "input x: f32[N, 4, T]", 'x -> conv1d(8, 3, padding="same")', "[N, 8, T]"),
    ("conv_transpose2d", "input x: f32[N, 16, 8, 8]", "x -> conv_transpose2d(8, 4, stride=2, padding=1)",
     "[N, 8, 16, 16]"),
    ("conv_transpose2d", "input x: f32[N, 16, 7, 7]", "x -> conv_transpose2d(8, 3, stride=2, padding=1, output_padding=1)",
     "[N, 8, 14, 14]"),
    ("maxpool", IMG, "x -> maxpool(2)", "[N, 3, 16, 16]"),
    ("maxpool", IMG, "x -> maxpool(3, stride=2, padding=1)", "[N, 3, 16, 16]"),
    ("maxpool", "input x: f32[N, 4, 20]", "x -> maxpool(2)", "[N, 4, 10]"),
    ("avgpool", IMG, "x -> avgpool(4)", "[N, 3, 8, 8]"),
    ("maxpool", "input x: f32[N, 3, 7, 7]", "x -> maxpool(2, ceil_mode=true)", "[N, 3, 4, 4]"),
    ("maxpool", "input x: f32[N, 3, 7, 7]", 'x -> maxpool(2, remainder="drop")', "[N, 3, 3, 3]"),
    ("maxpool", "input x: f32[N, 3, 7, 7]", "x -> maxpool(3, stride=1, padding=2)", "[N, 3, 9, 9]"),
    ("maxpool", "input x: f32[N, 3, 9, 9]", "x -> maxpool(3, stride=1, dilation=2)", "[N, 3, 5, 5]"),
    ("avgpool", "input x: f32[N, 3, 7, 7]", "x -> avgpool(3, stride=2, padding=[[1, 1], [0, 2]])", "[N, 3, 4, 4]"),
    ("avgpool", "input x: f32[N, 3, 6]", "x -> avgpool(3, stride=2, padding=1, ceil_mode=true, count_include_pad=false)",
     "[N, 3, 4]"),
    ("conv2d", "input x: f32[N, 3, 7, 7]", 'x -> conv2d(4, 3, stride=3, remainder="drop")', "[N, 4, 2, 2]"),
    ("conv2d", "input x: f32[N, 3, 8, 8]", 'x -> conv2d(4, 4, padding="same_lower")', "[N, 4, 8, 8]"),
    ("conv1d", "input x: f32[N, 4, 10]", 'x -> conv1d(8, 2, stride=3, remainder="drop")', "[N, 8, 3]"),
    ("global_avgpool", IMG, "x -> global_avgpool", "[N, 3, 1, 1]"),
    ("batchnorm", IMG, "x -> batchnorm", "[N, 3, 32, 32]"),
    ("batchnorm", X2, "x -> batchnorm(momentum=0.01)", "[N, 16]"),
    ("layernorm", SEQ, "x -> layernorm", "[N, T, 8]"),
    ("embedding", "input x: i32[N, T]", "x -> embedding(100, 16)", "[N, T, 16]"),
    ("rnn", SEQ, "x -> rnn(16)", "[N, T, 16]"),
    ("lstm", SEQ, "x -> lstm(16)", "[N, T, 16]"),
    ("gru", SEQ, "x -> gru(16)", "[N, T, 16]"),
    ("attention", "input q: f32[N, 5, 16]; input k: f32[N, 7, 12]", "q -> attention(k, k, heads=4)", "[N, 5, 16]"),
    ("flatten", "input x: f32[N, 16, 5, 5]", "x -> flatten", "[N, 400]"),
    ("flatten", "input x: f32[N, T, 4]", "x -> flatten", "[N, 4*T]"),
    ("reshape", X2, "x -> reshape([-1, 4, 4])", "[N, 4, 4]"),
    ("transpose", SEQ, "x -> transpose([0, 2, 1])", "[N, 8, T]"),
    ("concat", "input a: f32[N, 4]; input b: f32[N, 6]", "concat(a, b)", "[N, 10]"),
    ("concat", "input a: f32[N, T, 4]; input b: f32[N, S, 4]", "concat(a, b, axis=1)", "[N, S + T, 4]"),
    ("slice", "input x: f32[N, 10]", "x -> slice(2, 5)", "[N, 3]"),
    ("slice", "input x: f32[N, 10]", "x -> slice(-4, axis=1)", "[N, 4]"),
    ("last", SEQ, "x -> last", "[N, 8]"),
    ("mean", "input x: f32[N, 8, 4]", "x -> mean(axis=1)", "[N, 4]"),
    ("sum", "input x: f32[N, 8, 4]", "sum(x)", "[]"),
    ("max", "input x: f32[N, 8, 4]", "x -> max(axis=[1, 2], keepdims=true)", "[N, 1, 1]"),
    ("cross_entropy", "input x: f32[N, 10]; input t: i32[N]", "cross_entropy(x, t)", "[]"),
    ("cross_entropy", "input x: f32[N, T, 10]; input t: i64[N, T]", "cross_entropy(x, t, reduction=\"sum\")", "[]"),
    ("nll", "input x: f32[N, 10]; input t: i32[N]", "nll(x -> log_softmax, t)", "[]"),
    ("hinge", "input x: f32[N, 10]; input t: i32[N]", "hinge(x, t, margin=2)", "[]"),
    ("accuracy", "input x: f32[N, 10]; input t: i32[N]", "accuracy(x, t)", "[]"),
    ("contrastive", "input a: f32[N, 8]; input b: f32[N, 8]; input s: f32[N]", "contrastive(a, b, s)", "[]"),
    ("triplet", "input a: f32[N, 8]; input p: f32[N, 8]; input q: f32[N, 8]", "triplet(a, p, q, margin=0.5)", "[]"),
    ("bce", "input s: f32[N, 1]", "bce(s, 1.0)", "[]"),
    ("bce", "input s: f32[N, 1]; input t: f32[N, 1]", "bce(s, t)", "[]"),
    ("mse", "input a: f32[N, 4]; input b: f32[N, 4]", "mse(a, b)", "[]"),
    ("l1_loss", "input a: f32[N, 4]", "l1_loss(a, 0.0)", "[]"),
    ("huber", "input a: f32[N, 4]; input b: f32[N, 4]", 'huber(a, b, delta=0.5, reduction="none")', "[N, 4]"),
    ("smooth_l1", "input a: f32[N, 4]; input b: f32[N, 4]", "smooth_l1(a, b)", "[]"),
    ("kl_div", "input a: f32[N, 4]; input b: f32[N, 4]", 'kl_div(a -> log_softmax, b, reduction="batchmean")', "[]"),
    ("cross_entropy", "input x: f32[N, 10, T]; input t: i64[N, T]", 'cross_entropy(x, t, axis=1, reduction="none")',
     "[N, T]"),
    ("nll", "input x: f32[N, 3]; input t: i32[N]", "nll(x, t, weight=[1, 2, 0.5], ignore_index=-100)", "[]"),
    ("grad", "input x: f32[N, 4]", "grad(sum(x * x), x)", "[N, 4]"),
    ("matmul", "input a: f32[N, 4]; input b: f32[4, 3]", "a @ b", "[N, 3]"),
    ("matmul", "input a: f32[B, N, 4]; input b: f32[B, 4, M]", "a @ b", "[B, N, M]"),
    ("add", "input a: f32[N, 4]; input b: f32[4]", "a + b", "[N, 4]"),
    ("sub", "input a: f32[N, 1]; input b: f32[1, 4]", "a - b", "[N, 4]"),
    ("mul", X2, "0.5 * x", "[N, 16]"),
    ("div", X2, "x / 2", "[N, 16]"),
    ("neg", X2, "-x", "[N, 16]"),
    ("maximum", X2, "maximum(x, 0)", "[N, 16]"),
    ("minimum", "input a: f32[N, 1]; input b: f32[1, 4]", "minimum(a, b)", "[N, 4]"),
    ("clip", X2, "x -> clip(-1, 1)", "[N, 16]"),
    ("where", X2, "where(x > 0, x, 0)", "[N, 16]"),
    ("compare", X2, "x >= 0.5", "[N, 16]"),
    ("pow", X2, "x ** 2", "[N, 16]"),
    ("pow", X2, "pow(x, x)", "[N, 16]"),
    ("argmax", X2, "argmax(x)", "[N]"),
    ("argmax", SEQ, "x -> argmax(axis=1, keepdims=true)", "[N, 1, 8]"),
    ("one_hot", "input t: i32[N, T]", "one_hot(t, 7)", "[N, T, 7]"),
    ("pick", "input x: f32[N, 10]; input t: i32[N]", "pick(x, t)", "[N]"),
    ("pick", "input x: f32[N, 10, 4]; input t: i64[N, 4]", "pick(x, t, axis=1)", "[N, 4]"),
    ("gather", "input x: f32[100, 16]; input t: i32[N, T]", "gather(x, t)", "[N, T, 16]"),
    ("rand", X2, "rand([N, 3], -1.0, 1.0)", "[N, 3]"),
    ("randn", SEQ, "randn(x, std=0.1)", "[N, T, 8]"),
    ("randn", SEQ, "randn([2, T])", "[2, T]"),
]

ERR = [
    ("relu", "input x: i32[N]", "x -> relu", "x", "E0202", "float"),
    ("leaky_relu", X2, "x -> leaky_relu(alpha=-1)", "alpha", "E0207", "negative"),
    ("softmax", X2, "x -> softmax(axis=2)", "axis=2", "E0206", "out of range"),
    ("maxout", X2, "x -> maxout(5)", "maxout", "E0203", "divisible"),
    ("dropout", X2, "x -> dropout(1.5)", "1.5", "E0207", "[0, 1)"),
    ("dense", "input x: f32[N, F]", "x -> dense(8)", "dense", "E0208", "known size"),
    ("dense", X2, "x -> dense(12.5)", "12.5", "E0105", "must be an int"),
    ("dense", X2, "x -> dense(0)", "0", "E0207", "positive"),
    ("dense", X2, "dense(8)", "8", "E0105", "needs a tensor"),
    ("dense", X2, "x -> dense(8, 1, 2, 3)", "3", "E0104", "takes 3 arguments"),
    ("dense", X2, "x -> dense()", "dense", "E0104", "missing"),
    ("conv2d", IMG, "x -> conv2d(16, 3, strides=2)", "strides", "E0103", "no argument"),
    ("conv2d", IMG, "x -> conv2d(4, 3, groups=2)", "groups", "E0303", "divisible"),
    ("conv2d", IMG, "x -> conv2d(4, 40)", "conv2d", "E0302", "larger than its input"),
    ("conv2d", "input x: f32[N, 3, 32]", "x -> conv2d(4, 3)", "x", "E0203", "[N, C, H, W]"),
    ("conv2d", IMG, "x -> conv2d(4, 3, stride=3)", "conv2d", "E0301", "does not fit"),
    ("conv2d", IMG, "x -> conv2d(4, 3, stride=0)", "stride", "E0207", "positive"),
    ("conv2d", IMG, "x -> conv2d(4, [3, 3, 3])", "[3, 3, 3]", "E0203", "2 spatial axes"),
    ("conv2d", IMG, 'x -> conv2d(4, 3, padding="full")', 'padding', "E0105", '"same"'),
    ("conv1d", "input x: f32[N, 4, T]", 'x -> conv1d(8, 3, stride=2, padding="same")', "padding", "E0208",
     "known size"),
    ("conv_transpose2d", "input x: f32[N, 16, 8, 8]", "x -> conv_transpose2d(8, 3, stride=2, output_padding=2)",
     "output_padding", "E0207", "smaller than the stride"),
    ("maxpool", "input x: f32[N, 3, 7, 7]", "x -> maxpool(2)", "maxpool", "E0301", "does not fit"),
    ("maxpool", IMG, "x -> maxpool(2, padding=2)", "padding", "E0207", "reads only padding"),
    ("maxpool", "input x: f32[N, 3, H, W]", "x -> maxpool(2, ceil_mode=true)", "ceil_mode", "E0208", "known size"),
    ("maxpool", "input x: f32[N, 3, 7, 7]", 'x -> maxpool(2, remainder="keep")', "remainder", "E0105", '"drop"'),
    ("avgpool", IMG, "x -> avgpool(3, padding=[[1, 1, 1], [1, 1]])", "padding", "E0203", "[before, after]"),
    ("conv2d", "input x: f32[N, 3, 7, 7]", "x -> conv2d(4, 3, stride=3)", "conv2d", "E0301", 'remainder="drop"'),
    ("avgpool", X2, "x -> avgpool(2)", "x", "E0203", "[N, C, H, W]"),
    ("global_avgpool", X2, "x -> global_avgpool", "x", "E0203", "spatial"),
    ("batchnorm", "input x: f32[N]", "x -> batchnorm", "x", "E0206", "axis 1"),
    ("batchnorm", "input x: f32[N, C]", "x -> batchnorm", "batchnorm", "E0208", "known size"),
    ("layernorm", "input x: f32[N, F]", "x -> layernorm", "layernorm", "E0208", "known size"),
    ("embedding", "input x: f32[N, T]", "x -> embedding(100, 16)", "x", "E0202", "integer ids"),
    ("lstm", X2, "x -> lstm(16)", "x", "E0203", "[N, T, F]"),
    ("gru", "input x: f32[N, T, F]", "x -> gru(16)", "gru", "E0208", "known size"),
    ("rnn", SEQ, "x -> rnn(16, units=3)", "units", "E0104", "twice"),
    ("attention", "input q: f32[N, 5, 16]", "q -> attention(q, q, heads=3)", "heads", "E0303", "divisible"),
    ("attention", "input q: f32[N, 5, 16]; input k: f32[N, 7, 16]; input v: f32[N, 6, 16]",
     "q -> attention(k, v)", "v", "E0203", "same length"),
    ("flatten", "input x: f32[]", "x -> flatten", "x", "E0206", "batch axis"),
    ("reshape", X2, "x -> reshape([-1, 5])", "reshape", "E0210", "cannot reshape"),
    ("reshape", X2, "x -> reshape([-1, -1])", "[-1, -1]", "E0210", "only one"),
    ("transpose", SEQ, "x -> transpose([0, 0, 1])", "[0, 0, 1]", "E0206", "permutation"),
    ("concat", "input a: f32[N, 4, 2]; input b: f32[N, 5, 3]", "concat(a, b)", "concat", "E0209", "axis 2"),
    ("slice", "input x: f32[N, 10]", "x -> slice(5, 2)", "slice", "E0207", "empty"),
    ("last", "input x: f32[N]", "x -> last", "x", "E0206", "axis 1"),
    ("mean", "input x: f32[N, 8]", "x -> mean(axis=5)", "axis=5", "E0206", "out of range"),
    ("sum", X2, "x -> sum(axis=1.5)", "axis", "E0105", "int"),
    ("max", X2, "x -> max(keepdims=1)", "keepdims", "E0105", "true"),
    ("cross_entropy", "input x: f32[N, 10]; input t: f32[N]", "cross_entropy(x, t)", "t)", "E0202", "integer"),
    ("cross_entropy", "input x: f32[N, 10]; input t: i32[N, 2]", "cross_entropy(x, t)", "t)", "E0203", "labels"),
    ("nll", "input x: f32[N, 10]; input t: f32[N]", "nll(x, t)", "t", "E0202", "integer"),
    ("hinge", "input x: i32[N, 10]; input t: i32[N]", "hinge(x, t)", "x", "E0202", "float"),
    ("accuracy", "input x: f32[N, 10]; input t: i32[M]", "accuracy(x, t)", "t", "E0203", "labels"),
    ("contrastive", "input a: f32[N, 8]; input b: f32[N, 8]; input s: i32[N]", "contrastive(a, b, s)", "s)",
     "E0203", "same"),
    ("triplet", "input a: f32[N, 8]; input p: f32[N, 8]; input q: f32[N, 9]", "triplet(a, p, q)", "q", "E0203",
     "negative"),
    ("bce", "input s: f32[N, 1]; input t: i32[N, 1]", "bce(s, t)", "t", "E0202", "float targets"),
    ("mse", "input a: f32[N, 4]; input b: f32[N, 5]", "mse(a, b)", "b", "E0203", "shape"),
    ("l1_loss", "input a: f32[N, 4]; input b: f32[4, 4]", "l1_loss(a, b)", "b", "E0203", "shape"),
    ("huber", "input a: f32[N, 4]", "huber(a, a, delta=0)", "delta", "E0207", "positive"),
    ("smooth_l1", "input a: f32[N, 4]; input b: i32[N, 4]", "smooth_l1(a, b)", "b)", "E0202", "float targets"),
    ("kl_div", "input a: f32[N, 4]; input b: f32[N, 3]", "kl_div(a, b)", "b)", "E0203", "shape"),
    ("cross_entropy", "input x: f32[N, 10, T]; input t: i64[N, T]", "cross_entropy(x, t)", "t)", "E0203", "axis=1"),
    ("grad", "input x: f32[N, 4]", "grad(x, x)", "x", "E0203", "scalar"),
    ("matmul", "input a: f32[N, 4]; input b: f32[5, 3]", "a @ b", "@", "E0205", "cannot multiply"),
    ("add", "input a: f32[N, 4]; input b: f32[M, 4]", "a + b", "+", "E0204", "broadcast"),
    ("sub", "input a: f32[N, 4]; input b: f32[N, 3]", "a - b", "-", "E0204", "broadcast"),
    ("mul", "input a: f32[N, 4]; input b: f32[N, 3]", "a * b", "*", "E0204", "broadcast"),
    ("div", "input a: f32[N, 4]", "a // 2", "//", "E0202", "compile-time ints"),
    ("stop_gradient", X2, "stop_gradient(x, 3)", "3", "E0104", "takes 0 arguments"),
    ("abs", X2, "abs(x, x)", "x)", "E0104", "takes 0 arguments"),
    ("sign", X2, "sign()", "sign", "E0104", "missing"),
    ("elu", "input x: i32[N]", "x -> elu", "x", "E0202", "float"),
    ("sigmoid", "input x: i64[N]", "x -> sigmoid", "x", "E0202", "float"),
    ("tanh", "input x: i32[N]", "tanh(x)", "x)", "E0202", "float"),
    ("exp", "input x: i32[N]", "exp(x)", "x)", "E0202", "float"),
    ("log", X2, "log(x, base=2)", "base", "E0103", "no argument"),
    ("sqrt", X2, "sqrt(3)", "3", "E0105", "needs a tensor"),
    ("log_softmax", X2, "x -> log_softmax(axis=-3)", "axis", "E0206", "out of range"),
    ("maximum", "input a: f32[N, 3]; input b: f32[N, 4]", "maximum(a, b)", "maximum", "E0204", "broadcast"),
    ("minimum", X2, 'minimum(x, "a")', '"a"', "E0105", "needs a tensor"),
    ("clip", X2, "clip(x, 2, 1)", "2", "E0207", "lo <= hi"),
    ("where", X2, "where(x, x, 0)", "x, x", "E0202", "bool condition"),
    ("compare", "input a: f32[N, 3]; input b: f32[N, 4]", "a < b", "<", "E0204", "broadcast"),
    ("pow", "input a: f32[N, 3]; input b: f32[N, 4]", "a ** b", "**", "E0204", "broadcast"),
    ("argmax", X2, "argmax(x, axis=2)", "axis=2", "E0206", "out of range"),
    ("one_hot", X2, "one_hot(x, 4)", "x", "E0202", "integer ids"),
    ("pick", "input x: f32[N, 10]; input t: i32[N, 2]", "pick(x, t)", "t)", "E0203", "ids of shape [N]"),
    ("gather", "input x: f32[100, 16]; input t: f32[N]", "gather(x, t)", "t)", "E0202", "integer ids"),
    ("rand", X2, "rand(x, 2.0, 1.0)", "2.0", "E0207", "lo < hi"),
    ("randn", X2, "randn([N, M])", "[N", "E0208", "no tensor here has an axis of size M"),
]


@pytest.mark.parametrize("op,inputs,expr,shape", OK, ids=[f"{c[0]}:{c[2]}" for c in OK])
def test_shape_rule(op, inputs, expr, shape):
    result = check(model_src(inputs, expr))
    assert not errors(result), [d.message for d in errors(result)]
    assert output_shape(result) == shape


@pytest.mark.parametrize("op,inputs,expr,at,code,words", ERR, ids=[f"{c[0]}:{c[2]}" for c in ERR])
def test_shape_error(op, inputs, expr, at, code, words):
    src = model_src(inputs, expr)
    line = 2 + len([l for l in inputs.split(";") if l.strip()])
    column = len("  output y = ") + expr.index(at) + 1
    errs = errors(check(src))
    assert len(errs) == 1, [f"{d.code} {d.span.line}:{d.span.column} {d.message}" for d in errs]
    d = errs[0]
    assert (d.code, d.span.line, d.span.column) == (code, line, column), f"{d.code} {d.span} {d.message}"
    assert words.lower() in (d.message + " " + (d.hint or "") + " " + d.label).lower(), d.message


def test_every_public_op_has_valid_and_error_cases():
    """Ops a program can name, and the arithmetic operators, each need cases here (internal ops the passes
    emit — gradients, optimiser updates — are tested with the passes that use them)."""
    covered_ok = {c[0] for c in OK}
    covered_err = {c[0] for c in ERR}
    operators = {"add", "sub", "mul", "div", "matmul", "neg"}
    for name, op in registry().items():
        if op.internal and name not in operators:
            continue
        assert name in covered_ok, f"op {name} has no shape case"
        if name != "neg":  # unary minus accepts every tensor: it has no error of its own
            assert name in covered_err, f"op {name} has no error case"
