"""Portfolio optimisation on the factor risk model with cvxpy (Clarabel by default).

Time: everything used on a rebalance date ``t`` is known at the close of ``t``: the expected
returns ``alpha`` (a forecast of ``returns[t + 1 ..]``), the risk model of stored date ``t`` (its
row ``t`` is the risk forecast for ``returns[t + 1]``, built from exposures known at ``t``) and
the current weights ``w0``. The target weights trade at the close of ``t`` and earn
``returns[t + 1 ..]``. Nothing here shifts data.

The problem, for N assets and K factors (``[market] + industries + styles``)::

    maximise    αᵀw − λ·risk(w − b) − tcost(w − w0)
    risk(v)   = ‖Lᵀ y‖² + ‖√d ∘ v‖²,   y = Bᵀ v   (an auxiliary variable of size K)

with ``b`` the benchmark (0 without one), ``B`` (N × K) built as a sparse matrix from the industry
codes (one non-zero per asset) plus the market column and the dense style block, ``Σf = L Lᵀ``
(Cholesky; where ``Σf`` is only semi-definite, an eigen-decomposition with the negative
eigenvalues clipped to zero, as cvxportfolio does for vendor matrices) and ``d`` the specific
variances. The N × N covariance is never formed (only :func:`ferrofactor.baseline.optimize_dense`,
the full-covariance oracle of the tests and benchmarks, does). Units are those of the risk model
(daily): ``alpha`` per period, volatilities per period. The solver sees the objective divided by
its own scale (the largest of ``|α_i|``, ``λ·σ_i²`` and the cost rates), which moves no optimum:
the same problem in other units (``alpha × c`` with ``risk_aversion × c``) gives the same weights.

Constraints, all optional and combinable (see :func:`optimize`): long-only with a budget,
long-short with net and gross exposure, per-asset bounds, turnover, bounds on named factor
exposures, exact neutrality of named factors or groups, a cap on ex-ante volatility, and active
versions of the risk and exposure terms against a benchmark. After the solve every constraint is
checked again at the solution with numpy (``violations``, ``max_violation``): a result is ``ok``
only if the solver reports a solution and no constraint is broken by more than
:data:`VIOLATION_TOL`. The solver sees the ℓ1 limits (turnover, long-short gross) tightened by
``min(1e-9·n, 1e-3·limit)`` for n free assets, so that n per-asset residuals of the solver cannot
add up past the limit (:func:`_l1_margin`).
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from ferrofactor._validate import (
    as_float_array,
    by_label,
    check_bool,
    check_choice,
    check_int,
    check_real,
    values_by_label,
)
from ferrofactor.results import Result, Summary, readonly

__all__ = [
    "OptimizationResult",
    "OptimizationWarning",
    "Optimizer",
    "TransactionCost",
    "VIOLATION_TOL",
    "factor_root",
    "optimize",
]

#: A constraint counts as broken at the solution when it is violated by more than this (in its
#: own units: weights, exposures or per-period volatility). Clarabel's default tolerances (1e-8)
#: keep every check of the test suite below 1e-7.
VIOLATION_TOL = 1e-6

#: Default solver: Clarabel (an interior-point conic solver that ships with cvxpy).
DEFAULT_SOLVER = "CLARABEL"

FALLBACKS = (None, "hold", "top_n")
_PD_TOL = 1e-10
GROUPS = ("market", "industries", "styles")
_SOLVED = ("optimal", "optimal_inaccurate")
_SHOW = 5

# cvxpy's "Solution may be inaccurate" warning, silenced while ferrofactor solves (the status and
# the checks say it): one filter shared by the solves in progress, added by the first and removed
# by the last. Not warnings.catch_warnings(), which swaps the process-wide filter list: solves in
# several threads at once restored each other's copies and left the filter installed for good,
# hiding the warning from the user's own cvxpy problems afterwards.
_INACCURATE_LOCK = threading.Lock()
_INACCURATE_USERS = 0
_INACCURATE_ADDED = False  # whether the shared filter is ours (an identical one of the user's is kept)


def _is_inaccurate_filter(f: Any) -> bool:
    return (f[0] == "ignore" and f[2] is UserWarning and f[1] is not None
            and f[1].pattern == "Solution may be inaccurate" and f[3] is None and f[4] == 0)


class _QuietInaccurate:
    def __enter__(self) -> None:
        global _INACCURATE_USERS, _INACCURATE_ADDED
        with _INACCURATE_LOCK:
            if _INACCURATE_USERS == 0:
                _INACCURATE_ADDED = not any(_is_inaccurate_filter(f) for f in warnings.filters)
                if _INACCURATE_ADDED:
                    warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
            _INACCURATE_USERS += 1

    def __exit__(self, *exc: Any) -> None:
        global _INACCURATE_USERS
        with _INACCURATE_LOCK:
            _INACCURATE_USERS -= 1
            if _INACCURATE_USERS == 0 and _INACCURATE_ADDED:
                for i, f in enumerate(warnings.filters):
                    if _is_inaccurate_filter(f):
                        del warnings.filters[i]
                        break
                mutated = getattr(warnings, "_filters_mutated", None)
                if mutated is not None:  # (lets the warning's next call see the change)
                    mutated()


class OptimizationWarning(UserWarning):
    """A solve failed (infeasible, unbounded, solver error, or a constraint broken beyond
    :data:`VIOLATION_TOL`), or a fallback portfolio was used instead of the solution."""


def _import_cvxpy():
    try:
        import cvxpy as cp
    except ImportError as e:  # pragma: no cover - the test extra installs cvxpy
        raise ImportError(
            "ferrofactor.optimize needs cvxpy (with Clarabel): pip install \".[optimize]\" in the "
            "ferrofactor source tree, or pip install \"ferrofactor[optimize]\" from a package index"
        ) from e
    return cp


# ---------------------------------------------------------------------------------------------
# Factor-form pieces
# ---------------------------------------------------------------------------------------------


def factor_root(factor_covariance: Any) -> tuple[np.ndarray, np.ndarray, str, int]:
    """A square root of the factor covariance: ``Lt`` (r, K) with ``Ltᵀ Lt = Σf`` on the usable
    factors, so that ``yᵀ Σf y = ‖Lt y‖²``.

    Factors whose variance is not finite (too little history) are left out: their columns of
    ``Lt`` are zero and ``usable`` is False for them. On the usable block, the Cholesky factor
    when the block is positive definite (every pivot² above 1e-10 of the largest variance;
    ``method="cholesky"``, r = K usable); otherwise an
    eigen-decomposition ``V Λ Vᵀ`` with negative eigenvalues clipped to zero and the zero ones
    dropped (``method="eigen"``, ``Lt = Λ^½ Vᵀ``; ``n_clipped`` eigenvalues were negative), so a
    semi-definite matrix (e.g. a vendor's, or one with more factors than dates) still works.

    Returns
    -------
    Lt : ndarray (r, K)
    usable : ndarray of bool (K,)
    method : {"cholesky", "eigen"}
    n_clipped : int
    """
    fc = as_float_array("factor_covariance", factor_covariance, 2)
    if fc.shape[0] != fc.shape[1]:
        raise ValueError(f"factor_covariance must be square (K, K), got shape {fc.shape}")
    k = fc.shape[0]
    usable = np.isfinite(np.diagonal(fc)).copy()
    # Drop factors whose covariances with other usable factors are missing, most gaps first.
    while usable.any():
        block = fc[np.ix_(usable, usable)]
        bad = (~np.isfinite(block)).sum(axis=1)
        if not bad.any():
            break
        usable[np.flatnonzero(usable)[int(np.argmax(bad))]] = False
    cols = np.flatnonzero(usable)
    lt = np.zeros((0, k))
    if cols.size == 0:
        return lt, usable, "cholesky", 0
    block = fc[np.ix_(cols, cols)]
    block = 0.5 * (block + block.T)
    try:
        chol = np.linalg.cholesky(block)
        # Positive definite beyond rounding: every pivot² above 1e-10 of the largest variance
        # (the PSD tolerance of the risk model); else the semi-definite (eigen) route.
        if np.min(np.diagonal(chol)) ** 2 > _PD_TOL * np.max(np.diagonal(block)):
            lt = np.zeros((cols.size, k))
            lt[:, cols] = chol.T
            return lt, usable, "cholesky", 0
    except np.linalg.LinAlgError:
        pass
    vals, vecs = np.linalg.eigh(block)
    n_clipped = int((vals < 0).sum())
    keep = vals > max(vals.max(), 0.0) * vals.size * np.finfo(float).eps  # numerical zeros dropped
    lt = np.zeros((int(keep.sum()), k))
    lt[:, cols] = (vecs[:, keep] * np.sqrt(vals[keep])).T
    return lt, usable, "eigen", n_clipped


def _design(styles: np.ndarray, industry: np.ndarray, market: bool, n_industries: int):
    """B (N, K) as a scipy CSR matrix: a market column of ones, one non-zero per asset in its
    industry column (code -1: none), the dense style block (NaN → 0; such assets are not
    covered and are never free)."""
    import scipy.sparse as sp

    n, ks = styles.shape
    m = int(market)
    k = m + n_industries + ks
    rows, cols, vals = [], [], []
    if market:
        rows.append(np.arange(n))
        cols.append(np.zeros(n, np.int64))
        vals.append(np.ones(n))
    has = np.flatnonzero(industry >= 0)
    rows.append(has)
    cols.append(m + industry[has].astype(np.int64))
    vals.append(np.ones(has.size))
    if ks:
        rows.append(np.repeat(np.arange(n), ks))
        cols.append(np.tile(m + n_industries + np.arange(ks), n))
        vals.append(np.nan_to_num(styles, nan=0.0).reshape(-1))
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    return sp.csr_matrix((v, (r, c)), shape=(n, k))


# ---------------------------------------------------------------------------------------------
# Transaction costs
# ---------------------------------------------------------------------------------------------


class TransactionCost:
    """Transaction cost of a trade ``z = w − w0`` (weights), as a fraction of portfolio value::

        cost(z) = Σ_i (linear_bps_i / 10⁴)·|z_i|  +  Σ_i impact_i·σ_i·|z_i|^{3/2}·(value / volume_i)^{1/2}

    The second term is the 3/2-power market impact of cvxportfolio (its ``b·σ·|z|^{3/2} /
    (V/value)^{1/2}`` with exponent 3/2), off unless ``impact`` is given.

    Parameters
    ----------
    linear_bps : float or per-asset vector, default 0
        Proportional cost in basis points of the traded value (half spread, fees), ≥ 0.
    impact : float or per-asset vector, optional
        The market-impact coefficient ``b`` (of order 1), ≥ 0. Needs ``volume`` and ``value``.
    volume : per-asset vector, optional
        Expected traded value per period of each asset (same currency as ``value``, e.g. a
        rolling mean of ``dollar_volume`` known at the rebalance date). An asset with a volume
        that is NaN or ≤ 0 cannot be traded: it is held at ``w0`` (a note says so).
    value : float, optional
        Portfolio value (currency), > 0.
    volatility : per-asset vector, optional
        Per-period volatility ``σ_i`` of each asset; default: the risk model's forecast at the
        date, ``sqrt(b_iᵀ Σf b_i + d_i)``.

    A per-asset vector is an (N,) array in the risk model's asset order, or given by asset: a
    mapping ``{asset: value}`` or a pandas Series indexed by asset, paired with the risk model's
    assets by label at each solve (never by position; every asset must be given, in any order).
    A plain number, (N,) array or pandas Series wherever a ``tcost`` is accepted means
    ``linear_bps``.

    Examples
    --------
    >>> import ferrofactor as ff
    >>> tc = ff.TransactionCost(linear_bps=5.0)
    >>> tc.linear_bps
    5.0
    """

    def __init__(self, linear_bps: Any = 0.0, impact: Any = None, volume: Any = None,
                 value: float | None = None, volatility: Any = None) -> None:
        self.linear_bps = _nonneg("tcost.linear_bps", linear_bps)
        self.impact = None if impact is None else _nonneg("tcost.impact", impact)
        if self.impact is not None:
            if volume is None or value is None:
                raise ValueError("tcost.impact needs volume (N,) and value (the portfolio value)")
        self.value = check_real("tcost.value", value, lo=0.0, lo_open=True, allow_none=True)

        def check_volume(v: np.ndarray) -> None:
            if np.isinf(v).any():
                raise ValueError("tcost.volume must not be infinite (NaN or 0 = not tradable)")

        def check_volatility(s: np.ndarray) -> None:
            if not np.isfinite(s).all() or (s < 0).any():
                raise ValueError("tcost.volatility must be finite and non-negative")

        self.volume = self.volatility = None
        for name, x, check in (("volume", volume, check_volume), ("volatility", volatility, check_volatility)):
            if x is None:
                continue
            v = _by_asset(f"tcost.{name}", x, check)
            if v is None:
                v = as_float_array(f"tcost.{name}", x, 1)
                check(v)
            setattr(self, name, v)

    def __repr__(self) -> str:
        lin = self.linear_bps if isinstance(self.linear_bps, float) else "per asset"
        imp = "off" if self.impact is None else (self.impact if isinstance(self.impact, float) else "per asset")
        return f"TransactionCost(linear_bps={lin}, impact={imp})"

    @classmethod
    def _coerce(cls, tcost: Any) -> TransactionCost | None:
        if tcost is None or isinstance(tcost, TransactionCost):
            return tcost
        if isinstance(tcost, Mapping):
            return cls(**tcost)
        return cls(linear_bps=tcost)

    def _arrays(self, n: int, asset_vol: np.ndarray,
                assets: Any = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(linear coefficient (N,), impact coefficient (N,) or None, tradable-by-volume (N,));
        ``assets``: the risk model's labels, which the vectors given by asset are paired with."""
        lin = _per_asset("tcost.linear_bps", self.linear_bps, n, assets) / 1e4
        ok = np.ones(n, bool)
        vol = self.volume
        if isinstance(vol, Mapping):
            vol = _per_asset("tcost.volume", vol, n, assets)
        if vol is not None:  # with or without the impact term: no volume, no trade
            if vol.shape != (n,):
                raise ValueError(f"tcost.volume has shape {vol.shape}, expected ({n},)")
            ok = np.isfinite(vol) & (vol > 0)
        if self.impact is None:
            return lin, None, ok
        sig = self.volatility
        if sig is None:
            sig = asset_vol
        elif isinstance(sig, Mapping):
            sig = _per_asset("tcost.volatility", sig, n, assets)
        if sig.shape != (n,):
            raise ValueError(f"tcost.volatility has shape {sig.shape}, expected ({n},)")
        b = _per_asset("tcost.impact", self.impact, n, assets)
        with np.errstate(invalid="ignore", divide="ignore"):
            coef = np.where(ok, b * sig * np.sqrt(self.value / np.where(ok, vol, 1.0)), 0.0)
        return lin, coef, ok


def _ndim(name: str, x: Any) -> int:
    """``np.ndim(x)``, with ragged nested lists refused naming the argument."""
    try:
        return int(np.ndim(x))
    except ValueError as e:
        raise ValueError(f"{name} must be a number or a rectangular array: {e}") from None


def _by_asset(name: str, x: Any, check: Any) -> dict[Any, float] | None:
    """A per-asset setting given by asset label, a mapping ``{asset: value}`` or a pandas Series
    indexed by asset (:func:`ferrofactor._validate.by_label`), as that mapping with its values
    checked now (``check`` takes them as an array); it is paired with the risk model's assets at
    each solve (:func:`_per_asset`: every asset given). None for any other input."""
    x = by_label(name, x)
    if not isinstance(x, Mapping):
        return None
    vals = as_float_array(name, [np.nan if v is None else v for v in x.values()], 1)
    check(vals)
    return dict(zip(x.keys(), vals.tolist()))


def _nonneg(name: str, x: Any) -> Any:
    def check(a: np.ndarray) -> None:
        if not np.isfinite(a).all() or (a < 0).any():
            raise ValueError(f"{name} must be finite and non-negative")

    m = _by_asset(name, x, check)
    if m is not None:
        return m
    if _ndim(name, x) == 0:
        return check_real(name, x, lo=0.0)
    a = as_float_array(name, x, 1)
    check(a)
    return a


def _per_asset(name: str, x: Any, n: int, assets: Any = None) -> np.ndarray:
    """A scalar, an (N,) array, or a mapping by asset (paired with ``assets``, the risk model's
    labels: :func:`ferrofactor._validate.values_by_label`) as an (N,) array."""
    if isinstance(x, Mapping):
        return values_by_label(name, x, assets, of="the risk model")
    if _ndim(name, x) == 0:
        return np.full(n, float(x))  # checked by the caller (±inf = no bound)
    a = as_float_array(name, x, 1)
    if a.shape != (n,):
        raise ValueError(f"{name} has shape {a.shape}, expected ({n},) (one value per asset)")
    return a


# ---------------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------------


class OptimizationResult(Result):
    """The outcome of one portfolio optimisation (:func:`optimize`, :meth:`Optimizer.solve`).

    Attributes (read-only)
    ----------------------
    weights : ndarray (N,)
        Target weights, labelled by ``assets``: the solution, or the fallback portfolio when one
        was applied (``fallback``), or all NaN when the solve failed without a fallback.
    w0 : ndarray (N,)
        The current weights the trade starts from (0 when none were given).
    trades : ndarray (N,)
        ``weights − w0``.
    alpha : ndarray (N,)
        The expected returns used (NaN = no forecast: the asset was held fixed).
    free : ndarray of bool (N,)
        The assets the optimiser could move (tradable, covered by the risk model, finite alpha);
        the others were held at ``w0`` (not tradable) or at 0 (no forecast).
    exposures, active_exposures : ndarray (K,)
        Factor exposures ``Bᵀw`` and, with a benchmark, ``Bᵀ(w − b)`` (else None).
    status : str
        The solver's outcome: ``"optimal"``, ``"optimal_inaccurate"``, ``"infeasible"``,
        ``"unbounded"``, ``"solver_error"``, ...; ``"violated"`` when the solver reported a
        solution that breaks a constraint by more than :data:`VIOLATION_TOL` (its weights are
        kept for inspection; ``message`` names the constraint). A fallback does not change it.
    ok : bool
        True when a solution was found (``optimal`` or ``optimal_inaccurate``), no constraint is
        broken by more than :data:`VIOLATION_TOL` and no fallback was used.
    message : str
        What happened, in words (why a solve failed, what the fallback did).
    solver : str
    objective : float
        ``αᵀw − λ·risk − tcost`` at ``weights`` (per period).
    volatility : float
        Ex-ante volatility ``sqrt(wᵀΣw)`` per period (``volatility_annualized`` × sqrt(252)).
    active_volatility : float or None
        Tracking error ``sqrt((w − b)ᵀΣ(w − b))`` with a benchmark.
    risk_decomposition : RiskDecomposition or None
        The risk model's decomposition of ``weights`` (None when they hold an asset without a
        forecast, or when the solve failed).
    turnover : float
        ``‖w − w0‖₁``.
    cost, linear_cost, impact_cost : float
        Transaction cost of the trade (fraction of portfolio value) and its two parts.
    violations : dict of str → float
        Each active constraint's violation at ``weights`` (0 when it holds), checked with numpy.
    max_violation : float
        The largest of them (0.0 without constraints).
    fallback : {None, "hold", "top_n"}
        The fallback applied, if any.
    build_time, solve_time : float
        Seconds to build the problem (data, cvxpy expressions, compilation) and in the solver.
    iterations : int or None
        Solver iterations.
    factorization : str
        How ``Σf`` was factorised: ``"cholesky"`` or ``"eigen"`` (with clipping).
    notes : list of str
        Everything else worth knowing (assets held fixed, min_position dropped, ...).
    date, assets, factor_names
    """

    _arrays = {
        "weights": ("asset",), "w0": ("asset",), "trades": ("asset",), "alpha": ("asset",),
        "free": ("asset",), "exposures": ("factor",), "active_exposures": ("factor",),
    }
    _groups = {"holdings": ("weights", "w0", "trades", "alpha", "free")}
    _default_kind = "holdings"

    def __init__(self, **state: Any) -> None:
        self._s = state
        for k in ("weights", "w0", "trades", "alpha", "free", "exposures", "active_exposures", "assets"):
            # copies ((N,) or (K,): cheap): w0 and alpha were views of the caller's arrays, so a
            # loop updating its holdings in place (w[:] = res.weights) rewrote earlier results
            v = state.get(k)
            self._s[k] = readonly(v.copy() if isinstance(v, np.ndarray) and v.flags.writeable else v)

    def _get(name: str, doc: str = ""):  # noqa: N805 - a property factory used in the class body
        return property(lambda self: self._s[name], doc=doc)

    weights = _get("weights", "(N,) target weights.")
    w0 = _get("w0", "(N,) current weights.")
    trades = _get("trades", "(N,) weights − w0.")
    alpha = _get("alpha", "(N,) expected returns used (NaN = none).")
    free = _get("free", "(N,) bool: assets the optimiser could move.")
    exposures = _get("exposures", "(K,) factor exposures Bᵀw.")
    active_exposures = _get("active_exposures", "(K,) Bᵀ(w − b) with a benchmark, else None.")
    status = _get("status")
    message = _get("message")
    solver = _get("solver")
    objective = _get("objective")
    volatility = _get("volatility", "Ex-ante volatility per period.")
    active_volatility = _get("active_volatility", "Tracking error per period (with a benchmark).")
    risk_decomposition = _get("risk_decomposition")
    turnover = _get("turnover")
    cost = _get("cost")
    linear_cost = _get("linear_cost")
    impact_cost = _get("impact_cost")
    max_violation = _get("max_violation")
    fallback = _get("fallback")
    build_time = _get("build_time")
    solve_time = _get("solve_time")
    iterations = _get("iterations")
    factorization = _get("factorization")
    date = _get("date")
    assets = _get("assets", "(N,) asset labels, or None.")
    factor_names = property(lambda self: list(self._s["factor_names"]))
    violations = property(lambda self: dict(self._s["violations"]))
    notes = property(lambda self: list(self._s["notes"]))
    del _get

    @property
    def ok(self) -> bool:
        return bool(self._s["status"] in _SOLVED and self._s["max_violation"] <= VIOLATION_TOL
                    and self._s["fallback"] is None)

    @property
    def volatility_annualized(self) -> float:
        from ferrofactor.constants import PERIODS_PER_YEAR

        return float(self._s["volatility"] * np.sqrt(PERIODS_PER_YEAR))

    def __repr__(self) -> str:
        return (f"OptimizationResult(status={self.status!r}, ok={self.ok}, "
                f"volatility={self.volatility:.4g}, max_violation={self.max_violation:.2e})")

    def to_polars(self, kind: str | None = None, form: str = "wide") -> pl.DataFrame:
        """``"holdings"`` (default): one row per asset (weights, w0, trades, alpha, free); or
        any single array (``"weights"``, ``"exposures"``, ...)."""
        return super().to_polars(kind, form)

    def summary(self) -> Summary:
        """Status, risk, turnover and cost; the constraint checks; factor exposures; the largest
        positions."""
        from ferrofactor.constants import PERIODS_PER_YEAR

        s = self._s
        header = [
            ("Status", s["status"]), ("OK", self.ok), ("Solver", s["solver"]), ("Date", s["date"]),
            ("Objective", f"{s['objective']:.6g}"),
            ("Volatility (annualised)", f"{s['volatility'] * np.sqrt(PERIODS_PER_YEAR):.4%}"),
            ("Turnover", f"{s['turnover']:.4g}"), ("Cost", f"{s['cost']:.4g}"),
            ("Max violation", f"{s['max_violation']:.2e}"), ("Fallback", s["fallback"] or "none"),
            ("Free assets", int(np.sum(s["free"]))), ("Positions (|w| ≥ 1e-6)", int(np.sum(np.abs(np.nan_to_num(s["weights"])) >= 1e-6))),
            ("Build time (s)", f"{s['build_time']:.3f}"), ("Solve time (s)", f"{s['solve_time']:.3f}"),
        ]
        if s["active_volatility"] is not None:
            header.append(("Tracking error (annualised)",
                           f"{s['active_volatility'] * np.sqrt(PERIODS_PER_YEAR):.4%}"))
        viol = s["violations"]
        tables = []
        if viol:
            tables.append(("Constraints checked at the solution", pl.DataFrame({
                "constraint": list(viol), "violation": [float(v) for v in viol.values()],
            })))
        names = s["factor_names"]
        fx = {"factor": names, "exposure": np.asarray(s["exposures"], float)}
        if s["active_exposures"] is not None:
            fx["active_exposure"] = np.asarray(s["active_exposures"], float)
        tables.append(("Factor exposures", pl.DataFrame(fx)))
        w = np.asarray(s["weights"], float)
        if np.isfinite(w).all() and w.size:
            top = np.argsort(-np.abs(w), kind="stable")[:10]
            labels = [str(s["assets"][j]) if s["assets"] is not None else str(j) for j in top]
            tables.append(("Largest positions", pl.DataFrame({
                "asset": labels, "weight": w[top], "w0": np.asarray(s["w0"])[top],
            })))
        notes = [s["message"]] + list(s["notes"])
        return Summary("Portfolio optimisation", header, tables, notes)

    def plot(self, title: str | None = None) -> Any:
        """The portfolio's factor exposures ``Bᵀw`` as a bar chart coloured by group (market,
        industries, styles; seed 001's exposure bars), with the active exposures beside them
        when a benchmark was given; a matplotlib ``Figure`` (needs the ``plot`` extra)."""
        from ferrofactor.plotting import exposure_bars, factor_groups

        s = self._s
        groups = factor_groups(s["factor_names"], s.get("industry_names", ()), s.get("style_names", ()),
                               bool(s["factor_names"]) and s["factor_names"][0] == "market")
        if title is None:
            title = (f"Factor exposures on {s['date']} (volatility "
                     f"{self.volatility_annualized:.2%} a year, status {s['status']})")
        return exposure_bars(s["factor_names"], s["exposures"], groups=groups,
                             active=s["active_exposures"], title=title)


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


def _bound_arg(name: str, x: Any) -> Any:
    """A scalar, an (N,) array, or bounds by asset (a mapping or a pandas Series indexed by
    asset: :func:`_by_asset`) (±inf = no bound; NaN refused)."""
    if x is None:
        return None
    m = _by_asset(name, x, lambda a: _bound_arg(name, a))
    if m is not None:
        return m
    if _ndim(name, x) == 0:
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name} must be a number or an array, got {x!r}")
        v = float(x)
        if np.isnan(v):
            raise ValueError(f"{name} must not be NaN (use ±inf for no bound)")
        return v
    a = as_float_array(name, x, 1)
    if np.isnan(a).any():
        raise ValueError(f"{name} must not contain NaN (use ±inf for no bound); {int(np.isnan(a).sum())} found")
    return a


def _names_arg(name: str, x: Any) -> list[str] | None:
    if x is None:
        return None
    if isinstance(x, str):
        return [x]
    if not isinstance(x, Sequence) or not all(isinstance(v, str) for v in x):
        raise TypeError(f"{name} must be a factor name, a group {list(GROUPS)} or a list of them, got {x!r}")
    return list(x)


def _open_or_real(name: str, v: Any, open_side: float) -> float:
    """One side of a factor bound: a finite number, or ``None`` / ±inf on its own side (no bound,
    as for every optimiser bound); NaN and an infinity on the wrong side (an empty range) are
    refused."""
    if v is None:
        return open_side
    if (isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
            and np.isinf(v)):
        if float(v) != open_side:
            raise ValueError(f"{name} is {float(v)}: no exposure is within it (None, or -inf low / inf "
                             "high, means no bound)")
        return open_side
    return check_real(name, v)


def _factor_bounds_arg(x: Any) -> dict[str, tuple[float, float]] | None:
    if x is None:
        return None
    if not isinstance(x, Mapping):
        raise TypeError(f"factor_bounds must be a mapping {{factor or group: (low, high)}}, got {type(x).__name__}")
    out = {}
    for k, v in x.items():
        if not isinstance(k, str):
            raise TypeError(f"factor_bounds keys must be factor names or groups, got {k!r}")
        if not isinstance(v, (tuple, list)) or len(v) != 2:
            raise ValueError(f"factor_bounds[{k!r}] must be a pair (low, high) (None = open), got {v!r}")
        lo, hi = (_open_or_real(f"factor_bounds[{k!r}][{j}]", v[j], side) for j, side in ((0, -np.inf), (1, np.inf)))
        if lo > hi:
            raise ValueError(f"factor_bounds[{k!r}]: low {lo} > high {hi}")
        out[k] = (lo, hi)
    return out


class Optimizer:
    """A portfolio optimiser configured once and solved per rebalance date.

    ``Optimizer(**settings).solve(alpha, risk, date, w0)`` equals ``optimize(alpha, risk,
    date=date, w0=w0, **settings)``; the settings (constraints, solver, fallback) are validated
    once here. Parameters: those of :func:`optimize` except the per-date data (``alpha``,
    ``risk``, ``date``, ``w0``, ``benchmark``, ``tradable``); a ``tcost`` given here is the
    default of every solve and can be replaced per solve (volumes change by date).

    How re-solves work: **the factor-form problem is rebuilt with constants for every solve**
    (a sparse B, numbers for ``Lt`` and ``√d``, variables for the free assets only); cvxpy
    Parameters and DPP are not used. Measured (``benches/bench_optimize.py``, cvxpy 1.9.3,
    Clarabel 0.11.1, N=5000, K=71, long-only, 2 % cap, turnover 0.3; CPU seconds per re-solve on
    the shared 2-core machine):

    - B, ``Lt`` and ``√d`` as cvxpy Parameters (cvxportfolio's form): the first compile asks for
      a dense 14 GiB array (cvxpy's quadratic-coefficient extraction: N × every parameter
      entry) and fails under a 4 GB address-space cap;
    - a DPP form that compiles (the quadratic kept free of Parameters with auxiliaries
      ``u = √d∘w``, ``v = Lt y``; market and styles an N × 11 Parameter; industries a constant):
      first compile + solve 0.61 s, then 0.28 s per bare re-solve against 0.34 s for a
      rebuilt solve with its result and checks (Clarabel's interior-point solve is most of
      both, and cvxpy cannot warm-start it), but
      every asset must stay a variable, any change of the free set (listings, suspensions,
      assets without a forecast) or of an industry needs bounds that pin assets (degenerate
      rows) or a new compile, and the process holds 396 MiB against 208 MiB;
    - ``ignore_dpp=True`` on that problem: 0.32 s per bare re-solve, the cost of rebuilding.

    Rebuilding keeps each problem exactly as sparse as the data, holds no state between dates and
    handles any change of universe: 120 rebalances at N=5000 took 0.43 s of CPU each with a peak
    RSS of 267 MiB (``test_resolve_loop_memory``; the target is < 2 GB).

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> panel = ff.datasets.synthetic_universe(n_assets=200, n_days=300, seed=1)
    >>> risk = ff.RiskModel.from_factor_model(ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel)))
    >>> opt = ff.Optimizer(risk_aversion=5.0, max_weight=0.05, turnover=1.2)
    >>> alpha = np.random.default_rng(0).normal(0, 1e-3, 200)
    >>> w = None
    >>> for date in (-3, -2, -1):
    ...     res = opt.solve(alpha, risk, date, w0=w)
    ...     w = res.weights
    >>> res.ok, bool(abs(w.sum() - 1) < 1e-7), bool(w.max() <= 0.05 + 1e-7)
    (True, True, True)
    """

    def __init__(
        self,
        *,
        risk_aversion: float = 1.0,
        long_only: bool = True,
        budget: float | None = 1.0,
        net: float | None = None,
        gross: float | None = None,
        max_weight: Any = None,
        min_weight: Any = None,
        turnover: float | None = None,
        factor_bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
        neutral: str | Sequence[str] | None = None,
        max_volatility: float | None = None,
        tcost: Any = None,
        min_position: float | None = None,
        solver: Any = None,
        solver_options: Mapping[str, Any] | None = None,
        fallback: str | None = None,
        fallback_n: int = 50,
    ) -> None:
        self.risk_aversion = check_real("risk_aversion", risk_aversion, lo=0.0)
        self.long_only = check_bool("long_only", long_only)
        self.budget = check_real("budget", budget, allow_none=True)
        self.net = check_real("net", net, allow_none=True)
        if self.long_only and self.net is not None:
            raise ValueError("net applies to long-short portfolios (long_only=False); a long-only "
                             "portfolio's Σw is set by budget")
        if not self.long_only and self.budget not in (1.0, None):
            raise ValueError("budget applies to long-only portfolios; a long-short portfolio's Σw "
                             "is set by net (default 0; budget=None and net=None leave it free)")
        if not self.long_only and self.budget is None and self.net is not None:
            raise ValueError("budget=None leaves Σw free; do not combine it with net")
        self.gross = check_real("gross", gross, lo=0.0, lo_open=True, allow_none=True)
        self.max_weight = _bound_arg("max_weight", max_weight)
        self.min_weight = _bound_arg("min_weight", min_weight)
        self.turnover = check_real("turnover", turnover, lo=0.0, allow_none=True)
        self.factor_bounds = _factor_bounds_arg(factor_bounds)
        self.neutral = _names_arg("neutral", neutral)
        self.max_volatility = check_real("max_volatility", max_volatility, lo=0.0, lo_open=True,
                                         allow_none=True)
        self.tcost = TransactionCost._coerce(tcost)
        self.min_position = check_real("min_position", min_position, lo=0.0, allow_none=True)
        self.solver = _solver_name(solver)
        if solver_options is not None and not isinstance(solver_options, Mapping):
            raise TypeError(f"solver_options must be a mapping, got {type(solver_options).__name__}")
        self.solver_options = dict(solver_options or {})
        check_choice("fallback", fallback, FALLBACKS)
        self.fallback = fallback
        self.fallback_n = check_int("fallback_n", fallback_n, lo=1)

    @property
    def sum_target(self) -> float | None:
        """The Σw the constraints require (budget long-only, net long-short), or None (free)."""
        if self.long_only:
            return self.budget
        if self.budget is None:
            return None
        return 0.0 if self.net is None else self.net

    def __repr__(self) -> str:
        keys = ("risk_aversion", "long_only", "budget", "net", "gross", "turnover", "max_volatility",
                "neutral", "solver", "fallback")
        return "Optimizer(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in keys) + ")"

    # ------------------------------------------------------------------ solve
    def solve(self, alpha: Any, risk: Any, date: Any = -1, w0: Any = None, *, benchmark: Any = None,
              tradable: Any = None, tcost: Any = None) -> OptimizationResult:
        """Solve for one date. See :func:`optimize` for the arguments and the result."""
        return self._solve(alpha, risk, date, w0, benchmark, tradable, tcost)

    def _solve(self, alpha, risk, date, w0, benchmark, tradable, tcost) -> OptimizationResult:
        t_start = time.perf_counter()
        case = _Case(self, alpha, risk, date, w0, benchmark, tradable,
                     self.tcost if tcost is None else TransactionCost._coerce(tcost))
        return case.run(t_start)


def _solver_name(solver: Any) -> str:
    if solver is None:
        return DEFAULT_SOLVER
    if not isinstance(solver, str):
        raise TypeError(f"solver must be a solver name such as 'CLARABEL' (or cvxpy.CLARABEL), got {solver!r}")
    return solver.upper()


_INSTALLED: set[str] = set()  # solvers found installed (cvxpy's check imports every solver: 40 ms)


def _check_installed(name: str) -> None:
    cp = _import_cvxpy()
    if name in _INSTALLED:
        return
    installed = cp.installed_solvers()
    if name in installed:
        _INSTALLED.add(name)
    else:
        hint = (" ECOS is no longer installed with cvxpy (since 1.6): `pip install ecos` to use it, "
                "or keep the default CLARABEL." if name == "ECOS" else "")
        raise ValueError(
            f"solver {name!r} is not installed with cvxpy {cp.__version__}; installed: {installed}.{hint}"
        )


# ---------------------------------------------------------------------------------------------
# One solve
# ---------------------------------------------------------------------------------------------


def _l1_margin(limit: float, n: int) -> float:
    """How much tighter the solver sees an ℓ1 limit (turnover, gross) than the user gave it.

    Each of the n per-asset rows ``t_i ≥ |w_i − w0_i|`` holds only to the solver's residual
    (≈ 1e-10 with Clarabel's defaults); summed over n = 5000 assets that reached 4e-7 in the
    benchmark loop. ``min(1e-9·n, 1e-3·limit)`` keeps the true ``‖·‖₁`` below the limit without
    tightening the solver's tolerances (which costs ~25 % more iterations)."""
    return min(1e-9 * n, 1e-3 * limit)


def _asset_vector(name: str, x: Any, risk: Any, fill: float) -> np.ndarray:
    """An (N,) float vector from an array, a Polars Series, a mapping {asset: value}, a pandas
    Series indexed by asset (read as that mapping, by label) or a Polars frame (``asset`` + one
    value column); assets not listed get ``fill``."""
    n = risk._spec.shape[1]
    x = by_label(name, x)
    is_frame = type(x).__name__ == "DataFrame" and (type(x).__module__ or "").startswith("polars")
    if isinstance(x, Mapping) or is_frame:
        if isinstance(x, Mapping):
            keys, vals = list(x.keys()), list(x.values())
        else:
            others = [c for c in x.columns if c != "asset"]
            if "asset" not in x.columns or len(others) != 1:
                raise ValueError(f"{name} frame must have an 'asset' column and one value column, got {x.columns}")
            keys, vals = x["asset"].to_list(), x[others[0]].to_list()
        if risk._assets is None:
            raise ValueError(f"{name} by asset needs a risk model with asset labels; pass an (N,) array")
        pos = {a: j for j, a in enumerate(risk._assets.tolist())}
        unknown = [k for k in keys if str(k) not in pos]
        if unknown:
            raise ValueError(f"{name} names assets the risk model does not have: {unknown[:_SHOW]}")
        idx = np.array([pos[str(k)] for k in keys], dtype=np.int64)
        twice = np.flatnonzero(np.bincount(idx, minlength=n) > 1)
        if twice.size:  # a frame's duplicate rows, or the keys 3 and "3": never the last one silently
            raise ValueError(f"{name} names asset {str(risk._assets[int(twice[0])])!r} twice "
                             f"({twice.size} assets given more than once)")
        out = np.full(n, fill)
        out[idx] = as_float_array(name, [np.nan if v is None else v for v in vals], 1)
        return out
    a = as_float_array(name, x, 1)
    if a.shape != (n,):
        raise ValueError(f"{name} has shape {a.shape}, expected ({n},) (the risk model's assets)")
    return a


class _Case:
    """The data of one solve, the cvxpy problem, and the checks at the solution."""

    def __init__(self, opt: Optimizer, alpha, risk, date, w0, benchmark, tradable, tcost) -> None:
        from ferrofactor.risk import RiskModel

        if not isinstance(risk, RiskModel):
            raise TypeError(f"risk must be a fitted ferrofactor.RiskModel, got {type(risk).__name__}")
        i = risk._date(date)  # NotFittedError when unfitted
        n = risk._spec.shape[1]
        self.opt, self.risk, self.i, self.n = opt, risk, i, n
        self.date = risk._dates[i] if risk._dates is not None else i
        self.notes: list[str] = []

        # -- per-date data ---------------------------------------------------------------
        a = _asset_vector("alpha", alpha, risk, np.nan)
        if np.isinf(a).any():
            raise ValueError("alpha must not contain infinite values (NaN = no forecast)")
        self.alpha = a
        if w0 is None:
            w0v = np.zeros(n)
        elif isinstance(w0, OptimizationResult):
            w0v = np.asarray(w0.weights, float).copy()
            prev = w0.assets
            if prev is not None and risk._assets is not None and not (
                    len(prev) == n and np.array_equal(np.asarray(prev), np.asarray(risk._assets))):
                # another risk model's result (assets in another order, listings): by label, as
                # a mapping {asset: weight}, never by position; an asset it holds at 0 (delisted
                # since) is not a holding, one it holds that this model lacks is refused
                held = {a: v for a, v in zip(np.asarray(prev).tolist(), w0v.tolist()) if v != 0}
                w0v = _asset_vector("w0", held, risk, 0.0)
            elif w0v.shape != (n,):
                raise ValueError(f"w0 (an OptimizationResult) has {w0v.size} assets, the risk model {n}")
        else:
            w0v = _asset_vector("w0", w0, risk, 0.0)
        if not np.isfinite(w0v).all():
            raise ValueError(f"w0 must be finite ({int((~np.isfinite(w0v)).sum())} non-finite values; "
                             "a failed OptimizationResult has NaN weights)")
        self.w0 = w0v
        self.has_bench = benchmark is not None
        b = np.zeros(n) if benchmark is None else _asset_vector("benchmark", benchmark, risk, 0.0)
        if not np.isfinite(b).all():
            raise ValueError("benchmark must be finite")
        self.b = b
        tradable = by_label("tradable", tradable)
        if tradable is None:
            trad = np.ones(n, bool)
        elif isinstance(tradable, Mapping):
            trad = values_by_label("tradable", tradable, risk._assets, of="the risk model", boolean=True)
        else:
            trad = np.asarray(tradable.to_numpy() if hasattr(tradable, "to_numpy") else tradable)
            if trad.dtype != bool:
                raise TypeError(f"tradable must be a boolean array, got dtype {trad.dtype}")
            if trad.shape != (n,):
                raise ValueError(f"tradable has shape {trad.shape}, expected ({n},)")
        # -- the model at the date -------------------------------------------------------
        st, ind, market, g = risk._args(i)
        self.names = list(risk._names)
        self.K = len(self.names)
        self.m, self.g, self.ks = int(market), g, st.shape[1]
        fc = risk._cov[i]
        self.lt, usable, self.factorization, n_clip = factor_root(fc)
        if n_clip:
            self.notes.append(f"Σf had {n_clip} negative eigenvalues, clipped to 0")
        self.B = _design(st, ind, market, g)
        covered = risk._covered(i).copy()
        if not usable.all():
            exposed = np.asarray(abs(self.B[:, ~usable]).sum(axis=1)).ravel() > 0
            lost = covered & exposed
            if lost.any():
                self.notes.append(f"{int(lost.sum())} assets are exposed to factors without a "
                                  f"covariance on this date ({[self.names[k] for k in np.flatnonzero(~usable)][:_SHOW]}) "
                                  "and have no forecast")
            covered &= ~exposed
        self.covered = covered
        d = np.where(covered, risk._spec[i], 0.0)
        self.sd = np.sqrt(d)
        # Rows of assets without a forecast are dropped from the risk and exposure terms.
        import scipy.sparse as sp

        self.B = sp.diags(covered.astype(float)) @ self.B
        self.B = self.B.tocsr()
        # -- transaction costs -----------------------------------------------------------
        self.tcost = tcost
        if tcost is not None:
            bl = np.asarray(self.B @ self.lt.T)
            asset_vol = np.sqrt((bl ** 2).sum(axis=1) + d)
            self.lin, self.imp, vol_ok = tcost._arrays(n, asset_vol, risk._assets)
            no_vol = ~vol_ok & trad
            if no_vol.any():
                self.notes.append(f"{int(no_vol.sum())} assets without volume (tcost.volume NaN or ≤ 0) "
                                  "were held at w0")
            trad = trad & vol_ok
        else:
            self.lin, self.imp = np.zeros(n), None
        self.tradable = trad
        # -- free and fixed assets -------------------------------------------------------
        self.free = trad & covered & np.isfinite(a)
        self.fixed_w = np.where(trad, 0.0, w0v)
        held_unforecast = ~self.free & ~covered & (self.fixed_w != 0)
        if held_unforecast.any():
            self.notes.append(f"{int(held_unforecast.sum())} assets held at w0 have no risk forecast: "
                              "they are left out of the risk and exposure terms")
        if self.has_bench:
            bad = (b != 0) & ~covered
            if bad.any():
                idx = np.flatnonzero(bad)
                raise ValueError(
                    f"benchmark holds {idx.size} assets without a risk forecast on {self.date}: "
                    f"{[self._label(j) for j in idx[:_SHOW]]}; the active risk is not defined"
                )
        # -- bounds ----------------------------------------------------------------------
        lb = _per_asset("min_weight", -np.inf if opt.min_weight is None else opt.min_weight, n, risk._assets)
        ub = _per_asset("max_weight", np.inf if opt.max_weight is None else opt.max_weight, n, risk._assets)
        if opt.long_only:
            lb = np.maximum(lb, 0.0)
        if np.any(lb > ub):
            j = int(np.flatnonzero(lb > ub)[0])
            raise ValueError(f"min_weight {lb[j]} > max_weight {ub[j]} for asset {self._label(j)}")
        self.lb, self.ub = lb, ub
        # -- factor constraints ----------------------------------------------------------
        self.neutral_idx = (np.array([], np.int64) if not opt.neutral  # (None or [])
                            else np.unique(np.concatenate([self._factors("neutral", s) for s in opt.neutral])))
        self.fb: list[tuple[str, np.ndarray, float, float]] = []
        if opt.factor_bounds:
            for key, (lo, hi) in opt.factor_bounds.items():
                self.fb.append((key, self._factors(f"factor_bounds[{key!r}]", key), lo, hi))

    def _label(self, j: int) -> str:
        return str(self.risk._assets[j]) if self.risk._assets is not None else f"#{j}"

    def _factors(self, arg: str, name: str) -> np.ndarray:
        if name in self.names:
            return np.array([self.names.index(name)])
        if name == "market":
            if not self.m:
                raise ValueError(f"{arg}: the risk model has no market factor")
            return np.array([0])
        if name == "industries":
            return self.m + np.arange(self.g)
        if name == "styles":
            return self.m + self.g + np.arange(self.ks)
        raise ValueError(f"{arg}: unknown factor {name!r}; factors: {self.names[:8]}"
                         f"{'...' if len(self.names) > 8 else ''}, groups: {list(GROUPS)}")

    # ------------------------------------------------------------------ problem
    def build(self):
        """The cvxpy problem over the free assets' weights ``x`` and the exposures ``y``."""
        cp = _import_cvxpy()
        opt = self.opt
        f = self.free
        fixed = ~f
        nf = int(f.sum())
        x = cp.Variable(nf, name="w")
        y = cp.Variable(self.K, name="y")
        bf = self.B[f]
        wfix = np.where(fixed, self.fixed_w, 0.0)
        c = self.B.T @ (wfix - self.b)  # exposures of the fixed part, minus the benchmark's
        cons = [y == bf.T @ x + c]
        sd_f = self.sd[f]
        spec = cp.multiply(sd_f, x) - sd_f * self.b[f]
        fix_spec = float(np.sum((self.sd * (wfix - self.b))[fixed] ** 2))
        fac = self.lt @ y
        risk = cp.sum_squares(fac) + cp.sum_squares(spec)
        # -- trades, turnover, costs
        w0f = self.w0[f]
        forced = np.abs(wfix - self.w0)[fixed]
        self.forced_turnover = float(forced.sum())
        need_t = opt.turnover is not None or np.any(self.lin[f] > 0) or (self.imp is not None and np.any(self.imp[f] > 0))
        cost = 0.0
        if need_t:
            t = cp.Variable(nf, name="trade")
            cons += [t >= x - w0f, t >= w0f - x]
            if opt.turnover is not None:
                cons.append(cp.sum(t) + self.forced_turnover <= opt.turnover - _l1_margin(opt.turnover, nf))
            if np.any(self.lin[f] > 0):
                cost = cost + self.lin[f] @ t
            if self.imp is not None and np.any(self.imp[f] > 0):
                cost = cost + self.imp[f] @ cp.power(t, 1.5)
        # -- bounds and sums
        lbf, ubf = self.lb[f], self.ub[f]
        if np.isfinite(lbf).any():
            j = np.isfinite(lbf)
            cons.append(x[j] >= lbf[j]) if not j.all() else cons.append(x >= lbf)
        if np.isfinite(ubf).any():
            j = np.isfinite(ubf)
            cons.append(x[j] <= ubf[j]) if not j.all() else cons.append(x <= ubf)
        s = opt.sum_target
        if s is not None:
            cons.append(cp.sum(x) == s - float(wfix.sum()))
        if opt.gross is not None:
            g_fix = float(np.abs(wfix).sum())
            if opt.long_only:
                cons.append(cp.sum(x) + g_fix <= opt.gross)
            else:
                cons.append(cp.norm1(x) + g_fix <= opt.gross - _l1_margin(opt.gross, nf))
        # -- factor constraints (active with a benchmark)
        if self.neutral_idx.size:
            cons.append(y[self.neutral_idx] == 0)
        for _, idx, lo, hi in self.fb:
            if np.isfinite(lo):
                cons.append(y[idx] >= lo)
            if np.isfinite(hi):
                cons.append(y[idx] <= hi)
        if opt.max_volatility is not None:
            parts = [fac, spec] + ([np.array([np.sqrt(fix_spec)])] if fix_spec > 0 else [])
            cons.append(cp.norm(cp.hstack(parts), 2) <= opt.max_volatility)
        a_f = self.alpha[f]
        obj = a_f @ x - opt.risk_aversion * risk - cost
        return cp.Problem(cp.Maximize(obj / self._objective_scale(f)), cons), x

    def _objective_scale(self, f: np.ndarray) -> float:
        """The size of the objective's coefficients over the free assets ``f``: the largest of
        ``|α_i|``, ``λ·σ_i²`` (an asset's variance) and its cost rates. The objective is divided by
        it, which moves no optimum, because the solver's stopping rule has an absolute part
        (Clarabel: a duality gap of 1e-8): with alphas of 1e-9 (a score in small units, returns
        in small units with λ to match) the objective is ~1e-10 and the solve stopped hundreds of
        times short, with weights 4e-4 off the optimum and twice the positions; the same
        problem in other units gives the same weights now."""
        opt = self.opt
        parts = [np.abs(self.alpha[f]).max(initial=0.0), np.abs(self.lin[f]).max(initial=0.0)]
        if self.imp is not None:
            parts.append(np.abs(self.imp[f]).max(initial=0.0))
        if opt.risk_aversion > 0:
            bl = np.asarray(self.B[f] @ self.lt.T)
            var = (bl ** 2).sum(axis=1) + self.sd[f] ** 2
            parts.append(opt.risk_aversion * var.max(initial=0.0))
        scale = max(parts)
        return float(scale) if np.isfinite(scale) and scale > 0 else 1.0

    # ------------------------------------------------------------------ run
    def run(self, t_start: float) -> OptimizationResult:
        cp = _import_cvxpy()
        opt = self.opt
        _check_installed(opt.solver)
        n = self.n
        nf = int(self.free.sum())
        status, message, iters, x_val = "optimal", "", None, np.zeros(0)
        compile_time = solve_time = 0.0
        if nf == 0:
            build_time = time.perf_counter() - t_start
            status = "optimal"
            message = self._no_free_message()
        else:
            prob, x = self.build()
            build_time = time.perf_counter() - t_start
            t0 = time.perf_counter()
            try:
                with _QuietInaccurate():
                    # cvxpy's "solution may be inaccurate": the status and the checks say it here.
                    prob.solve(solver=opt.solver, **opt.solver_options)
                status = prob.status
                compile_time = float(prob.compilation_time or 0.0)
                iters = prob.solver_stats.num_iters if prob.solver_stats is not None else None
            except TypeError as e:
                if not opt.solver_options:
                    raise
                # the solver's own words ("'bogus' is an invalid keyword argument for this
                # function" from SCS) do not say which argument of ours holds the setting
                raise TypeError(f"solver_options {sorted(opt.solver_options)} refused by {opt.solver}: {e}") from None
            except cp.error.SolverError as e:
                status = "solver_error"
                if "cannot solve this problem" in str(e):
                    # the problem's form, not its constraints' values: no relaxing helps
                    message = self._unsupported_message()
                else:
                    message = (f"{opt.solver} failed ({e}); possible causes: " + "; ".join(self._diagnose()))
            total = time.perf_counter() - t0
            solve_time = max(total - compile_time, 0.0)
            build_time += compile_time
            if status in cp.settings.SOLUTION_PRESENT and x.value is not None:
                x_val = np.asarray(x.value, float)
        solved = status in cp.settings.SOLUTION_PRESENT and (nf == 0 or x_val.size == nf)
        w = np.full(n, np.nan)
        if solved:
            w = self.fixed_w.copy()
            w[self.free] = x_val
            w[~self.free] = self.fixed_w[~self.free]
        viol = self.violations(w) if solved else {}
        maxv = max(viol.values(), default=0.0) if solved else np.inf
        if solved and status not in _SOLVED:
            message = f"{opt.solver} stopped early ({status})"
        if solved and nf == 0 and maxv > VIOLATION_TOL:
            # nothing was solved: the fixed weights alone break a constraint (e.g. the budget
            # while the risk model covers no asset yet)
            worst = max(viol, key=viol.get)
            status = "infeasible"
            message += f"; the fixed weights break {worst} by {viol[worst]:.3g}"
            solved, w, viol, maxv = False, np.full(n, np.nan), {}, np.inf  # a failed solve
        elif solved and maxv > VIOLATION_TOL:
            worst = max(viol, key=viol.get)
            message = (f"{opt.solver} returned '{status}' but {worst} is violated by {viol[worst]:.3g} "
                       f"(> {VIOLATION_TOL:g}) at the solution")
        elif solved and status == "optimal" and not message:
            message = f"{opt.solver}: optimal"
        if solved and maxv <= VIOLATION_TOL and status in _SOLVED:
            if opt.min_position:
                w, viol, maxv = self._drop_small(w, viol, maxv)
        failed = not (solved and status in _SOLVED and maxv <= VIOLATION_TOL)
        if solved and maxv > VIOLATION_TOL:
            status = "violated"  # a "solution" that breaks a constraint is not one
        if not solved and not message:
            message = self._failure_message(status)
        fallback = None
        if failed:
            if opt.fallback is not None:
                fallback = opt.fallback
                w = self._fallback(opt.fallback)
                viol = self.violations(w)
                maxv = max(viol.values(), default=0.0)
                message += (f"; fallback {opt.fallback!r} applied"
                            + ("" if maxv <= VIOLATION_TOL else f" (it breaks {max(viol, key=viol.get)} by {maxv:.3g})"))
            else:
                message += "; no fallback requested (fallback='top_n' or 'hold'): weights are NaN" \
                    if not solved else ""
            # user → optimize() or Optimizer.solve() → Optimizer._solve → run
            warnings.warn(f"optimize on {self.date}: {message}", OptimizationWarning, stacklevel=4)
        return self._result(w, status, message, viol, maxv, fallback, build_time, solve_time, iters)

    def _no_free_message(self) -> str:
        """Why no asset's weight is free: how many assets lack a risk forecast, and why."""
        risk, i = self.risk, self.i
        no_fc = ~self.covered
        parts = []
        if no_fc.any():
            why = []
            no_spec = ~np.isfinite(risk._spec[i])
            if no_spec.all():
                why.append("no specific variance yet (too little history)")
            elif no_spec.any():
                why.append(f"{int(no_spec.sum())} without a specific variance")
            unknown = ~risk._exposed(i)
            if unknown.any():
                why.append(f"{int(unknown.sum())} with a missing style exposure")
            unest, factors = risk._unestimated(i)
            if unest.any():
                why.append(f"{int(unest.sum())} exposed to factors whose variance is not estimated "
                           f"yet ({factors[:_SHOW]}{'...' if len(factors) > _SHOW else ''})")
            parts.append(f"{int(no_fc.sum())} of {self.n} assets have no risk forecast on {self.date}"
                         + (f" ({'; '.join(why)})" if why else ""))
        not_trad = ~self.tradable & self.covered
        if not_trad.any():
            parts.append(f"{int(not_trad.sum())} are not tradable")
        no_alpha = self.covered & self.tradable & ~np.isfinite(self.alpha)
        if no_alpha.any():
            parts.append(f"{int(no_alpha.sum())} have no alpha")
        return "no free asset: " + ("; ".join(parts) if parts else "every asset is held fixed")

    def _unsupported_message(self) -> str:
        """Why the chosen solver cannot take this problem at all: the forms it holds."""
        opt = self.opt
        forms = []
        if opt.risk_aversion > 0:
            forms.append("a quadratic objective (risk_aversion > 0)")
        if opt.max_volatility is not None:
            forms.append("a second-order cone (max_volatility)")
        if self.imp is not None and np.any(self.imp[self.free] > 0):
            forms.append("a power cone (the 3/2-power impact cost of tcost)")
        return (f"solver {opt.solver!r} cannot solve this problem, which has "
                f"{', '.join(forms) if forms else 'only linear terms'}: use 'CLARABEL' (the default) or "
                "'SCS', which solve every form the optimiser builds")

    def _failure_message(self, status: str) -> str:
        if status.startswith("infeasible"):
            return (f"{self.opt.solver}: {status} — no portfolio satisfies the constraints: "
                    + "; ".join(self._diagnose()))
        if status.startswith("unbounded"):
            return (f"{self.opt.solver}: {status} — the objective can grow without limit: add "
                    "risk_aversion > 0, bounds, a budget or a gross limit")
        return (f"{self.opt.solver}: {status} (numerical failure); possible causes: "
                + "; ".join(self._diagnose()))

    def _diagnose(self) -> list[str]:
        """Simple reasons a problem is infeasible, checked one constraint family at a time."""
        opt, f = self.opt, self.free
        out = []
        nf = int(f.sum())
        wfix_sum = float(np.where(~f, self.fixed_w, 0.0).sum())
        s = opt.sum_target
        if s is not None:
            hi = float(np.sum(self.ub[f])) + wfix_sum
            lo = float(np.sum(self.lb[f])) + wfix_sum
            what = "budget" if opt.long_only else "net"
            if s > hi + VIOLATION_TOL:
                out.append(f"the upper bounds (max_weight) of the {nf} free assets allow Σw ≤ {hi:.6g} "
                           f"< {what} {s:g}")
            if s < lo - VIOLATION_TOL:
                out.append(f"the lower bounds (min_weight, long_only) of the {nf} free assets force "
                           f"Σw ≥ {lo:.6g} > {what} {s:g}")
            if opt.gross is not None:
                # the held assets' gross, plus what the free assets must add to reach the sum
                g_fix = float(np.abs(np.where(~f, self.fixed_w, 0.0)).sum())
                need = g_fix + abs(s - wfix_sum)
                if need > opt.gross + VIOLATION_TOL:
                    out.append(f"|{what}| {abs(s):g} > gross {opt.gross:g}" if g_fix == 0 else
                               f"reaching {what} {s:g} needs gross ≥ {need:.6g} > gross {opt.gross:g} (the "
                               f"assets held fixed have gross {g_fix:.6g} and Σw {wfix_sum:.6g})")
            if opt.turnover is not None and self.forced_turnover <= opt.turnover + VIOLATION_TOL:
                # the free assets' Σw must move from Σ w0 to what the fixed weights leave of the
                # target, on top of the trades forced on the fixed assets (held at 0 without a
                # forecast): the least turnover any portfolio meeting the sum needs
                w0_free = float(self.w0[f].sum())
                need = self.forced_turnover + abs(s - wfix_sum - w0_free)
                if need > opt.turnover + VIOLATION_TOL:
                    forced = (f" and {self.forced_turnover:.6g} forced on assets held fixed (no forecast)"
                              if self.forced_turnover > 0 else "")
                    out.append(f"reaching {what} {s:g} needs turnover ≥ {need:.6g} > turnover {opt.turnover:g} "
                               f"(the free assets' Σw from {w0_free:.6g} to {s - wfix_sum:.6g}{forced})")
        if opt.turnover is not None and self.forced_turnover > opt.turnover + VIOLATION_TOL:
            out.append(f"assets held fixed (no forecast) must trade {self.forced_turnover:.6g} "
                       f"> turnover {opt.turnover:g}")
        if opt.long_only and s is not None and s > 0 and self.neutral_idx.size and not self.has_bench:
            # Long-only, neutral to factors every free asset is exposed to with one sign
            # (market, industries): every asset exposed to them must be 0.
            bf = self.B[f][:, self.neutral_idx].toarray()
            one_sign = (bf >= 0).all(axis=0) | (bf <= 0).all(axis=0)
            if one_sign.any():
                forced = (bf[:, one_sign] != 0).any(axis=1)
                cap = float(np.sum(self.ub[f][~forced])) + wfix_sum
                if cap < s - VIOLATION_TOL:
                    names = [self.names[k] for k in self.neutral_idx[one_sign]]
                    out.append(f"long-only neutrality to {names[:_SHOW]}{'...' if len(names) > _SHOW else ''} "
                               f"(without a benchmark) forces the {int(forced.sum())} free assets exposed "
                               f"to them to 0; the other {int((~forced).sum())} allow Σw ≤ {cap:.6g} < budget {s:g}")
        if not out:
            out.append("no single constraint is infeasible on its own, their combination is "
                       "(relax turnover, neutral, factor_bounds, max_volatility or the bounds)")
        return out

    def _drop_small(self, w, viol, maxv):
        f = self.free
        small = f & (w != 0) & (np.abs(w) < self.opt.min_position)
        if not small.any():
            return w, viol, maxv
        w2 = w.copy()
        w2[small] = 0.0
        for sign in (1.0, -1.0):
            side = f & (sign * w > 0)
            kept = side & ~small
            before, after = w[side].sum(), w2[kept].sum()
            if kept.any() and after != 0:
                w2[kept] *= before / after
        viol2 = self.violations(w2)
        maxv2 = max(viol2.values(), default=0.0)
        if maxv2 <= VIOLATION_TOL:
            self.notes.append(f"min_position: {int(small.sum())} positions below {self.opt.min_position:g} "
                              "dropped and the rest rescaled")
            return w2, viol2, maxv2
        worst = max(viol2, key=viol2.get)
        self.notes.append(f"min_position not applied: dropping {int(small.sum())} positions and "
                          f"rescaling would break {worst} by {viol2[worst]:.3g}")
        return w, viol, maxv

    def _fallback(self, kind: str) -> np.ndarray:
        if kind == "hold":
            return self.w0.copy()
        from ferrofactor.construct import top_n

        opt, f = self.opt, self.free
        w = np.where(~f, self.fixed_w, 0.0)
        score = np.where(f, self.alpha, np.nan)
        n = self.opt.fallback_n
        if opt.long_only:
            s = 1.0 if opt.budget is None else opt.budget
            # what the held assets leave of the budget; never negative (held weights above it
            # made the fallback short the highest-alpha assets of a long-only book)
            w += top_n(score, n) * max(s - w.sum(), 0.0)
        else:
            # top and bottom n of the M free assets, n ≤ M // 2 so that the two sides never
            # share an asset (they cancelled: 60 free assets and n = 50 gave a gross of 0.2)
            from ferrofactor.construct import _select

            g = 1.0 if opt.gross is None else opt.gross
            k = min(n, int(np.isfinite(score).sum()) // 2)
            if k > 0:
                long, short = _select(score[None], np.array([k]), np.array([k]))
                w += 0.5 * g / k * (long[0].astype(float) - short[0].astype(float))
        return w

    # ------------------------------------------------------------------ checks
    def exposures(self, w: np.ndarray) -> np.ndarray:
        return np.asarray(self.B.T @ np.where(self.covered, w, 0.0))

    def variance(self, v: np.ndarray) -> float:
        vv = np.where(self.covered, v, 0.0)
        fac = self.lt @ (self.B.T @ vv)
        return float(fac @ fac + np.sum((self.sd * vv) ** 2))

    def violations(self, w: np.ndarray) -> dict[str, float]:
        """Each active constraint's violation at ``w`` (0 when it holds), with numpy."""
        opt, f = self.opt, self.free
        out: dict[str, float] = {}
        pos = lambda v: float(max(v, 0.0))  # noqa: E731
        out["held_fixed"] = float(np.max(np.abs(w - self.fixed_w)[~f], initial=0.0))
        if opt.long_only:
            out["long_only"] = pos(np.max(-w[f], initial=0.0))
        if opt.max_weight is not None:
            out["max_weight"] = pos(np.max((w - self.ub)[f], initial=0.0))
        if opt.min_weight is not None:
            out["min_weight"] = pos(np.max((self.lb - w)[f], initial=0.0))
        s = opt.sum_target
        if s is not None:
            out["budget" if opt.long_only else "net"] = abs(float(w.sum()) - s)
        if opt.gross is not None:
            out["gross"] = pos(np.abs(w).sum() - opt.gross)
        if opt.turnover is not None:
            out["turnover"] = pos(np.abs(w - self.w0).sum() - opt.turnover)
        if self.neutral_idx.size or self.fb:
            y = self.exposures(w - self.b)
            if self.neutral_idx.size:
                out["neutral"] = float(np.max(np.abs(y[self.neutral_idx])))
            for key, idx, lo, hi in self.fb:
                # (a group without members here, e.g. "styles" of a model without styles: 0)
                out[f"factor_bounds[{key}]"] = pos(max(np.max(lo - y[idx], initial=0.0),
                                                       np.max(y[idx] - hi, initial=0.0)))
        if opt.max_volatility is not None:
            out["max_volatility"] = pos(np.sqrt(self.variance(w - self.b)) - opt.max_volatility)
        return out

    def costs(self, w: np.ndarray) -> tuple[float, float]:
        z = np.abs(w - self.w0)
        lin = float(self.lin @ z)
        imp = 0.0 if self.imp is None else float(self.imp @ z ** 1.5)
        return lin, imp

    # ------------------------------------------------------------------ result
    def _result(self, w, status, message, viol, maxv, fallback, build_time, solve_time, iters):
        ok_w = np.isfinite(w).all()
        risk = self.risk
        if ok_w:
            var = self.variance(w)
            act = self.variance(w - self.b) if self.has_bench else None
            lin, imp = self.costs(w)
            x = self.exposures(w)
            dec = None
            if np.any(w != 0) and not np.any((w != 0) & ~risk._covered(self.i)):
                dec = risk.risk_decomposition(w, self.i)
            objective = float(np.nansum(self.alpha * w)
                              - self.opt.risk_aversion * (act if act is not None else var) - lin - imp)
        else:
            var = np.nan
            act = np.nan if self.has_bench else None
            lin = imp = np.nan
            x = np.full(self.K, np.nan)
            dec = None
            objective = np.nan
        return OptimizationResult(
            weights=w, w0=self.w0, trades=w - self.w0, alpha=self.alpha, free=self.free,
            exposures=x, active_exposures=(x - self.exposures(self.b)) if self.has_bench else None,
            status=status, message=message, solver=self.opt.solver, objective=objective,
            volatility=float(np.sqrt(var)), active_volatility=None if act is None else float(np.sqrt(act)),
            risk_decomposition=dec, turnover=float(np.abs(w - self.w0).sum()) if ok_w else np.nan,
            cost=lin + imp, linear_cost=lin, impact_cost=imp, violations=viol,
            max_violation=float(maxv), fallback=fallback, build_time=float(build_time),
            solve_time=float(solve_time), iterations=iters, factorization=self.factorization,
            notes=self.notes, date=self.date, assets=risk._assets, factor_names=self.names,
            industry_names=list(risk._exposures.industry_names), style_names=list(risk._exposures.style_names),
        )


# ---------------------------------------------------------------------------------------------
# The function
# ---------------------------------------------------------------------------------------------


def optimize(
    alpha: Any,
    risk: Any,
    *,
    date: Any = -1,
    w0: Any = None,
    risk_aversion: float = 1.0,
    long_only: bool = True,
    budget: float | None = 1.0,
    net: float | None = None,
    gross: float | None = None,
    max_weight: Any = None,
    min_weight: Any = None,
    turnover: float | None = None,
    factor_bounds: Mapping[str, tuple[float | None, float | None]] | None = None,
    neutral: str | Sequence[str] | None = None,
    max_volatility: float | None = None,
    benchmark: Any = None,
    tcost: Any = None,
    min_position: float | None = None,
    tradable: Any = None,
    solver: Any = None,
    solver_options: Mapping[str, Any] | None = None,
    fallback: str | None = None,
    fallback_n: int = 50,
) -> OptimizationResult:
    """Optimal portfolio weights on the factor risk model (risk in factor form, never N × N).

    Maximises ``αᵀw − λ·risk(w − b) − tcost(w − w0)`` subject to the constraints given (see the
    module docstring for the formulation). Time: ``alpha``, the risk model's ``date`` and ``w0``
    are known at the close of ``date``; the weights trade then and earn the following returns.

    Parameters
    ----------
    alpha : array_like (N,), mapping {asset: value}, pandas Series or Polars frame (asset, value)
        Expected returns per period (or a score): an array in the risk model's asset order; a
        mapping, a pandas Series indexed by asset (read as that mapping) or a frame paired by
        asset label, never by position. NaN (or an asset not listed) = no forecast: the asset is
        held at 0 (at ``w0`` if not tradable).
    risk : RiskModel
        A fitted risk model; its factor covariance, specific variances and exposures at ``date``
        are used through products (B sparse from the industry codes + the style block).
    date : date label or int, default -1
        Which of the risk model's stored dates (label such as ``"2024-01-31"`` or position).
    w0 : array_like (N,), mapping, pandas Series, or OptimizationResult, optional
        Current weights (default 0): the start of the trade (turnover, costs). By asset as for
        ``alpha`` (an asset not listed holds 0); an OptimizationResult of a risk model with
        other asset labels (another order or universe) is paired by its ``assets`` too.
    risk_aversion : float, default 1.0
        λ ≥ 0 in front of the per-period variance. λ = 0 maximises ``αᵀw`` alone (a linear
        programme: the seed's optimiser).
    long_only : bool, default True
        True: ``w ≥ 0`` and ``Σw = budget``. False: long-short with ``Σw = net``.
    budget : float or None, default 1.0
        Σw of a long-only portfolio. ``None``: no sum constraint (with ``long_only=False`` too:
        Σw free, e.g. the unconstrained mean-variance portfolio ``(1/2λ) Σ⁻¹ α``).
    net : float, optional
        Σw of a long-short portfolio (default 0).
    gross : float, optional
        ``‖w‖₁ ≤ gross`` (e.g. 1.6).
    max_weight, min_weight : float, array_like (N,), mapping or pandas Series, optional
        Per-asset bounds ``min_weight ≤ w ≤ max_weight`` (±inf = no bound), on the free assets.
        By asset (a mapping or a pandas Series indexed by asset), paired with the risk model's
        assets by label; every asset must be given.
        Long-only adds ``w ≥ 0``; for ``|w| ≤ c`` in long-short pass both.
    turnover : float, optional
        ``‖w − w0‖₁ ≤ turnover`` (the trades forced on assets without a forecast count).
    factor_bounds : mapping {factor or group: (low, high)}, optional
        Bounds on the factor exposures ``Bᵀw`` (``Bᵀ(w − b)`` with a benchmark); ``None`` in a
        pair (or −inf low, inf high) = open. Groups: ``"market"``, ``"industries"``,
        ``"styles"`` (each factor of it).
    neutral : factor name, group, or list of them, optional
        Exact neutrality ``(Bᵀw)_k = 0`` (active with a benchmark), e.g.
        ``["industries", "size"]``.
    max_volatility : float, optional
        Cap on the ex-ante volatility per period ``sqrt(wᵀΣw)`` (the tracking error with a
        benchmark): e.g. ``0.10 / np.sqrt(252)`` for 10% a year on a daily model.
    benchmark : array_like (N,), mapping or pandas Series, optional
        Benchmark weights ``b``: the risk term, ``max_volatility``, ``factor_bounds`` and
        ``neutral`` become active (relative to ``b``); bounds and sums stay on ``w``. By asset as
        for ``alpha`` (an asset not listed holds 0).
    tcost : float, array_like (N,), pandas Series, TransactionCost or mapping, optional
        Transaction cost (a number, array or pandas Series = linear bps; a mapping holds the
        arguments of :class:`TransactionCost`, which has the 3/2-power market impact).
    min_position : float, optional
        After the solve, positions with ``|w| < min_position`` are dropped and the rest of each
        side (long, short) rescaled to its previous total, only if every constraint still holds
        (else the solution is kept and a note says why).
    tradable : array_like of bool (N,), mapping or pandas Series, optional
        False = the asset cannot be traded today: held at ``w0``. By asset (a mapping or a
        pandas Series indexed by asset), paired by label; every asset must be given.
    solver : str, default "CLARABEL"
        A cvxpy solver name (``cvxpy.CLARABEL``, ``"SCS"``, ...). A solver that is not installed
        (e.g. ``cvxpy.ECOS`` with cvxpy ≥ 1.6) is a ``ValueError`` saying so. OSQP's default
        tolerances are loose: its solutions can break constraints by more than
        :data:`VIOLATION_TOL`, which the checks report. A solver that cannot take the problem's
        form (OSQP, HiGHS: no cones for ``max_volatility`` or the impact cost) gives the status
        ``"solver_error"`` and a message naming the forms.
    solver_options : mapping, optional
        Passed to ``Problem.solve`` (e.g. ``{"tol_gap_rel": 1e-9}``).
    fallback : {None, "top_n", "hold"}, default None
        Applied only when asked, with an :class:`OptimizationWarning`, when the solve fails
        (infeasible, unbounded, solver error, or a constraint broken beyond
        :data:`VIOLATION_TOL`): ``"top_n"`` equal-weights the ``fallback_n`` highest-alpha free
        assets (long-only, scaled to the budget; long-short: ``+g/2n`` on the top and ``−g/2n``
        on the bottom ``n = min(fallback_n, M // 2)`` of the ``M`` free assets, ``g`` = gross
        or 1), as the seed does; ``"hold"`` keeps
        ``w0``. Without a fallback a failed solve returns NaN weights, the status and a message,
        and warns.
    fallback_n : int, default 50
        N of the ``"top_n"`` fallback.

    Returns
    -------
    OptimizationResult
        Labelled weights, status, message, objective, ex-ante volatility and its risk
        decomposition, exposures, turnover, costs, times, every constraint's violation.

    Examples
    --------
    >>> import numpy as np, ferrofactor as ff
    >>> panel = ff.datasets.synthetic_universe(n_assets=200, n_days=300, seed=1)
    >>> risk = ff.RiskModel.from_factor_model(ff.FactorModel().fit(panel, ff.Exposures.from_panel(panel)))
    >>> alpha = np.random.default_rng(0).normal(0, 1e-3, 200)
    >>> res = ff.optimize(alpha, risk, risk_aversion=10.0, max_weight=0.05, turnover=1.2)
    >>> res.status, res.ok, bool(res.weights.max() <= 0.05 + 1e-7)
    ('optimal', True, True)
    >>> ls = ff.optimize(alpha, risk, long_only=False, gross=1.6, neutral=["market", "industries"])
    >>> ls.ok, bool(np.abs(ls.exposures[:11]).max() < 1e-7), bool(np.abs(ls.weights).sum() <= 1.6 + 1e-7)
    (True, True, True)
    >>> res.to_polars("weights").columns
    ['asset', 'weights']
    """
    return Optimizer(
        risk_aversion=risk_aversion, long_only=long_only, budget=budget, net=net, gross=gross,
        max_weight=max_weight, min_weight=min_weight, turnover=turnover,
        factor_bounds=factor_bounds, neutral=neutral, max_volatility=max_volatility, tcost=tcost,
        min_position=min_position, solver=solver, solver_options=solver_options,
        fallback=fallback, fallback_n=fallback_n,
    )._solve(alpha, risk, date, w0, benchmark, tradable, None)
