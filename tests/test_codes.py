"""_core.dense_codes: integer labels (e.g. 8-digit GICS codes) → dense codes 0..G−1, −1 kept;
every door that reads integer codes refuses values beyond int64 (uint64 >= 2**63).

Oracle: ``np.unique`` + ``np.searchsorted`` (numpy), and a hand-worked case.
"""

from __future__ import annotations

import numpy as np
import polars as pl
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


# --- integer codes beyond int64 (uint64 >= 2**63) ------------------------------------------------
#
# Every door that reads integer industry/classification codes reads them as int64. A uint64 value
# >= 2**63 used to wrap silently (2**63 + 5 became the label "-9223372036854775803"; 2**64 - 1
# became -1, i.e. "no industry"); it is now refused with a ValueError naming the argument.

BIG = 2**63 + 5
U64_MAX = 2**64 - 1  # -1 stored as unsigned


def _u64(values, T=3):
    return np.tile(np.array(values, dtype=np.uint64), (T, 1))


def _industry_doors():
    rng = np.random.default_rng(11)
    r = rng.normal(size=(3, 4))
    sty = rng.normal(size=(3, 4, 1))
    return {
        "Exposures": lambda g: ff.Exposures(sty, g),
        "Exposures(industry_names=mapping)": lambda g: ff.Exposures(
            sty, g, industry_names={int(v): f"n{v}" for v in np.unique(g)}),
        "Exposures.from_descriptors": lambda g: ff.Exposures.from_descriptors(
            {"x": r}, {"x": {"x": 1.0}}, cap=np.ones((3, 4)), industry=g),
        "cross_section_regress": lambda g: ff.cross_section_regress(r, sty, g, cap=np.ones((3, 4))),
        "cross_section_regress(industry_names=mapping)": lambda g: ff.cross_section_regress(
            r, sty, g, cap=np.ones((3, 4)), industry_names={int(v): f"n{v}" for v in np.unique(g)}),
        "neutralize": lambda g: ff.neutralize(r, industry=g),
        "standardize": lambda g: ff.standardize(r, industry=g),
        "polars Series": lambda g: ff.Exposures(sty, pl.Series(g.reshape(-1)).to_numpy().reshape(g.shape)),
    }


@pytest.mark.parametrize("door", list(_industry_doors()))
@pytest.mark.parametrize("values", [[10, BIG, 10, BIG], [10, U64_MAX, 20, 10]], ids=["2**63+5", "2**64-1"])
def test_uint64_codes_beyond_int64_are_refused_naming_the_argument(door, values):
    g = _u64(values)
    with pytest.raises(ValueError, match=r"^industry holds \d+ codes >= 2\*\*63 \(largest \d+, dtype uint64\); "
                                         r"integer codes must fit in int64"):
        _industry_doors()[door](g)


def test_uint64_all_ones_is_explained_as_minus_one():
    # the likeliest source: -1 (none) cast to an unsigned type upstream
    g = _u64([10, U64_MAX, 20, 10])
    with pytest.raises(ValueError, match=r"18446744073709551615 is -1 stored as an unsigned integer: "
                                         r"if it means none, cast the codes to int64"):
        ff.Exposures(np.zeros((3, 4, 1)), g)
    # and the suggested fix does what it says: -1 = none
    e = ff.Exposures(np.zeros((3, 4, 1)), g.astype(np.int64))
    assert e.industry_names == ["10", "20"] and e.industry[0].tolist() == [0, -1, 1, 0]


def test_uint64_codes_within_int64_map_like_int64():
    gics = [45102010, 10101010, 45102010, 2**63 - 1]
    a = ff.Exposures(np.zeros((3, 4, 1)), _u64(gics))
    b = ff.Exposures(np.zeros((3, 4, 1)), _u64(gics).astype(np.int64))
    assert a.industry_names == b.industry_names == ["10101010", "45102010", str(2**63 - 1)]
    np.testing.assert_array_equal(a.industry, b.industry)


def test_python_integers_beyond_int64_are_refused():
    # numpy stores [-1, 2**63 + 5] as float64 (digits lost): a ValueError, not a wrong label
    with pytest.raises(ValueError, match=r"^industry holds integral codes as large as .* fit in int64"):
        ff.Exposures(np.zeros((1, 2, 1)), [[-1, BIG]])


def test_industry_names_mapping_key_beyond_int64():
    g = np.array([[10, 20]], dtype=np.int64)
    with pytest.raises(ValueError, match=r"^industry_names has key 9223372036854775813, beyond int64"):
        ff.Exposures(np.zeros((1, 2, 1)), g, industry_names={10: "a", 20: "b", BIG: "c"})
    with pytest.raises(ValueError, match=r"^industry_names maps code values to names; its keys must be integers"):
        ff.Exposures(np.zeros((1, 2, 1)), g, industry_names={10: "a", "energy": "b"})


def test_polars_uint64_code_column_beyond_int64_is_refused():
    codes = pl.Series("industry", [10, BIG, None], dtype=pl.UInt64)
    df = pl.DataFrame({"date": ["2024-01-02"] * 3, "asset": ["A", "B", "C"], "industry": codes})
    with pytest.raises(ValueError, match=r"^code column 'industry' holds 1 codes >= 2\*\*63 .*cast the column to String"):
        ff.Panel.from_polars(df, codes=["industry"])
    rows = df.with_columns(pl.lit("2024-01-01").alias("date"))
    axes = (np.array(["2024-01-02"], "datetime64[D]"), ["A", "B", "C"])
    with pytest.raises(ValueError, match=r"^code column 'industry' holds 1 codes >= 2\*\*63"):
        ff.read_classifications(rows, *axes)
    with pytest.raises(ValueError, match=r"^code column 'industry' holds 1 codes >= 2\*\*63"):
        ff.read_classifications(rows, *axes, labels=["10", str(BIG)])
    minus_one = df.with_columns(pl.Series("industry", [10, U64_MAX, None], dtype=pl.UInt64))
    with pytest.raises(ValueError, match=r"is -1 stored as an unsigned integer: if it means none, replace it with null"):
        ff.Panel.from_polars(minus_one, codes=["industry"])
    # within int64 a UInt64 column reads as before; as strings, large values are labels
    ok = df.with_columns(pl.Series("industry", [10, 2**63 - 1, None], dtype=pl.UInt64))
    p = ff.Panel.from_polars(ok, codes=["industry"])
    assert p["industry"].tolist() == [[0, 1, -1]] and p.labels("industry").tolist() == ["10", str(2**63 - 1)]
    p = ff.Panel.from_polars(df.with_columns(pl.col("industry").cast(pl.String)), codes=["industry"])
    assert p.labels("industry").tolist() == ["10", str(BIG)]
