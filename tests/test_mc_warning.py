"""Monte-Carlo dropout on a model without dropout warns (issue 11): its samples would all be equal."""
import tempfile
import warnings

import numpy as np
import pytest

import nnc
from nnc.cli import main

PLAIN = "model m {\n  input x: f32[N, 4]\n  output y = x -> dense(2)\n}\n"
DROPPED = "model m {\n  input x: f32[N, 4]\n  output y = x -> dense(8) -> dropout(0.5) -> dense(2)\n}\n"
NOISY = "model m {\n  input x: f32[N, 4]\n  output y = (x -> dense(2)) + randn([N, 2])\n}\n"


def path_of(src: str) -> str:
    f = tempfile.NamedTemporaryFile("w", suffix=".nn", delete=False)
    f.write(src)
    f.close()
    return f.name


def test_the_api_warns_once_for_a_model_without_dropout():
    x = np.ones((3, 4), np.float32)
    m = nnc.load(path_of(PLAIN)).model("m")
    with pytest.warns(UserWarning, match="model m has no dropout: Monte-Carlo samples are all equal"):
        a = m(x=x, mc_dropout=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(m(x=x, mc_dropout=True), a)  # said once
    for src in (DROPPED, NOISY):  # these do vary: no warning
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = nnc.load(path_of(src)).model("m")
            assert not np.array_equal(model(x=x, mc_dropout=True), model(x=x, mc_dropout=True))


def test_nnc_run_says_so_in_one_line(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        status = main(["run", path_of(PLAIN), "--model", "m", "--input", f"x={tmp_path / 'x.npy'}",
                       "--mc-samples", "5"])
    assert status == 0
    assert capsys.readouterr().err == ("nnc: warning: model m has no dropout, so the 5 Monte-Carlo samples are all equal "
                              "and every *_std is 0\n")
