"""Type stubs for the Rust extension module ``ferrofactor._core``.

The public API lives in the Python modules; these are the raw kernels they wrap. All float arrays
are C-contiguous float64, all code arrays C-contiguous int32, as converted by the wrappers.
"""

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...

# --- risk ---
import numpy as np

def risk_ewma_newey_west(x: np.ndarray, half_life: float, lags: int, min_periods: int) -> np.ndarray: ...
def risk_factor_covariance(
    factor_returns: np.ndarray,
    vol_half_life: float,
    corr_half_life: float,
    vol_lags: int,
    corr_lags: int,
    min_periods: int,
) -> tuple[np.ndarray, np.ndarray]: ...
def risk_specific_variance(
    residuals: np.ndarray,
    styles: np.ndarray,
    industry: np.ndarray,
    n_industries: int,
    cap: np.ndarray,
    half_life: float,
    min_periods: int,
    shrinkage: float,
    n_groups: int,
    ridge: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...
def risk_regime_multiplier(
    x: np.ndarray, forecast_var: np.ndarray, weights: np.ndarray | None, half_life: float
) -> tuple[np.ndarray, np.ndarray]: ...
def risk_factor_exposures(
    weights: np.ndarray, styles: np.ndarray, industry: np.ndarray, market: bool, n_industries: int
) -> np.ndarray: ...
def risk_portfolio_variance(
    weights: np.ndarray,
    styles: np.ndarray,
    industry: np.ndarray,
    market: bool,
    n_industries: int,
    factor_cov: np.ndarray,
    specific_var: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]: ...
def risk_exposures_times(
    v: np.ndarray, styles: np.ndarray, industry: np.ndarray, market: bool, n_industries: int
) -> np.ndarray: ...
def risk_check_factor_covariance(c: np.ndarray) -> None: ...
