"""ff.backtest / ff.backtest_many: seed 003's accounting against a hand-worked case, its
identities on random books, the plain-numpy loop of ff.baseline (1e-12), the timeline (weights
after trading at t earn returns[t+1]; nothing at t depends on later data), schedules, delistings,
price gaps, callable strategies and bad input."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff
from ferrofactor.backtest import rebalance_rows
from helpers import long_frame

NAN = np.nan
SERIES = ("value", "value_before", "costs", "turnover", "cash", "n_holdings", "delisted")


# ---------------------------------------------------------------------------------------------
# The hand-worked case: five days, three assets, a suspension and costs
# ---------------------------------------------------------------------------------------------

# Day 0 only carries prices (returns 0); B has no price on day 3 (suspended).
HAND_RETURNS = np.array([
    [0.00, 0.00, 0.00],
    [0.10, -0.10, 0.00],
    [0.00, 0.20, -0.50],
    [0.05, NAN, 0.10],
    [-0.20, 0.30, 0.00],
])


def _hand_expected():
    """Seed 003's accounting worked by hand: cost rate 1 %, 100 in cash, equal-weight targets
    (1/3 each) on days 0 and 3."""
    e = {}
    # Day 0: all cash. Tradable capital A = 100; cost bound K = 0.01 * (0 + 1 * 100) = 1;
    # available 99 -> 33 in each asset; cost = 0.01 * 99 = 0.99; cash = 100 - 99 - 0.99 = 0.01.
    e[0] = dict(value_before=100.0, value=99.01, cost=0.99, cash=0.01, turnover=0.5 * 99 / 100,
                w_after=[33 / 99.01, 33 / 99.01, 33 / 99.01])
    # Day 1: 33 * 1.1 = 36.3, 33 * 0.9 = 29.7, 33 -> 99.0 + 0.01.
    e[1] = dict(value_before=99.01, value=99.01, cost=0.0, cash=0.01, turnover=0.0)
    # Day 2: 36.3, 29.7 * 1.2 = 35.64, 33 * 0.5 = 16.5 -> 88.44 + 0.01.
    e[2] = dict(value_before=88.45, value=88.45, cost=0.0, cash=0.01, turnover=0.0)
    # Day 3: A 36.3 * 1.05 = 38.115, B held at 35.64 (no price), C 16.5 * 1.1 = 18.15;
    # value before trading 38.115 + 35.64 + 18.15 + 0.01 = 91.915. Tradable capital
    # A = 0.01 + 38.115 + 18.15 = 56.275; the tradable targets (A, C) have |w| = 2/3:
    # K = 0.01 * (56.265 + 2/3 * 56.275) = 0.93781666...; available 55.33718333...;
    # A and C each get 1/3 of it, 18.44572777...; B's 1/3 is not redistributed (cash).
    # Traded: A sells 38.115 - 18.4457..., C buys 18.4457... - 18.15: together 19.965;
    # cost 0.19965; cash = 56.275 - 2 * 18.44572777... - 0.19965.
    avail = 56.275 - 0.01 * (56.265 + 2 / 3 * 56.275)
    new = avail / 3
    cash3 = 56.275 - 2 * new - 0.19965
    e[3] = dict(value_before=91.915, value=91.915 - 0.19965, cost=0.19965, cash=cash3,
                turnover=0.5 * 19.965 / 91.915, w_after=[new / 91.71535, 35.64 / 91.71535, new / 91.71535])
    # Day 4: A new * 0.8, B 35.64 * 1.3 = 46.332, C new.
    v4 = new * 0.8 + 46.332 + new + cash3
    e[4] = dict(value_before=v4, value=v4, cost=0.0, cash=cash3, turnover=0.0)
    return e, new


@pytest.mark.parametrize("threads", [1, 2])
def test_hand_worked_five_days_three_assets(threads):
    ff.set_num_threads(threads)
    try:
        res = ff.backtest(HAND_RETURNS, np.full((5, 3), 1 / 3), rebalance=[0, 3], cost_bps=100,
                          initial_value=100.0)
    finally:
        ff.set_num_threads(0)
    e, new = _hand_expected()
    for t, x in e.items():
        assert res.value_before[t] == pytest.approx(x["value_before"], rel=1e-13)
        assert res.value[t] == pytest.approx(x["value"], rel=1e-13)
        assert res.costs[t] == pytest.approx(x["cost"], rel=1e-12, abs=1e-15)
        assert res.cash[t] == pytest.approx(x["cash"], rel=1e-12)
        assert res.turnover[t] == pytest.approx(x["turnover"], rel=1e-12, abs=1e-15)
        if "w_after" in x:
            np.testing.assert_allclose(res.weights_after[t], x["w_after"], rtol=1e-12)
    # returns: net and gross from the value path; day 0 pays the cost of buying
    assert res.returns[0] == pytest.approx(99.01 / 100 - 1, rel=1e-12)
    assert res.gross_returns[0] == 0.0
    assert res.returns[2] == pytest.approx(88.45 / 99.01 - 1, rel=1e-12)
    assert res.gross_returns[3] == pytest.approx(91.915 / 88.45 - 1, rel=1e-12)
    assert res.returns[3] == pytest.approx(91.71535 / 88.45 - 1, rel=1e-12)
    # B was held, not traded, on day 3; all three held afterwards
    np.testing.assert_allclose(res.weights_before[3, 1], 35.64 / 91.915, rtol=1e-12)
    assert res.n_holdings.tolist() == [3, 3, 3, 3, 3]
    assert res.traded.tolist() == [True, False, False, True, False]
    assert res.trade_dates.tolist() == [0, 3]
    assert np.all(res.cash >= 0)


def test_a_false_tradable_flag_is_the_same_suspension():
    """B flagged untradeable on day 3 with a zero return: the same book as B without a price."""
    r = HAND_RETURNS.copy()
    r[3, 1] = 0.0
    mask = np.ones((5, 3), dtype=bool)
    mask[3, 1] = False
    a = ff.backtest(HAND_RETURNS, np.full((5, 3), 1 / 3), rebalance=[0, 3], cost_bps=100)
    b = ff.backtest(r, np.full((5, 3), 1 / 3), rebalance=[0, 3], cost_bps=100, tradable=mask)
    np.testing.assert_allclose(b.value, a.value, rtol=1e-14)
    # without the flag, B trades on day 3 and the book differs
    c = ff.backtest(r, np.full((5, 3), 1 / 3), rebalance=[0, 3], cost_bps=100)
    assert abs(c.value[4] - a.value[4]) > 1e-3


# ---------------------------------------------------------------------------------------------
# Identities and the numpy oracle on random books
# ---------------------------------------------------------------------------------------------


def _random_case(T=160, N=37, seed=0):
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0004, 0.02, (T, N))
    r[rng.random((T, N)) < 0.04] = NAN  # missing prices (suspensions)
    r[110:, 3] = NAN  # delists at row 110
    r[:20, 5] = NAN  # lists at row 20
    tradable = rng.random((T, N)) > 0.06
    long_only = rng.random((T, N)) * (rng.random((T, N)) < 0.4)
    long_only /= long_only.sum(axis=1, keepdims=True)
    ls = rng.normal(size=(T, N))
    ls -= ls.mean(axis=1, keepdims=True)
    ls /= np.abs(ls).sum(axis=1, keepdims=True)
    targets = np.stack([long_only, ls, -ls, 0.5 * long_only])
    targets[2, rng.random((T, N)) < 0.1] = NAN  # NaN = no position
    return r, tradable, targets


@pytest.mark.parametrize("cost_side", ["both", "buy", "sell"])
def test_equals_the_numpy_loop(cost_side):
    r, tradable, targets = _random_case()
    res = ff.backtest_many(r, targets, rebalance=7, cost_bps=20, cost_side=cost_side, tradable=tradable,
                           start=4, end=150, delisting_returns=-0.4, initial_value=3.0)
    rows = res[0].trade_rows
    assert rows.tolist() == list(range(4, 151, 7))
    delist = np.full(r.shape[1], -1)
    delist[3] = 110
    base = ff.baseline.backtest(r, targets[:, rows], rows, tradable=tradable, delist_row=delist,
                                delist_return=np.full(r.shape[1], -0.4), cost_rate=20e-4,
                                cost_side=cost_side, initial_value=3.0, start=4, end=150,
                                record_weights=True)
    for p, book in enumerate(res):
        for k in SERIES:
            np.testing.assert_allclose(getattr(book, k), base[k][p], rtol=1e-12, atol=1e-14, err_msg=k)
        np.testing.assert_allclose(book.weights_after, base["weights_after"][p], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(book.weights_before, base["weights_before"][p], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(book.trade_weights(), base["weights_after"][p][rows - 4], rtol=1e-12, atol=1e-14)
    assert res["book_0"].delisted.sum() != 0 or res["book_1"].delisted.sum() != 0


def test_identities_hold_on_every_date():
    r, tradable, targets = _random_case(seed=1)
    rate = 15e-4
    res = ff.backtest_many(r, targets, rebalance=5, cost_bps=15, tradable=tradable, delisting_returns=0.1)
    for book in res:
        v, vf, c = book.value, book.value_before, book.costs
        prev = np.r_[book.initial_value, v[:-1]]
        np.testing.assert_allclose(v, vf - c, rtol=1e-14)
        np.testing.assert_allclose(c, 2 * rate * book.turnover * vf, rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(book.returns, book.gross_returns - c / prev, rtol=1e-12, atol=1e-15)
        wa, wb = book.weights_after, book.weights_before
        np.testing.assert_allclose(wa.sum(axis=1) + book.cash / v, 1.0, rtol=1e-12)
        # turnover = ½‖Δ positions‖₁ / value before
        np.testing.assert_allclose(0.5 * np.abs(wa * v[:, None] - wb * vf[:, None]).sum(axis=1) / vf,
                                   book.turnover, rtol=1e-11, atol=1e-15)
        # no trade -> nothing moves; the drift carries weights_after[t-1] to weights_before[t]
        quiet = ~book.traded
        np.testing.assert_array_equal(wa[quiet], wb[quiet])
        g = np.where(np.isnan(r[1:]), 1.0, 1.0 + r[1:])
        carried = wa[:-1] * g * (v[:-1] / vf[1:])[:, None]
        carried[1:, 3][np.arange(1, len(v) - 1) >= 110] = 0.0  # delisted asset paid out
        np.testing.assert_allclose(np.delete(wb[1:], 3, axis=1), np.delete(carried, 3, axis=1), rtol=1e-12, atol=1e-15)
        # untradeable assets are held through a trade: their money does not change
        for t in np.flatnonzero(book.traded):
            held = ~(np.isfinite(r[t]) & tradable[t])
            np.testing.assert_allclose(wa[t, held] * v[t], wb[t, held] * vf[t], rtol=1e-13, atol=1e-16)
        # cash never negative (Σ w <= 1 for every target here)
        assert np.all(book.cash >= -1e-13)
        # the delisted asset is out from row 110 on
        assert np.all(wa[110:, 3] == 0) and np.all(wb[110:, 3] == 0)


def test_thread_count_does_not_change_anything():
    r, tradable, targets = _random_case(seed=2)
    out = []
    for n in (1, 2):
        ff.set_num_threads(n)
        try:
            out.append(ff.backtest_many(r, targets, rebalance=3, cost_bps=5, tradable=tradable))
        finally:
            ff.set_num_threads(0)
    for a, b in zip(*out):
        for k in SERIES + ("weights_after",):
            np.testing.assert_array_equal(getattr(a, k), getattr(b, k))


# ---------------------------------------------------------------------------------------------
# Timeline
# ---------------------------------------------------------------------------------------------


def test_weights_after_trading_at_t_earn_returns_of_t_plus_one():
    r = np.array([[0.0, 0.0], [0.10, 0.30], [-0.05, 0.02], [0.20, 0.00]])
    w = np.zeros((4, 2))
    w[0] = [1.0, 0.0]  # all in asset 0 after the close of day 0
    w[2] = [0.0, 1.0]  # switch at the close of day 2
    res = ff.backtest(r, w, rebalance=[0, 2], cost_bps=0)
    assert res.value.tolist() == pytest.approx([1.0, 1.10, 1.10 * 0.95, 1.10 * 0.95 * 1.0], rel=1e-14)
    # returns[1] earned by the weights after day 0, returns[3] by those after day 2
    assert res.returns[1] == pytest.approx(0.10, rel=1e-14)
    assert res.returns[3] == pytest.approx(0.0, abs=1e-15)


def test_nothing_at_t_depends_on_later_returns():
    r, tradable, targets = _random_case(seed=3)
    cut = 90
    a = ff.backtest_many(r, targets, rebalance=5, cost_bps=10, tradable=tradable)
    r2 = r.copy()
    r2[cut + 1:] = np.random.default_rng(9).normal(0, 0.05, r2[cut + 1:].shape)
    r2[110:, 3] = NAN
    b = ff.backtest_many(r2, targets, rebalance=5, cost_bps=10, tradable=tradable)
    for x, y in zip(a, b):
        for k in SERIES:
            np.testing.assert_array_equal(getattr(x, k)[: cut + 1], getattr(y, k)[: cut + 1])


def test_a_callable_sees_nothing_after_t_and_the_current_weights():
    r, tradable, _ = _random_case(seed=4)
    T, N = r.shape
    seen = []

    def strategy(t, ctx):
        assert ctx.returns.shape == (t + 1, N) and not ctx.returns.flags.writeable
        assert ctx.row == t and ctx.book == "mine"
        seen.append((t, ctx.weights.copy(), ctx.value, ctx.tradable.copy()))
        w = np.where(ctx.tradable, 1.0, 0.0)
        return w / w.sum()

    res = ff.backtest_many(r, {"mine": strategy}, rebalance=9, cost_bps=10, tradable=tradable)
    book = res["mine"]
    assert [s[0] for s in seen] == book.trade_rows.tolist()
    for t, w, v, ok in seen:
        np.testing.assert_allclose(w, book.weights_before[t], rtol=1e-12, atol=1e-15)
        assert v == pytest.approx(book.value_before[t], rel=1e-13)
        np.testing.assert_array_equal(ok, np.isfinite(r[t]) & tradable[t])
    # the same targets given as an array give the same book
    arr = np.zeros((T, N))
    for t, _, _, ok in seen:
        arr[t] = ok / ok.sum()
    same = ff.backtest(r, arr, rebalance=9, cost_bps=10, tradable=tradable)
    np.testing.assert_allclose(same.value, book.value, rtol=1e-14)
    np.testing.assert_allclose(same.weights_after, book.weights_after, rtol=1e-13, atol=1e-16)


def test_lists_mappings_and_stacks_of_targets():
    r, tradable, targets = _random_case(seed=8)
    stack = ff.backtest_many(r, targets, rebalance=6)
    listed = ff.backtest_many(r, list(targets), rebalance=6)
    named = ff.backtest_many(r, {f"b{i}": t for i, t in enumerate(targets)}, rebalance=6)
    assert stack.books == listed.books == [f"book_{i}" for i in range(4)]
    assert named.books == ["b0", "b1", "b2", "b3"]
    for a, b, c in zip(stack, listed, named):
        np.testing.assert_array_equal(a.value, b.value)
        np.testing.assert_array_equal(a.value, c.value)
    one = ff.backtest(r[:3, :2], [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]], rebalance=1)  # nested lists
    assert one.name == "portfolio" and one.value.shape == (3,)


def test_a_callable_returning_a_pandas_series_is_read_by_asset_label():
    # the Series' index was ignored: a reordered Series (the same {asset: weight}) gave a final
    # value of 0.907 instead of 0.896
    pd = pytest.importorskip("pandas")
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=300, seed=1)
    A = panel.assets
    W = np.zeros(len(A))
    W[:10] = 0.1
    perm = np.random.default_rng(0).permutation(len(A))
    want = ff.backtest(panel, lambda t, ctx: W)
    for out in (dict(zip(A, W)), pd.Series(W, index=A).iloc[perm], pd.Series(W[:10], index=A[:10])[::-1],
                pd.Series(W)):  # the default index 0..N-1: by position, like an array
        got = ff.backtest(panel, lambda t, ctx, out=out: out)
        for k in SERIES:
            np.testing.assert_array_equal(getattr(got, k), getattr(want, k), err_msg=k)
    with pytest.raises(ValueError, match=r"^strategy 'portfolio' returned a weight for unknown asset 'X'$"):
        ff.backtest(panel, lambda t, ctx: pd.Series([0.1], index=["X"]))
    with pytest.raises(ValueError, match=r"^the weights of strategy 'portfolio' \(a pandas Series\) has the asset "
                                         r"'A00001' twice in its index$"):
        ff.backtest(panel, lambda t, ctx: pd.Series([0.1, 0.1], index=["A00001", "A00001"]))


def test_callable_and_builtin_books_run_together():
    panel = ff.datasets.synthetic_universe(n_assets=60, n_days=140, seed=5)
    sig = ff.rolling_mean(panel["returns"], 20)

    def equal(t, ctx):
        assert ctx.panel.shape == (t + 1, 60)
        assert ctx.panel.dates[-1] == panel.dates[t] and ctx.date == panel.dates[t]
        assert ctx.risk_model == "rm"
        w = ctx.tradable.astype(float)
        return dict(zip(ctx.assets[w > 0][:5].tolist(), [0.2] * 5))

    both = ff.backtest_many(panel, {"eq": equal, "q": ff.strategies.Quantile(sig, 3, long_short=False)},
                            rebalance="monthly", risk_model="rm")
    assert both.books == ["eq", "q:Q1", "q:Q2", "q:Q3"]
    alone = ff.backtest_many(panel, ff.strategies.Quantile(sig, 3, long_short=False), rebalance="monthly")
    for name in ("Q1", "Q2", "Q3"):
        np.testing.assert_allclose(both[f"q:{name}"].value, alone[name].value, rtol=1e-14)
    assert both["eq"].n_holdings.max() == 5


# ---------------------------------------------------------------------------------------------
# Prices, delistings, schedules
# ---------------------------------------------------------------------------------------------


def test_prices_bridge_a_suspension_and_delistings_pay_out():
    dates = np.arange("2024-01-01", "2024-01-07", dtype="datetime64[D]")
    close = np.array([
        [10.0, 20.0, 5.0],
        [10.0, 20.0, 5.0],
        [11.0, NAN, 5.0],    # B suspended on day 2
        [11.0, 24.0, 4.0],   # B back: +20 % over the gap
        [12.1, 24.0, NAN],   # C delisted from day 4 (no price to the end)
        [12.1, 24.0, NAN],
    ])
    panel = ff.Panel(dates, ["A", "B", "C"], {"close": close, "returns": ff.returns_from_prices(close)})
    w = np.full((6, 3), 1 / 3)
    third = 1 / 3
    bridged = ff.backtest(panel, w, rebalance=[1], cost_bps=0, prices="close", delisting_returns={"C": -0.5})
    # day 2: A +10 %, B held (no price), C flat; day 3: B +20 % over the gap, C -20 %
    assert bridged.value[2] == pytest.approx(third * 1.1 + third + third, rel=1e-14)
    assert bridged.value[3] == pytest.approx(third * 1.1 + third * 1.2 + third * 0.8, rel=1e-14)
    # day 4: C is paid out at its last value times 1 - 0.5
    assert bridged.delisted[4] == pytest.approx(third * 0.8 * 0.5, rel=1e-14)
    assert bridged.value[4] == pytest.approx(third * 1.21 + third * 1.2 + third * 0.4, rel=1e-14)
    assert bridged.n_holdings.tolist() == [0, 3, 3, 3, 2, 2]
    assert bridged.dates.tolist() == dates.tolist()
    # with prices, the first date can trade (a price, no return yet)
    first = ff.backtest(panel, w, rebalance=[0], cost_bps=0, prices="close")
    assert first.n_holdings[0] == 3
    # from the returns field the gap return is lost (the return after the gap is missing), and
    # the first date cannot trade (no return yet)
    plain = ff.backtest(panel, w, rebalance=[1], cost_bps=0, delisting_returns={"C": -0.5})
    assert plain.value[3] == pytest.approx(third * 1.1 + third + third * 0.8, rel=1e-14)
    assert ff.backtest(panel, w, rebalance=[0], cost_bps=0).n_holdings.tolist() == [0] * 6
    with pytest.raises(ValueError, match="prices='open' is not"):
        ff.backtest(panel, w, rebalance=[1], prices="open")


def test_delisting_returns_forms():
    r = np.array([[0.0, 0.0], [0.1, 0.1], [0.0, NAN], [0.0, NAN]])
    w = np.full((4, 2), 0.5)
    for dl, expect in ((None, 0.55), (-1.0, 0.0), (np.array([0.0, 0.2]), 0.66)):
        res = ff.backtest(r, w, rebalance=[0], cost_bps=0, delisting_returns=dl)
        assert res.delisted[2] == pytest.approx(expect, abs=1e-15)
        assert res.value[3] == pytest.approx(0.55 + expect, rel=1e-14)
    # a later end: the asset with data up to the end is not delisted
    res = ff.backtest(r, w, rebalance=[0], cost_bps=0, end=1, delisting_returns=-1.0)
    assert res.delisted.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="delisting_returns"):
        ff.backtest(r, w, delisting_returns=np.array([0.0, -2.0]), rebalance=[0])
    with pytest.raises(ValueError, match="asset labels"):
        ff.backtest(r, w, delisting_returns={"X": 0.1}, rebalance=[0])


def test_rebalance_schedules():
    import datetime

    dates = np.busday_offset(np.datetime64("2023-12-20"), np.arange(80), roll="forward")
    months = [d.astype(object).strftime("%Y-%m") for d in dates]
    first_m = [i for i in range(80) if i == 0 or months[i] != months[i - 1]]
    assert rebalance_rows("monthly", dates, 0, 79).tolist() == first_m
    weeks = [datetime.date.fromisoformat(str(d)).isocalendar()[:2] for d in dates]
    first_w = [i for i in range(80) if i == 0 or weeks[i] != weeks[i - 1]]
    assert rebalance_rows("weekly", dates, 0, 79).tolist() == first_w
    assert rebalance_rows("monthly", dates, 3, 60).tolist() == [i for i in first_m if 3 <= i <= 60]
    assert rebalance_rows("daily", None, 2, 5).tolist() == [2, 3, 4, 5]
    assert rebalance_rows(10, None, 5, 40).tolist() == [5, 15, 25, 35]
    assert rebalance_rows(np.array([3, 1, 3]), dates, 0, 79).tolist() == [1, 3]
    # Dec 20 is row 0; eight weekdays later (Dec 25 and Jan 1 count: no holiday calendar) Jan 2
    assert rebalance_rows(["2024-01-02", "2023-12-20"], dates, 1, 79).tolist() == [9]
    mask = np.zeros(80, bool)
    mask[[4, 50]] = True
    assert rebalance_rows(mask, dates, 0, 79).tolist() == [4, 50]
    with pytest.raises(ValueError, match="needs dates"):
        rebalance_rows("monthly", None, 0, 10)
    with pytest.raises(ValueError, match="not trading dates"):
        rebalance_rows(["2023-12-23"], dates, 0, 79)  # a Saturday
    with pytest.raises(TypeError, match="floats"):
        rebalance_rows(np.array([1.0, 2.0]), dates, 0, 79)
    with pytest.raises(ValueError, match="rebalance"):
        rebalance_rows("quarterly", dates, 0, 79)
    with pytest.raises(ValueError, match="rebalance must be >= 1"):
        rebalance_rows(0, dates, 0, 79)
    with pytest.raises(ValueError, match="rebalance is empty"):
        rebalance_rows([], dates, 0, 79)


def test_a_rebalance_that_is_not_a_schedule_is_a_type_error_saying_what_is_accepted():
    """None, a float step, a set or a single date are not schedules: a TypeError naming the
    accepted forms (before: "rebalance dates must be 1-dimensional, got shape ()", which says
    nothing about the float step 5.0 or the one date given)."""
    dates = np.busday_offset(np.datetime64("2023-12-20"), np.arange(30), roll="forward")
    for bad in (None, 5.0, {1, 2}):
        with pytest.raises(TypeError, match="rebalance must be 'daily', 'weekly', 'monthly', an integer step"):
            rebalance_rows(bad, dates, 0, 29)
    with pytest.raises(TypeError, match="one date: pass it in a list"):
        rebalance_rows(np.datetime64("2023-12-21"), dates, 0, 29)
    r = np.random.default_rng(0).normal(0, 0.01, (30, 3))
    with pytest.raises(TypeError, match="rebalance must be"):
        ff.backtest(r, np.full((30, 3), 1 / 3), rebalance=5.0)


def test_a_rebalance_mask_indexed_by_date_pairs_by_date():
    # a boolean rebalance Series indexed by date was read by position: reordered, the book
    # traded on other dates with no error. It must carry the calendar's dates, in their order
    import pandas as pd

    dates = np.busday_offset(np.datetime64("2023-12-20"), np.arange(80), roll="forward")
    mask = np.zeros(80, bool)
    mask[[4, 50]] = True
    m = pd.Series(mask, index=pd.DatetimeIndex(dates))
    assert rebalance_rows(m, dates, 0, 79).tolist() == [4, 50]
    with pytest.raises(ValueError, match=rf"^rebalance and the returns have different dates: position 0 is "
                                         rf"{dates[-1]} in rebalance but {dates[0]} in the returns"):
        rebalance_rows(m.iloc[::-1], dates, 0, 79)
    # without dates: its index in date order, read in its order
    assert rebalance_rows(m, None, 0, 79).tolist() == [4, 50]
    with pytest.raises(ValueError, match=r"^rebalance \(a pandas Series indexed by date\) is not in date order"):
        rebalance_rows(m.iloc[::-1], None, 0, 79)
    # through ff.backtest on a panel
    panel = ff.datasets.synthetic_universe(n_assets=20, n_days=80, seed=3)
    w = np.full(panel.shape, 1 / 20)
    pm = pd.Series(mask, index=pd.DatetimeIndex(panel.dates))
    np.testing.assert_array_equal(ff.backtest(panel, w, rebalance=pm).value, ff.backtest(panel, w, rebalance=mask).value)
    with pytest.raises(ValueError, match="^rebalance and the returns have different dates"):
        ff.backtest(panel, w, rebalance=pm.iloc[::-1])


def test_before_the_first_rebalance_the_book_is_cash():
    r = np.full((10, 2), 0.01)
    res = ff.backtest(r, np.full((10, 2), 0.5), rebalance=[4], cost_bps=10, initial_value=2.0)
    assert res.value[:4].tolist() == [2.0] * 4
    assert res.returns[:4].tolist() == [0.0] * 4
    assert res.value[4] < 2.0  # the buying cost
    m = res.metrics()
    assert m.n_periods == 6  # from the first invested rebalance (row 4) on
    assert m.series_names == ["portfolio"]


def test_metrics_match_empyrical():
    empyrical = pytest.importorskip("empyrical")
    import pandas as pd

    r, tradable, targets = _random_case(seed=6)
    res = ff.backtest(r, targets[0], rebalance=5, cost_bps=5, tradable=tradable)
    first = int(res.trade_rows[0])
    assert res.n_holdings[first] > 0
    rr = pd.Series(res.returns[first:])
    ms = res.metrics()
    m = {k: float(getattr(ms, k)[0]) for k in ("annual_return", "annual_volatility", "sharpe_ratio", "max_drawdown")}
    assert m["annual_return"] == pytest.approx(empyrical.annual_return(rr), rel=1e-10)
    assert m["annual_volatility"] == pytest.approx(empyrical.annual_volatility(rr), rel=1e-10)
    assert m["sharpe_ratio"] == pytest.approx(empyrical.sharpe_ratio(rr), rel=1e-10)
    assert m["max_drawdown"] == pytest.approx(empyrical.max_drawdown(rr), rel=1e-10)
    # turnover and costs: their means per date from the first invested rebalance on
    assert ms.average_turnover[0] == pytest.approx(np.mean(res.turnover[first:]), rel=1e-12)
    assert ms.average_cost[0] == pytest.approx(np.mean(res.costs[first:] / res.value_before[first:]), rel=1e-12)


# ---------------------------------------------------------------------------------------------
# Results, labels, frames
# ---------------------------------------------------------------------------------------------


def test_summary_never_prints_small_total_costs_as_zero():
    """A book's summary printed its statistics with four decimals: total costs of ~3e-5 (at
    0.25 bps) read 0.0000; a column holding a value below 1e-4 is in scientific
    notation (results.fixed_or_scientific, as MetricsSummary and TimeSeriesResult)."""
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=60, seed=7)
    targets = np.where(np.isfinite(panel["returns"]), 1.0, 0.0)
    targets /= np.maximum(targets.sum(axis=1, keepdims=True), 1.0)
    res = ff.backtest(panel, targets, rebalance="monthly", cost_bps=0.25)
    total = float(res.costs.sum())
    assert 0 < total < 1e-4
    line = next(x for x in str(res.summary()).splitlines() if x.startswith("total costs"))
    assert float(line.split()[-1]) == pytest.approx(total, rel=1e-4) and "e-05" in line, line


def test_result_frames_and_summary():
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=90, seed=7)
    sig = ff.rolling_mean(panel["returns"], 10)
    books = ff.backtest_many(panel, ff.strategies.Quantile(sig, 4), rebalance="weekly")
    wide = books.to_polars("value")
    assert wide.columns == ["date", "Q1", "Q2", "Q3", "Q4", "long_short"]
    assert wide["date"].dtype == pl.Date and wide.height == 90
    one = books["long_short"]
    long = one.to_polars("weights_after", form="long")
    assert long.columns == ["date", "asset", "weights_after"] and long.height == 90 * 40
    s = one.to_polars()
    assert {"value", "returns", "turnover", "traded"} <= set(s.columns)
    text = str(one.summary())
    assert "long_short" in text and "Sharpe ratio" in text
    assert "Q3" in str(books.summary())
    bm = books.metrics()
    assert bm.series_names == books.books
    assert bm.sharpe_ratio[books.books.index("long_short")] == one.metrics().sharpe_ratio[0]
    assert one.trade_dates.dtype.kind == "M"
    with pytest.raises(KeyError, match="no book"):
        books["Q9"]
    with pytest.raises(TypeError, match="made by"):
        ff.BacktestResult()


def test_summaries_annualise_with_the_periods_per_year_given_and_show_it():
    # monthly dates annualised at 252 without a word gave Sharpe 7.5 and 320 % a year; the
    # summaries now take periods_per_year and show what they used
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=90, seed=7)
    sig = ff.rolling_mean(panel["returns"], 10)
    books = ff.backtest_many(panel, ff.strategies.Quantile(sig, 4), rebalance="weekly")
    one = books["long_short"]
    r = one.returns[len(one.returns) - int(one.metrics().n_periods):]  # from the first invested rebalance
    import warnings

    for ppy in (252, 12):
        with warnings.catch_warnings():
            # 12 on these daily dates is said (metrics.PeriodsPerYearWarning): not the point here
            warnings.simplefilter("ignore", ff.metrics.PeriodsPerYearWarning)
            t = one.summary(periods_per_year=ppy).tables[0][1]
            text = " ".join(str(one.summary(periods_per_year=ppy)).split())
            bt = books.summary(periods_per_year=ppy).tables[0][1]
            bm = books.metrics(periods_per_year=ppy)
        row = dict(zip(t["statistic"].to_list(), t["value"].to_list()))
        assert row["Sharpe ratio"] == ff.metrics.sharpe_ratio(r, periods_per_year=ppy)
        assert row["annual return"] == ff.metrics.annual_return(r, periods_per_year=ppy)
        assert f"Periods per year: {ppy}" in text
        assert bt["sharpe_ratio"].to_list() == bm.sharpe_ratio.tolist()
    assert "Periods per year" in str(books.summary())
    with pytest.raises(ValueError, match="periods_per_year"):
        one.summary(periods_per_year=0)


def test_plot_returns_a_figure():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    res = ff.backtest(HAND_RETURNS, np.full((5, 3), 1 / 3), rebalance=[0, 3])
    fig = res.plot()
    assert fig.axes and fig.axes[0].get_lines()


def test_polars_frames_in():
    r = np.random.default_rng(0).normal(0, 0.01, (6, 2))
    dates = np.arange("2024-01-01", "2024-01-07", dtype="datetime64[D]")
    frame = pl.DataFrame({"date": dates, "A": r[:, 0], "B": r[:, 1]})
    w = pl.DataFrame({"date": dates, "A": [0.5] * 6, "B": [0.5] * 6})
    res = ff.backtest(frame, w, rebalance="weekly")
    assert res.assets.tolist() == ["A", "B"] and res.dates.tolist() == dates.tolist()
    bad = pl.DataFrame({"date": dates, "B": [0.5] * 6, "A": [0.5] * 6})
    with pytest.raises(ValueError, match="different assets"):
        ff.backtest(frame, bad, rebalance="weekly")


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_pandas_frames_in_are_matched_on_their_labels():
    """pandas DataFrames (DatetimeIndex × tickers) as returns and targets keep their labels, as
    Polars frames do: targets with their columns reversed (or on other dates) were traded by
    position, each weight on another asset."""
    import pandas as pd

    r = np.random.default_rng(0).normal(0, 0.01, (6, 2))
    dates = np.arange("2024-01-01", "2024-01-07", dtype="datetime64[D]")
    idx = pd.DatetimeIndex(dates)
    frame = pd.DataFrame(r, index=idx, columns=["A", "B"])
    w = np.tile([0.7, 0.3], (6, 1))
    res = ff.backtest(frame, pd.DataFrame(w, index=idx, columns=["A", "B"]), rebalance="weekly")
    assert res.assets.tolist() == ["A", "B"] and res.dates.tolist() == dates.tolist()
    ref = ff.backtest(r, w, rebalance="weekly", dates=dates, assets=["A", "B"])
    np.testing.assert_array_equal(res.value, ref.value)
    with pytest.raises(ValueError, match="^targets and returns have different assets: position 0 is B"):
        ff.backtest(frame, pd.DataFrame(w[:, ::-1], index=idx, columns=["B", "A"]), rebalance="weekly")
    with pytest.raises(ValueError, match="^targets and returns have different dates"):
        ff.backtest(frame, pd.DataFrame(w, index=idx + pd.Timedelta(days=1), columns=["A", "B"]), rebalance="weekly")
    with pytest.raises(ValueError, match="^targets and returns have different assets"):
        ff.backtest(pl.DataFrame({"date": dates, "A": r[:, 0], "B": r[:, 1]}),
                    pd.DataFrame(w[:, ::-1], index=idx, columns=["B", "A"]), rebalance="weekly")
    with pytest.raises(ValueError, match="dates and assets come from the frame"):
        ff.backtest(frame, w, rebalance="weekly", assets=["A", "B"])


def test_per_rebalance_statistics_start_at_the_first_invested_rebalance():
    # Rebalances on rows 0, 2, 4, 6; the targets are empty on rows 0 and 2 (a signal still
    # warming up): the book first buys on row 4. The per-rebalance means are over rows 4 and 6
    # only, as the return statistics are. Before, rows 0 and 2 counted as turnover 0 and
    # holdings 0 and halved the means.
    r = np.full((8, 2), 0.01)
    w = np.zeros((8, 2))
    w[4] = [0.5, 0.5]
    w[6] = [1.0, 0.0]
    res = ff.backtest(r, w, rebalance=[0, 2, 4, 6], cost_bps=0)
    assert res.traded[[0, 2, 4, 6]].all() and res.turnover[0] == res.turnover[2] == 0.0
    # one-sided turnover ½‖s − sᶠ‖₁ / vᶠ: row 4, cash to 50/50: 0.5; row 6, 50/50 (drifted
    # equally) to 100/0: 0.5; holdings 2 then 1
    assert res.turnover[4] == pytest.approx(0.5, abs=1e-12)
    assert res.turnover[6] == pytest.approx(0.5, abs=1e-12)
    rows = dict(res.summary().tables[0][1].iter_rows())
    assert rows["mean turnover per rebalance"] == pytest.approx(0.5, abs=1e-12)  # before: 0.25
    assert rows["mean holdings"] == pytest.approx(1.5, abs=1e-12)  # before: 0.75
    books = ff.backtest_many(r, {"b": w}, rebalance=[0, 2, 4, 6], cost_bps=0).summary()
    assert books.tables[0][1]["mean_turnover"][0] == pytest.approx(0.5, abs=1e-12)


def test_targets_of_the_tradable_assets_must_not_borrow():
    # Σ w = 1 over all assets, but asset C cannot trade on row 2 (no return): its -0.5 target is
    # not traded, so A and B alone would be bought to 1.5 of the book and cash would go to -0.5.
    # Before, that passed the check and the book silently borrowed.
    r = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, np.nan], [0.0, 0.0, 0.0]])
    w = np.zeros((4, 3))
    w[0] = [0.5, 0.0, 0.0]
    w[2] = [1.0, 0.5, -0.5]
    with pytest.raises(ValueError, match=r"sum to 1\.5 over the assets that can trade at 2 \(row 2\).*"
                                         r"cannot trade that date, here -0\.5 in all, are not traded"):
        ff.backtest(r, w, rebalance=[0, 2], cost_bps=10)
    # the same targets on a date where C trades are a valid long-short book: cash stays >= 0
    r[2, 2] = 0.0
    res = ff.backtest(r, w, rebalance=[0, 2], cost_bps=10)
    assert np.all(res.cash >= 0) and res.weights_after[2].sum() == pytest.approx(1.0, abs=2e-3)


def test_timedelta64_targets_and_rebalance_rows_are_refused():
    # numpy counts timedelta64 as integers: durations passed as weights (NaT as -9.2e18) and as
    # rebalance rows
    r = np.zeros((5, 3))
    with pytest.raises(TypeError, match=r"^strategy 'portfolio' must return real weights \(N,\), got dtype "
                                        r"timedelta64\[D\]$"):
        ff.backtest(r, lambda t, ctx: np.zeros(3, dtype="m8[D]"), rebalance=1)
    with pytest.raises(TypeError, match=r"^targets must be a real numeric array, got dtype timedelta64\[D\]$"):
        ff.backtest_many(r, np.zeros((2, 5, 3), dtype="m8[D]"), rebalance=1)
    with pytest.raises(TypeError, match=r"^strategy must be a numeric array, got dtype timedelta64\[D\]"):
        ff.backtest(r, np.zeros((5, 3), dtype="m8[D]"), rebalance=1)
    with pytest.raises(TypeError, match=r"^rebalance must be integer positions, a mask or dates, got dtype "
                                        r"timedelta64\[D\]$"):
        ff.backtest(r, np.zeros((5, 3)), rebalance=np.array([0, 2], dtype="m8[D]"))


def test_bad_input_is_refused_with_the_argument_named():
    r = np.zeros((5, 3))
    w = np.full((5, 3), 0.3)
    with pytest.raises(ValueError, match="sum to 1.5"):
        ff.backtest(r, np.full((5, 3), 0.5), rebalance=2)
    with pytest.raises(ValueError, match="infinite"):
        ff.backtest(r, np.where(np.eye(5, 3) > 0, np.inf, 0.1), rebalance=1)
    with pytest.raises(ValueError, match="targets has shape"):
        ff.backtest(r, np.zeros((4, 3)), rebalance=1)
    with pytest.raises(ValueError, match="returns must be >= -1"):
        ff.backtest(np.full((5, 3), -1.5), w, rebalance=1)
    with pytest.raises(ValueError, match="infinite"):
        ff.backtest(np.full((5, 3), np.inf), w, rebalance=1)
    with pytest.raises(ValueError, match="cost_bps"):
        ff.backtest(r, w, cost_bps=-1)
    with pytest.raises(TypeError, match="cost_bps"):
        ff.backtest(r, w, cost_bps="5")
    with pytest.raises(ValueError, match="cost_side"):
        ff.backtest(r, w, cost_side="both sides", rebalance=1)
    with pytest.raises(ValueError, match="initial_value"):
        ff.backtest(r, w, initial_value=0.0, rebalance=1)
    with pytest.raises(ValueError, match="end .* is before start"):
        ff.backtest(r, w, start=3, end=1, rebalance=1)
    with pytest.raises(ValueError, match="tradable has shape"):
        ff.backtest(r, w, tradable=np.ones((5, 2), bool), rebalance=1)
    with pytest.raises(ValueError, match="tradable has missing"):
        ff.backtest(r, w, tradable=np.full((5, 3), np.nan), rebalance=1)
    with pytest.raises(ValueError, match="backtest runs one book"):
        ff.backtest(r, ff.strategies.Quantile(np.ones((5, 3)), 2), rebalance=1)
    with pytest.raises(ValueError, match="backtest runs one book"):
        ff.backtest(r, np.zeros((2, 5, 3)), rebalance=1)
    with pytest.raises(TypeError, match="strategy"):
        ff.backtest(r, "momentum", rebalance=1)
    with pytest.raises(ValueError, match="monthly.*needs dates"):
        ff.backtest(r, w)
    with pytest.raises(ValueError, match="book names must be unique"):
        ff.backtest_many(r, [ff.strategies.TopN(np.ones((5, 3)), 1, name="a"),
                             ff.strategies.TopN(np.ones((5, 3)), 2, name="a")], rebalance=1)

    def bad_shape(t, ctx):
        return np.ones(2)

    def too_long(t, ctx):
        return np.ones(3)

    with pytest.raises(ValueError, match="shape"):
        ff.backtest(r, bad_shape, rebalance=1)
    with pytest.raises(ValueError, match="sum to 3"):
        ff.backtest(r, too_long, rebalance=1)
    # a failed run leaves nothing half-written: the next run is clean
    ok = ff.backtest(r, w, rebalance=1)
    # day 0: 90 % of (1 - K), K = 0.0005 * 0.9, bought at 5 bps
    assert ok.value[0] == pytest.approx(1 - 0.0005 * 0.9 * (1 - 0.0005 * 0.9), rel=1e-14)


def test_an_empty_schedule_keeps_the_cash():
    res = ff.backtest(np.zeros((5, 2)), np.zeros((5, 2)), rebalance=np.zeros(5, bool), initial_value=7.0)
    assert res.value.tolist() == [7.0] * 5 and not res.traded.any()
    assert res.weights_after.shape == (5, 2) and not res.weights_after.any()
    assert res.trade_weights().shape == (0, 2)


def test_concentration_alerts_name_their_book():
    p = ff.datasets.synthetic_universe(n_assets=60, n_days=300, seed=1)
    sig = ff.descriptors.momentum(p["returns"], 126, 21)
    books = ff.backtest_many(p, {"ls": ff.strategies.TopN(sig, fraction=0.1, long_short=True, name="ls"),
                                 "top": ff.strategies.TopN(sig, fraction=0.1, name="top")})
    top5 = books.alerts().filter(pl.col("kind") == "top5")
    assert top5.height > 0 and set(top5["subject"]) <= {"ls", "top"}


def test_books_position_alerts_name_their_book():
    p = ff.datasets.synthetic_universe(n_assets=20, n_days=80, seed=2)
    T, N = p["returns"].shape
    w = np.zeros((2, T, N))
    w[0, :, :5] = 0.2   # book_0: five names at 20 %
    w[1, :, :4] = 0.25  # book_1: four of the same names at 25 %
    books = ff.backtest_many(p, w, rebalance="monthly", cost_bps=0)
    al = books.alerts()
    assert al.columns == ["date", "kind", "subject", "value", "threshold", "message"]
    pos = al.filter(pl.col("kind") == "position")
    assert pos.height > 0
    book = pos["subject"].str.split("/").list.first()
    assert set(book) == {"book_0", "book_1"}
    assert pos.filter(book == "book_0")["value"].to_list() == [0.2] * pos.filter(book == "book_0").height
    # one alert per (date, kind, subject), across books
    assert al.select("date", "kind", "subject").is_duplicated().sum() == 0
    assert al.height == sum(books[b].alerts().height for b in books.books)


def test_metrics_benchmark_and_risk_free_indexed_by_date_pair_by_date():
    # a benchmark / risk-free pandas Series indexed by date was read by position: reordered, it
    # gave another information ratio and Sharpe ratio with no error. It must carry the backtest's
    # dates, in their order (the backtest joins nothing on date)
    import pandas as pd

    panel = ff.datasets.synthetic_universe(n_assets=30, n_days=120, seed=4)
    res = ff.backtest(panel, np.full(panel.shape, 1 / 30), rebalance="monthly", cost_bps=5)
    bench = np.nan_to_num(panel["returns"]).mean(axis=1)
    rf = np.linspace(0.0, 1e-4, len(bench))
    ref = res.metrics(benchmark=bench, risk_free=rf)
    idx = pd.DatetimeIndex(panel.dates)
    got = res.metrics(benchmark=pd.Series(bench, index=idx), risk_free=pd.Series(rf, index=idx))
    for key in ("information_ratio", "tracking_error", "sharpe_ratio"):
        np.testing.assert_array_equal(getattr(got, key), getattr(ref, key))
    d0, d1 = panel.dates[-1], panel.dates[0]
    with pytest.raises(ValueError, match=rf"^benchmark and the backtest have different dates: position 0 is {d0} "
                                         rf"in benchmark but {d1} in the backtest \(120 positions differ\); "
                                         r"benchmark is paired with the backtest by date"):
        res.metrics(benchmark=pd.Series(bench, index=idx)[::-1])
    with pytest.raises(ValueError, match=r"^risk_free has 119 dates but the backtest has 120"):
        res.metrics(risk_free=pd.Series(rf, index=idx)[1:])
    books = ff.backtest_many(panel, {"a": np.full(panel.shape, 1 / 30)}, rebalance="monthly", cost_bps=5)
    with pytest.raises(ValueError, match=r"^benchmark and the backtest have different dates"):
        books.metrics(benchmark=pd.Series(bench, index=idx)[::-1])
    # a backtest without dates: read in its order, which must be date order (never sorted)
    plain = ff.backtest(panel["returns"], np.full(panel.shape, 1 / 30), rebalance=21, cost_bps=5)
    ref2 = plain.metrics(benchmark=bench)
    np.testing.assert_array_equal(plain.metrics(benchmark=pd.Series(bench, index=idx)).information_ratio,
                                  ref2.information_ratio)
    with pytest.raises(ValueError, match=r"^benchmark \(a pandas Series indexed by date\) is not in date order"):
        plain.metrics(benchmark=pd.Series(bench, index=idx)[::-1])
    # the default index stays positional, as an array
    np.testing.assert_array_equal(res.metrics(benchmark=pd.Series(bench)).information_ratio, ref.information_ratio)


def test_prices_passed_as_returns_are_named_not_left_to_overflow():
    # every price is >= -1, so they passed as returns; the book's value went to inf then NaN on
    # 110 of 260 dates without a word, and only summary() failed, blaming infinite "returns"
    panel = ff.datasets.synthetic_universe(n_assets=120, n_days=260, seed=3)
    signal = ff.Exposures.from_panel(panel).styles[:, :, 0]
    with pytest.raises(ValueError, match=r"returns: the value of book 'top_n' overflowed at 20\d\d-\d\d-\d\d .*"
                       r"not prices, percent \(1.5 for 1.5 %\) or gross returns"):
        ff.backtest(panel["close"], ff.strategies.TopN(signal, n=20), dates=panel.dates, assets=panel.assets)


def test_weights_are_never_rebuilt_from_returns_edited_after_the_run():
    # weights_before/after are rebuilt on first access from the returns given (kept, not
    # copied): the caller's array cleaned in place after the run gave other weights, silently at
    # odds with the run's value and cash; now a ValueError says so
    rng = np.random.default_rng(0)
    r = rng.normal(0.0005, 0.02, (120, 40))
    strategy = ff.strategies.Quantile(rng.normal(size=(120, 40)), 5, books=["Q5"])
    bt = ff.backtest(r, strategy, rebalance=21, cost_bps=5)
    for side in ("after", "before"):
        fresh = ff.backtest(r, strategy, rebalance=21, cost_bps=5)
        r2 = r.copy()
        edited = ff.backtest(r2, strategy, rebalance=21, cost_bps=5)
        r2[np.abs(r2) > 0.03] = 0.0
        with pytest.raises(ValueError, match="modified in place after it ran"):
            getattr(edited, f"weights_{side}")
        w = getattr(fresh, f"weights_{side}")  # untouched returns: the identity holds
        assert np.isfinite(w).all()
    np.testing.assert_allclose(bt.weights_after.sum(axis=1), 1.0 - bt.cash / bt.value, atol=1e-12)


def test_a_callable_strategy_cannot_relabel_the_assets():
    # Context.assets was the backtest's own (writeable) label array: a strategy sorting it in place
    # relabelled the result (bt.assets came back sorted, the weights' columns unchanged)
    r = np.random.default_rng(0).normal(0, 0.01, (60, 5))

    def strategy(t, ctx):
        with pytest.raises(ValueError, match="read-only"):
            ctx.assets.sort()
        return np.full(5, 0.2)

    bt = ff.backtest(r, strategy, rebalance=20, assets=["E", "D", "C", "B", "A"])
    assert bt.assets.tolist() == ["E", "D", "C", "B", "A"]


def test_rebalance_mask_and_positions_on_plain_returns_with_end_before_the_last_row():
    # on a plain returns array (no dates) with end=e < T−1, a (T,) rebalance mask was refused as
    # "shape (T,), expected (e+1,)" and positions after e as out of range, though those outside
    # start..end are documented to be ignored (as they are with dates)
    rng = np.random.default_rng(0)
    r = rng.normal(0.0, 0.01, (60, 5))
    w = np.full((60, 5), 0.2)
    mask = np.zeros(60, bool)
    mask[::10] = True
    for reb in (mask, np.flatnonzero(mask)):
        res = ff.backtest(r, w, rebalance=reb, end=30)
        assert res.trade_dates.tolist() == [0, 10, 20, 30]
        full = ff.backtest(r[:31], w[:31], rebalance=[0, 10, 20, 30])
        np.testing.assert_allclose(res.value, full.value, rtol=0, atol=1e-15)
    assert rebalance_rows(mask, None, 0, 30, n_rows=60).tolist() == [0, 10, 20, 30]
    with pytest.raises(ValueError, match=r"^rebalance mask has shape \(60,\), expected \(50,\)"):
        ff.backtest(r[:50], w[:50], rebalance=mask)
    with pytest.raises(ValueError, match=r"^rebalance positions must be in \[0, 60\), got 0\.\.60"):
        ff.backtest(r, w, rebalance=[0, 60], end=30)


def test_held_positions_worth_more_than_the_book_close_the_tradable_ones_with_negative_cash():
    # The module docstring promised cash ≥ 0 for every target with Σ w ≤ 1; it cannot hold when
    # the capital that can trade is negative. Long a at 1.0, short b at 0.5 (cash 0.5); then a is
    # suspended and b rises 150 %: A = 0.5 − 1.25 = −0.75. The tradable short is closed (never
    # flipped to a long by scaling the target with a negative capital) and the cash is A − cost.
    r = np.array([[0.0, 0.0], [np.nan, 1.5], [0.0, 0.0]])
    w = np.array([[1.0, -0.5]] * 3)
    res = ff.backtest(r, w, rebalance=[0, 1], cost_bps=0)
    np.testing.assert_allclose(res.value, [1.0, 0.25, 0.25], rtol=0, atol=1e-15)
    np.testing.assert_allclose(res.cash, [0.5, -0.75, -0.75], rtol=0, atol=1e-15)
    np.testing.assert_allclose(res.weights_after[1], [4.0, 0.0], rtol=0, atol=1e-15)
    # with costs: closing the short (1.25 bought back) costs rate · 1.25
    res = ff.backtest(r, w, rebalance=[0, 1], cost_bps=10)
    s_a, s_b = 1.0 * (1 - 1.5e-3), -0.5 * (1 - 1.5e-3)  # day 0: A = 1, K = 1e-3 · 1.5 · A
    c0 = 1.0 - (s_a + s_b) - 1e-3 * (abs(s_a) + abs(s_b))
    assert res.value[0] == pytest.approx(1.0 - 1e-3 * (abs(s_a) + abs(s_b)), abs=1e-15)
    assert res.cash[1] == pytest.approx(c0 + 2.5 * s_b - 1e-3 * abs(2.5 * s_b), abs=1e-15)
    assert res.cash[1] < 0 and res.weights_after[1][1] == 0.0


def test_long_frame_with_unsorted_assets_pairs_with_frames_not_with_arrays():
    # a long frame's assets come out sorted: targets given as an array in the frame's own
    # (unsorted) order used to be held in other assets, silently
    T, N = 30, 4
    names = ["d", "b", "a", "c"]
    dates = np.datetime64("2024-01-01") + np.arange(T)
    rng = np.random.default_rng(5)
    r = rng.normal(0.0, 0.01, (T, N))
    w = np.tile([0.7, 0.1, 0.1, 0.1], (T, 1))

    def long(v, col):
        return long_frame(v, names, dates, col)

    with pytest.raises(ValueError, match=r"returns: the long frame lists its assets in another order"):
        ff.backtest(long(r, "r"), w, rebalance="daily", cost_bps=0)
    # targets as a frame too: matched on date and asset
    got = ff.backtest(long(r, "r"), long(w, "w"), rebalance="daily", cost_bps=0)
    want = ff.backtest(r, w, rebalance="daily", cost_bps=0)
    np.testing.assert_allclose(got.returns, want.returns, equal_nan=True)


def test_frames_of_an_undated_backtest_from_start_are_labelled_by_the_inputs_rows():
    # the frames were labelled 0..T-1 from `start` while trade_dates, alerts(), plot() and the
    # summary's span use the input's rows: an alert at row 80 joined onto row 120 of the input
    rng = np.random.default_rng(3)
    r = rng.normal(0, 0.01, (120, 12))
    w = np.zeros((120, 12))
    w[:, :4] = 0.25
    res = ff.backtest(r, w, rebalance=20, start=40, cost_bps=5)
    s = res.to_polars("series")
    assert s["date"].to_list() == list(range(40, 120))
    assert s.filter(pl.col("traded"))["date"].to_list() == res.trade_dates.tolist() == [40, 60, 80, 100]
    top5 = res.alerts().filter(pl.col("kind") == "top5").join(s, on="date", how="left")
    assert top5["traded"].to_list() == [True] * 4
    assert res.to_polars("weights_after", form="long")["date"].unique().sort().to_list() == list(range(40, 120))
    books = ff.backtest_many(r, np.stack([w, w / 2]), rebalance=20, start=40)
    assert books.to_polars("value")["date"].to_list() == list(range(40, 120))
    # with dates, the dates (unchanged)
    d = np.datetime64("2021-01-01") + np.arange(120)
    dated = ff.backtest(pl.DataFrame({"date": d, **{f"A{j}": r[:, j] for j in range(12)}}), w, rebalance=20, start=40)
    assert dated.to_polars("series")["date"].to_list()[0] == d[40].astype(object)
