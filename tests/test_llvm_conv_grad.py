"""Convolution gradients on the LLVM backend (nnc/backends/llvm/lower_conv.py): the input gradient as a
GEMM and a `Col2Im` pass (col2im.py), the weight gradient as one GEMM of dot products over every image's
columns (`_weight_gemm`, or the forward's columns where they lie), each against the numpy oracle and with
the weight gradient also image by image (lower_conv.MERGED_MAX = 0), over the shape classes that reach
them: padding that crops the transposed output, kernel dilation, groups, 1-, 2- and 3-d, batch 0, 1 and
5 from one compiled code, float32 and float64."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llvmlite")

from nnc.backends import inference_signature  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402
from test_llvm_conv import CASES, LLVM, conv_graph, geometry, run_both  # noqa: E402

# input gradients that col2im handles (stride 1, no input dilation): the output larger than the input,
# or more channels out than in
GRAD_CASES = dict(CASES)
GRAD_CASES.update({
    "groups-col2im": ((2, 6, 6), (8, 1, 3, 3), geometry(2, padding=1, groups=2)),
    "dilated-col2im": ((2, 7, 6), (8, 2, 3, 2), geometry(2, padding=((4, 1), (2, 2)), rhs=2)),
    "1d-col2im": ((2, 9), (7, 2, 4), geometry(1, padding=3)),
    "3d-col2im": ((2, 3, 4, 5), (9, 2, 2, 3, 2), geometry(3, padding=((1, 1), (2, 0), (1, 1)))),
    "long-rows": ((2, 3, 40), (8, 2, 2, 5), geometry(2, padding=((1, 1), (4, 4)))),
})


@pytest.fixture(autouse=True)
def _no_forward_paths(monkeypatch):
    """conv_forward.py's Winograd and batched im2col take small gradient convs too: off, so that these
    shapes reach lower_conv's col2im and weight-gradient paths (conv_forward's own tests cover it)."""
    import nnc.backends.llvm.conv_forward as conv_forward
    monkeypatch.setattr(conv_forward, "ENABLED", False)


def _check(case: str, dtype: str, merged: int, monkeypatch) -> None:
    import nnc.backends.llvm.lower_conv as lower_conv
    monkeypatch.setattr(lower_conv, "MERGED_MAX", merged)
    x_shape, w_shape, attrs = GRAD_CASES[case]
    graph = conv_graph(dtype, x_shape, w_shape, attrs, case.endswith("col2im"))
    np_dtype = np.float32 if dtype == "f32" else np.float64
    rng = np.random.default_rng(len(case) + 3)
    w = rng.normal(size=w_shape).astype(np_dtype)
    feeds = [{"x": rng.normal(size=(n,) + x_shape).astype(np_dtype), "w": w} for n in (5, 0, 1)]
    tol = 2e-4 if dtype == "f32" else 1e-10
    for ref, got in run_both(graph, feeds):
        for name in ("y", "dx", "dw"):
            assert got[name].shape == ref[name].shape
            scale = float(np.abs(ref[name]).max(initial=1.0))
            np.testing.assert_allclose(got[name], ref[name], rtol=tol, atol=tol * 0.1 * scale,
                                       err_msg=f"{case} {name} merged={merged}")


@pytest.mark.parametrize("merged", [1 << 22, 0], ids=["all-images", "image-by-image"])
@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradients_over_all_images_agree_with_the_oracle(case, merged, monkeypatch):
    _check(case, "f32", merged, monkeypatch)


@pytest.mark.parametrize("case", ["groups-col2im", "3d-col2im", "lenet-conv2", "long-rows"])
def test_float64_gradients_over_all_images(case, monkeypatch):
    _check(case, "f64", 1 << 22, monkeypatch)


def _kernels(case: str):
    x_shape, w_shape, attrs = GRAD_CASES[case]
    graph = conv_graph("f32", x_shape, w_shape, attrs, False)
    lw, _ = LLVM.compile(prepare(graph, LLVM), inference_signature(graph)).lower({"N": 5})
    return [k for k in lw.kernels if k.origin == "conv"]


@pytest.mark.parametrize("case", ["groups-col2im", "dilated-col2im", "1d-col2im", "3d-col2im", "long-rows"])
def test_these_cases_reach_col2im(case):
    """The added cases exercise what they are named for: one Col2Im kernel for dX."""
    from nnc.backends.llvm.col2im import Col2Im
    assert len([k for k in _kernels(case) if isinstance(k, Col2Im)]) == 1


def test_a_weight_gradient_is_one_product_of_dot_products():
    """dW of a run-time batch: one GEMM over every image's columns, A's rows and B's columns contiguous
    along the reduction (the library's dot path), its output [O, C, K...] so dW's transpose is free."""
    from nnc.backends.llvm.loops import Matmul
    dw = [k for k in _kernels("dilated-col2im") if isinstance(k, Matmul)][-1]
    assert dw.a.strides[-1] == 1 and dw.b.strides[-2] == 1 and dw.target.shape[-2:] == (8, 2 * 3 * 2)


def test_a_weight_gradient_reads_the_forward_convolutions_columns(monkeypatch):
    """With conv_forward's every-image columns (lenet5's conv2) the weight gradient's product reads those
    columns where they lie (lower_conv._stored_columns): no second copy of them, the oracle's numbers."""
    import nnc.backends.llvm.conv_forward as conv_forward
    from nnc.backends.llvm.loops import Matmul, Store, Window
    monkeypatch.setattr(conv_forward, "ENABLED", True)
    convs = _kernels("lenet-conv2")
    windows = [k for k in convs if isinstance(k, Store) and isinstance(k.expr, Window)]
    assert len(windows) == 1  # the forward's columns, nothing else gathered
    dw = [k for k in convs if isinstance(k, Matmul)][-1]
    assert dw.b.buf is windows[0].target.buf and dw.b.strides[-2] == 1
    _check("lenet-conv2", "f32", 1 << 22, monkeypatch)
