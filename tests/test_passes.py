"""The backend-preparation passes, each a pure graph -> graph function, and the pipeline that runs them."""
import numpy as np
import pytest

import nnc
from helpers import ROOT
from nnc.backends import get
from nnc.elaborate.builder import GraphBuilder
from nnc.interp import run_graph
from nnc.ir.types import TensorType, sym
from nnc.ir.verify import verify
from nnc.passes.broadcast import ELEMENTWISE, explicit_broadcasts
from nnc.passes.casts import SAME_DTYPE, promote_dtypes
from nnc.passes.dce import eliminate_dead_code
from nnc.passes.emit import Emitter
from nnc.passes.fold import fold_constants
from nnc.passes.pipeline import passes_for, prepare
from nnc.source import Span

SPAN = Span("t.nn", 1, 1, 1, 2)


def build(fn, inputs):
    b = GraphBuilder("g")
    ins = [b.add_input(name, t, SPAN) for name, t in inputs]
    e = Emitter(b, SPAN, "", "n")
    b.outputs = [(f"y{i}", v.id) for i, v in enumerate(fn(e, *ins))]
    return b.build()


def mixed_graph():
    def fn(e, x, i):
        scaled = e("mul", x, e.const(0.5))  # f64 * f32 constant
        shifted = e("add", scaled, e("cast", i, dtype="f32"))
        chosen = e("where", e("compare", x, e.const(0.0), kind="gt"), shifted, e.const(2.0))
        folded = e("mul", e("add", e.const(1.5), e.const(2.0)), e("exp", e.const(0.0)))
        e("tanh", x)  # dead: reaches no output
        return [chosen, e("mul", x, folded)]
    return build(fn, [("x", TensorType("f64", (sym("N"), 3))), ("i", TensorType("i64", (sym("N"), 3)))])


def feeds():
    return {"x": np.array([[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]]), "i": np.arange(6).reshape(2, 3)}


def test_promotion_makes_operand_dtypes_equal_and_keeps_the_numbers():
    g = mixed_graph()
    assert any(len({g.type_of(n.inputs[i]).dtype for i in SAME_DTYPE[n.op]}) > 1
               for n in g.nodes if n.op in SAME_DTYPE)
    p = promote_dtypes(g)
    verify(p, full=True)
    for n in p.nodes:
        if n.op in SAME_DTYPE:
            assert len({p.type_of(n.inputs[i]).dtype for i in SAME_DTYPE[n.op]}) == 1, n.path
    assert sum(n.op == "cast" for n in p.nodes) > sum(n.op == "cast" for n in g.nodes)
    for name, want in run_graph(g, feeds(), {}).items():
        got = run_graph(p, feeds(), {})[name]
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert promote_dtypes(p) is p  # nothing left to do: the same graph


def test_folding_turns_constant_arithmetic_into_one_constant():
    g = promote_dtypes(mixed_graph())
    f = fold_constants(g)
    verify(f, full=True)
    ops = [n.op for n in f.nodes]
    assert "exp" not in ops
    assert len(eliminate_dead_code(f).nodes) < len(eliminate_dead_code(g).nodes)  # the inputs it used are dead
    assert any(n.op == "constant" and n.attr("value") == 3.5 and n.attr("dtype") == "f64" for n in f.nodes)
    for name, want in run_graph(g, feeds(), {}).items():
        np.testing.assert_array_equal(run_graph(f, feeds(), {})[name], want)


def test_dead_code_goes_and_the_interface_stays():
    g = mixed_graph()
    d = eliminate_dead_code(g)
    verify(d, full=True)
    assert "tanh" in [n.op for n in g.nodes] and "tanh" not in [n.op for n in d.nodes]
    assert d.inputs == g.inputs and d.outputs == g.outputs
    assert eliminate_dead_code(d) is d


def test_integer_constants_stay_integers():
    g = build(lambda e, i: [e("add", i, e.const(1, "i64"))], [("i", TensorType("i64", ()))])
    const = next(n for n in g.nodes if n.op == "constant")
    assert const.attr("value") == 1 and isinstance(const.attr("value"), int)
    out = run_graph(g, {"i": np.asarray(2**53 + 1, np.int64)}, {})["y0"]
    assert out.dtype == np.int64 and int(out) == 2**53 + 2


def test_the_numpy_pipeline_is_listed_in_order_and_skips_decomposition():
    assert [name for name, _ in passes_for(get("numpy"))] == ["promote_dtypes", "fold_constants", "dead_code"]

    class Narrow:
        primitives = frozenset({"add"})
    assert [name for name, _ in passes_for(Narrow())] == ["decompose", "broadcast", "promote_dtypes",
                                                          "fold_constants", "dead_code"]


def test_broadcasts_become_broadcast_to_nodes_with_the_same_numbers():
    def fn(e, x, b, c):
        return [e("add", x, b), e("mul", b, x), e("where", e("compare", x, e.const(0.0), kind="gt"), x, c),
                e("add", e("reshape", c, shape=(3, 1)), e("reshape", c, shape=(1, 3)))]
    g = build(fn, [("x", TensorType("f32", (sym("N"), 3))), ("b", TensorType("f32", (3,))),
                   ("c", TensorType("f32", (3,)))])
    e = explicit_broadcasts(g)
    verify(e, full=True)
    for n in e.nodes:
        if n.op in ELEMENTWISE:
            out = e.type_of(n.outputs[0]).shape
            assert all(e.type_of(n.inputs[i]).shape == out for i in ELEMENTWISE[n.op]), n.path
    assert sum(n.op == "broadcast_to" for n in e.nodes) >= 5
    data = {"x": np.array([[1.0, -2.0, 3.0], [-0.5, 0.0, 4.0]], np.float32),
            "b": np.array([10.0, 20.0, 30.0], np.float32), "c": np.array([7.0, 8.0, 9.0], np.float32)}
    want, got = run_graph(g, data, {}), run_graph(e, data, {})
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


@pytest.mark.parametrize("example", ["digits_mlp", "gan", "lstm_classifier", "fgsm"])
def test_every_pass_keeps_every_training_step_valid_and_its_numbers(example):
    prog = nnc.load(ROOT / "examples" / f"{example}.nn")
    for name in prog.trains:
        t = prog.train(name, seed=0)
        graph = t.compiled.graph
        prepared = prepare(graph, get("numpy"), verify_each=True)
        state = t._step.state()
        rng = np.random.default_rng(0)
        data = {}
        for n, vid in graph.inputs:
            if n in state:
                continue
            ty = graph.type_of(vid)
            shape = tuple(d if isinstance(d, int) else 3 for d in ty.shape)
            data[n] = rng.integers(0, 2, shape) if ty.is_int else rng.normal(size=shape)
        params = {p.name: state[p.name] for p in graph.params}
        ins = {**data, **{n: v for n, v in state.items() if n in dict(graph.inputs)}}
        want = run_graph(graph, ins, params)
        got = run_graph(prepared, ins, params)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{example}/{name}: {key}")
