"""Passes that prepare a graph for differentiation and training.

expand_grads replaces each `grad(y, x)` node by the nodes that compute it
(FGSM: x + eps·sign(grad(loss, x))). training_mode rewrites the ops whose
meaning differs in training: dropout becomes x·mask with a random mask, and
batchnorm uses the batch's statistics and yields new running ones.
dropout_on rewrites dropout alone (Monte-Carlo dropout at inference).

Random masks come from the counter-based generator: a graph that draws any
gets two i64 scalar inputs, the random key (`nnc.key`, the seed) and the
counter (`nnc.step`, the step or call number); each mask node has its own
stream, fixed here from its path. Training mode and Monte-Carlo dropout are
thus decided when a graph is built, never by flags read at run time.
"""
from __future__ import annotations

import dataclasses

from ..elaborate.values import Tensor
from ..ir.graph import Graph
from ..ir.types import TensorType
from ..ops._philox import stream_of
from .autodiff import differentiate
from .rewrite import rewrite

KEY_INPUT = "nnc.key"  # the random key: the seed, an i64 scalar
STEP_INPUT = "nnc.step"  # the step (training) or call (Monte-Carlo dropout) counter, an i64 scalar
COUNTER_TYPE = TensorType("i64", ())


def counter_inputs(builder) -> tuple[Tensor, Tensor]:
    """The graph's random key and step counter inputs, added when it has none yet."""
    found = dict(builder.inputs)
    out = []
    for name in (KEY_INPUT, STEP_INPUT):
        vid = found.get(name)
        out.append(Tensor(vid, builder.values[vid].type) if vid is not None
                   else builder.add_input(name, COUNTER_TYPE, None))
    return out[0], out[1]


def _dropout(emit, node, ins):
    p = node.attr("p")
    if p == 0:
        return [ins[0]]
    key, step = counter_inputs(emit.builder)
    return [emit("mul", ins[0], emit("dropout_mask", ins[0], key, step, p=p, stream=stream_of(node.path)))]


RANDOM_OPS = frozenset({"rand", "randn"})


def _counted_draw(emit, node, ins):
    """rand/randn with the graph's key and step counter as inputs: new numbers at every step or call."""
    key, step = counter_inputs(emit.builder)
    return [emit(node.op, ins[0], key, step, **node.attr_dict)]


def random_on(graph: Graph) -> Graph:
    """Every rand/randn drawing from the key and the step counter (added as inputs when missing)."""
    if not any(n.op in RANDOM_OPS and len(n.inputs) == 1 for n in graph.nodes):
        return graph
    return rewrite(graph, lambda emit, node, ins: _counted_draw(emit, node, ins)
                   if node.op in RANDOM_OPS and len(ins) == 1 else None)[0]


def dropout_on(graph: Graph) -> Graph:
    """Every dropout drawing its mask (Monte-Carlo dropout); batchnorm keeps its running statistics."""
    return rewrite(graph, lambda emit, node, ins: _dropout(emit, node, ins) if node.op == "dropout" else None)[0]


def expand_grads(graph: Graph) -> Graph:
    while True:
        index = next((i for i, n in enumerate(graph.nodes) if n.op == "grad"), None)
        if index is None:
            return graph
        node = graph.nodes[index]
        y, x = node.inputs
        prefix = dataclasses.replace(graph, nodes=graph.nodes[:index], outputs=())
        with_grad, grads = differentiate(prefix, y, [x], tag=f"{node.name}")
        gradient = grads[x]
        rest = graph.nodes[index + 1:]
        if gradient is None:  # y does not depend on x: the gradient is zero
            from ..ops._prims import zeros_like
            from .emit import Emitter, builder_from, tensor
            b = builder_from(with_grad)
            gradient = zeros_like(Emitter(b, node.span, node.scope, node.name), tensor(b, x)).id  # not x·0: NaN at inf
            with_grad = b.build()
        remap = {node.outputs[0]: gradient}
        nodes = list(with_grad.nodes) + [dataclasses.replace(n, inputs=tuple(remap.get(i, i) for i in n.inputs))
                                         for n in rest]
        values = dict(with_grad.values)
        values.update({v: graph.values[v] for n in rest for v in n.outputs})
        outputs = tuple((name, remap.get(v, v)) for name, v in graph.outputs)
        graph = dataclasses.replace(graph, nodes=tuple(nodes), values=values, outputs=outputs)


def training_mode(graph: Graph) -> tuple[Graph, dict[str, int]]:
    """The graph as it runs in training, and for each batchnorm state its new value's id."""
    params = graph.param_by_value()
    updates: dict[str, object] = {}

    def replace(emit, node, ins):
        if node.op == "dropout":
            return _dropout(emit, node, ins)
        if node.op in RANDOM_OPS and len(ins) == 1:
            return _counted_draw(emit, node, ins)
        if node.op == "batchnorm":
            x, w, b, running_mean, running_var = ins
            rank = x.type.rank
            axes = (0,) + tuple(range(2, rank))
            # one op for its closed-form gradient (nnc/ops/batchnorm_train.py): two reductions, one pass
            y, mean, var = emit("batchnorm_train", x, w, b, eps=node.attr("eps"))
            m = node.attr("momentum")
            n = emit("size", x, axis=axes)
            unbiased = emit("mul", var, emit("div", n, emit("sub", n, emit.const(1.0))))
            for state, batch_value in ((running_mean, mean), (running_var, unbiased)):
                name = params[node.inputs[ins.index(state)]].name
                if name not in updates:  # a layer called twice updates its statistics once, from the first call
                    updates[name] = emit("add", emit("mul", state, emit.const(1 - m)),
                                         emit("mul", emit("reshape", batch_value, shape=(-1,)), emit.const(m)))
            return [y]
        return None

    new, _ = rewrite(graph, replace)
    return new, {name: t.id for name, t in updates.items()}
