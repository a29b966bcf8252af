"""The op record: everything nnc knows about one built-in, in one place.

Each file in nnc/ops/ defines one built-in and ends with `OP = Op(...)`.
The shape rule is pure: input types and normalised attributes in, output
types out, or a ShapeError that blames the callee or one argument by name;
the elaborator turns the blame into a spanned diagnostic.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..ir.types import TensorType

REQUIRED = object()


class ShapeError(Exception):
    """A shape rule's verdict: what is wrong, and which argument ("callee" for the op itself) is to blame."""

    def __init__(self, message: str, *, code: str = "E0201", blame: str = "callee", label: str = "",
                 hint: str | None = None, notes: Sequence[str] = ()):
        super().__init__(message)
        self.message = message
        self.code = code
        self.blame = blame
        self.label = label
        self.hint = hint
        self.notes = tuple(notes)


@dataclass(frozen=True)
class Attr:
    """A compile-time argument: name, kind (see nnc/ops/attrs.py) and default."""

    name: str
    kind: str
    default: object = REQUIRED
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass(frozen=True)
class ParamSpec:
    """A parameter a layer creates, laid out as PyTorch lays it out."""

    role: str  # "weight", "bias", "running_mean", ...
    shape: tuple[int, ...]
    init: str
    trainable: bool = True
    fan_in: int = 1
    fan_out: int = 1
    decay: bool = False


@dataclass(frozen=True)
class InputLint:
    """A warning when an argument comes straight from a given op (softmax into cross_entropy)."""

    argument: str
    producer: str
    code: str
    message: str
    hint: str


@dataclass(frozen=True)
class Op:
    name: str
    doc: str
    inputs: tuple[str, ...]  # tensor arguments, in order
    attrs: tuple[Attr, ...] = ()
    infer: Callable = None  # (ins: list[TensorType], attrs: dict) -> list[TensorType]
    resolve: Callable | None = None  # (ins, attrs) -> attrs with per-axis tuples, "same" padding resolved
    reference: Callable | None = None  # (arrays: list[ndarray], attrs: dict, ctx) -> list[ndarray]
    params: Callable | None = None  # (ins, attrs) -> list[ParamSpec]; layers only
    macs: Callable | None = None  # (ins, outs, attrs) -> int, symbols evaluated at 1
    vjp: Callable | None = None  # (emit, ins, outs, grads, attrs) -> one gradient (or None) per input
    # (emit, ins, out_types, attrs) -> one tensor per output, written in simpler ops (nnc/passes/decompose.py)
    decompose: Callable | None = None
    category: str = "op"  # layer | activation | pool | shape | reduce | math | loss | metric | special
    variadic: bool = False  # the first input repeats (concat)
    optional_inputs: tuple[str, ...] = ()  # may be passed by keyword only (initial states)
    lints: tuple[InputLint, ...] = ()
    outputs: Callable | None = None  # (attrs) -> number of outputs, when more than one
    internal: bool = False  # not callable by name from a program (add, constant, ...)
    examples: tuple[str, ...] = field(default=())  # one-line .nn uses for the docs and tests

    @property
    def is_layer(self) -> bool:
        return self.params is not None

    def output_types(self, ins: list[TensorType], attrs: dict) -> tuple[dict, list[TensorType]]:
        """Resolve the attributes against the inputs, then run the shape rule (raises ShapeError)."""
        if self.resolve is not None:
            attrs = self.resolve(ins, attrs)
        return attrs, self.infer(ins, attrs)

    def attr(self, name: str) -> Attr | None:
        for a in self.attrs:
            if a.name == name:
                return a
        return None


def same_type(ins: list[TensorType], attrs: dict) -> list[TensorType]:
    """The shape rule of every elementwise op of one input."""
    return [ins[0]]


def require_float(t: TensorType, arg: str, op: str) -> None:
    if not t.is_float:
        raise ShapeError(f"{op} needs a float tensor, found {t}", blame=arg, code="E0202",
                         label=f"this is {t}")


def require_rank(t: TensorType, ranks: Sequence[int], arg: str, op: str, what: str = "") -> None:
    if t.rank not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ShapeError(f"{op} expects a tensor of rank {want}{what}, found {t}", blame=arg, code="E0203",
                         label=f"this has rank {t.rank}")
