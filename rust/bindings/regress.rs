//! Glue for `rust/regress.rs`: batched cross-sectional WLS and per-date neutralisation.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::prelude::*;

use super::{call, run, to_py_err};
use crate::regress;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cross_section_regress, m)?)?;
    m.add_function(wrap_pyfunction!(neutralize, m)?)?;
    Ok(())
}

type RegressOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<i64>>,
);

/// Batched cross-sectional WLS. Returns (factor_returns, residuals, r2, std_errors, tstats, n_obs).
/// `weights=None` means sqrt(cap) when `cap` is given, else equal weights. With `lag` L the
/// regression of date t uses `returns[t]` and the styles, industry, weights and cap of row t − L
/// (no copy); dates t < L are NaN with n_obs 0.
#[pyfunction]
#[pyo3(signature = (returns, styles, industry, n_industries, weights, cap, market, industry_constraint, lag=0))]
#[allow(clippy::too_many_arguments)]
fn cross_section_regress<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    styles: Option<PyReadonlyArray3<'py, f64>>,
    industry: Option<PyReadonlyArray2<'py, i32>>,
    n_industries: usize,
    weights: Option<PyReadonlyArray2<'py, f64>>,
    cap: Option<PyReadonlyArray2<'py, f64>>,
    market: bool,
    industry_constraint: Option<&str>,
    lag: usize,
) -> PyResult<RegressOut<'py>> {
    let constraint = regress::Constraint::parse(industry_constraint).map_err(to_py_err)?;
    let design = regress::Design {
        styles: styles.as_ref().map(|a| a.as_array()),
        industry: industry.as_ref().map(|a| a.as_array()),
        n_industries,
        market,
        constraint,
    };
    let y = returns.as_array();
    let c = cap.as_ref().map(|a| a.as_array());
    let w = match (&weights, &c) {
        (Some(a), _) => regress::Weights::Given(a.as_array()),
        (None, Some(_)) => regress::Weights::SqrtCap,
        (None, None) => regress::Weights::Equal,
    };
    let out = run(py, || regress::cross_section_regress(y, w, c, &design, lag))?;
    Ok((
        out.factor_returns.into_pyarray(py),
        out.residuals.into_pyarray(py),
        out.r2.into_pyarray(py),
        out.std_errors.into_pyarray(py),
        out.tstats.into_pyarray(py),
        out.n_obs.into_pyarray(py),
    ))
}

/// Per-date residual of x on an intercept, controls and industry codes.
#[pyfunction]
#[pyo3(signature = (x, controls, industry, n_industries, weights))]
fn neutralize<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    controls: Option<PyReadonlyArray3<'py, f64>>,
    industry: Option<PyReadonlyArray2<'py, i32>>,
    n_industries: usize,
    weights: Option<PyReadonlyArray2<'py, f64>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let xv = x.as_array();
    let cv = controls.as_ref().map(|a| a.as_array());
    let iv = industry.as_ref().map(|a| a.as_array());
    let wv = match &weights {
        Some(a) => regress::Weights::Given(a.as_array()),
        None => regress::Weights::Equal,
    };
    call(py, || regress::neutralize(xv, cv, iv, n_industries, wv))
}
