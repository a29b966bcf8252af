"""The LLVM executable: stateful buffers held in place, one compiled code for every batch size.

The size symbols are run-time values (`symbols`, sorted by name): the graph is lowered and compiled
once, and a call passes the symbols' values and a memory plan laid out for them (emit.py describes the
argument slots). Where the lowering cannot write code that is right for every value of a symbol it
raises `dims.NeedsConcrete`; that symbol is then specialised: one compiled `Variant` per value of the
specialised symbols (cached), the others still run-time. A variant's arena is planned for the largest
sizes seen so far and re-planned (a new arena and offsets table, no new code) when a call needs more;
its pointer array is prepared once, and a call writes only the data and report pointers (and the
sizes, when the binding changes) and makes one ctypes call. A variant whose lowering was recorded
(plan_cache.py: keyed by nnc's sources, the graph and every option that reaches the code) loads its
cached object without lowering or emitting anything; `ir` is then generated again only when asked for.

A call's Python around the one native call is kept to a few hundred nanoseconds: an input array seen in
the last call keeps its address in the pointer array (the variant holds that array, so `is` identifies it
exactly), and a reported output is the last call's array again when nothing else refers to it (its
reference count is the variant's own and it has no weak reference: no name, view, memoryview or container
can see it overwritten), else a new one. A result the caller keeps is never written by a later call.

Hoisting (option `hoist`, on through the backend's compile; nnc/passes/hoist.py): in an inference graph
every node computing from parameters and state alone (folded batchnorm filters and biases, a batchnorm's
scale) moves into a second executable, `prepare`, run when the parameters change (load_state, so also
`.params[...] = `) before the next call; its outputs are held as extra state the per-call code reads.
`signature`, `state()` and `load_state` still speak of the graph as given: the derived tensors are hidden.

Updates follow the numpy oracle's rule: they take effect only when every `loss` report is finite. Every
updated input (parameter, state, slot, step) has a second buffer, the output slot that replaces it;
after a call with finite losses the two buffers swap roles (ping-pong, no copy), otherwise the old
values stay untouched.
"""
from __future__ import annotations

import ctypes
import time
from sys import getrefcount
from weakref import getweakrefcount
from typing import TYPE_CHECKING, Mapping

import numpy as np

from ...interp import NP_DTYPES, RunError
from ...ir.bind import BindError, bind_symbols
from ...ir.graph import Graph
from ...ir.types import UnboundSymbol, eval_dim, symbols_of
from ..base import STATEFUL, Role, Signature
from ..state import checked_state
from . import target as T
from .dims import NeedsConcrete, Poly, evaluate, of_graph
from . import plan_cache
from .loops import Buf
from .plan import Plan, PlanAt, plan_arena

if TYPE_CHECKING:
    from .lower import Lowering

PROTOTYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
ENTRY = "nnc_run"  # emit.ENTRY (emit.py and the lowering are imported only when a variant is lowered)
MEMO = 64  # bindings whose output shapes and held buffers a variant remembers


def _free_refcount() -> int:
    """What `getrefcount(last[i])` says of an array that only the list `last` refers to (the interpreter's
    own count, measured rather than assumed)."""
    last = [np.empty(1)]
    return getrefcount(last[0])


_FREE = _free_refcount()


def _addr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


_CHARS = ctypes.c_char.from_buffer


def _fast_addr(a: np.ndarray) -> int:
    """`_addr` in a third of the time (a call's inputs and reports): a ctypes view of the buffer, or the array
    interface where the buffer is read-only."""
    try:
        return ctypes.addressof(_CHARS(a))
    except (TypeError, ValueError, BufferError):
        return a.__array_interface__["data"][0]


class Variant:
    """The code of one binding of the specialised symbols (usually none: one variant for every batch
    size), its arena and offsets table (grown for the largest sizes seen), and its pointer array."""

    def __init__(self, exe: "LlvmExecutable", special: dict[str, int]):
        start = time.perf_counter()
        self.exe = exe
        self.special = dict(special)
        self._ir: str | None = None
        key = plan_cache.key(exe, self.special)
        obj = self._from_record(plan_cache.get(key))  # a cached lowering and its object: no lowering at all
        self.from_record = obj is not None
        if obj is None:
            try:
                lw, self.layout, self.checks, self._ir = self._generate()
            except NeedsConcrete as e:
                plan_cache.put(key, {"needs": [e.symbol, e.why]})
                raise
            self.requires = lw.requires
            self.kernels = len(lw.kernels)
            self._shapes = [(f"k{n}_{k.origin} {type(k).__name__}", tuple(k.target.shape))
                            for n, k in enumerate(lw.kernels)]
            obj, self.cached = T.compile_object(self._ir, exe.host, exe.opt, exe.use_cache)
            plan_cache.put(key, self._record())
        exe.compilations += 1
        self._loaded = T.Loaded(obj, exe.host)
        self.fn = self._loaded.function(ENTRY, PROTOTYPE)
        n_args = exe.n_args
        self.ptrs = np.zeros(n_args + 5, np.uint64)
        self.cycles = np.zeros(self.kernels, np.int64)  # per kernel, summed over calls (option profile)
        self.ptrs[n_args + 2] = _addr(self.cycles)
        self.status = np.zeros(1, np.int64)  # k > 0 after a call: checks[k - 1] failed (an id out of range)
        self.ptrs[n_args + 1] = _addr(self.status)
        self.sizes = np.zeros(max(len(exe.symbols), 1), np.int64)
        self.ptrs[n_args + 3] = _addr(self.sizes)
        self.cap: np.ndarray | None = None   # per scratch buffer, the aligned bytes the layout holds
        self.bindings: dict[str, int] = {}   # the largest value of each symbol seen (the plan reported)
        self._arena = np.empty(0, np.uint8)
        self.offsets = np.zeros(max(len(self.layout.scratch), 1), np.int64)
        self.ptrs[n_args + 4] = _addr(self.offsets)
        self.ptrs_addr = _addr(self.ptrs)
        self._per_key: dict = {}
        self.current = None
        self.out_shapes: dict[str, tuple[int, ...]] = {}
        self.held_in: list = []    # per data input, the array whose address is in ptrs (use() resets them)
        self.last_out: list = []   # per reported output, the array returned last (reused once unreferenced)
        self.generation = -1
        self.compile_seconds = time.perf_counter() - start

    def _generate(self) -> tuple[Lowering, Plan, list[str], str]:
        """Lower and emit this variant: the lowering, its plan, the checks' messages and the IR text."""
        from .emit import emit_module
        exe = self.exe
        lw, layout = exe._lower_symbolic(self.special)
        module = emit_module(lw.kernels, exe.n_args, exe.host.triple, exe.data_layout, profile=exe.profile,
                             scratch=list(layout.scratch), symbols=exe.symbols)
        checks = list(lw.checks)
        if exe.checked:  # finite-value checks after every kernel (checked.py): status codes after lw.checks
            from .checked import add_checks
            checks += add_checks(module, lw.kernels, exe.n_args, exe.symbols, len(lw.checks) + 1)
        return lw, layout, checks, str(module)

    @property
    def ir(self) -> str:
        """The LLVM IR compiled (generated again when the variant came from the lowering cache)."""
        if self._ir is None:
            self._ir = self._generate()[3]
        return self._ir

    def _record(self) -> dict:
        """What the lowering cache keeps of this variant (plan_cache.py): data, no code but the IR's hash."""
        d = plan_cache.dim_out
        lay = self.layout
        return {"ir": T.ir_digest(self._ir), "checks": list(self.checks),
                "requires": [[d(size), int(least), str(msg)] for size, least, msg in self.requires],
                "kernels": [[name, [d(x) for x in shape]] for name, shape in self._shapes],
                "scratch": [[b.name, b.dtype, [d(x) for x in b.shape]] for b in lay.scratch],
                "lifetimes": [list(t) for t in lay.lifetimes], "sizes": [d(x) for x in lay.sizes]}

    def _from_record(self, record: dict | None) -> bytes | None:
        """Take the lowering from a cache record and the object it names; None (lower afresh) when either is
        missing or the record does not describe a variant. A record of a needed value raises NeedsConcrete."""
        if record is None:
            return None
        if "needs" in record:
            symbol, why = record["needs"]
            if isinstance(symbol, str) and isinstance(why, str) and symbol in self.exe.symbols:
                raise NeedsConcrete(symbol, why)
            return None
        try:
            d = plan_cache.dim_in
            checks = [str(c) for c in record["checks"]]
            requires = [(d(s), int(least), str(msg)) for s, least, msg in record["requires"]]
            shapes = [(str(name), tuple(d(x) for x in shape)) for name, shape in record["kernels"]]
            scratch = tuple(Buf(str(name), str(dt), tuple(d(x) for x in shape)) for name, dt, shape in record["scratch"])
            lifetimes = tuple((int(a), int(b)) for a, b in record["lifetimes"])
            sizes = tuple(d(x) for x in record["sizes"])
            digest = record["ir"]
            if not (len(scratch) == len(lifetimes) == len(sizes) and isinstance(digest, str)
                    and all(dt in NP_DTYPES for _, dt, _ in record["scratch"])):
                raise plan_cache.BadRecord("inconsistent lengths")
        except (KeyError, TypeError, ValueError) as e:
            from ... import cache
            cache.warn(f"ignoring a lowering record that does not describe a variant ({e}); rebuilding it")
            return None
        exe = self.exe
        obj = T.cached_object(digest, exe.host, exe.opt)
        if obj is None:
            return None
        self.checks, self.requires, self._shapes = checks, requires, shapes
        self.kernels = len(shapes)
        self.layout = Plan(scratch, lifetimes, sizes)
        self.cached = True
        return obj

    @property
    def plan(self) -> PlanAt:
        """The layout in use (for the largest sizes seen): `arena_bytes`, `scratch_bytes`, `offsets`."""
        return PlanAt(self.layout, self.bindings)

    @property
    def kernel_names(self) -> list[str]:
        """Each kernel with its iteration space at the largest binding seen."""
        return [f"{name}{[evaluate(d, self.bindings) for d in shape]}" for name, shape in self._shapes]

    def reserve(self, bindings: Mapping[str, int]) -> None:
        """Make the arena hold every scratch buffer at `bindings` (re-planned and grown when it does not)."""
        need = self.layout.sizes_at(bindings)
        for s, n in bindings.items():
            self.bindings[s] = max(self.bindings.get(s, n), n)
        if self.cap is not None and (need <= self.cap).all():
            return
        self.cap = need if self.cap is None else np.maximum(self.cap, need)
        offsets, arena = self.layout.layout(self.cap)
        self._arena = np.empty(arena + 64, np.uint8)
        self.offsets = np.ascontiguousarray(offsets if len(offsets) else np.zeros(1, np.int64))
        n_args = self.exe.n_args
        self.ptrs[n_args] = (_addr(self._arena) + 63) // 64 * 64
        self.ptrs[n_args + 4] = _addr(self.offsets)

    def use(self, key, bindings: Mapping[str, int]) -> None:
        """Point the variant at one binding: sizes, output shapes, buffers of unreported outputs."""
        hit = self._per_key.get(key)
        if hit is None:
            for size, least, message in self.requires:
                if evaluate(size, bindings) < least:
                    raise RunError(f"{message} {evaluate(size, bindings)}")
            self.reserve(bindings)
            exe = self.exe
            shapes = {port.name: exe._shape(port.type, bindings) for port in exe._sig.outputs}
            held = {}  # outputs that are neither reported nor updates still need somewhere to go
            for j, port in enumerate(exe._sig.outputs):
                if port.role is not Role.REPORT and port.replaces is None:
                    held[exe._out_slot[port.name]] = np.empty(shapes[port.name], NP_DTYPES[port.type.dtype])
            values = np.array([bindings[s] for s in exe.symbols] or [0], np.int64)
            hit = (shapes, held, values)
            if len(self._per_key) < MEMO:
                self._per_key[key] = hit
        shapes, held, values = hit
        self.out_shapes = shapes
        for slot, a in held.items():
            self.ptrs[slot] = _addr(a)
        self.sizes[:] = values
        self.current = key
        self.held_in = [None] * len(self.exe._fast_in)
        self.last_out = [None] * len(self.exe._fast_out)


class LlvmExecutable:
    """A graph compiled by LLVM, holding every stateful input; see the module docstring."""

    def __init__(self, graph: Graph, signature: Signature, host: T.Host, opt: int = 3, use_cache: bool = True,
                 profile: bool = False, checked: bool = False, specialize: bool = False, hoist: bool = False):
        signature.check(graph)
        self.checked = checked
        self.signature = signature          # as given; self._sig is the one compiled (hoisting adds state)
        self._prepare: LlvmExecutable | None = None  # parameters -> the derived tensors (option hoist)
        self._derived: tuple[str, ...] = ()
        self._stale = False                 # parameters loaded since the derived tensors were computed
        if hoist:
            from ...passes.hoist import split_static
            split = split_static(graph, signature)
            if split is not None:
                self._prepare = LlvmExecutable(split.prepare, split.prepare_signature, host, opt, use_cache,
                                               checked=checked)
                self._derived = split.derived
                graph, signature = split.run, split.run_signature
        self._sig = signature
        self.graph, self.host, self.opt, self.use_cache = graph, host, opt, use_cache
        self.profile = profile
        self._data_layout: str | None = None
        self.n_args = len(signature.inputs) + len(signature.outputs)
        params = {p.name: p.value.id for p in graph.params}
        inputs = dict(graph.inputs)
        self._vid = {p.name: params[p.name] if p.role in (Role.PARAM, Role.STATE) else inputs[p.name]
                     for p in signature.inputs}
        self._slot = {p.name: i for i, p in enumerate(signature.inputs)}
        self._out_slot = {p.name: len(signature.inputs) + j for j, p in enumerate(signature.outputs)}
        held = {p.name: p for p in signature.inputs if p.role in STATEFUL}  # the derived tensors too
        self._stateful = {n: p for n, p in held.items() if n not in self._derived}
        self._data = [p for p in signature.inputs if p.role is Role.DATA]
        self._reports = [p for p in signature.outputs if p.role is Role.REPORT]
        self._losses = [p.name for p in signature.outputs if p.loss]
        self._updates = [(p.name, p.replaces) for p in signature.outputs if p.replaces is not None]
        self._values: dict[str, np.ndarray] = {}
        self._spare: dict[str, np.ndarray] = {}   # update output name -> its buffer
        self._loaded: set[str] = set()
        for name, port in held.items():
            dtype = NP_DTYPES[port.type.dtype]
            self._values[name] = np.zeros(self._shape(port.type, {}), dtype)
            if port.role in (Role.STEP, Role.KEY):
                self._loaded.add(name)  # 0 by default, as on numpy
        self._ready = all(n in self._loaded for n in self._stateful)  # every held value loaded
        # a call's fast path: the data inputs by name, the dtype each must have, their slots, the reports
        self._names = frozenset(p.name for p in self._data)
        self._fast_in = [(p.name, np.dtype(NP_DTYPES[p.type.dtype]), self._slot[p.name]) for p in self._data]
        self._fast_out = [(p.name, np.dtype(NP_DTYPES[p.type.dtype]), self._out_slot[p.name]) for p in self._reports]
        for out, replaced in self._updates:
            self._spare[out] = np.empty_like(self._values[replaced])
        ports = list(signature.inputs) + list(signature.outputs)
        self.symbols: tuple[str, ...] = tuple(sorted(set().union(*(symbols_of(d) for p in ports
                                                                    for d in p.type.shape))))
        # symbols compiled per value: those the lowering could not leave to run time (NeedsConcrete), or
        # every one with option specialize (the code before run-time sizes: a variant per binding)
        self.special: tuple[str, ...] = self.symbols if specialize else ()
        self.why_special: dict[str, str] = {}
        self.compilations = 0                # compile_object calls (cache hits included)
        self._variants: dict[tuple, Variant] = {}  # values of the specialised symbols -> the variant
        self._bound: dict[tuple, dict[str, int]] = {}  # input shapes -> their binding of the size symbols
        self._by_shape: dict[tuple, Variant] = {}      # input shapes -> the variant that runs them
        self._generation = 0

    @property
    def data_layout(self) -> str:
        """The target's data layout (a TargetMachine's; only lowering needs it)."""
        if self._data_layout is None:
            self._data_layout = T.data_layout(self.host)
        return self._data_layout

    @staticmethod
    def _shape(t, bindings: Mapping[str, int]) -> tuple[int, ...]:
        try:
            return tuple(eval_dim(d, bindings) if bindings else eval_dim(d) for d in t.shape)
        except UnboundSymbol as e:
            raise RunError(str(e)) from None

    # -- state --------------------------------------------------------------------------------------
    def load_state(self, values: Mapping[str, np.ndarray], adopt: bool = False) -> None:
        """Copy `values` into the buffers the compiled code reads; with `adopt` (adopt_state) an array of the
        declared dtype, C-contiguous, owning its writeable data becomes the held buffer itself instead."""
        for name, a in checked_state(self._stateful, values).items():
            mine = self._values[name]
            if adopt and a.dtype == mine.dtype and a.flags.c_contiguous and a.flags.owndata and a.flags.writeable:
                self._values[name] = a
                self._generation += 1   # the variants point at the new buffer before their next call (_sync)
            else:
                np.copyto(mine, a)
            self._loaded.add(name)
        self._ready = all(n in self._loaded for n in self._stateful)
        if self._prepare is not None:
            self._stale = True

    def adopt_state(self, values: Mapping[str, np.ndarray]) -> None:
        """`load_state` for arrays no one else holds (nnc.api's freshly initialised parameters): no copy of
        those it can hold as they are (a VGG-16 has 0.55 GB of parameters); any other is copied."""
        self.load_state(values, adopt=True)

    def state(self) -> dict[str, np.ndarray]:
        return {name: a.copy() for name, a in self._values.items() if name not in self._derived}

    def _run_prepare(self) -> None:
        """Compute the derived tensors from the parameters now loaded (option hoist): once per change."""
        prep = self._prepare
        out = prep(**{p.name: self._values[p.name] for p in prep._data})
        for name in self._derived:
            self._values[name] = out[name]   # a new buffer: the variants re-point at it (_sync)
            self._loaded.add(name)
        self._generation += 1
        self._stale = False

    def _specialise(self, e: NeedsConcrete) -> None:
        if e.symbol not in self.symbols or e.symbol in self.special:
            raise RuntimeError(f"llvm lowering: {e}") from e
        self.special = tuple(sorted(self.special + (e.symbol,)))
        self.why_special[e.symbol] = e.why

    def _lower_symbolic(self, special: Mapping[str, int]) -> tuple[Lowering, Plan]:
        """The kernels and plan with every symbol but the specialised ones left as a run-time Poly."""
        sig, graph = self._sig, self.graph
        bindings = {s: special[s] if s in special else Poly.symbol(s) for s in self.symbols}

        def dims(t):
            try:
                return tuple(of_graph(d, bindings) for d in t.shape)
            except UnboundSymbol as e:
                raise RunError(str(e)) from None
        ins: dict[int, Buf] = {}
        for i, port in enumerate(sig.inputs):
            ins[self._vid[port.name]] = Buf(port.name, port.type.dtype, dims(port.type), arg=i)
        outs: dict[int, list[Buf]] = {}
        out_vids = dict(graph.outputs)
        for j, port in enumerate(sig.outputs):
            outs.setdefault(out_vids[port.name], []).append(
                Buf(port.name, port.type.dtype, dims(port.type), arg=len(sig.inputs) + j))
        from .lower import Lowering
        lw = Lowering(graph, bindings, ins, outs, Buf("status", "i64", (1,), arg=self.n_args + 1))
        lw.run()
        return lw, plan_arena(lw.kernels, lw.scratch)

    def lower(self, bindings: dict[str, int]) -> tuple[Lowering, PlanAt]:
        """The kernels (sizes symbolic, as compiled) and the memory plan laid out for one binding, without
        generating code (`nnc stats --backend llvm` and `nnc compile --explain` read them)."""
        while True:
            try:
                lw, plan = self._lower_symbolic({s: bindings[s] for s in self.special})
                return lw, PlanAt(plan, bindings)
            except NeedsConcrete as e:
                self._specialise(e)

    # -- calls ----------------------------------------------------------------------------------------
    def variant(self, bindings: dict[str, int]) -> Variant:
        """The compiled code that runs `bindings` (compiled on first use), its arena holding them."""
        while True:
            key = tuple(bindings[s] for s in self.special)
            v = self._variants.get(key)
            if v is not None:
                break
            try:
                v = self._variants[key] = Variant(self, {s: bindings[s] for s in self.special})
                break
            except NeedsConcrete as e:
                self._specialise(e)
        v.reserve(bindings)
        return v

    def _sync(self, v: Variant) -> None:
        """Point the variant at the current stateful buffers (they swap after each committed update)."""
        # once per training step, over every held buffer (83 for fashion_cnn): _fast_addr's 0.3 µs each, not 1.6
        ptrs, slot, out_slot = v.ptrs, self._slot, self._out_slot
        for name, a in self._values.items():
            ptrs[slot[name]] = _fast_addr(a)
        for out, a in self._spare.items():
            ptrs[out_slot[out]] = _fast_addr(a)
        v.generation = self._generation

    def _feeds(self, feeds: dict) -> tuple[list[np.ndarray], dict[str, int]]:
        held = [n for n in feeds if n in self._stateful]
        if held:
            raise RunError(f"{held[0]} is held by the executable (load_state), not fed per call")
        names = [p.name for p in self._data]
        unknown = [n for n in feeds if n not in names]
        if unknown:
            raise RunError(f"unknown input{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)} "
                           f"(inputs are: {', '.join(names) or 'none'})")
        missing = [n for n in names if n not in feeds]
        if missing:
            raise RunError(f"missing input{'s' if len(missing) > 1 else ''}: " + ", ".join(missing))
        arrays = []
        for port in self._data:
            a = feeds[port.name]
            want = NP_DTYPES[port.type.dtype]
            if not (isinstance(a, np.ndarray) and a.dtype == want and a.flags.c_contiguous):
                a = np.asarray(a)
                t = port.type
                if not ((t.is_float and np.issubdtype(a.dtype, np.floating))
                        or (t.is_int and np.issubdtype(a.dtype, np.integer))
                        or (t.dtype == "bool" and a.dtype == np.bool_)):
                    raise RunError(f"input {port.name} must be {t.dtype}, found an array of {a.dtype}")
                a = np.asarray(a, dtype=want, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
            arrays.append(a)
        key = tuple(a.shape for a in arrays)
        bindings = self._bound.get(key)
        if bindings is None:
            try:
                bindings = bind_symbols([(p.name, p.type, a.shape) for p, a in zip(self._data, arrays)])
            except BindError as e:
                raise RunError(str(e)) from None
            missing = [s for s in self.symbols if s not in bindings]
            if missing:
                raise RunError(f"the inputs bind no size for {', '.join(missing)}")
            if len(self._bound) < 256:
                self._bound[key] = bindings
        return arrays, bindings, key

    def __call__(self, **feeds) -> dict[str, np.ndarray]:
        if not self._ready:
            missing = [n for n in self._stateful if n not in self._loaded]
            raise RunError(f"no value loaded for {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
        if self._stale:
            self._run_prepare()
        # the fast path (every input an array of its dtype, C-contiguous, no stray name) checks what the slow
        # one would and converts nothing; anything else goes through _feeds, which names what is wrong
        arrays = None
        if feeds.keys() == self._names:
            arrays, shapes = [], []
            for name, want, _ in self._fast_in:
                a = feeds[name]
                if type(a) is not np.ndarray or a.dtype is not want or not a.flags.c_contiguous:
                    arrays = None
                    break
                arrays.append(a)
                shapes.append(a.shape)
        if arrays is None:
            arrays, bindings, key = self._feeds(feeds)
        else:
            key = tuple(shapes)
            bindings = self._bound.get(key)
            if bindings is None:  # a new shape: its sizes bound (and checked) by _feeds
                arrays, bindings, key = self._feeds(feeds)
        v = self._by_shape.get(key)
        if v is None:
            v = self.variant(bindings)
            if len(self._by_shape) < 256:
                self._by_shape[key] = v
        if v.generation != self._generation:
            self._sync(v)
        if v.current != key:
            v.use(key, bindings)
        ptrs = v.ptrs
        held = v.held_in   # the arrays whose addresses the pointer array holds (kept alive, so `is` is exact)
        for i, a in enumerate(arrays):
            if held[i] is not a:
                ptrs[self._fast_in[i][2]] = _fast_addr(a)
                held[i] = a
        out = {}
        last = v.last_out
        for i, (name, dtype, slot) in enumerate(self._fast_out):
            # the last call's output again when nothing else refers to it (no name, view, container or weak
            # reference: nobody can see it overwritten), else a new array
            if last[i] is None or getrefcount(last[i]) > _FREE or getweakrefcount(last[i]):
                last[i] = np.empty(v.out_shapes[name], dtype)
                ptrs[slot] = _fast_addr(last[i])
            out[name] = last[i]
        v.fn(v.ptrs_addr)
        if v.status[0]:
            failed, v.status[0] = int(v.status[0]), 0
            raise RunError(v.checks[failed - 1])
        if self._updates and all(np.isfinite(out[n]).all() for n in self._losses):
            for o, replaced in self._updates:
                self._values[replaced], self._spare[o] = self._spare[o], self._values[replaced]
            self._generation += 1
        return out

    def profile_table(self) -> list[tuple[str, int]]:
        """(kernel, cycles summed over calls) of every compiled variant, most expensive first (option profile)."""
        rows = [(f"{name} {dict(v.bindings)}", int(c)) for v in self._variants.values()
                for name, c in zip(v.kernel_names, v.cycles)]
        return sorted(rows, key=lambda r: -r[1])
