//! Glue for `rust/clean.rs`: per-date winsorise, standardise, rank. The outputs are allocated by
//! numpy ([`zeros_2d`]) and filled in place by the kernels.

use numpy::{PyArray2, PyArrayMethods, PyReadonlyArray2};
use pyo3::prelude::*;

use super::{borrow_err, check_shape, run, to_py_err, zeros_2d};
use crate::clean;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(winsorize, m)?)?;
    m.add_function(wrap_pyfunction!(standardize, m)?)?;
    m.add_function(wrap_pyfunction!(rank, m)?)?;
    Ok(())
}

/// Allocate a (T, N) output shaped like `x` and fill it with `kernel` (GIL released).
fn fill<'py, F>(py: Python<'py>, shape: &[usize], kernel: F) -> PyResult<Bound<'py, PyArray2<f64>>>
where
    F: FnOnce(ndarray::ArrayViewMut2<'_, f64>) -> crate::error::Result<()> + Send,
{
    let out = zeros_2d(py, shape);
    {
        let mut guard = out.try_readwrite().map_err(borrow_err)?;
        let ov = guard.as_array_mut();
        run(py, || kernel(ov))?;
    }
    Ok(out)
}

/// Check the optional per-cell `weights` and `industry` against the shape of `x`.
fn check_optional(
    shape: &[usize],
    weights: &Option<ndarray::ArrayView2<'_, f64>>,
    industry: &Option<ndarray::ArrayView2<'_, i32>>,
) -> PyResult<()> {
    if let Some(w) = weights {
        check_shape("weights", w.shape(), shape)?;
    }
    if let Some(g) = industry {
        check_shape("industry", g.shape(), shape)?;
    }
    Ok(())
}

/// Per-date winsorisation; see `ferrofactor.winsorize`.
#[pyfunction]
#[pyo3(signature = (x, method, limit, weights=None, industry=None))]
fn winsorize<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    method: &str,
    limit: f64,
    weights: Option<PyReadonlyArray2<'py, f64>>,
    industry: Option<PyReadonlyArray2<'py, i32>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let method = clean::WinsorMethod::parse(method).map_err(to_py_err)?;
    let (xv, wv, gv) = (
        x.as_array(),
        weights.as_ref().map(|w| w.as_array()),
        industry.as_ref().map(|g| g.as_array()),
    );
    check_optional(xv.shape(), &wv, &gv)?;
    fill(py, xv.shape(), |ov| clean::winsorize_into(xv, method, limit, wv, gv, ov))
}

/// Per-date standardisation; see `ferrofactor.standardize`.
/// With `winsorize` (a method name) the values are first winsorised at `limit` in the same pass
/// (the fused form of the two calls; the winsorisation uses `weights` only for "sigma").
#[pyfunction]
#[pyo3(signature = (x, weights=None, industry=None, winsorize=None, limit=3.0))]
fn standardize<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    weights: Option<PyReadonlyArray2<'py, f64>>,
    industry: Option<PyReadonlyArray2<'py, i32>>,
    winsorize: Option<&str>,
    limit: f64,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let method = winsorize
        .map(clean::WinsorMethod::parse)
        .transpose()
        .map_err(to_py_err)?;
    let (xv, wv, gv) = (
        x.as_array(),
        weights.as_ref().map(|w| w.as_array()),
        industry.as_ref().map(|g| g.as_array()),
    );
    check_optional(xv.shape(), &wv, &gv)?;
    fill(py, xv.shape(), |ov| match method {
        None => clean::standardize_into(xv, wv, gv, ov),
        Some(m) => clean::winsorize_standardize_into(xv, m, limit, wv, gv, ov),
    })
}

/// Per-date average ranks scaled to (0, 1); see `ferrofactor.rank`.
#[pyfunction]
fn rank<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let xv = x.as_array();
    fill(py, xv.shape(), |ov| clean::rank_into(xv, ov))
}
