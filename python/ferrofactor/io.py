"""Reading users' data into Panels: prices, point-in-time fundamentals, classifications.

Sources
-------
Every ``read_*`` function takes the same ``source`` forms:

- a path or glob of Parquet (``.parquet``, ``.pq``), CSV (``.csv``, ``.tsv``, ``.txt``) or Arrow
  IPC (``.arrow``, ``.ipc``, ``.feather``) files, read lazily with only the needed columns
  (``format=`` overrides the extension);
- a Polars ``DataFrame`` or ``LazyFrame``;
- a SQL query string with ``connection=``: either a DB-API / SQLAlchemy connection object
  accepted by ``polars.read_database`` (tested with the standard library's ``sqlite3``), or a
  database URI. SQLite URIs ``sqlite:///relative/path.db`` / ``sqlite:////absolute/path.db`` are
  opened read-only with the standard library's ``sqlite3`` (no extra package); other URIs
  (``postgresql://``, ``mysql://``, ...) go to ``polars.read_database_uri``, which needs
  ``connectorx`` installed.

Data are long: one row per (date, asset) with one column per field. The long → dense step is
O(rows) (see :mod:`ferrofactor.panel`).

Point in time
-------------
Nothing is visible before it was known. A fundamental record is *available* on its report date
plus ``lag`` calendar days; it is used from the first panel date on or after that day and
forward-filled for at most ``max_staleness`` calendar days after it. The fiscal period end plays
no part in visibility (filtering on it is the classic look-ahead bug: a quarter that ended before
date t but was reported after t would leak into t).
"""

from __future__ import annotations

import glob as _glob
import os
import sqlite3
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

import numpy as np
import polars as pl

from ferrofactor import _core
from ferrofactor._validate import as_float_array, check_shape
from ferrofactor.panel import (
    _SHOW,
    Panel,
    _as_assets,
    _as_dates,
    _asset_codes,
    _check_unique,
    _label_codes,
    _schema,
    _series_to_days,
)

__all__ = [
    "derive_price_fields",
    "dollar_volume",
    "market_cap",
    "read_classifications",
    "read_frame",
    "read_fundamentals",
    "read_panel",
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


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


def read_frame(
    source: Any,
    *,
    connection: Any = None,
    format: str | None = None,
    string_columns: Sequence[str] = (),
) -> pl.DataFrame | pl.LazyFrame:
    """Open ``source`` as a Polars frame (lazy for files). See the module docstring for forms.

    Parameters
    ----------
    source : str, os.PathLike, polars DataFrame or LazyFrame
        A path/glob, a frame, or a SQL query when ``connection`` is given.
    connection : DB-API/SQLAlchemy connection or database URI, optional
        Makes ``source`` a SQL query.
    format : {"parquet", "csv", "ipc"}, optional
        File format; default from the extension.
    string_columns : sequence of str
        CSV columns to read as strings (asset ids such as ``"00123"`` must not become integers).
    """
    if connection is not None:
        if not isinstance(source, str):
            raise TypeError(f"with connection=, source must be a SQL query string, got {type(source).__name__}")
        return _read_sql(source, connection)
    if isinstance(source, (pl.DataFrame, pl.LazyFrame)):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            "source must be a path or glob, a polars DataFrame/LazyFrame, or a SQL query with "
            f"connection=; got {type(source).__name__}"
        )
    path = os.fspath(source)
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
    if "://" not in path and not _glob.glob(path):
        raise FileNotFoundError(f"no file matches {path!r}")
    if fmt == "parquet":
        return pl.scan_parquet(path)
    if fmt == "ipc":
        return pl.scan_ipc(path)
    sep = "\t" if path.lower().endswith(".tsv") else ","
    return pl.scan_csv(path, separator=sep, schema_overrides={c: pl.String for c in string_columns})


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
        path = unquote(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"SQLite URI {uri!r} names no database file ('sqlite:///path.db')")
        if not os.path.exists(path):
            raise FileNotFoundError(f"SQLite database {path!r} (from URI {uri!r}) does not exist")
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return pl.read_database(query, con, infer_schema_length=None)
        finally:
            con.close()
    return pl.read_database(query, connection, infer_schema_length=None)


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
    dates: Any = None,
    assets: Any = None,
) -> Panel:
    """Read long (date, asset, fields...) data into a dense, aligned :class:`Panel`.

    Parameters
    ----------
    source : path/glob, polars DataFrame/LazyFrame, or SQL query (with ``connection``)
        See the module docstring.
    date, asset : str
        Column names of the date and the asset id.
    fields : sequence of str, optional
        Float fields. Default: every numeric column other than ``date``/``asset``.
    codes : sequence of str, optional
        Label columns to store as int32 code fields (e.g. ``["industry"]``).
    connection : connection object or database URI, optional
        Makes ``source`` a SQL query.
    format : {"parquet", "csv", "ipc"}, optional
        File format when the extension does not tell.
    dates, assets : array-like, optional
        Target axes; rows off them are dropped. Default: the data's sorted unique values.

    Returns
    -------
    Panel
        Fields ``(T, N)`` float64 (NaN where a row is missing or null), codes int32 (-1 = none).

    Raises
    ------
    ValueError
        Missing columns, duplicate (date, asset) rows, unparseable dates, non-numeric fields,
        empty input; see :meth:`Panel.from_polars`.

    Examples
    --------
    >>> import polars as pl, ferrofactor as ff
    >>> df = pl.DataFrame({"date": ["2024-01-02", "2024-01-03", "2024-01-03"],
    ...                    "asset": ["A", "A", "B"], "close": [10.0, 11.0, 5.0]})
    >>> ff.read_panel(df)["close"]
    array([[10., nan],
           [11.,  5.]])
    """
    frame = read_frame(source, connection=connection, format=format, string_columns=[asset])
    return Panel.from_polars(frame, date=date, asset=asset, fields=fields, codes=codes, dates=dates, assets=assets)


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
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray, list[str]]:
    """Load event records (asset, date, value columns) and check them."""
    frame = read_frame(source, connection=connection, format=format, string_columns=[asset])
    schema = _schema(frame)
    names = list(schema.names())
    missing = [c for c in (asset, date) if c not in schema]
    if columns is None:
        if numeric:
            columns = [
                c for c in names if c not in (asset, date) and (schema[c].is_numeric() or schema[c] == pl.Boolean)
            ]
        else:
            columns = []
    columns = list(columns)
    missing += [c for c in columns if c not in schema]
    if missing:
        raise ValueError(f"missing columns {missing}; the data has columns {names}")
    if numeric:
        for c in columns:
            dt = schema[c]
            if not (dt.is_numeric() or dt == pl.Boolean):
                raise ValueError(f"field {c!r} is not numeric (dtype {dt})")
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
    lag: int = 1,
    max_staleness: int | None = 365,
    connection: Any = None,
    format: str | None = None,
) -> Panel:
    """Point-in-time fundamentals on a (dates × assets) grid, free of look-ahead.

    Each record (one row per asset and report) is *available* on ``report_date + lag`` calendar
    days. At panel date ``d`` an asset shows its latest record available on or before ``d``
    (the as-of join), provided ``d - available <= max_staleness`` days; otherwise NaN. A field that
    the visible record leaves null is NaN (values of older reports are not mixed in). Fiscal
    period end dates, if present, are ignored for visibility.

    Parameters
    ----------
    source : path/glob, polars frame, or SQL query (with ``connection``)
        Long records: ``asset``, ``report_date`` and numeric value columns.
    dates : array-like (T,)
        Panel dates, strictly increasing (usually ``prices.dates``).
    assets : array-like of str (N,)
        Panel assets (usually ``prices.assets``); records of other assets are ignored.
    asset, report_date : str
        Column names.
    fields : sequence of str, optional
        Value columns. Default: every numeric column other than ``asset``/``report_date``.
    lag : int, default 1
        Calendar days from the report date to availability (1: a report published on day r is
        used from the first trading day after r).
    max_staleness : int or None, default 365
        Calendar days after availability for which a record stays visible. None: no limit.
    connection, format
        As for :func:`read_panel`.

    Returns
    -------
    Panel
        One float field per value column, ``(T, N)``, on ``dates`` × ``assets``.

    Raises
    ------
    ValueError
        Missing columns, duplicate (asset, report_date) rows, unparseable dates, non-numeric
        fields, negative ``lag``/``max_staleness``.
    """
    _check_days("lag", lag)
    if max_staleness is not None:
        _check_days("max_staleness", max_staleness)
    frame, axis, target_assets, fields = _prepare_records(
        source, connection, format, asset, report_date, fields, dates, assets, numeric=True
    )
    if frame.height == 0:
        T, N = len(axis), len(target_assets)
        return Panel(axis, target_assets, {f: np.full((T, N), np.nan) for f in fields})
    avail = _series_to_days(report_date, frame[report_date]).astype(np.int64) + int(lag)
    _, a_idx = _asset_codes(frame[asset], target_assets)
    grid, perm = _asof_index(avail, a_idx, axis.view(np.int64), len(target_assets), max_staleness)
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
    lag: int = 0,
    connection: Any = None,
    format: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Classification codes over time (e.g. industries that change per asset).

    Each row says asset ``asset`` belongs to class ``code`` from ``date`` (+ ``lag`` calendar
    days) until the asset's next row. Before an asset's first row, and from a row whose ``code``
    is null, the code is -1.

    Parameters
    ----------
    source : path/glob, polars frame, or SQL query (with ``connection``)
        Long rows ``asset``, ``date`` (effective date), ``code``.
    dates, assets : array-like
        Panel axes (strictly increasing dates; asset strings).
    asset, date, code : str
        Column names.
    labels : sequence of str, optional
        The class names in code order (e.g. to keep codes stable across loads). Default: the
        sorted unique values present. A value not in ``labels`` raises ``ValueError``.
    lag : int, default 0
        Calendar days between the effective date and use.

    Returns
    -------
    codes : ndarray (T, N) int32
        -1 = none.
    labels : ndarray of str
        ``labels[c]`` names code ``c``. Pass as ``panel.with_fields(codes={"industry": (codes, labels)})``.
    """
    _check_days("lag", lag)
    frame, axis, target_assets, _ = _prepare_records(
        source, connection, format, asset, date, [code], dates, assets, numeric=False
    )
    T, N = len(axis), len(target_assets)
    s = frame[code]
    if labels is not None:
        lab = _as_assets("labels", labels)
        _check_unique("labels", lab)
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
        return np.full((T, N), -1, dtype=np.int32), lab
    avail = _series_to_days(date, frame[date]).astype(np.int64) + int(lag)
    _, a_idx = _asset_codes(frame[asset], target_assets)
    grid, perm = _asof_index(avail, a_idx, axis.view(np.int64), N, None)
    out = np.append(rec_codes[perm], np.int32(-1)).astype(np.int32)[grid]
    return out, lab


def _check_days(name: str, x: Any) -> None:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{name} must be an integer number of days, got {x!r}")
    if x < 0:
        raise ValueError(f"{name} must be >= 0 days, got {x}")


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


def returns_from_prices(close: Any) -> np.ndarray:
    """Simple returns from adjusted close prices.

    ``returns[t] = close[t] / close[t-1] - 1``: the return from close t−1 to close t. NaN on the
    first date and wherever either price is missing; a gap is never bridged (no fill-forward).

    Parameters
    ----------
    close : array-like (T, N)
        Adjusted close (dividends and splits folded in), positive where present, NaN = missing.

    Returns
    -------
    ndarray (T, N) float64
    """
    c = as_float_array("close", close, 2)
    _positive_where_present("close", c, strict=True)
    out = np.full(c.shape, np.nan)
    if c.shape[0] > 1:
        np.divide(c[1:], c[:-1], out=out[1:])
        out[1:] -= 1.0
    return out


def market_cap(close: Any, shares: Any) -> np.ndarray:
    """Market capitalisation ``close * shares`` (T, N); NaN where either is missing.

    ``close`` should be the unadjusted close and ``shares`` the shares outstanding on the same
    date (split-adjusted prices need split-adjusted share counts).
    """
    c = as_float_array("close", close, 2)
    s = as_float_array("shares", shares, 2)
    check_shape("shares", s, c.shape, "same as close")
    _positive_where_present("close", c, strict=True)
    _positive_where_present("shares", s, strict=False)
    return c * s


def dollar_volume(close: Any, volume: Any) -> np.ndarray:
    """Traded value ``close * volume`` (T, N) in currency units; NaN where either is missing."""
    c = as_float_array("close", close, 2)
    v = as_float_array("volume", volume, 2)
    check_shape("volume", v, c.shape, "same as close")
    _positive_where_present("close", c, strict=True)
    _positive_where_present("volume", v, strict=False)
    return c * v


def derive_price_fields(
    panel: Panel,
    *,
    close: str = "close",
    adjusted_close: str | None = None,
    shares: str | None = "shares",
    volume: str | None = "volume",
) -> Panel:
    """Add ``returns``, ``market_cap`` and ``dollar_volume`` fields to a price panel.

    ``returns`` come from ``adjusted_close`` (default: ``close``, i.e. prices already adjusted);
    ``market_cap`` from ``close × shares`` and ``dollar_volume`` from ``close × volume``, each only
    when its input field is present in the panel. Returns a new Panel sharing the other arrays.
    """
    adj = adjusted_close or close
    if adj not in panel:
        raise ValueError(f"price field {adj!r} not in panel; fields: {list(panel.fields)}")
    new = {"returns": returns_from_prices(panel[adj])}
    if shares is not None and shares in panel:
        new["market_cap"] = market_cap(panel[close], panel[shares])
    if volume is not None and volume in panel:
        new["dollar_volume"] = dollar_volume(panel[close], panel[volume])
    return panel.with_fields(new)
