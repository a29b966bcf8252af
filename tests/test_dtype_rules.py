"""Element types in expressions: true division, numbers beside bool tensors, unary minus, promotion order."""
import numpy as np
import pytest

import nnc
from helpers import check, errors
from nnc.ops.common import promote


def load(tmp_path, src):
    path = tmp_path / "t.nn"
    path.write_text(src)
    return nnc.load(path)


def test_integer_division_is_true_division_to_f32_on_every_backend(tmp_path):
    src = "model m {\n  input a: i32[4]\n  input b: i32[4]\n  output q = a / b\n}\n"
    prog = load(tmp_path, src)
    assert str(prog.graph("m").output_type("q")) == "f32[4]"
    a, b = np.array([-3, 3, -3, 7], np.int32), np.array([2, 2, -2, 7], np.int32)
    for backend in ("numpy", "llvm", "onnx"):
        q = prog.model("m", backend=backend)(a=a, b=b)
        assert q.dtype == np.float32, backend
        np.testing.assert_array_equal(q, [-1.5, 1.5, 1.5, 1.0], err_msg=backend)


def test_a_number_beside_a_bool_tensor_keeps_its_kind(tmp_path):
    src = ("model m {\n  input x: f32[3]\n  output y = 2.0 * (x > 0.0)\n  output z = 3 * (x > 0.0)\n"
           "  output w = (x > 0.0) + 0.5\n}\n")
    prog = load(tmp_path, src)
    g = prog.graph("m")
    assert [str(g.output_type(n)) for n in ("y", "z", "w")] == ["f32[3]", "i64[3]", "f32[3]"]
    out = prog.model("m")(x=np.array([1.0, -1.0, 2.0], np.float32))
    np.testing.assert_array_equal(out["y"], [2.0, 0.0, 2.0])
    np.testing.assert_array_equal(out["z"], [3, 0, 3])
    np.testing.assert_array_equal(out["w"], [1.5, 0.5, 1.5])


def test_unary_minus_on_a_bool_tensor_is_located():
    result = check("model m {\n  input b: bool[3]\n  output y = -b\n}\n")
    (e,) = errors(result)
    assert (e.code, e.span.line, e.span.column) == ("E0202", 3, 15)
    assert e.message == "unary minus needs numbers, found bool[3]" and "where(c, 1.0, 0.0)" in e.hint


@pytest.mark.parametrize("a, b, want", [("bool", "i32", "i32"), ("i32", "bool", "i32"), ("i32", "i64", "i64"),
                                        ("i64", "f32", "f32"), ("f32", "f64", "f64"), ("bool", "bool", "bool")])
def test_promotion_is_an_order_of_dtypes(a, b, want):
    assert promote(a, b) == promote(b, a) == want
