"""The Python API of cli.md: nnc.load(path) -> Program; Program.model(name, backend, seed) -> a callable model."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .compiler import CheckResult, check_file
from .diagnostics import CompileError
from .elaborate import UnreadableFile
from .init import initialize
from .interp import RunError
from .train.state_dict import StateDict


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
        return Trainer(self._result.trains[name], seed=seed, program_text=self._text, backend=backend,
                       device=device)

    def model(self, name: str, backend: str = "numpy", seed: int = 0, device: str = "cpu") -> "Model":
        info = self._model_info(name)
        return Model(info.graph, seed, backend=backend, device=device)


class Model:
    """A model compiled by a backend, in inference mode; Monte-Carlo dropout on request.

    `m(x=...)` runs the inference graph. `m(x=..., mc_dropout=True)` runs a second graph, built with every
    dropout drawing its mask, whose call counter advances on each call: successive calls are independent
    samples, and the same seed gives the same sequence of samples on every backend.
    """

    def __init__(self, graph, seed: int = 0, backend: str = "numpy", device: str = "cpu"):
        from .backends import inference_signature, resolve
        from .passes.pipeline import prepare
        if any(n.op == "grad" for n in graph.nodes):  # grad(...) inside a model: computed by autodiff
            from .passes.training import expand_grads
            graph = expand_grads(graph)
        self.graph = graph
        self.seed = seed
        self.device = device
        self.backend = resolve(backend, device)
        from .passes.training import RANDOM_OPS, random_on
        if any(n.op in RANDOM_OPS for n in graph.nodes):  # rand/randn: a new draw on every call, from the seed
            run, signature = _counted(random_on(graph))
        else:
            run, signature = graph, inference_signature(graph)
        self._exe = self.backend.compile(prepare(run, self.backend, signature=signature), signature, device=device)
        # the initial values are this model's alone: a backend that can hold them without a copy does
        getattr(self._exe, "adopt_state", self._exe.load_state)(initialize(graph.params, seed))
        if run is not graph:
            self._exe.load_state(_counters(seed))
        self._single = graph.outputs[0][0] if len(graph.outputs) == 1 else None  # returned as the array alone
        self._trainable = [p.name for p in graph.params if p.trainable]
        self._state = [p.name for p in graph.params if not p.trainable]
        self._mc = None  # the Monte-Carlo dropout executable, compiled on first use
        self._mc_stale = True
        self._mc_warned = False

    @property
    def inputs(self) -> list[str]:
        return [n for n, _ in self.graph.inputs]

    @property
    def outputs(self) -> list[str]:
        return [n for n, _ in self.graph.outputs]

    @property
    def params(self) -> StateDict:
        """name -> array of the trainable parameters; `m.params[name] = array` assigns (shape checked)."""
        return StateDict(self._exe.state(), self._trainable, self._load)

    @property
    def state(self) -> StateDict:
        return StateDict(self._exe.state(), self._state, self._load)

    def _load(self, values: dict) -> dict:
        self._exe.load_state(values)
        self._mc_stale = True
        return self._exe.state()

    @property
    def stochastic(self) -> bool:
        """Whether Monte-Carlo calls can differ: the model has a dropout with p > 0, or draws rand/randn."""
        from .passes.training import RANDOM_OPS
        return any((n.op == "dropout" and n.attr("p")) or n.op in RANDOM_OPS for n in self.graph.nodes)

    def __call__(self, mc_dropout: bool = False, **feeds):
        """The outputs for `feeds` (one array, or a dict by name): new arrays, never overwritten by a later call
        (a backend may hand back an earlier call's array only once nothing refers to it any more)."""
        if not mc_dropout:
            out = self._exe(**feeds)
        else:
            if not self._mc_warned and not self.stochastic:
                import warnings
                self._mc_warned = True
                warnings.warn(f"model {self.graph.name} has no dropout: Monte-Carlo samples are all equal (their "
                              "spread is 0)", stacklevel=2)
            out = self._mc_executable()(**feeds)
        return out[self._single] if self._single is not None else out

    def _mc_executable(self):
        from .passes.pipeline import prepare
        from .passes.training import dropout_on, random_on
        if self._mc is None:
            graph, sig = _counted(random_on(dropout_on(self.graph)))
            self._mc = self.backend.compile(prepare(graph, self.backend, signature=sig), sig, device=self.device)
            self._mc.load_state(_counters(self.seed))
        if self._mc_stale:
            current = self._exe.state()  # parameters and state only: each executable keeps its own counter
            self._mc.load_state({n: current[n] for n in self._trainable + self._state})
            self._mc_stale = False
        return self._mc


def _counted(graph):
    """`graph` with the random key and the call counter as inputs and the next count as an update, and its
    signature: each call of the executable draws new numbers (Monte-Carlo dropout, rand, randn)."""
    from .backends import Port, Role, Signature, inference_signature
    from .passes.emit import Emitter, builder_from
    from .passes.training import KEY_INPUT, STEP_INPUT, counter_inputs
    b = builder_from(graph)
    _key, counter = counter_inputs(b)
    emit = Emitter(b, next((n.span for n in graph.nodes), None), "", "mc")
    b.outputs.append(("new/" + STEP_INPUT, emit("add", counter, emit.const(1, "i64")).id))
    graph = b.build()
    base = inference_signature(graph)
    roles = {KEY_INPUT: Role.KEY, STEP_INPUT: Role.STEP}
    ins = tuple(Port(p.name, roles[p.name], p.type) if p.name in roles else p for p in base.inputs)
    outs = tuple(p for p in base.outputs if p.name != "new/" + STEP_INPUT)
    return graph, Signature(ins, outs + (Port("new/" + STEP_INPUT, Role.STEP, counter.type, replaces=STEP_INPUT),))


def _counters(seed: int) -> dict:
    from .passes.training import KEY_INPUT, STEP_INPUT
    return {KEY_INPUT: np.asarray(seed, np.int64), STEP_INPUT: np.asarray(0, np.int64)}


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
