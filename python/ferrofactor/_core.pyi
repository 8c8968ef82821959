"""Type stubs for the Rust extension module ``ferrofactor._core``.

The public API lives in the Python modules; these are the raw kernels they wrap. All float arrays
are C-contiguous float64, all code arrays C-contiguous int32, as converted by the wrappers.
"""

import numpy as np
import numpy.typing as npt

__all__ = [
    "set_num_threads",
    "get_num_threads",
    "_panic_for_test",
    "rolling_moment",
    "rolling_beta",
    "compounded_return",
    "max_drawdown",
    "cross_section_regress",
    "neutralize",
    "winsorize",
    "standardize",
    "rank",
    "dense_codes",
    "build_styles",
    "scatter_fields",
    "cell_index",
    "scatter_runs",
    "gather_fields",
    "first_rows_i32",
    "first_rows_u32",
    "risk_ewma_newey_west",
    "risk_factor_covariance",
    "risk_specific_variance",
    "risk_specific_variance_resume",
    "risk_regime_multiplier",
    "risk_factor_exposures",
    "risk_portfolio_variance",
    "risk_exposures_times",
    "risk_check_factor_covariance",
    "risk_forecast_volatility",
    "risk_bias_paths",
    "risk_min_variance",
    "backtest_run",
    "backtest_positions",
    "backtest_scan",
    "time_series_regress",
    "attribute",
    "evaluate_forward_returns",
    "evaluate_ic",
    "evaluate_quantile_labels",
    "evaluate_quantile_returns",
    "evaluate_factor_weighted_returns",
    "evaluate_quantile_turnover",
    "evaluate_rank_autocorrelation",
    "evaluate_panel",
]

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def _panic_for_test() -> None:
    """Test only, not part of the API: panics inside a parallel kernel, which must reach Python
    as a RuntimeError with nothing printed to stderr (tests/test_bindings.py)."""

# --- rolling (python/ferrofactor/rolling.py) ---

def rolling_moment(
    x: npt.NDArray[np.float64], window: int | None, min_periods: int, half_life: float | None, stat: str
) -> npt.NDArray[np.float64]: ...
def rolling_beta(
    x: npt.NDArray[np.float64], market: npt.NDArray[np.float64], window: int, min_periods: int,
    half_life: float | None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def compounded_return(
    x: npt.NDArray[np.float64], window: int, skip: int, min_periods: int
) -> npt.NDArray[np.float64]: ...
def max_drawdown(x: npt.NDArray[np.float64], window: int, min_periods: int) -> npt.NDArray[np.float64]: ...
def cross_section_regress(
    returns: npt.NDArray[np.float64],
    styles: npt.NDArray[np.float64] | None,
    industry: npt.NDArray[np.int32] | None,
    n_industries: int,
    weights: npt.NDArray[np.float64] | None,
    cap: npt.NDArray[np.float64] | None,
    market: bool,
    industry_constraint: str | None,
    lag: int = 0,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
]: ...
def neutralize(
    x: npt.NDArray[np.float64],
    controls: npt.NDArray[np.float64] | None,
    industry: npt.NDArray[np.int32] | None,
    n_industries: int,
    weights: npt.NDArray[np.float64] | None,
) -> npt.NDArray[np.float64]: ...

# --- clean (rust/clean.rs) ---
def winsorize(
    x: npt.NDArray[np.float64],
    method: str,
    limit: float,
    weights: npt.NDArray[np.float64] | None = None,
    industry: npt.NDArray[np.int32] | None = None,
) -> npt.NDArray[np.float64]: ...
def standardize(
    x: npt.NDArray[np.float64],
    weights: npt.NDArray[np.float64] | None = None,
    industry: npt.NDArray[np.int32] | None = None,
    winsorize: str | None = None,
    limit: float = 3.0,
) -> npt.NDArray[np.float64]: ...
def rank(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]: ...

# --- codes (rust/codes.rs) ---
def dense_codes(codes: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]: ...

# --- exposures (rust/exposures.rs) ---
def build_styles(
    descriptors: list[npt.NDArray[np.float64]],
    parts: list[list[tuple[int, float]]],
    cap: npt.NDArray[np.float64] | None,
    industry: npt.NDArray[np.int32] | None,
    n_industries: int,
    winsorize: str | None,
    limit: float,
    fill: str | None,
) -> npt.NDArray[np.float64]: ...

# --- panel (rust/panel.rs) ---
def scatter_fields(
    lin: npt.NDArray[np.int64],
    fields: list[list[npt.NDArray[np.float64]]],
    outs: list[npt.NDArray[np.float64]],
) -> None: ...
def cell_index(
    days: list[npt.NDArray[np.int32]],
    ids: list[npt.NDArray[np.uint32]],
    day_lo: int,
    day_lut: npt.NDArray[np.int32],
    id_lut: npt.NDArray[np.int32],
    n_dates: int,
    n_assets: int,
    max_report: int,
) -> tuple[
    npt.NDArray[np.int64] | None, npt.NDArray[np.int64] | None, int, npt.NDArray[np.int64], int, int
]: ...
def first_rows_i32(chunks: list[npt.NDArray[np.int32]], lo: int, span: int) -> npt.NDArray[np.int64]: ...
def first_rows_u32(chunks: list[npt.NDArray[np.uint32]], lo: int, span: int) -> npt.NDArray[np.int64]: ...
def gather_fields(
    values: list[npt.NDArray[np.float64]],
    index: npt.NDArray[np.int32],
    outs: list[npt.NDArray[np.float64]],
) -> None: ...
def scatter_runs(
    runs: npt.NDArray[np.int64],
    fields: list[list[npt.NDArray[np.float64]]],
    outs: list[npt.NDArray[np.float64]],
) -> None: ...


# --- risk (rust/risk/) ---

def risk_ewma_newey_west(x: npt.NDArray[np.float64], half_life: float, lags: int, min_periods: int) -> npt.NDArray[np.float64]: ...
def risk_factor_covariance(
    factor_returns: npt.NDArray[np.float64],
    vol_half_life: float,
    corr_half_life: float,
    vol_lags: int,
    corr_lags: int,
    min_periods: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]: ...
def risk_specific_variance(
    residuals: npt.NDArray[np.float64],
    styles: npt.NDArray[np.float64],
    industry: npt.NDArray[np.int32],
    n_industries: int,
    cap: npt.NDArray[np.float64],
    half_life: float,
    min_periods: int,
    shrinkage: float,
    n_cap_groups: int,
    ridge: float,
    blend_periods: int,
    nw_lags: int,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.uint32], npt.NDArray[np.uint8]]: ...
def risk_specific_variance_resume(
    residuals: npt.NDArray[np.float64],
    styles: npt.NDArray[np.float64],
    industry: npt.NDArray[np.int32],
    n_industries: int,
    cap: npt.NDArray[np.float64],
    half_life: float,
    min_periods: int,
    shrinkage: float,
    n_cap_groups: int,
    ridge: float,
    blend_periods: int,
    nw_lags: int,
    state: npt.NDArray[np.float64] | None,
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.uint32], npt.NDArray[np.uint8], npt.NDArray[np.float64]
]: ...
def risk_regime_multiplier(
    x: npt.NDArray[np.float64], forecast_var: npt.NDArray[np.float64], weights: npt.NDArray[np.float64] | None, half_life: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def risk_factor_exposures(
    weights: npt.NDArray[np.float64], styles: npt.NDArray[np.float64], industry: npt.NDArray[np.int32], market: bool, n_industries: int
) -> npt.NDArray[np.float64]: ...
def risk_portfolio_variance(
    weights: npt.NDArray[np.float64],
    styles: npt.NDArray[np.float64],
    industry: npt.NDArray[np.int32],
    market: bool,
    n_industries: int,
    factor_cov: npt.NDArray[np.float64],
    specific_var: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def risk_exposures_times(
    v: npt.NDArray[np.float64], styles: npt.NDArray[np.float64], industry: npt.NDArray[np.int32], market: bool, n_industries: int
) -> npt.NDArray[np.float64]: ...
def risk_check_factor_covariance(c: npt.NDArray[np.float64]) -> None: ...

# --- risk validation (rust/risk/validation.rs), batched over D stored dates ---
def risk_forecast_volatility(
    weights: npt.NDArray[np.float64],
    styles: npt.NDArray[np.float64],
    industry: npt.NDArray[np.int32],
    market: bool,
    n_industries: int,
    factor_cov: npt.NDArray[np.float64],
    specific_var: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]: ...
def risk_bias_paths(
    weights: npt.NDArray[np.float64],
    returns: npt.NDArray[np.float64],
    rows: npt.NDArray[np.int64],
    normalize: bool,
    styles: npt.NDArray[np.float64],
    industry: npt.NDArray[np.int32],
    market: bool,
    n_industries: int,
    factor_cov: npt.NDArray[np.float64],
    specific_var: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]: ...
def risk_min_variance(
    styles: npt.NDArray[np.float64],
    industry: npt.NDArray[np.int32],
    market: bool,
    n_industries: int,
    factor_cov: npt.NDArray[np.float64],
    specific_var: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]: ...

# --- backtest (python/ferrofactor/backtest.py) ---

def backtest_run(
    returns: npt.NDArray[np.float64],
    tradable: npt.NDArray[np.bool_] | None,
    delist_row: npt.NDArray[np.int64],
    delist_return: npt.NDArray[np.float64],
    rows_start: int,
    rows_end: int,
    fresh: bool,
    trade_rows: npt.NDArray[np.int64],
    target_rows: npt.NDArray[np.int64],
    targets: npt.NDArray[np.float64],
    cost_rate: float,
    cost_side: str,
    positions: npt.NDArray[np.float64],
    cash: npt.NDArray[np.float64],
    series: npt.NDArray[np.float64],
    offset: int,
    hold: npt.NDArray[np.bool_] | None = None,
) -> list[tuple[npt.NDArray[np.uint32], npt.NDArray[np.float64], npt.NDArray[np.uint64]]]: ...
def backtest_positions(
    returns: npt.NDArray[np.float64],
    delist_row: npt.NDArray[np.int64],
    delist_return: npt.NDArray[np.float64],
    rows_start: int,
    rows_end: int,
    trade_rows: npt.NDArray[np.int64],
    idx: npt.NDArray[np.uint32],
    val: npt.NDArray[np.float64],
    nnz: npt.NDArray[np.uint64],
    denominators: npt.NDArray[np.float64],
    side: str,
) -> npt.NDArray[np.float64]: ...
def backtest_scan(returns: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], int, float]: ...
# --- time-series regressions (python/ferrofactor/timeseries.py) and attribution ---
def time_series_regress(
    y: npt.NDArray[np.float64],
    factors: npt.NDArray[np.float64],
    intercept: bool,
    cov: str,
    lags: int | None,
    min_obs: int,
    resid: bool = True,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
    npt.NDArray[np.int64],
    npt.NDArray[np.float64] | None,
    npt.NDArray[np.float64],
]: ...
def attribute(
    weights: npt.NDArray[np.float64],
    benchmark: npt.NDArray[np.float64] | None,
    returns: npt.NDArray[np.float64],
    styles: npt.NDArray[np.float64] | None,
    industry: npt.NDArray[np.int32] | None,
    n_industries: int,
    market: bool,
    factor_returns: npt.NDArray[np.float64],
    lag: int,
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.int64],
]: ...

# --- evaluate (rust/evaluate.rs; python/ferrofactor/evaluate/signal.py) ---
def evaluate_forward_returns(returns: npt.NDArray[np.float64], horizons: list[int]) -> npt.NDArray[np.float64]: ...
def evaluate_ic(
    signal: npt.NDArray[np.float64],
    forward: npt.NDArray[np.float64] | None,
    returns: npt.NDArray[np.float64] | None,
    lags: list[int] | None,
    industry: npt.NDArray[np.int32] | None,
    n_industries: int,
    weights: npt.NDArray[np.float64] | None,
    common: bool,
    method: str,
    industry_adjust: bool,
    labels: npt.NDArray[np.int32] | None = None,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint32]]: ...
def evaluate_quantile_labels(
    signal: npt.NDArray[np.float64],
    industry: npt.NDArray[np.int32] | None,
    n_industries: int,
    weights: npt.NDArray[np.float64] | None,
    common_forward: npt.NDArray[np.float64] | None,
    kind: str,
    count: int,
    values: list[float] | None,
    by_industry: bool,
) -> npt.NDArray[np.int32]: ...
def evaluate_quantile_returns(
    labels: npt.NDArray[np.int32],
    n_buckets: int,
    forward: npt.NDArray[np.float64],
    industry: npt.NDArray[np.int32] | None,
    n_industries: int,
    weights: npt.NDArray[np.float64] | None,
    demean: str,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.uint32]]: ...
def evaluate_factor_weighted_returns(
    signal: npt.NDArray[np.float64],
    forward: npt.NDArray[np.float64],
    industry: npt.NDArray[np.int32] | None,
    n_industries: int,
    common: bool,
    demeaned: bool,
    industry_neutral: bool,
    equal_weight: bool,
    labels: npt.NDArray[np.int32] | None = None,
) -> npt.NDArray[np.float64]: ...
def evaluate_quantile_turnover(
    labels: npt.NDArray[np.int32], n_buckets: int, lags: list[int]
) -> npt.NDArray[np.float64]: ...
def evaluate_rank_autocorrelation(
    signal: npt.NDArray[np.float64],
    industry: npt.NDArray[np.int32] | None,
    n_industries: int,
    common_forward: npt.NDArray[np.float64] | None,
    lags: list[int],
    labels: npt.NDArray[np.int32] | None = None,
) -> npt.NDArray[np.float64]: ...
def evaluate_panel(
    signal: npt.NDArray[np.float64],
    returns: npt.NDArray[np.float64],
    forward: npt.NDArray[np.float64] | None,
    horizons: list[int],
    industry: npt.NDArray[np.int32] | None,
    n_industries: int,
    weights: npt.NDArray[np.float64] | None,
    method: str,
    kind: str,
    count: int,
    values: list[float] | None,
    by_industry: bool,
    demeaned: bool,
    industry_adjust: bool,
    common: bool,
    decay_lags: list[int],
) -> tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.uint32],
    npt.NDArray[np.int32],
    npt.NDArray[np.float64],
    npt.NDArray[np.uint32],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]: ...
