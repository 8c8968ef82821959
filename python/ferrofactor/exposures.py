"""Exposures: the B of the factor model, as arrays with names.

An ``Exposures`` holds, for every date and asset, the style exposures ``styles`` (T, N, K) float64
(NaN = unknown), the industry codes ``industry`` (T, N) int32 (-1 = none) and whether the model has
a market (intercept) factor. Industries are kept as codes: nothing downstream builds one-hot
dummies. Factor order everywhere is ``[market] + industries + styles``.

Builders of exposures from descriptors live in :mod:`ferrofactor.descriptors`
(``Exposures.from_descriptors``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ferrofactor._validate import as_code_array, as_float_array


class Exposures:
    """Factor exposures of N assets on T dates.

    Parameters
    ----------
    styles : array_like, shape (T, N, K), optional
        Style exposures, NaN where unknown. ``None`` for a model without styles.
    industry : array_like of int, shape (T, N), optional
        Industry codes ``0..G-1``, -1 = none. ``None`` for a model without industries.
    style_names, industry_names : sequence of str, optional
        Names; default ``style_0..`` and ``industry_0..`` (G = max code + 1 when not named).
    market : bool, default True
        Whether the model has a market factor (a column of ones).
    dates : array_like of datetime64[D], shape (T,), optional
    assets : array_like of str, shape (N,), optional
    """

    def __init__(
        self,
        styles=None,
        industry=None,
        *,
        style_names: Sequence[str] | None = None,
        industry_names: Sequence[str] | None = None,
        market: bool = True,
        dates=None,
        assets=None,
    ) -> None:
        if styles is None and industry is None:
            raise ValueError("Exposures needs styles, industry or both; got neither")
        sty = as_float_array("styles", styles, 3, allow_none=True)
        ind = None if industry is None else as_code_array("industry", industry, 2)
        if sty is not None and ind is not None and sty.shape[:2] != ind.shape:
            raise ValueError(
                f"styles has shape {sty.shape} and industry has shape {ind.shape}; "
                "their first two dimensions (dates, assets) must match"
            )
        shape = sty.shape[:2] if sty is not None else ind.shape
        if sty is not None:
            if style_names is None:
                style_names = [f"style_{k}" for k in range(sty.shape[2])]
            style_names = [str(s) for s in style_names]
            if len(style_names) != sty.shape[2]:
                raise ValueError(
                    f"style_names has {len(style_names)} names but styles has {sty.shape[2]} styles"
                )
        elif style_names:
            raise ValueError("style_names given without styles")
        if ind is not None:
            n_codes = int(ind.max()) + 1 if ind.size else 0
            if industry_names is None:
                industry_names = [f"industry_{g}" for g in range(n_codes)]
            industry_names = [str(s) for s in industry_names]
            if n_codes > len(industry_names):
                raise ValueError(
                    f"industry has code {n_codes - 1} but only {len(industry_names)} industry_names"
                )
        elif industry_names:
            raise ValueError("industry_names given without industry")
        names = list(style_names or []) + list(industry_names or [])
        if len(set(names)) != len(names):
            raise ValueError(f"style and industry names must be unique, got {names}")
        if dates is not None:
            dates = np.asarray(dates, dtype="datetime64[D]")
            if dates.shape != (shape[0],):
                raise ValueError(f"dates has shape {dates.shape}, expected ({shape[0]},)")
        if assets is not None:
            assets = np.asarray(assets, dtype=str)
            if assets.shape != (shape[1],):
                raise ValueError(f"assets has shape {assets.shape}, expected ({shape[1]},)")
        # Read-only views: the caller's arrays are not copied and keep their own flags.
        if sty is not None:
            sty = sty.view()
            sty.flags.writeable = False
        if ind is not None:
            ind = ind.view()
            ind.flags.writeable = False
        self._styles = sty
        self._industry = ind
        self._style_names = list(style_names or [])
        self._industry_names = list(industry_names or [])
        self._market = bool(market)
        self._dates = dates
        self._assets = assets

    # -- read-only properties -------------------------------------------------------------
    @property
    def styles(self) -> np.ndarray | None:
        """(T, N, K) float64 style exposures (read-only), or None."""
        return self._styles

    @property
    def industry(self) -> np.ndarray | None:
        """(T, N) int32 industry codes, -1 = none (read-only), or None."""
        return self._industry

    @property
    def style_names(self) -> list[str]:
        return list(self._style_names)

    @property
    def industry_names(self) -> list[str]:
        return list(self._industry_names)

    @property
    def market(self) -> bool:
        return self._market

    @property
    def dates(self) -> np.ndarray | None:
        return self._dates

    @property
    def assets(self) -> np.ndarray | None:
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

    def lag(self, periods: int = 1) -> Exposures:
        """Exposures shifted forward by ``periods`` dates: row t holds what was known at t − periods.

        The first ``periods`` dates become unknown (NaN styles, industry -1). This is how a model
        explains ``returns[t]`` with exposures known at t − 1 without look-ahead.
        """
        if not isinstance(periods, (int, np.integer)) or periods < 0:
            raise ValueError(f"periods must be a non-negative integer, got {periods!r}")
        T = self.shape[0]
        p = min(int(periods), T)
        sty = ind = None
        if self._styles is not None:
            sty = np.full_like(self._styles, np.nan)
            sty[p:] = self._styles[: T - p]
        if self._industry is not None:
            ind = np.full_like(self._industry, -1)
            ind[p:] = self._industry[: T - p]
        return Exposures(
            sty,
            ind,
            style_names=self._style_names if sty is not None else None,
            industry_names=self._industry_names if ind is not None else None,
            market=self._market,
            dates=self._dates,
            assets=self._assets,
        )

    def __repr__(self) -> str:
        T, N = self.shape
        return (
            f"Exposures(T={T}, N={N}, market={self._market}, "
            f"industries={len(self._industry_names)}, styles={self._style_names})"
        )
