"""`nnc lsp`: a language server for .nn files over stdio (pygls), built on the front end only.

Modules, one job each: server (LSP wiring and the never-crash wrapper), documents (open files and
debounced re-checking), analysis (one check with every value's type recorded), convert (spans and
positions), diagnose (diagnostics), hover, inlay, symbols (outline and navigation), complete
(completion and signature help), fixes (quick fixes). Nothing here imports numpy, llvmlite or onnx.
"""
from __future__ import annotations


def main() -> int:
    """Serve the Language Server Protocol over stdin and stdout until the client exits."""
    from .server import main as serve
    return serve()
