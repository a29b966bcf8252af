"""One entry of a C library: a model's forward pass or a train block's step, lowered and emitted as a
position-independent object whose entry point is renamed `nnc_<prefix>_run` and hidden.

The code is the in-process backend's: the same prepared graph and signature (`report.model_graph`,
`report.step_graph`), the same lowering (`LlvmExecutable._lower_symbolic`), the same `emit_module` and the same
optimisation pipeline as `target.compile_object`; only the code model differs (`reloc="pic",
codemodel="default"`, backends.md §3: an object emitted for the JIT links only with text relocations).
The argument slots are the in-process executable's (inputs, outputs, arena, status, profile cycles, ...).

An inference entry is compiled with hoisting as in process (nnc/passes/hoist.py): the per-call code reads
the derived tensors (folded batchnorm filters, ...) as extra held inputs, and the prepare graph that
computes them from the parameters is a second hidden entry point `nnc_<prefix>_prepare` (`Entry.prepare`),
which the runtime runs before the first call after create, load or set. A training entry (updates) is
never split: one entry point.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...base import Role, Signature
from ....ir.types import Sym, symbols_of

ROLE_CODE = {Role.DATA: 0, Role.PARAM: 1, Role.STATE: 2, Role.SLOT: 3, Role.STEP: 4, Role.KEY: 5, Role.REPORT: 6}
DTYPE_CODE = {"f32": 0, "f64": 1, "i32": 2, "i64": 3, "bool": 4}
C_TYPE = {"f32": "float", "f64": "double", "i32": "int32_t", "i64": "int64_t", "bool": "uint8_t"}
DTYPE_BYTES = {"f32": 4, "f64": 8, "i32": 4, "i64": 8, "bool": 1}


class LibraryError(Exception):
    """A program the C library cannot be built for, or no C compiler; one line saying why."""


@dataclass
class PortInfo:
    name: str
    role: Role
    dtype: str
    dims: list[int]        # the constant sizes; a batch axis holds 0 here and True in `batched`
    batched: list[bool]
    replaces: int = -1     # outputs: the input slot this value replaces after a committed call
    loss: bool = False
    derived: bool = False  # inputs: a tensor the prepare entry computes from the parameters (hoist.py)

    def shape_text(self, symbol: str) -> str:
        return "[" + ", ".join(symbol if b else str(d) for d, b in zip(self.dims, self.batched)) + "]"

    def numel(self, batch: int = 1) -> int:
        n = 1
        for d, b in zip(self.dims, self.batched):
            n *= batch if b else d
        return n


@dataclass
class Entry:
    prefix: str                 # the C identifier every function of this entry starts with
    kind: str                   # "model" or "train"
    name: str                   # the model or train block's name in the program
    signature: Signature
    inputs: list[PortInfo]
    outputs: list[PortInfo]
    symbol: str                 # the batch symbol ("" when the entry has no size symbol)
    batch: int                  # > 0: the code runs this batch only; 0: any batch (run-time sizes)
    arena_bytes: int
    n_kernels: int
    messages: list[str]         # status k > 0 after a call: messages[k - 1]
    n_checks: int               # messages[:n_checks]: checks of values; after them: --checked kernels
    ir: str
    seed: int = 0               # the random key an instance starts with
    plan_batch: int = 1         # the batch the header's memory constants are stated at
    scratch: list = field(default_factory=list)  # (first, last kernel, [c0..c3] bytes) per scratch buffer
    entry_point: str = ""       # the renamed entry point (default: nnc_<prefix>_run)
    prepare: "Entry | None" = None  # parameters -> the derived tensors (inputs: data, outputs: reports)
    prepare_in: list = field(default_factory=list)   # per prepare input: the slot of this entry it reads
    prepare_out: list = field(default_factory=list)  # per prepare output: the derived slot it writes

    @property
    def run_symbol(self) -> str:
        return self.entry_point or f"nnc_{self.prefix}_run"

    @property
    def n_args(self) -> int:
        return len(self.inputs) + len(self.outputs)

    @property
    def held(self) -> list[PortInfo]:
        """The tensors an instance holds by name (get/set, load/save): not the data, not the derived."""
        return [p for p in self.inputs if p.role is not Role.DATA and not p.derived]

    @property
    def derived(self) -> list[PortInfo]:
        return [p for p in self.inputs if p.derived]


def _port(port, symbol_names: list[str]) -> PortInfo:
    dims, batched = [], []
    for d in port.type.shape:
        if isinstance(d, int):
            dims.append(d)
            batched.append(False)
        elif isinstance(d, Sym) and d.terms == (((symbol_names[0],), 1),):
            dims.append(0)
            batched.append(True)
        else:
            raise LibraryError(f"{port.name} has the size {d}: the C library takes sizes that are numbers or "
                               f"the batch symbol itself")
    return PortInfo(port.name, port.role, port.type.dtype, dims, batched)


def build_entry(graph, signature: Signature, kind: str, name: str, prefix: str, batch: int | None,
                cpu: str | None, checked: bool = False, hoist: bool = True) -> Entry:
    """Lower and emit one entry; `batch`: the batch planned for the header's constants (and the one the
    code runs when the batch could not stay a run-time size); `hoist` False: no prepare entry (less held
    memory, the parameter-only work on every call)."""
    from ....passes.pipeline import prepare
    from .. import BACKEND
    symbols = sorted(set().union(*(symbols_of(d) for p in signature.inputs + signature.outputs
                                   for d in p.type.shape)))
    if len(symbols) > 1:
        raise LibraryError(f"{kind} {name} has the size symbols {', '.join(symbols)}: the C library takes one, "
                           f"the batch, chosen per call")
    options = {"cpu": cpu} if cpu else {}
    options["hoist"] = hoist
    exe = BACKEND.compile(prepare(graph, BACKEND, signature=signature), signature, options=options)
    run_sig = exe._sig  # the signature compiled: with hoisting, the derived tensors are extra state at the end
    inputs = [_port(p, symbols) for p in run_sig.inputs]
    outputs = [_port(p, symbols) for p in run_sig.outputs]
    derived = set(exe._derived)
    for info in inputs:
        info.derived = info.name in derived
    slot = {p.name: i for i, p in enumerate(run_sig.inputs)}
    for info, p in zip(outputs, run_sig.outputs):
        info.replaces = slot[p.replaces] if p.replaces is not None else -1
        info.loss = p.loss
    for info in inputs:
        if info.role is not Role.DATA and any(info.batched):
            raise LibraryError(f"{info.name} is held by the library but its size depends on {symbols[0]}")
    e = _emit(exe, prefix, kind, name, run_sig, inputs, outputs, symbols[0] if symbols else "", batch, checked,
              f"nnc_{prefix}_run")
    if exe._prepare is not None:
        pre = exe._prepare
        pre_in = [_port(p, []) for p in pre._sig.inputs]
        pre_out = [_port(p, []) for p in pre._sig.outputs]
        e.prepare = _emit(pre, f"nncp_{prefix}", "prepare", name, pre._sig, pre_in, pre_out, "", 1, checked,
                          f"nnc_prepare_{prefix}")
        e.prepare_in = [slot[p.name] for p in pre_in]
        e.prepare_out = [slot[p.name] for p in pre_out]
        if e.batch:  # one batch: the arena is stated at it; with the prepare step's needs (it runs there too)
            e.arena_bytes = max(e.arena_bytes, e.prepare.arena_bytes)
    return e


def _emit(exe, prefix: str, kind: str, name: str, signature: Signature, inputs: list[PortInfo],
          outputs: list[PortInfo], symbol: str, batch: int | None, checked: bool, entry_name: str) -> Entry:
    """One entry point of `exe` lowered, emitted and renamed `entry_name`."""
    lowered = lower_entry(exe, symbol, batch or 1)
    messages = list(lowered["checks"])
    n_checks = len(messages)
    if checked:
        from ..checked import add_checks
        messages += add_checks(lowered["module"], lowered["kernels"], exe.n_args, lowered["symbols"], n_checks + 1)
    ir_text = rename_entry(str(lowered["module"]), entry_name)
    return Entry(prefix, kind, name, signature, inputs, outputs, symbol, lowered["fixed"], lowered["arena"],
                 len(lowered["kernels"]), messages, n_checks, ir_text, scratch=lowered["scratch"],
                 plan_batch=batch or 1, entry_point=entry_name)


def lower_entry(exe, symbol: str, batch: int) -> dict:
    """The kernels and module the in-process executable compiles (executable.Variant: the sizes are run-time
    values), and the memory plan as the C runtime needs it: each scratch buffer's lifetime and byte size as
    coefficients of 1, B, B², B³ (`fixed` 0: one code for every batch). Where the lowering had to specialise
    the batch (dims.NeedsConcrete), the code for `batch` only: `fixed` = batch, sizes at that batch."""
    from .. import emit as E
    from ..dims import NeedsConcrete
    special: dict[str, int] = {}
    while True:
        try:
            lw, plan = exe._lower_symbolic(special)
            break
        except NeedsConcrete as err:
            if err.symbol in special:
                raise
            special[err.symbol] = batch
    module = E.emit_module(lw.kernels, exe.n_args, exe.host.triple, exe.data_layout, profile=exe.profile,
                           scratch=list(plan.scratch), symbols=exe.symbols)
    binding = {symbol: batch} if symbol else {}
    if special:
        scratch = [(f, l, [int(n), 0, 0, 0]) for (f, l), n in zip(plan.lifetimes, plan.sizes_at(binding))]
    else:
        scratch = [(f, l, _coefficients(n, symbol)) for (f, l), n in zip(plan.lifetimes, plan.sizes)]
    return {"kernels": lw.kernels, "module": module, "checks": lw.checks, "scratch": scratch,
            "fixed": batch if special else 0, "arena": int(plan.arena_bytes(binding)), "symbols": tuple(exe.symbols)}


def _coefficients(size, symbol: str) -> list[int]:
    """A byte size (int or dims.Poly over the batch symbol) as [c0, c1, c2, c3]: c0 + c1·B + c2·B² + c3·B³."""
    if isinstance(size, int):
        return [size, 0, 0, 0]
    out = [0, 0, 0, 0]
    for mono, c in size.terms:
        if any(m != symbol for m in mono) or len(mono) > 3:
            raise LibraryError(f"a buffer of {size} bytes: the C library plans sizes that are polynomials "
                               f"of degree 3 at most in the batch {symbol}")
        out[len(mono)] += c
    return out


def rename_entry(ir_text: str, new: str) -> str:
    """The entry point `nnc_run` renamed (several entries link into one library) and hidden (the library
    exports its C functions only)."""
    out, n = re.subn(r'define void @"?nnc_run"?\(', f'define hidden void @"{new}"(', ir_text)
    if n != 1:
        raise LibraryError("the emitted module has no entry point nnc_run")
    return out
