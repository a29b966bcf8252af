"""The op registry, filled by discovering every module in this package that defines `OP`.

Unknown names get "did you mean …?" from here, never from a hand-kept list.
"""
from __future__ import annotations

import difflib
import importlib
import pkgutil

from .base import Op

_HELPERS = {"base", "attrs", "window", "common"}
_REGISTRY: dict[str, Op] | None = None


def registry() -> dict[str, Op]:
    global _REGISTRY
    if _REGISTRY is None:
        found: dict[str, Op] = {}
        for info in pkgutil.iter_modules(__path__):
            if info.name in _HELPERS or info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{__name__}.{info.name}")
            op = getattr(module, "OP", None)
            if isinstance(op, Op):
                found[op.name] = op
        _REGISTRY = dict(sorted(found.items()))
    return _REGISTRY


def get(name: str) -> Op | None:
    return registry().get(name)


def public_names() -> list[str]:
    return [n for n, op in registry().items() if not op.internal]


def suggest(name: str, candidates) -> str | None:
    """The closest name, for a "did you mean" hint."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None
