"""Open documents, their last analysis, and the debounced re-checking of a file and the files importing it.

Checking runs on one worker thread, one file at a time, so the event loop keeps answering requests
(from the last analysis) while a large paste is checked. A change starts a check at once when none is
running; changes that arrive while a check runs are collected and checked right after it (so typing
is debounced by the check itself). A file is never checked twice at once, and a result for an older
text is still published (it is the newest there is) and then replaced.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

from ..elaborate.loader import resolved
from .analysis import Analysis, analyze
from .index import index

DEBOUNCE_S = 0.005  # a burst of notifications arriving together is checked once


@dataclass
class Document:
    uri: str
    path: Path  # resolved
    text: str
    version: int | None


class Documents:
    """Open documents by resolved path, and each one's newest analysis."""

    def __init__(self) -> None:
        self.docs: dict[Path, Document] = {}
        self.uris: dict[str, Path] = {}
        self.analyses: dict[Path, Analysis] = {}
        self.parsed: dict[Path, Analysis] = {}  # the newest analysis whose text parsed (for the outline)

    def open(self, uri: str, path: Path, text: str, version: int | None) -> Document:
        doc = Document(uri, resolved(path), text, version)
        self.docs[doc.path] = doc
        self.uris[uri] = doc.path
        return doc

    def close(self, path: Path) -> Document | None:
        self.analyses.pop(path, None)
        self.parsed.pop(path, None)
        doc = self.docs.pop(path, None)
        if doc is not None:
            self.uris.pop(doc.uri, None)
        return doc

    def get(self, path: Path) -> Document | None:
        return self.docs.get(path)

    def by_uri(self, uri: str) -> Document | None:
        """The open document with this URI (one dictionary lookup: request threads call this too)."""
        path = self.uris.get(uri)
        return self.docs.get(path) if path is not None else None

    def open_text(self, path: Path) -> str | None:
        """The unsaved text of an open file, for the loader."""
        doc = self.docs.get(path)
        return doc.text if doc is not None else None

    def dependents(self, path: Path) -> list[Path]:
        """Open files whose last check read `path` (they import it, directly or not)."""
        return [p for p, a in list(self.analyses.items()) if p != path and path in a.modules]

    def check(self, path: Path) -> Analysis | None:
        """Analyse the open file at `path` as it is now (on the worker thread)."""
        doc = self.docs.get(path)
        if doc is None:
            return None
        return analyze(doc.path, doc.text, self.open_text)


def warm(analysis: Analysis) -> None:
    """Build the per-line tables hover and inlay hints use (on the worker thread, after publishing)."""
    try:
        idx = index(analysis)
        idx.type_spans(0)
        idx.call_spans(0)
        idx.items()
    except Exception:  # warming is an optimisation; the request builds the table itself if this failed
        pass


class Scheduler:
    """Debounces change notifications and runs checks one at a time on a worker thread."""

    def __init__(self, docs: Documents, publish: Callable[[Path, Analysis, int | None], Awaitable[None] | None],
                 delay: float = DEBOUNCE_S):
        self.docs = docs
        self.publish = publish
        self.delay = delay
        self.pending: dict[Path, None] = {}  # ordered set: the edited file first, then its importers
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nnc-check")
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task | None = None
        self.checks = 0
        self.failures: list[str] = []
        self.on_failure: Callable[[str, BaseException], None] | None = None
        self.on_crash: Callable[[Path, int | None, BaseException], None] | None = None  # the checker raised
        self.closed = False

    def changed(self, path: Path, immediately: bool = False) -> None:
        """`path` changed (or opened): check it and the open files that import it.

        When no check is running, checking starts after `delay` (a few milliseconds, to take a burst of
        notifications together); changes that arrive during a check are checked, together, right after it.
        Typing is thus debounced by the check itself, and a single edit waits for nothing.
        """
        for p in [path] + self.docs.dependents(path):
            self.pending.pop(p, None)
            self.pending[p] = None
        if self._task is not None and not self._task.done():
            return  # the running drain takes the newest text when its current check ends
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(0 if immediately else self.delay, self._fire)

    def forget(self, path: Path) -> None:
        self.pending.pop(path, None)

    def _fire(self) -> None:
        self._timer = None
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending and not self.closed:
            path = next(iter(self.pending))
            del self.pending[path]
            doc = self.docs.get(path)
            if doc is None:
                continue
            version = doc.version
            try:
                analysis = await loop.run_in_executor(self.pool, self.docs.check, path)
            except Exception as e:  # a bug in the checker: reported in the log, never fatal
                if self.closed:
                    return  # shut down mid-check: nothing to report
                self.failures.append(f"{type(e).__name__}: {e}")
                if self.on_crash is not None:
                    self.on_crash(path, version, e)
                continue
            self.checks += 1
            if analysis is None or self.docs.get(path) is None:
                continue
            self.docs.analyses[path] = analysis
            if analysis.module is not None:
                self.docs.parsed[path] = analysis
            try:
                result = self.publish(path, analysis, version)
                if asyncio.iscoroutine(result):
                    await result
            except Exception as e:  # a bug in publishing: reported, and the next check still runs
                self.failures.append(f"{type(e).__name__}: {e}")
                if self.on_failure is not None:
                    self.on_failure("publishing diagnostics", e)
                continue
            if not self.closed:
                self.pool.submit(warm, analysis)  # build the request tables now, before the first request

    def shutdown(self) -> None:
        self.closed = True
        self.pending.clear()
        if self._timer is not None:
            self._timer.cancel()
        self.pool.shutdown(wait=False, cancel_futures=True)
