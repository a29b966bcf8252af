"""The training-step graph: (parameters, optimiser state, batch, step) → (losses, metrics, new values).

Built from a train block: grad(...) expanded, dropout and batchnorm in
training mode, then for each `minimize` line in the written order: the loss
(recomputed where an earlier line already changed parameters it depends on,
as a GAN's generator step sees the updated discriminator), its gradient
with respect to that line's targets only, and the optimiser's update ops.
It is an ordinary IR graph, so every backend can compile it, and its typed
`Signature` says what each input and output is: the batch (data), parameters,
batchnorm state, optimiser slots, the step counter and the random key in;
losses and metrics (reports) and each updated value, naming the input it
replaces, out. The counter's successor is an output too, so an executable
needs nothing but its signature to run step after step.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..backends.base import Port, Role, Signature, inference_signature
from ..elaborate import TrainInfo
from ..elaborate.values import Tensor
from ..ir.graph import Graph
from ..ops._philox import stream_of
from ..ops._prims import zeros_like
from ..ops.lr_schedule import schedule_from_spec
from ..passes.autodiff import dependents, differentiate
from ..passes.emit import Emitter, builder_from, tensor
from ..passes.training import KEY_INPUT, STEP_INPUT, counter_inputs, expand_grads, training_mode
from .clip import clip_by_global_norm, pop_clip

SLOTS = {"sgd": ("velocity",), "adagrad": ("sum_sq",), "rmsprop": ("sq_avg", "momentum_buf"),
         "adam": ("m", "v"), "adamw": ("m", "v"), "lamb": ("m", "v")}
UPDATE_OP = {"sgd": "sgd_update", "adagrad": "adagrad_update", "rmsprop": "rmsprop_update",
             "adam": "adam_update", "adamw": "adam_update", "lamb": "lamb_update"}
USES_STEP = {"adam", "adamw", "lamb"}
NEW = "new/"  # the output holding the next value of input X is named new/X


@dataclass(frozen=True)
class Slot:
    name: str  # "0.adam.m/mlp/h.dense/weight": minimize line, optimiser, slot, parameter
    param: str


@dataclass(frozen=True)
class StepGraph:
    graph: Graph  # the training step
    signature: Signature
    forward: Graph  # losses and metrics in inference mode, for validation
    forward_signature: Signature
    batch_inputs: tuple[str, ...]
    losses: tuple[str, ...]
    metrics: tuple[str, ...]
    slots: tuple[Slot, ...]
    trained: tuple[str, ...]  # parameters some minimize line updates


def slot_input(slot: Slot) -> str:
    return slot.name


def build_step(info: TrainInfo, train_metrics=None, steps_per_epoch: int | None = None) -> StepGraph:
    """The step graph of a train block; it reports the losses and the metrics named in `train_metrics`
    (all of them when None; `nnc train` passes the block's `metric ... on train` ones, so the others cost
    nothing on training batches and are computed on the held-out split only). steps_per_epoch converts
    schedules counted in epochs (per="epoch") to steps."""
    forward = expand_grads(info.graph)
    graph, state_updates = training_mode(forward)
    outputs = dict(graph.outputs)
    b = builder_from(graph)
    _key, step = counter_inputs(b)
    by_name = {p.name: p for p in graph.params}
    current: dict[int, int] = {p.value.id: p.value.id for p in graph.params}  # parameter -> its latest value
    changed: set[int] = set()
    slots: list[Slot] = []
    slot_values: dict[str, int] = {}
    loss_values: dict[str, int] = {}
    for index, line in enumerate(info.steps):
        g = b.build()
        loss = _recompute(b, g, outputs[line.loss], current, changed)
        g = b.build()
        wrt = [current[by_name[name].value.id] for name in line.params]
        g, grads = differentiate(g, loss, wrt, tag=f"grad{index}")
        b = builder_from(g)
        loss_values[line.loss] = loss
        node = b.producer.get(loss)
        emit = Emitter(b, line.span, node.scope if node else "", f"{line.loss}.{line.optimizer.name}")
        args = dict(line.optimizer.args)
        lr = emit("lr_schedule", step, schedule=schedule_from_spec(args.pop("lr"), steps_per_epoch))
        clipped = clip_by_global_norm(emit, [tensor(b, grads[w]) if grads[w] is not None else None for w in wrt],
                                      pop_clip(args))
        if line.optimizer.name == "adamw":
            args["decoupled"] = True
        for name, w, g in zip(line.params, wrt, clipped):
            p = tensor(b, w)
            grad = g if g is not None else zeros_like(emit, p)  # not p·0: NaN at inf
            state = []
            for slot_name in SLOTS[line.optimizer.name]:
                slot = Slot(f"{index}.{line.optimizer.name}.{slot_name}/{name}", name)
                slots.append(slot)
                state.append(b.add_input(slot_input(slot), p.type, None))
            extra = [step] if line.optimizer.name in USES_STEP else []
            new = emit(UPDATE_OP[line.optimizer.name], p, grad, *state, *extra, lr, **args)
            # later minimize lines see the new value as a constant: nobody differentiates through an update
            current[by_name[name].value.id] = emit("stop_gradient", new[0]).id
            changed.add(by_name[name].value.id)
            for slot, value in zip(slots[-len(state):], new[1:]):
                slot_values[slot.name] = value.id
    metrics = tuple(name for name, _ in info.metrics if train_metrics is None or name in train_metrics)
    span = info.steps[0].span if info.steps else info.span
    next_step = Emitter(b, span, "", "step")("add", step, Emitter(b, span, "", "step").const(1, "i64"))
    reports = ([(name, vid) for name, vid in loss_values.items()]
               + [(name, outputs[name]) for name in metrics if name not in loss_values])
    updates = ([(name, current[by_name[name].value.id]) for name in _trained(info)]
               + list(slot_values.items()) + list(state_updates.items()) + [(STEP_INPUT, next_step.id)])
    b.outputs = reports + [(NEW + name, vid) for name, vid in updates]
    graph = b.build()
    batch_inputs = tuple(n for n, _ in info.graph.inputs)
    signature = _signature(graph, batch_inputs, [n for n, _ in reports], set(loss_values), dict(updates))
    return StepGraph(graph, signature, forward, inference_signature(forward), batch_inputs, tuple(loss_values),
                     metrics, tuple(slots), _trained(info))


def _signature(graph: Graph, batch: tuple[str, ...], reports: list[str], losses: set[str],
               updates: dict[str, int]) -> Signature:
    """The roles of a step graph's inputs and outputs; every update names the input it replaces."""
    roles = {name: Role.DATA for name in batch}
    roles.update({KEY_INPUT: Role.KEY, STEP_INPUT: Role.STEP})
    ins = [Port(n, roles.get(n, Role.SLOT), graph.type_of(v)) for n, v in graph.inputs]
    ins += [Port(p.name, Role.PARAM if p.trainable else Role.STATE, p.value.type) for p in graph.params]
    role_of = {p.name: p.role for p in ins}
    outs = [Port(n, Role.REPORT, graph.output_type(n), loss=n in losses) for n in reports]
    outs += [Port(NEW + n, role_of[n], graph.output_type(NEW + n), replaces=n) for n in updates]
    return Signature(tuple(ins), tuple(outs))


def _trained(info: TrainInfo) -> tuple[str, ...]:
    out: list[str] = []
    for line in info.steps:
        out += [p for p in line.params if p not in out]
    return tuple(out)


def _recompute(b, graph: Graph, loss: int, current: dict[int, int], changed: set[int]) -> int:
    """The loss computed from the latest parameter values: nodes that depend on a parameter an earlier
    minimize line updated are copied with the new values; everything else is shared."""
    if not changed:
        return loss
    stale = dependents(graph, changed)
    if loss not in stale:
        return loss
    needed = {loss}
    for node in reversed(graph.nodes):
        if any(o in needed for o in node.outputs):
            needed.update(node.inputs)
    remap = {old: new for old, new in current.items() if old in changed}
    for node in graph.nodes:
        if not any(o in needed and o in stale for o in node.outputs):
            continue
        ins = [Tensor(remap.get(i, i), b.values[remap.get(i, i)].type) for i in node.inputs]
        name = b.unique_name(node.scope, node.name)
        attrs = node.attr_dict
        if node.op == "dropout_mask":  # a second forward pass draws a new mask, as it would in PyTorch
            attrs["stream"] = stream_of(f"{node.scope}/{name}")
        outs = b.add_node(node.op, ins, [graph.values[o].type for o in node.outputs], attrs, node.span,
                          name, node.scope)
        for old, new in zip(node.outputs, outs):
            remap[old] = new.id
    return remap[loss]
