//! Cross-sectional cleaning, per date (row) of a `(T, N)` panel: winsorise, standardise, rank.
//!
//! Conventions shared by every kernel:
//! - a value is usable when it is finite; NaN (and ±inf) come back NaN;
//! - with `groups` (industry codes, `-1` = none) the statistics are computed within each group
//!   on each date, and values whose code is `-1` come back NaN;
//! - `weights` (winsorise "sigma" and standardise only) enter the centre as a weighted mean; a
//!   NaN weight means the value does not count in that mean but is still transformed; a
//!   date/group whose usable weight sum is 0 comes back all NaN;
//! - rows are processed in parallel (rayon), and every sum inside a row runs sequentially in
//!   index order, so results are bit-identical for any number of threads.
//!
//! Quantiles and medians use selection (`select_nth_unstable`), never a full sort; ranks sort
//! once per row.

use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use ndarray::{Array2, ArrayView1, ArrayView2, Axis};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::value_error;

/// How `winsorize` finds its clipping bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WinsorMethod {
    /// centre ± limit·std; centre = (weighted) mean, std = sample std (ddof = 1).
    Sigma,
    /// the `limit` and `1 − limit` quantiles (numpy's "linear" definition), limit in (0, 0.5).
    Quantile,
    /// median ± limit·1.4826·MAD, MAD = median |x − median|.
    Mad,
}

impl WinsorMethod {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "sigma" => Ok(WinsorMethod::Sigma),
            "quantile" => Ok(WinsorMethod::Quantile),
            "mad" => Ok(WinsorMethod::Mad),
            other => Err(value_error!(
                "method must be one of ['sigma', 'quantile', 'mad'], got {other:?}"
            )),
        }
    }
}

/// Scale factor that makes the MAD a consistent estimator of the normal standard deviation.
pub const MAD_SCALE: f64 = 1.4826;

/// What to do with the finite values of one date/group once its statistics are known.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Transform {
    /// Leave the values as they are.
    Identity,
    /// Clip into `[lo, hi]`.
    Clip(f64, f64),
    /// `(x − centre) / scale`.
    Affine(f64, f64),
    /// Every value becomes 0.
    Zero,
    /// Every value becomes NaN.
    Nan,
}

impl Transform {
    #[inline]
    fn apply(self, x: f64) -> f64 {
        match self {
            Transform::Identity => x,
            Transform::Clip(lo, hi) => {
                if x < lo {
                    lo
                } else if x > hi {
                    hi
                } else {
                    x
                }
            }
            Transform::Affine(c, s) => (x - c) / s,
            Transform::Zero => 0.0,
            Transform::Nan => f64::NAN,
        }
    }

    /// `out[i] = self.apply(x[i])` for every `i` in `ids`, with the variant chosen once.
    fn apply_at(self, ids: &[u32], x: &[f64], out: &mut [f64]) {
        #[inline(always)]
        fn each(ids: &[u32], x: &[f64], out: &mut [f64], f: impl Fn(f64) -> f64) {
            for &i in ids {
                out[i as usize] = f(x[i as usize]);
            }
        }
        match self {
            Transform::Identity => each(ids, x, out, |v| v),
            Transform::Clip(lo, hi) => each(ids, x, out, |v| Transform::Clip(lo, hi).apply(v)),
            Transform::Affine(c, s) => each(ids, x, out, |v| (v - c) / s),
            Transform::Zero => each(ids, x, out, |_| 0.0),
            Transform::Nan => each(ids, x, out, |_| f64::NAN),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics on the finite values of one date/group (given in index order).

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation (ddof = 1) around the plain mean; needs `xs.len() >= 2`.
fn sample_std(xs: &[f64]) -> f64 {
    let m = mean(xs);
    let ss: f64 = xs.iter().map(|&x| (x - m) * (x - m)).sum();
    (ss / (xs.len() - 1) as f64).sqrt()
}

/// Weighted mean over the values whose weight is finite; `None` when that weight sum is 0.
fn weighted_mean(xs: &[f64], ws: &[f64]) -> Option<f64> {
    let mut sw = 0.0;
    let mut swx = 0.0;
    for (&x, &w) in xs.iter().zip(ws) {
        if w.is_finite() {
            sw += w;
            swx += w * x;
        }
    }
    if sw > 0.0 {
        Some(swx / sw)
    } else {
        None
    }
}

fn all_equal(xs: &[f64]) -> bool {
    match xs.first() {
        Some(&first) => xs.iter().all(|&x| x == first),
        None => true,
    }
}

/// The `k`-th smallest value (0-based) of `xs`, by selection; reorders `xs`.
fn select(xs: &mut [f64], k: usize) -> f64 {
    *xs.select_nth_unstable_by(k, f64::total_cmp).1
}

fn min_of(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(f64::INFINITY, f64::min)
}

/// numpy's `_lerp`: `a + (b − a)·t`, computed from `b` when `t >= 0.5` (bit-compatible).
fn lerp(a: f64, b: f64, t: f64) -> f64 {
    let d = b - a;
    if t >= 0.5 {
        b - d * (1.0 - t)
    } else {
        a + d * t
    }
}

/// The lower and upper quantiles `q_lo <= q_hi` of `xs` (numpy "linear"); reorders `xs`.
fn quantile_pair(xs: &mut [f64], q_lo: f64, q_hi: f64) -> (f64, f64) {
    let n = xs.len();
    let one = |xs: &mut [f64], offset: usize, q: f64| -> (usize, f64) {
        // xs[offset..] holds the values from the `offset`-th smallest up, after earlier selections.
        let h = (n - 1) as f64 * q;
        let lo = (h.floor() as usize).min(n - 1);
        let t = h - lo as f64;
        let a = select(&mut xs[offset..], lo - offset);
        let b = if lo + 1 < n { min_of(&xs[lo + 1..]) } else { a };
        (lo, lerp(a, b, t))
    };
    let (lo_idx, lo_val) = one(xs, 0, q_lo);
    // After the first selection everything at or after lo_idx is >= the lo_idx-th smallest, so
    // the upper quantile (index >= lo_idx) is selected within that part only.
    let (_, hi_val) = one(xs, lo_idx, q_hi);
    (lo_val, hi_val)
}

/// numpy's median: the middle value, or the mean of the two middle values; reorders `xs`.
fn median(xs: &mut [f64]) -> f64 {
    let n = xs.len();
    let upper = select(xs, n / 2);
    if n % 2 == 1 {
        upper
    } else {
        // After selecting n/2 the lower half holds the n/2 smallest values; its max is the other.
        let lower = xs[..n / 2]
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

// ---------------------------------------------------------------------------------------------
// Per-group transforms. `xs` are the finite values of one date/group in index order, `ws` their
// weights (may be NaN). They may be reordered.

fn sigma_transform(xs: &mut [f64], ws: Option<&[f64]>, limit: f64) -> Transform {
    let wcentre = match ws {
        Some(ws) => match weighted_mean(xs, ws) {
            Some(c) => Some(c),
            None => return Transform::Nan,
        },
        None => None,
    };
    if xs.len() < 2 || all_equal(xs) {
        return Transform::Identity;
    }
    let s = sample_std(xs);
    if s == 0.0 {
        // values so close together that their spread underflows: nothing to clip
        return Transform::Identity;
    }
    let centre = wcentre.unwrap_or_else(|| mean(xs));
    Transform::Clip(centre - limit * s, centre + limit * s)
}

fn quantile_transform(xs: &mut [f64], limit: f64) -> Transform {
    if xs.len() < 2 {
        return Transform::Identity;
    }
    let (lo, hi) = quantile_pair(xs, limit, 1.0 - limit);
    Transform::Clip(lo, hi)
}

fn mad_transform(xs: &mut [f64], limit: f64) -> Transform {
    if xs.len() < 2 {
        return Transform::Identity;
    }
    let med = median(xs);
    for x in xs.iter_mut() {
        *x = (*x - med).abs();
    }
    let mad = median(xs);
    let k = limit * MAD_SCALE * mad;
    Transform::Clip(med - k, med + k)
}

fn standardize_transform(xs: &mut [f64], ws: Option<&[f64]>) -> Transform {
    let wcentre = match ws {
        Some(ws) => match weighted_mean(xs, ws) {
            Some(c) => Some(c),
            None => return Transform::Nan,
        },
        None => None,
    };
    if xs.len() < 2 || all_equal(xs) {
        return Transform::Zero;
    }
    let s = sample_std(xs);
    if s == 0.0 {
        // distinct values whose spread underflows (e.g. 1e-200 and 0): zero dispersion
        return Transform::Zero;
    }
    let centre = wcentre.unwrap_or_else(|| mean(xs));
    Transform::Affine(centre, s)
}

// ---------------------------------------------------------------------------------------------
// Row driver: gather each group's finite values, compute its transform, write the outputs.

/// Per-thread scratch buffers, reused across rows.
#[derive(Default)]
struct Scratch {
    /// Indices of the usable entries of the row, grouped by code (index order within a group).
    idx: Vec<u32>,
    /// `idx[bounds[g]..bounds[g + 1]]` is the g-th non-empty group.
    bounds: Vec<usize>,
    counts: Vec<u32>,
    pairs: Vec<(i32, u32)>,
    xs: Vec<f64>,
    ws: Vec<f64>,
}

impl Scratch {
    /// Fill `idx`/`bounds` for one row: the finite entries (with code >= 0 when grouped).
    fn group(&mut self, x: &[f64], g: Option<&[i32]>) {
        self.idx.clear();
        self.bounds.clear();
        match g {
            None => {
                self.idx
                    .extend((0..x.len() as u32).filter(|&i| x[i as usize].is_finite()));
                self.bounds.push(0);
                self.bounds.push(self.idx.len());
            }
            Some(g) => {
                let mut max_code = -1i32;
                let mut n_used = 0usize;
                for (&xi, &gi) in x.iter().zip(g) {
                    if xi.is_finite() && gi >= 0 {
                        max_code = max_code.max(gi);
                        n_used += 1;
                    }
                }
                if n_used == 0 {
                    self.bounds.push(0);
                    return;
                }
                let n_codes = max_code as usize + 1;
                if n_codes <= 4 * x.len() + 1024 {
                    // Small codes: a stable counting sort, O(N + G).
                    self.counts.clear();
                    self.counts.resize(n_codes + 1, 0);
                    for (&xi, &gi) in x.iter().zip(g) {
                        if xi.is_finite() && gi >= 0 {
                            self.counts[gi as usize + 1] += 1;
                        }
                    }
                    for c in 0..n_codes {
                        if self.counts[c + 1] > 0 {
                            self.bounds.push(self.counts[c] as usize);
                        }
                        self.counts[c + 1] += self.counts[c];
                    }
                    self.bounds.push(n_used);
                    self.idx.resize(n_used, 0);
                    for (i, (&xi, &gi)) in x.iter().zip(g).enumerate() {
                        if xi.is_finite() && gi >= 0 {
                            let slot = &mut self.counts[gi as usize];
                            self.idx[*slot as usize] = i as u32;
                            *slot += 1;
                        }
                    }
                } else {
                    // Sparse codes (e.g. raw GICS numbers): sort (code, index) pairs.
                    self.pairs.clear();
                    self.pairs.extend(
                        x.iter()
                            .zip(g)
                            .enumerate()
                            .filter(|(_, (xi, gi))| xi.is_finite() && **gi >= 0)
                            .map(|(i, (_, &gi))| (gi, i as u32)),
                    );
                    self.pairs.sort_unstable();
                    for (k, &(code, i)) in self.pairs.iter().enumerate() {
                        if k == 0 || self.pairs[k - 1].0 != code {
                            self.bounds.push(k);
                        }
                        self.idx.push(i);
                    }
                    self.bounds.push(n_used);
                }
            }
        }
    }
}

/// Apply a per-group transform to every row of `x` in parallel.
fn per_group<F>(
    x: ArrayView2<'_, f64>,
    weights: Option<ArrayView2<'_, f64>>,
    groups: Option<ArrayView2<'_, i32>>,
    f: F,
) -> Result<Array2<f64>>
where
    F: Fn(&mut [f64], Option<&[f64]>) -> Transform + Sync,
{
    let (t_len, n) = x.dim();
    let saw_bad_weight = AtomicBool::new(false);
    // Zeroed allocation: the OS hands out zero pages lazily, so the pages are first touched
    // inside the parallel loop (each row fills itself with NaN first) instead of serially here.
    let mut out = vec![0.0f64; t_len * n];
    if n > 0 {
        out.par_chunks_mut(n)
            .enumerate()
            .for_each_init(Scratch::default, |s, (t, out_row)| {
                out_row.fill(f64::NAN);
                let x_row = row_slice(x.row(t));
                let w_row = weights.as_ref().map(|w| row_slice(w.row(t)));
                if let Some(w) = &w_row {
                    if w.iter().any(|&v| bad_weight(v)) {
                        saw_bad_weight.store(true, AtomicOrdering::Relaxed);
                        return;
                    }
                }
                let g_row = groups.as_ref().map(|g| row_slice(g.row(t)));
                s.group(&x_row, g_row.as_deref());
                for b in 0..s.bounds.len().saturating_sub(1) {
                    let ids = &s.idx[s.bounds[b]..s.bounds[b + 1]];
                    s.xs.clear();
                    s.xs.extend(ids.iter().map(|&i| x_row[i as usize]));
                    let tr = match &w_row {
                        Some(w) => {
                            s.ws.clear();
                            s.ws.extend(ids.iter().map(|&i| w[i as usize]));
                            f(&mut s.xs, Some(&s.ws))
                        }
                        None => f(&mut s.xs, None),
                    };
                    tr.apply_at(ids, &x_row, out_row);
                }
            });
    }
    if saw_bad_weight.load(AtomicOrdering::Relaxed) {
        if let Some(w) = &weights {
            return Err(weights_error(w));
        }
    }
    Array2::from_shape_vec((t_len, n), out).map_err(|e| value_error!("output shape: {e}"))
}

/// A row as a slice, borrowing when it is contiguous and copying otherwise.
fn row_slice<'a, T: Copy>(row: ArrayView1<'a, T>) -> std::borrow::Cow<'a, [T]> {
    match row.to_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(row.to_vec()),
    }
}

// ---------------------------------------------------------------------------------------------
// Argument checks (the Python wrappers check first; these keep bad input out of the kernels).

fn check_same_shape(name: &str, shape: (usize, usize), want: (usize, usize)) -> Result<()> {
    if shape != want {
        return Err(value_error!(
            "{name} has shape ({}, {}), expected ({}, {}) (the shape of x)",
            shape.0,
            shape.1,
            want.0,
            want.1
        ));
    }
    Ok(())
}

/// True when `bad` holds for any element; parallel over rows, contiguous rows read as slices.
fn any_element<T: Copy + Sync>(a: &ArrayView2<'_, T>, bad: impl Fn(T) -> bool + Sync) -> bool {
    a.axis_iter(Axis(0))
        .into_par_iter()
        .any(|row| match row.as_slice() {
            Some(s) => s.iter().any(|&v| bad(v)),
            None => row.iter().any(|&v| bad(v)),
        })
}

/// A weight the kernels refuse: negative or infinite (NaN is allowed: "does not count").
#[inline]
fn bad_weight(v: f64) -> bool {
    v < 0.0 || v.is_infinite()
}

/// The error for weights known to contain a bad value (counted here, off the hot path).
fn weights_error(w: &ArrayView2<'_, f64>) -> Error {
    let n_inf = w.iter().filter(|v| v.is_infinite()).count();
    if n_inf > 0 {
        return value_error!("weights must not contain infinite values ({n_inf} found)");
    }
    let n_neg = w.iter().filter(|&&v| v < 0.0).count();
    value_error!("weights must be non-negative ({n_neg} negative values found)")
}

fn check_groups(g: &ArrayView2<'_, i32>) -> Result<()> {
    if any_element(g, |c| c < -1) {
        return Err(value_error!("groups codes must be >= -1 (-1 = none)"));
    }
    Ok(())
}

fn check_common(
    x: &ArrayView2<'_, f64>,
    weights: Option<&ArrayView2<'_, f64>>,
    groups: Option<&ArrayView2<'_, i32>>,
) -> Result<()> {
    if let Some(w) = weights {
        // the values are checked row by row inside the kernel, in the pass that reads them
        check_same_shape("weights", w.dim(), x.dim())?;
    }
    if let Some(g) = groups {
        check_same_shape("groups", g.dim(), x.dim())?;
        check_groups(g)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Public kernels.

/// Clip each date's (or each date-and-group's) finite values at bounds found by `method`.
///
/// `limit` must be finite and > 0 (and < 0.5 for `Quantile`); `weights` only with `Sigma`.
/// A date/group with fewer than two values, or whose values are all equal, is left unchanged.
pub fn winsorize(
    x: ArrayView2<'_, f64>,
    method: WinsorMethod,
    limit: f64,
    weights: Option<ArrayView2<'_, f64>>,
    groups: Option<ArrayView2<'_, i32>>,
) -> Result<Array2<f64>> {
    if !(limit.is_finite() && limit > 0.0) {
        return Err(value_error!("limit must be finite and > 0, got {limit}"));
    }
    if method == WinsorMethod::Quantile && limit >= 0.5 {
        return Err(value_error!(
            "limit must be in (0, 0.5) for method 'quantile', got {limit}"
        ));
    }
    if weights.is_some() && method != WinsorMethod::Sigma {
        return Err(value_error!(
            "weights is only used by method 'sigma', got method {method:?}"
        ));
    }
    check_common(&x, weights.as_ref(), groups.as_ref())?;
    match method {
        WinsorMethod::Sigma => {
            per_group(x, weights, groups, |xs, ws| sigma_transform(xs, ws, limit))
        }
        WinsorMethod::Quantile => per_group(x, None, groups, |xs, _| quantile_transform(xs, limit)),
        WinsorMethod::Mad => per_group(x, None, groups, |xs, _| mad_transform(xs, limit)),
    }
}

/// `(x − centre) / std` per date (or date-and-group): centre = weighted mean when `weights` are
/// given, else the mean; std = equal-weighted sample std (ddof = 1). A date/group with a single
/// value or zero dispersion gives zeros.
pub fn standardize(
    x: ArrayView2<'_, f64>,
    weights: Option<ArrayView2<'_, f64>>,
    groups: Option<ArrayView2<'_, i32>>,
) -> Result<Array2<f64>> {
    check_common(&x, weights.as_ref(), groups.as_ref())?;
    per_group(x, weights, groups, standardize_transform)
}

/// Per-date average ranks (ties share the mean of their positions, as
/// `scipy.stats.rankdata(method="average")`), scaled to (0, 1) as `r / (n + 1)` with `n` the
/// number of finite values on that date. Non-finite values stay NaN.
pub fn rank(x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    let (t_len, n) = x.dim();
    // Zeroed allocation: the OS hands out zero pages lazily, so the pages are first touched
    // inside the parallel loop (each row fills itself with NaN first) instead of serially here.
    let mut out = vec![0.0f64; t_len * n];
    if n > 0 {
        out.par_chunks_mut(n).enumerate().for_each_init(
            Vec::<(f64, u32)>::new,
            |pairs, (t, out_row)| {
                out_row.fill(f64::NAN);
                let x_row = row_slice(x.row(t));
                pairs.clear();
                pairs.extend(
                    x_row
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| v.is_finite())
                        // `+ 0.0` turns -0.0 into 0.0 so that they tie, as in scipy
                        .map(|(i, &v)| (v + 0.0, i as u32)),
                );
                pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
                let m = pairs.len();
                let denom = (m + 1) as f64;
                let mut i = 0;
                while i < m {
                    let mut j = i;
                    while j + 1 < m && pairs[j + 1].0 == pairs[i].0 {
                        j += 1;
                    }
                    // positions i..=j (0-based) share the average 1-based rank (i + j + 2) / 2
                    let r = (i + j + 2) as f64 * 0.5 / denom;
                    for p in &pairs[i..=j] {
                        out_row[p.1 as usize] = r;
                    }
                    i = j + 1;
                }
            },
        );
    }
    Array2::from_shape_vec((t_len, n), out).map_err(|e| value_error!("output shape: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    const NAN: f64 = f64::NAN;

    fn close(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * (1.0 + b.abs())
    }

    fn assert_rows(got: &Array2<f64>, want: &[&[f64]]) {
        for (t, w) in want.iter().enumerate() {
            for (i, &wv) in w.iter().enumerate() {
                assert!(
                    close(got[[t, i]], wv),
                    "[{t},{i}]: got {} want {wv}",
                    got[[t, i]]
                );
            }
        }
    }

    #[test]
    fn standardize_by_hand() {
        // mean 3, sample variance (4+1+0+1+4)/4 = 2.5
        let x = array![[1.0, 2.0, 3.0, 4.0, 5.0], [7.0, 7.0, NAN, 7.0, 7.0]];
        let s = 2.5f64.sqrt();
        let got = standardize(x.view(), None, None).unwrap();
        assert_rows(
            &got,
            &[
                &[-2.0 / s, -1.0 / s, 0.0, 1.0 / s, 2.0 / s],
                &[0.0, 0.0, NAN, 0.0, 0.0],
            ],
        );
    }

    #[test]
    fn standardize_weighted_centre() {
        // weighted mean (1·1 + 3·3) / 4 = 2.5 with x = (1, 3), NaN weight for the third value
        let x = array![[1.0, 3.0, 5.0]];
        let w = array![[1.0, 3.0, NAN]];
        let got = standardize(x.view(), Some(w.view()), None).unwrap();
        let s = 2.0; // sample std of (1, 3, 5)
        assert_rows(&got, &[&[-1.5 / s, 0.5 / s, 2.5 / s]]);
        // zero usable weight: NaN
        let w0 = array![[0.0, NAN, 0.0]];
        let got = standardize(x.view(), Some(w0.view()), None).unwrap();
        assert!(got.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn underflowing_spread_is_zero_dispersion() {
        let x = array![[3.5e-209, 0.0, NAN]];
        let got = standardize(x.view(), None, None).unwrap();
        assert_rows(&got, &[&[0.0, 0.0, NAN]]);
        let got = winsorize(x.view(), WinsorMethod::Sigma, 1.0, None, None).unwrap();
        assert_rows(&got, &[&[3.5e-209, 0.0, NAN]]);
    }

    #[test]
    fn groups_are_separate() {
        let x = array![[1.0, 10.0, 3.0, 30.0, 5.0, 99.0]];
        let g = array![[0, 2, 0, 2, 0, -1]];
        let got = standardize(x.view(), None, Some(g.view())).unwrap();
        let s1 = 2.0; // (1, 3, 5)
        let s2 = (200.0f64).sqrt(); // (10, 30): mean 20, var (100+100)/1
        assert_rows(
            &got,
            &[&[-1.0, -10.0 / s2, 0.0, 10.0 / s2, 2.0 / s1 * 1.0, NAN]],
        );
        // sparse codes go through the sorting path and give the same answer
        let g2 = array![[45102010, 7, 45102010, 7, 45102010, -1]];
        let got2 = standardize(x.view(), None, Some(g2.view())).unwrap();
        assert_rows(&got2, &[&[-1.0, -10.0 / s2, 0.0, 10.0 / s2, 1.0, NAN]]);
    }

    #[test]
    fn sigma_clips_expected_values() {
        // 19 zeros and one 100: mean 5, sample std sqrt((19·25 + 95²)/19) = sqrt(500)
        let mut row = vec![0.0; 20];
        row[7] = 100.0;
        let x = Array2::from_shape_vec((1, 20), row).unwrap();
        let got = winsorize(x.view(), WinsorMethod::Sigma, 2.0, None, None).unwrap();
        let hi = 5.0 + 2.0 * 500f64.sqrt();
        for i in 0..20 {
            let want = if i == 7 { hi } else { 0.0 };
            assert!(close(got[[0, i]], want));
        }
    }

    #[test]
    fn quantile_matches_numpy_linear() {
        // np.quantile([1, 2, 3, 4, 10], [0.1, 0.9]) == [1.4, 7.6]
        let x = array![[10.0, 1.0, NAN, 3.0, 2.0, 4.0]];
        let got = winsorize(x.view(), WinsorMethod::Quantile, 0.1, None, None).unwrap();
        assert_rows(&got, &[&[7.6, 1.4, NAN, 3.0, 2.0, 4.0]]);
    }

    #[test]
    fn mad_by_hand() {
        // median 3, |x-3| = (2, 1, 0, 1, 97) → MAD 1; bounds 3 ± 1.4826
        let x = array![[1.0, 2.0, 3.0, 4.0, 100.0]];
        let got = winsorize(x.view(), WinsorMethod::Mad, 1.0, None, None).unwrap();
        assert_rows(&got, &[&[3.0 - 1.4826, 2.0, 3.0, 4.0, 3.0 + 1.4826]]);
        // even count: median of (1, 2, 3, 4) is 2.5
        let mut v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(median(&mut v), 2.5);
    }

    #[test]
    fn rank_average_ties() {
        let x = array![[3.0, 1.0, 3.0, NAN, 2.0], [NAN, NAN, NAN, NAN, NAN]];
        let got = rank(x.view()).unwrap();
        // ranks 3.5, 1, 3.5, -, 2 over n = 4
        assert_rows(&got, &[&[0.7, 0.2, 0.7, NAN, 0.4], &[NAN; 5]]);
    }

    #[test]
    fn bad_arguments() {
        let x = array![[1.0, 2.0]];
        assert!(winsorize(x.view(), WinsorMethod::Sigma, 0.0, None, None).is_err());
        assert!(winsorize(x.view(), WinsorMethod::Quantile, 0.5, None, None).is_err());
        let w = array![[1.0, -1.0]];
        assert!(standardize(x.view(), Some(w.view()), None).is_err());
        let w = array![[1.0, 1.0]];
        assert!(winsorize(x.view(), WinsorMethod::Mad, 1.0, Some(w.view()), None).is_err());
        let g = array![[0, -2]];
        assert!(standardize(x.view(), None, Some(g.view())).is_err());
        let g = array![[0, 1, 2]];
        assert!(standardize(x.view(), None, Some(g.view())).is_err());
        assert!(WinsorMethod::parse("nope").is_err());
    }

    #[test]
    fn thread_count_does_not_matter() {
        let (t, n) = (17, 301);
        let x = Array2::from_shape_fn((t, n), |(i, j)| {
            let v = ((i * 7919 + j * 104729) % 1000) as f64 / 37.0;
            if (i + j) % 11 == 0 {
                NAN
            } else {
                v * v.sin()
            }
        });
        let g = Array2::from_shape_fn((t, n), |(i, j)| ((i + 3 * j) % 5) as i32 - 1);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                (
                    winsorize(x.view(), WinsorMethod::Mad, 2.0, None, Some(g.view())).unwrap(),
                    standardize(x.view(), Some(x.mapv(f64::abs).view()), None).unwrap(),
                    rank(x.view()).unwrap(),
                )
            })
        };
        let (a, b) = (run(1), run(2));
        let same = |p: &Array2<f64>, q: &Array2<f64>| {
            p.iter().zip(q).all(|(u, v)| u.to_bits() == v.to_bits())
        };
        assert!(same(&a.0, &b.0) && same(&a.1, &b.1) && same(&a.2, &b.2));
    }
}
