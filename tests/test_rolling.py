"""ferrofactor.rolling vs ff.baseline (per-window numpy), pandas rolling/ewm, statsmodels OLS.

Panels have gaps, listings (leading NaN) and delistings (trailing NaN). Tolerance: 1e-10 relative
plus a tiny absolute term (1e-13 × the data scale) for values that are sums of terms of both
signs, which can be arbitrarily close to 0 (there the relative error of *any* summation order,
the baseline's included, is unbounded).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ferrofactor as ff
from ferrofactor import baseline as bl


def ragged_returns(T=160, N=23, seed=0, scale=0.02):
    rng = np.random.default_rng(seed)
    x = rng.standard_t(5, size=(T, N)) * scale
    x[rng.random((T, N)) < 0.08] = np.nan  # gaps
    x[: T // 3, 0] = np.nan  # listed late
    x[: T - 10, 1] = np.nan  # listed very late (fewer values than most windows)
    x[2 * T // 3 :, 2] = np.nan  # delisted
    x[:, 3] = np.nan  # never traded
    x[T // 2] = np.nan  # an all-NaN date
    return x


def assert_same(a, b, atol=1e-15):
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=atol)


X = ragged_returns()


@pytest.mark.parametrize("window,min_periods", [(1, 1), (5, 3), (21, None), (63, 10), (500, 2)])
@pytest.mark.parametrize(
    "name,halflife",
    [("rolling_sum", None)]
    + [(n, h) for n in ("rolling_mean", "rolling_var", "rolling_std") for h in (None, 10.0)],
)
def test_moments_vs_baseline(name, window, min_periods, halflife):
    if name == "rolling_sum":
        got = ff.rolling_sum(X, window, min_periods)
        want = bl.rolling_sum(X, window, min_periods)
    else:
        got = getattr(ff, name)(X, window, min_periods, half_life=halflife)
        want = getattr(bl, name)(X, window, min_periods, half_life=halflife)
    assert_same(got, want, atol=1e-13 * 0.02)


@pytest.mark.parametrize("window,min_periods", [(5, 3), (21, 21), (60, 1)])
def test_moments_vs_pandas_rolling(window, min_periods):
    df = pd.DataFrame(X)
    r = df.rolling(window, min_periods=min_periods)
    assert_same(ff.rolling_sum(X, window, min_periods), r.sum().to_numpy(), atol=1e-15)
    assert_same(ff.rolling_mean(X, window, min_periods), r.mean().to_numpy(), atol=1e-15)
    # pandas gives 0 (not NaN) std for a one-value window only when min_periods allows it and ddof
    # = 1 makes it NaN, so the definitions agree everywhere.
    assert_same(ff.rolling_std(X, window, min_periods), r.std().to_numpy(), atol=1e-15)
    assert_same(ff.rolling_var(X, window, min_periods), r.var().to_numpy(), atol=1e-17)


@pytest.mark.parametrize("halflife,min_periods", [(1.0, 1), (10.0, 5), (63.0, 20)])
def test_ewm_vs_pandas_and_baseline(halflife, min_periods):
    e = pd.DataFrame(X).ewm(halflife=halflife, adjust=True, ignore_na=False, min_periods=min_periods)
    mean = ff.ewm_mean(X, halflife, min_periods)
    var = ff.ewm_var(X, halflife, min_periods)
    assert_same(mean, e.mean().to_numpy(), atol=1e-15)
    assert_same(var, e.var(bias=False).to_numpy(), atol=1e-17)
    assert_same(ff.ewm_std(X, halflife, min_periods), e.std(bias=False).to_numpy(), atol=1e-15)
    assert_same(mean, bl.ewm_mean(X, halflife, min_periods), atol=1e-15)
    assert_same(var, bl.ewm_var(X, halflife, min_periods), atol=1e-17)


def test_ewm_with_window_vs_baseline():
    got = ff.ewm_std(X, 21.0, 10, window=63)
    assert_same(got, bl.ewm_std(X, 21.0, 10, window=63), atol=1e-15)
    assert_same(got, ff.rolling_std(X, 63, 10, half_life=21.0))


def test_std_no_catastrophic_cancellation():
    # A price-like series far from 0 with small dispersion, drifting across windows.
    rng = np.random.default_rng(5)
    T = 3000
    x = (1e6 + np.cumsum(rng.normal(0, 1.0, size=(T, 3)), axis=0)).copy()
    x[rng.random(x.shape) < 0.05] = np.nan
    got = ff.rolling_std(x, 40, 20)
    want = bl.rolling_std(x, 40, 20)
    assert_same(got, want)
    want_pd = pd.DataFrame(x).rolling(40, min_periods=20).std().to_numpy()
    # pandas' online add/remove algorithm itself drifts here (relative ~2e-7 against the exact
    # per-window baseline, which we match to 1e-10): only a loose check against pandas.
    np.testing.assert_allclose(got, want_pd, rtol=1e-5)
    got_e = ff.ewm_std(x, 30.0, 5)
    assert_same(got_e, bl.ewm_std(x, 30.0, 5))


@pytest.mark.parametrize("halflife", [None, 21.0])
def test_beta_vs_baseline(halflife):
    rng = np.random.default_rng(2)
    T, N = X.shape
    m = rng.normal(0, 0.01, T)
    m[7] = np.nan
    x = X + np.linspace(-0.5, 2.0, N) * m[:, None]
    b, r = ff.rolling_beta(x, m, window=63, min_periods=20, half_life=halflife)
    bb, rb = bl.rolling_beta(x, m, window=63, min_periods=20, half_life=halflife)
    assert_same(b, bb, atol=1e-12)
    assert_same(r, rb, atol=1e-15)


@pytest.mark.parametrize("halflife", [None, 63.0])
def test_beta_of_a_flat_market_is_nan_in_the_baseline_too(halflife):
    # a market whose values in the window are all equal has no variance: the kernel gives NaN
    # (as documented); the baseline's Σw(m − m̄)² was rounding (m̄ ≠ 0.01 by an ulp), > 0, and
    # gave beta 1.0 and residual volatility 0, an oracle that would fail the right answer
    r = np.full((100, 2), np.nan)
    r[np.arange(0, 100, 2)[:28], :] = 0.01
    r[np.arange(1, 100, 2)[:27], 0] = 0.01
    m = np.where(np.isfinite(r).any(axis=1), 0.01, np.nan)
    m[:3] = [0.02, -0.01, 0.0]  # the market moves in the first windows only
    b, rv = ff.rolling_beta(r, m, window=40, min_periods=2, half_life=halflife)
    bb, rvb = bl.rolling_beta(r, m, window=40, min_periods=2, half_life=halflife)
    assert np.isnan(bb[42:]).all() and np.isnan(rvb[42:]).all()
    assert_same(b, bb, atol=1e-12)
    assert_same(rv, rvb, atol=1e-15)
    assert np.isfinite(bb[2:42, 0]).all()


@pytest.mark.parametrize("halflife", [None, 5.0, 22.45, 63.0])
def test_beta_on_a_stale_market_is_nan_not_a_ratio_of_roundings(halflife):
    # the market varies for 10 dates, then repeats 0.013 with gaps; the returns vary. Once every
    # pair of the window has the market at 0.013 it has no variance: beta and residual volatility
    # are NaN (documented). With a half-life the kernel's shift at the mean of the repeated value
    # (an ulp off it) left a rounded variance > 0, and betas like -2e15
    rng = np.random.default_rng(0)
    T = 160
    m = np.where(np.arange(T) < 10, rng.normal(0, 0.01, T), 0.013)
    m[3::7] = np.nan
    x = rng.normal(0, 0.02, (T, 3))
    x[rng.random((T, 3)) < 0.3] = np.nan
    b, rv = ff.rolling_beta(x, m, window=30, min_periods=2, half_life=halflife)
    assert np.isnan(b[39:]).all() and np.isnan(rv[39:]).all()
    bb, rvb = bl.rolling_beta(x, m, window=30, min_periods=2, half_life=halflife)
    assert_same(b, bb, atol=1e-12)
    assert_same(rv, rvb, atol=1e-15)
    assert np.isfinite(b[5:39]).any()


def test_beta_vs_statsmodels_one_window():
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    T = 100
    m = rng.normal(0, 0.01, T)
    x = (0.0002 + 1.3 * m + rng.normal(0, 0.015, T))[:, None].copy()
    x[[4, 50, 90]] = np.nan
    b, r = ff.rolling_beta(x, m, window=60, min_periods=30)
    sl = slice(T - 60, T)
    ok = np.isfinite(x[sl, 0])
    fit = sm.OLS(x[sl, 0][ok], sm.add_constant(m[sl][ok])).fit()
    assert b[-1, 0] == pytest.approx(fit.params[1], rel=1e-10)
    assert r[-1, 0] == pytest.approx(np.sqrt(fit.mse_resid), rel=1e-10)
    # weighted: statsmodels WLS with weights 0.5**(lag/h); resid_vol = sqrt(Σw e²/Σw · n/(n−2))
    b, r = ff.rolling_beta(x, m, window=60, min_periods=30, half_life=15.0)
    w = 0.5 ** ((T - 1 - np.arange(T - 60, T)) / 15.0)
    fit = sm.WLS(x[sl, 0][ok], sm.add_constant(m[sl][ok]), weights=w[ok]).fit()
    n = ok.sum()
    assert b[-1, 0] == pytest.approx(fit.params[1], rel=1e-10)
    rv = np.sqrt(np.sum(w[ok] * fit.resid**2) / w[ok].sum() * n / (n - 2))
    assert r[-1, 0] == pytest.approx(rv, rel=1e-10)


@pytest.mark.parametrize("window,skip,mp", [(1, 0, None), (21, 0, 15), (63, 21, 30), (150, 21, None)])
def test_compounded_return_vs_baseline(window, skip, mp):
    got = ff.compounded_return(X, window, skip, mp)
    assert_same(got, bl.compounded_return(X, window, skip, mp), atol=1e-14)


def test_compounded_return_hand_worked_and_pandas():
    r = np.array([[0.1], [0.2], [np.nan], [-0.5], [0.3]])
    c = ff.compounded_return(r, window=4, skip=1, min_periods=1)
    # at t=4: returns[1..3] = 0.2, NaN (no change), -0.5 → 1.2 * 0.5 - 1
    assert c[4, 0] == pytest.approx(-0.4, rel=1e-14)
    assert np.isnan(c[0, 0])
    # pandas: rolling product of (1 + r) shifted by the skip
    g = pd.DataFrame(1 + np.nan_to_num(X)).rolling(42).apply(np.prod, raw=True).shift(21) - 1
    cnt = pd.DataFrame(np.isfinite(X).astype(float)).rolling(42).sum().shift(21)
    want = np.where(cnt.to_numpy() >= 42, g.to_numpy(), np.nan)
    assert_same(ff.compounded_return(X, 63, 21), want, atol=1e-14)


@pytest.mark.parametrize("window,mp", [(1, 1), (10, 5), (63, None), (400, 1)])
def test_max_drawdown_vs_baseline(window, mp):
    got = ff.max_drawdown(X, window, mp)
    assert_same(got, bl.max_drawdown(X, window, mp), atol=1e-14)
    ok = np.isfinite(got)
    assert np.all((got[ok] >= 0) & (got[ok] <= 1))


def test_max_drawdown_hand_worked():
    r = np.array([[0.1], [-0.5], [0.2], [-0.1], [1.0]])
    dd = ff.max_drawdown(r, window=5, min_periods=1)
    # wealth 1, 1.1, .55, .66, .594, 1.188: the worst is .55/1.1 - 1 = -50 %
    assert dd[4, 0] == pytest.approx(0.5, rel=1e-14)
    assert dd[0, 0] == 0.0  # a gain is no drawdown
    # the starting value counts as a peak: a loss on the first day is a drawdown
    assert ff.max_drawdown(np.array([[-0.2]]), 1, 1)[0, 0] == pytest.approx(0.2, rel=1e-14)
    assert ff.max_drawdown(np.array([[0.1], [-1.0], [0.5]]), 3, 1)[2, 0] == 1.0


def test_threads_identical():
    rng = np.random.default_rng(9)
    x = ragged_returns(T=300, N=101, seed=9)
    m = rng.normal(0, 0.01, 300)

    def everything():
        return [
            ff.rolling_std(x, 63, 20),
            ff.rolling_mean(x, 63, 20, half_life=21.0),
            ff.ewm_var(x, 30.0),
            *ff.rolling_beta(x, m, 63, 20, half_life=21.0),
            ff.compounded_return(x, 126, 21, 50),
            ff.max_drawdown(x, 63, 20),
        ]

    try:
        ff.set_num_threads(1)
        one = everything()
        ff.set_num_threads(2)
        two = everything()
    finally:
        ff.set_num_threads(0)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_dates_added_later_never_change_the_past():
    # A window at least as long as the data is not the full history: the values on the first
    # rows must be those of the same rows in a longer panel, bit for bit (a kernel switch on the
    # panel's length changed them in the last bits, so a growing daily panel rewrote its past).
    rng = np.random.default_rng(11)
    x = rng.normal(0.0005, 0.02, (400, 30))
    x[rng.random(x.shape) < 0.05] = np.nan
    cases = {
        "rolling_sum": lambda a: ff.rolling_sum(a, 252, 200),
        "rolling_mean": lambda a: ff.rolling_mean(a, 252, 200),
        "rolling_std": lambda a: ff.rolling_std(a, 252, 200),
        "rolling_var hl": lambda a: ff.rolling_var(a, 252, 200, half_life=42.0),
        "ewm_var window": lambda a: ff.ewm_var(a, 42.0, 1, window=252),
        "ewm_std window": lambda a: ff.ewm_std(a, 10.0, 1, window=600),
        "compounded_return": lambda a: ff.compounded_return(a, 252, 21, 150),
        "rolling_beta": lambda a: ff.rolling_beta(a, np.nanmean(x, axis=1)[: a.shape[0]], 252, 150)[0],
        "volatility": lambda a: ff.descriptors.volatility(a),
    }
    for name, fn in cases.items():
        full = fn(x)
        for c in (120, 250, 251, 252, 253, 300):
            part = fn(np.ascontiguousarray(x[: c + 1]))
            np.testing.assert_array_equal(part, full[: c + 1], err_msg=f"{name} cut at {c}")


def test_input_conversion():
    x32 = X.astype(np.float32)
    assert_same(ff.rolling_mean(x32, 5, 3), bl.rolling_mean(x32.astype(float), 5, 3))
    xf = np.asfortranarray(X)
    np.testing.assert_array_equal(ff.rolling_std(xf, 5, 3), ff.rolling_std(X, 5, 3))
    xi = np.arange(12).reshape(6, 2)
    np.testing.assert_array_equal(ff.rolling_sum(xi, 2), bl.rolling_sum(xi.astype(float), 2))
    assert ff.rolling_sum(np.zeros((0, 3)), 2).shape == (0, 3)


def test_timedelta64_is_refused():
    # numpy counts timedelta64 as integers: NaT became -9.2e18 and rolling_mean returned -4.6e18
    x = np.array([[1], [2], [3], [4]], dtype="m8[D]")
    x[3, 0] = np.timedelta64("NaT")
    with pytest.raises(TypeError, match=r"^x must be a numeric array, got dtype timedelta64\[D\] \(durations "
                                        r"are not numbers"):
        ff.rolling_mean(x, 2)
    with pytest.raises(TypeError, match=r"^market must be a numeric array, got dtype timedelta64\[D\]"):
        ff.rolling_beta(X, np.zeros(len(X), dtype="m8[D]"))
    # a duration as a window is not a count of rows (np.timedelta64 is a numbers.Integral)
    with pytest.raises(TypeError, match=r"^window must be an integer, got np.timedelta64\(2,'D'\)$"):
        ff.rolling_mean(X, np.timedelta64(2, "D"))
    with pytest.raises(TypeError, match=r"^half_life must be"):
        ff.ewm_mean(X, np.timedelta64(5, "D"))


def test_bad_input():
    with pytest.raises(ValueError, match="x must be 2-dimensional"):
        ff.rolling_mean(np.zeros(5), 3)
    with pytest.raises(TypeError, match="x must be a numeric array"):
        ff.rolling_mean(np.array([["a", "b"]]), 1)
    with pytest.raises(ValueError, match="window must be >= 1"):
        ff.rolling_std(X, 0)
    with pytest.raises(TypeError, match="window must be an integer"):
        ff.rolling_std(X, 2.5)
    with pytest.raises(ValueError, match=r"min_periods \(10\) must be <= window \(5\)"):
        ff.rolling_std(X, 5, 10)
    with pytest.raises(ValueError, match="half_life must be a positive"):
        ff.rolling_mean(X, 5, half_life=-1.0)
    with pytest.raises(ValueError, match="half_life must be a positive"):
        ff.ewm_mean(X, 0.0)
    with pytest.raises(ValueError, match=r"market has shape \(3,\), expected \(160,\)"):
        ff.rolling_beta(X, np.zeros(3))
    with pytest.raises(ValueError, match=r"skip \(21\) must be < window \(21\)"):
        ff.compounded_return(X, 21, 21)
    with pytest.raises(ValueError, match=r"window - skip"):
        ff.compounded_return(X, 30, 20, min_periods=11)
    with pytest.raises(ValueError, match="returns must be simple returns >= -1"):
        ff.max_drawdown(np.array([[0.1], [-1.5]]), 2)
    with pytest.raises(ValueError, match="returns must be simple returns >= -1"):
        ff.compounded_return(np.array([[0.1], [np.inf]]), 2)
    # rolling_beta's inputs are returns too: an infinite one is refused (it was skipped as missing)
    bad = X.copy()
    bad[50, 2] = np.inf
    with pytest.raises(ValueError, match=r"returns must not contain infinite values \(1 found"):
        ff.rolling_beta(bad, X.mean(axis=1), 20)
    with pytest.raises(ValueError, match=r"market must not contain infinite values \(1 found"):
        ff.rolling_beta(X, np.where(np.arange(len(X)) == 50, -np.inf, X.mean(axis=1)), 20)


def test_rolling_beta_market_indexed_by_date_pairs_by_date():
    # a market Series indexed by date was read by position: reordered (or on other dates) it
    # gave other betas with no error. Beside returns with dates (a Polars frame, a pandas frame
    # indexed by date) it must carry them, in their order; else it is read in its order, which
    # must be date order (never sorted)
    import polars as pl

    rng = np.random.default_rng(4)
    T, N = 120, 3
    m = rng.normal(0, 0.01, T)
    x = rng.normal(0, 0.01, (T, N)) + np.array([0.5, 1.0, 1.5]) * m[:, None]
    dates = np.busday_offset(np.datetime64("2022-01-03"), np.arange(T), roll="forward")
    idx = pd.DatetimeIndex(dates)
    ms = pd.Series(m, index=idx)
    want = ff.rolling_beta(x, m, window=40)
    frame = pl.DataFrame({"date": dates, **{f"A{j}": x[:, j] for j in range(N)}})
    for returns in (x, frame, pd.DataFrame(x, index=idx)):
        got = ff.rolling_beta(returns, ms, window=40)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    for returns in (frame, pd.DataFrame(x, index=idx)):
        with pytest.raises(ValueError, match=rf"^market and returns have different dates: position 0 is {dates[-1]} "
                                             rf"in market but {dates[0]} in returns \({T} positions differ\); market "
                                             r"is paired with returns by date"):
            ff.rolling_beta(returns, ms.iloc[::-1], window=40)
        with pytest.raises(ValueError, match="^market and returns have different dates"):
            ff.rolling_beta(returns, pd.Series(m, index=idx + pd.Timedelta(days=1)), window=40)
    with pytest.raises(ValueError, match=r"^market \(a pandas Series indexed by date\) is not in date order"):
        ff.rolling_beta(x, ms.iloc[::-1], window=40)
    # the descriptor wrappers go through rolling_beta
    with pytest.raises(ValueError, match=r"^market \(a pandas Series indexed by date\) is not in date order"):
        ff.descriptors.beta(x, ms.iloc[::-1], window=40)
    np.testing.assert_array_equal(ff.descriptors.residual_volatility(frame, ms, window=40),
                                  ff.descriptors.residual_volatility(x, m, window=40))
    # the default index stays positional, as an array
    np.testing.assert_array_equal(ff.rolling_beta(x, pd.Series(m), window=40)[0], want[0])


@pytest.mark.parametrize("level,spread,T,half_life", [(1e4, 1e-4, 500, 20.0), (100.0, 1e-9, 3000, 500.0),
                                                     (-3e6, 0.5, 400, 1e9)])
def test_expanding_ewm_var_of_a_level_far_beyond_its_spread(level, spread, T, half_life):
    # The full-history path summed the unshifted values: each update rounded the mean by
    # ε·level, which cost the variance ε·level/spread of itself (2e-8, 1e-5 here) where the
    # windowed path, shifted, keeps 1e-15. Oracle: pandas on the series less its first value
    # (exact here), and the windowed path.
    rng = np.random.default_rng(11)
    x = level + spread * rng.standard_normal(T)
    x[rng.random(T) < 0.05] = np.nan
    ref = pd.Series(x - x[0]).ewm(halflife=half_life).var().to_numpy()
    got = ff.ewm_var(x[:, None], half_life)[:, 0]
    ok = np.isfinite(ref)
    np.testing.assert_array_equal(np.isfinite(got), ok)
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-12)
    np.testing.assert_allclose(ff.ewm_std(x[:, None], half_life)[ok, 0], np.sqrt(ref[ok]), rtol=1e-12)
    np.testing.assert_allclose(got[ok], ff.ewm_var(x[:, None], half_life, window=T)[ok, 0], rtol=1e-12)


def test_max_drawdown_of_a_tiny_dip_late_in_a_long_rising_history():
    # Log-wealth summed from the first date carries ε·|log W| (12 at the end here) in each
    # value: a drawdown of 1e-9 came out 8e-8 off. Oracle: exact compounding with fractions.
    from fractions import Fraction

    T, w = 6000, 21
    r = np.full(T, 0.002)
    dips = [150, 2000, 4321, 5990]
    r[dips] = -1e-9
    r[3000] = np.nan
    got = ff.max_drawdown(r[:, None], w, 1)[:, 0]

    def exact(win):
        wealth, peak, dd = Fraction(1), Fraction(1), Fraction(0)
        for v in win[np.isfinite(win)]:
            wealth *= 1 + Fraction(float(v))
            peak = max(peak, wealth)
            dd = max(dd, 1 - wealth / peak)
        return float(dd)

    for t in [d + k for d in dips for k in (0, 3, w - 1)] + [3005]:
        if t < T:
            assert got[t] == pytest.approx(exact(r[t - w + 1 : t + 1]), rel=1e-14, abs=0.0), t
    assert got[120] == 0.0  # a window that only rises
