"""Solver-free constructions (quantile_portfolio, top_n, signal_weighted) and trade lists.

Oracles: ``ff.baseline`` per-date loops with Python's ``sorted`` (exact equality: the same
weights are the same floating-point numbers), hand-worked cross-sections, and hand-computed
trade lists.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff
from ferrofactor import baseline as bl


@pytest.fixture(scope="module")
def signal():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((40, 57))
    s[rng.random(s.shape) < 0.2] = np.nan
    s[3] = np.nan  # nothing eligible
    s[4] = 1.0  # all tied
    s[5] = np.round(s[5])  # many ties
    s[6, :5] = [1, 2, 3, np.nan, 4]
    s[6, 5:] = np.nan  # 4 eligible: floor(0.4) = 0 at 10 %
    return s


@pytest.mark.parametrize("p", [0.1, 0.29, 0.5])
def test_quantile_portfolio_equals_baseline(signal, p):
    np.testing.assert_array_equal(ff.quantile_portfolio(signal, p), bl.quantile_portfolio(signal, p))
    np.testing.assert_array_equal(ff.quantile_portfolio(signal, p, long_short=False),
                                  bl.quantile_portfolio(signal, p, long_short=False))
    w = ff.quantile_portfolio(signal, p)
    held = np.abs(w).sum(axis=1) > 0
    np.testing.assert_allclose(w[held].sum(axis=1), 0.0, atol=1e-15)  # dollar neutral
    np.testing.assert_allclose(np.abs(w[held]).sum(axis=1), 1.0, rtol=1e-14)  # gross 1
    assert not held[3] and held[6] == (p >= 0.25)  # 4 eligible: floor(4p) = 0 below 25 %


@pytest.mark.parametrize("m", [100, 200, 400, 1500])
def test_a_share_of_the_assets_is_not_floored_below_an_exact_count(m):
    """0.29 · 100 is 28.999999999999996 in floating point: every selection by a share of the
    eligible assets takes floor of the exact product, 29 (here 0.29 m for m = 100 ... 1500)."""
    want = 29 * m // 100
    rng = np.random.default_rng(m)
    sig = rng.standard_normal((3, m))
    assert (ff.quantile_portfolio(sig[0], 0.29, long_short=False) > 0).sum() == want
    bt = ff.backtest(rng.normal(0, 0.01, (3, m)), ff.strategies.TopN(sig, fraction=0.29), rebalance=[0],
                     cost_bps=0)
    assert bt.n_holdings[0] == want
    bt = ff.backtest(rng.normal(0, 0.01, (3, m)), ff.strategies.TopN(sig, fraction=0.29, long_short=True),
                     rebalance=[0], cost_bps=0)
    assert bt.n_holdings[0] == 2 * want
    r, dv = rng.normal(0, 0.01, (300, m)), np.full((300, m), 1e8)
    ms = ff.momentum_selection(r, dv, rebalance=[299], percentile=0.29)
    assert ms.n_long[0] == ms.n_short[0] == want
    long, short = bl.momentum_selection(r, dv, rebalance=[299], percentile=0.29)
    np.testing.assert_array_equal(ms.long, long)
    np.testing.assert_array_equal(ms.short, short)


def test_quantile_portfolio_hand_worked_and_vectorised(signal):
    x = np.array([0.3, -1.0, 2.0, np.nan, 0.1, 0.7, -0.2, 0.0])  # 7 finite
    # floor(7 · 0.3) = 2: long 2.0 and 0.7, short -1.0 and -0.2, each ±0.25.
    assert ff.quantile_portfolio(x, 0.3).tolist() == [0, -0.25, 0.25, 0, 0, 0.25, -0.25, 0]
    assert ff.quantile_portfolio(x, 0.3, long_short=False).tolist() == [0, 0, 0.5, 0, 0, 0.5, 0, 0]
    # Ties: the later asset ranks higher (as momentum_selection).
    assert ff.quantile_portfolio(np.ones(4), 0.25).tolist() == [-0.5, 0, 0, 0.5]
    # Rows of a panel are independent cross-sections.
    w = ff.quantile_portfolio(signal, 0.2)
    for t in (0, 7, 20):
        np.testing.assert_array_equal(w[t], ff.quantile_portfolio(signal[t], 0.2))


def test_top_n_equals_baseline_and_hand_worked(signal):
    for n in (1, 5, 60):
        np.testing.assert_array_equal(ff.top_n(signal, n), bl.top_n(signal, n))
    assert ff.top_n(np.array([0.3, -1.0, 2.0, np.nan]), 2).tolist() == [0.5, 0.0, 0.5, 0.0]
    assert ff.top_n(np.array([0.3, np.nan, 2.0]), 5).tolist() == [0.5, 0.0, 0.5]  # fewer than n
    assert ff.top_n(np.array([np.nan, np.nan]), 1).tolist() == [0.0, 0.0]


def test_signal_weighted_equals_baseline_and_seed_004(signal):
    for scale in ("gross", "exposure"):
        for clean in (True, False):
            np.testing.assert_allclose(ff.signal_weighted(signal, clean=clean, scale=scale),
                                       bl.signal_weighted(signal, clean=clean, scale=scale),
                                       rtol=1e-13, atol=1e-16)
    # Seed 004's factor portfolio: w = g / Σg² on the centred, standardised signal; its return
    # equals the slope of the no-intercept regression of returns on g (hand check with lstsq).
    rng = np.random.default_rng(1)
    g = rng.standard_normal(30)
    r = 0.01 * g + rng.standard_normal(30) * 0.02
    w = ff.signal_weighted(g, scale="exposure", limit=10.0)
    z = (g - g.mean()) / g.std(ddof=1)
    slope = np.linalg.lstsq(z[:, None], r, rcond=None)[0][0]
    assert w @ r == pytest.approx(slope, rel=1e-12)
    assert w @ z == pytest.approx(1.0, rel=1e-12) and abs(w.sum()) < 1e-15
    gross = ff.signal_weighted(g)
    assert np.abs(gross).sum() == pytest.approx(1.0, rel=1e-14)
    assert ff.signal_weighted(np.full(4, 2.0)).tolist() == [0.0] * 4  # no dispersion: nothing
    # without cleaning the signal is used as given, as the docstring says: a constant positive
    # signal is an equal-weighted long-only book, not nothing
    assert ff.signal_weighted(np.full(4, 2.0), clean=False).tolist() == [0.25] * 4


def test_constructions_keep_frame_labels():
    dates = np.datetime64("2024-01-01") + np.arange(3)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4))
    wide = pl.DataFrame({"date": dates, **{f"A{j}": x[:, j] for j in range(4)}})
    out = ff.top_n(wide, 2)
    assert out.columns == wide.columns
    np.testing.assert_array_equal(out.drop("date").to_numpy(), ff.top_n(x, 2))
    long = wide.unpivot(index="date", variable_name="asset", value_name="score").sort("date", "asset")
    q = ff.quantile_portfolio(long, 0.25)
    assert q.columns == ["date", "asset", "score"] and q.height == 12


def test_constructions_bad_input():
    with pytest.raises(ValueError, match="percentile must be <= 0.5"):
        ff.quantile_portfolio(np.ones(4), 0.6)
    assert ff.quantile_portfolio(np.arange(4.0), 0.6, long_short=False).tolist() == [0, 0, 0.5, 0.5]
    with pytest.raises(ValueError, match="percentile must be > 0"):
        ff.quantile_portfolio(np.ones(4), 0.0)
    with pytest.raises(ValueError, match="n must be >= 1"):
        ff.top_n(np.ones(4), 0)
    with pytest.raises(TypeError, match="n must be an integer"):
        ff.top_n(np.ones(4), 2.0)
    with pytest.raises(ValueError, match="signal must not contain infinite"):
        ff.top_n(np.array([1.0, np.inf]), 1)
    with pytest.raises(ValueError, match="signal must be 2-dimensional"):
        ff.signal_weighted(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="scale must be one of"):
        ff.signal_weighted(np.ones(3), scale="net")


# ------------------------------------------------------------------------ trades


def test_trades_hand_worked():
    target = {"A": 0.5, "B": 0.3, "D": 0.2005}
    current = {"A": 0.3, "C": 0.7, "D": 0.2}
    prices = {"A": 10.0, "B": 33.0, "C": 7.0, "D": 5.0}
    t = ff.trades(target, current, prices, 1000.0, lot=1)
    # A: +0.2·1000/10 = 20; B: 300/33 = 9.09 → 9; D: change 0.0005 < 0.001 → skip; C: closed, −100.
    assert t["asset"].to_list() == ["A", "B", "D", "C"]
    assert t["shares"].to_list() == [20, 9, 0, -100]
    assert t["side"].to_list() == ["buy", "buy", "skip", "sell"]
    assert t["note"].to_list() == [None, None, "below min_trade 0.001", None]
    np.testing.assert_allclose(t["value"].to_numpy(), [200.0, 297.0, 0.0, -700.0])
    np.testing.assert_allclose(t["traded_weight"].to_numpy(), [0.2, 0.297, 0.0, -0.7])
    # Lots of 10: B's 9.09 shares round to 10 (nearest lot); with lots of 50 A's 20 → 0: skipped.
    t10 = ff.trades(target, current, prices, 1000.0, lot=10)
    assert t10["shares"].to_list() == [20, 10, 0, -100]
    t50 = ff.trades(target, current, prices, 1000.0, lot=50)
    assert t50.filter(pl.col("asset") == "A")["side"].item() == "skip"
    assert t50.filter(pl.col("asset") == "A")["note"].item() == "rounds to 0 shares (lot 50)"


def test_trades_read_a_pandas_series_by_asset_label():
    # a Series was read by position: target B 0.5, A 0.5 (in that order) met current {A, C} and was
    # paired with A and C
    pd = pytest.importorskip("pandas")
    target = {"A": 0.5, "B": 0.3, "D": 0.2005}
    current = {"A": 0.3, "C": 0.7, "D": 0.2}
    prices = {"A": 10.0, "B": 33.0, "C": 7.0, "D": 5.0}
    want = ff.trades(target, current, prices, 1000.0)
    got = ff.trades(pd.Series(target).sort_values(), pd.Series(current).iloc[::-1], pd.Series(prices).sort_values(),
                    1000.0)
    order = pd.Series(target).sort_values().index.tolist() + ["C"]  # the target's labels first, as for mappings
    assert got["asset"].to_list() == order
    assert got.sort("asset").equals(want.sort("asset"))
    # with assets= the order is the given one; a Series with the default index is positional
    A = ["A", "B", "C", "D"]
    lab = ff.trades(pd.Series(target).iloc[::-1], pd.Series(current), pd.Series(prices), 1000.0, assets=A)
    pos = ff.trades(pd.Series([0.5, 0.3, 0.0, 0.2005]), pd.Series([0.3, 0.0, 0.7, 0.2]), pd.Series([10.0, 33.0, 7.0, 5.0]),
                    1000.0, assets=A)
    assert lab.equals(pos) and lab["asset"].to_list() == ["A", "B", "C", "D"]
    with pytest.raises(ValueError, match=r"^target \(a pandas Series\) has the asset 'A' twice in its index$"):
        ff.trades(pd.Series([0.5, 0.5], index=["A", "A"]), None, prices, 1000.0)
    # an array beside a Series (or mapping) has no labels to be paired with: after
    # target.sort_values() an unchanged book traded (-30000 C, +300 A) at the wrong prices
    with pytest.raises(ValueError, match=r"^current is an array but target is given by asset label"):
        ff.trades(pd.Series(target).sort_values(), np.array([0.5, 0.3, 0.2005]), prices, 1000.0)
    with pytest.raises(ValueError, match=r"^prices is an array but target is given by asset label"):
        ff.trades(target, current, np.array([10.0, 33.0, 7.0, 5.0]), 1000.0)


def test_trades_from_arrays_and_optimization_result():
    risk = ff.RiskModel.from_covariance(
        np.eye(4) * 1e-4, np.full(3, 4e-4),
        ff.Exposures(np.zeros((1, 3, 1)), np.array([[0, 0, 1]]), assets=["X", "Y", "Z"]))
    w0 = np.array([0.2, 0.3, 0.5])
    res = ff.optimize(np.array([1e-3, 0.0, -1e-3]), risk, w0=w0, risk_aversion=1.0)
    t = ff.trades(res, prices=np.array([10.0, 20.0, 40.0]), portfolio_value=1e6)
    assert t["asset"].to_list() == [a for a, dw in zip("XYZ", res.weights - w0) if dw != 0]
    want = np.sign(res.weights - w0) * np.floor(np.abs((res.weights - w0) * 1e6 / [10, 20, 40]) + 0.5)
    np.testing.assert_array_equal(t["shares"].to_numpy(), want[(res.weights - w0) != 0])
    arr = ff.trades(np.array([0.5, 0.5]), np.array([0.5, 0.0]), np.array([1.0, 2.0]), 100.0)
    assert arr["asset"].to_list() == ["1"] and arr["shares"].to_list() == [25]


def test_trades_bad_input():
    with pytest.raises(ValueError, match=r"prices must be finite and > 0 .*\['B'\]"):
        ff.trades({"A": 0.5, "B": 0.5}, None, {"A": 1.0}, 100.0)
    with pytest.raises(ValueError, match="portfolio_value must be > 0"):
        ff.trades({"A": 1.0}, None, {"A": 1.0}, 0.0)
    with pytest.raises(TypeError, match="portfolio_value must be a number"):
        ff.trades({"A": 1.0}, None, {"A": 1.0}, None)
    with pytest.raises(ValueError, match="lot must be >= 1"):
        ff.trades({"A": 1.0}, None, {"A": 1.0}, 10.0, lot=0)
    with pytest.raises(ValueError, match="current has 3 values for 2 assets"):
        ff.trades(np.ones(2), np.ones(3), np.ones(2), 10.0)
    with pytest.raises(ValueError, match="target weights must be finite"):
        ff.trades(np.array([np.nan, 1.0]), None, np.ones(2), 10.0)


def test_trades_by_label_refuse_an_asset_twice_and_name_a_non_number():
    # the keys 3 and "3" are one asset label: the later value silently replaced the earlier
    # (a target of 0.5 + 0.2 traded as 0.2); a price "p" was numpy's bare "could not convert"
    with pytest.raises(ValueError, match=r"^target names asset '3' twice$"):
        ff.trades({3: 0.5, "3": 0.2}, None, {"3": 1.0}, 100.0)
    with pytest.raises(ValueError, match=r"^current names asset '0' twice$"):
        ff.trades({"0": 0.5}, {0: 0.1, "0": 0.1}, {"0": 1.0}, 10.0)
    with pytest.raises(TypeError, match=r"^prices must be a numeric array"):
        ff.trades({"A": 0.5}, None, {"A": "p"}, 10.0)
    with pytest.raises(TypeError, match=r"^target must be a numeric array"):
        ff.trades({"A": "x"}, None, {"A": 1.0}, 10.0)
