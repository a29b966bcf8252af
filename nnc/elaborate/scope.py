"""Lexical scopes and the bookkeeping behind the unused-value warning."""
from __future__ import annotations

from dataclasses import dataclass

from ..source import Span


@dataclass
class Binding:
    value: object
    site: Span | None  # where the name was bound; None for definitions that are never "unused"


class UsageLog:
    """Which binding sites were ever used, across every elaboration of a block."""

    def __init__(self) -> None:
        self.sites: dict[Span, tuple[str, str]] = {}  # site -> (name, kind)
        self.used: set[Span] = set()

    def bound(self, site: Span, name: str, kind: str) -> None:
        self.sites.setdefault(site, (name, kind))

    def use(self, site: Span | None) -> None:
        if site is not None:
            self.used.add(site)

    def unused(self):
        for site, (name, kind) in self.sites.items():
            if site not in self.used:
                yield site, name, kind


class Scope:
    def __init__(self, parent: "Scope | None", usage: UsageLog):
        self.parent = parent
        self.names: dict[str, Binding] = {}
        self.usage = usage

    def bind(self, name: str, value, site: Span | None, kind: str = "value", conditional: bool = False) -> None:
        old = self.names.get(name)
        if old is not None and conditional:
            # Rebinding inside a compile-time if/for keeps the old value alive on the other path.
            self.usage.use(old.site)
        self.names[name] = Binding(value, site)
        if site is not None and not name.startswith("_"):
            self.usage.bound(site, name, kind)

    def lookup(self, name: str) -> Binding | None:
        scope: Scope | None = self
        while scope is not None:
            b = scope.names.get(name)
            if b is not None:
                self.usage.use(b.site)
                return b
            scope = scope.parent
        return None

    def visible_names(self) -> set[str]:
        out: set[str] = set()
        scope: Scope | None = self
        while scope is not None:
            out |= set(scope.names)
            scope = scope.parent
        return out
