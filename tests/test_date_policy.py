"""One rule for every date the library reads ("no silent guess"): a timestamp at midnight is its
date; any other time of day is refused with a ValueError naming the argument or column and how to
convert, never cut to its day (a value stamped 18:00 is not known at that day's close). Each entry
point is checked in each form: ISO text, numpy datetime64, datetime objects, Polars Datetime
(zoned: its wall time in its zone), and text read with a date_format that has a time."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff

DAYS = np.datetime64("2024-01-01") + np.arange(6)  # Mon 2024-01-01 .. Sat 2024-01-06


def _panel() -> ff.Panel:
    rng = np.random.default_rng(0)
    return ff.Panel(DAYS, ["A", "B"], {"returns": rng.normal(0, 0.01, (6, 2))})


@pytest.mark.parametrize(
    "timed",
    [
        ["2024-01-02 16:00:00"],
        np.array(["2024-01-02T16:00"], "datetime64[m]"),
        [dt.datetime(2024, 1, 2, 16)],
        pl.Series("d", [dt.datetime(2024, 1, 2, 16)]),
    ],
    ids=["iso", "datetime64", "datetime", "polars"],
)
def test_panel_select_refuses_a_time_of_day_in_every_form(timed):
    p = _panel()
    with pytest.raises(ValueError, match=r"dates must be whole days; got a time within a day.*2024-01-02.16:00"):
        p.select(dates=timed)


@pytest.mark.parametrize(
    "midnight",
    [
        ["2024-01-02 00:00:00"],
        np.array(["2024-01-02T00:00"], "datetime64[m]"),
        [dt.datetime(2024, 1, 2)],
        pl.Series("d", [dt.datetime(2024, 1, 2)]),
        pl.Series("d", [dt.datetime(2024, 1, 2)]).dt.replace_time_zone("Asia/Tokyo"),
    ],
    ids=["iso", "datetime64", "datetime", "polars", "polars-zoned"],
)
def test_panel_select_reads_midnight_as_its_date(midnight):
    p = _panel().select(dates=midnight)
    assert p.dates.tolist() == [np.datetime64("2024-01-02")]


def test_a_zoned_polars_series_is_read_at_its_wall_time_and_names_its_zone():
    p = _panel()
    # midnight in Tokyo is 15:00 UTC the day before: the Tokyo day is the one read
    tokyo = pl.Series("d", [dt.datetime(2024, 1, 3)]).dt.replace_time_zone("Asia/Tokyo")
    assert p.select(dates=tokyo).dates.tolist() == [np.datetime64("2024-01-03")]
    utc = tokyo.dt.convert_time_zone("UTC")  # 2024-01-02 15:00 UTC: not a day in UTC
    with pytest.raises(ValueError, match=r"in time zone 'UTC'.*2024-01-02 15:00:00.*convert_time_zone"):
        p.select(dates=utc)


def test_backtest_start_end_and_rebalance_refuse_a_time_of_day():
    p = _panel()
    w = np.full((6, 2), 0.5)
    base = ff.backtest(p, w, rebalance=["2024-01-02"], start="2024-01-02", cost_bps=0)
    same = ff.backtest(p, w, rebalance=[np.datetime64("2024-01-02T00:00")], start=dt.datetime(2024, 1, 2), cost_bps=0)
    np.testing.assert_array_equal(base.returns, same.returns)
    with pytest.raises(ValueError, match=r"start must be whole days.*16:00"):
        ff.backtest(p, w, rebalance=["2024-01-02"], start=dt.datetime(2024, 1, 2, 16), cost_bps=0)
    with pytest.raises(ValueError, match=r"end must be whole days.*16:00"):
        ff.backtest(p, w, rebalance=["2024-01-02"], end="2024-01-05 16:00:00", cost_bps=0)
    with pytest.raises(ValueError, match=r"rebalance must be whole days.*2024-01-02T16:00"):
        ff.backtest(p, w, rebalance=np.array(["2024-01-02T16:00"], "datetime64[m]"), cost_bps=0)
    with pytest.raises(ValueError, match=r"rebalance must be whole days.*2024-01-02 16:00:00"):
        ff.backtest(p, w, rebalance=pl.Series([dt.datetime(2024, 1, 2, 16)]), cost_bps=0)


def test_monitor_and_metrics_dates_refuse_a_time_of_day():
    timed = np.array(["2024-01-02T09:30", "2024-01-03T09:30"], "datetime64[m]")
    with pytest.raises(ValueError, match=r"dates must be whole days.*2 values in all"):
        ff.monitor.turnover(np.array([0.9, 0.1]), dates=timed)
    alerts = ff.monitor.turnover(np.array([0.9, 0.1]), dates=timed.astype("datetime64[D]"))
    assert alerts.height == 1
    r = np.array([0.01, -0.02])
    with pytest.raises(ValueError, match=r"dates must be whole days.*09:30"):
        ff.metrics.monthly_win_rate(r, pl.Series([dt.datetime(2024, 1, 2, 9, 30), dt.datetime(2024, 2, 2, 9, 30)]))
    assert ff.metrics.monthly_win_rate(r, pl.Series([dt.date(2024, 1, 2), dt.date(2024, 2, 2)])) == 0.5


def test_a_date_format_with_a_time_reads_midnight_only():
    frame = pl.DataFrame({"date": ["01/02/2024 00:00", "01/03/2024 00:00"], "asset": ["A", "A"], "close": [1.0, 2.0]})
    p = ff.read_panel(frame, date_format="%m/%d/%Y %H:%M")
    assert p.dates.tolist() == [np.datetime64("2024-01-02"), np.datetime64("2024-01-03")]
    late = frame.with_columns(pl.Series("date", ["01/02/2024 00:00", "01/03/2024 16:00"]))
    with pytest.raises(ValueError, match=r"column 'date' must be whole days.*'01/03/2024 16:00'"):
        ff.read_panel(late, date_format="%m/%d/%Y %H:%M")
