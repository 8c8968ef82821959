//! Long → dense panels: scatter rows with a known cell index into `(T, N)` fields.
//!
//! The Python side (`ferrofactor.panel`) gives every row of a long frame its cell
//! `t · N + a` (dense codes of its date and asset; `T · N` for a row to drop) and checks that no
//! cell repeats. This kernel then writes each field's rows into a fresh `(T, N)` array, NaN where
//! no row lands:
//!
//! - fields run in parallel (rayon, one task per field); each output is written by one task, so
//!   the result does not depend on the number of threads;
//! - a field's values may come in several chunks (Arrow chunks of a Polars column), consumed in
//!   order without concatenating them first;
//! - when the cells are strictly increasing (a file sorted by date then asset, the usual
//!   layout) each output is written in one sequential pass (gaps as NaN, then the row);
//!   otherwise it is filled with NaN and the rows are scattered.

use ndarray::{Array2, ArrayView1};
use rayon::prelude::*;

use crate::error::Result;
use crate::value_error;

/// Scatter `fields` (each a list of chunks whose lengths add up to `lin.len()`) into
/// `(n_dates, n_assets)` arrays. `lin[r]` is row `r`'s cell in `[0, n_dates · n_assets]`, the
/// upper bound meaning "drop this row". Cells must not repeat (checked by the caller: a repeat
/// would keep the later row).
pub fn scatter_fields(
    lin: ArrayView1<'_, i64>,
    fields: &[Vec<ArrayView1<'_, f64>>],
    n_dates: usize,
    n_assets: usize,
) -> Result<Vec<Array2<f64>>> {
    let size = n_dates
        .checked_mul(n_assets)
        .ok_or_else(|| value_error!("n_dates * n_assets overflows ({n_dates} x {n_assets})"))?;
    let n_rows = lin.len();
    for (k, chunks) in fields.iter().enumerate() {
        let len: usize = chunks.iter().map(|c| c.len()).sum();
        if len != n_rows {
            return Err(value_error!(
                "field {k} has {len} values but there are {n_rows} cell indices"
            ));
        }
    }
    let lin_owned;
    let lin: &[i64] = match lin.as_slice() {
        Some(s) => s,
        None => {
            lin_owned = lin.to_vec();
            &lin_owned
        }
    };
    let mut increasing = true;
    let mut prev: i64 = -1;
    for &c in lin {
        if c < 0 || c as u64 > size as u64 {
            return Err(value_error!("cell index {c} is outside [0, {size}]"));
        }
        if c <= prev || c as usize == size {
            increasing = false;
        }
        prev = c;
    }
    fields
        .par_iter()
        .map(|chunks| {
            let out = if increasing {
                scatter_sequential(lin, chunks, size)
            } else {
                scatter_any(lin, chunks, size)
            };
            Array2::from_shape_vec((n_dates, n_assets), out)
                .map_err(|e| value_error!("cannot shape the output: {e}"))
        })
        .collect()
}

/// Strictly increasing cells below `size`: one pass, NaN for the gaps.
fn scatter_sequential(lin: &[i64], chunks: &[ArrayView1<'_, f64>], size: usize) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::with_capacity(size);
    let mut r = 0usize;
    for chunk in chunks {
        let mut put = |v: f64, r: usize| {
            let cell = lin[r] as usize;
            out.resize(cell, f64::NAN);
            out.push(v);
        };
        match chunk.as_slice() {
            Some(vals) => {
                for &v in vals {
                    put(v, r);
                    r += 1;
                }
            }
            None => {
                for &v in chunk.iter() {
                    put(v, r);
                    r += 1;
                }
            }
        }
    }
    out.resize(size, f64::NAN);
    out
}

/// Any order: fill with NaN, then scatter (rows whose cell is `size` are dropped).
fn scatter_any(lin: &[i64], chunks: &[ArrayView1<'_, f64>], size: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; size];
    let mut r = 0usize;
    for chunk in chunks {
        for &v in chunk.iter() {
            let cell = lin[r] as usize;
            if cell < size {
                out[cell] = v;
            }
            r += 1;
        }
    }
    out
}

/// The cells of long rows and whether they repeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Cells {
    /// `lin[r] = t · n_assets + a` for row `r`, or `n_dates · n_assets` for a row off the axes.
    pub lin: Vec<i64>,
    /// Rows off the axes (date or asset mapped to -1).
    pub n_dropped: usize,
    /// Whether `lin` is strictly increasing and nothing was dropped (the sorted layout).
    pub increasing: bool,
    /// Cells that more than one row maps to (at most `max_report`, in row order of the repeat).
    pub repeated: Vec<i64>,
    /// Rows that repeat an earlier row's cell.
    pub n_repeats: usize,
    /// Distinct cells with more than one row.
    pub n_repeated_cells: usize,
}

/// Map rows to cells in one pass: `day_lut[day - day_lo]` is a row's date index (-1 = off the
/// axis), `id_lut[id]` its asset index (-1 = off). `days`/`ids` come as matching chunks. Unless
/// the cells are strictly increasing, an occupancy pass counts rows repeating a cell.
#[allow(clippy::too_many_arguments)]
pub fn cell_index(
    days: &[ArrayView1<'_, i32>],
    ids: &[ArrayView1<'_, u32>],
    day_lo: i64,
    day_lut: ArrayView1<'_, i32>,
    id_lut: ArrayView1<'_, i32>,
    n_dates: usize,
    n_assets: usize,
    max_report: usize,
) -> Result<Cells> {
    let size = n_dates
        .checked_mul(n_assets)
        .ok_or_else(|| value_error!("n_dates * n_assets overflows ({n_dates} x {n_assets})"))?;
    let n_rows: usize = days.iter().map(|c| c.len()).sum();
    let n_ids: usize = ids.iter().map(|c| c.len()).sum();
    if n_rows != n_ids {
        return Err(value_error!("{n_rows} dates but {n_ids} asset ids"));
    }
    let mut lin = Vec::with_capacity(n_rows);
    let mut n_dropped = 0usize;
    let mut increasing = true;
    let mut prev = -1i64;
    let mut id_iter = ids.iter().flat_map(|c| c.iter());
    for chunk in days {
        for &d in chunk.iter() {
            let id = *id_iter.next().ok_or_else(|| value_error!("asset ids ran out"))? as usize;
            let k = d as i64 - day_lo;
            let t = if k >= 0 && (k as usize) < day_lut.len() { day_lut[k as usize] } else { -1 };
            let a = if id < id_lut.len() { id_lut[id] } else { -1 };
            if t < 0 || a < 0 || t as usize >= n_dates || a as usize >= n_assets {
                n_dropped += 1;
                increasing = false;
                lin.push(size as i64);
                continue;
            }
            let cell = t as i64 * n_assets as i64 + a as i64;
            if cell <= prev {
                increasing = false;
            }
            prev = cell;
            lin.push(cell);
        }
    }
    let mut repeated = Vec::new();
    let mut n_repeats = 0usize;
    let mut n_repeated_cells = 0usize;
    if !increasing {
        // 0 = empty, 1 = one row, 2 = repeated
        let mut seen = vec![0u8; size];
        for &c in &lin {
            let c = c as usize;
            if c == size {
                continue;
            }
            match seen[c] {
                0 => seen[c] = 1,
                1 => {
                    seen[c] = 2;
                    n_repeats += 1;
                    n_repeated_cells += 1;
                    if repeated.len() < max_report {
                        repeated.push(c as i64);
                    }
                }
                _ => n_repeats += 1,
            }
        }
    }
    Ok(Cells { lin, n_dropped, increasing, repeated, n_repeats, n_repeated_cells })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn same(a: &Array2<f64>, b: &Array2<f64>) -> bool {
        a.shape() == b.shape()
            && a.iter().zip(b.iter()).all(|(x, y)| (x.is_nan() && y.is_nan()) || x == y)
    }

    #[test]
    fn sequential_and_general_paths_agree() {
        let nan = f64::NAN;
        // 2 dates x 3 assets; rows in cell order with gaps, split over two chunks
        let lin = array![0i64, 2, 4, 5];
        let a = array![1.0, 2.0];
        let b = array![3.0, 4.0];
        let fields = vec![vec![a.view(), b.view()]];
        let out = scatter_fields(lin.view(), &fields, 2, 3).unwrap();
        let want = array![[1.0, nan, 2.0], [nan, 3.0, 4.0]];
        assert!(same(&out[0], &want));
        // the same rows shuffled, with one row dropped (cell 6 = size)
        let lin2 = array![5i64, 6, 0, 4, 2];
        let v = array![4.0, 99.0, 1.0, 3.0, 2.0];
        let out2 = scatter_fields(lin2.view(), &[vec![v.view()]], 2, 3).unwrap();
        assert!(same(&out2[0], &want));
    }

    #[test]
    fn several_fields_and_full_grid() {
        let lin = array![0i64, 1, 2, 3];
        let x = array![1.0, 2.0, 3.0, 4.0];
        let y = array![-1.0, -2.0, -3.0, -4.0];
        let out = scatter_fields(lin.view(), &[vec![x.view()], vec![y.view()]], 2, 2).unwrap();
        assert_eq!(out[0], array![[1.0, 2.0], [3.0, 4.0]]);
        assert_eq!(out[1], array![[-1.0, -2.0], [-3.0, -4.0]]);
        // no rows: all NaN
        let empty = ndarray::Array1::<i64>::zeros(0);
        let e = ndarray::Array1::<f64>::zeros(0);
        let out = scatter_fields(empty.view(), &[vec![e.view()]], 1, 2).unwrap();
        assert!(out[0].iter().all(|v| v.is_nan()));
    }

    #[test]
    fn cell_index_maps_drops_and_finds_repeats() {
        // days 10, 12 on the axis (lut offset 10), asset ids 0 -> 1, 1 -> 0, 2 -> off
        let day_lut = array![0i32, -1, 1];
        let id_lut = array![1i32, 0, -1];
        let d1 = array![10i32, 10];
        let d2 = array![12i32, 12, 11];
        let i1 = array![1u32, 0];
        let i2 = array![1u32, 2, 0];
        let c = cell_index(&[d1.view(), d2.view()], &[i1.view(), i2.view()], 10, day_lut.view(), id_lut.view(), 2, 2, 5).unwrap();
        assert_eq!(c.lin, vec![0, 1, 2, 4, 4]);
        assert_eq!(c.n_dropped, 2);
        assert!(!c.increasing);
        assert_eq!(c.n_repeats, 0);
        let d = array![10i32, 12, 10, 10];
        let i = array![1u32, 1, 1, 0];
        let c = cell_index(&[d.view()], &[i.view()], 10, day_lut.view(), id_lut.view(), 2, 2, 5).unwrap();
        assert_eq!(c.lin, vec![0, 2, 0, 1]);
        assert_eq!((c.n_repeats, c.n_repeated_cells, c.repeated.clone()), (1, 1, vec![0]));
        let d = array![10i32, 10, 12];
        let i = array![1u32, 0, 0];
        let c = cell_index(&[d.view()], &[i.view()], 10, day_lut.view(), id_lut.view(), 2, 2, 5).unwrap();
        assert!(c.increasing && c.n_dropped == 0 && c.n_repeats == 0);
        assert!(cell_index(&[d.view()], &[], 10, day_lut.view(), id_lut.view(), 2, 2, 5).is_err());
    }

    #[test]
    fn bad_input_is_an_error() {
        let lin = array![0i64, 7];
        let x = array![1.0, 2.0];
        assert!(scatter_fields(lin.view(), &[vec![x.view()]], 2, 3).is_err()); // 7 > 6
        let lin = array![0i64, -1];
        assert!(scatter_fields(lin.view(), &[vec![x.view()]], 2, 3).is_err());
        let lin = array![0i64];
        assert!(scatter_fields(lin.view(), &[vec![x.view()]], 2, 3).is_err()); // length
        assert!(scatter_fields(lin.view(), &[], usize::MAX, 2).is_err()); // overflow
    }
}
