"""Backtests: rebalancing simulations with costs, untradeable assets and delistings.

Timeline
--------
``returns[t]`` runs from close ``t−1`` to close ``t``. At the close of ``t`` a book first lets
its positions drift with ``returns[t]`` (and is paid out for assets delisted at ``t``), then, on a
rebalance date, trades to the target weights of ``t`` — targets known at the close of ``t`` and
nothing later. The weights held after trading at ``t`` earn ``returns[t+1]``:

    value[t+1] = value[t] + Σᵢ positions_after[t, i] · returns[t+1, i]   (before costs at t+1)

Accounting (seed 003, per book, in money; ``s`` positions, signed; ``c`` cash ≥ 0)
-----------------------------------------------------------------------------------
1. ``sᶠₜ = sₜ₋₁ ⊙ (1 + rₜ)`` with ``rₜ,ᵢ := 0`` where the return is missing (a suspended asset
   keeps its value). An asset delisted at ``t`` is sold at its last value times ``1 + δᵢ`` (the
   delisting return, default 0): ``dₜ,ᵢ = sᶠₜ,ᵢ (1 + δᵢ)`` goes to cash, at no cost.
2. ``vᶠₜ = Σᵢ sᶠₜ,ᵢ + cₜ₋₁ + Σᵢ dₜ,ᵢ`` (value before trading).
3. On rebalance dates: assets that cannot trade at ``t`` (no return at ``t``, i.e. no price, or
   ``tradable`` False) are held, not traded: ``sₜ,ᵢ = sᶠₜ,ᵢ``; their targets are ignored. With
   ``A = cₜ₋₁ + Σ dₜ + Σ_{tradable} sᶠₜ,ᵢ`` (cash plus what can be traded) and the cost bound
   ``K = rate · (‖sᶠ_tradable‖₁ + ‖w_tradable‖₁ · A)`` (the most the trade can cost; seed 003's
   ``costᶠₜ = (2|svᶠₜ| + cₜ₋₁) · rate`` for a long-only book), the tradable positions become
   ``sₜ,ᵢ = wᵢ · (A − K)`` and

       costₜ = rate · ‖sₜ − sᶠₜ‖₁,     cₜ = A − Σ_{tradable} sₜ,ᵢ − costₜ ≥ 0

   (cash never goes negative after costs, for targets with ``Σ w ≤ 1``, which is required, over
   all assets and over the tradable ones: the targets of assets that cannot trade are not traded),
   as long as the capital that can trade covers the cost bound, ``A > K``. Otherwise no target
   can be reached without borrowing: ``A ≤ 0`` when the positions held (those that cannot trade)
   are worth more than the whole book, e.g. a suspended long after the book's tradable shorts
   lost more than its cash. The tradable positions are then closed (``sₜ,ᵢ = 0``, shorts
   bought back; never a target scaled by a negative capital) and ``cₜ = A − costₜ``, which is
   negative (a loan, carried until a later rebalance repays it) when ``A`` is below the cost of
   closing them (``rate · ‖sᶠ_tradable‖₁`` for ``"both"``).
   ``cost_side="buy"`` / ``"sell"`` charge only buys (purchases, short covers) / sells (sales,
   short sales), with the matching bound.
4. ``vₜ = Σᵢ sₜ,ᵢ + cₜ = vᶠₜ − costₜ``. For a long-only book ``Σ s = |s|``: seed 003's
   ``vₜ = |sₜ| + cₜ``. A long-short book holds its short-sale proceeds in cash.
5. ``returns[t] = vₜ / vₜ₋₁ − 1`` (net), ``gross_returns[t] = vᶠₜ / vₜ₋₁ − 1``, so
   ``returns = gross_returns − costₜ / vₜ₋₁``; ``turnover[t] = ½ ‖sₜ − sᶠₜ‖₁ / vᶠₜ`` (one-sided,
   ``½‖Δw‖₁`` with the trade in weights of the value before trading) and, for ``"both"``,
   ``costₜ = 2 · rate · turnoverₜ · vᶠₜ``; ``weights_before = sᶠₜ / vᶠₜ``,
   ``weights_after = sₜ / vₜ``, ``cash / value = 1 − Σ weights_after``.

Before the first row of the backtest (``start``) the book holds ``initial_value`` in cash; it
stays in cash until its first rebalance date. A long-short book and its reverse are two books
(e.g. :class:`ferrofactor.strategies.Quantile` with ``reverse=True``).

Prices, suspensions, delistings
-------------------------------
An asset can trade at ``t`` when its return at ``t`` is known and ``tradable[t]`` is True. With
returns only, that needs a price at ``t`` and at the previous date, and the move over a
suspension is lost (the return after a gap is missing). Pass ``prices=`` (a Panel field name such
as ``"close"`` for adjusted prices, or an array) to bridge gaps: the return at the first price
after a gap is then ``price[t] / last price − 1``, and an asset can trade whenever it has a price
(its first price counts as a zero return).

An asset delisted at row ``d`` is paid out at ``d``: sold at its last value times ``1 + δ`` (step 1
above), the cash reinvested at the next rebalance; the asset has no return (no price) from ``d``
on. Where ``d`` comes from:

- ``delistings=`` given (the point-in-time way): the delisting dates, as an exchange announces
  them when they happen (a mapping ``{asset: date}``, an array (N,) of dates, NaT / None = not
  delisted, or an integer array (N,) of rows, −1 = not delisted). A date that is not a trading
  date stands for the first trading date at or after it; a date after the last date of the data
  means not delisted within the data. Nothing is inferred from the returns: an asset whose prices
  stop without a listed delisting is suspended, held at its last value and untradeable, through
  ``end`` (until a price comes back), whether or not a price comes back later in the data. The
  book up to any date ``t`` then depends on the returns up to ``t`` and the delistings up to
  ``t`` only; a backtest with ``end=e`` and one on the data cut after ``e`` are identical. An
  asset listed as delisted at ``d`` that still has a return (a price) at or after ``d`` is
  refused (ValueError naming it): the inputs disagree (this check reads all the data, but only to
  refuse input; it never changes a result). If the prices of delisted assets are carried forward
  after the delisting (a flat price, zero returns), set them to NaN from ``d`` on; if the date at
  hand is an asset's last trading date, pass the next trading date. An asset suspended before
  its listed delisting is held until ``d``, then paid out.
- ``delistings`` not given (the default, kept for compatibility): ``d`` is inferred as the first
  row after the asset's last price in all the returns given (its return is missing from there to
  the end of the data); an asset suspended through the last date of the data is
  indistinguishable and treated the same way (sold at its last value). This reads data after
  ``end`` and after ``d``: whether an asset that stops trading at ``d`` is held as suspended or
  paid out to cash at ``d`` depends on whether a price comes back later in the data, so a
  backtest with ``end=e`` and one on the data cut after ``e`` can differ for such assets between
  ``d`` and ``e``. Pass ``delistings=`` to avoid it.

Either way, only delistings within ``(start, end]`` are paid out, and they are recorded alike
(``BacktestResult.delisted``: the money paid out at each date).

Many books run in one call (:func:`backtest_many`): one pass over the returns for all books,
parallel over books, results independent of the number of threads.
"""

from __future__ import annotations

import datetime
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import polars as pl

from ferrofactor import _core
from ferrofactor._validate import (
    as_array,
    as_assets,
    as_dates,
    as_field,
    as_float_array,
    by_date,
    by_label,
    check_choice,
    check_real,
    check_same_labels,
    check_shape,
    date_position,
    is_date_indexed,
    is_real_numeric,
    refuse_time_of_day,
)
from ferrofactor.constants import PERIODS_PER_YEAR
from ferrofactor.io import bridged_returns
from ferrofactor.metrics import MetricsSummary
from ferrofactor.results import Result, Summary, fixed_or_scientific, readonly
from ferrofactor.strategies import Strategy, _as_bool_field

__all__ = [
    "BacktestBooks",
    "BacktestResult",
    "Context",
    "backtest",
    "backtest_many",
    "rebalance_rows",
]

# Order of the per-row series written by the kernel (rust/backtest.rs).
_SERIES = ("value", "value_before", "costs", "turnover", "cash", "n_holdings", "delisted")
#: Tolerance on the net exposure of targets (Σ w ≤ 1 + this: a solver's rounding is accepted;
#: with zero costs the cash can then dip to −1e-6 of the value).
NET_TOLERANCE = 1e-6


# ---------------------------------------------------------------------------------------------
# Market: returns, labels, tradability, delistings
# ---------------------------------------------------------------------------------------------


class _Env:
    """The backtest's market: returns (T, N) (NaN = no price), labels, mask, delistings."""

    def __init__(self, returns, dates, assets, tradable, panel, delist_row, delist_return, start, end):
        self.returns = returns
        self.T, self.N = returns.shape
        self.dates = dates
        self.assets = assets
        self.tradable = tradable
        self.panel = panel
        self.delist_row = delist_row
        self.delist_return = delist_return
        self.start, self.end = start, end

    def tradable_rows(self, rows: np.ndarray) -> np.ndarray:
        """(R, N) bool: can trade at each of ``rows`` (a return at t and the mask)."""
        ok = np.isfinite(self.returns[rows])
        if self.tradable is not None:
            ok &= self.tradable[rows]
        return ok


def _bridged_returns(prices: np.ndarray) -> np.ndarray:
    """Returns from prices with gaps bridged (:func:`ferrofactor.io.bridged_returns`), and 0 on
    an asset's first price: it can trade there; nothing is held before it."""
    out = bridged_returns(prices)
    out[np.isfinite(prices) & np.isnan(out)] = 0.0
    return out


def _market(panel_or_returns, prices, tradable, dates, assets, asset_order=True):
    """Returns (T, N), dates, assets, tradable mask, panel. ``asset_order``: some input pairs
    with the returns' assets by position (a long frame's must then be listed in sorted order)."""
    from ferrofactor.panel import Panel

    panel = None
    if isinstance(panel_or_returns, Panel):
        panel = panel_or_returns
        if dates is not None or assets is not None:
            raise ValueError("with a Panel, dates and assets come from the panel; leave dates/assets unset")
        dates, assets = panel.dates, panel.assets
        if prices is None:
            if "returns" not in panel.float_fields:
                raise ValueError(
                    f"panel has no 'returns' field; fields: {list(panel.float_fields)} "
                    "(or pass prices='<price field>')"
                )
            returns = panel["returns"]
        else:
            if isinstance(prices, str):
                if prices not in panel.float_fields:
                    raise ValueError(f"prices={prices!r} is not a float field of the panel: {list(panel.float_fields)}")
                p = panel[prices]
            else:
                # matched on the panel's labels (the panel labels the assets: no positional pairing)
                p, pd_, pa = as_field("prices", prices, asset_order=False)
                check_same_labels("prices", pd_, pa, "panel", dates, assets)
            returns = None
    else:
        if isinstance(panel_or_returns, str):
            raise TypeError("panel_or_returns must be a Panel, an array or a Polars frame, got a str")
        returns, d2, a2 = as_field("returns", panel_or_returns, asset_order=asset_order)
        # a frame's labels (a pandas DataFrame may carry its dates or its assets only)
        if (d2 is not None and dates is not None) or (a2 is not None and assets is not None):
            raise ValueError(
                "with a frame (Polars, or pandas indexed by date or with asset columns), its dates "
                "and assets come from the frame; leave dates/assets unset"
            )
        dates = d2 if d2 is not None else dates
        assets = a2 if a2 is not None else assets
        if prices is not None:
            raise ValueError("prices= is for Panels; with a returns array, pass the returns you want")
    if returns is None:
        if isinstance(p, np.ndarray) and p.dtype != np.float64:
            p = p.astype(np.float64)
        p = as_float_array("prices", p, 2)
        check_shape("prices", p, panel.shape, "the panel's shape")
        if np.isinf(p).any() or np.any(p[np.isfinite(p)] <= 0):
            raise ValueError("prices must be positive and finite where present (NaN = missing)")
        returns = _bridged_returns(p)
    T, N = returns.shape
    if T < 1 or N < 1:
        raise ValueError(f"returns must have at least one date and one asset, got shape {returns.shape}")
    dates = as_dates("dates", dates, T)
    assets = as_assets("assets", assets, N)
    mask = None
    if tradable is not None:
        if isinstance(tradable, str):
            if panel is None or tradable not in panel.fields:
                raise ValueError(f"tradable={tradable!r} names no field of a panel")
            tradable = panel[tradable]
        mask, md, ma = _as_bool_field("tradable", tradable)
        check_shape("tradable", mask, (T, N), "the shape of returns")
        check_same_labels("tradable", md, ma, "returns", dates, assets)
    returns = np.ascontiguousarray(returns, dtype=np.float64)
    last, n_inf, low = _core.backtest_scan(returns)
    if n_inf:
        raise ValueError(f"returns must not contain infinite values ({n_inf} found; NaN = missing)")
    if low < -1.0:
        raise ValueError(f"returns must be >= -1 (a price cannot go below zero), got minimum {low}")
    return returns, dates, assets, mask, panel, last


def _delistings(last: np.ndarray, T: int, start: int, end: int, delisting_returns: Any,
                assets, listed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per asset: the delisting row within (start, end] (−1 = none) and the delisting return.

    The row is ``listed`` (the rows of ``delistings=``, :func:`_listed_delistings`) when given,
    else inferred: the row after the last finite return ``last`` (read from all the data)."""
    N = len(last)
    if listed is not None:
        row = np.where((listed > start) & (listed <= end), listed, -1).astype(np.int64)
    else:
        d = last + 1
        row = np.where((last >= 0) & (d < T) & (d > start) & (d <= end), d, -1).astype(np.int64)
    delisting_returns = by_label("delisting_returns", delisting_returns)
    if delisting_returns is None:
        ret = np.zeros(N)
    elif isinstance(delisting_returns, Mapping):
        if assets is None:
            raise ValueError("delisting_returns as a mapping needs asset labels (a Panel or a frame)")
        ret = np.zeros(N)
        pos = {a: i for i, a in enumerate(assets.tolist())}
        for k, v in delisting_returns.items():
            if str(k) not in pos:
                raise ValueError(f"delisting_returns names asset {k!r}, which is not among the assets")
            ret[pos[str(k)]] = check_real(f"delisting_returns[{k!r}]", v, lo=-1.0)
    elif isinstance(delisting_returns, numbers.Real) and not isinstance(delisting_returns, bool):
        ret = np.full(N, check_real("delisting_returns", delisting_returns, lo=-1.0))
    else:
        ret = as_float_array("delisting_returns", delisting_returns, 1)
        check_shape("delisting_returns", ret, (N,), "one per asset")
        if np.isinf(ret).any() or np.any(ret[np.isfinite(ret)] < -1):
            raise ValueError("delisting_returns must be finite and >= -1 (NaN = 0)")
        ret = np.where(np.isnan(ret), 0.0, ret)
    return row, np.ascontiguousarray(ret, dtype=np.float64)


def _is_missing_date(v: Any) -> bool:
    """None, a numpy NaT, a pandas NaT (which is also a ``datetime.date``) or NA, or a float NaN
    (pandas' missing value in a Series of labels): no delisting."""
    if v is None or type(v).__name__ in ("NaTType", "NAType"):
        return True
    if isinstance(v, float) and v != v:
        return True
    return isinstance(v, np.datetime64) and bool(np.isnat(v))


_DELISTINGS_FORMS = ("a mapping {asset: date label}, an array (N,) of date labels (NaT / None = not "
                     "delisted), or an integer array (N,) of row positions (-1 = not delisted)")


def _delisting_days_to_rows(name: str, values: Any, dates: np.ndarray | None) -> np.ndarray:
    """Date labels (1-D, none missing) to rows: the first trading row at or after each date; −1
    for a date after the last row (not delisted within the data). Parsed strictly, as ``dates=``
    is (datetime64 in whole days, ``datetime.date``, ISO strings; never a guessed format)."""
    from ferrofactor.panel import _as_dates

    if dates is None:
        raise ValueError(
            f"{name} holds date labels, but the returns carry no dates; pass row positions "
            "(-1 = not delisted), or a Panel / Polars frame with dates"
        )
    days = _as_dates(name, values, check_range=False)
    pos = np.searchsorted(dates, days, side="left").astype(np.int64)
    pos[pos >= len(dates)] = -1
    return pos


def _delisting_value(name: str, v: Any, T: int) -> int | None:
    """One value of a ``delistings`` mapping: the row of a row position or of None / NaT (−1), or
    None for a date label (resolved to a row with the others, :func:`_delisting_days_to_rows`)."""
    if _is_missing_date(v):
        return -1
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name} must be a date label or an integer row position, got the bool {v!r}")
    if isinstance(v, numbers.Integral):
        i = int(v)
        if not -1 <= i < T:
            raise ValueError(f"{name} = {i} is not -1 (not delisted) or a row position in [0, {T})")
        return i
    if isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a date label or an integer row position, got the float {v!r}")
    if not isinstance(v, (str, np.datetime64, datetime.date)):
        raise TypeError(
            f"{name} must be a date label (datetime64, datetime.date or an ISO 'YYYY-MM-DD' string), "
            f"an integer row position or None, got {type(v).__name__}"
        )
    return None


def _listed_delistings(delistings: Any, last: np.ndarray, T: int, dates: np.ndarray | None,
                       assets: np.ndarray | None) -> np.ndarray:
    """The rows (N,) of ``delistings=`` over the whole sample (−1 = not delisted within it).

    A date is resolved to the first trading row at or after it (a date after the last row: not
    delisted). The asset must have no finite return from its delisting row on (``last``, the row
    of its last finite return, is before it): else ValueError naming the asset."""
    N = len(last)
    delistings = by_label("delistings", delistings)
    if isinstance(delistings, Mapping):
        if assets is None:
            raise ValueError("delistings as a mapping needs asset labels (a Panel or a frame)")
        rows = np.full(N, -1, dtype=np.int64)
        pos = {a: i for i, a in enumerate(assets.tolist())}
        seen: dict[str, Any] = {}
        labelled: dict[type, list[tuple[int, Any, Any]]] = {}  # date labels by type: parsed together
        for k, v in delistings.items():
            key = str(k)
            if key not in pos:
                raise ValueError(f"delistings names asset {k!r}, which is not among the assets")
            if key in seen:
                raise ValueError(f"delistings names asset {key!r} twice (as {seen[key]!r} and {k!r})")
            seen[key] = k
            r = _delisting_value(f"delistings[{k!r}]", v, T)
            if r is None:
                labelled.setdefault(type(v), []).append((pos[key], k, v))
            else:
                rows[pos[key]] = r
        timed = sorted((j, k, v) for group in labelled.values() for j, k, v in group)  # in asset order
        refuse_time_of_day("delistings", [v for _, _, v in timed], who=[k for _, k, _ in timed],
                           day="a delisting date")
        for group in labelled.values():
            try:
                rows[[j for j, _, _ in group]] = _delisting_days_to_rows(
                    "delistings", np.array([v for _, _, v in group]), dates)
            except ValueError:
                for j, k, v in group:  # name the value that fails
                    rows[j] = _delisting_days_to_rows(f"delistings[{k!r}]", np.array([v]), dates)[0]
                raise
    else:
        if isinstance(delistings, (str, bytes, numbers.Number, np.generic, datetime.date)):
            raise TypeError(f"delistings must be {_DELISTINGS_FORMS}; got a single {type(delistings).__name__}")
        if isinstance(delistings, (list, tuple)) and any(isinstance(v, (bool, np.bool_)) for v in delistings):
            raise TypeError(f"delistings must be {_DELISTINGS_FORMS}; got a bool among the values")
        arr = delistings.to_numpy() if isinstance(delistings, pl.Series) else as_array("delistings", delistings)
        if arr.ndim != 1:
            raise ValueError(f"delistings must be 1-dimensional (one value per asset), got shape {arr.shape}")
        check_shape("delistings", arr, (N,), "one per asset")
        kind = arr.dtype.kind
        if kind == "b":
            raise TypeError(f"delistings must be {_DELISTINGS_FORMS}; got booleans")
        if kind == "f":
            raise TypeError("delistings row positions must be integers (floats are not positions; "
                            "-1 = not delisted), or give date labels (NaT = not delisted)")
        if kind in "iu":
            rows = arr.astype(np.int64)
            bad = (rows < -1) | (rows >= T)
            if bad.any():
                raise ValueError(
                    f"delistings row positions must be -1 (not delisted) or in [0, {T}), got "
                    f"{rows[bad][:3].tolist()}"
                )
        elif kind in "MUO":
            missing = (np.isnat(arr) if kind == "M" else
                       np.isin(arr, ["NaT", ""]) if kind == "U" else  # as datetime64's str() writes NaT
                       np.fromiter((_is_missing_date(v) for v in arr), dtype=bool, count=N))
            rest = arr[~missing]
            if kind == "O":
                odd = [v for v in rest if isinstance(v, (numbers.Number, np.bool_))]
                if odd:
                    raise TypeError(
                        f"delistings must be {_DELISTINGS_FORMS}; got a mixed array with "
                        f"{type(odd[0]).__name__} {odd[0]!r}"
                    )
                if rest.size and all(isinstance(v, np.datetime64) for v in rest):
                    rest = np.array(rest.tolist())  # datetime64 values: whole days checked as such
            rows = np.full(N, -1, dtype=np.int64)
            if rest.size:
                who = np.flatnonzero(~missing) if assets is None else assets[~missing]
                refuse_time_of_day("delistings", rest, who=who.tolist(), day="a delisting date")
                rows[~missing] = _delisting_days_to_rows("delistings", rest, dates)
        else:
            raise TypeError(f"delistings must be {_DELISTINGS_FORMS}; got dtype {arr.dtype}")
    late = np.flatnonzero((rows >= 0) & (last >= rows))
    if late.size:
        def when(t: int) -> str:
            return f"row {t}" if dates is None else f"{dates[t]} (row {t})"

        i = int(late[0])
        who = f"asset {i}" if assets is None else f"asset {str(assets[i])!r}"
        more = f" ({late.size} assets in all)" if late.size > 1 else ""
        raise ValueError(
            f"delistings: {who} is delisted at {when(int(rows[i]))} but still has a return (a price) "
            f"on {when(int(last[i]))}{more}. The delisting row is the first one without a price, where "
            "the position is paid out: give the date after the asset's last price, or set its "
            "returns (prices) to NaN from the delisting on"
        )
    return rows


# ---------------------------------------------------------------------------------------------
# Rebalance schedule
# ---------------------------------------------------------------------------------------------


def rebalance_rows(rebalance: Any, dates: np.ndarray | None, start: int, end: int, *,
                   n_rows: int | None = None) -> np.ndarray:
    """Rows (int64, increasing, within ``start..end``) on which the books trade.

    ``rebalance``: ``"daily"``; ``"weekly"`` (the first trading date of each Monday–Sunday week);
    ``"monthly"`` (the first trading date of each month); an integer step ``k`` (``start``,
    ``start + k``, ...); or explicit dates: a boolean mask (T,), date labels, or integer
    positions, all on the calendar (those outside ``start..end`` are ignored). A mask given as a
    pandas Series indexed by date must carry the calendar's dates, in their order (without
    dates: its index in date order); never paired by position. Without dates, ``n_rows`` is the
    calendar's length (the rows of the returns; default ``end + 1``), which a mask must have and
    positions must fall in.
    """
    from ferrofactor._validate import check_int
    from ferrofactor.panel import _MAX_SPAN_DAYS

    if dates is not None:
        dates = as_dates("dates", dates, len(as_array("dates", dates)))
    last = _MAX_SPAN_DAYS if dates is None else len(dates) - 1  # rows without dates: at most 200 years
    start = check_int("start", start, 0, last)
    end = check_int("end", end, -1, last)
    if dates is not None:
        T = len(dates)
    else:
        T = end + 1 if n_rows is None else check_int("n_rows", n_rows, end + 1, last + 1)
    if isinstance(rebalance, str):
        check_choice("rebalance", rebalance, ["daily", "weekly", "monthly"])
        if rebalance == "daily":
            return np.arange(start, end + 1, dtype=np.int64)
        if dates is None:
            raise ValueError(
                f"rebalance={rebalance!r} needs dates: pass a Panel or a Polars frame (or dates=), "
                "or an integer step"
            )
        days = dates.astype("datetime64[D]").astype(np.int64)
        period = (days + 3) // 7 if rebalance == "weekly" else dates.astype("datetime64[M]").astype(np.int64)
        first = np.flatnonzero(np.r_[True, period[1:] != period[:-1]])
    elif isinstance(rebalance, (bool, np.bool_)):
        raise TypeError("rebalance must be 'daily', 'weekly', 'monthly', an integer step or dates, got a bool")
    elif isinstance(rebalance, numbers.Integral):
        k = check_int("rebalance", rebalance, 1)
        return np.arange(start, end + 1, k, dtype=np.int64)
    else:
        if is_date_indexed(rebalance) and np.asarray(rebalance).dtype == bool:
            # a mask indexed by date: on the calendar's dates, in their order (else in its own,
            # date order); never paired by position
            rebalance = by_date("rebalance", rebalance, dates, of="the returns")[0]
        arr = as_array("rebalance", rebalance)
        if arr.ndim == 0:  # None, a float step, one date, a set: not a schedule
            raise TypeError(
                "rebalance must be 'daily', 'weekly', 'monthly', an integer step or a sequence of dates, "
                f"rows or a mask, got {type(rebalance).__name__} {rebalance!r}"
                + (" (one date: pass it in a list)" if isinstance(rebalance, (datetime.date, np.datetime64)) else "")
            )
        if arr.ndim != 1:
            raise ValueError(f"rebalance dates must be 1-dimensional, got shape {arr.shape}")
        if arr.size == 0:
            raise ValueError("rebalance is empty: give at least one rebalance row or date")
        if arr.dtype == bool:
            if arr.shape != (T,):
                raise ValueError(f"rebalance mask has shape {arr.shape}, expected ({T},)")
            first = np.flatnonzero(arr)
        elif arr.dtype.kind == "m":  # numpy counts durations as integers: not positions
            raise TypeError(f"rebalance must be integer positions, a mask or dates, got dtype {arr.dtype}")
        elif np.issubdtype(arr.dtype, np.integer):
            if arr.size and (arr.min() < 0 or arr.max() >= T):
                raise ValueError(f"rebalance positions must be in [0, {T}), got {arr.min()}..{arr.max()}")
            first = np.unique(arr)
        elif np.issubdtype(arr.dtype, np.floating):
            raise TypeError("rebalance positions must be integers (floats are not positions)")
        else:
            if dates is None:
                raise ValueError("rebalance dates are labels, but the returns carry no dates; pass positions")
            from ferrofactor.panel import _as_dates

            try:  # as every date argument: never a guessed format, never a timestamp cut to its day
                want = np.unique(_as_dates("rebalance", rebalance if isinstance(rebalance, pl.Series) else arr,
                                           check_range=False))
            except TypeError:
                raise ValueError("rebalance could not be read as dates") from None
            pos = np.searchsorted(dates, want)
            ok = (pos < len(dates)) & (dates[np.minimum(pos, len(dates) - 1)] == want)
            if not ok.all():
                raise ValueError(
                    f"{int((~ok).sum())} rebalance dates are not trading dates, e.g. {want[~ok][:3].tolist()}"
                )
            first = pos
    first = np.asarray(first, dtype=np.int64)
    return first[(first >= start) & (first <= end)]


# ---------------------------------------------------------------------------------------------
# Strategies → targets
# ---------------------------------------------------------------------------------------------


class Context:
    """What a callable strategy sees at a rebalance row ``t``: nothing after the close of ``t``.

    Attributes
    ----------
    row : int
        ``t``, the row of the rebalance in the returns.
    date : numpy.datetime64 or None
    book : str
        The name of the book being rebalanced.
    dates : ndarray (t + 1,) or None
        The dates up to ``t``.
    assets : ndarray (N,) or None
    weights : ndarray (N,)
        The book's weights now, after the drift of ``returns[t]``, before trading
        (``weights_before[t]``); cash is ``1 − Σ weights``.
    value : float
        The book's value before trading.
    tradable : ndarray of bool (N,)
        Assets that can trade at ``t`` (targets of the others are ignored; they are held).
    returns : ndarray (t + 1, N)
        The returns up to ``t`` (read-only view).
    panel : Panel or None
        The panel up to ``t`` (read-only views; built on first access).
    risk_model : object or None
        The ``risk_model`` given to the backtest (e.g. a fitted :class:`ferrofactor.RiskModel`);
        use its rows up to ``t`` only.
    """

    def __init__(self, env: _Env, t: int, book: str, weights: np.ndarray, value: float, risk_model: Any):
        self.row = int(t)
        self.date = None if env.dates is None else env.dates[t]
        self.book = book
        self.dates = None if env.dates is None else readonly(env.dates[: t + 1])
        self.assets = readonly(env.assets)
        self.weights = readonly(weights)
        self.value = float(value)
        self.tradable = readonly(env.tradable_rows(np.array([t]))[0])
        self.returns = readonly(env.returns[: t + 1])
        self.risk_model = risk_model
        self._env = env
        self._panel = None

    @property
    def panel(self):
        if self._env.panel is None:
            return None
        if self._panel is None:
            from ferrofactor.panel import Panel

            p = self._env.panel
            t = self.row
            fields = {k: readonly(p[k][: t + 1]) for k in p.float_fields}
            codes = {k: (readonly(p[k][: t + 1]), p.labels(k)) for k in p.code_fields}
            self._panel = Panel(p.dates[: t + 1], p.assets, fields, codes)
        return self._panel


class _Book:
    """One book to run: its name and where its targets come from."""

    def __init__(self, name: str, kind: str, source: Any, index: int = 0):
        self.name, self.kind, self.source, self.index = name, kind, source, index


def _books(strategies: Any, env: _Env) -> tuple[list[_Book], np.ndarray | None]:
    """The books of ``strategies``; for a single (P, T, N) array also the array itself."""
    if isinstance(strategies, np.ndarray) and strategies.ndim == 3:
        arr = strategies
        if arr.shape[1:] != (env.T, env.N):
            raise ValueError(f"targets has shape {arr.shape}, expected (P, {env.T}, {env.N})")
        if not is_real_numeric(arr.dtype):
            raise TypeError(f"targets must be a real numeric array, got dtype {arr.dtype}")
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        return [_Book(f"book_{p}", "stack", arr, p) for p in range(arr.shape[0])], arr
    if isinstance(strategies, Mapping):
        items = [(str(k), v) for k, v in strategies.items()]
    elif isinstance(strategies, (Strategy,)) or callable(strategies) or _is_target_array(strategies):
        items = [(None, strategies)]
    elif isinstance(strategies, Sequence) and not isinstance(strategies, str):
        items = [(None, v) for v in strategies]
    else:
        raise TypeError(
            "strategies must be a strategy, a (P, T, N) array, or a mapping/sequence of strategies, "
            f"got {type(strategies).__name__}"
        )
    books: list[_Book] = []
    for i, (key, s) in enumerate(items):
        if isinstance(s, Strategy) and getattr(s, "_sequential", False):
            books.append(_Book(key or s.book_names[0], "callable", s))
        elif isinstance(s, Strategy):
            for j, b in enumerate(s.book_names):
                name = b if key is None else (key if len(s.book_names) == 1 else f"{key}:{b}")
                books.append(_Book(name, "builtin", s, j))
        elif _is_target_array(s):
            vals, d, a = as_field("strategy" if key is None else f"strategies[{key!r}]", s,
                                  asset_order=env.assets is None)
            check_shape("targets", vals, (env.T, env.N), "the shape of returns")
            check_same_labels("targets", d, a, "returns", env.dates, env.assets)
            books.append(_Book(key or (f"book_{i}" if len(items) > 1 else "portfolio"), "array", vals))
        elif callable(s):
            name = key or getattr(s, "__name__", None) or f"book_{i}"
            if name == "<lambda>":
                name = f"book_{i}" if len(items) > 1 else "portfolio"
            books.append(_Book(name, "callable", s))
        else:
            raise TypeError(
                f"strategy {key or i} must be a (T, N) array, a callable strategy(t, context) or a "
                f"built-in from ferrofactor.strategies, got {type(s).__name__}"
            )
    names = [b.name for b in books]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"book names must be unique, got repeated {dup}")
    if not books:
        raise ValueError("strategies is empty")
    return books, None


def _positional_partners(strategies: Any, tradable: Any, delisting_returns: Any, delistings: Any) -> bool:
    """Whether an input pairs with the returns' assets by position: anything but targets that
    label their assets (a Polars frame, a pandas DataFrame with asset columns), a tradable field
    (or name) that does, and per-asset vectors given as mappings or Series indexed by asset (a
    built-in strategy or a callable may hold or return arrays read in the returns' order)."""
    from ferrofactor._validate import field_axes, is_labelled_series

    items = list(strategies.values()) if isinstance(strategies, Mapping) else (
        [strategies] if _is_target_array(strategies) or not isinstance(strategies, (list, tuple))
        else list(strategies))
    if not items or not all(_is_target_array(v) and field_axes(v)[1] for v in items):
        return True
    if tradable is not None and not isinstance(tradable, str) and not field_axes(tradable)[1]:
        return True
    return any(v is not None and not isinstance(v, Mapping) and not is_labelled_series(v)
               for v in (delisting_returns, delistings))


def _is_target_array(x: Any) -> bool:
    from ferrofactor._validate import _is_pandas_frame, _is_polars_frame

    if isinstance(x, np.ndarray) or _is_polars_frame(x) or _is_pandas_frame(x):
        return True
    # nested lists of numbers (a (T, N) array written out), not a list of strategies
    return (isinstance(x, (list, tuple)) and len(x) > 0 and isinstance(x[0], (list, tuple))
            and len(x[0]) > 0 and isinstance(x[0][0], numbers.Real))


def _check_targets(name: str, w: np.ndarray, rows: np.ndarray, env: _Env) -> None:
    """Targets finite or NaN (= 0) and net exposure Σ w ≤ 1 on every row, over all assets and
    over the assets that can trade (the others' targets are not traded: a negative one among
    them would otherwise let the tradable targets borrow), else ValueError."""
    if np.isinf(w).any():
        raise ValueError(f"targets of book {name!r} contain infinite values (NaN = no position)")
    net = np.nansum(w, axis=-1)
    net_trad = np.nansum(np.where(env.tradable_rows(rows), w, 0.0), axis=-1)
    for sums, what in ((net, ""), (net_trad, " over the assets that can trade")):
        bad = np.flatnonzero(sums > 1.0 + NET_TOLERANCE)
        if bad.size:
            k = int(bad[0])
            when = rows[k] if env.dates is None else env.dates[rows[k]]
            raise ValueError(
                f"targets of book {name!r} sum to {sums[k]:.6g}{what} at {when} (row {int(rows[k])}): "
                "a net exposure above 1 would need borrowing (negative cash); scale the weights so "
                "that Σ w ≤ 1" + (" (the targets of assets that cannot trade that date, here "
                                  f"{np.nansum(w[k]) - sums[k]:.6g} in all, are not traded)" if what else "")
            )


def _callable_targets(fn: Callable, ctx: Context, env: _Env) -> np.ndarray | None:
    out = fn(ctx.row, ctx)
    if out is None:
        return None
    out = by_label(f"the weights of strategy {ctx.book!r}", out)  # a pandas Series indexed by asset
    if isinstance(out, Mapping):
        if env.assets is None:
            raise ValueError(f"strategy {ctx.book!r} returned a mapping, but the assets have no labels")
        pos = {a: i for i, a in enumerate(env.assets.tolist())}
        w = np.zeros(env.N)
        for k, v in out.items():
            if str(k) not in pos:
                raise ValueError(f"strategy {ctx.book!r} returned a weight for unknown asset {k!r}")
            w[pos[str(k)]] = float(v)
        return w
    w = np.asarray(out)
    if w.dtype == bool or not is_real_numeric(w.dtype):
        raise TypeError(f"strategy {ctx.book!r} must return real weights (N,), got dtype {w.dtype}")
    if w.shape != (env.N,):
        raise ValueError(f"strategy {ctx.book!r} returned weights of shape {w.shape}, expected ({env.N},)")
    return np.asarray(w, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def backtest_many(
    panel_or_returns: Any,
    strategies: Any,
    *,
    rebalance: Any = "monthly",
    cost_bps: float = 5.0,
    cost_side: str = "both",
    initial_value: float = 1.0,
    tradable: Any = None,
    start: Any = None,
    end: Any = None,
    delisting_returns: Any = None,
    delistings: Any = None,
    prices: Any = None,
    risk_model: Any = None,
    dates: Any = None,
    assets: Any = None,
) -> BacktestBooks:
    """Backtest many books in one pass over the returns (parallel over books).

    Parameters are those of :func:`backtest` except ``strategies``:

    strategies : (P, T, N) array, built-in, callable, or a mapping / sequence of them
        A (P, T, N) array of targets runs P books (``book_0`` ...; no copy). A built-in with
        several books (e.g. :class:`ferrofactor.strategies.Quantile`: ``Q1`` … ``Q10`` and
        ``long_short``) runs all of them. A mapping ``{name: strategy}`` names the books (a
        multi-book built-in under key ``k`` gives ``k:Q1`` ...).

    Returns
    -------
    BacktestBooks
        ``books[name]`` is each book's :class:`BacktestResult`; (T, P) arrays of the main series.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> rng = np.random.default_rng(1)
    >>> r = rng.normal(0.0005, 0.01, (120, 50))
    >>> q = ff.strategies.Quantile(rng.normal(size=(120, 50)), quantiles=5)
    >>> res = ff.backtest_many(r, q, rebalance=21, cost_bps=5)
    >>> res.value.shape
    (120, 6)
    """
    returns, d, a, mask, panel, last = _market(panel_or_returns, prices, tradable, dates, assets,
                                               _positional_partners(strategies, tradable,
                                                                    delisting_returns, delistings))
    T, N = returns.shape
    s = 0 if start is None else date_position("start", start, d, T)
    e = T - 1 if end is None else date_position("end", end, d, T)
    if e < s:
        raise ValueError(f"end (row {e}) is before start (row {s})")
    rate = check_real("cost_bps", cost_bps, lo=0.0) / 1e4
    if rate >= 1.0:
        raise ValueError(f"cost_bps must be below 10000 (100 %), got {cost_bps!r}")
    check_choice("cost_side", cost_side, ["both", "buy", "sell"])
    initial_value = check_real("initial_value", initial_value, lo=0.0, lo_open=True)
    listed = None if delistings is None else _listed_delistings(delistings, last, T, d, a)
    delist_row, delist_return = _delistings(last, T, s, e, delisting_returns, a, listed)
    env = _Env(returns, d, a, mask, panel, delist_row, delist_return, s, e)
    rows = rebalance_rows(rebalance, d, s, e, n_rows=T)
    books, stack = _books(strategies, env)
    P, R, L = len(books), len(rows), e - s + 1

    # Targets: a (P, T, N) stack is used in place; otherwise (P, R, N) at the rebalance rows.
    sequential = any(b.kind == "callable" for b in books)
    if stack is not None:
        targets, target_rows = stack, rows
        for p in range(P):
            _check_targets(books[p].name, stack[p, rows], rows, env)
    elif len(books) > 0 and all(b.kind == "builtin" and b.source is books[0].source and b.index == i
                                for i, b in enumerate(books)) and len(books) == len(books[0].source.book_names):
        # one built-in strategy with all its books in order: its (P, R, N) targets as they are
        targets = np.ascontiguousarray(books[0].source._targets(env, rows), dtype=np.float64)
        target_rows = np.arange(R, dtype=np.int64)
        for p, b in enumerate(books):
            _check_targets(b.name, targets[p], rows, env)
    else:
        targets = np.zeros((P, R, N))
        target_rows = np.arange(R, dtype=np.int64)
        done: dict[int, np.ndarray] = {}
        for p, b in enumerate(books):
            if b.kind == "array":
                targets[p] = b.source[rows]
            elif b.kind == "builtin":
                key = id(b.source)
                if key not in done:
                    done[key] = b.source._targets(env, rows)
                targets[p] = done[key][b.index]
            if b.kind != "callable":
                _check_targets(b.name, targets[p], rows, env)

    positions = np.zeros((P, N))
    cash = np.full(P, initial_value)
    hold = np.zeros((P, R), dtype=bool)
    for b in books:
        if b.kind == "callable" and hasattr(b.source, "_reset"):
            b.source._reset()
    series = np.zeros((P, len(_SERIES), L))
    pieces: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(P)]
    tmask = None if mask is None else np.ascontiguousarray(mask)

    def run(a: int, b: int, fresh: bool, k0: int, k1: int) -> None:
        out = _core.backtest_run(
            returns, tmask, delist_row, delist_return, a, b, fresh,
            np.ascontiguousarray(rows[k0:k1]), np.ascontiguousarray(target_rows[k0:k1]), targets,
            rate, cost_side, positions, cash, series, a - s, hold if sequential else None,
        )
        if k1 > k0:
            for p in range(P):
                pieces[p].append(out[p])

    if not sequential:
        run(s, e + 1, True, 0, R)
    else:
        a_row, fresh = s, True
        for k, t in enumerate(rows.tolist()):
            if t > a_row:
                run(a_row, t, fresh, k, k)
                fresh = False
            sf, c, vf = _preview(env, positions, cash, t, fresh)
            for p, b in enumerate(books):
                if b.kind == "callable":
                    w = np.divide(sf[p], vf[p]) if vf[p] != 0 else np.zeros(N)
                    ctx = Context(env, t, b.name, w, vf[p], risk_model)
                    tw = _callable_targets(b.source, ctx, env)
                    if tw is None:  # no trade for this book on this rebalance
                        hold[p, k] = True
                        continue
                    _check_targets(b.name, tw[None], np.array([t]), env)
                    targets[p, k] = tw
            nxt = rows[k + 1] if k + 1 < R else e + 1
            run(t, int(nxt), fresh, k, k + 1)
            fresh, a_row = False, int(nxt)
        if R == 0:
            run(s, e + 1, True, 0, 0)

    settings = {
        "rebalance": rebalance if isinstance(rebalance, (str, numbers.Integral)) else f"{R} dates",
        "cost_bps": rate * 1e4,
        "cost_side": cost_side,
        "initial_value": initial_value,
    }
    bad = ~np.isfinite(series[:, 0])
    if bad.any():
        p, k = (int(v[0]) for v in np.nonzero(bad))
        where = f"at {d[s + k]}" if d is not None else f"at row {s + k}"
        raise ValueError(
            f"returns: the value of book {books[p].name!r} overflowed {where} (the largest return given is "
            f"{float(np.nanmax(returns)):.4g}): are these simple returns, not prices, percent (1.5 for "
            "1.5 %) or gross returns (1.015)?"
        )
    results = []
    for p, b in enumerate(books):
        snaps = tuple(np.concatenate([x[j] for x in pieces[p]]) if pieces[p] else
                      np.zeros(0, dtype=dt) for j, dt in enumerate((np.uint32, np.float64, np.uint64)))
        log = list(getattr(b.source, "_log", [])) if b.kind == "callable" else None
        results.append(BacktestResult._from_run(b.name, env, rows, series[p], snaps, initial_value, settings,
                                                held=hold[p], solves=log))
    return BacktestBooks(results, None if d is None else d[s: e + 1], settings)


def _preview(env: _Env, positions: np.ndarray, cash: np.ndarray, t: int, fresh: bool):
    """Positions, cash and value of every book before trading at ``t`` (the drift and delistings
    of row ``t`` applied to the state after ``t − 1``), for a callable strategy's context."""
    if fresh:
        return positions.copy(), cash.copy(), cash.copy()
    r = env.returns[t]
    s = positions * np.where(np.isnan(r), 1.0, 1.0 + r)
    gone = env.delist_row == t
    c = cash + (s[:, gone] * (1.0 + env.delist_return[gone])).sum(axis=1)
    s[:, gone] = 0.0
    return s, c, s.sum(axis=1) + c


def backtest(
    panel_or_returns: Any,
    strategy: Any,
    *,
    rebalance: Any = "monthly",
    cost_bps: float = 5.0,
    cost_side: str = "both",
    initial_value: float = 1.0,
    tradable: Any = None,
    start: Any = None,
    end: Any = None,
    delisting_returns: Any = None,
    delistings: Any = None,
    prices: Any = None,
    risk_model: Any = None,
    dates: Any = None,
    assets: Any = None,
) -> BacktestResult:
    """Backtest one book: rebalance to a strategy's targets, with costs, suspensions, delistings.

    The timeline and the accounting identities are in the module docstring
    (:mod:`ferrofactor.backtest`): the book trades at the close of each rebalance date ``t`` to
    targets known at ``t``; what it holds after trading earns ``returns[t+1]``; untradeable assets
    are held; cost = ``cost_bps`` × traded value; the trade is sized so that cash never goes
    negative after costs, unless the positions held are worth more than the book (then the
    tradable positions are closed and the cash can go negative: see the module docstring,
    step 3); delisted assets are sold at their last value times
    ``1 + delisting return``.

    Parameters
    ----------
    panel_or_returns : Panel, or array_like / Polars frame (T, N)
        A Panel gives its ``returns`` field (or ``prices=``), dates and assets. Returns are simple
        decimal returns, ``returns[t]`` from close t−1 to close t, NaN where missing (≥ −1).
    strategy : array (T, N), callable, or built-in
        - an array (or Polars frame) of target weights (fractions of the book's value; NaN = 0;
          long-short allowed; ``Σ w ≤ 1`` on rebalance rows, over all assets and over those
          that can trade at ``t``): row ``t`` is used at ``t`` and must
          have been known at the close of ``t``. When some assets cannot trade, they are held
          and the targets of the others are fractions of the capital that can trade (cash plus
          the tradable positions, see the module notes): scale them by ``1 / (1 − Σ held
          weights)`` to hold fractions of the whole book (``strategies.Optimized`` does);
        - a callable ``strategy(t, context) -> weights`` ((N,) array, or a mapping
          ``{asset: weight}`` or a pandas Series indexed by asset, read as that mapping (by
          label, not by position; assets not named hold 0), or None for no trade on that date),
          called at each rebalance row with a :class:`Context` (dates, current weights, the
          panel up to ``t``, the risk model);
        - a built-in from :mod:`ferrofactor.strategies` with one book (``Quantile(...,
          books=["long_short"])``, ``SignalWeighted``, ``TopN``, ``Optimized``: the optimiser
          solved at each rebalance from the book's current weights).
    rebalance : "daily", "weekly", "monthly", int, or dates, default "monthly"
        See :func:`rebalance_rows`; "monthly" is the first trading date of each month. Between
        rebalances the positions drift with the returns.
    cost_bps : float, default 5.0
        Cost per unit of traded value, in basis points (5 = 0.05 %).
    cost_side : {"both", "buy", "sell"}, default "both"
        Which trades pay it.
    initial_value : float, default 1.0
        Cash before ``start``.
    tradable : bool array / frame (T, N) or Panel field name, optional
        False where an asset cannot trade (suspended, limit-locked, restricted). Assets without a
        return at ``t`` cannot trade either.
    start, end : date label or int position, optional
        First and last rows of the backtest (inclusive); default the whole sample.
    delisting_returns : float, array (N,) or mapping {asset: return}, optional
        Return δ applied to the last value of a delisted asset when it is paid out (NaN = 0). A
        pandas Series indexed by asset is read as the mapping (by label, not by position); one
        with the default index 0..N-1 as an array.
    delistings : mapping {asset: date}, array (N,) of dates, or int array (N,) of rows, optional
        When each asset is delisted, known when it happens (point in time; see "Prices,
        suspensions, delistings" in the module docstring):

        - a mapping ``{asset label: date label}`` (needs asset labels: a Panel or a labelled
          frame, or ``assets=``; assets not named are not delisted; a value may also be a row
          position, or None); a pandas Series indexed by asset is read as this mapping (one with
          the default index 0..N-1 as an array);
        - an array (N,) of date labels, one per asset, of the backtest's date type
          (``datetime64[D]``, ``datetime.date`` or ISO ``"YYYY-MM-DD"`` strings, never a guessed
          format); NaT / None = not delisted. Needs dates;
        - an integer array (N,) of row positions in the returns; −1 = not delisted (for returns
          without dates; rows are accepted with dates too).

        A date is a day: a timestamp at midnight reads as its date, one with another time of day
        is refused (ValueError naming the asset), never cut to its day, whatever the form. A
        date that is not a trading date stands for the first trading date at or after it; a
        date after the last date of the data means not delisted within the data. The delisting
        row is where the position is paid out at its last value times ``1 + delisting return``
        (only within ``(start, end]``, as for an inferred delisting): the asset must have no
        return (no price) from that row on, else ValueError naming it. With
        ``delistings`` nothing is inferred: an asset whose prices stop without a listed
        delisting is held as suspended (untradeable, at its last value) through ``end``.
        Default None: the delisting row is inferred as the first row after the asset's last
        price in all the returns given, which reads data after ``end`` and after the date in
        question (kept for compatibility; pass ``delistings`` for a point-in-time backtest).
    prices : str or array (T, N), optional
        With a Panel: a price field (or array) to compute returns from, bridging suspensions
        (see the module docstring). Use adjusted prices.
    risk_model : object, optional
        Handed to callable strategies as ``context.risk_model``.
    dates, assets : optional labels for a plain returns array.

    Returns
    -------
    BacktestResult

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> r = np.array([[0.0, 0.0], [0.10, -0.10], [0.0, 0.20]])
    >>> res = ff.backtest(r, np.full((3, 2), 0.5), rebalance=[0], cost_bps=0)
    >>> res.value.round(4).tolist()  # 0.5 each: 0.55 + 0.45, then 0.55 + 0.45 * 1.2
    [1.0, 1.0, 1.09]
    """
    if not _single_book(strategy):
        names = strategy.book_names if isinstance(strategy, Strategy) else None
        raise ValueError(
            "backtest runs one book; this strategy has "
            + (f"{len(names)} books {names}" if names else "several books")
            + ": use ff.backtest_many, or choose one book (e.g. Quantile(..., books=['long_short']))"
        )
    books = backtest_many(
        panel_or_returns, strategy, rebalance=rebalance, cost_bps=cost_bps, cost_side=cost_side,
        initial_value=initial_value, tradable=tradable, start=start, end=end,
        delisting_returns=delisting_returns, delistings=delistings, prices=prices, risk_model=risk_model,
        dates=dates, assets=assets,
    )
    return books[0]


def _single_book(strategy: Any) -> bool:
    if isinstance(strategy, Strategy):
        return len(strategy.book_names) == 1
    if isinstance(strategy, np.ndarray) and strategy.ndim == 3:
        return False
    if isinstance(strategy, Mapping) or (isinstance(strategy, (list, tuple)) and not _is_target_array(strategy)):
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


class BacktestResult(Result):
    """One book's backtest (see :mod:`ferrofactor.backtest` for the timeline and identities).

    Attributes (read-only; (T,) over the backtest's dates ``start..end``)
    -----------------------------------------------------------------------
    value : value after trading and costs at the close of each date (money).
    value_before : value before trading (after the drift and delistings).
    returns : net returns ``value[t] / value[t-1] − 1`` (``value[-1]`` = ``initial_value``).
    gross_returns : returns before costs, ``value_before[t] / value[t-1] − 1``.
    costs : trading costs paid at ``t`` (money).
    turnover : one-sided, ``½ ‖s_after − s_before‖₁ / value_before`` (0 on dates without trades).
    cash : cash after trading (money; ``cash / value = 1 − Σ weights_after``).
    n_holdings : int, non-zero positions after trading.
    traded : bool, the book traded (rebalanced) at ``t``.
    delisted : money paid out for delisted assets at ``t``.
    weights_before, weights_after : (T, N) positions over ``value_before`` / ``value`` (rebuilt
        on first access from the positions after each trade, exactly as the kernel ran).
    trade_dates : the rebalance dates (labels, or rows when there are no dates).

    Without dates, the frames (``to_polars``), ``alerts()`` and ``plot()`` label the dates by
    the rows of the input's returns, ``start..end``, as ``trade_dates`` does.
    """

    _arrays: ClassVar[dict[str, tuple[str, ...]]] = {
        "value": ("date",), "value_before": ("date",), "returns": ("date",), "gross_returns": ("date",),
        "costs": ("date",), "turnover": ("date",), "cash": ("date",), "n_holdings": ("date",),
        "traded": ("date",), "delisted": ("date",),
        "weights_before": ("date", "asset"), "weights_after": ("date", "asset"),
    }
    _groups: ClassVar[dict[str, tuple[str, ...]]] = {
        "series": ("value", "returns", "gross_returns", "costs", "turnover", "cash", "n_holdings", "traded"),
    }
    _default_kind = "series"

    @classmethod
    def _from_run(cls, name, env, rows, series, snapshots, initial_value, settings, held=None,
                  solves=None) -> BacktestResult:
        self = cls.__new__(cls)
        s, e = env.start, env.end
        self.name = name
        self._env = env
        self._rows = readonly(rows)
        self._snapshots = snapshots
        self._initial = float(initial_value)
        self._settings = dict(settings)
        ser = {k: series[i] for i, k in enumerate(_SERIES)}
        self._value = readonly(ser["value"])
        self._value_before = readonly(ser["value_before"])
        self._costs = readonly(ser["costs"])
        self._turnover = readonly(ser["turnover"])
        self._cash = readonly(ser["cash"])
        self._n_holdings = readonly(np.rint(ser["n_holdings"]).astype(np.int64))
        self._delisted = readonly(ser["delisted"])
        prev = np.r_[self._initial, ser["value"][:-1]]
        with np.errstate(divide="ignore", invalid="ignore"):
            self._returns = readonly(ser["value"] / prev - 1.0)
            self._gross = readonly(ser["value_before"] / prev - 1.0)
        traded = np.zeros(e - s + 1, dtype=bool)
        traded[rows - s] = True if held is None else ~np.asarray(held, dtype=bool)
        self._solves = solves
        self._traded = readonly(traded)
        self._dates = None if env.dates is None else readonly(env.dates[s: e + 1])
        self._weights: dict[str, np.ndarray] = {}
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("BacktestResult is made by ff.backtest / ff.backtest_many")

    # -- labelled arrays -----------------------------------------------------------------------
    dates = property(lambda self: self._dates, doc="(T,) dates of the backtest, or None.")
    assets = property(lambda self: readonly(self._env.assets), doc="(N,) asset labels, or None.")
    value = property(lambda self: self._value)
    value_before = property(lambda self: self._value_before)
    returns = property(lambda self: self._returns)
    gross_returns = property(lambda self: self._gross)
    costs = property(lambda self: self._costs)
    turnover = property(lambda self: self._turnover)
    cash = property(lambda self: self._cash)
    n_holdings = property(lambda self: self._n_holdings)
    traded = property(lambda self: self._traded)
    delisted = property(lambda self: self._delisted)
    initial_value = property(lambda self: self._initial)
    settings = property(lambda self: dict(self._settings))

    def _axis_labels(self, axis: str) -> Any:
        # without dates the frames are labelled by the rows of the input's returns, as
        # trade_dates, alerts(), plot() and the summary's span are (the backtest may start at
        # ``start`` > 0: position 0 of the result is row ``start`` of the input)
        if axis == "date" and self._dates is None:
            return np.arange(self._env.start, self._env.end + 1)
        return super()._axis_labels(axis)

    @property
    def solves(self) -> pl.DataFrame | None:
        """One row per optimiser solve (:class:`ferrofactor.strategies.Optimized` books):
        date, risk-model date, status, ok, fallback, build and solve seconds; None otherwise."""
        if not self._solves:
            return None
        cols = ("row", "date", "risk_date", "status", "ok", "fallback", "build_time", "solve_time")
        data: dict[str, Any] = {c: [e.get(c) for e in self._solves] for c in cols}
        for c in ("date", "risk_date"):
            vals = data[c]
            if any(v is not None and not isinstance(v, (int, np.integer)) for v in vals):
                data[c] = pl.Series(c, np.array([np.datetime64("NaT") if v is None else np.datetime64(v, "D")
                                                 for v in vals], dtype="datetime64[D]"))
            else:
                data[c] = pl.Series(c, vals, dtype=pl.Int64)
        data["row"] = pl.Series("row", data["row"], dtype=pl.Int64)
        data["fallback"] = pl.Series("fallback", [None if v is None else str(v) for v in data["fallback"]], dtype=pl.String)
        return pl.DataFrame(data)

    @property
    def trade_dates(self) -> np.ndarray:
        """The rebalance dates (labels), or their rows when the returns carry no dates."""
        if self._env.dates is None:
            return self._rows
        return readonly(self._env.dates[self._rows])

    @property
    def trade_rows(self) -> np.ndarray:
        """Rows of the rebalances in the input's returns."""
        return self._rows

    def _weights_of(self, side: str) -> np.ndarray:
        if side not in self._weights:
            env = self._env
            den = self._value if side == "after" else self._value_before
            idx, val, nnz = self._snapshots
            w = _core.backtest_positions(
                env.returns, env.delist_row, env.delist_return, env.start, env.end + 1,
                np.ascontiguousarray(self._rows), idx, val, nnz, np.ascontiguousarray(den), side,
            )
            # the returns are the caller's array (kept, not copied): if it was edited in place since
            # the run, the replayed drift no longer gives the run's positions, and their sum no
            # longer closes the run's accounts (cash / value = 1 − Σ weights_after; before
            # trading, the cash of the previous date plus the delisting payouts over value_before)
            if side == "after":
                cash, value = self._cash, self._value
            else:
                cash = np.concatenate(([self._initial], self._cash[:-1])) + self._delisted
                value = self._value_before
            with np.errstate(invalid="ignore", divide="ignore"):
                gap = np.abs(w.sum(axis=1) - (1.0 - cash / value))
                tol = 1e-9 * np.maximum(1.0, np.abs(w).sum(axis=1))
            if np.any(gap > tol):  # (NaN rows, a book valued at 0, compare False)
                raise ValueError(
                    "the returns given to the backtest were modified in place after it ran, so its "
                    f"weights_{side} can no longer be rebuilt from them; run the backtest again (or "
                    "give it a copy of the returns)"
                )
            self._weights[side] = readonly(w)
        return self._weights[side]

    @property
    def weights_before(self) -> np.ndarray:
        """(T, N) weights before trading at each date (after the drift), ``sᶠₜ / vᶠₜ``."""
        return self._weights_of("before")

    @property
    def weights_after(self) -> np.ndarray:
        """(T, N) weights after trading at each date, ``sₜ / vₜ``; they earn ``returns[t+1]``."""
        return self._weights_of("after")

    def trade_weights(self) -> np.ndarray:
        """(R, N) weights right after each rebalance (from the stored positions; cheap)."""
        idx, val, nnz = self._snapshots
        R = len(self._rows)
        out = np.zeros((R, self._env.N))
        k = np.repeat(np.arange(R), nnz.astype(np.int64))
        v = self._value[self._rows - self._env.start]
        out[k, idx.astype(np.int64)] = val / v[k]
        return readonly(out)

    # -- statistics ----------------------------------------------------------------------------
    def _first_invested(self) -> int:
        """Position (in the result) of the first rebalance after which the book holds anything."""
        hold = self._traded & (self._n_holdings > 0)
        return int(np.argmax(hold)) if hold.any() else len(self._returns)

    def _invested_rebalances(self) -> np.ndarray:
        """(dates,) bool: the rebalance dates from the first one that buys anything on."""
        tr = self._traded.copy()
        tr[:self._first_invested()] = False
        return tr

    def _mean_turnover(self) -> float:
        """Mean one-sided turnover per rebalance, from the first invested rebalance on."""
        tr = self._invested_rebalances()
        return float(np.mean(self._turnover[tr])) if tr.any() else np.nan

    def _invested_returns(self) -> np.ndarray:
        """Net returns from the first rebalance that buys anything on (before it: only cash)."""
        return self._returns[self._first_invested():]

    def metrics(self, *, benchmark: Any = None, risk_free: Any = None,
                periods_per_year: float = PERIODS_PER_YEAR) -> MetricsSummary:
        """Performance statistics of the net returns from the first rebalance that buys anything.

        :func:`ferrofactor.metrics.summary` (empyrical's definitions) over the book's net returns
        from its first invested rebalance on, with the dates (monthly win rate), the turnover and
        the costs as a fraction of the value before trading (their means per date).

        Parameters
        ----------
        benchmark : array_like (T,), optional
            Benchmark returns over the backtest's dates (information ratio, tracking error).
        risk_free : float or array_like (T,), optional
            Per-date risk-free rate over the backtest's dates (Sharpe ratio).
        periods_per_year : float, default 252

        A ``benchmark`` or ``risk_free`` given as a pandas Series indexed by date must carry the
        backtest's dates, in their order, else ``ValueError`` (never paired by position); beside
        a backtest without dates it is read in its order, which must be date order.

        Returns
        -------
        MetricsSummary
            One series, named after the book.
        """
        from ferrofactor import metrics as _metrics

        T = len(self._returns)
        first = self._first_invested()

        def tail(name: str, x: Any) -> Any:
            if x is None or isinstance(x, numbers.Real):
                return x
            x, _ = by_date(name, x, self._dates, of="the backtest")  # pandas indexed by date: by date
            a = as_float_array(name, x, 1)
            if a.shape != (T,):
                raise ValueError(f"{name} must have shape ({T},) (the backtest's dates), got {a.shape}")
            return a[first:]

        with np.errstate(divide="ignore", invalid="ignore"):
            cost_rate = np.where(self._value_before > 0, self._costs / self._value_before, np.nan)
        out = _metrics.summary(
            self._returns[first:].reshape(-1, 1),
            dates=None if self._dates is None else self._dates[first:],
            benchmark=tail("benchmark", benchmark), risk_free=tail("risk_free", risk_free),
            turnover=self._turnover[first:], costs=cost_rate[first:], periods_per_year=periods_per_year,
        )
        return MetricsSummary(dict(out._values), [self.name], out.periods_per_year, out.n_periods)

    def summary(self, *, periods_per_year: float = PERIODS_PER_YEAR) -> Summary:
        """The book's statistics, one row each, annualised with ``periods_per_year`` (default
        252, daily dates; 12 for month-end dates, 52 for weekly), shown in the header.

        ``annual return``, ``annual volatility``, ``Sharpe ratio`` and ``max drawdown`` are
        :meth:`metrics` (the net returns from the first rebalance that buys anything on);
        ``final value`` and ``total return`` are over the whole backtest; ``mean turnover per
        rebalance`` is the mean of the one-sided ``turnover`` over the rebalance dates
        (``traded``) from the first one that buys anything on (as the return statistics: the
        rebalances before it, with nothing to hold, are left out); it is the ``mean_turnover``
        column of :meth:`BacktestBooks.summary`. (``metrics().average_turnover`` is another
        number: the mean over every date from the first invested rebalance on, 0 between
        rebalances.) ``total costs`` is the sum of ``costs`` (money, in units of
        ``initial_value``); ``mean holdings`` the mean of ``n_holdings`` over the same rebalance
        dates.
        """
        ms = self.metrics(periods_per_year=periods_per_year)
        m = {k: float(getattr(ms, k)[0]) for k in ("annual_return", "annual_volatility", "sharpe_ratio", "max_drawdown")}
        trades = self._invested_rebalances()
        rows = [
            ("final value", float(self._value[-1]) if self._value.size else np.nan),
            ("total return", float(self._value[-1] / self._initial - 1) if self._value.size else np.nan),
            ("annual return", m["annual_return"]),
            ("annual volatility", m["annual_volatility"]),
            ("Sharpe ratio", m["sharpe_ratio"]),
            ("max drawdown", m["max_drawdown"]),
            ("mean turnover per rebalance", self._mean_turnover()),
            ("total costs", float(self._costs.sum())),
            ("mean holdings", float(np.mean(self._n_holdings[trades])) if trades.any() else np.nan),
        ]
        table = pl.DataFrame({"statistic": [r[0] for r in rows], "value": [r[1] for r in rows]})
        span = (f"{self._dates[0]}..{self._dates[-1]}" if self._dates is not None and len(self._dates)
                else f"rows {self._env.start}..{self._env.end}")
        header = [("Book", self.name), ("Dates", len(self._value)), ("Span", span),
                  ("Rebalances", int(trades.sum())), ("Rebalance", self._settings["rebalance"]),
                  ("Cost", f"{self._settings['cost_bps']:g} bps ({self._settings['cost_side']})"),
                  ("Assets", self._env.N), ("Initial value", f"{self._initial:g}"),
                  ("Periods per year", f"{ms.periods_per_year:g}")]
        return Summary("Backtest", header, [("", table)],
                       ["Statistics of the net returns from the first rebalance that buys anything on; "
                        "Sharpe without a risk-free rate; turnover one-sided."],
                       formats={"value": fixed_or_scientific(table["value"].to_numpy())})

    def attribute(self, model: Any, *, benchmark: Any = None) -> Any:
        """:func:`ferrofactor.attribute` of the book's net returns: the pairing of weights and
        returns that ``attribute`` needs, done for you.

        ``attribute(weights, ...)`` wants the weights that *earn* ``returns[t]``; that is
        :attr:`weights_after` of ``t − 1`` (:attr:`weights_after` of ``t`` earns ``returns[t + 1]``,
        so passing it directly would credit each day's trade with the move before it). As in the
        backtest's accounting, a held asset without a return earns 0 (suspended) or, delisted at
        ``t``, its delisting return; the costs of ``t`` are in units of the value at ``t − 1``. The
        attribution's ``total`` is then the book's net return (:attr:`returns`) on every date.

        Parameters
        ----------
        model : FactorModelResult, or (RiskModel, factor returns)
            As in :func:`ferrofactor.attribute`, on the book's dates (a backtest over the
            model's whole span: ``start``/``end`` unset).
        benchmark : array_like (T, N), optional
            Benchmark weights held over each date (active attribution).

        Returns
        -------
        AttributionResult
        """
        from ferrofactor.attribution import _model_parts, attribute

        env = self._env
        t_model = _model_parts(model)[0].shape[0]
        if t_model != env.end - env.start + 1:
            # (else attribute() said "weights has shape (100, N)": weights the caller never gave)
            span = f"rows {env.start}..{env.end} of its {len(env.returns)} dates"
            raise ValueError(f"the backtest covers {env.end - env.start + 1} dates ({span}) and the model "
                             f"{t_model}: attribute needs a backtest over the model's whole span "
                             "(start and end unset) and a model fitted on the backtest's returns")
        returns = env.returns[env.start:env.end + 1]
        w = np.zeros(self.weights_after.shape)
        w[1:] = self.weights_after[:-1]
        r = np.where((w != 0) & ~np.isfinite(returns), 0.0, returns)
        gone = np.flatnonzero(env.delist_row >= 0)  # delisted within the book's (start, end]
        r[env.delist_row[gone] - env.start, gone] = env.delist_return[gone]
        before = np.r_[self.initial_value, self.value[:-1]]
        return attribute(w, model, returns=r, benchmark=benchmark, costs=self.costs / before)

    def alerts(self, **thresholds: Any) -> pl.DataFrame:
        """Monitoring alerts that apply to a backtest (:mod:`ferrofactor.monitor`), as a frame.

        Runs ``monitor.turnover`` (traded value / value at each rebalance, seed 000's measure =
        2 × ``turnover``; the book's initial purchase out of cash, at the first rebalance that
        buys anything, is not checked: it trades the whole book by construction),
        ``monitor.concentration`` (weights right after each rebalance) and
        ``monitor.factor_decay`` of the book's net returns. Keyword arguments override the
        thresholds (``turnover_threshold``, ``max_position``, ``top5_share``, ``lookback``,
        ``negative_share``, ``recent``, ``n_std``). Every alert names the book: ``subject`` is the
        book's name, or ``<book>/<asset>`` for a ``position`` alert.
        """
        from ferrofactor import monitor

        known = {"turnover_threshold", "max_position", "top5_share", "lookback", "negative_share", "recent", "n_std"}
        unknown = set(thresholds) - known
        if unknown:
            raise TypeError(f"unknown thresholds {sorted(unknown)}; known: {sorted(known)}")
        tr = self._rows - self._env.start
        when = self.trade_dates
        traded = 2.0 * self._turnover[tr]
        traded[tr == self._first_invested()] = np.nan  # the initial purchase (NaN: not checked)
        frames = [
            monitor.turnover(traded, dates=when, subject=self.name,
                             **({"threshold": thresholds["turnover_threshold"]} if "turnover_threshold" in thresholds else {})),
            monitor.concentration(self.trade_weights(), dates=when, assets=self.assets, subject=self.name,
                                  **{k: thresholds[k] for k in ("max_position", "top5_share") if k in thresholds}),
            monitor.factor_decay(self._invested_returns()[:, None],
                                 dates=(np.arange(self._env.start, self._env.end + 1) if self._dates is None
                                        else self._dates)[self._first_invested():],
                                 names=[self.name],
                                 **{k: thresholds[k] for k in ("lookback", "negative_share", "recent", "n_std")
                                    if k in thresholds}),
        ]
        if self._solves:
            sv = self.solves
            dates_ = sv["date"].to_numpy() if self._dates is not None else sv["row"].to_numpy()
            frames.append(monitor.solver([str(x) for x in sv["status"].to_list()], dates=dates_,
                                         ok=("optimal",), subject=self.name))
        return monitor.concat(frames)

    def plot(self, ax: Any = None) -> Any:
        """Cumulative value (over ``initial_value``) through time; returns the matplotlib Figure."""
        fig, ax = _figure_axes(ax, (8, 3.5))
        x = self._dates if self._dates is not None else np.arange(self._env.start, self._env.end + 1)
        ax.plot(x, self._value / self._initial, lw=1.2, label=self.name)
        ax.set_ylabel("value / initial value")
        ax.set_title(f"Backtest: {self.name}")
        ax.grid(alpha=0.3)
        return fig


class BacktestBooks(Result):
    """Several books backtested together: ``books[name]`` is a :class:`BacktestResult`.

    Labelled (T, P) arrays over dates × books: ``value``, ``returns``, ``gross_returns``,
    ``costs``, ``turnover``, ``n_holdings`` (wide frames: one column per book).
    """

    _arrays: ClassVar[dict[str, tuple[str, ...]]] = {
        "value": ("date", "book"), "returns": ("date", "book"), "gross_returns": ("date", "book"),
        "costs": ("date", "book"), "turnover": ("date", "book"), "n_holdings": ("date", "book"),
    }
    _default_kind = "returns"

    def __init__(self, results: list[BacktestResult], dates: Any, settings: dict) -> None:
        self._results = list(results)
        self._names = [r.name for r in results]
        self._dates = readonly(dates)
        self._settings = dict(settings)
        for k in self._arrays:
            arr = np.column_stack([getattr(r, k) for r in results]) if results else np.zeros((0, 0))
            setattr(self, f"_{k}", readonly(arr))

    dates = property(lambda self: self._dates)
    books = property(lambda self: list(self._names), doc="Book names, in order.")
    value = property(lambda self: self._value)
    returns = property(lambda self: self._returns)
    gross_returns = property(lambda self: self._gross_returns)
    costs = property(lambda self: self._costs)
    turnover = property(lambda self: self._turnover)
    n_holdings = property(lambda self: self._n_holdings)

    def _axis_labels(self, axis: str) -> Any:
        if axis == "book":
            return np.array(self._names)
        if axis == "date" and self._dates is None and self._results:
            return self._results[0]._axis_labels("date")  # the input's rows, as each book's
        return super()._axis_labels(axis)

    def __len__(self) -> int:
        return len(self._results)

    def __iter__(self):
        return iter(self._results)

    def __getitem__(self, key: Any) -> BacktestResult:
        if isinstance(key, str):
            if key not in self._names:
                raise KeyError(f"no book {key!r}; books: {self._names}")
            return self._results[self._names.index(key)]
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            return self._results[int(key)]
        raise TypeError(f"books are indexed by name or position, got {key!r}")

    def metrics(self, *, benchmark: Any = None, risk_free: Any = None,
                periods_per_year: float = PERIODS_PER_YEAR) -> MetricsSummary:
        """:meth:`BacktestResult.metrics` of every book: one series per book (each from its own
        first invested rebalance on)."""
        parts = [r.metrics(benchmark=benchmark, risk_free=risk_free, periods_per_year=periods_per_year)
                 for r in self._results]
        keys = [k for k in parts[0]._values if parts[0]._values[k] is not None] if parts else []
        values = {k: np.concatenate([p._values[k] for p in parts]) for k in keys}
        return MetricsSummary(values, list(self._names), periods_per_year, self._value.shape[0])

    def alerts(self, **thresholds: Any) -> pl.DataFrame:
        """The alerts of every book (:meth:`BacktestResult.alerts`), one frame; each alert's
        ``subject`` names its book (``<book>/<asset>`` for a position), so ``(date, kind,
        subject)`` is unique."""
        from ferrofactor import monitor

        return monitor.concat([r.alerts(**thresholds) for r in self._results])

    def summary(self, *, periods_per_year: float = PERIODS_PER_YEAR) -> Summary:
        """One row per book: the columns of :meth:`metrics` (``MetricsSummary.to_polars()``),
        then ``mean_turnover`` and ``total_costs``; annualised with ``periods_per_year`` (default
        252, daily dates; 12 for month-end dates), shown in the header.

        Two turnover columns, measured differently (both one-sided, ``turnover``):

        - ``average_turnover`` (from :func:`ferrofactor.metrics.summary`): the mean turnover *per
          date*, over every date from the book's first invested rebalance on (0 on the dates
          between rebalances). ``average_cost`` is the same mean of ``costs / value_before``.
        - ``mean_turnover``: the mean turnover *per rebalance*, over the rebalance dates
          (``traded``) from the book's first invested rebalance on (those before it, with
          nothing to hold, are left out). The row "mean turnover per rebalance" of
          :meth:`BacktestResult.summary`.

        ``total_costs`` is the sum of ``costs`` over all dates (money, in units of
        ``initial_value``). The return statistics are over the net returns from each book's
        first invested rebalance on.
        """
        ms = self.metrics(periods_per_year=periods_per_year)
        m = ms.to_polars().rename({"series": "book"})
        extra = pl.DataFrame({
            "mean_turnover": [r._mean_turnover() for r in self],
            "total_costs": [float(r.costs.sum()) for r in self],
        })
        table = pl.concat([m, extra], how="horizontal") if len(self) else m
        header = [("Books", len(self)), ("Dates", self._value.shape[0]),
                  ("Rebalance", self._settings["rebalance"]),
                  ("Cost", f"{self._settings['cost_bps']:g} bps ({self._settings['cost_side']})"),
                  ("Periods per year", f"{ms.periods_per_year:g}")]
        return Summary("Backtest: books", header, [("", table)],
                       ["Statistics of the net returns from each book's first rebalance on.",
                        "average_turnover, average_cost: means per date from that rebalance on; "
                        "mean_turnover: mean per rebalance date from that rebalance on; total_costs: sum, in units "
                        "of the initial value."])

    def plot(self, ax: Any = None) -> Any:
        """Cumulative value of every book; returns the matplotlib Figure."""
        fig, ax = _figure_axes(ax, (8, 4))
        for r in self._results:
            r.plot(ax=ax)
        ax.set_title("Backtest: books")
        ax.legend(fontsize=7, ncol=2)
        return fig


def _figure_axes(ax: Any, size: tuple[float, float]):
    """``(figure, axes)``: a new Figure built without pyplot (no global figure state), or the
    figure of the matplotlib Axes ``ax``."""
    if ax is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=size)
        return fig, fig.subplots()
    if not (hasattr(ax, "plot") and hasattr(ax, "figure")):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax.figure, ax
