//! All PyO3 glue: argument checks, GIL release, numpy in/out and error mapping.
//!
//! Every heavy call goes through [`run`], which releases the GIL for the whole kernel, runs it in
//! the selected rayon pool, maps `Error::Value` to `ValueError` and turns a panic (a bug, never
//! expected) into a `RuntimeError` instead of letting it cross into Python.
//!
//! The Python wrappers in `python/ferrofactor` convert dtypes and layouts once and name the
//! user's arguments; the checks here are a second line that keeps bad shapes out of the kernels.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::error::Error;
use crate::parallel;

fn to_py_err(e: Error) -> PyErr {
    match e {
        Error::Value(msg) => PyValueError::new_err(msg),
    }
}

/// Release the GIL, run `f` in the selected pool, map errors and panics.
fn run<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> crate::error::Result<T> + Send,
{
    let out = py.detach(|| catch_unwind(AssertUnwindSafe(|| parallel::install(f))));
    match out {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(to_py_err(e)),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(PyRuntimeError::new_err(format!(
                "ferrofactor internal error (please report): {msg}"
            )))
        }
    }
}

/// Check that `shape` equals `want`, naming the argument.
#[allow(dead_code)]
fn check_shape(name: &str, shape: &[usize], want: &[usize]) -> PyResult<()> {
    if shape != want {
        return Err(PyValueError::new_err(format!(
            "{name} has shape {shape:?}, expected {want:?}"
        )));
    }
    Ok(())
}

/// Use `n` threads for ferrofactor's kernels (0 = rayon's default, which follows RAYON_NUM_THREADS).
#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<()> {
    parallel::set_num_threads(n).map_err(PyRuntimeError::new_err)
}

/// The number of threads ferrofactor's kernels run on.
#[pyfunction]
fn get_num_threads() -> usize {
    parallel::num_threads()
}

// --- rolling ---------------------------------------------------------------------------------

use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2};

/// Rolling / exponentially weighted sum, mean, var or std down each column of `x` (T, N).
#[pyfunction]
#[pyo3(signature = (x, window, min_periods, halflife, stat))]
fn rolling_moment<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    window: Option<usize>,
    min_periods: usize,
    halflife: Option<f64>,
    stat: &str,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let xv = x.as_array();
    let stat = crate::rolling::Moment::parse(stat).map_err(to_py_err)?;
    let out = run(py, || crate::rolling::rolling_moment(xv, window, min_periods, halflife, stat))?;
    Ok(out.into_pyarray(py))
}

/// Rolling (optionally EW) beta of each column of `x` (T, N) on `market` (T,), and residual vol.
#[pyfunction]
#[pyo3(signature = (x, market, window, min_periods, halflife))]
#[allow(clippy::type_complexity)]
fn rolling_beta<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    market: PyReadonlyArray1<'py, f64>,
    window: usize,
    min_periods: usize,
    halflife: Option<f64>,
) -> PyResult<(Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<f64>>)> {
    let xv = x.as_array();
    let mv = market.as_array();
    check_shape("market", mv.shape(), &[xv.nrows()])?;
    let (b, r) = run(py, || crate::rolling::rolling_beta(xv, mv, window, min_periods, halflife))?;
    Ok((b.into_pyarray(py), r.into_pyarray(py)))
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
    let out = run(py, || crate::rolling::compounded_return(xv, window, skip, min_periods))?;
    Ok(out.into_pyarray(py))
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
    let out = run(py, || crate::rolling::max_drawdown(xv, window, min_periods))?;
    Ok(out.into_pyarray(py))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rolling_moment, m)?)?;
    m.add_function(wrap_pyfunction!(rolling_beta, m)?)?;
    m.add_function(wrap_pyfunction!(compounded_return, m)?)?;
    m.add_function(wrap_pyfunction!(max_drawdown, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    // `run` is used by every kernel wrapper; keep it referenced while the module is small.
    let _ = run::<(), fn() -> crate::error::Result<()>>;
    Ok(())
}
