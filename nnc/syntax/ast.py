"""The AST: frozen dataclasses, each with the span of the text it came from."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ..source import Span


# ---- expressions -------------------------------------------------------------
@dataclass(frozen=True)
class Name:
    span: Span
    id: str


@dataclass(frozen=True)
class Literal:
    """An int, float, string or bool written in the program."""

    span: Span
    value: object


@dataclass(frozen=True)
class ListLit:
    span: Span
    items: tuple["Expr", ...]


@dataclass(frozen=True)
class Arg:
    span: Span
    value: "Expr"
    keyword: str | None = None
    keyword_span: Span | None = None


@dataclass(frozen=True)
class Call:
    """`f(args)`; span runs from the callee's name to the closing parenthesis."""

    span: Span
    func: "Expr"
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Stage:
    """One step of a `->` chain: `name` or `name(args)`."""

    span: Span
    name: str
    name_span: Span
    args: tuple[Arg, ...]


@dataclass(frozen=True)
class Pipe:
    span: Span
    head: "Expr"
    stages: tuple[Stage, ...]


@dataclass(frozen=True)
class Index:
    span: Span
    target: "Expr"
    index: "Expr"


@dataclass(frozen=True)
class Operand:
    op: str
    op_span: Span
    value: "Expr"


@dataclass(frozen=True)
class Arith:
    """A left-associative run of operators of one precedence: `a + b - c`, kept flat."""

    span: Span
    first: "Expr"
    rest: tuple[Operand, ...]


@dataclass(frozen=True)
class Unary:
    span: Span
    op: str
    operand: "Expr"


@dataclass(frozen=True)
class Compare:
    span: Span
    op: str
    op_span: Span
    left: "Expr"
    right: "Expr"


@dataclass(frozen=True)
class BoolOp:
    """`and`, `or` over two or more operands, or `not` over one."""

    span: Span
    op: str
    operands: tuple["Expr", ...]


@dataclass(frozen=True)
class Ternary:
    span: Span
    then: "Expr"
    cond: "Expr"
    otherwise: "Expr"


Expr = Union[Name, Literal, ListLit, Call, Pipe, Index, Arith, Unary, Compare, BoolOp, Ternary]


# ---- statements ----------------------------------------------------------------
@dataclass(frozen=True)
class Input:
    span: Span
    name: str
    name_span: Span
    dtype: str
    dtype_span: Span
    dims: tuple[Expr, ...]


@dataclass(frozen=True)
class Bind:
    span: Span
    name: str
    name_span: Span
    value: Expr
    ascription: tuple[Expr, ...] | None = None
    ascription_span: Span | None = None  # the `[`


@dataclass(frozen=True)
class Unpack:
    span: Span
    names: tuple[tuple[str, Span], ...]
    value: Expr


@dataclass(frozen=True)
class ParamDef:
    """`param pos: [16, 64] = normal(0.02)`: a free trainable tensor of a model (dtype f32 unless written)."""

    span: Span
    name: str
    name_span: Span
    dtype: str | None
    dtype_span: Span | None
    dims: tuple[Expr, ...]
    init: Expr | None


@dataclass(frozen=True)
class LayerDef:
    span: Span
    name: str
    name_span: Span
    value: Expr


@dataclass(frozen=True)
class Output:
    span: Span
    name: str
    name_span: Span
    value: Expr | None
    ascription: tuple[Expr, ...] | None = None  # `output y: [N, 64] = ...`, checked as Bind's
    ascription_span: Span | None = None  # the `[`


@dataclass(frozen=True)
class For:
    span: Span
    var: str
    var_span: Span
    start: Expr
    end: Expr
    body: tuple["Stmt", ...]


@dataclass(frozen=True)
class If:
    span: Span
    cond: Expr
    then: tuple["Stmt", ...]
    otherwise: tuple["Stmt", ...] | None


@dataclass(frozen=True)
class Assert:
    span: Span
    keyword_span: Span
    cond: Expr
    message: Expr | None


@dataclass(frozen=True)
class Return:
    span: Span
    values: tuple[Expr, ...]


@dataclass(frozen=True)
class Minimize:
    span: Span
    keyword_span: Span
    value: Expr
    targets: tuple[tuple[str, Span], ...]
    optimizer: Expr


@dataclass(frozen=True)
class Metric:
    span: Span
    name: str
    name_span: Span
    value: Expr
    on_train: bool = False  # `metric NAME = expr on train`: also computed on every training batch


@dataclass(frozen=True)
class Monitor:
    """`monitor val_acc max`: what --patience and best.safetensors follow (a loss or a metric; min or max)."""

    span: Span
    name: str
    name_span: Span
    mode: str | None
    mode_span: Span | None


@dataclass(frozen=True)
class Setting:
    """`batch 64`, `epochs 20`, `data "digits"`."""

    span: Span
    key: str
    value: Expr


Stmt = Union[Input, Bind, Unpack, LayerDef, ParamDef, Output, For, If, Assert, Return, Minimize, Metric, Setting]


# ---- top level -------------------------------------------------------------------
@dataclass(frozen=True)
class Import:
    span: Span
    path: str
    path_span: Span


@dataclass(frozen=True)
class Const:
    span: Span
    name: str
    name_span: Span
    value: Expr


@dataclass(frozen=True)
class Param:
    span: Span
    name: str
    type: str | None  # None: a tensor parameter
    type_span: Span | None
    default: Expr | None


@dataclass(frozen=True)
class BlockDef:
    span: Span
    name: str
    name_span: Span
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    body_end: Span  # the closing brace


@dataclass(frozen=True)
class ModelDef:
    span: Span
    name: str
    name_span: Span
    body: tuple[Stmt, ...]
    body_end: Span


@dataclass(frozen=True)
class TrainDef:
    span: Span
    name: str
    name_span: Span
    body: tuple[Stmt, ...]
    body_end: Span


Item = Union[Import, Const, BlockDef, ModelDef, TrainDef]


@dataclass(frozen=True)
class Program:
    file: str
    items: tuple[Item, ...]
