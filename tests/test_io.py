"""io: sources, price-derived fields, point-in-time fundamentals, classifications over time."""

from __future__ import annotations

import re
import sqlite3

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ferrofactor as ff
from ferrofactor import baseline

nan = np.nan


@pytest.fixture
def long_prices():
    return pl.DataFrame(
        {
            "date": ["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-04"],
            "asset": ["00123", "B", "00123", "00123", "B"],
            "close": [10.0, 20.0, 11.0, None, 22.0],
            "volume": [100, 200, 300, 400, 500],
            "sector": ["tech", "bank", "tech", "tech", None],
        }
    )


def expected_close():
    return np.array([[10.0, 20.0], [11.0, nan], [nan, 22.0]])


def check(p):
    assert p.dates.tolist() == np.array(["2024-01-02", "2024-01-03", "2024-01-04"], dtype="datetime64[D]").tolist()
    assert p.assets.tolist() == ["00123", "B"]
    np.testing.assert_array_equal(p["close"], expected_close())
    np.testing.assert_array_equal(p["volume"], [[100, 200], [300, nan], [400, 500]])


# --- sources ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ext", "writer"), [("parquet", "write_parquet"), ("csv", "write_csv"), ("arrow", "write_ipc")])
def test_read_files(tmp_path, long_prices, ext, writer):
    path = tmp_path / f"prices.{ext}"
    getattr(long_prices, writer)(path)
    p = ff.read_panel(path, fields=["close", "volume"], codes=["sector"])
    check(p)  # the CSV keeps "00123" a string
    np.testing.assert_array_equal(p["sector"], [[1, 0], [1, -1], [1, -1]])
    assert p.labels("sector").tolist() == ["bank", "tech"]


def test_read_glob_of_files(tmp_path, long_prices):
    long_prices.head(2).write_parquet(tmp_path / "part-0.parquet")
    long_prices.tail(3).write_parquet(tmp_path / "part-1.parquet")
    check(ff.read_panel(str(tmp_path / "part-*.parquet"), fields=["close", "volume"]))


def test_read_frames(long_prices):
    check(ff.read_panel(long_prices, fields=["close", "volume"]))
    check(ff.read_panel(long_prices.lazy(), fields=["close", "volume"]))


def test_read_sqlite_connection_and_uri(tmp_path, long_prices):
    db = tmp_path / "market.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE px (d TEXT, ticker TEXT, close REAL, volume INTEGER)")
    con.executemany("INSERT INTO px VALUES (?, ?, ?, ?)", long_prices.select("date", "asset", "close", "volume").rows())
    con.commit()
    q = "SELECT d, ticker, close, volume FROM px ORDER BY ticker"
    check(ff.read_panel(q, date="d", asset="ticker", connection=con))
    con.close()
    check(ff.read_panel(q, date="d", asset="ticker", connection=f"sqlite:///{db}"))
    with pytest.raises(ValueError, match="empty input"):
        ff.read_panel("SELECT * FROM px WHERE close > 1e9", connection=f"sqlite:///{db}")



@pytest.mark.parametrize("folder", ["data #1", "what?", "100% off"])
def test_a_sqlite_uri_reads_a_database_whose_path_has_uri_characters(tmp_path, long_prices, folder):
    """The path went into SQLite's ``file:`` URI as it is: a '#' or '?' ended it there, so
    SQLite opened (and created, without mode=ro) another file, e.g. 'data ', and the query
    failed with "no such table"."""
    (tmp_path / folder).mkdir()
    db = tmp_path / folder / "market.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE px (d TEXT, ticker TEXT, close REAL, volume INTEGER)")
    con.executemany("INSERT INTO px VALUES (?, ?, ?, ?)", long_prices.select("date", "asset", "close", "volume").rows())
    con.commit()
    con.close()
    before = sorted(p.name for p in tmp_path.iterdir())
    q = "SELECT d, ticker, close, volume FROM px ORDER BY ticker"
    check(ff.read_panel(q, date="d", asset="ticker", connection=f"sqlite:///{db}"))
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no stray database file
    # still read-only
    from ferrofactor.io import _sqlite_readonly

    con = _sqlite_readonly(str(db))
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        con.execute("CREATE TABLE t (x)")
    con.close()


def test_other_uris_go_to_polars_uri_reader(monkeypatch, long_prices):
    # Non-SQLite URIs are read by polars.read_database_uri (connectorx); no server here, so the
    # reader is replaced by one that records its arguments and returns the long frame.
    seen = []

    def fake(query, uri, **kwargs):
        seen.append((query, uri))
        return long_prices.rename({"date": "d"})

    monkeypatch.setattr(pl, "read_database_uri", fake)
    uri = "postgresql://user:pw@db.example:5432/market"
    check(ff.read_panel("SELECT * FROM px", date="d", connection=uri, fields=["close", "volume"]))
    assert seen == [("SELECT * FROM px", uri)]

    def missing(query, uri, **kwargs):
        raise ModuleNotFoundError("required package 'connectorx' not found.")

    monkeypatch.setattr(pl, "read_database_uri", missing)
    with pytest.raises(ModuleNotFoundError, match="'postgresql' URI uses polars.read_database_uri.*connectorx"):
        ff.read_panel("SELECT 1", connection=uri)


def test_sqlite_timestamps(tmp_path):
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE px (date TIMESTAMP, asset TEXT, close REAL)")
    con.execute("INSERT INTO px VALUES ('2024-01-02 00:00:00', 'A', 1.5)")
    p = ff.read_panel("SELECT * FROM px", connection=con)
    assert p.dates.tolist() == [np.datetime64("2024-01-02")]
    np.testing.assert_array_equal(p["close"], [[1.5]])


@pytest.mark.parametrize(
    ("source", "kwargs", "exc", "match"),
    [
        ("SELECT 1", {"connection": "market.db"}, ValueError, "'market.db' is not a database URI"),
        ("SELECT 1", {"connection": "sqlite:///"}, ValueError, "names no database file"),
        ("SELECT 1", {"connection": "sqlite:////nonexistent/x.db"}, FileNotFoundError, "does not exist"),
        (42, {"connection": "sqlite:///x.db"}, TypeError, "SQL query string"),
        ("prices.xlsx", {}, ValueError, "cannot tell the file format"),
        ("/nonexistent/prices.parquet", {}, FileNotFoundError, "no file matches"),
        ("x.parquet", {"format": "excel"}, ValueError, "format must be one of"),
        (3.5, {}, TypeError, "source must be a path or glob"),
    ],
)
def test_source_errors(source, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        ff.read_panel(source, **kwargs)


def test_read_panel_validation_messages(tmp_path):
    df = pl.DataFrame({"date": ["2024-01-02", "2024-01-02"], "asset": ["A", "A"], "close": [1.0, 2.0]})
    df.write_parquet(tmp_path / "dup.parquet")
    with pytest.raises(ValueError, match=r"duplicate \(date, asset\) rows: 1 pairs"):
        ff.read_panel(tmp_path / "dup.parquet")
    with pytest.raises(ValueError, match=r"missing columns \['ticker'\]"):
        ff.read_panel(tmp_path / "dup.parquet", asset="ticker")


# --- price-derived fields ---------------------------------------------------------------------------


def test_returns_from_prices_hand_worked():
    close = np.array([[10.0, 5.0], [11.0, nan], [12.1, 6.0], [nan, 6.6], [13.31, 3.3]])
    r = ff.returns_from_prices(close)
    expected = np.array([[nan, nan], [0.1, nan], [0.1, nan], [nan, 0.1], [nan, -0.5]])
    np.testing.assert_allclose(r, expected, rtol=1e-12)
    np.testing.assert_array_equal(np.isnan(r), np.isnan(expected))  # no return bridges a gap
    rng = np.random.default_rng(0)
    c = rng.lognormal(3, 0.3, size=(50, 30))
    c[rng.random(c.shape) < 0.2] = nan
    np.testing.assert_array_equal(ff.returns_from_prices(c), baseline.returns_from_prices(c))
    assert ff.returns_from_prices(np.ones((1, 3))).shape == (1, 3)


def test_returns_from_prices_bridged_hand_worked():
    # the move over a gap is dated on the first price after it; NaN on the first price
    close = np.array([[10.0, nan], [11.0, 5.0], [nan, 6.0], [nan, nan], [13.2, 3.0], [nan, 3.3]])
    r = ff.returns_from_prices(close, bridge=True)
    expected = np.array([[nan, nan], [0.1, nan], [nan, 0.2], [nan, nan], [0.2, -0.5], [nan, 0.1]])
    np.testing.assert_allclose(r, expected, rtol=1e-12)
    np.testing.assert_array_equal(np.isnan(r), np.isnan(expected))
    # without gaps it is the plain return, bit for bit
    c = np.random.default_rng(1).lognormal(3, 0.3, size=(40, 7))
    np.testing.assert_array_equal(ff.returns_from_prices(c, bridge=True), ff.returns_from_prices(c))
    with pytest.raises(TypeError, match="bridge"):
        ff.returns_from_prices(c, bridge="yes")


@pytest.mark.parametrize(
    ("close", "match"),
    [
        (np.array([[1.0, 0.0]]), "close must be positive where present"),
        (np.array([[1.0, -2.0]]), "close must be positive where present"),
        (np.array([[1.0, np.inf]]), "close must not contain infinite values"),
        (np.ones(3), "close must be 2-dimensional"),
    ],
)
def test_returns_from_prices_errors(close, match):
    with pytest.raises(ValueError, match=match):
        ff.returns_from_prices(close)


def test_market_cap_and_dollar_volume():
    close = np.array([[10.0, nan], [12.0, 3.0]])
    shares = np.array([[5.0, 7.0], [nan, 2.0]])
    np.testing.assert_array_equal(ff.market_cap(close, shares), [[50.0, nan], [nan, 6.0]])
    np.testing.assert_array_equal(ff.dollar_volume(close, shares), [[50.0, nan], [nan, 6.0]])
    with pytest.raises(ValueError, match=r"shares has shape \(1, 2\), expected \(2, 2\)"):
        ff.market_cap(close, shares[:1])
    with pytest.raises(ValueError, match="volume must be non-negative"):
        ff.dollar_volume(close, -shares)
    with pytest.raises(TypeError, match="volume must be a numeric array"):
        ff.dollar_volume(close, [["a", "b"], ["c", "d"]])


# --- point-in-time fundamentals ---------------------------------------------------------------------


def business_days(start, n):
    return np.busday_offset(np.datetime64(start), np.arange(n), roll="forward")


def test_fundamental_not_visible_before_report_even_if_quarter_ended():
    """The seed pipeline's bug: filtering on the fiscal quarter end leaks reports from the future.

    Q4 2023 ended on 2023-12-31 but was reported on 2024-02-15. On 2024-01-31 (after the quarter
    end, before the report) the value must not be visible; the previous report's value is.
    """
    dates = np.array(["2024-01-31", "2024-02-15", "2024-02-16", "2024-02-19", "2024-05-01"], dtype="datetime64[D]")
    rec = pl.DataFrame(
        {
            "asset": ["ACME", "ACME"],
            "fiscal_period_end": ["2023-09-30", "2023-12-31"],
            "report_date": ["2023-11-10", "2024-02-15"],
            "book_value": [100.0, 200.0],
        }
    ).with_columns(pl.col("fiscal_period_end", "report_date").str.to_date())
    p = ff.read_fundamentals(rec, dates, ["ACME"], report_lag_days=1)
    # available 2024-02-16 (report + 1 day): unseen on the report date itself
    np.testing.assert_array_equal(p["book_value"][:, 0], [100.0, 100.0, 200.0, 200.0, 200.0])
    # the leaky rule "period end <= t" would show 200 on 2024-01-31:
    leaky = rec.filter(pl.col("fiscal_period_end") <= np.datetime64("2024-01-31")).sort("fiscal_period_end")
    assert leaky["book_value"][-1] == 200.0
    # lag 0: visible on the report date; lag 3 (calendar days): from 2024-02-19
    np.testing.assert_array_equal(ff.read_fundamentals(rec, dates, ["ACME"], report_lag_days=0)["book_value"][:, 0], [100, 200, 200, 200, 200])
    np.testing.assert_array_equal(ff.read_fundamentals(rec, dates, ["ACME"], report_lag_days=3)["book_value"][:, 0], [100, 100, 100, 200, 200])


def test_fundamentals_staleness_and_alignment():
    dates = business_days("2024-01-01", 60)
    rec = pl.DataFrame(
        {
            "asset": ["A", "A", "A", "B", "ZZZ"],
            "report_date": pl.Series(["2023-12-20", "2024-01-10", "2024-01-10", "2024-01-05", "2024-01-02"]).str.to_date(),
            "eps": [1.0, 2.0, 99.0, 5.0, 7.0],
        }
    )
    with pytest.raises(ValueError, match=r"duplicate \(asset, report_date\) rows: 1 pairs .* \[\('A', '2024-01-10'\)\]"):
        ff.read_fundamentals(rec, dates, ["A", "B"])
    rec = rec.filter(pl.col("eps") != 99.0)
    p = ff.read_fundamentals(rec, dates, ["B", "A", "C"], max_staleness=20)
    d = dates
    eps_b, eps_a, eps_c = p["eps"][:, 0], p["eps"][:, 1], p["eps"][:, 2]
    # A: 1.0 available 2023-12-21 (before the panel), stale after 2024-01-10; 2.0 from 2024-01-11
    np.testing.assert_array_equal(eps_a[d <= np.datetime64("2024-01-10")], 1.0)
    np.testing.assert_array_equal(eps_a[(d >= np.datetime64("2024-01-11")) & (d <= np.datetime64("2024-01-31"))], 2.0)
    assert np.isnan(eps_a[d > np.datetime64("2024-01-31")]).all()
    np.testing.assert_array_equal(np.isnan(eps_b), (d < np.datetime64("2024-01-06")) | (d > np.datetime64("2024-01-26")))
    assert np.isnan(eps_c).all()  # no records; ZZZ is not on the panel
    assert np.isnan(ff.read_fundamentals(rec, dates, ["A"], max_staleness=None)["eps"][-1:, 0]).sum() == 0


def test_fundamentals_latest_of_several_between_dates_and_null_fields():
    dates = np.array(["2024-01-01", "2024-01-08"], dtype="datetime64[D]")
    rec = pl.DataFrame(
        {
            "asset": ["A", "A", "A"],
            "report_date": pl.Series(["2024-01-02", "2024-01-04", "2024-01-03"]).str.to_date(),
            "x": [1.0, 3.0, 2.0],
            "y": [1.0, None, 2.0],
        }
    )
    p = ff.read_fundamentals(rec, dates, ["A"])
    np.testing.assert_array_equal(p["x"], [[nan], [3.0]])  # the latest available wins
    np.testing.assert_array_equal(p["y"], [[nan], [nan]])  # ... with its own (null) value


def test_fundamentals_from_sqlite_and_errors(tmp_path):
    db = tmp_path / "f.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE f (gvkey TEXT, rdq TEXT, datadate TEXT, ceq REAL)")
    con.executemany("INSERT INTO f VALUES (?, ?, ?, ?)", [("A", "2024-01-03", "2023-12-31", 5.0)])
    con.commit()
    dates = business_days("2024-01-01", 5)
    p = ff.read_fundamentals(
        "SELECT gvkey, rdq, ceq FROM f", dates, ["A"], asset="gvkey", report_date="rdq", connection=f"sqlite:///{db}"
    )
    np.testing.assert_array_equal(p["ceq"][:, 0], [nan, nan, nan, 5.0, 5.0])
    rec = pl.DataFrame({"asset": ["A"], "report_date": ["2024-01-03"], "v": ["x"]})
    with pytest.raises(ValueError, match="field 'v' is not numeric"):
        ff.read_fundamentals(rec, dates, ["A"], fields=["v"])
    with pytest.raises(ValueError, match=r"missing columns \['rdq'\]"):
        ff.read_fundamentals(rec, dates, ["A"], report_date="rdq")
    with pytest.raises(ValueError, match="report_lag_days must be >= 0"):
        ff.read_fundamentals(rec, dates, ["A"], report_lag_days=-1)
    with pytest.raises(TypeError, match="max_staleness must be an integer"):
        ff.read_fundamentals(rec, dates, ["A"], max_staleness=1.5)
    with pytest.raises(ValueError, match="dates must be strictly increasing"):
        ff.read_fundamentals(rec, dates[::-1], ["A"])
    empty = ff.read_fundamentals(rec.clear().select("asset", "report_date"), dates, ["A"], fields=[])
    assert empty.shape == (5, 1) and empty.fields == ()


@settings(max_examples=40, deadline=None)
@given(
    records=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "x"]), st.integers(0, 60), st.one_of(st.none(), st.floats(-100, 100))),
        max_size=25,
        unique_by=lambda r: (r[0], r[1]),
    ),
    report_lag_days=st.integers(0, 5),
    staleness=st.one_of(st.none(), st.integers(0, 30)),
    day_mask=st.lists(st.booleans(), min_size=60, max_size=60),
)
def test_fundamentals_match_brute_force(records, report_lag_days, staleness, day_mask):
    start = np.datetime64("2024-03-01")
    dates = start + np.flatnonzero(np.array(day_mask) | (np.arange(60) == 7))  # irregular panel days
    assets = ["c", "a", "b"]
    rec = pl.DataFrame(
        {
            "asset": pl.Series([r[0] for r in records], dtype=pl.String),
            "report_date": pl.Series(start - 10 + np.array([r[1] for r in records], dtype=np.int64)),
            "v": pl.Series([r[2] for r in records], dtype=pl.Float64),
        }
    )
    p = ff.read_fundamentals(rec, dates, assets, report_lag_days=report_lag_days, max_staleness=staleness)
    oracle = baseline.point_in_time(
        rec["asset"].to_list(), rec["report_date"].to_numpy(), rec["v"].to_list(), dates, assets, report_lag_days, staleness
    )
    np.testing.assert_array_equal(p["v"], oracle)



def test_an_infinite_fundamental_value_is_refused_naming_the_record():
    """An infinite value (a ratio divided by zero upstream) was read into the panel and then
    dropped by every descriptor as if missing, without a word; prices refuse it already."""
    dates = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]")
    rec = pl.DataFrame({"asset": ["A", "B"], "report_date": ["2024-01-01", "2023-12-20"],
                        "book_value": [1.0, -np.inf], "eps": [0.5, 0.2]})
    with pytest.raises(ValueError, match=r"^field 'book_value' has 1 infinite values, e\.g\. -inf for asset 'B' "
                                         r"reported 2023-12-20: a value is a finite number, or missing"):
        ff.read_fundamentals(rec, dates, ["A", "B"])
    px = pl.DataFrame({"date": ["2024-01-02", "2024-01-03"] * 2, "asset": ["A", "A", "B", "B"],
                       "close": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(ValueError, match=r"^fundamentals: field 'book_value' has 1 infinite values"):
        ff.read_universe(px, rec)
    # a field left out is not read; NaN stays missing
    assert ff.read_fundamentals(rec, dates, ["A", "B"], fields=["eps"]).fields == ("eps",)
    p = ff.read_fundamentals(rec.with_columns(pl.Series("book_value", [1.0, np.nan])), dates, ["A", "B"])
    assert np.isnan(p["book_value"][0, 1])

# --- classifications --------------------------------------------------------------------------------


def test_classifications_over_time():
    dates = business_days("2024-01-01", 6)  # Mon 1 .. Mon 8
    rows = pl.DataFrame(
        {
            "asset": ["A", "A", "B", "B", "C"],
            "date": ["2023-06-01", "2024-01-03", "2024-01-02", "2024-01-05", "2024-01-01"],
            "gics": ["Energy", "Utilities", "Energy", None, "Materials"],
        }
    )
    cp = ff.read_classifications(rows, dates, ["A", "B", "D"], code="gics")
    assert isinstance(cp, ff.Panel) and cp.code_fields == ("gics",) and cp.float_fields == ()
    assert cp.dates.tolist() == dates.tolist() and cp.assets.tolist() == ["A", "B", "D"]
    codes, labels = cp["gics"], cp.labels("gics")
    assert labels.tolist() == ["Energy", "Materials", "Utilities"]
    assert codes.dtype == np.int32
    np.testing.assert_array_equal(
        codes,
        [[0, -1, -1], [0, 0, -1], [2, 0, -1], [2, 0, -1], [2, -1, -1], [2, -1, -1]],
    )
    fixed = ["Utilities", "Energy", "Materials", "Telecoms"]
    cp2 = ff.read_classifications(rows, dates, ["A", "B"], code="gics", labels=fixed)
    codes2, labels2 = cp2["gics"], cp2.labels("gics")
    assert labels2.tolist() == fixed
    np.testing.assert_array_equal(codes2[:, 0], [1, 1, 0, 0, 0, 0])
    codes3 = ff.read_classifications(rows, dates, ["A"], code="gics", report_lag_days=1)["gics"]
    np.testing.assert_array_equal(codes3[:, 0], [0, 0, 0, 2, 2, 2])
    empty = ff.read_classifications(rows.clear(), dates, ["A"], code="gics", labels=["x"])
    np.testing.assert_array_equal(empty["gics"], np.full((6, 1), -1))
    assert empty.labels("gics").tolist() == ["x"]


def test_csv_codes_are_read_as_text(tmp_path):
    """SIC-style codes with leading zeros: in a CSV the code column is text, as asset ids are, so
    0100, 0700 and 100 are three industries with their labels as written (inferred as integers,
    0100 and 100 merged into one labelled '100'); the same for a code field of read_panel."""
    path = tmp_path / "sic.csv"
    path.write_text("asset,date,sic\nA,2024-01-01,0100\nB,2024-01-01,0700\nC,2024-01-01,100\n")
    days = np.array(["2024-01-02"], "datetime64[D]")
    p = ff.read_classifications(path, days, ["A", "B", "C"], code="sic")
    assert p.labels("sic").tolist() == ["0100", "0700", "100"]
    assert p["sic"].tolist() == [[0, 1, 2]]
    px = tmp_path / "px.csv"
    px.write_text("date,asset,close,sic\n2024-01-02,A,1.0,0100\n2024-01-02,C,2.0,100\n")
    q = ff.read_panel(px, fields=["close"], codes=["sic"])
    assert q.labels("sic").tolist() == ["0100", "100"] and q["sic"].tolist() == [[0, 1]]


def test_a_numeric_fundamental_read_as_text_is_not_dropped_without_a_word(tmp_path):
    """A fundamentals CSV with R's NA in the first rows of eps: Polars reads eps as text, and the
    default fields (the numeric columns) left it out silently. It is still left out (text is never
    turned into numbers) but with a warning naming it and the null_values= that reads it; a text
    column that is mostly not numbers (a name) is left out silently, as documented. A file with
    no numeric field at all is refused (it failed inside the kernel: 'record index outside')."""
    path = tmp_path / "f.csv"
    path.write_text("asset,report_date,eps,bv,name\nA,2024-01-01,NA,3.0,Acme\nA,2024-02-01,1.5,3.1,Acme\n"
                    "B,2024-01-01,2.0,4.0,Bee\n")
    days = np.array(["2024-01-02", "2024-02-02"], "datetime64[D]")
    with pytest.warns(UserWarning) as rec:
        p = ff.read_fundamentals(path, days, ["A", "B"])
    assert [str(w.message) for w in rec] == [
        f"{str(path)!r} as csv: column 'eps' is text although 2 of its 3 values are numbers (it holds 'NA'): "
        "left out of the fields; pass null_values=['NA'] (data.null_values in a config)"]
    assert p.fields == ("bv",)
    p = ff.read_fundamentals(path, days, ["A", "B"], null_values="NA")
    np.testing.assert_array_equal(p["eps"], [[np.nan, 2.0], [1.5, 2.0]])
    # numbers stored as text (a Parquet String column): nothing to show as a marker; the warning
    # said "(it holds None)"
    pl.DataFrame({"asset": ["A", "B"], "report_date": ["2024-01-01"] * 2, "bv": ["3.0", "4.0"],
                  "eps": [1.0, 2.0]}).write_parquet(tmp_path / "t.parquet")
    with pytest.warns(UserWarning) as rec:
        p = ff.read_fundamentals(tmp_path / "t.parquet", days, ["A", "B"])
    assert [str(w.message) for w in rec] == [
        f"{str(tmp_path / 't.parquet')!r} as parquet: column 'bv' is text although 2 of its 2 values are numbers: "
        "left out of the fields; pass fields= with the columns to read, after making it numeric"]
    assert p.fields == ("eps",)
    (tmp_path / "g.csv").write_text("asset,report_date,name\nA,2024-01-01,Acme\n")
    with pytest.raises(ValueError, match=r"g\.csv' as csv has no numeric field to read besides 'asset' and "
                                         r"'report_date'; pass fields="):
        ff.read_fundamentals(tmp_path / "g.csv", days, ["A", "B"])


def test_classification_errors():
    dates = business_days("2024-01-01", 3)
    rows = pl.DataFrame({"asset": ["A", "A"], "date": ["2024-01-01", "2024-01-01"], "industry": ["x", "y"]})
    with pytest.raises(ValueError, match=r"duplicate \(asset, date\) rows"):
        ff.read_classifications(rows, dates, ["A"])
    with pytest.raises(ValueError, match=r"1 values not in labels, e\.g\. \['z'\]"):
        ff.read_classifications(rows.head(1).with_columns(industry=pl.lit("z")), dates, ["A"], labels=["x"])
    with pytest.raises(ValueError, match=r"missing columns \['sector'\]"):
        ff.read_classifications(rows, dates, ["A"], code="sector")


# --- dates are never guessed (issue 10, family 2) ---------------------------------------------------


def test_us_dates_refused_without_date_format_and_read_with_it():
    # The issue's example: Polars' format guess read "01/02/2024" as February 1st.
    df = pl.DataFrame({"date": ["01/02/2024", "01/03/2024"], "asset": ["A", "A"], "close": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"column 'date': 2 values are not ISO dates.*'01/02/2024'.*day/month order is ambiguous.*date_format='%m/%d/%Y'"):
        ff.read_panel(df)
    p = ff.read_panel(df, date_format="%m/%d/%Y")
    assert p.dates.tolist() == np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]").tolist()  # January 2nd
    q = ff.read_panel(df, date_format="%d/%m/%Y")  # the other reading, only when asked for
    assert q.dates.tolist() == np.array(["2024-02-01", "2024-03-01"], dtype="datetime64[D]").tolist()


def test_us_report_date_never_visible_before_publication():
    # A report published on Friday 1 March 2024, written the US way. Read as day/month it would be
    # 3 January: visible two months early (look-ahead). With the format it is first visible on
    # Monday 4 March (available on Saturday 2 March with the 1-day lag, the next panel date).
    dates = np.busday_offset(np.datetime64("2024-01-02"), np.arange(63), roll="forward")
    rec = pl.DataFrame({"asset": ["A"], "report_date": ["03/01/2024"], "eps": [2.5]})
    with pytest.raises(ValueError, match="day/month order is ambiguous"):
        ff.read_fundamentals(rec, dates, ["A"])
    eps = ff.read_fundamentals(rec, dates, ["A"], date_format="%m/%d/%Y")["eps"][:, 0]
    first_visible = dates[np.flatnonzero(~np.isnan(eps))[0]]
    assert first_visible == np.datetime64("2024-03-04")
    assert np.isnan(eps[dates < np.datetime64("2024-03-04")]).all()
    np.testing.assert_array_equal(eps[dates >= np.datetime64("2024-03-04")], 2.5)
    # the same through read_universe (one date_format for every source)
    prices = pl.DataFrame({"date": pl.Series(dates).dt.strftime("%m/%d/%Y"), "asset": "A", "close": 1.0})
    u = ff.read_universe(prices, rec, date_format="%m/%d/%Y")
    np.testing.assert_array_equal(u["eps"][:, 0], eps)


def test_integer_dates_need_date_format(tmp_path):
    df = pl.DataFrame({"date": [20240102, 20240103], "asset": ["A", "B"], "close": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"column 'date' holds integers \(dtype Int64, e\.g\. \[20240102, 20240103\]\), not dates.*date_format='%Y%m%d'"):
        ff.read_panel(df)
    want = np.array(["2024-01-02", "2024-01-03"], dtype="datetime64[D]").tolist()
    assert ff.read_panel(df, date_format="%Y%m%d").dates.tolist() == want
    df.write_parquet(tmp_path / "p.parquet")
    df.write_csv(tmp_path / "p.csv")
    assert ff.read_panel(tmp_path / "p.parquet", date_format="%Y%m%d").dates.tolist() == want
    assert ff.read_panel(tmp_path / "p.csv", date_format="%Y%m%d").dates.tolist() == want
    # a CSV keeps its text: day-first integers with a leading zero are not mangled into numbers
    pl.DataFrame({"date": ["02012024"], "asset": ["A"], "close": [1.0]}).write_csv(tmp_path / "q.csv")
    assert ff.read_panel(tmp_path / "q.csv", date_format="%d%m%Y").dates.tolist() == [np.datetime64("2024-01-02")]
    rec = pl.DataFrame({"asset": ["A"], "report_date": [20240102], "v": [1.0]})
    assert ff.read_fundamentals(rec, want, ["A"], report_lag_days=0, date_format="%Y%m%d")["v"].tolist() == [[1.0], [1.0]]
    with pytest.raises(ValueError, match="holds integers"):
        ff.read_fundamentals(rec, want, ["A"])


def test_date_format_is_strict():
    df = pl.DataFrame({"date": ["01/02/2024", "2024-01-03", "13/01/2024"], "asset": ["A", "A", "A"], "close": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=r"column 'date': 2 values do not match date_format '%m/%d/%Y', e\.g\. \['2024-01-03', '13/01/2024'\]"):
        ff.read_panel(df, date_format="%m/%d/%Y")
    rows = pl.DataFrame({"asset": ["A"], "date": ["2024-01-02x"], "industry": ["x"]})
    with pytest.raises(ValueError, match="do not match date_format '%Y-%m-%d'"):
        ff.read_classifications(rows, ["2024-01-02"], ["A"], date_format="%Y-%m-%d")
    with pytest.raises(TypeError, match="date_format must be a strftime format string"):
        ff.read_panel(df, date_format=123)
    with pytest.raises(ValueError, match="date_format 'MM/DD/YYYY' has no % directives"):
        ff.read_panel(df, date_format="MM/DD/YYYY")
    with pytest.raises(ValueError, match="date_format 'MM/DD/YYYY' has no % directives"):
        ff.read_fundamentals(df.rename({"date": "report_date"}), ["2024-01-02"], ["A"], date_format="MM/DD/YYYY")


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (["2024-1-2"], "not ISO dates"),  # not zero-padded: not ISO
        (["2024/01/02"], "not ISO dates"),
        (["02.01.2024"], "not ISO dates"),
        (["2024-01-02 25:00:00"], r"could not be parsed as dates, e\.g\. \['2024-01-02 25:00:00'\]"),
        (["2024-13-01"], "could not be parsed as dates"),
        (["2024-01-02+01:00"], "not ISO dates"),
    ],
)
def test_iso_only_without_date_format(values, match):
    df = pl.DataFrame({"date": values, "asset": ["A"] * len(values), "close": [1.0] * len(values)})
    with pytest.raises(ValueError, match=match):
        ff.read_panel(df)


@pytest.mark.parametrize(("value", "fmt"), [("2024-01-02T00:00:00Z", "%Y-%m-%dT%H:%M:%SZ"),
                                            ("2024-01-02 00:00:00+00:00", "%Y-%m-%d %H:%M:%S%:z"),
                                            ("2024-01-02T00:00:00.000+0000", "%Y-%m-%dT%H:%M:%S%.f%z")])
def test_iso_timestamps_with_a_zone_name_the_format_that_reads_them(value, fmt):
    """pandas writes zoned timestamps to CSV as '2024-01-02 00:00:00+00:00': the refusal said
    they were not ISO and suggested date_format='%m/%d/%Y' or '%d/%m/%Y' (day/month order),
    which cannot read them. It now names the format that does (and that format reads them)."""
    df = pl.DataFrame({"date": [value], "asset": ["A"], "close": [1.0]})
    with pytest.raises(ValueError, match=rf"^column 'date': 1 values are ISO timestamps with a time zone, e\.g\. "
                                         rf"\['{re.escape(value)}'\]: .*pass date_format='{re.escape(fmt)}'$"):
        ff.read_panel(df)
    assert ff.read_panel(df, date_format=fmt).dates.tolist() == [np.datetime64("2024-01-02")]

def test_iso_timestamps_at_midnight_are_their_day_any_other_time_is_refused():
    # '2024-01-03 00:00:00' is a date; '2024-01-04T16:30:00' is a time within a day, which is
    # never cut to its day (a value stamped after the close is not known at that day's close)
    df = pl.DataFrame(
        {
            "date": ["2024-01-02", "2024-01-03 00:00:00", "2024-01-04T00:00:00", "2024-01-05 00:00:00.000000"],
            "asset": ["A"] * 4,
            "close": [1.0, 2.0, 3.0, 4.0],
        }
    )
    p = ff.read_panel(df)
    assert p.dates.tolist() == (np.datetime64("2024-01-02") + np.arange(4)).tolist()
    timed = df.with_columns(pl.Series("date", ["2024-01-02", "2024-01-03 00:00:00", "2024-01-04T16:30:00",
                                               "2024-01-05 23:59:59.123456"]))
    with pytest.raises(ValueError, match=r"column 'date' must be whole days; got a time within a day "
                                         r"\('2024-01-04T16:30:00'\) \(2 values in all\).*convert first"):
        ff.read_panel(timed)
    # a Datetime column alike, at midnight or not; with a time zone, midnight in that zone
    import datetime as dt

    stamps = [dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 3)]
    frame = pl.DataFrame({"date": stamps, "asset": ["A", "A"], "close": [1.0, 2.0]})
    assert ff.read_panel(frame).dates.tolist() == [np.datetime64("2024-01-02"), np.datetime64("2024-01-03")]
    zoned = frame.with_columns(pl.col("date").dt.replace_time_zone("America/New_York"))
    assert ff.read_panel(zoned).dates.tolist() == [np.datetime64("2024-01-02"), np.datetime64("2024-01-03")]
    closes = frame.with_columns(pl.col("date") + pl.duration(hours=16))
    with pytest.raises(ValueError, match=r"column 'date' must be whole days.*2024-01-02 16:00:00.*dt\.date\(\)"):
        ff.read_panel(closes)
    # a zoned close in New York is 21:00 UTC; the zone is named and its wall time is the one read
    in_utc = closes.with_columns(pl.col("date").dt.replace_time_zone("America/New_York").dt.convert_time_zone("UTC"))
    with pytest.raises(ValueError, match=r"in time zone 'UTC'.*2024-01-02 21:00:00"):
        ff.read_panel(in_utc)
    # the conversion the message suggests gives the day
    np.testing.assert_array_equal(ff.read_panel(closes.with_columns(pl.col("date").dt.date())).dates, p.dates[:2])


@settings(max_examples=60, deadline=None)
@given(
    days=st.lists(st.integers(-60_000, 120_000), min_size=1, max_size=30, unique=True),
    fmt=st.sampled_from(["%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y", "%Y%m%d", "%Y-%m-%d", "%b %d, %Y", "%d-%b-%Y"]),
)
def test_date_format_matches_python_strftime(days, fmt):
    # Oracle: the standard library writes each date with the format; read_panel must read back
    # exactly those dates (any day/month order, as long as it is stated).
    import datetime as _dt

    days = [d for d in days if -62_091 <= d <= 120_529]  # 1800-01-01 .. 2300-12-31
    if not days or max(days) - min(days) > 73_049:
        days = [days[0] if days else 0]
    epoch = _dt.date(1970, 1, 1)
    text = [(epoch + _dt.timedelta(days=d)).strftime(fmt) for d in days]
    df = pl.DataFrame({"date": text, "asset": [f"a{i}" for i in range(len(days))], "x": np.arange(len(days), dtype=float)})
    p = ff.read_panel(df, date_format=fmt)
    assert p.dates.astype(np.int64).tolist() == sorted(days)
    order = np.argsort(days)
    np.testing.assert_array_equal(np.nansum(p["x"], axis=1), np.arange(len(days), dtype=float)[order])


# --- errors of Polars and SQLite are ValueErrors (issue 10, family 7) ------------------------------


def _cause_is(info, cls):
    assert isinstance(info.value.__cause__, cls), type(info.value.__cause__)


def test_empty_csv(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ValueError, match=r"could not read '.*empty\.csv' as csv: NoDataError: empty CSV") as info:
        ff.read_panel(path)
    _cause_is(info, pl.exceptions.NoDataError)
    with pytest.raises(ValueError, match=r"empty\.csv.*empty CSV"):
        ff.read_fundamentals(path, ["2024-01-02"], ["A"])
    with pytest.raises(ValueError, match=r"^classifications: could not read .*empty\.csv"):
        ff.read_universe(pl.DataFrame({"date": ["2024-01-02"], "asset": ["A"], "close": [1.0]}), None, path)


def test_a_header_only_csv_is_empty_input_not_text_columns(tmp_path):
    """A CSV with a header and no row types every column as text: it was refused for having
    "neither numeric fields nor codes" (read_panel), a price column "neither numeric nor
    categorical" (read_universe, the CLI's load) or "no numeric field" (read_fundamentals), which
    sends the user hunting for text in a file that has no values; it has no rows."""
    path = tmp_path / "header.csv"
    path.write_text("date,asset,close,shares,volume\n")
    with pytest.raises(ValueError, match=r"^empty input: '.*header\.csv' as csv has no rows$"):
        ff.read_panel(path)
    with pytest.raises(ValueError, match=r"^empty input: '.*header\.csv' as csv has no rows$"):
        ff.read_panel(path, fields=["close"])
    with pytest.raises(ValueError, match=r"^prices: empty input: '.*header\.csv' as csv has no rows$"):
        ff.read_universe(path)
    fund = tmp_path / "fund.csv"
    fund.write_text("asset,report_date,book_value\n")
    with pytest.raises(ValueError, match=r"^empty input: '.*fund\.csv' as csv has no rows .*pass fields="):
        ff.read_fundamentals(fund, ["2024-01-02"], ["A"])
    # with the fields named, no report at all: every value missing, as an empty Parquet file reads
    f = ff.read_fundamentals(fund, ["2024-01-02", "2024-01-03"], ["A", "B"], fields=["book_value"])
    assert f["book_value"].shape == (2, 2) and np.isnan(f["book_value"]).all()
    # a text value in a file that has rows is still refused as text
    fund.write_text("asset,report_date,book_value\nA,2024-01-02,NA\n")
    with pytest.raises(ValueError, match="field 'book_value' is not numeric"):
        ff.read_fundamentals(fund, ["2024-01-02"], ["A"], fields=["book_value"])


def test_csv_read_as_parquet(tmp_path, long_prices):
    path = tmp_path / "prices.csv"
    long_prices.write_csv(path)
    with pytest.raises(ValueError, match=r"could not read '.*prices\.csv' as parquet: ComputeError: .*parquet") as info:
        ff.read_panel(path, format="parquet")
    _cause_is(info, pl.exceptions.PolarsError)
    with pytest.raises(ValueError, match=r"could not read '.*prices\.csv' as ipc"):
        ff.read_panel(path, format="ipc")
    (tmp_path / "fake.parquet").write_text("date,asset\n2024-01-02,A\n")  # a CSV with a .parquet name
    with pytest.raises(ValueError, match=r"fake\.parquet' as parquet"):
        ff.read_fundamentals(tmp_path / "fake.parquet", ["2024-01-02"], ["A"])


def test_mixed_schema_glob(tmp_path):
    pl.DataFrame({"date": ["2024-01-02"], "asset": ["A"], "close": [1.0]}).write_parquet(tmp_path / "p-1.parquet")
    pl.DataFrame({"date": ["2024-01-03"], "asset": ["A"], "close": [2]}).write_parquet(tmp_path / "p-2.parquet")
    pl.DataFrame({"date": ["2024-01-04"], "asset": ["A"], "close": [2.0]}).write_parquet(tmp_path / "q-1.parquet")
    pl.DataFrame({"date": ["2024-01-05"], "asset": ["A"], "px": [3.0]}).write_parquet(tmp_path / "q-2.parquet")
    glob = str(tmp_path / "p-*.parquet")
    with pytest.raises(ValueError, match=r"could not read '.*p-\*\.parquet' as parquet: SchemaError: .*close") as info:
        ff.read_panel(glob)
    _cause_is(info, pl.exceptions.SchemaError)
    with pytest.raises(ValueError, match=r"q-\*\.parquet' as parquet: SchemaError: extra column .*px.*q-2\.parquet"):
        ff.read_panel(str(tmp_path / "q-*.parquet"), fields=["close"])
    with pytest.raises(ValueError, match=r"missing columns \['px'\]; '.*q-\*\.parquet' as parquet has columns \['date', 'asset', 'close'\]"):
        ff.read_panel(str(tmp_path / "q-*.parquet"), fields=["px"])
    # a LazyFrame over the same files given directly
    with pytest.raises(ValueError, match=r"could not read df: SchemaError"):
        ff.Panel.from_polars(pl.scan_parquet(glob))
    with pytest.raises(ValueError, match=r"could not read the polars LazyFrame source: SchemaError"):
        ff.read_fundamentals(pl.scan_parquet(glob).rename({"date": "report_date"}), ["2024-01-02"], ["A"])


@pytest.mark.parametrize(
    ("query", "match"),
    [
        ("SELEC date, asset FROM px", r"could not run query 'SELEC date, asset FROM px': OperationalError: near \"SELEC\": syntax error"),
        ("SELECT * FROM missing_table", r"could not run query 'SELECT \* FROM missing_table': OperationalError: no such table: missing_table"),
        ("SELECT nope FROM px", r"no such column: nope"),
    ],
)
def test_bad_sql_and_missing_table(tmp_path, long_prices, query, match):
    db = tmp_path / "m.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE px (date TEXT, asset TEXT, close REAL)")
    con.execute("INSERT INTO px VALUES ('2024-01-02', 'A', 1.0)")
    con.commit()
    for connection in (con, f"sqlite:///{db}"):
        with pytest.raises(ValueError, match=match) as info:
            ff.read_panel(query, connection=connection)
        _cause_is(info, sqlite3.Error)
        with pytest.raises(ValueError, match=match):
            ff.read_fundamentals((query, connection), ["2024-01-02"], ["A"])
        with pytest.raises(ValueError, match=match):
            ff.read_classifications(query, ["2024-01-02"], ["A"], connection=connection)
    with pytest.raises(ValueError, match="^fundamentals: could not run query") as info:
        ff.read_universe("SELECT * FROM px", (query, con), connection=con)
    assert re.search(match, str(info.value))
    con.close()


def test_tuple_source_errors():
    with pytest.raises(TypeError, match=r"a tuple source must be \(query, connection\)"):
        ff.read_panel(("SELECT 1",))
    with pytest.raises(TypeError, match=r"a tuple source must be \(query, connection\) with the query a string"):
        ff.read_panel((1, sqlite3.connect(":memory:")))
    with pytest.raises(TypeError, match="needs a connection, got None"):
        ff.read_panel(("SELECT 1", None))


def test_masked_arrays_refused():
    m = np.ma.masked_array([[1.0, 2.0], [3.0, 4.0]], mask=[[False, True], [False, False]])
    with pytest.raises(TypeError, match=r"field 'close' is a numpy masked array; its mask would be lost.*filled\(np\.nan\)"):
        ff.Panel(["2024-01-02", "2024-01-03"], ["A", "B"], {"close": m})
    with pytest.raises(TypeError, match="code field 'industry' is a numpy masked array"):
        ff.Panel(["2024-01-02", "2024-01-03"], ["A", "B"], codes={"industry": (m.astype(int), ["x", "y", "z", "w", "v"])})
    with pytest.raises(TypeError, match="dates is a numpy masked array"):
        ff.Panel(np.ma.masked_array(np.array(["2024-01-02"], "datetime64[D]"), mask=[True]), ["A"])
    with pytest.raises(TypeError, match="close is a numpy masked array"):
        ff.returns_from_prices(m)
    with pytest.raises(TypeError, match="shares is a numpy masked array"):
        ff.market_cap(m.data, m)
    with pytest.raises(TypeError, match="volume is a numpy masked array"):
        ff.dollar_volume(m.data, m)
    # the plain array with NaN where masked is accepted
    p = ff.Panel(["2024-01-02", "2024-01-03"], ["A", "B"], {"close": m.filled(np.nan)})
    np.testing.assert_array_equal(p["close"], [[1.0, nan], [3.0, 4.0]])


# --- integer settings (issue 10, family 3) ----------------------------------------------------------

_REC = pl.DataFrame({"asset": ["A", "A"], "report_date": ["2024-01-02", "2024-01-04"], "v": [1.0, 2.0]})
_ROWS = pl.DataFrame({"asset": ["A", "A"], "date": ["2024-01-02", "2024-01-04"], "industry": ["x", "y"]})
_PX = pl.DataFrame({"date": ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], "asset": "A", "close": [1.0, 2.0, 3.0, 4.0]})
_DAYS = np.array(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], dtype="datetime64[D]")

_SETTINGS = {
    ("read_fundamentals", "report_lag_days"): lambda v: ff.read_fundamentals(_REC, _DAYS, ["A"], report_lag_days=v)["v"],
    ("read_fundamentals", "max_staleness"): lambda v: ff.read_fundamentals(_REC, _DAYS, ["A"], max_staleness=v)["v"],
    ("read_classifications", "report_lag_days"): lambda v: ff.read_classifications(_ROWS, _DAYS, ["A"], report_lag_days=v)["industry"],
    ("read_universe", "report_lag_days"): lambda v: ff.read_universe(_PX, _REC, report_lag_days=v)["v"],
    ("read_universe", "max_staleness"): lambda v: ff.read_universe(_PX, _REC, max_staleness=v)["v"],
    ("read_universe", "classification_lag_days"): lambda v: ff.read_universe(_PX, None, _ROWS, classification_lag_days=v)["industry"],
}


@pytest.mark.parametrize("key", list(_SETTINGS), ids=lambda k: f"{k[0]}-{k[1]}")
@pytest.mark.parametrize("bad", [True, np.bool_(False), 1.0, 1.5, np.float64(2.0), "1", [1]], ids=repr)
def test_day_settings_refuse_non_integers(key, bad):
    with pytest.raises(TypeError, match=rf"^{key[1]} must be an integer number of calendar days"):
        _SETTINGS[key](bad)


@pytest.mark.parametrize("key", list(_SETTINGS), ids=lambda k: f"{k[0]}-{k[1]}")
@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (-1, "must be >= 0 days, got -1"),
        (np.int64(-3), "must be >= 0 days, got -3"),
        (1_000_001, "must be at most 1,000,000 days, got 1000001"),
        (2**63, "must be at most 1,000,000 days"),
        (2**64, "must be at most 1,000,000 days"),
        (-(2**70), "must be >= 0 days"),
        (np.uint64(2**64 - 1), "must be at most 1,000,000 days"),
    ],
    ids=repr,
)
def test_day_settings_refuse_absurd_values(key, bad, match):
    with pytest.raises(ValueError, match=rf"^{key[1]} {match}"):
        _SETTINGS[key](bad)


@pytest.mark.parametrize("key", list(_SETTINGS), ids=lambda k: f"{k[0]}-{k[1]}")
def test_day_settings_take_numpy_integers(key):
    want = _SETTINGS[key](2)
    for v in (np.int8(2), np.uint64(2), np.int64(2)):
        np.testing.assert_array_equal(_SETTINGS[key](v), want)
    big = _SETTINGS[key](1_000_000)  # the largest accepted value is usable, not an overflow
    assert big.shape == (4, 1)


def test_day_settings_hand_worked():
    # report 2024-01-02 (v=1) and 2024-01-04 (v=2) on panel days Tue 2 .. Fri 5
    f = _SETTINGS[("read_fundamentals", "report_lag_days")]
    np.testing.assert_array_equal(f(0)[:, 0], [1, 1, 2, 2])
    np.testing.assert_array_equal(f(2)[:, 0], [nan, nan, 1, 1])
    np.testing.assert_array_equal(f(1_000_000)[:, 0], [nan] * 4)
    g = _SETTINGS[("read_fundamentals", "max_staleness")]
    np.testing.assert_array_equal(g(0)[:, 0], [nan, 1, nan, 2])  # lag 1: available on the 3rd and 5th
    np.testing.assert_array_equal(g(None)[:, 0], [nan, 1, 1, 2])
    h = _SETTINGS[("read_universe", "classification_lag_days")]
    np.testing.assert_array_equal(h(1)[:, 0], [-1, 0, 0, 1])


def test_load_sample_settings(tmp_path):
    from ferrofactor.datasets import load_sample

    with pytest.raises(TypeError, match="^report_lag_days must be an integer"):
        load_sample(tmp_path, report_lag_days=1.0)
    with pytest.raises(ValueError, match="^max_staleness must be at most 1,000,000 days"):
        load_sample(tmp_path, max_staleness=2**64)


def test_one_record_per_asset_and_day_whatever_the_spelling_of_the_day():
    # the same day written two ways is a duplicate: input order must not pick the winner
    import datetime as dt

    days = np.array(["2024-01-02", "2024-01-03"], "datetime64[D]")
    # two times of one day are not a day: a report stamped 18:00 is refused, not cut to its day
    evening = pl.DataFrame({"asset": ["A", "A"], "report_date": [dt.datetime(2024, 1, 2, 18), dt.datetime(2024, 1, 2, 9)],
                            "eps": [2.0, 1.0]})
    with pytest.raises(ValueError, match=r"column 'report_date' must be whole days.*2024-01-02 18:00:00.*2 values in all"):
        ff.read_fundamentals(evening, days, ["A"], report_lag_days=0)
    spelled = pl.DataFrame({"asset": ["A", "A"], "report_date": ["2024-01-02", "2024-01-02 00:00:00"], "eps": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"duplicate \(asset, report_date\) rows: 1 \(asset, day\) pairs .*'A', '2024-01-02'"):
        ff.read_fundamentals(spelled, days, ["A"], report_lag_days=0)
    codes = pl.DataFrame({"asset": ["A", "A"], "date": ["2024-01-02", "2024-01-02T00:00:00"], "industry": ["X", "Y"]})
    with pytest.raises(ValueError, match=r"duplicate \(asset, date\) rows"):
        ff.read_classifications(codes, days, ["A"])
    # one report per day is fine, and the later one wins from its day
    ok = evening.with_columns(pl.Series("report_date", [dt.datetime(2024, 1, 3), dt.datetime(2024, 1, 2)]))
    np.testing.assert_array_equal(ff.read_fundamentals(ok, days, ["A"], report_lag_days=0)["eps"].ravel(), [1.0, 2.0])


def test_dates_without_separators_must_be_zero_padded():
    # '%Y%m%d' on '2024111' could be 2024-11-01 or 2024-01-11: refused, never guessed
    def read(v, fmt):
        return ff.read_panel(pl.DataFrame({"date": v, "asset": ["A"] * len(v), "x": [1.0] * len(v)}), date_format=fmt)

    for v in (["2024111"], [2024112], ["2024 0102"]):
        with pytest.raises(ValueError, match="not written exactly as date_format '%Y%m%d' writes dates"):
            read(v, "%Y%m%d")
    assert read(["20240111"], "%Y%m%d").dates.tolist() == read([20240111], "%Y%m%d").dates.tolist()
    assert str(read(["20240111"], "%Y%m%d").dates[0]) == "2024-01-11"
    assert str(read(["02012024"], "%d%m%Y").dates[0]) == "2024-01-02"
    # with separators an unpadded field is unambiguous and read as before
    assert str(read(["1/2/2024"], "%m/%d/%Y").dates[0]) == "2024-01-02"


def test_market_cap_and_dollar_volume_pair_frames_by_label():
    close = pl.DataFrame({"date": ["2024-01-02"], "A": [10.0], "B": [20.0]})
    shares = pl.DataFrame({"date": ["2024-01-02"], "B": [1.0], "A": [100.0]})
    with pytest.raises(ValueError, match="shares and close have different assets"):
        ff.market_cap(close, shares)
    np.testing.assert_array_equal(ff.market_cap(close, shares.select("date", "A", "B")), [[1000.0, 20.0]])
    later = close.with_columns(pl.lit("2024-01-03").alias("date"))
    with pytest.raises(ValueError, match="volume and close have different dates"):
        ff.dollar_volume(close, later)
    np.testing.assert_array_equal(ff.dollar_volume(np.array([[2.0, 3.0]]), close), [[20.0, 60.0]])


def test_a_recursive_glob_reads_every_level(tmp_path):
    # prices/year=YYYY/part-0.parquet: '**' matches the folders below, as Polars reads it
    for y, day in ((2024, "2024-01-02"), (2025, "2025-01-02")):
        (tmp_path / "prices" / f"y{y}" / "m01").mkdir(parents=True)
        pl.DataFrame({"date": [day, day], "asset": ["A", "B"], "close": [1.0, float(y)]}).write_parquet(
            tmp_path / "prices" / f"y{y}" / "m01" / "part-0.parquet")
    p = ff.read_panel(str(tmp_path / "prices" / "**" / "*.parquet"))
    assert [str(d) for d in p.dates] == ["2024-01-02", "2025-01-02"] and p.assets.tolist() == ["A", "B"]
    np.testing.assert_array_equal(p["close"], [[1.0, 2024.0], [1.0, 2025.0]])


def test_a_directory_reads_every_parquet_file_below_it(tmp_path, long_prices):
    # as ff.dask.read_universe: a directory is every *.parquet / *.pq file below it (recursive);
    # hive keys in the folder names (year=2024) are storage layout, never columns; other files
    # (markers, notes) are not read
    root = tmp_path / "prices"
    (root / "year=2024" / "month=01").mkdir(parents=True)
    rows = long_prices.drop("sector")
    rows.head(2).write_parquet(root / "year=2024" / "part-0.parquet")
    rows.tail(3).write_parquet(root / "year=2024" / "month=01" / "part-1.pq")
    (root / "_SUCCESS").write_text("")
    (root / "notes.csv").write_text("not,prices\n")
    for source in (root, str(root), str(root) + "/"):
        p = ff.read_panel(source)
        assert p.fields == ("close", "volume")  # no 'year'/'month' field from the folder names
        check(p)
    glob = ff.read_panel(str(root / "**" / "*.p*q*"), format="parquet")
    assert ff.read_panel(root).equals(glob)
    assert ff.read_panel(root, format="parquet").equals(glob)  # the same rule with format=parquet
    u = ff.read_universe(root)
    assert u.fields == ("close", "volume", "returns", "dollar_volume")
    np.testing.assert_array_equal(u["close"], expected_close())


def test_a_directory_of_other_files_needs_format(tmp_path, long_prices):
    root = tmp_path / "csv"
    (root / "a").mkdir(parents=True)
    long_prices = long_prices.drop("sector")
    long_prices.head(2).write_csv(root / "a" / "part-0.csv")
    long_prices.tail(3).write_csv(root / "part-1.csv")
    with pytest.raises(FileNotFoundError, match=r"no Parquet file \(\*\.parquet, \*\.pq\) below directory .*csv'; it holds \.csv files: pass format='csv'"):
        ff.read_panel(root)
    check(ff.read_panel(root, format="csv"))  # "00123" stays a string
    ipc = tmp_path / "ipc"
    ipc.mkdir()
    long_prices.write_ipc(ipc / "all.arrow")
    check(ff.read_panel(ipc, format="ipc"))
    with pytest.raises(FileNotFoundError, match=r"no CSV file \(\*\.csv, \*\.tsv, \*\.txt\) below directory .*ipc'; it holds \.arrow files: pass format='ipc'"):
        ff.read_panel(ipc, format="csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no Parquet file \(\*\.parquet, \*\.pq\) below directory .*empty'$"):
        ff.read_panel(tmp_path / "empty")
    long_prices.write_csv(root / "part-2.tsv", separator="\t")
    with pytest.raises(ValueError, match=r"mixes comma-separated .* and tab-separated .*; pass a glob"):
        ff.read_panel(root, format="csv")
