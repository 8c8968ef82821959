"""Panel: construction and validation, selection, exact round trips through long Polars frames."""

from __future__ import annotations

import datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrofactor as ff
from ferrofactor import baseline


def make_panel(T=6, N=4, seed=0):
    rng = np.random.default_rng(seed)
    dates = np.datetime64("2024-01-01") + np.sort(rng.choice(40, size=T, replace=False))
    assets = np.array([f"X{j}" for j in rng.permutation(N)])  # deliberately unsorted
    close = rng.lognormal(3.0, 0.5, size=(T, N))
    close[rng.random((T, N)) < 0.3] = np.nan
    close[:, 0] = np.nan  # an asset with no data at all
    vol = rng.integers(0, 1000, size=(T, N)).astype(float)
    ind = rng.integers(-1, 3, size=(T, N)).astype(np.int32)
    # label "unused" is never used and labels are not sorted: both must survive a round trip
    return ff.Panel(dates, assets, {"close": close, "volume": vol}, {"industry": (ind, ["zeta", "alpha", "mid", "unused"])})


# --- construction -----------------------------------------------------------------------------


def test_construct_converts_and_exposes():
    p = ff.Panel(
        ["2024-01-02", "2024-01-03"],
        ["B", "A"],
        {"close": [[1, 2], [3, 4]], "f32": np.ones((2, 2), dtype=np.float32)},
        {"industry": ([[0, -1], [1, 0]], ["x", "y"])},
    )
    assert p.dates.dtype == np.dtype("datetime64[D]")
    assert p.assets.tolist() == ["B", "A"]
    assert p.shape == (2, 2)
    assert p.fields == ("close", "f32", "industry")
    assert p.float_fields == ("close", "f32") and p.code_fields == ("industry",)
    assert p["close"].dtype == np.float64 and p["close"].flags.c_contiguous
    assert p["f32"].dtype == np.float64
    assert p["industry"].dtype == np.int32
    assert p.labels("industry").tolist() == ["x", "y"]
    assert "close" in p and "nope" not in p
    assert "T=2, N=2" in repr(p)
    # C-contiguous float64 input is stored without a copy
    a = np.zeros((2, 2))
    assert ff.Panel(p.dates, p.assets, {"a": a})["a"] is a


def test_datetime_inputs():
    ns = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[ns]")
    p = ff.Panel(ns, ["A"], {"x": [[1.0], [2.0]]})
    assert p.dates.tolist() == ns.astype("datetime64[D]").tolist()


@pytest.mark.parametrize(
    ("dates", "assets", "fields", "exc", "match"),
    [
        (["2024-01-03", "2024-01-02"], ["A"], {}, ValueError, "strictly increasing"),
        (["2024-01-02", "2024-01-02"], ["A"], {}, ValueError, "strictly increasing"),
        (["2024-01-02", "not a date"], ["A"], {}, ValueError, r"dates: 1 values are not ISO dates .*\['not a date'\]"),
        (["2024-01-02", "2024-02-30"], ["A"], {}, ValueError, r"dates: 1 values could not be parsed as dates, e\.g\. \['2024-02-30'\]"),
        (["01/02/2024"], ["A"], {}, ValueError, "day/month order is ambiguous"),
        (["2024-01"], ["A"], {}, ValueError, "not ISO dates"),  # numpy would read it as 2024-01-01
        ([1, 2], ["A"], {}, TypeError, "dates must be dates"),
        (np.array(["2024-01-02T12:00"], dtype="datetime64[m]"), ["A"], {}, ValueError, "whole days"),
        ([["2024-01-02"]], ["A"], {}, ValueError, "dates must be 1-dimensional"),
        (np.array(["2024-01-02", "NaT"], dtype="datetime64[D]"), ["A"], {}, ValueError, "NaT"),
        (["2024-01-02"], ["A", "A"], {}, ValueError, "assets must be unique"),
        (["2024-01-02"], [1, 2], {}, TypeError, "assets must be strings"),
        (["2024-01-02"], ["A", "B"], {"x": np.ones((1, 3))}, ValueError, r"field 'x' has shape \(1, 3\), expected \(1, 2\)"),
        (["2024-01-02"], ["A", "B"], {"x": np.ones(2)}, ValueError, "field 'x' must be 2-dimensional"),
        (["2024-01-02"], ["A", "B"], {"x": [["a", "b"]]}, TypeError, "field 'x' must be a numeric array"),
    ],
)
def test_constructor_errors(dates, assets, fields, exc, match):
    with pytest.raises(exc, match=match):
        ff.Panel(dates, assets, fields)


@pytest.mark.parametrize(
    ("codes", "exc", "match"),
    [
        ({"ind": np.zeros((1, 2))}, TypeError, "must be a \\(codes, labels\\) tuple"),
        ({"ind": (np.array([[0, 5]]), ["a", "b"])}, ValueError, "has code 5 but only 2 labels"),
        ({"ind": (np.array([[0, -2]]), ["a"])}, ValueError, "codes must be >= -1"),
        ({"ind": (np.array([[0, 0]]), ["a", "a"])}, ValueError, "labels of code field 'ind' must be unique"),
        ({"ind": (np.array([[0.5, 0]]), ["a"])}, TypeError, "integer code array"),
        ({"ind": (np.array([[0, 0, 0]]), ["a"])}, ValueError, "code field 'ind' has shape"),
        ({"x": (np.array([[0, 0]]), ["a"])}, ValueError, "both as a float field and a code field"),
    ],
)
def test_code_field_errors(codes, exc, match):
    with pytest.raises(exc, match=match):
        ff.Panel(["2024-01-02"], ["A", "B"], {"x": np.ones((1, 2))}, codes)


def test_getitem_and_labels_errors():
    p = make_panel()
    with pytest.raises(KeyError, match="no field 'nope'"):
        p["nope"]
    with pytest.raises(KeyError, match="not a code field"):
        p.labels("close")


# --- select / with_fields -----------------------------------------------------------------------


def test_select_dates_and_assets():
    p = make_panel(T=8, N=5)
    d = p.dates
    s = p.select(dates=slice(str(d[2]), str(d[5])), assets=[p.assets[3], p.assets[1]])
    assert s.dates.tolist() == d[2:6].tolist()
    assert s.assets.tolist() == [p.assets[3], p.assets[1]]
    np.testing.assert_array_equal(s["close"], p["close"][2:6][:, [3, 1]])
    np.testing.assert_array_equal(s["industry"], p["industry"][2:6][:, [3, 1]])
    assert s["close"].flags.c_contiguous
    assert s.labels("industry").tolist() == p.labels("industry").tolist()
    # lists of dates are sorted; masks work
    s2 = p.select(dates=[d[4], d[1]], assets=np.arange(5) % 2 == 0)
    assert s2.dates.tolist() == [d[1], d[4]]
    assert s2.assets.tolist() == p.assets[::2].tolist()
    assert p.select(dates=slice(None, d[0])).shape == (1, 5)
    assert p.select(dates=slice(d[-1] + 1, None)).shape == (0, 5)
    # selection bounds are not data: any ISO date or datetime64 may bound a slice
    assert p.select(dates=slice("1066-10-14", "2999-12-31")).shape == (8, 5)
    with pytest.raises(ValueError, match="not ISO dates"):
        p.select(dates=slice("01/02/2024", None))


def test_select_with_an_asset_mask_as_a_pandas_series_pairs_it_by_label():
    # a boolean Series indexed by asset was read by position: reordered, it kept other assets
    pd = pytest.importorskip("pandas")
    p = make_panel(T=8, N=5)
    mask = np.array([True, False, True, True, False])
    want = p.select(assets=mask)
    m = pd.Series(mask, index=p.assets)
    for x in (m.iloc[::-1], m.sort_values(), m):
        got = p.select(assets=x)
        assert got.assets.tolist() == want.assets.tolist()
        np.testing.assert_array_equal(got["close"], want["close"])
    assert p.select(assets=pd.Series(mask)).assets.tolist() == want.assets.tolist()  # default index: positions
    # a Series of names selects those names (its index plays no part), in their order
    assert p.select(assets=pd.Series(p.assets[[3, 0]], index=[7, 9])).assets.tolist() == p.assets[[3, 0]].tolist()
    with pytest.raises(ValueError, match=r"^assets has no value for 1 of the 5 assets of the panel"):
        p.select(assets=m.iloc[1:])
    with pytest.raises(ValueError, match=r"^assets names assets that are not among those of the panel: \['Q'\]$"):
        p.select(assets=pd.concat([m, pd.Series([True], index=["Q"])]))


def test_select_with_a_date_mask_as_a_pandas_series_indexed_by_date_pairs_it_by_date():
    # a boolean Series indexed by date was read by position: reordered, it kept other dates.
    # It must carry the panel's dates, in their order (select joins nothing on date)
    pd = pytest.importorskip("pandas")
    p = make_panel(T=8, N=3)
    mask = np.array([True, False, False, True, True, False, True, False])
    want = p.select(dates=mask)
    m = pd.Series(mask, index=pd.DatetimeIndex(p.dates))
    got = p.select(dates=m)
    np.testing.assert_array_equal(got.dates, want.dates)
    np.testing.assert_array_equal(got["close"], want["close"])
    with pytest.raises(ValueError, match=rf"^dates and the panel have different dates: position 0 is {p.dates[-1]} "
                                         rf"in dates but {p.dates[0]} in the panel \(8 positions differ\); dates is "
                                         r"paired with the panel by date"):
        p.select(dates=m.iloc[::-1])
    with pytest.raises(ValueError, match=r"^dates has 7 dates but the panel has 8"):
        p.select(dates=m.iloc[1:])
    # the default index stays positional; a Series of dates still selects its values
    np.testing.assert_array_equal(p.select(dates=pd.Series(mask)).dates, want.dates)
    sel = pd.Series(p.dates[[5, 1]], index=pd.DatetimeIndex(p.dates[[0, 2]]))
    np.testing.assert_array_equal(p.select(dates=sel).dates, p.dates[[1, 5]])


def test_select_errors():
    p = make_panel()
    with pytest.raises(ValueError, match="1 dates are not on the panel"):
        p.select(dates=["1999-01-01"])
    with pytest.raises(ValueError, match=r"2 assets are not on the panel, e.g. \['Q', 'R'\]"):
        p.select(assets=["Q", p.assets[0], "R"])
    with pytest.raises(ValueError, match="assets mask has shape"):
        p.select(assets=np.ones(2, dtype=bool))
    with pytest.raises(ValueError, match="must not have a step"):
        p.select(dates=slice(None, None, 2))


def test_with_fields_adds_and_replaces():
    p = make_panel()
    q = p.with_fields({"ret": np.zeros(p.shape)}, {"sector": (np.zeros(p.shape, np.int32), ["s"])})
    assert q.fields == ("close", "volume", "ret", "industry", "sector")
    assert q["close"] is p["close"]
    r = q.with_fields({"industry": np.ones(p.shape)})  # a code field replaced by a float field
    assert "industry" in r.float_fields and "industry" not in r.code_fields


def test_frame_field_keeps_its_labels():
    """A Polars frame as a field is matched on its labels: the panel's dates and assets (same
    order) are accepted, a wide frame's rows in any order are put in date order, and other labels
    are refused naming the field (they were stored by position: columns c, b, a under a, b, c)."""
    from ferrofactor.panel import frame_from_field

    dates = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    wide = frame_from_field(x, dates, ["a", "b", "c"])
    for frame in (wide, wide.reverse(), frame_from_field(x, dates, ["a", "b", "c"], form="long")):
        np.testing.assert_array_equal(ff.Panel(dates, ["a", "b", "c"], {"x": frame})["x"], x)
        base = ff.Panel(dates, ["a", "b", "c"], {"y": x})
        np.testing.assert_array_equal(base.with_fields({"x": frame})["x"], x)
    reordered = wide.select("date", "c", "b", "a")
    msg = r"field 'x' and the panel have different assets: position 0 is c in field 'x' but a in the panel"
    with pytest.raises(ValueError, match=msg):
        ff.Panel(dates, ["a", "b", "c"], {"x": reordered})
    with pytest.raises(ValueError, match=msg):
        ff.Panel(dates, ["a", "b", "c"], {"y": x}).with_fields({"x": reordered})
    later = wide.with_columns(pl.col("date") + pl.duration(days=365))
    with pytest.raises(ValueError, match=r"field 'x' and the panel have different dates: position 0 "
                       r"is 2025-01-01 in field 'x' but 2024-01-02 in the panel"):
        ff.Panel(dates, ["a", "b", "c"], {"x": later})
    # the frame's own labels, in its order, are accepted as the panel's
    p = ff.Panel(dates, ["c", "b", "a"], {"x": reordered})
    np.testing.assert_array_equal(p["x"], x[:, ::-1])


# --- long frames --------------------------------------------------------------------------------



def test_pandas_frame_field_keeps_its_labels():
    """A pandas DataFrame (DatetimeIndex × tickers) as a field is matched on its labels, as a
    Polars frame is: columns c, b, a under assets a, b, c (or other dates) were stored by
    position; rows in any order are put in date order; integer column labels (PERMNOs) are read
    as strings, in column order; the default RangeIndex on both axes is an array."""
    import pandas as pd

    dates = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    df = pd.DataFrame(x, index=pd.DatetimeIndex(dates), columns=["a", "b", "c"])
    for frame in (df, df.iloc[::-1], pd.DataFrame(x)):
        np.testing.assert_array_equal(ff.Panel(dates, ["a", "b", "c"], {"x": frame})["x"], x)
        base = ff.Panel(dates, ["a", "b", "c"], {"y": x})
        np.testing.assert_array_equal(base.with_fields({"x": frame})["x"], x)
    msg = r"field 'x' and the panel have different assets: position 0 is c in field 'x' but a in the panel"
    with pytest.raises(ValueError, match=msg):
        ff.Panel(dates, ["a", "b", "c"], {"x": df[["c", "b", "a"]]})
    with pytest.raises(ValueError, match=msg):
        ff.Panel(dates, ["a", "b", "c"], {"y": x}).with_fields({"x": df[["c", "b", "a"]]})
    with pytest.raises(ValueError, match=r"field 'x' and the panel have different dates: position 0 "
                       r"is 2025-01-01 in field 'x'"):
        ff.Panel(dates, ["a", "b", "c"], {"x": df.set_axis(df.index + pd.Timedelta(days=365))})
    permnos = pd.DataFrame(x, index=pd.DatetimeIndex(dates), columns=[10001, 10002, 9999])
    np.testing.assert_array_equal(ff.Panel(dates, ["10001", "10002", "9999"], {"x": permnos})["x"], x)
    with pytest.raises(ValueError, match="different assets: position 0 is 10001 in field 'x' but 9999"):
        ff.Panel(dates, ["9999", "10001", "10002"], {"x": permnos})
    with pytest.raises(ValueError, match="has the asset 'a' twice in its columns"):
        ff.Panel(dates, ["a", "b", "c"], {"x": df.set_axis(["a", "a", "c"], axis=1)})
    with pytest.raises(ValueError, match="must be whole days"):
        ff.Panel(dates, ["a", "b", "c"], {"x": df.set_axis(df.index + pd.Timedelta(hours=16))})
    with pytest.raises(ValueError, match="timezone-aware"):
        ff.Panel(dates, ["a", "b", "c"], {"x": df.tz_localize("America/New_York")})
    with pytest.raises(ValueError, match="MultiIndex columns"):
        ff.Panel(dates, ["a", "b", "c"], {"x": pd.concat({"px": df}, axis=1)})
    # an index that does not hold dates: the columns still name the assets (rows by position)
    np.testing.assert_array_equal(ff.Panel(dates, ["a", "b", "c"], {"x": df.reset_index(drop=True)})["x"], x)
    with pytest.raises(ValueError, match="different assets"):
        ff.Panel(dates, ["a", "b", "c"], {"x": df[["c", "b", "a"]].reset_index(drop=True)})


def test_round_trip_exact():
    p = make_panel(T=7, N=5, seed=3)
    df = p.to_polars()
    assert df.columns == ["date", "asset", "close", "volume", "industry"]
    assert df.schema["date"] == pl.Date and df.schema["asset"] == pl.String
    assert isinstance(df.schema["industry"], pl.Enum)
    assert df.height == 35
    q = ff.Panel.from_polars(df, assets=p.assets)  # keep the panel's (unsorted) asset order
    assert q.equals(p)
    np.testing.assert_array_equal(q["industry"], p["industry"])
    assert q.labels("industry").tolist() == ["zeta", "alpha", "mid", "unused"]
    # default asset order is sorted; the same data otherwise
    r = ff.Panel.from_polars(df)
    assert r.assets.tolist() == sorted(p.assets.tolist())
    assert r.equals(p.select(assets=sorted(p.assets.tolist())))
    # the integer codes are the Enum's physical values (-1 = null)
    phys = df["industry"].to_physical().cast(pl.Int32).fill_null(-1).to_numpy()
    np.testing.assert_array_equal(phys.reshape(p.shape), p["industry"])


def test_round_trip_shuffled_and_lazy():
    p = make_panel(T=9, N=6, seed=4)
    df = p.to_polars().sample(fraction=1.0, shuffle=True, seed=1)
    q = ff.Panel.from_polars(df.lazy(), assets=p.assets)
    assert q.equals(p)


def test_same_result_for_any_thread_count():
    p = make_panel(T=30, N=20, seed=6)
    frames = [p.to_polars(), p.to_polars().sample(fraction=1.0, shuffle=True, seed=2)]  # both scatter paths
    try:
        out = []
        for n in (1, 2):
            ff.set_num_threads(n)
            out.append([ff.Panel.from_polars(df, assets=p.assets) for df in frames])
    finally:
        ff.set_num_threads(0)
    for a, b in zip(*out):
        assert a.equals(b) and a.equals(p)


def test_scatter_kernel_rejects_bad_cells():
    from ferrofactor import _core

    with pytest.raises(ValueError, match=r"cell index 9 is outside \[0, 6\]"):
        _core.scatter_fields(np.array([0, 9]), [[np.ones(2)]], [np.empty((2, 3))])
    with pytest.raises(ValueError, match="field 0 has 1 values but there are 2 cell indices"):
        _core.scatter_fields(np.array([0, 1]), [[np.ones(1)]], [np.empty((2, 3))])
    with pytest.raises(ValueError, match="outs must be C-contiguous"):
        _core.scatter_fields(np.array([0, 1]), [[np.ones(2)]], [np.empty((3, 2)).T])


def test_scatter_runs_kernel_rejects_bad_runs():
    from ferrofactor import _core

    out = [np.empty((2, 3))]
    with pytest.raises(ValueError, match="out of order or outside 2 rows / 6 cells"):
        _core.scatter_runs(np.array([[0, 5, 2]]), [[np.ones(2)]], out)  # cells 5..7 > 6
    with pytest.raises(ValueError, match="out of order"):
        _core.scatter_runs(np.array([[1, 0, 1], [0, 1, 1]]), [[np.ones(2)]], out)  # rows go back
    with pytest.raises(ValueError, match=r"runs must have shape \(R, 3\)"):
        _core.scatter_runs(np.zeros((1, 2), dtype=np.int64), [[np.ones(2)]], out)
    with pytest.raises(ValueError, match="field 1 has 1 values but field 0 has 2"):
        _core.scatter_runs(np.array([[0, 0, 2]]), [[np.ones(2)], [np.ones(1)]], [np.empty((2, 3)), np.empty((2, 3))])
    with pytest.raises(ValueError, match="outs must be C-contiguous"):
        _core.scatter_runs(np.array([[0, 0, 2]]), [[np.ones(2)]], [np.empty((3, 2)).T])
    with pytest.raises(ValueError, match="outs must be C-contiguous"):
        _core.gather_fields([np.ones(2)], np.zeros((2, 3), dtype=np.int32), [np.empty((3, 2)).T])
    with pytest.raises(ValueError, match=r"record index outside \[-1, 2\)"):
        _core.gather_fields([np.ones(2)], np.full((2, 3), 2, dtype=np.int32), [np.empty((2, 3))])


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
def test_multi_block_ragged_layout_with_drops_and_codes(order, monkeypatch):
    # ~96k rows: several of the Rust kernel's 65536-row blocks, three Arrow chunks, gaps (ragged
    # listings, an asset never present), rows dropped by a target asset axis and a code field.
    # Sorted rows take the run path, shuffled rows the per-row path; both must give the numpy
    # expectation built from the generating grid, with 1 and 2 threads.
    from ferrofactor import _core

    rng = np.random.default_rng(11)
    T, N = 300, 400
    dates = np.datetime64("2021-01-04") + np.arange(T)
    assets = np.array([f"S{j:03d}" for j in range(N)])
    present = rng.random((T, N)) < 0.8
    present[:, 5] = False
    x = rng.standard_normal((T, N))
    ind = rng.integers(0, 4, (T, N))
    t, a = np.nonzero(present)  # date-major
    df = pl.DataFrame(
        {"date": dates[t], "asset": assets[a], "x": x[t, a], "ind": np.array(["I0", "I1", "I2", "I3"])[ind[t, a]]}
    )
    if order == "shuffled":
        df = df.sample(fraction=1.0, shuffle=True, seed=3)
    k = df.height // 3
    df = pl.concat([df[:k], df[k : 2 * k], df[2 * k :]], rechunk=False)
    assert df["x"].n_chunks() == 3 and df.height > 65536
    target = np.concatenate([assets[::7], ["ZZZ"]])  # most assets' rows are dropped; one phantom
    want_x = np.where(present, x, np.nan)[:, ::7]
    want_x = np.concatenate([want_x, np.full((T, 1), np.nan)], axis=1)
    want_ind = np.where(present, ind, -1)[:, ::7]
    want_ind = np.concatenate([want_ind, np.full((T, 1), -1)], axis=1)

    calls = []
    for name in ("scatter_runs", "scatter_fields"):
        real = getattr(_core, name)
        monkeypatch.setattr(_core, name, lambda *args, _real=real, _name=name: calls.append(_name) or _real(*args))
    try:
        for n in (1, 2):
            ff.set_num_threads(n)
            p = ff.Panel.from_polars(df, fields=["x"], codes=["ind"], assets=target)
            np.testing.assert_array_equal(p.dates, dates)
            np.testing.assert_array_equal(p["x"], want_x)
            np.testing.assert_array_equal(p["ind"], want_ind)
            assert p.labels("ind").tolist() == ["I0", "I1", "I2", "I3"]
    finally:
        ff.set_num_threads(0)
    assert set(calls) == {"scatter_runs" if order == "sorted" else "scatter_fields"}


def test_to_polars_drop_missing():
    p = make_panel(T=5, N=4, seed=5)
    empty = np.zeros(p.shape, dtype=bool)
    empty[1, :] = True
    empty[:, 2] = True
    p["close"][empty] = np.nan
    p["volume"][empty] = np.nan
    p["industry"][empty] = -1
    full = p.to_polars()
    small = p.to_polars(drop_missing=True)
    assert small.height < full.height
    keep = ~(np.isnan(p["close"]) & np.isnan(p["volume"]) & (p["industry"] < 0))
    assert small.height == int(keep.sum()) == 20 - 8 - int((~keep & ~empty).sum())
    back = ff.Panel.from_polars(small, dates=p.dates, assets=p.assets)
    assert back.equals(p)


def _panel_with_unlabelled_code_field():
    """A code field with no labels, every cell -1 (no classification), beside a labelled one."""
    p = make_panel(T=4, N=3, seed=8)
    return p.with_fields(codes={"sector": (np.full(p.shape, -1, dtype=np.int32), [])})


def test_code_field_without_labels_round_trips_through_polars():
    p = _panel_with_unlabelled_code_field()
    df = p.to_polars()
    # an empty Enum (all null), not a String column: from_polars reads it back as a code field
    assert df.schema["sector"] == pl.Enum([]) and df["sector"].null_count() == df.height
    for q in (
        ff.Panel.from_polars(df, assets=p.assets),  # default: Enum columns are code fields
        ff.Panel.from_polars(df.lazy(), assets=p.assets),
        ff.Panel.from_polars(df, fields=["close", "volume"], codes=["industry", "sector"], assets=p.assets),
    ):
        assert q.code_fields == ("industry", "sector") and q.equals(p)
        assert q["sector"].dtype == np.int32 and (q["sector"] == -1).all()
        assert q.labels("sector").size == 0
    # only unlabelled code fields, and no float field at all
    only = ff.Panel(p.dates, p.assets, codes={"sector": (np.full(p.shape, -1, np.int32), [])})
    back = ff.Panel.from_polars(only.to_polars(), assets=only.assets)
    assert back.code_fields == ("sector",) and back.equals(only)
    # drop_missing keeps the rows other fields hold; the target axes restore the rest
    small = p.to_polars(drop_missing=True)
    assert ff.Panel.from_polars(small, dates=p.dates, assets=p.assets).equals(p)


def test_code_field_without_labels_round_trips_through_parquet(tmp_path):
    p = _panel_with_unlabelled_code_field()
    path = tmp_path / "panel.parquet"
    p.to_polars().write_parquet(path)
    assert pl.read_parquet(path).schema["sector"] == pl.Enum([])
    for q in (
        ff.read_panel(str(path), assets=p.assets),
        ff.Panel.from_polars(pl.scan_parquet(path), assets=p.assets),
    ):
        assert q.code_fields == ("industry", "sector") and q.equals(p)
        assert q.labels("sector").size == 0


def test_ragged_assets_align_on_union_of_dates():
    # A trades Mon-Wed, B lists on Tue and skips Wed, C only on Thu.
    df = pl.DataFrame(
        {
            "date": ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-02", "2024-01-04"],
            "asset": ["A", "A", "A", "B", "C"],
            "close": [1.0, 2.0, 3.0, 20.0, 300.0],
        }
    )
    p = ff.Panel.from_polars(df)
    assert p.dates.tolist() == np.array(
        ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"], dtype="datetime64[D]"
    ).tolist()
    assert p.assets.tolist() == ["A", "B", "C"]
    nan = np.nan
    expected = np.array([[1, nan, nan], [2, 20, nan], [3, nan, nan], [nan, nan, 300]])
    np.testing.assert_array_equal(p["close"], expected)


def test_target_axes_drop_and_pad():
    df = pl.DataFrame(
        {"date": ["2024-01-01", "2024-01-02", "2024-01-02"], "asset": ["A", "A", "Z"], "x": [1.0, 2.0, 9.0]}
    )
    p = ff.Panel.from_polars(df, dates=["2024-01-02", "2024-01-05"], assets=["B", "A"])
    np.testing.assert_array_equal(p["x"], [[np.nan, 2.0], [np.nan, np.nan]])


def test_column_types_are_converted():
    df = pl.DataFrame(
        {
            "when": pl.Series(["2024-01-01 00:00:00", "2024-01-02 00:00:00"]).str.to_datetime(),
            "permno": [10001, 10002],
            "px": [1, 2],  # integers become floats
            "flag": [True, None],  # booleans become 0/1, nulls NaN
            "sector": ["tech", None],
        }
    )
    p = ff.Panel.from_polars(df, date="when", asset="permno", fields=["px", "flag"], codes=["sector"])
    assert p.assets.tolist() == ["10001", "10002"]
    np.testing.assert_array_equal(p["px"], [[1.0, np.nan], [np.nan, 2.0]])
    np.testing.assert_array_equal(p["flag"], [[1.0, np.nan], [np.nan, np.nan]])
    np.testing.assert_array_equal(p["sector"], [[0, -1], [-1, -1]])
    assert p.labels("sector").tolist() == ["tech"]


def test_default_fields_and_codes():
    df = pl.DataFrame(
        {"date": ["2024-01-01"], "asset": ["A"], "x": [1.0], "n": [3], "g": pl.Series(["k"], dtype=pl.Categorical)}
    )
    p = ff.Panel.from_polars(df)
    assert p.float_fields == ("x", "n") and p.code_fields == ("g",)


@pytest.mark.parametrize(
    ("df", "kwargs", "match"),
    [
        (pl.DataFrame({"day": ["2024-01-01"], "asset": ["A"], "x": [1.0]}), {}, r"missing columns \['date'\]"),
        (pl.DataFrame({"date": ["2024-01-01"], "asset": ["A"]}), {"fields": ["x", "y"]}, r"missing columns \['x', 'y'\]"),
        (
            pl.DataFrame({"date": ["2024-01-01"] * 3 + ["2024-01-02"], "asset": ["A", "A", "A", "B"], "x": [1.0] * 4}),
            {},
            r"duplicate \(date, asset\) rows: 1 pairs appear more than once \(2 extra rows\), e\.g\. \[\('2024-01-01', 'A'\)\]",
        ),
        (pl.DataFrame({"date": ["2024-01-01", "2024-02-30"], "asset": ["A", "A"], "x": [1.0, 2.0]}), {}, r"1 values could not be parsed as dates, e\.g\. \['2024-02-30'\]"),
        (pl.DataFrame({"date": ["2024-01-01", None], "asset": ["A", "A"], "x": [1.0, 2.0]}), {}, "1 missing dates"),
        (pl.DataFrame({"date": [20240101], "asset": ["A"], "x": [1.0]}), {}, r"column 'date' holds integers .*\[20240101\].*date_format='%Y%m%d'"),
        (pl.DataFrame({"date": [20240101.0], "asset": ["A"], "x": [1.0]}), {}, "column 'date' has dtype Float64; expected dates"),
        (pl.DataFrame({"date": ["2024-01-01"], "asset": [None], "x": [1.0]}, schema_overrides={"asset": pl.String}), {}, "1 missing asset ids"),
        (pl.DataFrame({"date": ["2024-01-01"], "asset": ["A"], "x": ["1.0"]}), {"fields": ["x"]}, r"field 'x' is not numeric \(dtype String\)"),
        (pl.DataFrame({"date": ["2024-01-01"], "asset": [1.5], "x": [1.0]}), {}, "column 'asset' has dtype Float64; expected asset ids"),
        (pl.DataFrame({"date": ["2024-01-01"], "asset": ["A"], "x": ["1.0"]}), {}, "neither numeric fields nor codes"),
        (pl.DataFrame({"date": ["2024-01-01"], "asset": ["A"], "x": ["NA"]}), {},
         r"columns \['x \(String\)'\] are neither numeric fields nor codes; 'x' holds text such as 'NA'; pass fields="),
        (pl.DataFrame({"date": [], "asset": [], "x": []}, schema={"date": pl.Date, "asset": pl.String, "x": pl.Float64}), {}, "empty input"),
        (pl.DataFrame({"date": ["2024-01-01"], "asset": ["A"], "x": [1.0]}), {"fields": ["x"], "codes": ["x"]}, "listed more than once"),
        (pl.DataFrame({"date": ["2024-01-01"], "asset": ["A"], "x": [1.0]}), {"codes": ["x"]}, "code field 'x' has dtype Float64"),
    ],
)
def test_from_polars_errors(df, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ff.Panel.from_polars(df, **kwargs)


def test_from_polars_type_error():
    with pytest.raises(TypeError, match="polars DataFrame or LazyFrame"):
        ff.Panel.from_polars({"date": [1]})  # type: ignore[arg-type]


def test_duplicates_report_first_few_and_count():
    n = 20
    df = pl.DataFrame({"date": ["2024-01-01"] * (2 * n), "asset": [f"A{i:02d}" for i in range(n)] * 2, "x": np.arange(2.0 * n)})
    with pytest.raises(ValueError, match=r"20 pairs appear more than once \(20 extra rows\)") as info:
        ff.Panel.from_polars(df)
    assert "('2024-01-01', 'A04')" in str(info.value) and "A05" not in str(info.value)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.sampled_from(["a", "b", "c", "dd", "e1", "Z"]), st.one_of(st.none(), st.floats(-1e6, 1e6))),
        min_size=1,
        max_size=60,
        unique_by=lambda r: (r[0], r[1]),
    )
)
def test_from_polars_matches_per_row_oracle(rows):
    d = np.datetime64("2020-02-25") + np.array([r[0] for r in rows])
    a = [r[1] for r in rows]
    v = [r[2] for r in rows]
    df = pl.DataFrame({"date": d, "asset": a, "x": pl.Series(v, dtype=pl.Float64)})
    p = ff.Panel.from_polars(df)
    dates, assets, out = baseline.panel_from_long(d, a, v)
    np.testing.assert_array_equal(p.dates, dates)
    np.testing.assert_array_equal(p.assets, assets)
    np.testing.assert_array_equal(p["x"], out)
    assert ff.Panel.from_polars(p.to_polars()).equals(p)


def test_real_data_fama_french_industries_round_trip():
    # Monthly value-weighted industry portfolio returns shipped with linearmodels (test extra).
    from linearmodels.datasets import french

    data = french.load()
    inds = ["NoDur", "Durbl", "Manuf", "Enrgy", "Chems", "BusEq", "Telcm", "Utils", "Shops", "Hlth", "Money", "Other"]
    wide = pl.from_pandas(data[["dates", *inds]])
    long = wide.unpivot(index="dates", on=inds, variable_name="asset", value_name="ret").rename({"dates": "date"})
    p = ff.read_panel(long.sample(fraction=1.0, shuffle=True, seed=0))
    assert p.shape == (len(data), len(inds))
    assert p.assets.tolist() == sorted(inds)
    np.testing.assert_array_equal(p["ret"], data[sorted(inds)].to_numpy())
    assert ff.Panel.from_polars(p.to_polars()).equals(p)
    # price index from the returns and back: the same returns to rounding (a product and a ratio)
    level = np.cumprod(1.0 + p["ret"], axis=0)
    back = ff.returns_from_prices(level)
    np.testing.assert_allclose(back[1:], p["ret"][1:], rtol=0, atol=1e-12)


def test_distinct_values_table_and_sort_paths_agree():
    # The table pass (narrow ranges, the usual case) and the sort fallback (a range much wider
    # than the data, e.g. categorical ids from a large global string cache) give the same sorted
    # distinct values and first rows.
    from ferrofactor import _core
    from ferrofactor.panel import _distinct

    rng = np.random.default_rng(5)
    chunks = [rng.integers(10, 60, size=n).astype(np.uint32) for n in (0, 7, 300, 1)]
    flat = np.concatenate(chunks)
    want_v, want_first = np.unique(flat.astype(np.int64), return_index=True)
    for hi in (int(flat.max()), 10_000_000):  # table; sort (span > 4 M and > 4 rows)
        v, first = _distinct(chunks, 0, hi, _core.first_rows_u32)
        np.testing.assert_array_equal(v, want_v)
        np.testing.assert_array_equal(first, want_first)
    days = [np.array([19000, 18990, 19000], dtype=np.int32)]
    v, first = _distinct(days, 18990, 19000, _core.first_rows_i32)
    assert v.tolist() == [18990, 19000] and first.tolist() == [1, 0]
    assert _distinct([np.zeros(0, np.int32)], 0, -1, _core.first_rows_i32)[0].size == 0


def test_from_polars_date_format():
    df = pl.DataFrame({"date": ["02.01.2024", "01.02.2024"], "asset": ["A", "A"], "x": [1.0, 2.0]})
    with pytest.raises(ValueError, match="day/month order is ambiguous"):
        ff.Panel.from_polars(df)
    p = ff.Panel.from_polars(df.lazy(), date_format="%d.%m.%Y")
    assert p.dates.tolist() == np.array(["2024-01-02", "2024-02-01"], dtype="datetime64[D]").tolist()
    np.testing.assert_array_equal(p["x"], [[1.0], [2.0]])
    # a Date column needs no format and ignores none: it is not text
    q = ff.Panel.from_polars(df.with_columns(pl.col("date").str.to_date("%d.%m.%Y")), date_format="%d.%m.%Y")
    assert q.equals(p)


# --- absurd date spans (issue 10, family 9) ----------------------------------------------------

_SPAN_SCRIPT = r"""
import json
import numpy as np, polars as pl
import ferrofactor as ff
import ferrofactor.panel as P

days = np.array(["1970-01-01", "5000000-01-01"], dtype="datetime64[D]")
df = pl.DataFrame({"date": pl.Series(days.view(np.int64).astype(np.int32)).cast(pl.Date),
                   "asset": ["A", "B"], "x": [1.0, 2.0]})
calls = {
    "from_polars": lambda: ff.Panel.from_polars(df),
    "read_panel": lambda: ff.read_panel(df.lazy()),
    "read_fundamentals": lambda: ff.read_fundamentals(df.rename({"date": "report_date"}), ["2024-01-02"], ["A"]),
    "read_classifications": lambda: ff.read_classifications(df.with_columns(industry=pl.lit("x")), ["2024-01-02"], ["A"]),
    "Panel": lambda: ff.Panel(days, ["A"]),
    "field_from_frame": lambda: P.field_from_frame("x", df.pivot(on="asset", index="date", values="x")),
}
out = {}
for name, call in calls.items():
    try:
        call()
        out[name] = "accepted"
    except ValueError as e:
        out[name] = str(e)
# The root: with the refusal lifted, the same rows still need no table sized by the span.
P._DATE_MAX = np.datetime64("5000001-01-01")
P._MAX_SPAN_DAYS = 2**40
p = ff.Panel.from_polars(df)
q = ff.Panel.from_polars(df, dates=np.array(["1970-01-01", "1971-01-01", "5000000-01-01"], dtype="datetime64[D]"))
out["lifted"] = [p.dates.astype(str).tolist(), np.nan_to_num(p["x"], nan=-1).tolist(), np.nan_to_num(q["x"], nan=-1).tolist()]
print(json.dumps(out))
"""


def test_absurd_date_span_refused_and_never_allocated():
    # Two rows dated 1970 and in the year 5,000,000 used to size a day table by the span (6.8 GB).
    # Run under a 4 GB address-space limit (ulimit -v) so an allocation failure or abort fails
    # this test instead of killing the test run.
    import json
    import resource
    import subprocess
    import sys

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    proc = subprocess.run(
        [sys.executable, "-c", _SPAN_SCRIPT], capture_output=True, text=True, timeout=300, preexec_fn=limit
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in ("from_polars", "read_panel", "read_fundamentals", "read_classifications", "field_from_frame"):
        assert "dates run from 1970-01-01 to 5000000-01-01" in out[name], (name, out[name])
        assert "between 1800-01-01 and 2300-12-31 and span at most 200 years" in out[name]
    assert out["from_polars"].startswith("column 'date': ")
    assert out["read_fundamentals"].startswith("column 'report_date': ")
    assert out["field_from_frame"].startswith("x: column 'date': ")
    assert out["Panel"].startswith("dates: dates run from 1970-01-01 to 5000000-01-01")
    # NaN shown as -1
    assert out["lifted"] == [["1970-01-01", "5000000-01-01"], [[1.0, -1], [-1, 2.0]], [[1.0, -1], [-1, -1], [-1, 2.0]]]


@pytest.mark.parametrize(
    ("lo", "hi", "ok"),
    [
        ("1800-01-01", "1800-01-02", True),
        ("1799-12-31", "1800-01-02", False),
        ("2300-12-30", "2300-12-31", True),
        ("2300-12-30", "2301-01-01", False),
        ("1850-01-01", "2049-12-31", True),  # 200 years less a day
        ("1850-01-01", "2050-01-02", False),  # more than 200 years
        ("2024-01-02", "2204-01-02", True),
        ("1824-01-02", "2204-01-02", False),  # a mistyped 2204 in a long history
    ],
)
def test_date_range_bounds(lo, hi, ok):
    df = pl.DataFrame({"date": [lo, hi], "asset": ["A", "A"], "x": [1.0, 2.0]})
    if ok:
        assert ff.Panel.from_polars(df).dates.astype(str).tolist() == [lo, hi]
        assert ff.Panel([lo, hi], ["A"]).shape == (2, 1)
    else:
        with pytest.raises(ValueError, match=rf"column 'date': dates run from {lo} to {hi}; .*mistyped date"):
            ff.Panel.from_polars(df)
        with pytest.raises(ValueError, match=rf"dates: dates run from {lo} to {hi}"):
            ff.Panel([lo, hi], ["A"])


def test_sort_based_day_lookup_matches_table(monkeypatch):
    # Day ranges much wider than the data (impossible once dates are checked, but the rule stands)
    # replace days by their rank among the distinct days: the same panel as the table path, with
    # and without target dates, sorted and shuffled rows.
    import ferrofactor.panel as P

    rng = np.random.default_rng(2)
    days = np.sort(rng.choice(30_000, size=40, replace=False))
    dates = np.datetime64("1950-01-01") + days
    assets = np.array([f"S{j}" for j in range(7)])
    t, a = np.nonzero(rng.random((40, 7)) < 0.7)
    df = pl.DataFrame({"date": dates[t], "asset": assets[a], "x": rng.standard_normal(len(t))})
    target = np.concatenate([dates[::3], [np.datetime64("2040-01-01")]])
    frames = [df, df.sample(fraction=1.0, shuffle=True, seed=4)]
    want = [[ff.Panel.from_polars(f) for f in frames], [ff.Panel.from_polars(f, dates=target) for f in frames]]
    monkeypatch.setattr(P, "_table_limit", lambda n: 0)
    got = [[ff.Panel.from_polars(f) for f in frames], [ff.Panel.from_polars(f, dates=target) for f in frames]]
    for w, g in zip(sum(want, []), sum(got, [])):
        assert g.equals(w)
    assert want[0][0].equals(want[0][1]) and want[0][0].shape == (40, 7)
    with pytest.raises(ValueError, match=r"duplicate \(date, asset\) rows: 1 pairs"):
        ff.Panel.from_polars(pl.concat([df, df.head(1)]))


# --- one field from a frame, and back ------------------------------------------------------------

from ferrofactor.panel import field_from_frame, frame_from_field  # noqa: E402

nan = np.nan


def test_field_from_wide_frame_hand_made():
    wide = pl.DataFrame(
        {
            "date": ["2024-01-04", "2024-01-02", "2024-01-03"],  # unsorted rows
            "ZZ": [3.0, 1.0, None],
            "AA": [30, 10, 20],  # integers become floats
            "MM": [True, False, None],
        }
    )
    values, dates, assets = field_from_frame("x", wide)
    assert assets.tolist() == ["ZZ", "AA", "MM"]  # column order, not sorted
    assert dates.dtype == np.dtype("datetime64[D]")
    assert dates.tolist() == np.array(["2024-01-02", "2024-01-03", "2024-01-04"], dtype="datetime64[D]").tolist()
    np.testing.assert_array_equal(values, [[1.0, 10.0, 0.0], [nan, 20.0, nan], [3.0, 30.0, 1.0]])
    assert values.dtype == np.float64 and values.flags.c_contiguous
    # a LazyFrame, another date column name and a date format
    v2, d2, a2 = field_from_frame(
        "x", wide.rename({"date": "day"}).with_columns(pl.col("day").str.to_date().dt.strftime("%d/%m/%Y")).lazy(),
        date="day", date_format="%d/%m/%Y",
    )
    np.testing.assert_array_equal(v2, values)
    assert d2.tolist() == dates.tolist() and a2.tolist() == assets.tolist()
    # for a caller that pairs the field row by row with arrays: rows out of date order refused
    with pytest.raises(ValueError, match=r"x: the rows of the wide frame are not in date order \(the row "
                                         r"at position 1 is 2024-01-02, after 2024-01-04\)"):
        field_from_frame("x", wide, require_date_order=True)
    v3, d3, _ = field_from_frame("x", wide.sort("date"), require_date_order=True)
    np.testing.assert_array_equal(v3, values)
    assert d3.tolist() == dates.tolist()
    with pytest.raises(TypeError, match="require_date_order"):
        field_from_frame("x", wide, require_date_order="yes")


def test_field_from_long_frame_hand_made():
    long = pl.DataFrame(
        {
            "asset": ["B", "A", "A", "C", "B"],
            "date": ["2024-01-03", "2024-01-02", "2024-01-03", "2024-01-02", "2024-01-02"],
            "ret": [0.5, 0.1, None, -0.2, 0.3],
        }
    )
    values, dates, assets = field_from_frame("returns", long)
    assert assets.tolist() == ["A", "B", "C"]
    assert dates.tolist() == np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]").tolist()
    np.testing.assert_array_equal(values, [[0.1, 0.3, -0.2], [nan, 0.5, nan]])
    # several columns: value= chooses, others (even text) are then ignored
    more = long.with_columns(other=pl.lit(1.0), note=pl.lit("x"))
    v2, _, _ = field_from_frame("returns", more, value="ret")
    np.testing.assert_array_equal(v2, values)
    v3, _, a3 = field_from_frame("returns", long.rename({"asset": "permno"}).with_columns(pl.col("permno").replace({"A": "1", "B": "2", "C": "3"})), asset="permno")
    np.testing.assert_array_equal(v3, values)
    assert a3.tolist() == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("df", "kwargs", "exc", "match"),
    [
        # the case: a wide frame whose date column is not called "date" would be z-scored
        (pl.DataFrame({"day": ["2024-01-02"], "A": [1.0]}), {}, ValueError, r"^x: a frame passed as a field needs a date column 'date'; it has columns \['day', 'A'\]"),
        # a Date or Datetime column under another name: the message says how to rename it
        (pl.DataFrame({"dates": pl.Series(["2024-01-02"]).str.to_date(), "A": [1.0]}), {}, ValueError, r"^x: a frame passed as a field needs a date column 'date'; it has columns \['dates', 'A'\] \(rename its date column: frame.rename\(\{'dates': 'date'\}\)\)$"),
        (pl.DataFrame({"Date": pl.Series(["2024-01-02"]).str.to_datetime(), "A": [1.0]}), {}, ValueError, r"rename its date column: frame.rename\(\{'Date': 'date'\}\)\)$"),
        (pl.DataFrame({"date": ["2024-01-02"], "A": [1.0], "name": ["Acme"]}), {}, ValueError, r"^x: column 'name' has dtype String; a wide frame holds the date column 'date' and one numeric column per asset.*never turned into numbers"),
        (pl.DataFrame({"date": ["2024-01-02"], "A": [1.0], "when": pl.Series(["2024-01-02"]).str.to_date()}), {}, ValueError, r"^x: column 'when' has dtype Date"),
        (pl.DataFrame({"date": ["2024-01-02"]}), {}, ValueError, r"^x: the frame has only the date column 'date'"),
        (pl.DataFrame({"date": ["2024-01-02", "2024-01-02"], "A": [1.0, 2.0]}), {}, ValueError, r"^x: duplicate \(date, asset\) rows: 1 dates appear on more than one row.*'2024-01-02'"),
        (pl.DataFrame({"date": ["01/02/2024"], "A": [1.0]}), {}, ValueError, r"^x: column 'date': 1 values are not ISO dates.*date_format"),
        (pl.DataFrame({"date": ["2024-01-02"], "A": [1.0]}), {"value": "A"}, ValueError, r"^x: value= applies to long frames"),
        (pl.DataFrame({"date": [], "A": []}, schema={"date": pl.Date, "A": pl.Float64}), {}, ValueError, r"^x: the frame has no rows"),
        (pl.DataFrame({"date": ["2024-01-02"], "asset": ["A"], "v": [1.0], "w": [2.0]}), {}, ValueError, r"^x: a long frame \('date', 'asset', value\) needs exactly one value column, found 2: \['v', 'w'\]; name it with value="),
        (pl.DataFrame({"date": ["2024-01-02"], "asset": ["A"]}), {}, ValueError, r"^x: a long frame .* found 0"),
        (pl.DataFrame({"date": ["2024-01-02"], "asset": ["A"], "v": ["1.0"]}), {}, ValueError, r"^x: column 'v' has dtype String; a long frame holds"),
        (pl.DataFrame({"date": ["2024-01-02"], "asset": ["A"], "v": ["1.0"]}), {"value": "v"}, ValueError, r"^x: column 'v' has dtype String; the value column must be numeric"),
        (pl.DataFrame({"date": ["2024-01-02"], "asset": ["A"], "v": [1.0]}), {"value": "w"}, ValueError, r"^x: value='w' is not a value column"),
        (pl.DataFrame({"date": ["2024-01-02"] * 2, "asset": ["A"] * 2, "v": [1.0, 2.0]}), {}, ValueError, r"^x: duplicate \(date, asset\) rows: 1 pairs"),
        (pl.DataFrame({"date": ["2024-01-02"], "asset": [1.5], "v": [1.0]}), {}, ValueError, r"^x: column 'asset' has dtype Float64"),
        ({"date": ["2024-01-02"], "A": [1.0]}, {}, TypeError, r"^x must be a polars DataFrame or LazyFrame here, got dict"),
        (pl.DataFrame({"date": ["2024-01-02"], "A": [1.0]}), {"date_format": 5}, TypeError, "date_format must be a strftime format string"),
    ],
)
def test_field_from_frame_errors(df, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        field_from_frame("x", df, **kwargs)


def test_frame_from_field_hand_made():
    values = np.array([[1.0, nan], [3.0, 4.0]])
    dates = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    wide = frame_from_field(values, dates, ["B", "A"])
    assert wide.columns == ["date", "B", "A"]
    assert wide.schema == pl.Schema({"date": pl.Date, "B": pl.Float64, "A": pl.Float64})
    assert wide["date"].to_list() == [datetime.date(2024, 1, 2), datetime.date(2024, 1, 3)]
    assert wide["B"].to_list() == [1.0, 3.0] and wide["A"][1] == 4.0
    assert np.isnan(wide["A"][0]) and wide["A"].null_count() == 0  # NaN stays NaN (not null)
    long = frame_from_field(values, dates, ["B", "A"], form="long", value_name="ret")
    assert long.schema == pl.Schema({"date": pl.Date, "asset": pl.String, "ret": pl.Float64})
    assert long["asset"].to_list() == ["B", "A", "B", "A"]  # date-major, asset order kept
    assert long["date"].to_list() == [datetime.date(2024, 1, 2)] * 2 + [datetime.date(2024, 1, 3)] * 2
    np.testing.assert_array_equal(long["ret"].to_numpy(), [1.0, nan, 3.0, 4.0])
    empty = frame_from_field(np.zeros((0, 2)), np.array([], "datetime64[D]"), ["A", "B"], form="long")
    assert empty.height == 0 and empty.columns == ["date", "asset", "value"]
    assert frame_from_field(np.zeros((2, 0)), dates, []).columns == ["date"]


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        ((np.ones((2, 3)), ["2024-01-02", "2024-01-03"], ["A", "B"]), {}, ValueError, r"values has shape \(2, 3\), expected \(2, 2\)"),
        ((np.ones(2), ["2024-01-02", "2024-01-03"], ["A", "B"]), {}, ValueError, "values must be 2-dimensional"),
        ((np.ones((2, 2)), ["2024-01-03", "2024-01-02"], ["A", "B"]), {}, ValueError, "dates must be strictly increasing"),
        ((np.ones((2, 2)), ["2024-01-02", "2024-01-03"], ["A", "A"]), {}, ValueError, "assets must be unique"),
        ((np.ones((2, 2)), ["2024-01-02", "2024-01-03"], ["A", "B"]), {"form": "tall"}, ValueError, r"form must be one of \['wide', 'long'\], got 'tall'"),
        ((np.ones((1, 1)), ["2024-01-02"], ["date"]), {}, ValueError, "an asset named 'date' clashes"),
        ((np.ones((1, 1)), ["2024-01-02"], ["asset"]), {}, ValueError, "an asset named 'asset' clashes"),
        ((np.ones((1, 1)), ["2024-01-02"], ["A"]), {"form": "long", "value_name": "asset"}, ValueError, "value_name must not be"),
        ((np.ma.masked_array(np.ones((1, 1))), ["2024-01-02"], ["A"]), {}, TypeError, "values is a numpy masked array"),
        ((np.array([["a"]]), ["2024-01-02"], ["A"]), {}, TypeError, "values must be a numeric array"),
    ],
)
def test_frame_from_field_errors(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        frame_from_field(*args, **kwargs)


@pytest.mark.parametrize("form", ["wide", "long"])
def test_field_frame_round_trips_exact(form):
    rng = np.random.default_rng(9)
    T, N = 12, 5
    values = rng.standard_normal((T, N))
    values[rng.random((T, N)) < 0.3] = nan
    values[:, 1] = nan  # an asset with no data
    dates = np.datetime64("2023-12-28") + np.sort(rng.choice(30, T, replace=False))
    assets = np.array(["b", "a", "e", "c", "d"]) if form == "wide" else np.array(["a", "b", "c", "d", "e"])
    frame = frame_from_field(values, dates, assets, form=form, value_name="x")
    v, d, a = field_from_frame("x", frame)
    np.testing.assert_array_equal(v, values)  # exact, NaN where NaN
    assert d.tolist() == dates.tolist() and a.tolist() == assets.tolist()
    # frame → field → frame: the same frame
    assert frame_from_field(v, d, a, form=form, value_name="x").equals(frame)
    # a hand-made wide frame of Date + Float64 columns, sorted by date, comes back unchanged
    if form == "wide":
        hand = pl.DataFrame({"date": pl.Series(dates), **{str(k): values[:, j] for j, k in enumerate(assets)}})
        assert frame_from_field(*field_from_frame("x", hand), form="wide").equals(hand)
    else:
        t, n = np.nonzero(~np.isnan(values))
        hand = pl.DataFrame({"date": dates[t], "asset": assets[n], "x": values[t, n]}).sample(fraction=1.0, shuffle=True, seed=1)
        v2, d2, a2 = field_from_frame("x", hand)
        np.testing.assert_array_equal(v2, values[:, ~np.isnan(values).all(axis=0)])  # absent asset drops out
        assert a2.tolist() == assets[~np.isnan(values).all(axis=0)].tolist()


def test_zoned_or_timed_datetimes_are_not_days():
    # numpy would move a zoned datetime to its UTC day (20:00 in New York is the next day in UTC)
    from zoneinfo import ZoneInfo

    ny = datetime.datetime(2024, 1, 2, 20, tzinfo=ZoneInfo("America/New_York"))
    p = ff.Panel(["2024-01-02", "2024-01-03"], ["A"], {"x": [[1.0], [2.0]]})
    with pytest.raises(ValueError, match="dates holds a timezone-aware datetime"):
        ff.Panel([ny], ["A"], {"x": [[1.0]]})
    with pytest.raises(ValueError, match="timezone-aware"):
        p.select(dates=[ny])
    with pytest.raises(ValueError, match="must be whole days; got a time within a day"):
        ff.Panel([datetime.datetime(2024, 1, 2, 9)], ["A"], {"x": [[1.0]]})
    q = ff.Panel([datetime.datetime(2024, 1, 2), datetime.date(2024, 1, 3)], ["A"], {"x": [[1.0], [2.0]]})
    assert q.equals(p)
    assert p.select(dates=[ny.date()]).dates.tolist() == p.dates[:1].tolist()


def test_round_trip_through_a_long_frame_keeps_the_asset_order_when_told():
    q = ff.Panel(["2024-01-02"], ["B", "A"], {"x": [[1.0, 2.0]]})
    assert ff.Panel.from_polars(q.to_polars(), assets=q.assets).equals(q)
    back = ff.Panel.from_polars(q.to_polars())
    assert back.assets.tolist() == ["A", "B"] and back.equals(q.select(assets=["A", "B"]))


def test_labels_are_read_only_and_never_the_callers_arrays():
    # the labels were the caller's assets array and handed out writeable: editing either one
    # (``names = panel.assets; names.sort()``) relabelled every field, and every result built on
    # the panel (their labels are views of the panel's), or left duplicate assets in the panel
    import copy
    import pickle

    dates = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    assets, labels = np.array(["C", "A", "B"]), np.array(["x", "y"])
    p = ff.Panel(dates, assets, {"v": np.arange(6.0).reshape(2, 3)},
                 {"g": (np.zeros((2, 3), dtype=np.int32), labels)})
    assets[0], labels[0], dates[0] = "A", "y", dates[1]
    assert p.assets.tolist() == ["C", "A", "B"] and p.labels("g").tolist() == ["x", "y"]
    assert str(p.dates[0]) == "2024-01-02"
    for q in (p, p.select(assets=["A", "B"]), p.with_fields({"w": np.ones((2, 3))}),
              pickle.loads(pickle.dumps(p)), copy.deepcopy(p)):
        for arr in (q.dates, q.assets, q.labels("g")):
            with pytest.raises(ValueError, match="read-only"):
                arr[0] = arr[-1]
    with pytest.raises(ValueError, match="read-only"):
        p.assets.sort()
    assert p.assets.tolist() == ["C", "A", "B"]


def test_to_polars_is_a_snapshot_of_writeable_fields():
    # Polars took the (writeable, shared) field arrays without a copy: a frame made before the
    # panel's returns were cleaned in place showed the cleaned values
    p = ff.Panel(["2024-01-02", "2024-01-03"], ["A", "B"], {"r": np.array([[0.1, 0.9], [0.2, -0.7]])})
    frame = p.to_polars()
    p["r"][np.abs(p["r"]) > 0.5] = np.nan
    assert frame["r"].to_list() == [0.1, 0.9, 0.2, -0.7]
