"""Compile-time values: what a name can be bound to while a program is elaborated."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir.types import TensorType
from ..ops.base import Op
from ..source import Span
from ..syntax import ast


@dataclass(frozen=True)
class Tensor:
    """A graph value: its id in the graph being built and its type."""

    id: int
    type: TensorType

    def describe(self) -> str:
        return f"a tensor {self.type}"


@dataclass(frozen=True)
class Poison:
    """The value of something that already failed: using it reports nothing more."""

    def describe(self) -> str:
        return "an erroneous value"


POISON = Poison()


@dataclass(frozen=True)
class TupleValue:
    items: tuple

    def describe(self) -> str:
        return f"a tuple of {len(self.items)}"


@dataclass(frozen=True)
class BlockFn:
    defn: ast.BlockDef
    module: "object"

    def describe(self) -> str:
        return f"the block `{self.defn.name}`"


@dataclass(frozen=True)
class ModelFn:
    defn: ast.ModelDef
    module: "object"

    def describe(self) -> str:
        return f"the model `{self.defn.name}`"


@dataclass(frozen=True)
class BuiltinFn:
    """A built-in op of the registry, or a compile-time function (shape, channels, params, l1, l2)."""

    name: str
    op: Op | None = None

    def describe(self) -> str:
        return f"the built-in `{self.name}`"


@dataclass(frozen=True)
class LayerFn:
    """`layer NAME = dense(64)`: one op whose parameters every call shares."""

    name: str
    op: Op
    args: tuple  # (value, span) of the compile-time positional arguments
    kwargs: tuple  # (keyword, value, span, keyword_span)
    param_path: str
    span: Span
    site: Span

    def describe(self) -> str:
        return f"the layer `{self.name}`"


@dataclass(frozen=True)
class ScheduleSpec:
    """A learning-rate schedule: plain data the training loop interprets."""

    name: str
    args: tuple  # (name, value) pairs; value may itself be a ScheduleSpec

    def describe(self) -> str:
        return f"the schedule {self.name}(...)"


@dataclass(frozen=True)
class OptimizerSpec:
    name: str
    args: tuple  # (name, value) pairs

    def describe(self) -> str:
        return f"the optimiser {self.name}(...)"


def is_compile_time(v) -> bool:
    return isinstance(v, (int, float, bool, str, list, tuple)) and not isinstance(v, TupleValue)
