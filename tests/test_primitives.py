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
from nnc.ir.types import TensorType
from nnc.ir.verify import verify
from nnc.ops import get as get_op
from nnc.passes.autodiff import differentiate
from nnc.passes.emit import Emitter
from nnc.source import Span

SPAN = Span("t.nn", 1, 1, 1, 2)


def one_op_graph(op: str, in_types: list[TensorType], attrs: dict) -> Graph:
    """A graph of inputs x0, x1, ... feeding one node of `op`; its outputs are y0, y1, ..."""
    b = GraphBuilder("t")
    ins = [b.add_input(f"x{i}", t, SPAN) for i, t in enumerate(in_types)]
    outs = Emitter(b, SPAN, "", "t")(op, *ins, **attrs)
    outs = outs if isinstance(outs, tuple) else (outs,)
    b.outputs = [(f"y{i}", o.id) for i, o in enumerate(outs)]
    return b.build()


def feeds_for(graph: Graph, rng: np.random.Generator, make=None) -> dict[str, np.ndarray]:
    """Random float64 inputs (normal), integer inputs from `make[name]` or 0..2."""
    out = {}
    for name, vid in graph.inputs:
        t = graph.type_of(vid)
        shape = tuple(t.shape)
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
    """Gradients of L = Σ_k Σ y_k·r_k (float outputs) by autodiff against central differences.

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
