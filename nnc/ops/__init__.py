"""The op registry, filled by discovering every module in this package that defines `OP`.

Unknown names get "did you mean …?" from here, never from a hand-kept list.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Mapping

from .base import Op

_HELPERS = {"base", "attrs", "window", "common"}


class _Registry(Mapping):
    """name -> Op, sorted by name. Every op lives in the module of its name (nnc/ops/<name>.py, tested), so a
    lookup imports that module alone (a program uses a dozen of the 120: importing them all cost 15-40 ms of
    every `nnc.load`); enumerating the registry imports every module first. A read-only Mapping: `get`,
    `in`, `keys`, `items` and `values` come from `__getitem__`, `__iter__` and `__len__`."""

    def __init__(self) -> None:
        self._ops: dict[str, Op] = {}
        self._complete = False
        self._modules: frozenset[str] | None = None

    def _module_names(self) -> frozenset[str]:
        if self._modules is None:
            self._modules = frozenset(info.name for info in pkgutil.iter_modules(__path__)
                                      if info.name not in _HELPERS and not info.name.startswith("_"))
        return self._modules

    def _complete_it(self) -> None:
        if not self._complete:
            found = dict(self._ops)
            for name in sorted(self._module_names()):
                op = getattr(importlib.import_module(f"{__name__}.{name}"), "OP", None)
                if isinstance(op, Op):
                    found[op.name] = op
            self._ops = dict(sorted(found.items()))
            self._complete = True

    def __getitem__(self, name) -> Op:
        op = self._ops.get(name) if isinstance(name, str) else None
        if op is None and isinstance(name, str) and not self._complete and name in self._module_names():
            op = getattr(importlib.import_module(f"{__name__}.{name}"), "OP", None)
            if isinstance(op, Op) and op.name == name:
                self._ops[name] = op
            else:
                self._complete_it()   # a module whose op has another name: the registry as a whole decides
                op = self._ops.get(name)
        if op is None:
            raise KeyError(name)
        return op

    def __iter__(self):
        self._complete_it()
        return iter(self._ops)

    def __len__(self) -> int:
        self._complete_it()
        return len(self._ops)

    def __repr__(self) -> str:
        self._complete_it()
        return repr(self._ops)


_REGISTRY = _Registry()


def registry() -> Mapping[str, Op]:
    """Every op by name (one object for the process; ops are imported as they are looked up)."""
    return _REGISTRY


def get(name: str) -> Op | None:
    return registry().get(name)


def public_names() -> list[str]:
    return [n for n, op in registry().items() if not op.internal]


def suggest(name: str, candidates) -> str | None:
    """The closest name, for a "did you mean" hint."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None
