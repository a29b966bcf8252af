"""Convolutions on the LLVM backend against the numpy oracle: the forward convolution and both gradients
(dX by col2im, dW by im2col, nnc/backends/llvm/lower_conv.py) over strides, padding (asymmetric, cropping),
kernel and input dilation, groups, 1-, 2- and 3-d, odd sizes, batch 1 and 5 from one compiled code,
float32 and float64; then whole training steps of .nn programs through prog.train and prog.model."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("llvmlite")

import nnc  # noqa: E402
from nnc.backends import get, inference_signature  # noqa: E402
from nnc.elaborate.builder import GraphBuilder  # noqa: E402
from nnc.ir.types import TensorType, sym  # noqa: E402
from nnc.ops.conv import input_grad, weight_grad  # noqa: E402
from nnc.passes.emit import Emitter  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402
from test_primitives import SPAN  # noqa: E402

LLVM, NUMPY = get("llvm"), get("numpy")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "llvm-cache"))


def geometry(sp: int, stride=1, padding=0, lhs=1, rhs=1, groups: int = 1) -> dict:
    """The conv primitive's attributes; an int stands for every spatial axis, a padding int for (p, p)."""
    def axes(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v,) * sp
    pads = padding if isinstance(padding, (tuple, list)) else ((padding, padding),) * sp
    return {"stride": axes(stride), "padding": tuple(tuple(p) for p in pads), "lhs_dilation": axes(lhs),
            "rhs_dilation": axes(rhs), "groups": groups}


def conv_graph(dtype: str, x_shape: tuple, w_shape: tuple, attrs: dict, lazy_g: bool):
    """y = conv(x, w) over a run-time batch N, and the gradients of ⟨g, y⟩ for g = y (a buffer) or
    g = tanh(y) (an expression the input gradient's lowering computes itself): outputs y, dx, dw."""
    b = GraphBuilder("conv")
    e = Emitter(b, SPAN, "", "conv")
    x = b.add_input("x", TensorType(dtype, (sym("N"),) + tuple(x_shape)), SPAN)
    w = b.add_input("w", TensorType(dtype, tuple(w_shape)), SPAN)
    y = e("conv", x, w, **attrs)
    g = e("tanh", y) if lazy_g else y
    dx = input_grad(e, g, w, x.type.shape[2:], attrs)
    dw = weight_grad(e, x, g, w.type.shape[2:], attrs)
    b.outputs = [("y", y.id), ("dx", dx.id), ("dw", dw.id)]
    return b.build()


def run_both(graph, feeds_per_batch):
    sig = inference_signature(graph)
    exes = [backend.compile(prepare(graph, backend), sig) for backend in (NUMPY, LLVM)]
    return [[exe(**feeds) for exe in exes] for feeds in feeds_per_batch]


# (x shape without the batch, w shape, attributes): the shape classes the lowering tells apart
CASES = {
    "lenet-conv2": ((6, 14, 14), (16, 6, 5, 5), geometry(2)),                 # dX: col2im, flat
    "same-5x5": ((1, 12, 12), (6, 1, 5, 5), geometry(2, padding=2)),          # padded forward
    "resnet-down-3x3": ((4, 9, 9), (8, 4, 3, 3), geometry(2, stride=2, padding=1)),  # dX: lhs dilation
    "resnet-skip-1x1": ((4, 8, 8), (6, 4, 1, 1), geometry(2, stride=2)),
    "dilated": ((3, 11, 10), (5, 3, 3, 3), geometry(2, padding=2, rhs=2)),
    "groups": ((4, 7, 7), (6, 2, 3, 3), geometry(2, padding=1, groups=2)),
    "depthwise": ((3, 6, 6), (3, 1, 3, 3), geometry(2, padding=1, groups=3)),
    "odd-asymmetric": ((3, 7, 9), (4, 3, 3, 2), geometry(2, stride=(1, 2), padding=((1, 0), (2, 1)))),
    "cropping": ((2, 8, 8), (3, 2, 3, 3), geometry(2, padding=((-1, 1), (0, -1)))),
    "input-dilated": ((2, 5, 5), (3, 2, 3, 3), geometry(2, padding=2, lhs=2)),
    "wide-kernel": ((2, 6, 9), (3, 2, 2, 7), geometry(2, padding=((0, 0), (3, 3)))),
    "1d": ((3, 17), (4, 3, 5), geometry(1, padding=4)),
    "1d-stride": ((2, 16), (4, 2, 3), geometry(1, stride=3, padding=1, rhs=2)),
    "3d": ((2, 5, 4, 6), (3, 2, 3, 2, 3), geometry(3, padding=1)),
}


@pytest.mark.parametrize("dtype", ["f32", "f64"])
@pytest.mark.parametrize("lazy_g", [False, True], ids=["g-buffer", "g-expression"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_conv_and_its_gradients_agree_with_the_oracle(case, lazy_g, dtype):
    x_shape, w_shape, attrs = CASES[case]
    graph = conv_graph(dtype, x_shape, w_shape, attrs, lazy_g)
    rng = np.random.default_rng(len(case))
    np_dtype = np.float32 if dtype == "f32" else np.float64
    w = rng.normal(size=w_shape).astype(np_dtype)
    feeds = [{"x": rng.normal(size=(n,) + x_shape).astype(np_dtype), "w": w} for n in (1, 5)]
    rtol, atol = (2e-4, 2e-5) if dtype == "f32" else (1e-10, 1e-10)
    for ref, got in run_both(graph, feeds):
        for name in ("y", "dx", "dw"):
            assert got[name].dtype == ref[name].dtype and got[name].shape == ref[name].shape, name
            scale = float(np.abs(ref[name]).max(initial=1.0))
            np.testing.assert_allclose(got[name], ref[name], rtol=rtol, atol=atol * scale, err_msg=f"{case} {name}")


@pytest.mark.parametrize("per_image", [1, 1 << 60], ids=["every-image-a-loop-step", "all-images-at-once"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_columns_image_by_image_or_all_at_once_agree(case, per_image, monkeypatch):
    """Both ways of making the columns (lower_conv.PER_IMAGE decides by their size) give the oracle's numbers."""
    import nnc.backends.llvm.lower_conv as lower_conv
    monkeypatch.setattr(lower_conv, "PER_IMAGE", per_image)
    x_shape, w_shape, attrs = CASES[case]
    graph = conv_graph("f32", x_shape, w_shape, attrs, True)
    rng = np.random.default_rng(1)
    w = rng.normal(size=w_shape).astype(np.float32)
    feeds = [{"x": rng.normal(size=(n,) + x_shape).astype(np.float32), "w": w} for n in (5, 0, 2)]
    for ref, got in run_both(graph, feeds):
        for name in ("y", "dx", "dw"):
            scale = float(np.abs(ref[name]).max(initial=1.0))
            np.testing.assert_allclose(got[name], ref[name], rtol=2e-4, atol=2e-5 * scale, err_msg=f"{case} {name}")


def test_the_input_gradient_is_col2im_and_the_weight_gradient_one_gemm_over_all_images():
    """What the lowering emits for lenet5's second convolution at batch 64: dX image by image as a GEMM over
    the output gradient's positions (B rows contiguous) then one Col2Im pass (no im2col of the padded
    gradient, no widened rows), dW as ONE GEMM of dot products over all images' columns (A's rows and B's
    columns contiguous along the reduction)."""
    from nnc.backends.llvm.dims import evaluate
    from nnc.backends.llvm.loops import Matmul
    from nnc.backends.llvm.col2im import Col2Im
    x_shape, w_shape, attrs = CASES["lenet-conv2"]
    graph = conv_graph("f32", x_shape, w_shape, attrs, False)
    lw, _ = LLVM.compile(prepare(graph, LLVM), inference_signature(graph)).lower({"N": 64})
    convs = [k for k in lw.kernels if k.origin == "conv"]
    matmuls = [k for k in convs if isinstance(k, Matmul)]
    assert len(matmuls) == 3  # y, dx's columns, dw
    y, dx_cols, dw = matmuls
    at64 = lambda dims: tuple(evaluate(d, {"N": 64}) for d in dims)  # noqa: E731
    assert dx_cols.b.strides[-1] == 1 and at64(dx_cols.target.shape[-2:]) == (6 * 25, 10 * 10)
    c2i = [k for k in convs if isinstance(k, Col2Im)]
    assert len(c2i) == 1 and c2i[0].loop is not None and dx_cols.loop is c2i[0].loop  # one image a step
    assert at64(dw.target.shape[-2:]) == (16, 6 * 25) and dw.a.strides[-1] == 1 and dw.b.strides[-2] == 1
    assert at64(dw.a.shape[-1:]) == (64 * 10 * 10,)


NET = """model net {{
  input image: f32[B, 3, {h}, {w}]
  output logits = image
    -> conv2d(8, 3, stride=2, padding=1) -> relu
    -> conv2d(8, 3, padding=2, dilation=2, groups=2) -> relu
    -> conv2d(6, {k}) -> relu -> maxpool(2) -> flatten -> dense(10)
}}
train t {{
  input image: f32[B, 3, {h}, {w}]
  input label: i32[B]
  logits = net(image)
  loss = cross_entropy(logits, label)
  metric accuracy = accuracy(logits, label)
  minimize loss over net with sgd(lr=0.05, momentum=0.9)
}}
"""


@pytest.mark.parametrize("h,w,k", [(12, 12, 3), (13, 9, 2)])
def test_training_steps_through_strided_dilated_and_grouped_convolutions_match_numpy(tmp_path, h, w, k):
    path = tmp_path / "net.nn"
    path.write_text(NET.format(h=h, w=w, k=k))
    prog = nnc.load(path)
    fast, ref = prog.train("t", backend="llvm", seed=3), prog.train("t", backend="numpy", seed=3)
    rng = np.random.default_rng(7)
    image, label = fast.inputs
    for n in (1, 5, 5):
        batch = {image: rng.normal(size=(n, 3, h, w)).astype(np.float32),
                 label: rng.integers(0, 10, n).astype(np.int32)}
        a, b = fast.step(**batch), ref.step(**batch)
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    for name, value in ref.params.items():
        np.testing.assert_allclose(fast.params[name], value, rtol=2e-4, atol=2e-6, err_msg=name)
    model_fast, model_ref = prog.model("net", backend="llvm", seed=4), prog.model("net", backend="numpy", seed=4)
    x = rng.normal(size=(2, 3, h, w)).astype(np.float32)
    np.testing.assert_allclose(model_fast(image=x), model_ref(image=x), rtol=1e-4, atol=1e-6)
