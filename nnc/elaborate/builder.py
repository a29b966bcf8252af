"""Builds one IR graph while the program is elaborated: values, nodes, parameters."""
from __future__ import annotations

from ..ir.graph import Graph, Node, Parameter, Value
from ..ir.types import TensorType
from ..ops.base import ParamSpec
from ..source import Span
from .values import Tensor

MAX_NODES = 1_000_000


def _new_tensor(vid: int, t: TensorType) -> Tensor:
    """Tensor(vid, t) without the frozen dataclass's __init__ (one per value the graph holds)."""
    tensor = object.__new__(Tensor)
    tensor.__dict__.update(id=vid, type=t)
    return tensor


if hasattr(Tensor, "__slots__"):  # pragma: no cover - then the ordinary constructor
    _new_tensor = Tensor  # noqa: F811


class TooLarge(Exception):
    """The elaboration budget is spent (a compile-time loop unrolls into millions of nodes)."""


class GraphBuilder:
    def __init__(self, name: str):
        self.name = name
        self.values: dict[int, Value] = {}
        self.nodes: list[Node] = []
        self.inputs: list[tuple[str, int]] = []
        self.outputs: list[tuple[str, int]] = []
        self.params: dict[str, Parameter] = {}
        # (module, model) -> names of the parameters its calls reached, its inner models' and layers' included
        self.model_params: dict[tuple[str, str], dict[str, None]] = {}
        self.producer: dict[int, Node] = {}
        self.node_spans: dict[int, Span] = {}  # value id -> span of the expression that made it
        self._names: dict[tuple[str, str], int] = {}
        self.next_id = 0  # value ids are never reused, even when a pass drops values

    def new_value(self, t: TensorType) -> Tensor:
        vid = self.next_id
        self.next_id += 1
        self.values[vid] = Value(vid, t)
        return _new_tensor(vid, t)

    def add_input(self, name: str, t: TensorType, span: Span | None) -> Tensor:
        v = self.new_value(t)
        self.inputs.append((name, v.id))
        if span is not None:
            self.node_spans[v.id] = span
        return v

    def unique_name(self, scope: str, base: str) -> str:
        k = self._names.get((scope, base), 0)
        self._names[(scope, base)] = k + 1
        return base if k == 0 else f"{base}_{k}"

    def add_node(self, op: str, inputs: list[Tensor], out_types: list[TensorType], attrs: dict, span: Span | None,
                 name: str, scope: str) -> list[Tensor]:
        if len(self.nodes) >= MAX_NODES:
            raise TooLarge()
        outs = [self.new_value(t) for t in out_types]
        node = Node(op, tuple(i.id for i in inputs), tuple(o.id for o in outs), _freeze_attrs(attrs), span, name,
                    scope)
        self.nodes.append(node)
        for o in outs:
            self.producer[o.id] = node
            if span is not None:
                self.node_spans[o.id] = span
        return outs

    def param(self, layer_path: str, spec: ParamSpec, dtype: str = "f32") -> tuple[Tensor, Parameter | None]:
        """The parameter named layer_path/role, created on first use; the existing one (shared) after.

        `dtype` is the layer's input's float dtype: an f64 model has f64 parameters and trains in f64."""
        name = f"{layer_path}/{spec.role}"
        existing = self.params.get(name)
        if existing is not None:
            return Tensor(existing.value.id, existing.value.type), existing
        v = self.new_value(TensorType(dtype, tuple(spec.shape)))
        self.params[name] = Parameter(name, self.values[v.id], spec.init, spec.trainable, layer_path, spec.fan_in,
                                      spec.fan_out, spec.decay)
        return v, None

    def build(self) -> Graph:
        return Graph(self.name, tuple(self.inputs), tuple(self.outputs), tuple(self.params.values()),
                     tuple(self.nodes), dict(self.values))


_PLAIN = frozenset({int, float, bool, str, type(None)})


def _freeze(value):
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is tuple and all(type(v) in _PLAIN for v in value):
        return value  # already frozen: (1, 1) strides, (3, 3) kernels
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if value is None or isinstance(value, (int, float, bool, str)):
        return value
    raise TypeError(f"IR attributes hold plain data only, found {type(value).__name__}")


def _freeze_attrs(attrs: dict) -> tuple:
    return tuple([(k, v if type(v) in _PLAIN else _freeze(v)) for k, v in attrs.items()])
