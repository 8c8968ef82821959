//! Glue for `rust/backtest.rs`: the accounting loop of `ferrofactor.backtest` and the rebuild of a
//! book's positions from its trades.

use numpy::{
    Element, IntoPyArray, PyArray1, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArray3, PyReadwriteArray1,
    PyReadwriteArray2, PyReadwriteArray3, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::{call, check_shape, run, to_py_err};
use crate::backtest::{self, CostSide, Costs, Market, Output, Segment, Side, SnapshotsRef, Targets};

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(backtest_run, m)?)?;
    m.add_function(wrap_pyfunction!(backtest_positions, m)?)?;
    m.add_function(wrap_pyfunction!(backtest_scan, m)?)?;
    Ok(())
}

fn slice_of<'a, T: Element, D: ndarray::Dimension>(
    name: &str,
    a: &'a numpy::PyReadonlyArray<'_, T, D>,
) -> PyResult<&'a [T]> {
    a.as_slice().map_err(|_| PyValueError::new_err(format!("{name} must be a C-contiguous array")))
}

fn rows_of(name: &str, a: &PyReadonlyArray1<'_, i64>) -> PyResult<Vec<usize>> {
    slice_of(name, a)?
        .iter()
        .map(|&r| usize::try_from(r).map_err(|_| PyValueError::new_err(format!("{name} must be non-negative, got {r}"))))
        .collect()
}

/// One book's sparse positions after its trades: (asset indices, money, count per trade).
type PySnapshots<'py> = (Bound<'py, PyArray1<u32>>, Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<u64>>);

/// Run P books over rows `rows_start..rows_end` (see `rust/backtest.rs` for the accounting),
/// updating `positions` (P, N) and `cash` (P,) in place and writing `series` (P, 7, L) at columns
/// `offset..`. Returns, per book, its positions after each trade of the segment, sparse:
/// `(idx, val, nnz)`.
#[pyfunction]
#[pyo3(signature = (
    returns, tradable, delist_row, delist_return, rows_start, rows_end, fresh, trade_rows, target_rows,
    targets, cost_rate, cost_side, positions, cash, series, offset, hold=None
))]
#[allow(clippy::too_many_arguments)]
fn backtest_run<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    tradable: Option<PyReadonlyArray2<'py, bool>>,
    delist_row: PyReadonlyArray1<'py, i64>,
    delist_return: PyReadonlyArray1<'py, f64>,
    rows_start: usize,
    rows_end: usize,
    fresh: bool,
    trade_rows: PyReadonlyArray1<'py, i64>,
    target_rows: PyReadonlyArray1<'py, i64>,
    targets: PyReadonlyArray3<'py, f64>,
    cost_rate: f64,
    cost_side: &str,
    mut positions: PyReadwriteArray2<'py, f64>,
    mut cash: PyReadwriteArray1<'py, f64>,
    mut series: PyReadwriteArray3<'py, f64>,
    offset: usize,
    hold: Option<PyReadonlyArray2<'py, bool>>,
) -> PyResult<Vec<PySnapshots<'py>>> {
    let shape = returns.shape().to_vec();
    let (t, n) = (shape[0], shape[1]);
    if let Some(m) = &tradable {
        check_shape("tradable", m.shape(), &shape)?;
    }
    let side = CostSide::parse(cost_side).map_err(to_py_err)?;
    let tshape = targets.shape().to_vec();
    if tshape[2] != n {
        return Err(PyValueError::new_err(format!("targets has shape {tshape:?}, expected (P, R, {n})")));
    }
    let p = tshape[0];
    check_shape("positions", positions.shape(), &[p, n])?;
    check_shape("cash", cash.shape(), &[p])?;
    let sshape = series.shape().to_vec();
    if sshape[0] != p || sshape[1] != backtest::N_SERIES {
        return Err(PyValueError::new_err(format!(
            "series has shape {sshape:?}, expected ({p}, {}, L)",
            backtest::N_SERIES
        )));
    }
    let trade_rows = rows_of("trade_rows", &trade_rows)?;
    let target_rows = rows_of("target_rows", &target_rows)?;
    let r = slice_of("returns", &returns)?;
    let m = match &tradable {
        Some(a) => Some(slice_of("tradable", a)?),
        None => None,
    };
    let dr = slice_of("delist_row", &delist_row)?;
    let dret = slice_of("delist_return", &delist_return)?;
    let tg = slice_of("targets", &targets)?;
    if let Some(h) = &hold {
        check_shape("hold", h.shape(), &[p, tshape[1]])?;
    }
    let hd = match &hold {
        Some(h) => Some(slice_of("hold", h)?),
        None => None,
    };
    let bad = |name: &str| PyValueError::new_err(format!("{name} must be a C-contiguous float64 array"));
    let pos = positions.as_slice_mut().map_err(|_| bad("positions"))?;
    let c = cash.as_slice_mut().map_err(|_| bad("cash"))?;
    let ser = series.as_slice_mut().map_err(|_| bad("series"))?;
    let snaps = run(py, move || {
        let market = Market { returns: r, tradable: m, n_dates: t, n_assets: n, delist_row: dr, delist_return: dret };
        let seg = Segment { rows: rows_start..rows_end, fresh, trade_rows: &trade_rows, target_rows: &target_rows };
        backtest::run(
            &market,
            &seg,
            Targets { data: tg, n_books: p, n_rows: tshape[1], hold: hd },
            Costs { rate: cost_rate, side },
            pos,
            c,
            Output { series: ser, len: sshape[2], offset },
        )
    })?;
    Ok(snaps
        .into_iter()
        .map(|s| (s.idx.into_pyarray(py), s.val.into_pyarray(py), s.nnz.into_pyarray(py)))
        .collect())
}

/// One book's positions on rows `rows_start..rows_end` divided by `denominators` (L,), rebuilt
/// from its sparse positions after each trade (`idx`, `val`, `nnz` as returned by
/// `backtest_run`); `side` is "before" or "after" trading. (L, N).
#[pyfunction]
#[pyo3(signature = (returns, delist_row, delist_return, rows_start, rows_end, trade_rows, idx, val, nnz, denominators, side))]
#[allow(clippy::too_many_arguments)]
fn backtest_positions<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    delist_row: PyReadonlyArray1<'py, i64>,
    delist_return: PyReadonlyArray1<'py, f64>,
    rows_start: usize,
    rows_end: usize,
    trade_rows: PyReadonlyArray1<'py, i64>,
    idx: PyReadonlyArray1<'py, u32>,
    val: PyReadonlyArray1<'py, f64>,
    nnz: PyReadonlyArray1<'py, u64>,
    denominators: PyReadonlyArray1<'py, f64>,
    side: &str,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let shape = returns.shape().to_vec();
    let (t, n) = (shape[0], shape[1]);
    let side = match side {
        "before" => Side::Before,
        "after" => Side::After,
        _ => return Err(PyValueError::new_err(format!("side must be one of ['before', 'after'], got {side:?}"))),
    };
    let trade_rows = rows_of("trade_rows", &trade_rows)?;
    let r = slice_of("returns", &returns)?;
    let dr = slice_of("delist_row", &delist_row)?;
    let dret = slice_of("delist_return", &delist_return)?;
    let sn = SnapshotsRef { idx: slice_of("idx", &idx)?, val: slice_of("val", &val)?, nnz: slice_of("nnz", &nnz)? };
    let den = slice_of("denominators", &denominators)?;
    call(py, move || {
        let market = Market { returns: r, tradable: None, n_dates: t, n_assets: n, delist_row: dr, delist_return: dret };
        backtest::positions_path(&market, rows_start..rows_end, &trade_rows, sn, den, side)
    })
}

/// One pass over returns (T, N): per asset the last row with a finite value (−1 = none), the
/// number of infinite values and the smallest finite value (inf when none).
#[pyfunction]
fn backtest_scan<'py>(py: Python<'py>, returns: PyReadonlyArray2<'py, f64>) -> PyResult<(Bound<'py, PyArray1<i64>>, usize, f64)> {
    let shape = returns.shape().to_vec();
    let r = slice_of("returns", &returns)?;
    let (last, n_inf, low) = run(py, move || backtest::scan_returns(r, shape[0], shape[1]))?;
    Ok((last.into_pyarray(py), n_inf, low))
}
