"""The ONNX backend: nnc graphs as standard ONNX (opset 21), run by ONNX Runtime on the CPU or CUDA.

    builder.py   names, constants, node names and doc strings from `.nn` spans
    lower.py     the lowering table, primitive -> ONNX nodes (elementwise, shapes, reductions)
    lower_nn.py  convolution, pooling and its gradients, Philox random numbers in the graph
    lower_rnn.py rnn, lstm, gru and their backward, unrolled over a static length
    broadcasts.py explicit broadcasts ONNX does not need
    checks.py    the checker and ONNX shape inference against nnc's types
    export.py    a prepared graph -> ModelProto (inputs, initializers, outputs, roles in metadata)
    session.py   the Executable: state in OrtValues, two IO bindings that ping-pong the updates
    device.py    providers, threads, and why CUDA cannot run here
    artifacts.py `nnc compile --target onnx`: MODEL.onnx, TRAIN.step.onnx and a README
"""
from __future__ import annotations

from typing import Mapping

from ...ir.graph import Graph
from ..base import BackendUnavailable, Signature
from .device import why_not
from .lower import LOWER
from .lower_nn import LOWER_NN


class OnnxBackend:
    name = "onnx"
    devices = ("cpu", "cuda")
    # What the lowering tables cover (every primitive today; recurrent layers need a sequence length known
    # when the graph is built); decompose() reduces every graph to these.
    primitives = frozenset(LOWER) | frozenset(LOWER_NN)

    def available(self, device: str = "cpu") -> str | None:
        if device not in self.devices:
            return f"the onnx backend runs on cpu or cuda, not {device}"
        return why_not(device)

    def compile(self, graph: Graph, signature: Signature, *, device: str = "cpu",
                options: Mapping[str, object] | None = None):
        from .export import ExportError
        from .session import OnnxExecutable
        why = self.available(device)
        if why is not None:
            raise BackendUnavailable(why)
        options = dict(options or {})
        try:
            return OnnxExecutable(graph, signature, device=device, threads=options.get("threads"))
        except ExportError as e:
            raise BackendUnavailable(f"the onnx backend cannot run this graph: {e}") from None


BACKEND = OnnxBackend()
