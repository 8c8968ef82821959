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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    // `run` is used by every kernel wrapper; keep it referenced while the module is small.
    let _ = run::<(), fn() -> crate::error::Result<()>>;
    Ok(())
}
