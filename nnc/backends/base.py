"""The contract between nnc and its backends: step signatures with roles, Backend and Executable.

A backend compiles an IR graph together with its `Signature` into an
`Executable`. The signature says what every input and output of the graph
*is* — data, a trainable parameter, non-trainable state, an optimiser slot,
the step counter, the random key, or a reported value — and which input each
updated value replaces. A backend may therefore update in place (LLVM) or
ping-pong two buffer sets (ONNX Runtime) without knowing anything about
training. This is the shape of ONNX's `Backend.prepare` → `BackendRep.run`.

Parameters and state live in the graph as `Parameter` records, not as graph
inputs; a port of role PARAM or STATE names one by its stable name. Every
other input port names a graph input.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Protocol

from ..ir.types import TensorType

if TYPE_CHECKING:  # numpy is imported lazily: `nnc check` never loads it
    import numpy as np

    from ..ir.graph import Graph


class Role(enum.Enum):
    DATA = "data"          # fed on every call: a batch, an image
    PARAM = "param"        # a trainable parameter (lenet5/features.conv2d/weight)
    STATE = "state"        # non-trainable state: batchnorm's running statistics
    SLOT = "slot"          # an optimiser slot (Adam's m and v), one per parameter and minimize line
    STEP = "step"          # the step counter: optimiser bias corrections, schedules, random streams
    KEY = "key"            # the random key (the seed), read only
    REPORT = "report"      # a value returned to the caller: a loss, a metric, a model output


STATEFUL = (Role.PARAM, Role.STATE, Role.SLOT, Role.STEP, Role.KEY)


@dataclass(frozen=True)
class Port:
    """One input or output of a compiled graph.

    `replaces` (outputs only) names the input port this value replaces after a
    successful call; `loss` marks a reported value that must be finite for
    the updates of that call to take effect.
    """

    name: str
    role: Role
    type: TensorType
    replaces: str | None = None
    loss: bool = False


@dataclass(frozen=True)
class Signature:
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]

    def input(self, name: str) -> Port:
        for p in self.inputs:
            if p.name == name:
                return p
        raise KeyError(name)

    def inputs_of(self, *roles: Role) -> tuple[Port, ...]:
        return tuple(p for p in self.inputs if p.role in roles)

    def outputs_of(self, *roles: Role) -> tuple[Port, ...]:
        return tuple(p for p in self.outputs if p.role in roles)

    @property
    def data(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.inputs_of(Role.DATA))

    @property
    def reports(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.outputs_of(Role.REPORT))

    @property
    def updates(self) -> dict[str, str]:
        """output name -> the input it replaces."""
        return {p.name: p.replaces for p in self.outputs if p.replaces is not None}

    def check(self, graph: "Graph") -> None:
        """Every port names a graph input, output or parameter of the stated type; updates keep the type."""
        from ..ir.verify import InvalidGraph

        inputs = dict(graph.inputs)
        params = {p.name: p for p in graph.params}
        outputs = dict(graph.outputs)
        for port in self.inputs:
            if port.role in (Role.PARAM, Role.STATE):
                p = params.get(port.name)
                if p is None or p.trainable != (port.role is Role.PARAM):
                    raise InvalidGraph(f"signature: no {port.role.value} {port.name!r} in graph {graph.name}")
                t = p.value.type
            elif port.name in inputs:
                t = graph.type_of(inputs[port.name])
            else:
                raise InvalidGraph(f"signature: no input {port.name!r} in graph {graph.name}")
            if t != port.type:
                raise InvalidGraph(f"signature: {port.name} is {t} in the graph, {port.type} in the signature")
        names = {p.name for p in self.inputs}
        for port in self.outputs:
            if port.name not in outputs:
                raise InvalidGraph(f"signature: no output {port.name!r} in graph {graph.name}")
            if graph.type_of(outputs[port.name]) != port.type:
                raise InvalidGraph(f"signature: output {port.name} is {graph.type_of(outputs[port.name])}, "
                                   f"{port.type} in the signature")
            if port.replaces is not None:
                if port.replaces not in names:
                    raise InvalidGraph(f"signature: {port.name} replaces unknown input {port.replaces!r}")
                if self.input(port.replaces).type != port.type:
                    raise InvalidGraph(f"signature: {port.name} ({port.type}) cannot replace {port.replaces} "
                                       f"({self.input(port.replaces).type})")
        if len(set(self.updates.values())) != len(self.updates):
            raise InvalidGraph("signature: two outputs replace the same input")


def inference_signature(graph: "Graph") -> Signature:
    """A model's signature: its inputs are data, its parameters and state are read, its outputs reported."""
    ins = [Port(n, Role.DATA, graph.type_of(v)) for n, v in graph.inputs]
    ins += [Port(p.name, Role.PARAM if p.trainable else Role.STATE, p.value.type) for p in graph.params]
    outs = [Port(n, Role.REPORT, graph.type_of(v)) for n, v in graph.outputs]
    return Signature(tuple(ins), tuple(outs))


class BackendUnavailable(Exception):
    """A backend that cannot run here; the message says why in one line."""


class Executable(Protocol):
    """A compiled graph. Holds every stateful input (parameters, state, slots, step, key) itself."""

    signature: Signature

    def load_state(self, values: Mapping[str, "np.ndarray"]) -> None:
        """Set some or all stateful inputs, by port name (checked against the signature)."""

    def state(self) -> dict[str, "np.ndarray"]:
        """Every stateful input's current value, by port name, as host arrays."""

    def __call__(self, **feeds: "np.ndarray") -> dict[str, "np.ndarray"]:
        """Data in, reported values out; the updates take effect unless a loss is not finite."""


class Backend(Protocol):
    name: str
    devices: tuple[str, ...]
    primitives: frozenset[str] | None  # the ops it lowers; None: every op (the oracle)

    def available(self, device: str = "cpu") -> str | None:
        """None when it can run on `device` here, else why not, in one line."""

    def compile(self, graph: "Graph", signature: Signature, *, device: str = "cpu",
                options: Mapping[str, object] | None = None) -> Executable:
        ...
