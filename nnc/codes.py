"""Every diagnostic code: a title, a long explanation and an example, for `nnc explain` and docs/diagnostics.md."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Code:
    code: str
    title: str
    explanation: str
    example: str


CODES: dict[str, Code] = {c.code: c for c in [
    Code("E0001", "syntax error",
         "The text does not follow the grammar of the language: a token appears where it cannot, or a bracket "
         "is closed by the wrong kind of bracket. The message says what was expected and what was found.",
         "model m {\n  x = a b      # two values in a row\n}"),
    Code("E0002", "unterminated string or block",
         "A string must end with `\"` on the same line; every `{`, `(` and `[` needs its closing partner. "
         "The error points at the opening that is never closed.",
         "model m {\n  input x: f32[N, 4]\n  output y = x -> relu\n# the closing } is missing"),
    Code("E0003", "not a text file",
         "Programs are UTF-8 text. A NUL byte or an invalid UTF-8 sequence means the file is binary or in "
         "another encoding.", ""),
    Code("E0004", "empty program",
         "The file holds nothing to check: no model, train block, block or constant. An empty file is almost "
         "always the wrong file.", ""),
    Code("E0005", "nesting too deep",
         "Brackets nest more than 200 deep, more than 64 prefix operators follow each other, or expressions and "
         "statements nest more than 1,000 levels in any other way (a chain of `else if` or `if ... else` "
         "expressions). Bind parts of the expression to names instead.",
         "y = ((((((((((x))))))))))  # ... 200 levels"),
    Code("E0101", "unbound name",
         "A name is used that is not bound at that point: not an input, a binding above, a constant, a block or "
         "a model. Names bound inside `if` and `for` bodies stay visible after them.",
         "model m {\n  input x: f32[N, 16]\n  output y = relu(hidden)   # `hidden` was never bound\n}"),
    Code("E0102", "unknown function",
         "A call names something that is neither a built-in, a block, a model nor a layer, or calls a value "
         "that is not callable.", "y = x -> relux   # did you mean `relu`?"),
    Code("E0103", "unknown keyword argument",
         "A keyword argument is not a parameter of the function called. The hint suggests the closest name "
         "when the keyword looks misspelt; when it is a keyword of other built-ins (`init` of dense and the "
         "convolutions, given to lstm) it says whose, rather than offer a keyword of another meaning.",
         "y = x -> conv2d(16, 3, strides=2)   # the parameter is `stride`"),
    Code("E0104", "wrong number of arguments",
         "A call passes too many positional arguments, omits a required one, or passes one twice.",
         "y = x -> dense()   # dense needs `units`"),
    Code("E0105", "wrong kind of value",
         "A compile-time argument has the wrong type (a float where an int is needed, a tensor where a number "
         "is), or a tensor is expected and something else is given.", "y = x -> dense(12.5)"),
    Code("E0106", "defined twice",
         "Two inputs, outputs, definitions or settings share one name.",
         "model m {\n  input x: f32[N, 4]\n  input x: f32[N, 8]\n}"),
    Code("E0107", "missing output, return or minimize",
         "A model needs at least one `output`, a block must end with `return`, and a train block needs a "
         "`minimize` line.", "model m {\n  input x: f32[N, 4]\n  h = x -> relu\n}   # no output"),
    Code("E0108", "not something to optimise",
         "`minimize ... over T` needs T to be a model or a `layer` whose parameters appear in the train block; "
         "`params`, `l1` and `l2` likewise need a model or layer that has been called. A model's parameters "
         "include those of the models and layers it calls. A layer or value bound inside a model is not a name "
         "of the train block: minimize over the model, or move the part to train alone into a model of its own "
         "that the first one calls, and name that model.",
         "minimize loss over x with sgd(lr=0.1)   # x is a tensor"),
    Code("E0109", "import not found", "An imported file cannot be read; paths are relative to the importing file.",
         'import "layers/missing.nn"'),
    Code("E0110", "import cycle", "Two files import each other, directly or through others.",
         '# a.nn: import "b.nn"   and   b.nn: import "a.nn"'),
    Code("E0111", "recursion",
         "Blocks and models are expanded at compile time, so a block cannot call itself, directly or through "
         "another block. Use a compile-time `for` loop to repeat structure.",
         "block f(x) {\n  return x -> f\n}"),
    Code("E0112", "too large to expand",
         "A compile-time loop runs more than 100,000 times, all loops together run too many iterations, the "
         "program unrolls into more than a million operations, or a compile-time string or list grows past "
         "1,000,000 items.", "for i in 0..100000000 { x = x -> relu }"),
    Code("E0113", "arithmetic error",
         "Division by zero in compile-time arithmetic, or `/` of two ints that does not divide exactly (use "
         "`//` for integer division).", "const K = 7 / 0"),
    Code("E0114", "number too large",
         "A dimension, a compile-time int or a size computed from them is larger than 2^63 - 1, or a float "
         "literal overflows (1e999).", "input x: f32[N, 99999999999999999999]"),
    Code("E0115", "assertion failed", "A compile-time `assert` evaluated to false.",
         'assert channels(x) == 3, "expects RGB"'),
    Code("E0116", "statement not allowed here",
         "`input` belongs in models and train blocks, `output` in models, `return` in blocks, and "
         "`minimize`, `metric`, `batch`, `epochs` and `data` in train blocks.", "block b(x) {\n  output y = x\n}"),
    Code("E0117", "needs a compile-time value",
         "`if`, `assert` and comparisons choose at compile time; they cannot depend on the values inside "
         "tensors.", "if x > 0 { ... }   # x is a tensor"),
    Code("E0118", "cannot unpack", "`a, b = expr` needs expr to give exactly that many values.",
         "y, h = x -> lstm(64)   # needs return_state=true"),
    Code("E0119", "no second derivative over a symbolic length",
         "A `minimize` line (or another `grad`) differentiates a value computed by `grad(...)`, so the gradient's "
         "own nodes are differentiated: a second derivative, as a WGAN-GP or R1 penalty needs. Every layer "
         "and op has one, but through rnn, lstm and gru it unrolls backpropagation through time, so the "
         "sequence length must be a number when the graph is built (`f32[N, 16, 4]`); over a symbolic length "
         "(`f32[N, T, 4]`) the error points at the recurrent layer on the gradient's path.",
         "model d {\n  input x: f32[N, T, 4]\n  output s = x -> lstm(8) -> last -> dense(1)\n}\n"
         "train t {\n  input x: f32[N, T, 4]\n  g = grad(sum(d(x)), x)\n"
         "  minimize mean(g * g) over d with adam(lr=1e-3)   # E0119 at lstm: T is a symbol\n}"),
    Code("E0201", "shape rule failed", "An op's shape rule rejected its inputs.", ""),
    Code("E0202", "wrong element type or type mismatch",
         "A tensor has the wrong element type for its parameter (float labels for cross_entropy, floats into "
         "embedding), or a model is called with an input whose type differs from its declaration.",
         "loss = cross_entropy(logits, y)   # y: f32[N] should be i32[N]"),
    Code("E0203", "wrong shape",
         "A tensor's rank or size does not fit what the operation needs, or a shape ascription does not hold. "
         "The message shows expected and found shapes.", "z: [N, 64] = h -> relu   # h is [N, 32]"),
    Code("E0204", "cannot broadcast",
         "Elementwise arithmetic needs shapes that agree on every axis, counted from the right, or are 1 there. "
         "Two different symbols (N and M) are not assumed equal.", "y = a + b   # [N, 16] + [N, 10]"),
    Code("E0205", "matrix product mismatch", "`a @ b` needs the last axis of a to equal the second-to-last of b.",
         "y = a @ b   # [N, 3] @ [4, 5]"),
    Code("E0206", "axis out of range", "An axis argument does not exist for a tensor of that rank.",
         "y = x -> softmax(axis=3)   # x is [N, 10]"),
    Code("E0207", "invalid size",
         "A size, stride, probability or count is zero, negative or out of its range; a pooling window that "
         "would read only padding.",
         "y = x -> conv2d(16, 3, stride=0)"),
    Code("E0208", "needs a known size",
         "Layers that create parameters (dense, conv, batchnorm, recurrent) need the axis they read to have a "
         "fixed size, not a symbol. Convolutions read channels first ([N, C, L], [N, C, H, W]); on data whose "
         "last axis is the fixed one ([N, T, 4], channels last) the hint is a transpose, since fixing axis 1 "
         "instead would check and then convolve over the wrong axis.",
         "input x: f32[N, F]\ny = x -> dense(10)   # F is unknown"),
    Code("E0209", "concat inputs disagree", "Every axis except the concat axis must have the same size.",
         "y = concat(a, b, axis=1)   # [N, 4, 8] and [N, 4, 9]"),
    Code("E0210", "cannot reshape", "reshape must keep the number of elements; -1 may stand for one axis.",
         "y = x -> reshape([-1, 7])   # 64 elements per row"),
    Code("E0301", "window does not fit",
         "A convolution or pooling window gives out = floor((N + 2P - D(F - 1) - 1)/S) + 1 along each axis. "
         "Rounding down is fine when what it drops is padding, or when the stride skips elements by design; "
         "it is an error when real input that the next window would read is never read. The hint gives the "
         "padding or stride that fits, and the explicit ways to accept the drop: remainder=\"drop\" (what "
         "PyTorch and ONNX do silently) and, for pooling, ceil_mode=true (a last, partial window).",
         "input x: f32[N, 1, 7, 7]\ny = x -> conv2d(4, 3, stride=3)   # (7 - 3)/3 + 1 = 2.33"),
    Code("E0302", "kernel larger than its input",
         "The (dilated) kernel spans more elements than the padded input has.",
         "input x: f32[N, 1, 4, 4]\ny = x -> conv2d(4, 5)"),
    Code("E0303", "groups or heads do not divide",
         "Grouped convolutions need channels and filters divisible by groups; attention needs the feature size "
         "divisible by heads.", "y = x -> conv2d(16, 3, groups=3)   # 16 channels"),
    Code("W0001", "unused value",
         "A value is computed and never used, or an input is never read. Start a name with `_` to keep it "
         "without the warning.", "h = x -> dense(32)   # h is never used"),
    Code("W0002", "activation applied twice",
         "cross_entropy applies log-softmax and bce applies the sigmoid themselves; feeding them a softmax or "
         "sigmoid output squashes the scores twice and slows learning.",
         "loss = cross_entropy(x -> softmax, y)"),
    Code("W0003", "layer never called", "A `layer` is defined and never called.", "layer unused = dense(10)"),
    Code("W0004", "dropout after the last layer",
         "Dropout at a model's output only adds noise to its predictions; it belongs between layers.",
         "output y = h -> dense(10) -> dropout(0.5)"),
]}


def explain(code: str) -> str | None:
    c = CODES.get(code.upper())
    if c is None:
        return None
    text = f"{c.code}: {c.title}\n\n{c.explanation}\n"
    if c.example:
        text += "\nExample:\n\n" + "\n".join("    " + line for line in c.example.splitlines()) + "\n"
    return text


def markdown() -> str:
    """docs/diagnostics.md, generated from this table (a test keeps the file in sync)."""
    lines = ["# Diagnostics", "",
             "Every error and warning nnc reports has a stable code. `nnc explain CODE` prints the entry below.",
             "This file is generated from `nnc/codes.py` (`python -m nnc.codes > docs/diagnostics.md`).", ""]
    for c in CODES.values():
        kind = "warning" if c.code.startswith("W") else "error"
        lines += [f"## {c.code}: {c.title} ({kind})", "", c.explanation, ""]
        if c.example:
            lines += ["```", c.example, "```", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")
