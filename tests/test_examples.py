"""The documented examples run, and seed 002's momentum backtest (examples/seed002_momentum.py)
equals an independent reconstruction: the selection of ff.momentum_selection (signals.py), returns
bridged over suspensions with pandas, and the plain-numpy accounting loop of ff.baseline."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd

import ferrofactor as ff

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_seed002_momentum_equals_an_independent_reconstruction():
    ex = _load("seed002_momentum")
    panel = ff.datasets.synthetic_universe(n_assets=300, n_days=420, seed=3)
    res = ex.run(panel, min_dollar_volume=5e6)

    # returns from the close, suspensions bridged (pandas forward fill), 0 on the first price
    close = pd.DataFrame(panel["close"])
    prev = close.ffill().shift(1)
    r = (close / prev - 1).to_numpy().copy()
    r[np.isfinite(close.to_numpy()) & prev.isna().to_numpy()] = 0.0
    # seed 002's selection on the first trading day of each month (signals.momentum_selection)
    sel = ff.momentum_selection(panel, window=252, skip=21, min_dollar_volume=5e6, percentile=0.1,
                              prices="close")
    rows = sel.rebalance
    T, N = r.shape
    targets = np.zeros((1, len(rows), N))
    for k, t in enumerate(rows):
        e = sel.eligible[k] & np.isfinite(r[t])  # only what can trade that day
        M = int(e.sum())
        n = int(np.floor(M * 0.1))
        order = np.argsort(np.where(e, sel.momentum[k], np.inf), kind="stable")
        if n:
            targets[0, k, order[M - n:M]] = 0.5 / n
            targets[0, k, order[:n]] = -0.5 / n
    finite = np.isfinite(r)
    last = T - 1 - np.argmax(finite[::-1], axis=0)
    delist = np.where(finite.any(axis=0) & (last + 1 < T), last + 1, -1)
    base = ff.baseline.backtest(r, targets, rows, delist_row=delist, cost_rate=5e-4)

    assert res.trade_rows.tolist() == rows.tolist()
    assert (res.n_holdings > 0).sum() > 100  # the book is invested for months
    np.testing.assert_allclose(res.value, base["value"][0], rtol=1e-12)
    np.testing.assert_allclose(res.costs, base["costs"][0], rtol=1e-12, atol=1e-16)
    np.testing.assert_allclose(res.turnover, base["turnover"][0], rtol=1e-12, atol=1e-16)
    # dollar-neutral, gross 1 right after each rebalance (up to the cost buffer kept in cash)
    tw = res.trade_weights()
    held = tw.any(axis=1)
    np.testing.assert_allclose(tw[held].sum(axis=1), 0.0, atol=1e-3)
    assert np.all(np.abs(np.abs(tw[held]).sum(axis=1) - 1) < 2e-3)


def test_seed002_example_prints_its_summary(capsys):
    ex = _load("seed002_momentum")
    res = ex.main(["--assets", "150", "--days", "330"])
    out = capsys.readouterr().out
    assert "momentum_12_1" in out and "Sharpe ratio" in out and "Cumulative net return" in out
    # the monthly table shows the 12 month ends it announces, none elided
    table = out.split("Cumulative net return at each month end (last 12):")[1]
    assert len(re.findall(r"^│ \d{4}-\d{2}-\d{2} ", table, flags=re.M)) == 12 and "…" not in table
    assert isinstance(res, ff.BacktestResult)


def test_readme_backtest_section_runs_as_written():
    import re

    text = (EXAMPLES.parent / "README.md").read_text()
    code = re.search(r"### Backtests and monitoring\n.*?```python\n(.*?)```", text, flags=re.S).group(1)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    books = ns["books"]
    assert books.books == [f"Q{q}" for q in range(1, 11)] + ["long_short"]
    assert ns["alerts"].columns == ["date", "kind", "subject", "value", "threshold", "message"]
    # deciles are long-only books that sum to one after each rebalance (less the cost buffer)
    tw = books["Q5"].trade_weights()
    held = tw.any(axis=1)
    assert np.all(np.abs(tw[held].sum(axis=1) - 1) < 2e-3)
