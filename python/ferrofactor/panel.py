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

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from ferrofactor import _core
from ferrofactor._validate import as_code_array, as_float_array, check_shape

__all__ = ["Panel"]

# How many offending rows a validation error lists.
_SHOW = 5


# ---------------------------------------------------------------------------------------------
# Axis helpers
# ---------------------------------------------------------------------------------------------


def _as_dates(name: str, x: Any) -> np.ndarray:
    """Return ``x`` as a 1-D ``datetime64[D]`` array (no sorting or uniqueness check)."""
    if isinstance(x, (pl.Series)):
        x = _series_to_days(name, x).astype("datetime64[D]")
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if arr.dtype.kind == "M":
        if np.any(np.isnat(arr)):
            raise ValueError(f"{name} must not contain missing dates (NaT)")
        out = arr.astype("datetime64[D]")
        if np.any(out.astype(arr.dtype) != arr):
            raise ValueError(f"{name} must be whole days; got times within a day (dtype {arr.dtype})")
    elif arr.dtype.kind in "UO" or arr.size == 0:
        try:
            out = arr.astype("datetime64[D]") if arr.size else np.array([], dtype="datetime64[D]")
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name} could not be parsed as dates: {exc}") from None
    else:
        raise TypeError(f"{name} must be dates (datetime64 or ISO strings), got dtype {arr.dtype}")
    if np.any(np.isnat(out)):
        raise ValueError(f"{name} must not contain missing dates (NaT)")
    return out


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
        return arr
    if arr.dtype == object and all(isinstance(v, str) for v in arr):
        return arr.astype(str)
    raise TypeError(
        f"{name} must be strings, got dtype {arr.dtype}; convert numeric ids with .astype(str)"
    )


def _check_unique(name: str, arr: np.ndarray) -> None:
    uniq, counts = np.unique(arr, return_counts=True)
    if len(uniq) != len(arr):
        dup = uniq[counts > 1]
        raise ValueError(
            f"{name} must be unique; {len(dup)} values repeat, e.g. {[str(v) for v in dup[:_SHOW]]}"
        )


def _series_to_days(name: str, s: pl.Series) -> np.ndarray:
    """Day numbers (int32, days since 1970-01-01) of a date-like Polars column.

    Accepts ``Date``, ``Datetime`` (truncated to its calendar day) and strings in ISO form
    (``2020-01-31`` or ``2020-01-31 00:00:00``). Raises ``ValueError`` on nulls, unparseable
    strings or other dtypes.
    """
    dtype = s.dtype
    if dtype == pl.Date:
        d = s
    elif isinstance(dtype, pl.Datetime):
        d = s.dt.date()
    elif dtype == pl.String:
        d = s.str.to_date(strict=False)
        bad = d.is_null() & s.is_not_null()
        if bad.any():
            # Fall back to full timestamps (e.g. SQLite's "2020-01-31 00:00:00").
            dt = s.str.to_datetime(strict=False)
            if dt.is_not_null().sum() > d.is_not_null().sum():
                d = dt.dt.date()
                bad = d.is_null() & s.is_not_null()
        if bad.any():
            examples = s.filter(bad).head(_SHOW).to_list()
            raise ValueError(
                f"column {name!r}: {int(bad.sum())} values could not be parsed as dates, "
                f"e.g. {examples}"
            )
    else:
        raise ValueError(
            f"column {name!r} has dtype {dtype}; expected dates (Date, Datetime or ISO strings)"
        )
    n_null = d.null_count()
    if n_null:
        raise ValueError(f"column {name!r} has {n_null} missing dates")
    return d.to_physical().to_numpy().astype(np.int32, copy=False)


def _asset_codes(s: pl.Series, target: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes of an asset column: ``(assets, a_idx)`` with -1 for an asset not on ``target``.

    Without ``target`` the assets are the sorted unique values. See :func:`_asset_lut`: O(rows).
    """
    assets, ids, lut = _asset_lut(s, target)
    flat = np.concatenate(ids) if ids else np.zeros(0, np.uint32)
    return assets, lut[flat].astype(np.int64)


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


def _label_codes(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes and labels of a categorical column (nulls become -1).

    ``Enum`` keeps its category list and order (so a round trip is exact); strings and
    ``Categorical`` get their sorted unique values; integers get their sorted unique values,
    written as strings.
    """
    dtype = s.dtype
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


# ---------------------------------------------------------------------------------------------
# Panel
# ---------------------------------------------------------------------------------------------


class Panel:
    """Named ``(T, N)`` fields on a common grid of ``dates`` × ``assets``.

    Parameters
    ----------
    dates : array-like, shape (T,)
        Dates (``datetime64`` of whole days or ISO strings), strictly increasing.
    assets : array-like of str, shape (N,)
        Unique asset identifiers.
    fields : mapping of str to array-like (T, N), optional
        Float fields, converted once to C-contiguous float64 (NaN = missing). Arrays that are
        already C-contiguous float64 are stored without a copy.
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
        self._dates = d
        self._assets = a
        self._float: dict[str, np.ndarray] = {}
        self._codes: dict[str, np.ndarray] = {}
        self._labels: dict[str, np.ndarray] = {}
        for name, x in (fields or {}).items():
            if not isinstance(name, str):
                raise TypeError(f"field names must be strings, got {name!r}")
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
            c = as_code_array(f"code field {name!r}", pair[0], 2)
            check_shape(f"code field {name!r}", c, (T, N), "len(dates), len(assets)")
            labels = _as_assets(f"labels of code field {name!r}", pair[1])
            _check_unique(f"labels of code field {name!r}", labels)
            if c.size and int(c.max()) >= len(labels):
                raise ValueError(
                    f"code field {name!r} has code {int(c.max())} but only {len(labels)} labels"
                )
            self._codes[name] = c
            self._labels[name] = labels
        self.truth = truth

    # -- axes and fields ---------------------------------------------------------------------

    @property
    def dates(self) -> np.ndarray:
        """``datetime64[D]`` array, shape (T,), strictly increasing."""
        return self._dates

    @property
    def assets(self) -> np.ndarray:
        """``str`` array, shape (N,), unique."""
        return self._assets

    @property
    def shape(self) -> tuple[int, int]:
        """``(T, N)``."""
        return (len(self._dates), len(self._assets))

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

    def __getitem__(self, name: str) -> np.ndarray:
        if name in self._float:
            return self._float[name]
        if name in self._codes:
            return self._codes[name]
        raise KeyError(f"no field {name!r}; fields: {list(self.fields)}")

    def __contains__(self, name: object) -> bool:
        return name in self._float or name in self._codes

    def __repr__(self) -> str:
        T, N = self.shape
        span = f"{self._dates[0]}..{self._dates[-1]}" if T else "no dates"
        return f"Panel(T={T}, N={N}, {span}, fields={list(self._float)}, codes={list(self._codes)})"

    # -- derived panels ----------------------------------------------------------------------

    def with_fields(
        self,
        fields: Mapping[str, Any] | None = None,
        codes: Mapping[str, tuple[Any, Any]] | None = None,
    ) -> Panel:
        """A new Panel with ``fields``/``codes`` added (or replaced); other arrays are shared."""
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
            all be on the panel and is sorted.
        assets : None, boolean mask (N,) or array-like of str
            A list of assets must all be on the panel; the result follows its order.
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
                np.searchsorted(self._dates, _as_dates("dates.start", [dates.start])[0], "left")
            )
            hi = T if dates.stop is None else int(
                np.searchsorted(self._dates, _as_dates("dates.stop", [dates.stop])[0], "right")
            )
            return np.arange(lo, max(lo, hi))
        arr = np.asarray(dates)
        if arr.dtype == bool:
            if arr.shape != (T,):
                raise ValueError(f"dates mask has shape {arr.shape}, expected ({T},)")
            return np.flatnonzero(arr)
        want = np.unique(_as_dates("dates", np.atleast_1d(arr)))
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
        every label and its order, so ``Panel.from_polars(p.to_polars())`` equals ``p`` exactly.

        Parameters
        ----------
        drop_missing : bool, default False
            Drop rows where every float field is NaN and every code is -1. The frame is smaller,
            but dates or assets with no data at all then vanish on the way back.
        """
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
            cols[k] = pl.Series(k, v.reshape(-1))
        for k, v in self._codes.items():
            flat = v.reshape(-1)
            s = pl.Series(k, flat, dtype=pl.Int32)
            s = s.set(s < 0, None).cast(pl.UInt32)
            cols[k] = s.cat.to(pl.Enum(self._labels[k].tolist())) if len(self._labels[k]) else s.cast(pl.String)
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
    ) -> Panel:
        """Build a Panel from a long frame with one row per (date, asset).

        Parameters
        ----------
        df : polars DataFrame or LazyFrame
            Long data. A LazyFrame is collected with only the needed columns.
        date, asset : str
            Column names of the date (``Date``, ``Datetime`` or ISO strings) and the asset id
            (strings; integer ids are converted to strings).
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

        Raises
        ------
        ValueError
            Missing columns (named), duplicate (date, asset) rows (counted, first few shown),
            unparseable or missing dates, missing asset ids, non-numeric fields, empty input
            (no rows and no target axes), a string column left unassigned when ``fields`` is None.
        """
        schema = _schema(df)
        if isinstance(df, pl.DataFrame) and df.height == 0 and (dates is None or assets is None):
            raise ValueError("empty input: the data has no rows")
        names = list(schema.names())
        needed = [date, asset]
        missing = [c for c in needed if c not in schema]
        if fields is None:
            fields = []
            auto_codes = []
            other_str = []
            for c in names:
                if c in (date, asset) or (codes is not None and c in codes):
                    continue
                dt = schema[c]
                if dt.is_numeric() or dt == pl.Boolean:
                    fields.append(c)
                elif isinstance(dt, (pl.Enum, pl.Categorical)):
                    auto_codes.append(c)
                else:
                    other_str.append(f"{c} ({dt})")
            if other_str and not missing:
                raise ValueError(
                    f"columns {other_str} are neither numeric fields nor codes; pass fields= "
                    "(and codes= for label columns) to choose columns explicitly"
                )
            if codes is None:
                codes = auto_codes
        fields = list(fields)
        codes = list(codes or [])
        missing += [c for c in fields + codes if c not in schema]
        if missing:
            raise ValueError(f"missing columns {missing}; the data has columns {names}")
        dup_names = {c for c in fields + codes if (fields + codes).count(c) > 1}
        if dup_names:
            raise ValueError(f"columns {sorted(dup_names)} are listed more than once in fields/codes")
        for c in fields:
            dt = schema[c]
            if not (dt.is_numeric() or dt == pl.Boolean):
                raise ValueError(
                    f"field {c!r} is not numeric (dtype {dt}); pass it in codes= if it is a label"
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
        frame = lazy.select(pl.col(date), a_expr, *[pl.col(c) for c in fields + codes]).collect()
        target_dates = None if dates is None else _as_dates("dates", dates)
        if target_dates is not None and target_dates.size > 1 and not np.all(target_dates[1:] > target_dates[:-1]):
            raise ValueError("dates (target axis) must be strictly increasing")
        target_assets = None if assets is None else _as_assets("assets", assets)
        if target_assets is not None:
            _check_unique("assets", target_assets)
        if frame.height == 0 and (target_dates is None or target_assets is None):
            raise ValueError("empty input: the data has no rows")

        cells, axis_days, axis_assets = _cells(frame, date, asset, target_dates, target_assets)
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
        return cls(axis_days.astype("datetime64[D]"), axis_assets, out_fields, out_codes)


def _day_chunks(name: str, s: pl.Series) -> list[np.ndarray]:
    """Day numbers of a date column as int32 numpy chunks (zero-copy for a ``Date`` column)."""
    if s.dtype == pl.Date:
        if s.null_count():
            raise ValueError(f"column {name!r} has {s.null_count()} missing dates")
        return [np.ascontiguousarray(c.to_physical().to_numpy(), dtype=np.int32) for c in s.get_chunks()]
    return [_series_to_days(name, s)]


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


def _distinct(chunks: list[np.ndarray], lo: int, hi: int, kernel: Any) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values of integer chunks within ``[lo, hi]`` and the first row of each.

    A table over ``lo..hi`` filled in one parallel Rust pass (no hashing) when the range is not
    much wider than the data; otherwise numpy's sort-based ``unique``.
    """
    n = sum(len(c) for c in chunks)
    span = hi - lo + 1
    if span <= 0 or n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if span <= max(1 << 22, 4 * n):
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
) -> tuple[_Cells, np.ndarray, np.ndarray]:
    """Where each row lands (``t * N + a``; off the target axes = dropped), in parallel Rust
    passes. Returns ``(cells, axis_days, axis_assets)``. Raises on repeated (date, asset) rows.
    """
    days = _day_chunks(date, frame[date])
    if any(len(c) for c in days):
        lo = int(min(c.min() for c in days if len(c)))
        hi = int(max(c.max() for c in days if len(c)))
    else:
        lo, hi = 0, -1
    if target_dates is None:
        axis_days = _distinct(days, lo, hi, _core.first_rows_i32)[0]
    else:
        axis_days = target_dates.view(np.int64)
    day_lut = np.full(max(hi - lo + 1, 0), -1, dtype=np.int32)
    inside = (axis_days >= lo) & (axis_days <= hi)
    day_lut[axis_days[inside] - lo] = np.flatnonzero(inside).astype(np.int32)

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
