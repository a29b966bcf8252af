"""A train block's step split for data-parallel training: per `minimize` line, a gradient graph and an update graph.

One process runs a training step as one graph (nnc/train/step.py). With
several workers the step becomes, for each `minimize` line in order,

    G_i  the gradient graph on one shard of the batch: the line's loss (and,
         for the first line, the metrics), times the shard's weight
         n_shard / n_batch, differentiated with respect to the line's
         parameters. The program's losses are means over the batch, so a
         shard's mean times its weight is the shard's sum divided by the
         GLOBAL batch size, and the SUM of the shards' gradients is exactly
         the gradient of the batch mean, uneven last batches included.
    R_i  one collective on one flat buffer (the line's gradients in the
         line's parameter order, then its report numerators): nnc/train/reduce.py.
    U_i  the update graph: the optimiser's update ops on the reduced gradients.

so a GAN runs G1 R1 U1 G2 R2 U2 and its generator's loss sees the updated
discriminator, as in the one-process step (recomputed dropout masks draw a
new stream there as here). Dropout masks get an element offset (the shard's
first sample in the batch times the elements per sample), so a sample is
masked the same whichever shard or worker computes it.

Batchnorm in training mode needs the statistics of the whole batch in the
middle of the forward pass; it is refused here (`BatchnormRefused`, with the
line) rather than silently trained on shard statistics.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..backends.base import Port, Role, Signature, inference_signature
from ..elaborate import TrainInfo
from ..ir.graph import Graph
from ..ir.types import TensorType
from ..ops.lr_schedule import schedule_from_spec
from ..passes.autodiff import differentiate
from ..passes.dce import eliminate_dead_code
from ..passes.emit import Emitter, builder_from, tensor
from ..passes.rewrite import rewrite
from ..passes.training import KEY_INPUT, STEP_INPUT, counter_inputs, expand_grads, training_mode
from .data import DataError
from .clip import clip_by_global_norm, pop_clip
from .step import NEW, SLOTS, UPDATE_OP, USES_STEP, Slot, _recompute, _trained

WEIGHT_INPUT = "nnc.shard_weight"  # n_shard / n_batch, the loss's dtype, a scalar
OFFSET_INPUT = "nnc.sample_offset"  # the shard's first sample within the batch, an i64 scalar
GRAD = "grad/"  # the gradient of parameter X is the output (G_i) and input (U_i) grad/X


class BatchnormRefused(DataError):
    """Batchnorm in training mode with several workers; the message names the batchnorm's line."""


@dataclass(frozen=True)
class Line:
    """One `minimize` line: its gradient graph, its update graph and the layout of its flat buffer."""

    loss: str
    params: tuple[str, ...]  # the line's parameters: the order of the gradients in the flat buffer
    shapes: tuple[tuple[int, ...], ...]
    reports: tuple[str, ...]  # the values reduced after the gradients: the loss, then (line 0) the metrics
    grad: Graph
    grad_signature: Signature
    update: Graph
    update_signature: Signature


@dataclass(frozen=True)
class SplitStep:
    lines: tuple[Line, ...]
    forward: Graph  # losses and metrics in inference mode, for validation
    forward_signature: Signature
    batch_inputs: tuple[str, ...]
    losses: tuple[str, ...]
    metrics: tuple[str, ...]
    slots: tuple[Slot, ...]
    trained: tuple[str, ...]
    params: tuple[Port, ...]  # every parameter and state value, with its type


def refuse_batchnorm(info: TrainInfo, workers: int) -> None:
    """BatchnormRefused naming the first batchnorm's line when `workers` > 1."""
    if workers <= 1:
        return
    for node in info.graph.nodes:
        if node.op == "batchnorm":
            at = f"{node.span}: " if node.span is not None else ""
            raise BatchnormRefused(
                f"{at}batchnorm `{node.name}` trains on batch statistics, which {workers} workers "
                f"would each compute on their own shard; data-parallel training with batchnorm is not supported "
                f"yet (no synchronised batchnorm): train it with --workers 1")


def split_step(info: TrainInfo) -> SplitStep:
    """The per-line gradient and update graphs of `info`'s training step (batchnorm must be refused first)."""
    forward = expand_grads(info.graph)
    trained_graph, _state_updates = training_mode(forward)
    trained_graph = _offset_dropout(trained_graph)
    outputs = dict(trained_graph.outputs)
    by_name = {p.name: p for p in trained_graph.params}
    metrics = tuple(name for name, _ in info.metrics)
    lines: list[Line] = []
    slots: list[Slot] = []
    changed: set[int] = set()
    for index, line in enumerate(info.steps):
        reports = (line.loss,) + (tuple(m for m in metrics if m != line.loss) if index == 0 else ())
        grad, grad_sig = _gradient_graph(trained_graph, outputs, line, index, reports, by_name, changed)
        update, update_sig, line_slots = _update_graph(trained_graph, line, index, by_name)
        slots += line_slots
        shapes = tuple(tuple(int(d) for d in by_name[n].value.type.shape) for n in line.params)
        lines.append(Line(line.loss, tuple(line.params), shapes, reports, grad, grad_sig, update, update_sig))
        changed |= {by_name[n].value.id for n in line.params}
    params = tuple(Port(p.name, Role.PARAM if p.trainable else Role.STATE, p.value.type)
                   for p in trained_graph.params)
    return SplitStep(tuple(lines), forward, inference_signature(forward), tuple(n for n, _ in info.graph.inputs),
                     tuple(dict.fromkeys(line.loss for line in info.steps)), metrics, tuple(slots), _trained(info),
                     params)


def _offset_dropout(graph: Graph) -> Graph:
    """Every dropout mask, and every rand/randn draw over the batch axis, drawn at element offset (shard's
    first sample) × (elements per sample), so a sample gets the numbers it would get in one process."""
    def replace(emit, node, ins):
        if node.op not in ("dropout_mask", "rand", "randn") or len(ins) != 3:
            return None
        if node.op != "dropout_mask" and isinstance(ins[0].type.shape[0] if ins[0].type.rank else 1, int):
            return None  # a draw with no batch axis is the same whole draw in every shard
        x = ins[0]
        found = dict(emit.builder.inputs)
        vid = found.get(OFFSET_INPUT)
        first = tensor(emit.builder, vid) if vid is not None else emit.builder.add_input(
            OFFSET_INPUT, TensorType("i64", ()), None)
        tail = x.type.shape[1:]
        if all(isinstance(d, int) for d in tail):
            per_sample = 1
            for d in tail:
                per_sample *= d
            step = emit.const(per_sample, "i64")
        else:
            step = emit("cast", emit("size", x, axis=tuple(range(1, x.type.rank))), dtype="i64")
        offset = emit("mul", first, step)
        return [emit(node.op, *ins, offset, **node.attr_dict)]
    return rewrite(graph, replace)[0]


def _gradient_graph(graph: Graph, outputs: dict, line, index: int, reports: tuple[str, ...], by_name: dict,
                    changed: set[int]) -> tuple[Graph, Signature]:
    b = builder_from(graph)
    counter_inputs(b)
    loss = _recompute(b, b.build(), outputs[line.loss], {v: v for v in changed}, changed)
    emit = Emitter(b, line.span, "", f"{line.loss}.shard")
    weight = b.add_input(WEIGHT_INPUT, TensorType(b.values[loss].type.dtype, ()), None)
    weighted = emit("mul", tensor(b, loss), weight)
    wrt = [by_name[name].value.id for name in line.params]
    g, grads = differentiate(b.build(), weighted.id, wrt, tag=f"grad{index}")
    b = builder_from(g)
    emit = Emitter(b, line.span, "", f"{line.loss}.shard")
    outs = []
    for name, w in zip(line.params, wrt):
        outs.append((GRAD + name, grads[w] if grads[w] is not None else emit("mul", tensor(b, w), emit.const(0.0)).id))
    values = {line.loss: loss, **{m: outputs[m] for m in reports[1:]}}
    b.outputs = outs + [(name, values[name]) for name in reports]
    trimmed = _trim(b.build())
    return trimmed, _signature(trimmed, [])


def _update_graph(graph: Graph, line, index: int, by_name: dict) -> tuple[Graph, Signature, list[Slot]]:
    """The optimiser's update of the line's parameters from gradient inputs grad/X, as build_step writes it."""
    b = builder_from(dataclasses.replace(graph, nodes=(), outputs=()))
    _key, step = counter_inputs(b)
    emit = Emitter(b, line.span, "", f"{line.loss}.{line.optimizer.name}")
    args = dict(line.optimizer.args)
    lr = emit("lr_schedule", step, schedule=schedule_from_spec(args.pop("lr")))
    if line.optimizer.name == "adamw":
        args["decoupled"] = True
    slots: list[Slot] = []
    updates: list[tuple[str, int]] = []
    grads = [b.add_input(GRAD + name, by_name[name].value.type, None) for name in line.params]
    grads = clip_by_global_norm(emit, grads, pop_clip(args))  # on the reduced gradients: the global norm
    for name, grad in zip(line.params, grads):
        p = tensor(b, by_name[name].value.id)
        state = []
        for slot_name in SLOTS[line.optimizer.name]:
            slot = Slot(f"{index}.{line.optimizer.name}.{slot_name}/{name}", name)
            slots.append(slot)
            state.append(b.add_input(slot.name, p.type, None))
        extra = [step] if line.optimizer.name in USES_STEP else []
        new = emit(UPDATE_OP[line.optimizer.name], p, grad, *state, *extra, lr, **args)
        updates.append((name, new[0].id))
        updates += [(s.name, v.id) for s, v in zip(slots[-len(state):], new[1:])]
    b.outputs = [(NEW + n, v) for n, v in updates]
    trimmed = _trim(b.build())
    return trimmed, _signature(trimmed, [n for n, _ in updates]), slots


def _trim(graph: Graph) -> Graph:
    """Only the nodes, inputs and parameters that reach an output: each part is fed and holds only its own."""
    graph = eliminate_dead_code(graph)
    used = {v for n in graph.nodes for v in n.inputs} | {v for _, v in graph.outputs}
    inputs = tuple((n, v) for n, v in graph.inputs if v in used)
    params = tuple(p for p in graph.params if p.value.id in used)
    keep = used | {o for n in graph.nodes for o in n.outputs}
    return dataclasses.replace(graph, inputs=inputs, params=params,
                               values={k: v for k, v in graph.values.items() if k in keep})


def _signature(graph: Graph, updated: list[str]) -> Signature:
    """Parameters held; key and step held; slots held (update graphs); everything else fed as data."""
    roles = {KEY_INPUT: Role.KEY, STEP_INPUT: Role.STEP}
    ins = [Port(n, roles.get(n, Role.SLOT if n in updated else Role.DATA), graph.type_of(v)) for n, v in graph.inputs]
    ins += [Port(p.name, Role.PARAM if p.trainable else Role.STATE, p.value.type) for p in graph.params]
    role_of = {p.name: p.role for p in ins}
    outs = [Port(n, Role.REPORT, graph.output_type(n)) for n, _ in graph.outputs if not n.startswith(NEW)]
    outs += [Port(n, role_of[n[len(NEW):]], graph.output_type(n), replaces=n[len(NEW):])
             for n, _ in graph.outputs if n.startswith(NEW)]
    return Signature(tuple(ins), tuple(outs))
