"""Argument checking shared by the public wrappers.

Each helper converts its argument once at the boundary (dtype, C order, labels) and raises a
``TypeError`` or ``ValueError`` that names the argument and what was seen. Never ``assert``:
checks must hold under ``python -O``.

Labels: wherever a ``(T, N)`` field is accepted, a Polars DataFrame is accepted too, long
(``date``, ``asset``, one value column) or wide (a ``date`` column plus one column per asset); it
is converted once (:func:`as_field`) and keeps its dates and assets. A pandas DataFrame (dates ×
assets) keeps its labels likewise: its index gives the dates when it holds dates (read as
:func:`by_date` reads it), its columns the assets (as strings) unless they are the default
``RangeIndex``; with the default ``RangeIndex`` on both axes it is an array. Where two inputs both
carry labels they must be identical (:func:`check_same_labels`).

Wherever an ``(N,)`` per-asset vector is accepted and the assets are known, a pandas Series
indexed by asset is paired by its labels, never by position (:func:`by_label`: the mapping
``{asset: value}`` it stands for; :func:`values_by_label` where an argument has no mapping form of
its own). A Series with the default ``RangeIndex`` is read by position, like an array.

Likewise on the date axis: wherever a ``(T,)`` or ``(T, K)`` input is accepted, a pandas Series
or DataFrame indexed by date is read by its dates (:func:`by_date`): where the other side's
dates are known it must carry them (or is aligned on them, where the function joins Polars
frames on date), else its index supplies the dates, in its own order, which must be increasing.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: Largest integer setting accepted anywhere (lags, windows, counts): far beyond any real panel,
#: far below anything that could overflow an allocation size.
MAX_INT_SETTING = 10**9


def _is_panel(x: Any) -> bool:
    return type(x).__name__ == "Panel" and hasattr(x, "float_fields")


def _is_polars_frame(x: Any) -> bool:
    mod = type(x).__module__ or ""
    return mod.startswith("polars") and type(x).__name__ in ("DataFrame", "LazyFrame")


def _is_polars_series(x: Any) -> bool:
    mod = type(x).__module__ or ""
    return mod.startswith("polars") and type(x).__name__ == "Series"


def _is_pandas_series(x: Any) -> bool:
    mod = type(x).__module__ or ""
    return mod.split(".")[0] == "pandas" and type(x).__name__ == "Series"


def is_labelled_series(x: Any) -> bool:
    """A pandas Series whose index labels its values: any index but the default ``RangeIndex``
    ``0..n-1`` (that of a Series built from a list or an array, read by position like an array).
    After ``sort_values``, a filter or a reindex the index is no longer the default one."""
    if not _is_pandas_series(x):
        return False
    idx = x.index
    return not (type(idx).__name__ == "RangeIndex" and idx.start == 0 and idx.step == 1)


def by_label(name: str, x: Any, what: str = "asset") -> Any:
    """A pandas Series indexed by labels (:func:`is_labelled_series`) as the mapping
    ``{label: value}`` it stands for, so that every argument that takes a mapping reads it by
    label, never by position (its order need not be the assets'); pandas' ``NA`` becomes NaN. A
    label given twice is a ``ValueError`` naming ``name``. Anything else (arrays, a Series with the
    default index, mappings) is returned unchanged.

    Arguments without a mapping form pair the mapping with their labels through
    :func:`values_by_label`."""
    if not is_labelled_series(x):
        return x
    out: dict[Any, Any] = {}
    for k, v in x.items():
        if k in out:
            raise ValueError(f"{name} (a pandas Series) has the {what} {k!r} twice in its index")
        out[k] = np.nan if type(v).__name__ == "NAType" else v
    return out


def values_by_label(name: str, mapping: Mapping, labels: Any, *, of: str, boolean: bool = False) -> np.ndarray:
    """``mapping`` ``{asset: value}`` (a pandas Series read by :func:`by_label`) as an (N,) array
    in the order of ``labels`` (the N asset labels of ``of``, e.g. "the risk model"), for the
    arguments that have no mapping form of their own: every asset must be given, once (None =
    NaN); an asset not among ``labels``, a missing one, or ``labels`` None (nothing to pair with)
    is a ``ValueError`` naming ``name``. Values are numbers (float64 out) or, with ``boolean``,
    booleans (bool out); else ``TypeError``."""
    if labels is None:
        raise ValueError(
            f"{name} is given by asset label (a mapping or a pandas Series with an index), but "
            f"{of} has no asset labels to pair it with; pass an (N,) array in its order"
        )
    labels = [str(a) for a in np.asarray(labels).tolist()]
    pos = {a: j for j, a in enumerate(labels)}
    keys = list(mapping.keys())
    unknown = [k for k in keys if str(k) not in pos]
    if unknown:
        raise ValueError(f"{name} names assets that are not among those of {of}: {unknown[:5]}")
    idx = np.array([pos[str(k)] for k in keys], dtype=np.int64)
    counts = np.bincount(idx, minlength=len(labels))
    if (counts > 1).any():  # e.g. the keys 3 and "3"
        raise ValueError(f"{name} names asset {labels[int(np.flatnonzero(counts > 1)[0])]!r} twice")
    missing = np.setdiff1d(np.arange(len(labels)), idx)
    if missing.size:
        raise ValueError(
            f"{name} has no value for {missing.size} of the {len(labels)} assets of {of}, e.g. "
            f"{[labels[j] for j in missing[:5].tolist()]}; give every asset a value (its order "
            "is free)"
        )
    vals = list(mapping.values())
    if boolean:
        if not all(isinstance(v, (bool, np.bool_)) for v in vals):
            raise TypeError(f"{name} must hold booleans (True/False) for every asset")
        out = np.zeros(len(labels), dtype=bool)
        out[idx] = np.asarray(vals, dtype=bool)
        return out
    arr = as_float_array(name, [np.nan if v is None else v for v in vals], 1)
    out = np.full(len(labels), np.nan)
    out[idx] = arr
    return out


def _is_pandas_frame(x: Any) -> bool:
    mod = type(x).__module__ or ""
    return mod.split(".")[0] == "pandas" and type(x).__name__ == "DataFrame"


def is_date_indexed(x: Any) -> bool:
    """A pandas Series or DataFrame whose index holds dates: a ``DatetimeIndex``, or an index of
    ``datetime.date`` / ``datetime.datetime`` objects. Its rows are read by :func:`by_date`."""
    if not (_is_pandas_series(x) or _is_pandas_frame(x)):
        return False
    idx = x.index
    kind = type(idx).__name__
    if kind == "DatetimeIndex":
        return True
    return kind == "Index" and getattr(idx, "inferred_type", "") in ("date", "datetime", "datetime64")


def by_date(
    name: str, x: Any, dates: Any = None, *, of: str = "", align: bool = False, positional: bool = True
) -> tuple[Any, np.ndarray | None]:
    """A ``(T,)`` or ``(T, K)`` input that may be a pandas Series or DataFrame indexed by date
    (:func:`is_date_indexed`), read on the date axis by its labels, never silently by position.
    Returns ``(values, its dates)``: the pandas object's values (``to_numpy()``, rows as given
    below) and its index as ``datetime64[D]``. Anything else (arrays, Polars data, a pandas
    object with another index, the default one included) comes back unchanged, with None.

    - ``dates`` given (the T dates of ``of``, e.g. "the panel"): the index must be those dates,
      in their order, else a ``ValueError`` naming ``name`` and the first difference; with
      ``align`` (for the functions that join Polars frames on date) its rows are taken on
      ``dates`` instead, in any order (every date of ``of`` present; other rows dropped).
    - ``dates`` None (nothing else carries dates): read in its own order, its index supplying the
      dates; with ``positional`` (the rows pair with others by position, or their order matters)
      the index must be increasing, else ``ValueError``: never sorted silently. Pass
      ``positional=False`` where the caller joins on the dates returned.

    A date given twice, NaT, a time of day other than midnight and a timezone-aware index are
    refused naming ``name``.
    """
    if not is_date_indexed(x):
        return x, None
    from ferrofactor.panel import _as_dates

    kind = "Series" if _is_pandas_series(x) else "DataFrame"
    what = f"{name} (a pandas {kind} indexed by date)"
    idx = x.index
    if getattr(idx, "tz", None) is not None:
        raise ValueError(
            f"{what} has timezone-aware timestamps ({idx.tz}); their day depends on the zone: "
            f"pass the local calendar day (e.g. {name}.tz_localize(None))"
        )
    d = _as_dates(f"the index of {name}", np.asarray(idx), check_range=False)
    if len(d) > 1:
        s = np.sort(d)
        dup = s[1:][s[1:] == s[:-1]]
        if dup.size:
            raise ValueError(f"{what} has the date {dup[0]} twice in its index")
    values = x.to_numpy()
    if dates is not None:
        dates = np.asarray(dates).astype("datetime64[D]")
        if align:
            order = np.argsort(d, kind="stable")
            sd = d[order]
            pos = np.searchsorted(sd, dates)
            found = (pos < len(sd)) & (sd[np.minimum(pos, max(len(sd) - 1, 0))] == dates) if len(sd) \
                else np.zeros(len(dates), dtype=bool)
            if not found.all():
                miss = dates[~found]
                raise ValueError(
                    f"{what} has no row for {miss.size} of the {len(dates)} dates of {of}, e.g. "
                    f"{[str(v) for v in miss[:3]]}; it must cover every date of {of}"
                )
            return values[order[pos]], dates
        check_same_labels(
            name, d, None, of, dates, None,
            how=f"{name} is paired with {of} by date: give it on the same dates, in the same order "
                f"(e.g. {name}.reindex(<the dates of {of}>))",
        )
        return values, d
    if positional and len(d) > 1 and not (d[1:] > d[:-1]).all():
        i = int(np.flatnonzero(d[1:] <= d[:-1])[0])
        raise ValueError(
            f"{what} is not in date order ({d[i + 1]} follows {d[i]} at position {i + 1}); it is "
            f"read in its order, never sorted: sort it first ({name}.sort_index())"
        )
    return values, d


def as_array(name: str, x: Any) -> np.ndarray:
    """``np.asarray(x)``, with ragged nested lists and out-of-range integers refused naming the
    argument (numpy's own messages do not say which argument)."""
    try:
        return np.asarray(x)
    except ValueError as e:
        raise ValueError(f"{name} must be a rectangular array; got ragged nested lists ({e})") from None
    except OverflowError as e:
        raise ValueError(f"{name} holds integers beyond 64 bits ({e})") from None


def _refuse_containers(name: str, x: Any) -> None:
    if _is_panel(x):
        fields = list(x.float_fields)
        hint = f"{name}=panel[{fields[0]!r}]" if fields else f"{name}=panel['<field>']"
        raise TypeError(
            f"{name} is a Panel; pass one of its fields, e.g. {hint} (fields: {fields})"
        )
    if type(x).__name__ == "Exposures":
        raise TypeError(f"{name} is an Exposures; pass an array (e.g. exposures.styles) instead")
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{name} is a numpy masked array; its mask would be lost. Pass a plain array with NaN "
            f"where values are missing (e.g. {name}.filled(np.nan))"
        )


def refuse_timedelta(name: str, dtype: Any) -> None:
    """``TypeError`` for a ``timedelta64`` dtype, naming ``name``. numpy counts durations as
    integers (``np.issubdtype(m8, np.integer)`` is True), so every numeric check would pass them
    and a float cast would turn NaT into -9.2e18; like ``datetime64``, they are not numbers here."""
    if np.dtype(dtype).kind == "m":
        raise TypeError(
            f"{name} must be a numeric array, got dtype {np.dtype(dtype)} (durations are not "
            f"numbers: convert them first, e.g. {name} / np.timedelta64(1, 'D') for days, NaT "
            "becoming NaN)"
        )


def is_real_numeric(dtype: Any) -> bool:
    """Whether ``dtype`` holds real numbers: bool, integers or floats; never object, complex,
    ``datetime64`` or ``timedelta64`` (which numpy counts as integers)."""
    dtype = np.dtype(dtype)
    return dtype.kind in "biuf"


def as_float_array(name: str, x: Any, ndim: int, *, allow_none: bool = False) -> np.ndarray | None:
    """Return ``x`` as a C-contiguous float64 array with ``ndim`` dimensions.

    Numeric arrays of another dtype (float32, int, bool) or layout (Fortran order, strided views)
    are converted once; non-numeric input (``datetime64`` and ``timedelta64`` included) raises
    ``TypeError``; a wrong number of dimensions
    raises ``ValueError``. A Polars DataFrame (``ndim == 2``, long or wide, see
    :func:`as_field`) or Series (``ndim == 1``) is converted (a pandas DataFrame indexed by date,
    ``ndim == 2``, likewise: its rows must be in date order); a Panel, an Exposures or a masked
    array raises ``TypeError`` saying what to pass instead.
    """
    if x is None:
        if allow_none:
            return None
        raise TypeError(f"{name} is required, got None")
    _refuse_containers(name, x)
    if _is_polars_frame(x):
        if ndim != 2:
            raise TypeError(f"{name} must be a {ndim}-dimensional array, got a polars DataFrame")
        return as_field(name, x)[0]
    if ndim == 2 and _is_pandas_frame(x) and is_date_indexed(x):
        # read by position, as a wide Polars frame is here: in date order, else refused
        return _pandas_field(name, x, True)[0]
    if _is_polars_series(x):
        x = x.to_numpy()
    arr = as_array(name, x)
    refuse_timedelta(name, arr.dtype)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    out = np.ascontiguousarray(arr, dtype=np.float64)
    if not out.flags.aligned:  # e.g. a buffer unpickled from another process: copy to align
        out = np.array(out, dtype=np.float64, order="C", copy=True)
    return out


def _default_range(idx: Any) -> bool:
    return type(idx).__name__ == "RangeIndex" and idx.start == 0 and idx.step == 1


def is_labelled_frame(x: Any) -> bool:
    """A pandas DataFrame that labels a ``(T, N)`` field: its index holds dates
    (:func:`is_date_indexed`) or its columns are not the default ``RangeIndex`` ``0..N-1`` (they
    name the assets). One with the default ``RangeIndex`` on both axes (``pd.DataFrame(array)``)
    is read as an array."""
    return _is_pandas_frame(x) and (is_date_indexed(x) or not _default_range(x.columns))


def is_field_frame(x: Any) -> bool:
    """A ``(T, N)`` input that carries labels of its own: a Polars frame, or a pandas DataFrame
    indexed by date or with asset columns (:func:`is_labelled_frame`)."""
    return _is_polars_frame(x) or is_labelled_frame(x)


def field_axes(x: Any) -> tuple[bool, bool]:
    """Which axes of a ``(T, N)`` input carry labels: ``(dates, assets)``. A Polars frame carries
    both; a pandas DataFrame its dates when indexed by date and its assets when its columns are not
    the default ``RangeIndex``; anything else neither."""
    if _is_polars_frame(x):
        return True, True
    if _is_pandas_frame(x):
        return is_date_indexed(x), not _default_range(x.columns)
    return False, False


def frame_asset_labels(name: str, x: Any) -> list[str]:
    """The asset labels of a pandas DataFrame's columns, as strings (as Polars column names are),
    in column order: MultiIndex columns, or an asset named twice, are a ``ValueError`` naming
    ``name``."""
    cols = x.columns
    if type(cols).__name__ == "MultiIndex":
        raise ValueError(
            f"{name} (a pandas DataFrame) has MultiIndex columns; a (T, N) field has one column "
            "per asset, named by it"
        )
    labels = [str(c) for c in cols.tolist()]
    if len(set(labels)) != len(labels):
        seen: set[str] = set()
        dup = next(c for c in labels if c in seen or seen.add(c))
        raise ValueError(f"{name} (a pandas DataFrame) has the asset {dup!r} twice in its columns")
    return labels


def _pandas_field(name: str, x: Any, date_order: bool) -> tuple[np.ndarray, Any, Any]:
    """A (T, N) pandas DataFrame as ``(values, dates or None, assets or None)``: its index gives
    the dates when it holds dates (read as :func:`by_date` reads it: a date twice, NaT, a time of
    day and a timezone are refused; out of date order refused with ``date_order``, else its rows
    are put in date order, as a wide Polars frame's are); its columns, unless the default
    ``RangeIndex``, give the assets, in column order, as strings (as Polars column names are)."""
    assets = None
    if not _default_range(x.columns):
        labels = frame_asset_labels(name, x)
        assets = np.asarray(labels, dtype=str) if labels else np.array([], dtype=str)
    dates = None
    if is_date_indexed(x):
        values, dates = by_date(name, x, positional=date_order)
        values = as_float_array(name, values, 2)
        if len(dates) > 1 and not (dates[1:] > dates[:-1]).all():
            order = np.argsort(dates, kind="stable")
            values, dates = np.ascontiguousarray(values[order]), dates[order]
    else:
        values = as_float_array(name, x.to_numpy(), 2)
    return values, dates, assets


def as_field(name: str, x: Any, *, date: str = "date", asset: str = "asset", date_order: bool = True,
             asset_order: bool | None = None):
    """A ``(T, N)`` field and its labels: ``(values, dates or None, assets or None)``.

    ``x`` is an array-like (no labels), a Polars DataFrame, long (``date``, ``asset``, one
    numeric value column) or wide (``date`` plus one numeric column per asset), or a pandas
    DataFrame (dates × assets): its index gives the dates when it holds dates (a
    ``DatetimeIndex``, read as :func:`by_date` reads it) and its columns the assets, as strings,
    unless they are the default ``RangeIndex`` (``pd.DataFrame(array)`` is an array). A
    non-numeric column that is not the date is refused (never turned into numbers). With
    ``date_order`` (the default) a wide frame's rows must be in increasing date order: the field
    may meet inputs without dates, paired row by row (pass False where every partner is
    labelled; the rows then come out in date order). Likewise ``asset_order`` (default
    ``date_order``): a long Polars frame's assets come out sorted, so one that lists them in
    another order is refused where the field may meet inputs without assets, paired column by
    column, or comes back as an array (pass False where every (T, N) partner labels its assets).
    """
    if _is_polars_frame(x):
        from ferrofactor.panel import field_from_frame

        if type(x).__name__ == "LazyFrame":
            x = x.collect()
        values, dates, assets = field_from_frame(
            name, x, date=date, asset=asset, require_date_order=date_order,
            require_asset_order=date_order if asset_order is None else asset_order,
        )
        return values, dates, assets
    if is_labelled_frame(x):
        return _pandas_field(name, x, date_order)
    return as_float_array(name, x, 2), None, None


def factor_frame(name: str, fr: Any, factor_names: Sequence[str], dates: Any, *, of: str) -> np.ndarray:
    """``(T, K)`` factor returns as a float array, their labels checked against ``of``'s: a Polars
    frame (a date column plus one column per factor) or a pandas DataFrame with named columns
    must name ``factor_names`` in their order (never paired by position; default ``RangeIndex``
    columns are positional); a Polars frame's dates and a pandas date index must be ``dates``
    (where known; :func:`by_date`)."""
    names = list(factor_names)
    given = None
    if _is_polars_frame(fr):
        fr, f_dates, f_names = as_field(name, fr)
        given = [str(c) for c in f_names]
        check_same_labels(name, f_dates, None, of, dates, None)
    elif _is_pandas_frame(fr) and not _default_range(fr.columns):
        given = [str(c) for c in fr.columns.tolist()]
    if given is not None and given != names:
        raise ValueError(f"{name} columns {given} differ from the factors of {of}, {names}")
    fr = by_date(name, fr, dates, of=of)[0]
    return as_float_array(name, fr, 2)


def check_simple_returns(name: str, r: np.ndarray) -> None:
    """Simple returns: NaN (missing) or finite and >= -1 (a price cannot go below zero), else a
    ``ValueError`` naming the argument (returns below −1 would compound to nonsense)."""
    if np.isinf(r).any():
        raise ValueError(f"{name} must not contain infinite values")
    low = r < -1.0
    if low.any():
        raise ValueError(f"{name} must be >= -1 (a price cannot go below zero), got minimum {float(r[low].min())}")


def refuse_inf(name: str, x: np.ndarray, missing: str = "NaN = missing") -> None:
    """A returns-like input (returns, factor returns, residuals, ...) with an infinite value is a
    data error (a zero or missing price upstream), never a missing value: ``ValueError`` naming the
    argument and the count. One pass over ``x`` (the count only when there is one)."""
    if np.isinf(x).any():
        n = int(np.count_nonzero(np.isinf(x)))
        raise ValueError(f"{name} must not contain infinite values ({n} found; {missing})")


def as_fields(*inputs: tuple[str, Any], optional: Sequence[str] = ()) -> list[np.ndarray | None]:
    """Several ``(T, N)`` inputs ``(name, value)`` as float arrays (None stays None for the
    names in ``optional``, else ``TypeError``). The Polars frames among them must carry the same
    dates and assets (else ``ValueError``: frames are matched by label, never by position), and,
    used as bare arrays, a wide frame's rows must be in date order. A pandas DataFrame indexed by
    date or with asset columns carries its labels likewise (:func:`as_field`)."""
    out: list[np.ndarray | None] = []
    seen = LabelsSeen()
    for name, x in inputs:
        if x is None:
            if name not in optional:
                raise TypeError(f"{name} is required, got None")
            out.append(None)
            continue
        values, dates, assets = as_field(name, x)
        seen.add(name, dates, assets)
        out.append(values)
    return out


def as_code_array(name: str, x: Any, ndim: int = 2) -> np.ndarray:
    """Return integer codes ``x`` as a C-contiguous int32 array (-1 = none), values unchanged.

    Use :func:`as_industry` for industry codes: it maps any integer values to dense codes.
    """
    _refuse_containers(name, x)
    if _is_polars_series(x):
        x = x.to_numpy()
    arr = as_array(name, x)
    if arr.dtype.kind == "m":
        raise TypeError(f"{name} must be an integer code array, got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and arr.size and np.all(
            np.isfinite(arr) & (arr == np.round(arr))
        ):
            pass  # integral floats (e.g. codes read from a CSV) are accepted
        else:
            raise TypeError(f"{name} must be an integer code array, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < -1:
            raise ValueError(f"{name} codes must be >= -1 (-1 = none), got minimum {lo}")
        if hi > np.iinfo(np.int32).max:
            raise ValueError(f"{name} codes must fit in int32, got maximum {hi}")
    return np.ascontiguousarray(arr, dtype=np.int32)


#: Integer codes are read as int64 (the dense-code kernel's type). Only an unsigned 64-bit array
#: can hold larger values; cast to int64 they would wrap to negative numbers (2**64 - 1 to -1,
#: "none"), so they are refused (:func:`check_int64_codes`), never relabelled.
_INT64_MAX = int(np.iinfo(np.int64).max)


def check_int64_codes(
    name: str,
    arr: np.ndarray,
    labels_hint: str = "map them to small integer codes first (e.g. np.unique(x, return_inverse=True))",
    none_hint: str = "cast the codes to int64 (e.g. .astype(np.int64))",
) -> None:
    """Refuse integer codes beyond int64 (values >= 2**63, only possible in an unsigned 64-bit
    array) with a ``ValueError`` naming ``name``: classification codes (GICS and the like) are
    small, and such values are almost always a negative sentinel stored as unsigned (-1 becomes
    2**64 - 1) or a hash; cast to int64 they would silently become other labels."""
    if arr.dtype.kind != "u" or arr.dtype.itemsize < 8 or arr.size == 0:
        return
    hi = int(arr.max())
    if hi <= _INT64_MAX:
        return
    n = int(np.count_nonzero(arr > np.uint64(_INT64_MAX)))
    hint = (
        f" ({hi} is -1 stored as an unsigned integer: if it means none, {none_hint})"
        if hi == 2**64 - 1
        else ""
    )
    raise ValueError(
        f"{name} holds {n} codes >= 2**63 (largest {hi}, dtype {arr.dtype}); integer codes must "
        f"fit in int64{hint}. If these values are genuine labels, {labels_hint}"
    )


def dense_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map integer codes (-1 = none, any other value a label) to dense int32 codes ``0..G-1`` in
    the sorted order of the distinct values: ``(codes, distinct values)``. Never sizes anything by
    the largest value. Values beyond int64 are refused (:func:`check_int64_codes`)."""
    from ferrofactor import _core

    values = np.asarray(values)
    check_int64_codes("codes", values)
    return _core.dense_codes(np.ascontiguousarray(values, dtype=np.int64))


def _mapping_keys(name: str, names: Mapping) -> np.ndarray:
    """The keys of a ``{code value: name}`` mapping as sorted int64 (each an integer in int64)."""
    keys = []
    for k in names:
        try:
            v = int(k)
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} maps code values to names; its keys must be integers, got {k!r}"
            ) from None
        if not -(2**63) <= v <= _INT64_MAX:
            raise ValueError(
                f"{name} has key {v}, beyond int64; integer codes must fit in int64 "
                "(-2**63..2**63-1)"
            )
        keys.append(v)
    return np.array(sorted(keys), dtype=np.int64)


def as_industry(
    name: str, x: Any, shape: Sequence[int] | None = None, names: Any = None
) -> tuple[np.ndarray, list[str]]:
    """Industry codes as dense int32 codes ``0..G-1`` (-1 = none) and their G labels.

    Codes are labels, not sizes: any integer values that fit in int64 are accepted (8-digit GICS
    codes included); values >= 2**63 (an unsigned 64-bit array) are refused with a ``ValueError``
    rather than wrapped to other labels.

    - ``names`` a sequence: the codes are positions into it (``names[c]`` names code ``c``;
      codes must lie in ``-1..len(names)-1``); every name is kept, used or not.
    - ``names`` a mapping ``{code value: name}``: every code value present must be a key.
    - ``names`` None: the distinct code values (sorted) become the industries, named by their
      values (``"10101010"``).
    """
    _refuse_containers(name, x)
    if _is_polars_frame(x):
        raise TypeError(
            f"{name} must be an integer array of industry codes; for a frame of labels read it "
            "into a Panel (ff.read_universe / Panel.from_polars with codes=) and pass the Panel"
        )
    if _is_polars_series(x):
        x = x.to_numpy()
    arr = as_array(name, x)
    if arr.dtype.kind == "m":  # numpy counts durations as integers
        raise TypeError(f"{name} must be an integer array of industry codes, got dtype {arr.dtype}")
    if not np.issubdtype(arr.dtype, np.integer):
        integral = np.issubdtype(arr.dtype, np.floating) and bool(np.all(
            np.isfinite(arr) & (arr == np.round(arr))
        ))
        if integral and (arr.size == 0 or bool(np.all(np.abs(arr) < 2**62))):
            arr = arr.astype(np.int64)
        elif integral:
            # e.g. a list of Python ints mixing -1 and values >= 2**63: numpy makes it float64
            raise ValueError(
                f"{name} holds integral codes as large as {float(np.abs(arr).max()):.6g} in a "
                f"{arr.dtype} array; codes must be integers that fit in int64 (floats that large "
                "have already lost digits, e.g. Python integers >= 2**63 that numpy turned into "
                "float64)"
            )
        else:
            raise TypeError(f"{name} must be an integer array of industry codes, got dtype {arr.dtype}")
    check_int64_codes(name, arr)
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {arr.shape}, expected {tuple(shape)}")
    if isinstance(names, Mapping):
        keys = _mapping_keys("industry_names", names)
        codes, values = dense_codes(arr)
        missing = np.setdiff1d(values, keys)
        if missing.size:
            raise ValueError(
                f"{name} has codes without a name in industry_names: {missing[:5].tolist()}"
            )
        labels = [str(names[k]) for k in keys.tolist()]
        # re-index onto all keys (unused names are kept as empty industries)
        pos = np.searchsorted(keys, values).astype(np.int32)
        lut = np.append(pos, np.int32(-1))
        codes = lut[np.where(codes >= 0, codes, len(pos))].astype(np.int32)
        return np.ascontiguousarray(codes), _unique_labels("industry_names", labels)
    if names is not None:
        labels = [str(n) for n in names]
        if arr.size:
            lo, hi = int(arr.min()), int(arr.max())
            if lo < -1 or hi >= len(labels):
                raise ValueError(
                    f"{name} codes must lie in -1..{len(labels) - 1} (positions into its "
                    f"{len(labels)} names; -1 = none), got {lo}..{hi}; pass industry_names as a "
                    "mapping {code: name} for codes that are not positions"
                )
        return np.ascontiguousarray(arr, dtype=np.int32), _unique_labels("industry_names", labels)
    if arr.size and int(arr.min()) < -1:
        raise ValueError(f"{name} codes must be >= -1 (-1 = none), got minimum {int(arr.min())}")
    codes, values = dense_codes(arr)
    return codes, [str(v) for v in values.tolist()]


def as_names(name: str, names: Any, n: int, expected: str | None = None) -> list[str]:
    """``n`` unique names (a sequence, not a string) as a list of ``str``; ``expected`` words
    the count in the message (e.g. "styles has 3 styles")."""
    if isinstance(names, (str, bytes)) or not isinstance(names, (Sequence, np.ndarray)):
        raise TypeError(f"{name} must be a sequence of {n} names, got {names!r}")
    labels = [str(v) for v in (names.tolist() if isinstance(names, np.ndarray) else names)]
    if len(labels) != n:
        raise ValueError(f"{name} has {len(labels)} names but {expected or f'{n} are expected'}")
    return _unique_labels(name, labels)


def _unique_labels(name: str, labels: list[str]) -> list[str]:
    if len(set(labels)) != len(labels):
        dup = sorted({x for x in labels if labels.count(x) > 1})
        raise ValueError(f"{name} must be unique, got repeated {dup[:5]}")
    return labels


def check_shape(name: str, arr: np.ndarray, shape: Sequence[int], what: str = "") -> None:
    """Raise ``ValueError`` unless ``arr.shape == shape``."""
    if tuple(arr.shape) != tuple(shape):
        extra = f" ({what})" if what else ""
        raise ValueError(f"{name} has shape {arr.shape}, expected {tuple(shape)}{extra}")


def check_weights(name: str, w: np.ndarray) -> None:
    """Weights may be NaN (= drop the observation) but never negative or infinite."""
    finite = np.isfinite(w)
    if np.any(np.isinf(w)):
        raise ValueError(f"{name} must not contain infinite values ({int(np.isinf(w).sum())} found)")
    if np.any(w[finite] < 0):
        raise ValueError(f"{name} must be non-negative ({int((w[finite] < 0).sum())} negative values found)")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    ok = any(
        (isinstance(value, str) and value == c) if isinstance(c, str)
        else (value is c) if c is None or isinstance(c, bool)
        else (type(value) is type(c) and value == c)
        for c in choices
    )
    if not ok:
        hint = ""
        if isinstance(value, str):
            # options are matched exactly; say which one a differently-cased value would be
            near = [c for c in choices if isinstance(c, str) and c.lower() == value.strip().lower()]
            if near:
                hint = f" (options are case-sensitive: did you mean {near[0]!r}?)"
        raise ValueError(f"{name} must be one of {list(choices)!r}, got {value!r}{hint}")


def check_bool(name: str, value: Any) -> bool:
    """A real boolean (``True``/``False`` or a numpy bool); ``"False"``, 0 and 1 are refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {value!r}")


def check_int(name: str, value: Any, lo: int | None = 0, hi: int | None = None) -> int:
    """A Python/numpy integer (not a bool, not a float) within ``[lo, hi]`` (and within
    ±:data:`MAX_INT_SETTING`), as a Python int. Huge values are ``ValueError``, never
    ``OverflowError``."""
    # (a numpy timedelta64 is a numbers.Integral: a duration is not a count of rows)
    if isinstance(value, (bool, np.bool_, np.timedelta64)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    upper = MAX_INT_SETTING if hi is None else min(hi, MAX_INT_SETTING)
    lower = -MAX_INT_SETTING if lo is None else lo
    if v < lower:
        raise ValueError(f"{name} must be >= {lower}, got {v}")
    if v > upper:
        raise ValueError(f"{name} must be <= {upper}, got {v}")
    return v


def check_real(name: str, value: Any, *, lo: float | None = None, hi: float | None = None,
               lo_open: bool = False, allow_none: bool = False) -> float | None:
    """A finite real number (not a bool) within the given bounds."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_, np.timedelta64)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if lo is not None and (v <= lo if lo_open else v < lo):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {value!r}")
    if hi is not None and v > hi:
        raise ValueError(f"{name} must be <= {hi}, got {value!r}")
    return v


# ---------------------------------------------------------------------------------------------
# Dates and labels
# ---------------------------------------------------------------------------------------------


# ISO 8601 as accepted without date_format: a date, optionally a time (space or T), no zone.
ISO_RX = r"^\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?)?$"

# a strftime format that reads a time of day ('%H', '%M', '%S', '%f', '%.3f', '%T', '%c', ...)
_TIME_DIRECTIVE = r"%[-_0^#]?[.\d]*[HIklMSfpPTRXcs]"

_DAY_PER_UNIT = {"ns": 86_400 * 10**9, "us": 86_400 * 10**6, "ms": 86_400 * 10**3}


def has_time_directive(date_format: str) -> bool:
    """Whether a strftime format reads a time of day (then its values may not be midnight)."""
    import re

    return re.search(_TIME_DIRECTIVE, date_format) is not None


def refuse_time_of_day(
    what: str,
    values: Any,
    *,
    shown: Any = None,
    who: Sequence[Any] | None = None,
    day: str = "a date",
    zone: str | None = None,
) -> None:
    """The one rule for timestamps where a day is meant ("no silent guess"): a timestamp at
    midnight is its date; any other time of day is refused, never cut to its day.

    ``values`` (1-D): a Polars ``Datetime`` series (with a time zone: the wall time in that zone,
    whose calendar day the library reads; nulls pass), a numpy ``datetime64`` array (NaT passes),
    or a sequence of ISO strings, ``datetime64`` scalars and datetime-like objects
    (``datetime.datetime``, pandas ``Timestamp``; anything else, e.g. None or a ``date``, passes).
    Series and arrays are checked vectorised.

    The ``ValueError`` names ``what`` (the argument or column), the first offending value
    (``shown[i]``, default ``values[i]``), ``who[i]`` as its asset when given, how many values
    have a time, the time ``zone`` (that of a zoned series unless given), and how to convert when
    the day is meant.
    """
    form = "objects"
    if _is_polars_series(values):
        import polars as pl

        if not isinstance(values.dtype, pl.Datetime):
            raise TypeError(f"{what}: expected a Datetime series, got dtype {values.dtype}")
        if shown is None:
            shown = values
        if values.dtype.time_zone is not None:
            zone = values.dtype.time_zone if zone is None else zone
            values = values.dt.replace_time_zone(None)  # the wall time in its zone
        per_day = _DAY_PER_UNIT[values.dtype.time_unit or "us"]
        timed = (values.to_physical() % per_day != 0).fill_null(False)
        if not timed.any():
            return
        bad = timed.arg_true().to_numpy()
        form = "polars"
    elif isinstance(values, np.ndarray) and values.dtype.kind == "M":
        if np.datetime_data(values.dtype)[0] in ("Y", "M", "W", "D"):
            return
        timed = (values != values.astype("datetime64[D]")) & ~np.isnat(values)
        if not timed.any():
            return
        bad = np.flatnonzero(timed)
        form = "numpy"
    else:
        import re

        def has_time(v: Any) -> bool:
            if isinstance(v, str):  # ISO 'YYYY-MM-DD HH:MM:SS[.f]': a digit other than 0 in the time
                return len(v) > 10 and re.match(ISO_RX, v) is not None and any(c not in "0:." for c in v[11:])
            if isinstance(v, np.datetime64):
                return not np.isnat(v) and bool(v != v.astype("datetime64[D]"))
            return any(getattr(v, f, 0) for f in ("hour", "minute", "second", "microsecond", "nanosecond"))

        values = values.tolist() if isinstance(values, np.ndarray) else list(values)
        bad = [i for i, v in enumerate(values) if has_time(v)]
        if not bad:
            return
    i = int(bad[0])
    v = (values if shown is None else shown)[i]
    if isinstance(v, str):
        form = "strings"
    elif form == "polars" or hasattr(v, "isoformat"):  # '2024-01-02 16:00:00', not datetime.datetime(...)
        v = str(v)
    where = "" if who is None else f" for asset {who[i]!r}"
    if zone is not None:
        where += f" in time zone {zone!r}"
    more = "" if len(bad) == 1 else f" ({len(bad)} {'assets' if who is not None else 'values'} in all)"
    how = {
        "polars": "pl.col(c).dt.date() (series.dt.date() on a Series)",
        "numpy": 'values.astype("datetime64[D]")',
        "strings": "pl.col(c).str.to_datetime(<format>).dt.date() on a Polars column (value[:10] for an ISO string)",
        "objects": "value.date() (pandas: Timestamp.normalize(), or .dt.normalize() on a Series)",
    }[form]
    if zone is not None:
        how = (f"pl.col(c).dt.date() for its day in {zone!r}; for its day in another zone, "
               "pl.col(c).dt.convert_time_zone('<zone>').dt.date()")
    raise ValueError(
        f"{what} must be whole days; got a time within a day{where} ({v!r}){more}; {day} is a day, "
        f"and a timestamp other than midnight is never cut to its day. If its day is meant, convert "
        f"first: {how}"
    )


def date_position(name: str, date: Any, dates: np.ndarray | None, n: int) -> int:
    """Position of ``date`` on an axis of ``n`` dates: an integer position (negative counts from
    the end) or a date label (``"2024-01-31"``, ``numpy.datetime64``, ``datetime.date``) found on
    ``dates``. Floats and bools are refused (``40.7`` is not a position), and so are strings that
    are not a full ISO day (``"2024-03"`` is not the 1st of March)."""
    if isinstance(date, np.ndarray) and date.ndim == 0 and date.dtype.kind == "M":
        date = date[()]  # its datetime64 scalar: checked for a time of day as such
    if isinstance(date, (bool, np.bool_, np.timedelta64)):  # (numpy counts a duration as an integer)
        raise TypeError(f"{name} must be a date label or an integer position, got {date!r}")
    if isinstance(date, numbers.Integral):
        i = int(date)
        j = i + n if i < 0 else i
        if not 0 <= j < n:
            raise ValueError(f"{name} position {i} is out of range for {n} dates")
        return j
    if isinstance(date, numbers.Real):
        raise TypeError(f"{name} must be a date label or an integer position, got the float {date!r}")
    if dates is None or np.asarray(dates).dtype.kind != "M":
        raise ValueError(f"{name}={date!r} is a label, but these results carry no dates; pass a position")
    if getattr(date, "tzinfo", None) is not None:
        raise ValueError(
            f"{name} is a timezone-aware datetime ({date!r}); its day depends on the zone: pass the "
            "local calendar day (e.g. value.date())"
        )
    refuse_time_of_day(name, [date])
    if isinstance(date, str) and re.match(ISO_RX, date) is None:
        # as arrays of dates are read (panel._as_dates): '2024-03' or '2024' is not a day, and
        # numpy would silently read it as the first day of the month or year
        raise ValueError(
            f"{name} {date!r} is not an ISO date ('YYYY-MM-DD', optionally followed by a time); "
            "dates are never guessed: pass the day, a datetime64 or a datetime.date"
        )
    try:
        d = np.datetime64(date, "D")
    except (ValueError, TypeError):
        raise ValueError(f"{name} could not be read as a date: {date!r}") from None
    if np.isnat(d):
        raise ValueError(f"{name} must not be NaT")
    dd = np.asarray(dates, dtype="datetime64[D]")
    pos = int(np.searchsorted(dd, d))
    if pos >= n or dd[pos] != d:
        span = f"{dd[0]}..{dd[-1]}" if n else "no dates"
        raise ValueError(f"{name} {d} is not among the {n} dates ({span})")
    return pos


def date_positions(name: str, values: Any, dates: np.ndarray | None, n: int) -> list[int]:
    """:func:`date_position` of each of several values (integer positions or date labels), in
    their order. Arrays of dates are read as every date argument is
    (:func:`ferrofactor.panel._as_dates`): a ``datetime64`` array in any unit (``[ns]`` included)
    and a Polars ``Date``/``Datetime`` series (a zoned one at its wall time), a time of day other
    than midnight refused, never cut to its day."""
    from ferrofactor.panel import _as_dates

    if _is_polars_series(values) and values.dtype.is_temporal():
        values = _as_dates(name, values, check_range=False)
    vals = np.atleast_1d(as_array(name, values))
    items = list(_as_dates(name, vals, check_range=False)) if vals.dtype.kind == "M" else vals.tolist()
    return [date_position(name, v, dates, n) for v in items]


def as_dates(name: str, dates: Any, n: int) -> np.ndarray | None:
    """Optional date labels: ``datetime64[D]`` (n,), strictly increasing, or None."""
    if dates is None:
        return None
    from ferrofactor.panel import _as_dates

    if isinstance(dates, (str, bytes)) or np.ndim(dates) != 1:
        raise ValueError(f"{name} must be a 1-dimensional array of dates, got {type(dates).__name__} of shape {np.shape(dates)}")
    # datetime64 / datetime.date / strict ISO strings, in the range a daily panel can mean; never
    # integers (20240102 is not a day number) nor a guessed text format
    d = _as_dates(name, dates)
    if d.shape != (n,):
        raise ValueError(f"{name} has shape {d.shape}, expected ({n},)")
    if np.any(np.isnat(d)):
        raise ValueError(f"{name} must not contain NaT")
    if n > 1 and not np.all(d[1:] > d[:-1]):
        raise ValueError(f"{name} must be strictly increasing (sorted, unique)")
    return d


def as_assets(name: str, assets: Any, n: int) -> np.ndarray | None:
    """Optional asset labels: ``str`` (n,), unique, or None."""
    if assets is None:
        return None
    a = as_array(name, assets)
    if a.dtype.kind not in "U":
        a = np.asarray([str(x) for x in a.tolist()], dtype=str) if a.size else np.array([], dtype=str)
    elif a.flags.writeable:
        a = a.copy()  # never a view of the caller's array: editing it later must not relabel a result
    if a.shape != (n,):
        raise ValueError(f"{name} has shape {a.shape}, expected ({n},)")
    if len(np.unique(a)) != n:
        raise ValueError(f"{name} must be unique")
    return a


def _day_labels(name: str, d: Any) -> np.ndarray:
    """Date labels to compare as days: a time of day other than midnight (or a timezone-aware
    datetime) is refused naming ``name`` (:func:`refuse_time_of_day`), never cut to its day."""
    from ferrofactor.panel import _as_dates, _refuse_zoned_or_timed

    what = f"the dates of {name}"
    if _is_polars_series(d):
        return _as_dates(what, d, check_range=False)
    d = np.asarray(d)
    if d.dtype == object:
        _refuse_zoned_or_timed(what, d)
    else:
        refuse_time_of_day(what, d)
    try:
        return d.astype("datetime64[D]")
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"the dates of {name} could not be read as dates (ISO 'YYYY-MM-DD' or datetime64)") from None


def given_labels_how(name: str) -> str:
    """``how`` of :func:`check_same_labels` where the labelled input ``name`` meets the
    ``dates``/``assets`` arguments of the same call (which default to its labels)."""
    return f"pass dates/assets equal to those of {name}, or leave them out (they default to {name}'s)"


def check_same_labels(
    left: str, left_dates: Any, left_assets: Any, right: str, right_dates: Any, right_assets: Any,
    *, how: str | None = None,
) -> None:
    """Where both sides carry labels they must be identical (same dates, same assets, same
    order); else a ``ValueError`` naming the first mismatch and how to align (``how``, default a
    ``panel.select`` on the labels of ``right``)."""
    if how is None:
        how = f"align them first, e.g. panel.select(dates={right}.dates, assets={right}.assets)"
    for axis, a, b in (("dates", left_dates, right_dates), ("assets", left_assets, right_assets)):
        if a is None or b is None:
            continue
        if axis == "dates":
            a, b = _day_labels(left, a), _day_labels(right, b)
        a, b = np.asarray(a), np.asarray(b)
        if len(a) != len(b):
            raise ValueError(
                f"{left} has {len(a)} {axis} but {right} has {len(b)}; {how}"
            )
        diff = np.flatnonzero(a != b)
        if diff.size:
            i = int(diff[0])
            raise ValueError(
                f"{left} and {right} have different {axis}: position {i} is {a[i]} in {left} but "
                f"{b[i]} in {right} ({diff.size} positions differ); {how}"
            )


class LabelsSeen:
    """The labels of several ``(T, N)`` inputs met so far, axis by axis (a pandas DataFrame may
    label one axis only): each input's dates (assets) must equal the first dates (assets) seen,
    else the ``ValueError`` of :func:`check_same_labels`."""

    def __init__(self) -> None:
        self.dates: tuple[str, Any] | None = None
        self.assets: tuple[str, Any] | None = None

    def add(self, name: str, dates: Any, assets: Any) -> None:
        if dates is not None:
            if self.dates is None:
                self.dates = (name, dates)
            else:
                check_same_labels(name, dates, None, self.dates[0], self.dates[1], None)
        if assets is not None:
            if self.assets is None:
                self.assets = (name, assets)
            else:
                check_same_labels(name, None, assets, self.assets[0], None, self.assets[1])

    def check_given(self, d_labels: Any, a_labels: Any) -> tuple[Any, Any]:
        """Check the ``dates``/``assets`` arguments of the call against the labels seen; return
        them, each defaulting to the labels seen."""
        for axis, seen in (("dates", self.dates), ("assets", self.assets)):
            if seen is not None:
                given = (d_labels, None) if axis == "dates" else (None, a_labels)
                mine = (seen[1], None) if axis == "dates" else (None, seen[1])
                check_same_labels(seen[0], *mine, "the dates/assets given", *given,
                                  how=given_labels_how(seen[0]))
        return (self.dates[1] if d_labels is None and self.dates else d_labels,
                self.assets[1] if a_labels is None and self.assets else a_labels)


def refuse_text_ordered_ids(name: str, ids: Any, partner: str, how: str) -> None:
    """The ``ValueError`` for a long frame ``name`` with integer asset ids (dtype ``ids``) met by
    an unlabelled ``partner``: its assets come out sorted as text ('1', '10', '2', ...), so the
    partner's positions would pair with that order, which nobody would guess."""
    raise ValueError(
        f"{name}: a long frame with integer asset ids ({ids}) cannot be paired by position with "
        f"{partner}: its assets are ordered as text ('1', '10', '2', ...); {how}, or give the ids as strings"
    )


def _ndim(v: Any) -> int:
    try:
        return int(np.ndim(v))
    except Exception:  # an object numpy cannot size: not an array
        return 0


def _frame_codes(name: str, arr: np.ndarray) -> np.ndarray:
    """The ``industry`` codes of a frame read as a field: a cell the frame does not fill (a long
    frame without that (date, asset) row, e.g. before a listing; a null) names no industry, so
    it is code -1 (none), not a NaN that makes the codes a float array to refuse."""
    if name != "industry" or not np.issubdtype(arr.dtype, np.floating):
        return arr
    missing = np.isnan(arr)
    return np.where(missing, -1.0, arr) if missing.any() else arr


def frame_io(fn):
    """Decorator for ``(T, N) → (T, N)`` kernels whose first argument is ``x``: a Polars frame
    (long or wide) in gives a frame of the same form and labels out; the other (T, N) frame
    arguments must carry the same labels. Arrays in, arrays out."""
    import functools
    import inspect

    sig = inspect.signature(fn)
    first = next(iter(sig.parameters))

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        x = bound.arguments[first]
        if not _is_polars_frame(x):
            # pandas frames (indexed by date, or with asset columns) keep their labels, matched
            # with each other; the result is an array (rows as given), so they must be in date order
            seen = LabelsSeen()
            for k, v in bound.arguments.items():
                if is_field_frame(v):
                    arr, d, a = as_field(k, v)
                    seen.add(k, d, a)
                    bound.arguments[k] = _frame_codes(k, arr)
            return fn(*bound.args, **bound.kwargs)
        from ferrofactor.panel import frame_from_field

        if type(x).__name__ == "LazyFrame":
            x = x.collect()
        long = "asset" in x.columns
        # the frame's rows come out in date order: fine when every other (T, N) input is a frame
        # too (their labels must match), ambiguous when an array pairs with it row by row
        arrays = any(
            k != first and (isinstance(v, (list, tuple)) or getattr(v, "ndim", 0) >= 1)
            and not field_axes(v)[0]  # (a pandas frame indexed by date is matched on its dates)
            for k, v in bound.arguments.items()
        )
        ids = x.schema["asset"] if long else None
        if ids is not None and ids.is_integer():
            # the assets are sorted as text ('1', '10', '2', ...): a (T, N) array's columns would
            # pair with that order, which nobody would guess
            given = [k for k, v in bound.arguments.items()
                     if k != first and not field_axes(v)[1] and _ndim(v) >= 2]
            if given:
                refuse_text_ordered_ids(first, ids, f"the array {given[0]}",
                                        f"pass {given[0]} as a frame too (paired by date and asset)")
        # likewise a long frame's assets come out sorted: ambiguous when a (T, N) array pairs
        # with it column by column (a (T,) series such as a market's pairs with its dates only)
        columns = any(k != first and not field_axes(v)[1] and _ndim(v) >= 2
                      for k, v in bound.arguments.items())
        values, dates, assets = as_field(first, x, date_order=arrays, asset_order=columns)
        bound.arguments[first] = values
        for k, v in list(bound.arguments.items()):
            if k != first and is_field_frame(v):
                arr, d2, a2 = as_field(k, v, date_order=False)
                check_same_labels(k, d2, a2, first, dates, assets)
                bound.arguments[k] = _frame_codes(k, arr)
        out = fn(*bound.args, **bound.kwargs)
        value = [c for c in x.columns if c not in ("date", "asset")][0] if long else "value"
        res = frame_from_field(out, dates, assets, form="long" if long else "wide", value_name=value)
        if ids is not None and ids.is_integer():
            # the ids come back as they came in, so that the result joins with the input
            res = res.with_columns(res["asset"].cast(ids))
        return res

    return wrapper
