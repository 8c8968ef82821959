"""Reading users' data into Panels: prices, point-in-time fundamentals, classifications.

:func:`read_universe` is the one call: prices, the fields derived from them, point-in-time
fundamentals and industry classifications, in one :class:`~ferrofactor.Panel`. Its building
blocks are public too: :func:`read_panel` (long data → Panel), :func:`read_fundamentals`
(as-of join of reports onto a panel's axes) and :func:`read_classifications` (codes over time).

Time convention
---------------
A panel row ``t`` holds what is known at the close of date ``t``. ``returns[t]`` runs from close
``t-1`` to close ``t``; anything that explains ``returns[t]`` must come from row ``t-1`` or
earlier (the model stages lag explicitly). Fundamentals and classifications are placed on rows
by their *availability*, never by the period they describe:

    available(record) = report_date + report_lag_days        (calendar days)
    value[t, asset]   = the asset's latest record with available <= dates[t],
                        if dates[t] - available <= max_staleness, else NaN

The fiscal period end plays no part in visibility (filtering on it is the classic look-ahead
bug: a quarter that ended before date t but was reported after t would leak into t).

Sources
-------
Every reader takes the same ``source`` forms:

- a path or glob of Parquet (``.parquet``, ``.pq``), CSV (``.csv``, ``.tsv``, ``.txt``) or Arrow
  IPC (``.arrow``, ``.ipc``, ``.feather``) files, read lazily with only the needed columns
  (CSV asset ids and dates are read as text). A reader of one source takes ``format=`` over
  the extension; :func:`read_universe` (and ``data.format`` of ``ferrofactor run``), whose one
  setting serves several sources, applies it to the files whose extension does not tell
  (``prices.dat``, ``prices.csv.gz``): a path whose extension names a format keeps it. CSV
  cells are missing when empty; ``null_values=`` (a string or a list of strings, e.g. ``"NA"``
  as R's ``write.csv`` writes) names further markers, read as missing in every column of every
  CSV file of the call (asset ids and dates included); it does not apply to Parquet, IPC,
  frames or SQL, whose nulls are their own;
- a directory: every file of its format below it, at any depth, as one dataset (the rule of
  ``ff.dask.read_universe``, so the same path works in memory and on Dask). The format is
  ``format=``, else the directory's own extension (``prices.csv/``), else Parquet: ``prices/``
  reads ``prices/**/*.parquet`` and ``*.pq``. Folder names such as hive partitions
  (``year=2020/``) are storage layout and never become columns; other files (``_SUCCESS``,
  notes) are not read;
- a Polars ``DataFrame`` or ``LazyFrame``;
- a SQL query string with ``connection=``: either a DB-API / SQLAlchemy connection object
  accepted by ``polars.read_database`` (tested with the standard library's ``sqlite3``), or a
  database URI. SQLite URIs ``sqlite:///relative/path.db`` / ``sqlite:////absolute/path.db`` are
  opened read-only with the standard library's ``sqlite3`` (no extra package); other URIs
  (``postgresql://``, ``mysql://``, ...) go to ``polars.read_database_uri``, which needs
  ``connectorx`` installed. With ``connection=`` every plain ``str`` source is a query (an
  ``os.PathLike`` source is still a file);
- a ``(query, connection)`` tuple: a query with its own connection, so files and databases
  can be mixed in one :func:`read_universe` call (the tuple's connection wins over
  ``connection=``).

Errors of Polars and of the database (an empty CSV, a CSV read with ``format="parquet"``, files
of a glob with different schemas, bad SQL, a missing table) are re-raised as ``ValueError``
naming the path or query, with the original message (the original exception is chained); a
CSV cell that does not parse as the dtype inferred from the first rows (``NA`` far down a
numeric column) is named, with the ``null_values=`` that reads it as missing.

Dates
-----
Date columns may be ``Date``, ``Datetime`` or ISO text (``YYYY-MM-DD``, optionally followed by
a time ``HH:MM:SS`` after a space or ``T``). A date is a day: a timestamp at midnight (for a zoned
``Datetime``, midnight in its zone) is its date, and one with any other time of day is refused
with a ``ValueError`` naming the column and how to convert (``pl.col(c).dt.date()``), never cut
to its day: a report stamped 18:00 is not known at that day's close. Any other
text, and integer dates such as ``20240102``, need ``date_format=`` (a strftime format as Polars'
``str.to_date`` takes: ``'%m/%d/%Y'``, ``'%d.%m.%Y'``, ``'%Y%m%d'``); every value must then
match it. Dates are never guessed: in ``'01/02/2024'`` the day/month order is ambiguous, and a
US date read as day/month would make a report visible months before it was published. Dates
must lie between 1800-01-01 and 2300-12-31 and span at most 200 years.

Data are long: one row per (date, asset) with one column per field. The long → dense step is
O(rows) (see :mod:`ferrofactor.panel`).
"""

from __future__ import annotations

import glob as _glob
import os
import sqlite3
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

import numpy as np
import polars as pl

from ferrofactor import _core
from ferrofactor._validate import (
    as_field,
    as_float_array,
    check_bool,
    check_same_labels,
    check_shape,
    refuse_time_of_day,
)
from ferrofactor.panel import (
    _SHOW,
    Panel,
    _as_assets,
    _as_dates,
    _asset_codes,
    _check_code_column,
    _check_column_names,
    _check_date_format,
    _check_unique,
    _day_str,
    _first_text,
    _label_codes,
    _pandas_index_column,
    _panel_from_frame,
    _polars_errors,
    _no_rows,
    _refuse_if_empty,
    _refuse_masked,
    _schema,
    _series_to_days,
    _text_values_hint,
)

__all__ = [
    "dollar_volume",
    "market_cap",
    "read_classifications",
    "read_frame",
    "read_fundamentals",
    "read_panel",
    "read_universe",
    "returns_from_prices",
]

_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".arrow": "ipc",
    ".ipc": "ipc",
    ".feather": "ipc",
}

#: The extensions of each format's files, for a directory source.
_EXTENSIONS = {fmt: tuple(e for e, f in _FORMATS.items() if f == fmt) for fmt in ("parquet", "csv", "ipc")}
_FORMAT_NAMES = {"parquet": "Parquet", "csv": "CSV", "ipc": "Arrow IPC"}

# Calendar-day settings (report lags, staleness) beyond this are refused: ~2,700 years.
_MAX_DAYS = 1_000_000


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


def _split_source(source: Any, connection: Any) -> tuple[Any, Any]:
    """``(source, connection)`` with a ``(query, connection)`` tuple unpacked."""
    if isinstance(source, tuple):
        if len(source) != 2 or not isinstance(source[0], str):
            raise TypeError(
                "a tuple source must be (query, connection) with the query a string; got "
                f"a tuple of {len(source)} items"
            )
        if source[1] is None:
            raise TypeError("a (query, connection) source needs a connection, got None")
        return source[0], source[1]
    return source, connection


def _describe(source: Any, connection: Any = None, format: str | None = None) -> str:
    """How error messages name a source: the path (and format), the query, or the frame."""
    source, connection = _split_source(source, connection)
    if connection is not None and isinstance(source, str):
        return f"query {source!r}"
    if isinstance(source, pl.LazyFrame):
        return "the polars LazyFrame source"
    if isinstance(source, pl.DataFrame):
        return "the polars DataFrame source"
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if "://" not in path and os.path.isdir(path):
            return f"directory {path!r} as {_directory_format(path, format)}"
        fmt = format or _FORMATS.get(os.path.splitext(path)[1].lower())
        return f"{path!r} as {fmt}" if fmt else repr(path)
    return type(source).__name__


def _format_for(source: Any, format: str | None) -> str | None:
    """``format=`` of :func:`read_universe` (one setting for several sources) for one of its
    sources: the format of a file source whose extension does not tell. A path whose extension
    names a format (``.parquet``, ``.csv``, ...) keeps it, so one setting can serve sources of
    several formats (``prices.dat`` as CSV beside Parquet fundamentals); a directory takes it."""
    if format is not None and format not in ("parquet", "csv", "ipc"):
        raise ValueError(f"format must be one of ['csv', 'ipc', 'parquet'], got {format!r}")
    if format is not None and isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isdir(path) and os.path.splitext(path)[1].lower() in _FORMATS:
            return None
    return format


def _directory_format(path: str, format: str | None) -> str:
    """The format of a directory source: ``format``, else its own extension, else Parquet."""
    return format or _FORMATS.get(os.path.splitext(os.path.normpath(path))[1].lower()) or "parquet"


def _check_null_values(null_values: Any) -> list[str] | None:
    """``null_values=``: None, a str or a sequence of str (the CSV cells read as missing), as a
    list (None for none); anything else is a TypeError naming it."""
    if null_values is None:
        return None
    if isinstance(null_values, str):
        return [null_values]
    if (isinstance(null_values, (bytes, Mapping)) or not isinstance(null_values, Sequence)
            or not all(isinstance(v, str) for v in null_values)):
        raise TypeError(
            "null_values must be a str or a sequence of str (the CSV cells read as missing, e.g. 'NA'), "
            f"got {null_values!r}"
        )
    return list(null_values) or None


def _is_csv(source: Any, connection: Any, format: str | None) -> bool:
    """Whether ``source`` is read as CSV (a CSV file, glob or directory): where ``null_values=``
    applies, and so where an error message may suggest it."""
    source, connection = _split_source(source, connection)
    if (connection is not None and isinstance(source, str)) or not isinstance(source, (str, os.PathLike)):
        return False
    path = os.fspath(source)
    if "://" not in path and os.path.isdir(path):
        return _directory_format(path, format) == "csv"
    return (format or _FORMATS.get(os.path.splitext(path)[1].lower())) == "csv"


def _directory_files(path: str, fmt: str = "parquet") -> list[str]:
    """The files of format ``fmt`` below directory ``path``, at any depth, sorted: the names
    ending in one of its extensions (``*.parquet`` and ``*.pq`` for Parquet). Shared with
    ``ff.dask.read_universe``, so that a directory means the same files in memory and on Dask."""
    found: set[str] = set()
    for ext in _EXTENSIONS[fmt]:
        found.update(f for f in _glob.glob(os.path.join(path, "**", "*" + ext), recursive=True)
                     if os.path.isfile(f))
    return sorted(found)


def _read_directory(path: str, format: str | None, string_columns: Sequence[str],
                    null_values: list[str] | None = None) -> pl.LazyFrame:
    """A directory source (see the module docstring): its files of one format, one lazy frame."""
    fmt = _directory_format(path, format)
    if fmt not in _EXTENSIONS:
        raise ValueError(f"format must be one of ['csv', 'ipc', 'parquet'], got {fmt!r}")
    files = _directory_files(path, fmt)
    if not files:
        msg = (f"no {_FORMAT_NAMES[fmt]} file ({', '.join('*' + e for e in _EXTENSIONS[fmt])}) below "
               f"directory {path!r}")
        held = {other: [e for e in _EXTENSIONS[other] if _glob.glob(os.path.join(path, "**", "*" + e), recursive=True)]
                for other in _EXTENSIONS if other != fmt}
        held = {k: v for k, v in held.items() if v}
        if held:
            other, exts = next(iter(held.items()))
            msg += f"; it holds {', '.join(exts)} files: pass format={other!r} (or a glob)"
        raise FileNotFoundError(msg)
    with _polars_errors(f"directory {path!r} as {fmt}"):
        if fmt == "parquet":
            return pl.scan_parquet(files, hive_partitioning=False)
        if fmt == "ipc":
            return pl.scan_ipc(files, hive_partitioning=False)
        tabs = [f for f in files if f.lower().endswith(".tsv")]
        if tabs and len(tabs) != len(files):
            raise ValueError(
                f"directory {path!r} mixes comma-separated (.csv, .txt) and tab-separated (.tsv) "
                f"files, e.g. {tabs[0]!r}; pass a glob of one kind"
            )
        return pl.scan_csv(files, separator="\t" if tabs else ",",
                           schema_overrides={c: pl.String for c in string_columns}, null_values=null_values)


def read_frame(
    source: Any,
    *,
    connection: Any = None,
    format: str | None = None,
    string_columns: Sequence[str] = (),
    null_values: str | Sequence[str] | None = None,
) -> pl.DataFrame | pl.LazyFrame:
    """Open ``source`` as a Polars frame (lazy for files). See the module docstring for forms.

    Parameters
    ----------
    source : str, os.PathLike, polars DataFrame or LazyFrame, or (query, connection) tuple
        A path/glob, a directory (every file of its format below it, Parquet by default; see
        the module docstring), a frame, or a SQL query when ``connection`` is given (or in the
        tuple).
    connection : DB-API/SQLAlchemy connection or database URI, optional
        Makes a ``str`` source a SQL query.
    format : {"parquet", "csv", "ipc"}, optional
        File format; default from the extension (for a directory: its extension, else Parquet).
    string_columns : sequence of str
        CSV columns to read as strings (asset ids such as ``"00123"`` must not become integers).
    null_values : str or sequence of str, optional
        CSV cells read as missing besides empty ones (``"NA"``, ``["NA", "."]``), in every column
        (Polars' ``scan_csv(null_values=...)``). CSV files only: Parquet, IPC, frames and SQL
        keep their own nulls.

    Raises
    ------
    ValueError
        Unknown format, or Polars/the database could not read the source (message names the path
        or query and carries the original message).
    TypeError
        ``null_values`` neither a str nor a sequence of str.
    FileNotFoundError
        No file matches the path or glob; no file of the format below a directory (the message
        names the format to pass when the directory holds files of another one).
    """
    _check_names("string_columns", string_columns)
    nulls = _check_null_values(null_values)
    source, connection = _split_source(source, connection)
    if isinstance(source, (pl.DataFrame, pl.LazyFrame)):
        return source
    if connection is not None and isinstance(source, str):
        return _read_sql(source, connection)
    if connection is not None and not isinstance(source, os.PathLike):
        raise TypeError(
            "with connection=, source must be a SQL query string (or a polars frame, an os.PathLike "
            f"file path, or a (query, connection) tuple), got {type(source).__name__}"
        )
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            "source must be a path or glob, a polars DataFrame/LazyFrame, a SQL query with "
            f"connection=, or a (query, connection) tuple; got {type(source).__name__}"
        )
    path = os.fspath(source)
    if "://" not in path and os.path.isdir(path):
        return _read_directory(path, format, string_columns, nulls)
    fmt = format
    if fmt is None:
        ext = os.path.splitext(path)[1].lower()
        fmt = _FORMATS.get(ext)
        if fmt is None:
            raise ValueError(
                f"cannot tell the file format of {path!r} from its extension; pass format= "
                f"(one of {sorted(set(_FORMATS.values()))})"
            )
    if fmt not in ("parquet", "csv", "ipc"):
        raise ValueError(f"format must be one of ['csv', 'ipc', 'parquet'], got {fmt!r}")
    if "://" not in path and not _glob.glob(path, recursive=True):
        raise FileNotFoundError(f"no file matches {path!r}")
    with _polars_errors(f"{path!r} as {fmt}"):
        if fmt == "parquet":
            return pl.scan_parquet(path)
        if fmt == "ipc":
            return pl.scan_ipc(path)
        sep = "\t" if path.lower().endswith(".tsv") else ","
        return pl.scan_csv(path, separator=sep, schema_overrides={c: pl.String for c in string_columns},
                           null_values=nulls)


def _sql_errors(connection: Any) -> tuple[type[BaseException], ...]:
    """Exception types a query can raise for bad SQL or a missing table (re-raised as ValueError)."""
    types: list[type[BaseException]] = [pl.exceptions.PolarsError, sqlite3.Error]
    err = getattr(connection, "Error", None)  # PEP 249's optional Connection.Error
    if isinstance(err, type) and issubclass(err, Exception):
        types.append(err)
    sa_exc = sys.modules.get("sqlalchemy.exc")
    if sa_exc is not None:
        types.append(sa_exc.SQLAlchemyError)
    return tuple(types)


def _read_sql(query: str, connection: Any) -> pl.DataFrame:
    if isinstance(connection, str):
        uri = connection
        if "://" not in uri:
            raise ValueError(
                f"connection {uri!r} is not a database URI ('scheme://...'); pass a URI such as "
                "'sqlite:///path.db' or 'postgresql://user:pass@host/db', or a connection object"
            )
        if not uri.startswith("sqlite://"):
            # other databases go through Polars' URI reader (connectorx by default)
            try:
                return pl.read_database_uri(query, uri)
            except ModuleNotFoundError as e:
                scheme = uri.split("://", 1)[0]
                raise ModuleNotFoundError(
                    f"reading a {scheme!r} URI uses polars.read_database_uri, which needs an engine "
                    f"that is not installed ({e}); install connectorx (or adbc and its driver), or "
                    "pass an open DB-API/SQLAlchemy connection object as connection="
                ) from e
            except (pl.exceptions.PolarsError, RuntimeError) as e:  # connectorx reports SQL errors as RuntimeError
                raise ValueError(f"could not run query {query!r} on {uri.split('://', 1)[0]!r}: {e}") from e
        path = unquote(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"SQLite URI {uri!r} names no database file ('sqlite:///path.db')")
        if not os.path.exists(path):
            raise FileNotFoundError(f"SQLite database {path!r} (from URI {uri!r}) does not exist")
        con = _sqlite_readonly(path)
        try:
            return _run_query(query, con)
        finally:
            con.close()
    return _run_query(query, connection)



def _sqlite_readonly(path: str) -> sqlite3.Connection:
    """A read-only connection to the SQLite database file ``path``. The path is percent-encoded
    into the ``file:`` URI: written as it is, a ``#`` or ``?`` in it (a folder ``data #1``) ends
    the path there, so SQLite opened, and created, another file (``data ``), without
    ``mode=ro``, and a query then failed with "no such table"."""
    from urllib.parse import quote

    return sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True)

def _run_query(query: str, connection: Any) -> pl.DataFrame:
    try:
        return pl.read_database(query, connection, infer_schema_length=None)
    except _sql_errors(connection) as e:
        raise ValueError(f"could not run query {query!r}: {type(e).__name__}: {e}") from e


# ---------------------------------------------------------------------------------------------
# Panels
# ---------------------------------------------------------------------------------------------


def read_panel(
    source: Any,
    date: str = "date",
    asset: str = "asset",
    fields: Sequence[str] | None = None,
    codes: Sequence[str] | None = None,
    *,
    connection: Any = None,
    format: str | None = None,
    date_format: str | None = None,
    dates: Any = None,
    assets: Any = None,
    null_values: str | Sequence[str] | None = None,
) -> Panel:
    """Read long (date, asset, fields...) data into a dense, aligned :class:`Panel`.

    Parameters
    ----------
    source : path/glob/directory, polars DataFrame/LazyFrame, SQL query (with ``connection``),
        or a ``(query, connection)`` tuple. See the module docstring (a directory reads every
        Parquet file below it, as ``ff.dask.read_universe`` does).
    date, asset : str
        Column names of the date and the asset id.
    fields : sequence of str, optional
        Float fields. Default: every numeric column other than ``date``/``asset``.
    codes : sequence of str, optional
        Label columns to store as int32 code fields (e.g. ``["industry"]``).
    connection : connection object or database URI, optional
        Makes a ``str`` source a SQL query.
    format : {"parquet", "csv", "ipc"}, optional
        File format; default from the extension (a directory: its extension, else Parquet).
    date_format : str, optional
        strftime format of a text or integer date column (e.g. ``'%m/%d/%Y'``, ``'%Y%m%d'``).
        Default: ISO dates only (see the module docstring: dates are never guessed).
    dates, assets : array-like, optional
        Target axes; rows off them are dropped. Default: the data's sorted unique values.
    null_values : str or sequence of str, optional
        CSV cells read as missing besides empty ones, in every column (``"NA"`` as R writes
        it). CSV files only (see :func:`read_frame`).

    Returns
    -------
    Panel
        Fields ``(T, N)`` float64 (NaN where a row is missing or null), codes int32 (-1 = none).

    Raises
    ------
    ValueError
        Missing columns, duplicate (date, asset) rows, dates that are not ISO without
        ``date_format`` (or do not match it), non-numeric fields (a text field is named with its
        first value that is not a number, e.g. ``'NA'``: pass ``null_values=`` for such a marker),
        empty input, a source Polars or the database cannot read; see :meth:`Panel.from_polars`.
    TypeError
        ``null_values`` neither a str nor a sequence of str.

    Examples
    --------
    >>> import polars as pl, ferrofactor as ff
    >>> df = pl.DataFrame({"date": ["2024-01-02", "2024-01-03", "2024-01-03"],
    ...                    "asset": ["A", "A", "B"], "close": [10.0, 11.0, 5.0]})
    >>> ff.read_panel(df)["close"]
    array([[10., nan],
           [11.,  5.]])
    """
    _check_date_format(date_format)
    _check_column_names(date=date, asset=asset)
    # label columns of a CSV as text, as asset ids (a code 0100 keeps its leading zero)
    text = [asset, date] + ([c for c in codes if isinstance(c, str)] if isinstance(codes, (list, tuple)) else [])
    frame = read_frame(source, connection=connection, format=format, string_columns=text, null_values=null_values)
    return _panel_from_frame(
        frame, date, asset, fields, codes, dates=dates, assets=assets, date_format=date_format,
        what=_describe(source, connection, format), csv=_is_csv(source, connection, format),
    )


def _warn_numeric_text(frame: Any, text_columns: Sequence[str], what: str, csv: bool) -> None:
    """Warn about the text columns left out of the default (numeric) fields that are mostly
    numbers: most likely a numeric column with a missing-value marker (``NA``) that Polars read
    as text, which would otherwise vanish without a word. Text columns of names or currencies
    (mostly not numbers) are left out silently, as documented."""
    for c in text_columns:
        col = pl.col(c)
        with _polars_errors(what):
            counts = frame.lazy().select(n=col.is_not_null().sum(),
                                         num=col.cast(pl.Float64, strict=False).is_not_null().sum()).collect()
        n, num = int(counts["n"][0]), int(counts["num"][0])
        if num and num >= n / 2:
            example = _first_text(frame, c)
            how = (f"pass null_values=[{example!r}] (data.null_values in a config)" if csv and example is not None
                   else "pass fields= with the columns to read, after making it numeric")
            # every value a number (a Parquet column of numbers stored as text): no marker to show
            held = f" (it holds {example!r})" if example is not None else ""
            warnings.warn(
                f"{what}: column {c!r} is text although {num} of its {n} values are numbers{held}: left out "
                f"of the fields; {how}", UserWarning, stacklevel=3)


def _prepare_records(
    source: Any,
    connection: Any,
    format: str | None,
    asset: str,
    date: str,
    columns: Sequence[str] | None,
    dates: Any,
    assets: Any,
    *,
    numeric: bool,
    null_values: str | Sequence[str] | None = None,
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """Load event records (asset, date, value columns) and check them. Label columns
    (``numeric=False``) of a CSV are read as text, as asset ids are: an industry code ``0100``
    keeps its leading zero (inferred as an integer it would be ``100``, merged with ``100``)."""
    text = [asset, date] if numeric or columns is None else [asset, date, *columns]
    frame = read_frame(source, connection=connection, format=format, string_columns=text, null_values=null_values)
    what = _describe(source, connection, format)
    with _polars_errors(what):
        schema = _schema(frame)
    names = list(schema.names())
    missing = [c for c in (asset, date) if c not in schema]
    if columns is None:
        if numeric:
            columns = [
                c for c in names if c not in (asset, date) and not _pandas_index_column(c)
                and (schema[c].is_numeric() or schema[c] == pl.Boolean)
            ]
            _warn_numeric_text(frame, [c for c in names if c not in (asset, date) and schema[c] == pl.String],
                               what, _is_csv(source, connection, format))
        else:
            columns = []
    columns = list(columns)
    missing += [c for c in columns if c not in schema]
    if missing:
        raise ValueError(f"missing columns {missing}; {what} has columns {names}")
    if numeric:
        text_fields = [c for c in columns if not (schema[c].is_numeric() or schema[c] == pl.Boolean)]
        # a header-only CSV types every column as text: with no rows there is nothing to misread
        if text_fields and not _no_rows(frame, what):
            c, dt = text_fields[0], schema[text_fields[0]]
            hint = _text_values_hint(frame, c, dt, _is_csv(source, connection, format))
            raise ValueError(f"field {c!r} is not numeric (dtype {dt}){hint}")
    with _polars_errors(what):
        if isinstance(frame, pl.LazyFrame):
            frame = frame.select([asset, date, *columns]).collect()
        else:
            frame = frame.select([asset, date, *columns])
    axis = _as_dates("dates", dates)
    if axis.size > 1 and not np.all(axis[1:] > axis[:-1]):
        raise ValueError("dates must be strictly increasing (sorted, unique)")
    target_assets = _as_assets("assets", assets)
    _check_unique("assets", target_assets)
    if frame.height:
        dup = frame.select(pl.struct(asset, date).is_duplicated()).to_series()
        if dup.any():
            rows = frame.filter(dup).select(asset, date).unique(maintain_order=True)
            first = [(str(a), str(d)) for a, d in rows.head(_SHOW).iter_rows()]
            raise ValueError(
                f"duplicate ({asset}, {date}) rows: {rows.height} pairs appear more than once "
                f"({int(dup.sum()) - rows.height} extra rows), e.g. {first}"
            )
    return frame, axis, target_assets, columns


def _refuse_no_match(frame: pl.DataFrame, asset: str, a_idx: np.ndarray, target: np.ndarray, what: str) -> None:
    """Refuse records none of which is of an asset of ``target`` (``a_idx`` all -1): ids written
    another way than the panel's (case, padding, an integer column that lost the leading zeros of
    ``000123``) would otherwise leave every field NaN without a word. A source with some matching
    records keeps ignoring the others, as documented."""
    if not frame.height or not len(target) or (a_idx >= 0).any():
        return
    ids = frame[asset]
    shown = ids.cast(pl.String).unique(maintain_order=True)
    hint = ""
    if ids.dtype.is_integer():
        hint = (f"; column {asset!r} holds integers, so an id written 000123 elsewhere is 123 here: store "
                "the ids as text with their leading zeros")
    elif all(v.isdigit() for v in shown.head(_SHOW).to_list() + [str(a) for a in target[:_SHOW]]):
        hint = ("; both look like numbers: ids with leading zeros on one side (000123) and without on the "
                "other (123, e.g. an integer column) never match: store the ids as text, written alike")
    raise ValueError(
        f"none of the {shown.len()} asset ids of {what} is one of the {len(target)} assets it is read onto "
        f"(the prices' assets): e.g. {shown.head(_SHOW).to_list()} against "
        f"{[str(a) for a in target[:_SHOW]]}; every record would be ignored (no value on any date). Check "
        f"column {asset!r} (case, spaces, padding){hint}"
    )


def _record_days(frame: pl.DataFrame, asset: str, date: str, date_format: str | None) -> np.ndarray:
    """The day of each record, refusing two records of one asset on one day (the duplicate
    check on the raw column misses a day written two ways, e.g. ``2024-01-02`` and
    ``2024-01-02 00:00:00``: input order would pick the winner)."""
    days = _series_to_days(date, frame[date], date_format).astype(np.int64)
    keys = pl.DataFrame({"asset": frame[asset], "day": days})
    dup = keys.is_duplicated()
    if dup.any():
        rows = keys.filter(dup).unique(maintain_order=True)
        first = [(str(a), _day_str(d)) for a, d in rows.head(_SHOW).iter_rows()]
        raise ValueError(
            f"duplicate ({asset}, {date}) rows: {rows.height} (asset, day) pairs appear more than once "
            f"when {date} is read as days (the same day written two ways), "
            f"e.g. {first}; keep one record per asset and day"
        )
    return days


def _asof_index(
    avail_days: np.ndarray,
    a_idx: np.ndarray,
    axis_days: np.ndarray,
    n_assets: int,
    max_staleness: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """For every (date, asset) cell, the record visible there.

    Record ``r`` (asset ``a_idx[r]``, available on day ``avail_days[r]``) is visible from the
    first axis date ``>= avail_days[r]`` until the asset's next record takes over, and only while
    ``date - avail_days[r] <= max_staleness``. Of several records reaching the same cell, the
    latest available wins.

    Returns ``(grid, perm)``: ``grid`` (T, N) int32 indexes the records sorted by (asset,
    availability), -1 where nothing is visible; ``perm[i]`` is the input row of sorted record
    ``i``. So ``np.append(values[perm], missing)[grid]`` gathers a field (index -1 takes the
    appended ``missing``). Records are numbered so that, within an asset, later availability means
    a larger number: the forward fill is then a running maximum down each column.
    O(records log records + T·N), vectorised.
    """
    T, N = len(axis_days), n_assets
    grid = np.full((T, N), -1, dtype=np.int32)
    if T == 0 or N == 0 or len(avail_days) == 0:
        return grid, np.empty(0, dtype=np.int64)
    t0 = np.searchsorted(axis_days, avail_days, side="left")  # first date on/after availability
    rec = np.flatnonzero((a_idx >= 0) & (t0 < T))
    perm = rec[np.lexsort((avail_days[rec], a_idx[rec]))]  # by asset, then availability
    lin = t0[perm].astype(np.int64) * N + a_idx[perm]
    last = np.ones(len(lin), dtype=bool)
    last[:-1] = lin[1:] != lin[:-1]  # of records landing on one cell, keep the latest available
    grid.reshape(-1)[lin[last]] = np.flatnonzero(last).astype(np.int32)
    np.maximum.accumulate(grid, axis=0, out=grid)
    if max_staleness is not None:
        avail_ext = np.append(avail_days[perm], np.iinfo(np.int64).max // 2)
        age = axis_days[:, None] - avail_ext[grid]  # negative where grid == -1
        grid[age > max_staleness] = -1
    return grid, perm


def read_fundamentals(
    source: Any,
    dates: Any,
    assets: Any,
    *,
    asset: str = "asset",
    report_date: str = "report_date",
    fields: Sequence[str] | None = None,
    report_lag_days: int = 1,
    max_staleness: int | None = 365,
    connection: Any = None,
    format: str | None = None,
    date_format: str | None = None,
    null_values: str | Sequence[str] | None = None,
) -> Panel:
    """Point-in-time fundamentals on a (dates × assets) grid, free of look-ahead.

    Each record (one row per asset and report) is *available* on ``report_date +
    report_lag_days`` calendar days. At panel date ``d`` an asset shows its latest record
    available on or before ``d`` (the as-of join), provided ``d - available <= max_staleness``
    days; otherwise NaN. A field that the visible record leaves null is NaN (values of older
    reports are not mixed in). Fiscal period end dates, if present, are ignored for visibility.

    Parameters
    ----------
    source : path/glob, polars frame, SQL query (with ``connection``) or (query, connection)
        Long records: ``asset``, ``report_date`` and numeric value columns.
    dates : array-like (T,)
        Panel dates, strictly increasing (usually ``prices.dates``).
    assets : array-like of str (N,)
        Panel assets (usually ``prices.assets``); records of other assets are ignored.
    asset, report_date : str
        Column names.
    fields : sequence of str, optional
        Value columns. Default: every numeric column other than ``asset``/``report_date``.
    report_lag_days : int, default 1
        Calendar days from the report date to availability (1: a report published on day r is
        used from the first panel date after r). 0 to 1,000,000.
    max_staleness : int or None, default 365
        Calendar days after availability for which a record stays visible. None: no limit.
    connection, format
        As for :func:`read_panel`.
    date_format : str, optional
        strftime format of a text or integer ``report_date`` column (e.g. ``'%m/%d/%Y'``).
        Default: ISO dates only. A US date such as ``'01/02/2024'`` is refused without it, so
        it can never be read as February 1st and shown a month early.
    null_values : str or sequence of str, optional
        CSV cells read as missing besides empty ones, in every column (see :func:`read_frame`).

    Returns
    -------
    Panel
        One float field per value column, ``(T, N)``, on ``dates`` × ``assets``.

    Raises
    ------
    ValueError
        Missing columns, duplicate (asset, report_date) rows, dates that are not ISO without
        ``date_format`` or do not match it, non-numeric fields (named with their first value that
        is not a number), infinite values (named with an asset and report date),
        ``report_lag_days``/``max_staleness`` negative or above 1,000,000.
    TypeError
        ``report_lag_days``/``max_staleness`` not an integer (bool and float included);
        ``null_values`` neither a str nor a sequence of str.

    Examples
    --------
    >>> import numpy as np, polars as pl, ferrofactor as ff
    >>> rec = pl.DataFrame({"asset": ["A"], "report_date": ["01/03/2024"], "eps": [1.5]})
    >>> days = np.array(["2024-01-03", "2024-01-04"], dtype="datetime64[D]")
    >>> ff.read_fundamentals(rec, days, ["A"], date_format="%m/%d/%Y")["eps"]
    array([[nan],
           [1.5]])
    """
    return _read_fundamentals(
        source, dates, assets, asset=asset, report_date=report_date, fields=fields,
        report_lag_days=report_lag_days, max_staleness=max_staleness, connection=connection, format=format,
        date_format=date_format, null_values=null_values, refuse_unmatched=False,
    )


def _read_fundamentals(
    source: Any, dates: Any, assets: Any, *, asset: str, report_date: str, fields: Sequence[str] | None,
    report_lag_days: int, max_staleness: int | None, connection: Any, format: str | None,
    date_format: str | None, null_values: str | Sequence[str] | None, refuse_unmatched: bool,
) -> Panel:
    """:func:`read_fundamentals`; with ``refuse_unmatched`` (:func:`read_universe`, whose assets are the
    prices') a source none of whose asset ids is on ``assets`` raises ``ValueError``."""
    report_lag_days = _check_days("report_lag_days", report_lag_days)
    max_staleness = _check_days("max_staleness", max_staleness, allow_none=True)
    _check_date_format(date_format)
    _check_column_names(asset=asset, report_date=report_date)
    _check_names("fields", fields)
    auto = fields is None
    frame, axis, target_assets, fields = _prepare_records(
        source, connection, format, asset, report_date, fields, dates, assets, numeric=True, null_values=null_values
    )
    if not fields and auto and frame.height == 0:
        # a header-only CSV types every column as text: it has no rows, not text fields
        raise ValueError(
            f"empty input: {_describe(source, connection, format)} has no rows (so no column has a type to "
            "read it by); pass fields= to read it as missing values"
        )
    if not fields and auto:
        raise ValueError(
            f"{_describe(source, connection, format)} has no numeric field to read besides {asset!r} and "
            f"{report_date!r}; pass fields= (text is never turned into numbers; a CSV's missing-value marker "
            "such as 'NA' is read as missing with null_values=)"
        )
    T, N = len(axis), len(target_assets)
    if frame.height == 0 or not fields:  # (fields=[]: the dates and assets alone)
        return Panel(axis, target_assets, {f: np.full((T, N), np.nan) for f in fields})
    for f in fields:
        # as for prices: an infinite value is no measurement (a division by zero upstream); read
        # on, every descriptor dropped it as missing without a word
        inf = frame[f].cast(pl.Float64).is_infinite()
        if inf.any():
            first = frame.filter(inf).row(0, named=True)
            raise ValueError(
                f"field {f!r} has {int(inf.sum())} infinite values, e.g. {first[f]} for asset {first[asset]!r} "
                f"reported {first[report_date]}: a value is a finite number, or missing (null or NaN)"
            )
    avail = _record_days(frame, asset, report_date, date_format) + report_lag_days
    _, a_idx = _asset_codes(frame[asset], target_assets)
    if refuse_unmatched:
        _refuse_no_match(frame, asset, a_idx, target_assets, _describe(source, connection, format))
    grid, perm = _asof_index(avail, a_idx, axis.view(np.int64), N, max_staleness)
    # every field read through the same record grid (-1 = NaN), in one parallel Rust pass
    values = [np.ascontiguousarray(frame[f].cast(pl.Float64).to_numpy()[perm], dtype=np.float64) for f in fields]
    out = {f: np.empty(grid.shape) for f in fields}
    _core.gather_fields(values, grid, list(out.values()))
    return Panel(axis, target_assets, out)


def read_classifications(
    source: Any,
    dates: Any,
    assets: Any,
    *,
    asset: str = "asset",
    date: str = "date",
    code: str = "industry",
    labels: Sequence[str] | None = None,
    report_lag_days: int = 0,
    connection: Any = None,
    format: str | None = None,
    date_format: str | None = None,
    null_values: str | Sequence[str] | None = None,
) -> Panel:
    """Classification codes over time (e.g. industries that change per asset), as a Panel.

    Each row says asset ``asset`` belongs to class ``code`` from ``date`` (+ ``report_lag_days``
    calendar days) until the asset's next row. Before an asset's first row, and from a row whose
    ``code`` is null, the code is -1.

    Parameters
    ----------
    source : path/glob, polars frame, SQL query (with ``connection``) or (query, connection)
        Long rows ``asset``, ``date`` (effective date), ``code``.
    dates, assets : array-like
        Panel axes (strictly increasing dates; asset strings).
    asset, date, code : str
        Column names. The code column holds the class labels (strings or integers such as GICS
        codes; any values: they are labels, never sizes; integers must fit in int64, a
        ``UInt64`` value >= 2**63 raises ``ValueError``).
    labels : sequence of str, optional
        The class names in code order (e.g. to keep codes stable across loads). Default: the
        sorted unique values present. A value not in ``labels`` raises ``ValueError``.
    report_lag_days : int, default 0
        Calendar days between the effective date and use (0 to 1,000,000).
    connection, format
        As for :func:`read_panel`.
    date_format : str, optional
        strftime format of a text or integer ``date`` column. Default: ISO dates only.
    null_values : str or sequence of str, optional
        CSV cells read as missing besides empty ones, in every column (see :func:`read_frame`): a
        code read as missing is -1 from its row on.

    Returns
    -------
    Panel
        One code field named ``code``: ``(T, N)`` int32, -1 = none, with
        ``panel.labels(code)[c]`` the label of code ``c``.

    Examples
    --------
    >>> import numpy as np, polars as pl, ferrofactor as ff
    >>> rows = pl.DataFrame({"asset": ["A", "A"], "date": ["2024-01-01", "2024-01-03"],
    ...                      "industry": ["Energy", "Utilities"]})
    >>> p = ff.read_classifications(rows, np.array(["2024-01-02", "2024-01-03"], "datetime64[D]"), ["A"])
    >>> p["industry"], p.labels("industry")
    (array([[0],
           [1]], dtype=int32), array(['Energy', 'Utilities'], dtype='<U9'))
    """
    return _read_classifications(
        source, dates, assets, asset=asset, date=date, code=code, labels=labels,
        report_lag_days=report_lag_days, connection=connection, format=format, date_format=date_format,
        null_values=null_values, refuse_unmatched=False,
    )


def _read_classifications(
    source: Any, dates: Any, assets: Any, *, asset: str, date: str, code: str, labels: Sequence[str] | None,
    report_lag_days: int, connection: Any, format: str | None, date_format: str | None,
    null_values: str | Sequence[str] | None, refuse_unmatched: bool,
) -> Panel:
    """:func:`read_classifications`; with ``refuse_unmatched`` (:func:`read_universe`, whose assets are the
    prices') a source none of whose asset ids is on ``assets`` raises ``ValueError``."""
    report_lag_days = _check_days("report_lag_days", report_lag_days)
    _check_date_format(date_format)
    _check_column_names(asset=asset, date=date, code=code)
    frame, axis, target_assets, _ = _prepare_records(
        source, connection, format, asset, date, [code], dates, assets, numeric=False, null_values=null_values
    )
    T, N = len(axis), len(target_assets)
    s = frame[code]
    if labels is not None:
        lab = _as_assets("labels", labels)
        _check_unique("labels", lab)
        _check_code_column(s)
        vals = s.cast(pl.String)
        unknown = vals.drop_nulls().filter(~vals.drop_nulls().is_in(lab.tolist())).unique().sort()
        if unknown.len():
            raise ValueError(
                f"column {code!r} has {unknown.len()} values not in labels, e.g. {unknown.head(_SHOW).to_list()}"
            )
        rec_codes = vals.cast(pl.Enum(lab.tolist())).to_physical().cast(pl.Int32).fill_null(-1).to_numpy()
    else:
        rec_codes, lab = _label_codes(s)
    if frame.height == 0:
        return Panel(axis, target_assets, codes={code: (np.full((T, N), -1, dtype=np.int32), lab)})
    avail = _record_days(frame, asset, date, date_format) + report_lag_days
    _, a_idx = _asset_codes(frame[asset], target_assets)
    if refuse_unmatched:
        _refuse_no_match(frame, asset, a_idx, target_assets, _describe(source, connection, format))
    grid, perm = _asof_index(avail, a_idx, axis.view(np.int64), N, None)
    out = np.append(rec_codes[perm], np.int32(-1)).astype(np.int32)[grid]
    return Panel(axis, target_assets, codes={code: (out, lab)})


def _read_delistings(
    source: Any,
    *,
    asset: str = "asset",
    date: str = "delisting_date",
    delisting_return: str | None = None,
    connection: Any = None,
    format: str | None = None,
    date_format: str | None = None,
    null_values: str | Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Delisting rows, one per delisted asset: ``(assets, days, returns)``.

    ``assets`` (str), ``days`` (``datetime64[D]``: the first date the asset no longer trades) and
    ``returns`` (float, null or NaN = 0; None without a ``delisting_return`` column), in the file's
    order. The reading of ``ferrofactor run``'s ``data.delistings`` (for
    :func:`ferrofactor.backtest_many`'s ``delistings=`` and ``delisting_returns=``). Dates are
    parsed as every date column (``date_format``; never guessed); ``null_values`` as for
    :func:`read_frame` (CSV cells read as missing). Raises ``ValueError`` naming
    the column: missing columns, missing or non-id assets, an asset on two rows, missing or
    unparseable dates, dates with a time of day other than midnight (never cut to their day), a
    non-numeric return column or a return that is not finite and >= -1.
    """
    _check_date_format(date_format)
    _check_column_names(asset=asset, date=date)
    cols = [asset, date] + ([delisting_return] if delisting_return is not None else [])
    frame = read_frame(source, connection=connection, format=format, string_columns=[asset, date],
                       null_values=null_values)
    what = _describe(source, connection, format)
    with _polars_errors(what):
        schema = _schema(frame)
    names = list(schema.names())
    missing = [c for c in cols if c not in schema]
    if missing:
        raise ValueError(f"missing columns {missing}; {what} has columns {names}")
    with _polars_errors(what):
        frame = frame.select(cols).collect() if isinstance(frame, pl.LazyFrame) else frame.select(cols)
    ids = frame[asset]
    if ids.null_count():
        raise ValueError(f"column {asset!r} has {ids.null_count()} missing asset ids")
    if not (ids.dtype == pl.String or ids.dtype.is_integer() or isinstance(ids.dtype, (pl.Categorical, pl.Enum))):
        raise ValueError(f"column {asset!r} has dtype {ids.dtype}; expected asset ids (strings or integers)")
    ids = ids.cast(pl.String)
    dup = ids.is_duplicated()
    if dup.any():
        rep = ids.filter(dup).unique(maintain_order=True)
        raise ValueError(
            f"column {asset!r}: {rep.len()} assets appear on more than one row, e.g. {rep.head(_SHOW).to_list()}; "
            "an asset is delisted once: keep one row per delisted asset"
        )
    stamps = frame[date]  # a time of day other than midnight is refused naming the asset, as by delistings=
    if date_format is not None and (stamps.dtype == pl.String or stamps.dtype.is_integer()):
        stamps = stamps.cast(pl.String).str.to_datetime(date_format, strict=False)
    if stamps.dtype != pl.Date:
        refuse_time_of_day(f"column {date!r}", stamps if isinstance(stamps.dtype, pl.Datetime) else stamps.to_list(),
                           who=ids.to_list(), day="a delisting date")
    days = _series_to_days(date, frame[date], date_format).astype("datetime64[D]")
    rets = None
    if delisting_return is not None:
        s = frame[delisting_return]
        if not s.dtype.is_numeric():
            hint = _text_values_hint(frame, delisting_return, s.dtype, _is_csv(source, connection, format))
            raise ValueError(f"column {delisting_return!r} is not numeric (dtype {s.dtype}){hint}; delisting "
                             "returns are numbers such as -0.3")
        rets = s.cast(pl.Float64).fill_nan(None).fill_null(0.0).to_numpy().astype(np.float64, copy=True)
        bad = ~np.isfinite(rets) | (rets < -1.0)
        if bad.any():
            raise ValueError(
                f"column {delisting_return!r}: {int(bad.sum())} delisting returns are not finite and >= -1 "
                f"(a price cannot go below zero; null or NaN = 0), e.g. {rets[bad][:_SHOW].tolist()}"
            )
    return np.asarray(ids.to_list(), dtype=str), days, rets


def _check_names(name: str, cols: Any) -> None:
    """An optional sequence of column names."""
    if cols is not None and (isinstance(cols, (str, bytes)) or not isinstance(cols, Sequence)
                             or not all(isinstance(c, str) for c in cols)):
        raise TypeError(f"{name} must be a sequence of column names (str), got {cols!r}")


def _check_days(name: str, x: Any, *, allow_none: bool = False) -> int | None:
    """A calendar-day setting: a Python or numpy integer in ``0..1,000,000`` (None if allowed)."""
    if x is None and allow_none:
        return None
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        what = "an integer number of calendar days or None" if allow_none else "an integer number of calendar days"
        raise TypeError(f"{name} must be {what}, got {type(x).__name__} {x!r}")
    v = int(x)
    if v < 0:
        raise ValueError(f"{name} must be >= 0 days, got {v}")
    if v > _MAX_DAYS:
        raise ValueError(f"{name} must be at most {_MAX_DAYS:,} days, got {v}")
    return v


# ---------------------------------------------------------------------------------------------
# Price-derived fields
# ---------------------------------------------------------------------------------------------


def _positive_where_present(name: str, arr: np.ndarray, *, strict: bool) -> None:
    if np.any(np.isinf(arr)):
        raise ValueError(f"{name} must not contain infinite values ({int(np.isinf(arr).sum())} found)")
    with np.errstate(invalid="ignore"):
        bad = (arr <= 0) if strict else (arr < 0)
    if np.any(bad):
        what = "positive" if strict else "non-negative"
        raise ValueError(f"{name} must be {what} where present ({int(bad.sum())} values are not)")


def returns_from_prices(close: Any, *, bridge: bool = False) -> np.ndarray:
    """Simple returns from adjusted close prices.

    ``returns[t] = close[t] / close[t-1] - 1``: the return from close t−1 to close t. NaN on the
    first date and wherever either price is missing: by default a gap is never bridged (no
    fill-forward), so the move over a suspension is in no date's return.

    With ``bridge=True`` the return on the first price after a gap is the move over the gap,
    ``close[t] / close[last finite before t] − 1`` (as CRSP dates a return after missing
    prices); it stays NaN on an asset's first price and wherever ``close[t]`` is missing.
    Compounding bridged returns (e.g. :func:`ferrofactor.descriptors.momentum`) then gives the
    close-to-close return across suspensions; a volatility of bridged returns counts the move
    over a gap as one day's.

    Parameters
    ----------
    close : array-like (T, N)
        Adjusted close (dividends and splits folded in), positive where present, NaN = missing.
    bridge : bool, default False
        Bridge gaps (see above).

    Returns
    -------
    ndarray (T, N) float64
    """
    _refuse_masked("close", close)
    c = as_float_array("close", close, 2)
    bridge = check_bool("bridge", bridge)
    _positive_where_present("close", c, strict=True)
    if bridge:
        return bridged_returns(c)
    out = np.full(c.shape, np.nan)
    if c.shape[0] > 1:
        np.divide(c[1:], c[:-1], out=out[1:])
        out[1:] -= 1.0
    return out


def bridged_returns(close: np.ndarray) -> np.ndarray:
    """``close[t] / close[last finite before t] − 1`` where ``close[t]`` is finite and an earlier
    finite price exists, else NaN (validated (T, N) float64 prices)."""
    T, N = close.shape
    ok = np.isfinite(close)
    idx = np.where(ok, np.arange(T)[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = np.take_along_axis(close, idx, axis=0)  # the last price so far (NaN before the first)
    del idx
    out = np.full((T, N), np.nan)
    if T > 1:
        with np.errstate(invalid="ignore"):
            np.divide(close[1:], filled[:-1], out=out[1:])
        out[1:] -= 1.0
    return out


def market_cap(close: Any, shares: Any) -> np.ndarray:
    """Market capitalisation ``close * shares`` (T, N); NaN where either is missing.

    ``close`` should be the unadjusted close and ``shares`` the shares outstanding on the same
    date (split-adjusted prices need split-adjusted share counts).
    """
    _refuse_masked("close", close)
    _refuse_masked("shares", shares)
    # frames are paired by their labels, never by position
    c, c_dates, c_assets = as_field("close", close)
    s, s_dates, s_assets = as_field("shares", shares)
    check_shape("shares", s, c.shape, "same as close")
    check_same_labels("shares", s_dates, s_assets, "close", c_dates, c_assets)
    _positive_where_present("close", c, strict=True)
    _positive_where_present("shares", s, strict=False)
    return c * s


def dollar_volume(close: Any, volume: Any) -> np.ndarray:
    """Traded value ``close * volume`` (T, N) in currency units; NaN where either is missing."""
    _refuse_masked("close", close)
    _refuse_masked("volume", volume)
    # frames are paired by their labels, never by position
    c, c_dates, c_assets = as_field("close", close)
    v, v_dates, v_assets = as_field("volume", volume)
    check_shape("volume", v, c.shape, "same as close")
    check_same_labels("volume", v_dates, v_assets, "close", c_dates, c_assets)
    _positive_where_present("close", c, strict=True)
    _positive_where_present("volume", v, strict=False)
    return c * v


def _derived_price_fields(
    panel: Panel, close: str, adjusted_close: str | None, shares: str | None, volume: str | None
) -> dict[str, np.ndarray]:
    """``returns`` (from ``adjusted_close`` or ``close``), ``market_cap`` (close × shares) and
    ``dollar_volume`` (close × volume), the last two only when their input field is present."""
    adj = close if adjusted_close is None else adjusted_close
    if adj not in panel.float_fields:
        which = "adjusted_close" if adjusted_close is not None else "close"
        raise ValueError(
            f"no price column {adj!r} ({which}=) to compute returns from; price fields: {list(panel.float_fields)}"
        )
    out = {"returns": returns_from_prices(panel[adj])}
    for name, other, fn in (("market_cap", shares, market_cap), ("dollar_volume", volume, dollar_volume)):
        if other is not None and other in panel.float_fields:
            if close not in panel.float_fields:
                raise ValueError(
                    f"no price column {close!r} (close=) for {name} = close × {other}; price fields: "
                    f"{list(panel.float_fields)}"
                )
            out[name] = fn(panel[close], panel[other])
    return out


# ---------------------------------------------------------------------------------------------
# One call: prices, derived fields, fundamentals, classifications
# ---------------------------------------------------------------------------------------------


def read_universe(
    prices: Any,
    fundamentals: Any = None,
    classifications: Any = None,
    *,
    date: str = "date",
    asset: str = "asset",
    connection: Any = None,
    format: str | None = None,
    date_format: str | None = None,
    price_fields: Sequence[str] | None = None,
    close: str = "close",
    adjusted_close: str | None = None,
    shares: str | None = "shares",
    volume: str | None = "volume",
    report_date: str = "report_date",
    report_lag_days: int = 1,
    max_staleness: int | None = 365,
    fundamental_fields: Sequence[str] | None = None,
    industry: str = "industry",
    classification_date: str = "date",
    classification_lag_days: int = 0,
    industry_labels: Sequence[str] | None = None,
    dates: Any = None,
    assets: Any = None,
    null_values: str | Sequence[str] | None = None,
) -> Panel:
    """Read a whole universe into one :class:`Panel`: prices, derived fields, point-in-time
    fundamentals and industries.

    Time convention: row ``t`` holds what is known at the close of ``dates[t]``; ``returns[t]``
    runs from close ``t-1`` to close ``t``. A fundamental record is available on ``report_date +
    report_lag_days`` calendar days and shows on every panel date from then on (its asset's
    latest available record wins) while ``date - available <= max_staleness`` days; an industry
    row applies from ``date + classification_lag_days``. Nothing is visible before it was known.

    Parameters
    ----------
    prices : source
        Long rows ``date``, ``asset`` and price columns (one row per (date, asset)). Each source
        is a path/glob (Parquet/CSV/IPC), a directory (every Parquet file below it, e.g. hive
        partitions ``prices/year=2020/...``, whose keys never become fields: the same path as
        for ``ff.dask.read_universe``), a Polars DataFrame/LazyFrame, a SQL query string (with
        ``connection=``) or a ``(query, connection)`` tuple; see the module docstring.
    fundamentals : source, optional
        Long records ``asset``, ``report_date`` and numeric values (one row per asset and report).
    classifications : source, optional
        Long rows ``asset``, ``classification_date``, ``industry`` (the label from that date on).
    date, asset : str, default "date", "asset"
        Date and asset-id column names of the prices; ``asset`` also names the asset column of
        the fundamentals and classifications.
    connection : connection object or database URI, optional
        Shared by every plain ``str`` source, which is then a SQL query. A ``(query,
        connection)`` tuple overrides it for one source.
    format : {"parquet", "csv", "ipc"}, optional
        File format of every file source whose extension does not tell (a directory without an
        extension is read as Parquet unless this says otherwise).
    date_format : str, optional
        strftime format (as Polars' ``str.to_date`` takes it) of every text or integer date
        column: ``'%m/%d/%Y'``, ``'%Y%m%d'``, ... Default: ``Date``/``Datetime`` columns and ISO
        text only. Dates are never guessed.
    price_fields : sequence of str, optional
        The price columns to keep. Default: every numeric (or boolean) column of ``prices``
        other than ``date``/``asset``, with ``Categorical``/``Enum`` columns as code fields; any
        other (text) column is refused, so pass ``price_fields`` to leave it out. An unnamed
        pandas index written to the file (``__index_level_0__``, row labels) is never a field;
        the same holds for the default fields of every reader.
    close : str, default "close"
        Close price column: ``market_cap = close × shares``, ``dollar_volume = close × volume``.
    adjusted_close : str, optional
        Adjusted close for ``returns`` (default: ``close``, i.e. prices already adjusted).
    shares, volume : str or None, default "shares", "volume"
        Share count and traded-volume columns; each derived field is added when its column is
        among the price fields. None: do not derive it.
    report_date : str, default "report_date"
        Report (publication) date column of ``fundamentals``.
    report_lag_days : int, default 1
        Calendar days from report date to availability (1: used from the first date after the
        report).
    max_staleness : int or None, default 365
        Calendar days a report stays visible after availability. None: no limit.
    fundamental_fields : sequence of str, optional
        Value columns of ``fundamentals``. Default: every numeric column other than ``asset``/
        ``report_date``.
    industry : str, default "industry"
        Label column of ``classifications``. The panel's code field is always named
        ``"industry"``.
    classification_date : str, default "date"
        Effective-date column of ``classifications``.
    classification_lag_days : int, default 0
        Calendar days from an industry row's date to its use.
    industry_labels : sequence of str, optional
        Industry labels in code order (codes stable across loads). Default: the sorted labels
        present.
    dates, assets : array-like, optional
        Target axes (rows of ``prices`` off them are dropped). Default: the sorted unique dates
        and assets of ``prices``.
    null_values : str or sequence of str, optional
        CSV cells read as missing besides empty ones (``"NA"`` as R's ``write.csv`` writes it,
        ``["NA", "."]``), in every column of every CSV source (asset ids and dates included).
        CSV files only: Parquet, IPC, frames and SQL keep their own nulls. Default: none.

    Returns
    -------
    Panel
        Axes from the prices. Float fields ``(T, N)`` float64, NaN where missing, in this order:
        the price columns; ``returns`` (NaN on the first date and across gaps), ``market_cap``
        and ``dollar_volume`` (each when its inputs are present); the fundamental fields.
        Code fields ``(T, N)`` int32 (-1 = none): Categorical price columns, then ``industry``
        with its labels (``panel.labels("industry")``).

    Raises
    ------
    ValueError
        A field name given by two sources (prices, the derived fields, fundamentals,
        classifications): the message names the field and both sources. Every error of a
        source's reader is re-raised with the source's argument name first (``"fundamentals:
        ..."``): missing columns, duplicate rows, dates not ISO without ``date_format``, a text
        column where numbers are wanted (named with its first value that is not a number, e.g.
        ``'NA'``: a missing-value marker is read as missing with ``null_values=``), bad integer
        settings, unreadable files or queries; a fundamentals or classifications source none of
        whose asset ids is an asset of the prices (ids written another way: ``123`` against
        ``000123``, case, spaces), which would leave its fields empty without a word.
        Asset ids written with and without surrounding spaces in one source (``'A'`` and ``'A '``,
        as a fixed-width column pads them), which would be read as two assets.
    TypeError
        A source of an unsupported type, a setting of the wrong type (``null_values`` neither a
        str nor a sequence of str).

    Examples
    --------
    >>> import polars as pl, ferrofactor as ff
    >>> prices = pl.DataFrame({
    ...     "date": ["2024-01-02", "2024-01-02", "2024-01-03", "2024-01-03"],
    ...     "asset": ["A", "B", "A", "B"],
    ...     "close": [10.0, 20.0, 11.0, 19.0],
    ...     "shares": [100.0, 50.0, 100.0, 50.0]})
    >>> fundamentals = pl.DataFrame({"asset": ["A"], "report_date": ["2024-01-02"], "book_value": [500.0]})
    >>> industries = pl.DataFrame({"asset": ["A", "B"], "date": ["2023-12-01", "2023-12-01"],
    ...                            "industry": ["Energy", "Banks"]})
    >>> p = ff.read_universe(prices, fundamentals, industries)
    >>> p.fields
    ('close', 'shares', 'returns', 'market_cap', 'book_value', 'industry')
    >>> p["returns"][1], p["market_cap"][1], p["book_value"][:, 0]
    (array([ 0.1 , -0.05]), array([1100.,  950.]), array([ nan, 500.]))
    >>> p.labels("industry")[p["industry"][0]]
    array(['Energy', 'Banks'], dtype='<U6')
    """
    for arg, val in (
        ("date", date), ("asset", asset), ("close", close), ("report_date", report_date),
        ("industry", industry), ("classification_date", classification_date),
    ):
        if not isinstance(val, str):
            raise TypeError(f"{arg} must be a column name (str), got {type(val).__name__}")
    for arg, val in (("adjusted_close", adjusted_close), ("shares", shares), ("volume", volume)):
        if val is not None and not isinstance(val, str):
            raise TypeError(f"{arg} must be a column name (str) or None, got {type(val).__name__}")
    report_lag_days = _check_days("report_lag_days", report_lag_days)
    max_staleness = _check_days("max_staleness", max_staleness, allow_none=True)
    classification_lag_days = _check_days("classification_lag_days", classification_lag_days)
    _check_names("price_fields", price_fields)
    _check_names("fundamental_fields", fundamental_fields)
    _check_date_format(date_format)
    null_values = _check_null_values(null_values)

    with _prefix("prices"):
        fmt = _format_for(prices, format)
        frame = read_frame(prices, connection=connection, format=fmt, string_columns=[asset, date],
                           null_values=null_values)
        what = _describe(prices, connection, fmt)
        csv = _is_csv(prices, connection, fmt)
        fields, codes = price_fields, None
        if fields is None:
            with _polars_errors(what):
                schema = _schema(frame)
            fields, codes = [], []
            for c, dt in schema.items():
                if c in (date, asset) or _pandas_index_column(c):
                    continue
                if dt.is_numeric() or dt == pl.Boolean:
                    fields.append(c)
                elif isinstance(dt, (pl.Categorical, pl.Enum)):
                    codes.append(c)
                else:
                    _refuse_if_empty(frame, what, None, None)
                    raise ValueError(
                        f"column {c!r} ({dt}) is neither numeric nor categorical{_text_values_hint(frame, c, dt, csv)}; "
                        "pass price_fields= with the price columns to keep (text columns are never turned into numbers)"
                    )
        panel = _panel_from_frame(
            frame, date, asset, fields, codes, dates=dates, assets=assets, date_format=date_format, what=what,
            csv=csv,
        )
        derived = _derived_price_fields(panel, close, adjusted_close, shares, volume)
    origin = {f: "prices" for f in panel.fields}
    _claim(origin, derived, f"the derived price fields (from {close!r}/{adjusted_close or close!r})")
    new_fields = dict(derived)
    new_codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    if fundamentals is not None:
        with _prefix("fundamentals"):
            fund = _read_fundamentals(
                fundamentals, panel.dates, panel.assets, asset=asset, report_date=report_date,
                fields=fundamental_fields, report_lag_days=report_lag_days, max_staleness=max_staleness,
                connection=connection, format=_format_for(fundamentals, format), date_format=date_format,
                null_values=null_values, refuse_unmatched=True,
            )
        _claim(origin, fund.float_fields, "fundamentals")
        new_fields.update({f: fund[f] for f in fund.float_fields})

    if classifications is not None:
        with _prefix("classifications"):
            cls = _read_classifications(
                classifications, panel.dates, panel.assets, asset=asset, date=classification_date,
                code=industry, labels=industry_labels, report_lag_days=classification_lag_days,
                connection=connection, format=_format_for(classifications, format), date_format=date_format,
                null_values=null_values, refuse_unmatched=True,
            )
        _claim(origin, ["industry"], f"classifications (column {industry!r})")
        new_codes["industry"] = (cls[industry], cls.labels(industry))

    return panel.with_fields(new_fields, new_codes)


def _claim(origin: dict[str, str], names: Any, source: str) -> None:
    """Record that ``source`` provides the fields ``names``; a name already taken is an error."""
    for f in names:
        if f in origin:
            raise ValueError(
                f"field {f!r} comes from two sources: {origin[f]} and {source}; rename or leave out one "
                "of them (price_fields=, fundamental_fields=, shares=None/volume=None)"
            )
        origin[f] = source


class _prefix:
    """Re-raise a ValueError/TypeError with the source's argument name in front of its message."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is not None and exc_type in (ValueError, TypeError, FileNotFoundError):
            raise exc_type(f"{self.name}: {exc}") from (exc.__cause__ or exc)
        return False
