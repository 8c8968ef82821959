"""ff.monitor: alerts as data. factor_decay against seed 000's own pandas logic run date by date;
turnover, concentration, risk bias, solver status and coverage on hand-made cases; the schema;
BacktestResult.alerts()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

import ferrofactor as ff
from ferrofactor import monitor

COLUMNS = ["date", "kind", "subject", "value", "threshold", "message"]


def _seed000_decay(df: pd.DataFrame, lookback=30):
    """Seed 000's check_factor_decay, applied to the window ending at each date."""
    out = []
    for end in range(lookback, len(df) + 1):
        recent = df.iloc[:end].tail(lookback)
        for factor in df.columns:
            fr = recent[factor]
            negative_days = (fr < 0).sum()
            if negative_days / len(recent) > 0.7:
                out.append((end - 1, "factor_decay_negative", factor))
            if fr.tail(5).mean() < fr.mean() - 2 * fr.std():
                out.append((end - 1, "factor_decay_mean", factor))
    return sorted(out)


def test_factor_decay_is_seed000s_check_on_every_date():
    rng = np.random.default_rng(0)
    T = 200
    x = rng.normal(0.0, 0.01, (T, 3))
    x[60:95, 0] = -np.abs(x[60:95, 0])  # a run of losses
    x[150:155, 1] -= 0.08  # a sharp recent drop
    dates = np.datetime64("2024-01-01") + np.arange(T)
    alerts = monitor.factor_decay(x, dates=dates, names=["value", "momentum", "quality"])
    assert alerts.columns == COLUMNS and alerts.schema["date"] == pl.Date
    got = sorted((int((d - dates[0]).astype(int)), k, s) for d, k, s in
                 zip(alerts["date"].to_numpy().astype("datetime64[D]"), alerts["kind"], alerts["subject"]))
    expect = _seed000_decay(pd.DataFrame(x, columns=["value", "momentum", "quality"]))
    assert got == expect
    assert any(k == "factor_decay_negative" and s == "value" for _, k, s in expect)
    assert any(k == "factor_decay_mean" and s == "momentum" for _, k, s in expect)
    last = monitor.factor_decay(x, dates=dates, names=["value", "momentum", "quality"], last_only=True)
    assert last.height == sum(1 for t, _, _ in expect if t == T - 1)
    # thresholds are parameters
    loose = monitor.factor_decay(x, negative_share=1.0, n_std=10.0)
    assert loose.height == 0 and loose.schema["date"] == pl.Int64


def test_factor_decay_of_a_factor_model_result():
    panel = ff.datasets.synthetic_universe(n_assets=80, n_days=120, seed=1)
    res = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel))
    alerts = monitor.factor_decay(res, lookback=20, negative_share=0.5)
    assert set(alerts["subject"].to_list()) <= set(res.factor_names)
    assert alerts.height > 0 and alerts.schema["date"] == pl.Date


def test_turnover_and_concentration():
    a = monitor.turnover(np.array([0.1, 0.51, 0.5, 2.0]), subject="book")
    assert a["date"].to_list() == [1, 3] and a["value"].to_list() == [0.51, 2.0]
    assert a["threshold"].to_list() == [0.5, 0.5] and a["message"][1] == "book: turnover 200.0% exceeds threshold 50.0%"
    w = np.array([
        [0.05] * 20,                                   # 20 x 5 %: nothing
        [0.12, 0.09, 0.09, 0.09, 0.09] + [0.52 / 15] * 15,  # one position > 10 %, top five 48 %
        [0.3, -0.15] + [0.85 / 18] * 18,                 # a large short counts too
    ])
    c = monitor.concentration(w, assets=[f"S{i}" for i in range(20)], dates=np.array(["2024-01-01", "2024-02-01", "2024-03-01"]))
    rows = sorted(zip(c["date"].cast(pl.String).to_list(), c["kind"].to_list(), c["subject"].to_list(),
                      np.round(c["value"].to_numpy(), 12).tolist()))
    top5_1 = round(0.12 + 4 * 0.09, 12)
    top5_2 = round(0.3 + 0.15 + 3 * 0.85 / 18, 12)
    assert rows == [("2024-02-01", "position", "S0", 0.12), ("2024-02-01", "top5", "portfolio", top5_1),
                    ("2024-03-01", "position", "S0", 0.3), ("2024-03-01", "position", "S1", -0.15),
                    ("2024-03-01", "top5", "portfolio", top5_2)]
    assert monitor.concentration(w, max_position=0.5, top5_share=0.9).height == 0


def test_risk_bias_solver_and_coverage():
    rng = np.random.default_rng(2)
    r = rng.normal(0, 1, (300, 3)) * np.array([1.0, 2.0, 0.5])
    bias = ff.evaluate.bias_statistic(r, np.ones((300, 3)), names=["ok", "under", "over"])
    a = monitor.risk_bias(bias)
    assert sorted(a["subject"].to_list()) == ["over", "under"]
    under = a.filter(pl.col("subject") == "under")
    assert under["threshold"][0] == pytest.approx(1 + np.sqrt(2 / 300))
    assert monitor.risk_bias(np.array([0.7, 1.0, 1.3]), band=(0.8, 1.2))["value"].to_list() == [0.7, 1.3]
    with pytest.raises(ValueError, match="band is required"):
        monitor.risk_bias(np.array([1.0]))
    s = monitor.solver(["optimal", "infeasible", "optimal", "fallback"])
    assert s["date"].to_list() == [1, 3] and s["kind"].to_list() == ["solver", "solver"]
    sig = np.ones((40, 10))
    sig[30, :6] = np.nan  # coverage 40 % against a mean of 100 %
    sig[35, :1] = np.nan  # 90 %: within 20 %
    cov = monitor.coverage(sig, lookback=5)
    assert cov["date"].to_list() == [30] and cov["value"][0] == pytest.approx(0.4)
    assert cov["threshold"][0] == pytest.approx(0.8)


def test_backtest_alerts():
    rng = np.random.default_rng(3)
    r = rng.normal(0, 0.01, (80, 12))
    w = np.zeros((80, 12))
    w[:, :4] = 0.25  # four positions of 25 %: each above 10 %, top five 100 %
    res = ff.backtest(r, w, rebalance=20, cost_bps=5)
    a = res.alerts()
    assert a.columns == COLUMNS
    kinds = a["kind"].to_list()
    assert kinds.count("position") == 4 * 4 and kinds.count("top5") == 4
    assert kinds.count("turnover") == 1  # only the initial purchase trades > 50 %
    quiet = res.alerts(max_position=0.3, top5_share=1.01, turnover_threshold=2.0)
    assert set(quiet["kind"].to_list()) <= {"factor_decay_negative", "factor_decay_mean"}
    with pytest.raises(TypeError, match="unknown thresholds"):
        res.alerts(max_weight=0.2)
    books = ff.backtest_many(r, np.stack([w, w / 2]), rebalance=20)
    assert books.alerts().height >= a.height


def test_empty_and_concat():
    e = monitor.empty()
    assert e.columns == COLUMNS and e.height == 0
    assert monitor.concat([]).height == 0
    assert monitor.concat([monitor.turnover(np.array([0.1]))]).height == 0
