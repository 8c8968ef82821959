//! All PyO3 glue: argument checks, GIL release, numpy in/out and error mapping.
//!
//! Every heavy call goes through [`run`], which releases the GIL for the whole kernel, runs it in
//! the selected rayon pool, maps `Error::Value` to `ValueError` and turns a panic (a bug, never
//! expected) into a `RuntimeError` instead of letting it cross into Python.
//!
//! The Python wrappers in `python/ferrofactor` convert dtypes and layouts once and name the
//! user's arguments; the checks here are a second line that keeps bad shapes out of the kernels.

use std::panic::{catch_unwind, AssertUnwindSafe};

use numpy::{
    IntoPyArray, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyReadonlyArray3, PyReadwriteArray2,
};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::clean;
use crate::error::Error;
use crate::panel;
use crate::parallel;
use crate::regress;

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

type RegressOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray1<i64>>,
);

/// Batched cross-sectional WLS. Returns (factor_returns, residuals, r2, std_errors, tstats, n_obs).
/// `weights=None` means sqrt(cap) when `cap` is given, else equal weights.
#[pyfunction]
#[pyo3(signature = (returns, styles, industry, n_industries, weights, cap, market, industry_constraint))]
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
    let out = run(py, || regress::cross_section_regress(y, w, c, &design, 0))?;
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
    let out = run(py, || regress::neutralize(xv, cv, iv, n_industries, wv))?;
    Ok(out.into_pyarray(py))
}

// --- clean: winsorize, standardize, rank (rust/clean.rs) ---

/// A fresh (T, N) float64 output from numpy's allocator (calloc, with numpy's huge-page advice
/// for large arrays, so the page faults are few and happen inside the parallel kernel).
fn clean_output<'py>(py: Python<'py>, shape: &[usize]) -> Bound<'py, PyArray2<f64>> {
    PyArray2::<f64>::zeros(py, [shape[0], shape[1]], false)
}

fn borrow_err(e: numpy::BorrowError) -> PyErr {
    PyRuntimeError::new_err(format!("ferrofactor internal error (please report): {e}"))
}

/// Per-date winsorisation; see `ferrofactor.winsorize`.
#[pyfunction]
#[pyo3(signature = (x, method, limit, weights=None, groups=None))]
fn winsorize<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    method: &str,
    limit: f64,
    weights: Option<PyReadonlyArray2<'py, f64>>,
    groups: Option<PyReadonlyArray2<'py, i32>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let method = clean::WinsorMethod::parse(method).map_err(to_py_err)?;
    let (xv, wv, gv) = (
        x.as_array(),
        weights.as_ref().map(|w| w.as_array()),
        groups.as_ref().map(|g| g.as_array()),
    );
    if let Some(w) = &wv {
        check_shape("weights", w.shape(), xv.shape())?;
    }
    if let Some(g) = &gv {
        check_shape("groups", g.shape(), xv.shape())?;
    }
    let out = clean_output(py, xv.shape());
    {
        let mut guard = out.try_readwrite().map_err(borrow_err)?;
        let ov = guard.as_array_mut();
        run(py, || clean::winsorize_into(xv, method, limit, wv, gv, ov))?;
    }
    Ok(out)
}

/// Per-date standardisation; see `ferrofactor.standardize`.
/// With `winsorize` (a method name) the values are first winsorised at `limit` in the same pass
/// (the fused form of the two calls; the winsorisation uses `weights` only for "sigma").
#[pyfunction]
#[pyo3(signature = (x, weights=None, groups=None, winsorize=None, limit=3.0))]
fn standardize<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
    weights: Option<PyReadonlyArray2<'py, f64>>,
    groups: Option<PyReadonlyArray2<'py, i32>>,
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
        groups.as_ref().map(|g| g.as_array()),
    );
    if let Some(w) = &wv {
        check_shape("weights", w.shape(), xv.shape())?;
    }
    if let Some(g) = &gv {
        check_shape("groups", g.shape(), xv.shape())?;
    }
    let out = clean_output(py, xv.shape());
    {
        let mut guard = out.try_readwrite().map_err(borrow_err)?;
        let ov = guard.as_array_mut();
        run(py, || match method {
            None => clean::standardize_into(xv, wv, gv, ov),
            Some(m) => clean::winsorize_standardize_into(xv, m, limit, wv, gv, ov),
        })?;
    }
    Ok(out)
}

/// Per-date average ranks scaled to (0, 1); see `ferrofactor.rank`.
#[pyfunction]
fn rank<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f64>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let xv = x.as_array();
    let out = clean_output(py, xv.shape());
    {
        let mut guard = out.try_readwrite().map_err(borrow_err)?;
        let ov = guard.as_array_mut();
        run(py, || clean::rank_into(xv, ov))?;
    }
    Ok(out)
}

/// The flat buffers of C-contiguous float64 output arrays (an F-ordered array is refused: its
/// memory order is not the row-major order the kernels write).
fn out_slices<'a>(outs: &'a mut [PyReadwriteArray2<'_, f64>]) -> PyResult<Vec<&'a mut [f64]>> {
    let bad = || PyValueError::new_err("outs must be C-contiguous float64 arrays");
    let mut slices = Vec::with_capacity(outs.len());
    for o in outs.iter_mut() {
        if !o.as_array().is_standard_layout() {
            return Err(bad());
        }
        slices.push(o.as_slice_mut().map_err(|_| bad())?);
    }
    Ok(slices)
}

/// Scatter long rows into dense fields, in place; see `ferrofactor.panel`.
/// `lin[r]` is row r's cell (`outs[k].size` = drop); `fields` is a list of fields, each a list of
/// float64 chunks whose lengths add up to `len(lin)`; `outs` one C-contiguous float64 array per
/// field, all of one size, overwritten completely (NaN where no row lands).
#[pyfunction]
fn scatter_fields<'py>(
    py: Python<'py>,
    lin: PyReadonlyArray1<'py, i64>,
    fields: Vec<Vec<PyReadonlyArray1<'py, f64>>>,
    mut outs: Vec<PyReadwriteArray2<'py, f64>>,
) -> PyResult<()> {
    let lin_v = lin.as_array();
    let views: Vec<Vec<_>> = fields
        .iter()
        .map(|chunks| chunks.iter().map(|c| c.as_array()).collect())
        .collect();
    let mut slices = out_slices(&mut outs)?;
    run(py, || panel::scatter_fields(lin_v, &views, &mut slices))
}

fn contiguous<'a, T: numpy::Element>(name: &str, a: &'a PyReadonlyArray1<'_, T>) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be contiguous 1-d arrays")))
}

/// Cells `t * n_assets + a` of long rows and their repeats; see `ferrofactor.panel`.
/// Returns `(runs, lin, n_dropped, repeated_cells, n_repeats, n_repeated_cells)`: `runs` (R, 3)
/// `[first_row, first_cell, len]` when the kept cells increase (then `lin` is None), else `lin`
/// (one cell per row, `n_dates * n_assets` = dropped) and `runs` None.
#[pyfunction]
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn cell_index<'py>(
    py: Python<'py>,
    days: Vec<PyReadonlyArray1<'py, i32>>,
    ids: Vec<PyReadonlyArray1<'py, u32>>,
    day_lo: i64,
    day_lut: PyReadonlyArray1<'py, i32>,
    id_lut: PyReadonlyArray1<'py, i32>,
    n_dates: usize,
    n_assets: usize,
    max_report: usize,
) -> PyResult<(
    Option<Bound<'py, PyArray2<i64>>>,
    Option<Bound<'py, PyArray1<i64>>>,
    usize,
    Bound<'py, PyArray1<i64>>,
    usize,
    usize,
)> {
    let dv = days.iter().map(|c| contiguous("days", c)).collect::<PyResult<Vec<_>>>()?;
    let iv = ids.iter().map(|c| contiguous("ids", c)).collect::<PyResult<Vec<_>>>()?;
    let dl = contiguous("day_lut", &day_lut)?;
    let il = contiguous("id_lut", &id_lut)?;
    let c = run(py, || panel::cell_index(&dv, &iv, day_lo, dl, il, n_dates, n_assets, max_report))?;
    let (runs, lin) = match c.layout {
        panel::Layout::Runs(r) => {
            let n = r.len();
            let flat: Vec<i64> = r.into_flattened(); // no copy
            let arr = ndarray::Array2::from_shape_vec((n, 3), flat)
                .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
            (Some(arr.into_pyarray(py)), None)
        }
        panel::Layout::Cells(lin) => (None, Some(lin.into_pyarray(py))),
    };
    Ok((runs, lin, c.n_dropped, c.repeated.into_pyarray(py), c.n_repeats, c.n_repeated_cells))
}

/// First row of each day number in `lo..lo + span` (-1 = absent); see `panel::first_rows`.
#[pyfunction]
fn first_rows_i32<'py>(
    py: Python<'py>,
    chunks: Vec<PyReadonlyArray1<'py, i32>>,
    lo: i64,
    span: usize,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let cv = chunks.iter().map(|c| contiguous("chunks", c)).collect::<PyResult<Vec<_>>>()?;
    Ok(run(py, || panel::first_rows(&cv, lo, span))?.into_pyarray(py))
}

/// First row of each id in `lo..lo + span` (-1 = absent); see `panel::first_rows`.
#[pyfunction]
fn first_rows_u32<'py>(
    py: Python<'py>,
    chunks: Vec<PyReadonlyArray1<'py, u32>>,
    lo: i64,
    span: usize,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let cv = chunks.iter().map(|c| contiguous("chunks", c)).collect::<PyResult<Vec<_>>>()?;
    Ok(run(py, || panel::first_rows(&cv, lo, span))?.into_pyarray(py))
}

/// Fill `(T, N)` outputs with `values[k][index]`, NaN where `index == -1`; see
/// `panel::gather_fields`.
#[pyfunction]
fn gather_fields<'py>(
    py: Python<'py>,
    values: Vec<PyReadonlyArray1<'py, f64>>,
    index: PyReadonlyArray2<'py, i32>,
    mut outs: Vec<PyReadwriteArray2<'py, f64>>,
) -> PyResult<()> {
    let vv = values.iter().map(|c| contiguous("values", c)).collect::<PyResult<Vec<_>>>()?;
    let ix = index
        .as_slice()
        .map_err(|_| PyValueError::new_err("index must be a C-contiguous int32 array"))?;
    let mut slices = out_slices(&mut outs)?;
    run(py, || panel::gather_fields(&vv, ix, &mut slices))
}

/// Write float fields into `(T, N)` outputs from the runs of `cell_index` (NaN elsewhere).
#[pyfunction]
fn scatter_runs<'py>(
    py: Python<'py>,
    runs: PyReadonlyArray2<'py, i64>,
    fields: Vec<Vec<PyReadonlyArray1<'py, f64>>>,
    mut outs: Vec<PyReadwriteArray2<'py, f64>>,
) -> PyResult<()> {
    let rv = runs.as_array();
    if rv.ncols() != 3 {
        return Err(PyValueError::new_err(format!("runs must have shape (R, 3), got {:?}", rv.shape())));
    }
    let runs_v: Vec<[i64; 3]> = rv.rows().into_iter().map(|r| [r[0], r[1], r[2]]).collect();
    let views = fields
        .iter()
        .map(|chunks| chunks.iter().map(|c| contiguous("fields", c)).collect::<PyResult<Vec<_>>>())
        .collect::<PyResult<Vec<_>>>()?;
    let mut slices = out_slices(&mut outs)?;
    run(py, || panel::scatter_runs(&runs_v, &views, &mut slices))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rolling_moment, m)?)?;
    m.add_function(wrap_pyfunction!(rolling_beta, m)?)?;
    m.add_function(wrap_pyfunction!(compounded_return, m)?)?;
    m.add_function(wrap_pyfunction!(max_drawdown, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(cross_section_regress, m)?)?;
    m.add_function(wrap_pyfunction!(neutralize, m)?)?;
    // clean
    m.add_function(wrap_pyfunction!(winsorize, m)?)?;
    m.add_function(wrap_pyfunction!(standardize, m)?)?;
    m.add_function(wrap_pyfunction!(rank, m)?)?;
    // panel
    m.add_function(wrap_pyfunction!(scatter_fields, m)?)?;
    m.add_function(wrap_pyfunction!(cell_index, m)?)?;
    m.add_function(wrap_pyfunction!(scatter_runs, m)?)?;
    m.add_function(wrap_pyfunction!(gather_fields, m)?)?;
    m.add_function(wrap_pyfunction!(first_rows_i32, m)?)?;
    m.add_function(wrap_pyfunction!(first_rows_u32, m)?)?;
    // risk
    register_risk(m)?;
    Ok(())
}

// --- risk -------------------------------------------------------------------------------------

use numpy::PyArray3;

use crate::risk;

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
    let out = run(py, || risk::ewma_newey_west(x, half_life, lags, min_periods))?;
    Ok(out.into_pyarray(py))
}

/// Factor covariance (T, K, K), not clipped, and whether its valid block is not PSD beyond
/// rounding (T,); the Python layer clips those dates.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn risk_factor_covariance<'py>(
    py: Python<'py>,
    factor_returns: PyReadonlyArray2<'py, f64>,
    vol_half_life: f64,
    corr_half_life: f64,
    vol_lags: usize,
    corr_lags: usize,
    min_periods: usize,
) -> PyResult<(Bound<'py, PyArray3<f64>>, Bound<'py, PyArray1<bool>>)> {
    let f = factor_returns.as_array();
    let s = risk::CovSettings { vol_half_life, corr_half_life, vol_lags, corr_lags, min_periods };
    let (c, not_psd) = run(py, || risk::factor_covariance(f, &s))?;
    Ok((c.into_pyarray(py), not_psd.into_pyarray(py)))
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
    n_groups: usize,
    ridge: f64,
    blend_periods: usize,
    nw_lags: usize,
) -> PyResult<SpecificPy<'py>> {
    let (r, st, ind, c) = (residuals.as_array(), styles.as_array(), industry.as_array(), cap.as_array());
    let s = risk::SpecificSettings { half_life, nw_lags, min_periods, blend_periods, shrinkage, n_groups, ridge };
    let o = run(py, || risk::specific_variance(r, st, ind, n_industries, c, &s))?;
    Ok((
        o.var.into_pyarray(py),
        o.ewma_var.into_pyarray(py),
        o.n_obs.into_pyarray(py),
        o.structural.into_pyarray(py),
    ))
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
) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>)> {
    let (x, v) = (x.as_array(), forecast_var.as_array());
    let w = weights.as_ref().map(|w| w.as_array());
    let (b2, m) = run(py, || risk::regime_multiplier(x, v, w, half_life))?;
    Ok((b2.into_pyarray(py), m.into_pyarray(py)))
}

fn layout(market: bool, n_industries: usize, n_styles: usize) -> risk::Layout {
    risk::Layout { market, n_industries, n_styles }
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
    let (w, st, ind) = (weights.as_array(), styles.as_array(), industry.as_array());
    let lay = layout(market, n_industries, st.ncols());
    let out = run(py, || risk::factor_exposures(w, st, ind, lay))?;
    Ok(out.into_pyarray(py))
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
) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>)> {
    let (w, st, ind) = (weights.as_array(), styles.as_array(), industry.as_array());
    let (fc, d) = (factor_cov.as_array(), specific_var.as_array());
    let lay = layout(market, n_industries, st.ncols());
    let (fv, sv) = run(py, || risk::portfolio_variance(w, st, ind, lay, fc, d))?;
    Ok((fv.into_pyarray(py), sv.into_pyarray(py)))
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
    let (v, st, ind) = (v.as_array(), styles.as_array(), industry.as_array());
    let lay = layout(market, n_industries, st.ncols());
    let out = run(py, || risk::exposures_times(v, st, ind, lay))?;
    Ok(out.into_pyarray(py))
}

/// Raise ValueError unless a user factor covariance is square, finite and symmetric (the PSD
/// check is in Python).
#[pyfunction]
fn risk_check_factor_covariance<'py>(py: Python<'py>, c: PyReadonlyArray2<'py, f64>) -> PyResult<()> {
    let c = c.as_array();
    run(py, || risk::check_factor_covariance(c))
}

fn register_risk(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(risk_ewma_newey_west, m)?)?;
    m.add_function(wrap_pyfunction!(risk_factor_covariance, m)?)?;
    m.add_function(wrap_pyfunction!(risk_specific_variance, m)?)?;
    m.add_function(wrap_pyfunction!(risk_regime_multiplier, m)?)?;
    m.add_function(wrap_pyfunction!(risk_factor_exposures, m)?)?;
    m.add_function(wrap_pyfunction!(risk_portfolio_variance, m)?)?;
    m.add_function(wrap_pyfunction!(risk_exposures_times, m)?)?;
    m.add_function(wrap_pyfunction!(risk_check_factor_covariance, m)?)?;
    Ok(())
}
