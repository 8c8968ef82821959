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
