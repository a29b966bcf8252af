"""The counter-based generator: Philox-4x32-10's known answers and nnc's layout of counters and keys."""
import numpy as np
import pytest

from nnc.ops._philox import philox4x32, stream_of, uniform

M = 0xFFFFFFFF


@pytest.mark.parametrize("counter, key, want", [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((M, M, M, M), (M, M), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
])
def test_philox_gives_the_random123_known_answers(counter, key, want):
    assert tuple(int(w) for w in philox4x32(counter, key)) == want


def test_element_i_is_one_philox_call_with_nnc_layout():
    seed, stream, step = 0x1_0000_0007, 12345, 9
    u = uniform((3, 4), seed, stream, step)
    assert u.dtype == np.float32 and u.shape == (3, 4)
    i = 7  # row 1, column 3
    word = int(philox4x32((i, 0, stream, step), (seed & M, seed >> 32))[0])
    assert u[1, 3] == np.float32((word >> 8) * 2.0 ** -24)


def test_draws_depend_on_seed_stream_and_step_only():
    a = uniform((1000,), 1, 2, 3)
    np.testing.assert_array_equal(a, uniform((1000,), 1, 2, 3))
    for other in (uniform((1000,), 2, 2, 3), uniform((1000,), 1, 3, 3), uniform((1000,), 1, 2, 4)):
        assert np.mean(a == other) < 0.01
    np.testing.assert_array_equal(uniform((10, 100), 1, 2, 3).ravel(), a)  # the shape only folds the index
    assert 0.0 <= a.min() and a.max() < 1.0 and abs(a.mean() - 0.5) < 0.03
    assert stream_of("mlp/h.dropout") == stream_of("mlp/h.dropout") != stream_of("mlp/h.dropout_1")


def test_dropout_masks_keep_one_minus_p_and_scale_by_its_inverse():
    from nnc.ops import get
    x = np.ones((200, 50), np.float64)
    mask, = get("dropout_mask").reference([x, np.asarray(5), np.asarray(2)], {"p": 0.3, "stream": 11}, None)
    assert mask.dtype == np.float64 and set(np.unique(mask)) == {0.0, 1 / 0.7}
    assert abs(np.mean(mask == 0) - 0.3) < 0.02
    u = uniform(x.shape, 5, 11, 2)
    np.testing.assert_array_equal(mask != 0, u >= np.float32(0.3))
