"""Signal evaluation against alphalens-reloaded (the oracle), on the same data, to 1e-10.

How alphalens' inputs are built from the same panel, and how its forward returns line up
------------------------------------------------------------------------------------------
- Prices are the cumulative product of ``1 + returns`` (a missing return counted as 0), with a
  price wherever it ends or starts a return (``returns[t]`` or ``returns[t + 1]`` present), NaN
  elsewhere (before listing, after delisting).
- alphalens' forward return of period h at date t is ``prices.ffill().pct_change(h).shift(-h)`` =
  ``P[t + h] / P[t] − 1`` = ``(1 + r[t+1]) ⋯ (1 + r[t+h]) − 1`` = ``ff.evaluate.forward_returns``'s
  ``[h][t]``, up to rounding (≤ 1e-15 here: a ratio of cumulative products against a product of h
  gross returns), wherever the h returns after t are present. Where one is missing (a gap, or a
  delisting inside the window) alphalens compounds over a forward-filled price (a stale price:
  zero returns), ferrofactor gives NaN. The tests assert both facts, then set those stale cells to
  NaN in alphalens' frame before its ``get_clean_factor`` (its documented entry point when forward
  returns are given).
- alphalens' sample is ferrofactor's ``common_sample=True`` (a row needs every horizon finite, and
  rows it cannot bucket leave every statistic); ``evaluate(common_sample=True)`` reproduces it.
- The monthly French industry data are rounded to 0.01%, so industries often tie exactly on a
  1-month return; ``P[t+h]/P[t] − 1`` breaks such ties by rounding noise, which changes Spearman
  ranks. On that data set alphalens is therefore given ferrofactor's forward returns (their
  agreement with alphalens' own is asserted to 1e-15 first).

Tolerance: relative 1e-10 with an absolute floor of 1e-14 for return-valued outputs (the forward
returns themselves differ by rounding, ≤ 1e-15, which is relatively large for a mean near 0);
ICs, turnover and autocorrelation are compared at rtol 1e-10 with no absolute floor.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
al_utils = pytest.importorskip("alphalens.utils")
al_perf = pytest.importorskip("alphalens.performance")

import ferrofactor as ff  # noqa: E402

RTOL = 1e-10
RET_ATOL = 1e-14


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def synthetic_panel(T=80, N=40, seed=0, gaps=True):
    """Returns with late listings, early delistings and interior gaps; a signal with ties (one
    decimal), missing values and a few dates of heavy ties (qcut edges repeat: alphalens drops
    those dates); groups with assets outside any group, a 3-asset group and a group empty on
    dates 40..49."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0005, 0.02, (T, N))
    sig = np.round(rng.normal(size=(T, N)), 1)
    sig[rng.random((T, N)) < 0.1] = np.nan
    sig[30:33] = np.where(np.isfinite(sig[30:33]), np.round(sig[30:33] / 4), np.nan)  # heavy ties
    if gaps:
        listing = rng.integers(0, 15, N)
        listing[: N // 2] = 0
        delisting = T - rng.integers(0, 20, N)
        delisting[N // 4:] = T
        for i in range(N):
            r[: listing[i] + 1, i] = np.nan
            sig[: listing[i], i] = np.nan
            r[delisting[i]:, i] = np.nan
            sig[delisting[i]:, i] = np.nan
        r[rng.random((T, N)) < 0.01] = np.nan
    g = rng.integers(0, 6, (T, N))
    g[:, :3] = 7
    g[rng.random((T, N)) < 0.05] = -1
    block = g[40:50]
    block[block == 2] = 3
    return r, sig, g


def prices_from_returns(r):
    T, N = r.shape
    P = np.cumprod(1 + np.nan_to_num(r), axis=0)
    nxt = np.vstack([r[1:], np.full((1, N), np.nan)])
    P[np.isnan(r) & np.isnan(nxt)] = np.nan
    return P


def quiet(fn, *args, **kw):
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kw)


class Alphalens:
    """alphalens' inputs built from a (T, N) panel."""

    def __init__(self, r, sig, g, horizons, dates=None, assets=None, zscore=None, compute=True):
        T, N = r.shape
        self.dates = pd.bdate_range("2021-01-04", periods=T) if dates is None else dates
        self.assets = [f"A{i:03d}" for i in range(N)] if assets is None else list(assets)
        self.horizons = horizons
        idx = pd.MultiIndex.from_product([self.dates, self.assets], names=["date", "asset"])
        self.factor = pd.Series(sig.ravel(), index=idx).dropna()
        grp = pd.Series(np.asarray(g, float).ravel(), index=idx)
        grp[grp < 0] = np.nan
        self.groups = grp
        self.raw_forward = None
        if compute:
            prices = pd.DataFrame(prices_from_returns(r), index=self.dates, columns=self.assets)
            self.raw_forward = quiet(al_utils.compute_forward_returns, self.factor, prices,
                                     periods=horizons, filter_zscore=zscore)

    def wide(self, series):
        return series.unstack().reindex(index=self.dates, columns=self.assets).to_numpy()

    def from_ours(self, ours):
        cols = {f"{h}D": pd.DataFrame(ours[k], index=self.dates, columns=self.assets).stack(future_stack=True)
                for k, h in enumerate(self.horizons)}
        return pd.DataFrame(cols).reindex(self.factor.index)

    def masked_forward(self, ours):
        """alphalens' forward returns with the stale cells (NaN in ours) set to NaN."""
        fwd = self.raw_forward.copy()
        mine = self.from_ours(ours)
        for h in self.horizons:
            fwd.loc[mine[f"{h}D"].isna().to_numpy(), f"{h}D"] = np.nan
        return fwd

    def clean(self, fwd, industry=False, **kw):
        return quiet(al_utils.get_clean_factor, self.factor, fwd,
                     groupby=self.groups if industry else None, max_loss=1.0, **kw)

    def by_date(self, frame):
        return frame.reindex(self.dates).to_numpy()


def assert_same(got, want, atol=0.0, what=""):
    got, want = np.asarray(got, float), np.asarray(want, float)
    assert got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN patterns differ")
    m = np.isfinite(want)
    assert m.sum() > 0, f"{what}: nothing to compare"
    np.testing.assert_allclose(got[m], want[m], rtol=RTOL, atol=atol, err_msg=what)


H = (1, 3, 5)


@pytest.fixture(scope="module")
def syn():
    r, sig, g = synthetic_panel()
    al = Alphalens(r, sig, g, H)
    ours = ff.evaluate.forward_returns(r, H)
    return r, sig, g, al, ours


# ---------------------------------------------------------------------------------------------
# Forward returns
# ---------------------------------------------------------------------------------------------


def test_forward_returns_line_up_with_alphalens(syn):
    r, sig, g, al, ours = syn
    T = r.shape[0]
    stale_total = 0
    for k, h in enumerate(H):
        a = al.wide(al.raw_forward[f"{h}D"])
        o = np.where(np.isfinite(sig), ours[k], np.nan)  # alphalens keeps the factor's cells
        both = np.isfinite(a) & np.isfinite(o)
        assert both.sum() > 2000
        np.testing.assert_allclose(o[both], a[both], rtol=0, atol=1e-15)
        # alphalens has no value where ours has one: never
        assert not np.any(np.isfinite(o) & np.isnan(a))
        # alphalens has a (stale) value where ours is NaN: only with a missing return in (t, t+h]
        stale = np.argwhere(np.isfinite(a) & np.isnan(o))
        assert all(t + h < T and np.isnan(r[t + 1:t + h + 1, i]).any() for t, i in stale)
        stale_total += len(stale)
    assert stale_total > 50  # the panel really has gaps and delistings


# ---------------------------------------------------------------------------------------------
# The whole evaluation in alphalens' sample
# ---------------------------------------------------------------------------------------------

CASES = [(False, False), (True, False), (True, True)]


@pytest.fixture(scope="module", params=CASES, ids=["plain", "groups", "groups-binned-by-group"])
def case(request, syn):
    use_groups, by_group = request.param
    r, sig, g, al, ours = syn
    fd = al.clean(al.masked_forward(ours), industry=use_groups, quantiles=5, binning_by_group=by_group)
    ev = ff.evaluate.evaluate(sig, r, horizons=H, quantiles=5, industry=g if use_groups else None,
                              binning_by_industry=by_group, common_sample=True)
    ic = al_perf.factor_information_coefficient(fd, group_adjust=use_groups)  # used twice
    return use_groups, by_group, fd, ev, al, (r, sig, g, ic)


def test_sample_has_dropped_dates_and_empty_groups(case):
    use_groups, by_group, fd, ev, al, (r, sig, g, _) = case
    # dates 30..32 have too many ties for 5 quantiles (repeated edges): alphalens drops them
    present = set(fd.index.get_level_values("date"))
    assert not any(al.dates[t] in present for t in (30, 31))
    assert np.all(ev.quantile_returns.labels[30:32] == -1)
    if use_groups:
        assert not np.any(g[40:50] == 2) and np.any(g == 2)


def test_ic_equals_alphalens(case):
    _, _, fd, ev, al, (_, _, _, ic) = case
    assert_same(ev.ic, al.by_date(ic), what="IC")


@pytest.mark.parametrize("demeaned", [True, False])
def test_mean_return_by_quantile_equals_alphalens(case, demeaned):
    use_groups, by_group, fd, ev, al, (r, sig, g, _) = case
    qr = ev.quantile_returns if demeaned else ff.evaluate.quantile_returns(
        sig, r, 5, horizons=H, demeaned=False, industry=g if use_groups else None,
        binning_by_industry=by_group, common_sample=True)
    ga = use_groups and demeaned
    by_date, _ = al_perf.mean_return_by_quantile(fd, by_date=True, demeaned=demeaned, group_adjust=ga)
    for k, h in enumerate(H):
        want = by_date[f"{h}D"].unstack(0).reindex(index=al.dates, columns=range(1, 6)).to_numpy()
        assert_same(qr.by_date[:, :, k], want, RET_ATOL, f"by_date h={h}")
    mean, se = al_perf.mean_return_by_quantile(fd, by_date=False, demeaned=demeaned, group_adjust=ga)
    assert_same(qr.mean_returns, mean.to_numpy(), RET_ATOL, "mean_returns")
    assert_same(qr.std_errors, se.to_numpy(), RET_ATOL, "std_errors")
    # the spread: alphalens 0.5 halves top minus bottom (a 100%-gross book); ours is the difference
    spread, _ = al_perf.compute_mean_returns_spread(by_date, 5, 1)
    for k, h in enumerate(H):
        assert_same(qr.spread[:, k], 2 * al.by_date(spread[f"{h}D"]), RET_ATOL, "spread")


def test_turnover_and_rank_autocorrelation_equal_alphalens(case):
    _, _, fd, ev, al, _ = case
    for k, h in enumerate(H):
        want = pd.concat([al_perf.quantile_turnover(fd["factor_quantile"], q, h) for q in range(1, 6)], axis=1)
        assert_same(ev.turnover[:, :, k], al.by_date(want), what=f"turnover lag {h}")
        want = al_perf.factor_rank_autocorrelation(fd, h)
        assert_same(ev.autocorrelation[:, k], al.by_date(want), what=f"autocorrelation lag {h}")


def test_factor_weighted_returns_equal_alphalens(case):
    use_groups, _, fd, ev, al, _ = case
    want = al.by_date(al_perf.factor_returns(fd, demeaned=True, group_adjust=use_groups))
    assert_same(ev.factor_returns, want, RET_ATOL, "factor returns")


def test_plain_ic_inference_equals_alphalens_information_table(case):
    al_plot = pytest.importorskip("alphalens.plotting")
    _, _, fd, ev, al, (_, _, _, ic) = case
    table = quiet(al_plot.plot_information_table, ic, return_df=True)
    assert_same(ev.ic_mean, table["IC Mean"].to_numpy(), what="IC mean")
    assert_same(ev.ic_std, table["IC Std."].to_numpy(), what="IC std")
    assert_same(ev.ic_ir, table["Risk-Adjusted IC"].to_numpy(), what="risk-adjusted IC")
    assert_same(ev.ic_tstat, table["t-stat(IC)"].to_numpy(), what="t-stat")
    assert_same(ev.ic_pvalue, table["p-value(IC)"].to_numpy(), what="p-value")


# ---------------------------------------------------------------------------------------------
# Buckets: bins and explicit levels/edges
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [
    {"quantiles": [0.0, 0.1, 0.5, 0.9, 1.0]},
    {"quantiles": None, "bins": 4},
    {"quantiles": None, "bins": [-3.0, -1.0, 0.0, 0.5, 3.0]},
])
def test_bins_and_levels_equal_alphalens(syn, spec):
    r, sig, g, al, ours = syn
    fd = al.clean(al.masked_forward(ours), quantiles=spec["quantiles"], bins=spec.get("bins"))
    qr = ff.evaluate.quantile_returns(sig, r, spec["quantiles"], bins=spec.get("bins"), horizons=H,
                                      common_sample=True)
    labels = np.where(qr.labels >= 0, qr.labels + 1.0, np.nan)
    assert_same(labels, al.wide(fd["factor_quantile"]), what="bucket labels")
    q = qr.by_date.shape[1]
    by_date, _ = al_perf.mean_return_by_quantile(fd, by_date=True)
    for k, h in enumerate(H):
        want = by_date[f"{h}D"].unstack(0).reindex(index=al.dates, columns=range(1, q + 1)).to_numpy()
        assert_same(qr.by_date[:, :, k], want, RET_ATOL, f"by_date h={h}")


def test_standalone_common_sample_keeps_the_rows_alphalens_cannot_bucket(syn):
    """alphalens drops the rows it cannot bucket (a signal outside the bins edges) from the IC
    and the book too; evaluate(common_sample=True) does. information_coefficient and
    factor_weighted_returns take no buckets: their common sample keeps those rows (documented),
    and the signal masked to the bucketed rows reproduces alphalens."""
    r, sig, g, al, ours = syn
    bins = [-1.0, 0.0, 1.0]
    fd = al.clean(al.masked_forward(ours), quantiles=None, bins=bins)
    ic_want = al.by_date(quiet(al_perf.factor_information_coefficient, fd))  # (constant dates warn)
    fw_want = al.by_date(al_perf.factor_returns(fd))
    ev = ff.evaluate.evaluate(sig, r, horizons=H, quantiles=None, bins=bins, common_sample=True)
    assert_same(ev.ic, ic_want, what="IC, evaluate")
    assert_same(ev.factor_returns, fw_want, RET_ATOL, "book, evaluate")
    ic = ff.evaluate.information_coefficient(sig, r, H, common_sample=True)
    m = np.isfinite(ic_want)
    assert np.abs(ic[m] - ic_want[m]).max() > 0.1  # the rows beyond +-1 are still in
    masked = np.where(ev.quantile_returns.labels >= 0, sig, np.nan)
    assert_same(ff.evaluate.information_coefficient(masked, r, H, common_sample=True), ic_want, what="IC, masked")
    assert_same(ff.evaluate.factor_weighted_returns(masked, r, H, common_sample=True), fw_want, RET_ATOL,
                "book, masked")


# ---------------------------------------------------------------------------------------------
# The z-score filter (alphalens' look-ahead), kept for comparison
# ---------------------------------------------------------------------------------------------


def test_filter_zscore_equals_alphalens():
    r, sig, g = synthetic_panel(seed=3, gaps=False)
    r[50, 7] = 0.6  # outliers for the filter to catch
    r[70, 11] = -0.5
    al = Alphalens(r, sig, g, H, zscore=2.5)
    ours = ff.evaluate.forward_returns(r, H, filter_zscore=2.5)
    filtered = 0
    for k, h in enumerate(H):
        a = al.wide(al.raw_forward[f"{h}D"])
        o = np.where(np.isfinite(sig), ours[k], np.nan)
        assert_same(o, a, 1e-15, f"filtered forward returns h={h}")
        filtered += np.sum(np.isfinite(sig[: -h]) & np.isnan(ours[k][: -h]))
    assert filtered > 20
    fd = al.clean(al.raw_forward, quantiles=5)
    ic = ff.evaluate.information_coefficient(sig, r, H, filter_zscore=2.5, common_sample=True)
    want = al.by_date(al_perf.factor_information_coefficient(fd))
    ok = ~np.isin(np.arange(len(al.dates)), [30, 31, 32])  # alphalens drops the heavy-tie dates
    assert_same(ic[ok], want[ok], what="IC with the z-score filter")


# ---------------------------------------------------------------------------------------------
# A real data set: 12-1 momentum on the twelve Fama-French industry portfolios (monthly)
# ---------------------------------------------------------------------------------------------

INDUSTRIES = ["NoDur", "Durbl", "Manuf", "Enrgy", "Chems", "BusEq", "Telcm", "Utils", "Shops",
              "Hlth", "Money", "Other"]
DEFENSIVE = {"NoDur", "Telcm", "Utils", "Shops", "Hlth"}
FH = (1, 3, 6)
MONTHS = 132  # the last 11 years (2007-2017): 120 evaluation months after the 12-month window


@pytest.fixture(scope="module")
def french():
    """12-1 momentum on the twelve industry portfolios that linearmodels ships (Ken French's
    12-industry returns, monthly, 1949-2017), over the last 11 years; groups: defensive (0),
    cyclical (1), "Other" without a group (-1)."""
    df = pytest.importorskip("linearmodels.datasets.french").load().iloc[-MONTHS:]
    r = df[INDUSTRIES].to_numpy(dtype=float)
    T, N = r.shape
    # 12-1 momentum known at the close of month t: the return over months t-11 .. t-1
    gross = 1.0 + r
    sig = np.full((T, N), np.nan)
    for t in range(12, T):
        sig[t] = np.prod(gross[t - 11:t], axis=0) - 1.0
    g = np.array([[0 if n in DEFENSIVE else (-1 if n == "Other" else 1) for n in INDUSTRIES]] * T)
    ours = ff.evaluate.forward_returns(r, FH)
    al = Alphalens(r, sig, g, FH, dates=pd.DatetimeIndex(df["dates"]), assets=INDUSTRIES, compute=False)
    given = al.from_ours(ours)
    clean = {groups: al.clean(given, industry=groups, quantiles=4) for groups in (False, True)}
    return r, sig, g, ours, al, clean


def test_french_forward_returns_line_up(french):
    """alphalens' own forward returns from prices agree with ours to 1e-15 (all returns are
    present); exact ties in the rounded monthly data are why the statistics below take ours."""
    r, sig, g, ours, al, _ = french
    fwd = Alphalens(r, sig, g, FH, dates=al.dates, assets=INDUSTRIES).raw_forward
    for k, h in enumerate(FH):
        o = np.where(np.isfinite(sig), ours[k], np.nan)
        assert_same(o, al.wide(fwd[f"{h}D"]), 1e-15, f"h={h}")
    o = ours[0][12:-1]
    assert sum(len(np.unique(row)) < len(row) for row in o) > 5


@pytest.mark.parametrize("use_groups", [False, True])
def test_french_momentum_equals_alphalens(french, use_groups):
    r, sig, g, ours, al, clean = french
    fd = clean[use_groups]
    groups = g if use_groups else None
    ev = ff.evaluate.evaluate(sig, r, horizons=FH, quantiles=4, industry=groups, common_sample=True)
    assert_same(ev.ic, al.by_date(al_perf.factor_information_coefficient(fd, group_adjust=use_groups)),
                what="IC")
    for demeaned in (True, False):
        qr = ff.evaluate.quantile_returns(sig, r, 4, horizons=FH, demeaned=demeaned, industry=groups,
                                          common_sample=True)
        mean, se = al_perf.mean_return_by_quantile(fd, demeaned=demeaned,
                                                   group_adjust=use_groups and demeaned)
        assert_same(qr.mean_returns, mean.to_numpy(), RET_ATOL, "mean returns")
        assert_same(qr.std_errors, se.to_numpy(), RET_ATOL, "std errors")
    for k, h in enumerate(FH):
        want = pd.concat([al_perf.quantile_turnover(fd["factor_quantile"], q, h) for q in range(1, 5)], axis=1)
        assert_same(ev.turnover[:, :, k], al.by_date(want), what="turnover")
        assert_same(ev.autocorrelation[:, k], al.by_date(al_perf.factor_rank_autocorrelation(fd, h)),
                    what="autocorrelation")
    assert_same(ev.factor_returns, al.by_date(al_perf.factor_returns(fd, group_adjust=use_groups)),
                RET_ATOL, "factor returns")
    # industry momentum: a positive mean IC at every horizon (Moskowitz and Grinblatt 1999)
    assert np.all(ev.ic_mean > 0.0)


@pytest.mark.parametrize("demeaned,equal_weight", [(True, False), (False, False), (True, True), (False, True)])
@pytest.mark.parametrize("use_groups", [False, True])
def test_french_factor_weighted_returns_options(french, demeaned, equal_weight, use_groups):
    r, sig, g, ours, al, clean = french
    got = ff.evaluate.factor_weighted_returns(sig, r, FH, demeaned=demeaned, equal_weight=equal_weight,
                                              industry=g if use_groups else None, common_sample=True)
    want = al_perf.factor_returns(clean[use_groups], demeaned=demeaned, group_adjust=use_groups,
                                  equal_weight=equal_weight)
    assert_same(got, al.by_date(want), RET_ATOL, "factor-weighted returns")


def test_pairwise_sample_is_alphalens_run_one_horizon_at_a_time(french):
    """The default (pairwise) sample at horizon h is alphalens' sample when it is run for h alone:
    on the last dates the longer horizons no longer remove the short horizon's observations."""
    r, sig, g, ours, al, _ = french
    ic = ff.evaluate.information_coefficient(sig, r, FH)
    fw = ff.evaluate.factor_weighted_returns(sig, r, FH)
    for k, h in enumerate(FH):
        one = Alphalens(r, sig, g, (h,), dates=al.dates, assets=INDUSTRIES, compute=False)
        fd = one.clean(one.from_ours(ours[k:k + 1]), quantiles=4)
        assert_same(ic[:, k], al.by_date(al_perf.factor_information_coefficient(fd)[f"{h}D"]), what=f"IC {h}")
        assert_same(fw[:, k], al.by_date(al_perf.factor_returns(fd)[f"{h}D"]), RET_ATOL, f"book {h}")
    assert np.isfinite(ic[-4, 0]) and np.isnan(ic[-4, 2])
