"""The .nn program for an ONNX elementwise, comparison, reduction or indexing node test (see onnx_node_programs.py).

These ops map onto nnc's arithmetic and built-ins as an importer writes them: Add as `a + b`, Neg as `-x`,
Max of several inputs as nested `maximum`, ReduceMin as `-max(-x)` (on bools
`max(where(x, 0, 1)) == 0`), ArgMin as `argmax(-x)`, ArgMax with
select_last_index as `n - 1 - argmax(reverse(x))`, HardSigmoid as `clip(alpha * x + beta, 0, 1)`, Gather on
another axis than 0 as `transpose`, `gather`, `transpose` back, negative Gather and OneHot indices wrapped
with `where(i < 0, i + n, i)` (ONNX counts them from the end; nnc's gather and one_hot do not), OneHot's
values as `off + (on - off) * one_hot(...)`, Dropout in inference as `dropout` (the identity). Constant
inputs (axes, Clip's bounds, OneHot's depth and values, Dropout's ratio) become compile-time values, as an
importer writes initializers. What nnc cannot write raises `NotExpressible` with the reason.
"""
from __future__ import annotations

import numpy as np

from onnx_node_programs import NotExpressible, Plan, _const, _shape, _src, attrs

NN_TYPES = {1: "f32", 11: "f64", 6: "i32", 7: "i64", 9: "bool"}  # bool: `input c: bool[...]` (ir/types.py)
SMALL_INTS = "a narrow (2- to 16-bit) or unsigned integer type (nnc has i32, i64)"
SMALL_FLOATS = "a float type of 16 bits or fewer (nnc has f32, f64)"
BINARY = {"Add": "{0} + {1}", "Sub": "{0} - {1}", "Mul": "{0} * {1}", "Div": "{0} / {1}", "Pow": "{0} ** {1}",
          "Equal": "{0} == {1}", "Greater": "{0} > {1}", "Less": "{0} < {1}", "GreaterOrEqual": "{0} >= {1}",
          "LessOrEqual": "{0} <= {1}"}
UNARY = {"Neg": "-{0}", "Abs": "abs({0})", "Exp": "exp({0})", "Log": "log({0})", "Sqrt": "sqrt({0})", "Sign": "sign({0})"}
VARIADIC = ("Max", "Min", "Sum", "Mean")
REDUCE = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin")
OPS = tuple(BINARY) + tuple(UNARY) + VARIADIC + REDUCE + ("Clip", "Where", "Cast", "ArgMax", "ArgMin", "Gather",
                                                          "OneHot", "HardSigmoid", "Dropout", "Erf")


def _kind(t: int) -> str:
    """What nnc lacks for ONNX element type t, grouped so that the table's reasons stay short."""
    if t in (2, 3, 4, 5, 12, 13, 21, 22, 25, 26):
        return SMALL_INTS
    if t == 8:
        return "strings"
    return SMALL_FLOATS


def _dtype(vi) -> str:
    t = vi.type.tensor_type.elem_type
    if t not in NN_TYPES:
        raise NotExpressible(f"input of {_kind(t)}")
    return NN_TYPES[t]


def _decl(name: str, vi) -> str:
    return f"input {name}: {_dtype(vi)}[{', '.join(str(d) for d in _shape(vi))}]"


def _inputs(case, names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Declarations x0, x1, ... for the node inputs `names` (all of one element type: ONNX's ops keep it,
    nnc would promote a mix); and the feeds."""
    vis = {v.name: v for v in case.model.graph.input}
    if any(0 in _shape(vis[n]) for n in names):
        raise NotExpressible("a zero-sized axis")
    if len({_dtype(vis[n]) for n in names}) > 1:
        raise NotExpressible("mixed element types (ONNX keeps the first input's; nnc promotes)")
    nn = [f"x{i}" for i in range(len(names))]
    return [_decl(a, vis[b]) for a, b in zip(nn, names)], dict(zip(nn, names))


def _plan(case, names: list[str], body: list[str]) -> Plan:
    decls, feeds = _inputs(case, names)
    node = case.model.graph.node[0]
    return Plan(_src(decls, body), feeds, outputs=[node.output[0]])


def _number(v) -> str:
    v = np.asarray(v).reshape(-1)[0]
    return repr(int(v)) if np.issubdtype(v.dtype, np.integer) else repr(float(v))


def _reduce(case, node, a: dict) -> Plan:
    rank = len(_shape({v.name: v for v in case.model.graph.input}[node.input[0]]))
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = [int(v) for v in _const(case, node.input[1])]
    keep = "true" if a.get("keepdims", 1) else "false"
    if not axes and a.get("noop_with_empty_axes", 0):
        return _plan(case, [node.input[0]], ["output y0 = x0"])
    axis = "" if not axes else f", axis={sorted(int(v) % rank for v in axes)}"
    fn = {"ReduceSum": "sum", "ReduceMean": "mean", "ReduceMax": "max", "ReduceMin": "max"}[node.op_type]
    expr = f"{fn}(x0{axis}, keepdims={keep})"
    if node.op_type == "ReduceMin":  # -max(-x); on bools (no tensor `not`): true where no element is false
        boolean = _dtype({v.name: v for v in case.model.graph.input}[node.input[0]]) == "bool"
        expr = f"max(where(x0, 0, 1){axis}, keepdims={keep}) == 0" if boolean else f"-max(-x0{axis}, keepdims={keep})"
    return _plan(case, [node.input[0]], [f"output y0 = {expr}"])


def _arg(case, node, a: dict) -> Plan:
    shape = _shape({v.name: v for v in case.model.graph.input}[node.input[0]])
    axis = a.get("axis", 0) % len(shape)
    keep = "true" if a.get("keepdims", 1) else "false"
    x = "-x0" if node.op_type == "ArgMin" else "x0"
    if a.get("select_last_index", 0):
        expr = f"{shape[axis] - 1} - argmax(reverse({x}, [{axis}]), axis={axis}, keepdims={keep})"
    else:
        expr = f"argmax({x}, axis={axis}, keepdims={keep})"
    return _plan(case, [node.input[0]], [f"output y0 = {expr}"])


def _gather(case, node, a: dict) -> Plan:
    vis = {v.name: v for v in case.model.graph.input}
    x, ids = _shape(vis[node.input[0]]), _shape(vis[node.input[1]])
    if _dtype(vis[node.input[1]]) not in ("i32", "i64"):
        raise NotExpressible("indices that are not integers")
    axis = a.get("axis", 0) % len(x)
    decls = [_decl("x0", vis[node.input[0]]), _decl("x1", vis[node.input[1]])]
    wrapped = f"where(x1 < 0, x1 + {x[axis]}, x1)"
    if axis == 0:
        body = [f"output y0 = gather(x0, {wrapped})"]
    else:  # the gathered axis first, then ids' axes moved back to where ONNX puts them
        front = [axis] + [i for i in range(len(x)) if i != axis]
        k, r = len(ids), len(x) - 1
        back = list(range(k, k + axis)) + list(range(k)) + list(range(k + axis, k + r))
        body = [f"t = gather(transpose(x0, {front}), {wrapped})", f"output y0 = transpose(t, {back})"]
    return Plan(_src(decls, body), {"x0": node.input[0], "x1": node.input[1]}, outputs=[node.output[0]])


def _one_hot(case, node, a: dict) -> Plan:
    vis = {v.name: v for v in case.model.graph.input}
    ids = _shape(vis[node.input[0]])
    if _dtype(vis[node.input[0]]) not in ("i32", "i64"):
        raise NotExpressible("float indices (nnc's one_hot takes integer ids)")
    values = vis[node.input[2]].type.tensor_type.elem_type
    if values not in (1, 11):
        raise NotExpressible("values that are not f32 or f64 (one_hot gives f32 or f64, and nnc has no cast)")
    depth = int(np.asarray(_const(case, node.input[1])).reshape(-1)[0])
    off, on = (float(v) for v in _const(case, node.input[2]))
    axis = a.get("axis", -1) % (len(ids) + 1)
    oh = f'one_hot(where(x0 < 0, x0 + {depth}, x0), {depth}, dtype="{NN_TYPES[values]}")'
    if axis != len(ids):
        perm = list(range(axis)) + [len(ids)] + list(range(axis, len(ids)))
        oh = f"transpose({oh}, {perm})"
    body = [f"output y0 = {off!r} + {on - off!r} * {oh}"]
    return Plan(_src([_decl("x0", vis[node.input[0]])], body), {"x0": node.input[0]}, outputs=[node.output[0]])


def _clip(case, node) -> Plan:
    ins = list(node.input) + [""] * (3 - len(node.input))
    lo = _number(_const(case, ins[1])) if ins[1] else None
    hi = _number(_const(case, ins[2])) if ins[2] else None
    vis = {v.name: v for v in case.model.graph.input}
    floats = _dtype(vis[node.input[0]]) in ("f32", "f64")
    if lo is not None and hi is not None and floats and float(lo) <= float(hi):
        expr = f"clip(x0, {lo}, {hi})"
    else:  # ONNX's definition, min(max(x, lo), hi): integers, one bound, or lo above hi (nnc's clip refuses it)
        expr = "x0" if lo is None else f"maximum(x0, {lo})"
        expr = expr if hi is None else f"minimum({expr}, {hi})"
    return _plan(case, [node.input[0]], [f"output y0 = {expr}"])


def _dropout(case, node, a: dict) -> Plan:
    if len([o for o in node.output if o]) > 1:
        raise NotExpressible("the mask output")
    ins = list(node.input) + [""] * (3 - len(node.input))
    training = bool(np.asarray(_const(case, ins[2])).reshape(-1)[0]) if ins[2] else False
    ratio = float(np.asarray(_const(case, ins[1])).reshape(-1)[0]) if ins[1] else a.get("ratio", 0.5)
    if training and ratio > 0:
        raise NotExpressible("training mode (ONNX's random mask)")
    return _plan(case, [node.input[0]], [f"output y0 = dropout(x0, p={ratio!r})"])


def math_plan(case) -> Plan:
    """The program for one node test of the ops in OPS, or NotExpressible."""
    node = case.model.graph.node[0]
    t = node.op_type
    a = attrs(node)
    if t in BINARY:
        plan = _plan(case, list(node.input), [f"output y0 = {BINARY[t].format('x0', 'x1')}"])
        if t == "Div" and "input x0: i" in plan.src:
            raise NotExpressible("integer division: nnc's `/` divides truly, as PyTorch's does (f32); "
                                 "ONNX's Div on integers truncates")
        return plan
    if t in UNARY:
        return _plan(case, [node.input[0]], [f"output y0 = {UNARY[t].format('x0')}"])
    if t in VARIADIC:
        names = [f"x{i}" for i in range(len(node.input))]
        fn = {"Max": "maximum", "Min": "minimum"}.get(t)
        expr = names[0]
        for n in names[1:]:
            expr = f"{fn}({expr}, {n})" if fn else f"{expr} + {n}"
        expr = f"({expr}) / {len(names)}.0" if t == "Mean" else expr
        return _plan(case, list(node.input), [f"output y0 = {expr}"])
    if t in REDUCE:
        return _reduce(case, node, a)
    if t in ("ArgMax", "ArgMin"):
        return _arg(case, node, a)
    if t == "Gather":
        return _gather(case, node, a)
    if t == "OneHot":
        return _one_hot(case, node, a)
    if t == "Clip":
        return _clip(case, node)
    if t == "Dropout":
        return _dropout(case, node, a)
    if t == "HardSigmoid":
        alpha, beta = a.get("alpha", 0.2), a.get("beta", 0.5)
        return _plan(case, [node.input[0]], [f"output y0 = clip({alpha!r} * x0 + {beta!r}, 0.0, 1.0)"])
    vis = {v.name: v for v in case.model.graph.input}
    if t == "Where":  # the bool condition and the two branches, of one element type
        decls = [_decl(f"x{i}", vis[n]) for i, n in enumerate(node.input)]
        return Plan(_src(decls, ["output y0 = where(x0, x1, x2)"]), {f"x{i}": n for i, n in enumerate(node.input)},
                    outputs=[node.output[0]])
    if t == "Cast":
        _dtype(vis[node.input[0]])
        to = a["to"]
        if to not in NN_TYPES:
            raise NotExpressible(f"output of {_kind(to)}")
        raise NotExpressible("no cast built-in (nnc's cast op is internal)")
    _dtype(vis[node.input[0]])
    raise NotExpressible("no erf built-in (nnc's erf op is internal; gelu uses it)")
