"""The result protocol shared by every stage: read-only labelled arrays, frames and summaries.

Every result object of ferrofactor (a fitted factor model, a risk decomposition, a bias test, a
signal evaluation, ...) follows one protocol, implemented once here in :class:`Result`:

- **Read-only labelled arrays.** Results expose numpy arrays as properties; the arrays cannot be
  written (``flags.writeable`` is False) and the properties cannot be reassigned. Their axes are
  labelled by ``dates`` (``datetime64[D]``; positions ``0..T-1`` when the input carried no dates),
  ``assets`` (``str``) and ``factor_names`` (or other names a result declares).
- **Frames.** ``to_polars(kind=..., form="wide" | "long")`` turns any labelled array (or a group
  of arrays on the same axes) into a Polars frame. ``form="long"`` has one row per cell, one
  column per axis (``date``, ``asset``, ``factor``, ...) and one value column, so it joins back to
  the user's long data on ``(date, asset)``; ``form="wide"`` keeps the first axis as rows and
  spreads the last axis into columns (e.g. date × factor).
- **Summaries.** ``summary()`` returns a :class:`Summary`: ``str(summary)`` is a text table laid
  out as statsmodels/linearmodels do (a header of key/value pairs, then tables with one number
  format per column), and ``_repr_html_`` renders it in a notebook. ``Summary.to_polars()`` gives
  its main table as a frame.

Estimators follow one convention too: settings go to ``__init__`` and are validated there;
``fit`` validates its data, computes everything, and only then stores anything, so a fit that
fails leaves the object exactly as it was. Using an estimator's fitted state before ``fit``
raises :class:`NotFittedError` (a ``ValueError``).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import polars as pl

__all__ = ["NotFittedError", "Result", "Summary"]


class NotFittedError(ValueError):
    """An estimator's fitted state was used before ``fit``."""


def readonly(a: Any) -> Any:
    """A read-only view of ``a`` (None and non-arrays pass through). The caller's array keeps its
    own flags."""
    if not isinstance(a, np.ndarray):
        return a
    v = a.view()
    v.flags.writeable = False
    return v


def _freeze(x: Any) -> Any:
    """``x`` with its numpy arrays read-only (views, so no other holder's array changes flags): an
    array, or plain dicts, lists and tuples of them; anything else passes through."""
    if isinstance(x, np.ndarray):
        return readonly(x) if x.flags.writeable else x
    if type(x) is dict:
        return {k: _freeze(v) for k, v in x.items()}
    if type(x) in (list, tuple):
        return type(x)(_freeze(v) for v in x)
    return x


# ---------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------

_INT_KINDS = "iub"


def _column_format(name: str, values: np.ndarray) -> str:
    """One format for a whole column: integers as integers; t-statistics and p-values with 4
    decimals; other floats with 4 decimals unless any magnitude is below 0.01 or from 1e5 on,
    then the whole column in scientific notation with 5 significant digits."""
    if values.dtype.kind in _INT_KINDS:
        return "d"
    low = name.lower()
    if "pvalue" in low or "p-value" in low or "p>" in low or "tstat" in low or "t-stat" in low:
        return ".4f"  # t-statistics and p-values: fixed, as statsmodels prints them
    fin = np.abs(values[np.isfinite(values)]) if values.dtype.kind == "f" else np.array([])
    fin = fin[fin > 0]
    if fin.size and (fin.max() >= 1e5 or fin.min() < 1e-2):
        return ".4e"  # small or large magnitudes keep 5 significant digits
    return ".4f"


def fixed_or_scientific(values: Any) -> str:
    """``".4f"`` for a column of numbers, or ``".4e"`` when one of them, not 0, is below 1e-4 in
    magnitude: four decimals would print it as 0.0000 or 0.0001 (statsmodels' summaries switch to
    ``%g`` below 1e-4 for the same reason; here the whole column switches, one format per
    column)."""
    v = np.asarray(values, dtype=float)
    v = np.abs(v[np.isfinite(v) & (v != 0)])
    return ".4e" if v.size and v.min() < 1e-4 else ".4f"


def _fmt(v: Any, spec: str) -> str:
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if spec == "d":
        return str(int(v))
    f = float(v)
    if not math.isfinite(f):
        return "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")
    return format(f, spec)


def _pairs(name: str, x: Any) -> list[tuple[Any, Any]]:
    """A sequence of 2-item pairs (``header``, ``tables`` of :class:`Summary`)."""
    if isinstance(x, (str, bytes)) or not isinstance(x, Sequence):
        raise TypeError(f"{name} must be a sequence of pairs, got {type(x).__name__}")
    out = []
    for i, item in enumerate(x):
        if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 2:
            raise TypeError(f"{name}[{i}] must be a pair, got {item!r}")
        out.append((item[0], item[1]))
    return out


def _check_index(name: str, i: Any, n: int) -> int:
    if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {i!r}")
    j = int(i) + n if int(i) < 0 else int(i)
    if not 0 <= j < n:
        raise ValueError(f"{name} {int(i)} is out of range for {n} tables")
    return j


class Summary:
    """A result's summary: a title, key/value header lines, tables and notes.

    ``str(summary)`` is the text layout (statsmodels style, one number format per column);
    ``summary._repr_html_()`` the same as HTML for notebooks; ``summary.to_polars()`` the first
    table as a Polars frame; ``summary.tables`` all of them.

    Parameters
    ----------
    title : str
    header : sequence of (key, value) pairs
        Shown in two columns above the tables (sample size, covariance type, settings, ...).
    tables : sequence of (caption, polars.DataFrame)
        The caption may be ``""``. The first column of each table is its row label.
    notes : sequence of str
        Lines shown under the tables (e.g. why a statistic is NaN).
    formats : mapping of column name → format spec, optional
        Overrides of the automatic per-column format (``".4f"``, ``".3e"``, ``"d"``, ...).
    """

    def __init__(
        self,
        title: str,
        header: Sequence[tuple[str, Any]] = (),
        tables: Sequence[tuple[str, pl.DataFrame]] = (),
        notes: Sequence[str] = (),
        formats: Mapping[str, str] | None = None,
    ) -> None:
        self.title = str(title)
        self.header = [(str(k), str(v)) for k, v in _pairs("header", header)]
        self.tables = [(str(c), t) for c, t in _pairs("tables", tables)]
        for c, t in self.tables:
            if not isinstance(t, pl.DataFrame):
                raise TypeError(f"tables must hold (caption, polars.DataFrame) pairs; {c!r} has a {type(t).__name__}")
        if isinstance(notes, (str, bytes)) or not isinstance(notes, Sequence):
            raise TypeError(f"notes must be a sequence of strings, got {type(notes).__name__}")
        self.notes = [str(n) for n in notes]
        if formats is not None and not isinstance(formats, Mapping):
            raise TypeError(f"formats must be a mapping of column name to format, got {type(formats).__name__}")
        self._formats = dict(formats or {})

    def to_polars(self, table: int = 0) -> pl.DataFrame:
        """Table ``table`` (default the first; negative counts from the end) as a Polars frame."""
        if not self.tables:
            raise ValueError("this summary has no table")
        n = len(self.tables)
        i = _check_index("table", table, n)
        return self.tables[i][1]

    # -- rendering ------------------------------------------------------------------------
    def _cells(self, df: pl.DataFrame) -> tuple[list[str], list[list[str]]]:
        heads = list(df.columns)
        cols = []
        for name in heads:
            s = df[name]
            if s.dtype.is_numeric():
                vals = s.to_numpy()
                spec = self._formats.get(name) or _column_format(name, vals)
                cols.append([_fmt(v, spec) for v in vals])
            else:
                cols.append(["" if v is None else str(v) for v in s.to_list()])
        rows = [list(r) for r in zip(*cols)] if cols else []
        return heads, rows

    def __str__(self) -> str:
        blocks = []
        for caption, df in self.tables:
            heads, rows = self._cells(df)
            widths = [max([len(h)] + [len(r[j]) for r in rows]) for j, h in enumerate(heads)]
            blocks.append((caption, heads, rows, widths))
        table_w = max([sum(w) + 2 * (len(w) - 1) for _, _, _, w in blocks] + [78])
        lines = [self.title.center(table_w), "=" * table_w]
        half = (len(self.header) + 1) // 2
        left, right = self.header[:half], self.header[half:]
        col = table_w // 2
        for i in range(half):
            k, v = left[i]
            s = f"{k + ':':<{col - len(v) - 2}}{v}  " if len(k) + len(v) + 3 < col else f"{k}: {v}  "
            if i < len(right):
                k2, v2 = right[i]
                room = table_w - len(s)
                s += f"{k2 + ':':<{max(room - len(v2), len(k2) + 2)}}{v2}"
            lines.append(s.rstrip())
        if self.header:
            lines.append("=" * table_w)
        for caption, heads, rows, widths in blocks:
            if caption:
                lines.append(caption)
                lines.append("-" * table_w)
            lines.append("  ".join(
                (h.ljust(w) if j == 0 else h.rjust(w)) for j, (h, w) in enumerate(zip(heads, widths))
            ))
            lines.append("-" * table_w)
            for r in rows:
                lines.append("  ".join(
                    (c.ljust(w) if j == 0 else c.rjust(w)) for j, (c, w) in enumerate(zip(r, widths))
                ))
            lines.append("=" * table_w)
        for n in self.notes:
            lines.append(n)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        esc = html.escape
        out = [f'<div class="ferrofactor-summary"><h4>{esc(self.title)}</h4>']
        if self.header:
            out.append("<table><tbody>")
            for i in range(0, len(self.header), 2):
                cells = "".join(
                    f"<th style='text-align:left'>{esc(k)}</th><td style='text-align:right'>{esc(v)}</td>"
                    for k, v in self.header[i: i + 2]
                )
                out.append(f"<tr>{cells}</tr>")
            out.append("</tbody></table>")
        for caption, df in self.tables:
            heads, rows = self._cells(df)
            out.append("<table>")
            if caption:
                out.append(f"<caption>{esc(caption)}</caption>")
            out.append("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in heads) + "</tr></thead><tbody>")
            for r in rows:
                out.append("<tr>" + "".join(
                    (f"<th style='text-align:left'>{esc(c)}</th>" if j == 0
                     else f"<td style='text-align:right'>{esc(c)}</td>")
                    for j, c in enumerate(r)) + "</tr>")
            out.append("</tbody></table>")
        for n in self.notes:
            out.append(f"<p>{esc(n)}</p>")
        out.append("</div>")
        return "".join(out)


# ---------------------------------------------------------------------------------------------
# Result base
# ---------------------------------------------------------------------------------------------


def short_names(names: Sequence[Any], limit: int = 12) -> str:
    """A list of names for a ``repr``: in full up to ``limit`` names, else the first and last few
    and the count (a model with GICS industries has 70+ factors: a repr stays one short line)."""
    names = [str(n) for n in names]
    if len(names) <= limit:
        return repr(names)
    head, tail = names[: limit - 3], names[-2:]
    return "[" + ", ".join(map(repr, head)) + ", ..., " + ", ".join(map(repr, tail)) + f"] ({len(names)})"


def _label_series(axis: str, labels: Any, n: int) -> pl.Series:
    """Labels of one axis as a Polars series named after the axis."""
    if labels is None:
        return pl.Series(axis, np.arange(n, dtype=np.int64))
    arr = np.asarray(labels)
    if arr.dtype.kind == "M":
        return pl.Series(axis, arr.astype("datetime64[D]"))
    if arr.dtype.kind in "iu":
        return pl.Series(axis, arr.astype(np.int64))
    return pl.Series(axis, [str(x) for x in arr.tolist()], dtype=pl.String)


class Result:
    """Base of every result object (see the module docstring for the protocol).

    Subclasses declare their labelled arrays in ``_arrays`` (property name → axis names, e.g.
    ``{"factor_returns": ("date", "factor")}``), optional groups of same-axes arrays in
    ``_groups`` (e.g. ``{"dates": ("r2", "n_obs")}``), the default ``to_polars`` kind in
    ``_default_kind``, and implement ``summary()``. Axis labels come from ``_axis_labels``:
    ``date`` → ``self.dates``, ``asset`` → ``self.assets``, ``factor`` → ``self.factor_names``;
    subclasses add their own axes by overriding it.
    """

    _arrays: ClassVar[dict[str, tuple[str, ...]]] = {}
    _groups: ClassVar[dict[str, tuple[str, ...]]] = {}
    _default_kind: ClassVar[str] = ""

    # -- labels ------------------------------------------------------------------------------
    def _axis_labels(self, axis: str) -> Any:
        if axis == "date":
            return getattr(self, "dates", None)
        if axis == "asset":
            return getattr(self, "assets", None)
        if axis == "factor":
            return getattr(self, "factor_names", None)
        raise KeyError(axis)  # pragma: no cover - a subclass declared an axis it does not label

    def __setstate__(self, state: dict[str, Any]) -> None:
        # pickle and copy.deepcopy rebuild numpy arrays writeable: read-only again, as fitted
        self.__dict__.update({k: _freeze(v) for k, v in state.items()})

    @property
    def kinds(self) -> list[str]:
        """What :meth:`to_polars` can return: the labelled arrays and the groups."""
        return list(self._arrays) + list(self._groups)

    # -- frames ------------------------------------------------------------------------------
    def to_polars(self, kind: str | None = None, form: str = "wide") -> pl.DataFrame:
        """One labelled array (or a group of arrays on the same axes) as a Polars frame.

        Parameters
        ----------
        kind : str, optional
            Which array or group (see :attr:`kinds`); default ``_default_kind`` of the class.
        form : {"wide", "long"}, default "wide"
            ``"long"``: one row per cell, a column per axis (``date``, ``asset``, ``factor``,
            ...) and one value column per array (named after it); joinable on ``(date, asset)``.
            ``"wide"``: the last axis spread into columns named by its labels, the other axes as
            label columns (for 1-D arrays and groups, wide and long are the same frame).
        """
        kind = self._default_kind if kind is None else kind
        if form not in ("wide", "long"):
            raise ValueError(f"form must be one of ['wide', 'long'], got {form!r}")
        if kind in self._groups:
            names = self._groups[kind]
            axes = self._arrays[names[0]]
            return self._frame_long(axes, {n: getattr(self, n) for n in names})
        if kind not in self._arrays:
            raise ValueError(f"kind must be one of {self.kinds}, got {kind!r}")
        axes = self._arrays[kind]
        arr = getattr(self, kind)
        if arr is None:
            raise ValueError(f"{type(self).__name__} has no {kind!r} (not computed for this result)")
        if form == "long" or len(axes) == 1:
            return self._frame_long(axes, {kind: arr})
        return self._frame_wide(axes, kind, np.asarray(arr))

    def _frame_long(self, axes: tuple[str, ...], arrays: Mapping[str, np.ndarray]) -> pl.DataFrame:
        first = np.asarray(next(iter(arrays.values())))
        shape = first.shape
        cols: list[pl.Series] = []
        cols.extend(self._frame_long_labels(axes, shape).get_columns())
        clash = sorted(set(arrays) & {c.name for c in cols})
        if clash:  # an array named by the user (a style) after an axis: Polars refused the frame
            raise ValueError(f"{clash[0]!r} names both a label column and a value column of the long frame; rename it")
        for name, a in arrays.items():
            a = np.asarray(a)
            if a.shape != shape:
                raise ValueError(f"{name} has shape {a.shape}, expected {shape}")
            cols.append(pl.Series(name, a.reshape(-1)))
        return pl.DataFrame(cols)

    def _frame_wide(self, axes: tuple[str, ...], kind: str, arr: np.ndarray) -> pl.DataFrame:
        last = axes[-1]
        col_labels = self._axis_labels(last)
        n_last = arr.shape[-1]
        names = [str(x) for x in (np.arange(n_last) if col_labels is None else np.asarray(col_labels).tolist())]
        lead = self._frame_long_labels(axes[:-1], arr.shape[:-1])
        clash = set(names) & set(lead.columns)
        if clash:
            raise ValueError(
                f"labels {sorted(clash)} of axis {last!r} clash with the label columns; use form='long'"
            )
        # (the rows counted from the leading axes: an empty last axis leaves the labels only)
        flat = arr.reshape(int(np.prod(arr.shape[:-1], dtype=np.int64)), n_last)
        return lead.with_columns([pl.Series(nm, flat[:, j]) for j, nm in enumerate(names)])

    def _frame_long_labels(self, axes: tuple[str, ...], shape: tuple[int, ...]) -> pl.DataFrame:
        cols = []
        for d, axis in enumerate(axes):
            name = f"{axis}_{axes[:d + 1].count(axis)}" if axes.count(axis) > 1 else axis
            lab = _label_series(name, self._axis_labels(axis), shape[d])
            if len(lab) != shape[d]:
                raise ValueError(f"{axis} labels have length {len(lab)}, axis {d} has {shape[d]}")
            rep = int(np.prod(shape[d + 1:], dtype=np.int64))
            til = int(np.prod(shape[:d], dtype=np.int64))
            cols.append(lab.gather(np.tile(np.repeat(np.arange(shape[d]), rep), til)))
        return pl.DataFrame(cols)

    # -- summary -----------------------------------------------------------------------------
    def summary(self) -> Summary:  # pragma: no cover - every subclass implements it
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()

    def __repr__(self) -> str:
        # short and informative (never an array's values): the span of dates, the number of assets
        # and factors, and the shape of the default array; subclasses may say more
        parts = []
        name = self.__dict__.get("name")
        if isinstance(name, str):
            parts.append(f"name={name!r}")
        try:
            d, a = getattr(self, "dates", None), getattr(self, "assets", None)
            f = getattr(self, "factor_names", None)
            kind = self._default_kind if self._default_kind in self._arrays else next(iter(self._arrays), None)
            arr = getattr(self, kind) if kind else None
        except Exception:  # pragma: no cover - a repr never raises (e.g. an unfitted estimator)
            d = a = f = arr = None
        if isinstance(d, np.ndarray) and d.size:
            parts.append(f"dates={d[0]}..{d[-1]} ({d.size})")
        if isinstance(a, np.ndarray):
            parts.append(f"assets={a.size}")
        if isinstance(f, list):
            parts.append(f"factors={len(f)}")
        if isinstance(arr, np.ndarray):
            parts.append(f"{kind}: {arr.shape}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __str__(self) -> str:
        return str(self.summary())
