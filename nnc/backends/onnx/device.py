"""ONNX Runtime sessions on a device: providers, thread settings, and the check that CUDA really started.

Asking onnxruntime for the CUDA provider where it cannot start raises
nothing: the session silently runs on the CPU (one line on stderr). So the
provider a session actually got is checked, and `available("cuda")` tries a
one-node session once and says in one line why CUDA cannot run here.
"""
from __future__ import annotations

import functools
import os

PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
ORT_DEVICE = {"cpu": "cpu", "cuda": "cuda"}


def session_options(threads: int | None = None):
    """Quiet options with spinning off (it halved 2-thread step times on a shared machine, backends.md §4);
    `threads` intra-op threads (NNC_ONNX_THREADS, else ONNX Runtime's default)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 4  # errors come back as exceptions, reported in one line
    if threads is None and os.environ.get("NNC_ONNX_THREADS"):
        threads = int(os.environ["NNC_ONNX_THREADS"])
    if threads:
        so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


def make_session(model_bytes: bytes, device: str = "cpu", threads: int | None = None):
    """An InferenceSession on `device`; raises BackendUnavailable when the device's provider did not start."""
    import onnxruntime as ort

    from ..base import BackendUnavailable
    try:
        session = ort.InferenceSession(model_bytes, session_options(threads), providers=PROVIDERS[device])
    except Exception as e:  # noqa: BLE001 - onnxruntime's own exception types; the first line says it all
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        hint = (" for this dtype (it has no float64 Conv, ConvTranspose or pooling: use f32)"
                if "Could not find an implementation" in text else "")
        raise BackendUnavailable(f"onnxruntime cannot run this graph: {text.split(' : ')[-1]}{hint}") from None
    if session.get_providers()[0] != PROVIDERS[device][0]:
        raise BackendUnavailable(f"onnxruntime could not start {PROVIDERS[device][0]} here "
                                 f"(it offered {session.get_providers()[0]})")
    return session


@functools.lru_cache(maxsize=None)
def why_not(device: str) -> str | None:
    """None when onnxruntime runs on `device` here, else why not in one line."""
    try:
        import onnx  # noqa: F401
        import onnxruntime as ort
    except ModuleNotFoundError as e:
        return f"the onnx backend needs the Python package {e.name!r} (pip install onnx onnxruntime)"
    if device == "cpu":
        return None
    if PROVIDERS[device][0] not in ort.get_available_providers():
        return f"this onnxruntime build has no {PROVIDERS[device][0]} (install onnxruntime-gpu)"
    missing = _missing_library(ort)
    if missing:
        return f"the onnx backend cannot use {device} here: {missing} (no usable CUDA libraries)"
    from onnx import TensorProto, helper

    from .builder import IR_VERSION, OPSET
    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    ort.set_default_logger_severity(4)  # the probe's failure is reported here, in one line
    try:
        make_session(model.SerializeToString(), device)
    except Exception as e:  # noqa: BLE001 - any failure to start is the answer
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return f"the onnx backend cannot use {device} here: {first}; no usable GPU or CUDA libraries"
    finally:
        ort.set_default_logger_severity(2)  # onnxruntime's default
    return None


def _missing_library(ort) -> str | None:
    """The shared library the CUDA provider cannot load, when that is why it cannot start."""
    import ctypes
    from pathlib import Path
    lib = Path(ort.__file__).parent / "capi" / "libonnxruntime_providers_cuda.so"
    if not lib.exists():
        return None
    try:
        ctypes.CDLL(str(lib))
    except OSError as e:
        import re
        found = re.search(r"([^\s:/]+\.so[^\s:]*): cannot open shared object file", str(e))
        if found:
            return f"{found.group(1)} is missing"
    return None
