"""A small JSON-RPC client for testing `nnc lsp` end to end over stdio, as an editor talks to it.

It starts the server as a subprocess, frames messages with Content-Length headers, answers the
server's own requests with null, and keeps every notification (publishDiagnostics, logMessage) so
tests can wait for them. Used by tests/test_lsp.py and bench/lsp_latency.py.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path


class LspClient:
    def __init__(self, cwd: str | Path | None = None, args: list[str] | None = None, env: dict | None = None):
        cmd = args or [sys.executable, "-m", "nnc", "lsp"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=cwd, env={**os.environ, **(env or {})})
        self.next_id = 0
        self.responses: dict[int, dict] = {}
        self.notifications: list[dict] = []
        self.cond = threading.Condition()
        self.closed = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.stderr: queue.Queue = queue.Queue()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    # ---- wire ------------------------------------------------------------------------------------------
    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self) -> None:
        out = self.proc.stdout
        try:
            while True:
                length = None
                while True:
                    line = out.readline()
                    if not line:
                        raise EOFError
                    line = line.strip()
                    if not line:
                        break
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                message = json.loads(out.read(length))
                if "id" in message and "method" in message:  # a request from the server
                    self._send({"id": message["id"], "result": None})
                    with self.cond:
                        self.notifications.append(message)
                        self.cond.notify_all()
                elif "id" in message:
                    with self.cond:
                        self.responses[message["id"]] = message
                        self.cond.notify_all()
                else:
                    with self.cond:
                        self.notifications.append(message)
                        self.cond.notify_all()
        except (EOFError, ValueError, OSError):
            with self.cond:
                self.closed = True
                self.cond.notify_all()

    def _drain_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr.put(line.decode("utf-8", "replace"))

    # ---- requests and notifications -----------------------------------------------------------------------
    def request_async(self, method: str, params=None) -> int:
        self.next_id += 1
        self._send({"id": self.next_id, "method": method, "params": params})
        return self.next_id

    def wait_response(self, rid: int, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        with self.cond:
            while rid not in self.responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise TimeoutError(f"no response to request {rid} (server closed: {self.closed})")
                self.cond.wait(left)
            return self.responses.pop(rid)

    def request(self, method: str, params=None, timeout: float = 20.0):
        """Send a request and return its result; raises on an error response."""
        response = self.wait_response(self.request_async(method, params), timeout)
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response.get("result")

    def notify(self, method: str, params=None) -> None:
        self._send({"method": method, "params": params})

    def wait_notification(self, method: str, predicate=lambda p: True, timeout: float = 20.0, after: int = 0) -> dict:
        """The params of the first notification `method` (from index `after` on) for which predicate holds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for n in self.notifications[after:]:
                    if n.get("method") == method and predicate(n.get("params")):
                        return n["params"]
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise TimeoutError(f"no {method} notification")
                self.cond.wait(left)

    # ---- conveniences ------------------------------------------------------------------------------------
    def initialize(self, root: Path, options: dict | None = None) -> dict:
        result = self.request("initialize", {
            "processId": os.getpid(), "rootUri": root.as_uri(), "initializationOptions": options,
            "capabilities": {"textDocument": {"hover": {"contentFormat": ["markdown", "plaintext"]},
                                              "publishDiagnostics": {"relatedInformation": True}}}})
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "nnc", "version": version,
                                                              "text": text}})

    def change(self, uri: str, text: str, version: int) -> None:
        self.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                               "contentChanges": [{"text": text}]})

    def diagnostics(self, uri: str, version: int | None = None, timeout: float = 20.0, after: int = 0) -> list:
        params = self.wait_notification(
            "textDocument/publishDiagnostics",
            lambda p: p["uri"] == uri and (version is None or p.get("version") == version), timeout, after)
        return params["diagnostics"]

    def shutdown(self, timeout: float = 10.0) -> int:
        """shutdown, then exit; the server's exit status."""
        self.request("shutdown", None, timeout)
        self.notify("exit", None)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
