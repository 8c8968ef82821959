//! Glue for `rust/exposures.rs`: the fused style-exposure builder.

use numpy::{PyArray3, PyArrayMethods, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::{borrow_err, internal_error, run, to_py_err};
use crate::clean::WinsorMethod;
use crate::exposures::{self, Fill, StyleRecipe};

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(build_styles, m)?)?;
    Ok(())
}

/// Style exposures (T, N, K) from descriptors (each (T, N)); see `rust/exposures.rs`.
/// `parts[k]` lists style k's `(descriptor index, weight)`; `industry` dense codes
/// `-1..n_industries`; `winsorize` in {"sigma", "quantile", "mad", None} with `limit`; `fill` in
/// {"industry_mean", "zero", None}.
#[pyfunction]
#[pyo3(signature = (descriptors, parts, cap, industry, n_industries, winsorize, limit, fill))]
#[allow(clippy::too_many_arguments)]
fn build_styles<'py>(
    py: Python<'py>,
    descriptors: Vec<PyReadonlyArray2<'py, f64>>,
    parts: Vec<Vec<(usize, f64)>>,
    cap: Option<PyReadonlyArray2<'py, f64>>,
    industry: Option<PyReadonlyArray2<'py, i32>>,
    n_industries: usize,
    winsorize: Option<&str>,
    limit: f64,
    fill: Option<&str>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let method = match winsorize {
        None => None,
        Some("sigma") => Some(WinsorMethod::Sigma),
        Some("quantile") => Some(WinsorMethod::Quantile),
        Some("mad") => Some(WinsorMethod::Mad),
        Some(other) => {
            return Err(PyValueError::new_err(format!(
                "winsorize must be one of ['sigma', 'quantile', 'mad', None], got {other:?}"
            )))
        }
    };
    let recipe = StyleRecipe {
        parts,
        winsorize: method.map(|m| (m, limit)),
        fill: Fill::parse(fill).map_err(to_py_err)?,
    };
    let views: Vec<_> = descriptors.iter().map(|d| d.as_array()).collect();
    let (t, n) = views.first().map_or((0, 0), |d| d.dim());
    let cv = cap.as_ref().map(|c| c.as_array());
    let gv = industry.as_ref().map(|g| g.as_array());
    // Allocated by numpy (calloc), filled inside the parallel kernel; arguments are checked
    // before anything is written.
    let out = PyArray3::<f64>::zeros(py, [t, n, recipe.parts.len()], false);
    {
        let mut guard = out.try_readwrite().map_err(borrow_err)?;
        let o = guard.as_slice_mut().map_err(internal_error)?;
        run(py, || exposures::build_styles_into(&views, &recipe, cv, gv, n_industries, o))?;
    }
    Ok(out)
}
