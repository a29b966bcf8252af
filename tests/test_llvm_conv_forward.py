"""The forward convolution's own lowerings (nnc/backends/llvm/conv_forward.py) against the numpy oracle:
Winograd F(2x2, 3x3), every image's columns in one GEMM and column-strided im2col, each forced on over
padding (none, symmetric, asymmetric), odd and even sizes, strides, dilation, groups, 1-3 d, an input
that is an expression, batch 0, 1 and 3 from one compiled code, float32 and float64, and with all off
(lower_conv's im2col); then which path the lowering takes for the shapes the thresholds were measured on
(ResNet-18, LeNet-5)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llvmlite")

from nnc.backends import get, inference_signature  # noqa: E402
from nnc.backends.llvm import conv_forward  # noqa: E402
from nnc.elaborate.builder import GraphBuilder  # noqa: E402
from nnc.ir.types import TensorType, sym  # noqa: E402
from nnc.passes.emit import Emitter  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402
from test_llvm_conv import geometry  # noqa: E402
from test_primitives import SPAN  # noqa: E402

LLVM, NUMPY = get("llvm"), get("numpy")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "llvm-cache"))


def forward_graph(dtype: str, x_shape: tuple, w_shape: tuple, attrs: dict, lazy_x: bool):
    """y = conv(x, w) (or conv(tanh(x), w): an input the lowering computes itself) over a run-time batch."""
    b = GraphBuilder("conv")
    e = Emitter(b, SPAN, "", "conv")
    x = b.add_input("x", TensorType(dtype, (sym("N"),) + tuple(x_shape)), SPAN)
    w = b.add_input("w", TensorType(dtype, tuple(w_shape)), SPAN)
    y = e("conv", e("tanh", x) if lazy_x else x, w, **attrs)
    b.outputs = [("y", y.id)]
    return b.build()


CASES = {  # (x shape without the batch, w shape, attributes)
    "3x3-same-even": ((16, 8, 6), (16, 16, 3, 3), geometry(2, padding=1)),
    "3x3-same-odd": ((16, 7, 5), (24, 16, 3, 3), geometry(2, padding=1)),
    "3x3-valid": ((17, 9, 8), (16, 17, 3, 3), geometry(2)),
    "3x3-asymmetric": ((16, 6, 7), (16, 16, 3, 3), geometry(2, padding=((2, 0), (0, 3)))),
    "5x5-same": ((1, 12, 12), (6, 1, 5, 5), geometry(2, padding=2)),
    "5x5-valid": ((6, 9, 9), (16, 6, 5, 5), geometry(2)),
    "strided-dilated": ((3, 11, 10), (5, 3, 3, 3), geometry(2, stride=(1, 2), padding=2, rhs=2)),
    "stride-2-odd": ((4, 9, 11), (6, 4, 3, 3), geometry(2, stride=2, padding=1)),
    "stem-like": ((3, 17, 18), (8, 3, 7, 7), geometry(2, stride=2, padding=3)),
    "stride-3-asymmetric": ((2, 13, 14), (3, 2, 2, 3),
                            geometry(2, stride=(2, 3), padding=((0, 1), (2, 0)), rhs=(1, 2))),
    "groups": ((4, 7, 7), (6, 2, 3, 3), geometry(2, padding=1, groups=2)),
    "1d": ((3, 40), (4, 3, 5), geometry(1, padding=4)),
    "3d": ((2, 5, 4, 6), (3, 2, 3, 2, 3), geometry(3, padding=1)),
}
PATHS = {  # module settings that force one lowering
    "winograd": {"WINO_MIN_CHANNELS": 1, "WINO_MAX_FILTER": 1 << 60},
    "winograd-image-by-image": {"WINO_MIN_CHANNELS": 1, "WINO_MAX_FILTER": 1 << 60, "PER_IMAGE": 1},
    "batched-columns": {"WINO_MIN_CHANNELS": 1 << 60, "STRIDED_POSITIONS": 1 << 60, "BATCH_COLUMNS": 1 << 60,
                        "BATCH_POSITIONS": 1 << 60},
    "strided-columns": {"WINO_MIN_CHANNELS": 1 << 60, "BATCH_COLUMNS": 0, "STRIDED_POSITIONS": 1,
                        "STRIDED_KERNEL": 2},
    "im2col": {"ENABLED": False},
}


def _check(case: str, path: str, dtype: str, lazy_x: bool, monkeypatch) -> None:
    for name, value in PATHS[path].items():
        monkeypatch.setattr(conv_forward, name, value)
    x_shape, w_shape, attrs = CASES[case]
    graph = forward_graph(dtype, x_shape, w_shape, attrs, lazy_x)
    sig = inference_signature(graph)
    exes = [backend.compile(prepare(graph, backend), sig) for backend in (NUMPY, LLVM)]
    rng = np.random.default_rng(len(case))
    np_dtype = np.float32 if dtype == "f32" else np.float64
    w = rng.normal(size=w_shape).astype(np_dtype)
    rtol, atol = (2e-4, 2e-5) if dtype == "f32" else (1e-10, 1e-10)
    for n in (3, 0, 1):
        feeds = {"x": rng.normal(size=(n,) + x_shape).astype(np_dtype), "w": w}
        ref, got = (exe(**feeds)["y"] for exe in exes)
        assert got.dtype == ref.dtype and got.shape == ref.shape
        scale = float(np.abs(ref).max(initial=1.0))
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol * scale, err_msg=f"{case} {path} batch {n}")


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_each_forward_path_agrees_with_the_oracle(case, path, monkeypatch):
    _check(case, path, "f32", True, monkeypatch)


@pytest.mark.parametrize("path", ["winograd", "batched-columns", "strided-columns"])
@pytest.mark.parametrize("case", ["3x3-same-odd", "5x5-same", "stride-2-odd"])
def test_float64_and_a_buffer_input(case, path, monkeypatch):
    _check(case, path, "f64", False, monkeypatch)


def _kernels(x_shape: tuple, w_shape: tuple, attrs: dict, batch: int) -> list:
    graph = forward_graph("f32", x_shape, w_shape, attrs, False)
    lw, _ = LLVM.compile(prepare(graph, LLVM), inference_signature(graph)).lower({"N": batch})
    return lw.kernels


def test_the_measured_shapes_take_the_measured_paths():
    """ResNet-18's 64-, 128- and 256-channel 3x3 convs: Winograd (16 GEMMs, batch axis 16); its
    512-channel ones and its strided ones: im2col (the stem's columns from its input split by column
    parity, one Store); LeNet-5's conv2: one GEMM over every image's columns."""
    from nnc.backends.llvm.dims import hint
    from nnc.backends.llvm.loops import Matmul, Store
    def gemms(*args):
        return [k for k in _kernels(*args) if isinstance(k, Matmul)]
    for ch, size in ((64, 56), (128, 28), (256, 14)):
        (mm,) = gemms((ch, size, size), (ch, ch, 3, 3), geometry(2, padding=1), 1)
        assert mm.target.shape[0] == 16 and mm.a.shape == (16, ch, ch)
    for ch, size in ((512, 7),):
        (mm,) = gemms((ch, size, size), (ch, ch, 3, 3), geometry(2, padding=1), 1)
        assert mm.a.shape[-1] == ch * 9
    (mm,) = gemms((64, 56, 56), (128, 64, 3, 3), geometry(2, stride=2, padding=1), 1)
    assert mm.a.shape[-1] == 64 * 9
    stem = _kernels((3, 224, 224), (64, 3, 7, 7), geometry(2, stride=2, padding=3), 1)
    assert any(isinstance(k, Store) and len(k.stores) == 7 for k in stem)  # every kernel column in one Store
    assert [k.a.shape[-1] for k in stem if isinstance(k, Matmul)] == [3 * 49]
    (mm,) = gemms((6, 14, 14), (16, 6, 5, 5), geometry(2), 64)   # conv2: one GEMM
    assert hint(mm.target.shape[-1]) == 64 * 100 and mm.a.shape[-2:] == (16, 6 * 25)
    (mm,) = gemms((1, 28, 28), (6, 1, 5, 5), geometry(2, padding=2), 64)  # conv1: one per image
    assert mm.target.shape[-2:] == (6, 784) and mm.loop is not None
