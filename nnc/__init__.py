"""nnc: a compiler for neural networks written in the .nn language.

    prog = nnc.load("net.nn")
    model = prog.model("mlp", backend="numpy", seed=0)
    y = model(x=batch)
"""
from .diagnostics import CompileError, Diagnostic

__version__ = "0.1.0"


def load(path, warnings_as_errors: bool = False):
    """Parse, elaborate and check a program; raises CompileError with every diagnostic when it has errors."""
    from .api import load as _load
    return _load(path, warnings_as_errors)


__all__ = ["load", "CompileError", "Diagnostic", "__version__"]
