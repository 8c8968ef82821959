//! Windowed and exponentially weighted statistics along time, per asset.
//!
//! Every kernel takes `(T, N)` arrays (rows = dates, columns = assets, row-major) and works down
//! each column independently. Columns are processed in blocks of [`BLOCK`] assets in parallel
//! (rayon); each block is copied to a column-major scratch buffer, computed, and written back. A
//! column's result depends only on that column (and the shared market series), so results are
//! bit-identical for any thread count.
//!
//! # Windows and NaN
//! The window ending at date `t` with length `w` covers dates `t-w+1 ..= t` (clipped at 0). NaN
//! (or ±inf) values are skipped; a statistic is NaN unless its window holds at least
//! `min_periods` finite values (finite *pairs* for the regression kernels).
//!
//! # Weights
//! With a half-life `h` the value at lag `k = t - s` (counted in dates, NaN dates included, like
//! pandas' `ignore_na=False`) gets weight `λ^k` with `λ = 0.5^(1/h)`; without a half-life every
//! weight is 1. Means are `Σw·x / Σw`; variances are unbiased with reliability weights:
//! `Σw(x-x̄)² / (Σw - Σw²/Σw)`, which is `Σ(x-x̄)²/(n-1)` for equal weights (ddof = 1) and pandas'
//! `ewm(..., adjust=True).var(bias=False)` for the full-history exponential case.
//!
//! # Numerics
//! Window sums are kept as running sums of *shifted* values `x - c`, where the shift `c` is the
//! plain mean of the window at the last re-anchoring. At every date `t` with
//! `t % min(w, ANCHOR) == 0` the sums are recomputed from scratch over the current window with a
//! fresh shift, so rounding never accumulates over more than one window and the variance formula
//! `Σw d² - (Σw d)²/Σw` never cancels catastrophically (its terms are of the size of the window's
//! own dispersion). The data can ask for extra re-anchorings in between (see [`Uni::imprecise`]);
//! they do not move the schedule, which is absolute (dates counted from the first row of the
//! array): right after a scheduled re-anchoring over a full window (`t >= w - 1`) the state is a
//! function of that window alone, so a caller that runs a kernel on rows `r0..` with `r0` a
//! multiple of `min(w, ANCHOR)` gets, from the first scheduled date `a >= r0 + w - 1` on, the
//! very arithmetic of a run over the whole array (`ff.dask` computes date blocks this way).

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::clean::{exponent, ldexp};
use crate::error::Result;
use crate::parallel;
use crate::value_error;

/// Assets per parallel block.
const BLOCK: usize = 16;
/// Longest stretch of running updates between two re-anchorings.
const ANCHOR: usize = 512;
/// Floor for `log1p(r)` so that a -100 % return keeps sums finite (exp(-700) ≈ 1e-304).
const LOG_FLOOR: f64 = -700.0;

/// The statistic of [`rolling_moment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    Sum,
    Mean,
    Var,
    Std,
}

impl Moment {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "sum" => Ok(Moment::Sum),
            "mean" => Ok(Moment::Mean),
            "var" => Ok(Moment::Var),
            "std" => Ok(Moment::Std),
            _ => Err(value_error!(
                "stat must be one of ['sum', 'mean', 'var', 'std'], got {s:?}"
            )),
        }
    }
}

/// The decay factor λ = 0.5^(1/halflife), or 1 without a half-life.
pub fn decay(halflife: Option<f64>) -> Result<f64> {
    match halflife {
        None => Ok(1.0),
        Some(h) if h.is_finite() && h > 0.0 => Ok((-std::f64::consts::LN_2 / h).exp()),
        Some(h) => Err(value_error!("halflife must be a positive finite number, got {h}")),
    }
}

fn check_window(window: usize, min_periods: usize) -> Result<()> {
    if window == 0 {
        return Err(value_error!("window must be >= 1, got 0"));
    }
    if min_periods == 0 {
        return Err(value_error!("min_periods must be >= 1, got 0"));
    }
    if min_periods > window {
        return Err(value_error!(
            "min_periods ({min_periods}) must be <= window ({window})"
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------
// Parallel driver
// ------------------------------------------------------------------------------------------

/// Apply `f` to every column of the `(T, N)` inputs, in parallel over blocks of columns.
///
/// `f(inputs, outputs)` gets each input column as a contiguous slice of length T and must fill
/// each of the `N_OUT` output columns (pre-filled with NaN).
fn map_columns<const N_IN: usize, const N_OUT: usize, F>(
    inputs: [ArrayView2<'_, f64>; N_IN],
    f: F,
) -> [Array2<f64>; N_OUT]
where
    F: Fn(&[&[f64]; N_IN], &mut [&mut [f64]; N_OUT]) + Sync,
{
    let (t_len, n) = inputs[0].dim();
    // Every element is written below (from NaN-initialised block buffers): zeros is just a cheap
    // (lazily mapped) allocation.
    let mut outs: [Array2<f64>; N_OUT] = std::array::from_fn(|_| Array2::zeros((t_len, n)));
    if t_len == 0 || n == 0 {
        return outs;
    }
    // The disjoint (T, nb) column blocks of every output, grouped per block.
    let n_blocks = n.div_ceil(BLOCK);
    let mut per_out: Vec<_> = outs
        .iter_mut()
        .map(|o| o.axis_chunks_iter_mut(Axis(1), BLOCK).collect::<Vec<_>>().into_iter())
        .collect();
    let blocks: Vec<(usize, Vec<ArrayViewMut2<'_, f64>>)> = (0..n_blocks)
        .map(|b| {
            let views = per_out
                .iter_mut()
                .map(|it| it.next().expect("one chunk per block and output"))
                .collect();
            (b, views)
        })
        .collect();
    blocks.into_par_iter().for_each(|(b, mut views)| {
        if parallel::cancelled() {
            return; // the caller discards the whole result
        }
        let j0 = b * BLOCK;
        let nb = BLOCK.min(n - j0);
        // Gather the block's input columns into contiguous column-major buffers.
        let mut inb = vec![0.0; N_IN * nb * t_len];
        for (k, x) in inputs.iter().enumerate() {
            let base = k * nb * t_len;
            for (t, row) in x.axis_iter(Axis(0)).enumerate() {
                for j in 0..nb {
                    inb[base + j * t_len + t] = row[j0 + j];
                }
            }
        }
        // Output layout: [column j][output k][date t].
        let mut outb = vec![f64::NAN; N_OUT * nb * t_len];
        for (j, oj) in outb.chunks_exact_mut(N_OUT * t_len).enumerate() {
            let ins: [&[f64]; N_IN] = std::array::from_fn(|k| {
                let s = k * nb * t_len + j * t_len;
                &inb[s..s + t_len]
            });
            let mut it = oj.chunks_exact_mut(t_len);
            let mut cols: [&mut [f64]; N_OUT] =
                std::array::from_fn(|_| it.next().expect("N_OUT chunks of length T"));
            f(&ins, &mut cols);
        }
        // Write the block back, row by row (nb contiguous values per row).
        for (k, view) in views.iter_mut().enumerate() {
            for (t, mut row) in view.axis_iter_mut(Axis(0)).enumerate() {
                for j in 0..nb {
                    row[j] = outb[(j * N_OUT + k) * t_len + t];
                }
            }
        }
    });
    outs
}

// ------------------------------------------------------------------------------------------
// Window accumulators
// ------------------------------------------------------------------------------------------

/// Weighted sums of shifted values over one window: `n` finite values, `sw = Σw`,
/// `sw2 = Σw²`, `s1 = Σw(x-c)`, `s2 = Σw(x-c)²`, all of the values scaled by `2^−e` (`e = 0`
/// unless the window holds magnitudes beyond `2^±RANGE`, see [`scale_of`]).
#[derive(Clone, Copy, Default, Debug)]
struct Uni {
    c: f64,
    e: i32,
    n: usize,
    sw: f64,
    sw2: f64,
    s1: f64,
    s2: f64,
}

/// Values up to `2^RANGE` in magnitude are summed as they are: their squares, and sums of
/// millions of them, stay far from overflow. Larger (or, for a whole window, smaller than
/// `2^−RANGE`) magnitudes are summed scaled by a power of two (exact).
const RANGE: i32 = 400;

/// A running sum may keep rounding errors of the size of the largest value it once held: when
/// the sum of squares falls below `PRECISION` times its (decayed) peak since the last
/// re-anchoring, or the variance formula cancels to below `PRECISION` of its terms, the window
/// is summed again from scratch. Never the case for ordinary data (a window's dispersion would
/// have to fall a million-fold within one window); an outlier leaving the window is.
const PRECISION: f64 = 1.0 / (1u64 << 20) as f64;

/// The window's mean is kept as `c + s1/sw`: when it falls below `STALE_SHIFT` times the shift
/// `c` (a decaying outlier, a mean crossing zero), the rounding of `s1`, up to `ε·|c|·sw` per
/// update, would no longer be small against the mean (≲ 1e-10 of it over the `ANCHOR` updates
/// between two scheduled re-anchorings), so the window is summed again with a fresh shift.
const STALE_SHIFT: f64 = 1.0 / (1u64 << 10) as f64;

/// The exponent `e` to scale a window by (values `x·2^−e`): 0 when its largest finite magnitude
/// `amax` is within `2^±RANGE` (or 0), else the binary exponent of `amax`.
fn scale_of(amax: f64) -> i32 {
    if amax == 0.0 || !amax.is_finite() {
        return 0;
    }
    let e = exponent(amax);
    if (-RANGE..=RANGE).contains(&e) {
        0
    } else {
        e
    }
}

impl Uni {
    /// Fresh sums over `x[lo..=t]` with weights λ^(t-s).
    fn fresh(x: &[f64], lo: usize, t: usize, lam: f64) -> Self {
        let amax = x[lo..=t].iter().filter(|v| v.is_finite()).fold(0.0f64, |a, v| a.max(v.abs()));
        let e = scale_of(amax);
        let sc = |v: f64| if e == 0 { v } else { ldexp(v, -e) };
        // the shift: the window's (weighted) mean, so that `s1` stays small against it; the
        // plain mean when every weight has underflowed to 0 (a long window, many half-lives
        // after the last value: the shift must stay finite, else every row re-anchors)
        let (mut n, mut sum, mut sw, mut plain, mut w) = (0usize, 0.0, 0.0, 0.0, 1.0);
        for &v in x[lo..=t].iter().rev() {
            if v.is_finite() {
                n += 1;
                sum += w * sc(v);
                sw += w;
                plain += sc(v);
            }
            w *= lam;
        }
        let c = if n == 0 {
            0.0
        } else if sw > 0.0 {
            sum / sw
        } else {
            plain / n as f64
        };
        let mut a = Uni { c, e, n, ..Default::default() };
        let mut w = 1.0;
        for s in (lo..=t).rev() {
            let v = x[s];
            if v.is_finite() {
                let d = sc(v) - c;
                a.sw += w;
                a.sw2 += w * w;
                a.s1 += w * d;
                a.s2 += w * d * d;
            }
            w *= lam;
        }
        a
    }

    /// Whether `v` can be added at this window's scale (else the window must be summed again).
    #[inline]
    fn fits(&self, v: f64) -> bool {
        !v.is_finite() || (if self.e == 0 { v.abs() } else { ldexp(v.abs(), -self.e) }) <= LIMIT
    }

    #[inline]
    fn decay(&mut self, lam: f64, lam2: f64) {
        self.sw *= lam;
        self.sw2 *= lam2;
        self.s1 *= lam;
        self.s2 *= lam;
    }

    /// Add (`sign = 1`) or remove (`sign = -1`) a value of weight `w`. An empty window restarts
    /// from exact zeros, shifted by its first value (so a listing after leading NaN is centred).
    #[inline]
    fn add(&mut self, v: f64, w: f64, sign: f64) {
        if v.is_finite() {
            let v = if self.e == 0 { v } else { ldexp(v, -self.e) };
            if sign > 0.0 && self.n == 0 {
                *self = Uni { c: v, e: self.e, ..Default::default() };
            }
            let d = v - self.c;
            self.sw += sign * w;
            self.sw2 += sign * w * w;
            self.s1 += sign * w * d;
            self.s2 += sign * w * d * d;
            if sign > 0.0 {
                self.n += 1;
            } else {
                self.n -= 1;
                if self.n == 0 {
                    *self = Uni { c: self.c, e: self.e, ..Default::default() };
                }
            }
        }
    }

    /// Whether the running sums lost the precision of the window (see [`PRECISION`]); `peak` is
    /// the decayed largest `s2` since the last re-anchoring.
    #[inline]
    fn imprecise(&self, peak: f64) -> bool {
        if !(self.s1.is_finite() && self.s2.is_finite()) {
            return true;
        }
        if self.n < 2 {
            return false;
        }
        self.s2 < peak * PRECISION
            || self.s2 - self.s1 * self.s1 / self.sw < self.s2 * PRECISION
            || (self.s1 + self.c * self.sw).abs() < (self.c * self.sw).abs() * STALE_SHIFT
    }

    fn stat(&self, m: Moment) -> f64 {
        let unscale = |v: f64, times: i32| if self.e == 0 { v } else { ldexp(v, times * self.e) };
        match m {
            Moment::Sum => unscale(self.s1 + self.sw * self.c, 1),
            Moment::Mean => unscale(self.c + self.s1 / self.sw, 1),
            Moment::Var | Moment::Std => {
                // Unbiased with reliability weights: Σw d̃² / (Σw − Σw²/Σw).
                let denom = self.sw - self.sw2 / self.sw;
                if self.n < 2 || denom <= 0.0 {
                    return f64::NAN;
                }
                let ss = (self.s2 - self.s1 * self.s1 / self.sw).max(0.0);
                let var = ss / denom;
                if m == Moment::Std {
                    unscale(var.sqrt(), 1)
                } else {
                    unscale(var, 2) // may overflow: a variance beyond the largest float
                }
            }
        }
    }
}

/// Largest scaled magnitude added to running sums (`2^RANGE`).
const LIMIT: f64 = {
    // 2^400, exactly
    let mut v = 1.0f64;
    let mut i = 0;
    while i < RANGE {
        v *= 2.0;
        i += 1;
    }
    v
};

/// A window covering the whole history (nothing ever leaves it): West's weighted incremental
/// mean and sum of squared deviations, which recentres itself at every step.
/// Values are scaled by `2^−e`, `e` growing (the state rescaled, exactly) when a value beyond
/// `2^RANGE` arrives, or set by the first value when that one is beyond `2^±RANGE`.
///
/// For the variance, the mean is kept as `c + mean` once the level is far beyond the spread
/// (`mean² > EXPANDING_LEVEL · m2 / sw`, see [`EXPANDING_LEVEL`]): each update rounds the mean by
/// `ε·|mean|`, and every `d = v − mean` then carried that rounding, which, against a spread
/// `level / spread` times smaller, cost the variance `ε · level / spread` of its value (6e-9 for
/// a series 1e4 ± 1e-4, 3e-6 for 100 ± 1e-9 over 5000 dates) where the windowed path, shifted,
/// keeps 1e-16. The first time, `mean` and `m2` are summed again over the history with the
/// shift (O(t), once per column); later, the mean moves into the shift as it is (`m2` is
/// centred, it does not depend on `c`). Data whose level is within the spread, the ordinary
/// case, never take this path.
fn expanding_column(x: &[f64], lam: f64, mp: usize, m: Moment, out: &mut [f64]) {
    let (mut n, mut sw, mut sw2, mut mean, mut m2) = (0usize, 0.0, 0.0, 0.0, 0.0);
    let mut c = 0.0;
    let mut anchored = false;
    let shifted = matches!(m, Moment::Var | Moment::Std);
    let mut e = 0i32;
    let lam2 = lam * lam;
    for (t, &v) in x.iter().enumerate() {
        if lam != 1.0 {
            sw *= lam;
            sw2 *= lam2;
            m2 *= lam;
        }
        if v.is_finite() {
            if n == 0 {
                e = scale_of(v.abs());
            } else if (if e == 0 { v.abs() } else { ldexp(v.abs(), -e) }) > LIMIT {
                let e_new = exponent(v);
                let delta = e_new - e;
                mean = ldexp(mean, -delta);
                c = ldexp(c, -delta);
                m2 = ldexp(m2, -2 * delta);
                e = e_new;
            }
            let v = if e == 0 { v } else { ldexp(v, -e) } - c;
            n += 1;
            sw += 1.0;
            sw2 += 1.0;
            let d = v - mean;
            mean += d / sw;
            m2 += d * (v - mean);
            if shifted && m2 > 0.0 && mean * mean * sw > EXPANDING_LEVEL * m2 {
                if !anchored {
                    anchored = true;
                    // The first time: every update so far rounded `mean`, and `m2` kept those
                    // roundings (from the second value on), so both are summed again over the
                    // history, shifted by the mean (once per column).
                    c = mean;
                    let (mut s1, mut s2, mut w) = (0.0, 0.0, 1.0);
                    for &u in x[..=t].iter().rev() {
                        if u.is_finite() {
                            let d = (if e == 0 { u } else { ldexp(u, -e) }) - c;
                            s1 += w * d;
                            s2 += w * d * d;
                        }
                        w *= lam;
                    }
                    mean = s1 / sw;
                    m2 = s2 - s1 * mean;
                } else {
                    // (c, mean) → (c + mean, the rounding of that sum), |mean| ≪ |c|
                    let cn = c + mean;
                    mean -= cn - c;
                    c = cn;
                }
            }
        }
        let unscale = |v: f64, times: i32| if e == 0 { v } else { ldexp(v, times * e) };
        out[t] = if n < mp {
            f64::NAN
        } else {
            match m {
                Moment::Sum => unscale(mean * sw, 1),
                Moment::Mean => unscale(mean, 1),
                Moment::Var | Moment::Std => {
                    let denom = sw - sw2 / sw;
                    if n < 2 || denom <= 0.0 {
                        f64::NAN
                    } else {
                        let var = m2.max(0.0) / denom;
                        if m == Moment::Std {
                            unscale(var.sqrt(), 1)
                        } else {
                            unscale(var, 2)
                        }
                    }
                }
            }
        };
    }
}

/// The expanding variance moves its mean into a shift once `mean² > EXPANDING_LEVEL · m2 / sw`,
/// a level more than 2^10 times the spread (see [`expanding_column`]): never the case for
/// returns or standardised data, so their results are those of the plain recurrence.
const EXPANDING_LEVEL: f64 = (1u64 << 20) as f64;

/// Drive an accumulator along one column: re-anchor at the dates `t % min(w, ANCHOR) == 0`,
/// otherwise decay, add the entering value and remove the leaving one. Re-anchor at once, as
/// well, when a value beyond the window's scale enters or the running sums lost their precision
/// (an outlier left the window, two equal values in a small window, or sums overflowed): see
/// [`Uni::imprecise`]. Those extra re-anchorings do not move the schedule (module docs, Numerics).
///
/// A window as long as the data or longer is not the full history (`rolling_moment` with
/// `window = None`, [`expanding_column`]): its values are those a longer array gives on the same
/// rows, bit for bit, so that adding dates never changes the past (on a kernel of its own they
/// would differ in the last bits).
fn uni_column(x: &[f64], w: usize, lam: f64, mp: usize, m: Moment, out: &mut [f64]) {
    let t_len = x.len();
    let interval = w.min(ANCHOR);
    let lam2 = lam * lam;
    let lam_w = if w < t_len { lam.powi(w as i32) } else { 0.0 };
    let mut acc = Uni::default();
    let mut peak = 0.0f64;
    let mut next = 0; // the next scheduled re-anchoring: the multiples of `interval`
    for t in 0..t_len {
        // Absolute, not counted from the last re-anchoring: a data-triggered one must not shift
        // the later scheduled ones (the state would then depend on every date before).
        let mut anchor = t == next;
        if anchor {
            next += interval;
        }
        if !anchor {
            if lam != 1.0 {
                acc.decay(lam, lam2);
                peak *= lam;
            }
            if acc.fits(x[t]) {
                acc.add(x[t], 1.0, 1.0);
                if t >= w {
                    acc.add(x[t - w], lam_w, -1.0);
                }
                peak = peak.max(acc.s2);
                anchor = acc.imprecise(peak);
            } else {
                anchor = true;
            }
        }
        if anchor {
            acc = Uni::fresh(x, (t + 1).saturating_sub(w), t, lam);
            peak = acc.s2;
        }
        out[t] = if acc.n >= mp { acc.stat(m) } else { f64::NAN };
    }
}

/// Rolling (optionally exponentially weighted) sum, mean, variance or standard deviation.
///
/// `window = None` means the full history up to each date (with a half-life this is pandas'
/// `ewm(halflife=h, adjust=True, ignore_na=False)`).
pub fn rolling_moment(
    x: ArrayView2<'_, f64>,
    window: Option<usize>,
    min_periods: usize,
    halflife: Option<f64>,
    stat: Moment,
) -> Result<Array2<f64>> {
    let w = match window {
        Some(w) => {
            check_window(w, min_periods)?;
            w
        }
        None if min_periods == 0 => return Err(value_error!("min_periods must be >= 1, got 0")),
        None => 0,
    };
    let lam = decay(halflife)?;
    let [out] = map_columns([x], |ins: &[&[f64]; 1], outs: &mut [&mut [f64]; 1]| {
        if window.is_none() {
            expanding_column(ins[0], lam, min_periods, stat, outs[0])
        } else {
            uni_column(ins[0], w, lam, min_periods, stat, outs[0])
        }
    });
    Ok(out)
}

// ------------------------------------------------------------------------------------------
// Rolling regression on a market series
// ------------------------------------------------------------------------------------------

/// Weighted sums of shifted pairs (asset x, market y) over one window, the asset's values
/// scaled by `2^−ex` and the market's by `2^−ey` (0 unless beyond `2^±RANGE`, as for [`Uni`]).
#[derive(Clone, Copy, Default, Debug)]
struct Bi {
    cx: f64,
    cy: f64,
    ex: i32,
    ey: i32,
    n: usize,
    sw: f64,
    sx: f64,
    sy: f64,
    sxx: f64,
    syy: f64,
    sxy: f64,
}

impl Bi {
    fn fresh(x: &[f64], y: &[f64], lo: usize, t: usize, lam: f64) -> Self {
        let (mut ax_max, mut ay_max) = (0.0f64, 0.0f64);
        for s in lo..=t {
            if x[s].is_finite() && y[s].is_finite() {
                ax_max = ax_max.max(x[s].abs());
                ay_max = ay_max.max(y[s].abs());
            }
        }
        let (ex, ey) = (scale_of(ax_max), scale_of(ay_max));
        let scx = |v: f64| if ex == 0 { v } else { ldexp(v, -ex) };
        let scy = |v: f64| if ey == 0 { v } else { ldexp(v, -ey) };
        let (mut n, mut ax, mut ay) = (0usize, 0.0, 0.0);
        // whether the market takes one value on every pair: its deviations from a shift at that
        // value are then exactly 0, so the variance is 0 (beta NaN). A shift at the mean
        // (n·c/n, an ulp off c) left deviations of an ulp whose rounded variance could be > 0,
        // and beta a ratio of two roundings (1e15 on a stale market series)
        let (mut y0, mut flat) = (f64::NAN, true);
        for s in lo..=t {
            if x[s].is_finite() && y[s].is_finite() {
                if n == 0 {
                    y0 = y[s];
                } else if y[s] != y0 {
                    flat = false;
                }
                n += 1;
                ax += scx(x[s]);
                ay += scy(y[s]);
            }
        }
        let (cx, cy) = match n {
            0 => (0.0, 0.0),
            _ if flat => (ax / n as f64, scy(y0)),
            _ => (ax / n as f64, ay / n as f64),
        };
        let mut a = Bi { cx, cy, ex, ey, n, ..Default::default() };
        let mut w = 1.0;
        for s in (lo..=t).rev() {
            if x[s].is_finite() && y[s].is_finite() {
                let (dx, dy) = (scx(x[s]) - cx, scy(y[s]) - cy);
                a.sw += w;
                a.sx += w * dx;
                a.sy += w * dy;
                a.sxx += w * dx * dx;
                a.syy += w * dy * dy;
                a.sxy += w * dx * dy;
            }
            w *= lam;
        }
        a
    }

    /// Whether the pair can be added at this window's scales.
    #[inline]
    fn fits(&self, vx: f64, vy: f64) -> bool {
        let f = |v: f64, e: i32| (if e == 0 { v.abs() } else { ldexp(v.abs(), -e) }) <= LIMIT;
        !(vx.is_finite() && vy.is_finite()) || (f(vx, self.ex) && f(vy, self.ey))
    }

    #[inline]
    fn decay(&mut self, lam: f64) {
        self.sw *= lam;
        self.sx *= lam;
        self.sy *= lam;
        self.sxx *= lam;
        self.syy *= lam;
        self.sxy *= lam;
    }

    #[inline]
    fn add(&mut self, vx: f64, vy: f64, w: f64, sign: f64) {
        if vx.is_finite() && vy.is_finite() {
            let vx = if self.ex == 0 { vx } else { ldexp(vx, -self.ex) };
            let vy = if self.ey == 0 { vy } else { ldexp(vy, -self.ey) };
            if sign > 0.0 && self.n == 0 {
                *self = Bi { cx: vx, cy: vy, ex: self.ex, ey: self.ey, ..Default::default() };
            }
            let (dx, dy) = (vx - self.cx, vy - self.cy);
            if sign > 0.0 {
                self.n += 1;
            } else {
                self.n -= 1;
                if self.n == 0 {
                    *self = Bi { cx: self.cx, cy: self.cy, ex: self.ex, ey: self.ey, ..Default::default() };
                    return;
                }
            }
            let sw = sign * w;
            self.sw += sw;
            self.sx += sw * dx;
            self.sy += sw * dy;
            self.sxx += sw * dx * dx;
            self.syy += sw * dy * dy;
            self.sxy += sw * dx * dy;
        }
    }

    /// Whether the running sums lost the precision of the window (as [`Uni::imprecise`], for
    /// both series); `peak` holds the decayed largest `sxx` and `syy` since the re-anchoring.
    #[inline]
    fn imprecise(&self, peak: (f64, f64)) -> bool {
        let sums = [self.sx, self.sy, self.sxx, self.syy, self.sxy];
        if !sums.iter().all(|v| v.is_finite()) {
            return true;
        }
        if self.n < 2 {
            return false;
        }
        self.sxx < peak.0 * PRECISION
            || self.syy < peak.1 * PRECISION
            || self.sxx - self.sx * self.sx / self.sw < self.sxx * PRECISION
            || self.syy - self.sy * self.sy / self.sw < self.syy * PRECISION
    }

    /// (beta, residual volatility).
    fn stat(&self) -> (f64, f64) {
        let cyy = self.syy - self.sy * self.sy / self.sw;
        let cxy = self.sxy - self.sx * self.sy / self.sw;
        let cxx = self.sxx - self.sx * self.sx / self.sw;
        if self.n < 2 || cyy <= 0.0 {
            return (f64::NAN, f64::NAN);
        }
        let beta = cxy / cyy;
        let rv = if self.n > 2 {
            let ssr = (cxx - beta * cxy).max(0.0);
            let n = self.n as f64;
            (ssr / self.sw * n / (n - 2.0)).sqrt()
        } else {
            f64::NAN
        };
        if self.ex == 0 && self.ey == 0 {
            (beta, rv)
        } else {
            (ldexp(beta, self.ex - self.ey), ldexp(rv, self.ex))
        }
    }
}

/// Rolling beta of each asset on `market` and the volatility of the residual.
///
/// Per date t, over the window's finite (asset, market) pairs with weights w (1, or λ^(t−s) with a
/// half-life): `beta = Σw(x−x̄)(m−m̄) / Σw(m−m̄)²` (weighted least squares with an intercept) and
/// `resid_vol = sqrt(Σw e² / Σw · n/(n−2))`, e the regression residuals, n the number of pairs
/// (for equal weights: `sqrt(SSR/(n−2))`, the OLS standard error of the regression). Daily units.
pub fn rolling_beta(
    x: ArrayView2<'_, f64>,
    market: ArrayView1<'_, f64>,
    window: usize,
    min_periods: usize,
    halflife: Option<f64>,
) -> Result<(Array2<f64>, Array2<f64>)> {
    check_window(window, min_periods)?;
    if market.len() != x.nrows() {
        return Err(value_error!(
            "market has length {}, expected {} (the number of dates in returns)",
            market.len(),
            x.nrows()
        ));
    }
    let lam = decay(halflife)?;
    let m: Vec<f64> = market.iter().copied().collect();
    let w = window;
    let [beta, rv] = map_columns([x], |ins: &[&[f64]; 1], outs: &mut [&mut [f64]; 2]| {
        let x = ins[0];
        let t_len = x.len();
        let interval = w.min(ANCHOR);
        let lam_w = if w < t_len { lam.powi(w as i32) } else { 0.0 };
        let mut acc = Bi::default();
        let mut peak = (0.0f64, 0.0f64);
        let mut next = 0;
        for t in 0..t_len {
            // an absolute schedule (t % interval == 0), as in `uni_column`
            let mut anchor = t == next;
            if anchor {
                next += interval;
            }
            if !anchor {
                if lam != 1.0 {
                    acc.decay(lam);
                    peak = (peak.0 * lam, peak.1 * lam);
                }
                if acc.fits(x[t], m[t]) {
                    acc.add(x[t], m[t], 1.0, 1.0);
                    if t >= w {
                        acc.add(x[t - w], m[t - w], lam_w, -1.0);
                    }
                    peak = (peak.0.max(acc.sxx), peak.1.max(acc.syy));
                    anchor = acc.imprecise(peak);
                } else {
                    anchor = true;
                }
            }
            if anchor {
                acc = Bi::fresh(x, &m, (t + 1).saturating_sub(w), t, lam);
                peak = (acc.sxx, acc.syy);
            }
            if acc.n >= min_periods {
                let (b, r) = acc.stat();
                outs[0][t] = b;
                outs[1][t] = r;
            }
        }
    });
    Ok((beta, rv))
}

// ------------------------------------------------------------------------------------------
// Compounded return with a skip, maximum drawdown
// ------------------------------------------------------------------------------------------

fn check_returns_col(x: &[f64]) -> bool {
    x.iter().all(|&v| (v >= -1.0 || v.is_nan()) && v != f64::INFINITY)
}

fn check_returns(x: ArrayView2<'_, f64>) -> Result<()> {
    let bad = x.iter().filter(|&&v| v < -1.0 || v == f64::INFINITY).count();
    if bad > 0 {
        return Err(value_error!(
            "returns must be >= -1 and not +inf (simple decimal returns); {bad} values are not"
        ));
    }
    Ok(())
}

#[inline]
fn log_gross(r: f64) -> f64 {
    r.ln_1p().max(LOG_FLOOR)
}

/// Compounded return over a window with a skip: at date t,
/// `Π (1 + r_s) − 1` over `s = t−window+1 ..= t−skip`, i.e. the return from the close of
/// `t−window` to the close of `t−skip` (`window − skip` daily returns). NaN returns count as 0
/// (no price change) but not towards `min_periods`, which counts the finite returns of that span.
/// Momentum 12-1 is `window=252, skip=21`. A −100 % return makes the result −1.
pub fn compounded_return(
    x: ArrayView2<'_, f64>,
    window: usize,
    skip: usize,
    min_periods: usize,
) -> Result<Array2<f64>> {
    if skip >= window {
        return Err(value_error!("skip ({skip}) must be < window ({window})"));
    }
    let span = window - skip;
    check_window(span, min_periods).map_err(|e| match e {
        crate::error::Error::Value(m) => value_error!("{m} (the span window - skip)"),
    })?;
    check_returns(x)?;
    let [out] = map_columns([x], |ins: &[&[f64]; 1], outs: &mut [&mut [f64]; 1]| {
        let x = ins[0];
        let t_len = x.len();
        debug_assert!(check_returns_col(x));
        // Rolling sum of log(1 + r) over `span`, evaluated at t − skip; −100 % returns counted
        // apart so that the sum stays finite and the result is exactly −1.
        let lx: Vec<f64> = x
            .iter()
            .map(|&v| match v {
                _ if !v.is_finite() => f64::NAN,
                -1.0 => 0.0, // counted, and flagged in `wiped`
                _ => v.ln_1p(),
            })
            .collect();
        let mut sums = vec![f64::NAN; t_len];
        uni_column(&lx, span, 1.0, min_periods, Moment::Sum, &mut sums);
        let mut wipe = 0usize;
        let mut wiped = vec![false; t_len];
        for t in 0..t_len {
            if x[t] == -1.0 {
                wipe += 1;
            }
            if t >= span && x[t - span] == -1.0 {
                wipe -= 1;
            }
            wiped[t] = wipe > 0;
        }
        for t in skip..t_len {
            let s = sums[t - skip];
            outs[0][t] = if s.is_nan() {
                f64::NAN
            } else if wiped[t - skip] {
                -1.0
            } else {
                s.exp_m1()
            };
        }
    });
    Ok(out)
}

/// (max, min, max drop) of a run of log-wealth values; combine is associative.
#[derive(Clone, Copy)]
struct Dd {
    hi: f64,
    lo: f64,
    drop: f64,
}

impl Dd {
    #[inline]
    fn one(v: f64) -> Self {
        Dd { hi: v, lo: v, drop: 0.0 }
    }
    #[inline]
    fn then(self, b: Dd) -> Dd {
        Dd {
            hi: self.hi.max(b.hi),
            lo: self.lo.min(b.lo),
            drop: self.drop.max(b.drop).max(self.hi - b.lo),
        }
    }
}

/// The log-wealth `cum` is summed from the first date, so each of its values carries a rounding
/// of `ε · |cum|`; a drawdown (positive) below `LOCAL_DROP` of the window's log-wealth level (a
/// dip of 1e-9 late in a long rising history: 8e-8 of it lost) is taken from [`LocalDd`], built
/// from the log-returns themselves (once per column that has such a window). Ordinary windows
/// (drawdowns of a few % against a level of a few units) keep the block aggregates, bit for bit.
const LOCAL_DROP: f64 = 1.0 / (1u64 << 10) as f64;

/// The block aggregates of [`max_drawdown`] from the log-returns `l` rather than from the
/// log-wealth: within each block of `k` positions, prefix and suffix running drawdowns
/// (`dd = max(0, dd − l)`: sums of the log-returns since the last peak only, exact to a few ε of
/// themselves), the prefix's depth below the block's first value and the suffix's peak above the
/// block's last value (sums over one block at most, not over the history).
struct LocalDd {
    l: Vec<f64>,
    pdrop: Vec<f64>,
    pdepth: Vec<f64>,
    sdrop: Vec<f64>,
    speak: Vec<f64>,
}

impl LocalDd {
    fn new(x: &[f64], k: usize) -> Self {
        let len = x.len() + 1;
        let l: Vec<f64> = x.iter().map(|&v| if v.is_finite() { log_gross(v) } else { 0.0 }).collect();
        let (mut pdrop, mut pdepth) = (vec![0.0f64; len], vec![0.0f64; len]);
        let (mut dd, mut p) = (0.0f64, 0.0f64);
        for i in 0..len {
            if i % k == 0 {
                (dd, p) = (0.0, 0.0);
            } else {
                dd = (dd - l[i - 1]).max(0.0);
                p += l[i - 1];
                pdrop[i] = pdrop[i - 1].max(dd);
                pdepth[i] = pdepth[i - 1].max(-p);
            }
        }
        let (mut sdrop, mut speak) = (vec![0.0f64; len], vec![0.0f64; len]);
        let (mut u, mut r) = (0.0f64, 0.0f64);
        for i in (0..len).rev() {
            if i % k == k - 1 || i == len - 1 {
                (u, r) = (0.0, 0.0);
            } else {
                u = (u - l[i]).max(0.0);
                r -= l[i];
                sdrop[i] = sdrop[i + 1].max(u);
                speak[i] = speak[i + 1].max(r);
            }
        }
        LocalDd { l, pdrop, pdepth, sdrop, speak }
    }

    /// Largest fall of log-wealth over the positions `lo ..= hi` (as the block aggregates).
    fn drop(&self, lo: usize, hi: usize, k: usize) -> f64 {
        if lo / k == hi / k {
            return self.pdrop[hi];
        }
        // peak of the suffix above its last value, the step into the next block, the prefix's
        // depth below its first value
        let end = (lo / k + 1) * k - 1;
        let cross = self.speak[lo] - self.l[end] + self.pdepth[hi];
        self.sdrop[lo].max(self.pdrop[hi]).max(cross)
    }
}

/// Maximum drawdown over a window, as a positive fraction of the running peak.
///
/// At date t the window's wealth path starts at 1 at the close of `t−window` and compounds the
/// returns `r_{t−window+1} ..= r_t` (NaN = no change); the result is
/// `max_{i ≤ j} (1 − W_j / W_i)` over that path (0 for a path that never falls, 1 for a wipe-out).
/// `min_periods` counts finite returns in the window. Computed in O(T) per asset by splitting the
/// log-wealth series into blocks of the window length (prefix/suffix aggregates).
#[allow(clippy::needless_range_loop)]
pub fn max_drawdown(x: ArrayView2<'_, f64>, window: usize, min_periods: usize) -> Result<Array2<f64>> {
    check_window(window, min_periods)?;
    check_returns(x)?;
    let [out] = map_columns([x], |ins: &[&[f64]; 1], outs: &mut [&mut [f64]; 1]| {
        let x = ins[0];
        let t_len = x.len();
        // cum[i] = log wealth before return i; cum[t+1] after return t.
        let mut cum = Vec::with_capacity(t_len + 1);
        let mut cnt = Vec::with_capacity(t_len + 1);
        cum.push(0.0);
        cnt.push(0usize);
        let (mut acc, mut c) = (0.0, 0usize);
        for &v in x {
            if v.is_finite() {
                acc += log_gross(v);
                c += 1;
            }
            cum.push(acc);
            cnt.push(c);
        }
        // Window at t covers cum[lo..=t+1], lo = max(0, t+1−window): at most K = window+1 values.
        let k = window + 1;
        let len = t_len + 1;
        let mut pre: Vec<Dd> = Vec::with_capacity(len);
        let mut suf: Vec<Dd> = vec![Dd::one(0.0); len];
        let mut pos = 0; // i % k, kept as a counter
        for i in 0..len {
            let d = Dd::one(cum[i]);
            pre.push(if pos == 0 { d } else { pre[i - 1].then(d) });
            pos += 1;
            if pos == k {
                pos = 0;
            }
        }
        for i in (0..len).rev() {
            let d = Dd::one(cum[i]);
            let end_of_block = i % k == k - 1 || i == len - 1;
            suf[i] = if end_of_block { d } else { d.then(suf[i + 1]) };
        }
        let mut local: Option<LocalDd> = None;
        for t in 0..t_len {
            let hi = t + 1;
            let lo = hi.saturating_sub(window);
            if cnt[hi] - cnt[lo] < min_periods {
                continue;
            }
            let agg = if lo / k == hi / k { pre[hi] } else { suf[lo].then(pre[hi]) };
            // lo / k == hi / k only when lo starts its block (the window holds ≤ K values).
            debug_assert!(lo / k != hi / k || lo % k == 0);
            let mut drop = agg.drop;
            if drop > 0.0 && drop < agg.hi.abs().max(agg.lo.abs()) * LOCAL_DROP {
                drop = local.get_or_insert_with(|| LocalDd::new(x, k)).drop(lo, hi, k);
            }
            outs[0][t] = -(-drop).exp_m1();
        }
    });
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)]
mod tests {
    use super::*;
    use ndarray::{array, s, Array1};

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol * (1.0 + b.abs())
    }

    /// Deterministic pseudo-random numbers (xorshift), no dev-dependency needed.
    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9E3779B97F4A7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    fn panel(t: usize, n: usize, seed: u64) -> Array2<f64> {
        let v = noise(t * n, seed);
        let mut a = Array2::from_shape_vec((t, n), v).unwrap() * 0.04;
        // gaps, a listing and a delisting
        for i in 0..t {
            for j in 0..n {
                if (i * 7 + j * 3) % 11 == 0 {
                    a[[i, j]] = f64::NAN;
                }
            }
        }
        for i in 0..t / 3 {
            a[[i, 0]] = f64::NAN;
        }
        for i in 2 * t / 3..t {
            a[[i, n - 1]] = f64::NAN;
        }
        a
    }

    fn naive_moment(col: &[f64], t: usize, w: usize, lam: f64, mp: usize, m: Moment) -> f64 {
        let lo = (t + 1).saturating_sub(w);
        let (mut sw, mut sw2, mut sx, mut n) = (0.0, 0.0, 0.0, 0);
        for s in lo..=t {
            if col[s].is_finite() {
                let wt = lam.powi((t - s) as i32);
                sw += wt;
                sw2 += wt * wt;
                sx += wt * col[s];
                n += 1;
            }
        }
        if n < mp {
            return f64::NAN;
        }
        let mean = sx / sw;
        let mut ss = 0.0;
        for s in lo..=t {
            if col[s].is_finite() {
                ss += lam.powi((t - s) as i32) * (col[s] - mean).powi(2);
            }
        }
        let var = if n < 2 { f64::NAN } else { ss / (sw - sw2 / sw) };
        match m {
            Moment::Sum => sx,
            Moment::Mean => mean,
            Moment::Var => var,
            Moment::Std => var.sqrt(),
        }
    }

    #[test]
    fn moments_match_naive() {
        let x = panel(300, 37, 1);
        for &(w, hl) in &[(1usize, None), (5, None), (20, Some(7.0)), (60, None), (400, Some(30.0))] {
            let lam = decay(hl).unwrap();
            for &m in &[Moment::Sum, Moment::Mean, Moment::Var, Moment::Std] {
                let mp = w.min(3);
                let got = rolling_moment(x.view(), Some(w), mp, hl, m).unwrap();
                for j in 0..x.ncols() {
                    let col: Vec<f64> = x.column(j).to_vec();
                    for t in 0..x.nrows() {
                        let want = naive_moment(&col, t, w, lam, mp, m);
                        assert!(close(got[[t, j]], want, 1e-11), "{m:?} w={w} t={t} j={j}: {} vs {want}", got[[t, j]]);
                    }
                }
            }
        }
    }

    #[test]
    fn std_is_stable_for_large_offsets() {
        // Values near 1e8 with unit dispersion: the naive Σx² − (Σx)²/n formula loses everything.
        let t = 2000;
        let v: Vec<f64> = noise(t, 3).iter().map(|e| 1e8 + e).collect();
        let x = Array2::from_shape_vec((t, 1), v.clone()).unwrap();
        let got = rolling_moment(x.view(), Some(50), 50, None, Moment::Std).unwrap();
        for t in 49..t {
            let want = naive_moment(&v, t, 50, 1.0, 50, Moment::Std);
            assert!(close(got[[t, 0]], want, 1e-8), "{t}: {} vs {want}", got[[t, 0]]);
        }
    }

    #[test]
    fn hand_worked_window() {
        let x = array![[1.0], [2.0], [f64::NAN], [4.0], [8.0]];
        let s = rolling_moment(x.view(), Some(3), 2, None, Moment::Sum).unwrap();
        let s: Vec<f64> = s.column(0).to_vec();
        assert!(s[0].is_nan());
        assert_eq!(&s[1..], &[3.0, 3.0, 6.0, 12.0]);
        let sd = rolling_moment(x.view(), Some(3), 2, None, Moment::Std).unwrap();
        assert!(close(sd[[4, 0]], 8.0f64.sqrt(), 1e-14));
        // EW mean, half-life 1 (λ = 1/2), full history: (8 + 4/2 + 2/8 + 1/16) / (1 + 1/2 + 1/8 + 1/16)
        let m = rolling_moment(x.view(), None, 1, Some(1.0), Moment::Mean).unwrap();
        assert!(close(m[[4, 0]], (8.0 + 2.0 + 0.25 + 0.0625) / 1.6875, 1e-14));
    }

    #[test]
    fn beta_matches_naive() {
        let t = 260;
        let n = 9;
        let mkt: Array1<f64> = Array1::from(noise(t, 9)) * 0.02;
        let mut x = panel(t, n, 4);
        for i in 0..t {
            for j in 0..n {
                x[[i, j]] += (j as f64 * 0.3) * mkt[i];
            }
        }
        let (b, r) = rolling_beta(x.view(), mkt.view(), 63, 20, Some(21.0)).unwrap();
        let lam = decay(Some(21.0)).unwrap();
        for j in 0..n {
            for tt in 0..t {
                let lo = (tt + 1).saturating_sub(63);
                let mut pts = vec![];
                for s in lo..=tt {
                    if x[[s, j]].is_finite() {
                        pts.push((x[[s, j]], mkt[s], lam.powi((tt - s) as i32)));
                    }
                }
                if pts.len() < 20 {
                    assert!(b[[tt, j]].is_nan());
                    continue;
                }
                let sw: f64 = pts.iter().map(|p| p.2).sum();
                let mx = pts.iter().map(|p| p.2 * p.0).sum::<f64>() / sw;
                let my = pts.iter().map(|p| p.2 * p.1).sum::<f64>() / sw;
                let cxy: f64 = pts.iter().map(|p| p.2 * (p.0 - mx) * (p.1 - my)).sum();
                let cyy: f64 = pts.iter().map(|p| p.2 * (p.1 - my).powi(2)).sum();
                let beta = cxy / cyy;
                let alpha = mx - beta * my;
                let ssr: f64 = pts.iter().map(|p| p.2 * (p.0 - alpha - beta * p.1).powi(2)).sum();
                let nn = pts.len() as f64;
                let rv = (ssr / sw * nn / (nn - 2.0)).sqrt();
                assert!(close(b[[tt, j]], beta, 1e-10), "{} vs {beta}", b[[tt, j]]);
                assert!(close(r[[tt, j]], rv, 1e-10), "{} vs {rv}", r[[tt, j]]);
            }
        }
    }

    #[test]
    fn compounded_return_hand_worked() {
        // window 4, skip 1: at t = 4 the product over r[1..=3].
        let x = array![[0.1], [0.2], [f64::NAN], [-0.5], [0.3]];
        let c = compounded_return(x.view(), 4, 1, 1).unwrap();
        assert!(close(c[[4, 0]], 1.2 * 0.5 - 1.0, 1e-14));
        assert!(close(c[[1, 0]], 0.1, 1e-14)); // span r[0..=0]
        assert!(c[[0, 0]].is_nan());
        let z = array![[0.1], [-1.0], [0.5], [0.2], [0.1]];
        let c = compounded_return(z.view(), 2, 0, 1).unwrap();
        assert_eq!(c[[2, 0]], -1.0);
        assert!(close(c[[3, 0]], 1.5 * 1.2 - 1.0, 1e-14));
        assert!(compounded_return(z.view(), 2, 2, 1).is_err());
        let bad = array![[0.1], [-1.5]];
        assert!(compounded_return(bad.view(), 2, 0, 1).is_err());
    }

    #[test]
    fn drawdown_matches_naive() {
        let x = panel(300, 13, 7);
        for &w in &[1usize, 5, 21, 63, 400] {
            let mp = w.min(2);
            let got = max_drawdown(x.view(), w, mp).unwrap();
            for j in 0..x.ncols() {
                for t in 0..x.nrows() {
                    let lo = (t + 1).saturating_sub(w);
                    let (mut wealth, mut peak, mut dd, mut n) = (1.0f64, 1.0f64, 0.0f64, 0);
                    for s in lo..=t {
                        let r = x[[s, j]];
                        if r.is_finite() {
                            n += 1;
                            wealth *= 1.0 + r;
                        }
                        peak = peak.max(wealth);
                        dd = dd.max(1.0 - wealth / peak);
                    }
                    let want = if n >= mp { dd } else { f64::NAN };
                    assert!(close(got[[t, j]], want, 1e-12), "w={w} t={t} j={j}: {} vs {want}", got[[t, j]]);
                }
            }
        }
        let z = array![[0.1], [-1.0], [0.5]];
        assert_eq!(max_drawdown(z.view(), 3, 1).unwrap()[[2, 0]], 1.0);
    }

    #[test]
    fn local_drawdown_blocks_match_naive() {
        // Every window of the log-return aggregates (the path taken for tiny drawdowns) against
        // the naive compounding, with gaps and a wipe-out.
        let mut x = panel(300, 5, 3);
        x[[150, 2]] = -1.0;
        for &w in &[1usize, 5, 21, 63, 400] {
            for j in 0..x.ncols() {
                let col: Vec<f64> = x.column(j).to_vec();
                let loc = LocalDd::new(&col, w + 1);
                for t in 0..col.len() {
                    let lo = (t + 1).saturating_sub(w);
                    let (mut wealth, mut peak, mut dd) = (1.0f64, 1.0f64, 0.0f64);
                    for &r in &col[lo..=t] {
                        if r.is_finite() {
                            wealth *= 1.0 + r;
                        }
                        peak = peak.max(wealth);
                        dd = dd.max(1.0 - wealth / peak);
                    }
                    let got = -(-loc.drop(lo, t + 1, w + 1)).exp_m1();
                    assert!(close(got, dd, 1e-12), "w={w} t={t} j={j}: {got} vs {dd}");
                }
            }
        }
    }

    /// The naive statistic of a window computed on values scaled by `2^-e` (exact), unscaled.
    fn naive_scaled(col: &[f64], t: usize, w: usize, lam: f64, mp: usize, m: Moment, e: i32) -> f64 {
        let sc: Vec<f64> = col.iter().map(|&v| ldexp(v, -e)).collect();
        let v = naive_moment(&sc, t, w, lam, mp, m);
        match m {
            Moment::Var => ldexp(v, 2 * e),
            _ => ldexp(v, e),
        }
    }

    #[test]
    fn an_outlier_leaving_the_window_does_not_spoil_it() {
        // One bad tick of 1e10 (or values whose squares overflow) among daily returns: while it is
        // in the window the statistics include it; once it has left they are those of the
        // ordinary returns again (running sums would keep its rounding error, ~1e4 in a sum of
        // squares of ~1e-2, or NaN after inf − inf, for up to a window).
        let base: Vec<f64> = noise(400, 9).iter().map(|v| v * 0.04).collect();
        for big in [1e10, 1e100, 1e155, 1e200, 1.7e308, -1e300] {
            let mut col = base.clone();
            col[100] = big;
            col[101] = f64::NAN;
            let x = Array2::from_shape_vec((400, 1), col.clone()).unwrap();
            for &(w, hl) in &[(2usize, None), (21, None), (63, Some(21.0)), (252, None), (300, Some(10.0)), (1000, Some(10.0))] {
                let lam = decay(hl).unwrap();
                for &m in &[Moment::Sum, Moment::Mean, Moment::Var, Moment::Std] {
                    let got = rolling_moment(x.view(), Some(w), 1, hl, m).unwrap();
                    for t in 0..400 {
                        let e = if t >= 100 && t < 100 + w { exponent(big) } else { 0 };
                        let want = naive_scaled(&col, t, w, lam, 1, m, e);
                        let g = got[[t, 0]];
                        let ok = close(g, want, 1e-9) || (want.is_infinite() && g == want);
                        assert!(ok, "{big:e} {m:?} w={w} hl={hl:?} t={t}: {g:e} vs {want:e}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_window_whose_weights_all_underflow_keeps_a_finite_shift() {
        // ewm with a window of thousands of half-lives, the last values long ago (a delisted
        // asset): every weight is 0, the weighted mean 0/0. The shift falls back to the plain
        // mean, so the sums stay finite and the window is not summed again on every row
        let mut x = vec![f64::NAN; 3000];
        for (i, v) in x.iter_mut().take(200).enumerate() {
            *v = (i as f64 * 0.37).sin();
        }
        let lam = decay(Some(1.0)).unwrap();
        let a = Uni::fresh(&x, 0, 2999, lam);
        assert!(a.c.is_finite() && a.s1.is_finite() && a.s2.is_finite());
        assert!(!a.imprecise(a.s2));
        assert!(Uni::fresh(&x, 0, 2999, lam).stat(Moment::Mean).is_nan()); // no weight: no mean
    }

    #[test]
    fn tiny_values_keep_their_dispersion() {
        let col: Vec<f64> = noise(50, 3).iter().map(|v| v * 1e-200).collect();
        let x = Array2::from_shape_vec((50, 1), col.clone()).unwrap();
        for w in [5usize, 100] {
            let got = rolling_moment(x.view(), Some(w), 2, None, Moment::Std).unwrap();
            for t in 1..50 {
                let want = naive_scaled(&col, t, w, 1.0, 2, Moment::Std, -664);
                assert!(close(got[[t, 0]] * 1e200, want * 1e200, 1e-9), "w={w} t={t}: {} vs {want}", got[[t, 0]]);
            }
        }
    }

    #[test]
    fn beta_survives_an_outlier() {
        let m: Vec<f64> = noise(300, 5).iter().map(|v| v * 0.02).collect();
        let e: Vec<f64> = noise(300, 6).iter().map(|v| v * 0.01).collect();
        let mut col: Vec<f64> = m.iter().zip(&e).map(|(a, b)| 1.3 * a + b).collect();
        col[50] = 1e200;
        let x = Array2::from_shape_vec((300, 1), col).unwrap();
        let mk = Array1::from(m);
        let (b, rv) = rolling_beta(x.view(), mk.view(), 40, 20, None).unwrap();
        for t in 0..300 {
            let in_window = (50..90).contains(&t);
            if in_window {
                assert!(b[[t, 0]].is_finite() && b[[t, 0]].abs() > 1e100, "t={t}: {}", b[[t, 0]]);
                assert!(rv[[t, 0]].is_finite() && rv[[t, 0]] > 1e100, "t={t}: {}", rv[[t, 0]]);
            } else if t >= 40 {
                assert!((b[[t, 0]] - 1.3).abs() < 0.3, "t={t}: {}", b[[t, 0]]);
                assert!(rv[[t, 0]] > 0.0 && rv[[t, 0]] < 0.02, "t={t}: {}", rv[[t, 0]]);
            }
        }
    }

    #[test]
    fn beta_on_a_market_without_variance_is_nan() {
        // the market varies for 10 dates, then repeats 0.013 (a stale series) with gaps; the
        // returns vary. Once the window's pairs all have the market at 0.013 there is no beta
        let t = 160;
        let e = noise(t, 11);
        let mk: Vec<f64> = (0..t)
            .map(|i| if i % 7 == 3 { f64::NAN } else if i < 10 { e[i] * 0.01 } else { 0.013 })
            .collect();
        let x = Array2::from_shape_vec((t, 2), noise(2 * t, 12)).unwrap() * 0.02;
        for hl in [None, Some(22.45), Some(63.0), Some(5.0)] {
            let (b, rv) = rolling_beta(x.view(), Array1::from(mk.clone()).view(), 30, 2, hl).unwrap();
            for tt in 0..t {
                for j in 0..2 {
                    if tt >= 10 + 29 {
                        assert!(b[[tt, j]].is_nan() && rv[[tt, j]].is_nan(), "{hl:?} t={tt}: {}", b[[tt, j]]);
                    } else if tt >= 3 {
                        assert!(b[[tt, j]].is_finite(), "{hl:?} t={tt}");
                    }
                }
            }
        }
    }

    /// Equal values in small windows (a stale price, zero returns), NaN runs and an outlier: the
    /// data make the kernels re-anchor off their schedule.
    fn stale_gappy(t: usize, n: usize, seed: u64) -> Array2<f64> {
        let v = noise(t * n, seed);
        let mut a = Array2::from_shape_vec((t, n), v).unwrap() * 0.04;
        for j in 0..n {
            if j % 2 == 1 {
                for i in 0..t {
                    a[[i, j]] += 50.0; // a price-like level
                }
            }
            for i in 1..t {
                if (i * 5 + j * 7) % 9 == 0 {
                    a[[i, j]] = a[[i - 1, j]];
                }
                if (i * 3 + j) % 13 < 2 {
                    a[[i, j]] = f64::NAN;
                }
            }
            a[[(37 * j + 11) % t, j]] = 1e4;
        }
        a
    }

    #[test]
    fn blocks_from_a_scheduled_row_repeat_the_full_run() {
        // ff.dask computes rows s.. from the rows r0.. of the array, r0 a multiple of the
        // re-anchoring interval at least w - 1 rows before a scheduled date <= s: every result
        // from that date on must be the full run's, bit for bit, whatever the rows before r0.
        let (t_len, n) = (300, 12);
        let x = stale_gappy(t_len, n, 5);
        let mkt: Array1<f64> = Array1::from(noise(t_len, 8)) * 0.02;
        for &(w, hl) in &[(2usize, None), (3, None), (3, Some(2.0)), (5, None), (21, Some(5.0))] {
            let interval = w.min(ANCHOR);
            let k = (w - 1).div_ceil(interval);
            for &m in &[Moment::Sum, Moment::Std] {
                let full = rolling_moment(x.view(), Some(w), 1, hl, m).unwrap();
                let (fb, fr) = rolling_beta(x.view(), mkt.view(), w, 2, hl).unwrap();
                for s in (1..t_len - w).step_by(7) {
                    let Some(r0) = (s / interval).checked_sub(k).map(|q| q * interval) else {
                        continue;
                    };
                    let part = rolling_moment(x.slice(s![r0.., ..]), Some(w), 1, hl, m).unwrap();
                    let (pb, pr) = rolling_beta(x.slice(s![r0.., ..]), mkt.slice(s![r0..]), w, 2, hl).unwrap();
                    let same = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
                    for t in s..t_len {
                        for j in 0..n {
                            let i = t - r0;
                            let at = || format!("w={w} hl={hl:?} s={s} r0={r0} t={t} j={j}");
                            assert!(same(part[[i, j]], full[[t, j]]), "{m:?} {}: {} vs {}", at(), part[[i, j]], full[[t, j]]);
                            assert!(same(pb[[i, j]], fb[[t, j]]), "beta {}", at());
                            assert!(same(pr[[i, j]], fr[[t, j]]), "resid_vol {}", at());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn bad_arguments() {
        let x = Array2::<f64>::zeros((5, 2));
        assert!(rolling_moment(x.view(), Some(0), 1, None, Moment::Sum).is_err());
        assert!(rolling_moment(x.view(), Some(3), 4, None, Moment::Sum).is_err());
        assert!(rolling_moment(x.view(), Some(3), 1, Some(-1.0), Moment::Sum).is_err());
        assert!(Moment::parse("median").is_err());
        let m = Array1::<f64>::zeros(4);
        assert!(rolling_beta(x.view(), m.view(), 3, 2, None).is_err());
    }
}
