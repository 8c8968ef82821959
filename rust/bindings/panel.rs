//! Glue for `rust/panel.rs`: long rows → dense (T, N) fields (cell index, scatter, gather).
//! The outputs are numpy arrays made by the Python layer and written in place.

use numpy::{IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::{call, contiguous, internal_error, out_slices, run};
use crate::panel;

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(scatter_fields, m)?)?;
    m.add_function(wrap_pyfunction!(cell_index, m)?)?;
    m.add_function(wrap_pyfunction!(scatter_runs, m)?)?;
    m.add_function(wrap_pyfunction!(gather_fields, m)?)?;
    m.add_function(wrap_pyfunction!(first_rows_i32, m)?)?;
    m.add_function(wrap_pyfunction!(first_rows_u32, m)?)?;
    Ok(())
}

/// The contiguous buffers of a list of 1-d arrays, naming the argument.
fn contiguous_all<'a, T: numpy::Element>(
    name: &str,
    arrays: &'a [PyReadonlyArray1<'_, T>],
) -> PyResult<Vec<&'a [T]>> {
    arrays.iter().map(|c| contiguous(name, c)).collect()
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
    let dv = contiguous_all("days", &days)?;
    let iv = contiguous_all("ids", &ids)?;
    let dl = contiguous("day_lut", &day_lut)?;
    let il = contiguous("id_lut", &id_lut)?;
    let c = run(py, || panel::cell_index(&dv, &iv, day_lo, dl, il, n_dates, n_assets, max_report))?;
    let (runs, lin) = match c.layout {
        panel::Layout::Runs(r) => {
            let n = r.len();
            let flat: Vec<i64> = r.into_flattened(); // no copy
            let arr = ndarray::Array2::from_shape_vec((n, 3), flat).map_err(internal_error)?;
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
    let cv = contiguous_all("chunks", &chunks)?;
    call(py, || panel::first_rows(&cv, lo, span))
}

/// First row of each id in `lo..lo + span` (-1 = absent); see `panel::first_rows`.
#[pyfunction]
fn first_rows_u32<'py>(
    py: Python<'py>,
    chunks: Vec<PyReadonlyArray1<'py, u32>>,
    lo: i64,
    span: usize,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let cv = contiguous_all("chunks", &chunks)?;
    call(py, || panel::first_rows(&cv, lo, span))
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
    let vv = contiguous_all("values", &values)?;
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
        .map(|chunks| contiguous_all("fields", chunks))
        .collect::<PyResult<Vec<_>>>()?;
    let mut slices = out_slices(&mut outs)?;
    run(py, || panel::scatter_runs(&runs_v, &views, &mut slices))
}
