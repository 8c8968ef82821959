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


def test_synthetic_universe_start_refuses_a_time_of_day():
    for timed in ("2015-01-02 16:00:00", dt.datetime(2015, 1, 2, 16), np.datetime64("2015-01-02T16:00")):
        with pytest.raises(ValueError, match=r"start must be whole days.*2015-01-02.16:00"):
            ff.datasets.synthetic_universe(n_assets=3, n_days=5, start=timed)
    for midnight in ("2015-01-02", "2015-01-02 00:00:00", dt.datetime(2015, 1, 2), np.datetime64("2015-01-02T00:00")):
        p = ff.datasets.synthetic_universe(n_assets=3, n_days=5, start=midnight)
        assert p.dates[0] == np.datetime64("2015-01-02")
    with pytest.raises(ValueError, match=r"start: 1 values are not ISO dates"):  # a month is not a day
        ff.datasets.synthetic_universe(n_assets=3, n_days=5, start="2015-01")


def test_monitor_solver_reads_a_zoned_date_column_at_its_wall_time():
    def statuses(hour):
        d = pl.Series("date", [dt.datetime(2024, 1, 2, hour), dt.datetime(2024, 1, 3, hour)])
        return pl.DataFrame({"date": d.dt.replace_time_zone("Asia/Tokyo"), "status": ["optimal", "infeasible"]})

    # midnight in Tokyo (15:00 UTC the day before) is its Tokyo day
    assert ff.monitor.solver(statuses(0))["date"].to_list() == [dt.date(2024, 1, 3)]
    # 09:00 in Tokyo (midnight UTC) is a time of day in its zone: refused, not read as a UTC day
    with pytest.raises(ValueError, match=r"statuses\['date'\] must be whole days.*in time zone 'Asia/Tokyo'.*09:00"):
        ff.monitor.solver(statuses(9))


def test_bias_statistic_checks_dates_without_a_window():
    r, v = np.array([0.01, -0.02, 0.005]), np.ones(3)
    timed = np.array(["2024-01-02T16:00", "2024-01-03T16:00", "2024-01-04T16:00"], "datetime64[m]")
    with pytest.raises(ValueError, match=r"dates must be whole days.*16:00"):
        ff.evaluate.bias_statistic(r, v, dates=timed)
    assert ff.evaluate.bias_statistic(r, v, dates=timed.astype("datetime64[D]")).dates is None


def test_exposures_check_labels_refuses_a_time_of_day():
    ex = ff.Exposures(styles=np.zeros((6, 2, 1)), style_names=["s"], dates=DAYS, assets=["A", "B"])
    ex.check_labels("returns", DAYS.astype("datetime64[ns]"), None)  # midnight: the same days
    ex.check_labels("returns", [f"{d} 00:00:00" for d in DAYS], None)
    for timed in (DAYS.astype("datetime64[m]") + np.timedelta64(16 * 60, "m"), [f"{d} 16:00:00" for d in DAYS],
                  [dt.datetime.fromisoformat(f"{d}T16:00") for d in DAYS],
                  pl.Series([dt.datetime.fromisoformat(f"{d}T16:00") for d in DAYS])):
        with pytest.raises(ValueError, match=r"the dates of returns must be whole days.*2024-01-01.16:00"):
            ex.check_labels("returns", timed, None)


@pytest.fixture(scope="module")
def risk_model():
    panel = ff.datasets.synthetic_universe(n_assets=40, n_days=60, seed=1)
    res = ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel))
    settings = dict(vol_half_life=10, corr_half_life=20, specific_half_life=10)
    return panel, res, settings, ff.RiskModel(**settings).fit(res)


def _at(day, hour, zone=None):
    s = pl.Series([dt.datetime.fromisoformat(str(day)) + dt.timedelta(hours=hour)])
    return s if zone is None else s.dt.replace_time_zone(zone)


def test_keep_dates_and_bias_test_dates_read_dates_in_every_form(risk_model):
    panel, res, settings, rm = risk_model
    d = rm.dates
    w = np.full((1, len(panel.assets)), 1.0 / len(panel.assets))

    def keep(x):
        return ff.RiskModel(**settings).fit(res, keep_dates=x).dates.tolist()

    def tested(x):
        return ff.evaluate.bias_test(rm, panel, w, dates=x).dates.tolist()

    want = [d[40], d[50]]
    for name, call in (("keep_dates", keep), ("dates", tested)):
        # midnight in every form is its date (datetime64[ns] included, a zoned series at its wall time)
        assert call(d[[40, 50]].astype("datetime64[ns]")) == want
        assert call(pl.concat([_at(d[40], 0, "Asia/Tokyo"), _at(d[50], 0, "Asia/Tokyo")])) == want
        for timed in (d[[40, 50]].astype("datetime64[m]") + np.timedelta64(16 * 60, "m"), _at(d[40], 16)):
            with pytest.raises(ValueError, match=rf"{name} must be whole days.*16:00"):
                call(timed)
        # 09:00 in Tokyo is midnight UTC: still a time of day in its zone
        with pytest.raises(ValueError, match=rf"{name} must be whole days.*in time zone 'Asia/Tokyo'.*09:00"):
            call(_at(d[40], 9, "Asia/Tokyo"))


def test_a_zero_dimensional_datetime64_date_is_checked_for_a_time_of_day(risk_model):
    _, _, _, rm = risk_model
    day = rm.dates[40]
    np.testing.assert_array_equal(rm.covariance(np.array(day, "datetime64[h]")), rm.covariance(40))
    with pytest.raises(ValueError, match=r"date must be whole days.*16"):
        rm.covariance(np.array(f"{day}T16", "datetime64[h]"))
