"""The backend registry: names(), get(name), resolve(name, device).

Backends are imported only when asked for, so that `nnc check` imports no
numpy, llvmlite or onnx. A backend that is planned but not built, or whose
libraries are missing here, is still named, and says why it cannot run in
one line.
"""
from __future__ import annotations

import importlib

from .base import Backend, BackendUnavailable, Executable, Port, Role, Signature, inference_signature

# name -> (module, what it needs to exist); the order is the order of --backend's choices
_MODULES = {
    "numpy": "nnc.backends.numpy",
    "llvm": "nnc.backends.llvm",
    "onnx": "nnc.backends.onnx",
}
_LOADED: dict[str, Backend] = {}


def names() -> tuple[str, ...]:
    """Every backend nnc knows, whether or not it can run here."""
    return tuple(_MODULES)


def get(name: str) -> Backend:
    """The backend called `name`; BackendUnavailable (one line) when it is unknown or not built."""
    if name in _LOADED:
        return _LOADED[name]
    if name not in _MODULES:
        raise BackendUnavailable(f"unknown backend {name!r}; backends: {', '.join(_MODULES)}")
    try:
        module = importlib.import_module(_MODULES[name])
    except ModuleNotFoundError as e:
        if e.name == _MODULES[name]:
            raise BackendUnavailable(f"the {name} backend is not built yet; use --backend numpy") from None
        raise BackendUnavailable(f"the {name} backend needs the Python package {e.name!r}, which is not "
                                 f"installed (pip install {e.name})") from None
    backend = module.BACKEND
    _LOADED[name] = backend
    return backend


def resolve(name: str, device: str = "cpu") -> Backend:
    """The backend, checked to run on `device` here; BackendUnavailable with the reason otherwise."""
    backend = get(name)
    if device not in backend.devices:
        raise BackendUnavailable(f"the {name} backend runs on {' or '.join(backend.devices)}, not {device}")
    why = backend.available(device)
    if why is not None:
        raise BackendUnavailable(why)
    return backend


def pick_device(name: str, device: str) -> tuple[str, str | None]:
    """`device`, or for "auto" the first of cuda and cpu that the backend can run on here, with a note
    saying why cuda was passed over (None when nothing was). BackendUnavailable when none can run."""
    if device != "auto":
        resolve(name, device)
        return device, None
    backend = get(name)
    passed_over = None
    for candidate in ("cuda", "cpu"):
        if candidate not in backend.devices:
            continue
        why = backend.available(candidate)
        if why is None:
            return candidate, passed_over
        passed_over = passed_over or f"--device auto: {why}; running on the cpu"
    raise BackendUnavailable(f"the {name} backend can run on no device here")


__all__ = ["Backend", "BackendUnavailable", "Executable", "Port", "Role", "Signature", "get", "names",
           "resolve", "pick_device", "inference_signature"]
