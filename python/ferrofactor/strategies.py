"""Built-in strategies for :func:`ferrofactor.backtest`: target weights from a signal.

Time: a strategy gives the targets of rebalance row ``t`` from what is known at the close of
``t`` only: the signal's row ``t`` (computed from data up to ``t``; lag it yourself if it is only
known the next morning), the assets tradable at ``t`` (a return at ``t`` and, if given, the
``tradable`` mask of the backtest), and the optional universe, industry and cap rows of ``t``.
The book trades to these targets at the close of ``t``; they earn ``returns[t+1]`` onwards.

Kept apart from :mod:`ferrofactor.backtest` (the accounting) because it is another concern: how
to choose weights, not how to account for them. Every built-in computes its targets for all
rebalance rows at once (vectorised over dates, no loop over dates), and gives weight only to
assets tradable at ``t``, so long-only books sum to 1 and long-short books are dollar-neutral
over what can actually be traded (seed 003: ``weight_t <- factor, industry_t, suspend_t``).

Built-ins
---------
- :class:`Quantile`: equal-count quantile books of the signal (``Q1`` lowest … ``Qq`` highest)
  and the top-minus-bottom ``long_short`` book (+ its reverse ``short_long``).
- :class:`SignalWeighted`: weights proportional to the (demeaned) signal, gross 1.
- :class:`TopN`: the top ``n`` (or top ``fraction``) assets, optionally against the bottom ones
  (seed 002: top and bottom 10 % at 0.5/n each side).
- :class:`Optimized`: targets from :class:`ferrofactor.Optimizer`, solved at each rebalance
  from the book's current weights (runs date by date, like a callable strategy).

Industry weighting (seed 003), for :class:`Quantile` and :class:`SignalWeighted`: with
``industry`` codes, assets are selected *within* each industry and industry ``g`` gets the set
weight ``W_g`` (``industry_weights``: ``"equal"``, ``"cap"`` = its share of the eligible cap, or
benchmark weights you give), renormalised over the industries that can form a book that date. A
quantile or signal-weighted book is then benchmark-industry-weighted, and the long-short book is
industry-neutral (``+½ W_g`` and ``−½ W_g`` in every industry).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ferrofactor._validate import (
    LabelsSeen,
    _refuse_containers,
    as_array,
    as_field,
    as_industry,
    by_label,
    check_choice,
    check_int,
    check_real,
    check_same_labels,
    check_shape,
    is_field_frame,
    is_labelled_frame,
)
from ferrofactor.construct import share_count

__all__ = ["Optimized", "Quantile", "SignalWeighted", "Strategy", "TopN"]


class Strategy:
    """Base of the built-in strategies.

    A strategy has ``book_names`` (one per book it runs) and computes the targets of all its books
    at the rebalance rows in one call, ``_targets(env, rows) -> (P, R, N)``.
    """

    book_names: list[str] = []

    def _targets(self, env: Any, rows: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(books={self.book_names})"


def _book_name(name: Any, default: str) -> str:
    """A strategy's ``name`` argument: a non-empty string, or None for the default."""
    if name is None:
        return default
    if not isinstance(name, str):
        raise TypeError(f"name must be a string (the book's name), got {type(name).__name__}")
    if not name:
        raise ValueError("name must not be empty (the book's name)")
    return name


def _as_bool_field(name: str, x: Any) -> tuple[np.ndarray, Any, Any]:
    """A (T, N) boolean mask (numpy bool, 0/1 numbers, or a frame of them: Polars, or pandas
    with its labels, :func:`ferrofactor._validate.as_field`); NaN refused."""
    if is_field_frame(x):
        v, d, a = as_field(name, x)
    else:
        _refuse_containers(name, x)
        arr = as_array(name, x)
        if arr.dtype == bool:
            if arr.ndim != 2:
                raise ValueError(f"{name} must be 2-dimensional, got shape {arr.shape}")
            return np.ascontiguousarray(arr), None, None
        v, d, a = as_field(name, arr)
    if np.isnan(v).any():
        raise ValueError(f"{name} has missing values; fill them (True = tradable/eligible)")
    if not np.all((v == 0) | (v == 1)):
        raise ValueError(f"{name} must be boolean (or 0/1)")
    return v.astype(bool), d, a


class _SignalStrategy(Strategy):
    """Common part of the signal strategies: signal, eligibility, industry groups and weights."""

    def __init__(self, signal: Any, *, universe: Any = None, industry: Any = None,
                 industry_weights: Any = "equal", cap: Any = None, weighting: str = "equal") -> None:
        sig, d, a = as_field("signal", signal)
        if np.isinf(sig).any():
            raise ValueError("signal must not contain infinite values (NaN = no signal)")
        self._signal = sig
        shape = sig.shape
        # the labels of every (T, N) input, matched with each other and (in _check_env) with the
        # returns: a frame is paired by label, never by position
        seen = LabelsSeen()
        seen.add("signal", d, a)
        self._universe = None
        if universe is not None:
            u, ud, ua = _as_bool_field("universe", universe)
            check_shape("universe", u, shape, "the shape of signal")
            seen.add("universe", ud, ua)
            self._universe = u
        self._industry = None
        self._industry_names: list[str] = []
        if industry is not None:
            codes, names = as_industry("industry", industry, shape)
            if is_labelled_frame(industry):  # its labels (the codes are read by position)
                _, idates, iassets = as_field("industry", industry)
                seen.add("industry", idates, iassets)
            self._industry, self._industry_names = codes, names
        check_choice("weighting", weighting, ["equal", "cap"])
        self._weighting = weighting
        self._cap = None
        if cap is not None:
            c, cd, ca = as_field("cap", cap)
            check_shape("cap", c, shape, "the shape of signal")
            seen.add("cap", cd, ca)
            if np.any(c[np.isfinite(c)] < 0) or np.isinf(c).any():
                raise ValueError("cap must be non-negative and finite where present")
            self._cap = c
        self._seen = seen
        self._industry_weights = self._check_industry_weights(industry_weights)
        needs_cap = weighting == "cap" or (isinstance(self._industry_weights, str) and self._industry_weights == "cap")
        if needs_cap and self._cap is None:
            raise ValueError("cap is required for weighting='cap' or industry_weights='cap'")

    def _check_industry_weights(self, w: Any) -> Any:
        if isinstance(w, str):
            check_choice("industry_weights", w, ["equal", "cap"])
            if w == "cap" and self._industry is None:
                # it weights industries; without any it would only drop the assets lacking a cap
                raise ValueError(
                    "industry_weights='cap' weights industries and needs industry codes (industry=...); "
                    "for cap weights within the books use weighting='cap'"
                )
            return w
        if self._industry is None:
            raise ValueError("industry_weights given as weights needs industry codes (industry=...)")
        G = len(self._industry_names)
        w = by_label("industry_weights", w, "industry")  # a pandas Series indexed by industry
        if isinstance(w, Mapping):
            unknown = [k for k in w if str(k) not in self._industry_names]
            if unknown:
                raise ValueError(
                    f"industry_weights names industries that are not in industry: {unknown[:5]} "
                    f"(industries: {self._industry_names[:10]})"
                )
            vec = np.zeros(G)
            for k, v in w.items():
                vec[self._industry_names.index(str(k))] = check_real(f"industry_weights[{k!r}]", v, lo=0.0)
            arr = vec
        else:
            arr = as_array("industry_weights", w)
            if arr.dtype.kind not in "iuf":
                raise TypeError(f"industry_weights must be numbers, got dtype {arr.dtype}")
            arr = arr.astype(np.float64)
            T = self._signal.shape[0]
            if arr.shape not in ((G,), (T, G)):
                raise ValueError(
                    f"industry_weights has shape {arr.shape}, expected ({G},) or ({T}, {G}) "
                    f"(industries in the order {self._industry_names[:10]})"
                )
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise ValueError("industry_weights must be finite and non-negative")
        return arr

    # -- per rebalance row --------------------------------------------------------------------
    def _check_env(self, env: Any) -> None:
        if self._signal.shape != (env.T, env.N):
            raise ValueError(
                f"signal has shape {self._signal.shape}, but the backtest's returns have {(env.T, env.N)}"
            )
        for axis, (name, labels) in (("dates", self._seen.dates or ("signal", None)),
                                     ("assets", self._seen.assets or ("signal", None))):
            mine = (labels, None) if axis == "dates" else (None, labels)
            theirs = (env.dates, None) if axis == "dates" else (None, env.assets)
            check_same_labels(name, *mine, "returns", *theirs)

    def _eligible(self, env: Any, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(signal rows, eligible mask, group codes, number of groups) on the rebalance rows."""
        self._check_env(env)
        sig = self._signal[rows]
        elig = np.isfinite(sig) & env.tradable_rows(rows)
        if self._universe is not None:
            elig &= self._universe[rows]
        if self._industry is not None:
            g = self._industry[rows].astype(np.int64)
            elig &= g >= 0
            G = max(len(self._industry_names), 1)
        else:
            g = np.zeros(sig.shape, dtype=np.int64)
            G = 1
        if self._cap is not None and (self._weighting == "cap" or isinstance(self._industry_weights, str)
                                      and self._industry_weights == "cap"):
            c = self._cap[rows]
            elig &= np.isfinite(c) & (c > 0)
        g = np.where(elig, g, G)  # ineligible assets go to an extra group G, never used
        return sig, elig, g, G

    def _group_weights(self, rows: np.ndarray, used: np.ndarray, g: np.ndarray, elig: np.ndarray) -> np.ndarray:
        """(R, G) industry weights W, zero on unused groups, summing to 1 over the used ones (or
        all zero when no group is used or the given weights of the used groups are all zero)."""
        R, G = used.shape
        w = self._industry_weights
        if self._industry is None or (isinstance(w, str) and w == "equal"):
            W = used.astype(float)
        elif isinstance(w, str) and w == "cap":
            c = np.where(elig, self._cap[rows], 0.0)
            W = _group_sum(c, g, G + 1)[:, :G]
        elif w.ndim == 1:
            W = np.broadcast_to(w, (R, G)).copy()
        else:
            W = w[rows].copy()
        W = np.where(used, W, 0.0)
        tot = W.sum(axis=1, keepdims=True)
        return np.divide(W, tot, out=np.zeros_like(W), where=tot > 0)


def _group_sum(x: np.ndarray, g: np.ndarray, n_groups: int) -> np.ndarray:
    """Per row sums of ``x`` (R, N) by group ``g`` (R, N) in 0..n_groups-1: (R, n_groups)."""
    R = x.shape[0]
    flat = (np.arange(R)[:, None] * n_groups + g).ravel()
    return np.bincount(flat, weights=x.ravel(), minlength=R * n_groups).reshape(R, n_groups)


def _ranks_within_groups(sig: np.ndarray, elig: np.ndarray, g: np.ndarray, n_groups: int):
    """Rank (0-based, ties by asset position) of each eligible asset within its group per row,
    and the group sizes (R, n_groups)."""
    R, N = sig.shape
    key = np.where(elig, sig, np.inf)
    order = np.argsort(key, axis=1, kind="stable")
    if n_groups > 2:  # group codes first, then signal (two stable sorts = a lexicographic sort)
        by_group = np.argsort(np.take_along_axis(g, order, axis=1), axis=1, kind="stable")
        order = np.take_along_axis(order, by_group, axis=1)
    flat = (np.arange(R)[:, None] * n_groups + g).ravel()
    counts = np.bincount(flat, minlength=R * n_groups).reshape(R, n_groups)
    starts = np.cumsum(counts, axis=1) - counts
    rows = np.arange(R)[:, None]
    g_sorted = np.take_along_axis(g, order, axis=1)
    rank_sorted = np.arange(N)[None, :] - starts[rows, g_sorted]
    rank = np.empty((R, N), dtype=np.int64)
    rank[rows, order] = rank_sorted
    return rank, counts.astype(np.int64)


def quantile_buckets(rank: np.ndarray, size: np.ndarray, quantiles: int) -> np.ndarray:
    """Bucket ``0..quantiles-1`` of the asset of 0-based ``rank`` among ``size`` (>= quantiles):
    the rule of ``pandas.qcut(values, quantiles, labels=False)`` for distinct values, in integer
    arithmetic: ``max(floor((rank · q − 1) / (size − 1)), 0)``. Bucket sizes differ by at most
    one; a rank exactly on an edge goes to the lower bucket, as in pandas."""
    q = (rank * quantiles - 1) // np.maximum(size - 1, 1)
    return np.maximum(q, 0)


class Quantile(_SignalStrategy):
    """Equal-count quantile books of a signal, plus the top-minus-bottom book.

    On each rebalance row ``t``, the eligible assets (finite signal, tradable at ``t``, in the
    universe, with an industry when ``industry`` is given, with a positive cap when cap weights are
    used) are ranked by signal (ties: by asset position) and cut into ``quantiles`` equal-count
    buckets with the rule of ``pandas.qcut`` (``Q1`` = lowest signal). With fewer than
    ``quantiles`` eligible assets (per industry, with ``industry``) there is no book that date
    (that industry is left out). Each bucket is a long-only book summing to 1 (equal or cap
    weights within it; across industries ``W_g``, see the module docstring).
    ``long_short`` = ``½·Qq − ½·Q1`` (gross 1, net 0: top and bottom at 0.5/n each side with
    equal weights); ``short_long`` is its reverse.

    Parameters
    ----------
    signal : array_like or Polars frame (T, N)
        Higher = more attractive. Row ``t`` must be known at the close of ``t``.
    quantiles : int, default 10
        Number of buckets (>= 2).
    long_short : bool, default True
        Add the ``long_short`` book.
    reverse : bool, default False
        Add the ``short_long`` book (the reverse of ``long_short``).
    books : sequence of str, optional
        Keep only these books (e.g. ``["long_short"]`` for :func:`ferrofactor.backtest`).
    universe : bool array (T, N), optional
        Eligible assets (e.g. a liquidity filter known at ``t``).
    industry : int array (T, N), optional
        Industry codes (any integers, −1 = none): select within each industry.
    industry_weights : "equal", "cap", mapping {industry label: weight}, or array (G,) / (T, G)
        Industry weights ``W_g``, default "equal" (any other only with ``industry``). Arrays
        follow the sorted distinct codes; a pandas Series indexed by industry label is read as
        the mapping (by label, not position).
    cap : array_like (T, N), optional
        Market capitalisation, for ``weighting="cap"`` or ``industry_weights="cap"``.
    weighting : {"equal", "cap"}, default "equal"
        Weights within a bucket (and industry).

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> rng = np.random.default_rng(0)
    >>> r = rng.normal(0, 0.01, (60, 40))
    >>> books = ff.backtest_many(r, ff.strategies.Quantile(rng.normal(size=(60, 40)), 4), rebalance=20)
    >>> books.books
    ['Q1', 'Q2', 'Q3', 'Q4', 'long_short']
    """

    def __init__(self, signal: Any, quantiles: int = 10, *, long_short: bool = True, reverse: bool = False,
                 books: Sequence[str] | None = None, universe: Any = None, industry: Any = None,
                 industry_weights: Any = "equal", cap: Any = None, weighting: str = "equal") -> None:
        from ferrofactor._validate import check_bool

        self.quantiles = check_int("quantiles", quantiles, 2, 1000)
        long_short = check_bool("long_short", long_short)
        reverse = check_bool("reverse", reverse)
        super().__init__(signal, universe=universe, industry=industry, industry_weights=industry_weights,
                         cap=cap, weighting=weighting)
        names = [f"Q{q + 1}" for q in range(self.quantiles)]
        if long_short:
            names.append("long_short")
        if reverse:
            names.append("short_long")
        self._all = names
        if books is not None:
            if isinstance(books, str):
                books = [books]
            unknown = [b for b in books if b not in names]
            if unknown:
                raise ValueError(f"books names unknown books {unknown}; this strategy has {names}")
            if len(books) == 0:
                raise ValueError(f"books is empty: name at least one of {names} (or leave it unset for all)")
            if len(set(books)) != len(books):
                raise ValueError("books must not repeat a name")
            names = list(books)
        self.book_names = names

    def _targets(self, env: Any, rows: np.ndarray) -> np.ndarray:
        Q = self.quantiles
        sig, elig, g, G = self._eligible(env, rows)
        R, N = sig.shape
        rank, counts = _ranks_within_groups(sig, elig, g, G + 1)
        size = np.take_along_axis(counts, g, axis=1)
        used = counts[:, :G] >= Q
        member = elig & np.take_along_axis(np.pad(used, ((0, 0), (0, 1))), g, axis=1)
        bucket = np.where(member, quantile_buckets(rank, size, Q), -1)
        W = self._group_weights(rows, used, g, elig)
        # cell key (group, bucket) per row; members only
        cell = np.where(member, g * Q + np.maximum(bucket, 0), G * Q)
        n_cells = G * Q + 1
        if self._weighting == "cap":
            x = np.where(member, self._cap[rows], 0.0)
        else:
            x = member.astype(float)
        tot = _group_sum(x, cell, n_cells)
        within = np.divide(x, np.take_along_axis(tot, cell, axis=1), out=np.zeros_like(x), where=member)
        w = within * np.take_along_axis(np.pad(W, ((0, 0), (0, 1))), g, axis=1)
        # one scatter of the members into their quantile books, then the spread books
        names = self.book_names
        direct = names[:Q] == self._all[:Q]  # the Q quantile books first, in order: no copy
        out = np.zeros((len(names), R, N))
        books = out[:Q] if direct else np.zeros((Q, R, N))
        rr, cc = np.nonzero(member)
        books[bucket[rr, cc], rr, cc] = w[rr, cc]
        for p, name in enumerate(names):
            if direct and p < Q:
                continue
            if name == "long_short":
                np.subtract(0.5 * books[Q - 1], 0.5 * books[0], out=out[p])
            elif name == "short_long":
                np.subtract(0.5 * books[0], 0.5 * books[Q - 1], out=out[p])
            else:
                out[p] = books[int(name[1:]) - 1]
        return out


class SignalWeighted(_SignalStrategy):
    """Weights proportional to the signal (alphalens' factor weights), gross exposure 1.

    On each rebalance row: over the eligible assets (as in :class:`Quantile`),
    ``x = signal − mean(signal)`` (``demean=True``; else ``x = signal``) and ``w = x / Σ|x|``. With
    ``industry``: demeaned and normalised within each industry, then scaled by the industry
    weight ``W_g`` (the long-short book is then industry-neutral). Industries whose ``x`` is all
    zero (e.g. one asset, demeaned) are left out that date.

    Parameters
    ----------
    signal : array_like or Polars frame (T, N)
    demean : bool, default True
        Long-short (dollar-neutral per industry) when True.
    universe, industry, industry_weights, cap :
        As in :class:`Quantile`.
    name : str, default "signal_weighted"
        The book's name.
    """

    def __init__(self, signal: Any, *, demean: bool = True, universe: Any = None, industry: Any = None,
                 industry_weights: Any = "equal", cap: Any = None, name: str = "signal_weighted") -> None:
        from ferrofactor._validate import check_bool

        self.demean = check_bool("demean", demean)
        super().__init__(signal, universe=universe, industry=industry, industry_weights=industry_weights,
                         cap=cap, weighting="equal")
        self.book_names = [_book_name(name, "signal_weighted")]

    def _targets(self, env: Any, rows: np.ndarray) -> np.ndarray:
        sig, elig, g, G = self._eligible(env, rows)
        x = np.where(elig, sig, 0.0)
        if self.demean:
            cnt = _group_sum(elig.astype(float), g, G + 1)
            mean = np.divide(_group_sum(x, g, G + 1), cnt, out=np.zeros_like(cnt), where=cnt > 0)
            # an industry whose signal is one value has x = 0 (left out below): its mean is that
            # value, exactly; the sum over the count can be 1 ulp off (3 × 0.1 / 3 is not 0.1),
            # which the division by the gross would blow up to full weights
            one = np.zeros_like(mean)
            np.put_along_axis(one, g, x, axis=1)  # a member's value per group (any member)
            flat = _group_sum(np.abs(x - np.take_along_axis(one, g, axis=1)), g, G + 1) == 0
            mean = np.where(flat & (cnt > 0), one, mean)
            x = np.where(elig, x - np.take_along_axis(mean, g, axis=1), 0.0)
        gross = _group_sum(np.abs(x), g, G + 1)
        used = gross[:, :G] > 0
        W = self._group_weights(rows, used, g, elig)
        scale = np.divide(np.pad(W, ((0, 0), (0, 1))), gross, out=np.zeros_like(gross), where=gross > 0)
        return (x * np.take_along_axis(scale, g, axis=1))[None]


class TopN(_SignalStrategy):
    """The ``n`` highest-signal assets (optionally against the ``n`` lowest), equal or cap weights.

    On each rebalance row, with ``M`` eligible assets (as in :class:`Quantile`), ``n`` is the
    given ``n`` or ``floor(M · fraction)`` (as :func:`ferrofactor.construct.share_count`: 0.29 · 100
    gives 29), capped at ``M`` (``floor(M / 2)`` for ``long_short``).
    Ranking as :func:`ferrofactor.momentum_selection` (a stable sort of the signal: among equal
    values the later asset ranks higher). Long-only: the top ``n`` at ``1/n`` each (sum 1).
    ``long_short``: top at ``+0.5/n`` and bottom at ``−0.5/n`` (seed 002); cap weights scale each
    side to 1 (or 0.5). No position on a date with ``n == 0``.

    Parameters
    ----------
    signal : array_like or Polars frame (T, N)
    n : int, optional
        Number of assets per side (exactly one of ``n`` and ``fraction``).
    fraction : float, optional
        Share of the eligible assets per side, in (0, 1] (at most 0.5 for ``long_short``).
    long_short : bool, default False
    universe, cap, weighting :
        As in :class:`Quantile`.
    name : str, optional
        The book's name (default ``"top_n"``, or ``"top_bottom"`` for ``long_short``).
    """

    def __init__(self, signal: Any, n: int | None = None, *, fraction: float | None = None,
                 long_short: bool = False, universe: Any = None, cap: Any = None, weighting: str = "equal",
                 name: str | None = None) -> None:
        from ferrofactor._validate import check_bool

        self.long_short = check_bool("long_short", long_short)
        if (n is None) == (fraction is None):
            raise ValueError("give exactly one of n and fraction")
        self.n = None if n is None else check_int("n", n, 1)
        self.fraction = None if fraction is None else check_real(
            "fraction", fraction, lo=0.0, lo_open=True, hi=0.5 if self.long_short else 1.0)
        super().__init__(signal, universe=universe, cap=cap, weighting=weighting)
        self.book_names = [_book_name(name, "top_bottom" if self.long_short else "top_n")]

    def _targets(self, env: Any, rows: np.ndarray) -> np.ndarray:
        sig, elig, _, _ = self._eligible(env, rows)
        R, N = sig.shape
        key = np.where(elig, sig, np.inf)
        order = np.argsort(key, axis=1, kind="stable")
        M = elig.sum(axis=1)
        if self.n is not None:
            k = np.full(R, self.n, dtype=np.int64)
        else:
            k = share_count(M, self.fraction)
        k = np.minimum(k, M // 2 if self.long_short else M)
        pos = np.arange(N)[None, :]
        r_ = np.arange(R)[:, None]
        long = np.zeros((R, N), dtype=bool)
        long[r_, order] = (pos >= (M - k)[:, None]) & (pos < M[:, None])
        short = np.zeros((R, N), dtype=bool)
        if self.long_short:
            short[r_, order] = pos < k[:, None]
        side = 0.5 if self.long_short else 1.0
        x = self._cap[rows] if self._weighting == "cap" else np.ones((R, N))

        def leg(mask: np.ndarray) -> np.ndarray:
            v = np.where(mask, x, 0.0)
            tot = v.sum(axis=1, keepdims=True)
            return side * np.divide(v, tot, out=np.zeros_like(v), where=tot > 0)

        w = leg(long) - leg(short) if self.long_short else leg(long)
        return w[None]


class Optimized(Strategy):
    """Targets from the portfolio optimiser (:class:`ferrofactor.Optimizer`), rebalance by
    rebalance.

    At each rebalance row ``t`` it solves ``optimizer.solve(alpha[t], risk_model, date, w0,
    tradable=...)`` with what is known at the close of ``t``: the alpha row ``t``, the risk model
    at its latest stored date on or before the date of ``t`` (when neither has dates, rows pair
    with the model's fitted dates by position: its latest stored date at or before row ``t``,
    i.e. position ``t`` when every date is stored; none past its fitted dates), ``w0`` = the
    book's weights now (after the drift, before trading: turnover and
    transaction costs start from there), and the assets that can trade at ``t`` (the others are
    held at ``w0``). It runs inside the backtest like a callable strategy (one solve per
    rebalance, in order). A solve that fails (``not result.ok``) without a fallback leaves the
    book as it is on that date (no trade; with a fallback the fallback weights are traded); so
    does a date before the risk model's first date. Every solve's status and times are kept in
    the result's ``solves`` frame and failures raise ``solver`` alerts.

    Parameters
    ----------
    alpha : array_like or Polars frame (T, N)
        Expected returns (or scores) per period, row ``t`` known at the close of ``t``; NaN = no
        forecast (held at 0).
    risk_model : RiskModel, optional
        A fitted risk model on the backtest's assets; default: the backtest's ``risk_model``.
    optimizer : ferrofactor.Optimizer, optional
        The settings (constraints, costs, solver, fallback); or give them as keyword arguments
        (``risk_aversion=..., max_weight=..., turnover=...``).
    name : str, default "optimized"
        The book's name.
    """

    _sequential = True

    def __init__(self, alpha: Any, risk_model: Any = None, optimizer: Any = None, *, name: str = "optimized",
                 **settings: Any) -> None:
        from ferrofactor.optimize import Optimizer

        if optimizer is None:
            optimizer = Optimizer(**settings)
        elif settings:
            raise ValueError("give an optimizer or its settings as keyword arguments, not both")
        elif not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a ferrofactor.Optimizer, got {type(optimizer).__name__}")
        _check_risk_model("risk_model", risk_model)
        a, d, n = as_field("alpha", alpha)
        if np.isinf(a).any():
            raise ValueError("alpha must not contain infinite values (NaN = no forecast)")
        self._alpha, self._dates, self._assets = a, d, n
        self.optimizer = optimizer
        self.risk_model = risk_model
        self.book_names = [_book_name(name, "optimized")]
        self._log: list[dict[str, Any]] = []

    def _reset(self) -> None:
        self._log = []

    def _risk_position(self, risk: Any, ctx: Any) -> int | None:
        rd = getattr(risk, "dates", None)
        if rd is not None and ctx.date is None:
            raise ValueError(
                "the risk model is dated but the backtest's returns carry no dates, so which "
                "risk-model row goes with which rebalance is unknown: pass the Panel (or a returns "
                "frame with a 'date' column) to ff.backtest"
            )
        if rd is None:
            # rows pair with the model's fitted dates by position; with keep_dates its stored
            # dates are a subset of them: the latest stored at or before row t (t itself when
            # every date is stored), never a stored index read as a row (a later model)
            fitted = risk._factor_returns.shape[0] if risk._factor_returns is not None else len(risk._keep)
            if ctx.row >= fitted:
                return None
            pos = int(np.searchsorted(np.asarray(risk.stored_positions), ctx.row, "right")) - 1
            return pos if pos >= 0 else None
        pos = int(np.searchsorted(np.asarray(rd, dtype="datetime64[D]"), np.datetime64(ctx.date, "D"), "right")) - 1
        return pos if pos >= 0 else None

    def __call__(self, t: int, ctx: Any) -> np.ndarray | None:
        risk = self.risk_model if self.risk_model is not None else ctx.risk_model
        if risk is None:
            raise ValueError(
                "strategies.Optimized needs a risk model: pass risk_model= to it or to the backtest"
            )
        _check_risk_model("risk_model", risk)
        if self._alpha.shape[1] != len(ctx.weights) or self._alpha.shape[0] <= t:
            raise ValueError(
                f"alpha has shape {self._alpha.shape}, but the backtest has {len(ctx.weights)} assets "
                f"and row {t}"
            )
        check_same_labels("alpha", None, self._assets, "returns", None, ctx.assets)
        check_same_labels("risk_model", None, getattr(risk, "assets", None), "returns", None, ctx.assets)
        if self._dates is not None and ctx.date is not None and self._dates[t] != ctx.date:
            raise ValueError(f"alpha's row {t} is dated {self._dates[t]}, the backtest's {ctx.date}")
        pos = self._risk_position(risk, ctx)
        entry: dict[str, Any] = {"row": t, "date": ctx.date, "risk_date": None, "status": "no_risk_model_date",
                                 "ok": False, "build_time": 0.0, "solve_time": 0.0, "fallback": None}
        if pos is None:
            self._log.append(entry)
            return None  # no risk model known yet: no trade
        res = self.optimizer.solve(self._alpha[t], risk, pos, w0=np.asarray(ctx.weights),
                                   tradable=np.asarray(ctx.tradable))
        entry.update(risk_date=res.date, status=res.status, ok=bool(res.ok), build_time=float(res.build_time),
                     solve_time=float(res.solve_time), fallback=res.fallback)
        self._log.append(entry)
        w = np.asarray(res.weights, dtype=float)
        if not (res.ok or res.fallback is not None) or not np.all(np.isfinite(w)):
            return None  # a failed solve without a fallback: hold the book
        # The solution is in fractions of the book's value, the assets that cannot trade held at
        # their weights h; the backtest sizes targets on the capital that can trade, the value
        # times 1 − Σ h: the tradable targets scaled by 1 / (1 − Σ h) hold the solution's weights
        # (the targets of the held assets are ignored: 0).
        held = ~np.asarray(ctx.tradable, dtype=bool)
        if held.any():
            free = 1.0 - float(np.sum(np.asarray(ctx.weights)[held]))
            if not free > 0.0:
                return None  # nothing can be traded: hold the book
            w = np.where(held, 0.0, w / free)
        return w


def _check_risk_model(name: str, risk: Any) -> None:
    """None or a :class:`ferrofactor.RiskModel` (the optimiser reads its covariances)."""
    from ferrofactor.risk import RiskModel

    if risk is not None and not isinstance(risk, RiskModel):
        raise TypeError(f"{name} must be a fitted ferrofactor.RiskModel, got {type(risk).__name__}")
