"""The data layer (nnc/train/data.py): built-in sets, IDX folders, .npz files, splits, batches and errors."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from nnc.train.data import (DataError, Dataset, InputSpec, batches, check_batch, load_data, read_idx)

X64 = InputSpec("x", "f32", ("N", 64))
Y = InputSpec("y", "i32", ("N",))
FASHION = Path("/usr/share/datasets/fashion-mnist")   # Debian's dataset-fashion-mnist


def rows(images: np.ndarray, labels: np.ndarray) -> list[bytes]:
    """Each sample as bytes, sorted: compares data sets as multisets of samples."""
    flat = images.reshape(len(images), -1)
    return sorted(flat[i].tobytes() + labels[i].tobytes() for i in range(len(flat)))


# ---- digits ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [("N", 64), ("N", 1, 8, 8), ("N", 8, 8)])
def test_digits_fill_each_declared_shape(shape):
    ds = load_data("digits", [InputSpec("x", "f32", shape), Y])
    assert len(ds) + ds.num_val == 1797
    assert (len(ds), ds.num_val) == (1617, 180)
    for part in (ds.train, ds.val):
        x, y = part["x"], part["y"]
        assert x.dtype == np.float32 and y.dtype == np.int32
        assert x.shape[1:] == shape[1:] and x.shape[0] == y.shape[0]
        assert x.min() >= 0.0 and x.max() <= 1.0
    assert ds.train["x"].max() == 1.0          # 16/16: the scale is 1/16, not 1/255
    assert ds.source == "digits"


def test_digits_content_labels_and_balance():
    ds = load_data("digits", [X64, Y], val_fraction=0.0)
    x, y = ds.train["x"], ds.train["y"]
    assert x.shape == (1797, 64) and ds.num_val == 0
    assert set(np.unique(y)) == set(range(10))
    # the shipped file is the scikit-learn copy: its class counts and pixel sum
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert int(np.rint(x * 16).sum()) == 561718
    assert np.allclose(x * 16, np.rint(x * 16))


def test_digits_shapes_agree_and_other_dtypes():
    a = load_data("digits", [X64, Y], seed=3)
    b = load_data("digits", [InputSpec("img", "f64", ("B", 8, 8)), InputSpec("lab", "i64", ("B",))], seed=3)
    assert b.train["img"].dtype == np.float64 and b.train["lab"].dtype == np.int64
    np.testing.assert_allclose(a.train["x"], b.train["img"].reshape(-1, 64))
    np.testing.assert_array_equal(a.val["y"], b.val["lab"])


def test_digits_batch_axis_need_not_be_first():
    ds = load_data("digits", [InputSpec("x", "f32", (64, "N")), Y])
    assert ds.train["x"].shape == (64, 1617) and ds.batch_axes == {"x": 1, "y": 0}
    ref = load_data("digits", [X64, Y])
    np.testing.assert_array_equal(ds.train["x"].T, ref.train["x"])
    batch = next(batches(ds.train, 32, np.random.default_rng(0), axes=ds.batch_axes))
    assert batch["x"].shape == (64, 32) and batch["y"].shape == (32,)


def test_digits_images_only():
    ds = load_data("digits", [InputSpec("x", "f32", ("N", 64))])
    assert set(ds.train) == {"x"} and len(ds) == 1617


def test_split_is_seeded_disjoint_and_deterministic():
    full = load_data("digits", [X64, Y], val_fraction=0.0).train
    a = load_data("digits", [X64, Y], seed=7)
    again = load_data("digits", [X64, Y], seed=7)
    other = load_data("digits", [X64, Y], seed=8)
    for k in ("x", "y"):
        np.testing.assert_array_equal(a.train[k], again.train[k])
        np.testing.assert_array_equal(a.val[k], again.val[k])
    assert not np.array_equal(a.val["y"], other.val["y"])
    # train and val partition the full set
    both = rows(np.concatenate([a.train["x"], a.val["x"]]), np.concatenate([a.train["y"], a.val["y"]]))
    assert both == rows(full["x"], full["y"])
    # a val_fraction of 0.25
    q = load_data("digits", [X64, Y], val_fraction=0.25)
    assert q.num_val == 449 and len(q) == 1797 - 449


def test_split_by_index(tmp_path):
    n = 250
    p = tmp_path / "ids.npz"
    np.savez(p, x=np.arange(n, dtype=np.float32)[:, None], y=np.arange(n) % 3)
    spec = [InputSpec("x", "f32", ("N", 1)), Y]
    ds = load_data(str(p), spec, seed=11)
    train_ids = ds.train["x"][:, 0].astype(int)
    val_ids = ds.val["x"][:, 0].astype(int)
    assert len(val_ids) == 25 and len(train_ids) == 225
    assert not set(train_ids) & set(val_ids)
    assert sorted(set(train_ids) | set(val_ids)) == list(range(n))
    np.testing.assert_array_equal(ds.train["y"], train_ids % 3)     # rows stay paired
    assert list(val_ids) == sorted(val_ids)                         # stored order kept
    ds2 = load_data(str(p), spec, seed=11)
    np.testing.assert_array_equal(ds2.val["x"], ds.val["x"])


# ---- synthetic -------------------------------------------------------------------------------------------

def test_synthetic_shapes_dtypes_and_seed():
    specs = [InputSpec("img", "f32", ("N", 3, 8, 8)), InputSpec("seq", "f64", ("N", "T", 4)),
             InputSpec("tok", "i64", ("N", "T")), InputSpec("y", "i32", ("N",))]
    ds = load_data("synthetic", specs, num_classes={"y": 4, "tok": 50})
    assert len(ds) + ds.num_val == 1024 and ds.num_val == 102
    tr = ds.train
    assert tr["img"].shape == (922, 3, 8, 8) and tr["img"].dtype == np.float32
    assert tr["seq"].shape == (922, 8, 4) and tr["seq"].dtype == np.float64
    assert tr["tok"].shape == (922, 8) and tr["tok"].dtype == np.int64
    assert tr["y"].shape == (922,) and tr["y"].dtype == np.int32
    assert set(np.unique(tr["y"])) == {0, 1, 2, 3}
    assert tr["tok"].min() >= 0 and tr["tok"].max() < 50
    assert abs(tr["img"].mean()) < 0.05 and abs(tr["img"].std() - 1) < 0.05
    same = load_data("synthetic", specs, num_classes={"y": 4, "tok": 50})
    other = load_data("synthetic", specs, num_classes={"y": 4, "tok": 50}, seed=1)
    np.testing.assert_array_equal(same.train["img"], tr["img"])
    assert not np.array_equal(other.train["img"], tr["img"])


def test_synthetic_defaults_and_options():
    ds = load_data("synthetic", [X64, Y], synthetic_samples=100, val_fraction=0.2)
    assert (len(ds), ds.num_val) == (80, 20)
    assert ds.train["y"].max() <= 9 and ds.train["y"].min() >= 0          # default K = 10
    ds = load_data("synthetic", [InputSpec("x", "f32", ("N", "T", "2*T + 1")), Y], dim_sizes={"T": 5},
                   synthetic_samples=10, num_classes=2)
    assert ds.train["x"].shape == (9, 5, 11) and set(np.unique(ds.train["y"])) <= {0, 1}


# ---- IDX -------------------------------------------------------------------------------------------------

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def idx_bytes(a: np.ndarray) -> bytes:
    """An IDX file written independently of the reader under test."""
    big = a.astype(a.dtype.newbyteorder(">")) if a.dtype.itemsize > 1 else a
    code = IDX_CODES[big.dtype]
    return bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + big.tobytes()


def write_idx(path: Path, a: np.ndarray, gz: bool = False) -> Path:
    data = idx_bytes(a)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def mnist_folder(root: Path, n_train=30, n_test=12, side=4, gz_files=("train-images-idx3-ubyte",),
                 seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8)}
    arrays["train-images-idx3-ubyte"][0, 0, 0] = 255
    root.mkdir(parents=True, exist_ok=True)
    for name, a in arrays.items():
        write_idx(root / name, a, gz=name in gz_files)
    return arrays


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_round_trip(tmp_path, dtype, gz):
    a = (np.arange(2 * 3 * 5).reshape(2, 3, 5) - (0 if dtype == np.uint8 else 7)).astype(dtype)
    p = write_idx(tmp_path / "a-idx3", a, gz=gz)
    b = read_idx(p)
    assert b.dtype == np.dtype(dtype) and b.shape == (2, 3, 5)
    np.testing.assert_array_equal(a, b)


def test_idx_folder_train_and_t10k(tmp_path):
    src = mnist_folder(tmp_path / "mnist", gz_files=("train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"))
    spec = [InputSpec("x", "f32", ("N", 1, 4, 4)), InputSpec("y", "i64", ("N",))]
    ds = load_data("mnist", spec, base_dir=tmp_path, val_fraction=0.5)   # the fraction does not apply
    assert (len(ds), ds.num_val) == (30, 12)
    assert ds.source == str(tmp_path / "mnist")
    np.testing.assert_allclose(ds.train["x"][:, 0], src["train-images-idx3-ubyte"] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(ds.val["x"][:, 0], src["t10k-images-idx3-ubyte"] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.train["y"], src["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(ds.val["y"], src["t10k-labels-idx1-ubyte"])
    assert ds.train["x"].dtype == np.float32 and ds.train["y"].dtype == np.int64
    assert ds.train["x"].max() == 1.0 and ds.train["x"].min() >= 0.0
    flat = load_data(str(tmp_path / "mnist"), [InputSpec("x", "f32", ("N", 16)), Y])
    assert flat.train["x"].shape == (30, 16)


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist():
    ds = load_data(str(FASHION), [InputSpec("x", "f32", ("N", 1, 28, 28)), InputSpec("y", "i32", ("N",))],
                   num_classes=10)
    assert (len(ds), ds.num_val) == (60000, 10000)
    assert ds.train["x"].shape == (60000, 1, 28, 28) and ds.val["x"].shape == (10000, 1, 28, 28)
    assert ds.train["x"].min() == 0.0 and ds.train["x"].max() == 1.0
    assert np.bincount(ds.train["y"]).tolist() == [6000] * 10
    assert np.bincount(ds.val["y"]).tolist() == [1000] * 10


def error(fn, *args, **kwargs) -> str:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_idx_corrupt_files(tmp_path):
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    good = idx_bytes(a)
    cases = {
        "truncated": (good[:-5], ["truncated", "2 × 3 × 4", "19 bytes"]),
        "header": (good[:9], ["truncated", "3 dimensions"]),
        "tiny": (good[:3], ["truncated", "too short"]),
        "magic": (b"\x01\x02" + good[2:], ["not an IDX file", "magic number"]),
        "code": (good[:2] + b"\x07" + good[3:], ["unknown element type code 0x07"]),
        "extra": (good + b"\0\0", ["corrupt", "2 bytes follow"]),
        "nodims": (b"\x00\x00\x08\x00", ["0 dimensions"]),
    }
    for name, (data, words) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        msg = error(read_idx, p)
        assert str(p) in msg
        for w in words:
            assert w in msg, (name, msg)
    p = tmp_path / "cut.gz"
    p.write_bytes(gzip.compress(good)[:-12])
    assert "damaged" in error(read_idx, p) and str(p) in error(read_idx, p)


def test_idx_folder_errors(tmp_path):
    folder = tmp_path / "half"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", np.zeros((3, 4, 4), np.uint8))
    (folder / "notes.txt").write_text("hi")
    msg = error(load_data, str(folder), [X64, Y])
    assert "not an IDX folder" in msg and str(folder) in msg and "notes.txt" in msg
    assert "train-labels-idx1-ubyte" in msg and "t10k-images-idx3-ubyte" in msg and "t10k-labels-idx1-ubyte" in msg
    assert "train-images-idx3-ubyte[" not in msg                   # present, not listed as missing

    mnist_folder(tmp_path / "bad")
    p = tmp_path / "bad" / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-1])
    msg = error(load_data, str(tmp_path / "bad"), [InputSpec("x", "f32", ("N", 16)), Y])
    assert str(p) in msg and "truncated" in msg

    mnist_folder(tmp_path / "count")
    write_idx(tmp_path / "count" / "train-labels-idx1-ubyte", np.zeros(29, np.uint8))
    msg = error(load_data, str(tmp_path / "count"), [InputSpec("x", "f32", ("N", 16)), Y])
    assert "30 images" in msg and "29 labels" in msg

    mnist_folder(tmp_path / "shape")
    msg = error(load_data, str(tmp_path / "shape"), [X64, Y])
    assert "16 values" in msg and "64" in msg

    mnist_folder(tmp_path / "k")
    msg = error(load_data, str(tmp_path / "k"), [InputSpec("x", "f32", ("N", 16)), Y], num_classes=5)
    assert "only 5 classes" in msg and "train-labels-idx1-ubyte" in msg


# ---- .npz files ------------------------------------------------------------------------------------------

def npz(tmp_path: Path, name="d.npz", **arrays) -> str:
    p = tmp_path / name
    np.savez(p, **arrays)
    return str(p)


def test_npz_loads_and_converts(tmp_path):
    rng = np.random.default_rng(0)
    p = npz(tmp_path, x=rng.standard_normal((40, 5)), y=rng.integers(0, 3, 40, dtype=np.uint8),
            extra=np.zeros(3))
    ds = load_data(p, [InputSpec("x", "f32", ("N", 5)), Y], num_classes=3)
    assert ds.train["x"].dtype == np.float32 and ds.train["y"].dtype == np.int32
    assert (len(ds), ds.num_val) == (36, 4) and set(ds.train) == {"x", "y"}
    rel = load_data("d.npz", [InputSpec("x", "f32", ("N", 5)), Y], base_dir=tmp_path)
    np.testing.assert_array_equal(rel.train["x"], ds.train["x"])


def test_npz_symbols_and_unbatched_inputs(tmp_path):
    p = npz(tmp_path, x=np.zeros((6, 7, 3)), m=np.ones((6, 7)), w=np.arange(3.0))
    specs = [InputSpec("x", "f32", ("N", "T", 3)), InputSpec("m", "f32", ("N", "T")), InputSpec("w", "f32", (3,))]
    ds = load_data(p, specs, val_fraction=0.0)
    assert ds.batch_axes == {"x": 0, "m": 0, "w": None}
    seen = [b["w"] for b in batches(ds.train, 4, np.random.default_rng(0), axes=ds.batch_axes)]
    assert len(seen) == 2 and all(np.array_equal(w, np.arange(3.0)) for w in seen)
    p2 = npz(tmp_path, "t.npz", x=np.zeros((6, 7, 3)), m=np.ones((6, 5)), w=np.arange(3.0))
    msg = error(load_data, p2, specs)
    assert "T must be one size" in msg and "'x' has T = 7" in msg and "'m' has T = 5" in msg
    composite = [InputSpec("x", "f32", ("N", "T")), InputSpec("s", "f32", ("N", "2*T + 1"))]
    assert load_data(npz(tmp_path, "c.npz", x=np.zeros((6, 4)), s=np.zeros((6, 9))), composite)
    msg = error(load_data, npz(tmp_path, "c2.npz", x=np.zeros((6, 4)), s=np.zeros((6, 10))), composite)
    assert "array 's'" in msg and "needs 2*T + 1 = 9 on axis 1, not 10" in msg


def test_npz_missing_array(tmp_path):
    p = npz(tmp_path, images=np.zeros((4, 64)), y=np.zeros(4, np.int32))
    msg = error(load_data, p, [X64, Y])
    assert p in msg and "'x'" in msg and "x: f32[N, 64]" in msg and "'images'" in msg and "'y'" in msg


@pytest.mark.parametrize("y, words", [
    (np.array([0.0, 1.0, 2.0, 1.0]), ["float64", "floats", "needs integers", "y: i32[N]"]),
    (np.array(["a", "b", "c", "d"]), ["text strings", "needs numbers"]),
    (np.array([0, 1, 2 ** 40, 1]), ["do not fit", "i32"]),
])
def test_npz_wrong_dtype(tmp_path, y, words):
    p = npz(tmp_path, x=np.zeros((4, 64)), y=y)
    msg = error(load_data, p, [X64, Y])
    assert p in msg and "array 'y'" in msg
    for w in words:
        assert w in msg, msg


def test_npz_object_array_and_nan(tmp_path):
    p = tmp_path / "o.npz"
    np.savez(p, x=np.zeros((4, 64)), y=np.array([1, "a", None, 2], dtype=object))
    msg = error(load_data, str(p), [X64, Y])
    assert "array 'y'" in msg and "Python objects" in msg
    x = np.zeros((4, 64))
    x[2, 5] = np.nan
    msg = error(load_data, npz(tmp_path, x=x, y=np.zeros(4, np.int32)), [X64, Y])
    assert "array 'x'" in msg and "NaN" in msg


def test_npz_wrong_shape(tmp_path):
    msg = error(load_data, npz(tmp_path, x=np.zeros((4, 63)), y=np.zeros(4, np.int32)), [X64, Y])
    assert "array 'x'" in msg and "(4, 63)" in msg and "size 64 for axis 1" in msg
    msg = error(load_data, npz(tmp_path, x=np.zeros((4, 8, 8)), y=np.zeros(4, np.int32)), [X64, Y])
    assert "(4, 8, 8)" in msg and "3 axes" in msg and "x: f32[N, 64]" in msg
    msg = error(load_data, npz(tmp_path, x=np.zeros((4, 64)), y=np.zeros((4, 1), np.int32)), [X64, Y])
    assert "array 'y'" in msg and "reshape(-1)" in msg
    msg = error(load_data, npz(tmp_path, x=np.zeros((4, 64)), y=np.zeros(5, np.int32)), [X64, Y])
    assert "different numbers of samples" in msg and "'x' has 4" in msg and "'y' has 5" in msg


def test_npz_label_ranges(tmp_path):
    p = npz(tmp_path, x=np.zeros((4, 64)), y=np.array([0, 3, 12, 1]))
    msg = error(load_data, p, [X64, Y], num_classes=10)
    assert p in msg and "array 'y'" in msg and "up to 12" in msg and "only 10 classes" in msg and "0..9" in msg
    load_data(p, [X64, Y])                                  # no class count known: fine
    p = npz(tmp_path, "neg.npz", x=np.zeros((4, 64)), y=np.array([0, -1, 2, 1]))
    msg = error(load_data, p, [X64, Y])
    assert "1 negative value " in msg and "-1" in msg and "array 'y'" in msg


def test_empty_and_tiny_data(tmp_path):
    msg = error(load_data, npz(tmp_path, x=np.zeros((0, 64)), y=np.zeros(0, np.int32)), [X64, Y])
    assert "empty" in msg
    msg = error(load_data, npz(tmp_path, "one.npz", x=np.zeros((1, 64)), y=np.zeros(1, np.int32)), [X64, Y],
                val_fraction=0.5)
    assert load_data(str(tmp_path / "one.npz"), [X64, Y]).num_val == 0      # 10% of 1 rounds to 0
    msg = error(load_data, npz(tmp_path, "two.npz", x=np.zeros((2, 64)), y=np.zeros(2, np.int32)), [X64, Y],
                val_fraction=0.9)
    assert "nothing is left for training" in msg
    assert "validation fraction" in error(load_data, "digits", [X64, Y], val_fraction=1.0)


def test_bad_paths_and_files(tmp_path):
    msg = error(load_data, "nope/data.npz", [X64, Y], base_dir=tmp_path)
    assert str(tmp_path / "nope" / "data.npz") in msg and "does not exist" in msg and "digits" in msg
    p = tmp_path / "junk.npz"
    p.write_bytes(b"this is not a zip archive at all")
    msg = error(load_data, str(p), [X64, Y])
    assert str(p) in msg and "not a readable .npz" in msg
    q = tmp_path / "one.npy"
    np.save(q, np.zeros((3, 64)))
    msg = error(load_data, str(q), [X64, Y])
    assert "single array" in msg
    good = tmp_path / "good.npz"
    np.savez_compressed(good, x=np.random.default_rng(0).standard_normal((50, 64)), y=np.zeros(50, np.int32))
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:-300])
    msg = error(load_data, str(cut), [X64, Y])
    assert str(cut) in msg


def test_filling_rule_errors():
    msg = error(load_data, "digits", [InputSpec("x", "f32", ("N", 32)), Y])
    assert "32 values per sample" in msg and "8×8 = 64" in msg and "f32[N, 1, 8, 8]" in msg
    msg = error(load_data, "digits", [X64, Y, InputSpec("z", "f32", ("N", 2))])
    assert "nothing fills `z: f32[N, 2]`" in msg and ".npz" in msg
    msg = error(load_data, "digits", [Y])
    assert "float input" in msg
    msg = error(load_data, "digits", [X64, Y], num_classes=5)
    assert "only 5 classes" in msg and "up to 9" in msg
    msg = error(load_data, "digits", [InputSpec("x", "f32", (64,)), InputSpec("y", "i32", (1,))])
    assert "no input has a batch dimension" in msg
    msg = error(load_data, "digits", [X64, InputSpec("y", "i32", ("N", 2))])
    assert "labels" in msg and "i32[N]" in msg


# ---- batches ---------------------------------------------------------------------------------------------

def test_batches_cover_every_sample_once_and_repeat():
    arrays = {"x": np.arange(103, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32),
              "y": np.arange(103, dtype=np.int32)}
    got = list(batches(arrays, 10, np.random.default_rng(5)))
    assert [len(b["y"]) for b in got] == [10] * 10 + [3]
    ids = np.concatenate([b["y"] for b in got])
    assert sorted(ids.tolist()) == list(range(103)) and ids.tolist() != list(range(103))
    for b in got:
        np.testing.assert_array_equal(b["x"][:, 0], b["y"])       # rows stay paired
    again = np.concatenate([b["y"] for b in batches(arrays, 10, np.random.default_rng(5))])
    np.testing.assert_array_equal(ids, again)
    rng = np.random.default_rng(5)
    e1 = np.concatenate([b["y"] for b in batches(arrays, 10, rng)])
    e2 = np.concatenate([b["y"] for b in batches(arrays, 10, rng)])
    np.testing.assert_array_equal(e1, ids)
    assert not np.array_equal(e1, e2)                           # the next epoch is shuffled anew
    plain = np.concatenate([b["y"] for b in batches(arrays, 32, np.random.default_rng(0), shuffle=False)])
    assert plain.tolist() == list(range(103))
    assert len(list(batches(arrays, 103, np.random.default_rng(0)))) == 1


def test_batches_and_check_batch_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(DataError, match="different|disagree"):
        batches({"x": np.zeros((4, 2)), "y": np.zeros(5)}, 2, rng)    # eager, before iteration
    with pytest.raises(DataError, match="at least 1"):
        batches({"x": np.zeros((4, 2))}, 0, rng)
    ds = load_data("synthetic", [X64, Y], synthetic_samples=50)
    check_batch(45, ds)
    msg = error(check_batch, 64, ds)
    assert "batch size 64" in msg and "45 training samples" in msg and "synthetic" in msg
    assert "at least 1" in error(check_batch, -3, ds)


def test_input_spec_and_dataset_api():
    class FakeType:
        dtype = "f32"
        shape = ("N", 8)
    s = InputSpec.from_type("x", FakeType())
    assert s == InputSpec("x", "f32", ("N", 8)) and str(s) == "x: f32[N, 8]" and s.batch_symbol == "N"
    with pytest.raises(ValueError):
        InputSpec("x", "f16", ("N",))
    ds = load_data("synthetic", [s], synthetic_samples=20)
    assert isinstance(ds, Dataset) and ds.describe() == "synthetic: 18 training and 2 validation samples"
