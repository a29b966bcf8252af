"""The numpy oracle behind the backend interface.

It runs a graph through the reference interpreter (nnc/interp.py), which
every other backend is checked against. It lowers every op, composites
included, so it needs no decomposition; in strict mode (on in the tests) the
interpreter checks each result against the dtype and shape the IR states.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..interp import NP_DTYPES, RunError, run_graph
from ..ir.graph import Graph
from .base import STATEFUL, Role, Signature
from .state import checked_state


class NumpyExecutable:
    """A graph and its stateful inputs, run by the interpreter; updates are committed only after a finite loss."""

    def __init__(self, graph: Graph, signature: Signature, strict: bool | None = None):
        signature.check(graph)
        self.graph = graph
        self.signature = signature
        self.strict = strict
        self._stateful = {p.name: p for p in signature.inputs if p.role in STATEFUL}
        self._params = {p.name for p in signature.inputs if p.role in (Role.PARAM, Role.STATE)}
        self._values: dict[str, np.ndarray] = {}
        defaults = {Role.STEP: 0, Role.KEY: 0}
        for port in self._stateful.values():
            if port.role in defaults:
                self._values[port.name] = np.asarray(defaults[port.role], NP_DTYPES[port.type.dtype])
        self._outputs = dict(graph.outputs)

    def load_state(self, values: Mapping[str, np.ndarray]) -> None:
        self._values.update(checked_state(self._stateful, values))

    def state(self) -> dict[str, np.ndarray]:
        return dict(self._values)

    def __call__(self, **feeds) -> dict[str, np.ndarray]:
        missing = [n for n in self._stateful if n not in self._values]
        if missing:
            raise RunError(f"no value loaded for {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
        data = self.signature.data
        held = [n for n in feeds if n in self._stateful]
        if held:
            raise RunError(f"{held[0]} is held by the executable (load_state), not fed per call")
        unknown = [n for n in feeds if n not in data]
        if unknown:
            raise RunError(f"unknown input{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
                           f"(inputs are: {', '.join(data) or 'none'})")
        inputs = dict(feeds)
        inputs.update({n: v for n, v in self._values.items() if n not in self._params})
        params = {n: self._values[n] for n in self._params}
        with np.errstate(all="ignore"):  # overflow shows up as a non-finite loss, which the caller reports
            out = run_graph(self.graph, inputs, params, strict=self.strict)
        if all(np.all(np.isfinite(out[p.name])) for p in self.signature.outputs if p.loss):
            self._values.update({port.replaces: out[port.name] for port in self.signature.outputs
                                 if port.replaces is not None})
        return {p.name: out[p.name] for p in self.signature.outputs if p.role is Role.REPORT}


class NumpyBackend:
    name = "numpy"
    devices = ("cpu",)
    primitives = None  # the oracle runs every op, composites included

    def available(self, device: str = "cpu") -> str | None:
        return None if device == "cpu" else f"the numpy backend runs on the cpu only, not {device}"

    def compile(self, graph: Graph, signature: Signature, *, device: str = "cpu",
                options: Mapping[str, object] | None = None) -> NumpyExecutable:
        options = dict(options or {})
        return NumpyExecutable(graph, signature, strict=options.pop("strict", None))


BACKEND = NumpyBackend()
