"""The .nn program equivalent to one single-node ONNX backend test, for the ops nnc's layers express.

`plan(case)` reads the node's attributes, its input shapes and its constant inputs (pads, shapes, slice
bounds: compile-time values, as an importer writes initializers) and returns a `Plan`: the program text,
which ONNX inputs feed which nnc inputs, and which become parameters (converted to nnc's PyTorch layout:
recurrent gates reordered from ONNX's i, o, f, c and z, r, h to PyTorch's i, f, g, o and r, z, n; ONNX's
B split into bias_ih and bias_hh). A configuration nnc cannot write raises `NotExpressible` with the
reason. `run(case)` checks the program, runs it on the numpy backend for every data set and compares each
ONNX output: its element type exactly, integers and bools exactly, floats at rtol 1e-3, atol 1e-7 (the ONNX
runner's tolerance). The elementwise, comparison, reduction and indexing ops are in onnx_node_math.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from helpers import check, errors
from nnc.interp import Context, run_graph

DTYPES = {1: "f32", 11: "f64"}


class NotExpressible(Exception):
    """The node's configuration has no nnc spelling; the message says which part."""


@dataclass
class Plan:
    src: str
    feeds: dict[str, str]  # nnc input -> ONNX input name
    params: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] = lambda named: {}
    outputs: list[str] = field(default_factory=list)  # ONNX output names, in nnc's y0, y1, ... order


def attrs(node) -> dict:
    from onnx import helper
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _shape(vi) -> tuple:
    return tuple(d.dim_value for d in vi.type.tensor_type.shape.dim)


def _decl(name: str, vi) -> str:
    dtype = DTYPES.get(vi.type.tensor_type.elem_type)
    if dtype is None:
        raise NotExpressible("an integer or half-precision input")
    shape = _shape(vi)
    return f"input {name}: {dtype}[{', '.join(str(d) for d in shape)}]"


def _const(case, name: str) -> np.ndarray:
    names = [v.name for v in case.model.graph.input]
    return case.data_sets[0][0][names.index(name)]


def _src(inputs: list[str], body: list[str]) -> str:
    return "model m {\n" + "".join(f"  {l}\n" for l in inputs + body) + "}\n"


def _one(case, call: str, extra: list[str] | None = None) -> Plan:
    """A unary node: input x is the node's first input, y0 its first output."""
    g = case.model.graph
    node = g.node[0]
    if len([o for o in node.output if o]) > 1:
        raise NotExpressible("a second output")
    vi = {v.name: v for v in g.input}[node.input[0]]
    return Plan(_src([_decl("x", vi)], (extra or []) + [f"output y0 = {call}"]), {"x": node.input[0]},
                outputs=[node.output[0]])


def _pairs(a: dict, n: tuple, k: list, s: list, d: list) -> list[tuple[int, int]]:
    sp = len(k)
    auto = a.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return [(0, 0)] * sp
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for ni, ki, si, di in zip(n, k, s, d):
            total = max((-(-ni // si) - 1) * si + di * (ki - 1) + 1 - ni, 0)
            lo, hi = total // 2, total - total // 2
            out.append((hi, lo) if auto == "SAME_LOWER" else (lo, hi))
        return out
    pads = list(a.get("pads", [0] * 2 * sp))
    return [(pads[i], pads[i + sp]) for i in range(sp)]


def _conv(case) -> Plan:
    from nnc.ops.window import leaves_unread
    g = case.model.graph
    node = g.node[0]
    a = attrs(node)
    vis = {v.name: v for v in g.input}
    x, w = _shape(vis[node.input[0]]), _shape(vis[node.input[1]])
    sp = len(w) - 2
    if sp > 3:
        raise NotExpressible("more than 3 spatial axes")
    k = list(a.get("kernel_shape", w[2:]))
    s = list(a.get("strides", [1] * sp))
    d = list(a.get("dilations", [1] * sp))
    pairs = _pairs(a, x[2:], k, s, d)
    groups = a.get("group", 1)
    bias = len(node.input) > 2 and bool(node.input[2])
    args = [str(w[0]), str(k), f"stride={s}", f"padding={[list(p) for p in pairs]}", f"dilation={d}",
            f"groups={groups}", f"bias={'true' if bias else 'false'}"]
    if any(leaves_unread(ni, ki, si, di, lo, hi) is not None
           for ni, ki, si, di, (lo, hi) in zip(x[2:], k, s, d, pairs)):
        args.append('remainder="drop"')
    call = f"x -> conv{sp}d({', '.join(args)})"
    plan = _one(case, call)
    wname, bname = node.input[1], node.input[2] if bias else None
    plan.params = lambda named: {f"m/y0.conv{sp}d/weight": named[wname],
                                 **({f"m/y0.conv{sp}d/bias": named[bname]} if bias else {})}
    return plan


def _conv_transpose(case) -> Plan:
    """ConvTranspose as conv_transpose2d (a 1-d one lifted to height 1). ONNX's pads, auto_pad and output_shape
    become nnc's symmetric padding, or no padding, output_padding for what ONNX adds at the end, and slices
    for what it crops (ONNX's rule for splitting the total padding: SAME_UPPER puts the odd one at the end)."""
    g = case.model.graph
    node = g.node[0]
    a = attrs(node)
    vis = {v.name: v for v in g.input}
    x, w = _shape(vis[node.input[0]]), _shape(vis[node.input[1]])
    sp = len(w) - 2
    if sp not in (1, 2):
        raise NotExpressible(f"{sp}-d (nnc has conv_transpose2d, and 1-d written as 2-d)")
    groups = a.get("group", 1)
    k = list(a.get("kernel_shape", w[2:]))
    s = list(a.get("strides", [1] * sp))
    d = list(a.get("dilations", [1] * sp))
    op = list(a.get("output_padding", [0] * sp))
    auto = a.get("auto_pad", "NOTSET")
    full = [si * (ni - 1) + oi + (ki - 1) * di + 1 for ni, ki, si, di, oi in zip(x[2:], k, s, d, op)]
    if "output_shape" in a or auto in ("SAME_UPPER", "SAME_LOWER"):
        want = list(a["output_shape"])[-sp:] if "output_shape" in a else [ni * si for ni, si in zip(x[2:], s)]
        total = [f - o for f, o in zip(full, want)]
        upper = auto == "SAME_UPPER"
        pairs = [(t // 2, t - t // 2) if upper else (t - t // 2, t // 2) for t in total]
    else:
        pads = list(a.get("pads", [0] * 2 * sp))
        pairs = [(pads[i], pads[i + sp]) for i in range(sp)]
    if all(lo == hi >= 0 for lo, hi in pairs):
        padding, crops = [lo for lo, _ in pairs], []
    else:
        if any(lo < 0 for lo, _ in pairs):
            raise NotExpressible("padding that extends the start of the output")
        padding = [0] * sp
        op = [oi + max(0, -hi) for oi, (_, hi) in zip(op, pairs)]
        crops = [(axis + 2, lo, f + max(0, -hi) - max(hi, 0)) for axis, (f, (lo, hi)) in enumerate(zip(full, pairs))]
    if any(oi >= max(si, di) for oi, si, di in zip(op, s, d)):
        raise NotExpressible("output_padding not below the stride or the dilation")
    lift = (lambda v: [1] + list(v)) if sp == 1 else list
    pad0 = lambda v: [0] + list(v) if sp == 1 else list(v)
    bias = len(node.input) > 2 and bool(node.input[2])
    src = "reshape(x, [%s])" % ", ".join(str(v) for v in x[:2] + (1,) + x[2:]) if sp == 1 else "x"
    call = (f"{src} -> conv_transpose2d({w[1] * groups}, {lift(k)}, stride={lift(s)}, padding={pad0(padding)}, "
            f"output_padding={pad0(op)}, dilation={lift(d)}, groups={groups}, bias={'true' if bias else 'false'})")
    extra = [f"t = {call}"]
    if sp == 1:
        extra.append(f"t = reshape(t, [{x[0]}, {w[1] * groups}, {full[0] + max(0, -pairs[0][1]) - 2 * padding[0]}])")
    for axis, lo, hi in crops:
        extra.append(f"t = slice(t, {lo}, end={hi}, axis={axis})")
    plan = _one(case, "t", extra)
    wname, bname = node.input[1], node.input[2] if bias else None
    plan.params = lambda named: {"/weight": named[wname].reshape(w[:2] + (1,) + w[2:]) if sp == 1 else named[wname],
                                 **({"/bias": named[bname]} if bias else {})}
    return plan


def _gemm(case) -> Plan:
    g = case.model.graph
    node = g.node[0]
    a = attrs(node)
    vis = {v.name: v for v in g.input}
    names = ["a", "b", "c"][:len([i for i in node.input if i])]
    decls = [_decl(n, vis[i]) for n, i in zip(names, node.input)]
    lhs = "transpose(a, [1, 0])" if a.get("transA", 0) else "a"
    rhs = "transpose(b, [1, 0])" if a.get("transB", 0) else "b"
    expr = f"{a.get('alpha', 1.0)!r} * ({lhs} @ {rhs})"
    if "c" in names:
        expr += f" + {a.get('beta', 1.0)!r} * c"
    return Plan(_src(decls, [f"output y0 = {expr}"]), dict(zip(names, node.input)), outputs=[node.output[0]])


def _binary(case, expr: str) -> Plan:
    """A node whose inputs all become nnc inputs x0, x1, ...; `expr` formats them ({0}, {1}, {all})."""
    g = case.model.graph
    node = g.node[0]
    vis = {v.name: v for v in g.input}
    names = [f"x{i}" for i in range(len(node.input))]
    decls = [_decl(n, vis[i]) for n, i in zip(names, node.input)]
    return Plan(_src(decls, [f"output y0 = {expr.format(*names, all=', '.join(names))}"]),
                dict(zip(names, node.input)), outputs=[node.output[0]])


def _norm(case) -> Plan:
    g = case.model.graph
    node = g.node[0]
    a = attrs(node)
    t = node.op_type
    x = _shape({v.name: v for v in g.input}[node.input[0]])
    eps = a.get("epsilon", 1e-5)
    if t == "BatchNormalization":
        if a.get("training_mode", 0):
            raise NotExpressible("training_mode (the running statistics as outputs)")
        roles = ["weight", "bias", "running_mean", "running_var"]
        plan, layer = _one(case, f"x -> batchnorm(eps={eps!r})"), "batchnorm"
    elif t == "LayerNormalization":
        return _layernorm(case, a, x, eps)
    elif t == "GroupNormalization":
        roles = ["weight", "bias"]
        plan, layer = _one(case, f"x -> groupnorm({a['num_groups']}, eps={eps!r})"), "groupnorm"
    else:
        roles = ["weight", "bias"]
        plan, layer = _one(case, f"x -> instancenorm(eps={eps!r}, affine=true)"), "instancenorm"
    inputs = list(node.input[1:])
    channels = x[1]
    plan.params = lambda named: {f"m/y0.{layer}/{r}": _per_channel(named[i], channels, t)
                                 for r, i in zip(roles, inputs)}
    return plan


def _layernorm(case, a: dict, x: tuple, eps: float) -> Plan:
    """LayerNormalization over axes axis.. : reshaped to [rows, D] for nnc's layernorm (last axis) and back;
    the Mean and InvStdDev outputs written as the expressions an importer would write."""
    node = case.model.graph.node[0]
    if len(node.input) < 3 or not node.input[2]:
        raise NotExpressible("no bias input")
    axis = a.get("axis", -1) % len(x)
    rows, d = int(np.prod(x[:axis])), int(np.prod(x[axis:]))
    kept = list(x[:axis]) + [1] * (len(x) - axis)
    exprs = [f"reshape(xr -> layernorm(eps={eps!r}), {list(x)})", f"reshape(mean(xr, axis=1), {kept})",
             f"reshape(1.0 / sqrt(mean((xr - mean(xr, axis=1, keepdims=true)) ** 2, axis=1) + {eps!r}), {kept})"]
    outs = [o for o in node.output]
    body = [f"xr = reshape(x, [{rows}, {d}])"] + [f"output y{i} = {exprs[i]}" for i, o in enumerate(outs) if o]
    vi = {v.name: v for v in case.model.graph.input}[node.input[0]]
    names = list(node.input[1:3])
    return Plan(_src([_decl("x", vi)], body), {"x": node.input[0]},
                lambda named: {"/weight": named[names[0]].reshape(-1), "/bias": named[names[1]].reshape(-1)},
                [o for o in outs if o])


def _per_channel(v: np.ndarray, c: int, t: str) -> np.ndarray:
    """GroupNormalization's opset-18 scale and bias per group repeat into one per channel."""
    return np.repeat(v, c // v.shape[0]) if t == "GroupNormalization" and v.shape[0] != c else v


def _shape_op(case) -> Plan:
    g = case.model.graph
    node = g.node[0]
    a = attrs(node)
    t = node.op_type
    x = _shape({v.name: v for v in g.input}[node.input[0]])
    if t == "Flatten":
        axis = a.get("axis", 1) + (len(x) if a.get("axis", 1) < 0 else 0)
        rows = int(np.prod(x[:axis]))
        return _one(case, f"reshape(x, [{rows}, {int(np.prod(x[axis:]))}])")
    if t == "Reshape":
        target = [int(v) for v in _const(case, node.input[1])]
        if a.get("allowzero", 0) and 0 in target:
            raise NotExpressible("a zero-sized axis (allowzero)")
        target = [x[i] if v == 0 else v for i, v in enumerate(target)]
        return _one(case, f"reshape(x, {target})")
    if t == "Transpose":
        perm = list(a.get("perm", range(len(x))[::-1]))
        return _one(case, f"transpose(x, {perm})")
    if t == "Concat":
        return _binary(case, "concat({all}, axis=" + str(a["axis"]) + ")")
    # Slice: starts, ends, axes, steps are constant inputs; one nnc slice per axis
    ins = list(node.input) + [""] * (5 - len(node.input))
    starts, ends = (_const(case, ins[1]), _const(case, ins[2]))
    axes = _const(case, ins[3]) if ins[3] else np.arange(len(starts))
    steps = _const(case, ins[4]) if ins[4] else np.ones(len(starts), np.int64)
    expr = "x"
    for st, en, ax, sp in zip(starts, ends, axes, steps):
        ax = int(ax) % len(x)
        st, en, sp = int(st), int(en), int(sp)
        lo, hi = slice(st, en, sp).indices(x[ax])[:2]  # clamp INT_MAX-style bounds as ONNX does
        if not len(range(lo, hi, sp)):
            raise NotExpressible("an empty result (nnc refuses an empty slice, E0207)")
        end = "none" if sp < 0 and hi < 0 else str(hi)
        expr = f"slice({expr}, {lo}, end={end}, axis={ax}, step={sp})"
    return _one(case, expr)


def _elementwise(case) -> Plan:
    node = case.model.graph.node[0]
    a = attrs(node)
    t = node.op_type
    if t == "Selu":  # other constants than SELU's: gamma·elu(x, alpha), as an importer writes it
        alpha, gamma = a.get("alpha", 1.67326319217681884765625), a.get("gamma", 1.05070102214813232421875)
        if abs(alpha - 1.6732632) < 1e-6 and abs(gamma - 1.0507010) < 1e-6:
            return _one(case, "selu(x)")
        return _one(case, f"{gamma!r} * elu(x, alpha={alpha!r})")
    if t == "PRelu":
        g = case.model.graph
        x, slope = (_shape(v) for v in g.input)
        if slope not in ((1,), (x[1],)) and not (len(x) > 1 and slope[0] == x[1] and all(v == 1 for v in slope[1:])):
            # a slope that broadcasts otherwise than per channel: the elementwise formula, the slope an input
            return _binary(case, "maximum({0}, 0.0) + {1} * minimum({0}, 0.0)")
        plan = _one(case, f"x -> prelu(num_parameters={int(np.prod(slope))})")
        name = node.input[1]
        plan.params = lambda named: {"m/y0.prelu/weight": named[name].reshape(-1)}
        return plan
    calls = {"Relu": "relu(x)", "Sigmoid": "sigmoid(x)", "Tanh": "tanh(x)", "Softplus": "softplus(x)",
             "LeakyRelu": f"leaky_relu(x, alpha={a.get('alpha', 0.01)!r})", "Elu": f"elu(x, alpha={a.get('alpha', 1.0)!r})",
             "Softmax": f"softmax(x, axis={a.get('axis', -1)})", "LogSoftmax": f"log_softmax(x, axis={a.get('axis', -1)})",
             "Gelu": f"gelu(x, approximate=\"{a.get('approximate', 'none')}\")", "GlobalAveragePool": "global_avgpool(x)"}
    return _one(case, calls[t])


def _loss(case) -> Plan:
    """NegativeLogLikelihoodLoss as nll, SoftmaxCrossEntropyLoss as cross_entropy (its log_prob output as
    log_softmax), the class axis 1 as ONNX puts it; the weight input as the compile-time weight list."""
    g = case.model.graph
    node = g.node[0]
    a = attrs(node)
    vis = {v.name: v for v in g.input}
    labels = vis[node.input[1]].type.tensor_type.elem_type
    if labels not in (6, 7):
        raise NotExpressible("labels that are not integers")
    decls = [_decl("x", vis[node.input[0]]),
             f"input t: {'i64' if labels == 7 else 'i32'}[{', '.join(str(d) for d in _shape(vis[node.input[1]]))}]"]
    opts = [f'reduction="{a.get("reduction", "mean")}"']
    if len(_shape(vis[node.input[0]])) > 1:
        opts.append("axis=1")
    if "ignore_index" in a:
        opts.append(f"ignore_index={a['ignore_index']}")
    if len(node.input) > 2 and node.input[2]:
        opts.append(f"weight={[float(v) for v in _const(case, node.input[2])]}")
    fn = "nll" if node.op_type == "NegativeLogLikelihoodLoss" else "cross_entropy"
    body = [f"output y0 = {fn}(x, t, {', '.join(opts)})"]
    outs = [o for o in node.output if o]
    if len(outs) > 1:
        body.append("output y1 = log_softmax(x, axis=1)")
    return Plan(_src(decls, body), {"x": node.input[0], "t": node.input[1]}, outputs=outs)


def plan(case) -> Plan:
    """The program for a single-node test, or NotExpressible."""
    from onnx_node_math import OPS as MATH, math_plan
    from onnx_node_recurrent import recurrent
    t = case.model.graph.node[0].op_type
    if t in MATH:
        return math_plan(case)
    if t == "Conv":
        return _conv(case)
    if t == "ConvTranspose":
        return _conv_transpose(case)
    if t == "Gemm":
        return _gemm(case)
    if t == "MatMul":
        return _binary(case, "{0} @ {1}")
    if t in ("BatchNormalization", "LayerNormalization", "GroupNormalization", "InstanceNormalization"):
        return _norm(case)
    if t in ("Flatten", "Reshape", "Transpose", "Concat", "Slice"):
        return _shape_op(case)
    if t in ("RNN", "LSTM", "GRU"):
        return recurrent(case)
    if t in ("NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"):
        return _loss(case)
    return _elementwise(case)


def _resolve(graph, given: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each graph parameter from `given`, by its full name or else the longest key its name ends with."""
    out = {}
    for p in graph.params:
        keys = [k for k in given if p.name == k or p.name.endswith(k)]
        if not keys:
            raise KeyError(f"no ONNX initializer for {p.name}")
        out[p.name] = np.asarray(given[max(keys, key=len)])
    return out


def run(case) -> tuple[str, str]:
    """("passed" | "not expressible" | "failed", why) for one node test, run on the numpy backend."""
    return run_tolerance(case, rtol=1e-3, atol=1e-7)


def run_tolerance(case, rtol: float, atol: float) -> tuple[str, str]:
    """As run, comparing at the given tolerance."""
    try:
        p = plan(case)
    except NotExpressible as e:
        return "not expressible", str(e)
    result = check(p.src)
    if errors(result):
        return "failed", f"nnc refused it: {errors(result)[0].message}"
    graph = result.models["m"].graph
    names = [v.name for v in case.model.graph.input]
    for inputs, expected in case.data_sets:
        named = dict(zip(names, inputs))
        try:
            got = run_graph(graph, {k: named[v] for k, v in p.feeds.items()}, _resolve(graph, p.params(named)),
                            Context(),
                            outputs=[f"y{i}" for i in range(len(p.outputs))])
        except Exception as e:  # a reference that raises is a failure to report, not a crash of the table
            return "failed", f"{type(e).__name__}: {e}"
        outs = [o.name for o in case.model.graph.output]
        for i, name in enumerate(p.outputs):
            want = expected[outs.index(name)]
            y = got[f"y{i}"]
            if y.shape != want.shape:
                return "failed", f"shape {list(y.shape)}, ONNX {list(want.shape)}"
            if y.dtype != want.dtype:
                return "failed", f"element type {y.dtype}, ONNX {want.dtype}"
            if want.dtype.kind in "biu":  # integers and bools compare exactly
                if not np.array_equal(y, want):
                    return "failed", "different values"
                continue
            if not np.allclose(y, want, rtol=rtol, atol=atol):
                return "failed", f"different numbers (max |diff| {np.max(np.abs(y - want)):.3g})"
    return "passed", ""
