"""ff.attribute: exposures × factor returns with the model's lag, against a hand-worked case and
the plain-numpy oracle ``ff.baseline.attribute`` (dense one-hot exposure matrix, per-date loop);
the identity total = Σ contributions + specific + unexplained − costs on every date; the
specific return against the factor model's own residuals; exact linking; no look-ahead."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy import stats

import ferrofactor as ff
from ferrofactor import baseline
from ferrofactor.attribution import link_contributions


@pytest.fixture(scope="module")
def fitted():
    panel = ff.datasets.synthetic_universe(n_assets=150, n_days=260, seed=3)
    ex = ff.Exposures.from_panel(panel)
    res = ff.FactorModel().fit(panel, ex)
    r = res.returns
    cap = np.nan_to_num(panel["market_cap"])
    w = np.zeros_like(cap)
    w[1:] = cap[:-1]  # caps of t−1 (normalised below) earn returns[t]
    w[~np.isfinite(r)] = 0.0
    tot = w.sum(axis=1, keepdims=True)
    w = np.divide(w, tot, out=np.zeros_like(w), where=tot > 0)  # fully invested where returns exist
    rng = np.random.default_rng(5)
    b = np.where(np.isfinite(r), rng.random(r.shape), 0.0)
    tb = b.sum(axis=1, keepdims=True)
    b = np.divide(b, tb, out=np.zeros_like(b), where=tb > 0)
    return dict(panel=panel, ex=ex, res=res, r=r, w=w, b=b)


def _oracle(f, weights, lag=None, benchmark=None, factor_returns=None):
    ex, res = f["ex"], f["res"]
    return baseline.attribute(
        weights, f["r"], ex.styles, ex.industry, ex.market, ex.n_industries,
        res.factor_returns if factor_returns is None else factor_returns,
        res.lag if lag is None else lag, benchmark=benchmark,
    )


def _identity(att):
    return att.total - (att.contributions.sum(axis=1) + att.specific + att.unexplained - att.costs)


def test_hand_worked_two_dates():
    # 3 assets, market + 2 industries + 1 style, lag 1: date 1 is explained by row 0.
    styles = np.array([[[1.0], [-1.0], [0.5]], [[9.0], [9.0], [9.0]]])
    ex = ff.Exposures(styles, np.array([[0, 1, -1], [1, 1, 1]]), style_names=["value"],
                      industry_names=["A", "B"])
    f = np.array([[np.nan] * 4, [0.01, 0.002, -0.003, 0.004]])
    risk = ff.RiskModel.from_covariance(np.stack([np.eye(4)] * 2), np.full((2, 3), 1e-4), ex)
    w = np.array([[0.0, 0.0, 0.0], [0.5, 0.3, 0.2]])
    r = np.array([[0.0, 0.0, 0.0], [0.02, -0.01, 0.03]])
    att = ff.attribute(w, (risk, f), returns=r, costs=np.array([0.0, 0.001]))
    # x = Bᵀw with B of row 0: market 1; A: asset 0; B: asset 1; value: 0.5 − 0.3 + 0.1
    np.testing.assert_allclose(att.exposures[1], [1.0, 0.5, 0.3, 0.3], rtol=0, atol=1e-15)
    np.testing.assert_allclose(att.contributions[1], [0.01, 0.001, -0.0009, 0.0012], rtol=0, atol=1e-15)
    gross = 0.5 * 0.02 - 0.3 * 0.01 + 0.2 * 0.03  # 0.013
    assert att.gross[1] == pytest.approx(gross, abs=1e-15)
    assert att.specific[1] == pytest.approx(gross - (0.01 + 0.001 - 0.0009 + 0.0012), abs=1e-15)
    assert att.unexplained[1] == 0.0 and att.total[1] == pytest.approx(0.012, abs=1e-15)
    assert att.factor_names == ["market", "A", "B", "value"] and att.lag == 1
    grouped = att.by_group()
    assert grouped.factor_names == ["market", "industries", "styles"]
    np.testing.assert_allclose(grouped.contributions[1], [0.01, 0.0001, 0.0012], rtol=0, atol=1e-15)


def test_identity_and_oracle_on_every_date(fitted):
    res, w = fitted["res"], fitted["w"]
    costs = np.abs(np.random.default_rng(1).normal(0, 2e-4, len(w)))
    att = ff.attribute(w, res, costs=costs)
    assert np.abs(_identity(att)).max() < 1e-12
    o = _oracle(fitted, w)
    for k in ("exposures", "contributions", "specific", "unexplained", "gross"):
        np.testing.assert_allclose(getattr(att, k), o[k], rtol=0, atol=1e-14, err_msg=k)
    np.testing.assert_array_equal(att.costs, costs)
    np.testing.assert_allclose(att.total, o["gross"] - costs, rtol=0, atol=1e-14)
    # the return of date 0 (no exposures before it) is nothing held; the market exposure of a
    # fully invested portfolio is 1 once exposures exist
    assert att.gross[0] == 0.0
    covered = np.abs(att.unexplained) < 1e-18
    np.testing.assert_allclose(att.exposures[covered & (np.arange(len(w)) >= 1), 0], 1.0, rtol=0, atol=1e-12)


def test_specific_return_equals_the_model_residuals(fitted):
    res, w = fitted["res"], fitted["w"]
    att = ff.attribute(w, res)
    u = res.residuals
    in_fit = np.all(np.isfinite(u) | (w == 0), axis=1)  # dates where every holding was in the fit
    assert in_fit[1:].mean() > 0.5
    spec = np.einsum("tn,tn->t", w, np.nan_to_num(u))
    np.testing.assert_allclose(att.specific[in_fit], spec[in_fit], rtol=0, atol=1e-15)
    np.testing.assert_allclose(att.unexplained[in_fit], 0.0, rtol=0, atol=0)


def test_uses_the_exposures_of_t_minus_lag_only(fitted):
    # No look-ahead: changing the exposures of dates > t − lag does not change date t.
    panel = fitted["panel"]
    ex = fitted["ex"]
    res2 = ff.FactorModel(lag=2).fit(panel, ex)
    w = fitted["w"]
    att = ff.attribute(w, res2)
    assert att.lag == 2
    o = _oracle(fitted, w, lag=2, factor_returns=res2.factor_returns)
    np.testing.assert_allclose(att.contributions, o["contributions"], rtol=0, atol=1e-14)
    t = 150
    st = ex.styles.copy()
    st[t - 1:] += 1.0  # exposures known from t − 1 on change
    ex2 = ff.Exposures(st, ex.industry, style_names=ex.style_names, industry_names=ex.industry_names,
                       dates=ex.dates, assets=ex.assets)
    from ferrofactor.model import FactorModelResult

    fake = FactorModelResult(
        factor_returns=res2.factor_returns, residuals=res2.residuals, r2=res2.r2,
        std_errors=res2.std_errors, tstats=res2.tstats, n_obs=res2.n_obs,
        factor_names=res2.factor_names, dates=res2.dates, assets=res2.assets, exposures=ex2,
        cap=res2.cap, returns=res2.returns, n_clipped=res2.n_clipped, model=res2.model,
    )
    att2 = ff.attribute(w, fake)
    np.testing.assert_array_equal(att2.contributions[: t + 1], att.contributions[: t + 1])
    assert not np.array_equal(att2.contributions[t + 1:], att.contributions[t + 1:])


def test_uncovered_holdings_are_unexplained(fitted):
    res, w, ex, r = fitted["res"], fitted["w"], fitted["ex"], fitted["r"]
    t = 100
    i = int(np.flatnonzero((w[t] > 0) & np.isfinite(r[t]))[0])
    st = ex.styles.copy()
    st[t - 1, i, 0] = np.nan  # asset i's exposures unknown on the exposure date of t
    ex2 = ff.Exposures(st, ex.industry, style_names=ex.style_names, industry_names=ex.industry_names,
                       dates=ex.dates, assets=ex.assets)
    k = ex.n_factors
    risk = ff.RiskModel.from_covariance(np.stack([np.eye(k)] * len(w)), np.full(w.shape, 1e-4), ex2)
    att = ff.attribute(w, (risk, res.factor_returns), returns=r)
    o = baseline.attribute(w, r, st, ex.industry, ex.market, ex.n_industries, res.factor_returns, 1)
    np.testing.assert_allclose(att.unexplained, o["unexplained"], rtol=0, atol=1e-15)
    assert att.unexplained[t] == pytest.approx(w[t, i] * r[t, i], abs=1e-15)
    assert att.unexplained[t - 1] == 0.0 and att.unexplained[t + 1] == 0.0
    np.testing.assert_allclose(att.contributions, o["contributions"], rtol=0, atol=1e-14)
    assert np.abs(_identity(att)).max() < 1e-12
    # a factor without a return on a date: its members are unexplained there
    f = res.factor_returns.copy()
    g = int(ex.industry[t - 1, i])
    f[t, 1 + g] = np.nan
    att = ff.attribute(w, (risk, f), returns=r)
    members = (ex.industry[t - 1] == g) & (w[t] != 0) & (np.arange(w.shape[1]) != i)
    assert att.unexplained[t] == pytest.approx(w[t, i] * r[t, i] + w[t, members] @ r[t, members], abs=1e-15)
    assert att.contributions[t, 1 + g] == 0.0 and att.exposures[t, 1 + g] == 0.0


def test_active_attribution_against_a_benchmark(fitted):
    res, w, b = fitted["res"], fitted["w"], fitted["b"]
    att = ff.attribute(w, res, benchmark=b)
    p, q = ff.attribute(w, res), ff.attribute(b, res)
    assert att.active
    np.testing.assert_allclose(att.exposures, p.exposures - q.exposures, rtol=0, atol=1e-14)
    np.testing.assert_allclose(att.contributions, p.contributions - q.contributions, rtol=0, atol=1e-14)
    np.testing.assert_allclose(att.portfolio_return, p.total, rtol=0, atol=1e-15)
    np.testing.assert_allclose(att.benchmark_return, q.total, rtol=0, atol=1e-15)
    np.testing.assert_allclose(att.total, p.total - q.total, rtol=0, atol=1e-15)
    o = _oracle(fitted, w, benchmark=b)
    np.testing.assert_allclose(att.specific, o["specific"], rtol=0, atol=1e-14)
    assert np.abs(_identity(att)).max() < 1e-12


def test_linking_is_exact():
    # hand-worked: +10 % from factor a, then +10 % from factor b → 21 % = 0.10 + 0.11
    c = np.array([[0.10, 0.0], [0.0, 0.10]])
    np.testing.assert_allclose(link_contributions(c, c.sum(1)), [[0.10, 0.0], [0.10, 0.11]], rtol=1e-15)


def test_linked_rows_add_up_to_the_compounded_return(fitted):
    att = ff.attribute(fitted["w"], fitted["res"], costs=np.full(len(fitted["w"]), 1e-4))
    assert att.linked.shape == (len(fitted["w"]), len(att.factor_names) + 3)
    assert att.lines[-3:] == ["specific", "unexplained", "costs"]
    compounded = np.cumprod(1 + att.total) - 1
    np.testing.assert_allclose(att.linked.sum(axis=1), compounded, rtol=0, atol=1e-13)
    np.testing.assert_allclose(att.linked[:, -1], -np.cumsum(1e-4 * np.r_[1.0, np.cumprod(1 + att.total)[:-1]]),
                               rtol=1e-12)
    grouped = att.by_group()
    np.testing.assert_allclose(grouped.linked.sum(axis=1), compounded, rtol=0, atol=1e-13)
    # without costs the costs line is zero, shown as 0.0 (never −0.0) in the frames and the table
    free = ff.attribute(fitted["w"], fitted["res"])
    assert (free.linked[:, -1] == 0).all() and not np.signbit(free.linked[:, -1]).any()
    row = free.table().filter(pl.col("line") == "costs")
    assert not np.signbit(row["annual_contribution"].to_numpy()).any()


def test_cumulative_return_of_a_small_active_book_keeps_its_digits(fitted):
    # An active book 1e-6 away from its benchmark earns ~1e-8 a day: Π(1 + total) − 1 kept only
    # the digits of each total that 1 + total keeps (~1e-7 relative after a year, against the
    # row sums of `linked`, which the docstring equates with it). Oracle: compounding in fractions.
    from fractions import Fraction

    res, w, b = fitted["res"], fitted["w"], fitted["b"]
    att = ff.attribute(b + 1e-6 * (w - b), res, benchmark=b)
    wealth, exact = Fraction(1), []
    for v in att.total:
        wealth *= 1 + Fraction(float(v))
        exact.append(float(wealth - 1))
    exact = np.array(exact)
    live = np.abs(exact) > 1e-3 * np.abs(exact).max()  # (away from the crossings of zero)
    assert np.abs(att.total).max() < 1e-7 and live.sum() > 100
    np.testing.assert_allclose(att.cumulative_return[live], exact[live], rtol=1e-12, atol=0)
    np.testing.assert_allclose(att.linked.sum(axis=1)[live], exact[live], rtol=1e-12, atol=0)


def test_summary_table(fitted):
    att = ff.attribute(fitted["w"], fitted["res"], costs=np.full(len(fitted["w"]), 1e-4))
    tab = att.table(periods_per_year=252)
    k = len(att.factor_names)
    assert tab["line"].to_list() == att.factor_names + ["specific", "unexplained", "costs", "total"]
    lines = np.column_stack([att.contributions, att.specific, att.unexplained, -att.costs])
    np.testing.assert_allclose(tab["annual_contribution"].to_numpy()[:-1], lines.mean(0) * 252, rtol=1e-12)
    t_ref = stats.ttest_1samp(att.contributions, 0.0).statistic
    np.testing.assert_allclose(tab["tstat"].to_numpy()[:k], t_ref, rtol=1e-10)
    assert np.isnan(tab["tstat"][k + 2])  # a constant cost has no t-statistic
    sigma = np.std(att.total, ddof=1) * np.sqrt(252)
    vol = tab["vol_contribution"].to_numpy()
    assert vol[-1] == pytest.approx(sigma, rel=1e-12)
    assert vol[:-1].sum() == pytest.approx(sigma, rel=1e-10)
    assert tab["share_of_variance"].to_numpy()[:-1].sum() == pytest.approx(1.0, rel=1e-10)
    np.testing.assert_allclose(tab["mean_exposure"].to_numpy()[:k], att.exposures.mean(0), rtol=1e-12)
    text = str(att.summary())
    assert "Factor attribution" in text and "vol_contribution" in text
    seed_view = tab.select("line", "annual_contribution", "tstat")
    assert seed_view.height == k + 4
    # the cap-weighted book's industry contributions sum to zero by the constraint (up to
    # rounding): the grouped line has no t-statistic, where one of rounding noise would show
    grouped = att.by_group()
    ind = grouped.factor_names.index("industries")
    assert np.abs(grouped.contributions[:, ind]).max() < 1e-15
    gt = grouped.table()
    assert np.isnan(gt["tstat"][ind]) and np.isfinite(gt["tstat"][grouped.factor_names.index("styles")])


def test_risk_model_path_and_frames(fitted):
    res, w, panel = fitted["res"], fitted["w"], fitted["panel"]
    risk = ff.RiskModel.from_factor_model(res)
    a = ff.attribute(w, res)
    b = ff.attribute(w, (risk, res.factor_returns), returns=res.returns)
    np.testing.assert_array_equal(a.contributions, b.contributions)
    np.testing.assert_array_equal(a.specific, b.specific)
    c = ff.attribute(w, (risk, res.factor_returns, 1), returns=res.returns)
    np.testing.assert_array_equal(a.total, c.total)
    wide = pl.DataFrame({"date": panel.dates, **{s: w[:, j] for j, s in enumerate(panel.assets)}})
    d = ff.attribute(wide, res)
    np.testing.assert_array_equal(a.total, d.total)
    np.testing.assert_array_equal(d.dates, panel.dates)
    long = d.to_polars("contributions", form="long")
    assert long.columns == ["date", "factor", "contributions"]
    # out of date order: sorted, then matched on the model's dates (nothing pairs with its rows
    # by position); with a costs array (per date, by position) it is refused
    shuffled = wide[np.random.default_rng(0).permutation(wide.height).tolist()]
    e = ff.attribute(shuffled, res)
    np.testing.assert_array_equal(a.total, e.total)
    np.testing.assert_array_equal(a.contributions, e.contributions)
    with pytest.raises(ValueError, match="weights: the rows of the wide frame are not in date order"):
        ff.attribute(shuffled, res, costs=np.zeros(len(panel.dates)))
    with pytest.raises(ValueError, match="weights: the rows of the wide frame are not in date order"):
        ff.attribute(shuffled, res, returns=np.asarray(res.returns))


def test_frames_are_matched_on_their_labels_even_when_the_model_has_none():
    # a model without dates or assets: weights, returns and benchmark frames must agree among
    # themselves; a frame out of date order never pairs with arrays
    ex = ff.Exposures(np.array([[[1.0], [-1.0]], [[0.5], [0.2]]]), np.array([[0, 1], [0, 1]]),
                      style_names=["value"], industry_names=["A", "B"])
    risk = ff.RiskModel.from_covariance(np.stack([np.eye(4)] * 2), np.full((2, 2), 1e-4), ex)
    f = np.array([[np.nan] * 4, [0.01, 0.002, -0.003, 0.004]])
    dates = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    w = pl.DataFrame({"date": dates, "x": [0.0, 0.6], "y": [0.0, 0.4]})
    r = pl.DataFrame({"date": dates, "x": [0.0, 0.02], "y": [0.0, -0.01]})
    att = ff.attribute(w, (risk, f), returns=r)
    np.testing.assert_allclose(att.total, [0.0, 0.6 * 0.02 - 0.4 * 0.01], rtol=1e-15)
    shifted = r.with_columns(pl.col("date") + pl.duration(days=1))
    with pytest.raises(ValueError, match="returns and weights have different dates"):
        ff.attribute(w, (risk, f), returns=shifted)
    with pytest.raises(ValueError, match="benchmark and weights have different assets"):
        ff.attribute(w, (risk, f), returns=r, benchmark=w.rename({"x": "z"}))
    with pytest.raises(ValueError, match="weights: the rows of the wide frame are not in date order"):
        ff.attribute(w.reverse(), (risk, f), returns=np.array([[0.0, 0.0], [0.02, -0.01]]))


def test_pandas_frames_are_matched_on_their_labels(fitted):
    """pandas DataFrames (DatetimeIndex × tickers) as weights, returns and benchmark keep their
    labels, as Polars frames do: weights with their columns reversed (or on other dates) were
    attributed by position, each weight on another asset's exposures."""
    import pandas as pd

    res, w, b, panel = fitted["res"], fitted["w"], fitted["b"], fitted["panel"]

    def pdf(x, assets=panel.assets, d=panel.dates):
        return pd.DataFrame(x, index=pd.DatetimeIndex(d), columns=list(assets))

    ref = ff.attribute(w, res, benchmark=b)
    got = ff.attribute(pdf(w), res, benchmark=pdf(b))
    np.testing.assert_array_equal(got.contributions, ref.contributions)
    np.testing.assert_array_equal(got.total, ref.total)
    with pytest.raises(ValueError, match=f"^weights and model have different assets: position 0 is {panel.assets[-1]}"):
        ff.attribute(pdf(w[:, ::-1], panel.assets[::-1]), res)
    with pytest.raises(ValueError, match="^weights and model have different dates"):
        ff.attribute(pdf(w, d=panel.dates + 1), res)
    with pytest.raises(ValueError, match="^benchmark and model have different assets"):
        ff.attribute(w, res, benchmark=pdf(b[:, ::-1], panel.assets[::-1]))
    # rows newest first: matched on the model's dates (nothing pairs with them by position)
    np.testing.assert_array_equal(ff.attribute(pdf(w).iloc[::-1], res).total, ff.attribute(w, res).total)


def test_thread_count_does_not_matter(fitted):
    before = ff.get_num_threads()
    try:
        ff.set_num_threads(1)
        a = ff.attribute(fitted["w"], fitted["res"], benchmark=fitted["b"])
        ff.set_num_threads(2)
        b = ff.attribute(fitted["w"], fitted["res"], benchmark=fitted["b"])
    finally:
        ff.set_num_threads(before)
    np.testing.assert_array_equal(a.contributions, b.contributions)
    np.testing.assert_array_equal(a.specific, b.specific)


def test_bad_input(fitted):
    res, w, panel = fitted["res"], fitted["w"].copy(), fitted["panel"]
    r = fitted["r"]
    t, i = np.argwhere(~np.isfinite(r[1:]))[0] + np.array([1, 0])
    w[t, i] = 0.01
    with pytest.raises(ValueError, match=f"missing.*{panel.assets[i]}"):
        ff.attribute(w, res)
    with pytest.raises(ValueError, match="shape"):
        ff.attribute(fitted["w"][:, :-1], res)
    with pytest.raises(TypeError, match="RiskModel"):
        ff.attribute(fitted["w"], ff.RiskModel.from_factor_model(res))
    with pytest.raises(ValueError, match="returns are required"):
        ff.attribute(fitted["w"], (ff.RiskModel.from_factor_model(res), res.factor_returns))
    with pytest.raises(TypeError, match="model"):
        ff.attribute(fitted["w"], "model")
    with pytest.raises(ValueError, match="costs"):
        ff.attribute(fitted["w"], res, costs=np.zeros(3))
    with pytest.raises(ValueError, match="costs"):
        ff.attribute(fitted["w"], res, costs=np.full(len(r), np.nan))
    bad = fitted["w"].copy()
    bad[5, 5] = np.inf
    with pytest.raises(ValueError, match="weights"):
        ff.attribute(bad, res)
    other = pl.DataFrame({"date": panel.dates, **{f"x{j}": fitted["w"][:, j] for j in range(w.shape[1])}})
    with pytest.raises(ValueError, match="assets"):
        ff.attribute(other, res)
    with pytest.raises(ValueError, match="periods_per_year"):
        ff.attribute(fitted["w"], res).summary(periods_per_year=-1)


def test_missing_returns_errors_name_the_side_that_holds_the_asset(fitted):
    res, w, r = fitted["res"], fitted["w"], fitted["r"]
    panel = fitted["panel"]
    t, i = np.argwhere(~np.isfinite(r[1:]))[0] + np.array([1, 0])
    b = w.copy()
    b[t, i] = 0.01  # the benchmark, not the portfolio, holds an asset without a return
    with pytest.raises(ValueError, match=f"benchmark holds assets whose return is missing.*{panel.assets[i]}"):
        ff.attribute(w, res, benchmark=b)
    # an infinite return is refused as such, not reported as missing nor used
    rr = np.where(np.isfinite(r), r, 0.0)
    rr[5, 5] = np.inf
    with pytest.raises(ValueError, match="returns must not contain infinite values"):
        ff.attribute(w, res, returns=rr)
    rr[5, 5] = 0.0
    rr[6, 7] = -np.inf
    w2 = w.copy()
    w2[6, 7] = 0.0
    with pytest.raises(ValueError, match="returns must not contain infinite values"):
        ff.attribute(w2, res, returns=rr)


def test_costs_as_a_pandas_series_indexed_by_date_must_carry_the_model_dates(fitted):
    # a costs Series indexed by date was read by position: reordered, each date was charged
    # another date's costs (total changed, no error). Now it must carry the model's dates, in
    # their order (attribute pairs with the model by label, it joins nothing)
    pd = pytest.importorskip("pandas")
    res, w, panel = fitted["res"], fitted["w"], fitted["panel"]
    costs = np.abs(np.random.default_rng(2).normal(0, 2e-4, len(w)))
    ref = ff.attribute(w, res, costs=costs)
    s = pd.Series(costs, index=pd.DatetimeIndex(panel.dates))
    got = ff.attribute(w, res, costs=s)
    np.testing.assert_array_equal(got.costs, ref.costs)
    np.testing.assert_array_equal(got.total, ref.total)
    d0, d1 = panel.dates[-1], panel.dates[0]
    with pytest.raises(ValueError, match=rf"^costs and the model have different dates: position 0 is {d0} in costs "
                                         rf"but {d1} in the model \(260 positions differ\); costs is paired with "
                                         r"the model by date: give it on the same dates, in the same order"):
        ff.attribute(w, res, costs=s.iloc[::-1])
    with pytest.raises(ValueError, match=r"^costs has 259 dates but the model has 260"):
        ff.attribute(w, res, costs=s.iloc[1:])
    # beside a weights frame out of date order, costs indexed by date pair by date: the frame
    # is sorted and matched on the model's dates, as without costs
    wide = pl.DataFrame({"date": panel.dates, **{a: w[:, j] for j, a in enumerate(panel.assets)}})
    shuffled = wide[np.random.default_rng(0).permutation(wide.height).tolist()]
    np.testing.assert_array_equal(ff.attribute(shuffled, res, costs=s).total, ref.total)
    # the default index stays positional, as an array
    np.testing.assert_array_equal(ff.attribute(w, res, costs=pd.Series(costs)).total, ref.total)


def test_risk_model_factor_returns_indexed_by_date_must_carry_its_dates(fitted):
    # (risk_model, factor_returns) with factor returns as a pandas DataFrame indexed by date:
    # they were read by position (reordered: other contributions, no error)
    pd = pytest.importorskip("pandas")
    res, w, panel = fitted["res"], fitted["w"], fitted["panel"]
    risk = ff.RiskModel.from_factor_model(res)
    f = np.asarray(res.factor_returns)
    want = ff.attribute(w, (risk, f), returns=res.returns)
    fdf = pd.DataFrame(f, index=pd.DatetimeIndex(panel.dates), columns=res.factor_names)
    np.testing.assert_array_equal(ff.attribute(w, (risk, fdf), returns=res.returns).contributions, want.contributions)
    with pytest.raises(ValueError, match=r"^factor_returns \(model\[1\]\) and risk model have different dates"):
        ff.attribute(w, (risk, fdf.iloc[::-1]), returns=res.returns)
    # its named columns name the factors, as a Polars frame's do (they were read by position:
    # two factors swapped gave other contributions, no error); default columns stay positional
    names = list(res.factor_names)
    swapped = fdf[[names[1], names[0], *names[2:]]]
    with pytest.raises(ValueError, match=r"^factor_returns \(model\[1\]\) columns .* differ from the factors of risk model, \['market', "):
        ff.attribute(w, (risk, swapped), returns=res.returns)
    plain = pd.DataFrame(f, index=pd.DatetimeIndex(panel.dates))
    np.testing.assert_array_equal(ff.attribute(w, (risk, plain), returns=res.returns).contributions, want.contributions)


def test_a_backtest_book_attributes_its_own_net_returns():
    # attribute(weights, ...) wants the weights that earn returns[t]: a book's weights_after of
    # t-1. Passing weights_after of t ran without a word and credited each day's trade with the
    # move before it; BacktestResult.attribute pairs them (suspensions bridged by prices= too)
    panel = ff.datasets.synthetic_universe(n_assets=80, n_days=200, seed=4)
    ex = ff.Exposures.from_panel(panel)
    model = ff.FactorModel().fit(panel, ex)
    rev = -panel["returns"]  # yesterday's losers: a one-day reversal book, rebalanced daily
    sig = np.vstack([np.full((1, 80), np.nan), np.nan_to_num(rev[:-1], nan=0.0)])
    book = ff.backtest(panel, ff.strategies.TopN(sig, n=10), rebalance="daily", prices="close")
    att = book.attribute(model)
    np.testing.assert_allclose(att.total, book.returns, rtol=0, atol=1e-14)
    # by hand: the held weights are those after the previous day's trade
    w = np.zeros(book.weights_after.shape)
    w[1:] = book.weights_after[:-1]
    r = np.where(w != 0, np.nan_to_num(ff.returns_from_prices(panel["close"], bridge=True), nan=0.0),
                 ff.returns_from_prices(panel["close"], bridge=True))
    hand = ff.attribute(w, model, returns=r, costs=book.costs / np.r_[1.0, book.value[:-1]])
    np.testing.assert_array_equal(att.contributions, hand.contributions)
    np.testing.assert_array_equal(att.total, hand.total)
    # the weights after each trade are another book: its total is not the book's return
    wrong = ff.attribute(book.weights_after, model, returns=r)
    assert np.nanmax(np.abs(wrong.total - book.returns)) > 1e-3



def test_a_backtest_over_part_of_the_models_dates_is_told_why_it_cannot_be_attributed():
    # BacktestResult.attribute needs the model's whole span (documented); a book with start=
    # got "weights has shape (100, 30) but the model's exposures are (150, 30)": weights the
    # caller never passed
    panel = ff.datasets.synthetic_universe(n_assets=30, n_days=150, seed=4)
    model = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel))
    w = np.where(np.isfinite(panel["returns"]), 1 / 30, 0.0)
    with pytest.raises(ValueError, match=r"the backtest covers 100 dates \(rows 50\.\.149 of its 150 dates\) and "
                                         r"the model 150: attribute needs a backtest over the model's whole span"):
        ff.backtest(panel, w, rebalance=10, start=50).attribute(model)
    assert ff.backtest(panel, w, rebalance=10).attribute(model).total.shape == (150,)


def test_costs_are_kept_as_given_when_the_callers_array_changes():
    # costs was a view of the caller's array, while total (gross − costs) was set at once: editing
    # the array afterwards made costs and total disagree
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=80, seed=3)
    res = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel))
    w = np.where(np.isfinite(panel["returns"]), 1.0 / 40, 0.0)
    costs = np.full(80, 1e-4)
    a = ff.attribute(w, res, costs=costs)
    costs[:] = 0.0
    assert np.all(a.costs == 1e-4)
    np.testing.assert_allclose(a.total, a.gross - a.costs)


@pytest.mark.parametrize("name", ["specific", "unexplained", "costs", "total"])
def test_a_factor_named_as_an_attribution_line_is_refused(name):
    # a style named "specific" gave a table with two "specific" rows (which is which?) and
    # to_polars("linked") failed inside Polars (ComputeError: duplicate column name)
    rng = np.random.default_rng(0)
    T, N = 30, 20
    ex = ff.Exposures({name: rng.normal(size=(T, N)), "value": rng.normal(size=(T, N))})
    res = ff.FactorModel(weights="equal").fit(rng.normal(0, 0.01, (T, N)), ex)
    with pytest.raises(ValueError, match=f"factor '{name}' has the name of an attribution line"):
        ff.attribute(np.full((T, N), 1 / N), res)


def test_table_warns_when_periods_per_year_does_not_fit_the_dates():
    # a monthly model: annual_contribution is the mean × periods_per_year, so the default 252
    # reported a 2.4 (240 %) market line for 1 % a month, silently (ff.metrics warns)
    import warnings

    import pandas as pd

    rng = np.random.default_rng(0)
    T, N = 60, 30
    dates = np.array(pd.date_range("2000-01-31", periods=T, freq="ME").values, dtype="datetime64[D]")
    ex = ff.Exposures(rng.normal(size=(T, N, 2)), np.tile(np.arange(N) % 3, (T, 1)),
                      style_names=["value", "size"], dates=dates, assets=[f"A{i}" for i in range(N)])
    res = ff.FactorModel().fit(rng.normal(0.01, 0.05, (T, N)), ex, cap=np.exp(rng.normal(size=(T, N))))
    att = ff.attribute(np.full((T, N), 1.0 / N), res)
    with pytest.warns(ff.metrics.PeriodsPerYearWarning, match="periods_per_year=12"):
        att.table()
    with pytest.warns(ff.metrics.PeriodsPerYearWarning):
        att.summary()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        att.table(12)
        att.summary(periods_per_year=12)
