"""The Python API of cli.md: nnc.load(path) -> Program; Program.model(name, backend, seed) -> a callable model."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .compiler import CheckResult, check_file
from .diagnostics import CompileError
from .elaborate import UnreadableFile
from .init import initialize
from .interp import Context, RunError, run_graph

BACKENDS = ("numpy", "llvm", "onnx")


class Program:
    """A checked program: its models and train blocks as typed IR graphs."""

    def __init__(self, result: CheckResult, text: str = ""):
        self._result = result
        self._text = text
        self.diagnostics = result.diagnostics

    @property
    def models(self) -> list[str]:
        return list(self._result.models)

    @property
    def trains(self) -> list[str]:
        return list(self._result.trains)

    def graph(self, name: str):
        return self._model_info(name).graph

    def _model_info(self, name: str):
        if name not in self._result.models:
            raise KeyError(f"no model {name!r}; models: {', '.join(self._result.models) or 'none'}")
        return self._result.models[name]

    def train(self, name: str, backend: str = "numpy", seed: int = 0, device: str = "cpu"):
        """A Trainer for train block `name`: .step(**batch), .params, .save(path), .load(path)."""
        from .train.trainer import Trainer
        if name not in self._result.trains:
            raise KeyError(f"no train block {name!r}; train blocks: {', '.join(self._result.trains) or 'none'}")
        _check_backend(backend, device)
        return Trainer(self._result.trains[name], seed=seed, program_text=self._text)

    def model(self, name: str, backend: str = "numpy", seed: int = 0, device: str = "cpu") -> "Model":
        info = self._model_info(name)
        _check_backend(backend, device)
        return Model(info.graph, seed)


def _check_backend(backend: str, device: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend != "numpy":
        raise NotImplementedError(f"the {backend} backend is not built yet; use backend='numpy'")
    if device != "cpu":
        raise ValueError("the numpy backend runs on the cpu only")


class Model:
    """A model on the numpy reference backend, in inference mode."""

    def __init__(self, graph, seed: int):
        if any(n.op == "grad" for n in graph.nodes):  # grad(...) inside a model: computed by autodiff
            from .passes.training import expand_grads
            graph = expand_grads(graph)
        self.graph = graph
        values = initialize(graph.params, seed)
        self._trainable = [p.name for p in graph.params if p.trainable]
        self._state = [p.name for p in graph.params if not p.trainable]
        self._values = values
        self.params = _ParamDict(self._values, self._trainable, graph)
        self.state = _ParamDict(self._values, self._state, graph)

    @property
    def inputs(self) -> list[str]:
        return [n for n, _ in self.graph.inputs]

    @property
    def outputs(self) -> list[str]:
        return [n for n, _ in self.graph.outputs]

    def __call__(self, mc_dropout: bool = False, rng: np.random.Generator | None = None, **feeds):
        ctx = Context(training=False, mc_dropout=mc_dropout, rng=rng or np.random.default_rng(0))
        out = run_graph(self.graph, feeds, self._values, ctx)
        return next(iter(out.values())) if len(out) == 1 else out


class _ParamDict(dict):
    """name -> ndarray; assignment checks the shape and keeps float32."""

    def __init__(self, store: dict, names: list[str], graph):
        super().__init__((n, store[n]) for n in names)
        self._store = store
        self._shapes = {p.name: tuple(p.value.type.shape) for p in graph.params}

    def __setitem__(self, name: str, value) -> None:
        if name not in self._shapes or name not in self:
            raise KeyError(f"no parameter {name!r}")
        a = np.asarray(value, dtype=np.float32)
        if a.shape != self._shapes[name]:
            raise ValueError(f"{name} must have shape {list(self._shapes[name])}, found {list(a.shape)}")
        self._store[name] = a
        super().__setitem__(name, a)


def load(path, warnings_as_errors: bool = False) -> Program:
    try:
        result = check_file(Path(path), warnings_as_errors=warnings_as_errors)
    except UnreadableFile as e:
        raise FileNotFoundError(str(e)) from None
    if result.errors:
        raise CompileError(result.diagnostics, result.sources)
    main = next(iter(result.sources.files.values()), None)
    return Program(result, main.text if main else "")


__all__ = ["Program", "Model", "load", "RunError"]
