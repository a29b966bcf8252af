"""Agreement between an exported model and nnc's IR: the ONNX checker, and ONNX shape inference against the
types nnc inferred for every value (a batch size baked into a Reshape passes the checker and shows up here,
as a symbolic size that ONNX infers as a number)."""
from __future__ import annotations

from onnx import ModelProto, TensorProto

from ...ir.graph import Graph
from .builder import ONNX_DTYPES
from .export import Exported, check


def _types(model: ModelProto) -> dict[str, tuple[int, list]]:
    out = {}
    g = model.graph
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        tt = vi.type.tensor_type
        dims = None
        if tt.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
        out[vi.name] = (tt.elem_type, dims)
    return out


def shape_disagreements(graph: Graph, exported: Exported) -> list[str]:
    """Every value whose ONNX-inferred dtype, rank or size contradicts nnc's type (empty when they agree).

    A size nnc knows that ONNX leaves unknown is not a contradiction; a symbolic size that ONNX infers as a
    number is (the graph would only run at that batch size)."""
    inferred = _types(check(exported.model))
    problems = []
    for vid, name in exported.names.items():
        if name not in inferred or vid not in graph.values:
            continue
        t = graph.type_of(vid)
        elem, dims = inferred[name]
        if elem != TensorProto.UNDEFINED and elem != ONNX_DTYPES[t.dtype]:
            problems.append(f"{name}: dtype {TensorProto.DataType.Name(elem)} in ONNX, {t.dtype} in nnc")
            continue
        if dims is None:
            continue
        if len(dims) != t.rank:
            problems.append(f"{name}: rank {len(dims)} in ONNX, {t} in nnc")
            continue
        for d, want in zip(dims, t.shape):
            if isinstance(d, int) and d and (not isinstance(want, int) or d != want):
                problems.append(f"{name}: shape {dims} in ONNX, {t} in nnc")
                break
    return problems


def inferred_fraction(exported: Exported) -> float:
    """The share of the model's values whose full shape ONNX shape inference determined."""
    inferred = _types(check(exported.model))
    known = [dims is not None for _, dims in inferred.values()]
    return sum(known) / max(len(known), 1)
