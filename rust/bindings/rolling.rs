//! Glue for `rust/rolling.rs`: windowed and exponentially weighted statistics along time.

use numpy::{PyArray2, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use super::{call, check_shape, to_py_err};
use crate::rolling;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rolling_moment, m)?)?;
    m.add_function(wrap_pyfunction!(rolling_beta, m)?)?;
    m.add_function(wrap_pyfunction!(compounded_return, m)?)?;
    m.add_function(wrap_pyfunction!(max_drawdown, m)?)?;
    Ok(())
}

/// Rolling / exponentially weighted sum, mean, var or std down each column of `x` (T, N).
#[pyfunction]
#[pyo3(signature = (x, window, min_periods, half_life, stat))]
fn rolling_moment<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    window: Option<usize>,
    min_periods: usize,
    half_life: Option<f64>,
    stat: &str,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let xv = x.as_array();
    let stat = rolling::Moment::parse(stat).map_err(to_py_err)?;
    call(py, || rolling::rolling_moment(xv, window, min_periods, half_life, stat))
}

/// Rolling (optionally EW) beta of each column of `x` (T, N) on `market` (T,), and residual vol.
#[pyfunction]
#[pyo3(signature = (x, market, window, min_periods, half_life))]
#[allow(clippy::type_complexity)]
fn rolling_beta<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    market: PyReadonlyArray1<'py, f64>,
    window: usize,
    min_periods: usize,
    half_life: Option<f64>,
) -> PyResult<(Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<f64>>)> {
    let xv = x.as_array();
    let mv = market.as_array();
    check_shape("market", mv.shape(), &[xv.nrows()])?;
    call(py, || rolling::rolling_beta(xv, mv, window, min_periods, half_life))
}

/// Compounded return over returns[t-window+1 ..= t-skip], per column of `x` (T, N).
#[pyfunction]
#[pyo3(signature = (x, window, skip, min_periods))]
fn compounded_return<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    window: usize,
    skip: usize,
    min_periods: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let xv = x.as_array();
    call(py, || rolling::compounded_return(xv, window, skip, min_periods))
}

/// Maximum drawdown over a window of returns, per column of `x` (T, N).
#[pyfunction]
#[pyo3(signature = (x, window, min_periods))]
fn max_drawdown<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    window: usize,
    min_periods: usize,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let xv = x.as_array();
    call(py, || rolling::max_drawdown(xv, window, min_periods))
}
