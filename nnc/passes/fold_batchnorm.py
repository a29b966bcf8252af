"""Batchnorm folding for inference: a convolution or dense layer followed by batchnorm becomes one layer.

In inference mode batchnorm is affine per channel: y = (x − mean)·s + b with s = w / sqrt(var + eps).
When x is the output of a convolution (or of a dense layer on [N, units]) read by nothing else, the scale
goes into the filters and the shift into the bias:

    conv(x, W) (+ c)  →  bn  ==  conv(x, W·s[:, None, ...]) + ((c − mean)·s + b)

so the graph keeps the layer and loses the batchnorm. The new filters and bias depend on parameters and
state only; the llvm executable computes them once when the weights are loaded (nnc/passes/hoist.py),
not on every call. Training graphs never hold a `batchnorm` node (nnc/passes/training.py rewrites it with
batch statistics), so every one this pass sees is in inference mode. The result differs from the oracle's
by rounding only (the products are formed in another order).
"""
from __future__ import annotations

from ..ir.graph import Graph, Node
from .rewrite import rewrite

CONVS = frozenset({"conv1d", "conv2d", "conv3d"})


def fold_batchnorm(graph: Graph) -> Graph:
    """A copy of `graph` in which every batchnorm reading the sole use of a conv or dense output is folded
    into that layer's weights and bias (the layer's node is replaced, the batchnorm's disappears)."""
    pairs = _pairs(graph)
    if not pairs:
        return graph
    folded_layers = {layer.outputs[0]: bn for layer, bn in pairs}
    bn_nodes = {bn.outputs[0] for _, bn in pairs}
    layer_ins: dict[int, list] = {}

    def replace(emit, node: Node, ins):
        if node.outputs[0] in folded_layers:
            layer_ins[node.outputs[0]] = (node, ins)
            return list(ins[:1])  # a placeholder: the batchnorm below emits the folded layer
        if node.outputs[0] in bn_nodes:
            layer, lins = layer_ins[node.inputs[0]]
            return [_folded(emit, layer, lins, ins, node.attr("eps", 1e-5))]
        return None

    new, _ = rewrite(graph, replace)
    from .dce import eliminate_dead_code
    return eliminate_dead_code(new)


def _pairs(graph: Graph) -> list[tuple[Node, Node]]:
    """(layer, batchnorm) pairs that fold: the layer's one output is read by the batchnorm alone."""
    uses: dict[int, int] = {}
    for n in graph.nodes:
        for i in n.inputs:
            uses[i] = uses.get(i, 0) + 1
    for _, v in graph.outputs:
        uses[v] = uses.get(v, 0) + 1
    producer = graph.producer_map()
    out = []
    for bn in graph.nodes:
        if bn.op != "batchnorm" or len(bn.inputs) != 5:
            continue
        layer = producer.get(bn.inputs[0])
        if layer is None or len(layer.outputs) != 1 or uses.get(layer.outputs[0]) != 1:
            continue
        if layer.op in CONVS or (layer.op == "dense" and graph.type_of(layer.outputs[0]).rank == 2):
            if graph.type_of(layer.inputs[1]).dtype == graph.type_of(bn.outputs[0]).dtype:
                out.append((layer, bn))
    return out


def _folded(emit, layer: Node, lins, bn_ins, eps: float):
    """The layer's op again, with the batchnorm's scale in its weight and its shift in its bias."""
    x, w = lins[0], lins[1]
    _, gamma, beta, mean, var = bn_ins
    dt = w.type.dtype
    scale = emit("div", gamma, emit("sqrt", emit("add", var, emit.const(eps, dt))))  # [C]
    rank = w.type.rank
    w2 = emit("mul", w, emit("reshape", scale, shape=(-1,) + (1,) * (rank - 1)))
    attrs = dict(layer.attrs)
    shift = mean if not attrs.get("bias") else emit("sub", mean, lins[2])  # mean − c
    b2 = emit("sub", beta, emit("mul", shift, scale))                     # b − (mean − c)·s
    attrs["bias"] = True
    return emit.resolved(layer.op, x, w2, b2, **attrs)
