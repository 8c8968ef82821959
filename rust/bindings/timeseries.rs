//! Glue for `rust/timeseries.rs`: batched per-asset time-series OLS (nonrobust or HAC).

use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray2};
use pyo3::prelude::*;

use super::{borrow_err, run, to_py_err, zeros_2d};
use crate::timeseries;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(time_series_regress, m)?)?;
    Ok(())
}

type TsPy<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray3<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Option<Bound<'py, PyArray2<f64>>>,
    Bound<'py, PyArray1<f64>>,
);

/// Per-asset OLS of `y` (T, N) on `factors` (T, K) [+ intercept]. Returns (params (N, p),
/// cov (N, p, p), r2, r2_adj, ssr (N,), nobs (N,), lags (N,), resid (T, N) or None,
/// collinearity (N,)): the residual panel only when `resid` is true (the other outputs are the
/// same either way).
#[pyfunction]
#[pyo3(signature = (y, factors, intercept, cov, lags, min_obs, resid=true))]
#[allow(clippy::too_many_arguments)]
fn time_series_regress<'py>(
    py: Python<'py>,
    y: PyReadonlyArray2<'py, f64>,
    factors: PyReadonlyArray2<'py, f64>,
    intercept: bool,
    cov: &str,
    lags: Option<usize>,
    min_obs: usize,
    resid: bool,
) -> PyResult<TsPy<'py>> {
    let cov = timeseries::Cov::parse(cov).map_err(to_py_err)?;
    let (yv, fv) = (y.as_array(), factors.as_array());
    // The residuals go straight into a fresh numpy array (numpy's allocator: huge pages).
    let out = resid.then(|| zeros_2d(py, yv.shape()));
    let mut rw = match &out {
        Some(r) => Some(r.try_readwrite().map_err(borrow_err)?),
        None => None,
    };
    let rv = rw.as_mut().map(|r| r.as_array_mut());
    let o = run(py, || {
        timeseries::time_series_regress_into(yv, fv, intercept, cov, lags, min_obs, rv)
    })?;
    drop(rw);
    Ok((
        o.params.into_pyarray(py),
        o.cov.into_pyarray(py),
        o.r2.into_pyarray(py),
        o.r2_adj.into_pyarray(py),
        o.ssr.into_pyarray(py),
        o.nobs.into_pyarray(py),
        o.lags.into_pyarray(py),
        out,
        o.collinearity.into_pyarray(py),
    ))
}
