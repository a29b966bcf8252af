"""The dataflow graph: values, nodes and parameters, all frozen and all plain data.

Attributes hold only ints, floats, bools, strings and tuples of those, so
that every backend (numpy, LLVM, ONNX) can read them without Python objects,
and every node keeps the span of the `.nn` text it came from.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

from ..source import Span
from .types import TensorType

AttrValue = object  # int | float | bool | str | tuple[AttrValue, ...]


@dataclass(frozen=True)
class Value:
    id: int
    type: TensorType


@dataclass(frozen=True)
class Parameter:
    """A trainable tensor (or non-trainable state such as running statistics)."""

    name: str  # stable and hierarchical: "lenet5/features.conv2d/weight"
    value: Value
    init: str  # "xavier_uniform" | "zeros" | "ones" | "uniform_rnn" | "normal" | ...
    trainable: bool
    layer: str  # the layer path it belongs to: "lenet5/features.conv2d"
    fan_in: int = 1
    fan_out: int = 1
    decay: bool = True  # counted by l1()/l2(): weights yes, biases and norms no


@dataclass(frozen=True)
class Node:
    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    attrs: tuple[tuple[str, AttrValue], ...]
    span: Span | None
    name: str  # "h.dense", unique within its graph's scope path
    scope: str = ""  # the hierarchical path: "x.stage/x.basic"

    def attr(self, key: str, default=None):
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    @property
    def attr_dict(self) -> dict:
        return dict(self.attrs)

    @property
    def path(self) -> str:
        return f"{self.scope}/{self.name}" if self.scope else self.name


@dataclass(frozen=True)
class Graph:
    name: str
    inputs: tuple[tuple[str, int], ...]
    outputs: tuple[tuple[str, int], ...]
    params: tuple[Parameter, ...]
    nodes: tuple[Node, ...]  # topologically ordered
    values: dict = field(compare=False)  # id -> Value

    def type_of(self, value_id: int) -> TensorType:
        return self.values[value_id].type

    def producer_map(self) -> dict[int, Node]:
        return {o: n for n in self.nodes for o in n.outputs}

    def param_by_value(self) -> dict[int, Parameter]:
        return {p.value.id: p for p in self.params}

    def iter_nodes(self) -> Iterator[Node]:
        return iter(self.nodes)

    def input_type(self, name: str) -> TensorType:
        return self.values[dict(self.inputs)[name]].type

    def output_type(self, name: str) -> TensorType:
        return self.values[dict(self.outputs)[name]].type
