"""Which of ONNX's backend node tests nnc can express, for the ops issue 13 touches; before and after it.

Every node test is run: the equivalent .nn program is written from the
node's attributes (pooling, Pad and Resize below, the other ops in
onnx_node_programs.py), checked, run on the numpy backend and compared with
the test's outputs. `classify` keeps the rules for what nnc's built-ins
accepted before issue 13, for the 14 ops it touches. Only single-node tests count (the "_expanded" variants are
graphs of other ops). `python3 tests/onnx_node_coverage.py` prints the table
that docs/onnx_node_tests.md holds; tests/test_onnx_node_coverage.py keeps them in sync.
"""
from __future__ import annotations

import collections
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import check, errors  # noqa: E402
from onnx_node_math import OPS as MATH  # noqa: E402  (elementwise, comparison, reduction and indexing ops)
from nnc.interp import Context, run_graph  # noqa: E402

OPS = ("Conv", "MaxPool", "AveragePool", "NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss", "Gelu", "Softplus",
       "Selu", "PRelu", "Pad", "GroupNormalization", "InstanceNormalization", "Resize", "Upsample")


def _attrs(node) -> dict:
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _shape(value_info) -> tuple:
    return tuple(d.dim_value for d in value_info.type.tensor_type.shape.dim)


def _unread(n, k, s, d, lo, hi) -> bool:
    from nnc.ops.window import leaves_unread
    return n + lo + hi >= d * (k - 1) + 1 and leaves_unread(n, k, s, d, lo, hi) is not None


def pool_program(node, shape) -> tuple[str | None, bool, str]:
    """(the .nn call or None, whether nnc expressed it before issue 13, why not when it cannot)."""
    a = _attrs(node)
    op = "maxpool" if node.op_type == "MaxPool" else "avgpool"
    if len(node.output) > 1:
        return None, False, "the Indices output"
    if a.get("storage_order", 0):
        return None, False, "storage_order"
    k = list(a["kernel_shape"])
    sp = len(k)
    s = list(a.get("strides", [1] * sp))
    d = list(a.get("dilations", [1] * sp))
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    pads = list(a.get("pads", [0] * 2 * sp))
    pairs = [(pads[i], pads[i + sp]) for i in range(sp)]
    ceil = bool(a.get("ceil_mode", 0))
    include = bool(a.get("count_include_pad", 0))
    n = shape[2:]
    if auto in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        padding = {"SAME_UPPER": '"same"', "SAME_LOWER": '"same_lower"', "VALID": '"valid"'}[auto]
        from nnc.ops.window import same_padding
        pairs = [same_padding(ni, ki, si, di) or (0, 0) for ni, ki, si, di in zip(n, k, s, d)] \
            if auto != "VALID" else [(0, 0)] * sp
        if auto == "SAME_LOWER":
            pairs = [p[::-1] for p in pairs]
    else:
        padding = "[" + ", ".join(f"[{lo}, {hi}]" for lo, hi in pairs) + "]"
    args = [f"{k}", f"stride={s}", f"padding={padding}"]
    if any(x > 1 for x in d):
        args.append(f"dilation={d}")
    if ceil:
        args.append("ceil_mode=true")
    if op == "avgpool":
        args.append(f"count_include_pad={'true' if include else 'false'}")
    drops = any(_unread(ni, ki, si, di, lo, hi) for ni, ki, si, di, (lo, hi) in zip(n, k, s, d, pairs))
    if ceil:  # what ceil_mode adds after the input may still leave an element between dilated taps unread
        from nnc.ops.window import ceil_extra
        still = any(_unread(ni, ki, si, di, lo, hi + ceil_extra(ni, ki, si, di, lo, hi))
                    for ni, ki, si, di, (lo, hi) in zip(n, k, s, d, pairs))
    if (drops and not ceil) or (ceil and still):
        args.append('remainder="drop"')
    before = (all(x == 1 for x in d) and not ceil and auto != "SAME_LOWER" and not drops
              and all(lo == hi and lo <= ki // 2 for (lo, hi), ki in zip(pairs, k))
              and (op == "maxpool" or include or all(p == (0, 0) for p in pairs)))
    return f"x -> {op}({', '.join(args)})", before, ""


def run_pool_test(case) -> tuple[bool, bool, str]:
    """(passes now, expressible before, why not)."""
    node = case.model.graph.node[0]
    shape = _shape(case.model.graph.input[0])
    call, before, why = pool_program(node, shape)
    if call is None:
        return False, False, why
    dtype = {1: "f32", 11: "f64"}.get(case.model.graph.input[0].type.tensor_type.elem_type)
    if dtype is None:
        return False, False, "an integer or half-precision input"
    dims = ", ".join(str(x) for x in shape[1:])
    src = f"model m {{\n  input x: {dtype}[N, {dims}]\n  output y = {call}\n}}\n"
    result = check(src)
    if errors(result):
        return False, before, errors(result)[0].message
    for inputs, outputs in case.data_sets:
        got = run_graph(result.models["m"].graph, {"x": inputs[0]}, {}, Context(), outputs=["y"])["y"]
        if got.shape != outputs[0].shape or not np.allclose(got, outputs[0], rtol=1e-3, atol=1e-7):
            return False, before, "different numbers"
    return True, before, ""


def _run(case, inputs_nn: str, call: str, feeds) -> tuple[bool, str]:
    """Check and run `output y = call` on the numpy backend for every data set; (matches, why not).
    The tolerance is the ONNX backend test runner's (rtol 1e-3, atol 1e-7): some expected outputs are
    written rounded to four decimals."""
    src = f"model m {{\n  {inputs_nn}\n  output y = {call}\n}}\n"
    result = check(src)
    if errors(result):
        return False, errors(result)[0].message
    for inputs, outputs in case.data_sets:
        got = run_graph(result.models["m"].graph, feeds(inputs), {}, Context(), outputs=["y"])["y"]
        if got.shape != outputs[0].shape or not np.allclose(got, outputs[0], rtol=1e-3, atol=1e-7):
            return False, "different numbers"
    return True, ""


def run_pad_or_resize(case) -> tuple[bool, bool, str]:
    """Pad and Resize/Upsample with their pads or scales written as compile-time values, as an importer
    writes initializers; (matches now, expressible before, why not)."""
    node = case.model.graph.node[0]
    a = _attrs(node)
    shape = _shape(case.model.graph.input[0])
    dtype = {1: "f32", 11: "f64"}.get(case.model.graph.input[0].type.tensor_type.elem_type)
    if dtype is None or len(shape) < 3:
        return False, False, "not a float [N, C, ...] tensor"
    mode = a.get("mode", b"constant" if node.op_type == "Pad" else b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    named = dict(zip([v.name for v in case.model.graph.input], case.data_sets[0][0]))
    inputs0 = [named.get(name) for name in node.input]
    dims = ", ".join(str(x) for x in shape[1:])
    if node.op_type == "Pad":
        if len(node.input) > 3 and node.input[3]:
            return False, False, "the axes input"
        pads = [int(v) for v in inputs0[1]]
        r = len(shape)
        if any(pads[i] or pads[i + r] for i in (0, 1)):
            return False, False, "padding the batch or channel axis"
        if mode not in ("constant", "reflect", "edge"):
            return False, False, f'mode "{mode}"'
        if any(p < 0 for p in pads):
            return False, False, "negative pads (cropping)"
        value = float(inputs0[2]) if len(node.input) > 2 and node.input[2] else 0.0
        pairs = ", ".join(f"[{pads[i]}, {pads[i + r]}]" for i in range(2, r))
        nn_mode = {"edge": "replicate"}.get(mode, mode)
        call = f'x -> spatial_pad([{pairs}], mode="{nn_mode}", value={value!r})'
    else:
        ctm = a.get("coordinate_transformation_mode", b"half_pixel")
        ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
        scales_at = 1 if node.op_type == "Upsample" else 2
        if len(node.input) <= scales_at or inputs0[scales_at] is None or not len(inputs0[scales_at]):
            return False, False, "a target size, not scales"
        scales = [float(v) for v in inputs0[scales_at]]
        if scales[:2] != [1.0, 1.0] or any(v < 1 or v != int(v) for v in scales[2:]):
            return False, False, "scales that are not whole factors of the spatial axes"
        if mode not in ("nearest", "linear"):
            return False, False, f'mode "{mode}"'
        if a.get("antialias", 0):
            return False, False, "antialias"
        if mode == "linear" and ctm not in ("half_pixel", "pytorch_half_pixel"):
            return False, False, f"linear with coordinate_transformation_mode {ctm}"
        call = f"x -> upsample({[int(v) for v in scales[2:]]}, mode=\"{mode}\")"
    ok, why = _run(case, f"input x: {dtype}[N, {dims}]", call, lambda inputs: {"x": inputs[0]})
    return ok, False, why


def classify(case) -> tuple[bool, bool, str]:
    """(expressible now, expressible before issue 13, why not) for the ops that are not run."""
    node = case.model.graph.node[0]
    a = _attrs(node)
    t = node.op_type
    shapes = [_shape(v) for v in case.model.graph.input]
    if t == "Conv":
        w = shapes[1]
        sp = len(w) - 2
        k = list(a.get("kernel_shape", w[2:]))
        s = list(a.get("strides", [1] * sp))
        d = list(a.get("dilations", [1] * sp))
        pads = list(a.get("pads", [0] * 2 * sp))
        pairs = [(pads[i], pads[i + sp]) for i in range(sp)]
        auto = a.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        drops = auto == "NOTSET" and any(_unread(ni, ki, si, di, lo, hi)
                                         for ni, ki, si, di, (lo, hi) in zip(shapes[0][2:], k, s, d, pairs))
        before = sp in (1, 2) and auto != "SAME_LOWER" and not drops and all(lo == hi for lo, hi in pairs)
        return sp in (1, 2, 3), before, "" if sp <= 3 else "more than 3 spatial axes"
    if t in ("NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"):
        rank = len(shapes[0])
        plain = (rank == 2 and "ignore_index" not in a and len(node.input) == 2
                 and a.get("reduction", b"mean") in (b"mean", b"sum", "mean", "sum") and len(node.output) == 1)
        return True, plain, ""
    if t == "Gelu":
        return True, False, ""
    if t == "Softplus":
        return True, False, ""
    if t == "Selu":
        default = abs(a.get("alpha", 1.67326319217681884765625) - 1.6732632423543772) < 1e-6 and \
            abs(a.get("gamma", 1.05070102214813232421875) - 1.0507009873554805) < 1e-6
        return default, False, "" if default else "alpha and gamma other than SELU's constants"
    if t == "PRelu":
        slope = shapes[1]
        ok = len(shapes[0]) >= 2 and (slope in ((1,), (shapes[0][1],)) or
                                      (len(slope) >= 1 and slope[0] == shapes[0][1] and all(x == 1 for x in slope[1:])))
        return ok, False, "" if ok else f"a slope of shape {list(slope)} (nnc: one, or one per channel)"
    if t in ("GroupNormalization", "InstanceNormalization"):
        return True, False, ""  # scale and bias per group (opset 18) repeat into nnc's weight per channel
    return False, False, "not classified"


# Ops run through onnx_node_programs.py (issue 13, item 5); pooling, Pad and Resize keep their runners above
RUN = ("NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss", "Conv", "ConvTranspose", "Gemm", "MatMul", "Relu",
       "LeakyRelu", "Elu", "Selu", "Sigmoid", "Tanh", "Softmax",
       "LogSoftmax", "Gelu", "Softplus", "PRelu", "BatchNormalization", "LayerNormalization", "GroupNormalization",
       "InstanceNormalization", "GlobalAveragePool", "Flatten", "Reshape", "Transpose", "Concat", "Slice", "RNN",
       "LSTM", "GRU") + MATH
# The previous table's "expressible now" column, when only pooling, Pad and Resize ran and the rest was classified
PREVIOUS = {"Conv": 6, "MaxPool": 16, "AveragePool": 20, "NegativeLogLikelihoodLoss": 18, "SoftmaxCrossEntropyLoss": 34,
            "Gelu": 4, "Softplus": 2, "Selu": 1, "PRelu": 0, "Pad": 1, "GroupNormalization": 2,
            "InstanceNormalization": 2, "Resize": 2, "Upsample": 1}


def outcome(case) -> tuple[str, bool | None, str]:
    """("passed" | "failed" | "not expressible", expressible before issue 13 or None, why)."""
    from onnx_node_programs import run
    t = case.model.graph.node[0].op_type
    if t in ("MaxPool", "AveragePool", "Pad", "Resize", "Upsample"):
        now, before, why = (run_pool_test if t in ("MaxPool", "AveragePool") else run_pad_or_resize)(case)
        return ("passed" if now else "failed" if why == "different numbers" else "not expressible"), before, why
    before = classify(case)[1] if t in OPS else None
    status, why = run(case)
    return status, before, why


def table() -> str:
    """The markdown table of docs/onnx_node_tests.md: per op, the node tests, what could be written before
    issue 13, the previous table's count, and now: run and matched, run and differed, not expressible (why).
    Every test is run; classify() only says what was expressible before issue 13."""
    from onnx.backend.test.case.node import collect_testcases
    ops = list(OPS) + [op for op in RUN if op not in OPS]
    rows = {op: collections.Counter() for op in ops}
    whys = {op: collections.Counter() for op in ops}
    for case in collect_testcases():
        nodes = case.model.graph.node
        if len(nodes) != 1 or nodes[0].op_type not in rows or case.name.endswith("_expanded"):
            continue
        t = nodes[0].op_type
        status, before, why = outcome(case)
        rows[t]["tests"] += 1
        rows[t]["before"] += bool(before)
        rows[t][status] += 1
        if status in ("failed", "not expressible"):
            whys[t][why if status == "not expressible" else f"FAILED: {case.name}: {why}"] += 1
    lines = ["| ONNX op | node tests | expressible before issue 13 | previous table | passed (run) | failed "
             "| not expressible, why |", "| --- | --- | --- | --- | --- | --- | --- |"]
    total = collections.Counter()
    for op in ops:
        r = rows[op]
        total.update(r)
        total["previous"] += PREVIOUS.get(op, 0)
        before = str(r["before"]) if op in OPS else "—"
        reasons = "; ".join(f"{w} ({c})" for w, c in sorted(whys[op].items()))
        lines.append(f"| {op} | {r['tests']} | {before} | {PREVIOUS.get(op, '—')} | {r['passed']} "
                     f"| {r['failed']} | {reasons or '—'} |")
    lines.append(f"| **all** | {total['tests']} | {total['before']} | {total['previous']} | {total['passed']} | "
                 f"{total['failed']} | {total['not expressible']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(table(), end="")
