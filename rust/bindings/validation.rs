//! Glue for `rust/risk/validation.rs`: risk-model validation batched over dates (forecast
//! volatilities, bias-test paths of fixed portfolios, minimum-variance portfolios).

use numpy::{PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::prelude::*;

use super::{call, contiguous};
use crate::risk::validation::{self, DateModels};

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(risk_forecast_volatility, m)?)?;
    m.add_function(wrap_pyfunction!(risk_bias_paths, m)?)?;
    m.add_function(wrap_pyfunction!(risk_min_variance, m)?)?;
    Ok(())
}

/// The model of D stored dates as the kernels take it.
fn models<'a>(
    styles: &'a PyReadonlyArray3<'_, f64>,
    industry: &'a PyReadonlyArray2<'_, i32>,
    market: bool,
    n_industries: usize,
    factor_cov: &'a PyReadonlyArray3<'_, f64>,
    specific_var: &'a PyReadonlyArray2<'_, f64>,
) -> DateModels<'a> {
    DateModels {
        styles: styles.as_array(),
        industry: industry.as_array(),
        market,
        n_industries,
        factor_cov: factor_cov.as_array(),
        specific_var: specific_var.as_array(),
    }
}

/// Volatility (D,) of portfolio `weights[d]` (D, N) under the model of stored date d; NaN where a
/// held asset has no forecast.
#[pyfunction]
#[pyo3(signature = (weights, styles, industry, market, n_industries, factor_cov, specific_var))]
#[allow(clippy::too_many_arguments)]
fn risk_forecast_volatility<'py>(
    py: Python<'py>,
    weights: PyReadonlyArray2<'py, f64>,
    styles: PyReadonlyArray3<'py, f64>,
    industry: PyReadonlyArray2<'py, i32>,
    market: bool,
    n_industries: usize,
    factor_cov: PyReadonlyArray3<'py, f64>,
    specific_var: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyArray1<f64>>> {
    let w = weights.as_array();
    let m = models(&styles, &industry, market, n_industries, &factor_cov, &specific_var);
    call(py, || validation::forecast_volatility(w, &m))
}

/// `(realized, forecast)`, each (D, P).
type PathsOut<'py> = (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<f64>>);

/// Bias-test paths `(realized (D, P), forecast (D, P))` of fixed portfolios `weights` (P, N) over
/// the stored dates (panel rows `rows`), against `returns[rows[d] + 1]`.
#[pyfunction]
#[pyo3(signature = (weights, returns, rows, normalize, styles, industry, market, n_industries, factor_cov, specific_var))]
#[allow(clippy::too_many_arguments)]
fn risk_bias_paths<'py>(
    py: Python<'py>,
    weights: PyReadonlyArray2<'py, f64>,
    returns: PyReadonlyArray2<'py, f64>,
    rows: PyReadonlyArray1<'py, i64>,
    normalize: bool,
    styles: PyReadonlyArray3<'py, f64>,
    industry: PyReadonlyArray2<'py, i32>,
    market: bool,
    n_industries: usize,
    factor_cov: PyReadonlyArray3<'py, f64>,
    specific_var: PyReadonlyArray2<'py, f64>,
) -> PyResult<PathsOut<'py>> {
    let (w, r) = (weights.as_array(), returns.as_array());
    let rs = contiguous("rows", &rows)?;
    let m = models(&styles, &industry, market, n_industries, &factor_cov, &specific_var);
    call(py, || validation::bias_paths(w, r, rs, normalize, &m))
}

/// Fully invested minimum-variance weights (D, N) per stored date (0 for assets not covered; a
/// NaN row where none can be formed).
#[pyfunction]
#[pyo3(signature = (styles, industry, market, n_industries, factor_cov, specific_var))]
fn risk_min_variance<'py>(
    py: Python<'py>,
    styles: PyReadonlyArray3<'py, f64>,
    industry: PyReadonlyArray2<'py, i32>,
    market: bool,
    n_industries: usize,
    factor_cov: PyReadonlyArray3<'py, f64>,
    specific_var: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let m = models(&styles, &industry, market, n_industries, &factor_cov, &specific_var);
    call(py, || validation::min_variance(&m))
}
