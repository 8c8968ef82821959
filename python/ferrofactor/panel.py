"""Panel: a dates × assets grid of named fields, and its conversion to and from long Polars frames.

A :class:`Panel` holds

- ``dates``: ``numpy.datetime64[D]``, shape ``(T,)``, sorted and unique;
- ``assets``: a numpy array of ``str``, shape ``(N,)``, unique (any order);
- float fields: C-contiguous float64 arrays shaped ``(T, N)``, NaN where missing;
- code fields (e.g. ``industry``): C-contiguous int32 arrays shaped ``(T, N)``, -1 where there is
  no code, each with its ``labels`` (``labels[code]`` is the name of a code).

Long frames (one row per (date, asset), one column per field) become a Panel in O(rows), with no
per-asset or per-date Python loop:

1. the asset ids are hashed once by Polars (a cast to ``Categorical``, done while the other
   columns are decoded); the distinct day numbers and asset ids come from one table pass in Rust
   (``_core.first_rows_*``, no further hashing), and small lookup tables give every day and id its
   position on the axes;
2. ``_core.cell_index`` gives every row its cell ``t * N + a`` in parallel blocks. When the kept
   rows' cells increase (a file sorted by date then asset, with or without gaps: the usual layout)
   it returns *runs* of consecutive rows landing on consecutive cells and nothing per row; in any
   other order it writes each row's cell and an occupancy pass rejects repeated cells;
3. ``_core.scatter_runs`` (one copy per run) or ``_core.scatter_fields`` (one write per row)
   fills every float field's (T, N) array straight from the Arrow chunks, in parallel over fields
   and pieces of the grid, NaN where no row lands.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from ferrofactor import _core
from ferrofactor._validate import (
    as_code_array,
    as_field,
    as_float_array,
    by_date,
    by_label,
    check_bool,
    check_int64_codes,
    check_same_labels,
    check_shape,
    ISO_RX,
    has_time_directive,
    is_date_indexed,
    is_field_frame,
    is_labelled_series,
    refuse_time_of_day,
    values_by_label,
)

__all__ = ["Panel", "field_from_frame", "frame_from_field"]

# How many offending rows a validation error lists.
_SHOW = 5

#: The name pandas (pyarrow) gives an unnamed index level it writes into a Parquet file
#: (``df[df.close > 0].to_parquet(...)`` writes the filtered row numbers as ``__index_level_0__``):
#: row labels, never data, so never a default field.
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")


def _pandas_index_column(name: str) -> bool:
    """Whether column ``name`` is an unnamed pandas index level written to a file."""
    return _PANDAS_INDEX.fullmatch(name) is not None


# ---------------------------------------------------------------------------------------------
# Axis helpers
# ---------------------------------------------------------------------------------------------


def _as_dates(name: str, x: Any, *, check_range: bool = True) -> np.ndarray:
    """Return ``x`` as a 1-D ``datetime64[D]`` array (no sorting or uniqueness check).

    Accepts ``datetime64`` arrays (whole days), ``datetime.date`` objects, a Polars date column and
    ISO strings (``YYYY-MM-DD``, optionally with a time, parsed strictly: see
    :func:`_parse_dates`). The dates must lie in the range a daily panel can mean
    (:func:`_check_day_range`) unless ``check_range`` is False (bounds of a selection).
    """
    if isinstance(x, pl.Series):
        days = _series_to_days(name, x, what=name, hint=_ARGUMENT_HINT, check_range=check_range)
        return days.astype(np.int64).astype("datetime64[D]")
    _refuse_masked(name, x)
    try:
        arr = np.asarray(x)
    except (ValueError, OverflowError) as e:  # ragged lists, integers beyond int64
        raise TypeError(f"{name} must be dates (datetime64, datetime.date or ISO 'YYYY-MM-DD' strings): {e}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.array([], dtype="datetime64[D]")
    if arr.dtype.kind == "M":
        if np.any(np.isnat(arr)):
            raise ValueError(f"{name} must not contain missing dates (NaT)")
        refuse_time_of_day(name, arr)  # midnight is a date; another time is never cut to its day
        out = arr.astype("datetime64[D]")
    elif arr.dtype.kind == "U" or (arr.dtype == object and all(isinstance(v, str) for v in arr)):
        days = _series_to_days(
            name, pl.Series(name, arr.tolist(), dtype=pl.String), what=name, hint=_ARGUMENT_HINT, check_range=check_range
        )
        return days.astype(np.int64).astype("datetime64[D]")
    elif arr.dtype == object:
        _refuse_zoned_or_timed(name, arr)
        try:  # datetime.date / datetime.datetime objects
            out = arr.astype("datetime64[D]")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} could not be read as dates: {exc}") from None
        if np.any(np.isnat(out)):
            raise ValueError(f"{name} must not contain missing dates (NaT)")
    else:
        raise TypeError(
            f"{name} must be dates (datetime64, datetime.date or ISO 'YYYY-MM-DD' strings), got dtype {arr.dtype}"
        )
    days = out.view(np.int64)
    if check_range:
        _check_day_range(name, int(days.min()), int(days.max()))
    return out


def _refuse_zoned_or_timed(name: str, values: Any) -> None:
    """Refuse datetime objects with a time zone (numpy would move them to their UTC day, which
    can be the next day) or a time of day other than midnight (:func:`refuse_time_of_day`, the
    rule for every form of date)."""
    flat = np.ravel(np.asarray(values, dtype=object))
    for v in flat:
        if getattr(v, "tzinfo", None) is not None:
            raise ValueError(
                f"{name} holds a timezone-aware datetime ({v!r}); its day depends on the zone: "
                "pass the local calendar day (e.g. value.date(), or tz_localize(None) on a pandas index)"
            )
    refuse_time_of_day(name, flat)


def _as_assets(name: str, x: Any) -> np.ndarray:
    """Return ``x`` as a 1-D numpy array of ``str`` (no uniqueness check)."""
    if isinstance(x, pl.Series):
        x = x.to_list()
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.array([], dtype=str)
    if arr.dtype.kind == "U":
        return arr.copy()  # labels are never a view of the caller's array (cheap: N strings)
    if arr.dtype == object and all(isinstance(v, str) for v in arr):
        return arr.astype(str)
    raise TypeError(
        f"{name} must be strings, got dtype {arr.dtype}; convert numeric ids with .astype(str)"
    )


def _frozen(arr: np.ndarray) -> np.ndarray:
    """``arr`` made read-only (a copy when it was writeable, so that no caller's array is frozen
    nor aliased)."""
    if arr.flags.writeable:
        arr = arr.copy()
        arr.flags.writeable = False
    return arr


def _check_unique(name: str, arr: np.ndarray) -> None:
    uniq, counts = np.unique(arr, return_counts=True)
    if len(uniq) != len(arr):
        dup = uniq[counts > 1]
        raise ValueError(
            f"{name} must be unique; {len(dup)} values repeat, e.g. {[str(v) for v in dup[:_SHOW]]}"
        )


# Dates a daily panel can mean. Anything outside is refused before any table is sized by the span
# of the dates (a stray year 5,000,000 must be an error, not a multi-gigabyte allocation).
_DATE_MIN = np.datetime64("1800-01-01", "D")
_DATE_MAX = np.datetime64("2300-12-31", "D")
_MAX_SPAN_YEARS = 200
_MAX_SPAN_DAYS = 73_049  # 200 years of 365.2425 days


def _day_str(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def _check_day_range(what: str, lo: int, hi: int) -> None:
    """Refuse dates outside ``_DATE_MIN.._DATE_MAX`` or spanning more than ``_MAX_SPAN_YEARS``.

    ``lo``/``hi`` are day numbers (days since 1970-01-01); ``what`` names the column or argument.
    """
    d_min, d_max = int(_DATE_MIN.astype(np.int64)), int(_DATE_MAX.astype(np.int64))
    if lo < d_min or hi > d_max or hi - lo > _MAX_SPAN_DAYS:
        raise ValueError(
            f"{what}: dates run from {_day_str(lo)} to {_day_str(hi)}; a daily panel's dates must lie "
            f"between {_DATE_MIN} and {_DATE_MAX} and span at most {_MAX_SPAN_YEARS} years. Look for "
            "a mistyped date (or a wrong date_format)"
        )


def _check_column_names(**names: Any) -> None:
    """Column-name arguments must be strings."""
    for arg, v in names.items():
        if not isinstance(v, str):
            raise TypeError(f"{arg} must be a column name (str), got {type(v).__name__} {v!r}")


def _check_date_format(date_format: Any) -> None:
    if date_format is None:
        return
    if not isinstance(date_format, str):
        raise TypeError(
            f"date_format must be a strftime format string such as '%m/%d/%Y', got {type(date_format).__name__}"
        )
    if "%" not in date_format:
        raise ValueError(
            f"date_format {date_format!r} has no % directives; write it in strftime codes, "
            "e.g. '%Y-%m-%d', '%m/%d/%Y' or '%Y%m%d'"
        )


def _examples(s: pl.Series) -> list[Any]:
    return s.unique(maintain_order=True).head(_SHOW).to_list()


_FORMAT_HINT = (
    "pass date_format= with the column's strftime format, e.g. date_format='%m/%d/%Y' (month "
    "first) or '%d/%m/%Y' (day first)"
)
_ARGUMENT_HINT = (
    "pass numpy datetime64 values (or ISO strings), converting other text with its explicit "
    "format first (e.g. polars' str.to_date('%m/%d/%Y'))"
)


def _parse_iso(what: str, s: pl.Series, hint: str = _FORMAT_HINT) -> pl.Series:
    """Strict ISO parse of a string column: ``YYYY-MM-DD`` or ``YYYY-MM-DD[ T]HH:MM:SS[.f]``.

    Nothing else is accepted: ``'01/02/2024'`` could be January 2nd or February 1st, and
    ``'2024-1-2'`` is not ISO. A time is read only at midnight (a timestamp with another time of
    day is refused: :func:`refuse_time_of_day`, never cut to its day). Nulls stay null.
    """
    d = s.str.to_date("%Y-%m-%d", strict=False)  # fast path: plain dates, every row
    rest = s.is_not_null() & ~(d.is_not_null() & (s.str.len_bytes() == 10))
    if not rest.any():
        return d
    idx = rest.arg_true()
    r = s.gather(idx)
    iso = r.str.contains(ISO_RX)
    if not iso.all():
        bad = r.filter(~iso)
        zoned = _zoned_iso_format(bad[0]) if hint is _FORMAT_HINT else None
        if zoned is not None:
            # ISO with a zone designator (pandas' to_csv of zoned timestamps writes '+00:00'):
            # the day/month hint below would be wrong; name the format that reads them
            raise ValueError(
                f"{what}: {bad.len()} values are ISO timestamps with a time zone, e.g. {_examples(bad)}: a "
                f"date is read from them with its format only, pass date_format={zoned!r}"
            )
        raise ValueError(
            f"{what}: {bad.len()} values are not ISO dates ('YYYY-MM-DD', optionally followed by a "
            f"time), e.g. {_examples(bad)}. Dates are never guessed (in a value such as '01/02/2024' "
            f"the day/month order is ambiguous): {hint}"
        )
    # ISO-shaped but not plain dates: timestamps (midnight only) or impossible dates (null)
    dt = r.str.replace("T", " ", literal=True).str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False, time_unit="us")
    refuse_time_of_day(what, dt, shown=r)
    return d.scatter(idx, dt.dt.date())



_ZONED_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([ T])\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2}|[+-]\d{4})$")


def _zoned_iso_format(value: Any) -> str | None:
    """The strftime format of an ISO timestamp with a zone designator (``2024-01-02T00:00:00Z``,
    ``2024-01-02 00:00:00+00:00``), or None for any other value."""
    m = _ZONED_ISO.match(value) if isinstance(value, str) else None
    if m is None:
        return None
    zone = "Z" if m.group(3) == "Z" else ("%:z" if ":" in m.group(3) else "%z")
    return f"%Y-%m-%d{m.group(1)}%H:%M:%S{'%.f' if m.group(2) else ''}{zone}"

# two numeric strftime fields with nothing between them, e.g. the '%Y%m' of '%Y%m%d'
_ADJACENT_FIELDS = re.compile(r"%[-_0^#]?[YCGymdejHIklMSUWVu]%[-_0^#]?[YCGymdejHIklMSUWVu]")


def _parse_dates(what: str, s: pl.Series, date_format: str | None, hint: str = _FORMAT_HINT) -> pl.Series:
    """A date-like column as a Polars ``Date`` series (nulls kept), never by guessing a format.

    ``Date`` is taken as is, a ``Datetime`` at midnight is its date (with a time zone: midnight
    in that zone, and its calendar day there). Strings are ISO (:func:`_parse_iso`) unless
    ``date_format`` is given; integers (e.g. ``20240102``) need ``date_format`` (``'%Y%m%d'``).
    With ``date_format`` every value must match it exactly. A time of day other than midnight is
    refused in every form (:func:`refuse_time_of_day`), never cut to its day.
    """
    dtype = s.dtype
    if dtype == pl.Date:
        return s
    if isinstance(dtype, pl.Datetime):
        wall = s.dt.replace_time_zone(None) if dtype.time_zone is not None else s  # converted once
        refuse_time_of_day(what, wall, shown=s, zone=dtype.time_zone)
        return wall.dt.date()
    if dtype == pl.String or dtype.is_integer():
        if date_format is None:
            if dtype.is_integer():
                how = (
                    "pass date_format= with their format, e.g. date_format='%Y%m%d' for 20240102"
                    if hint is _FORMAT_HINT
                    else hint
                )
                raise ValueError(
                    f"{what} holds integers (dtype {dtype}, e.g. {_examples(s.drop_nulls())}), not dates. "
                    f"Integer dates are never guessed: {how}"
                )
            return _parse_iso(what, s, hint)
        text = s if dtype == pl.String else s.cast(pl.String)
        try:
            d = text.str.to_date(date_format, strict=False)
        except pl.exceptions.PolarsError as e:
            raise ValueError(f"date_format {date_format!r} could not be applied to {what}: {e}") from e
        bad = d.is_null() & text.is_not_null()
        if bad.any():
            raise ValueError(
                f"{what}: {int(bad.sum())} values do not match date_format {date_format!r}, "
                f"e.g. {_examples(text.filter(bad))}"
            )
        if has_time_directive(date_format):  # a format with a time: midnight only
            refuse_time_of_day(what, text.str.to_datetime(date_format, strict=False), shown=text)
        if _ADJACENT_FIELDS.search(date_format):
            # numeric fields without a separator between them ('%Y%m%d'): the parser also takes
            # unpadded fields, and '2024111' could then be 2024-11-01 or 2024-01-11. Only the
            # zero-padded spelling is unambiguous: every value must be written back exactly.
            back = text.str.to_datetime(date_format, strict=False).dt.strftime(date_format)
            bad = text.is_not_null() & (back.is_null() | (back != text))
            if bad.any():
                raise ValueError(
                    f"{what}: {int(bad.sum())} values are not written exactly as date_format "
                    f"{date_format!r} writes dates (fields without a separator must be zero-padded, "
                    f"else the split is a guess), e.g. {_examples(text.filter(bad))}"
                )
        return d
    raise ValueError(
        f"{what} has dtype {dtype}; expected dates (Date, Datetime, ISO 'YYYY-MM-DD' strings, or "
        "strings/integers with date_format=)"
    )


def _series_to_days(
    name: str,
    s: pl.Series,
    date_format: str | None = None,
    *,
    what: str | None = None,
    hint: str = _FORMAT_HINT,
    check_range: bool = True,
) -> np.ndarray:
    """Day numbers (int32, days since 1970-01-01) of a date-like Polars column.

    See :func:`_parse_dates` for what is accepted. Raises ``ValueError`` on nulls, values that
    are not ISO (without ``date_format``) or do not match ``date_format``, other dtypes, and
    dates outside the range a daily panel can mean. ``what`` replaces ``column 'name'`` in
    messages.
    """
    what = f"column {name!r}" if what is None else what
    d = _parse_dates(what, s, date_format, hint)
    bad = d.is_null() & s.is_not_null()
    if bad.any():
        raise ValueError(
            f"{what}: {int(bad.sum())} values could not be parsed as dates, e.g. {_examples(s.filter(bad))}"
        )
    n_null = d.null_count()
    if n_null:
        raise ValueError(f"{what} has {n_null} missing dates")
    days = d.to_physical().to_numpy().astype(np.int32, copy=False)
    if days.size and check_range:
        _check_day_range(what, int(days.min()), int(days.max()))
    return days


def _refuse_masked(name: str, x: Any) -> None:
    """numpy masked arrays are refused: converting them would silently drop the mask."""
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a numpy masked array; its mask would be lost. Pass a plain array with NaN "
            f"where values are missing (e.g. x.filled(np.nan))"
        )


#: Polars' message for a CSV cell that does not parse as the dtype inferred from the first rows.
_UNPARSED_CSV = re.compile(r"could not parse `([^`\n]{1,40})` as dtype")


@contextlib.contextmanager
def _polars_errors(what: str):
    """Re-raise errors of Polars (and a Polars panic) met while reading ``what`` as ``ValueError``.
    A CSV cell that does not parse as its column's inferred dtype (a marker such as ``NA`` below
    the rows the dtype was inferred from) gets the first line: what to pass to read it as
    missing (``null_values=``, ``data.null_values``)."""
    try:
        yield
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException) as e:
        m = _UNPARSED_CSV.search(str(e))
        hint = ""
        if m and what.endswith(" as csv"):
            hint = (f"; a cell holds {m.group(1)!r} (a missing-value marker? pass null_values=[{m.group(1)!r}], "
                    "data.null_values in a config)")
        raise ValueError(f"could not read {what}{hint}: {type(e).__name__}: {e}") from e


def _asset_codes(s: pl.Series, target: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes of an asset column: ``(assets, a_idx)`` with -1 for an asset not on ``target``.

    Without ``target`` the assets are the sorted unique values. See :func:`_asset_lut`: O(rows).
    """
    assets, ids, lut = _asset_lut(s, target)
    flat = np.concatenate(ids) if ids else np.zeros(0, np.uint32)
    return assets, lut[flat].astype(np.int64)


def _refuse_padded_twins(column: str, names: np.ndarray) -> None:
    """Refuse asset ids that differ only by leading or trailing spaces ('AAPL' and 'AAPL ', as
    a fixed-width CHAR column pads them): read as two assets, each would hold part of the
    other's rows, with a gap (so no return) wherever the other spelling is used. Which is meant
    is not guessed. Ids padded alike throughout are left as they are."""
    stripped = np.char.strip(names)
    padded = stripped != names
    if not padded.any():
        return
    plain = set(names[~padded].tolist())
    twins = [(a, b) for a, b in zip(stripped[padded].tolist(), names[padded].tolist()) if a in plain]
    seen: dict[str, list[str]] = {}
    for a, b in zip(stripped[padded].tolist(), names[padded].tolist()):
        seen.setdefault(a, []).append(b)
    twins += [(v[0], v[1]) for v in seen.values() if len(v) > 1]
    if twins:
        raise ValueError(
            f"column {column!r} has {len(twins)} asset ids written with and without surrounding spaces, e.g. "
            f"{[list(t) for t in twins[:_SHOW]]}: read as different assets, each would hold part of the other's "
            "rows. Strip the spaces (pl.col(...).str.strip_chars()) or write every id alike"
        )


def _asset_lut(s: pl.Series, target: np.ndarray | None) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """The asset axis, the rows' categorical ids (uint32 chunks) and ``lut[id]`` = position on it.

    One hashing pass over the strings (a cast to ``Categorical``, skipped when the column already
    is one); the distinct ids come from a table pass in Rust (:func:`_distinct`) and are ranked by
    name (sorted axis) or looked up in ``target`` (-1 = not on it).
    """
    if s.null_count():
        raise ValueError(f"column {s.name!r} has {s.null_count()} missing asset ids")
    if not isinstance(s.dtype, pl.Categorical):
        if not (s.dtype == pl.String or s.dtype.is_integer() or isinstance(s.dtype, pl.Enum)):
            raise ValueError(
                f"column {s.name!r} has dtype {s.dtype}; expected asset ids (strings or integers)"
            )
        s = s.cast(pl.String).cast(pl.Categorical)
    ids = [np.ascontiguousarray(c.to_numpy(), dtype=np.uint32) for c in s.to_physical().get_chunks()]
    max_id = max((int(c.max()) for c in ids if len(c)), default=-1)
    u_ids, first = _distinct(ids, 0, max_id, _core.first_rows_u32)
    u_names = np.asarray(s.gather(first).cast(pl.String).to_list(), dtype=str)
    _refuse_padded_twins(s.name, u_names)
    if target is None:
        order = np.argsort(u_names, kind="stable")
        assets = u_names[order]
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
    else:
        assets = target
        rank = np.full(len(u_names), -1, dtype=np.int32)
        if len(target) and len(u_names):
            t_order = np.argsort(target, kind="stable")
            t_sorted = target[t_order]
            pos = np.minimum(np.searchsorted(t_sorted, u_names), len(t_sorted) - 1)
            hit = t_sorted[pos] == u_names
            rank[hit] = t_order[pos[hit]]
    lut = np.full(int(u_ids.max()) + 1 if len(u_ids) else 0, -1, dtype=np.int32)
    lut[u_ids] = rank
    return assets, ids, lut


def _check_code_column(s: pl.Series) -> None:
    """Refuse an integer code column with values beyond int64 (a ``UInt64`` column holding
    values >= 2**63), naming the column: as for integer codes given as arrays
    (:func:`ferrofactor._validate.check_int64_codes`), such values are refused rather than read
    as classes."""
    if s.dtype == pl.UInt64:
        hi = s.max()
        if hi is not None and int(hi) > np.iinfo(np.int64).max:  # type: ignore[arg-type]
            check_int64_codes(
                f"code column {s.name!r}", s.drop_nulls().to_numpy(),
                labels_hint="cast the column to String (pl.col(...).cast(pl.String)) to read them as labels",
                none_hint="replace it with null (a code column's none)",
            )


def _label_codes(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes and labels of a categorical column (nulls become -1).

    ``Enum`` keeps its category list and order (so a round trip is exact); strings and
    ``Categorical`` get their sorted unique values; integers get their sorted unique values,
    written as strings (values beyond int64, i.e. ``UInt64`` values >= 2**63, are refused with a
    ``ValueError``, as for integer code arrays).
    """
    dtype = s.dtype
    _check_code_column(s)
    if isinstance(dtype, pl.Enum):
        labels = np.asarray(dtype.categories.to_list(), dtype=str)
        codes = s.to_physical().cast(pl.Int32)
    elif dtype == pl.String or isinstance(dtype, pl.Categorical) or dtype.is_integer():
        uniq = s.drop_nulls().unique().sort()
        labels = np.asarray(uniq.cast(pl.String).to_list(), dtype=str)
        codes = s.replace_strict(uniq, pl.int_range(len(uniq), eager=True), return_dtype=pl.Int32, default=None)
    else:
        raise ValueError(
            f"code field {s.name!r} has dtype {dtype}; expected strings, integers, Categorical or Enum"
        )
    return codes.fill_null(-1).to_numpy().astype(np.int32, copy=False), labels


def _schema(df: Any) -> pl.Schema:
    if not isinstance(df, (pl.DataFrame, pl.LazyFrame)):
        raise TypeError(f"df must be a polars DataFrame or LazyFrame, got {type(df).__name__}")
    return df.collect_schema() if isinstance(df, pl.LazyFrame) else df.schema


def _first_text(df: pl.DataFrame | pl.LazyFrame, column: str) -> str | None:
    """The first non-null value of text column ``column`` that does not read as a number (a
    ``Float64`` cast gives null), or None (no such value, or the query fails): the example of an
    error message. One query for that one row (filter, then ``head(1)``): the column is never
    collected."""
    lazy = df.lazy() if isinstance(df, pl.DataFrame) else df
    c = pl.col(column)
    try:
        out = lazy.select(c).filter(c.is_not_null() & c.cast(pl.Float64, strict=False).is_null()).head(1).collect()
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException):
        return None
    return str(out[column][0]) if out.height else None


def _text_values_hint(df: pl.DataFrame | pl.LazyFrame, column: str, dtype: Any, csv: bool,
                      lead: str = ": it") -> str:
    """What to add to "column ... is not numeric" for a text column: ``lead`` then ``" holds
    text such as 'NA'"`` (``": it holds text such as 'NA'"`` by default), and for a CSV source
    (``csv``) how to read such a marker as missing (``null_values=``); ``""`` for other dtypes or
    when no value is found."""
    if dtype != pl.String:
        return ""
    v = _first_text(df, column)
    if v is None:
        return ""
    shown = v if len(v) <= 40 else v[:40] + "…"
    out = f"{lead} holds text such as {shown!r}"
    if csv and len(v) <= 40:
        out += f" (a missing-value marker? pass null_values=[{v!r}], data.null_values in a config)"
    return out


# ---------------------------------------------------------------------------------------------
# Panel
# ---------------------------------------------------------------------------------------------


class _Fields:
    """Field access shared by :class:`Panel` and ``ferrofactor.dask.DaskPanel``: float fields in
    ``self._float``, code fields in ``self._codes`` with their labels in ``self._labels``."""

    _float: dict
    _codes: dict
    _labels: dict

    @property
    def shape(self) -> tuple[int, int]:
        """``(T, N)``."""
        return (len(self._dates), len(self._assets))  # type: ignore[attr-defined]

    @property
    def fields(self) -> tuple[str, ...]:
        """All field names: float fields first, then code fields."""
        return tuple(self._float) + tuple(self._codes)

    @property
    def float_fields(self) -> tuple[str, ...]:
        return tuple(self._float)

    @property
    def code_fields(self) -> tuple[str, ...]:
        return tuple(self._codes)

    def labels(self, name: str) -> np.ndarray:
        """Labels of code field ``name``: ``labels(name)[c]`` names code ``c``."""
        if name not in self._labels:
            raise KeyError(f"{name!r} is not a code field; code fields: {list(self._codes)}")
        return self._labels[name]

    def __getitem__(self, name: str) -> Any:
        if name in self._float:
            return self._float[name]
        if name in self._codes:
            return self._codes[name]
        raise KeyError(f"no field {name!r}; fields: {list(self.fields)}")

    def __contains__(self, name: object) -> bool:
        return name in self._float or name in self._codes

    def _cap_and_industry(self, cap: str, industry: str | None) -> tuple[Any, list[str] | None]:
        """Check that field ``cap`` exists and return the code field ``industry`` (or None) with
        its labels, for the exposure builders."""
        if cap not in self:
            raise ValueError(f"panel has no field {cap!r} (cap); fields: {list(self.fields)}")
        if industry is None:
            return None, None
        if industry not in self.code_fields:
            raise ValueError(
                f"panel has no code field {industry!r} (industry); code fields: "
                f"{list(self.code_fields)}; pass industry=None for a model without industries"
            )
        return self[industry], list(self.labels(industry))


class Panel(_Fields):
    """Named ``(T, N)`` fields on a common grid of ``dates`` × ``assets``.

    Parameters
    ----------
    dates : array-like, shape (T,)
        Dates (``datetime64`` of whole days or ISO strings), strictly increasing.
    assets : array-like of str, shape (N,)
        Unique asset identifiers.
    fields : mapping of str to array-like or Polars frame (T, N), optional
        Float fields, converted once to C-contiguous float64 (NaN = missing). Arrays that are
        already C-contiguous float64 are stored without a copy. A frame (long or wide, see
        :func:`field_from_frame`) keeps its labels: its dates and assets must be ``dates`` and
        ``assets`` (same order), else ``ValueError`` (never stored by position).
    codes : mapping of str to (codes, labels), optional
        Integer code fields: ``codes`` (T, N) int32 with -1 = none, ``labels`` a sequence of unique
        strings with ``labels[c]`` the name of code ``c``.
    truth : object, optional
        Anything the producer wants to attach (``datasets.synthetic_universe`` stores its
        ``SyntheticTruth`` here). Not copied, not compared, not written by :meth:`to_polars`.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> p = ff.Panel(["2024-01-02", "2024-01-03"], ["A", "B"], {"close": [[1.0, 2.0], [1.1, np.nan]]})
    >>> p.shape, p.fields
    ((2, 2), ('close',))
    """

    def __init__(
        self,
        dates: Any,
        assets: Any,
        fields: Mapping[str, Any] | None = None,
        codes: Mapping[str, tuple[Any, Any]] | None = None,
        *,
        truth: Any = None,
    ) -> None:
        d = _as_dates("dates", dates)
        if d.size > 1 and not np.all(d[1:] > d[:-1]):
            i = int(np.flatnonzero(d[1:] <= d[:-1])[0])
            raise ValueError(
                f"dates must be strictly increasing (sorted, unique); dates[{i}]={d[i]} is "
                f"followed by dates[{i + 1}]={d[i + 1]}"
            )
        a = _as_assets("assets", assets)
        _check_unique("assets", a)
        T, N = len(d), len(a)
        # labels are the panel's own read-only arrays: writing into panel.assets (or a result's
        # labels, views of them) would relabel every field and result built on the panel
        self._dates = _frozen(d)
        self._assets = _frozen(a)
        self._float: dict[str, np.ndarray] = {}
        self._codes: dict[str, np.ndarray] = {}
        self._labels: dict[str, np.ndarray] = {}
        for name, x in (fields or {}).items():
            if not isinstance(name, str):
                raise TypeError(f"field names must be strings, got {name!r}")
            _refuse_masked(f"field {name!r}", x)
            if is_field_frame(x):
                # a frame (Polars, or pandas indexed by date or with asset columns) keeps its
                # labels: they must be the panel's (same order), never dropped
                # for a pairing by position (its rows come out in date order, then compared)
                arr, f_dates, f_assets = as_field(f"field {name!r}", x, date_order=False)
                check_shape(f"field {name!r}", arr, (T, N), "len(dates), len(assets)")
                check_same_labels(
                    f"field {name!r}", f_dates, f_assets, "the panel", d, a,
                    how="give the frame on the panel's dates and assets, in the panel's order "
                    "(or build the panel on the frame's labels)",
                )
            else:
                arr = as_float_array(f"field {name!r}", x, 2)
                check_shape(f"field {name!r}", arr, (T, N), "len(dates), len(assets)")
            self._float[name] = arr
        for name, pair in (codes or {}).items():
            if not isinstance(name, str):
                raise TypeError(f"code field names must be strings, got {name!r}")
            if name in self._float:
                raise ValueError(f"field {name!r} is given both as a float field and a code field")
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise TypeError(f"code field {name!r} must be a (codes, labels) tuple")
            _refuse_masked(f"code field {name!r}", pair[0])
            c = as_code_array(f"code field {name!r}", pair[0], 2)
            check_shape(f"code field {name!r}", c, (T, N), "len(dates), len(assets)")
            labels = _as_assets(f"labels of code field {name!r}", pair[1])
            _check_unique(f"labels of code field {name!r}", labels)
            if c.size and int(c.max()) >= len(labels):
                raise ValueError(
                    f"code field {name!r} has code {int(c.max())} but only {len(labels)} labels"
                )
            self._codes[name] = c
            self._labels[name] = _frozen(labels)
        self.truth = truth

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a pickled (or deep-copied) panel comes back with writeable copies: freeze its labels again
        self.__dict__.update(state)
        self._dates, self._assets = _frozen(self._dates), _frozen(self._assets)
        self._labels = {k: _frozen(v) for k, v in self._labels.items()}

    # -- axes and fields ---------------------------------------------------------------------

    @property
    def dates(self) -> np.ndarray:
        """``datetime64[D]`` array, shape (T,), strictly increasing."""
        return self._dates

    @property
    def assets(self) -> np.ndarray:
        """``str`` array, shape (N,), unique."""
        return self._assets

    def __repr__(self) -> str:
        T, N = self.shape
        span = f"{self._dates[0]}..{self._dates[-1]}" if T else "no dates"
        return f"Panel(T={T}, N={N}, {span}, fields={list(self._float)}, codes={list(self._codes)})"

    # -- derived panels ----------------------------------------------------------------------

    def plot(self, fields: Sequence[str] | None = None) -> Any:
        """Data coverage: assets with a finite value per date, for ``fields`` (default
        ``returns``, ``market_cap`` and fundamentals when present) and each code field; a
        matplotlib ``Figure`` (:func:`ferrofactor.plotting.coverage_figure`; needs the
        ``plot`` extra)."""
        from ferrofactor.plotting import coverage_figure

        if fields is not None:
            unknown = [f for f in fields if f not in self._float]
            if unknown:
                raise ValueError(f"fields {unknown} are not float fields of the panel; fields: {list(self._float)}")
        return coverage_figure(self, fields)

    def with_fields(
        self,
        fields: Mapping[str, Any] | None = None,
        codes: Mapping[str, tuple[Any, Any]] | None = None,
    ) -> Panel:
        """A new Panel with ``fields``/``codes`` added (or replaced); other arrays are shared.
        A Polars frame among ``fields`` must carry the panel's dates and assets (as in
        :class:`Panel`)."""
        f = dict(self._float)
        c = {k: (v, self._labels[k]) for k, v in self._codes.items()}
        for k in fields or {}:
            c.pop(k, None)
        for k in codes or {}:
            f.pop(k, None)
        f.update(fields or {})
        c.update(codes or {})
        return Panel(self._dates, self._assets, f, c, truth=self.truth)

    def select(self, dates: Any = None, assets: Any = None) -> Panel:
        """A new Panel on a subset (or reordering) of the dates and assets; arrays are copied.

        Parameters
        ----------
        dates : None, slice, boolean mask (T,) or array-like of dates
            ``None`` keeps all. A ``slice(start, stop)`` of dates (strings or datetime64) keeps
            ``start <= date <= stop`` (both inclusive, either may be None). A list of dates must
            all be on the panel and is sorted. A boolean mask given as a pandas Series indexed by
            date must carry the panel's dates, in their order (never paired by position).
        assets : None, boolean mask (N,) or array-like of str
            A list of assets must all be on the panel; the result follows its order. A boolean
            mask given as a pandas Series indexed by asset is paired with the panel's assets by
            label (every asset given), never by position.
        """
        ti = self._date_positions(dates)
        ai = self._asset_positions(assets)
        fields = {k: np.ascontiguousarray(v[np.ix_(ti, ai)]) for k, v in self._float.items()}
        codes = {
            k: (np.ascontiguousarray(v[np.ix_(ti, ai)]), self._labels[k])
            for k, v in self._codes.items()
        }
        return Panel(self._dates[ti], self._assets[ai], fields, codes, truth=self.truth)

    def _date_positions(self, dates: Any) -> np.ndarray:
        T = len(self._dates)
        if dates is None:
            return np.arange(T)
        if isinstance(dates, slice):
            if dates.step is not None:
                raise ValueError("dates slice must not have a step")
            lo = 0 if dates.start is None else int(
                np.searchsorted(self._dates, _as_dates("dates.start", [dates.start], check_range=False)[0], "left")
            )
            hi = T if dates.stop is None else int(
                np.searchsorted(self._dates, _as_dates("dates.stop", [dates.stop], check_range=False)[0], "right")
            )
            return np.arange(lo, max(lo, hi))
        if is_date_indexed(dates) and np.asarray(dates).dtype == bool:
            # a mask indexed by date: it must carry the panel's dates, in their order
            dates = by_date("dates", dates, self._dates, of="the panel")[0]
        arr = np.asarray(dates)
        if arr.dtype == bool:
            if arr.shape != (T,):
                raise ValueError(f"dates mask has shape {arr.shape}, expected ({T},)")
            return np.flatnonzero(arr)
        # a Polars series is read as such (a zoned Datetime keeps its zone)
        want = np.unique(_as_dates("dates", dates if isinstance(dates, pl.Series) else np.atleast_1d(arr),
                                   check_range=False))
        pos = np.searchsorted(self._dates, want)
        ok = (pos < T) & (self._dates[np.minimum(pos, T - 1)] == want) if T else np.zeros(len(want), bool)
        if not np.all(ok):
            missing = want[~ok]
            raise ValueError(
                f"{len(missing)} dates are not on the panel, e.g. {[str(x) for x in missing[:_SHOW]]}"
            )
        return pos

    def _asset_positions(self, assets: Any) -> np.ndarray:
        N = len(self._assets)
        if assets is None:
            return np.arange(N)
        if is_labelled_series(assets) and np.asarray(assets).dtype == bool:
            # a mask indexed by asset: paired with the panel's assets by label, never by position
            assets = values_by_label("assets", by_label("assets", assets), self._assets, of="the panel",
                                     boolean=True)
        arr = np.asarray(assets)
        if arr.dtype == bool:
            if arr.shape != (N,):
                raise ValueError(f"assets mask has shape {arr.shape}, expected ({N},)")
            return np.flatnonzero(arr)
        want = _as_assets("assets", np.atleast_1d(arr))
        _check_unique("assets", want)
        order = np.argsort(self._assets)
        sorted_assets = self._assets[order]
        pos = np.searchsorted(sorted_assets, want)
        pos_c = np.minimum(pos, max(N - 1, 0))
        ok = (pos < N) & (sorted_assets[pos_c] == want) if N else np.zeros(len(want), bool)
        if not np.all(ok):
            missing = want[~ok]
            raise ValueError(
                f"{len(missing)} assets are not on the panel, e.g. {missing[:_SHOW].tolist()}"
            )
        return order[pos_c]

    def equals(self, other: Panel) -> bool:
        """Exact equality of axes, field names, values (NaN equals NaN) and labels."""
        if not isinstance(other, Panel):
            return False
        if self.shape != other.shape or self.fields != other.fields:
            return False
        if not (np.array_equal(self._dates, other._dates) and np.array_equal(self._assets, other._assets)):
            return False
        for k, v in self._float.items():
            if not np.array_equal(v, other._float[k], equal_nan=True):
                return False
        for k, v in self._codes.items():
            if not np.array_equal(v, other._codes[k]):
                return False
            if not np.array_equal(self._labels[k], other._labels[k]):
                return False
        return True

    # -- Polars ------------------------------------------------------------------------------

    def to_polars(self, *, drop_missing: bool = False) -> pl.DataFrame:
        """The panel as a long frame: one row per (date, asset), date-major.

        Columns: ``date`` (``pl.Date``), ``asset`` (``pl.String``), then each float field
        (``Float64``, NaN where missing) and each code field as a ``pl.Enum`` of its labels
        (null where the code is -1; ``.to_physical()`` gives the integer codes). The Enum keeps
        every label and its order; a code field without labels (every code -1) is an empty Enum,
        all null, so it comes back as a code field too (also through Parquet).
        ``Panel.from_polars`` sorts the assets unless told their order, so ``Panel.from_polars(p.to_polars(), assets=p.assets)`` equals ``p`` exactly
        (without ``assets=`` it equals ``p.select(assets=sorted(p.assets))``).

        Parameters
        ----------
        drop_missing : bool, default False
            Drop rows where every float field is NaN and every code is -1. The frame is smaller,
            but dates or assets with no data at all then vanish on the way back.
        """
        drop_missing = check_bool("drop_missing", drop_missing)
        T, N = self.shape
        t_idx = np.repeat(np.arange(T, dtype=np.int64), N)
        a_idx = np.tile(np.arange(N, dtype=np.uint32), T)
        cols: dict[str, pl.Series] = {
            "date": pl.Series("date", self._dates[t_idx] if T * N else np.array([], "datetime64[D]")),
            "asset": pl.Series("asset", a_idx).cat.to(pl.Enum(self._assets.tolist())).cast(pl.String)
            if N
            else pl.Series("asset", [], dtype=pl.String),
        }
        for name in ("date", "asset"):
            if name in self._float or name in self._codes:
                raise ValueError(f"a field named {name!r} clashes with the long frame's {name} column")
        for k, v in self._float.items():
            # Polars takes a contiguous numpy array without a copy: a field that can still be
            # written (the panel's, shared with the caller) is copied, so the frame stays as it was
            flat = v.reshape(-1)
            cols[k] = pl.Series(k, flat.copy() if flat.flags.writeable else flat)
        for k, v in self._codes.items():
            flat = v.reshape(-1)
            s = pl.Series(k, flat, dtype=pl.Int32)
            s = s.set(s < 0, None).cast(pl.UInt32)
            # always an Enum, even with no labels (an empty Enum, all null): a String column would
            # not be read back as a code field by from_polars / read_universe
            cols[k] = s.cat.to(pl.Enum(self._labels[k].tolist()))
        df = pl.DataFrame(cols)
        if drop_missing:
            conds = [pl.col(k).is_not_nan() for k in self._float] + [
                pl.col(k).is_not_null() for k in self._codes
            ]
            df = df.filter(pl.any_horizontal(conds)) if conds else df.clear()
        return df

    @classmethod
    def from_polars(
        cls,
        df: pl.DataFrame | pl.LazyFrame,
        date: str = "date",
        asset: str = "asset",
        fields: Sequence[str] | None = None,
        codes: Sequence[str] | None = None,
        *,
        dates: Any = None,
        assets: Any = None,
        date_format: str | None = None,
    ) -> Panel:
        """Build a Panel from a long frame with one row per (date, asset).

        Parameters
        ----------
        df : polars DataFrame or LazyFrame
            Long data. A LazyFrame is collected with only the needed columns.
        date, asset : str
            Column names of the date and the asset id (strings; integer ids are converted to
            strings). The date column is ``Date``, ``Datetime`` (at midnight; with a time zone,
            midnight there), ISO strings (``'2024-01-02'``, optionally with a midnight time
            ``'2024-01-02 00:00:00'`` or ``'2024-01-02T00:00:00'``), or strings/integers in the
            format ``date_format``. Dates are never guessed, and a timestamp with another time of
            day is refused (``ValueError`` naming the column), never cut to its day.
        fields : sequence of str, optional
            Float fields (numeric or boolean columns; nulls become NaN). Default: every other
            numeric or boolean column.
        codes : sequence of str, optional
            Code fields (strings, integers, ``Categorical`` or ``Enum``). Default: every other
            ``Enum``/``Categorical`` column when ``fields`` is None, else none.
        dates, assets : array-like, optional
            Target axes. Default: the sorted unique dates and the sorted unique assets of the
            data. With a target, rows off the target are dropped and target entries without rows
            are all-missing.
        date_format : str, optional
            strftime format of a string or integer date column as Polars' ``str.to_date`` takes
            it, e.g. ``'%m/%d/%Y'`` or ``'%Y%m%d'`` (for integers such as ``20240102``). Every
            value must match it. Without it, only ISO strings are accepted.

        Raises
        ------
        ValueError
            Missing columns (named), duplicate (date, asset) rows (counted, first few shown),
            dates that are missing, not ISO (without ``date_format``), not matching
            ``date_format``, or outside 1800-01-01..2300-12-31 / spanning more than 200 years;
            missing asset ids, non-numeric fields, empty input (no rows and no target axes), a
            string column left unassigned when ``fields`` is None, and errors of Polars while
            collecting a LazyFrame (re-raised as ``ValueError``).

        Examples
        --------
        >>> import polars as pl, ferrofactor as ff
        >>> df = pl.DataFrame({"date": ["01/02/2024", "01/03/2024"], "asset": ["A", "A"], "x": [1.0, 2.0]})
        >>> ff.Panel.from_polars(df, date_format="%m/%d/%Y").dates
        array(['2024-01-02', '2024-01-03'], dtype='datetime64[D]')
        """
        return _panel_from_frame(
            df, date, asset, fields, codes, dates=dates, assets=assets, date_format=date_format, what="df"
        )


def _refuse_if_empty(df: pl.DataFrame | pl.LazyFrame, what: str, dates: Any, assets: Any) -> None:
    """``empty input`` for a source without rows (and no target axes), checked before a column's
    dtype is blamed: a header-only CSV has every column typed as text, which is no reason to say
    its value columns are "neither numeric fields nor codes"."""
    if dates is not None and assets is not None:
        return
    if _no_rows(df, what):
        raise ValueError(f"empty input: {what} has no rows")


def _no_rows(df: pl.DataFrame | pl.LazyFrame, what: str) -> bool:
    """Whether a frame (or a lazy scan: only its first row is read) has no rows."""
    if isinstance(df, pl.LazyFrame):
        with _polars_errors(what):
            return df.head(1).collect().height == 0
    return df.height == 0


def _panel_from_frame(
    df: pl.DataFrame | pl.LazyFrame,
    date: str,
    asset: str,
    fields: Sequence[str] | None,
    codes: Sequence[str] | None,
    *,
    dates: Any,
    assets: Any,
    date_format: str | None,
    what: str,
    csv: bool = False,
) -> Panel:
    """:meth:`Panel.from_polars`, with Polars errors re-raised as ``ValueError`` naming ``what``.
    A text column where a number is wanted is refused with its first value that is not a number;
    ``csv``: ``df`` was read from CSV, so the message also says how to read a missing-value marker
    such as ``NA`` as missing (``null_values=``)."""
    _check_date_format(date_format)
    _check_column_names(date=date, asset=asset)
    for arg, cols in (("fields", fields), ("codes", codes)):
        if cols is not None and (isinstance(cols, (str, bytes)) or not all(isinstance(c, str) for c in cols)):
            raise TypeError(f"{arg} must be a sequence of column names (str), got {cols!r}")
    with _polars_errors(what):
        schema = _schema(df)
    if isinstance(df, pl.DataFrame) and df.height == 0 and (dates is None or assets is None):
        raise ValueError(f"empty input: {what} has no rows")
    names = list(schema.names())
    needed = [date, asset]
    missing = [c for c in needed if c not in schema]
    if fields is None:
        fields = []
        auto_codes = []
        other_str = []
        for c in names:
            if c in (date, asset) or (codes is not None and c in codes) or _pandas_index_column(c):
                continue
            dt = schema[c]
            if dt.is_numeric() or dt == pl.Boolean:
                fields.append(c)
            elif isinstance(dt, (pl.Enum, pl.Categorical)):
                auto_codes.append(c)
            else:
                other_str.append(c)
        if other_str and not missing:
            _refuse_if_empty(df, what, dates, assets)
            c = other_str[0]
            hint = _text_values_hint(df, c, schema[c], csv, lead=f"; {c!r}")
            raise ValueError(
                f"columns {[f'{n} ({schema[n]})' for n in other_str]} are neither numeric fields nor codes"
                + hint
                + "; pass fields= (and codes= for label columns) to choose columns explicitly"
            )
        if codes is None:
            codes = auto_codes
    fields = list(fields)
    codes = list(codes or [])
    missing += [c for c in fields + codes if c not in schema]
    if missing:
        raise ValueError(f"missing columns {missing}; {what} has columns {names}")
    dup_names = {c for c in fields + codes if (fields + codes).count(c) > 1}
    if dup_names:
        raise ValueError(f"columns {sorted(dup_names)} are listed more than once in fields/codes")
    for c in fields:
        dt = schema[c]
        if not (dt.is_numeric() or dt == pl.Boolean):
            _refuse_if_empty(df, what, dates, assets)
            raise ValueError(
                f"field {c!r} is not numeric (dtype {dt}){_text_values_hint(df, c, dt, csv)}; pass it in "
                "codes= if it is a label"
            )

    lazy = df.lazy() if isinstance(df, pl.DataFrame) else df
    a_dt = schema[asset]
    if not (a_dt == pl.String or a_dt.is_integer() or isinstance(a_dt, (pl.Enum, pl.Categorical))):
        raise ValueError(
            f"column {asset!r} has dtype {a_dt}; expected asset ids (strings or integers)"
        )
    a_expr = pl.col(asset)
    if a_dt == pl.String or a_dt.is_integer() or isinstance(a_dt, pl.Enum):
        # hash the ids while the other columns are decoded (the query runs columns in parallel)
        a_expr = a_expr.cast(pl.String).cast(pl.Categorical)
    with _polars_errors(what):
        frame = lazy.select(pl.col(date), a_expr, *[pl.col(c) for c in fields + codes]).collect()
    target_dates = None if dates is None else _as_dates("dates", dates)
    if target_dates is not None and target_dates.size > 1 and not np.all(target_dates[1:] > target_dates[:-1]):
        raise ValueError("dates (target axis) must be strictly increasing")
    target_assets = None if assets is None else _as_assets("assets", assets)
    if target_assets is not None:
        _check_unique("assets", target_assets)
    if frame.height == 0 and (target_dates is None or target_assets is None):
        raise ValueError(f"empty input: {what} has no rows")

    cells, axis_days, axis_assets = _cells(frame, date, asset, target_dates, target_assets, date_format)
    T, N = len(axis_days), len(axis_assets)
    chunks = [_float_chunks(frame[c]) for c in fields]
    # numpy allocates the outputs (it asks for huge pages: cheaper first-touch faults)
    out_fields = {c: np.empty((T, N), dtype=np.float64) for c in fields}
    if chunks:
        cells.scatter(chunks, list(out_fields.values()))
    out_codes = {}
    for c in codes:
        v, labels = _label_codes(frame[c])
        out_codes[c] = (cells.scatter_codes(v, T, N), labels)
    return Panel(axis_days.astype("datetime64[D]"), axis_assets, out_fields, out_codes)


def _day_chunks(name: str, s: pl.Series, date_format: str | None = None) -> list[np.ndarray]:
    """Day numbers of a date column as int32 numpy chunks (zero-copy for a ``Date`` column; its
    range is checked by the caller, which computes min and max anyway)."""
    if s.dtype == pl.Date:
        if s.null_count():
            raise ValueError(f"column {name!r} has {s.null_count()} missing dates")
        return [np.ascontiguousarray(c.to_physical().to_numpy(), dtype=np.int32) for c in s.get_chunks()]
    return [_series_to_days(name, s, date_format)]


class _Cells:
    """Where the rows of a long frame land on the (T, N) grid (from ``_core.cell_index``).

    ``runs`` (R, 3) ``[first_row, first_cell, len]`` when the kept rows' cells increase (a frame
    sorted by date then asset, with or without gaps); otherwise ``lin``, one cell per row
    (``T * N`` = a row off the axes).
    """

    def __init__(self, runs: np.ndarray | None, lin: np.ndarray | None, n_rows: int, size: int):
        self.runs, self.lin, self.n_rows, self.size = runs, lin, n_rows, size

    @property
    def complete(self) -> bool:
        """The rows are exactly the full grid in date-then-asset order."""
        return self.runs is not None and self.n_rows == self.size and (
            self.size == 0 or (len(self.runs) == 1 and int(self.runs[0, 2]) == self.size)
        )

    def scatter(self, chunks: list[list[np.ndarray]], outs: list[np.ndarray]) -> None:
        if self.runs is not None:
            _core.scatter_runs(self.runs, chunks, outs)
        else:
            _core.scatter_fields(self.lin, chunks, outs)

    def row_cells(self) -> np.ndarray:
        """Every row's cell (``size`` for a dropped row)."""
        if self.lin is not None:
            return self.lin
        lin = np.full(self.n_rows, self.size, dtype=np.int64)
        r = self.runs
        if len(r):
            within = np.arange(int(r[:, 2].sum())) - np.repeat(np.cumsum(r[:, 2]) - r[:, 2], r[:, 2])
            lin[np.repeat(r[:, 0], r[:, 2]) + within] = np.repeat(r[:, 1], r[:, 2]) + within
        return lin

    def scatter_codes(self, v: np.ndarray, T: int, N: int) -> np.ndarray:
        """Int32 codes per row → ``(T, N)``, -1 where no row lands."""
        if self.complete:
            return np.array(v.reshape(T, N), dtype=np.int32, order="C", copy=True)
        out = np.full(self.size + 1, -1, dtype=np.int32)
        out[self.row_cells()] = v
        return out[: self.size].reshape(T, N)


def _table_limit(n_rows: int) -> int:
    """Largest value range worth a lookup table for ``n_rows`` rows (beyond it: sort-based)."""
    return max(1 << 22, 4 * n_rows)


def _distinct(chunks: list[np.ndarray], lo: int, hi: int, kernel: Any) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of integer chunks within ``[lo, hi]`` and the first row of each.

    A table over ``lo..hi`` filled in one parallel Rust pass (no hashing) when the range is not
    much wider than the data; otherwise numpy's sort-based ``unique``.
    """
    n = sum(len(c) for c in chunks)
    span = hi - lo + 1
    if span <= 0 or n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if span <= _table_limit(n):
        first = kernel(chunks, lo, span)
        present = np.flatnonzero(first >= 0)
        return present + lo, first[present]
    return np.unique(np.concatenate(chunks).astype(np.int64), return_index=True)


def _cells(
    frame: pl.DataFrame,
    date: str,
    asset: str,
    target_dates: np.ndarray | None,
    target_assets: np.ndarray | None,
    date_format: str | None = None,
) -> tuple[_Cells, np.ndarray, np.ndarray]:
    """Where each row lands (``t * N + a``; off the target axes = dropped), in parallel Rust
    passes. Returns ``(cells, axis_days, axis_assets)``. Raises on repeated (date, asset) rows and
    on dates a daily panel cannot mean.

    Days get their date position from a table over ``min..max`` day (no hashing) when that range
    is not much wider than the data; otherwise (never with checked dates, but kept as the rule)
    the days are first replaced by their rank among the distinct days (a sort), so no table is
    ever sized by the span of the dates.
    """
    days = _day_chunks(date, frame[date], date_format)
    n_rows = sum(len(c) for c in days)
    if n_rows:
        lo = int(min(c.min() for c in days if len(c)))
        hi = int(max(c.max() for c in days if len(c)))
        _check_day_range(f"column {date!r}", lo, hi)
    else:
        lo, hi = 0, -1
    if hi - lo + 1 <= _table_limit(n_rows):
        if target_dates is None:
            axis_days = _distinct(days, lo, hi, _core.first_rows_i32)[0]
        else:
            axis_days = target_dates.view(np.int64)
        day_lut = np.full(max(hi - lo + 1, 0), -1, dtype=np.int32)
        inside = (axis_days >= lo) & (axis_days <= hi)
        day_lut[axis_days[inside] - lo] = np.flatnonzero(inside).astype(np.int32)
    else:
        uniq, inverse = np.unique(np.concatenate(days).astype(np.int64), return_inverse=True)
        days, lo = [inverse.astype(np.int32)], 0
        if target_dates is None:
            axis_days = uniq
            day_lut = np.arange(len(uniq), dtype=np.int32)
        else:
            axis_days = target_dates.view(np.int64)
            pos = np.searchsorted(axis_days, uniq)
            pos_c = np.minimum(pos, max(len(axis_days) - 1, 0))
            hit = (pos < len(axis_days)) & (axis_days[pos_c] == uniq) if len(axis_days) else np.zeros(len(uniq), bool)
            day_lut = np.where(hit, pos_c, -1).astype(np.int32)

    axis_assets, ids, id_lut = _asset_lut(frame[asset], target_assets)

    T, N = len(axis_days), len(axis_assets)
    runs, lin, _, repeated, n_repeats, n_cells = _core.cell_index(
        days, ids, lo, day_lut, id_lut, T, N, _SHOW
    )
    if n_repeats:
        shown = [
            (str(np.datetime64(int(axis_days[c // N]), "D")), str(axis_assets[c % N])) for c in repeated
        ]
        raise ValueError(
            f"duplicate (date, asset) rows: {n_cells} pairs appear more than once "
            f"({n_repeats} extra rows), e.g. {shown}"
        )
    return _Cells(runs, lin, frame.height, T * N), axis_days, axis_assets


def _float_chunks(s: pl.Series) -> list[np.ndarray]:
    """A numeric column as float64 numpy chunks (each Arrow chunk viewed without a copy when it
    is float64 without nulls; nulls become NaN)."""
    dtype = s.dtype
    if not (dtype.is_numeric() or dtype == pl.Boolean):
        raise ValueError(f"field {s.name!r} is not numeric (dtype {dtype}); pass it in codes= if it is a label")
    if dtype != pl.Float64:
        s = s.cast(pl.Float64)
    return [np.ascontiguousarray(ch.to_numpy(), dtype=np.float64) for ch in s.get_chunks()]


# ---------------------------------------------------------------------------------------------
# One field as a frame, and back
# ---------------------------------------------------------------------------------------------


def _is_numeric(dtype: pl.DataType) -> bool:
    return dtype.is_numeric() or dtype == pl.Boolean


def _first_not_increasing(s: Any, group: str, key: str) -> int | None:
    """The first row of ``s`` whose ``key`` is not above the row before it within the same
    ``group`` (rows of a group adjacent), or None."""
    bad = (s[group] == s[group].shift(1)) & (s[key] <= s[key].shift(1))
    return int(bad.arg_true()[0]) if bad.any() else None


def _check_long_order(name: str, df: Any, date: str, asset: str, date_format: str | None, *,
                      dates: bool, assets: bool) -> None:
    """A long frame's field comes out with its dates and its assets sorted. Where it is used
    without them (paired by position with arrays, or given back as an array), an array in the
    frame's own order would pair silently with other dates or assets: refuse a frame that lists,
    within a date, its assets out of sorted order (``assets``) or, within an asset, its dates out
    of date order (``dates``). Frames sorted by (date, asset) or (asset, date) pass, ragged
    histories and late listings included."""
    with _polars_errors(name):
        days = _series_to_days(date, df[date], date_format, what=f"{name}: column {date!r}")
        keys = pl.DataFrame({"d": days, "a": df[asset].cast(pl.String)})
        # (sorted by date, or by asset, already: the common cases, checked without a sort)
        by_date = bool(np.all(days[1:] >= days[:-1]))
        by_asset = not by_date and not bool((keys["a"].slice(1) < keys["a"].slice(0, len(keys) - 1)).any())
        if assets and not by_asset:
            s = keys if by_date else keys.sort("d", maintain_order=True)
            i = _first_not_increasing(s, "d", "a")
            if i is not None:
                raise ValueError(
                    f"{name}: the long frame lists its assets in another order than the sorted one "
                    f"they come out in ({s['a'][i]!r} after {s['a'][i - 1]!r} on {_day_str(s['d'][i])}). "
                    "Here it is used without its assets (paired column by column with arrays, or "
                    "given back as an array), so an array in the frame's order would silently pair "
                    "with other assets: pass the other (T, N) inputs as frames too (matched on date "
                    f"and asset), or sort the frame first ({name}.sort({date!r}, {asset!r})) and give "
                    "the arrays in that sorted asset order"
                )
        if dates and not by_date:
            s = keys if by_asset else keys.sort("a", maintain_order=True)
            i = _first_not_increasing(s, "a", "d")
            if i is not None:
                raise ValueError(
                    f"{name}: the long frame lists its dates out of date order ({_day_str(s['d'][i])} "
                    f"after {_day_str(s['d'][i - 1])} for asset {s['a'][i]!r}). Here it is used "
                    "without its dates (paired row by row with arrays, or given back as an array), so "
                    "an array in the frame's order would silently pair with other dates: sort it "
                    f"first ({name}.sort({date!r}, {asset!r}))"
                )


def field_from_frame(
    name: str,
    df: Any,
    *,
    date: str = "date",
    asset: str = "asset",
    value: str | None = None,
    date_format: str | None = None,
    require_date_order: bool = False,
    require_asset_order: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One ``(T, N)`` field and its labels from a Polars frame, long or wide.

    - **long** (the frame has an ``asset`` column): one row per (date, asset), with ``date``,
      ``asset`` and exactly one other column, numeric (or the one named by ``value``; other
      columns are then ignored). Assets come out sorted; converted by the fast long → dense path
      of :meth:`Panel.from_polars`.
    - **wide** (no ``asset`` column): ``date`` plus one numeric column per asset; the asset of a
      column is its name, in column order.

    Dates come out sorted. Nulls and missing (date, asset) pairs become NaN. A column that is
    neither the date, the asset nor numeric is refused (a date column is never read as an asset's
    values), and so are duplicate (date, asset) rows.

    Parameters
    ----------
    name : str
        The argument name the frame was passed as; every error message starts with it.
    df : polars DataFrame or LazyFrame
    date, asset : str
        Column names of the date and (long form) the asset id.
    value : str, optional
        Long form: the value column when the frame has several.
    date_format : str, optional
        strftime format of a string or integer date column (see :meth:`Panel.from_polars`).
        Default: ``Date``/``Datetime`` columns or ISO strings only.
    require_date_order : bool, default False
        Refuse a wide frame whose rows are not in increasing date order (instead of sorting
        them), and a long frame that lists, for an asset, its dates out of date order. Callers that use the field without its dates (paired row by row with an array
        without dates, or returned as a bare array) ask for this: whether such an array follows
        the frame's rows or its dates cannot be told.
    require_asset_order : bool, optional
        Refuse a long frame that lists, on a date, its assets in another order than the sorted
        one they come out in (frames sorted by date then asset, or by asset, pass). Callers that
        use the field without its assets (paired column by column with an array without assets,
        or returned as a bare array) ask for this: an array in the frame's own order would
        silently pair with other assets. Default: ``require_date_order``.

    Returns
    -------
    values : ndarray (T, N) float64, C-contiguous
    dates : ndarray (T,) datetime64[D], strictly increasing
    assets : ndarray (N,) str

    Raises
    ------
    TypeError
        ``df`` is not a Polars frame.
    ValueError
        No date column, no rows, a non-numeric value column (named), several value columns in a
        long frame without ``value=``, duplicate (date, asset) rows, bad dates, a wide frame's
        rows (a long frame's dates) out of date order with ``require_date_order``, a long frame's
        assets out of sorted order with ``require_asset_order``.

    Examples
    --------
    >>> import polars as pl
    >>> from ferrofactor.panel import field_from_frame
    >>> wide = pl.DataFrame({"date": ["2024-01-03", "2024-01-02"], "A": [2.0, 1.0], "B": [None, 5.0]})
    >>> values, dates, assets = field_from_frame("x", wide)
    >>> values, dates, assets
    (array([[ 1.,  5.],
           [ 2., nan]]), array(['2024-01-02', '2024-01-03'], dtype='datetime64[D]'), array(['A', 'B'], dtype='<U1'))
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a string (the argument name), got {type(name).__name__}")
    if isinstance(df, pl.LazyFrame):
        with _polars_errors(name):
            df = df.collect()
    if not isinstance(df, pl.DataFrame):
        raise TypeError(f"{name} must be a polars DataFrame or LazyFrame here, got {type(df).__name__}")
    _check_date_format(date_format)
    schema = df.schema
    columns = list(schema.names())
    if date not in schema:
        temporal = [c for c in columns if schema[c] in (pl.Date, pl.Datetime)]
        raise ValueError(
            f"{name}: a frame passed as a field needs a date column {date!r}; it has columns {columns[:10]}"
            + (" ..." if len(columns) > 10 else "")
            + (f" (rename its date column: frame.rename({{{temporal[0]!r}: {date!r}}}))"
               if len(temporal) == 1 else "")
        )
    if df.height == 0:
        raise ValueError(f"{name}: the frame has no rows")
    require_date_order = check_bool("require_date_order", require_date_order)
    require_asset_order = (require_date_order if require_asset_order is None
                           else check_bool("require_asset_order", require_asset_order))
    if asset in schema:
        if value is None:
            others = [c for c in columns if c not in (date, asset)]
            for c in others:
                if not _is_numeric(schema[c]):
                    raise ValueError(
                        f"{name}: column {c!r} has dtype {schema[c]}; a long frame holds {date!r}, "
                        f"{asset!r} and one numeric value column (name it with value=)"
                    )
            if len(others) != 1:
                raise ValueError(
                    f"{name}: a long frame ({date!r}, {asset!r}, value) needs exactly one value column, "
                    f"found {len(others)}: {others[:10]}; name it with value="
                )
            value = others[0]
        elif not isinstance(value, str) or value not in schema or value in (date, asset):
            raise ValueError(f"{name}: value={value!r} is not a value column of the frame (columns {columns[:10]})")
        elif not _is_numeric(schema[value]):
            raise ValueError(f"{name}: column {value!r} has dtype {schema[value]}; the value column must be numeric")
        try:
            p = _panel_from_frame(
                df.select(date, asset, value), date, asset, [value], [],
                dates=None, assets=None, date_format=date_format, what=name,
            )
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
        if (require_date_order and len(p.dates) > 1) or (require_asset_order and len(p.assets) > 1):
            _check_long_order(name, df, date, asset, date_format,
                              dates=require_date_order and len(p.dates) > 1,
                              assets=require_asset_order and len(p.assets) > 1)
        return p[value], p.dates, p.assets
    if value is not None:
        raise ValueError(f"{name}: value= applies to long frames, and this frame has no {asset!r} column (wide form)")
    cols = [c for c in columns if c != date]
    if not cols:
        raise ValueError(
            f"{name}: the frame has only the date column {date!r}; a wide frame needs one numeric column "
            f"per asset (a long frame needs an {asset!r} column)"
        )
    for c in cols:
        if not _is_numeric(schema[c]):
            raise ValueError(
                f"{name}: column {c!r} has dtype {schema[c]}; a wide frame holds the date column {date!r} "
                f"and one numeric column per asset (a long frame needs an {asset!r} column). Drop or "
                "convert the column; it is never turned into numbers"
            )
    days = _series_to_days(date, df[date], date_format, what=f"{name}: column {date!r}")
    order = np.argsort(days, kind="stable")
    sorted_days = days[order]
    if len(sorted_days) > 1 and not np.all(sorted_days[1:] > sorted_days[:-1]):
        dup = np.unique(sorted_days[1:][sorted_days[1:] == sorted_days[:-1]])
        raise ValueError(
            f"{name}: duplicate (date, asset) rows: {len(dup)} dates appear on more than one row of the "
            f"wide frame, e.g. {[_day_str(d) for d in dup[:_SHOW]]}"
        )
    reordered = not np.all(order[1:] > order[:-1])
    if reordered and require_date_order:
        i = int(np.flatnonzero(days[1:] < days[:-1])[0])
        raise ValueError(
            f"{name}: the rows of the wide frame are not in date order (the row at position {i + 1} "
            f"is {_day_str(days[i + 1])}, after {_day_str(days[i])}). Here it is used without its "
            "dates (paired row by row with arrays, or given back as an array), so its rows would "
            f"silently be reordered: sort it first ({name}.sort({date!r}))"
        )
    values = df.select(pl.col(c).cast(pl.Float64) for c in cols).to_numpy(order="c")
    if reordered:
        values = values[order]
    values = np.ascontiguousarray(values, dtype=np.float64)
    return values, sorted_days.astype(np.int64).astype("datetime64[D]"), np.asarray(cols, dtype=str)


def frame_from_field(
    values: Any,
    dates: Any,
    assets: Any,
    form: str = "wide",
    value_name: str = "value",
) -> pl.DataFrame:
    """A ``(T, N)`` field as a Polars frame: the inverse of :func:`field_from_frame`.

    Parameters
    ----------
    values : array-like (T, N)
        Float values, NaN where missing (kept as NaN).
    dates : array-like (T,)
        Strictly increasing dates (``datetime64`` or ISO strings).
    assets : array-like of str (N,)
        Unique asset ids.
    form : {"wide", "long"}, default "wide"
        ``"wide"``: a ``date`` column (``pl.Date``) and one ``Float64`` column per asset, named
        after it. ``"long"``: one row per (date, asset), date-major, with ``date`` (``pl.Date``),
        ``asset`` (``pl.String``) and ``value_name`` (``Float64``), joinable on (date, asset).
    value_name : str, default "value"
        The value column of the long form.

    Examples
    --------
    >>> import numpy as np
    >>> from ferrofactor.panel import frame_from_field
    >>> frame_from_field(np.array([[1.0, 2.0]]), ["2024-01-02"], ["A", "B"], form="long").rows()
    [(datetime.date(2024, 1, 2), 'A', 1.0), (datetime.date(2024, 1, 2), 'B', 2.0)]
    """
    _refuse_masked("values", values)
    v = as_float_array("values", values, 2)
    d = _as_dates("dates", dates)
    if d.size > 1 and not np.all(d[1:] > d[:-1]):
        raise ValueError("dates must be strictly increasing (sorted, unique)")
    a = _as_assets("assets", assets)
    _check_unique("assets", a)
    check_shape("values", v, (len(d), len(a)), "len(dates), len(assets)")
    if form not in ("wide", "long"):
        raise ValueError(f"form must be one of ['wide', 'long'], got {form!r}")
    if not isinstance(value_name, str):
        raise TypeError(f"value_name must be a string, got {type(value_name).__name__}")
    T, N = v.shape
    if form == "wide":
        for taken in ("date", "asset"):
            if taken in a:
                # ('asset' would make the frame read back as a long one)
                raise ValueError(
                    f"an asset named {taken!r} clashes with the column names of the frames; use form='long'"
                )
        body = pl.from_numpy(v, schema=[(str(x), pl.Float64) for x in a], orient="row") if N else pl.DataFrame()
        return body.insert_column(0, pl.Series("date", d)) if N else pl.DataFrame({"date": pl.Series("date", d)})
    if value_name in ("date", "asset"):
        raise ValueError(f"value_name must not be 'date' or 'asset', got {value_name!r}")
    t_idx = np.repeat(np.arange(T, dtype=np.int64), N)
    a_idx = np.tile(np.arange(N, dtype=np.int64), T)
    return pl.DataFrame(
        {
            "date": pl.Series("date", d[t_idx], dtype=pl.Date),
            "asset": pl.Series("asset", a[a_idx] if T * N else np.array([], dtype=str), dtype=pl.String),
            value_name: pl.Series(value_name, v.reshape(-1), dtype=pl.Float64),
        }
    )
