"""An nnc IR graph (already prepared: primitives only, explicit broadcasts) as an ONNX ModelProto.

Input and output names are the program's (`x`, `lenet5/features.conv2d/weight`,
`new/0.adam.m/...`); symbolic sizes stay symbolic (`dim_param` "N"). Parameters
become initializers when their values are given (an inference model to ship)
and graph inputs otherwise (a training step, whose parameters come back as
`new/...` outputs, or an executable that holds them itself). The signature's
roles and update pairs go into `metadata_props` as JSON, so a plain
onnxruntime user can see which output feeds which input next step.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import onnx
from onnx import ModelProto, helper, numpy_helper

from ...ir.graph import Graph
from ...ir.types import TensorType, dim_str
from ..base import Signature
from .broadcasts import implicit_broadcasts
from .builder import IR_VERSION, NP_DTYPES, ONNX_DTYPES, OPSET, Builder
from .lower import lower_node


class ExportError(Exception):
    """A graph the ONNX backend cannot express; the message names the op and its `.nn` line."""


@dataclass(frozen=True)
class Exported:
    model: ModelProto
    names: dict  # nnc value id -> ONNX value name
    inputs: tuple[str, ...]  # the model's inputs, in order
    outputs: tuple[str, ...]


def value_info(name: str, t: TensorType):
    dims = [d if isinstance(d, int) else dim_str(d) for d in t.shape]
    return helper.make_tensor_value_info(name, ONNX_DTYPES[t.dtype], dims)


def export(graph: Graph, signature: Signature | None = None, *,
           initializers: Mapping[str, np.ndarray] | None = None, defaults: Mapping[str, np.ndarray] | None = None,
           doc: str = "") -> Exported:
    """`graph` as ONNX. Parameters named in `initializers` are baked in; every other parameter is an input.
    Inputs named in `defaults` keep an initializer of the same name: a value used unless one is fed."""
    initializers = dict(initializers or {})
    defaults = dict(defaults or {})
    b = Builder()
    names: dict[int, str] = {}
    inputs, inits = [], []

    def stored(name: str, t: TensorType, value) -> None:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=NP_DTYPES[t.dtype]), name))

    for name, vid in graph.inputs:
        names[vid] = name
        inputs.append(value_info(name, graph.type_of(vid)))
        if name in defaults:
            stored(name, graph.type_of(vid), defaults[name])
    for p in graph.params:
        names[p.value.id] = p.name
        if p.name in initializers:
            stored(p.name, p.value.type, initializers[p.name])
        else:
            inputs.append(value_info(p.name, p.value.type))
            if p.name in defaults:
                stored(p.name, p.value.type, defaults[p.name])
    substitute, skip = implicit_broadcasts(graph)
    for k, node in enumerate(graph.nodes):
        if k in skip:
            continue
        b.at(node.path, node.span)
        ins = [substitute.get((k, pos), vid) for pos, vid in enumerate(node.inputs)]
        try:
            outs = lower_node(b, node.op, [names[i] for i in ins], [graph.type_of(i) for i in ins],
                              [graph.type_of(o) for o in node.outputs], node.attr_dict)
        except NotImplementedError as e:
            where = f" at {node.span.file}:{node.span.line}" if node.span else ""
            raise ExportError(f"{e} ({node.op} {node.path}{where})") from None
        for vid, out in zip(node.outputs, outs):
            names[vid] = out
    outputs = []
    b.at("outputs", None)
    for name, vid in graph.outputs:
        b.op("Identity", [names[vid]], outputs=[name])
        outputs.append(value_info(name, graph.type_of(vid)))
    g = helper.make_graph(b.nodes, _safe(graph.name), inputs, outputs, initializer=inits, doc_string=doc)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="nnc",
                              doc_string=doc)
    model.ir_version = IR_VERSION
    meta = {"nnc.graph": graph.name}
    if signature is not None:
        meta["nnc.roles"] = json.dumps({p.name: p.role.value for p in signature.inputs + signature.outputs})
        meta["nnc.updates"] = json.dumps(signature.updates)
        meta["nnc.losses"] = json.dumps([p.name for p in signature.outputs if p.loss])
    helper.set_model_props(model, meta)
    return Exported(model, names, tuple(i.name for i in inputs), tuple(o.name for o in outputs))


def check(model: ModelProto) -> ModelProto:
    """The checker's full verdict (raises onnx.checker.ValidationError); the model with inferred shapes."""
    onnx.checker.check_model(model, full_check=True)
    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)


def _safe(name: str) -> str:
    return name or "nnc"
