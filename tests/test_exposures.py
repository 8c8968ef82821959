import numpy as np
import pytest

import ferrofactor as ff


def test_names_shapes_and_lag():
    rng = np.random.default_rng(1)
    sty = rng.standard_normal((4, 3, 2))
    ind = np.array([[0, 1, -1]] * 4)
    e = ff.Exposures(sty, ind, style_names=["value", "momentum"], industry_names=["a", "b"])
    assert e.factor_names == ["market", "a", "b", "value", "momentum"]
    assert e.shape == (4, 3)
    assert e.industry.dtype == np.int32
    lagged = e.lag(1)
    assert np.isnan(lagged.styles[0]).all() and (lagged.industry[0] == -1).all()
    np.testing.assert_array_equal(lagged.styles[1:], sty[:-1])
    np.testing.assert_array_equal(lagged.industry[1:], ind[:-1])
    with pytest.raises(ValueError):
        e.styles[0, 0, 0] = 1.0  # read-only


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="styles has shape"):
        ff.Exposures(np.zeros((4, 3, 2)), np.zeros((4, 2), dtype=int))
    with pytest.raises(ValueError, match="style_names has 1 names"):
        ff.Exposures(np.zeros((4, 3, 2)), style_names=["x"])
    with pytest.raises(ValueError, match="industry has code 2"):
        ff.Exposures(industry=np.full((2, 2), 2), industry_names=["a"])
    with pytest.raises(TypeError, match="styles must be a numeric array"):
        ff.Exposures(np.full((2, 2, 1), "x"))
    with pytest.raises(ValueError, match="periods"):
        ff.Exposures(np.zeros((2, 2, 1))).lag(-1)


def test_callers_array_stays_writeable():
    sty = np.zeros((2, 2, 1))
    ff.Exposures(sty)
    sty[0, 0, 0] = 1.0
    assert sty.flags.writeable
