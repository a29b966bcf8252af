"""One emitted function for kernels that differ only in which buffers they touch (emit.py's emit_module).

ResNet-18's blocks repeat: of its 107 kernels 47 compute exactly what an earlier one computes, on other
buffers (the same shapes, strides, offsets and expressions). Each function takes its buffers as pointer
arguments, so such a kernel can call the earlier one's function instead of being emitted and compiled
again: about half of the module's IR, and of LLVM's time on it, was such copies.

`kernel_key(kern)` is the kernel's structure with every buffer replaced by its position among the
kernel's arguments (emit.kernel_buffers) and its dtype, every step-loop variable by one name (emit.py
gives all step loops one slot of the sizes array: they never nest), the origin left out; None when the
kernel holds something this cannot describe (such a kernel is never shared). Floats are compared by
their repr (0.0 and -0.0, a NaN). `alias(module, name, fn)` is the kernel's own small function
`k<n>_<origin>` calling the shared one: the entry point still calls one function per kernel by its
number (checked.py finds kernels so; LLVM inlines the call away). NNC_SHARE_KERNELS=0 turns sharing off
(for measurements: the code is the same, only compiled once per copy).
"""
from __future__ import annotations

import dataclasses
import os

from llvmlite import ir

from .dims import Poly
from .loops import Buf, Kernel

_PLAIN = (str, int, bool, type(None))
STEP_PREFIX = "@s"   # lower.py's step-loop variables: @s0, @s1, ...
ENABLED = os.environ.get("NNC_SHARE_KERNELS", "1") != "0"   # NNC_SHARE_KERNELS=0: every kernel its own code


_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _fields(cls: type) -> tuple[str, ...] | None:
    """A dataclass's field names but `origin` (None for any other class), once per class."""
    if cls not in _FIELDS:
        _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.name != "origin") \
            if dataclasses.is_dataclass(cls) else None
    return _FIELDS[cls]


class _Opaque(Exception):
    """A value kernel_key cannot describe."""


def kernel_key(kern: Kernel, bufs: list[Buf]) -> tuple | None:
    """A hashable description of everything emitting `kern` depends on, buffers by position in `bufs`.
    Expressions are DAGs (a Winograd transform's 16 outputs share their partial sums): each node is
    described once, in a table, and referred to by its place there (so the key is as large as the DAG and
    two kernels match only where they share subexpressions alike, which the emitter's memo follows)."""
    if not ENABLED:
        return None
    where = {id(b): i for i, b in enumerate(bufs)}
    seen: dict[int, int] = {}
    table: list = []

    def key(v):
        if isinstance(v, Buf):
            if id(v) not in where:
                raise _Opaque
            return ("B", where[id(v)], v.dtype)
        if isinstance(v, Poly):
            return ("P", tuple((tuple(STEP_PREFIX if n.startswith(STEP_PREFIX) else n for n in m), c)
                               for m, c in v.terms))
        if isinstance(v, float):
            return ("f", repr(v))
        if isinstance(v, _PLAIN):
            return (type(v).__name__, v)
        if isinstance(v, (tuple, list)):
            if all(type(x) is int for x in v):   # shapes, strides: as they are (no bool, no float)
                return ("i",) + tuple(v)
            return ("t",) + tuple(key(x) for x in v)
        if isinstance(v, dict):
            return ("d",) + tuple(sorted((str(a), key(b)) for a, b in v.items()))
        names = _fields(type(v))
        if names is not None:
            if id(v) not in seen:
                desc = (type(v).__name__,) + tuple(key(getattr(v, name)) for name in names)
                seen[id(v)] = len(table)
                table.append(desc)
            return ("@", seen[id(v)])
        raise _Opaque
    try:
        return key(kern), tuple(table)
    except (_Opaque, TypeError):
        return None


def alias(module: ir.Module, name: str, fn: ir.Function) -> ir.Function:
    """An internal function `name` with fn's signature whose body calls fn with its own arguments."""
    own = ir.Function(module, fn.function_type, name=name)
    own.linkage = "internal"
    for a, b in zip(own.args, fn.args):
        for attr in b.attributes:
            a.add_attribute(attr)
    b = ir.IRBuilder(own.append_basic_block("entry"))
    b.call(fn, list(own.args))
    b.ret_void()
    return own
