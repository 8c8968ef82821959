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
use crate::parallel;
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
        if parallel::cancelled() {
            return; // the caller discards the whole result
        }
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
        if parallel::cancelled() {
            return; // the caller discards the whole result
        }
        for &v in chunk.iter() {
            let cell = lin[r] as usize;
            if cell < size {
                out[cell] = v;
            }
            r += 1;
        }
    }
}

/// Row ranges of a column that comes in chunks (the Arrow chunks of a Polars column).
pub struct Chunked<'a, T> {
    chunks: &'a [&'a [T]],
    starts: Vec<usize>,
    len: usize,
}

impl<'a, T> Chunked<'a, T> {
    pub fn new(chunks: &'a [&'a [T]]) -> Self {
        let mut starts = Vec::with_capacity(chunks.len());
        let mut len = 0usize;
        for c in chunks {
            starts.push(len);
            len += c.len();
        }
        Chunked { chunks, starts, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pieces of rows `r0..r1` (in order, some possibly empty).
    fn pieces(&self, r0: usize, r1: usize) -> impl Iterator<Item = &'a [T]> + '_ {
        // the chunk holding row r0: the last one starting at or before it
        let k0 = self.starts.partition_point(|&s| s <= r0).saturating_sub(1);
        let chunks = self.chunks;
        self.starts[k0..].iter().enumerate().map_while(move |(j, &s)| {
            if s >= r1 {
                return None;
            }
            let c = chunks[k0 + j];
            let a = r0.saturating_sub(s).min(c.len());
            let b = (r1 - s).min(c.len());
            Some(&c[a..b])
        })
    }

    /// The values of rows `r0..r1`.
    fn range(&self, r0: usize, r1: usize) -> impl Iterator<Item = &'a T> + '_ {
        self.pieces(r0, r1).flat_map(|p| p.iter())
    }
}

/// The first row at which each value of `lo..lo + span` occurs (-1 = never), for chunked
/// integer columns (day numbers, categorical ids): the distinct values without hashing. Rows are
/// split into a fixed number of parts (from the row count and `span`, never the thread count),
/// each scanned in parallel into its own table, and the tables merged by minimum.
pub fn first_rows<T: Copy + Into<i64> + Sync>(chunks: &[&[T]], lo: i64, span: usize) -> Result<Vec<i64>> {
    let col = Chunked::new(chunks);
    let n = col.len();
    let n_parts = (n / span.max(1) / 2).clamp(1, 8);
    let part = n.div_ceil(n_parts).max(1);
    let tables: Vec<Result<Vec<i64>>> = (0..n_parts)
        .into_par_iter()
        .map(|p| {
            let mut t = vec![i64::MAX; span];
            let r0 = (p * part).min(n);
            for (row, &v) in (r0..).zip(col.range(r0, (r0 + part).min(n))) {
                let k = v.into() - lo;
                if k < 0 || k as usize >= span {
                    return Err(value_error!("value {} is outside [{lo}, {})", v.into(), lo + span as i64));
                }
                let slot = &mut t[k as usize];
                if *slot == i64::MAX {
                    *slot = row as i64;
                }
            }
            Ok(t)
        })
        .collect();
    let mut out = vec![i64::MAX; span];
    for t in tables {
        for (o, v) in out.iter_mut().zip(t?) {
            *o = (*o).min(v);
        }
    }
    for o in out.iter_mut() {
        if *o == i64::MAX {
            *o = -1;
        }
    }
    Ok(out)
}

/// Rows per block of the parallel passes. Fixed (not derived from the thread count), so block
/// boundaries and therefore the results never depend on it.
const BLOCK: usize = 1 << 16;

/// How the rows land on the grid.
#[derive(Debug, Clone, PartialEq)]
pub enum Layout {
    /// The kept rows' cells are strictly increasing (a file sorted by date then asset, the usual
    /// layout): runs `[first_row, first_cell, len]` of consecutive rows landing on consecutive
    /// cells, in row order. Rows in no run are off the axes. No cell repeats.
    Runs(Vec<[i64; 3]>),
    /// Any other order: `lin[r] = t · n_assets + a`, or `n_dates · n_assets` for a row off the
    /// axes.
    Cells(Vec<i64>),
}

/// The cells of long rows and whether they repeat.
#[derive(Debug, Clone, PartialEq)]
pub struct Cells {
    pub layout: Layout,
    /// Rows off the axes (date or asset mapped to -1).
    pub n_dropped: usize,
    /// Cells that more than one row maps to (at most `max_report`, in row order of the repeat).
    pub repeated: Vec<i64>,
    /// Rows that repeat an earlier row's cell.
    pub n_repeats: usize,
    /// Distinct cells with more than one row.
    pub n_repeated_cells: usize,
}

/// Looks a row's (day, asset id) up on the axes.
struct Lookup<'a> {
    day_lo: i64,
    day_lut: &'a [i32],
    id_lut: &'a [i32],
    n_dates: usize,
    n_assets: usize,
}

impl Lookup<'_> {
    #[inline]
    fn cell(&self, d: i32, id: u32) -> Option<i64> {
        let k = d as i64 - self.day_lo;
        let t = if k >= 0 && (k as usize) < self.day_lut.len() { self.day_lut[k as usize] } else { -1 };
        let id = id as usize;
        let a = if id < self.id_lut.len() { self.id_lut[id] } else { -1 };
        if t < 0 || a < 0 || t as usize >= self.n_dates || a as usize >= self.n_assets {
            None
        } else {
            Some(t as i64 * self.n_assets as i64 + a as i64)
        }
    }
}

/// One block's scan: its runs (only while its cells increase), drops, first and last kept cell.
struct BlockScan {
    runs: Vec<[i64; 3]>,
    n_dropped: usize,
    increasing: bool,
    first: i64,
    last: i64,
}

fn scan_block(days: &Chunked<'_, i32>, ids: &Chunked<'_, u32>, look: &Lookup<'_>, r0: usize, r1: usize) -> BlockScan {
    let mut s = BlockScan { runs: Vec::new(), n_dropped: 0, increasing: true, first: -1, last: -1 };
    for (row, (&d, &id)) in (r0..r1).zip(days.range(r0, r1).zip(ids.range(r0, r1))) {
        let Some(c) = look.cell(d, id) else {
            s.n_dropped += 1;
            continue;
        };
        if s.increasing {
            if c <= s.last {
                s.increasing = false;
                s.runs = Vec::new();
            } else {
                let row = row as i64;
                match s.runs.last_mut() {
                    Some(run) if run[0] + run[2] == row && run[1] + run[2] == c => run[2] += 1,
                    _ => s.runs.push([row, c, 1]),
                }
            }
        }
        if s.first < 0 {
            s.first = c;
        }
        s.last = c;
    }
    s
}

/// Map rows to cells: `day_lut[day - day_lo]` is a row's date index (-1 = off the axis),
/// `id_lut[id]` its asset index (-1 = off). `days`/`ids` come as chunks (their boundaries need not
/// match). Blocks of rows are scanned in parallel; when the kept cells are strictly increasing the
/// result is a list of runs (nothing per row is written), otherwise every row's cell is written
/// (in parallel) and an occupancy pass counts rows repeating a cell.
#[allow(clippy::too_many_arguments)]
pub fn cell_index(
    days: &[&[i32]],
    ids: &[&[u32]],
    day_lo: i64,
    day_lut: &[i32],
    id_lut: &[i32],
    n_dates: usize,
    n_assets: usize,
    max_report: usize,
) -> Result<Cells> {
    let size = n_dates
        .checked_mul(n_assets)
        .filter(|&s| s < i64::MAX as usize)
        .ok_or_else(|| value_error!("n_dates * n_assets overflows ({n_dates} x {n_assets})"))?;
    let days = Chunked::new(days);
    let ids = Chunked::new(ids);
    let n_rows = days.len();
    if n_rows != ids.len() {
        return Err(value_error!("{n_rows} dates but {} asset ids", ids.len()));
    }
    let look = Lookup { day_lo, day_lut, id_lut, n_dates, n_assets };
    let n_blocks = n_rows.div_ceil(BLOCK);
    let scans: Vec<BlockScan> = (0..n_blocks)
        .into_par_iter()
        .map(|b| scan_block(&days, &ids, &look, b * BLOCK, ((b + 1) * BLOCK).min(n_rows)))
        .collect();
    let n_dropped = scans.iter().map(|s| s.n_dropped).sum();
    let mut increasing = scans.iter().all(|s| s.increasing);
    let mut last = -1i64;
    for s in scans.iter().filter(|s| s.first >= 0) {
        increasing &= s.first > last;
        last = s.last;
    }
    if increasing {
        let mut runs: Vec<[i64; 3]> = Vec::with_capacity(scans.iter().map(|s| s.runs.len()).sum());
        for s in scans {
            for run in s.runs {
                match runs.last_mut() {
                    Some(p) if p[0] + p[2] == run[0] && p[1] + p[2] == run[1] => p[2] += run[2],
                    _ => runs.push(run),
                }
            }
        }
        return Ok(Cells { layout: Layout::Runs(runs), n_dropped, repeated: Vec::new(), n_repeats: 0, n_repeated_cells: 0 });
    }
    drop(scans);
    let mut lin = vec![0i64; n_rows];
    lin.par_chunks_mut(BLOCK).enumerate().for_each(|(b, out)| {
        if parallel::cancelled() {
            return; // the caller discards the whole result
        }
        let (r0, r1) = (b * BLOCK, b * BLOCK + out.len());
        for (o, (&d, &id)) in out.iter_mut().zip(days.range(r0, r1).zip(ids.range(r0, r1))) {
            *o = look.cell(d, id).unwrap_or(size as i64);
        }
    });
    let mut repeated = Vec::new();
    let mut n_repeats = 0usize;
    let mut n_repeated_cells = 0usize;
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
    Ok(Cells { layout: Layout::Cells(lin), n_dropped, repeated, n_repeats, n_repeated_cells })
}

/// Write `fields` (each a list of chunks, `n_rows` values in all) into `outs` (one flat
/// `n_dates · n_assets` slice per field, written completely: NaN where no run lands) from the runs
/// of [`Layout::Runs`]: one copy per run. Each output is cut at run boundaries into pieces of
/// about [`BLOCK`] rows and the (field, piece) tasks run in parallel; every cell is written by
/// exactly one task, so the result does not depend on the number of threads.
pub fn scatter_runs(runs: &[[i64; 3]], fields: &[Vec<&[f64]>], outs: &mut [&mut [f64]]) -> Result<()> {
    if outs.len() != fields.len() {
        return Err(value_error!("{} fields but {} outputs", fields.len(), outs.len()));
    }
    let size = outs.first().map_or(0, |o| o.len());
    if outs.iter().any(|o| o.len() != size) {
        return Err(value_error!("outputs differ in size"));
    }
    let cols: Vec<Chunked<'_, f64>> = fields.iter().map(|c| Chunked::new(c.as_slice())).collect();
    let n_rows = cols.first().map_or(0, |c| c.len());
    if let Some((k, c)) = cols.iter().enumerate().find(|(_, c)| c.len() != n_rows) {
        return Err(value_error!("field {k} has {} values but field 0 has {n_rows}", c.len()));
    }
    let (mut next_row, mut next_cell) = (0i64, 0i64);
    for run in runs {
        let [row, cell, len] = *run;
        let past_rows = !cols.is_empty() && row + len > n_rows as i64;
        if len <= 0 || row < next_row || cell < next_cell || past_rows || cell + len > size as i64 {
            return Err(value_error!(
                "run [{row}, {cell}, {len}] is empty, out of order or outside {n_rows} rows / {size} cells"
            ));
        }
        next_row = row + len;
        next_cell = cell + len;
    }
    // pieces: runs[g[j]..g[j+1]] write cells [cut[j], cut[j+1])
    let mut g = vec![0usize];
    let mut acc = 0i64;
    for (i, run) in runs.iter().enumerate() {
        if acc >= BLOCK as i64 {
            g.push(i);
            acc = 0;
        }
        acc += run[2];
    }
    g.push(runs.len());
    let cut: Vec<usize> = g
        .iter()
        .enumerate()
        .map(|(j, &i)| if j == 0 { 0 } else if i == runs.len() { size } else { runs[i][1] as usize })
        .collect();
    let mut tasks = Vec::with_capacity(outs.len() * (g.len() - 1));
    for (out, col) in outs.iter_mut().zip(&cols) {
        let mut rest: &mut [f64] = out;
        for j in 0..g.len() - 1 {
            let (piece, tail) = std::mem::take(&mut rest).split_at_mut(cut[j + 1] - cut[j]);
            rest = tail;
            tasks.push((piece, cut[j], &runs[g[j]..g[j + 1]], col));
        }
    }
    tasks.into_par_iter().for_each(|(piece, base, runs, col)| {
        if parallel::cancelled() {
            return; // the caller discards the whole result
        }
        let mut next = 0usize; // first cell of the piece not yet written (relative)
        let mut k = 0usize; // chunk cursor: runs come in row order
        for &[row, cell, len] in runs {
            let (mut row, cell, mut left) = (row as usize, cell as usize - base, len as usize);
            piece[next..cell].fill(f64::NAN);
            let mut pos = cell;
            while left > 0 {
                while row >= col.starts[k] + col.chunks[k].len() {
                    k += 1;
                }
                let off = row - col.starts[k];
                let take = left.min(col.chunks[k].len() - off);
                piece[pos..pos + take].copy_from_slice(&col.chunks[k][off..off + take]);
                (pos, row, left) = (pos + take, row + take, left - take);
            }
            next = pos;
        }
        piece[next..].fill(f64::NAN);
    });
    Ok(())
}

/// Gather record values onto a grid: `outs[k][c] = values[k][index[c]]`, NaN where
/// `index[c] == -1` (the point-in-time join of `ferrofactor.read_fundamentals`). Every field has
/// the same number of records; an index outside `-1..n_records` is an error, found before anything
/// is written. Parallel over fields and blocks of cells; each cell is written once.
pub fn gather_fields(values: &[&[f64]], index: &[i32], outs: &mut [&mut [f64]]) -> Result<()> {
    if outs.len() != values.len() {
        return Err(value_error!("{} fields but {} outputs", values.len(), outs.len()));
    }
    let n_rec = values.first().map_or(0, |v| v.len());
    if let Some((k, v)) = values.iter().enumerate().find(|(_, v)| v.len() != n_rec) {
        return Err(value_error!("field {k} has {} records but field 0 has {n_rec}", v.len()));
    }
    if let Some((k, o)) = outs.iter().enumerate().find(|(_, o)| o.len() != index.len()) {
        return Err(value_error!("output {k} has {} cells but the index has {}", o.len(), index.len()));
    }
    let (lo, hi) = index
        .par_chunks(BLOCK)
        .map(|c| c.iter().fold((i32::MAX, i32::MIN), |(a, b), &x| (a.min(x), b.max(x))))
        .reduce(|| (i32::MAX, i32::MIN), |(a, b), (c, d)| (a.min(c), b.max(d)));
    if !index.is_empty() && (lo < -1 || hi as i64 >= n_rec as i64) {
        return Err(value_error!("record index outside [-1, {n_rec}): min {lo}, max {hi}"));
    }
    outs.par_iter_mut().zip(values.par_iter()).for_each(|(out, v)| {
        out.par_chunks_mut(BLOCK).zip(index.par_chunks(BLOCK)).for_each(|(o, ix)| {
            if parallel::cancelled() {
                return; // the caller discards the whole result
            }
            for (o, &i) in o.iter_mut().zip(ix) {
                *o = if i < 0 { f64::NAN } else { v[i as usize] };
            }
        });
    });
    Ok(())
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

    fn cells(days: &[&[i32]], ids: &[&[u32]], n: (usize, usize)) -> Result<Cells> {
        // days 10, 12 on the axis (lut offset 10), asset ids 0 -> 1, 1 -> 0, 2 -> off
        cell_index(days, ids, 10, &[0, -1, 1], &[1, 0, -1], n.0, n.1, 5)
    }

    #[test]
    fn cell_index_maps_drops_and_finds_repeats() {
        // chunk boundaries of days and ids differ
        let c = cells(&[&[10, 10], &[12, 12, 11]], &[&[1], &[0, 1, 2], &[0]], (2, 2)).unwrap();
        assert_eq!(c.layout, Layout::Runs(vec![[0, 0, 3]]));
        assert_eq!(c.n_dropped, 2);
        let c = cells(&[&[10, 12, 12], &[10]], &[&[1, 1, 2], &[0]], (2, 2)).unwrap();
        assert_eq!(c.layout, Layout::Cells(vec![0, 2, 4, 1]));
        assert_eq!((c.n_dropped, c.n_repeats), (1, 0));
        let c = cells(&[&[10, 12, 10, 10]], &[&[1, 1, 1, 0]], (2, 2)).unwrap();
        assert_eq!(c.layout, Layout::Cells(vec![0, 2, 0, 1]));
        assert_eq!((c.n_repeats, c.n_repeated_cells, c.repeated.clone()), (1, 1, vec![0]));
        // gaps split runs: cells 0, 1, 3 -> runs [0,0,2], [2,3,1]
        let c = cells(&[&[10, 10, 12]], &[&[1, 0, 0]], (2, 2)).unwrap();
        assert_eq!(c.layout, Layout::Runs(vec![[0, 0, 2], [2, 3, 1]]));
        assert!(cells(&[&[10]], &[], (2, 2)).is_err());
        assert!(cells(&[], &[], (usize::MAX, 2)).is_err());
    }

    #[test]
    fn cell_index_blocks_join_and_order_across_blocks() {
        // a full 3 x n grid in order spans several blocks and is one run
        let n = BLOCK / 2 + 7;
        let day_lut = [0i32, 1, 2];
        let id_lut: Vec<i32> = (0..n as i32).collect();
        let days: Vec<i32> = (0..3 * n).map(|r| (r / n) as i32).collect();
        let ids: Vec<u32> = (0..3 * n).map(|r| (r % n) as u32).collect();
        let c = cell_index(&[&days[..]], &[&ids[..]], 0, &day_lut, &id_lut, 3, n, 5).unwrap();
        assert_eq!(c.layout, Layout::Runs(vec![[0, 0, 3 * n as i64]]));
        // swapping the first and last rows breaks order only across blocks
        let mut d2 = days.clone();
        let mut i2 = ids.clone();
        d2.swap(0, 3 * n - 1);
        i2.swap(0, 3 * n - 1);
        let c = cell_index(&[&d2[..]], &[&i2[..]], 0, &day_lut, &id_lut, 3, n, 5).unwrap();
        let Layout::Cells(lin) = c.layout else { panic!("expected cells") };
        assert_eq!((lin[0], lin[3 * n - 1], lin[1]), (3 * n as i64 - 1, 0, 1));
        assert_eq!(c.n_repeats, 0);
        // a repeat across blocks is found
        let mut d3 = days.clone();
        d3[3 * n - 1] = 0;
        let mut i3 = ids.clone();
        i3[3 * n - 1] = 0;
        let c = cell_index(&[&d3[..]], &[&i3[..]], 0, &day_lut, &id_lut, 3, n, 5).unwrap();
        assert_eq!((c.n_repeats, c.repeated.clone()), (1, vec![0]));
    }

    #[test]
    fn first_rows_finds_distinct_values_over_parts() {
        let a: [i32; 4] = [12, 10, 12, 15];
        let b: [i32; 2] = [10, 11];
        assert_eq!(first_rows(&[&a[..], &b[..]], 10, 7).unwrap(), vec![1, 5, 0, -1, -1, 3, -1]);
        assert!(first_rows(&[&a[..]], 11, 7).is_err());
        assert!(first_rows::<u32>(&[], 0, 3).unwrap() == vec![-1, -1, -1]);
        // many rows over a small span: several parts, same answer as one pass
        let v: Vec<u32> = (0..200_000u32).map(|r| (r * 7919) % 13 + 2).collect();
        let got = first_rows(&[&v[..1000], &v[1000..]], 0, 20).unwrap();
        let mut want = vec![-1i64; 20];
        for (r, &x) in v.iter().enumerate() {
            if want[x as usize] < 0 {
                want[x as usize] = r as i64;
            }
        }
        assert_eq!(got, want);
    }

    #[test]
    fn gather_fields_takes_records_and_nan() {
        let a = [1.0, 2.0, 3.0];
        let b = [-1.0, -2.0, -3.0];
        let index = [2, -1, 0, 0];
        let mut o1 = vec![0.0; 4];
        let mut o2 = vec![0.0; 4];
        gather_fields(&[&a, &b], &index, &mut [o1.as_mut_slice(), o2.as_mut_slice()]).unwrap();
        assert!(same(&o1, &[3.0, f64::NAN, 1.0, 1.0]));
        assert!(same(&o2, &[-3.0, f64::NAN, -1.0, -1.0]));
        for bad in [[3, 0, 0, 0], [-2, 0, 0, 0]] {
            assert!(gather_fields(&[&a], &bad, &mut [o1.as_mut_slice()]).is_err());
        }
        assert!(gather_fields(&[&a, &b[..2]], &index, &mut [o1.as_mut_slice(), o2.as_mut_slice()]).is_err());
        assert!(gather_fields(&[&a], &index[..3], &mut [o1.as_mut_slice()]).is_err());
        // no records: every index must be -1
        let mut o3 = vec![0.0; 2];
        gather_fields(&[&[]], &[-1, -1], &mut [o3.as_mut_slice()]).unwrap();
        assert!(o3.iter().all(|x| x.is_nan()));
    }

    #[test]
    fn scatter_runs_matches_scatter_fields() {
        let nan = f64::NAN;
        // 2 x 3 grid; rows land on cells 0, 2, 4, 5 (runs [0,0,1], [1,2,1], [2,4,2]); values in
        // chunks whose boundary falls inside a run
        let a: [f64; 3] = [1.0, 2.0, 3.0];
        let b: [f64; 1] = [4.0];
        let runs = [[0i64, 0, 1], [1, 2, 1], [2, 4, 2]];
        let mut out = vec![0.0; 6];
        scatter_runs(&runs, &[vec![&a[..], &b[..]]], &mut [out.as_mut_slice()]).unwrap();
        assert!(same(&out, &[1.0, nan, 2.0, nan, 3.0, 4.0]));
        // a dropped row (row 1 in no run) and no runs at all
        let v: [f64; 3] = [5.0, 99.0, 6.0];
        scatter_runs(&[[0, 1, 1], [2, 2, 1]], &[vec![&v[..]]], &mut [out.as_mut_slice()]).unwrap();
        assert!(same(&out, &[nan, 5.0, 6.0, nan, nan, nan]));
        scatter_runs(&[], &[vec![&v[..]]], &mut [out.as_mut_slice()]).unwrap();
        assert!(out.iter().all(|x| x.is_nan()));
        // bad runs
        for bad in [[[0i64, 0, 0]], [[0, 5, 2]], [[2, 0, 2]], [[-1, 0, 1]]] {
            assert!(scatter_runs(&bad, &[vec![&v[..]]], &mut [out.as_mut_slice()]).is_err());
        }
        assert!(scatter_runs(&[[1, 0, 1], [0, 1, 1]], &[vec![&v[..]]], &mut [out.as_mut_slice()]).is_err());
    }

    #[test]
    fn scatter_runs_many_pieces_equal_general_scatter() {
        // a ragged sorted layout over several pieces: cells with every 7th missing
        let size = 5 * BLOCK + 3;
        let cells_v: Vec<i64> = (0..size as i64).filter(|c| c % 7 != 3).collect();
        let vals: Vec<f64> = (0..cells_v.len()).map(|r| r as f64 * 0.5).collect();
        let (c1, c2) = vals.split_at(BLOCK + 11);
        let mut runs: Vec<[i64; 3]> = Vec::new();
        for (r, &c) in cells_v.iter().enumerate() {
            match runs.last_mut() {
                Some(p) if p[1] + p[2] == c => p[2] += 1,
                _ => runs.push([r as i64, c, 1]),
            }
        }
        let mut got = vec![0.0; size];
        scatter_runs(&runs, &[vec![c1, c2]], &mut [got.as_mut_slice()]).unwrap();
        let lin = ndarray::Array1::from(cells_v.clone());
        let mut want = vec![0.0; size];
        let va = ndarray::ArrayView1::from(&vals[..]);
        scatter_fields(lin.view(), &[vec![va]], &mut [want.as_mut_slice()]).unwrap();
        assert!(same(&got, &want));
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
