"""ferrofactor: equity factor models on full-universe daily panels, with a Rust core.

Import as ``import ferrofactor as ff``.

Vocabulary (one name each, everywhere)
--------------------------------------
- ``industry``: integer industry codes, -1 = none. Any integer values are accepted at the
  boundary (8-digit GICS included); they are mapped once to dense codes ``0..G-1`` and the
  original values (or the given names) are kept as ``industry_names``.
- ``styles``: style exposures ``(T, N, K)``, named by ``style_names``.
- ``cap``: market capitalisation (argument name); the Panel field is ``"market_cap"``.
- ``weights``: regression weights or portfolio weights, by context.
- ``half_life``: of exponential weights, in dates (rows).
- ``lag``: always in dates (rows). Calendar-day delays have their own names
  (``report_lag_days`` for the availability of fundamentals).
- ``horizons``: forward-return lengths in dates.
- ``periods_per_year``: 252 for daily data (:data:`ferrofactor.constants.PERIODS_PER_YEAR`).
- ``date``, ``asset``: column names of long frames.

Conventions
-----------
- A panel field is a C-contiguous float64 ``(T, N)`` array (dates × assets), NaN where missing;
  a Polars frame (long ``date, asset, value`` or wide ``date`` + one column per asset) is
  accepted wherever a field is, and keeps its labels; so does a pandas DataFrame (dates ×
  assets): its ``DatetimeIndex`` gives the dates and its columns (unless the default
  ``RangeIndex``) the assets, as strings; ``pd.DataFrame(array)`` is an array.
- A per-asset ``(N,)`` vector (portfolio weights, ``alpha``, bounds, costs, a strategy's targets)
  may be a pandas Series indexed by asset wherever the assets are known: it is paired by its
  labels, as a mapping ``{asset: value}``, never by position (a Series with the default index
  0..N-1 is read as an array).
- Likewise a ``(T,)`` or ``(T, K)`` input (benchmark, risk-free rate, costs, market, factor
  returns, a date mask) may be a pandas Series or DataFrame indexed by date: where the other
  side's dates are known (a Panel, a frame, ``dates=``, another input indexed by date) it must
  carry them, in their order (or is joined on date where Polars frames are: ``time_series_regress``,
  ``alpha_test``, ``ff.metrics``), else ``ValueError``; otherwise its index supplies the dates,
  in its own order, which must be date order (never sorted).
- ``returns[t]`` runs from close t−1 to close t and is explained by what is known at t−1: the
  library lags explicitly (``lag``, default 1), never silently.
- Stages hand over labelled objects: :class:`Panel` → :class:`Exposures` →
  :class:`FactorModelResult` → :class:`RiskModel`. Where two inputs carry labels they must match.
- Every result follows one protocol (:mod:`ferrofactor.results`): read-only labelled arrays,
  ``to_polars(kind=..., form="wide" | "long")`` and ``summary()``.
- Bad input raises ``ValueError``/``TypeError`` naming the argument. An infinite value in a
  returns-like input (returns, factor returns, residuals, benchmark, risk-free, costs, caps,
  prices, weights) is a data error, refused with its count; NaN is the missing value. Signals,
  descriptors and the cleaning kernels' inputs read non-finite values as missing (see README).

``ff.baseline`` holds plain-numpy reference implementations of the kernels (the test oracle and
the benchmark baseline).
"""

from __future__ import annotations

from ferrofactor import (
    baseline,
    constants,
    datasets,
    descriptors,
    evaluate,
    inference,
    metrics,
    monitor,
    signals,
    strategies,
)
from ferrofactor._threads import get_num_threads, set_num_threads
from ferrofactor.backtest import BacktestBooks, BacktestResult, backtest, backtest_many
from ferrofactor.clean import neutralize, rank, standardize, winsorize
from ferrofactor.construct import quantile_portfolio, signal_weighted, top_n, trades
from ferrofactor.descriptors import compute_descriptors
from ferrofactor.exposures import Exposures
from ferrofactor.io import (
    dollar_volume,
    market_cap,
    read_classifications,
    read_fundamentals,
    read_panel,
    read_universe,
    returns_from_prices,
)
from ferrofactor.model import FactorModel, FactorModelResult
from ferrofactor.panel import Panel
from ferrofactor.optimize import (
    OptimizationResult,
    OptimizationWarning,
    Optimizer,
    TransactionCost,
    optimize,
)
from ferrofactor.regress import (
    CrossSectionResult,
    FamaMacBethResult,
    cross_section_regress,
    fama_macbeth,
    robust_clip_returns,
)
from ferrofactor.results import NotFittedError, Result, Summary
from ferrofactor import risk
from ferrofactor.risk import RiskDecomposition, RiskModel
from ferrofactor.rolling import (
    compounded_return,
    ewm_mean,
    ewm_std,
    ewm_var,
    max_drawdown,
    rolling_beta,
    rolling_mean,
    rolling_std,
    rolling_sum,
    rolling_var,
)
from ferrofactor.signals import combined_score, momentum_selection, neutralize_signal
from ferrofactor.timeseries import AlphaTestResult, TimeSeriesResult, alpha_test, time_series_regress
from ferrofactor.attribution import AttributionResult, attribute
from ferrofactor.metrics import MetricsSummary

__version__ = "0.1.0"


def __getattr__(name: str):
    # ``ff.dask`` (the optional Dask layer) is imported on first use: the core never imports Dask
    if name == "dask":
        import importlib

        return importlib.import_module("ferrofactor.dask")
    raise AttributeError(f"module 'ferrofactor' has no attribute {name!r}")


__all__ = [
    "__version__",
    # data
    "Panel",
    "read_universe",
    "read_panel",
    "read_fundamentals",
    "read_classifications",
    "returns_from_prices",
    "market_cap",
    "dollar_volume",
    "datasets",
    # descriptors, exposures, signals
    "descriptors",
    "compute_descriptors",
    "Exposures",
    "signals",
    "combined_score",
    "neutralize_signal",
    "momentum_selection",
    # cleaning and rolling kernels
    "winsorize",
    "standardize",
    "rank",
    "neutralize",
    "rolling_sum",
    "rolling_mean",
    "rolling_var",
    "rolling_std",
    "ewm_mean",
    "ewm_var",
    "ewm_std",
    "rolling_beta",
    "compounded_return",
    "max_drawdown",
    # regressions and the factor model
    "cross_section_regress",
    "CrossSectionResult",
    "fama_macbeth",
    "FamaMacBethResult",
    "robust_clip_returns",
    "FactorModel",
    "FactorModelResult",
    # risk
    "risk",
    "RiskModel",
    "RiskDecomposition",
    # backtests and monitoring
    "backtest",
    "backtest_many",
    "BacktestResult",
    "BacktestBooks",
    "strategies",
    "monitor",
    # time-series regressions, attribution, performance
    "time_series_regress",
    "TimeSeriesResult",
    "alpha_test",
    "AlphaTestResult",
    "attribute",
    "AttributionResult",
    "metrics",
    "MetricsSummary",
    # portfolio construction
    "optimize",
    "Optimizer",
    "OptimizationResult",
    "OptimizationWarning",
    "TransactionCost",
    "quantile_portfolio",
    "signal_weighted",
    "top_n",
    "trades",
    # evaluation and protocol
    "evaluate",
    "inference",
    "Result",
    "Summary",
    "NotFittedError",
    "constants",
    "baseline",
    "get_num_threads",
    "set_num_threads",
]
