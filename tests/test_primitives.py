"""The primitive ops: each has a numpy reference, a shape rule and a gradient rule that passes central finite
differences in float64.

The tests are driven by nnc.ir.primitives.PRIMITIVES: a primitive without an entry in EXAMPLES fails.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nnc.elaborate.builder import GraphBuilder
from nnc.interp import Context, run_graph
from nnc.ir.graph import Graph
from nnc.ir.types import TensorType, sym
from nnc.ir.verify import verify
from nnc.ops import get as get_op
from nnc.passes.autodiff import differentiate
from nnc.passes.emit import Emitter
from nnc.source import Span

SPAN = Span("t.nn", 1, 1, 1, 2)
SIZES = {"N": 2, "T": 3}  # what symbolic sizes are when the tests run a graph


def concrete(shape) -> tuple[int, ...]:
    """A shape with the symbols of SIZES substituted."""
    out = []
    for d in shape:
        if isinstance(d, int):
            out.append(d)
        else:
            out.append(sum(c * int(np.prod([SIZES[s] for s in m])) for m, c in d.terms))
    return tuple(out)


def one_op_graph(op: str, in_types: list[TensorType], attrs: dict) -> Graph:
    """A graph of inputs x0, x1, ... feeding one node of `op`; its outputs are y0, y1, ...

    A layer's parameters become further inputs (in the data's dtype); a bool input is made from a float
    input by a comparison with 0, because graphs are not fed bool arrays.
    """
    b = GraphBuilder("t")
    e = Emitter(b, SPAN, "", "t")
    ins = []
    for k, t in enumerate(in_types):
        if t.dtype == "bool":
            x = b.add_input(f"x{k}", TensorType("f64", t.shape), SPAN)
            ins.append(e("compare", x, e.const(0.0, "f64"), kind="gt"))
        else:
            ins.append(b.add_input(f"x{k}", t, SPAN))
    spec = get_op(op)
    if spec.params is None:
        outs = e(op, *ins, **attrs)
    else:
        full = {a.name: attrs.get(a.name, a.default) for a in spec.attrs}
        full, out_types = spec.output_types(list(in_types), full)
        dtype = in_types[0].dtype if in_types[0].is_float else "f32"
        params = [b.add_input(f"x{len(ins) + j}", TensorType(dtype, p.shape), SPAN)
                  for j, p in enumerate(spec.params(list(in_types), full))]
        outs = b.add_node(op, ins + params, out_types, full, SPAN, f"t.{op}", "")
    outs = tuple(outs) if isinstance(outs, (tuple, list)) else (outs,)
    b.outputs = [(f"y{k}", o.id) for k, o in enumerate(outs)]
    return b.build()


def feeds_for(graph: Graph, rng: np.random.Generator, make=None) -> dict[str, np.ndarray]:
    """Random float64 inputs (normal), integer inputs from `make[name]` or 0..2."""
    out = {}
    for name, vid in graph.inputs:
        t = graph.type_of(vid)
        shape = concrete(t.shape)
        if make and name in make:
            out[name] = np.asarray(make[name](rng, shape))
        elif t.is_float:
            out[name] = rng.normal(size=shape)
        elif t.dtype == "bool":
            out[name] = rng.random(size=shape) < 0.5
        else:
            out[name] = rng.integers(0, 3, size=shape)
    return out


def finite_difference_check(graph: Graph, feeds: dict, eps: float = 1e-6, rtol: float = 1e-5,
                            atol: float = 1e-7) -> int:
    """Gradients of L = Σ_k Σ y_k·r_k (float outputs) by autodiff against central differences; the gradient
    graph decomposed to primitives must compute the same.

    Returns how many inputs were checked."""
    b = GraphBuilder(graph.name)
    b.values, b.nodes, b.inputs = dict(graph.values), list(graph.nodes), list(graph.inputs)
    b.next_id = max(graph.values) + 1
    for n in graph.nodes:
        for o in n.outputs:
            b.producer[o] = n
    e = Emitter(b, SPAN, "", "check")
    loss = None
    base = run_graph(graph, feeds, {}, Context())
    rng = np.random.default_rng(1)
    for name, vid in graph.outputs:
        t = graph.type_of(vid)
        if not t.is_float:
            continue
        r = b.add_input(f"__r_{name}", TensorType("f64", t.shape), SPAN)
        feeds[f"__r_{name}"] = rng.normal(size=np.shape(base[name]))
        y = e("cast", _tensor(b, vid), dtype="f64")
        term = e("sum", e("mul", y, r))
        loss = term if loss is None else e("add", loss, term)
    assert loss is not None, "no float output to differentiate"
    b.outputs = [("__loss", loss.id)]
    projected = b.build()
    wrt = [(n, v) for n, v in graph.inputs if graph.type_of(v).is_float]
    full, grads = differentiate(projected, loss.id, [v for _, v in wrt])
    outputs = tuple((f"grad:{n}", grads[v]) for n, v in wrt if grads[v] is not None)
    full = dataclasses.replace(full, outputs=outputs + (("__loss", loss.id),))
    verify(full)
    got = run_graph(full, feeds, {}, Context())
    from nnc.ir.primitives import PRIMITIVES
    from nnc.passes.decompose import decompose
    flat = decompose(full, frozenset())  # the gradient, too, is written in ops that reduce to primitives
    assert not {n.op for n in flat.nodes} - PRIMITIVES
    for key, value in run_graph(flat, feeds, {}, Context()).items():
        np.testing.assert_allclose(value, got[key], rtol=1e-12, atol=1e-12, err_msg=f"decomposed {key}")

    def loss_at() -> float:
        return float(run_graph(projected, feeds, {}, Context())["__loss"])

    for name, _ in wrt:
        x = feeds[name] = np.array(feeds[name], dtype=np.float64)
        numeric = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            old = x[idx]
            x[idx] = old + eps
            up = loss_at()
            x[idx] = old - eps
            down = loss_at()
            x[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        analytic = got.get(f"grad:{name}", np.zeros_like(numeric))
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol, err_msg=f"gradient of {name}")
    return len(wrt)


def _tensor(b: GraphBuilder, vid: int):
    from nnc.elaborate.values import Tensor
    return Tensor(vid, b.values[vid].type)


def f64(*shape) -> TensorType:
    return TensorType("f64", tuple(shape))


# --- cast ---------------------------------------------------------------------------------------------------

def test_cast_reference_and_type():
    g = one_op_graph("cast", [TensorType("f32", (2, 3))], {"dtype": "i32"})
    assert g.type_of(dict(g.outputs)["y0"]) == TensorType("i32", (2, 3))
    y = run_graph(g, {"x0": np.array([[1.7, -2.2, 0.0], [3.0, 4.5, -0.5]], np.float32)}, {})["y0"]
    assert y.dtype == np.int32 and y.tolist() == [[1, -2, 0], [3, 4, -0]]


def test_cast_gradient_goes_back_to_the_input_dtype():
    b = GraphBuilder("t")
    x = b.add_input("x", TensorType("f32", (3,)), SPAN)
    e = Emitter(b, SPAN, "", "t")
    loss = e("sum", e("cast", x, dtype="f64"))
    b.outputs = [("loss", loss.id)]
    full, grads = differentiate(b.build(), loss.id, [x.id])
    assert full.type_of(grads[x.id]) == TensorType("f32", (3,))


def test_cast_of_an_integer_has_no_gradient():
    op = get_op("cast")
    b = GraphBuilder("t")
    i = b.add_input("i", TensorType("i32", (3,)), SPAN)
    e = Emitter(b, SPAN, "", "t")
    y = e("cast", i, dtype="f32")
    assert op.vjp(e, [i], [y], [y], {"dtype": "f32"}) == [None]


def test_cast_passes_finite_differences():
    g = one_op_graph("cast", [f64(2, 3)], {"dtype": "f64"})
    assert finite_difference_check(g, feeds_for(g, np.random.default_rng(0))) == 1


def test_cast_rejects_an_unknown_dtype():
    from nnc.ops.attrs import AttrError, normalize
    with pytest.raises(AttrError, match="f16"):
        normalize(get_op("cast").attr("dtype").kind, "f16", "dtype")


# --- every primitive: a case, a gradient rule, finite differences -------------------------------------------

def positive(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def away_from_zero(rng, shape):
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.3, 1.5, size=shape)


def ids(n: int):
    return lambda rng, shape: rng.integers(0, n, size=shape)


def distinct(rng, shape):
    """Values at least 0.1 apart, so that no finite-difference step changes which one is largest."""
    n = int(np.prod(shape))
    return rng.permutation(n).reshape(shape) * 0.1 + 0.05


def conv_attrs(sp: int, stride, padding, lhs, rhs, groups: int = 1) -> dict:
    return {"stride": stride, "padding": padding, "lhs_dilation": lhs, "rhs_dilation": rhs, "groups": groups}


def i64(*shape) -> TensorType:
    return TensorType("i64", tuple(shape))


N_ = sym("N")
# op -> cases of (input types, attributes, {input name: maker of its values})
PRIM_CASES: dict[str, list[tuple]] = {
    "constant": [([], {"value": 2.5, "dtype": "f64"}, {})],
    "cast": [([f64(2, 3)], {"dtype": "f64"}, {}), ([f64(3)], {"dtype": "i32"}, {})],
    "neg": [([f64(2, 3)], {}, {})],
    "exp": [([f64(2, 3)], {}, {})],
    "log": [([f64(2, 3)], {}, {"x0": positive})],
    "sqrt": [([f64(2, 3)], {}, {"x0": positive})],
    "tanh": [([f64(2, 3)], {}, {})],
    "sigmoid": [([f64(2, 3)], {}, {})],
    "abs": [([f64(2, 3)], {}, {"x0": away_from_zero})],
    "cos": [([f64(2, 3)], {}, {})],
    "sign": [([f64(2, 3)], {}, {"x0": away_from_zero})],
    "add": [([f64(2, 3), f64(3)], {}, {})],
    "sub": [([f64(2, 1), f64(2, 3)], {}, {})],
    "mul": [([f64(2, 3), f64(2, 3)], {}, {})],
    "div": [([f64(2, 3), f64(1, 3)], {}, {"x1": positive})],
    "maximum": [([f64(2, 3), f64(3)], {}, {"x0": distinct, "x1": lambda r, s: distinct(r, s) + 0.02})],
    "minimum": [([f64(2, 3), f64(2, 3)], {}, {"x0": distinct, "x1": lambda r, s: distinct(r, s)[::-1] + 0.02})],
    "pow": [([f64(2, 3), f64(3)], {}, {"x0": positive})],
    "compare": [([f64(2, 3), f64(3)], {"kind": k}, {}) for k in ("lt", "le", "gt", "ge", "eq", "ne")],
    "where": [([TensorType("bool", (2, 3)), f64(2, 3), f64(3)], {}, {})],
    "sum": [([f64(2, 3, 4)], {"axis": (0, 2)}, {}), ([f64(2, 3)], {"axis": 1, "keepdims": True}, {})],
    "max": [([f64(2, 3, 4)], {"axis": (1,)}, {"x0": distinct}), ([f64(2, 3)], {}, {"x0": distinct})],
    "argmax": [([f64(2, 3)], {"axis": 1}, {"x0": distinct})],
    "matmul": [([f64(2, 3, 4), f64(4, 5)], {}, {}), ([f64(3), f64(3, 2)], {}, {})],
    "reshape": [([f64(2, 3, 4)], {"shape": (-1, 4)}, {})],
    "reshape_like": [([f64(6, 2), f64(3, 4)], {}, {})],
    "broadcast_to": [([f64(3, 1), f64(2, 3, 4)], {}, {}), ([f64(3)], {"shape": (2, 3)}, {})],
    "transpose": [([f64(2, 3, 4)], {"perm": (2, 0, 1)}, {})],
    "slice": [([f64(2, 5)], {"start": 1, "end": 5, "step": 2}, {})],
    "pad": [([f64(2, 4)], {"lo": (1, -1), "hi": (0, 2), "value": 0.5}, {})],
    "reverse": [([f64(2, 3, 4)], {"axes": (0, 2)}, {})],
    "concat": [([f64(2, 3), f64(2, 1)], {"axis": 1}, {})],
    "iota": [([f64(2, 4)], {"axis": 1}, {})],
    "gather": [([f64(4, 3), i64(2, 5)], {}, {"x1": ids(4)})],
    "scatter_add": [([f64(4, 3), i64(5), f64(5, 3)], {}, {"x1": ids(4)})],
    "conv": [([f64(2, 4, 5), f64(4, 2, 2)], conv_attrs(1, (2,), ((1, 0),), (1,), (2,), 2), {}),
             ([f64(1, 2, 4, 3), f64(2, 2, 2, 2)], conv_attrs(2, (1, 2), ((0, 1), (-1, 1)), (2, 1), (1, 1)), {}),
             ([f64(2, 2, 3, 3), f64(4, 1, 3, 2)], conv_attrs(2, (2, 1), ((1, 1), (0, 0)), (1, 1), (1, 2), 2), {})],
    "reduce_window": [([f64(2, 2, 5)], {"kind": "max", "kernel": (2,), "stride": (2,), "padding": ((1, 0),)},
                       {"x0": distinct}),
                      ([f64(1, 2, 4, 5)], {"kind": "sum", "kernel": (2, 3), "stride": (1, 2),
                                           "padding": ((1, 1), (0, 0))}, {})],
    "select_and_scatter_add": [([f64(2, 2, 3), f64(2, 2, 5)], {"kernel": (2,), "stride": (2,),
                                                                "padding": ((1, 0),)}, {"x1": distinct})],
    "pool_select": [([f64(2, 2, 5), f64(2, 2, 5)], {"kernel": (3,), "stride": (2,), "padding": ((1, 1),)},
                     {"x1": distinct})],
    "size": [([f64(N_, 3)], {"axis": (0, 1)}, {})],
    "random_uniform": [([f64(2, 3), i64(), i64()], {"stream": 3, "dtype": "f64"}, {})],
    "rnn": [([f64(2, 3, 2)], {"units": 3}, {})],
    "lstm": [([f64(2, 3, 2)], {"units": 2, "return_state": True}, {})],
    "gru": [([f64(2, 3, 2), f64(2, 2)], {"units": 2, "initial_states": 1}, {})],
    "recurrent_backward": [([f64(2, 3, 2), f64(3, 2), f64(3, 3), f64(3), f64(3), f64(2, 3, 3), f64(2, 3)],
                            {"kind": "rnn"}, {})],
}


def test_every_primitive_is_an_op_with_a_case():
    from nnc.ir.primitives import PRIMITIVES
    from nnc.ops import registry
    assert not sorted(PRIMITIVES - set(registry())), "primitives that are no op"
    assert not sorted(PRIMITIVES - set(PRIM_CASES)), "primitives without a case in PRIM_CASES"
    assert not sorted(set(PRIM_CASES) - PRIMITIVES), "cases of ops that are not primitives"


def test_every_primitive_has_a_reference_and_a_gradient_rule():
    from nnc.ir.primitives import NO_GRADIENT_YET, PRIMITIVES
    assert not [n for n in PRIMITIVES if get_op(n).reference is None]
    lacking = {n for n in PRIMITIVES if get_op(n).vjp is None}
    assert lacking == NO_GRADIENT_YET, f"primitives without a gradient rule: {sorted(lacking)}"


def _prim_params():
    return [pytest.param(name, k, id=f"{name}-{k}") for name in sorted(PRIM_CASES)
            for k in range(len(PRIM_CASES[name]))]


@pytest.mark.parametrize("name,k", _prim_params())
def test_primitive_gradient_passes_finite_differences(name, k):
    from nnc.ir.primitives import NOT_DIFFERENTIABLE
    types, attrs, makers = PRIM_CASES[name][k]
    graph = one_op_graph(name, types, attrs)
    verify(graph)
    feeds = feeds_for(graph, np.random.default_rng(k), makers)
    outs = run_graph(graph, feeds, {}, Context())
    for (out, vid), value in zip(graph.outputs, outs.values()):
        t = graph.type_of(vid)
        assert value.shape == concrete(t.shape) and str(value.dtype) == NP_NAMES[t.dtype], (out, value.dtype)
    floats_in = [n for n, v in graph.inputs if graph.type_of(v).is_float]
    floats_out = [n for n, v in graph.outputs if graph.type_of(v).is_float]
    if get_op(name).vjp is None:
        pytest.skip(f"{name} has no gradient rule yet (nnc.ir.primitives.NO_GRADIENT_YET)")
    if name in NOT_DIFFERENTIABLE or not floats_in or not floats_out:
        b = GraphBuilder("t")
        ins = [b.add_input(f"x{j}", t, SPAN) for j, t in enumerate(types)]
        e = Emitter(b, SPAN, "", "t")
        node = graph.nodes[0]
        out_t = [_tensor(b, b.new_value(graph.type_of(o)).id) for o in node.outputs]
        grads = get_op(name).vjp(e, ins, out_t, out_t, node.attr_dict)
        if name in NOT_DIFFERENTIABLE or not floats_out:
            assert all(g is None for g in grads), name
        return
    assert finite_difference_check(graph, feeds) == len(floats_in)


NP_NAMES = {"f32": "float32", "f64": "float64", "i32": "int32", "i64": "int64", "bool": "bool"}
