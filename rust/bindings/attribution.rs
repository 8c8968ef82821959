//! Glue for `rust/attribution.rs`: per-date factor attribution over a structured exposure matrix.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::prelude::*;

use super::run;
use crate::attribution;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(attribute, m)?)?;
    Ok(())
}

type AttributionPy<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<i64>>,
);

/// Per-date attribution of (active) holdings. Returns (exposures (T, K), contributions (T, K),
/// specific, unexplained, gross, n_missing (T,)).
#[pyfunction]
#[pyo3(signature = (weights, benchmark, returns, styles, industry, n_industries, market, factor_returns, lag))]
#[allow(clippy::too_many_arguments)]
fn attribute<'py>(
    py: Python<'py>,
    weights: PyReadonlyArray2<'py, f64>,
    benchmark: Option<PyReadonlyArray2<'py, f64>>,
    returns: PyReadonlyArray2<'py, f64>,
    styles: Option<PyReadonlyArray3<'py, f64>>,
    industry: Option<PyReadonlyArray2<'py, i32>>,
    n_industries: usize,
    market: bool,
    factor_returns: PyReadonlyArray2<'py, f64>,
    lag: usize,
) -> PyResult<AttributionPy<'py>> {
    let inp = attribution::Inputs {
        weights: weights.as_array(),
        benchmark: benchmark.as_ref().map(|a| a.as_array()),
        returns: returns.as_array(),
        styles: styles.as_ref().map(|a| a.as_array()),
        industry: industry.as_ref().map(|a| a.as_array()),
        n_industries,
        market,
        factor_returns: factor_returns.as_array(),
        lag,
    };
    let o = run(py, || attribution::attribute(&inp))?;
    Ok((
        o.exposures.into_pyarray(py),
        o.contributions.into_pyarray(py),
        o.specific.into_pyarray(py),
        o.unexplained.into_pyarray(py),
        o.gross.into_pyarray(py),
        o.n_missing.into_pyarray(py),
    ))
}
