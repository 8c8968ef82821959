"""The configuration of ``ferrofactor run``: every documented error names its key (and suggests
the closest known key or value), all errors are reported together, the command exits with 2
and writes nothing; the example file is the documented reference and its defaults are the
defaults."""

from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import ferrofactor as ff
from ferrofactor import config as C
from ferrofactor.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    d = tmp_path_factory.mktemp("cfg")
    ff.datasets.write_sample(d / "sample", n_assets=30, n_days=300, seed=1)
    return d


DATA = ('[data]\nprices = "sample/prices.parquet"\nfundamentals = "sample/fundamentals.parquet"\n'
        'classifications = "sample/classifications.parquet"\n')


def errors_of(d: Path, text: str, name: str = "c.toml") -> list[str]:
    p = d / name
    p.write_text(text)
    with pytest.raises(C.ConfigError) as e:
        C.load_config(p)
    return e.value.errors


def one(errors: list[str]) -> str:
    assert len(errors) == 1, errors
    return errors[0]


# ---------------------------------------------------------------------------------------------
# each documented error, with its key
# ---------------------------------------------------------------------------------------------


def test_data_format_applies_where_the_extension_does_not_tell(sample):
    """data.format = "csv" reads prices.dat as CSV and leaves the .parquet sources Parquet (it
    was applied to them too: their bytes were listed as CSV column names); a file of another
    format is named as unreadable, its bytes not printed."""
    pl.read_parquet(sample / "sample/prices.parquet").write_csv(sample / "prices.dat")
    text = DATA.replace("sample/prices.parquet", "prices.dat") + 'format = "csv"\n'
    (sample / "fmt.toml").write_text(text)
    cfg = C.load_config(sample / "fmt.toml")
    assert cfg["data"]["format"] == "csv"
    (sample / "fund.dat").write_bytes((sample / "sample/fundamentals.parquet").read_bytes())
    e = errors_of(sample, text.replace("sample/fundamentals.parquet", "fund.dat"), "fmt2.toml")
    assert one(e) == (f"data.fundamentals: {str(sample / 'fund.dat')!r} read as csv has unreadable column names: "
                      "is it a csv file? (data.format sets the format of the files whose extension does not tell)")


def test_signal_weights_all_zero_are_refused(sample):
    # a signal 0 everywhere: its IC NaN, its books chosen by how ties break, reported as returns
    e = errors_of(sample, DATA + "[signal]\nweights = { value = 0.0, momentum = 0.0 }\n")
    assert one(e) == ("signal.weights: every weight is 0, so the signal would be 0 everywhere (its books chosen "
                      "by how ties break); give at least one style a non-zero weight")


def test_threads_and_portfolio_date_out_of_range_are_config_errors(sample):
    # both passed the check and failed the run later (exit 1, a traceback for threads)
    from ferrofactor._threads import MAX_THREADS

    e = errors_of(sample, f"threads = {MAX_THREADS + 1}\n" + DATA)
    assert one(e) == f"threads: must be <= {MAX_THREADS}, got {MAX_THREADS + 1}"
    text = DATA.replace("[data]\n", '[data]\nstart = "2015-09-01"\nend = "2016-06-30"\n', 1)
    e = errors_of(sample, text + '[portfolio]\ndate = "2015-06-01"\n')
    assert one(e) == "portfolio.date: 2015-06-01 is before data.start 2015-09-01"
    e = errors_of(sample, text + '[portfolio]\ndate = "2016-07-01"\n')
    assert one(e) == "portfolio.date: 2016-07-01 is after data.end 2016-06-30"


def test_a_key_written_in_the_wrong_section_names_its_section(sample, capsys):
    """TOML puts every key written after a [section] line into that section, so `threads = 2`
    appended at the end of a file became data.threads (or report.threads), refused with "did you
    mean 'shares'?": a suggestion of a different setting for one that exists, elsewhere. A key of
    another section (or of the top level) now says where it belongs."""
    e = errors_of(sample, DATA + "threads = 2\n")
    assert one(e) == "data.threads: unknown key; threads is a setting of the top level (write it above the " \
                     "first [section] line)"
    e = errors_of(sample, DATA + "[risk]\nlag = 2\n")
    assert one(e) == "risk.lag: unknown key; lag is a setting of [model]"
    e = errors_of(sample, DATA + "[signal]\nportfolios = 3\nwindow = 5\n")
    assert e == ["signal.portfolios: unknown key; portfolios is a setting of [validation]",
                 "signal.window: unknown key; window is a setting of [exposures] and of [validation]"]
    e = errors_of(sample, "rebalance = \"weekly\"\n" + DATA)
    assert one(e) == "rebalance: unknown key; rebalance is a setting of [backtest]"
    # the command says it too, exit 2
    (sample / "w.toml").write_text(DATA + "[report]\nout = \"never\"\nthreads = 2\n")
    assert main(["run", str(sample / "w.toml")]) == 2
    assert "report.threads: unknown key; threads is a setting of the top level" in capsys.readouterr().err


def test_unknown_keys_and_sections_suggest_the_closest(sample):
    e = errors_of(sample, DATA + "[model]\nlagg = 2\n")
    assert one(e) == "model.lagg: unknown key; did you mean 'lag'?"
    e = errors_of(sample, DATA + "[modle]\nlag = 2\n")
    assert one(e) == "modle: unknown section; did you mean 'model'?"
    e = errors_of(sample, "thread = 2\n" + DATA)
    assert one(e) == "thread: unknown key; did you mean 'threads'?"
    e = errors_of(sample, DATA + "[risk]\nzzz = 1\n")
    assert one(e).startswith("risk.zzz: unknown key; known: corr_half_life, min_periods, n_cap_groups")
    e = errors_of(sample, DATA + "[exposures.styles.value]\nbook_to_markt = 1.0\n")
    assert one(e) == "exposures.styles.value.book_to_markt: unknown descriptor; did you mean 'book_to_market'?"
    e = errors_of(sample, DATA + "[signal.weights]\nvalu = 1.0\n")
    assert one(e) == "signal.weights.valu: not a style of exposures.styles; did you mean 'value'?"


def _with(extra: str) -> str:
    """DATA plus ``extra``: lines of [data] start with "data:", a top-level key with "top:"."""
    if extra.startswith("data:"):
        return DATA + extra[5:]
    if extra.startswith("top:"):
        return extra[4:] + DATA
    return DATA + extra


def test_wrong_types_name_the_key_and_what_was_given(sample):
    cases = {
        "[model]\nlag = \"1\"\n": "model.lag: expected an integer, got a string ('1')",
        "[model]\nlag = 1.5\n": "model.lag: expected an integer, got a number (1.5)",
        "[portfolio]\nmax_weight = true\n": "portfolio.max_weight: expected a number, got a boolean (True)",
        "[report]\nplots = \"yes\"\n": "report.plots: expected true or false, got a string ('yes')",
        "[risk]\nnewey_west_lags = 5\n": "risk.newey_west_lags: expected an array, got an integer (5)",
        "[risk]\nnewey_west_lags = [5]\n": "risk.newey_west_lags: expected an array of two integers, got 1 items",
        "data:start = \"2020-13-01\"\n": "data.start: expected a date YYYY-MM-DD, got '2020-13-01'",
        "data:fundamental_fields = [\"book_value\", 2]\n": "data.fundamental_fields: expected an array of strings, got 2",
        "[exposures]\nstyles = 3\n": "exposures.styles: expected a table of style = {descriptor = weight}, got 3",
        "top:model = 3\n": "model: expected a section [model], got an integer (3)",
    }
    for text, msg in cases.items():
        e = one(errors_of(sample, _with(text)))
        assert e.startswith(msg), (e, msg)
    # TOML's own date-times: one at midnight is its date, any other time of day is refused (never
    # cut to its day), and a time of day alone is no date
    assert one(errors_of(sample, _with("data:start = 2020-01-02T18:00:00\n"))).startswith(
        "data.start: expected a date, got the date-time 2020-01-02T18:00:00: a time of day other than "
        "midnight is never cut to its day; write the date (2020-01-02)")
    assert "2020-01-02T09:30:00-05:00" in one(errors_of(sample, _with("data:end = 2020-01-02T09:30:00-05:00\n")))
    assert one(errors_of(sample, _with("data:start = 09:30:00\n"))).startswith(
        "data.start: expected a date YYYY-MM-DD, got the time of day 09:30:00")
    assert one(errors_of(sample, _with("data:start = 2020\n"))).startswith(
        "data.start: expected a string, got an integer (2020) (a date is written 2020-01-31")


def test_toml_dates_are_dates(sample):
    """``start = 2020-03-02`` (a TOML date) means what ``start = "2020-03-02"`` does; so does a
    date-time at midnight (its wall time, with or without an offset)."""
    quoted = C.load_config(_write(sample, DATA + 'start = "2020-03-02"\nend = "2020-06-30"\n'))
    assert (quoted["data"]["start"], quoted["data"]["end"]) == ("2020-03-02", "2020-06-30")
    for start, end in [("2020-03-02", "2020-06-30"), ("2020-03-02T00:00:00", "2020-06-30 00:00:00Z")]:
        cfg = C.load_config(_write(sample, DATA + f"start = {start}\nend = {end}\n"))
        assert (cfg["data"]["start"], cfg["data"]["end"]) == ("2020-03-02", "2020-06-30")


def test_values_out_of_range_and_bad_choices(sample):
    cases = {
        "[model]\nlag = -1\n": "model.lag: must be >= 0, got -1",
        "[portfolio]\npercentile = 0.7\n": "portfolio.percentile: must be <= 0.5, got 0.7",
        "[risk]\nvol_half_life = 0\n": "risk.vol_half_life: must be > 0, got 0.0",
        "[exposures]\nwinsorize_limit = nan\n": "exposures.winsorize_limit: must be finite, got nan",
        "[model]\nweights = \"sqrtcap\"\n": "model.weights: must be one of ['sqrt_cap', 'equal'], got 'sqrtcap'; did you mean 'sqrt_cap'?",
        "[report]\nimage_format = \"jpeg\"\n": "report.image_format: must be one of ['svg', 'png'], got 'jpeg'",
        "[exposures]\nwinsorize = \"quantile\"\nwinsorize_limit = 3.0\n":
            "exposures.winsorize_limit: must be below 0.5 with winsorize = \"quantile\", got 3.0",
        "[exposures.styles.value]\nbook_to_market = 0\n": "exposures.styles.value.book_to_market: a weight must not be 0",
        "[signal]\nhorizons = []\n": "signal.horizons: must name at least one horizon (e.g. horizons = [1, 5, 21])",
        "[signal]\nhorizons = [1, 5, 1]\n": "signal.horizons: must be distinct, got [1, 5, 1]",
        "[signal]\nhorizons = [0, 5]\n": "signal.horizons[0]: must be >= 1, got 0",
        "[signal]\nquantiles = 1\n": "signal.quantiles: must be >= 2, got 1",
        "[backtest]\nrebalance = \"quarterly\"\n":
            "backtest.rebalance: must be one of ['daily', 'weekly', 'monthly'], got 'quarterly'",
    }
    for text, msg in cases.items():
        assert one(errors_of(sample, DATA + text)) == msg


def test_a_column_named_for_two_roles_of_one_source_is_a_config_error(sample, tmp_path, capsys):
    """data.industry = "date" (the classifications' date column), data.report_date = "asset",
    data.delisting_date = "asset", data.close = "date" ...: the columns exist, so the configuration
    passed, and the load stage failed on Polars' "projections contained duplicate output name"
    (read as "could not read ... as parquet", the file blamed), or read the asset ids as prices.
    Each is refused before any work, under the setting the file sets, naming the other one."""
    msg = "is also the column of {} in data.{}: a column has one role (name another column)"
    cases = {
        'industry = "date"\n': "data.industry: 'date' " + msg.format("data.classification_date", "classifications"),
        'classification_date = "asset"\n': "data.classification_date: 'asset' " + msg.format("data.asset",
                                                                                            "classifications"),
        'report_date = "asset"\n': "data.report_date: 'asset' " + msg.format("data.asset", "fundamentals"),
        'close = "date"\n': "data.close: 'date' " + msg.format("data.date", "prices"),
        # the setting the file sets is named, not the default it collides with
        'date = "asset"\n': "data.date: 'asset' " + msg.format("data.asset", "prices"),
        'delistings = "sample/delistings.parquet"\ndelisting_date = "asset"\n':
            "data.delisting_date: 'asset' " + msg.format("data.asset", "delistings"),
        'delistings = "sample/delistings.parquet"\ndelisting_return = "delisting_date"\n':
            "data.delisting_return: 'delisting_date' " + msg.format("data.delisting_date", "delistings"),
    }
    for text, want in cases.items():
        assert one(errors_of(sample, DATA + text)) == want, text
    # (the same name in two sources is fine, and so is a close that is already adjusted)
    C.load_config(_write(sample, DATA + 'adjusted_close = "close"\n'))
    # the command: exit 2 naming the key, nothing written
    p = _write(sample, DATA + 'industry = "date"\n[report]\nout = "never"\n')
    assert main(["run", str(p)]) == 2
    assert "data.industry: 'date' is also the column of data.classification_date" in capsys.readouterr().err
    assert not (sample / "never").exists()


def test_missing_files_and_columns_name_the_key(sample):
    e = one(errors_of(sample, '[data]\nprices = "nope/*.parquet"\n'))
    assert e == f"data.prices: no file matches {str(sample / 'nope' / '*.parquet')!r}"
    e = one(errors_of(sample, DATA + 'close = "px"\n'))
    assert e.startswith("data.close: column 'px' is not in data.prices (columns: date, asset, close, volume, shares)")
    e = one(errors_of(sample, DATA + 'date = "dat"\n'))
    assert e.endswith("; did you mean 'date'?")
    e = one(errors_of(sample, DATA + 'industry = "sector"\n'))
    assert e.startswith("data.industry: column 'sector' is not in data.classifications")
    e = one(errors_of(sample, DATA + 'report_date = "published"\n'))
    assert e.startswith("data.report_date: column 'published' is not in data.fundamentals")
    e = errors_of(sample, DATA + 'fundamental_fields = ["book_value", "ebitda"]\n')
    assert e[0].startswith("data.fundamental_fields: column 'ebitda' is not in data.fundamentals")
    # the fields left out are missing for the styles' descriptors, each named
    assert all(m.startswith("exposures.styles.") and "data.fundamentals does not have" for m in e[1:]) and e[1:]
    # a style whose descriptor needs a column no source has
    pl.read_parquet(sample / "sample" / "fundamentals.parquet").drop("book_value").write_parquet(sample / "f2.parquet")
    e = errors_of(sample, DATA.replace("sample/fundamentals.parquet", "f2.parquet"))
    assert e == ["exposures.styles.value.book_to_market: the descriptor needs column 'book_value', which "
                 "data.fundamentals does not have",
                 "exposures.styles.quality.roe: the descriptor needs column 'book_value', which data.fundamentals "
                 "does not have"]
    e = one(errors_of(sample, '[data]\nprices = "sample/prices.parquet"\n[exposures.styles]\nvalue = {book_to_market = 1.0}\n'))
    assert e == ("exposures.styles.value.book_to_market: the descriptor needs column 'book_value', which "
                 "data.prices (and no data.fundamentals is set) does not have")
    # the required source
    e = one(errors_of(sample, "[model]\nlag = 1\n"))
    assert e == 'data.prices: required (e.g. prices = "prices.parquet")'
    # a file that is not what its extension says
    (sample / "bad.parquet").write_text("not parquet")
    e = one(errors_of(sample, '[data]\nprices = "bad.parquet"\n'))
    assert e.startswith(f"data.prices: cannot read {str(sample / 'bad.parquet')!r} as parquet")


def test_sqlite_sources_are_checked_too(sample):
    db = sample / "u.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE IF NOT EXISTS prices (date TEXT, asset TEXT, close REAL, volume REAL, shares REAL)")
    con.commit()
    con.close()
    e = one(errors_of(sample, '[data]\nconnection = "sqlite:///missing.db"\nprices = "SELECT * FROM prices"\n'))
    assert e == f"data.connection: SQLite database {str(sample / 'missing.db')!r} does not exist"
    e = one(errors_of(sample, '[data]\nconnection = "sqlite:///u.db"\nprices = "SELECT * FROM prics"\n'))
    assert e.startswith(f"data.prices: the query failed on {str(db)!r}: no such table: prics")
    e = errors_of(sample, '[data]\nconnection = "sqlite:///u.db"\nprices = "SELECT date, asset, close AS px FROM prices"\n')
    assert e[0].startswith("data.close: column 'close' is not in data.prices (columns: date, asset, px)")
    assert e[1].startswith("data.shares: column 'shares' is not in data.prices")
    e = one(errors_of(sample, '[data]\nconnection = "u.db"\nprices = "SELECT * FROM prices"\n'))
    assert e.startswith("data.connection: 'u.db' is not a database URI")
    cfg = C.load_config(_write(sample, '[data]\nconnection = "sqlite:///u.db"\nprices = "SELECT * FROM prices"\n'
                                      '[exposures.styles]\nmomentum = {momentum_12_1 = 1.0}\n'
                                      '[signal.weights]\nmomentum = 1.0\n'))
    assert cfg["data"]["connection"] == "sqlite:///u.db"



def test_a_sqlite_database_in_a_folder_with_uri_characters_is_checked_and_read(tmp_path):
    """A '#' or '?' in the database's path ended SQLite's file: URI there: the check reported
    "no such table: prices" for a database that has it, and created an empty file beside the
    folder ('data ' for 'data #1'), outside the configuration's directory."""
    d = tmp_path / "data #1?"
    d.mkdir()
    con = sqlite3.connect(d / "u.db")
    con.execute("CREATE TABLE prices (date TEXT, asset TEXT, close REAL, volume REAL, shares REAL)")
    con.executemany("INSERT INTO prices VALUES (?, ?, ?, ?, ?)",
                    [(f"2024-01-0{t}", a, 10.0 + t, 100.0, 5.0) for t in range(1, 6) for a in "AB"])
    con.commit()
    con.close()
    cfg = C.load_config(_write(d, '[data]\nconnection = "sqlite:///u.db"\nprices = "SELECT * FROM prices"\n'
                                  '[exposures.styles]\nmomentum = {momentum_12_1 = 1.0}\n'))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data #1?"]
    from ferrofactor.pipeline import _load

    assert _load(cfg).shape == (5, 2)


def _write(d: Path, text: str) -> Path:
    p = d / "ok.toml"
    p.write_text(text)
    return p


def test_every_error_is_reported_at_once(sample):
    """Key errors, missing files and missing columns come in one report: the sources are checked
    whenever the [data] settings themselves are valid, whatever the errors of other sections (a
    missing file used to show up only on the next run, after the key errors were fixed)."""
    e = errors_of(sample, '[data]\nprices = "nope.parquet"\n[model]\nlagg = 1\nweights = "x"\n[risk]\nshrinkage = -1\n')
    assert [m.split(":")[0] for m in e] == ["model.lagg", "model.weights", "risk.shrinkage", "data.prices"]
    e = errors_of(sample, '[data]\nprices = "nope.parquet"\nfundamentals = "nope2.parquet"\n')
    assert [m.split(":")[0] for m in e] == ["data.prices", "data.fundamentals"]
    # the audit's case: a missing fundamentals file, an unknown key in [data] and a wrong type
    e = errors_of(sample, DATA.replace("sample/fundamentals.parquet", "sample/no_such_file.parquet")
                  + 'industy = "sector"\n[model]\nlag = "1"\n')
    assert e == ["data.industy: unknown key; did you mean 'industry'?",
                 "model.lag: expected an integer, got a string ('1')",
                 f"data.fundamentals: no file matches {str(sample / 'sample' / 'no_such_file.parquet')!r}"]
    # and a missing column beside an error of another section (styles unusable: no descriptor check)
    e = errors_of(sample, DATA + 'close = "px"\n[exposures]\nstyles = 3\n')
    assert [m.split(":")[0] for m in e] == ["exposures.styles", "data.close"]
    # a [data] value that is wrong itself: the sources are not read with it
    e = errors_of(sample, '[data]\nprices = "nope.parquet"\nformat = "xls"\n')
    assert [m.split(":")[0] for m in e] == ["data.format"]


def test_not_toml_and_no_file(sample):
    e = one(errors_of(sample, "[data\nprices = 1\n"))
    assert e.startswith("config: not valid TOML:")
    with pytest.raises(C.ConfigError, match="config: no such file"):
        C.load_config(sample / "missing.toml")


def test_a_configuration_saved_with_a_byte_order_mark_reads_as_without(sample):
    """Windows editors and PowerShell's Out-File save UTF-8 with a byte-order mark: the file
    was refused as "config: not valid TOML: Invalid statement (at line 1, column 1)", a line
    that reads correctly in any editor. The mark is no content; other encodings still fail."""
    text = DATA.replace("\n", "\r\n") + "[model]\r\nlag = 2\r\n"
    (sample / "bom.toml").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (sample / "plain.toml").write_bytes(text.encode())
    bom, plain = C.load_config(sample / "bom.toml"), C.load_config(sample / "plain.toml")
    assert bom.values == plain.values and bom["model"]["lag"] == 2
    (sample / "utf16.toml").write_bytes(text.encode("utf-16"))
    with pytest.raises(C.ConfigError, match="config: not UTF-8 text"):
        C.load_config(sample / "utf16.toml")


# ---------------------------------------------------------------------------------------------
# the command: exit 2, every error printed with its key, nothing written
# ---------------------------------------------------------------------------------------------


def test_run_with_a_bad_config_exits_2_and_writes_nothing(sample, capsys, monkeypatch):
    monkeypatch.chdir(sample)
    before = sorted(os.listdir(sample))
    p = sample / "bad.toml"
    p.write_text(DATA + '[model]\nlagg = 2\n[report]\nout = "out"\n')
    assert main(["run", str(p), "--out", str(sample / "o")]) == 2
    err = capsys.readouterr().err
    assert "model.lagg: unknown key; did you mean 'lag'?" in err
    assert main(["run", str(p), "--json"]) == 2
    cap = capsys.readouterr()
    import json

    j = json.loads(cap.out)
    assert j == {"command": "run", "status": "config_error", "exit_code": 2,
                 "errors": ["model.lagg: unknown key; did you mean 'lag'?"], "config": str(p)}
    after = sorted(os.listdir(sample))
    assert after == sorted(before + ["bad.toml"])  # no output directory, nothing else


# ---------------------------------------------------------------------------------------------
# the documented reference and the example
# ---------------------------------------------------------------------------------------------


def test_examples_config_is_the_generated_reference():
    assert (ROOT / "examples" / "config.toml").read_text() == C.example_toml(), (
        "examples/config.toml is out of date: regenerate it with "
        "python -c 'import ferrofactor.config as c; print(c.example_toml(), end=\"\")' > examples/config.toml")


def _documented(ref: str) -> dict[tuple[str, str], str]:
    """(section, key) → its documentation text (comment lines joined), from the reference."""
    out: dict[tuple[str, str], str] = {}
    section, key = "", None
    for line in ref.splitlines():
        if line.startswith("["):
            section, key = line.strip("[]"), None
        elif (m := re.match(r"^# ([a-z_]+): (.*)$", line)):
            key = m.group(1)
            out[(section, key)] = m.group(2)
        elif line.startswith("#   ") and key is not None:
            out[(section, key)] += " " + line[4:]
        else:
            key = None
    return out


def test_every_setting_is_documented_with_its_default():
    docs = _documented(C.reference_toml())
    assert set(docs) == {(sec, k) for sec, settings in C.SCHEMA.items() for k in settings}
    for (sec, key), doc in docs.items():
        s = C.SCHEMA[sec][key]
        assert "Default: " in doc, (sec, key)
        d = C._default(s)
        if not s.required and d is not None and s.kind not in ("styles", "float_table") and "Default: " + "none" not in doc:
            shown = doc.rsplit("Default: ", 1)[1].rstrip(".")
            assert shown == C._toml_value(d), (sec, key, shown)


def test_the_commented_defaults_uncommented_are_the_defaults():
    """Uncommenting every ``# key = value`` line of the reference whose setting has a default
    gives a configuration equal to the defaults (the documentation shows the real defaults)."""
    lines = []
    for line in C.reference_toml().splitlines():
        m = re.match(r"^# ([a-z_]+(?:\.[a-z_]+)?) = (.*)$", line)
        if m:
            key = m.group(1).split(".")[0]
            section = lines_section(lines)
            s = C.SCHEMA[section][key]
            if s.default is None or s.required:
                continue  # an example, not a default
            lines.append(f"{m.group(1)} = {m.group(2)}")
        elif line.startswith("["):
            lines.append(line)
    text = "\n".join(lines) + '\n'
    import tomllib

    raw = tomllib.loads(text)
    got = C.validate(raw, check_data=False, require_data=False)
    want = C.default_config()
    assert got.values == want.values
    # every setting with a default was written
    n = sum(1 for sec in C.SCHEMA.values() for s in sec.values() if s.default is not None and not s.required)
    assert sum(1 for ln in lines if " = " in ln) - (len(want["exposures"]["styles"]) - 1) == n


def lines_section(lines: list[str]) -> str:
    for ln in reversed(lines):
        if ln.startswith("["):
            return ln.strip("[]")
    return ""


def test_null_values_reads_csv_markers_as_missing(sample):
    """data.null_values: the CSV cells read as missing (R's NA), passed to every reader; without
    it the load stage names the marker and the setting."""
    prices = pl.read_parquet(sample / "sample/prices.parquet")
    prices = prices.with_columns(pl.when(pl.int_range(pl.len()) % 50 == 0).then(None).otherwise(pl.col("close"))
                                 .alias("close"))
    prices.write_csv(sample / "prices_na.csv", null_value="NA")
    text = DATA.replace("sample/prices.parquet", "prices_na.csv")
    cfg = C.load_config(_write(sample, text + 'null_values = ["NA"]\n'))
    assert cfg["data"]["null_values"] == ["NA"]
    assert C.load_config(_write(sample, text))["data"]["null_values"] is None  # default: none
    assert one(errors_of(sample, text + 'null_values = "NA"\n')) == (
        "data.null_values: expected an array, got a string ('NA')")
    assert one(errors_of(sample, text + 'null_values = ["NA", 0]\n')) == (
        "data.null_values: expected an array of strings, got 0")
    from ferrofactor.pipeline import _load

    panel = _load(cfg)
    want = ff.read_universe(prices, sample / "sample/fundamentals.parquet", sample / "sample/classifications.parquet")
    assert panel.equals(want)
    assert np.isnan(panel["close"]).sum() > np.isnan(ff.datasets.load_sample(sample / "sample")["close"]).sum()
    with pytest.raises(ValueError, match=r"column 'close' \(String\) is neither numeric nor categorical: it holds "
                                         r"text such as 'NA' \(a missing-value marker\? pass null_values=\['NA'\], "
                                         r"data.null_values in a config\)"):
        _load(C.load_config(_write(sample, text)))
    # the reference documents it (CSV only, every column)
    doc = _documented(C.reference_toml())[("data", "null_values")]
    assert "CSV files only" in doc and "every column" in doc and "Default: none" in doc


def test_a_directory_source_is_checked_as_read_universe_reads_it(sample):
    """ff.read_universe reads a directory of Parquet files (hive partitions prices/year=2020/...)
    as one dataset, Parquet by default; the configuration check refused it ("cannot tell the
    format of '.../prices' from its extension; set data.format") and a run could not use it."""
    px = pl.read_parquet(sample / "sample" / "prices.parquet")
    for (year,), part in px.with_columns(pl.col("date").dt.year().alias("y")).group_by("y"):
        (sample / "px" / f"year={year}").mkdir(parents=True, exist_ok=True)
        part.drop("y").write_parquet(sample / "px" / f"year={year}" / "part-0.parquet")
    text = DATA.replace('"sample/prices.parquet"', '"px"')
    cfg = C.load_config(_write(sample, text))
    from ferrofactor.pipeline import _load

    want = ff.read_universe(str(sample / "sample" / "prices.parquet"), str(sample / "sample" / "fundamentals.parquet"),
                            str(sample / "sample" / "classifications.parquet"))
    got = _load(cfg)
    assert got.fields == want.fields and "year" not in got.fields
    np.testing.assert_array_equal(got["returns"], want["returns"])
    # a missing column is still named; an empty directory is an error of the key
    e = one(errors_of(sample, text + 'close = "px_close"\n'))
    assert e.startswith("data.close: column 'px_close' is not in data.prices (columns: date, asset, close")
    (sample / "empty").mkdir()
    e = one(errors_of(sample, DATA.replace('"sample/prices.parquet"', '"empty"')))
    assert e.startswith(f"data.prices: no Parquet file (*.parquet, *.pq) below directory {str(sample / 'empty')!r}")


def test_price_fields_that_leave_out_an_input_of_the_model_are_configuration_errors(sample):
    """data.price_fields reads only the listed columns, so the fields derived from the others
    are not made: price_fields = ["close", "volume"] (shares left out) passed the check and the
    run failed in its exposures stage ("panel has no field 'market_cap'", exit 1); a descriptor
    needing dollar_volume with the volume left out passed too."""
    base = DATA
    e = one(errors_of(sample, base + 'price_fields = ["close", "volume"]\n'))
    assert e == ("data.price_fields: leaves out 'shares' (data.shares), so no market_cap = close × shares is made, "
                 "and there is no market_cap column among them: the model needs market caps")
    e = errors_of(sample, base + 'price_fields = ["shares", "volume"]\n')
    assert e == ["data.price_fields: leaves out 'close' (data.close), the column the returns come from",
                 "data.price_fields: leaves out 'close' (data.close), so no market_cap = close × shares is made, "
                 "and there is no market_cap column among them: the model needs market caps"]
    e = one(errors_of(sample, base + 'price_fields = ["close", "shares"]\n[exposures.styles]\nliq = {log_dollar_volume = 1.0}\n'))
    assert e.startswith("exposures.styles.liq.log_dollar_volume: the descriptor needs column 'dollar_volume'")
    # listing what the model needs is fine
    assert C.load_config(_write(sample, base + 'price_fields = ["close", "shares"]\n'))


def test_the_reports_configuration_reads_back_as_the_same_configuration(sample):
    """Config.to_toml (the report's "Configuration (defaults filled in)") wrote a column
    switched off with "" (data.shares = "": market caps from the market_cap column) as a comment,
    so the text read back was data.shares = "shares": a run of the report's configuration made
    market_cap = close × shares instead of using the file's market_cap column."""
    import tomllib

    px = pl.read_parquet(sample / "sample" / "prices.parquet")
    px.with_columns(market_cap=pl.col("close") * pl.col("shares")).write_parquet(sample / "mcap.parquet")
    text = DATA.replace("sample/prices.parquet", "mcap.parquet") + 'shares = ""\nvolume = ""\n'
    cfg = C.load_config(_write(sample, text + "[risk]\nvra_half_life = 42.0\n"))
    assert cfg["data"]["shares"] is None and cfg["data"]["volume"] is None
    toml = cfg.to_toml()
    assert 'shares = ""  # none (market caps from the market_cap column)' in toml.splitlines()
    assert 'volume = ""  # none (no dollar volume)' in toml.splitlines()
    again = C.validate(tomllib.loads(toml), base=str(sample))
    assert again.values == cfg.values
    # (and the defaults: every setting, unset ones included, reads back as itself)
    cfg = C.load_config(_write(sample, DATA))
    assert C.validate(tomllib.loads(cfg.to_toml()), base=str(sample)).values == cfg.values


def test_a_style_named_market_with_a_market_factor_is_a_config_error(sample, capsys):
    """A style named "market" beside the market factor (model.market = true, the default) passed
    the configuration; the exposures stage then failed (exit 1) with "factor names must be
    unique; repeated: ['market']", naming neither setting."""
    text = DATA + "[exposures.styles]\nmarket = {beta = 1.0}\nmomentum = {momentum_3_1 = 1.0}\n"
    e = one(errors_of(sample, text))
    assert e == ('exposures.styles.market: "market" is the name of the market factor (model.market = true): '
                 "name the style otherwise")
    p = _write(sample, text + '[report]\nout = "never"\n')
    assert main(["run", str(p)]) == 2
    assert not (sample / "never").exists()
    capsys.readouterr()
    # without a market factor the name is free
    cfg = C.load_config(_write(sample, text + "[model]\nmarket = false\n"))
    assert list(cfg["exposures"]["styles"]) == ["market", "momentum"]


def test_a_database_uri_without_its_reader_installed_is_a_config_error(sample, monkeypatch, capsys):
    """data.connection = "postgresql://..." (documented: "other URIs need connectorx") without
    connectorx passed the configuration, and the load stage failed (exit 1) advising to "pass an
    open DB-API/SQLAlchemy connection object as connection=", which a configuration cannot. It
    is a configuration error now (exit 2), naming the package; with it installed the columns
    are still checked when the query runs."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "connectorx" else real(name, *a))
    text = ('[data]\nconnection = "postgresql://user:pw@db.example:5432/market"\nprices = "SELECT * FROM prices"\n'
            '[exposures.styles]\nmomentum = {momentum_3_1 = 1.0}\n[report]\nout = "never"\n')
    e = one(errors_of(sample, text))
    assert e == ("data.connection: a 'postgresql' URI is read with connectorx, which is not installed (pip install "
                 "connectorx); sqlite:/// URIs need nothing extra")
    assert main(["run", str(_write(sample, text))]) == 2
    assert "data.connection: a 'postgresql' URI is read with connectorx" in capsys.readouterr().err
    assert not (sample / "never").exists()
    # installed: nothing to check before the query runs
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "connectorx" else real(name, *a))
    cfg = C.load_config(_write(sample, text))
    assert cfg["data"]["connection"].startswith("postgresql://")


def test_writing_one_style_leaves_out_the_other_default_styles_and_the_reference_says_so(sample):
    """examples/config.toml shows the four default styles as four commented lines under "remove
    the `#` to change it, leave it out to keep the default": uncommenting styles.value to change
    its weights silently dropped momentum, quality and low_vol from the model and the signal (the
    styles written are the whole table), which nothing said. The behaviour is kept (it is how a
    model with fewer styles is written) and the reference now states it beside the lines."""
    cfg = C.load_config(_write(sample, DATA + "[exposures]\nstyles.value = { book_to_market = 1.0 }\n"))
    assert list(cfg["exposures"]["styles"]) == ["value"] and cfg["signal"]["weights"] == {"value": 1.0}
    text = " ".join(line.lstrip("# ").strip() for line in C.reference_toml().splitlines())
    assert ("The styles written are all the styles: writing one (styles.value = ...) leaves out every default "
            "style not written too, so to change one of them write all four.") in text
    assert (ROOT / "examples" / "config.toml").read_text() == C.example_toml()


def test_a_field_list_with_a_key_column_or_a_repeated_column_is_a_config_error(sample, capsys):
    """data.price_fields listing the date or asset column, or a column twice, and
    data.fundamental_fields listing the asset or report-date column, or a column twice, passed
    the configuration (the columns exist) and failed the load stage (exit 1) on "field 'date' is
    not numeric", "listed more than once in fields/codes" or Polars' duplicate output name
    (reported as "could not read ... as parquet", blaming the file)."""
    cases = {
        'price_fields = ["date", "close", "shares"]\n':
            "data.price_fields: lists 'date', the column of data.date in data.prices: the fields are its value columns",
        'price_fields = ["asset", "close", "shares"]\n':
            "data.price_fields: lists 'asset', the column of data.asset in data.prices: the fields are its value "
            "columns",
        'price_fields = ["close", "shares", "close"]\n': "data.price_fields: lists 'close' more than once",
        'fundamental_fields = ["report_date", "book_value"]\n':
            "data.fundamental_fields: lists 'report_date', the column of data.report_date in data.fundamentals: the "
            "fields are its value columns",
        'fundamental_fields = ["book_value", "book_value"]\n': "data.fundamental_fields: lists 'book_value' more than once",
    }
    styles = "[exposures.styles]\nvalue = {book_to_market = 1.0}\n"
    for text, want in cases.items():
        assert one(errors_of(sample, DATA + text + styles)) == want, text
    p = _write(sample, DATA + 'fundamental_fields = ["book_value", "book_value"]\n' + styles + '[report]\nout = "never"\n')
    assert main(["run", str(p)]) == 2
    assert "data.fundamental_fields: lists 'book_value' more than once" in capsys.readouterr().err
    assert not (sample / "never").exists()


def test_a_price_column_named_like_a_derived_field_is_a_config_error(sample, capsys):
    """Prices with both a shares and a market_cap column (common in vendor files), or with a
    returns column, passed the configuration, and the load stage failed (exit 1): "field
    'market_cap' comes from two sources: prices and the derived price fields ...; rename or leave
    out one of them (price_fields=, fundamental_fields=, shares=None/volume=None)", in the API's
    words. The configuration refuses them (exit 2), naming the setting that resolves each."""
    px = pl.read_parquet(sample / "sample" / "prices.parquet")
    px.with_columns(market_cap=pl.col("close") * pl.col("shares"), dollar_volume=pl.col("close") * pl.col("volume"),
                    returns=pl.col("close").pct_change().over("asset")).write_parquet(sample / "derived.parquet")
    data = DATA.replace("sample/prices.parquet", "derived.parquet")
    e = errors_of(sample, data)
    assert e == [
        ("data.shares: data.prices has a market_cap column as well as the column 'shares' (market_cap = close × "
         "shares): two market_cap fields; set shares = \"\" to use the market_cap column, or leave one of them out "
         "of data.price_fields"),
        ("data.volume: data.prices has a dollar_volume column as well as the column 'volume' (dollar_volume = "
         "close × volume): two dollar_volume fields; set volume = \"\" to use the dollar_volume column, or leave "
         "one of them out of data.price_fields"),
        ("data.price_fields: data.prices has a 'returns' column, and the returns are computed from data.close: "
         "leave it out of data.price_fields (list the columns to keep)")]
    p = _write(sample, data + '[report]\nout = "never"\n')
    assert main(["run", str(p)]) == 2
    assert "data.shares: data.prices has a market_cap column" in capsys.readouterr().err
    assert not (sample / "never").exists()
    # each way out the messages name is a valid configuration
    C.load_config(_write(sample, data + 'shares = ""\nvolume = ""\nprice_fields = ["close", "market_cap", '
                                        '"dollar_volume"]\n'))
    C.load_config(_write(sample, data + 'price_fields = ["close", "shares", "volume"]\n'))


def test_a_fundamental_field_named_like_a_price_field_or_not_numeric_is_a_config_error(sample, capsys):
    """Fundamentals with a column named like a price field (shares outstanding from the filings
    as 'shares', a 'market_cap') passed the configuration and failed the load stage (exit 1) with
    "field 'shares' comes from two sources: prices and fundamentals; rename or leave out one of
    them (price_fields=, fundamental_fields=, ...)"; a date column listed in
    data.fundamental_fields failed it with "field 'fiscal_period_end' is not numeric". Both are
    configuration errors now (exit 2), naming data.fundamental_fields."""
    f = pl.read_parquet(sample / "sample" / "fundamentals.parquet")
    f.with_columns(shares=pl.col("book_value") / 10, market_cap=pl.col("book_value") * 3,
                   note=pl.lit("restated")).write_parquet(sample / "fsh.parquet")
    data = DATA.replace("sample/fundamentals.parquet", "fsh.parquet")
    e = errors_of(sample, data)
    assert e == [
        ("data.fundamental_fields: data.fundamentals has a column 'market_cap', which is also a price field (derived "
         "from data.prices): a field has one source; list the fundamentals' columns to keep in data.fundamental_fields"),
        ("data.fundamental_fields: data.fundamentals has a column 'shares', which is also a price field (of "
         "data.prices): a field has one source; list the fundamentals' columns to keep in data.fundamental_fields "
         "(or leave it out of data.price_fields)")]  # (the text column 'note' is no field: not named)
    p = _write(sample, data + '[report]\nout = "never"\n')
    assert main(["run", str(p)]) == 2
    assert "data.fundamental_fields: data.fundamentals has a column 'market_cap'" in capsys.readouterr().err
    assert not (sample / "never").exists()
    keep = '["book_value", "earnings", "revenue", "net_income", "total_assets", "total_liabilities", "operating_cash_flow"]'
    C.load_config(_write(sample, data + f"fundamental_fields = {keep}\n"))
    e = one(errors_of(sample, DATA + 'fundamental_fields = ["fiscal_period_end", "book_value"]\n'
                      "[exposures.styles]\nvalue = {book_to_market = 1.0}\n"))
    assert e == ("data.fundamental_fields: column 'fiscal_period_end' of data.fundamentals is not numeric (a date or "
                 "text): the fields are numbers")
