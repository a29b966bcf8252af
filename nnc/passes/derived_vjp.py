"""The gradient rule of an op that has none of its own but a decomposition into simpler ops.

attention_backward and pair_loss_grad (the gradients of attention and of the
contrastive and triplet losses) are written as kernels for speed, and have a
`decompose` rule in simpler ops for backends without those kernels. A second
derivative through them (a gradient penalty on a critic with attention)
differentiates that decomposition: it is built in a scratch graph whose
inputs stand for the op's inputs and the cotangents, differentiated there
with Σ⟨output, cotangent⟩ as the scalar, and the gradient's nodes are copied
into the graph being built with the stand-ins replaced by the real values.
Working apart keeps the cotangents out of the differentiation (they are
constants of this rule) without a stop_gradient, so the result can itself be
differentiated again.
"""
from __future__ import annotations

from ..elaborate.builder import GraphBuilder
from ..elaborate.values import Tensor
from .emit import Emitter


def vjp_from_decomposition(emit: Emitter, op, ins: list[Tensor], outs: list[Tensor], gs: list, attrs: dict) -> list:
    """One gradient (or None) per input of `op`, for the cotangents `gs` of its outputs, in nnc ops."""
    from .autodiff import differentiate
    scratch = GraphBuilder("vjp")
    stand_ins = [scratch.add_input(f"x{i}", t.type, None) for i, t in enumerate(ins)]
    cotangents = {i: scratch.add_input(f"h{i}", g.type, None) for i, g in enumerate(gs) if g is not None}
    local = Emitter(scratch, emit.span, emit.scope, emit.prefix)
    pieces = list(op.decompose(local, stand_ins, [o.type for o in outs], attrs))
    loss = None
    for i, h in cotangents.items():
        term = local("sum", local("mul", pieces[i], h))
        loss = term if loss is None else local("add", loss, term)
    wrt = [x.id for x, t in zip(stand_ins, ins) if t.type.is_float]
    graph, grads = differentiate(scratch.build(), loss.id, wrt, tag="d")
    remap = {x.id: t.id for x, t in zip(stand_ins, ins)}
    remap.update({cotangents[i].id: gs[i].id for i in cotangents})
    needed = {g for g in grads.values() if g is not None}
    for node in reversed(graph.nodes):
        if any(o in needed for o in node.outputs):
            needed.update(node.inputs)
    b = emit.builder
    for node in graph.nodes:
        if not any(o in needed for o in node.outputs):
            continue
        new_ins = [Tensor(remap[i], b.values[remap[i]].type) for i in node.inputs]
        name = b.unique_name(emit.scope, f"{emit.prefix}.{node.op}")
        made = b.add_node(node.op, new_ins, [graph.values[o].type for o in node.outputs], node.attr_dict,
                          emit.span, name, emit.scope)
        remap.update({o: m.id for o, m in zip(node.outputs, made)})
    out = []
    for x in stand_ins:
        g = grads.get(x.id)
        out.append(Tensor(remap[g], b.values[remap[g]].type) if g is not None else None)
    return out
