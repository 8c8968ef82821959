"""Exposures: the B of the factor model, labelled, and their builders.

An :class:`Exposures` holds, for every date and asset,

- ``styles`` (T, N, K) float64 style exposures (NaN = unknown), named by ``style_names``;
- ``industry`` (T, N) int32 dense industry codes ``0..G-1`` (-1 = none), named by
  ``industry_names`` (any integer codes given by the user, e.g. 8-digit GICS, are mapped to dense
  codes once, here, and their values kept as the names);
- whether the model has a market (intercept) factor;
- its ``dates`` and ``assets`` (labels taken from the Panel it was built from).

Industries stay codes: nothing downstream builds one-hot dummies. Factor order everywhere is
``[market] + industries + styles``.

Time: row ``t`` holds what is known at the close of date ``t``. The factor model explains
``returns[t]`` with row ``t − lag`` (``FactorModel(lag=1)``), applied as an offset inside the
fit; nothing here shifts data.

Builders: :meth:`Exposures.from_panel` (descriptors of a Panel → cleaned styles, with every label
from the Panel) and :meth:`Exposures.from_descriptors` (any descriptors). The recipe per style k
with descriptor weights ``{d: w_d}`` (the seed pipeline's, per date):

1. each descriptor is set to NaN outside the universe (assets with a positive cap), winsorised
   (``winsorize`` method and ``winsorize_limit``, unweighted) and standardised (cap-weighted
   mean, equal-weighted standard deviation);
2. the style is ``Σ w_d z_d / Σ |w_d|`` over the descriptors available for that asset and date
   (missing ones drop out and the weights are rescaled, as in Barra);
3. the style is winsorised and standardised again;
4. missing exposures of assets in the universe are filled (``fill``): ``"industry_mean"`` (the
   date's equal-weighted mean within the asset's industry; 0, the cap-weighted mean, without an
   industry or members), ``"zero"``, or ``None`` (left NaN);
5. optionally (``orthogonalize={"low_vol": ["value"], ...}``) a style is replaced by the residual
   of a cap-weighted regression on an intercept and earlier styles, then re-standardised (a date
   the regression fits exactly, with no more assets than regressors, leaves no dispersion: 0).

Steps 1–4 run in one fused Rust pass per date (``_core.build_styles``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from ferrofactor import _core, clean
from ferrofactor._validate import (
    LabelsSeen,
    as_assets,
    as_dates,
    as_field,
    as_names,
    as_float_array,
    as_industry,
    check_bool,
    check_choice,
    check_real,
    check_same_labels,
    check_shape,
    field_axes,
    refuse_inf,
)
from ferrofactor.descriptors import compute_descriptors
from ferrofactor.panel import Panel
from ferrofactor.results import Result, Summary, readonly

__all__ = ["DEFAULT_STYLES", "Exposures"]

#: style → {descriptor: weight}: the seed pipeline's styles and descriptors. Low volatility is
#: minus volatility. Quality weighs its four descriptors equally, leverage negatively; seed 000's
#: ``mean(roe, profit_margin, asset_turnover) − leverage`` lets leverage count as much as the
#: other three together, which is ``{"roe": 1/3, "profit_margin": 1/3, "asset_turnover": 1/3,
#: "leverage": -1}`` given as ``styles=``.
DEFAULT_STYLES: dict[str, dict[str, float]] = {
    "value": {"book_to_market": 1 / 3, "earnings_yield": 1 / 3, "cash_flow_yield": 1 / 3},
    "momentum": {"momentum_12_1": 0.5, "momentum_6_1": 0.3, "momentum_3_1": 0.2},
    "quality": {"roe": 0.25, "profit_margin": 0.25, "asset_turnover": 0.25, "leverage": -0.25},
    "low_vol": {"volatility": -1.0},
}

WINSOR_METHODS = ("sigma", "quantile", "mad")
FILL_METHODS = ("industry_mean", "zero")


class Exposures(Result):
    """Factor exposures of N assets on T dates, with their labels.

    Parameters
    ----------
    styles : array_like (T, N, K), or mapping of style name → (T, N) array or Polars frame, optional
        Style exposures, NaN where unknown (±inf is refused). ``None`` for no styles. Frames
        (long or wide) keep their labels: they must carry the same dates and assets (same order)
        as each other and as ``dates``/``assets`` when given, else ``ValueError``; without
        ``dates``/``assets`` the frames' labels are the exposures'.
    industry : array_like of int (T, N), optional
        Industry codes, -1 = none. Any integer values (e.g. 8-digit GICS codes): see
        ``industry_names``. ``None`` for a model without industries.
    style_names : sequence of str, optional
        Default: the mapping's keys, else ``style_0..``.
    industry_names : sequence of str, or mapping {code: name}, optional
        A sequence: the codes are positions into it (``names[c]`` names code ``c``; all names are
        kept as industries, used or not). A mapping: the names of the code values. Default: the
        distinct code values, sorted, named by their values.
    market : bool, default True
        Whether the model has a market factor (a column of ones).
    dates : array_like of datetime64[D] (T,), optional
        Strictly increasing. Without dates the results of later stages are labelled by position.
    assets : array_like of str (N,), optional

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> gics = np.array([[10101010, 15101010, 10101010, -1]])
    >>> e = ff.Exposures({"value": np.zeros((1, 4))}, gics)
    >>> e.factor_names, e.industry.tolist()
    (['market', '10101010', '15101010', 'value'], [[0, 1, 0, -1]])
    """

    _arrays = {"styles": ("date", "asset", "style"), "industry": ("date", "asset")}
    _default_kind = "exposures"

    def __init__(
        self,
        styles: Any = None,
        industry: Any = None,
        *,
        style_names: Sequence[str] | None = None,
        industry_names: Any = None,
        market: bool = True,
        dates: Any = None,
        assets: Any = None,
    ) -> None:
        if styles is None and industry is None:
            raise ValueError("Exposures needs styles, industry or both; got neither")
        market = check_bool("market", market)
        frame_labels = LabelsSeen()  # the labels of the frames among the styles (Polars, pandas)
        if isinstance(styles, Mapping):
            if style_names is not None:
                raise ValueError("style_names given with a mapping of styles (its keys are the names)")
            if not styles:
                raise ValueError("styles mapping is empty")
            style_names = [str(k) for k in styles]
            # frames keep their labels: matched with each other and with dates/assets, never by
            # position. A wide frame's rows come out in date order: fine against given dates or
            # other frames, ambiguous against arrays (industry, array styles) paired row by row
            paired = industry is not None or not all(field_axes(v)[0] for v in styles.values())
            cols = []
            for k, v in styles.items():
                name = f"styles[{k!r}]"
                c, f_dates, f_assets = as_field(name, v, date_order=dates is None and paired)
                check_shape(name, c, cols[0].shape if cols else c.shape, "the shape of the other styles")
                frame_labels.add(name, f_dates, f_assets)
                cols.append(c)
            sty = np.ascontiguousarray(np.stack(cols, axis=2))
        else:
            sty = as_float_array("styles", styles, 3, allow_none=True)
        if sty is not None:
            n_inf = int(np.isinf(sty).sum())
            if n_inf:
                raise ValueError(f"styles must not contain infinite values ({n_inf} found); use NaN for unknown")
        shape = sty.shape[:2] if sty is not None else np.shape(industry)[:2]
        ind, inames = (None, [])
        if industry is not None:
            ind, inames = as_industry("industry", industry, None, industry_names)
            if ind.ndim != 2:
                raise ValueError(f"industry must be 2-dimensional (T, N), got shape {ind.shape}")
            if sty is not None and ind.shape != sty.shape[:2]:
                raise ValueError(
                    f"styles has shape {sty.shape} and industry has shape {ind.shape}; "
                    "their first two dimensions (dates, assets) must match"
                )
            shape = ind.shape
        elif industry_names is not None:
            raise ValueError("industry_names given without industry")
        if sty is not None:
            if style_names is None:
                style_names = [f"style_{k}" for k in range(sty.shape[2])]
            style_names = as_names("style_names", style_names, sty.shape[2], f"styles has {sty.shape[2]} styles")
        elif style_names:
            raise ValueError("style_names given without styles")
        d_labels = as_dates("dates", dates, shape[0])
        a_labels = as_assets("assets", assets, shape[1])
        d_labels, a_labels = frame_labels.check_given(d_labels, a_labels)
        self._init(sty, ind, list(style_names or []), inames, market, d_labels, a_labels)

    def _init(self, sty, ind, snames, inames, market, dates, assets) -> None:
        names = (["market"] if market else []) + list(inames) + list(snames)
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"factor names must be unique; repeated: {dup}")
        self._styles = readonly(sty)
        self._industry = readonly(ind)
        self._style_names = list(snames)
        self._industry_names = list(inames)
        self._market = bool(market)
        self._dates = readonly(dates)
        self._assets = readonly(assets)

    @classmethod
    def _trusted(cls, sty, ind, snames, inames, market, dates, assets) -> Exposures:
        """Construct from arrays the library produced (dense codes, no inf): no checks, no copy."""
        obj = cls.__new__(cls)
        obj._init(sty, ind, snames, inames, market, dates, assets)
        return obj

    # -- read-only properties -------------------------------------------------------------
    @property
    def styles(self) -> np.ndarray | None:
        """(T, N, K) float64 style exposures (read-only), or None."""
        return self._styles

    @property
    def industry(self) -> np.ndarray | None:
        """(T, N) int32 dense industry codes ``0..G-1``, -1 = none (read-only), or None."""
        return self._industry

    @property
    def style_names(self) -> list[str]:
        return list(self._style_names)

    @property
    def industry_names(self) -> list[str]:
        """Names of the G industries: ``industry_names[c]`` names code ``c``."""
        return list(self._industry_names)

    @property
    def n_industries(self) -> int:
        return len(self._industry_names)

    @property
    def market(self) -> bool:
        return self._market

    @property
    def dates(self) -> np.ndarray | None:
        """(T,) datetime64[D] labels, or None (positional)."""
        return self._dates

    @property
    def assets(self) -> np.ndarray | None:
        """(N,) str labels, or None (positional)."""
        return self._assets

    @property
    def shape(self) -> tuple[int, int]:
        """(T, N)."""
        arr = self._styles if self._styles is not None else self._industry
        return (arr.shape[0], arr.shape[1])

    @property
    def factor_names(self) -> list[str]:
        """Factor order used by every model: ``[market] + industries + styles``."""
        return (["market"] if self._market else []) + self.industry_names + self.style_names

    @property
    def n_factors(self) -> int:
        return len(self.factor_names)

    def style(self, name: str) -> np.ndarray:
        """The (T, N) exposures of one style (a read-only view)."""
        if name not in self._style_names:
            raise KeyError(f"no style {name!r}; styles: {self._style_names}")
        return self._styles[:, :, self._style_names.index(name)]

    def _axis_labels(self, axis: str) -> Any:
        if axis == "style":
            return self._style_names
        return super()._axis_labels(axis)

    def check_labels(self, what: str, dates: Any, assets: Any) -> None:
        """``ValueError`` unless ``dates``/``assets`` (when given) equal these exposures' labels."""
        check_same_labels(what, dates, assets, "exposures", self._dates, self._assets)

    # -- frames and summary ---------------------------------------------------------------
    @property
    def kinds(self) -> list[str]:
        """What :meth:`to_polars` can return: ``"exposures"``, ``"industry"`` and each style."""
        return ["exposures"] + (["industry"] if self._industry is not None else []) + self.style_names

    def to_polars(self, kind: str | None = None, form: str = "long") -> pl.DataFrame:
        """The exposures as a Polars frame.

        ``kind="exposures"`` (default): one row per (date, asset) with a column per style and
        ``industry`` as its label (String, null = none); joinable on (date, asset). It is the
        same frame in both forms (it is already wide in the styles).
        ``kind=<style name>``: one style, ``form="wide"`` (date × asset) or ``"long"``.
        ``kind="industry"``: the industry labels, wide or long.
        """
        kind = "exposures" if kind is None else kind
        if form not in ("wide", "long"):
            raise ValueError(f"form must be one of ['wide', 'long'], got {form!r}")
        T, N = self.shape
        if kind == "exposures":  # one row per (date, asset), one column per style: both forms
            taken = ["date", "asset"] + (["industry"] if self._industry is not None else [])
            clash = [n for n in self._style_names if n in taken]
            if clash:  # with_columns replaced the date/asset labels by the style, or failed in Polars
                raise ValueError(
                    f"style {clash[0]!r} clashes with the {clash[0]!r} column of the exposures frame; "
                    "rename the style"
                )
            frame = self._frame_long_labels(("date", "asset"), (T, N))
            cols = [pl.Series(n, self._styles[:, :, k].reshape(-1)) for k, n in enumerate(self._style_names)]
            if self._industry is not None:
                cols.append(self._industry_labels_series(self._industry.reshape(-1)))
            return frame.with_columns(cols)
        if kind in self._style_names:
            arr = self.style(kind)
            if form == "long":
                return self._frame_long(("date", "asset"), {kind: arr})
            return self._frame_wide(("date", "asset"), kind, arr)
        if kind == "industry":
            if self._industry is None:
                raise ValueError("these exposures have no industries")
            frame = self._frame_long_labels(("date", "asset"), (T, N))
            lab = self._industry_labels_series(self._industry.reshape(-1))
            long = frame.with_columns(lab)
            if form == "long":
                return long
            return long.pivot(on="asset", index="date", values="industry", maintain_order=True)
        raise ValueError(f"kind must be one of {['exposures', 'industry'] + self._style_names}, got {kind!r}")

    def _industry_labels_series(self, codes: np.ndarray) -> pl.Series:
        names = self._industry_names
        if not names:
            return pl.Series("industry", [None] * len(codes), dtype=pl.String)
        s = pl.Series("industry", codes, dtype=pl.Int32)
        s = s.set(s < 0, None).cast(pl.UInt32)
        return s.cat.to(pl.Enum(names)).cast(pl.String)

    def summary(self) -> Summary:
        """Per style: coverage (share of cells with a value), mean, mean per-date std, min, max;
        industries: how many, and the mean number of members per date."""
        T, N = self.shape
        header = [("Dates", T), ("Assets", N), ("Market factor", self._market),
                  ("Industries", len(self._industry_names)), ("Styles", len(self._style_names))]
        if self._dates is not None and T:
            header.append(("Span", f"{self._dates[0]}..{self._dates[-1]}"))
        tables = []
        if self._styles is not None and self._style_names:
            rows = {"style": [], "coverage": [], "mean": [], "std": [], "min": [], "max": []}
            with np.errstate(invalid="ignore"):
                for k, n in enumerate(self._style_names):
                    x = self._styles[:, :, k]
                    fin = np.isfinite(x)
                    rows["style"].append(n)
                    rows["coverage"].append(float(fin.mean()) if x.size else np.nan)
                    rows["mean"].append(float(np.nanmean(x)) if fin.any() else np.nan)
                    sd = np.nanstd(x, axis=1, ddof=1) if fin.any() else np.array([np.nan])
                    rows["std"].append(float(np.nanmean(sd)) if np.isfinite(sd).any() else np.nan)
                    rows["min"].append(float(np.nanmin(x)) if fin.any() else np.nan)
                    rows["max"].append(float(np.nanmax(x)) if fin.any() else np.nan)
            tables.append(("Styles", pl.DataFrame(rows)))
        if self._industry is not None and self._industry_names:
            G = len(self._industry_names)
            counts = np.zeros(G)
            for t in range(0, T, max(1, T // 50)):  # a sample of dates is enough for a summary
                c = self._industry[t]
                counts += np.bincount(c[c >= 0], minlength=G)
            n_s = len(range(0, T, max(1, T // 50)))
            tables.append(("Industries", pl.DataFrame({
                "industry": self._industry_names,
                "mean_members": counts / max(n_s, 1),
            })))
        return Summary("Exposures", header, tables)

    def plot(self, asset: Any = None, date: Any = -1) -> Any:
        """A picture of the style exposures on ``date`` (label or position, default the last).

        With ``asset`` (label or position): that asset's style exposures as a bar chart (seed
        001's "Factor Exposures for AAPL"), its industry in the title. Without: the
        cross-sectional distribution of each style (box plots, 5–95% whiskers). A matplotlib
        ``Figure`` (needs the ``plot`` extra).
        """
        from ferrofactor._validate import date_position
        from ferrofactor.plotting import exposure_bars, figure

        if self._styles is None or not self._style_names:
            raise ValueError("these exposures have no styles to plot")
        T, N = self.shape
        t = date_position("date", date, self._dates, T)
        when = str(self._dates[t]) if self._dates is not None else f"date {t}"
        if asset is not None:
            if isinstance(asset, (int, np.integer)) and not isinstance(asset, bool):
                j = int(asset) + (N if asset < 0 else 0)
                if not 0 <= j < N:
                    raise ValueError(f"asset position {asset} is out of range for {N} assets")
            else:
                if self._assets is None or str(asset) not in set(self._assets.tolist()):
                    raise ValueError(f"asset {asset!r} is not among the exposures' assets")
                j = int(np.flatnonzero(self._assets == str(asset))[0])
            label = str(self._assets[j]) if self._assets is not None else f"#{j}"
            ind = ""
            if self._industry is not None and self._industry[t, j] >= 0:
                ind = f", industry {self._industry_names[self._industry[t, j]]}"
            return exposure_bars(self._style_names, self._styles[t, j], title=f"Factor exposures for {label} on {when}{ind}")
        fig, axes = figure(1, 1, (max(6.0, 0.8 * len(self._style_names) + 2.0), 3.4))
        ax = axes[0, 0]
        data = [x[np.isfinite(x)] for x in (self._styles[t, :, k] for k in range(len(self._style_names)))]
        ax.boxplot(data, whis=(5, 95), showfliers=False, tick_labels=self._style_names)
        ax.axhline(0.0, color="black", lw=0.6)
        ax.set_ylabel("exposure")
        ax.grid(True, axis="y", lw=0.3, alpha=0.6)
        ax.set_title(f"Style exposures across assets on {when}", fontsize=9, loc="left")
        return fig

    def __repr__(self) -> str:
        T, N = self.shape
        return (
            f"Exposures(T={T}, N={N}, market={self._market}, "
            f"industries={len(self._industry_names)}, styles={self._style_names})"
        )

    # -- builders -------------------------------------------------------------------------
    @classmethod
    def from_panel(
        cls,
        panel: Any,
        styles: Mapping[str, Mapping[str, float]] | None = None,
        *,
        cap: str = "market_cap",
        industry: str | None = "industry",
        market: bool = True,
        winsorize: str | None = "sigma",
        winsorize_limit: float = 3.0,
        fill: str | None = "industry_mean",
        orthogonalize: Mapping[str, Sequence[str]] | None = None,
        descriptor_options: Mapping[str, Any] | None = None,
    ) -> Exposures:
        """Descriptors → style exposures of a Panel, every label taken from the panel.

        ``ff.descriptors.compute_descriptors(panel, names=<the descriptors the styles use>,
        **descriptor_options)`` followed by
        :meth:`from_descriptors` with the panel's ``cap`` field (default ``"market_cap"``), its
        ``industry`` code field and labels (None = no industries; a missing field is an error),
        dates and assets.

        Returns
        -------
        Exposures
            Row t known at the close of t.

        Examples
        --------
        >>> import ferrofactor as ff
        >>> panel = ff.datasets.synthetic_universe(n_assets=100, n_days=300, seed=0)
        >>> ex = ff.Exposures.from_panel(panel)
        >>> ex.style_names, ex.shape
        (['value', 'momentum', 'quality', 'low_vol'], (300, 100))
        """
        if not isinstance(panel, Panel):
            raise TypeError(f"panel must be a ferrofactor.Panel, got {type(panel).__name__}")
        codes, names = panel._cap_and_industry(cap, industry)
        options = dict(descriptor_options or {})
        # the builder sets every descriptor to NaN outside the universe (no positive cap), which
        # is what mask_unlisted does: skip that pass
        options.setdefault("mask_unlisted", False)
        if "names" not in options:  # only the descriptors the styles use
            spec = DEFAULT_STYLES if styles is None else styles
            if isinstance(spec, Mapping):
                options["names"] = [d for parts in spec.values() if isinstance(parts, Mapping) for d in parts]
        desc = compute_descriptors(panel, **options)
        return cls.from_descriptors(
            desc, styles, cap=panel[cap], industry=codes, industry_names=names, market=market,
            winsorize=winsorize, winsorize_limit=winsorize_limit, fill=fill,
            orthogonalize=orthogonalize, dates=panel.dates, assets=panel.assets,
        )

    @classmethod
    def from_descriptors(
        cls,
        descriptors: Any,
        styles: Mapping[str, Mapping[str, float]] | None = None,
        *,
        cap: Any = None,
        industry: Any = None,
        industry_names: Any = None,
        market: bool = True,
        winsorize: str | None = "sigma",
        winsorize_limit: float = 3.0,
        fill: str | None = "industry_mean",
        orthogonalize: Mapping[str, Sequence[str]] | None = None,
        dates: Any = None,
        assets: Any = None,
    ) -> Exposures:
        """Build style exposures from descriptors (the recipe of the module docstring).

        Parameters
        ----------
        descriptors : Panel or mapping of name → (T, N) array or Polars frame
            E.g. the output of :func:`ferrofactor.descriptors.compute_descriptors`. A Panel's
            dates and assets (else those of the frames) label the result.
        styles : mapping of style → {descriptor: weight}, default :data:`DEFAULT_STYLES`
            A negative weight enters the descriptor with a minus sign.
        cap : array_like or Polars frame (T, N), optional
            Market cap: weights of the standardisation mean and the orthogonalisation regression,
            and the universe (assets with a positive cap; NaN = outside; an infinite cap is a
            data error: ``ValueError``). Without it: equal weights, and
            the universe is every asset with at least one finite descriptor on that date.
        industry : array_like of int (T, N), optional
            Industry codes (-1 = none), kept in the result and used by ``fill="industry_mean"``;
            named by ``industry_names`` as in :class:`Exposures`.
        winsorize : {"sigma", "quantile", "mad"} or None, default "sigma"
        winsorize_limit : float, default 3.0
        fill : {"industry_mean", "zero"} or None, default "industry_mean"
        orthogonalize : mapping of style → sequence of earlier styles, optional
        market : bool, default True
        dates, assets : optional labels (default: the Panel's, if descriptors is a Panel, else
            those of the frames)

        Where inputs carry labels (a Panel, frames among the descriptors and ``cap``, ``dates``
        and ``assets``) they must be the same dates and assets in the same order, else
        ``ValueError`` naming the argument: nothing is paired by position.

        Returns
        -------
        Exposures
            ``styles`` (T, N, K) in the order of ``styles``; NaN outside the universe.
        """
        styles = DEFAULT_STYLES if styles is None else styles
        if not isinstance(styles, Mapping) or not styles:
            raise ValueError("styles must be a non-empty mapping of style → {descriptor: weight}")
        market = check_bool("market", market)
        if winsorize is not None:
            check_choice("winsorize", winsorize, WINSOR_METHODS)
            lim = check_real("winsorize_limit", winsorize_limit, lo=0.0, lo_open=True)
            if winsorize == "quantile" and not lim < 0.5:
                raise ValueError(f"winsorize_limit must be in (0, 0.5) for 'quantile', got {winsorize_limit!r}")
        else:
            lim = 3.0
        if fill is not None:
            check_choice("fill", fill, FILL_METHODS)
        # the labelled (T, N) inputs, (name, dates, assets): a Panel, Polars frames (descriptors,
        # cap); they must match each other and dates/assets, never be paired by position
        labelled = LabelsSeen()
        # a wide frame's rows come out in date order: fine when the dates are known (a Panel's or
        # given), ambiguous against arrays paired row by row otherwise
        order = dates is None and not isinstance(descriptors, Panel)

        labels_of = labelled.add

        if isinstance(descriptors, Panel):
            labels_of("descriptors", descriptors.dates, descriptors.assets)
            source = {k: descriptors[k] for k in descriptors.float_fields}
        elif isinstance(descriptors, Mapping):
            source = descriptors
        else:
            raise TypeError(
                f"descriptors must be a Panel or a mapping of name → (T, N) array, got {type(descriptors).__name__}"
            )
        index: dict[str, int] = {}
        arrays: list[np.ndarray] = []
        parts: list[list[tuple[int, float]]] = []
        shape = None
        for style, spec in styles.items():
            if not isinstance(spec, Mapping) or not spec:
                raise ValueError(f"style {style!r} has no descriptors")
            row = []
            for d, w in spec.items():
                if d not in source:
                    raise ValueError(
                        f"style {style!r} needs descriptor {d!r}, which is not among the descriptors "
                        f"given: {sorted(source)}"
                    )
                if isinstance(w, bool) or not isinstance(w, (int, float, np.integer, np.floating)) \
                        or not np.isfinite(w) or w == 0:
                    raise ValueError(f"weight of {d!r} in style {style!r} must be a non-zero number, got {w!r}")
                if d not in index:
                    a, f_dates, f_assets = as_field(f"descriptors[{d!r}]", source[d], date_order=order)
                    if shape is None:
                        shape = a.shape
                    check_shape(f"descriptors[{d!r}]", a, shape, "the shape of the other descriptors")
                    labels_of(f"descriptors[{d!r}]", f_dates, f_assets)
                    index[d] = len(arrays)
                    arrays.append(a)
                row.append((index[d], float(w)))
            parts.append(row)
        T, N = shape
        capw = None
        if cap is not None:
            capw, c_dates, c_assets = as_field("cap", cap, date_order=order)
            check_shape("cap", capw, shape, "the shape of the descriptors")
            labels_of("cap", c_dates, c_assets)
            # an infinite cap is a data error (it was read as outside the universe), as the
            # regression and the risk model refuse it
            refuse_inf("cap", capw, "NaN or a cap <= 0 marks an asset outside the universe")
        codes, inames = None, []
        if industry is not None:
            codes, inames = as_industry("industry", industry, shape, industry_names)
        elif industry_names is not None:
            raise ValueError("industry_names given without industry")
        names = [str(s) for s in styles]
        orth = dict(orthogonalize or {})
        for s, others in orth.items():
            if s not in names:
                raise ValueError(f"orthogonalize names style {s!r}, which is not among {names}")
            for o in others:
                if o not in names or names.index(o) >= names.index(s):
                    raise ValueError(
                        f"style {s!r} can only be orthogonalised against styles before it in {names}, got {o!r}"
                    )
        d_labels = as_dates("dates", dates, T)
        a_labels = as_assets("assets", assets, N)
        d_labels, a_labels = labelled.check_given(d_labels, a_labels)

        out = _core.build_styles(arrays, parts, capw, codes, len(inames), winsorize, float(lim), fill)
        if orth:
            w_std = None if capw is None else np.where(np.isfinite(capw) & (capw > 0), capw, np.nan)
            for k, s in enumerate(names):
                if s not in orth:
                    continue
                others = orth[s]
                ctl = np.ascontiguousarray(out[:, :, [names.index(o) for o in others]])
                res = clean.neutralize(out[:, :, k], controls=ctl, weights=w_std)
                # a date fitted exactly (no more assets than regressors) has no dispersion left
                clean._zero_exact_fits(res, out[:, :, k], ctl.shape[2])
                out[:, :, k] = clean.standardize(res, weights=w_std)
        return cls._trusted(out, codes, names, inames, market, d_labels, a_labels)

