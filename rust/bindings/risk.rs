//! Glue for `rust/risk.rs`: factor covariance, specific variance, regime multipliers and the
//! B Σf Bᵀ + D products. Each wrapper views its arrays and hands the kernel to [`call`] (GIL
//! released, errors mapped, outputs moved to numpy); the kernels check shapes and values.

use numpy::{PyArray1, PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::prelude::*;

use super::{call, run};
use crate::risk;

/// Two 1-d float64 outputs.
type Vectors2<'py> = (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>);

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(risk_ewma_newey_west, m)?)?;
    m.add_function(wrap_pyfunction!(risk_factor_covariance, m)?)?;
    m.add_function(wrap_pyfunction!(risk_specific_variance, m)?)?;
    m.add_function(wrap_pyfunction!(risk_specific_variance_resume, m)?)?;
    m.add_function(wrap_pyfunction!(risk_regime_multiplier, m)?)?;
    m.add_function(wrap_pyfunction!(risk_factor_exposures, m)?)?;
    m.add_function(wrap_pyfunction!(risk_portfolio_variance, m)?)?;
    m.add_function(wrap_pyfunction!(risk_exposures_times, m)?)?;
    m.add_function(wrap_pyfunction!(risk_check_factor_covariance, m)?)?;
    Ok(())
}

/// EWMA Newey-West covariance of a (T, K) series for every date (no PSD correction).
#[pyfunction]
fn risk_ewma_newey_west<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    half_life: f64,
    lags: usize,
    min_periods: usize,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let x = x.as_array();
    call(py, || risk::ewma_newey_west(x, half_life, lags, min_periods))
}

type CovariancePy<'py> = (Bound<'py, PyArray3<f64>>, Bound<'py, PyArray1<bool>>);

/// Factor covariance (T, K, K), not clipped, and whether its valid block is not PSD beyond
/// rounding (T,); the Python layer clips those dates.
#[pyfunction]
fn risk_factor_covariance<'py>(
    py: Python<'py>,
    factor_returns: PyReadonlyArray2<'py, f64>,
    vol_half_life: f64,
    corr_half_life: f64,
    vol_lags: usize,
    corr_lags: usize,
    min_periods: usize,
) -> PyResult<CovariancePy<'py>> {
    let f = factor_returns.as_array();
    let s = risk::CovSettings { vol_half_life, corr_half_life, vol_lags, corr_lags, min_periods };
    call(py, || risk::factor_covariance(f, &s))
}

type SpecificPy<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<u32>>,
    Bound<'py, PyArray2<u8>>,
);

/// Specific variance (T, N), raw EWMA variance, observation counts, structural flags.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn risk_specific_variance<'py>(
    py: Python<'py>,
    residuals: PyReadonlyArray2<'py, f64>,
    styles: PyReadonlyArray3<'py, f64>,
    industry: PyReadonlyArray2<'py, i32>,
    n_industries: usize,
    cap: PyReadonlyArray2<'py, f64>,
    half_life: f64,
    min_periods: usize,
    shrinkage: f64,
    n_cap_groups: usize,
    ridge: f64,
    blend_periods: usize,
    nw_lags: usize,
) -> PyResult<SpecificPy<'py>> {
    let (r, st, ind, c) = (residuals.as_array(), styles.as_array(), industry.as_array(), cap.as_array());
    let s = risk::SpecificSettings { half_life, nw_lags, min_periods, blend_periods, shrinkage, n_groups: n_cap_groups, ridge };
    call(py, || {
        risk::specific_variance(r, st, ind, n_industries, c, &s)
            .map(|o| (o.var, o.ewma_var, o.n_obs, o.structural))
    })
}

type SpecificResumePy<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<u32>>,
    Bound<'py, PyArray2<u8>>,
    Bound<'py, PyArray2<f64>>,
);

/// [`risk_specific_variance`] over a run of dates resumed from the EWMA state of the dates
/// before it (None: none before); also returns the state after its last date
/// ((3 + 3 nw_lags, N), see `risk::ewma_square_nw_resume`).
#[pyfunction]
#[pyo3(signature = (residuals, styles, industry, n_industries, cap, half_life, min_periods, shrinkage, n_cap_groups, ridge, blend_periods, nw_lags, state))]
#[allow(clippy::too_many_arguments)]
fn risk_specific_variance_resume<'py>(
    py: Python<'py>,
    residuals: PyReadonlyArray2<'py, f64>,
    styles: PyReadonlyArray3<'py, f64>,
    industry: PyReadonlyArray2<'py, i32>,
    n_industries: usize,
    cap: PyReadonlyArray2<'py, f64>,
    half_life: f64,
    min_periods: usize,
    shrinkage: f64,
    n_cap_groups: usize,
    ridge: f64,
    blend_periods: usize,
    nw_lags: usize,
    state: Option<PyReadonlyArray2<'py, f64>>,
) -> PyResult<SpecificResumePy<'py>> {
    let (r, st, ind, c) = (residuals.as_array(), styles.as_array(), industry.as_array(), cap.as_array());
    let state = state.as_ref().map(|s| s.as_array());
    let s = risk::SpecificSettings { half_life, nw_lags, min_periods, blend_periods, shrinkage, n_groups: n_cap_groups, ridge };
    call(py, || {
        risk::specific_variance_resume(r, st, ind, n_industries, c, &s, state)
            .map(|(o, state)| (o.var, o.ewma_var, o.n_obs, o.structural, state))
    })
}

/// Bias statistic B² (T,) and volatility-regime multiplier (T,).
#[pyfunction]
#[pyo3(signature = (x, forecast_var, weights, half_life))]
fn risk_regime_multiplier<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    forecast_var: PyReadonlyArray2<'py, f64>,
    weights: Option<PyReadonlyArray2<'py, f64>>,
    half_life: f64,
) -> PyResult<Vectors2<'py>> {
    let (x, v) = (x.as_array(), forecast_var.as_array());
    let w = weights.as_ref().map(|w| w.as_array());
    call(py, || risk::regime_multiplier(x, v, w, half_life))
}

/// One date's exposure structure as the product kernels take it: styles (N, S), industry codes
/// (N,) and the factor layout (market, industries, styles).
type Structure<'a> = (ndarray::ArrayView2<'a, f64>, ndarray::ArrayView1<'a, i32>, risk::Layout);

fn structure<'a>(
    styles: &'a PyReadonlyArray2<'_, f64>,
    industry: &'a PyReadonlyArray1<'_, i32>,
    market: bool,
    n_industries: usize,
) -> Structure<'a> {
    let st = styles.as_array();
    let layout = risk::Layout { market, n_industries, n_styles: st.ncols() };
    (st, industry.as_array(), layout)
}

/// Factor exposures Bᵀw (P, K) of portfolios (P, N).
#[pyfunction]
fn risk_factor_exposures<'py>(
    py: Python<'py>,
    weights: PyReadonlyArray2<'py, f64>,
    styles: PyReadonlyArray2<'py, f64>,
    industry: PyReadonlyArray1<'py, i32>,
    market: bool,
    n_industries: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let w = weights.as_array();
    let (st, ind, lay) = structure(&styles, &industry, market, n_industries);
    call(py, || risk::factor_exposures(w, st, ind, lay))
}

/// Factor and specific variance (P,), (P,) of portfolios (P, N).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn risk_portfolio_variance<'py>(
    py: Python<'py>,
    weights: PyReadonlyArray2<'py, f64>,
    styles: PyReadonlyArray2<'py, f64>,
    industry: PyReadonlyArray1<'py, i32>,
    market: bool,
    n_industries: usize,
    factor_cov: PyReadonlyArray2<'py, f64>,
    specific_var: PyReadonlyArray1<'py, f64>,
) -> PyResult<Vectors2<'py>> {
    let (w, fc, d) = (weights.as_array(), factor_cov.as_array(), specific_var.as_array());
    let (st, ind, lay) = structure(&styles, &industry, market, n_industries);
    call(py, || risk::portfolio_variance(w, st, ind, lay, fc, d))
}

/// B v (P, N) for factor-space vectors v (P, K).
#[pyfunction]
fn risk_exposures_times<'py>(
    py: Python<'py>,
    v: PyReadonlyArray2<'py, f64>,
    styles: PyReadonlyArray2<'py, f64>,
    industry: PyReadonlyArray1<'py, i32>,
    market: bool,
    n_industries: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let v = v.as_array();
    let (st, ind, lay) = structure(&styles, &industry, market, n_industries);
    call(py, || risk::exposures_times(v, st, ind, lay))
}

/// Raise ValueError unless a user factor covariance is square, finite and symmetric (the PSD
/// check is in Python).
#[pyfunction]
fn risk_check_factor_covariance<'py>(py: Python<'py>, c: PyReadonlyArray2<'py, f64>) -> PyResult<()> {
    let c = c.as_array();
    run(py, || risk::check_factor_covariance(c))
}
