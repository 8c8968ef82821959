"""Signal evaluation (ff.evaluate): independent oracles (numpy loops, scipy's spearmanr/pearsonr/
rankdata, pandas' qcut and corrwith, statsmodels' HAC), hand-worked cases, the look-ahead
perturbations of issue 12, the residual evaluation, labels and frames, threads, bad input, plots.
(The comparison with alphalens-reloaded is in test_evaluate_alphalens.py.)"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

import ferrofactor as ff
from ferrofactor.evaluate import SignalEvaluation, QuantileReturns

H = (1, 3, 5)


def make_panel(T=90, N=50, seed=1, informative=True):
    """Returns with gaps, a signal with ties and missing values that carries some information
    about the next return, groups with a code outside any group."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 0.02, (T, N))
    nxt = np.vstack([r[1:], np.zeros((1, N))])
    sig = np.round((0.3 * nxt / 0.02 if informative else 0.0) + rng.normal(size=(T, N)), 1)
    sig[rng.random((T, N)) < 0.08] = np.nan
    r[rng.random((T, N)) < 0.03] = np.nan
    g = rng.integers(0, 4, (T, N)) * 10 + 100  # codes 100..130: not positions
    g[rng.random((T, N)) < 0.05] = -1
    w = rng.uniform(0.5, 2.0, (T, N))
    return r, sig, g, w


# ---------------------------------------------------------------------------------------------
# Oracles
# ---------------------------------------------------------------------------------------------


def forward_oracle(r, h):
    # the product in extended precision: in float64, Π(1 + r) − 1 rounds every return to a
    # multiple of ε before the subtraction (the kernel compounds without that loss)
    T, N = r.shape
    out = np.full((T, N), np.nan)
    for t in range(T - h):
        out[t] = np.prod(1.0 + r[t + 1:t + h + 1].astype(np.longdouble), axis=0) - 1.0  # NaN propagates
    return out


def ic_oracle(x, y, method, groups=None, weights=None):
    """Per-date IC with scipy: pairs with finite x and y (and a group / a weight)."""
    T = x.shape[0]
    out = np.full(T, np.nan)
    for t in range(T):
        m = np.isfinite(x[t]) & np.isfinite(y[t])
        if groups is not None:
            m &= groups[t] >= 0
        if weights is not None:
            m &= np.isfinite(weights[t])
        if m.sum() < 2:
            continue
        xs, ys = x[t, m], y[t, m].copy()
        ws = None if weights is None else weights[t, m]
        if groups is not None:
            gs = groups[t, m]
            for c in np.unique(gs):
                k = gs == c
                ys[k] -= np.average(ys[k], weights=None if ws is None else ws[k])
        if ws is None:
            if np.ptp(xs) == 0 or np.ptp(ys) == 0:
                continue
            out[t] = (stats.spearmanr(xs, ys)[0] if method == "spearman" else stats.pearsonr(xs, ys)[0])
        else:
            if method == "spearman":
                xs, ys = stats.rankdata(xs), stats.rankdata(ys)
            c = np.cov(xs, ys, aweights=ws)
            out[t] = c[0, 1] / np.sqrt(c[0, 0] * c[1, 1])
    return out


# ---------------------------------------------------------------------------------------------
# Forward returns
# ---------------------------------------------------------------------------------------------


def test_forward_returns_by_hand():
    r = np.array([[0.1, 0.0], [0.2, np.nan], [-0.5, 0.1], [0.0, 0.2]])
    f = ff.evaluate.forward_returns(r, horizons=(1, 2))
    assert f.shape == (2, 4, 2)
    np.testing.assert_allclose(f[0, :, 0], [0.2, -0.5, 0.0, np.nan])
    np.testing.assert_allclose(f[1, :, 0], [1.2 * 0.5 - 1, -0.5, np.nan, np.nan])
    np.testing.assert_allclose(f[1, :, 1], [np.nan, 1.1 * 1.2 - 1, np.nan, np.nan])


def test_forward_returns_equal_numpy_loop():
    r, *_ = make_panel()
    f = ff.evaluate.forward_returns(r, H)
    for k, h in enumerate(H):
        # (atol: an ε of the returns, ~2 %, where a multi-date return cancels to near 0)
        np.testing.assert_allclose(f[k], forward_oracle(r, h), rtol=1e-14, atol=2e-17)
        assert np.array_equal(np.isnan(f[k]), np.isnan(forward_oracle(r, h)))


def test_small_returns_keep_their_digits():
    # returns in any unit: the one-date forward return is the return itself, and scaling the
    # returns leaves the ICs and the (scaled) quantile returns unchanged. Before, Π(1 + r) − 1
    # rounded each return to a multiple of ε: returns of 1e-10 came back with 4 digits and their
    # IC moved in the third decimal
    r, sig, g, w = make_panel()
    for c in (1e-6, 1e-10):
        f = ff.evaluate.forward_returns(r * c, (1, 3))
        np.testing.assert_array_equal(f[0, :-1], r[1:] * c)
        # (the oracle exp(Σ log(1 + r)) − 1: a product of 1 + r even in extended precision
        # rounds returns of 1e-12 to 1e-8 of themselves)
        logs = np.log1p(r * c)
        want = np.full_like(r, np.nan)
        want[:-3] = np.expm1(logs[1:-2] + logs[2:-1] + logs[3:])
        np.testing.assert_allclose(f[1], want, rtol=1e-14, atol=2e-17 * c)
        for method in ("spearman", "pearson"):
            # (the one-date horizon: compounding over longer ones is not linear in c)
            a = ff.evaluate.evaluate(sig, r * c, horizons=(1, 3), method=method, industry=g, weights=w)
            b = ff.evaluate.evaluate(sig, r, horizons=(1, 3), method=method, industry=g, weights=w)
            np.testing.assert_allclose(a.ic[:, 0], b.ic[:, 0], rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(a.mean_returns[:, 0] / c, b.mean_returns[:, 0], rtol=1e-12)


def test_pearson_ic_of_any_magnitude():
    # the Pearson IC is invariant to the scale of the signal: before, a signal around 1e160 had
    # its sums of squares overflow to inf and an IC of 0 on every date (silently), and one
    # around 1e-160 or 1e-200 lost bits or gave NaN (the squares underflowed)
    r, sig, g, w = make_panel()
    for industry, weights in ((None, None), (g, w)):
        want = ff.evaluate.information_coefficient(sig, r, (1, 3), method="pearson", industry=industry,
                                                   weights=weights)
        for c in (1e160, 1e-160, 1e-200):
            got = ff.evaluate.information_coefficient(sig * c, r, (1, 3), method="pearson",
                                                      industry=industry, weights=weights)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


def test_forward_returns_frames_and_panel():
    r, *_ = make_panel(T=12, N=4)
    dates = np.arange("2024-01-01", 12, dtype="datetime64[D]")
    assets = ["a", "b", "c", "d"]
    wide = pl.DataFrame({"date": dates, **{a: r[:, i] for i, a in enumerate(assets)}})
    out = ff.evaluate.forward_returns(wide, horizons=(1, 3))
    assert out.columns == ["date", "asset", "1", "3"]
    assert out.height == 48
    row = out.filter((pl.col("date") == dates[2]) & (pl.col("asset") == "c"))
    want = forward_oracle(r, 3)[2, 2]
    got = row["3"][0]
    assert (np.isnan(want) and got is None or np.isnan(got)) or np.isclose(got, want, rtol=1e-14)
    panel = ff.Panel(dates, assets, {"returns": r})
    np.testing.assert_array_equal(ff.evaluate.forward_returns(panel, (2,)), ff.evaluate.forward_returns(r, (2,)))


def test_forward_returns_of_a_wide_frame_out_of_date_order():
    # the result is a frame labelled with the dates, so the rows are put in date order (before,
    # this was refused with a message saying the frame is "given back as an array")
    r, *_ = make_panel(T=12, N=4)
    dates = np.arange("2024-01-01", 12, dtype="datetime64[D]")
    wide = pl.DataFrame({"date": dates, **{a: r[:, i] for i, a in enumerate("abcd")}})
    want = ff.evaluate.forward_returns(wide, horizons=(1, 3))
    for shuffled in (wide.reverse(), wide.sample(fraction=1.0, shuffle=True, seed=3)):
        got = ff.evaluate.forward_returns(shuffled, horizons=(1, 3))
        assert got.equals(want)


# ---------------------------------------------------------------------------------------------
# IC
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["spearman", "pearson"])
@pytest.mark.parametrize("grouped", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_ic_equals_scipy(method, grouped, weighted):
    r, sig, g, w = make_panel()
    groups = g if grouped else None
    weights = w if weighted else None
    ic = ff.evaluate.information_coefficient(sig, r, H, method=method, industry=groups, weights=weights)
    assert ic.shape == (r.shape[0], len(H))
    for k, h in enumerate(H):
        want = ic_oracle(sig, forward_oracle(r, h), method, groups, weights)
        np.testing.assert_array_equal(np.isnan(ic[:, k]), np.isnan(want))
        np.testing.assert_allclose(ic[:, k], want, rtol=1e-10, atol=1e-14)
    assert np.nanmean(ic[:, 0]) > 0.1  # the panel's signal is informative at h = 1


def test_ic_by_hand_ties_and_too_few_assets():
    sig = np.array([[1.0, 2.0, 2.0, 3.0], [1.0, np.nan, np.nan, np.nan], [5.0, 5.0, 5.0, 5.0]])
    r = np.array([[0.0, 0.0, 0.0, 0.0], [0.02, 0.01, 0.03, 0.04], [0.0, 0.0, 0.0, 0.0]])
    ic = ff.evaluate.information_coefficient(sig, r, (1,))
    rx, ry = np.array([1, 2.5, 2.5, 4]), np.array([2, 1, 3, 4.0])
    assert ic[0, 0] == pytest.approx(np.corrcoef(rx, ry)[0, 1], rel=1e-14)
    assert np.isnan(ic[1, 0])  # a single asset
    assert np.isnan(ic[2, 0])  # past the end


# ---------------------------------------------------------------------------------------------
# Quantiles, turnover, autocorrelation
# ---------------------------------------------------------------------------------------------


def test_quantile_labels_equal_pandas_qcut_per_date_and_group():
    pd = pytest.importorskip("pandas")
    r, sig, g, w = make_panel()
    qr = ff.evaluate.quantile_returns(sig, r, 4, horizons=(1,), industry=g, binning_by_industry=True)
    for t in range(sig.shape[0]):
        for c in np.unique(g[t][g[t] >= 0]):
            m = (g[t] == c) & np.isfinite(sig[t])
            if not m.any():
                continue
            try:
                want = pd.qcut(sig[t, m], 4, labels=False)
            except ValueError:  # repeated edges: no quantiles for this date and group
                want = np.full(m.sum(), -1)
            np.testing.assert_array_equal(qr.labels[t, m], want)
        assert np.all(qr.labels[t, (g[t] < 0) | np.isnan(sig[t])] == -1)


def test_weighted_quantile_returns_equal_numpy():
    r, sig, g, w = make_panel()
    for groups in (None, g):
        qr = ff.evaluate.quantile_returns(sig, r, 5, horizons=H, industry=groups, weights=w)
        labels = qr.labels
        for k, h in enumerate(H):
            fwd = forward_oracle(r, h)
            for t in range(0, sig.shape[0], 7):
                m = (labels[t] >= 0) & np.isfinite(fwd[t])
                if not m.any():
                    continue
                y = fwd[t].copy()
                if groups is None:
                    y[m] -= np.average(y[m], weights=w[t, m])
                else:
                    for c in np.unique(g[t, m]):
                        kk = m & (g[t] == c)
                        y[kk] -= np.average(y[kk], weights=w[t, kk])
                for q in range(5):
                    kk = m & (labels[t] == q)
                    want = np.average(y[kk], weights=w[t, kk]) if kk.any() else np.nan
                    got = qr.by_date[t, q, k]
                    assert (np.isnan(want) and np.isnan(got)) or got == pytest.approx(want, rel=1e-10, abs=1e-15)
                    assert qr.counts[t, q, k] == kk.sum()


def test_quantile_means_and_standard_errors_over_dates():
    r, sig, g, w = make_panel()
    qr = ff.evaluate.quantile_returns(sig, r, 5, horizons=H)
    with np.errstate(invalid="ignore"):
        n = np.isfinite(qr.by_date).sum(axis=0)
        np.testing.assert_allclose(qr.mean_returns, np.nanmean(qr.by_date, axis=0), rtol=1e-12)
        np.testing.assert_allclose(qr.std_errors, np.nanstd(qr.by_date, axis=0, ddof=1) / np.sqrt(n), rtol=1e-12)
    np.testing.assert_allclose(qr.spread, qr.by_date[:, 4] - qr.by_date[:, 0], rtol=0, atol=0)
    assert np.all(qr.mean_returns[4] > qr.mean_returns[0])  # informative signal: top beats bottom


def test_turnover_and_autocorrelation_equal_set_and_pandas_oracles():
    pd = pytest.importorskip("pandas")
    r, sig, g, w = make_panel()
    labels = ff.evaluate.quantile_returns(sig, r, 5, horizons=(1,)).labels
    for lag in (1, 4):
        tv = ff.evaluate.quantile_turnover(sig, 5, lag)
        for t in range(sig.shape[0]):
            for q in range(5):
                now = set(np.flatnonzero(labels[t] == q))
                before = set(np.flatnonzero(labels[t - lag] == q)) if t >= lag else set()
                want = len(now - before) / len(now) if now and before else np.nan
                assert (np.isnan(want) and np.isnan(tv[t, q])) or tv[t, q] == want
        ac = ff.evaluate.rank_autocorrelation(sig, lag)
        ranks = pd.DataFrame(sig).rank(axis=1)
        want = ranks.corrwith(ranks.shift(lag), axis=1).to_numpy()
        np.testing.assert_allclose(ac, want, rtol=1e-12, atol=1e-15)
        assert np.array_equal(np.isnan(ac), np.isnan(want))


def test_factor_weighted_returns_by_hand():
    sig = np.array([[1.0, 2.0, 3.0, 6.0], [np.nan] * 4])
    r = np.array([[0.0] * 4, [0.1, -0.1, 0.2, 0.5]])
    got = ff.evaluate.factor_weighted_returns(sig, r, (1,))
    # weights (-2, -1, 0, 3) / 6
    assert got[0, 0] == pytest.approx((-0.2 + 0.1 + 1.5) / 6, rel=1e-14)
    assert np.isnan(got[1, 0])
    # group neutral, groups {0, 1} and {2, 3}: within them (-.5, .5) / 1 and (-1.5, 1.5) / 3,
    # then over the date / 2: (-.25, .25, -.25, .25)
    got = ff.evaluate.factor_weighted_returns(sig, r, (1,), industry=np.array([[0, 0, 1, 1]] * 2))
    assert got[0, 0] == pytest.approx(0.25 * (-0.1 - 0.1 - 0.2 + 0.5), rel=1e-14)


@pytest.mark.parametrize("value", [0.1, 0.5, 1.1035213301, -1.3478837634])
def test_factor_weighted_book_constant_signal_has_no_weight(value):
    # An industry whose signal is one value on a date has no dispersion: it gets no weight in the
    # neutral book, and a date whose whole signal is one value has a book of 0. The mean of
    # equal values, summed then divided, can be 1 ulp off (3 × 0.1 / 3 is not 0.1); the gross
    # normalisation blew that rounding up to a full weight (industry 1 all short, the book -0.245
    # instead of 0.01), so the book's return depended on the last bit of the signal.
    sig = np.array([[1.0, 2.0, 3.0, value, value, value], [np.nan] * 6])
    r = np.array([[np.nan] * 6, [0.01, 0.02, 0.03, 0.5, 0.5, 0.5]])
    ind = np.array([[0, 0, 0, 1, 1, 1]] * 2)
    want = ff.evaluate.factor_weighted_returns(sig[:, :3], r[:, :3], (1,))[0, 0]
    assert want == pytest.approx(0.01, rel=1e-14)
    got = ff.evaluate.factor_weighted_returns(sig, r, (1,), industry=ind)[0, 0]
    assert got == pytest.approx(want, rel=1e-14)
    ev = ff.evaluate.evaluate(sig, r, horizons=(1,), quantiles=2, industry=ind)
    assert ev.factor_returns[0, 0] == pytest.approx(want, rel=1e-14)
    flat = np.array([[value] * 6, [np.nan] * 6])
    assert ff.evaluate.factor_weighted_returns(flat, r, (1,))[0, 0] == 0.0
    assert ff.evaluate.evaluate(flat, r, horizons=(1,), quantiles=1).factor_returns[0, 0] == 0.0
    ind_flat = ff.evaluate.factor_weighted_returns(flat, r, (1,), industry=ind)[0, 0]
    assert ind_flat == 0.0


# ---------------------------------------------------------------------------------------------
# No look-ahead (issue 12)
# ---------------------------------------------------------------------------------------------


def _rows(ev: SignalEvaluation, t: int) -> dict:
    qr = ev.quantile_returns
    return {"ic": ev.ic[t], "n": ev.ic_n_obs[t], "by_date": qr.by_date[t], "counts": qr.counts[t],
            "labels": qr.labels[t], "fw": ev.factor_returns[t], "turnover": ev.turnover[t],
            "autocorrelation": ev.autocorrelation[t], "decay": ev.decay_ic[t]}


def _same(a: dict, b: dict) -> bool:
    return all(np.array_equal(a[k], b[k], equal_nan=True) for k in a)


@pytest.mark.parametrize("t", [10, 40, 70])
def test_perturbing_after_t_plus_h_leaves_date_t_unchanged(t):
    r, sig, g, w = make_panel()
    kw = dict(horizons=H, industry=g, weights=w)
    base = ff.evaluate.evaluate(sig, r, **kw)
    rng = np.random.default_rng(t)
    hmax = max(H)
    r2, s2 = r.copy(), sig.copy()
    r2[t + hmax + 1:] = rng.uniform(-0.9, 1.0, r2[t + hmax + 1:].shape)  # every return after t + h
    s2[t + 1:] = rng.normal(size=s2[t + 1:].shape)                  # every later signal
    r2[t + hmax + 1:, :5] = np.nan                                   # and later gaps
    after = ff.evaluate.evaluate(s2, r2, **kw)
    assert _same(_rows(base, t), _rows(after, t))
    assert not _same(_rows(base, t + hmax + 1), _rows(after, t + hmax + 1))  # the perturbation bites
    # horizon by horizon: the h-date IC of t ignores everything after t + h
    for k, h in enumerate(H):
        r3 = r.copy()
        r3[t + h + 1:] = rng.uniform(-0.9, 1.0, r3[t + h + 1:].shape)
        ic = ff.evaluate.information_coefficient(sig, r3, H, industry=g)
        ic0 = ff.evaluate.information_coefficient(sig, r, H, industry=g)
        assert np.array_equal(ic[t, : k + 1], ic0[t, : k + 1], equal_nan=True)
        if k + 1 < len(H):
            assert not np.array_equal(ic[t, k + 1:], ic0[t, k + 1:])


@pytest.mark.parametrize("t", [10, 40, 70])
def test_perturbing_returns_up_to_t_leaves_date_t_unchanged(t):
    r, sig, g, w = make_panel()
    base = ff.evaluate.evaluate(sig, r, horizons=H, industry=g)
    r2 = r.copy()
    r2[: t + 1] = np.random.default_rng(t).uniform(-0.9, 1.0, r2[: t + 1].shape)  # day t and before
    after = ff.evaluate.evaluate(sig, r2, horizons=H, industry=g)
    assert _same(_rows(base, t), _rows(after, t))
    assert not np.array_equal(base.ic[t - 1], after.ic[t - 1])  # date t - 1 uses returns[t]


def test_alphalens_common_sample_looks_ahead():
    """With alphalens' sample, an asset whose return goes missing at t + max(h) leaves date t's
    quantiles; with the default sample, date t's quantiles know nothing of it."""
    r, sig, g, w = make_panel()
    t, hmax = 30, max(H)
    i = int(np.flatnonzero(np.isfinite(sig[t]) & np.all(np.isfinite(r[t + 1:t + hmax + 1]), axis=0))[0])
    r2 = r.copy()
    r2[t + hmax, i] = np.nan
    for common, moves in ((False, False), (True, True)):
        a = ff.evaluate.quantile_returns(sig, r, 5, horizons=H, common_sample=common).labels[t]
        b = ff.evaluate.quantile_returns(sig, r2, 5, horizons=H, common_sample=common).labels[t]
        assert (not np.array_equal(a, b)) == moves


def test_alphalens_zscore_filter_looks_ahead():
    """The z-score filter uses each asset's mean and std over the whole sample: an outlier at the
    last date changes early dates' ICs; without the filter nothing before it moves."""
    r, sig, g, w = make_panel(informative=False)
    r2 = r.copy()
    r2[-1] = np.where(np.isfinite(r2[-1]), 5.0, np.nan)
    for z, moves in ((None, False), (2.0, True)):
        a = ff.evaluate.information_coefficient(sig, r, (1,), filter_zscore=z)
        b = ff.evaluate.information_coefficient(sig, r2, (1,), filter_zscore=z)
        assert (not np.array_equal(a[:-10], b[:-10], equal_nan=True)) == moves


# ---------------------------------------------------------------------------------------------
# Inference, decay
# ---------------------------------------------------------------------------------------------


def test_newey_west_inference_equals_statsmodels_hac():
    sm = pytest.importorskip("statsmodels.api")
    r, sig, g, w = make_panel(T=160)
    ev = ff.evaluate.evaluate(sig, r, horizons=H)
    for k, h in enumerate(H):
        ic = ev.ic[:, k]
        x = ic[np.isfinite(ic)]
        assert len(x) == len(ic) - h  # only the last h dates are missing: no interior gaps
        lags = int(ev.nw_lags[k])
        assert lags >= h - 1
        fit = sm.OLS(x, np.ones_like(x)).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True},
                                             use_t=True)
        assert ev.ic_nw_std_error[k] == pytest.approx(fit.bse[0], rel=1e-10)
        assert ev.ic_nw_tstat[k] == pytest.approx(fit.tvalues[0], rel=1e-10)
        assert ev.ic_nw_pvalue[k] == pytest.approx(fit.pvalues[0], rel=1e-8)
        plain = stats.ttest_1samp(x, 0.0)
        assert ev.ic_tstat[k] == pytest.approx(plain.statistic, rel=1e-10)
        assert ev.ic_pvalue[k] == pytest.approx(plain.pvalue, rel=1e-8)
    fixed = ff.evaluate.evaluate(sig, r, horizons=H, nw_lags=9)
    assert np.all(fixed.nw_lags == 9)
    with pytest.raises(ValueError, match="nw_lags=3 is below h - 1 = 4 for horizon 5"):
        ff.evaluate.evaluate(sig, r, horizons=H, nw_lags=3)


def test_nw_lags_at_or_beyond_the_number_of_dates_is_refused():
    # before: NaN Newey-West statistics, silently (next to a finite plain t-statistic)
    rng = np.random.default_rng(1)
    r, s = rng.normal(0, 0.02, (30, 10)), rng.normal(size=(30, 10))
    for lags in (40, 29):  # 30 dates, 29 with a 1-date forward return
        with pytest.raises(ValueError, match=rf"nw_lags must be below .*\(T − h = 30 − 1 = 29 .*got {lags}"):
            ff.evaluate.evaluate(s, r, horizons=(1,), nw_lags=lags)
        with pytest.raises(ValueError, match=rf"nw_lags must be below .*got {lags}"):
            ff.evaluate.quantile_returns(s, r, horizons=(1,), nw_lags=lags)
    # the longest horizon counts: 30 − 5 = 25 dates have a 5-date forward return
    with pytest.raises(ValueError, match=r"T − h = 30 − 5 = 25 for horizon 5\), got 25"):
        ff.evaluate.evaluate(s, r, horizons=(1, 5), nw_lags=25)
    ev = ff.evaluate.evaluate(s, r, horizons=(1, 5), nw_lags=24)
    assert np.isfinite(ev.ic_nw_tstat).all() and np.isfinite(ev.quantile_returns.nw_std_errors).all()
    # a series with missing dates can still be too short: NaN with a warning, never silently
    r2 = r.copy()
    r2[:20] = np.nan
    with pytest.warns(RuntimeWarning, match="nw_lags=12 is not below the number of dates"):
        ev = ff.evaluate.evaluate(s, r2, horizons=(1,), nw_lags=12)
    assert np.isnan(ev.ic_nw_tstat).all()


def test_quantile_summary_reports_the_lags_of_each_bucket():
    # with automatic lags each bucket series gets its own bandwidth; before, the summary printed
    # only the spread's lags as "the" lags of every standard error
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(9)
    T, N = 120, 30
    r = rng.normal(0, 0.02, (T, N))
    s = rng.normal(size=(T, N)) + 0.3 * np.vstack([r[1:], np.zeros((1, N))])
    qr = ff.evaluate.quantile_returns(s, r, quantiles=4, horizons=(1, 5))
    lags = qr.nw_lags_by_quantile
    assert lags.shape == (4, 2) and len(set(lags[:, 0].tolist())) > 1  # the buckets' lags differ
    for k, h in enumerate((1, 5)):
        for q in range(4):
            x = qr.by_date[:, q, k]
            x = x[np.isfinite(x)]
            fit = sm.OLS(x, np.ones_like(x)).fit(
                cov_type="HAC", cov_kwds={"maxlags": int(lags[q, k]), "use_correction": True})
            assert qr.nw_std_errors[q, k] == pytest.approx(fit.bse[0], rel=1e-10)
    table = qr.summary().tables[0][1]
    np.testing.assert_array_equal(table["nw_lags_1"].to_numpy(), np.append(lags[:, 0], qr.nw_lags[0]))
    np.testing.assert_array_equal(table["nw_lags_5"].to_numpy(), np.append(lags[:, 1], qr.nw_lags[1]))
    assert "with lags " + ", ".join(map(str, qr.nw_lags.tolist())) not in str(qr.summary())
    # an explicit nw_lags is used by every bucket
    fixed = ff.evaluate.quantile_returns(s, r, quantiles=4, horizons=(1, 5), nw_lags=6)
    assert np.all(fixed.nw_lags_by_quantile == 6) and np.all(fixed.nw_lags == 6)


def test_overlap_inflates_the_plain_t_statistic():
    """A signal with a small persistent edge: 21-date forward returns of consecutive dates share
    20 dates, so the plain t-statistic is inflated far beyond the Newey-West one."""
    rng = np.random.default_rng(5)
    T, N = 600, 100
    alpha = rng.normal(size=N)
    r = 0.0005 * alpha + rng.normal(0, 0.02, (T, N))
    sig = np.tile(alpha, (T, 1)) + rng.normal(0, 0.1, (T, N))
    ev = ff.evaluate.evaluate(sig, r, horizons=(1, 21))
    assert ev.nw_lags[1] >= 20
    assert abs(ev.ic_tstat[1]) > 2.0 * abs(ev.ic_nw_tstat[1])


def test_ic_decay_equals_scipy_on_lagged_returns():
    r, sig, g, w = make_panel()
    ev = ff.evaluate.evaluate(sig, r, horizons=(1, 3), decay_lags=(1, 2, 4))
    T = r.shape[0]
    for j, k in enumerate((1, 2, 4)):
        y = np.vstack([r[k:], np.full((k, r.shape[1]), np.nan)])  # y[t] = returns[t + k]
        want = ic_oracle(sig, y, "spearman")
        np.testing.assert_allclose(ev.decay_ic[:, j], want, rtol=1e-10, atol=1e-14)
        assert np.array_equal(np.isnan(ev.decay_ic[:, j]), np.isnan(want))
    np.testing.assert_allclose(ev.ic_decay, np.nanmean(ev.decay_ic, axis=0), rtol=1e-12)
    assert ev.ic_decay[0] > 0.1 and abs(ev.ic_decay[2]) < 0.1  # information about t + 1 only
    assert T == ev.decay_ic.shape[0]
    assert list(ff.evaluate.evaluate(sig, r, horizons=(1, 3)).decay_lags) == [1, 3]  # the default


# ---------------------------------------------------------------------------------------------
# Residual evaluation
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted():
    panel = ff.datasets.synthetic_universe(n_assets=150, n_days=160, seed=3)
    ex = ff.Exposures.from_panel(panel)
    res = ff.FactorModel().fit(panel, ex)
    return panel, ex, res


def test_residual_evaluation(fitted):
    panel, ex, res = fitted
    k = 0
    signal = np.ascontiguousarray(ex.styles[:, :, k])  # row t known at the close of t
    ev = ff.evaluate.evaluate(signal, residual=res, horizons=(1, 5), method="pearson",
                              weights=res.regression_weights)
    assert isinstance(ev.residual, SignalEvaluation)
    # the total part is the evaluation on the model's returns, the residual part on its residuals
    tot = ff.evaluate.information_coefficient(signal, res.returns, (1, 5), "pearson", weights=res.regression_weights)
    rsd = ff.evaluate.information_coefficient(signal, res.residuals, (1, 5), "pearson", weights=res.regression_weights)
    np.testing.assert_array_equal(ev.ic, tot)
    np.testing.assert_array_equal(ev.residual.ic, rsd)
    # WLS residuals of returns[t + 1] are weight-orthogonal to the exposures of t (lag 1) and to the
    # market: the weighted Pearson IC of a style with the next residual is zero on every date
    one = ev.residual.ic[:, 0]
    assert np.isfinite(one).sum() > 100
    np.testing.assert_allclose(one[np.isfinite(one)], 0.0, atol=1e-10)
    assert np.nanmax(np.abs(ev.ic[:, 0])) > 0.05  # while the total return IC is not
    assert ev.residual.residual is None and ev.residual.settings["returns"].startswith("residual")
    assert "IC on residual" in str(ev.summary())
    # labels come from the result
    assert np.array_equal(ev.dates, res.dates) and np.array_equal(ev.assets, res.assets)


def test_residual_refuses_other_objects_and_mismatched_labels(fitted):
    panel, ex, res = fitted
    signal = np.ascontiguousarray(ex.styles[:, :, 0])
    with pytest.raises(TypeError, match="residual must be a FactorModelResult"):
        ff.evaluate.evaluate(signal, panel["returns"], residual=res.residuals)
    later = res.dates + np.timedelta64(1, "D")
    wrong = pl.DataFrame({"date": later, **{a: signal[:, i] for i, a in enumerate(res.assets)}})
    with pytest.raises(ValueError, match="dates"):
        ff.evaluate.evaluate(wrong, residual=res)


# ---------------------------------------------------------------------------------------------
# Labels and frames
# ---------------------------------------------------------------------------------------------


def test_frames_in_frames_out():
    r, sig, g, w = make_panel(T=40, N=6)
    dates = np.arange("2024-01-01", 40, dtype="datetime64[D]")
    assets = [f"s{i}" for i in range(6)]
    sig_long = pl.DataFrame({"date": np.repeat(dates, 6), "asset": np.tile(assets, 40),
                             "signal": sig.ravel()}).filter(pl.col("signal").is_not_nan())
    ret_wide = pl.DataFrame({"date": dates, **{a: r[:, i] for i, a in enumerate(assets)}})
    ic = ff.evaluate.information_coefficient(sig_long, ret_wide, (1, 3))
    assert ic.columns == ["date", "1", "3"]
    np.testing.assert_array_equal(ic["1"].to_numpy(), ff.evaluate.information_coefficient(sig, r, (1, 3))[:, 0])
    assert ff.evaluate.quantile_turnover(sig_long, 3).columns == ["date", "1", "2", "3"]
    assert ff.evaluate.rank_autocorrelation(sig_long).columns == ["date", "autocorrelation"]
    assert ff.evaluate.factor_weighted_returns(sig_long, ret_wide, (1,)).columns == ["date", "1"]
    ev = ff.evaluate.evaluate(sig_long, ret_wide, horizons=(1, 3), quantiles=3)
    assert np.array_equal(ev.dates, dates) and list(ev.assets) == assets
    long = ev.to_polars("turnover", form="long")
    assert long.columns == ["date", "quantile", "horizon", "turnover"] and long.height == 40 * 3 * 2
    assert ev.quantile_returns.to_polars("labels", form="long").columns == ["date", "asset", "labels"]
    with pytest.raises(ValueError, match="signal and returns have different assets"):
        ff.evaluate.information_coefficient(sig_long, ret_wide.rename({"s0": "zz"}).select(["date", *sorted(["zz", *assets[1:]])]))
    # wide frames newest first: matched on dates with each other; refused with an array partner
    sig_wide = pl.DataFrame({"date": dates, **{a: sig[:, i] for i, a in enumerate(assets)}})
    ic2 = ff.evaluate.information_coefficient(sig_wide.reverse(), ret_wide.reverse(), (1, 3))
    assert ic2.equals(ic)
    with pytest.raises(ValueError, match="signal: the rows of the wide frame are not in date order"):
        ff.evaluate.information_coefficient(sig_wide.reverse(), r, (1, 3))
    with pytest.raises(ValueError, match="returns: the rows of the wide frame are not in date order"):
        ff.evaluate.information_coefficient(sig, ret_wide.reverse(), (1, 3))
    with pytest.raises(ValueError, match="signal: the rows of the wide frame are not in date order"):
        ff.evaluate.information_coefficient(sig_wide.reverse(), ret_wide, (1, 3), industry=g)
    # a weights frame is matched by label too: its columns in another order are refused
    w_wide = pl.DataFrame({"date": dates, **{a: w[:, i] for i, a in enumerate(assets)}})
    np.testing.assert_array_equal(
        ff.evaluate.information_coefficient(sig_wide, ret_wide, (1,), weights=w_wide.reverse())["1"].to_numpy(),
        ff.evaluate.information_coefficient(sig, r, (1,), weights=w)[:, 0])
    with pytest.raises(ValueError, match="weights and signal have different assets"):
        ff.evaluate.information_coefficient(sig_wide, ret_wide, (1,), weights=w_wide.select(["date", *assets[::-1]]))
    with pytest.raises(ValueError, match="weights and returns have different dates"):
        ff.evaluate.information_coefficient(sig, ret_wide, (1,), weights=w_wide.with_columns(pl.col("date") + pl.duration(days=1)))


# ---------------------------------------------------------------------------------------------
# Threads
# ---------------------------------------------------------------------------------------------


def test_pandas_frames_are_matched_on_their_labels():
    """pandas DataFrames (DatetimeIndex × tickers) as signal, returns and weights keep their
    labels, as wide Polars frames do: a returns frame with its columns reversed (or its dates
    moved) was read by position, each asset's signal paired with another's returns. The results
    stay those of arrays."""
    import pandas as pd

    r, sig, g, w = make_panel(T=40, N=6)
    dates = np.arange("2024-01-01", 40, dtype="datetime64[D]")
    assets = [f"s{i}" for i in range(6)]

    def pdf(x, cols=assets, d=dates):
        return pd.DataFrame({c: x[:, assets.index(c)] for c in cols}, index=pd.DatetimeIndex(d))

    ic = ff.evaluate.information_coefficient(pdf(sig), pdf(r), (1, 3), weights=pdf(w))
    np.testing.assert_array_equal(ic, ff.evaluate.information_coefficient(sig, r, (1, 3), weights=w))
    ev = ff.evaluate.evaluate(pdf(sig), pdf(r), horizons=(1, 3), quantiles=3)
    ref = ff.evaluate.evaluate(sig, r, horizons=(1, 3), quantiles=3)
    np.testing.assert_array_equal(ev.ic, ref.ic)
    assert np.array_equal(ev.dates, dates) and list(ev.assets) == assets
    with pytest.raises(ValueError, match="^signal and returns have different assets: position 0 is s0 in signal but s5"):
        ff.evaluate.information_coefficient(pdf(sig), pdf(r, assets[::-1]), (1, 3))
    with pytest.raises(ValueError, match="^signal and returns have different dates"):
        ff.evaluate.evaluate(pdf(sig), pdf(r, d=dates + 1), horizons=(1,))
    with pytest.raises(ValueError, match="^weights and signal have different assets"):
        ff.evaluate.information_coefficient(pdf(sig), r, (1,), weights=pdf(w, assets[::-1]))
    # beside a Polars frame, matched on the labels too
    ret_wide = pl.DataFrame({"date": dates, **{a: r[:, i] for i, a in enumerate(assets)}})
    with pytest.raises(ValueError, match="different assets"):
        ff.evaluate.information_coefficient(pdf(sig, assets[::-1]), ret_wide, (1,))
    # an array comes back, rows as given: a frame out of date order is refused
    with pytest.raises(ValueError, match=r"returns \(a pandas DataFrame indexed by date\) is not in date order"):
        ff.evaluate.forward_returns(pdf(r).iloc[::-1], (1,))
    np.testing.assert_array_equal(ff.evaluate.forward_returns(pdf(r), (1, 2)), ff.evaluate.forward_returns(r, (1, 2)))


def test_results_do_not_depend_on_threads():
    r, sig, g, w = make_panel(T=120, N=300, seed=9)
    out = []
    try:
        for n in (1, 2):
            ff.set_num_threads(n)
            ev = ff.evaluate.evaluate(sig, r, horizons=H, industry=g, weights=w, binning_by_industry=True)
            out.append([ev.ic, ev.quantile_returns.by_date, ev.quantile_returns.labels, ev.turnover,
                        ev.autocorrelation, ev.factor_returns, ev.decay_ic,
                        ff.evaluate.forward_returns(r, H)])
    finally:
        ff.set_num_threads(0)
    for a, b in zip(*out):
        assert np.array_equal(a, b, equal_nan=True)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,err,match", [
    ({"horizons": (0, 5)}, ValueError, r"horizons\[0\] must be >= 1"),
    ({"horizons": (5, 5)}, ValueError, "horizons must be distinct"),
    ({"horizons": "5"}, TypeError, "horizons must be a sequence"),
    ({"horizons": (1.5,)}, TypeError, r"horizons\[0\] must be an integer"),
    ({"quantiles": 5, "bins": 4}, ValueError, "exactly one of quantiles and bins"),
    ({"quantiles": None, "bins": [0.0, 0.0, 1.0]}, ValueError, "bins edges must be strictly increasing"),
    ({"quantiles": [0.5, 0.2, 1.0]}, ValueError, "quantiles levels must be strictly increasing"),
    # a repeated level: a bucket that can hold nothing on any date (pandas.qcut refuses it too)
    ({"quantiles": [0.0, 0.5, 0.5, 1.0]}, ValueError, "quantiles levels must be strictly increasing"),
    ({"quantiles": 0}, ValueError, "quantiles must be >= 1"),
    ({"method": "kendall"}, ValueError, "method must be one of"),
    ({"binning_by_industry": True}, ValueError, "binning_by_industry=True needs industry codes"),
    ({"common_sample": "yes"}, TypeError, "common_sample must be True or False"),
    ({"filter_zscore": -1.0}, ValueError, "filter_zscore must be > 0"),
    ({"decay_lags": (0,)}, ValueError, r"decay_lags\[0\] must be >= 1"),
    ({"industry": np.zeros((3, 3), dtype=int)}, ValueError, "industry has shape"),
    ({"weights": -np.ones((20, 5))}, ValueError, "weights must be non-negative"),
    ({"residual": "model"}, TypeError, "residual must be a FactorModelResult"),
])
def test_bad_input_is_refused_with_the_argument_named(kwargs, err, match):
    rng = np.random.default_rng(0)
    sig, r = rng.normal(size=(20, 5)), rng.normal(0, 0.01, (20, 5))
    with pytest.raises(err, match=match):
        ff.evaluate.evaluate(sig, r, **kwargs)


def test_bad_arrays_are_refused():
    rng = np.random.default_rng(0)
    sig, r = rng.normal(size=(20, 5)), rng.normal(0, 0.01, (20, 5))
    with pytest.raises(ValueError, match="returns has shape"):
        ff.evaluate.information_coefficient(sig, r[:, :4])
    bad = r.copy()
    bad[3, 3] = np.inf
    with pytest.raises(ValueError, match="returns must not contain infinite values"):
        ff.evaluate.information_coefficient(sig, bad)
    # a simple return below −1 (a price below zero) would compound to nonsense: two −200 % days
    # make a 0 % two-day return
    bad[3, 3] = -2.0
    for call in (lambda: ff.evaluate.information_coefficient(sig, bad),
                 lambda: ff.evaluate.evaluate(sig, bad, horizons=(2,), quantiles=2),
                 lambda: ff.evaluate.forward_returns(bad, horizons=(2,))):
        with pytest.raises(ValueError, match=r"returns must be >= -1 \(a price cannot go below zero\), got minimum -2.0"):
            call()
    bad[3, 3] = -1.0  # a total loss is a return
    assert ff.evaluate.forward_returns(bad, horizons=(1,))[0, 2, 3] == -1.0  # (horizon, date, asset)
    with pytest.raises(TypeError, match="returns is required"):
        ff.evaluate.information_coefficient(sig, None)
    with pytest.raises(TypeError, match="signal is a Panel"):
        ff.evaluate.rank_autocorrelation(ff.Panel(np.arange("2024-01-01", 20, dtype="datetime64[D]"), list("abcde"), {"returns": r}))
    with pytest.raises(ValueError, match="lag must be >= 1"):
        ff.evaluate.quantile_turnover(sig, 5, lag=0)
    with pytest.raises(ValueError, match="horizon must be one of"):
        ff.evaluate.quantile_returns(sig, r, 2, horizons=(1,)).cumulative_returns(5)


# ---------------------------------------------------------------------------------------------
# Result protocol, summary, plots
# ---------------------------------------------------------------------------------------------


def test_summary_and_frames_of_the_results():
    r, sig, g, w = make_panel()
    ev = ff.evaluate.evaluate(sig, r, horizons=H, industry=g)
    text = str(ev.summary())
    for piece in ("Information coefficient", "nw_tstat", "Mean forward return by quantile",
                  "IC decay", "turnover", "pairwise"):
        assert piece in text
    table = ev.to_polars()
    assert table.columns[:2] == ["horizon", "ic_mean"] and table.height == 3
    np.testing.assert_array_equal(table["ic_mean"].to_numpy(), ev.ic_mean)
    assert ev.to_polars("ic").columns == ["date", "1", "3", "5"]
    assert isinstance(ev.quantile_returns, QuantileReturns)
    assert "top - bottom" in str(ev.quantile_returns.summary())
    with pytest.raises(ValueError):
        ev.ic[0, 0] = 1.0  # read-only
    cum = ev.quantile_returns.cumulative_returns(3)
    # wealth after the first 3-date period: 1 + the 3-date return of date 0
    np.testing.assert_allclose(cum[3], 1.0 + np.nan_to_num(ev.quantile_returns.by_date[0, :, 1]))


def test_plots_return_figures():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    r, sig, g, w = make_panel()
    ev = ff.evaluate.evaluate(sig, r, horizons=H)
    figs = [ev.plot(), ev.plot_ic(window=5), ev.plot_ic_decay(), ev.plot_quantile_returns(),
            ev.plot_cumulative_returns(3), ev.plot_turnover(5), ev.quantile_returns.plot()]
    assert all(isinstance(f, Figure) for f in figs)
    assert len(figs[0].axes) == 6 and len(figs[1].axes) == 3
    figs[0].savefig(__import__("io").BytesIO(), format="png")


def test_the_tear_sheets_book_earns_its_return_when_it_is_realised():
    """The factor-weighted book formed at the close of t earns its h-date return at t + h: the
    line of the tear sheet's book panel steps there, as the cumulative quantile panel does
    (it stepped one holding period early, at t). Hand-worked: a +10 % day for the top half."""
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(0)
    T, N = 30, 20
    r, s = rng.normal(0, 0.01, (T, N)), rng.normal(size=(T, N))
    r[10] = 0.0
    r[10, np.argsort(s[9])[-10:]] = 0.10  # the book formed at the close of 9 earns on 10
    ev = ff.evaluate.evaluate(s, r, horizons=(1, 3), quantiles=2)
    fig = ev.plot()
    x, y = fig.axes[5].lines[0].get_data()
    f = np.nan_to_num(ev.factor_returns[:, 0])
    want = np.r_[1.0, np.cumprod(1.0 + f[:-1])]  # the wealth at t: returns realised by t
    np.testing.assert_allclose(y, want, rtol=1e-14)
    assert int(np.argmax(np.diff(y))) + 1 == 10
    qx, qy = fig.axes[3].lines[1].get_data()  # the top quantile's cumulative return
    assert int(np.argmax(np.diff(qy))) + 1 == 10


def test_a_date_where_the_signal_is_constant_has_no_ic_whatever_the_weights():
    # A signal constant on a date (a style filled with one value before its history) has no
    # IC there. Weighted Spearman, weighted Pearson and plain Pearson of a constant other than 0
    # gave ~1e-16 of rounding noise and counted the date (20 such dates of 59 halved ic_mean),
    # and whether they did depended on the units of the weights.
    rng = np.random.default_rng(0)
    T, N = 60, 80
    r = rng.normal(0, 0.02, (T, N))
    base = rng.normal(size=(T, N))
    cap = np.exp(rng.normal(21, 1, (T, N)))
    for const in (0.0, 0.37):
        sig = base.copy()
        sig[:20] = const
        for method in ("spearman", "pearson"):
            for w in (None, cap, cap / 1000):
                ic = ff.evaluate.evaluate(sig, r, horizons=(1,), weights=w, method=method).ic[:, 0]
                assert np.isnan(ic[:20]).all(), (const, method, w is None)
                # the other dates are those of the signal without the constant dates
                ref = ff.evaluate.evaluate(base, r, horizons=(1,), weights=w, method=method).ic[:, 0]
                np.testing.assert_array_equal(ic[20:], ref[20:])


def test_concurrent_evaluations_leave_the_warning_filters_alone():
    # evaluate() silenced numpy's all-NaN warnings with warnings.catch_warnings(), which swaps
    # the process-wide filter list: threads inside it at once restored each other's copies and
    # left "ignore RuntimeWarning" installed for the whole process (the user's own "Mean of
    # empty slice" and invalid-value warnings then vanished). Now no filter is touched.
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.02, (80, 40))
    s = rng.normal(size=(80, 40))
    r[:, 0] = np.nan  # an asset without returns: all-NaN slices for filter_zscore
    before = list(warnings.filters)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: ff.evaluate.evaluate(s, r, horizons=(1, 5), filter_zscore=20.0), range(300)))
    assert list(warnings.filters) == before
    # and the values are numpy's: alphalens' z-score filter and the mean turnover over dates
    fwd = ff.evaluate.forward_returns(r, (1, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(fwd, axis=1, keepdims=True)
        sd = np.nanstd(fwd, axis=1, ddof=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        fwd[np.abs(fwd - mean) > 20.0 * sd] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing warns on the way
        ev = ff.evaluate.evaluate(s, r, horizons=(1, 5), filter_zscore=20.0)
        mine = ff.evaluate.forward_returns(r, (1, 5), filter_zscore=20.0)
    assert np.array_equal(mine, fwd, equal_nan=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.array_equal(ev.mean_turnover, np.nanmean(ev.turnover, axis=0), equal_nan=True)


def test_forward_returns_after_a_total_loss_are_exactly_minus_one():
    # an asset that loses 100 % (a return of -1) has a forward return of exactly -1 over every
    # horizon covering that date: the wiped-out assets tie. Compounded as g + v + g*v, -1 + v - v
    # rounded to -1 +- eps, so their ties were broken by rounding (a Spearman IC 0.305 against
    # scipy's 0.316 on the exact forward returns) and a date on which every asset lost everything
    # had a rank IC of -0.117 made of rounding instead of NaN
    from scipy import stats

    rng = np.random.default_rng(5)
    T, N = 12, 40
    r = rng.normal(0, 0.02, (T, N))
    r[3, :8] = -1.0
    fwd = ff.evaluate.forward_returns(r, horizons=(1, 5))
    assert (fwd[:, 2, :8] == -1.0).all() and (fwd[1, 1, :8] == -1.0).all()
    assert np.nanmin(fwd) >= -1.0
    sig = rng.normal(size=(T, N))
    ic = ff.evaluate.information_coefficient(sig, r, method="spearman", horizons=(5,))
    exact = np.prod(1 + r[2:7], axis=0) - 1  # date 1, horizon 5: returns of dates 2..6
    assert ic[1, 0] == pytest.approx(stats.spearmanr(sig[1], exact).statistic, rel=1e-12)
    r_all = r.copy()
    r_all[3] = -1.0
    assert (ff.evaluate.forward_returns(r_all, horizons=(5,))[0, 1] == -1.0).all()
    for method in ("spearman", "pearson"):
        ic = ff.evaluate.information_coefficient(sig, r_all, method=method, horizons=(5,))
        assert np.isnan(ic[1, 0]), method
    # a missing return after the loss is still missing
    r_nan = r.copy()
    r_nan[4, 0] = np.nan
    assert np.isnan(ff.evaluate.forward_returns(r_nan, horizons=(5,))[0, 1, 0])


def test_quantile_statistics_of_returns_of_any_finite_magnitude():
    """Returns around 1e-160 have squares that underflow: the quantiles' standard errors (plain
    and Newey-West) came out 0 and the t-statistics ±inf, while the means were right. The tests of
    the mean now scale such series by a power of two (exact) and back. Oracle: the same returns
    at unit scale (one-date horizon: the forward return is the return, linear in its scale)."""
    rng = np.random.default_rng(31)
    T, N = 120, 100
    s = rng.standard_normal((T, N))
    r = 0.01 * (0.1 * s + rng.standard_normal((T, N)))
    base = ff.evaluate.quantile_returns(s, r, horizons=(1,))
    for scale in (1e-160, 1e-200):
        got = ff.evaluate.quantile_returns(s, r * scale, horizons=(1,))
        for name in ("mean_returns", "std_errors", "nw_std_errors", "spread_mean", "spread_nw_std_error"):
            np.testing.assert_allclose(getattr(got, name) / scale, getattr(base, name), rtol=1e-12, atol=0,
                                       err_msg=name)
        for name in ("spread_tstat", "spread_nw_tstat"):
            np.testing.assert_allclose(getattr(got, name), getattr(base, name), rtol=1e-12, atol=0, err_msg=name)
