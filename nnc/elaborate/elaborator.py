"""AST to IR: scopes, blocks, models, layers, compile-time evaluation, and shape inference as nodes are made.

Shapes are inferred while the graph is built, not afterwards, because the
language computes with them at compile time (`channels(x) != width`). Each
op's shape rule runs as its node is added; a ShapeError becomes a diagnostic
at the argument or callee it blames, and the failed value becomes POISON so
that one mistake is reported once, not again by everything downstream.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..diagnostics import Label, Reporter
from ..ir.graph import Graph
from ..ir.types import DTYPES, MAX_DIM, Sym, TensorType, dim_str, shape_str, sym
from ..ops import get as get_op, public_names, registry as op_registry, suggest
from ..ops.attrs import AttrError, describe, normalize
from ..ops.base import Op, ShapeError
from ..optimizers import OPTIMIZERS, SCHEDULES
from ..source import Span
from ..syntax import ast
from ..syntax.parser import _new_span
from .builder import MAX_NODES, GraphBuilder, TooLarge
from .compile_time import CompileTimeError, arith, compare, is_number, power, shown
from .scope import Scope, UsageLog
from .values import (POISON, BlockFn, BuiltinFn, LayerFn, ModelFn, OptimizerSpec, Poison, ScheduleSpec, Tensor,
                     TupleValue)

MAX_LOOP = 100_000
MAX_STEPS = 2_000_000
MAX_CALL_DEPTH = 64
MAX_DEPTH = 1000  # expressions and statements nested inside each other, across block calls
MAX_SUGGESTIONS = 100  # "did you mean" searches per check
MAX_CANDIDATES = 2000  # names one search compares
COMPILE_TIME_FUNCTIONS = ("shape", "channels", "params", "l1", "l2", "len")


class Abort(Exception):
    """Stop elaborating the current model or train block (its error is already reported)."""


@dataclass
class Module:
    """One loaded file: its AST and its global scope (consts, blocks, models, imports)."""

    name: str
    path: Path | None
    program: ast.Program
    globals: Scope
    trains: list = field(default_factory=list)
    models: list = field(default_factory=list)
    broken_imports: list = field(default_factory=list)  # imports that failed (already reported)


@dataclass
class Frame:
    kind: str  # "model" | "block" | "train" | "const"
    name: str
    module: Module
    scope: Scope
    builder: GraphBuilder | None
    node_path: str
    param_path: str
    stack: tuple = ()  # ("block"|"model", module name, name) being elaborated, for recursion
    given_inputs: dict | None = None  # an inlined model call: input name -> Tensor
    symbols: dict | None = None  # an inlined model call: the model's size symbols -> the caller's sizes
    outputs: list = field(default_factory=list)  # (name, value, span)
    output_names: set = field(default_factory=set)
    returned: object = None
    binding: str | None = None
    train: "TrainBuild | None" = None
    input_sites: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MinimizeStep:
    loss: str  # the name the value is reported under
    value: int  # graph value id of the scalar loss
    targets: tuple[str, ...]  # model or layer names as written
    params: tuple[str, ...]  # the trainable parameters it updates
    optimizer: OptimizerSpec
    span: Span


@dataclass
class TrainBuild:
    steps: list = field(default_factory=list)
    minimize_lines: int = 0
    metrics: list = field(default_factory=list)  # (name, value id, span)
    train_metrics: list = field(default_factory=list)  # names of `metric ... on train`
    monitor: object = None  # the ast.Monitor statement, checked at the end of the block
    settings: dict = field(default_factory=dict)
    setting_spans: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelInfo:
    name: str
    graph: Graph
    span: Span


@dataclass(frozen=True)
class TrainInfo:
    name: str
    graph: Graph
    steps: tuple[MinimizeStep, ...]
    metrics: tuple[tuple[str, int], ...]
    settings: dict
    span: Span
    train_metrics: tuple[str, ...] = ()  # metrics also computed on training batches (`on train`)


class Elaborator:
    def __init__(self, reporter: Reporter):
        self.r = reporter
        self.usage = UsageLog()
        self.steps = 0
        self.depth = 0
        self._suggestions = 0  # "did you mean" searches made
        self._ev_table: dict = {}  # node type -> bound ev_ method
        self._exec_table: dict = {}  # statement kind -> bound exec_ method
        self.abandoned: list[Span] = []  # definitions whose elaboration stopped at an error
        self._too_deep_at: object = ()  # the statement whose nesting was last reported too deep
        self.current_span: Span | None = None

    # ---- entry points ---------------------------------------------------------------------------------
    def model(self, fn: ModelFn) -> ModelInfo | None:
        d = fn.defn
        builder = GraphBuilder(d.name)
        frame = Frame("model", d.name, fn.module, Scope(fn.module.globals, self.usage), builder, "", d.name,
                      stack=(("model", fn.module.name, d.name),))
        if not self._run_top(frame, d.body, d.span):
            return None
        self._finish_outputs(frame, d, builder)
        graph = builder.build()
        self._check_second_order(graph, [])
        return ModelInfo(d.name, graph, d.span)

    def train(self, defn: ast.TrainDef, module: Module) -> TrainInfo | None:
        builder = GraphBuilder(defn.name)
        frame = Frame("train", defn.name, module, Scope(module.globals, self.usage), builder, "", defn.name,
                      train=TrainBuild())
        if not self._run_top(frame, defn.body, defn.span):
            return None
        t = frame.train
        if not t.minimize_lines:
            self.r.error("E0107", f"train `{defn.name}` has nothing to minimize", defn.name_span,
                         "no `minimize` line", hint="add `minimize LOSS over MODEL with OPTIMIZER`")
        if t.monitor is not None:
            self.check_monitor(t)
        named = {name for name, _ in builder.outputs}
        for name, vid, span in [(s.loss, s.value, s.span) for s in t.steps] + list(t.metrics):
            if name not in named:
                named.add(name)
                builder.outputs.append((name, vid))
        graph = builder.build()
        self._check_second_order(graph, [(s.value, {builder.params[n].value.id for n in s.params}, s.span)
                                         for s in t.steps])
        return TrainInfo(defn.name, graph, tuple(t.steps), tuple((n, v) for n, v, _ in t.metrics),
                         dict(t.settings), defn.span, tuple(t.train_metrics))

    def _check_second_order(self, graph: Graph, minimized: list) -> None:
        """E0119 where a `minimize` line or a `grad` would differentiate a gradient through a layer whose
        gradient cannot be differentiated: a recurrent layer over a symbolic sequence length (see
        second_order.py); a cheap walk, done only when grad(...) is used."""
        if not any(n.op == "grad" for n in graph.nodes):
            return
        from .second_order import twice_differentiated, unknown_length
        jobs = list(minimized) + [(n.inputs[0], {n.inputs[1]}, n.span) for n in graph.nodes if n.op == "grad"]
        for loss, wrt, where in jobs:
            for grad_node, layer in twice_differentiated(graph, loss, wrt):
                labels = [Label(s, text) for s, text in ((grad_node.span, "the gradient through it is taken here"),
                                                         (where, "and differentiated again here"))
                          if s is not None and layer.span is not None and s.file == layer.span.file]
                length = unknown_length(graph, layer) or "?"
                self.r.error("E0119", f"the gradient of `{layer.op}` cannot be differentiated again: its "
                             f"sequence length `{length}` is not known when the graph is built",
                             layer.span, "differentiated twice",
                             hint="a second derivative through rnn, lstm or gru unrolls backpropagation through "
                                  f"time, which needs a fixed length: declare the sequence's time axis as a number "
                                  f"([N, 16, F] rather than [N, {length}, F])",
                             labels=labels)

    def _run_top(self, frame: Frame, body, where: Span | None = None) -> bool:
        try:
            self.exec_body(body, frame)
        except TooLarge as e:
            loop = getattr(e, "loop_span", None)  # the outermost `for` that was unrolling, if any
            self.r.error("E0112", "this loop unrolls into too many operations" if loop else
                         "the program unrolls into too many operations", loop or self.current_span,
                         f"more than {MAX_STEPS:,} statements and loop iterations, or {MAX_NODES:,} nodes",
                         hint="compile-time loops and block calls build every operation they repeat; "
                              "repeat less, or split the program")
            self._abandoned(where)
            return False
        except Abort:
            self._abandoned(where)
            return False
        return True

    def _abandoned(self, where: Span | None) -> None:
        """A definition whose checking stopped half way: what it never reached is not "unused"."""
        if where is not None:
            self.abandoned.append(where)

    def _finish_outputs(self, frame: Frame, d: ast.ModelDef, builder: GraphBuilder) -> None:
        if not frame.outputs:
            self.r.error("E0107", f"model `{d.name}` has no output", d.name_span, "no `output` in this model",
                         hint="mark a result with `output NAME = ...`")
        for name, value, span in frame.outputs:
            if isinstance(value, Tensor):
                builder.outputs.append((name, value.id))
                node = builder.producer.get(value.id)
                if node is not None and node.op == "dropout":
                    self.r.warning("W0004", "dropout after the last layer", node.span,
                                   "this dropout feeds the output directly",
                                   hint="dropout belongs between layers; at the output it only adds noise")

    def const_value(self, item: ast.Const, module: Module):
        frame = Frame("const", item.name, module, module.globals, None, "", "")
        self.current_span = item.span
        value = self.ev(item.value, frame)
        if isinstance(value, (Tensor, TupleValue)):
            self.r.error("E0105", f"const `{item.name}` must be a compile-time value, found {describe(value)}",
                         item.value.span)
            return POISON
        return value

    # ---- statements ---------------------------------------------------------------------------------------
    def exec_body(self, stmts, frame: Frame, conditional: bool = False) -> None:
        for stmt in stmts:
            if frame.returned is not None:
                return
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise TooLarge()
            self.current_span = stmt.span
            self.exec(stmt, frame, conditional)

    def exec(self, s, frame: Frame, conditional: bool) -> None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                self.too_deep(s.span)
                raise Abort()
            self._exec(s, frame, conditional)
        finally:
            self.depth -= 1

    def close_name(self, name: str, frame: Frame, as_callee: bool) -> str | None:
        """The visible name closest to a misspelt one, for "did you mean". Each search reads every name in
        scope, so a program with thousands of unbound names gets suggestions for the first ones only."""
        if self._suggestions >= MAX_SUGGESTIONS:
            return None
        self._suggestions += 1
        # difflib's ratio 2*M/(a+b) can reach 0.6 (suggest's cutoff) only when the lengths are within 7:3.
        low, high = len(name) * 3 / 7, len(name) * 7 / 3
        seen: set[str] = set()
        candidates: list[str] = []
        scope: Scope | None = frame.scope
        while scope is not None:
            for other, binding in scope.names.items():
                if low <= len(other) <= high and other not in seen:
                    seen.add(other)
                    if not isinstance(binding.value, Poison):  # not another name that was never bound
                        candidates.append(other)
            scope = scope.parent
        if as_callee:
            candidates += [n for n in list(public_names()) + list(COMPILE_TIME_FUNCTIONS)
                           if low <= len(n) <= high and n not in seen]
        if len(candidates) > MAX_CANDIDATES:
            first = name[:1].lower()
            candidates = [c for c in candidates if c[:1].lower() == first][:MAX_CANDIDATES]
        return suggest(name, candidates)

    def oversized(self, v, span: Span, what: str) -> bool:
        """An int beyond 2^63 - 1 given as a size, count or setting: reported here, before it meets a float."""
        todo = [v]
        while todo:
            x = todo.pop()
            if isinstance(x, list):
                todo.extend(x)
            elif isinstance(x, int) and not isinstance(x, bool) and abs(x) > MAX_DIM:
                self.r.error("E0114", f"{what} is {shown(x)}, larger than 2^63 - 1", span, "too large",
                             hint="sizes, counts and settings are at most 2^63 - 1")
                return True
        return False

    def too_deep(self, span: Span) -> None:
        if self._too_deep_at == self.current_span:
            return  # one report per statement: everything else under it is just as deep
        self._too_deep_at = self.current_span
        start = Span(span.file, span.line, span.column, span.line, span.column + 1)
        self.r.error("E0005", f"expressions and statements nest more than {MAX_DEPTH} deep here", start,
                     "nested too deep",
                     hint="bind parts of the expression to names, or split the block into smaller ones")

    def _exec(self, s, frame: Frame, conditional: bool) -> None:
        kind = type(s).__name__
        allowed = _ALLOWED_IN.get(kind)
        if allowed and frame.kind not in allowed:
            where = " or ".join(f"a `{k}`" if k != "block" else "a `block`" for k in allowed)
            word = {"Setting": getattr(s, "key", ""), "Input": "input", "Output": "output", "Return": "return",
                    "Minimize": "minimize", "Metric": "metric", "ParamDef": "param", "Monitor": "monitor"}[kind]
            self.r.error("E0116", f"`{word}` is only allowed in {where}", s.span, f"not allowed in a `{frame.kind}`")
            return
        method = self._exec_table.get(kind)
        if method is None:
            method = self._exec_table[kind] = getattr(self, "exec_" + kind)
        method(s, frame, conditional)

    def exec_Input(self, s: ast.Input, frame: Frame, conditional: bool) -> None:
        if s.name in frame.input_sites:
            self.r.error("E0106", f"duplicate input `{s.name}`", s.name_span, "declared again here",
                         labels=[Label(frame.input_sites[s.name], "first declared here")],
                         hint="give each input its own name")
            return
        frame.input_sites[s.name] = s.name_span
        if frame.given_inputs is not None:
            value = frame.given_inputs.get(s.name, POISON)
        else:
            t = self.input_type(s, frame)
            value = POISON if t is None else frame.builder.add_input(s.name, t, s.span)
        frame.scope.bind(s.name, value, s.name_span, "input", conditional)

    def input_type(self, s: ast.Input, frame: Frame) -> TensorType | None:
        if s.dtype not in DTYPES:
            hint = suggest(s.dtype, DTYPES)
            self.r.error("E0202", f"unknown element type `{s.dtype}`", s.dtype_span, "not an element type",
                         hint=(f"did you mean `{hint}`?" if hint else "element types are f32, i32 and i64"))
            return None
        dims = []
        for d in s.dims:
            dim = self.dim_value(d, frame)
            if dim is None:
                return None
            dims.append(dim)
        return TensorType(s.dtype, tuple(dims))

    def dim_value(self, e, frame: Frame):
        """A dimension: an int, a const, or a symbol (a bare name that is not bound)."""
        if isinstance(e, ast.Name) and frame.scope.lookup(e.id) is None:
            if frame.symbols and e.id in frame.symbols:  # a called model's B is its caller's N
                return frame.symbols[e.id]
            return sym(e.id)
        v = self.ev(e, frame)
        if isinstance(v, Poison):
            return None
        if isinstance(v, Sym):
            return v
        if not isinstance(v, int) or isinstance(v, bool):
            self.r.error("E0105", f"a dimension must be an int or a symbol, found {describe(v)}", e.span)
            return None
        if v <= 0:
            self.r.error("E0207", f"a dimension must be positive, found {v}", e.span, "not a valid size")
            return None
        if v > MAX_DIM:
            self.r.error("E0114", f"dimension {v} is larger than 2^63 - 1", e.span, "too large")
            return None
        return v

    def exec_Bind(self, s: ast.Bind, frame: Frame, conditional: bool) -> None:
        frame.binding = s.name
        value = self.ev(s.value, frame)
        frame.binding = None
        if s.ascription is not None and isinstance(value, Tensor):
            value = self.check_ascription(s, value, frame)
        site = None if isinstance(value, Poison) else s.name_span
        frame.scope.bind(s.name, value, site, "value", conditional)

    def check_ascription(self, s: ast.Bind | ast.Output, value: Tensor, frame: Frame):
        want = []
        for d in s.ascription:
            dim = self.dim_value(d, frame)
            if dim is None:
                return POISON
            want.append(dim)
        got = value.type.shape
        if tuple(want) != got:
            self.r.error("E0203", f"shape ascription does not hold: expected {shape_str(want)}, found {shape_str(got)}",
                         s.ascription_span.to(s.ascription[-1].span) if s.ascription else s.ascription_span,
                         f"expected {shape_str(want)}",
                         labels=[Label(s.value.span, f"this is {value.type}")],
                         hint=self._ascription_hint(want, got))
            return POISON
        return value

    @staticmethod
    def _ascription_hint(want, got) -> str | None:
        if len(want) != len(got):
            return f"the value has rank {len(got)}, the ascription {len(want)}"
        diffs = [f"axis {i}: {dim_str(w)} vs {dim_str(g)}" for i, (w, g) in enumerate(zip(want, got)) if w != g]
        return "differs at " + ", ".join(diffs)

    def exec_Unpack(self, s: ast.Unpack, frame: Frame, conditional: bool) -> None:
        frame.binding = s.names[0][0]
        value = self.ev(s.value, frame)
        frame.binding = None
        if isinstance(value, Poison):
            items = [POISON] * len(s.names)
        elif isinstance(value, TupleValue) and len(value.items) == len(s.names):
            items = list(value.items)
        else:
            n = len(value.items) if isinstance(value, TupleValue) else 1
            self.r.error("E0118", f"cannot unpack {describe(value)} into {len(s.names)} names", s.value.span,
                         f"this gives {n} value{'s' if n != 1 else ''}",
                         hint="recurrent layers give their final state only with return_state=true"
                         if n == 1 else None)
            items = [POISON] * len(s.names)
        for (name, span), item in zip(s.names, items):
            frame.scope.bind(name, item, None if isinstance(item, Poison) else span, "value", conditional)

    def exec_ParamDef(self, s: ast.ParamDef, frame: Frame, conditional: bool) -> None:
        """`param pos: [16, 64] = normal(0.02)`: a trainable tensor named after the model (`vit/pos`), owned by
        the model like its layers' parameters (trained by `minimize ... over` it, counted by params())."""
        from ..ops.base import ParamSpec
        from .free_params import InitProblem, init_string
        dtype = s.dtype or "f32"
        if dtype not in ("f32", "f64"):
            self.r.error("E0202", f"a param is f32 or f64, found `{dtype}`", s.dtype_span, "not a float type")
            frame.scope.bind(s.name, POISON, None)
            return
        dims = []
        for d in s.dims:
            dim = self.dim_value(d, frame)
            if dim is not None and not isinstance(dim, int):
                self.r.error("E0208", f"a param needs known sizes, found {dim_str(dim)}", d.span, "not known here",
                             hint="a parameter's shape is fixed when the program is built: use a number or a const")
                dim = None
            if dim is None:
                frame.scope.bind(s.name, POISON, None)
                return
            dims.append(dim)
        try:
            init = init_string(s.init, lambda e: self.ev(e, frame))
        except InitProblem as p:
            self.r.error(p.code, p.message, p.span, hint=p.hint)
            frame.scope.bind(s.name, POISON, None)
            return
        if frame.builder is None:
            return
        fan_in = dims[-1] if dims else 1
        spec = ParamSpec(s.name, tuple(dims), init, fan_in=fan_in, fan_out=dims[0] if dims else 1)
        value, _ = frame.builder.param(frame.param_path, spec, dtype)
        self._record_model_param(frame, f"{frame.param_path}/{s.name}")
        frame.scope.bind(s.name, value, s.name_span, "value", conditional)

    def exec_LayerDef(self, s: ast.LayerDef, frame: Frame, conditional: bool) -> None:
        value = self.layer_instance(s, frame)
        frame.scope.bind(s.name, value, None if isinstance(value, Poison) else s.name_span, "layer", conditional)

    def layer_instance(self, s: ast.LayerDef, frame: Frame):
        e = s.value
        if isinstance(e, ast.Name):
            func, args = e, ()
        elif isinstance(e, ast.Call) and isinstance(e.func, ast.Name):
            func, args = e.func, e.args
        else:
            self.r.error("E0105", "`layer` names a built-in layer with its settings, e.g. `layer embed = dense(64)`",
                         e.span)
            return POISON
        callee = self.lookup(func.id, func.span, frame, as_callee=True)
        if isinstance(callee, Poison):
            return POISON
        if isinstance(callee, LayerFn):
            return callee
        if not (isinstance(callee, BuiltinFn) and callee.op is not None):
            self.r.error("E0105", f"`layer` needs a built-in layer, found {describe(callee)}", func.span,
                         hint="blocks and models share their parameters by name already")
            return POISON
        pos, kw = self.ev_args(args, frame)
        if any(isinstance(v, (Tensor, Poison)) for v, _ in pos):
            self.r.error("E0105", "`layer` takes the layer's settings only; the tensor comes when it is called",
                         e.span, hint=f"write `layer {s.name} = {func.id}(...)` and then `x -> {s.name}`")
            return POISON
        if frame.builder is None:
            return POISON
        return LayerFn(s.name, callee.op, tuple(pos), tuple(kw), f"{frame.param_path}/{s.name}", s.span, s.name_span)

    def exec_Output(self, s: ast.Output, frame: Frame, conditional: bool) -> None:
        if s.name in frame.output_names:
            self.r.error("E0106", f"duplicate output `{s.name}`", s.name_span, "declared again here")
            return
        if s.value is None:
            value = self.lookup(s.name, s.name_span, frame)
        else:
            frame.binding = s.name
            value = self.ev(s.value, frame)
            frame.binding = None
            if s.ascription is not None and isinstance(value, Tensor):
                value = self.check_ascription(s, value, frame)
            frame.scope.bind(s.name, value, None, "value", conditional)
        if not isinstance(value, (Tensor, Poison)):
            self.r.error("E0105", f"an output must be a tensor, found {describe(value)}",
                         s.value.span if s.value else s.name_span)
            value = POISON
        frame.outputs.append((s.name, value, s.span))
        frame.output_names.add(s.name)

    def exec_For(self, s: ast.For, frame: Frame, conditional: bool) -> None:
        start, end = self.ev(s.start, frame), self.ev(s.end, frame)
        if isinstance(start, Poison) or isinstance(end, Poison):
            self.poison_assigned(s.body, frame)
            return
        for v, e in ((start, s.start), (end, s.end)):
            if not isinstance(v, int) or isinstance(v, bool):
                self.r.error("E0105", f"a `for` range needs ints, found {describe(v)}", e.span)
                self.poison_assigned(s.body, frame)
                return
        if end - start > MAX_LOOP:
            self.r.error("E0112", f"this loop runs {end - start:,} times, more than the limit of {MAX_LOOP:,}",
                         s.start.span.to(s.end.span), "too many iterations",
                         hint="compile-time loops unroll into the graph; use fewer iterations")
            raise Abort()
        try:
            for i in range(start, end):
                # Every iteration counts against the budget, so nested loops with empty bodies end too.
                self.steps += 1
                if self.steps > MAX_STEPS:
                    raise TooLarge()
                frame.scope.bind(s.var, i, None)
                self.exec_body(s.body, frame, conditional=True)
                if frame.returned is not None:
                    return
        except TooLarge as e:
            e.loop_span = s.start.span.to(s.end.span)  # an enclosing loop overwrites it: the outermost wins
            raise

    def exec_If(self, s: ast.If, frame: Frame, conditional: bool) -> None:
        # An `else if` chain is walked in a loop, not by recursion, so 3,000 branches are fine.
        while True:
            cond = self.ev(s.cond, frame)
            if isinstance(cond, Poison):
                self.poison_assigned(s.then + (s.otherwise or ()), frame)
                return
            if not isinstance(cond, bool):
                self.r.error("E0117", f"an `if` condition must be a compile-time bool, found {describe(cond)}",
                             s.cond.span, hint="`if` chooses at compile time; conditions on tensor values are not "
                                               "part of the language" if isinstance(cond, Tensor) else None)
                self.poison_assigned(s.then + (s.otherwise or ()), frame)
                return
            if cond:
                self.exec_body(s.then, frame, conditional=True)
                return
            otherwise = s.otherwise or ()
            if len(otherwise) == 1 and isinstance(otherwise[0], ast.If):
                s = otherwise[0]
                self.current_span = s.span
                continue
            self.exec_body(otherwise, frame, conditional=True)
            return

    def poison_assigned(self, stmts, frame: Frame) -> None:
        """After a failed condition, names the skipped code would bind are poison, not unbound."""
        todo = [iter(stmts)]
        while todo:
            st = next(todo[-1], None)
            if st is None:
                todo.pop()
            elif isinstance(st, (ast.Bind, ast.LayerDef)):
                frame.scope.bind(st.name, POISON, None, conditional=True)  # the old value counts as used
            elif isinstance(st, ast.Unpack):
                for name, _ in st.names:
                    frame.scope.bind(name, POISON, None, conditional=True)
            elif isinstance(st, ast.For):
                todo.append(iter(st.body))
            elif isinstance(st, ast.If):
                todo.append(iter(st.then + (st.otherwise or ())))

    def exec_Assert(self, s: ast.Assert, frame: Frame, conditional: bool) -> None:
        cond = self.ev(s.cond, frame)
        if isinstance(cond, Poison):
            return
        if not isinstance(cond, bool):
            self.r.error("E0117", f"`assert` needs a compile-time bool, found {describe(cond)}", s.cond.span)
            return
        if not cond:
            message = self.ev(s.message, frame) if s.message is not None else None
            text = message if isinstance(message, str) else "assertion failed"
            self.r.error("E0115", f"assertion failed: {text}", s.keyword_span, "this assertion is false",
                         labels=[Label(s.cond.span, "evaluates to false")])

    def exec_Return(self, s: ast.Return, frame: Frame, conditional: bool) -> None:
        frame.binding = frame.binding or "return"
        values = [self.ev(v, frame) for v in s.values]
        frame.returned = values[0] if len(values) == 1 else TupleValue(tuple(values))

    def exec_Minimize(self, s: ast.Minimize, frame: Frame, conditional: bool) -> None:
        t = frame.train
        t.minimize_lines += 1
        name = s.value.id if isinstance(s.value, ast.Name) else f"loss_{t.minimize_lines}"
        frame.binding = name
        value = self.ev(s.value, frame)
        frame.binding = None
        optimizer = self.optimizer(s.optimizer, frame)
        params: list[str] = []
        ok = True
        for target, span in s.targets:
            found = self.target_params(target, span, frame)
            if found is None:
                ok = False
            else:
                params += [p for p in found if p not in params]
        if isinstance(value, Poison) or optimizer is None or not ok:
            return
        if not isinstance(value, Tensor) or value.type.shape != () or not value.type.is_float:
            found = value.type if isinstance(value, Tensor) else describe(value)
            self.r.error("E0203", f"`minimize` needs a scalar float loss, found {found}", s.value.span,
                         "not a scalar", hint="reduce it with a loss function or mean(...)")
            return
        t.steps.append(MinimizeStep(name, value.id, tuple(n for n, _ in s.targets), tuple(params), optimizer, s.span))

    def target_params(self, target: str, span: Span, frame: Frame) -> list[str] | None:
        if frame.scope.lookup(target) is None and builtin_value(target) is None and self._inside_model(target, span,
                                                                                                        frame):
            return None
        value = self.lookup(target, span, frame)
        if isinstance(value, Poison):
            return None
        if not isinstance(value, (ModelFn, LayerFn)):
            self.r.error("E0108", f"`minimize` goes over models and layers; `{target}` is {describe(value)}", span,
                         "not a model or layer", hint="name the model whose parameters the step updates")
            return None
        names = [p.name for p in self.owned_params(value, frame)]
        if not names:
            self.r.error("E0108", f"{describe(value)} is not used in this train block, so it has nothing to update",
                         span, "no parameters here", hint=f"call `{target}` in the train block first")
            return None
        return names

    def _inside_model(self, target: str, span: Span, frame: Frame) -> bool:
        """E0108 for a `minimize` target that names a layer or value inside a model this block calls, saying
        how to name it instead of "unbound name"; False when no called model binds the name."""
        from .hints import binding_site
        for module_name, model in frame.builder.model_params:
            b = frame.module.globals.lookup(model)
            fn = b.value if b is not None else None
            if not isinstance(fn, ModelFn) or fn.module.name != module_name:
                continue
            site = binding_site(fn.defn.body, target)
            if site is None:
                continue
            where, kind = site
            what = "a layer" if kind == "layer" else "a value"
            self.r.error("E0108", f"`{target}` is {what} inside model `{model}`, not a name in this train block",
                         span, "not a model or layer of this block",
                         labels=[Label(where, f"bound inside `{model}`")] if where.file == span.file else [],
                         hint=f"`over {model}` trains all of `{model}`'s parameters; to train only `{target}`, "
                              f"move it into a model of its own that `{model}` calls, and name that model here")
            return True
        return False

    @staticmethod
    def _record_model_param(frame: Frame, name: str) -> None:
        """Note that every model being called (the whole call stack) uses parameter `name`."""
        for kind, module, model in frame.stack:
            if kind == "model":
                frame.builder.model_params.setdefault((module, model), {})[name] = None

    @staticmethod
    def owned_params(value, frame: Frame) -> list:
        """The trainable parameters of a model or layer in the graph being built, as PyTorch's
        module.parameters(): a model's include those of every model and layer its calls reached."""
        if isinstance(value, ModelFn):
            used = frame.builder.model_params.get((value.module.name, value.defn.name), {})
            return [p for p in frame.builder.params.values() if p.name in used and p.trainable]
        prefix = value.param_path + "/"
        return [p for p in frame.builder.params.values() if p.name.startswith(prefix) and p.trainable]

    def optimizer(self, e, frame: Frame) -> OptimizerSpec | None:
        value = self.ev(e, frame)
        if isinstance(value, OptimizerSpec):
            return value
        if isinstance(value, Poison):
            return None
        if isinstance(value, BuiltinFn) and value.name in OPTIMIZERS:
            spec = self.spec_call(value.name, [], [], e.span, e.span, OPTIMIZERS, OptimizerSpec)
            return spec if isinstance(spec, OptimizerSpec) else None
        self.r.error("E0105", f"`with` needs an optimiser, found {describe(value)}", e.span,
                     hint="one of " + ", ".join(OPTIMIZERS))
        return None

    def exec_Metric(self, s: ast.Metric, frame: Frame, conditional: bool) -> None:
        frame.binding = s.name
        value = self.ev(s.value, frame)
        frame.binding = None
        if isinstance(value, Poison):
            return
        if not isinstance(value, Tensor) or value.type.shape != ():
            self.r.error("E0203", f"a metric must be a scalar, found {describe(value)}", s.value.span)
            return
        frame.train.metrics.append((s.name, value.id, s.span))
        if s.on_train:
            frame.train.train_metrics.append(s.name)

    def exec_Monitor(self, s: ast.Monitor, frame: Frame, conditional: bool) -> None:
        """Checked when the whole train block is known (a metric may be written after it)."""
        t = frame.train
        if "monitor" in t.setting_spans:
            self.r.error("E0106", "`monitor` is set twice", s.span, "set again here",
                         labels=[Label(t.setting_spans["monitor"], "first set here")])
            return
        t.setting_spans["monitor"] = s.span
        t.monitor = s

    def check_monitor(self, t: "TrainBuild") -> None:
        """`monitor NAME [min|max]`: NAME a minimized loss (min by default) or a metric (max by default)."""
        s = t.monitor
        losses = [step.loss for step in t.steps]
        metrics = [name for name, _, _ in t.metrics]
        if s.name not in losses + metrics:
            close = suggest(s.name, losses + metrics)
            self.r.error("E0101", f"`monitor` names a loss or a metric of this train block, found `{s.name}`",
                         s.name_span, "not a minimized loss or a metric",
                         hint=f"did you mean `{close}`?" if close else "its losses and metrics: "
                         + ", ".join(f"`{n}`" for n in losses + metrics))
            return
        if s.mode is not None and s.mode not in ("min", "max"):
            self.r.error("E0105", f"`monitor` follows a value down (`min`) or up (`max`), found `{s.mode}`",
                         s.mode_span, "not min or max", hint=f"monitor {s.name} max")
            return
        t.settings["monitor"] = (s.name, s.mode or ("min" if s.name in losses else "max"))

    def exec_Setting(self, s: ast.Setting, frame: Frame, conditional: bool) -> None:
        t = frame.train
        if s.key in t.settings:
            self.r.error("E0106", f"`{s.key}` is set twice", s.span, "set again here",
                         labels=[Label(t.setting_spans[s.key], "first set here")])
            return
        value = self.ev(s.value, frame)
        if isinstance(value, Poison) or self.oversized(value, s.value.span, f"`{s.key}`"):
            return
        try:
            value = normalize("str" if s.key == "data" else "pos_int", value, f"`{s.key}`")
        except AttrError as err:
            self.r.error(err.code, err.message, s.value.span, hint=err.hint)
            return
        t.settings[s.key] = value
        t.setting_spans[s.key] = s.span

    # ---- expressions -------------------------------------------------------------------------------------
    def ev(self, e, frame: Frame):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                self.too_deep(e.span)
                return POISON
            method = self._ev_table.get(type(e))
            if method is None:
                method = self._ev_table[type(e)] = getattr(self, "ev_" + type(e).__name__)
            return method(e, frame)
        finally:
            self.depth -= 1

    def ev_Literal(self, e: ast.Literal, frame: Frame):
        return e.value

    def ev_ListLit(self, e: ast.ListLit, frame: Frame):
        items = [self.ev(i, frame) for i in e.items]
        return POISON if any(isinstance(i, Poison) for i in items) else items

    def ev_Name(self, e: ast.Name, frame: Frame):
        return self.lookup(e.id, e.span, frame)

    def lookup(self, name: str, span: Span, frame: Frame, as_callee: bool = False):
        b = frame.scope.lookup(name)
        if b is not None:
            return b.value
        builtin = builtin_value(name)
        if builtin is not None:
            return builtin
        if frame.module.broken_imports:
            # The name may well come from the import that failed; that error is the one to fix first.
            if frame.kind != "const":
                frame.scope.bind(name, POISON, None)
            return POISON
        close = self.close_name(name, frame, as_callee)
        if as_callee:
            self.r.error("E0102", f"unknown function `{name}`", span, "not a built-in, block, model or layer",
                         hint=f"did you mean `{close}`?" if close else None)
        else:
            hint = f"did you mean `{close}`?" if close else None
            self.r.error("E0101", f"unbound name `{name}`", span, "not bound at this point", hint=hint)
        if frame.kind != "const":
            # One mistake, one error: later uses of the same name in this body see an erroneous value
            # and stay quiet (a const's scope is the file's, shared by everything, so it is left alone).
            frame.scope.bind(name, POISON, None)
        return POISON

    def ev_Index(self, e: ast.Index, frame: Frame):
        target, index = self.ev(e.target, frame), self.ev(e.index, frame)
        if isinstance(target, Poison) or isinstance(index, Poison):
            return POISON
        if isinstance(target, TupleValue):
            target = list(target.items)
        if isinstance(target, Tensor):
            self.r.error("E0202", "tensors are not indexed with [...]", e.span,
                         hint="use slice(x, start, end, axis=...) or last")
            return POISON
        if not isinstance(target, (list, tuple)):
            self.r.error("E0105", f"only lists can be indexed, found {describe(target)}", e.target.span)
            return POISON
        if not isinstance(index, int) or isinstance(index, bool):
            self.r.error("E0105", f"a list index must be an int, found {describe(index)}", e.index.span)
            return POISON
        if not -len(target) <= index < len(target):
            self.r.error("E0206", f"index {index} is out of range for a list of {len(target)}", e.index.span)
            return POISON
        return target[index]

    def ev_Unary(self, e: ast.Unary, frame: Frame):
        v = self.ev(e.operand, frame)
        if isinstance(v, Poison) or e.op == "+":
            return v
        if isinstance(v, Tensor):
            return self.apply_op(get_op("neg"), [(v, e.operand.span)], [], e.span, e.span, frame)
        if is_number(v) or isinstance(v, Sym):
            return arith("-", 0, v)
        self.r.error("E0105", f"`-` needs a number or a tensor, found {describe(v)}", e.span)
        return POISON

    def ev_Arith(self, e: ast.Arith, frame: Frame):
        left = self.ev(e.first, frame)
        left_span = e.first.span
        for part in e.rest:
            right = self.ev(part.value, frame)
            left = self.binary(part.op, left, right, part.op_span, left_span, part.value.span, frame)
            end = part.value.span
            left_span = _new_span(left_span.file, left_span.line, left_span.column, end.end_line, end.end_column)
        return left

    _TENSOR_OPS = {"+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul", "**": "pow"}

    def binary(self, op: str, a, b, op_span: Span, a_span: Span, b_span: Span, frame: Frame):
        if isinstance(a, Poison) or isinstance(b, Poison):
            return POISON
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            if op not in self._TENSOR_OPS:
                self.r.error("E0202", f"`{op}` works on compile-time ints, not tensors", op_span)
                return POISON
            a = self.as_tensor(a, b, a_span, frame)
            b = self.as_tensor(b, a, b_span, frame)
            if isinstance(a, Poison) or isinstance(b, Poison):
                return POISON
            if a is None or b is None:
                self.r.error("E0202", f"`{op}` cannot combine a tensor with {describe(b if a is not None else a)}",
                             op_span)
                return POISON
            return self.apply_op(get_op(self._TENSOR_OPS[op]), [(a, a_span), (b, b_span)], [], op_span, op_span,
                                 frame, operand_labels=True)
        try:
            return power(a, b) if op == "**" else arith(op, a, b)
        except CompileTimeError as err:
            self.r.error(err.code, err.message, op_span, hint=err.hint,
                         labels=[Label(a_span, describe(a)), Label(b_span, describe(b))])
            return POISON

    def as_tensor(self, v, other, span: Span, frame: Frame):
        """A number beside a tensor becomes a scalar constant of a fitting dtype."""
        if isinstance(v, Tensor):
            return v
        if not is_number(v) or frame.builder is None:
            return None
        if isinstance(v, int) and abs(v) > 2**1023:  # no float holds it
            self.r.error("E0114", f"{shown(v)} is too large for a tensor constant", span, "too large",
                         hint="floats are at most about 1.8e308")
            return POISON
        dtype = other.type.dtype if isinstance(other, Tensor) else "f32"
        if dtype == "bool":  # 2.0 * (x > 0): the number keeps its own kind and the bool tensor is promoted
            dtype = "i64" if isinstance(v, int) and not isinstance(v, bool) else "f32"
        if isinstance(v, float) and dtype in ("i32", "i64"):
            dtype = "f32"
        return self.constant(v, dtype, span, frame)

    def constant(self, v, dtype: str, span: Span, frame: Frame) -> Tensor:
        name = frame.builder.unique_name(frame.node_path, "constant")
        value = int(v) if dtype in ("i32", "i64") else float(v)  # integer constants stay integers
        (out,) = frame.builder.add_node("constant", [], [TensorType(dtype, ())], {"value": value, "dtype": dtype},
                                        span, name, frame.node_path)
        return out

    def ev_Compare(self, e: ast.Compare, frame: Frame):
        a, b = self.ev(e.left, frame), self.ev(e.right, frame)
        if isinstance(a, Poison) or isinstance(b, Poison):
            return POISON
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            # An elementwise comparison of tensors: a bool tensor (for where, masks and counts).
            ta, tb = self.as_tensor(a, b, e.left.span, frame), self.as_tensor(b, a, e.right.span, frame)
            if isinstance(ta, Poison) or isinstance(tb, Poison):
                return POISON
            if ta is None or tb is None:
                self.r.error("E0202", f"`{e.op}` cannot compare a tensor with "
                             f"{describe(b if ta is not None else a)}", e.op_span,
                             hint="compare a tensor with a tensor or a number")
                return POISON
            return self.apply_op(get_op("compare"), [(ta, e.left.span), (tb, e.right.span)],
                                 [("kind", _COMPARE_KINDS[e.op], e.op_span, e.op_span)], e.op_span, e.op_span, frame,
                                 operand_labels=True)
        try:
            return compare(e.op, a, b)
        except CompileTimeError as err:
            self.r.error(err.code, err.message, e.op_span, hint=err.hint)
            return POISON

    def ev_BoolOp(self, e: ast.BoolOp, frame: Frame):
        if e.op == "not":
            v = self.ev(e.operands[0], frame)
            if isinstance(v, Poison):
                return v
            if not isinstance(v, bool):
                self.r.error("E0105", f"`not` needs a bool, found {describe(v)}", e.operands[0].span)
                return POISON
            return not v
        for operand in e.operands:
            v = self.ev(operand, frame)
            if isinstance(v, Poison):
                return v
            if not isinstance(v, bool):
                self.r.error("E0105", f"`{e.op}` needs bools, found {describe(v)}", operand.span)
                return POISON
            if (e.op == "or") == v:
                return v
        return e.op == "and"

    def ev_Ternary(self, e: ast.Ternary, frame: Frame):
        # `a if c else b if d else ...` is walked in a loop, so long chains do not nest.
        while isinstance(e, ast.Ternary):
            cond = self.ev(e.cond, frame)
            if isinstance(cond, Poison):
                return cond
            if not isinstance(cond, bool):
                self.r.error("E0117", f"`if ... else` needs a compile-time bool, found {describe(cond)}",
                             e.cond.span)
                return POISON
            e = e.then if cond else e.otherwise
        return self.ev(e, frame)

    def ev_args(self, args, frame: Frame):
        pos, kw = [], []
        for a in args:
            v = self.ev(a.value, frame)
            if a.keyword is None:
                pos.append((v, a.span))
            else:
                kw.append((a.keyword, v, a.span, a.keyword_span))
        return pos, kw

    def ev_Call(self, e: ast.Call, frame: Frame):
        if isinstance(e.func, ast.Name):
            callee = self.lookup(e.func.id, e.func.span, frame, as_callee=True)
        else:
            callee = self.ev(e.func, frame)
        first = e.args[0] if e.args else None
        if (isinstance(callee, BuiltinFn) and callee.op is not None and callee.op.name in _RANDOM_OPS
                and first.keyword is None and isinstance(first.value, ast.ListLit)):
            # randn([N, 8]): the list is a shape, whose bare names are size symbols as in an input's type
            dims = [self.dim_value(d, frame) for d in first.value.items]
            pos, kw = self.ev_args(e.args[1:], frame)
            pos = [(POISON if any(d is None for d in dims) else dims, first.span)] + pos
        else:
            pos, kw = self.ev_args(e.args, frame)
        return self.call(callee, pos, kw, e.span, e.func.span, frame)

    def ev_Pipe(self, e: ast.Pipe, frame: Frame):
        value = self.ev(e.head, frame)
        prefix = e.head.span
        for st in e.stages:
            callee = self.lookup(st.name, st.name_span, frame, as_callee=True)
            pos, kw = self.ev_args(st.args, frame)
            value = self.call(callee, [(value, prefix)] + pos, kw, st.span, st.name_span, frame)
            head = e.head.span
            prefix = _new_span(head.file, head.line, head.column, st.span.end_line, st.span.end_column)
        return value

    # ---- calls ------------------------------------------------------------------------------------------------
    def call(self, callee, pos, kw, call_span: Span, callee_span: Span, frame: Frame):
        if isinstance(callee, Poison):
            return POISON
        if isinstance(callee, BuiltinFn):
            if callee.op is not None and callee.op.name in _RANDOM_OPS:
                return self.random_call(callee.op, pos, kw, call_span, callee_span, frame)
            if callee.op is not None and callee.op.name in _RECURRENT and any(k == "bidirectional" for k, *_ in kw):
                return self.bidirectional_call(callee.op, pos, kw, call_span, callee_span, frame)
            if callee.op is not None and callee.op.name == "slice":
                backwards = self.backward_slice(callee.op, pos, kw, call_span, callee_span, frame)
                if backwards is not None:
                    return backwards
            if callee.op is not None:
                return self.apply_op(callee.op, pos, kw, call_span, callee_span, frame)
            if callee.name in OPTIMIZERS:
                return self.spec_call(callee.name, pos, kw, call_span, callee_span, OPTIMIZERS, OptimizerSpec)
            if callee.name in SCHEDULES:
                return self.spec_call(callee.name, pos, kw, call_span, callee_span, SCHEDULES, ScheduleSpec)
            return self.compile_time_call(callee.name, pos, kw, call_span, callee_span, frame)
        if isinstance(callee, LayerFn):
            return self.apply_op(callee.op, pos + list(callee.args), kw + list(callee.kwargs), call_span,
                                 callee_span, frame, layer=callee)
        if isinstance(callee, BlockFn):
            return self.call_block(callee, pos, kw, call_span, callee_span, frame)
        if isinstance(callee, ModelFn):
            return self.call_model(callee, pos, kw, call_span, callee_span, frame)
        self.r.error("E0102", f"{describe(callee)} cannot be called", callee_span, "not a function")
        return POISON

    def random_call(self, op: Op, pos, kw, call_span: Span, callee_span: Span, frame: Frame):
        """rand/randn: a shape list becomes a tensor of that shape (its symbols' sizes read at run time from a
        tensor of the program with an axis of that size), and each call gets a stream of its own."""
        for key, _, _, kspan in kw:
            if key in op.optional_inputs:
                self.r.error("E0103", f"{op.name} has no argument `{key}`", kspan, "unknown keyword",
                             hint=f"the random key and the step counter are fed by nnc; {self.signature_hint(op)}")
                return POISON
        if frame.builder is None:
            self.r.error("E0105", f"{op.name} builds a tensor, which a `const` cannot hold", call_span)
            return POISON
        if pos and isinstance(pos[0][0], Poison):
            return POISON
        if pos and isinstance(pos[0][0], (list, TupleValue)):
            value, span = pos[0]
            like = self.shape_tensor(op.name, list(value.items) if isinstance(value, TupleValue) else value, span,
                                     frame)
            if isinstance(like, Poison):
                return POISON
            pos = [(like, span)] + list(pos[1:])
        if len(pos) < 4 and not any(key == "stream" for key, _, _, _ in kw):
            from ..ops._philox import stream_of
            draw = frame.builder.unique_name("nnc.random", "draw")
            stream = stream_of(f"{frame.node_path}/{frame.binding or ''}.{op.name}/{draw}")
            kw = list(kw) + [("stream", stream, call_span, call_span)]
        return self.apply_op(op, pos, kw, call_span, callee_span, frame)

    def bidirectional_call(self, op: Op, pos, kw, call_span: Span, callee_span: Span, frame: Frame):
        """`x -> lstm(64, bidirectional=true)`: the layer over x and a second one over x reversed in time (its
        output reversed back), concatenated on the feature axis, [N, T, 2·units], as PyTorch's bidirectional
        layers. The second layer's parameters are named after the binding with `.reverse`
        (`m/h.reverse.lstm/weight_ih` beside `m/h.lstm/weight_ih`)."""
        (flag, span), = [(v, s) for k, v, s, _ in kw if k == "bidirectional"]
        rest = [item for item in kw if item[0] != "bidirectional"]
        if isinstance(flag, Poison):
            return POISON
        if not isinstance(flag, bool):
            self.r.error("E0105", f"{op.name}: `bidirectional` must be true or false, found {describe(flag)}", span)
            return POISON
        if not flag:
            return self.apply_op(op, pos, rest, call_span, callee_span, frame)
        for key, value, kspan, _ in rest:
            if key in ("return_state", "initial") and value is not False:
                self.r.error("E0105", f"{op.name}(bidirectional=true) does not take `{key}` yet", kspan,
                             hint="run two layers yourself, one over reverse(x, [1]), to reach their states")
                return POISON
        if not pos or not isinstance(pos[0][0], Tensor):
            return self.apply_op(op, pos, rest, call_span, callee_span, frame)  # reports the missing sequence
        x, x_span = pos[0]
        axes = [("axes", [1], call_span, call_span)]
        forward = self.apply_op(op, pos, rest, call_span, callee_span, frame)
        flipped = self.apply_op(get_op("reverse"), [(x, x_span)], axes, call_span, callee_span, frame)
        if isinstance(forward, Poison) or isinstance(flipped, Poison):
            return POISON
        binding = frame.binding
        frame.binding = f"{binding}.reverse" if binding else "reverse"
        try:
            backward = self.apply_op(op, [(flipped, x_span)] + list(pos[1:]), rest, call_span, callee_span, frame)
        finally:
            frame.binding = binding
        if isinstance(backward, Poison):
            return POISON
        back = self.apply_op(get_op("reverse"), [(backward, x_span)], axes, call_span, callee_span, frame)
        return self.apply_op(get_op("concat"), [(forward, call_span), (back, call_span)],
                             [("axis", 2, call_span, call_span)], call_span, callee_span, frame)

    def backward_slice(self, op: Op, pos, kw, call_span: Span, callee_span: Span, frame: Frame):
        """slice with a negative step (`slice(x, -1, step=-1)` reverses): the axis reversed, then sliced forwards
        with the same elements in the same order, as Python's x[start:end:step]. None when the step is not
        negative (the ordinary slice)."""
        names = ["x", "start", "end", "axis", "step"]
        values = {name: v for name, (v, _) in zip(names, pos)}
        values.update({key: v for key, v, _, _ in kw})
        step = values.get("step", 1)
        if not isinstance(step, int) or isinstance(step, bool) or step >= 0 or len(pos) > 5:
            return None
        x, start, end, axis = values.get("x"), values.get("start"), values.get("end"), values.get("axis", 1)
        if not isinstance(x, Tensor) or not all(v is None or (isinstance(v, int) and not isinstance(v, bool))
                                                for v in (start, end, axis)) or start is None:
            return None  # the ordinary path reports what is wrong
        if not -x.type.rank <= axis < x.type.rank:
            return None
        axis %= x.type.rank
        n = x.type.shape[axis]
        if isinstance(n, int):
            picked = range(n)[start:end:step]
            if not picked:
                self.r.error("E0207", f"slice [{start}:{'' if end is None else end}:{step}] of an axis of size {n} "
                             "is empty", call_span, "this selects nothing")
                return POISON
            first, last = n - 1 - picked[0], n - 1 - picked[-1]
        elif start == -1 and end is None and step == -1:
            first = last = None  # the whole axis reversed
        else:
            self.r.error("E0208", f"axis {axis} has size {dim_str(n)}: a backward slice of it can only reverse it "
                         "whole, slice(x, -1, step=-1)", call_span, "size not known here",
                         hint=f"reverse the whole axis first, reverse(x, [{axis}]), and slice the result forwards "
                              "with non-negative start and end")
            return POISON
        span = pos[0][1]
        flipped = self.apply_op(get_op("reverse"), [(x, span)], [("axes", [axis], call_span, call_span)], call_span,
                                callee_span, frame)
        if isinstance(flipped, Poison) or first is None:
            return flipped
        options = [("start", first, call_span, call_span), ("axis", axis, call_span, call_span),
                   ("step", -step, call_span, call_span)]
        if last is not None:
            options.append(("end", last + 1, call_span, call_span))
        return self.apply_op(op, [(flipped, span)], options, call_span, callee_span, frame)

    def shape_tensor(self, what: str, dims: list, span: Span, frame: Frame):
        """An i64 tensor of the shape `dims` (ints and size symbols), built from iotas: its values do not
        matter, only its run-time shape. A symbol is read from the first tensor with an axis of that size."""
        from ..ops._prims import full
        from ..passes.emit import Emitter
        if any(isinstance(d, Poison) for d in dims):
            return POISON
        emit = Emitter(frame.builder, span, frame.node_path, f"{frame.binding or what}.shape")
        rank = len(dims)
        like = None
        for axis, d in enumerate(dims):
            if isinstance(d, bool) or not isinstance(d, (int, Sym)):
                self.r.error("E0105", f"{what} needs a shape of sizes (ints and symbols such as N), found "
                             f"{describe(d)} at position {axis}", span, hint=f"{what}([N, 8]), or {what}(shape(x))")
                return POISON
            if isinstance(d, int):
                if d < 1:
                    self.r.error("E0207", f"{what} needs positive sizes, found {d} at position {axis}", span)
                    return POISON
                line = full(emit, 0.0, TensorType("i64", (d,)))
            else:
                carrier = self.carrier_of(d, frame)
                if carrier is None:
                    self.r.error("E0208", f"{what}: no tensor here has an axis of size {dim_str(d)}, so its value "
                                 "is not known when the program runs", span, "size not known",
                                 hint=f"use a size of one of the inputs (such as the batch size N), or "
                                      f"{what}(shape(x)) for a tensor x")
                    return POISON
                tensor, k = carrier
                line = emit("iota", tensor, axis=k)
            if rank > 1:
                line = emit("reshape", line, shape=tuple(-1 if i == axis else 1 for i in range(rank)))
            like = line if like is None else emit("add", like, line)
        return like if like is not None else emit("constant", value=0, dtype="i64")

    @staticmethod
    def carrier_of(d, frame: Frame):
        """(a tensor of the graph being built, the axis) whose size is d; the inputs first."""
        builder = frame.builder
        order = [vid for _, vid in builder.inputs] + sorted(builder.values)
        for vid in order:
            t = builder.values[vid]
            for axis, size in enumerate(t.type.shape):
                if size == d:
                    return Tensor(t.id, t.type), axis
        return None

    def bind_named(self, what: str, noun: str, names: list[str], pos, kw, at_most: bool = False,
                   labels=(), fallback_hint: str | None = None) -> tuple[dict, dict] | None:
        """Positional, then keyword arguments to named parameters; reports extra, unknown and repeated ones."""
        values: dict = {}
        spans: dict = {}
        if len(pos) > len(names):
            self.r.error("E0104", f"{what} takes {'at most ' if at_most else ''}{len(names)} "
                         f"argument{'s' if len(names) != 1 else ''}, found {len(pos)}", pos[len(names)][1],
                         "one too many", labels=labels)
            return None
        for name, (v, s) in zip(names, pos):
            values[name], spans[name] = v, s
        for key, v, s, kspan in kw:
            if key not in names:
                close = suggest(key, names)
                self.r.error("E0103", f"{what} has no {noun} `{key}`", kspan, "unknown keyword",
                             hint=f"did you mean `{close}`?" if close else fallback_hint, labels=labels)
                return None
            if key in values:
                self.r.error("E0104", f"{what} got `{key}` twice", kspan)
                return None
            values[key], spans[key] = v, s
        return values, spans

    def spec_call(self, name, pos, kw, call_span, callee_span, table, cls):
        attrs = table[name]
        names = [a.name for a in attrs]
        bound = self.bind_named(name, "argument", names, pos, kw, at_most=True,
                                fallback_hint=f"{name} takes " + ", ".join(names))
        if bound is None:
            return POISON
        values, spans = bound
        out = []
        for attr in attrs:
            if attr.name not in values:
                if attr.required:
                    self.r.error("E0104", f"{name} is missing its argument `{attr.name}`", call_span,
                                 hint=f"{name}(" + ", ".join(a.name for a in attrs) + ")")
                    return POISON
                out.append((attr.name, attr.default))
                continue
            v = values[attr.name]
            if isinstance(v, Poison):
                return POISON
            if self.oversized(v, spans[attr.name], f"{name}: `{attr.name}`"):
                return POISON
            if attr.kind == "lr" and isinstance(v, ScheduleSpec):
                out.append((attr.name, v))
                continue
            try:
                out.append((attr.name, normalize("nonneg_float" if attr.kind == "lr" else attr.kind, v,
                                                 f"`{attr.name}`")))
            except AttrError as err:
                self.r.error(err.code, err.message, spans[attr.name], hint=err.hint)
                return POISON
        return cls(name, tuple(out))

    def compile_time_call(self, name, pos, kw, call_span, callee_span, frame: Frame):
        if kw:
            self.r.error("E0103", f"{name} takes no keyword arguments", kw[0][3])
            return POISON
        if len(pos) != 1:
            self.r.error("E0104", f"{name} takes one argument, found {len(pos)}", call_span)
            return POISON
        v, span = pos[0]
        if isinstance(v, Poison):
            return POISON
        if name == "len":
            if isinstance(v, (list, str, TupleValue)):
                return len(v.items) if isinstance(v, TupleValue) else len(v)
            self.r.error("E0105", f"len needs a list, found {describe(v)}", span)
            return POISON
        if name in ("shape", "channels"):
            if not isinstance(v, Tensor):
                self.r.error("E0105", f"{name} needs a tensor, found {describe(v)}", span)
                return POISON
            if name == "shape":
                return list(v.type.shape)
            if v.type.rank < 2:
                self.r.error("E0206", f"channels is the size of axis 1, but {v.type} has rank {v.type.rank}", span)
                return POISON
            return v.type.shape[1]
        # params, l1, l2: over a model's or layer's parameters in the graph being built
        if not isinstance(v, (ModelFn, LayerFn)):
            self.r.error("E0105", f"{name} needs a model or a layer, found {describe(v)}", span)
            return POISON
        if frame.builder is None:
            return POISON
        found = self.owned_params(v, frame)
        if not found:
            self.r.error("E0108", f"{describe(v)} has no parameters here yet", span,
                         hint="call it before asking for its parameters")
            return POISON
        if name == "params":
            return [Tensor(p.value.id, p.value.type) for p in found]
        weights = [Tensor(p.value.id, p.value.type) for p in found if p.decay]
        op = get_op("sum_squares" if name == "l2" else "sum_abs")
        return self.apply_op(op, [(w, span) for w in weights], [], call_span, callee_span, frame)

    def apply_op(self, op: Op, pos, kw, call_span: Span, callee_span: Span, frame: Frame, layer: LayerFn | None = None,
                 operand_labels: bool = False):
        """Bind arguments to an op's signature, run its shape rule, and add its node."""
        name = op.name
        tensors: list = []
        spans: dict[str, Span] = {}
        given: set[str] = set()
        i = 0
        if op.variadic:
            while i < len(pos) and isinstance(pos[i][0], (Tensor, Poison)):
                tensors.append(pos[i][0])
                spans.setdefault(op.inputs[0], pos[i][1])
                spans[f"{op.inputs[0]}{i}"] = pos[i][1]
                i += 1
            if not tensors and not (op.internal and op.name.startswith("sum_")):
                self.r.error("E0104", f"{name} needs at least one tensor", call_span)
                return POISON
        else:
            by_keyword = {k: (v, s) for k, v, s, _ in kw if k in op.inputs}
            for j, inp in enumerate(op.inputs):
                if inp in by_keyword:
                    v, s = by_keyword[inp]
                elif i < len(pos):
                    v, s = pos[i]
                    i += 1
                else:
                    self.r.error("E0104", f"{name} is missing its tensor argument `{inp}`", call_span,
                                 hint=self.signature_hint(op))
                    return POISON
                if not isinstance(v, (Tensor, Poison)):
                    converted = self.as_tensor(v, _dtype_source(tensors), s, frame) \
                        if j > 0 and op.category in ("loss", "math") and is_number(v) else None
                    if converted is None:
                        what = "first argument" if j == 0 else f"argument `{inp}`"
                        hint = (f"pipe a tensor into it, `x -> {name}(...)`, or name a shared layer with "
                                f"`layer NAME = {name}(...)`") if j == 0 and op.is_layer else None
                        self.r.error("E0105", f"{name} needs a tensor as its {what}, found {describe(v)}", s,
                                     "not a tensor", hint=hint)
                        return POISON
                    v = converted
                tensors.append(v)
                spans[inp] = s
                given.add(inp)
        attr_values: dict = {}
        public_attrs = [a for a in op.attrs if a.name != "initial_states"]
        rest = pos[i:]
        if len(rest) > len(public_attrs):
            extra = rest[len(public_attrs)]
            self.r.error("E0104", f"{name} takes {len(public_attrs)} argument{'s' if len(public_attrs) != 1 else ''}"
                         f" after its tensor{'s' if len(op.inputs) > 1 else ''}, found {len(rest)}", extra[1],
                         "one too many", hint=self.signature_hint(op))
            return POISON
        for attr, (v, s) in zip(public_attrs, rest):
            attr_values[attr.name] = (v, s)
        initial: list = []
        for key, v, s, kspan in kw:
            if key in op.inputs:
                continue
            if key in op.optional_inputs:
                items = v if isinstance(v, list) else [v]
                if not all(isinstance(t, (Tensor, Poison)) for t in items):
                    self.r.error("E0105", f"`{key}` takes a tensor or a list of tensors", s)
                    return POISON
                initial = items
                spans["initial"] = s
                continue
            if key in attr_values:
                self.r.error("E0104", f"{name} got `{key}` twice", kspan, "given again by keyword")
                return POISON
            if op.attr(key) is None or key == "initial_states":
                from .hints import keyword_hint
                known = [a.name for a in public_attrs] + list(op.optional_inputs)
                close, others = keyword_hint(name, key, known)
                if others:  # a keyword of other built-ins: say so rather than offer one of another meaning
                    whose = (", ".join(others[:4]) + " and others" if len(others) > 4 else
                             ", ".join(others[:-1]) + " and " + others[-1] if len(others) > 1 else others[0])
                    hint = f"`{key}` is an argument of {whose}, not of {name}; {self.signature_hint(op)}"
                else:
                    hint = f"did you mean `{close}`?" if close else self.signature_hint(op)
                self.r.error("E0103", f"{name} has no argument `{key}`", kspan, "unknown keyword", hint=hint)
                return POISON
            attr_values[key] = (v, s)
        attrs: dict = {}
        attr_spans: dict = {}
        for attr in op.attrs:
            if attr.name == "initial_states":
                attrs[attr.name] = len(initial)
                continue
            if attr.name not in attr_values:
                if attr.required:
                    self.r.error("E0104", f"{name} is missing its argument `{attr.name}`", call_span,
                                 "needs more arguments", hint=self.signature_hint(op))
                    return POISON
                attrs[attr.name] = attr.default
                continue
            v, s = attr_values[attr.name]
            if isinstance(v, Poison):
                return POISON
            if self.oversized(v, s, f"{name}: `{attr.name}`"):
                return POISON
            try:
                attrs[attr.name] = normalize(attr.kind, v, f"`{attr.name}`")
            except AttrError as err:
                self.r.error(err.code, f"{name}: {err.message}", s, hint=err.hint)
                return POISON
            attr_spans[attr.name] = s
        all_inputs = tensors + initial
        if any(isinstance(t, Poison) for t in all_inputs):
            return POISON
        if frame.builder is None:
            self.r.error("E0105", f"{name} builds a tensor, which a `const` cannot hold", call_span)
            return POISON
        types = [t.type for t in all_inputs]
        try:
            attrs, out_types = op.output_types(types, attrs)
        except ShapeError as err:
            self.shape_error(err, op, call_span, callee_span, spans, attr_spans, tensors, operand_labels)
            return POISON
        for t in out_types:
            for d in t.shape:
                if (d > MAX_DIM if isinstance(d, int) else any(abs(c) > MAX_DIM for _, c in d.terms)):
                    self.r.error("E0114", f"{name} gives a dimension of {shown(d)}, larger than 2^63 - 1",
                                 callee_span, "too large", labels=[Label(spans[n], str(x.type))
                                                                   for n, x in zip(op.inputs, tensors)
                                                                   if n in spans and isinstance(x, Tensor)])
                    return POISON
        for lint in op.lints:
            idx = op.inputs.index(lint.argument)
            producer = frame.builder.producer.get(tensors[idx].id)
            if producer is not None and producer.op == lint.producer:
                self.r.warning(lint.code, lint.message, spans[lint.argument], f"this comes from {lint.producer}",
                               hint=lint.hint, labels=[Label(producer.span, f"the {lint.producer} is here")]
                               if producer.span and producer.span.file == spans[lint.argument].file else [])
        if layer is not None:
            node_name = frame.builder.unique_name(frame.node_path, layer.name)
            layer_path = layer.param_path
        else:
            base = f"{frame.binding}.{name}" if frame.binding else name
            node_name = frame.builder.unique_name(frame.node_path, base)
            layer_path = f"{frame.param_path}/{node_name}"
        param_values: list[Tensor] = []
        if op.params is not None:
            for spec in op.params(types, attrs):
                v, existing = frame.builder.param(layer_path, spec, types[0].dtype if types[0].is_float else "f32")
                if existing is not None and tuple(existing.value.type.shape) != tuple(spec.shape):
                    self.r.error("E0203", f"this call of {describe(layer) if layer else name} needs {spec.role} "
                                 f"{shape_str(spec.shape)}, but its shared parameter is "
                                 f"{shape_str(existing.value.type.shape)}", spans.get(op.inputs[0], call_span),
                                 f"this is {types[0]}", labels=[Label(layer.span, "the layer is defined here")]
                                 if layer else [],
                                 hint="every call of a shared layer must get inputs of the same size")
                    return POISON
                param_values.append(v)
                self._record_model_param(frame, f"{layer_path}/{spec.role}")
        outs = frame.builder.add_node(op.name, all_inputs + param_values, out_types, attrs, call_span, node_name,
                                      frame.node_path)
        return outs[0] if len(outs) == 1 else TupleValue(tuple(outs))

    def shape_error(self, err: ShapeError, op: Op, call_span, callee_span, spans, attr_spans, tensors,
                    operand_labels) -> None:
        if err.blame in spans:
            span = spans[err.blame]
        elif err.blame in attr_spans:
            span = attr_spans[err.blame]
        else:
            span = call_span
        labels = []
        if operand_labels:
            labels = [Label(spans[n], str(t.type)) for n, t in zip(op.inputs, tensors) if isinstance(t, Tensor)]
        elif err.blame == "callee" and op.inputs and op.inputs[0] in spans and isinstance(tensors[0], Tensor):
            labels = [Label(spans[op.inputs[0]], f"this is {tensors[0].type}")]
        notes = err.notes
        self.r.error(err.code, err.message, span, err.label, err.hint, labels, notes)

    @staticmethod
    def signature_hint(op: Op) -> str:
        parts = list(op.inputs[1:]) if op.inputs else []
        for a in op.attrs:
            if a.name == "initial_states":
                continue
            if a.required:
                parts.append(a.name)
            else:
                default = a.default
                shown = ("true" if default else "false") if isinstance(default, bool) else (
                    f'"{default}"' if isinstance(default, str) else ("none" if default is None else default))
                parts.append(f"{a.name}={shown}")
        first = op.inputs[0] if op.inputs else ""
        return f"usage: {first} -> {op.name}({', '.join(parts)})" if first else f"usage: {op.name}({', '.join(parts)})"

    def _recursion(self, kind: str, fn, callee_span: Span, frame: Frame) -> bool:
        key = (kind, fn.module.name, fn.defn.name)
        if key in frame.stack:
            chain = [k[2] for k in frame.stack[frame.stack.index(key):]] + [fn.defn.name]
            what = f"{kind} `{fn.defn.name}` calls itself" if len(chain) == 2 else \
                f"{kind} `{fn.defn.name}` calls itself through " + " -> ".join(f"`{c}`" for c in chain)
            self.r.error("E0111", what, callee_span, "recursive call",
                         hint="blocks and models are expanded at compile time, so they cannot recurse; "
                              "use a `for` loop",
                         labels=[Label(fn.defn.name_span, "defined here")])
            return True
        if len(frame.stack) >= MAX_CALL_DEPTH:
            self.r.error("E0111", f"calls nest more than {MAX_CALL_DEPTH} deep", callee_span)
            return True
        return False

    def call_block(self, fn: BlockFn, pos, kw, call_span, callee_span, frame: Frame):
        d = fn.defn
        if self._recursion("block", fn, callee_span, frame):
            return POISON
        params = d.params
        bound = self.bind_named(f"block `{d.name}`", "parameter", [p.name for p in params], pos, kw,
                                labels=[Label(d.name_span, "defined here")])
        if bound is None:
            return POISON
        values, spans = bound
        scope = Scope(fn.module.globals, self.usage)
        for p in params:
            if p.name not in values:
                if p.default is None:
                    self.r.error("E0104", f"block `{d.name}` is missing its argument `{p.name}`", call_span,
                                 labels=[Label(p.span, "declared here")])
                    return POISON
                values[p.name] = self.ev(p.default, Frame("const", d.name, fn.module, fn.module.globals, None, "",
                                                          ""))
                spans[p.name] = p.default.span
            v = values[p.name]
            if not isinstance(v, Poison) and not self.check_param_type(p, v, spans[p.name], d):
                return POISON
            scope.bind(p.name, v, None)
        if any(isinstance(values[p.name], Poison) for p in params if p.type is None):
            return POISON
        base = f"{frame.binding}.{d.name}" if frame.binding else d.name
        node_name = frame.builder.unique_name(frame.node_path, base) if frame.builder else base
        inner = Frame("block", d.name, fn.module, scope, frame.builder, _join(frame.node_path, node_name),
                      _join(frame.param_path, node_name), frame.stack + (("block", fn.module.name, d.name),),
                      train=frame.train)
        self.exec_body(d.body, inner)
        if inner.returned is None:
            self.r.error("E0107", f"block `{d.name}` ends without `return`", d.body_end, "no value returned here",
                         hint="end the block with `return EXPR`")
            return POISON
        return inner.returned

    _PARAM_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,), "string": (str,), "str": (str,),
                    "list": (list,)}

    def check_param_type(self, p: ast.Param, v, span: Span, d: ast.BlockDef) -> bool:
        if p.type is None:
            if not isinstance(v, Tensor):
                self.r.error("E0105", f"block `{d.name}` expects a tensor for `{p.name}`, found {describe(v)}", span,
                             labels=[Label(p.span, "a tensor parameter (no type)")])
                return False
            return True
        allowed = self._PARAM_TYPES.get(p.type)
        if allowed is None:
            self.r.error("E0105", f"unknown parameter type `{p.type}`", p.type_span,
                         hint="types are int, float, bool, string and list")
            return False
        ok = isinstance(v, allowed) and (p.type == "bool" or not isinstance(v, bool))
        if not ok:
            self.r.error("E0105", f"block `{d.name}` expects {p.type} for `{p.name}`, found {describe(v)}", span,
                         labels=[Label(p.span, f"declared {p.type} here")])
            return False
        return True

    def model_inputs(self, d: ast.ModelDef) -> list[ast.Input]:
        return [s for s in d.body if isinstance(s, ast.Input)]

    def call_model(self, fn: ModelFn, pos, kw, call_span, callee_span, frame: Frame):
        d = fn.defn
        if self._recursion("model", fn, callee_span, frame):
            return POISON
        if frame.builder is None:
            self.r.error("E0105", f"model `{d.name}` builds tensors, which a `const` cannot hold", call_span)
            return POISON
        inputs = self.model_inputs(d)
        if len(pos) > len(inputs):
            self.r.error("E0104", f"model `{d.name}` takes {len(inputs)} input{'s' if len(inputs) != 1 else ''}, "
                         f"found {len(pos)}", pos[len(inputs)][1], "one too many",
                         labels=[Label(d.name_span, "defined here")])
            return POISON
        given: dict = {}
        for inp, (v, s) in zip(inputs, pos):
            given[inp.name] = (v, s)
        for key, v, s, kspan in kw:
            if not any(i.name == key for i in inputs):
                close = suggest(key, [i.name for i in inputs])
                self.r.error("E0103", f"model `{d.name}` has no input `{key}`", kspan, "unknown input",
                             hint=f"did you mean `{close}`?" if close else None)
                return POISON
            given[key] = (v, s)
        mapping: dict = {}
        bound: dict = {}
        model_frame = Frame("const", d.name, fn.module, Scope(fn.module.globals, self.usage), None, "", "")
        failed = False
        for inp in inputs:
            if inp.name not in given:
                self.r.error("E0104", f"model `{d.name}` is missing its input `{inp.name}`", call_span,
                             labels=[Label(inp.span, "declared here")])
                return POISON
            v, s = given[inp.name]
            if isinstance(v, Poison):
                failed = True
                continue
            if not isinstance(v, Tensor):
                self.r.error("E0105", f"model `{d.name}` expects a tensor for `{inp.name}`, found {describe(v)}", s)
                return POISON
            declared = self.input_type(inp, model_frame)
            if declared is None:
                return POISON
            if not self.match_input(declared, v.type, mapping):
                self.r.error("E0202", f"model `{d.name}` expects {inp.name}: {declared}, found {v.type}", s,
                             f"this is {v.type}", labels=[Label(inp.span, "declared here")],
                             hint="symbols such as N take the caller's size; numbers must match exactly")
                failed = True
                continue
            bound[inp.name] = v
        if failed:
            return POISON
        base = f"{frame.binding}.{d.name}" if frame.binding else d.name
        node_name = frame.builder.unique_name(frame.node_path, base)
        inner = Frame("model", d.name, fn.module, Scope(fn.module.globals, self.usage), frame.builder,
                      _join(frame.node_path, node_name), d.name, frame.stack + (("model", fn.module.name, d.name),),
                      given_inputs=bound, symbols=mapping)
        self.exec_body(d.body, inner)
        outs = [v for _, v, _ in inner.outputs]
        if not outs:
            self.r.error("E0107", f"model `{d.name}` has no output", d.name_span, "no `output` in this model")
            return POISON
        return outs[0] if len(outs) == 1 else TupleValue(tuple(outs))

    @staticmethod
    def match_input(declared: TensorType, actual: TensorType, mapping: dict) -> bool:
        if declared.dtype != actual.dtype or declared.rank != actual.rank:
            return False
        for want, got in zip(declared.shape, actual.shape):
            if isinstance(want, Sym) and len(want.terms) == 1 and want.terms[0][1] == 1 and len(want.terms[0][0]) == 1:
                key = want.terms[0][0][0]
                if key in mapping and mapping[key] != got:
                    return False
                mapping[key] = got
            elif want != got:
                return False
        return True


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


_RANDOM_OPS = frozenset({"rand", "randn"})
_RECURRENT = frozenset({"rnn", "lstm", "gru"})
_COMPARE_KINDS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}


def _dtype_source(tensors: list):
    """The tensor whose dtype a number beside it takes: the last non-bool one so far (where(c, x, 0))."""
    for t in reversed(tensors):
        if isinstance(t, Tensor) and t.type.dtype != "bool":
            return t
    return None


def builtin_value(name: str):
    registry = op_registry()
    if _BUILTINS.get(None) is not registry:  # built once per registry; it is looked up for every call
        _BUILTINS.clear()
        _BUILTINS[None] = registry
    if name in _BUILTINS:
        return _BUILTINS[name]
    op = get_op(name)
    if op is not None and not op.internal:
        value = BuiltinFn(name, op)
    elif name in COMPILE_TIME_FUNCTIONS or name in OPTIMIZERS or name in SCHEDULES:
        value = BuiltinFn(name)
    else:
        value = None
    _BUILTINS[name] = value
    return value


_BUILTINS: dict = {}
_ALLOWED_IN = {
    "Input": ("model", "train"), "Output": ("model",), "Return": ("block",), "ParamDef": ("model", "block"),
    "Minimize": ("train",), "Metric": ("train",), "Setting": ("train",), "Monitor": ("train",),
}
