"""ff.backtest / ff.backtest_many with explicit delistings (``delistings=``): a hand-worked book,
no look-ahead (changing the data after ``end`` changes nothing up to ``end``, where the inferred
rule does), suspensions held without a listed delisting, the three input forms, bad input."""

from __future__ import annotations

import datetime

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff

NAN = np.nan
SERIES = ("value", "value_before", "returns", "gross_returns", "costs", "turnover", "cash",
          "n_holdings", "traded", "delisted", "weights_before", "weights_after")

# ---------------------------------------------------------------------------------------------
# The hand-worked case: eight days, three assets, equal weights, no costs
# ---------------------------------------------------------------------------------------------

DATES = np.arange("2024-01-01", "2024-01-09", dtype="datetime64[D]")  # Mon 1 .. Mon 8 (daily)
# C's last price is on day 2 (Jan 3); it is delisted on Jan 5 (row 4), with a -50 % delisting
# return. B has no price on days 4 and 5 (suspended, no delisting listed) and comes back on day 6.
RETURNS = np.array([
    [0.00, 0.00, 0.00],
    [0.10, 0.00, -0.20],
    [0.00, 0.10, 0.50],
    [-0.10, 0.20, NAN],
    [0.10, NAN, NAN],
    [0.00, NAN, NAN],
    [0.20, 0.10, NAN],
    [0.00, -0.50, NAN],
])
WEIGHTS = np.full((8, 3), 1 / 3)
KW = dict(rebalance=[0, 5], cost_bps=0, initial_value=300.0)


def _panel() -> ff.Panel:
    return ff.Panel(DATES, ["A", "B", "C"], {"returns": RETURNS})


def test_hand_worked_explicit_delisting():
    res = ff.backtest(_panel(), WEIGHTS, **KW, delistings={"C": "2024-01-05"},
                      delisting_returns={"C": -0.5})
    # Day 0: 300 in cash, bought 100 of each; nothing left in cash.
    # Day 1: A 110, B 100, C 80 -> 290.            Day 2: A 110, B 110, C 120 -> 340.
    # Day 3: A 99, B 132, C has no price: held at 120 (its delisting is on day 4) -> 351.
    # Day 4: A 108.9, B suspended at 132, C delisted: paid 120 * (1 - 0.5) = 60 -> 300.9.
    # Day 5 (rebalance): only A can trade (B has no price, C is gone). Capital that can trade:
    #   cash 60 + A 108.9 = 168.9; A's target 1/3 of it = 56.3; cash 112.6; B held at 132;
    #   value 56.3 + 132 + 112.6 = 300.9; turnover ½ |56.3 − 108.9| / 300.9.
    # Day 6: A 56.3 * 1.2 = 67.56, B back: 132 * 1.1 = 145.2 -> 67.56 + 145.2 + 112.6 = 325.36.
    # Day 7: A flat, B 145.2 * 0.5 = 72.6 -> 67.56 + 72.6 + 112.6 = 252.76.
    value = [300.0, 290.0, 340.0, 351.0, 300.9, 300.9, 325.36, 252.76]
    cash = [0.0, 0.0, 0.0, 0.0, 60.0, 112.6, 112.6, 112.6]
    np.testing.assert_allclose(res.value, value, rtol=1e-14)
    np.testing.assert_allclose(res.value_before, value, rtol=1e-14)  # no costs
    np.testing.assert_allclose(res.cash, cash, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(res.delisted, [0, 0, 0, 0, 60.0, 0, 0, 0], rtol=1e-14, atol=0)
    assert res.n_holdings.tolist() == [3, 3, 3, 3, 2, 2, 2, 2]
    assert res.traded.tolist() == [True, False, False, False, False, True, False, False]
    assert res.turnover[5] == pytest.approx(0.5 * (108.9 - 56.3) / 300.9, rel=1e-12)
    # C is held (not paid out) on day 3, then out of the book
    assert res.weights_after[3, 2] == pytest.approx(120 / 351, rel=1e-13)
    assert np.all(res.weights_after[4:, 2] == 0) and np.all(res.weights_before[4:, 2] == 0)
    # B was held through the rebalance of day 5: its money is unchanged by the trade
    assert res.weights_after[5, 1] * res.value[5] == pytest.approx(132.0, rel=1e-13)
    assert res.weights_after[5, 0] * res.value[5] == pytest.approx(56.3, rel=1e-13)

    # The inferred rule (no delistings=) pays C out on day 3, the row after its last price:
    # day 3 = A 99 + B 132 + 60 in cash = 291; from day 4 on the two books are the same here.
    old = ff.backtest(_panel(), WEIGHTS, **KW, delisting_returns={"C": -0.5})
    np.testing.assert_allclose(old.value, [300.0, 290.0, 340.0, 291.0, 300.9, 300.9, 325.36, 252.76],
                               rtol=1e-14)
    np.testing.assert_allclose(old.delisted, [0, 0, 0, 60.0, 0, 0, 0, 0], rtol=1e-14, atol=0)


# ---------------------------------------------------------------------------------------------
# No look-ahead
# ---------------------------------------------------------------------------------------------


def _case(seed=0, T=60, N=8):
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0005, 0.02, (T, N))
    r[rng.random((T, N)) < 0.03] = NAN  # scattered missing prices
    r[20:, 5] = NAN  # asset 5 delisted at row 20 (listed below)
    r[30:45, 2] = NAN  # asset 2 stops trading at row 30 and comes back at row 45
    w = rng.random((T, N))
    w /= w.sum(axis=1, keepdims=True)
    return r, w


def _assert_same_up_to(a, b, n):
    for k in SERIES:
        x, y = getattr(a, k), getattr(b, k)
        assert np.array_equal(x[:n], y[:n]), k


def test_no_look_ahead_with_explicit_delistings():
    r, w = _case()
    N = r.shape[1]
    e = 40  # asset 2 has no price from row 30 to e; it comes back at 45 in the full data
    rows = np.full(N, -1)
    rows[5] = 20
    kw = dict(rebalance=5, cost_bps=10, end=e)

    # the future changed: asset 2 never comes back, other prices removed or changed after e
    r2 = r.copy()
    r2[e + 1:] = np.random.default_rng(7).normal(0, 0.05, r2[e + 1:].shape)
    r2[e + 1:, 2] = NAN
    r2[e + 1:, 5] = NAN
    r2[50:, 0] = NAN
    cut = r[: e + 1]

    a = ff.backtest(r, w, **kw, delistings=rows)
    b = ff.backtest(r2, w, **kw, delistings=rows)
    c = ff.backtest(cut, w[: e + 1], **kw, delistings=rows)
    _assert_same_up_to(a, b, e + 1)
    _assert_same_up_to(a, c, e + 1)
    assert len(a.value) == e + 1
    # asset 2 was held as suspended from row 30 on, not paid out; asset 5 paid out at row 20
    assert np.all(a.delisted[30:] == 0) and a.delisted[20] > 0
    assert np.all(a.weights_after[30:, 2] > 0)
    # backtest_many: the same
    m1 = ff.backtest_many(r, {"x": w}, **kw, delistings=rows)
    m2 = ff.backtest_many(r2, {"x": w}, **kw, delistings=rows)
    _assert_same_up_to(m1["x"], m2["x"], e + 1)
    _assert_same_up_to(m1["x"], a, e + 1)

    # Without delistings= the inferred rule reads the data after e: with the full data asset 2
    # is suspended (its price comes back at 45), with the changed future it is delisted at row
    # 30 and paid out; the two books differ before e (the old behaviour, kept by default).
    a0 = ff.backtest(r, w, **kw)
    b0 = ff.backtest(r2, w, **kw)
    c0 = ff.backtest(cut, w[: e + 1], **kw)
    assert a0.delisted[30] == 0 and b0.delisted[30] > 0 and c0.delisted[30] > 0
    assert not np.array_equal(a0.value, b0.value)
    assert not np.array_equal(a0.value, c0.value)
    assert np.array_equal(a0.value[:30], b0.value[:30])  # the same up to the stop
    # with the full data the inferred book is the explicit one (asset 5 inferred at row 20)
    _assert_same_up_to(a0, a, e + 1)


# ---------------------------------------------------------------------------------------------
# Suspended through the end: held, untradeable, not paid out
# ---------------------------------------------------------------------------------------------


def test_prices_that_stop_without_a_listed_delisting_are_a_suspension():
    # B has no price from day 2 to the end; nothing is listed for it.
    r = np.array([[0.0, 0.0], [0.10, 0.20], [0.0, NAN], [0.10, NAN], [0.0, NAN]])
    w = np.zeros((5, 2))
    w[0] = [0.5, 0.5]
    w[3] = [0.0, 1.0]  # wants everything in B on day 3: B cannot trade, A is sold
    res = ff.backtest(r, w, rebalance=[0, 3], cost_bps=0, delistings=[-1, -1])
    # day 0: 0.5 / 0.5; day 1: 0.55 / 0.6 -> 1.15; day 2: B held at 0.6 -> 1.15;
    # day 3: A 0.605, B 0.6; A's target 0 -> sold to cash 0.605; B held at 0.6 (its target of 1
    # is not traded); value 1.205; day 4: 1.205.
    np.testing.assert_allclose(res.value, [1.0, 1.15, 1.15, 1.205, 1.205], rtol=1e-14)
    np.testing.assert_allclose(res.cash, [0.0, 0.0, 0.0, 0.605, 0.605], rtol=1e-14, atol=1e-15)
    assert res.delisted.tolist() == [0.0] * 5
    assert res.n_holdings.tolist() == [2, 2, 2, 1, 1]
    np.testing.assert_allclose(res.weights_after[:, 1] * res.value, [0.5, 0.6, 0.6, 0.6, 0.6], rtol=1e-14)
    # an empty mapping (labels given) is the same: nothing listed, nothing delisted
    same = ff.backtest(r, w, rebalance=[0, 3], cost_bps=0, delistings={}, assets=["A", "B"])
    assert np.array_equal(same.value, res.value)
    # the inferred rule pays B out on day 2 (the row after its last price) at its last value
    old = ff.backtest(r, w, rebalance=[0, 3], cost_bps=0)
    assert old.delisted[2] == pytest.approx(0.6, rel=1e-14)
    np.testing.assert_allclose(old.cash, [0.0, 0.0, 0.6, 1.205, 1.205], rtol=1e-14, atol=1e-15)
    assert old.n_holdings.tolist() == [2, 2, 1, 0, 0]


# ---------------------------------------------------------------------------------------------
# Input forms
# ---------------------------------------------------------------------------------------------


def test_mapping_dates_and_rows_give_the_same_book():
    kw = dict(**KW, delisting_returns=[0.0, 0.0, -0.5])
    ref = ff.backtest(_panel(), WEIGHTS, **kw, delistings={"C": "2024-01-05"})
    frame = pl.DataFrame({"date": DATES, "A": RETURNS[:, 0], "B": RETURNS[:, 1], "C": RETURNS[:, 2]})
    nat = np.datetime64("NaT")
    same = [
        ff.backtest(_panel(), WEIGHTS, **kw, delistings={"C": np.datetime64("2024-01-05")}),
        ff.backtest(_panel(), WEIGHTS, **kw, delistings={"C": datetime.date(2024, 1, 5), "A": None}),
        ff.backtest(frame, WEIGHTS, **kw, delistings={"C": "2024-01-05"}),
        ff.backtest(_panel(), WEIGHTS, **kw, delistings=np.array([nat, nat, "2024-01-05"], dtype="datetime64[D]")),
        ff.backtest(frame, WEIGHTS, **kw, delistings=[None, None, "2024-01-05"]),
        ff.backtest(frame, WEIGHTS, **kw, delistings=pl.Series([None, None, datetime.date(2024, 1, 5)])),
        ff.backtest(RETURNS, WEIGHTS, **kw, delistings=np.array([-1, -1, 4])),  # rows, no dates
        ff.backtest(RETURNS, WEIGHTS, **kw, delistings={"C": 4}, assets=["A", "B", "C"]),
        ff.backtest(_panel(), WEIGHTS, **kw, delistings=[-1, -1, 4]),  # rows, with dates
        ff.backtest_many(frame, {"b": WEIGHTS}, **kw, delistings={"C": "2024-01-05"})["b"],
    ]
    for res in same:
        for k in SERIES:
            assert np.array_equal(getattr(res, k), getattr(ref, k)), k
    assert ref.delisted[4] == pytest.approx(60.0, rel=1e-14)


def test_a_date_between_trading_dates_means_the_next_one_and_a_late_date_none():
    # trading dates: every other day; a delisting on a day without trading is paid out at the
    # first trading date after it
    dates = np.arange("2024-01-01", "2024-01-17", 2, dtype="datetime64[D]")
    p = ff.Panel(dates, ["A", "B", "C"], {"returns": RETURNS})
    base = ff.backtest(p, WEIGHTS, **KW, delistings={"C": str(dates[4])})
    between = ff.backtest(p, WEIGHTS, **KW, delistings={"C": str(dates[3] + 1)})
    assert np.array_equal(base.value, between.value) and base.delisted[4] > 0
    # before the first date: delisted at row 0 (C has prices then: refused, see the errors);
    # after the last date: not delisted within the data (held as suspended)
    late = ff.backtest(p, WEIGHTS, **KW, delistings={"C": "2030-01-01"})
    none = ff.backtest(p, WEIGHTS, **KW, delistings={})
    assert np.array_equal(late.value, none.value) and late.delisted.tolist() == [0.0] * 8
    # a delisting after end is not paid out within the backtest (as an inferred one)
    short = ff.backtest(p, WEIGHTS, **KW, end=3, delistings={"C": str(dates[4])})
    assert short.delisted.tolist() == [0.0] * 4
    assert np.array_equal(short.value, base.value[:4])


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_bad_delistings_are_refused_with_the_argument_named():
    p = _panel()

    def run(x, data=p, **kw):
        return ff.backtest(data, WEIGHTS, **KW, delistings=x, **kw)

    with pytest.raises(ValueError, match="delistings names asset 'X', which is not among the assets"):
        run({"X": "2024-01-05"})
    with pytest.raises(ValueError, match=r"delistings has shape \(2,\), expected \(3,\)"):
        run(np.array(["2024-01-05", "2024-01-06"], dtype="datetime64[D]"))
    with pytest.raises(ValueError, match="delistings must be 1-dimensional"):
        run(np.full((2, 3), -1))
    with pytest.raises(TypeError, match="delistings must be a mapping.*got a single bool"):
        run(True)
    with pytest.raises(TypeError, match="delistings must be a mapping.*got booleans"):
        run(np.array([False, False, True]))
    with pytest.raises(TypeError, match="delistings must be a mapping.*got a bool among the values"):
        run([-1, -1, True], data=RETURNS)  # numpy would read True as row 1
    with pytest.raises(TypeError, match=r"delistings\['C'\] must be a date label or an integer row position, "
                                        "got the bool"):
        run({"C": True})
    with pytest.raises(ValueError, match=r"delistings\['C'\]: 1 values are not ISO dates.*never guessed"):
        run({"C": "01/05/2024"})
    with pytest.raises(ValueError, match="delistings: 1 values are not ISO dates"):
        run(["soon", None, None])
    with pytest.raises(TypeError, match="delistings must be a mapping.*got a single str"):
        run("2024-01-05")
    with pytest.raises(TypeError, match="delistings row positions must be integers"):
        run(np.array([-1.0, -1.0, 4.0]))
    with pytest.raises(TypeError, match=r"delistings\['C'\] must be a date label or an integer row position, "
                                        "got the float"):
        run({"C": 4.0})
    with pytest.raises(TypeError, match="delistings must be a mapping.*mixed array"):
        run(np.array([None, 3, "2024-01-05"], dtype=object))
    with pytest.raises(ValueError, match=r"delistings row positions must be -1 \(not delisted\) or in \[0, 8\)"):
        run([-1, -2, 4])
    with pytest.raises(ValueError, match=r"delistings\['C'\] = 8 is not -1"):
        run({"C": 8})
    with pytest.raises(ValueError, match="delistings as a mapping needs asset labels"):
        run({"C": 4}, data=RETURNS)
    with pytest.raises(ValueError, match="delistings holds date labels, but the returns carry no dates"):
        run([None, None, "2024-01-05"], data=RETURNS)
    with pytest.raises(ValueError, match="timezone-aware"):
        run({"C": datetime.datetime(2024, 1, 5, tzinfo=datetime.timezone.utc)})
    # inconsistent: C has a price on Jan 3 (row 2) and is listed as delisted then
    with pytest.raises(ValueError, match=r"delistings: asset 'C' is delisted at 2024-01-03 \(row 2\) but "
                                         r"still has a return \(a price\) on 2024-01-03 \(row 2\)"):
        run({"C": "2024-01-03"})
    # B has a price again on day 6: a delisting on day 4 contradicts it, even with end before it
    with pytest.raises(ValueError, match=r"asset 'B' is delisted at 2024-01-05 \(row 4\).*2024-01-08 \(row 7\)"):
        run({"B": "2024-01-05"}, end=4)
    with pytest.raises(ValueError, match=r"asset 1 is delisted at row 4 .*on row 7 \(2 assets in all\)"):
        run([-1, 4, 1], data=RETURNS)
    # a date before the first one is row 0: C has prices from there on
    with pytest.raises(ValueError, match="asset 'C' is delisted at 2024-01-01"):
        run({"C": "2023-06-30"})


# ---------------------------------------------------------------------------------------------
# A pandas Series is read by its labels; batched dates still name the bad value
# ---------------------------------------------------------------------------------------------


def test_a_pandas_series_is_read_by_asset_label_not_position():
    import pandas as pd

    want = ff.backtest(_panel(), WEIGHTS, **KW, delistings={"C": "2024-01-05"},
                       delisting_returns={"C": -0.5})
    # the Series lists C first: read by position, C's date and return would land on A
    dl = pd.Series(["2024-01-05", None], index=["C", "A"])
    ret = pd.Series([-0.5, 0.0], index=["C", "B"])
    got = ff.backtest(_panel(), WEIGHTS, **KW, delistings=dl, delisting_returns=ret)
    for k in SERIES:
        assert np.array_equal(getattr(got, k), getattr(want, k)), k
    with pytest.raises(ValueError, match="twice"):
        ff.backtest(_panel(), WEIGHTS, **KW, delistings=pd.Series(["2024-01-05", None], index=["C", "C"]))


def test_a_pandas_series_with_the_default_index_is_read_by_position():
    # 0..N-1 is the index of a Series built from a list: positions, as for an array (before, its
    # labels 0, 1, 2 were looked up as asset names: "delistings names asset 0")
    import pandas as pd

    want = ff.backtest(_panel(), WEIGHTS, **KW, delistings={"C": "2024-01-05"}, delisting_returns={"C": -0.5})
    got = ff.backtest(_panel(), WEIGHTS, **KW, delistings=pd.Series([None, None, "2024-01-05"]),
                      delisting_returns=pd.Series([0.0, 0.0, -0.5]))
    for k in SERIES:
        assert np.array_equal(getattr(got, k), getattr(want, k)), k


def test_asset_named_twice_and_nat_strings():
    # keys that are the same asset once written as text
    p = ff.Panel(DATES, ["A", "B", "3"], {"returns": RETURNS})
    with pytest.raises(ValueError, match=r"delistings names asset '3' twice"):
        ff.backtest(p, WEIGHTS, **KW, delistings={3: "2024-01-05", "3": None})
    # "NaT" (as str() of a datetime64 NaT writes it) and "" are no delisting, like NaT
    a = ff.backtest(_panel(), WEIGHTS, **KW, delistings=np.array(["NaT", "", "2024-01-05"]))
    b = ff.backtest(_panel(), WEIGHTS, **KW, delistings={"C": "2024-01-05"})
    assert np.array_equal(a.value, b.value) and a.delisted[4] > 0


def test_a_bad_date_in_a_mapping_is_named():
    with pytest.raises(ValueError, match=r"delistings\['B'\]"):
        ff.backtest(_panel(), WEIGHTS, **KW, delistings={"C": "2024-01-05", "B": "5 Jan 2024"})


# ---------------------------------------------------------------------------------------------
# A time of day: midnight is a date, any other time is refused in every form (never cut)
# ---------------------------------------------------------------------------------------------


def _pd():
    import pandas as pd

    return pd


# each form of delistings= with C's date given as the ISO timestamp ``t`` ('YYYY-MM-DD HH:MM:SS')
TIMED_FORMS = {
    "mapping of str": lambda t: {"C": t},
    "mapping of datetime64": lambda t: {"C": np.datetime64(t.replace(" ", "T"))},
    "mapping of datetime": lambda t: {"C": datetime.datetime.fromisoformat(t)},
    "mapping of pandas Timestamp": lambda t: {"C": _pd().Timestamp(t)},
    "list of str": lambda t: [None, None, t],
    "list of datetime": lambda t: [None, None, datetime.datetime.fromisoformat(t)],
    "array of str": lambda t: np.array(["", "", t]),
    "array datetime64[m]": lambda t: np.array(["NaT", "NaT", t.replace(" ", "T")], dtype="datetime64[m]"),
    "array datetime64[ns]": lambda t: np.array(["NaT", "NaT", t.replace(" ", "T")], dtype="datetime64[ns]"),
    "object array of datetime64": lambda t: np.array([None, None, np.datetime64(t.replace(" ", "T"))], dtype=object),
    "pandas Series datetime64": lambda t: _pd().Series([_pd().Timestamp(t)], index=["C"]),
    "pandas Series of str": lambda t: _pd().Series([t, None], index=["C", "A"]),
    "pandas DatetimeIndex": lambda t: _pd().DatetimeIndex([None, None, t]),
    "polars Series Datetime": lambda t: pl.Series([None, None, datetime.datetime.fromisoformat(t)]),
    "polars Series String": lambda t: pl.Series([None, None, t]),
}


@pytest.mark.parametrize("form", list(TIMED_FORMS))
def test_a_time_of_day_is_refused_in_every_form_and_midnight_is_a_date(form):
    make = TIMED_FORMS[form]
    frame = pl.DataFrame({"date": DATES, "A": RETURNS[:, 0], "B": RETURNS[:, 1], "C": RETURNS[:, 2]})
    ref = ff.backtest(_panel(), WEIGHTS, **KW, delistings={"C": "2024-01-05"})
    for data in (_panel(), frame):
        got = ff.backtest(data, WEIGHTS, **KW, delistings=make("2024-01-05 00:00:00"))
        assert np.array_equal(got.value, ref.value) and got.delisted[4] > 0
        for t in ("2024-01-05 13:30:00", "2024-01-04 00:01:00"):
            with pytest.raises(ValueError, match=r"^delistings must be whole days; got a time within a day for "
                                                 r"asset 'C' \(.*\); a delisting date is a day"):
                ff.backtest(data, WEIGHTS, **KW, delistings=make(t))


def test_a_time_of_day_names_each_asset_and_counts_them():
    pd = _pd()
    with pytest.raises(ValueError, match=r"for asset 'B' \('2024-01-05 00:00:00.000000001'\) "
                                         r"\(2 assets in all\)"):
        ff.backtest(_panel(), WEIGHTS, **KW, delistings={"A": "2024-01-09", "B": pd.Timestamp("2024-01-05") +
                                                         pd.Timedelta(1, "ns"), "C": "2024-01-05T09:00:00"})
    # returns without labels: the asset is its column
    with pytest.raises(ValueError, match=r"for asset 2 \(np.datetime64\('2024-01-05T09:00'\)\)"):
        ff.backtest(RETURNS, WEIGHTS, **KW, dates=DATES,
                    delistings=np.array(["NaT", "NaT", "2024-01-05T09:00"], dtype="datetime64[m]"))
