"""Cross-sectional cleaning: winsorize, standardize, rank.

Oracles: ``ff.baseline`` (per-date numpy loop), scipy (rankdata, norm.ppf, np.quantile/median),
and hand-worked rows.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

import ferrofactor as ff
from ferrofactor import baseline

from helpers import long_frame, random_panel

# The maths is the same in both implementations (only the summation order differs), so outputs
# agree to 1e-10 relative with no absolute slack. (A z-score very close to 0 could in principle
# lose relative accuracy; on these seeded panels none does.)
RTOL = 1e-10
Z_ATOL = 0.0


@pytest.fixture(scope="module")
def panel():
    p = random_panel(T=25, N=150, G=6, missing=0.15, seed=3)
    # a date where one industry holds a single value and another is constant, and a date with
    # one finite value overall: the small-group edge cases inside a realistic panel
    x = p.returns.copy()
    g = p.industry.copy()
    g[2, g[2] == 3] = 1
    g[2, 0], x[2, 0] = 3, 0.5
    x[3, g[3] == 2] = 0.01
    x[4, 1:] = np.nan
    p.returns, p.industry = x, g
    return p


def _weights_with_zero_group(p):
    w = p.weights.copy()
    w[5, p.industry[5] == 1] = np.nan  # industry 1 on date 5 has no usable weight
    w[6, :] = 0.0  # date 6 has zero total weight
    return w


# ---------------------------------------------------------------------------------------------
# Against the baseline on random panels


@pytest.mark.parametrize("method,limit", [("sigma", 2.0), ("sigma", 3.0), ("quantile", 0.05), ("mad", 3.0)])
@pytest.mark.parametrize("use_groups", [False, True])
def test_winsorize_matches_baseline(panel, method, limit, use_groups):
    groups = panel.industry if use_groups else None
    got = ff.winsorize(panel.returns, method=method, limit=limit, industry=groups)
    want = baseline.winsorize(panel.returns, method=method, limit=limit, industry=groups)
    assert_allclose(got, want, rtol=RTOL, atol=0)
    assert_array_equal(np.isnan(got), np.isnan(want))
    # something was actually clipped, and the NaN pattern is the input's (plus -1 codes)
    assert np.nansum(got != panel.returns) > 0
    missing = ~np.isfinite(panel.returns)
    if use_groups:
        missing |= panel.industry < 0
    assert_array_equal(np.isnan(got), missing)


@pytest.mark.parametrize("use_groups", [False, True])
def test_winsorize_sigma_weighted_matches_baseline(panel, use_groups):
    groups = panel.industry if use_groups else None
    w = _weights_with_zero_group(panel)
    got = ff.winsorize(panel.returns, "sigma", 2.0, weights=w, industry=groups)
    want = baseline.winsorize(panel.returns, "sigma", 2.0, weights=w, industry=groups)
    assert_allclose(got, want, rtol=RTOL, atol=0)
    assert np.all(np.isnan(got[6]))  # zero total weight -> NaN date
    if use_groups:
        assert np.all(np.isnan(got[5, panel.industry[5] == 1]))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("use_groups", [False, True])
def test_standardize_matches_baseline(panel, weighted, use_groups):
    groups = panel.industry if use_groups else None
    w = _weights_with_zero_group(panel) if weighted else None
    got = ff.standardize(panel.returns, weights=w, industry=groups)
    want = baseline.standardize(panel.returns, weights=w, industry=groups)
    assert_allclose(got, want, rtol=RTOL, atol=Z_ATOL)
    assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.all(np.isnan(got[panel.all_nan_dates]))
    if not weighted and not use_groups:
        assert_array_equal(got[4], np.where(np.arange(got.shape[1]) == 0, 0.0, np.nan))  # single value -> 0


def test_standardize_styles_slices_match_baseline(panel):
    # another source of data: a style column with NaN in different places, cap weights
    x = panel.styles[:, :, 1]
    got = ff.standardize(x, weights=panel.cap, industry=panel.industry)
    want = baseline.standardize(x, weights=panel.cap, industry=panel.industry)
    assert_allclose(got, want, rtol=RTOL, atol=Z_ATOL)


def test_rank_matches_baseline_and_scipy(panel):
    x = np.round(panel.returns, 3)  # rounding creates plenty of ties
    got = ff.rank(x)
    assert_array_equal(got, baseline.rank(x))  # exact: same integers divided the same way
    for t in range(x.shape[0]):
        finite = np.isfinite(x[t])
        n = finite.sum()
        if n:
            assert_allclose(got[t, finite], stats.rankdata(x[t, finite]) / (n + 1), rtol=0, atol=0)
        assert np.all(np.isnan(got[t, ~finite]))


def test_gaussian_rank_matches_norm_ppf(panel):
    x = panel.returns
    got = ff.rank(x, gaussian=True)
    r = ff.rank(x)
    assert_allclose(got, stats.norm.ppf(r), rtol=RTOL, atol=1e-14)
    assert_allclose(got, baseline.rank(x, gaussian=True), rtol=RTOL, atol=1e-14)
    assert_array_equal(np.isnan(got), ~np.isfinite(x))


def test_results_identical_with_one_and_two_threads(panel):
    w = _weights_with_zero_group(panel)
    calls = [
        lambda: ff.winsorize(panel.returns, "sigma", 2.0, weights=w, industry=panel.industry),
        lambda: ff.winsorize(panel.returns, "quantile", 0.1, industry=panel.industry),
        lambda: ff.winsorize(panel.returns, "mad", 2.5),
        lambda: ff.standardize(panel.returns, weights=w, industry=panel.industry),
        lambda: ff.standardize(panel.returns),
        lambda: ff.rank(panel.returns, gaussian=True),
    ]
    try:
        ff.set_num_threads(1)
        one = [f() for f in calls]
        ff.set_num_threads(2)
        two = [f() for f in calls]
    finally:
        ff.set_num_threads(0)
    for a, b in zip(one, two):
        assert a.tobytes() == b.tobytes()


# ---------------------------------------------------------------------------------------------
# Hand-worked cases


def test_standardize_by_hand():
    # mean 3, deviations (-2, -1, 0, 1, 2), sample variance 10 / 4 = 2.5
    x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    s = np.sqrt(2.5)
    assert_allclose(ff.standardize(x), [[-2 / s, -1 / s, 0, 1 / s, 2 / s]], rtol=1e-15, atol=1e-15)


def test_standardize_weighted_centre_by_hand():
    # weights (1, 3, NaN, 0, 4): centre = (1*1 + 3*2 + 0*4 + 4*5) / 8 = 27/8;
    # the NaN-weighted value 3 is still standardised; std is the plain sample std of 1..5.
    x = np.array([[1.0, 2.0, 3.0, 4.0, 5.0]])
    w = np.array([[1.0, 3.0, np.nan, 0.0, 4.0]])
    s = np.sqrt(2.5)
    want = (x - 27 / 8) / s
    assert_allclose(ff.standardize(x, weights=w), want, rtol=1e-14)


def test_standardize_zero_dispersion_and_single_value_give_zeros():
    x = np.array(
        [
            [0.1, 0.1, 0.1, np.nan, 0.1],  # constant date (0.1 is not exact in binary)
            [np.nan, 2.0, np.nan, np.nan, np.nan],  # single value
            [np.nan] * 5,  # all missing
        ]
    )
    got = ff.standardize(x)
    assert_array_equal(got[0], [0, 0, 0, np.nan, 0])
    assert_array_equal(got[1], [np.nan, 0, np.nan, np.nan, np.nan])
    assert np.all(np.isnan(got[2]))
    # with weights, a constant date is still zeros; zero usable weight is NaN
    w = np.array([[1.0, 2.0, 3.0, 4.0, 5.0], [0.0] * 5, [1.0] * 5])
    got = ff.standardize(x, weights=w)
    assert_array_equal(got[0], [0, 0, 0, np.nan, 0])
    assert np.all(np.isnan(got[1]))


def test_standardize_groups_by_hand():
    x = np.array([[1.0, 10.0, 3.0, 30.0, 5.0, 99.0, 7.0]])
    g = np.array([[0, 2, 0, 2, 0, -1, 4]])  # group 1 and 3 empty, code -1 -> NaN, group 4 single
    s0 = 2.0  # sample std of (1, 3, 5)
    s2 = np.sqrt(200.0)  # (10, 30): mean 20, variance 200
    want = [[-2 / s0, -10 / s2, 0.0, 10 / s2, 2 / s0, np.nan, 0.0]]
    assert_allclose(ff.standardize(x, industry=g), want, rtol=1e-15, atol=1e-15)


def test_sigma_winsorize_clips_exactly_the_expected_values():
    # 18 values at 0, one at 1 and one at 100: mean 5.05, sample std 22.34...
    x = np.zeros((1, 20))
    x[0, 3] = 1.0
    x[0, 7] = 100.0
    mean, std = x.mean(), x.std(ddof=1)
    got = ff.winsorize(x, "sigma", 2.0)
    want = x.copy()
    want[0, 7] = mean + 2.0 * std  # only the outlier is clipped, to the upper bound
    assert_allclose(got, want, rtol=1e-15, atol=0)
    assert np.flatnonzero(got != x).tolist() == [7]
    # cap-weighted centre: all weight on the zeros -> centre 0, bound 0 + 2*std; the value 1 is
    # inside the band, 100 is clipped to 2*std
    w = np.ones((1, 20))
    w[0, 7] = 0.0
    w[0, 3] = 0.0
    got = ff.winsorize(x, "sigma", 2.0, weights=w)
    want[0, 7] = 2.0 * std
    assert_allclose(got, want, rtol=1e-15, atol=0)


def test_quantile_winsorize_by_hand():
    # np.quantile([1, 2, 3, 4, 10], [0.1, 0.9]) == [1.4, 7.6] (linear interpolation)
    x = np.array([[10.0, 1.0, np.nan, 3.0, 2.0, 4.0]])
    got = ff.winsorize(x, "quantile", 0.1)
    assert_allclose(got, [[7.6, 1.4, np.nan, 3.0, 2.0, 4.0]], rtol=1e-15)
    # against np.quantile on a longer row with ties and an even count
    rng = np.random.default_rng(1)
    row = np.round(rng.standard_normal(1000), 1)
    lo, hi = np.quantile(row, [0.025, 0.975])
    assert_allclose(ff.winsorize(row[None], "quantile", 0.025)[0], np.clip(row, lo, hi), rtol=0, atol=0)


def test_mad_winsorize_by_hand():
    # median 3, |x - 3| = (2, 1, 0, 1, 97) -> MAD 1; bounds 3 -/+ 2 * 1.4826
    x = np.array([[1.0, 2.0, 3.0, 4.0, 100.0, -50.0]])
    # six values: median (2 + 3) / 2 = 2.5, |x - 2.5| = (1.5, .5, .5, 1.5, 97.5, 52.5) -> MAD 1.5
    k = 2.0 * 1.4826 * 1.5
    got = ff.winsorize(x, "mad", 2.0)
    assert_allclose(got, [[1.0, 2.0, 3.0, 4.0, 2.5 + k, 2.5 - k]], rtol=1e-15)


def test_small_and_constant_groups_are_unchanged_by_winsorize():
    x = np.array([[5.0, 1.0, 1.0, 1.0, np.nan, 7.0]])
    g = np.array([[0, 1, 1, 1, 1, -1]])
    for method, limit in [("sigma", 0.5), ("quantile", 0.2), ("mad", 0.5)]:
        got = ff.winsorize(x, method, limit, industry=g)
        assert_array_equal(got, [[5.0, 1.0, 1.0, 1.0, np.nan, np.nan]])


def test_spread_that_underflows_is_still_standardised():
    # (1.75e-209)^2 underflows to 0, so plain sums see no dispersion (numpy's too: the baseline
    # gives zeros); the kernel computes such a date on values scaled by a power of two (exact), so
    # it equals the oracle on the scaled values (issue 10, family 5).
    x = np.array([[3.5e-209, 0.0, np.nan]])
    assert_array_equal(baseline.standardize(x), [[0.0, 0.0, np.nan]])
    assert_allclose(ff.standardize(x), baseline.standardize(x * 2.0**700), rtol=1e-15)
    assert_allclose(ff.standardize(x), [[np.sqrt(0.5), -np.sqrt(0.5), np.nan]], rtol=1e-15)
    assert_array_equal(ff.winsorize(x, "sigma", 1.0), x)


def test_infinite_values_are_treated_as_missing():
    x = np.array([[1.0, np.inf, 2.0, -np.inf, 3.0]])
    assert_array_equal(np.isnan(ff.standardize(x)), [[False, True, False, True, False]])
    assert_array_equal(np.isnan(ff.rank(x)), [[False, True, False, True, False]])
    assert_array_equal(ff.winsorize(x, "mad", 1.0)[0, [0, 2, 4]], [1.0, 2.0, 3.0])


def test_rank_ties_by_hand():
    x = np.array([[3.0, 1.0, 3.0, np.nan, 2.0, -0.0, 0.0]])
    # sorted: -0.0 = 0.0 (ranks 1, 2 -> 1.5), 1 (3), 2 (4), 3, 3 (5, 6 -> 5.5); n = 6
    want = np.array([[5.5, 3, 5.5, np.nan, 4, 1.5, 1.5]]) / 7
    assert_array_equal(ff.rank(x), want)


# ---------------------------------------------------------------------------------------------
# Conversion and bad input


def test_other_dtypes_and_layouts_are_converted(panel):
    x = np.round(panel.returns * 1000)
    x = np.nan_to_num(x, nan=0.0)
    want = ff.standardize(x, weights=panel.cap, industry=panel.industry)
    assert_array_equal(ff.standardize(x.astype(np.int64), weights=panel.cap, industry=panel.industry), want)
    assert_array_equal(
        ff.standardize(np.asfortranarray(x), weights=np.asfortranarray(panel.cap), industry=panel.industry.astype(np.int64)),
        want,
    )
    x32 = x.astype(np.float32)
    assert_array_equal(ff.rank(x32), ff.rank(x32.astype(np.float64)))
    assert_array_equal(ff.winsorize(x[:, ::2], "mad"), ff.winsorize(np.ascontiguousarray(x[:, ::2]), "mad"))
    assert ff.rank(x[:3].tolist()).shape == (3, x.shape[1])


def test_timedelta64_is_refused_as_datetime64_is():
    # numpy counts timedelta64 as an integer dtype: it passed the numeric check and NaT became
    # -9.2e18 (rank put it last, as a huge finite value), where NaN would have been skipped
    x = np.array([[1, 2, 3, 4]], dtype="m8[D]")
    x[0, 3] = np.timedelta64("NaT")
    msg = ("x must be a numeric array, got dtype timedelta64[D] (durations are not numbers: convert "
           "them first, e.g. x / np.timedelta64(1, 'D') for days, NaT becoming NaN)")
    for fn in (ff.rank, ff.standardize, ff.winsorize):
        with pytest.raises(TypeError) as e:
            fn(x)
        assert str(e.value) == msg
    with pytest.raises(TypeError, match=r"^x must be a numeric array, got dtype datetime64\[D\]$"):
        ff.rank(x.astype("M8[D]"))
    y = np.ones((1, 4))
    with pytest.raises(TypeError, match=r"^weights must be a numeric array, got dtype timedelta64\[ns\] "):
        ff.standardize(y, weights=np.ones((1, 4), dtype="m8[ns]"))
    with pytest.raises(TypeError, match=r"^industry must be an integer array of industry codes, got dtype "
                                        r"timedelta64\[D\]$"):
        ff.standardize(y, industry=np.zeros((1, 4), dtype="m8[D]"))
    # the converted durations work, NaT as NaN
    assert_array_equal(ff.rank(x / np.timedelta64(1, "D")), ff.rank(np.array([[1.0, 2.0, 3.0, np.nan]])))


def test_bad_input():
    x = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"weights has shape \(3, 5\), expected \(3, 4\)"):
        ff.standardize(x, weights=np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"industry has shape \(2, 4\), expected \(3, 4\)"):
        ff.winsorize(x, industry=np.zeros((2, 4), dtype=np.int32))
    with pytest.raises(ValueError, match=r"x must be 2-dimensional, got shape \(4,\)"):
        ff.rank(np.ones(4))
    with pytest.raises(TypeError, match="x must be a numeric array"):
        ff.standardize(np.array([["a", "b"]]))
    with pytest.raises(TypeError, match="weights must be a numeric array"):
        ff.standardize(x, weights=np.full((3, 4), "w"))
    with pytest.raises(TypeError, match="industry must be an integer array of industry codes"):
        ff.standardize(x, industry=np.full((3, 4), 0.5))
    with pytest.raises(ValueError, match="method must be one of"):
        ff.winsorize(x, method="zscore")
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="limit must be finite and > 0"):
            ff.winsorize(x, limit=bad)
    with pytest.raises(ValueError, match=r"limit must be in \(0, 0.5\) for method 'quantile'"):
        ff.winsorize(x, method="quantile", limit=0.5)
    with pytest.raises(TypeError, match="limit must be a real number"):
        ff.winsorize(x, limit="3")
    with pytest.raises(ValueError, match="weights is only used by method 'sigma'"):
        ff.winsorize(x, method="mad", weights=np.ones((3, 4)))
    w = np.ones((3, 4))
    w[1, 2] = -1.0
    with pytest.raises(ValueError, match="weights must be non-negative"):
        ff.standardize(x, weights=w)
    w[1, 2] = np.inf
    with pytest.raises(ValueError, match="weights must not contain infinite values"):
        ff.winsorize(x, weights=w)
    g = np.zeros((3, 4), dtype=np.int32)
    g[0, 0] = -2
    with pytest.raises(ValueError, match="industry codes must be >= -1"):
        ff.standardize(x, industry=g)
    with pytest.raises(TypeError, match="gaussian must be True or False"):
        ff.rank(x, gaussian="yes")


def test_core_rejects_bad_shapes_without_panicking():
    import ferrofactor._core as core

    x = np.ones((3, 4))
    with pytest.raises(ValueError, match="weights has shape"):
        core.standardize(x, np.ones((4, 3)), None)
    with pytest.raises(ValueError, match="industry codes must be >= -1"):
        core.winsorize(x, "sigma", 3.0, None, np.full((3, 4), -5, dtype=np.int32))
    with pytest.raises(ValueError, match="method must be one of"):
        core.winsorize(x, "nope", 3.0, None, None)


# ---------------------------------------------------------------------------------------------
# Properties

# realistic magnitudes (exact zeros, 1e-6..1e6 either sign) and missing values; the underflow
# corner (e.g. 1e-200 next to 0) has its own test
_rows = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 4), st.integers(2, 40)),
    elements=st.one_of(
        st.just(0.0), st.floats(1e-6, 1e6), st.floats(-1e6, -1e-6), st.just(np.nan)
    ),
)


@settings(max_examples=60, deadline=None)
@given(x=_rows, data=st.data())
def test_standardize_has_weighted_mean_zero_and_unit_std(x, data):
    w = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(0.1, 100.0)))
    z = ff.standardize(x, weights=w)
    for t in range(x.shape[0]):
        v, zt, wt = x[t], z[t], w[t]
        ok = np.isfinite(v)
        assert_array_equal(np.isnan(zt), ~ok)
        if ok.sum() < 2 or np.ptp(v[ok]) == 0:
            assert np.all(zt[ok] == 0)
            continue
        if np.ptp(v[ok]) < 1e-6 * np.max(np.abs(v[ok])):
            continue  # nearly constant: z-scores are dominated by rounding
        assert abs(np.sum(wt[ok] * zt[ok]) / np.sum(wt[ok])) < 1e-9
        assert abs(np.std(zt[ok], ddof=1) - 1) < 1e-9


@settings(max_examples=60, deadline=None)
@given(x=_rows, method=st.sampled_from(["sigma", "quantile", "mad"]), limit=st.floats(0.01, 0.49))
def test_winsorize_keeps_order_and_range(x, method, limit):
    y = ff.winsorize(x, method, limit)
    assert_array_equal(np.isnan(y), np.isnan(x))
    for t in range(x.shape[0]):
        ok = np.isfinite(x[t])
        if not ok.any():
            continue
        v, u = x[t, ok], y[t, ok]
        order = np.argsort(v, kind="stable")
        assert np.all(np.diff(u[order]) >= 0)  # monotone: clipping never reorders
        slack = 1e-12 * np.max(np.abs(v))  # the mean of nearly equal values may round outside
        assert u.min() >= v.min() - slack and u.max() <= v.max() + slack


@settings(max_examples=60, deadline=None)
@given(x=_rows)
def test_rank_is_in_open_interval_with_mean_half(x):
    r = ff.rank(x)
    for t in range(x.shape[0]):
        ok = np.isfinite(x[t])
        if ok.any():
            assert np.all((r[t, ok] > 0) & (r[t, ok] < 1))
            assert abs(r[t, ok].mean() - 0.5) < 1e-12


# ---------------------------------------------------------------------------------------------
# Fused winsorize + standardize: standardize(x, ..., winsorize=method, limit=...)

FUSED_CASES = [("sigma", 2.0), ("quantile", 0.05), ("mad", 2.5)]


def _two_calls(x, method, limit, w, g):
    wins = ff.winsorize(x, method, limit, weights=(w if method == "sigma" else None), industry=g)
    return ff.standardize(wins, weights=w, industry=g)


def _fused_panel(panel):
    # the shared panel has NaNs, an all-NaN date (helpers.random_panel), a date with a single
    # finite value (4) and a constant group (3); add a zero-dispersion date and an outlier
    x = panel.returns.copy()
    x[7, np.isfinite(x[7])] = 0.25
    x[8, 3] = 50.0
    assert np.isnan(x).all(axis=1).any()
    return x


@pytest.mark.parametrize("method, limit", FUSED_CASES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("use_groups", [False, True])
def test_fused_equals_two_calls_bit_for_bit(panel, method, limit, weighted, use_groups):
    x = _fused_panel(panel)
    w = _weights_with_zero_group(panel) if weighted else None
    g = panel.industry if use_groups else None
    want = _two_calls(x, method, limit, w, g)
    got = ff.standardize(x, weights=w, industry=g, winsorize=method, limit=limit)
    # the same row routines run in the same order, so the result is identical, not just close
    assert got.tobytes() == want.tobytes()
    # and it really winsorised (differs from plain standardize) where there is an outlier
    assert not np.array_equal(got[8], ff.standardize(x, weights=w, industry=g)[8], equal_nan=True)
    # all-NaN dates stay NaN; the zero-dispersion date 7 gives 0 wherever a value is used
    all_nan = np.isnan(x).all(axis=1)
    assert np.isnan(got[all_nan]).all()
    used = np.isfinite(x[7]) & (True if g is None else g[7] >= 0)
    assert_array_equal(got[7][used], 0.0)
    assert np.isnan(got[7][~used]).all()


def test_fused_default_is_plain_standardize(panel):
    w = _weights_with_zero_group(panel)
    a = ff.standardize(panel.returns, weights=w, industry=panel.industry)
    b = ff.standardize(panel.returns, w, panel.industry, None, 3.0)
    assert a.tobytes() == b.tobytes()


def test_fused_identical_with_one_and_two_threads(panel):
    x = _fused_panel(panel)
    w = _weights_with_zero_group(panel)
    calls = [
        lambda m=m, lim=lim, g=g: ff.standardize(x, weights=w, industry=g, winsorize=m, limit=lim)
        for m, lim in FUSED_CASES
        for g in (None, panel.industry)
    ]
    try:
        ff.set_num_threads(1)
        one = [f() for f in calls]
        ff.set_num_threads(2)
        two = [f() for f in calls]
    finally:
        ff.set_num_threads(0)
    for a, b in zip(one, two):
        assert a.tobytes() == b.tobytes()


def test_fused_bad_arguments():
    x = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"winsorize must be one of \['sigma', 'quantile', 'mad'\], got 'zscore'"):
        ff.standardize(x, winsorize="zscore")
    with pytest.raises(ValueError, match="winsorize must be one of"):
        ff.standardize(x, winsorize=True)
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="limit must be finite and > 0"):
            ff.standardize(x, winsorize="mad", limit=bad)
    with pytest.raises(ValueError, match=r"limit must be in \(0, 0.5\) for method 'quantile'"):
        ff.standardize(x, winsorize="quantile", limit=0.5)
    with pytest.raises(TypeError, match="limit must be a real number"):
        ff.standardize(x, winsorize="sigma", limit="3")
    w = np.ones((3, 4))
    w[1, 2] = -1.0
    for method in ("sigma", "mad"):
        with pytest.raises(ValueError, match="weights must be non-negative"):
            ff.standardize(x, weights=w, winsorize=method)
    import ferrofactor._core as core

    with pytest.raises(ValueError, match="method must be one of"):
        core.standardize(x, None, None, "zscore", 3.0)
    with pytest.raises(ValueError, match="limit must be finite and > 0"):
        core.standardize(x, None, None, "sigma", -1.0)


# ---------------------------------------------------------------------------------------------
# Labelled inputs: Polars frames in, frames out; a Panel is refused with the field to take
# ---------------------------------------------------------------------------------------------


def test_frames_in_frames_out_and_the_date_column_is_never_a_value():
    import polars as pl

    dates = np.arange("2024-01-01", 4, dtype="datetime64[D]")
    x = np.array([[1.0, 2.0, 4.0], [3.0, np.nan, 1.0], [0.5, 0.2, 0.1], [9.0, 8.0, 7.0]])
    wide = pl.DataFrame({"date": dates, "A": x[:, 0], "B": x[:, 1], "C": x[:, 2]})
    out = ff.standardize(wide)
    assert isinstance(out, pl.DataFrame) and out.columns == ["date", "A", "B", "C"]
    assert out["date"].to_list() == wide["date"].to_list()  # the dates are labels, not data
    assert_allclose(out.select("A", "B", "C").to_numpy(), ff.standardize(x), rtol=1e-15)
    long = wide.unpivot(index="date", variable_name="asset", value_name="signal")
    out_long = ff.rank(long)
    assert out_long.columns == ["date", "asset", "signal"]
    back = out_long.sort("date", "asset")["signal"].to_numpy().reshape(4, 3)
    assert_allclose(back, ff.rank(x), rtol=1e-15, equal_nan=True)
    # weights as a frame with other labels are refused
    w = pl.DataFrame({"date": dates, "C": np.ones(4), "B": np.ones(4), "A": np.ones(4)})
    with pytest.raises(ValueError, match="different assets"):
        ff.standardize(wide, weights=w)
    # a text column that is not the date is refused, never turned into numbers
    bad = wide.with_columns(pl.lit("x").alias("note"))
    with pytest.raises(ValueError, match="note"):
        ff.standardize(bad)
    # rows newest first: alone, or with frames (labels checked), the output is in date order;
    # with an array that pairs row by row (industry codes here) it is refused, never guessed
    newest = wide.reverse()
    out = ff.standardize(newest, weights=w.select("date", "A", "B", "C").reverse())
    assert out["date"].to_list() == wide["date"].to_list()
    assert_allclose(out.select("A", "B", "C").to_numpy(), ff.standardize(x), rtol=1e-15)
    codes = np.array([[0, 0, 1]] * 4)
    with pytest.raises(ValueError, match="x: the rows of the wide frame are not in date order"):
        ff.standardize(newest, industry=codes)
    assert_allclose(ff.standardize(wide, industry=codes).select("A", "B", "C").to_numpy(),
                    ff.standardize(x, industry=codes), rtol=1e-15)
    # and an array first with a frame out of date order after it
    with pytest.raises(ValueError, match="weights: the rows of the wide frame are not in date order"):
        ff.standardize(x, weights=w.reverse())



def test_pandas_frames_keep_their_labels_and_give_arrays():
    """A pandas DataFrame (DatetimeIndex × tickers) given to the cleaning kernels keeps its labels:
    the frames among x and weights must carry the same dates and assets (a weights frame with
    its columns reversed, or a Polars frame beside it on other assets, was read by position);
    the result stays an array, equal to that of the arrays."""
    import pandas as pd
    import polars as pl

    dates = np.arange("2024-01-01", 4, dtype="datetime64[D]")
    x = np.array([[1.0, 2.0, 4.0], [3.0, np.nan, 1.0], [0.5, 0.2, 0.1], [9.0, 8.0, 7.0]])
    w = np.array([[1.0, 2.0, 3.0]] * 4)
    idx = pd.DatetimeIndex(dates)
    px, pw = pd.DataFrame(x, index=idx, columns=list("ABC")), pd.DataFrame(w, index=idx, columns=list("ABC"))
    for fn in (ff.winsorize, ff.standardize):
        assert_array_equal(fn(px, weights=pw), fn(x, weights=w))
        with pytest.raises(ValueError, match="^weights and x have different assets: position 0 is C in weights"):
            fn(px, weights=pw[["C", "B", "A"]])
        with pytest.raises(ValueError, match="^weights and x have different dates"):
            fn(px, weights=pw.set_axis(idx + pd.Timedelta(days=1)))
    assert_array_equal(ff.rank(px), ff.rank(x))
    assert_array_equal(ff.neutralize(px, weights=pw), ff.neutralize(x, weights=w))
    with pytest.raises(ValueError, match="different assets"):
        ff.neutralize(px, weights=pw[["C", "B", "A"]])
    # beside a Polars frame (which gives a frame back), matched on the labels too
    wide = pl.DataFrame({"date": dates, "A": x[:, 0], "B": x[:, 1], "C": x[:, 2]})
    assert_array_equal(ff.standardize(wide, weights=pw).select("A", "B", "C").to_numpy(), ff.standardize(x, weights=w))
    with pytest.raises(ValueError, match="^weights and x have different assets"):
        ff.standardize(wide, weights=pw[["C", "B", "A"]])
    # the result is an array in the frame's row order: rows out of date order are refused
    with pytest.raises(ValueError, match=r"x \(a pandas DataFrame indexed by date\) is not in date order"):
        ff.standardize(px.iloc[::-1])


def test_industry_frame_without_a_row_names_no_industry():
    """A long industry frame with the rows of a long ``x`` (an asset listed late has no rows
    before its listing) or a wide one with nulls: a missing cell is code -1 (none). It was a
    TypeError calling the Int64 codes "dtype float64"."""
    import pandas as pd
    import polars as pl

    dates = np.arange("2024-01-01", 3, dtype="datetime64[D]")
    x = np.array([[1.0, 2.0, 4.0, np.nan], [3.0, 5.0, 1.0, 2.0], [0.5, 0.2, 0.1, 0.7]])
    codes = np.array([[10, 10, 20, -1], [10, 10, 20, 20], [10, 20, 20, 20]])
    listed = np.isfinite(x)
    t, i = np.nonzero(listed)
    long = pl.DataFrame({"date": dates[t], "asset": np.array(list("ABCD"))[i], "x": x[t, i], "industry": codes[t, i]})
    xl, gl = long.select("date", "asset", "x"), long.select("date", "asset", "industry")
    assert gl.schema["industry"] == pl.Int64
    wide = pl.DataFrame({"date": dates, **{a: codes[:, i] for i, a in enumerate("ABCD")}}).with_columns(
        pl.when(pl.col("date") == dates[0]).then(None).otherwise(pl.col("D")).alias("D"))
    pdg = pd.DataFrame(np.where(listed, codes, np.nan), index=pd.DatetimeIndex(dates), columns=list("ABCD"))
    pdx = pd.DataFrame(x, index=pd.DatetimeIndex(dates), columns=list("ABCD"))
    for g in (gl, wide):
        assert_array_equal(ff.standardize(xl, industry=g)["x"].to_numpy(),
                           ff.standardize(x, industry=codes).ravel())
        assert_array_equal(ff.winsorize(xl, "mad", 1.0, industry=g)["x"].to_numpy(),
                           ff.winsorize(x, "mad", 1.0, industry=codes).ravel())
        assert_array_equal(ff.neutralize(xl, industry=g)["x"].to_numpy(), ff.neutralize(x, industry=codes).ravel())
    assert_array_equal(ff.standardize(pdx, industry=pdg), ff.standardize(x, industry=codes))
    # a non-integral code is still refused
    with pytest.raises(TypeError, match="industry must be an integer array"):
        ff.standardize(xl, industry=gl.with_columns(pl.col("industry") + 0.5))


def test_long_frame_with_integer_ids_joins_back_and_never_pairs_by_position():
    import polars as pl

    # ids 1..12 (e.g. PERMNOs): sorted as text inside ('1', '10', '11', '12', '2', ...)
    dates = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    ids = np.arange(1, 13)
    x = np.arange(24, dtype=float).reshape(2, 12) ** 1.5
    long = pl.DataFrame({"date": np.repeat(dates, 12), "asset": np.tile(ids, 2), "v": x.ravel()})
    out = ff.standardize(long)
    assert out.schema["asset"] == pl.Int64  # as it came in: joinable on (date, asset)
    j = long.join(out, on=["date", "asset"], suffix="_z").sort("date", "asset")
    text = np.argsort(ids.astype(str))  # the order the kernel sees them in
    expected = np.empty_like(x)
    expected[:, text] = ff.standardize(x[:, text])
    np.testing.assert_array_equal(j["v_z"].to_numpy().reshape(2, 12), expected)
    # a (T, N) array cannot say which column is which id: refused, naming it
    w = np.ones((2, 12))
    with pytest.raises(ValueError, match="x: a long frame with integer asset ids .* the array weights"):
        ff.standardize(long, weights=w)
    # as a frame it pairs by (date, asset)
    wl = long.with_columns(pl.lit(1.0).alias("v"))
    np.testing.assert_array_equal(ff.standardize(long, weights=wl).sort("date", "asset")["v"].to_numpy(),
                                  j["v_z"].to_numpy())


def test_a_panel_or_a_masked_array_is_refused_with_what_to_pass():
    p = ff.Panel(["2024-01-01", "2024-01-02"], ["A", "B"], {"returns": np.ones((2, 2))})
    with pytest.raises(TypeError, match=r"x is a Panel; pass one of its fields, e.g. x=panel\['returns'\]"):
        ff.standardize(p)
    m = np.ma.masked_array(np.ones((2, 2)), mask=[[0, 1], [0, 0]])
    with pytest.raises(TypeError, match="masked array"):
        ff.winsorize(m)


def test_gics_codes_work_in_the_cleaning_kernels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 40))
    dense = rng.integers(0, 3, (5, 40))
    gics = np.array([10101010, 15101010, 45102010])[dense]
    assert_array_equal(ff.standardize(x, industry=gics), ff.standardize(x, industry=dense))
    assert_array_equal(ff.winsorize(x, "mad", 1.0, industry=gics), ff.winsorize(x, "mad", 1.0, industry=dense))
    assert_array_equal(ff.neutralize(x, industry=gics), ff.neutralize(x, industry=dense))


def test_unaligned_buffers_are_accepted():
    # e.g. arrays unpickled from another process: contiguous but not 8-byte aligned
    buf = np.zeros(8 * 20 + 1, dtype=np.uint8)
    a = np.frombuffer(buf[1:].data, dtype=np.float64).reshape(4, 5)
    a_copy = np.arange(20.0).reshape(4, 5)
    a[...] = a_copy
    assert not a.flags.aligned
    assert_array_equal(ff.standardize(a), ff.standardize(a_copy))


def test_long_frame_with_unsorted_assets_beside_a_positional_array_is_refused():
    # a long frame's assets come out sorted; weights in the frame's own (unsorted) order used to
    # pair silently with other assets
    rng = np.random.default_rng(4)
    T, N = 5, 4
    names = ["d", "b", "a", "c"]
    dates = np.datetime64("2024-01-01") + np.arange(T)
    x = rng.standard_normal((T, N))
    w = rng.uniform(1, 5, (T, N))

    def long(v):
        return long_frame(v, names, dates)

    with pytest.raises(ValueError, match=r"x: the long frame lists its assets in another order"):
        ff.standardize(long(x), weights=w)
    with pytest.raises(ValueError, match=r"x: the long frame lists its assets in another order"):
        ff.neutralize(long(x), controls=w[:, :, None])
    # frames on both sides are matched on their labels; a lone frame gives a frame back
    out = ff.standardize(long(x), weights=long(w))
    expected = ff.standardize(x, weights=w)
    got = out.pivot(on="asset", index="date", values="value").select(names).to_numpy()
    assert_allclose(got, expected)
    ff.standardize(long(x))
