"""``.plot()`` of the result classes: each returns a matplotlib Figure (Agg, no pyplot) whose drawn
data are the result's numbers, checked against independent computations (pandas cumulative
products and rolling standard deviations, numpy), plus bad input and a missing matplotlib."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

import ferrofactor as ff  # noqa: E402
from ferrofactor import plotting  # noqa: E402

ANN = np.sqrt(252)


@pytest.fixture(scope="module")
def fitted():
    panel = ff.datasets.synthetic_universe(n_assets=120, n_days=300, seed=7)
    ex = ff.Exposures.from_panel(panel)
    res = ff.FactorModel().fit(panel, ex)
    risk = ff.RiskModel.from_factor_model(res)
    return panel, ex, res, risk


def _lines(ax):
    return {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}


def test_factor_returns_plot_draws_the_cumulative_returns_by_group(fitted):
    _, ex, res, _ = fitted
    fig = res.plot()
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert [a.get_title(loc="left").split(" ")[0] for a in axes] == ["market", "industries", "styles"]
    want = (1 + pd.DataFrame(res.factor_returns, columns=res.factor_names).fillna(0.0)).cumprod() - 1
    for ax in axes:
        for name, ln in _lines(ax).items():
            np.testing.assert_allclose(ln.get_ydata(), 100 * want[name].to_numpy(), rtol=1e-12)
            np.testing.assert_array_equal(ln.get_xdata(), res.dates)
    assert set(_lines(axes[2])) == set(ex.style_names)
    assert len(_lines(axes[1])) == len(ex.industry_names)
    only = res.plot(groups="styles", max_lines=2)
    assert len(only.axes) == 1 and len(_lines(only.axes[0])) == 2
    assert "2 smaller not shown" in only.axes[0].get_title(loc="left")
    # the two with the largest final |cumulative return|
    final = want[ex.style_names].iloc[-1].abs().sort_values(ascending=False)
    assert set(_lines(only.axes[0])) == set(final.index[:2])
    with pytest.raises(ValueError, match=r"groups must be among \['market', 'industries', 'styles'\]"):
        res.plot(groups="factors")


def test_long_series_are_thinned_but_exact_where_drawn():
    idx = plotting._thin(2520)
    assert len(idx) <= plotting.MAX_POINTS + 1 and idx[0] == 0 and idx[-1] == 2519
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(plotting._thin(500), np.arange(500))
    f = np.random.default_rng(0).normal(0, 0.01, (2520, 3))
    r = ff.CrossSectionResult(factor_returns=f, residuals=np.zeros((2520, 2)), r2=np.zeros(2520),
                              std_errors=f, tstats=f, n_obs=np.zeros(2520, np.int64), factor_names=["a", "b", "c"])
    ln = _lines(r.plot().axes[0])["b"]
    np.testing.assert_allclose(ln.get_ydata(), 100 * (np.cumprod(1 + f[:, 1]) - 1)[idx], rtol=1e-12)
    np.testing.assert_array_equal(ln.get_xdata(), idx)


def test_fama_macbeth_plot_draws_the_annualised_means(fitted):
    _, _, res, _ = fitted
    fm = res.fama_macbeth()
    ax = fm.plot().axes[0]
    bars = ax.patches
    assert len(bars) == len(fm.factor_names)
    np.testing.assert_allclose([b.get_width() for b in bars], fm.params * 252 * 100, rtol=1e-12)
    assert [t.get_text() for t in ax.get_yticklabels()] == fm.factor_names
    ax = fm.plot(annualize=False).axes[0]
    np.testing.assert_allclose([b.get_width() for b in ax.patches], fm.params * 100, rtol=1e-12)


def test_risk_model_plot_draws_annualised_factor_volatilities(fitted):
    _, _, _, risk = fitted
    fig = risk.plot()
    names = risk.factor_names
    for ax in fig.axes:
        for name, ln in _lines(ax).items():
            np.testing.assert_allclose(ln.get_ydata(), risk.factor_volatility[:, names.index(name)] * ANN * 100,
                                       rtol=1e-12)



def test_risk_model_plot_of_a_factor_without_volatility_warns_nothing():
    # low_vol needs 252 dates of history: on 200 dates its volatility is NaN throughout, and the
    # plot's ordering by mean level warned "Mean of empty slice" (np.nanmean)
    panel = ff.datasets.synthetic_universe(n_assets=60, n_days=200, seed=11)
    risk = ff.RiskModel.from_factor_model(ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel)))
    assert np.isnan(risk.factor_volatility[:, risk.factor_names.index("low_vol")]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = risk.plot(groups="styles")
    lines = _lines(fig.axes[0])
    assert list(lines)[-1] == "low_vol"  # drawn last: no level
    level = np.nanmean(risk.factor_volatility[:, [risk.factor_names.index(n) for n in list(lines)[:-1]]], axis=0)
    assert (np.diff(level) <= 0).all()  # the others by decreasing mean volatility


def test_bias_plots_against_the_band(fitted):
    panel, _, _, risk = fitted
    rng = np.random.default_rng(1)
    test = ff.evaluate.bias_test(risk, panel, rng.random((20, 120)), dates=np.arange(150, 299))
    b = test.bias
    ax = b.plot().axes[0]
    pts = ax.collections[-1].get_offsets()
    np.testing.assert_allclose(pts[:, 1], np.sort(b.bias), rtol=1e-12)
    fig = test.plot(window=21)
    assert len(fig.axes) == 2
    # rolling bias: pandas' rolling standard deviation of the standardised returns
    z = pd.DataFrame(test.standardized)
    sd = z.rolling(21, min_periods=2).std().to_numpy()
    got, _ = plotting.rolling_bias(test.standardized, 21)
    np.testing.assert_allclose(got[20:], sd[20:], rtol=1e-9)
    assert np.isnan(got[:20]).all()
    med = _lines(fig.axes[1])["median"].get_ydata()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: NaN
        want = np.nanmedian(sd[20:], axis=1)
    np.testing.assert_allclose(med[20:], want, rtol=1e-9)
    mv = ff.evaluate.minimum_variance_test(risk, panel)
    fig = mv.plot(window=30)
    assert len(fig.axes) == 1
    line = _lines(fig.axes[0])["bias"].get_ydata()
    want = pd.Series(mv.standardized[:, 0]).rolling(30, min_periods=2).std().to_numpy()
    np.testing.assert_allclose(line[29:], want[29:], rtol=1e-9)
    with pytest.raises(ValueError, match="window"):
        mv.plot(window=1)


def test_portfolio_plots_exposure_bars_and_risk_contributions(fitted):
    panel, ex, _, risk = fitted
    pytest.importorskip("cvxpy")
    t = -1
    alpha = np.where(risk.covered(t), 0.05 * risk.specific_risk[t] * ff.combined_score(ex)[t], np.nan)
    o = ff.optimize(alpha, risk, date=t, risk_aversion=10.0, max_weight=0.05)
    ax = o.plot().axes[0]
    np.testing.assert_allclose([b.get_height() for b in ax.patches], o.exposures, rtol=1e-12, atol=1e-15)
    assert [x.get_text() for x in ax.get_xticklabels()] == o.factor_names
    colors = {tuple(b.get_facecolor()[:3]) for b in ax.patches}
    assert len(colors) == 3  # market, industries, styles
    w = np.where(risk.covered(t), 1.0, 0.0)
    w /= w.sum()
    bench = ff.optimize(alpha, risk, date=t, risk_aversion=10.0, max_weight=0.05, benchmark=w)
    ax = bench.plot().axes[0]
    k = len(bench.factor_names)
    np.testing.assert_allclose([b.get_height() for b in ax.patches[k:2 * k]], bench.active_exposures,
                               rtol=1e-12, atol=1e-15)
    dec = risk.risk_decomposition(w, date=t, annualize=True)
    ax = dec.plot(top=5).axes[0]
    c = np.append(dec.factor_contrib, dec.specific_contrib)
    top = np.sort(np.abs(c))[::-1][:5]
    np.testing.assert_allclose(sorted(np.abs([b.get_width() for b in ax.patches]))[::-1], 100 * top, rtol=1e-12)


def test_exposures_plot_one_asset_or_the_cross_section(fitted):
    panel, ex, _, _ = fitted
    a = str(panel.assets[7])
    ax = ex.plot(asset=a, date=-2).axes[0]
    np.testing.assert_allclose([b.get_height() for b in ax.patches], np.nan_to_num(ex.styles[-2, 7]), rtol=1e-12)
    assert ax.get_title(loc="left").startswith(f"Factor exposures for {a} on {panel.dates[-2]}")
    ax = ex.plot(asset=7, date=str(panel.dates[-2])).axes[0]
    np.testing.assert_allclose([b.get_height() for b in ax.patches], np.nan_to_num(ex.styles[-2, 7]), rtol=1e-12)
    fig = ex.plot()
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ex.style_names
    with pytest.raises(ValueError, match="asset 'nope' is not among"):
        ex.plot(asset="nope")
    with pytest.raises(ValueError, match="out of range"):
        ex.plot(asset=500)
    with pytest.raises(TypeError, match="date"):
        ex.plot(date=1.5)


def test_panel_plot_counts_the_assets_with_values(fitted):
    panel = fitted[0]
    lines = _lines(panel.plot(fields=["returns", "book_value"]).axes[0])
    np.testing.assert_array_equal(lines["returns"].get_ydata(), np.isfinite(panel["returns"]).sum(axis=1))
    np.testing.assert_array_equal(lines["industry (code)"].get_ydata(), (panel["industry"] >= 0).sum(axis=1))
    with pytest.raises(ValueError, match=r"fields \['nope'\] are not float fields"):
        panel.plot(fields=["nope"])


def test_without_matplotlib_plot_says_how_to_install_it(fitted, monkeypatch):
    res = fitted[2]
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r'pip install "\.\[plot\]" in the ferrofactor source tree'):
        res.plot()


def test_backtest_figure_draws_value_and_drawdown(fitted):
    """The report's backtest figure: each book's value over its initial value and its drawdown
    from the running maximum (pandas' cummax), in percent."""
    panel = fitted[0]
    sig = ff.combined_score(fitted[1])
    books = ff.backtest_many(panel, {"top": ff.strategies.TopN(sig, fraction=0.2),
                                     "ls": ff.strategies.TopN(sig, fraction=0.2, long_short=True)},
                             rebalance="monthly", cost_bps=10.0, initial_value=2.0)
    fig = plotting.backtest_figure(books)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    top, bottom = (_lines(ax) for ax in fig.axes)
    assert set(top) == set(bottom) == {"top", "ls"}
    for j, name in enumerate(books.books):
        v = pd.Series(books.value[:, j])
        np.testing.assert_allclose(top[name].get_ydata(), v / 2.0, rtol=1e-15)
        np.testing.assert_allclose(bottom[name].get_ydata(), 100 * (v / v.cummax() - 1), rtol=1e-12, atol=1e-13)
        np.testing.assert_array_equal(top[name].get_xdata(), books.dates)
    assert (bottom["ls"].get_ydata() <= 0).all()
