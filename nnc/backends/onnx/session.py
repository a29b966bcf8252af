"""An exported graph in an ONNX Runtime session, behind nnc's Executable interface.

Every stateful input (parameters, state, optimiser slots, step, key) lives
in OrtValues held here, on the session's device, between calls; only the
batch goes in and the reported values come out. Updated values ping-pong
between two buffer sets: a call reads set A and writes set B (two IO
bindings prepared once), and the sets swap only when every loss is finite —
the numpy oracle's rule. One OrtValue is never bound as both an input and an
output of one run (ONNX Runtime then computes silently wrong numbers).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ...interp import RunError
from ...ir.graph import Graph
from ..base import STATEFUL, Role, Signature
from ..state import checked_state
from .builder import NP_DTYPES
from .device import ORT_DEVICE, make_session
from .export import export


class OnnxExecutable:
    """A prepared graph compiled to an InferenceSession; state held in OrtValues across calls."""

    def __init__(self, graph: Graph, signature: Signature, device: str = "cpu", threads: int | None = None):
        signature.check(graph)
        self.graph = graph
        self.signature = signature
        self.device = device
        self.exported = export(graph, signature)
        self.session = make_session(self.exported.model.SerializeToString(), device, threads)
        self._stateful = {p.name: p for p in signature.inputs if p.role in STATEFUL}
        self._updates = signature.updates  # output -> input it replaces
        self._replaced = set(self._updates.values())
        self._losses = [p.name for p in signature.outputs if p.loss]
        self._reports = list(signature.reports)
        self._data = {p.name: p for p in signature.inputs if p.role is Role.DATA}
        self._sets: list[dict] = [{}, {}]  # two buffer sets of OrtValues for updated inputs
        self._fixed: dict = {}  # OrtValues of stateful inputs nothing replaces (key, frozen parameters)
        self._cur = 0
        self._bindings: list | None = None
        for port in self._stateful.values():
            if port.role in (Role.STEP, Role.KEY):
                self._put(port.name, np.asarray(0, NP_DTYPES[port.type.dtype]))

    def _ortvalue(self, a: np.ndarray):
        """A new OrtValue holding a copy of a: on the CPU an OrtValue shares the array's memory, and two
        buffers sharing memory would make an update read what it is writing (or change the caller's array)."""
        import onnxruntime as ort
        return ort.OrtValue.ortvalue_from_numpy(np.array(a, order="C", copy=True), ORT_DEVICE[self.device], 0)

    def _put(self, name: str, a: np.ndarray) -> None:
        if name in self._replaced:
            self._sets[self._cur][name] = self._ortvalue(a)
            other = self._sets[1 - self._cur]
            if name not in other:
                other[name] = self._ortvalue(a)
        else:
            self._fixed[name] = self._ortvalue(a)
        self._bindings = None

    def load_state(self, values: Mapping[str, np.ndarray]) -> None:
        for name, a in checked_state(self._stateful, values).items():
            self._put(name, a)

    def _held(self) -> dict:
        return {**self._fixed, **self._sets[self._cur]}

    def state(self) -> dict[str, np.ndarray]:
        return {name: np.array(v.numpy(), copy=True) for name, v in self._held().items()}

    def _bind(self) -> list:
        """Two IO bindings: binding p reads set p (inputs bound once; the batch is bound per call)."""
        bindings = []
        for p in (0, 1):
            io = self.session.io_binding()
            for name, v in {**self._fixed, **self._sets[p]}.items():
                io.bind_ortvalue_input(name, v)
            bindings.append(io)
        return bindings

    def _bind_outputs(self, io, p: int) -> None:
        """The updates into set 1 - p; the reports unallocated, every call, since a report's size follows
        the batch (ONNX Runtime would otherwise reuse the last call's buffer and refuse a new batch size)."""
        io.clear_binding_outputs()
        for out, target in self._updates.items():
            io.bind_ortvalue_output(out, self._sets[1 - p][target])
        for name in self._reports:
            io.bind_output(name, "cpu")

    def __call__(self, **feeds) -> dict[str, np.ndarray]:
        missing = [n for n in self._stateful if n not in self._held()]
        if missing:
            raise RunError(f"no value loaded for {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
        held = [n for n in feeds if n in self._stateful]
        if held:
            raise RunError(f"{held[0]} is held by the executable (load_state), not fed per call")
        unknown = [n for n in feeds if n not in self._data]
        if unknown:
            raise RunError(f"unknown input{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
                           f"(inputs are: {', '.join(self._data) or 'none'})")
        arrays = _check_data(self._data, feeds)
        if self._bindings is None:
            self._bindings = self._bind()
        io = self._bindings[self._cur]
        for name, a in arrays.items():
            io.bind_cpu_input(name, a)
        self._bind_outputs(io, self._cur)
        try:
            self.session.run_with_iobinding(io)
        except Exception as e:  # noqa: BLE001 - onnxruntime's errors name the node; one line for the caller
            raise RunError(f"onnxruntime: {str(e).strip().splitlines()[0]}") from None
        values = io.get_outputs()
        out = {name: np.array(values[len(self._updates) + i].numpy(), copy=True)
               for i, name in enumerate(self._reports)}
        if self._updates and all(np.all(np.isfinite(out[n])) for n in self._losses):
            self._cur = 1 - self._cur
        return out


def _check_data(ports: dict, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The fed arrays in the declared dtypes (as the oracle converts them), sizes bound consistently."""
    from ...ir.bind import BindError, bind_symbols
    missing = [n for n in ports if n not in feeds]
    if missing:
        raise RunError(f"missing input{'s' if len(missing) > 1 else ''}: " + ", ".join(missing))
    out, shapes = {}, []
    for name, port in ports.items():
        t = port.type
        a = np.asarray(feeds[name])
        want = NP_DTYPES[t.dtype]
        if (t.is_float and np.issubdtype(a.dtype, np.floating)) or (t.is_int and np.issubdtype(a.dtype, np.integer)):
            a = a.astype(want, copy=False)
        elif a.dtype != want:
            raise RunError(f"input {name} must be {t.dtype}, found an array of {a.dtype}")
        shapes.append((name, t, a.shape))
        out[name] = _contiguous(a)
    try:
        bind_symbols(shapes)
    except BindError as e:
        raise RunError(str(e)) from None
    return out


def _contiguous(a: np.ndarray) -> np.ndarray:
    """a in C order, keeping its rank (np.ascontiguousarray turns a 0-d array into a 1-d one)."""
    return a if a.flags.c_contiguous else a.copy(order="C")
