"""Result objects of the factor model and of Fama-MacBeth regressions, and their inference.

Results hold numpy arrays (read-only) with the names that label them, expose them as read-only
properties (as linearmodels' results do), print a ``summary()`` table and convert to Polars frames
with ``to_polars()``.

The Fama-MacBeth inference (:func:`fama_macbeth_inference`) works on the small (T, K) series of
per-date estimates and follows linearmodels' ``FamaMacBeth`` exactly (linearmodels 7.1,
``FamaMacBethCovariance`` with ``debiased=True``, its default):

- dates whose estimate has any NaN (too few observations, rank-deficient cross-section, no data)
  are dropped; T counts the dates that are used;
- the parameters are the averages of the T estimates; with the deviations e_t = b_t − b̄,
  the covariance is ``(Σ_t e_t e_tᵀ + Σ_{j=1..m} w_j (Γ_j + Γ_jᵀ)) / (T · (T − 1))`` with
  ``Γ_j = Σ_t e_t e_{t−j}ᵀ`` and Bartlett weights ``w_j = 1 − j / (m + 1)``, m = the integer part of
  the bandwidth; ``"unadjusted"`` is m = 0, i.e. ``var(b_t, ddof=1) / T``;
- the automatic bandwidth is Newey and West's (1994) rule applied to the sum over parameters of the
  standardised deviations ``Σ_k e_tk / std_k`` (population std): pilot lags
  ``n = ceil(4 (T/100)^(2/9))``, autocovariances ``σ_j = Σ_t x_t x_{t−j} / T``,
  ``s0 = σ_0 + 2 Σ_{j≤n} σ_j``, ``s1 = 2 Σ_{j≤n} j σ_j``,
  ``m = min(ceil(1.1447 · ((s1/s0)²)^(1/3) · T^(1/3)), T − 1)``; it needs n < T − 1 (T ≥ 4);
- t-statistics are params / std_errors and p-values are two-sided from a t distribution with
  T − 1 degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

COV_TYPES = ("unadjusted", "kernel")

# Newey-West (1994) automatic bandwidth rule for the Bartlett kernel: q, c, pilot-lag exponent.
_NW_Q, _NW_C, _NW_EXPONENT = 1, 1.1447, 2.0 / 9.0


def _pilot_lags(n: int) -> int:
    return int(math.ceil(4 * (n / 100) ** _NW_EXPONENT))


def _min_periods_automatic_bandwidth() -> int:
    n = 1
    while _pilot_lags(n) >= n - 1:
        n += 1
    return n


def newey_west_bandwidth(x: np.ndarray) -> int:
    """Newey-West (1994) automatic bandwidth of the Bartlett kernel for a 1-d series ``x``.

    Returns ``min(ceil(m̂), T − 1)``; see the module docstring for the rule. Raises ``ValueError``
    when the series is too short (T < 4) or the rule is not finite (e.g. a series of zeros).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    t = x.shape[0]
    n = _pilot_lags(t)
    if n >= t - 1:
        raise ValueError(
            f"the automatic Newey-West bandwidth needs at least "
            f"{_min_periods_automatic_bandwidth()} periods, got {t}; pass bandwidth explicitly"
        )
    rate = 1.0 / (2 * _NW_Q + 1)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sigma = np.empty(n + 1)
        sigma[0] = x @ x / t
        for j in range(1, n + 1):
            sigma[j] = x[j:] @ x[:-j] / t
        s0 = sigma[0] + 2 * sigma[1:].sum()
        sq = 2 * np.sum(sigma[1:] * np.arange(1, n + 1) ** _NW_Q)
        m = _NW_C * ((sq / s0) ** 2) ** rate * t**rate
    if not np.isfinite(m):
        raise ValueError(
            "the automatic Newey-West bandwidth is not finite (the estimates do not vary or are "
            "not finite); pass bandwidth explicitly"
        )
    return min(int(math.ceil(m)), t - 1)


def bartlett_weights(bandwidth: float) -> np.ndarray:
    """Bartlett kernel weights for lags 0..m, m = int(bandwidth): ``1 − j / (m + 1)``."""
    m = int(bandwidth)
    return 1.0 - np.arange(m + 1) / (m + 1)


def kernel_covariance(e: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``(eᵀe + Σ_{j≥1} w_j (Γ_j + Γ_jᵀ)) / T`` for mean-zero (T, K) ``e`` (lag-0 weight unused)."""
    n = e.shape[0]
    s = e.T @ e
    for j in range(1, len(weights)):
        op = e[j:].T @ e[:-j]
        s += weights[j] * (op + op.T)
    return s / n


def fama_macbeth_inference(
    estimates: np.ndarray, cov: str = "unadjusted", bandwidth: float | None = None,
    *, nan_policy: str = "row", on_error: str = "raise",
) -> dict:
    """Fama-MacBeth summary of a (T, K) series of per-date estimates.

    Parameters
    ----------
    estimates : ndarray, shape (T, K)
        One row of estimates per date, NaN where not estimated.
    cov : {"unadjusted", "kernel"}
        Plain standard errors of the mean, or Newey-West (Bartlett kernel) standard errors.
    bandwidth : float, optional
        Kernel bandwidth (its integer part is the number of lags), ``0 <= bandwidth < T``.
        Default: the Newey-West (1994) automatic rule. Ignored for ``"unadjusted"``.
    nan_policy : {"row", "column"}
        ``"row"`` (linearmodels): a date with any NaN is dropped for every parameter.
        ``"column"``: each parameter uses the dates where it is finite (an industry that is
        empty on a date does not remove the date for the other factors); in the kernel sums a
        missing deviation counts as 0 at its calendar position, the automatic bandwidth uses the
        sum over parameters of the available standardised deviations on dates with any finite
        estimate, and T is counted per parameter. Without partial NaN rows both policies agree.
    on_error : {"raise", "nan"}
        When the kernel covariance cannot be computed (too few periods, bad bandwidth): raise a
        ``ValueError`` or return NaN standard errors.

    Returns
    -------
    dict with params (K,), cov (K, K) (NaN off-diagonal under "column"), std_errors, tstats,
    pvalues (K,), n_periods (int for "row", (K,) ints for "column"), df_resid, bandwidth (float;
    0 for unadjusted, NaN if unavailable), used (T,) bool (dates used by any parameter).
    """
    est = np.asarray(estimates, dtype=np.float64)
    if est.ndim != 2:
        raise ValueError(f"estimates must be 2-dimensional (T, K), got shape {est.shape}")
    if cov not in COV_TYPES:
        raise ValueError(f"cov must be one of {list(COV_TYPES)!r}, got {cov!r}")
    if nan_policy not in ("row", "column"):
        raise ValueError(f"nan_policy must be one of ['row', 'column'], got {nan_policy!r}")
    K = est.shape[1]
    fin = np.isfinite(est)
    if nan_policy == "row":
        used = np.all(fin, axis=1)
        b = est[used]
        mask = np.ones_like(b, dtype=bool)
    else:
        used = np.any(fin, axis=1)
        b = np.where(fin, est, 0.0)[used]
        mask = fin[used]
    counts = mask.sum(axis=0)  # periods per parameter
    n_rows = b.shape[0]
    nan_k = np.full(K, np.nan)
    n_periods = int(n_rows) if nan_policy == "row" else counts.astype(np.int64)
    out = {
        "params": nan_k.copy(), "cov": np.full((K, K), np.nan), "std_errors": nan_k.copy(),
        "tstats": nan_k.copy(), "pvalues": nan_k.copy(), "n_periods": n_periods,
        "df_resid": n_periods - 1, "bandwidth": 0.0 if cov == "unadjusted" else np.nan,
        "used": used,
    }
    if n_rows == 0:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        if nan_policy == "row":
            params = b.mean(axis=0)
        else:
            params = np.where(counts > 0, b.sum(axis=0) / counts, np.nan)
    out["params"] = params
    e = np.where(mask, b - params, 0.0) if nan_policy == "column" else b - params
    if cov == "unadjusted":
        bw = 0.0
    else:
        try:
            if bandwidth is None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    if nan_policy == "row":
                        stde = np.sum(e / e.std(0)[None, :], axis=1)
                    else:
                        live = counts > 1
                        sd = np.sqrt((e[:, live] ** 2).sum(axis=0) / counts[live])
                        stde = np.sum(e[:, live] / sd[None, :], axis=1)
                bw = float(newey_west_bandwidth(stde))
            else:
                bw = float(bandwidth)
                if not np.isfinite(bw) or bw < 0:
                    raise ValueError(f"bandwidth must be a non-negative number, got {bandwidth!r}")
                if bw >= n_rows:
                    raise ValueError(
                        f"bandwidth must be below the number of periods used ({n_rows}), "
                        f"got {bandwidth!r}"
                    )
        except ValueError:
            if on_error == "raise":
                raise
            return out
    out["bandwidth"] = bw
    w = bartlett_weights(bw)
    with np.errstate(divide="ignore", invalid="ignore"):
        if nan_policy == "row":
            if n_rows < 2:
                return out
            c = kernel_covariance(e, w) / (n_rows - 1)
            se = np.sqrt(np.diag(c))
        else:
            # per parameter: the kernel sums over its calendar series with gaps as 0
            s = (e * e).sum(axis=0)
            for j in range(1, len(w)):
                s += 2 * w[j] * (e[j:] * e[:-j]).sum(axis=0)
            var = s / counts / (counts - 1)
            var[(counts < 2) | (bw >= counts)] = np.nan
            c = np.full((K, K), np.nan)
            c[np.diag_indices(K)] = var
            se = np.sqrt(var)
        t = params / se
        pv = 2 * stats.t.sf(np.abs(t), np.asarray(n_periods) - 1)
    out.update(cov=c, std_errors=se, tstats=t, pvalues=pv)
    return out


def _readonly(a: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return None
    a = np.asarray(a).view()
    a.flags.writeable = False
    return a


def _fmt(x: float, width: int = 11) -> str:
    if isinstance(x, (int, np.integer)):
        return f"{int(x):>{width}d}"
    if x is None or not np.isfinite(x):
        return f"{'nan':>{width}}"
    if x != 0 and (abs(x) < 0.1 or abs(x) >= 1e5):  # keep >= 4 significant digits
        return f"{x:>{width}.4e}"
    return f"{x:>{width}.4f}"


def _table(title: str, header: Sequence[tuple[str, str]], columns: Sequence[str],
           rows: Sequence[tuple[str, Sequence[float]]]) -> str:
    """A statsmodels-like text table: a title, key/value header lines, then a parameter table."""
    name_w = max([len("Parameter")] + [len(r[0]) for r in rows]) + 1
    col_w = 11
    width = max(name_w + len(columns) * (col_w + 1), 78)
    lines = [title.center(width), "=" * width]
    half = (len(header) + 1) // 2
    left, right = header[:half], header[half:]
    lw = width // 2
    for i in range(half):
        k, v = left[i]
        s = f"{k + ':':<20}{v:>{lw - 22}}  "
        if i < len(right):
            k2, v2 = right[i]
            s += f"{k2 + ':':<20}{v2:>{width - lw - 20}}"
        lines.append(s.rstrip())
    lines.append("=" * width)
    lines.append(f"{'Parameter':<{name_w}}" + "".join(f" {c:>{col_w}}" for c in columns))
    lines.append("-" * width)
    for name, vals in rows:
        lines.append(f"{name:<{name_w}}" + "".join(" " + _fmt(v, col_w) for v in vals))
    lines.append("=" * width)
    return "\n".join(lines)


def _date_series(dates, T: int):
    import polars as pl

    if dates is None:
        return pl.Series("date", np.arange(T), dtype=pl.Int64)
    return pl.Series("date", np.asarray(dates, dtype="datetime64[D]"))


class FamaMacBethResult:
    """Result of :func:`ferrofactor.fama_macbeth`.

    Attributes (read-only)
    ----------------------
    params, std_errors, tstats, pvalues : ndarray, shape (K',)
        Averages of the per-date estimates, their standard errors (plain or Newey-West), t-stats and
        two-sided p-values (t distribution with T − 1 degrees of freedom). K' = K + intercept.
    cov : ndarray, shape (K', K')
        Covariance of ``params``.
    estimates : ndarray, shape (T, K')
        Per-date cross-sectional estimates, NaN on dates that could not be estimated.
    n_obs : ndarray of int, shape (T,)
        Observations used by each date's regression.
    r2 : ndarray, shape (T,)
        Per-date R².
    n_periods : int
        Dates used (T counted by the inference).
    names : list of str
        Parameter names (``"const"`` first when there is an intercept).
    """

    def __init__(self, *, estimates, n_obs, r2, names, cov_type, bandwidth=None, dates=None,
                 inference=None):
        self._estimates = _readonly(np.asarray(estimates, dtype=np.float64))
        self._n_obs = _readonly(np.asarray(n_obs))
        self._r2 = _readonly(np.asarray(r2, dtype=np.float64))
        self._names = list(names)
        self._cov_type = cov_type
        self._dates = dates
        inf = inference if inference is not None else fama_macbeth_inference(
            self._estimates, cov_type, bandwidth)
        self._inf = {k: (_readonly(v) if isinstance(v, np.ndarray) else v) for k, v in inf.items()}

    params = property(lambda self: self._inf["params"], doc="(K',) mean of the per-date estimates.")
    std_errors = property(lambda self: self._inf["std_errors"], doc="(K',) standard errors.")
    tstats = property(lambda self: self._inf["tstats"], doc="(K',) t-statistics.")
    pvalues = property(lambda self: self._inf["pvalues"], doc="(K',) two-sided p-values, t(T−1).")
    cov = property(lambda self: self._inf["cov"], doc="(K', K') covariance of params.")
    estimates = property(lambda self: self._estimates, doc="(T, K') per-date estimates.")
    n_obs = property(lambda self: self._n_obs, doc="(T,) observations per date.")
    r2 = property(lambda self: self._r2, doc="(T,) per-date R².")
    n_periods = property(lambda self: self._inf["n_periods"], doc="dates used by the inference.")
    df_resid = property(lambda self: self._inf["df_resid"], doc="T − 1.")
    bandwidth = property(lambda self: self._inf["bandwidth"], doc="kernel bandwidth (0: none).")
    cov_type = property(lambda self: self._cov_type)
    names = property(lambda self: list(self._names))
    dates = property(lambda self: self._dates)

    def summary(self, print_: bool = False) -> str:
        """Text table of the estimates (and print it when ``print_``)."""
        T = self._estimates.shape[0]
        cov_desc = ("Unadjusted" if self._cov_type == "unadjusted"
                    else f"Newey-West bw={self.bandwidth:g}")
        used = self._inf["used"]
        header = [
            ("Estimator", "Fama-MacBeth"), ("Dates", str(T)), ("Dates used", str(self.n_periods)),
            ("Avg. obs per date", f"{np.mean(self._n_obs[used]):.1f}" if used.any() else "nan"),
            ("Avg. R-squared",
             f"{np.nanmean(self._r2[used]):.4f}" if np.isfinite(self._r2[used]).any() else "nan"),
            ("Covariance", cov_desc), ("Df (T-1)", str(self.df_resid)),
        ]
        rows = [(n, (self.params[i], self.std_errors[i], self.tstats[i], self.pvalues[i]))
                for i, n in enumerate(self._names)]
        text = _table("Fama-MacBeth Estimation Summary", header,
                      ["Estimate", "Std. Err.", "T-stat", "P-value"], rows)
        if print_:
            print(text)
        return text

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"FamaMacBethResult(params={dict(zip(self._names, np.round(self.params, 6)))}, "
                f"cov_type={self._cov_type!r}, n_periods={self.n_periods})")

    def to_polars(self, kind: str = "params"):
        """``"params"``: one row per parameter (name, param, std_error, tstat, pvalue);
        ``"estimates"``: wide (date × parameter) frame of the per-date estimates."""
        import polars as pl

        if kind == "params":
            return pl.DataFrame({
                "name": self._names, "param": self.params, "std_error": self.std_errors,
                "tstat": self.tstats, "pvalue": self.pvalues,
            })
        if kind == "estimates":
            cols = {n: self._estimates[:, i] for i, n in enumerate(self._names)}
            return pl.DataFrame([_date_series(self._dates, self._estimates.shape[0])]).with_columns(
                [pl.Series(k, v) for k, v in cols.items()]
                + [pl.Series("n_obs", np.asarray(self._n_obs, dtype=np.int64))])
        raise ValueError(f"kind must be one of ['params', 'estimates'], got {kind!r}")


class FactorModelResult:
    """Result of :meth:`ferrofactor.FactorModel.fit`.

    Per-date fields (read-only numpy arrays, factors in the order of ``factor_names``:
    ``[market] + industries + styles``):

    factor_returns : (T, P)
        Estimated factor returns; NaN for an industry with no member on a date and on dates
        that could not be estimated.
    residuals : (T, N)
        Specific returns ``r − B f`` of the original (unclipped) returns; NaN where not used.
    r2 : (T,), std_errors, tstats : (T, P), n_obs : (T,)
        Per-date weighted R², classic WLS standard errors and t-statistics, observations used.
    n_clipped : (T,)
        Returns clipped by ``winsorize_returns`` per date (zeros without it);
        ``n_clipped_total`` is their sum.
    exposures : Exposures
        The lagged exposures the regressions used (row t = exposures known at t − lag).

    Fama-MacBeth summary over dates (P,), each factor over the dates where it is estimated
    (see :func:`fama_macbeth_inference`, ``nan_policy="column"``):
    ``mean_returns``, ``std_errors_mean`` and ``tstats_mean`` (plain), ``nw_std_errors``,
    ``nw_tstats`` (Newey-West, Bartlett kernel, automatic bandwidth ``nw_bandwidth`` unless the
    model's ``fama_macbeth(bandwidth=...)`` is called), ``pvalues_mean`` and ``nw_pvalues``.
    Mean factor returns are per period (daily for daily data), not annualised.
    """

    def __init__(self, *, factor_returns, residuals, r2, std_errors, tstats, n_obs, factor_names,
                 exposures, n_clipped, model):
        self._factor_returns = _readonly(factor_returns)
        self._residuals = _readonly(residuals)
        self._r2 = _readonly(r2)
        self._std_errors = _readonly(std_errors)
        self._tstats = _readonly(tstats)
        self._n_obs = _readonly(n_obs)
        self._factor_names = list(factor_names)
        self._exposures = exposures
        self._n_clipped = _readonly(n_clipped)
        self._model = model
        self._plain = fama_macbeth_inference(self._factor_returns, "unadjusted", nan_policy="column")
        self._nw = fama_macbeth_inference(self._factor_returns, "kernel", nan_policy="column",
                                          on_error="nan")
        for d in (self._plain, self._nw):
            for k, v in d.items():
                if isinstance(v, np.ndarray):
                    d[k] = _readonly(v)

    # -- per-date fields --------------------------------------------------------------------
    factor_returns = property(lambda self: self._factor_returns, doc="(T, P) factor returns.")
    residuals = property(lambda self: self._residuals, doc="(T, N) specific returns.")
    r2 = property(lambda self: self._r2, doc="(T,) per-date weighted R².")
    std_errors = property(lambda self: self._std_errors, doc="(T, P) per-date standard errors.")
    tstats = property(lambda self: self._tstats, doc="(T, P) per-date t-statistics.")
    n_obs = property(lambda self: self._n_obs, doc="(T,) observations used per date.")
    n_clipped = property(lambda self: self._n_clipped, doc="(T,) returns clipped per date.")
    n_clipped_total = property(lambda self: int(self._n_clipped.sum()), doc="clipped returns.")
    exposures = property(lambda self: self._exposures, doc="lagged Exposures used by the fit.")
    factor_names = property(lambda self: list(self._factor_names))
    model = property(lambda self: self._model, doc="the FactorModel (settings) that was fit.")
    lag = property(lambda self: self._model.lag)
    dates = property(lambda self: self._exposures.dates)
    assets = property(lambda self: self._exposures.assets)

    # -- Fama-MacBeth summary -----------------------------------------------------------------
    mean_returns = property(lambda self: self._plain["params"],
                            doc="(P,) mean factor return per period over the estimated dates.")
    std_errors_mean = property(lambda self: self._plain["std_errors"],
                               doc="(P,) plain standard errors of the mean factor returns.")
    tstats_mean = property(lambda self: self._plain["tstats"], doc="(P,) plain t-statistics.")
    pvalues_mean = property(lambda self: self._plain["pvalues"], doc="(P,) plain p-values.")
    nw_std_errors = property(lambda self: self._nw["std_errors"],
                             doc="(P,) Newey-West standard errors of the mean factor returns.")
    nw_tstats = property(lambda self: self._nw["tstats"], doc="(P,) Newey-West t-statistics.")
    nw_pvalues = property(lambda self: self._nw["pvalues"], doc="(P,) Newey-West p-values.")
    nw_bandwidth = property(lambda self: self._nw["bandwidth"],
                            doc="Newey-West bandwidth (automatic rule; NaN if too few dates).")
    n_periods = property(lambda self: self._plain["n_periods"], doc="(P,) dates per factor.")

    def fama_macbeth(self, cov: str = "kernel", bandwidth: float | None = None) -> dict:
        """Fama-MacBeth inference on the factor returns with a chosen covariance/bandwidth.

        Returns the dict of :func:`fama_macbeth_inference` (``nan_policy="column"``).
        """
        return fama_macbeth_inference(self._factor_returns, cov, bandwidth, nan_policy="column")

    def summary(self, print_: bool = False) -> str:
        """Text table: mean factor returns, plain and Newey-West standard errors and t-stats."""
        T, N = self._residuals.shape
        m = self._model
        w = m.weights if isinstance(m.weights, str) else "array"
        any_used = self._n_obs > 0
        header = [
            ("Model", "Cross-sectional WLS"), ("Dates", str(T)),
            ("Assets", str(N)),
            ("Avg. obs per date", f"{np.mean(self._n_obs[any_used]):.1f}" if any_used.any() else "nan"),
            ("Avg. R-squared", f"{np.nanmean(self._r2):.4f}" if np.isfinite(self._r2).any() else "nan"),
            ("Exposure lag", str(m.lag)), ("Weights", str(w)),
            ("Industry constraint", str(m.industry_constraint)),
            ("NW bandwidth", f"{self.nw_bandwidth:g}"),
            ("Clipped returns", str(self.n_clipped_total)),
        ]
        rows = [
            (n, (self.mean_returns[i], self.std_errors_mean[i], self.tstats_mean[i],
                 self.nw_std_errors[i], self.nw_tstats[i], self.nw_pvalues[i],
                 int(self.n_periods[i])))
            for i, n in enumerate(self._factor_names)
        ]
        text = _table("Factor Model Summary (Fama-MacBeth over dates)", header,
                      ["Mean", "Std. Err.", "T-stat", "NW Std.Err", "NW T-stat", "NW P-value",
                       "Dates"], rows)
        if print_:
            print(text)
        return text

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        T, N = self._residuals.shape
        return f"FactorModelResult(T={T}, N={N}, factors={self._factor_names})"

    def to_polars(self, what: str = "factor_returns"):
        """Polars frames.

        ``"factor_returns"``, ``"tstats"``, ``"std_errors"``: wide (date × factor) frames;
        ``"residuals"``: long (date, asset, residual) over the observations used;
        ``"dates"``: per-date r2, n_obs, n_clipped; ``"summary"``: one row per factor with the
        Fama-MacBeth summary. Dates are ``exposures.dates`` or 0..T−1, assets ``exposures.assets``
        or 0..N−1.
        """
        import polars as pl

        T, N = self._residuals.shape
        date = _date_series(self.dates, T)
        if what in ("factor_returns", "tstats", "std_errors"):
            arr = getattr(self, what)
            return pl.DataFrame([date] + [pl.Series(n, arr[:, i])
                                          for i, n in enumerate(self._factor_names)])
        if what == "dates":
            return pl.DataFrame([date, pl.Series("r2", self._r2),
                                 pl.Series("n_obs", np.asarray(self._n_obs, dtype=np.int64)),
                                 pl.Series("n_clipped", np.asarray(self._n_clipped, dtype=np.int64))])
        if what == "residuals":
            tt, nn = np.nonzero(np.isfinite(self._residuals))
            assets = self.assets if self.assets is not None else np.arange(N)
            return pl.DataFrame([date.gather(tt), pl.Series("asset", np.asarray(assets)[nn]),
                                 pl.Series("residual", self._residuals[tt, nn])])
        if what == "summary":
            return pl.DataFrame({
                "factor": self._factor_names, "mean": self.mean_returns,
                "std_error": self.std_errors_mean, "tstat": self.tstats_mean,
                "nw_std_error": self.nw_std_errors, "nw_tstat": self.nw_tstats,
                "nw_pvalue": self.nw_pvalues, "n_dates": np.asarray(self.n_periods, dtype=np.int64),
            })
        raise ValueError(
            "what must be one of ['factor_returns', 'tstats', 'std_errors', 'residuals', 'dates', "
            f"'summary'], got {what!r}"
        )
