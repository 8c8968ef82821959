"""read_universe: prices, derived fields, point-in-time fundamentals and industries in one call."""

from __future__ import annotations

import sqlite3

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff
from ferrofactor import baseline
from ferrofactor.datasets import FUNDAMENTAL_FIELDS, synthetic_universe, write_sample

nan = np.nan

# Mon 2024-01-01 .. Fri 2024-01-05; B is not traded on Wednesday (a gap), C lists on Thursday.
DATES = np.array(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], dtype="datetime64[D]")


@pytest.fixture
def prices():
    rows = [
        ("2024-01-01", "A", 10.0, 100.0, 1000.0),
        ("2024-01-01", "B", 20.0, 50.0, 400.0),
        ("2024-01-02", "A", 11.0, 100.0, 1100.0),
        ("2024-01-02", "B", 22.0, 50.0, 300.0),
        ("2024-01-03", "A", 12.1, 100.0, 900.0),
        ("2024-01-04", "A", 12.1, 110.0, 500.0),
        ("2024-01-04", "B", 24.2, 50.0, 200.0),
        ("2024-01-04", "C", 5.0, 10.0, 60.0),
        ("2024-01-05", "A", 6.05, 220.0, 700.0),
        ("2024-01-05", "B", 24.2, None, 100.0),
        ("2024-01-05", "C", 5.5, 10.0, None),
    ]
    return pl.DataFrame(rows, schema=["date", "asset", "close", "shares", "volume"], orient="row")


@pytest.fixture
def fundamentals():
    # A: Q3 reported 2023-11-10 (visible all week); Q4 reported Wed 2024-01-03, visible from Thu
    # with the default 1-day lag. B: one report on Thu 2024-01-04, visible on Fri. C: none.
    return pl.DataFrame(
        {
            "asset": ["A", "A", "B", "ZZZ"],
            "fiscal_period_end": ["2023-09-30", "2023-12-31", "2023-12-31", "2023-12-31"],
            "report_date": ["2023-11-10", "2024-01-03", "2024-01-04", "2024-01-02"],
            "book_value": [500.0, 600.0, 300.0, 1.0],
            "earnings": [50.0, None, 30.0, 1.0],
        }
    )


@pytest.fixture
def industries():
    # A is Energy throughout; B is Banks, then Insurance from Wed; C has no row until Fri.
    return pl.DataFrame(
        {
            "asset": ["A", "B", "B", "C"],
            "date": ["2020-06-30", "2023-12-01", "2024-01-03", "2024-01-05"],
            "industry": ["Energy", "Banks", "Insurance", "Energy"],
        }
    )


def expected_fields():
    """Hand-worked values of every field of the fixture universe."""
    close = np.array([[10, 20, nan], [11, 22, nan], [12.1, nan, nan], [12.1, 24.2, 5], [6.05, 24.2, 5.5]])
    shares = np.array([[100, 50, nan], [100, 50, nan], [100, nan, nan], [110, 50, 10], [220, nan, 10]])
    volume = np.array([[1000, 400, nan], [1100, 300, nan], [900, nan, nan], [500, 200, 60], [700, 100, nan]])
    returns = np.array(
        [
            [nan, nan, nan],
            [0.1, 0.1, nan],
            [0.1, nan, nan],  # B has no Wednesday price: no return on Wed ...
            [0.0, nan, nan],  # ... and none on Thu (the gap is never bridged)
            [-0.5, 0.0, 0.1],
        ]
    )
    market_cap = close * shares
    dollar_volume = close * volume
    book_value = np.array([[500, nan, nan], [500, nan, nan], [500, nan, nan], [600, nan, nan], [600, 300, nan]])
    earnings = np.array([[50, nan, nan], [50, nan, nan], [50, nan, nan], [nan, nan, nan], [nan, 30, nan]])
    # labels sorted: Banks = 0, Energy = 1, Insurance = 2
    industry = np.array([[1, 0, -1], [1, 0, -1], [1, 2, -1], [1, 2, -1], [1, 2, 1]])
    return {
        "close": close,
        "shares": shares,
        "volume": volume,
        "returns": returns,
        "market_cap": market_cap,
        "dollar_volume": dollar_volume,
        "book_value": book_value,
        "earnings": earnings,
    }, industry


def check_universe(p):
    want, industry = expected_fields()
    assert p.dates.tolist() == DATES.tolist()
    assert p.assets.tolist() == ["A", "B", "C"]
    assert p.float_fields == tuple(want)
    assert p.code_fields == ("industry",)
    for name, arr in want.items():
        np.testing.assert_allclose(p[name], arr, rtol=1e-12, atol=0, err_msg=name)
        np.testing.assert_array_equal(np.isnan(p[name]), np.isnan(arr), err_msg=name)
    np.testing.assert_array_equal(p["industry"], industry)
    assert p.labels("industry").tolist() == ["Banks", "Energy", "Insurance"]


def test_one_call_hand_worked(prices, fundamentals, industries):
    check_universe(ff.read_universe(prices, fundamentals, industries))


def test_fundamentals_oracle_and_building_blocks(prices, fundamentals, industries):
    p = ff.read_universe(prices, fundamentals, industries, report_lag_days=2, max_staleness=30)
    # brute-force point-in-time oracle on the price panel's axes
    for f in ("book_value", "earnings"):
        oracle = baseline.point_in_time(
            fundamentals["asset"].to_list(),
            fundamentals["report_date"].str.to_date().to_numpy(),
            fundamentals[f].to_list(),
            p.dates,
            p.assets,
            2,
            30,
        )
        np.testing.assert_array_equal(p[f], oracle)
    np.testing.assert_array_equal(p["returns"], baseline.returns_from_prices(p["close"]))
    # the same panel from the building blocks
    px = ff.read_panel(prices)
    fu = ff.read_fundamentals(fundamentals, px.dates, px.assets, report_lag_days=2, max_staleness=30)
    cl = ff.read_classifications(industries, px.dates, px.assets)
    assert p.equals(
        px.with_fields(
            {
                "returns": ff.returns_from_prices(px["close"]),
                "market_cap": ff.market_cap(px["close"], px["shares"]),
                "dollar_volume": ff.dollar_volume(px["close"], px["volume"]),
                "book_value": fu["book_value"],
                "earnings": fu["earnings"],
            },
            {"industry": (cl["industry"], cl.labels("industry"))},
        )
    )


def test_optional_sources_and_derivations(prices):
    p = ff.read_universe(prices)
    assert p.fields == ("close", "shares", "volume", "returns", "market_cap", "dollar_volume")
    q = ff.read_universe(prices.drop("volume"), shares=None)
    assert q.fields == ("close", "shares", "returns")  # no volume column, shares not used
    r = ff.read_universe(prices.with_columns(adj=pl.col("close") * 2), adjusted_close="adj")
    # returns from adj (twice close: the same returns), market cap from the unadjusted close
    np.testing.assert_allclose(r["returns"], expected_fields()[0]["returns"], rtol=1e-12)
    np.testing.assert_array_equal(r["market_cap"], expected_fields()[0]["market_cap"])
    s = ff.read_universe(prices.rename({"close": "prc", "shares": "shrout"}), close="prc", shares="shrout")
    np.testing.assert_array_equal(s["market_cap"], expected_fields()[0]["market_cap"])


def test_target_axes(prices, fundamentals, industries):
    p = ff.read_universe(
        prices, fundamentals, industries, dates=DATES[1:4], assets=["C", "A", "Q"]
    )
    assert p.dates.tolist() == DATES[1:4].tolist() and p.assets.tolist() == ["C", "A", "Q"]
    want, industry = expected_fields()
    # returns are computed on the target axes: the first target date has none
    np.testing.assert_array_equal(p["close"][:, 1], want["close"][1:4, 0])
    np.testing.assert_allclose(p["returns"][:, 1], [nan, 0.1, 0.0], rtol=1e-12)
    np.testing.assert_array_equal(p["book_value"][:, 1], want["book_value"][1:4, 0])
    assert np.isnan(p["book_value"][:, 2]).all()
    np.testing.assert_array_equal(p["industry"], [[-1, 1, -1], [-1, 1, -1], [-1, 1, -1]])


def test_date_format_shared_by_every_source(prices, fundamentals, industries):
    def us(df, col):
        return df.with_columns(pl.col(col).str.to_date().dt.strftime("%m/%d/%Y"))

    args = (us(prices, "date"), us(fundamentals, "report_date"), us(industries, "date"))
    check_universe(ff.read_universe(*args, date_format="%m/%d/%Y"))
    with pytest.raises(ValueError, match=r"^prices: column 'date': 11 values are not ISO dates.*day/month order is ambiguous"):
        ff.read_universe(*args)
    with pytest.raises(ValueError, match=r"^fundamentals: column 'report_date': 4 values are not ISO dates"):
        ff.read_universe(prices, args[1], industries)
    with pytest.raises(ValueError, match=r"^classifications: column 'date': 4 values do not match date_format"):
        ff.read_universe(args[0], fundamentals.pipe(us, "report_date"), industries, date_format="%m/%d/%Y")


def test_format_is_that_of_the_files_whose_extension_does_not_tell(tmp_path, prices, fundamentals, industries):
    """One format= for several sources: prices.dat as CSV, the .parquet files as Parquet; an
    unknown format is refused even where no source needs it. A reader of one source (read_panel)
    takes format= over the extension."""
    prices.write_csv(tmp_path / "prices.dat")
    fundamentals.write_parquet(tmp_path / "fund.parquet")
    industries.write_parquet(tmp_path / "ind.parquet")
    check_universe(ff.read_universe(tmp_path / "prices.dat", str(tmp_path / "fund.parquet"),
                                    str(tmp_path / "ind.parquet"), format="csv"))
    prices.write_parquet(tmp_path / "px.parquet")
    with pytest.raises(ValueError, match=r"px\.parquet' as csv"):
        ff.read_panel(tmp_path / "px.parquet", format="csv")
    with pytest.raises(ValueError, match=r"format must be one of \['csv', 'ipc', 'parquet'\], got 'xlsx'"):
        ff.read_universe(tmp_path / "px.parquet", format="xlsx")


def test_files_sqlite_and_tuples_mixed(tmp_path, prices, fundamentals, industries):
    prices.write_csv(tmp_path / "prices.csv")
    industries.write_parquet(tmp_path / "industries.parquet")
    db = tmp_path / "fund.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE f (gvkey TEXT, rdq TEXT, book_value REAL, earnings REAL)")
    con.executemany(
        "INSERT INTO f VALUES (?, ?, ?, ?)",
        fundamentals.select("asset", "report_date", "book_value", "earnings").rows(),
    )
    con.execute("CREATE TABLE px (date TEXT, asset TEXT, close REAL, shares REAL, volume REAL)")
    con.executemany("INSERT INTO px VALUES (?, ?, ?, ?, ?)", prices.rows())
    con.execute("CREATE TABLE ind (asset TEXT, date TEXT, industry TEXT)")
    con.executemany("INSERT INTO ind VALUES (?, ?, ?)", industries.rows())
    con.commit()
    query = "SELECT gvkey AS asset, rdq AS report_date, book_value, earnings FROM f"
    # files and a (query, connection) tuple in one call
    check_universe(ff.read_universe(tmp_path / "prices.csv", (query, con), str(tmp_path / "industries.parquet")))
    check_universe(ff.read_universe(str(tmp_path / "prices.csv"), (query, f"sqlite:///{db}"), industries))
    # one shared connection: every str source is a query
    check_universe(
        ff.read_universe("SELECT * FROM px", query, "SELECT * FROM ind", connection=con)
    )
    # frames are frames whatever the connection
    check_universe(ff.read_universe(prices, query, industries, connection=con))
    # a tuple overrides the shared connection; a Path is still a file
    check_universe(
        ff.read_universe(tmp_path / "prices.csv", (query, con), "SELECT * FROM ind", connection=f"sqlite:///{db}")
    )
    con.close()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda p, f, i: (p.with_columns(returns=pl.lit(0.0)), f, i),
            r"field 'returns' comes from two sources: prices and the derived price fields",
        ),
        (
            lambda p, f, i: (p.with_columns(market_cap=pl.lit(1.0)), f, i),
            r"field 'market_cap' comes from two sources: prices and the derived price fields",
        ),
        (
            lambda p, f, i: (p, f.with_columns(close=pl.lit(1.0)), i),
            r"field 'close' comes from two sources: prices and fundamentals",
        ),
        (
            lambda p, f, i: (p, f.rename({"earnings": "returns"}), i),
            r"field 'returns' comes from two sources: the derived price fields .* and fundamentals",
        ),
        (
            lambda p, f, i: (p, f.with_columns(industry=pl.lit(3.0)), i),
            r"field 'industry' comes from two sources: fundamentals and classifications \(column 'industry'\)",
        ),
        (
            lambda p, f, i: (p.with_columns(industry=pl.lit("x").cast(pl.Categorical)), f, i),
            r"field 'industry' comes from two sources: prices and classifications",
        ),
    ],
)
def test_field_clashes_name_field_and_both_sources(prices, fundamentals, industries, make, match):
    with pytest.raises(ValueError, match=match):
        ff.read_universe(*make(prices, fundamentals, industries))


def test_price_columns_and_errors(prices, fundamentals):
    named = prices.with_columns(name=pl.lit("Acme Corp"))
    # a text column is named with a value that is not a number (a frame: null_values does not apply)
    with pytest.raises(ValueError, match=r"^prices: column 'name' \(String\) is neither numeric nor categorical: it "
                                         r"holds text such as 'Acme Corp'; pass price_fields="):
        ff.read_universe(named)
    p = ff.read_universe(named, price_fields=["close", "shares", "volume"])
    assert p.float_fields[:3] == ("close", "shares", "volume")
    with pytest.raises(ValueError, match=r"^prices: no price column 'adj' \(adjusted_close=\) to compute returns"):
        ff.read_universe(prices, adjusted_close="adj")
    with pytest.raises(ValueError, match=r"^prices: no price column 'close' \(close=\) to compute returns"):
        ff.read_universe(prices.rename({"close": "prc"}))
    with pytest.raises(ValueError, match=r"^prices: no price column 'prc' \(close=\) for market_cap"):
        ff.read_universe(prices, close="prc", adjusted_close="close")
    with pytest.raises(ValueError, match=r"^prices: close must be positive"):
        ff.read_universe(prices.with_columns(close=pl.col("close") * 0))
    with pytest.raises(ValueError, match=r"^fundamentals: missing columns \['rdq'\]"):
        ff.read_universe(prices, fundamentals, report_date="rdq")
    with pytest.raises(ValueError, match=r"^fundamentals: duplicate \(asset, report_date\) rows"):
        ff.read_universe(prices, pl.concat([fundamentals, fundamentals]))
    with pytest.raises(ValueError, match=r"^classifications: missing columns \['gics'\]"):
        ff.read_universe(prices, None, fundamentals, industry="gics", classification_date="report_date")
    with pytest.raises(FileNotFoundError, match=r"^fundamentals: no file matches"):
        ff.read_universe(prices, "/nonexistent/fund.parquet")
    with pytest.raises(TypeError, match=r"^prices: source must be a path or glob"):
        ff.read_universe(42)
    with pytest.raises(TypeError, match="close must be a column name"):
        ff.read_universe(prices, close=1)
    with pytest.raises(TypeError, match="shares must be a column name"):
        ff.read_universe(prices, shares=["shares"])


def test_industry_labels_and_lag(prices, industries):
    p = ff.read_universe(prices, None, industries, industry_labels=["Insurance", "Energy", "Banks", "Tech"])
    assert p.labels("industry").tolist() == ["Insurance", "Energy", "Banks", "Tech"]
    np.testing.assert_array_equal(p["industry"][:, 1], [2, 2, 0, 0, 0])
    q = ff.read_universe(prices, None, industries.rename({"industry": "gics", "date": "eff"}), industry="gics",
                         classification_date="eff", classification_lag_days=1)
    assert q.code_fields == ("industry",)  # always named industry
    np.testing.assert_array_equal(q["industry"][:, 1], [0, 0, 0, 2, 2])  # Insurance from Thu
    np.testing.assert_array_equal(q["industry"][:, 2], [-1, -1, -1, -1, -1])  # C's row applies Sat


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_sample_files_round_trip(tmp_path, fmt):
    small = synthetic_universe(n_assets=25, n_days=90, n_industries=4, seed=7)
    paths = write_sample(tmp_path, panel=small)
    if fmt == "csv":
        for k, path in list(paths.items()):
            csv = path.replace(".parquet", ".csv")
            pl.read_parquet(path).write_csv(csv)
            paths[k] = csv
    p = ff.read_universe(
        paths["prices"],
        paths["fundamentals"],
        paths["classifications"],
        fundamental_fields=list(FUNDAMENTAL_FIELDS),
        industry_labels=small.labels("industry"),
    )
    assert p.equals(small)  # truth aside, the file round trip is exact (CSV floats round-trip too)


def test_a_directory_of_parquet_files_reads_as_the_dask_reader_does(tmp_path):
    # the path argument of ff.dask.read_universe works here too: a directory is every Parquet
    # file below it, and hive keys (year=...) are storage layout, not fields
    small = synthetic_universe(n_assets=25, n_days=300, n_industries=4, seed=8)
    paths = write_sample(tmp_path, panel=small)
    root = tmp_path / "prices"
    prices = pl.read_parquet(paths["prices"]).with_columns(pl.col("date").dt.year().alias("year"))
    for (y,), g in prices.group_by(["year"]):
        (root / f"year={y}").mkdir(parents=True)
        g.drop("year").write_parquet(root / f"year={y}" / "part-0.parquet")
    fund = tmp_path / "fundamentals"
    fund.mkdir()
    pl.read_parquet(paths["fundamentals"]).write_parquet(fund / "part-0.parquet")
    kw = dict(fundamental_fields=list(FUNDAMENTAL_FIELDS), industry_labels=small.labels("industry"))
    want = ff.read_universe(paths["prices"], paths["fundamentals"], paths["classifications"], **kw)
    assert want.equals(small)
    for source in (root, str(root) + "/"):
        got = ff.read_universe(source, fund, paths["classifications"], **kw)
        assert "year" not in got.fields
        assert got.equals(want)


# ---------------------------------------------------------------------------------------------
# CSV missing-value markers: null_values
# ---------------------------------------------------------------------------------------------


def test_null_values_reads_a_csv_marker_as_missing_in_every_reader(tmp_path, prices, fundamentals, industries):
    """R's write.csv writes a missing value as NA: with null_values="NA" each reader reads it as
    missing, as an empty cell (the hand-worked universe, and the same frames read in memory);
    without it the text column is refused naming the marker and how to read it."""
    prices.write_csv(tmp_path / "p.csv", null_value="NA")  # B's shares and C's volume on Fri
    fundamentals.write_csv(tmp_path / "f.csv", null_value="NA")  # A's Q4 earnings
    assert "NA" in (tmp_path / "p.csv").read_text() and "NA" in (tmp_path / "f.csv").read_text()
    p = ff.read_universe(tmp_path / "p.csv", tmp_path / "f.csv", industries, null_values="NA")
    check_universe(p)
    assert ff.read_universe(tmp_path / "p.csv", tmp_path / "f.csv", industries, null_values=["NA", "."]).equals(p)
    # the building blocks take it too; a directory of CSV files as well
    assert ff.read_panel(tmp_path / "p.csv", null_values="NA").equals(ff.read_panel(prices))
    (tmp_path / "pdir").mkdir()
    (tmp_path / "pdir" / "part-0.csv").write_text((tmp_path / "p.csv").read_text())
    assert ff.read_panel(tmp_path / "pdir", format="csv", null_values=("NA",)).equals(ff.read_panel(prices))
    f = ff.read_fundamentals(tmp_path / "f.csv", DATES, ["A", "B", "C"], fields=["earnings"], null_values="NA")
    assert f.equals(ff.read_fundamentals(fundamentals, DATES, ["A", "B", "C"], fields=["earnings"]))
    # a class label written NA: missing (-1 from its row on), never an industry named "NA"
    ind = pl.concat([industries, pl.DataFrame({"asset": ["B"], "date": ["2024-01-05"], "industry": [None]},
                                              schema=industries.schema)])
    ind.write_csv(tmp_path / "c.csv", null_value="NA")
    c = ff.read_classifications(tmp_path / "c.csv", DATES, ["A", "B", "C"], null_values="NA")
    assert c.labels("industry").tolist() == ["Banks", "Energy", "Insurance"]
    np.testing.assert_array_equal(c["industry"][:, 1], [0, 0, 2, 2, -1])
    assert ff.read_classifications(tmp_path / "c.csv", DATES, ["A", "B", "C"]).labels("industry").tolist() == [
        "Banks", "Energy", "Insurance", "NA"]  # without it: a label like any other
    # delisting returns written NA: missing, paid out at 0
    pl.DataFrame({"asset": ["A", "B"], "delisting_date": ["2024-01-08", "2024-01-09"],
                  "delisting_return": [-0.3, None]}).write_csv(tmp_path / "d.csv", null_value="NA")
    from ferrofactor.io import _read_delistings

    a, _, r = _read_delistings(tmp_path / "d.csv", delisting_return="delisting_return", null_values="NA")
    assert a.tolist() == ["A", "B"] and r.tolist() == [-0.3, 0.0]
    with pytest.raises(ValueError, match=r"^column 'delisting_return' is not numeric \(dtype String\): it holds text "
                                         r"such as 'NA' \(a missing-value marker\? pass null_values=\['NA'\]"):
        _read_delistings(tmp_path / "d.csv", delisting_return="delisting_return")

    # without null_values: the errors name the column, the marker and the setting
    hint = r": it holds text such as 'NA' \(a missing-value marker\? pass null_values=\['NA'\], data.null_values in a config\); "
    with pytest.raises(ValueError, match=r"^prices: column 'shares' \(String\) is neither numeric nor categorical" + hint
                       + "pass price_fields="):
        ff.read_universe(tmp_path / "p.csv")
    with pytest.raises(ValueError, match=r"^prices: field 'shares' is not numeric \(dtype String\)" + hint):
        ff.read_universe(tmp_path / "p.csv", price_fields=["close", "shares", "volume"])
    with pytest.raises(ValueError, match=r"'shares' holds text such as 'NA' \(a missing-value marker\? pass "
                                         r"null_values=\['NA'\]"):
        ff.read_panel(tmp_path / "p.csv")
    with pytest.raises(ValueError, match=r"^fundamentals: field 'earnings' is not numeric \(dtype String\)"
                       + hint.rstrip("; ")):
        ff.read_universe(prices, tmp_path / "f.csv", fundamental_fields=["book_value", "earnings"])


def test_null_values_must_be_a_str_or_strings(prices):
    for bad in (3, ["NA", 1], b"NA", {"close": "NA"}):
        with pytest.raises(TypeError, match=r"null_values must be a str or a sequence of str"):
            ff.read_universe(prices, null_values=bad)
        with pytest.raises(TypeError, match=r"null_values must be a str or a sequence of str"):
            ff.read_panel(prices, null_values=bad)
    # not a CSV: nothing to apply, the frame is read as it is
    assert ff.read_universe(prices, null_values=[]).equals(ff.read_universe(prices, null_values="NA"))


def test_a_marker_below_the_rows_polars_infers_from_is_named_too(tmp_path):
    """An NA in the 150th row of a numeric column: the column is inferred as numbers from the
    first rows and the cell fails to parse at read time; the error names the marker and the
    setting (it showed Polars' message only, which names a Python argument)."""
    days = np.arange(np.datetime64("2023-01-02"), np.datetime64("2023-01-02") + 150)
    rec = pl.DataFrame({"asset": ["A"] * 150, "report_date": days.astype(str),
                        "eps": [float(i) for i in range(149)] + [None]})
    rec.write_csv(tmp_path / "f.csv", null_value="NA")
    with pytest.raises(ValueError, match=r"^fundamentals: could not read .*f\.csv' as csv; a cell holds 'NA' \(a "
                                         r"missing-value marker\? pass null_values=\['NA'\], data.null_values in a "
                                         r"config\): ComputeError"):
        ff.read_universe(pl.DataFrame({"date": ["2023-06-01"], "asset": ["A"], "close": [1.0]}), tmp_path / "f.csv")
    got = ff.read_fundamentals(tmp_path / "f.csv", days[-3:], ["A"], report_lag_days=0, null_values="NA")
    np.testing.assert_array_equal(got["eps"][:, 0], [147.0, 148.0, nan])


@pytest.mark.parametrize("which", ["fundamentals", "classifications"])
def test_a_source_whose_asset_ids_match_none_of_the_prices_is_refused(tmp_path, which):
    """Ids written another way than the prices' (an integer column that lost the leading zeros
    of '000123', another case) matched no asset: every field was silently missing (and a model
    without fundamentals or industries ran on). Some unmatched rows are still ignored."""
    px = pl.DataFrame({"date": ["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-03"],
                       "asset": ["000123", "000456"] * 2, "close": [10.0, 20.0, 11.0, 19.0]})
    ints = {"fundamentals": pl.DataFrame({"asset": [123, 456], "report_date": ["2024-01-01"] * 2,
                                          "book_value": [1.0, 2.0]}),
            "classifications": pl.DataFrame({"asset": [123, 456], "date": ["2024-01-01"] * 2,
                                             "industry": ["Energy", "Banks"]})}[which]
    ints.write_parquet(tmp_path / "src.parquet")
    with pytest.raises(ValueError, match=rf"^{which}: none of the 2 asset ids of .*src\.parquet.* is one of the 2 "
                                         r"assets .*\['123', '456'\] against \['000123', '000456'\].*column 'asset' "
                                         "holds integers"):
        ff.read_universe(px, **{which: str(tmp_path / "src.parquet")})
    lower = ints.with_columns(pl.col("asset").cast(pl.String))
    with pytest.raises(ValueError, match=rf"^{which}: none of the 2 asset ids .*both look like numbers"):
        ff.read_universe(px, **{which: lower})
    # one matching row is enough: the other rows are ignored, as documented
    some = lower.with_columns(pl.Series("asset", ["000123", "999"]))
    p = ff.read_universe(px, **{which: some})
    if which == "fundamentals":
        np.testing.assert_array_equal(p["book_value"], [[1.0, nan], [1.0, nan]])
    else:
        np.testing.assert_array_equal(p["industry"], [[1, -1], [1, -1]])  # labels Banks, Energy


def test_an_unnamed_pandas_index_written_to_the_files_is_not_a_field(tmp_path, prices, fundamentals):
    """pandas writes a filtered frame's row numbers into Parquet as ``__index_level_0__``
    (``df[df.close > 0].to_parquet(path)``), which Polars reads as a column: it became a price
    field and a fundamental field, and with both files written so the run failed ("field
    '__index_level_0__' comes from two sources: prices and fundamentals")."""
    idx = "__index_level_0__"
    px = prices.with_columns(pl.int_range(pl.len()).mul(3).alias(idx))
    fu = fundamentals.with_columns(pl.int_range(pl.len()).mul(2).alias(idx))
    px.write_parquet(tmp_path / "px.parquet")
    fu.write_parquet(tmp_path / "fu.parquet")
    p = ff.read_universe(str(tmp_path / "px.parquet"), str(tmp_path / "fu.parquet"))
    assert idx not in p.fields
    want = ff.read_universe(prices, fundamentals)
    assert p.fields == want.fields
    for f in want.float_fields:
        np.testing.assert_array_equal(p[f], want[f])
    assert idx not in ff.read_panel(str(tmp_path / "px.parquet")).fields
    assert idx not in ff.read_fundamentals(fu, DATES, ["A", "B"]).fields
    # named, it is a column like any other
    assert idx in ff.read_panel(px, fields=["close", idx]).fields


def test_asset_ids_written_with_and_without_spaces_are_refused(prices, fundamentals):
    """'A' and 'A ' (a fixed-width CHAR column pads ids) were two assets: each held part of the
    other's rows, with gaps and so no return wherever the other spelling was used (on the
    sample, 120 assets became 240 and the run went on). Ids padded alike are left as they are."""
    mixed = prices.with_columns(pl.when(pl.col("date") == "2024-01-03").then(pl.col("asset") + " ")
                                .otherwise(pl.col("asset")).alias("asset"))
    with pytest.raises(ValueError, match=r"^prices: column 'asset' has 1 asset ids written with and without "
                                         r"surrounding spaces, e\.g\. \[\['A', 'A '\]\]: read as different assets"):
        ff.read_universe(mixed)
    with pytest.raises(ValueError, match=r"^fundamentals: column 'asset' has 1 asset ids written with and without"):
        ff.read_universe(prices, pl.concat([fundamentals, fundamentals.head(1).with_columns(
            pl.lit("B ").alias("asset"), pl.lit("2023-06-01").alias("report_date"))]))
    padded = ff.read_universe(prices.with_columns(pl.col("asset") + "  "))
    assert padded.assets.tolist() == ["A  ", "B  ", "C  "]
