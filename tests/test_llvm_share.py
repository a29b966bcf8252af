"""Kernels that compute the same on other buffers share one emitted function (nnc/backends/llvm/share.py):
the IR holds one body per distinct kernel and a small k<n>_ function per kernel; the results are the same
bits as with every kernel its own code (NNC_SHARE_KERNELS=0), agree with the numpy oracle, across step
loops (Winograd image by image: every loop's variable in one slot) and a checked run names the layer
whose copy produced the NaN, not the one whose code it runs."""
from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("llvmlite")

from nnc.backends import get, inference_signature  # noqa: E402
from nnc.backends.llvm import conv_forward, share  # noqa: E402
from nnc.backends.llvm.emit import kernel_buffers  # noqa: E402
from nnc.backends.llvm.loops import Buf, Const, Load, Store  # noqa: E402
from nnc.elaborate.builder import GraphBuilder  # noqa: E402
from nnc.interp import RunError  # noqa: E402
from nnc.ir.types import TensorType, sym  # noqa: E402
from nnc.passes.emit import Emitter  # noqa: E402
from nnc.passes.pipeline import prepare  # noqa: E402
from test_llvm_conv import geometry  # noqa: E402
from test_primitives import SPAN  # noqa: E402

LLVM, NUMPY = get("llvm"), get("numpy")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("NNC_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "llvm-cache"))


def two_convs():
    """y = conv(relu(conv(x, w1)), w2): two 3×3 same-padded convs of one shape (their kernels alike)."""
    b = GraphBuilder("convs")
    e = Emitter(b, SPAN, "", "convs")
    x = b.add_input("x", TensorType("f32", (sym("N"), 16, 6, 6)), SPAN)
    w1 = b.add_input("w1", TensorType("f32", (16, 16, 3, 3)), SPAN)
    w2 = b.add_input("w2", TensorType("f32", (16, 16, 3, 3)), SPAN)
    attrs = geometry(2, padding=1)
    y = e("conv", e("relu", e("conv", x, w1, **attrs)), w2, **attrs)
    b.outputs = [("y", y.id)]
    return b.build()


def _run(graph, feeds: dict, options: dict | None = None):
    sig = inference_signature(graph)
    exe = LLVM.compile(prepare(graph, LLVM), sig, options={"cache": False, **(options or {})})
    return exe, exe(**feeds)["y"]


def _feeds(n: int, rng) -> dict:
    return {"x": rng.normal(size=(n, 16, 6, 6)).astype(np.float32),
            "w1": rng.normal(size=(16, 16, 3, 3)).astype(np.float32),
            "w2": rng.normal(size=(16, 16, 3, 3)).astype(np.float32)}


@pytest.mark.parametrize("per_image", [False, True])
def test_shared_kernels_give_the_same_bits_and_the_oracle(per_image, monkeypatch):
    monkeypatch.setattr(conv_forward, "WINO_MIN_CHANNELS", 16)
    if per_image:   # each conv's Winograd in a run-time loop over the images: two loops, one slot
        monkeypatch.setattr(conv_forward, "PER_IMAGE", 1)
    graph = two_convs()
    rng = np.random.default_rng(3)
    exe, _ = _run(graph, _feeds(1, rng))
    ir = exe.variant({"N": 2}).ir
    bodies = [name for name in re.findall(r'define internal void @"(k\d+_[^"]*)"\(ptr noalias', ir)
              if re.search(rf'define internal void @"{name}"\([^)]*\)[^{{]*{{\s*entry:\s*call void @"k\d+', ir)]
    assert bodies, "the second conv's kernels call the first one's code"
    ref = NUMPY.compile(prepare(graph, NUMPY), inference_signature(graph))
    for n in (2, 0, 1):
        feeds = _feeds(n, rng)
        got = exe(**feeds)["y"]
        np.testing.assert_allclose(got, ref(**feeds)["y"], rtol=2e-4, atol=2e-4)
        monkeypatch.setattr(share, "ENABLED", False)
        own, alone = _run(graph, feeds)
        monkeypatch.setattr(share, "ENABLED", True)
        assert not re.search(r'{\s*entry:\s*call void @"k\d+', own.variant({"N": 2}).ir)
        assert np.array_equal(got, alone), "sharing code changes no bit"


def test_a_checked_run_names_the_copy_that_made_the_nan(monkeypatch):
    monkeypatch.setattr(conv_forward, "WINO_MIN_CHANNELS", 16)
    graph = two_convs()
    rng = np.random.default_rng(4)
    messages = {}
    for bad in ("w1", "w2"):
        feeds = _feeds(2, rng)
        feeds[bad][0, 0, 0, 0] = np.inf
        for on in (True, False):
            monkeypatch.setattr(share, "ENABLED", on)
            exe = LLVM.compile(prepare(graph, LLVM), inference_signature(graph),
                               options={"cache": False, "checked": True})
            with pytest.raises(RunError) as e:
                exe(**feeds)
            messages[bad, on] = str(e.value)
    assert messages["w1", True] == messages["w1", False]
    assert messages["w2", True] == messages["w2", False]
    assert messages["w1", True] != messages["w2", True]


def test_the_key_ignores_buffers_and_origin_but_not_values():
    a, b, c = (Buf(name, "f32", (4,)) for name in "abc")
    src = Buf("s", "f32", (4,))

    def kern(target, value, origin="x"):
        k = Store(target.load(), Const(value, "f32", (4,)) if value is not None else src.load(), origin)
        return share.kernel_key(k, kernel_buffers(k))
    assert kern(a, 1.0) == kern(b, 1.0, "y")
    assert kern(a, 0.0) != kern(a, -0.0)     # floats by repr: -0.0 is not 0.0
    assert kern(a, 1.0) != kern(a, 2.0)
    assert kern(a, None) == kern(c, None)
    wide = Store(Load(a, (2,), (2,), 0), Const(1.0, "f32", (2,)))
    assert share.kernel_key(wide, kernel_buffers(wide)) != kern(a, 1.0)
    f64 = Buf("d", "f64", (4,))
    k64 = Store(f64.load(), Const(1.0, "f64", (4,)))
    assert share.kernel_key(k64, kernel_buffers(k64)) != kern(a, 1.0)
