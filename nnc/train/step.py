"""The training-step graph: (parameters, optimiser state, batch, step) → (losses, metrics, new values).

Built from a train block: grad(...) expanded, dropout and batchnorm in
training mode, then for each `minimize` line in the written order: the loss
(recomputed where an earlier line already changed parameters it depends on,
as a GAN's generator step sees the updated discriminator), its gradient
with respect to that line's targets only, and the optimiser's update ops.
It is an ordinary IR graph, so every backend can compile it.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..elaborate import TrainInfo
from ..elaborate.values import Tensor
from ..ir.graph import Graph
from ..ir.types import TensorType
from ..ops.lr_schedule import schedule_from_spec
from ..passes.autodiff import dependents, differentiate
from ..passes.emit import Emitter, builder_from, tensor
from ..passes.training import expand_grads, training_mode

SLOTS = {"sgd": ("velocity",), "adagrad": ("sum_sq",), "rmsprop": ("sq_avg", "momentum_buf"),
         "adam": ("m", "v"), "adamw": ("m", "v"), "lamb": ("m", "v")}
UPDATE_OP = {"sgd": "sgd_update", "adagrad": "adagrad_update", "rmsprop": "rmsprop_update",
             "adam": "adam_update", "adamw": "adam_update", "lamb": "lamb_update"}
USES_STEP = {"adam", "adamw", "lamb"}
STEP_INPUT = "step"


@dataclass(frozen=True)
class Slot:
    name: str  # "0.adam.m/mlp/h.dense/weight": minimize line, optimiser, slot, parameter
    param: str


@dataclass(frozen=True)
class StepGraph:
    graph: Graph  # the training step
    forward: Graph  # losses and metrics in inference mode, for validation
    batch_inputs: tuple[str, ...]
    losses: tuple[str, ...]
    metrics: tuple[str, ...]
    slots: tuple[Slot, ...]
    trained: tuple[str, ...]  # parameters some minimize line updates


def slot_input(slot: Slot) -> str:
    return f"optim:{slot.name}"


def build_step(info: TrainInfo) -> StepGraph:
    forward = expand_grads(info.graph)
    graph, state_updates = training_mode(forward)
    outputs = dict(graph.outputs)
    b = builder_from(graph)
    step = b.add_input(STEP_INPUT, TensorType("i64", ()), None)
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
        lr = emit("lr_schedule", step, schedule=schedule_from_spec(args.pop("lr")))
        if line.optimizer.name == "adamw":
            args["decoupled"] = True
        for name, w in zip(line.params, wrt):
            p = tensor(b, w)
            grad = tensor(b, grads[w]) if grads[w] is not None else emit("mul", p, emit.const(0.0))
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
    metrics = tuple(name for name, _ in info.metrics)
    b.outputs = ([(name, vid) for name, vid in loss_values.items()]
                 + [(name, outputs[name]) for name in metrics if name not in loss_values]
                 + [(f"param:{name}", current[by_name[name].value.id]) for name in _trained(info)]
                 + [(f"optim:{name}", vid) for name, vid in slot_values.items()]
                 + [(f"state:{name}", vid) for name, vid in state_updates.items()])
    batch_inputs = tuple(n for n, _ in info.graph.inputs)
    return StepGraph(b.build(), forward, batch_inputs, tuple(loss_values), metrics, tuple(slots), _trained(info))


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
        outs = b.add_node(node.op, ins, [graph.values[o].type for o in node.outputs], node.attr_dict, node.span,
                          name, node.scope)
        for old, new in zip(node.outputs, outs):
            remap[old] = new.id
    return remap[loss]
