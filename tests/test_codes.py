"""_core.dense_codes: integer labels (e.g. 8-digit GICS codes) → dense codes 0..G−1, −1 kept.

Oracle: ``np.unique`` + ``np.searchsorted`` (numpy), and a hand-worked case.
"""

from __future__ import annotations

import numpy as np
import pytest

import ferrofactor as ff
from ferrofactor import _core


def numpy_dense_codes(codes):
    """Reference: sorted distinct values other than −1, and each cell's position among them."""
    values = np.unique(codes[codes != -1])
    dense = np.where(codes == -1, -1, np.searchsorted(values, codes)).astype(np.int32)
    return dense, values.astype(np.int64)


def test_hand_worked():
    codes = np.array([[45102010, -1, 10101010], [20101010, 45102010, -7]], dtype=np.int64)
    dense, values = _core.dense_codes(codes)
    np.testing.assert_array_equal(values, [-7, 10101010, 20101010, 45102010])
    np.testing.assert_array_equal(dense, [[3, -1, 1], [2, 3, 0]])
    assert dense.dtype == np.int32 and values.dtype == np.int64 and dense.shape == codes.shape


@pytest.mark.parametrize("shape", [(0,), (7,), (40, 300), (3, 50, 2)])
def test_gics_like_codes_equal_numpy(shape):
    rng = np.random.default_rng(4)
    # 70 distinct 8-digit codes (sector/group/industry/sub-industry digits), some −1.
    gics = np.unique(rng.integers(10, 61, 70) * 1_000_000 + rng.integers(10, 30, 70) * 10_000
                     + rng.integers(10, 30, 70) * 100 + rng.integers(10, 20, 70))
    codes = rng.choice(gics, size=shape).astype(np.int64)
    codes[rng.random(shape) < 0.1] = -1
    ref = numpy_dense_codes(codes)
    for threads in (1, 2):
        ff.set_num_threads(threads)
        try:
            dense, values = _core.dense_codes(codes)
        finally:
            ff.set_num_threads(0)
        np.testing.assert_array_equal(values, ref[1])
        np.testing.assert_array_equal(dense, ref[0])
        assert dense.shape == codes.shape


def test_many_chunks_and_extremes():
    # more cells than one parallel chunk, distinct values far apart (never sized by the largest)
    rng = np.random.default_rng(5)
    pool = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, -2, 0, 2**40, 99], np.int64)
    codes = rng.choice(np.append(pool, -1), size=(300, 1000))
    dense, values = _core.dense_codes(codes)
    ref = numpy_dense_codes(codes)
    np.testing.assert_array_equal(values, ref[1])
    np.testing.assert_array_equal(dense, ref[0])


def test_bad_input():
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.dense_codes(np.zeros((4, 6), np.int64)[:, ::2])
    with pytest.raises(TypeError):
        _core.dense_codes(np.zeros(3, np.int32))
