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

use ndarray::ArrayView1;
use rayon::prelude::*;

use crate::error::Result;
use crate::value_error;

/// Scatter `fields` (each a list of chunks whose lengths add up to `lin.len()`) into `outs`
/// (one flat `n_dates · n_assets` slice per field, written completely: NaN where no row lands).
/// `lin[r]` is row `r`'s cell in `[0, size]`, `size` meaning "drop this row". Cells must not
/// repeat (checked by `cell_index`: a repeat would keep the later row). The outputs are
/// allocated by the caller (numpy, which asks for huge pages: first-touch page faults dominate
/// this kernel on fresh memory).
pub fn scatter_fields(
    lin: ArrayView1<'_, i64>,
    fields: &[Vec<ArrayView1<'_, f64>>],
    outs: &mut [&mut [f64]],
) -> Result<()> {
    if outs.len() != fields.len() {
        return Err(value_error!("{} fields but {} outputs", fields.len(), outs.len()));
    }
    let size = outs.first().map_or(0, |o| o.len());
    if outs.iter().any(|o| o.len() != size) {
        return Err(value_error!("outputs differ in size"));
    }
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
    outs.par_iter_mut().zip(fields.par_iter()).for_each(|(out, chunks)| {
        if increasing {
            scatter_sequential(lin, chunks, out)
        } else {
            scatter_any(lin, chunks, out)
        }
    });
    Ok(())
}

/// Strictly increasing cells below `out.len()`: one pass, NaN for the gaps.
fn scatter_sequential(lin: &[i64], chunks: &[ArrayView1<'_, f64>], out: &mut [f64]) {
    let mut next = 0usize; // first cell not yet written
    let mut r = 0usize;
    for chunk in chunks {
        for &v in chunk.iter() {
            let cell = lin[r] as usize;
            out[next..cell].fill(f64::NAN);
            out[cell] = v;
            next = cell + 1;
            r += 1;
        }
    }
    out[next..].fill(f64::NAN);
}

/// Any order: fill with NaN, then scatter (rows whose cell is `out.len()` are dropped).
fn scatter_any(lin: &[i64], chunks: &[ArrayView1<'_, f64>], out: &mut [f64]) {
    out.fill(f64::NAN);
    let size = out.len();
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

    fn run(lin: &[i64], fields: &[Vec<ArrayView1<'_, f64>>], size: usize) -> Result<Vec<Vec<f64>>> {
        let lin = ndarray::Array1::from(lin.to_vec());
        let mut outs: Vec<Vec<f64>> = vec![vec![0.0; size]; fields.len()];
        let mut refs: Vec<&mut [f64]> = outs.iter_mut().map(|o| o.as_mut_slice()).collect();
        scatter_fields(lin.view(), fields, &mut refs)?;
        Ok(outs)
    }

    fn same(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x.is_nan() && y.is_nan()) || x == y)
    }

    #[test]
    fn sequential_and_general_paths_agree() {
        let nan = f64::NAN;
        // 2 dates x 3 assets; rows in cell order with gaps, split over two chunks
        let a = array![1.0, 2.0];
        let b = array![3.0, 4.0];
        let out = run(&[0, 2, 4, 5], &[vec![a.view(), b.view()]], 6).unwrap();
        let want = [1.0, nan, 2.0, nan, 3.0, 4.0];
        assert!(same(&out[0], &want));
        // the same rows shuffled, with one row dropped (cell 6 = size)
        let v = array![4.0, 99.0, 1.0, 3.0, 2.0];
        let out2 = run(&[5, 6, 0, 4, 2], &[vec![v.view()]], 6).unwrap();
        assert!(same(&out2[0], &want));
        // trailing and leading gaps in the sequential path
        let w = array![7.0];
        assert!(same(&run(&[3], &[vec![w.view()]], 6).unwrap()[0], &[nan, nan, nan, 7.0, nan, nan]));
    }

    #[test]
    fn several_fields_and_full_grid() {
        let x = array![1.0, 2.0, 3.0, 4.0];
        let y = array![-1.0, -2.0, -3.0, -4.0];
        let out = run(&[0, 1, 2, 3], &[vec![x.view()], vec![y.view()]], 4).unwrap();
        assert_eq!(out, vec![vec![1.0, 2.0, 3.0, 4.0], vec![-1.0, -2.0, -3.0, -4.0]]);
        // no rows: all NaN
        let e = ndarray::Array1::<f64>::zeros(0);
        let out = run(&[], &[vec![e.view()]], 2).unwrap();
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
        let x = array![1.0, 2.0];
        assert!(run(&[0, 7], &[vec![x.view()]], 6).is_err()); // 7 > 6
        assert!(run(&[0, -1], &[vec![x.view()]], 6).is_err());
        assert!(run(&[0], &[vec![x.view()]], 6).is_err()); // length
        let lin = ndarray::Array1::<i64>::zeros(0);
        let mut a = vec![0.0; 2];
        let mut b = vec![0.0; 3];
        let mut refs: Vec<&mut [f64]> = vec![a.as_mut_slice(), b.as_mut_slice()];
        let e = ndarray::Array1::<f64>::zeros(0);
        assert!(scatter_fields(lin.view(), &[vec![e.view()], vec![e.view()]], &mut refs).is_err());
        assert!(scatter_fields(lin.view(), &[vec![e.view()]], &mut refs).is_err());
    }
}
