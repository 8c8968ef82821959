//! Cross-sectional cleaning, per date (row) of a `(T, N)` panel: winsorise, standardise, rank.
//!
//! Conventions shared by every kernel:
//! - a value is usable when it is finite; NaN (and ±inf) come back NaN;
//! - with `groups` (industry codes, `-1` = none) the statistics are computed within each group
//!   on each date, and values whose code is `-1` come back NaN;
//! - `weights` (winsorise "sigma" and standardise only) enter the centre as a weighted mean; a
//!   NaN weight means the value does not count in that mean but is still transformed; a
//!   date/group whose usable weight sum is 0 comes back all NaN;
//! - rows are processed in parallel (rayon); every sum inside a row runs over four interleaved
//!   lanes in index order, combined in a fixed order, so results are bit-identical for any
//!   number of threads and on every target (the lane loops are plain Rust that LLVM vectorises).
//!
//! Quantiles and medians use selection (`select_nth_unstable`), never a full sort; ranks sort
//! integer keys once per row. Outputs are written through `*_into` kernels so that the Python
//! bindings can hand over numpy-allocated memory.

use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::parallel;
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
    /// `(x·2^−e − centre) / scale`: the affine map of a date whose statistics were computed on
    /// values scaled by `2^−e` (a power of two, so the scaling is exact) because the plain sums
    /// would overflow or underflow (see [`moments`]).
    AffineScaled(f64, f64, i32),
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
                // max then min, in the operand order of SSE2 maxpd/minpd
                let a = if x > lo { x } else { lo };
                if a < hi {
                    a
                } else {
                    hi
                }
            }
            Transform::Affine(c, s) => (x - c) / s,
            Transform::AffineScaled(c, s, e) => (ldexp(x, -e) - c) / s,
            Transform::Zero => 0.0,
            Transform::Nan => f64::NAN,
        }
    }

    /// `out[i] = self.apply(x[i])` for finite `x[i]`, NaN elsewhere, over a whole row.
    fn apply_row(self, x: &[f64], out: &mut [f64]) {
        #[inline(always)]
        fn each(x: &[f64], out: &mut [f64], f: impl Fn(f64) -> f64) {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = if finite(v) { f(v) } else { f64::NAN };
            }
        }
        match self {
            Transform::Identity => each(x, out, |v| v),
            Transform::Clip(lo, hi) => each(x, out, |v| Transform::Clip(lo, hi).apply(v)),
            Transform::Affine(c, s) => each(x, out, |v| (v - c) / s),
            Transform::AffineScaled(c, s, e) => each(x, out, |v| (ldexp(v, -e) - c) / s),
            Transform::Zero => each(x, out, |_| 0.0),
            Transform::Nan => each(x, out, |_| f64::NAN),
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
            Transform::AffineScaled(c, s, e) => each(ids, x, out, |v| (ldexp(v, -e) - c) / s),
            Transform::Zero => each(ids, x, out, |_| 0.0),
            Transform::Nan => each(ids, x, out, |_| f64::NAN),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics on the finite values of one date/group (given in index order).

/// Independent accumulators per pass. Sums inside one date run over `LANES` interleaved partial
/// sums combined in a fixed order: fast (the additions pipeline and vectorise) and, like a plain
/// loop, independent of the number of threads.
const LANES: usize = 4;

#[inline(always)]
fn combine(a: [f64; LANES]) -> f64 {
    (a[0] + a[1]) + (a[2] + a[3])
}

/// First pass over one date/group: count, sum, min, max of the finite values and, with weights,
/// the sums of finite weights and weight·value over the finite values.
#[derive(Debug, Clone, Copy)]
struct Pass1 {
    n: usize,
    sum: f64,
    min: f64,
    max: f64,
    sw: f64,
    swx: f64,
}

/// `v` is neither NaN nor ±inf. Written as `v − v == 0` (NaN for NaN and ±inf) rather than
/// `is_finite()`, which LLVM lowers to scalar integer tests that block vectorisation.
#[inline(always)]
#[allow(clippy::eq_op)]
fn finite(v: f64) -> bool {
    v - v == 0.0
}

// The lane loops below are plain Rust written so that LLVM vectorises them (two lanes per SSE2
// register on the x86_64 baseline, wider where the target allows): the accumulators are local
// arrays, and every "skip the non-finite values" is a bit mask (`and` with all ones or zero)
// rather than a branch or a select on a comparison, which LLVM would lower to branches.

/// All ones where `ok`, else zero: a lane mask.
#[inline(always)]
fn mask(ok: bool) -> u64 {
    (ok as u64).wrapping_neg()
}

/// `v` where the mask is set, else +0.0.
#[inline(always)]
fn keep(m: u64, v: f64) -> f64 {
    f64::from_bits(m & v.to_bits())
}

/// Lane accumulators of [`pass1`]; lane `l` sees the elements `k` with `k % LANES == l`.
/// Everything is kept in f64 (counts too: exact up to 2^53) so that the lanes vectorise.
#[derive(Clone, Copy)]
struct Acc1 {
    n: [f64; LANES],
    sum: [f64; LANES],
    min: [f64; LANES],
    max: [f64; LANES],
    sw: [f64; LANES],
    swx: [f64; LANES],
}

impl Acc1 {
    fn new() -> Self {
        Acc1 {
            n: [0.0; LANES],
            sum: [0.0; LANES],
            min: [f64::INFINITY; LANES],
            max: [f64::NEG_INFINITY; LANES],
            sw: [0.0; LANES],
            swx: [0.0; LANES],
        }
    }

    /// Add `v` to lane `l` if it is finite. Returns the lane mask of `v`.
    #[inline(always)]
    fn add(&mut self, l: usize, v: f64) -> u64 {
        let ok = finite(v);
        let m = mask(ok);
        let mv = keep(m, v);
        // Non-finite values become neutral elements: +0 for the sums, ±inf for min and max.
        // (Selects, not masks, here: LLVM then turns the min/max selects into minpd/maxpd.)
        let lo = if ok { v } else { f64::INFINITY };
        let hi = if ok { v } else { f64::NEG_INFINITY };
        self.n[l] += keep(m, 1.0);
        self.sum[l] += mv;
        self.min[l] = if lo < self.min[l] { lo } else { self.min[l] };
        self.max[l] = if hi > self.max[l] { hi } else { self.max[l] };
        m
    }

    /// [`Acc1::add`], and the weight `w` when both `v` and `w` are finite.
    #[inline(always)]
    fn add_weighted(&mut self, l: usize, v: f64, w: f64) {
        let mw = self.add(l, v) & mask(finite(w));
        self.sw[l] += keep(mw, w);
        self.swx[l] += keep(mw, w * v);
    }

    /// Add `xs` (weights `ws`, as long) lane by lane: `xs[k]` goes to lane `k % LANES`.
    fn add_all<const WEIGHTED: bool>(&mut self, xs: &[f64], ws: &[f64]) {
        let full = xs.len() / LANES * LANES;
        pass1_chunks::<WEIGHTED>(&xs[..full], &ws[..full], self);
        for (l, (&v, &w)) in xs[full..].iter().zip(&ws[full..]).enumerate() {
            if WEIGHTED {
                self.add_weighted(l, v, w);
            } else {
                self.add(l, v);
            }
        }
    }
}

// The whole-chunk loops are functions of their own (`inline(never)`): inlined into their callers,
// LLVM's SLP vectoriser packs unrelated accumulators together and leaves most of the work scalar
// (2-3x slower, measured); on their own, every lane operation becomes one packed instruction.

/// [`Acc1`] over `xs` (a multiple of `LANES` long) and its weights `ws` (as long).
#[inline(never)]
#[allow(clippy::needless_range_loop)] // the fixed 0..LANES loops are the lanes
fn pass1_chunks<const WEIGHTED: bool>(xs: &[f64], ws: &[f64], acc: &mut Acc1) {
    let mut a = *acc; // local accumulators stay in registers
    for (c, cw) in xs.chunks_exact(LANES).zip(ws.chunks_exact(LANES)) {
        for l in 0..LANES {
            if WEIGHTED {
                a.add_weighted(l, c[l], cw[l]);
            } else {
                a.add(l, c[l]);
            }
        }
    }
    *acc = a;
}

/// Lane sums of squared deviations from `m` over the finite values of `xs` (a multiple of
/// `LANES` long).
#[inline(never)]
#[allow(clippy::needless_range_loop)]
fn sum_sq_chunks(xs: &[f64], m: f64, ss: &mut [f64; LANES]) {
    let mut acc = *ss;
    for c in xs.chunks_exact(LANES) {
        for l in 0..LANES {
            let d = keep(mask(finite(c[l])), c[l] - m);
            acc[l] += d * d;
        }
    }
    *ss = acc;
}

/// Lane minima and maxima of `ws` (a multiple of `LANES` long); a NaN never replaces them.
#[inline(never)]
#[allow(clippy::needless_range_loop)]
fn min_max_chunks(ws: &[f64], lo: &mut [f64; LANES], hi: &mut [f64; LANES]) {
    let (mut l0, mut h0) = (*lo, *hi);
    for c in ws.chunks_exact(LANES) {
        for l in 0..LANES {
            l0[l] = if c[l] < l0[l] { c[l] } else { l0[l] };
            h0[l] = if c[l] > h0[l] { c[l] } else { h0[l] };
        }
    }
    (*lo, *hi) = (l0, h0);
}

fn pass1(xs: &[f64], ws: Option<&[f64]>) -> Pass1 {
    let mut a = Acc1::new();
    match ws {
        None => a.add_all::<false>(xs, xs),
        Some(ws) => a.add_all::<true>(xs, &ws[..xs.len()]),
    }
    Pass1 {
        // counts of up to 2^53 are exact in f64
        n: combine(a.n) as usize,
        sum: combine(a.sum),
        min: a.min.iter().copied().fold(f64::INFINITY, f64::min),
        max: a.max.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        sw: combine(a.sw),
        swx: combine(a.swx),
    }
}

/// True when some weight is negative or +inf (NaN is allowed: "does not count"): the lane minima
/// and maxima of the weights tell.
fn has_bad_weight(ws: &[f64]) -> bool {
    let (mut lo, mut hi) = ([0.0f64; LANES], [0.0f64; LANES]);
    let full = ws.len() / LANES * LANES;
    min_max_chunks(&ws[..full], &mut lo, &mut hi);
    for (l, &w) in ws[full..].iter().enumerate() {
        lo[l] = if w < lo[l] { w } else { lo[l] };
        hi[l] = if w > hi[l] { w } else { hi[l] };
    }
    lo.iter().any(|&v| v < 0.0) || hi.contains(&f64::INFINITY)
}

/// Sum of squared deviations from `m` over the finite values.
fn sum_sq_dev(xs: &[f64], m: f64) -> f64 {
    let mut ss = [0.0; LANES];
    let full = xs.len() / LANES * LANES;
    sum_sq_chunks(&xs[..full], m, &mut ss);
    for (l, &v) in xs[full..].iter().enumerate() {
        let d = keep(mask(finite(v)), v - m);
        ss[l] += d * d;
    }
    combine(ss)
}

/// Centre and sample std (ddof = 1) of one date/group for the moment-based operations.
enum Moments {
    /// Usable weight sum is 0: the outputs are NaN.
    NoWeight,
    /// Fewer than two values, or all equal.
    NoSpread,
    /// `centre` = weighted mean (with weights) or mean; `std` = equal-weighted sample std; both
    /// of the values scaled by `2^−exp` (`exp` = 0: the values as given).
    Spread { centre: f64, std: f64, exp: i32 },
}

/// Below this sum of squared deviations some squares may have lost bits to underflow (or be 0):
/// the scaled computation takes over. ~1e-271, far below any real date's dispersion.
const TINY_SUM_SQ: f64 = 1e-270;

/// `xs` may hold non-finite values (skipped); `ws` NaN = does not count in the centre.
///
/// The plain sums are used whenever they are finite and the sum of squares is not near
/// underflow: the result is then bit for bit the plain one. One value around 1e154 or above
/// (its square overflows), sums of values near the largest float, weights whose sum overflows,
/// or a spread so small that its squares underflow (values around 1e-150 and below) make the
/// plain sums meaningless; such a date is computed again on values (and weights) scaled by a
/// power of two, which is exact, so that the largest magnitude is about 1 ([`moments_scaled`]).
fn moments(xs: &[f64], ws: Option<&[f64]>) -> Moments {
    let p = pass1(xs, ws);
    if ws.is_some() && p.sw <= 0.0 {
        return Moments::NoWeight;
    }
    if p.n < 2 || p.min == p.max {
        return Moments::NoSpread;
    }
    let mean = p.sum / p.n as f64;
    if mean.is_finite() {
        let ss = sum_sq_dev(xs, mean);
        let centre = if ws.is_some() { p.swx / p.sw } else { mean };
        if ss.is_finite() && ss >= TINY_SUM_SQ && centre.is_finite() && p.sw.is_finite() {
            let std = (ss / (p.n - 1) as f64).sqrt();
            return Moments::Spread { centre, std, exp: 0 };
        }
    }
    moments_scaled(xs, ws, &p)
}

/// [`moments`] on the values scaled by `2^−e`, `2^e` the power of two at or below the largest
/// |value| (and the weights by their own power of two: the weighted mean does not change), so
/// no sum can overflow and no square of a deviation that matters can underflow.
#[cold]
fn moments_scaled(xs: &[f64], ws: Option<&[f64]>, p: &Pass1) -> Moments {
    let e = exponent(p.min.abs().max(p.max.abs()));
    let (mut n, mut sum) = (0usize, 0.0);
    for &v in xs {
        if finite(v) {
            n += 1;
            sum += ldexp(v, -e);
        }
    }
    let mean = sum / n as f64;
    let mut ss = 0.0;
    for &v in xs {
        if finite(v) {
            let d = ldexp(v, -e) - mean;
            ss += d * d;
        }
    }
    let std = (ss / (n - 1) as f64).sqrt();
    if !(std > 0.0 && std.is_finite()) {
        return Moments::NoSpread; // not reached for distinct finite values
    }
    let centre = match ws {
        None => mean,
        Some(ws) => {
            let wmax = xs
                .iter()
                .zip(ws)
                .filter(|(v, w)| finite(**v) && finite(**w))
                .fold(0.0f64, |a, (_, w)| a.max(*w));
            if !(wmax > 0.0) {
                return Moments::NoWeight;
            }
            let ew = exponent(wmax);
            let (mut sw, mut swx) = (0.0, 0.0);
            for (&v, &w) in xs.iter().zip(ws) {
                if finite(v) && finite(w) {
                    let w = ldexp(w, -ew);
                    sw += w;
                    swx += w * ldexp(v, -e);
                }
            }
            swx / sw
        }
    };
    Moments::Spread { centre, std, exp: e }
}

/// `2^e` for `e` in `-1022..=1023` (a normal power of two).
#[inline]
fn pow2(e: i32) -> f64 {
    debug_assert!((-1022..=1023).contains(&e));
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// `x · 2^e`, exact unless the result overflows or underflows (`e` may lie outside the range of
/// a single power of two).
#[inline]
pub(crate) fn ldexp(mut x: f64, mut e: i32) -> f64 {
    while e > 1023 {
        x *= pow2(1023);
        e -= 1023;
    }
    while e < -1022 {
        x *= pow2(-1022);
        e += 1022;
    }
    x * pow2(e)
}

/// The binary exponent of a finite non-zero `a`: `2^e <= |a| < 2^(e+1)` (subnormals included).
pub(crate) fn exponent(a: f64) -> i32 {
    let bits = a.abs().to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        exponent(a.abs() * pow2(64)) - 64
    } else {
        biased - 1023
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
    if !d.is_finite() {
        // a and b of opposite signs near the largest float: the difference overflows
        return a * (1.0 - t) + b * t;
    }
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
        let s = lower + upper;
        if s.is_finite() {
            s / 2.0
        } else {
            lower / 2.0 + upper / 2.0 // two values near the largest float
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Per-group transforms. `xs` are the finite values of one date/group in index order, `ws` their
// weights (may be NaN). They may be reordered.

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

/// One of the per-date operations.
#[derive(Debug, Clone, Copy)]
enum Op {
    Sigma(f64),
    Quantile(f64),
    Mad(f64),
    Standardize,
}

impl Op {
    /// The transform of one date/group. `xs` holds its values in index order and, for the
    /// selection-based ops, only finite ones (it is then reordered); `ws` their weights.
    fn transform(self, xs: &mut [f64], ws: Option<&[f64]>) -> Transform {
        match self {
            Op::Sigma(_) | Op::Standardize => self.moment_transform(xs, ws),
            Op::Quantile(limit) => quantile_transform(xs, limit),
            Op::Mad(limit) => mad_transform(xs, limit),
        }
    }

    /// The transform of a moment-based op; `xs` may hold non-finite values (skipped).
    fn moment_transform(self, xs: &[f64], ws: Option<&[f64]>) -> Transform {
        match self {
            Op::Sigma(limit) => match moments(xs, ws) {
                Moments::NoWeight => Transform::Nan,
                Moments::NoSpread => Transform::Identity,
                Moments::Spread { centre, std, exp: 0 } => {
                    Transform::Clip(centre - limit * std, centre + limit * std)
                }
                // bounds beyond the largest float become ±inf: nothing lies beyond them
                Moments::Spread { centre, std, exp } => Transform::Clip(
                    ldexp(centre - limit * std, exp),
                    ldexp(centre + limit * std, exp),
                ),
            },
            Op::Standardize => match moments(xs, ws) {
                Moments::NoWeight => Transform::Nan,
                Moments::NoSpread => Transform::Zero,
                Moments::Spread { centre, std, exp: 0 } => Transform::Affine(centre, std),
                Moments::Spread { centre, std, exp } => Transform::AffineScaled(centre, std, exp),
            },
            // callers only use this for the moment-based ops; leave values unchanged otherwise
            Op::Quantile(_) | Op::Mad(_) => Transform::Identity,
        }
    }

    /// Whether `transform` needs the finite values gathered (selection) or can read a raw row.
    fn needs_gather(self) -> bool {
        matches!(self, Op::Quantile(_) | Op::Mad(_))
    }
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
    /// Fill `idx`/`bounds` for one row: its finite entries with code >= 0, grouped by code.
    fn group(&mut self, x: &[f64], g: &[i32]) {
        self.idx.clear();
        self.bounds.clear();
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

/// Apply `op` to one row: `out_row` arrives filled with NaN and receives the transformed finite
/// values (within each group when `g_row` is given). The row's weights must already be checked.
fn clean_row(
    s: &mut Scratch,
    op: Op,
    x_row: &[f64],
    w_row: Option<&[f64]>,
    g_row: Option<&[i32]>,
    out_row: &mut [f64],
) {
    match g_row {
        None if !op.needs_gather() => {
            // moments straight off the row, non-finite values skipped in the passes
            let tr = op.moment_transform(x_row, w_row);
            tr.apply_row(x_row, out_row);
        }
        None => {
            s.xs.clear();
            s.xs.extend(x_row.iter().copied().filter(|v| v.is_finite()));
            let tr = op.transform(&mut s.xs, None);
            tr.apply_row(x_row, out_row);
        }
        Some(g_row) => {
            s.group(x_row, g_row);
            for b in 0..s.bounds.len().saturating_sub(1) {
                let ids = &s.idx[s.bounds[b]..s.bounds[b + 1]];
                s.xs.clear();
                s.xs.extend(ids.iter().map(|&i| x_row[i as usize]));
                let tr = match w_row {
                    Some(w) => {
                        s.ws.clear();
                        s.ws.extend(ids.iter().map(|&i| w[i as usize]));
                        op.transform(&mut s.xs, Some(&s.ws))
                    }
                    None => op.transform(&mut s.xs, None),
                };
                tr.apply_at(ids, x_row, out_row);
            }
        }
    }
}

/// Apply `op` to every row of `x` in parallel (within each group when `groups` are given).
fn clean_rows(
    x: ArrayView2<'_, f64>,
    weights: Option<ArrayView2<'_, f64>>,
    groups: Option<ArrayView2<'_, i32>>,
    op: Op,
    out: ArrayViewMut2<'_, f64>,
) -> Result<()> {
    let saw_bad_weight = AtomicBool::new(false);
    par_rows(out, Scratch::default, |s, t, out_row| {
        let x_row = row_slice(x.row(t));
        let w_row = weights.as_ref().map(|w| row_slice(w.row(t)));
        if let Some(w) = &w_row {
            if has_bad_weight(w) {
                saw_bad_weight.store(true, AtomicOrdering::Relaxed);
                return;
            }
        }
        let g_row = groups.as_ref().map(|g| row_slice(g.row(t)));
        clean_row(s, op, &x_row, w_row.as_deref(), g_row.as_deref(), out_row);
    })?;
    if saw_bad_weight.load(AtomicOrdering::Relaxed) {
        if let Some(w) = &weights {
            return Err(weights_error(w));
        }
    }
    Ok(())
}

/// Winsorise then standardise every row in one pass over memory: per row, [`winsorize`] into a
/// per-thread scratch row (which stays in cache) and [`standardize`] from it into `out`, with the
/// same row routines in the same order as the two separate calls, so the result is bit-identical
/// to `standardize(winsorize(x, method, limit, w_sigma, groups), weights, groups)` where
/// `w_sigma` = `weights` for `Sigma` and `None` otherwise.
fn winsorize_standardize_rows(
    x: ArrayView2<'_, f64>,
    win_op: Op,
    weights: Option<ArrayView2<'_, f64>>,
    groups: Option<ArrayView2<'_, i32>>,
    out: ArrayViewMut2<'_, f64>,
) -> Result<()> {
    let saw_bad_weight = AtomicBool::new(false);
    let win_uses_weights = matches!(win_op, Op::Sigma(_));
    let init = || (Scratch::default(), Vec::<f64>::new());
    par_rows(out, init, |(s, tmp), t, out_row| {
        let x_row = row_slice(x.row(t));
        let w_row = weights.as_ref().map(|w| row_slice(w.row(t)));
        if let Some(w) = &w_row {
            if has_bad_weight(w) {
                saw_bad_weight.store(true, AtomicOrdering::Relaxed);
                return;
            }
        }
        let g_row = groups.as_ref().map(|g| row_slice(g.row(t)));
        let (w_row, g_row) = (w_row.as_deref(), g_row.as_deref());
        tmp.clear();
        tmp.resize(x_row.len(), f64::NAN);
        let w_win = if win_uses_weights { w_row } else { None };
        clean_row(s, win_op, &x_row, w_win, g_row, tmp);
        clean_row(s, Op::Standardize, tmp, w_row, g_row, out_row);
    })?;
    if saw_bad_weight.load(AtomicOrdering::Relaxed) {
        if let Some(w) = &weights {
            return Err(weights_error(w));
        }
    }
    Ok(())
}

/// Compute the rows of `out` (C-contiguous) in parallel with `f(scratch, t, row)`; each row
/// arrives filled with NaN (written while the row is in cache, so the output memory is touched
/// once, inside the parallel loop).
fn par_rows<S, I, F>(mut out: ArrayViewMut2<'_, f64>, init: I, f: F) -> Result<()>
where
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, usize, &mut [f64]) + Sync + Send,
{
    let n = out.ncols();
    let Some(slice) = out.as_slice_mut() else {
        return Err(value_error!("out must be a C-contiguous array"));
    };
    if n > 0 {
        slice
            .par_chunks_mut(n)
            .enumerate()
            .for_each_init(init, |s, (t, row)| {
                if parallel::cancelled() {
                    return; // the caller discards the whole result
                }
                row.fill(f64::NAN);
                f(s, t, row);
            });
    }
    Ok(())
}

/// Check `out` against the shape of `x`.
fn check_out(x: &ArrayView2<'_, f64>, out: &ArrayViewMut2<'_, f64>) -> Result<()> {
    check_same_shape("out", out.dim(), x.dim())
}

/// Run an `_into` kernel on a fresh `(T, N)` array (`vec![0.0; _]`, whose zero pages the OS
/// hands out lazily, so it is first touched inside the parallel loop).
fn alloc_run(
    shape: (usize, usize),
    f: impl FnOnce(ArrayViewMut2<'_, f64>) -> Result<()>,
) -> Result<Array2<f64>> {
    let mut out = Array2::<f64>::zeros(shape);
    f(out.view_mut())?;
    Ok(out)
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
        return Err(value_error!("industry codes must be >= -1 (-1 = none)"));
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
    alloc_run(x.dim(), |out| {
        winsorize_into(x, method, limit, weights, groups, out)
    })
}

/// [`winsorize`] into a caller-provided C-contiguous `out` of the shape of `x`.
pub fn winsorize_into(
    x: ArrayView2<'_, f64>,
    method: WinsorMethod,
    limit: f64,
    weights: Option<ArrayView2<'_, f64>>,
    groups: Option<ArrayView2<'_, i32>>,
    out: ArrayViewMut2<'_, f64>,
) -> Result<()> {
    check_out(&x, &out)?;
    let op = winsor_op(method, limit)?;
    if weights.is_some() && method != WinsorMethod::Sigma {
        return Err(value_error!(
            "weights is only used by method 'sigma', got method {method:?}"
        ));
    }
    check_common(&x, weights.as_ref(), groups.as_ref())?;
    clean_rows(x, weights, groups, op, out)
}

/// The row operation of a winsorisation, after checking `limit` for `method`.
fn winsor_op(method: WinsorMethod, limit: f64) -> Result<Op> {
    if !(limit.is_finite() && limit > 0.0) {
        return Err(value_error!("limit must be finite and > 0, got {limit}"));
    }
    if method == WinsorMethod::Quantile && limit >= 0.5 {
        return Err(value_error!(
            "limit must be in (0, 0.5) for method 'quantile', got {limit}"
        ));
    }
    Ok(match method {
        WinsorMethod::Sigma => Op::Sigma(limit),
        WinsorMethod::Quantile => Op::Quantile(limit),
        WinsorMethod::Mad => Op::Mad(limit),
    })
}

/// `(x − centre) / std` per date (or date-and-group): centre = weighted mean when `weights` are
/// given, else the mean; std = equal-weighted sample std (ddof = 1). A date/group with a single
/// value or zero dispersion gives zeros.
pub fn standardize(
    x: ArrayView2<'_, f64>,
    weights: Option<ArrayView2<'_, f64>>,
    groups: Option<ArrayView2<'_, i32>>,
) -> Result<Array2<f64>> {
    alloc_run(x.dim(), |out| standardize_into(x, weights, groups, out))
}

/// [`standardize`] into a caller-provided C-contiguous `out` of the shape of `x`.
pub fn standardize_into(
    x: ArrayView2<'_, f64>,
    weights: Option<ArrayView2<'_, f64>>,
    groups: Option<ArrayView2<'_, i32>>,
    out: ArrayViewMut2<'_, f64>,
) -> Result<()> {
    check_out(&x, &out)?;
    check_common(&x, weights.as_ref(), groups.as_ref())?;
    clean_rows(x, weights, groups, Op::Standardize, out)
}

/// The fused form of [`winsorize`] followed by [`standardize`]: equal, bit for bit, to
/// `standardize(winsorize(x, method, limit, w_sigma, groups), weights, groups)` where `w_sigma`
/// is `weights` for `Sigma` and `None` otherwise; reads `x` and `weights` once and writes once.
pub fn winsorize_standardize(
    x: ArrayView2<'_, f64>,
    method: WinsorMethod,
    limit: f64,
    weights: Option<ArrayView2<'_, f64>>,
    groups: Option<ArrayView2<'_, i32>>,
) -> Result<Array2<f64>> {
    alloc_run(x.dim(), |out| {
        winsorize_standardize_into(x, method, limit, weights, groups, out)
    })
}

/// [`winsorize_standardize`] into a caller-provided C-contiguous `out` of the shape of `x`.
pub fn winsorize_standardize_into(
    x: ArrayView2<'_, f64>,
    method: WinsorMethod,
    limit: f64,
    weights: Option<ArrayView2<'_, f64>>,
    groups: Option<ArrayView2<'_, i32>>,
    out: ArrayViewMut2<'_, f64>,
) -> Result<()> {
    check_out(&x, &out)?;
    let op = winsor_op(method, limit)?;
    check_common(&x, weights.as_ref(), groups.as_ref())?;
    winsorize_standardize_rows(x, op, weights, groups, out)
}

/// Per-date average ranks (ties share the mean of their positions, as
/// `scipy.stats.rankdata(method="average")`), scaled to (0, 1) as `r / (n + 1)` with `n` the
/// number of finite values on that date. Non-finite values stay NaN.
pub fn rank(x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    alloc_run(x.dim(), |out| rank_into(x, out))
}

/// [`rank`] into a caller-provided C-contiguous `out` of the shape of `x`.
pub fn rank_into(x: ArrayView2<'_, f64>, out: ArrayViewMut2<'_, f64>) -> Result<()> {
    check_out(&x, &out)?;
    par_rows(out, Vec::<u128>::new, |keys, t, out_row| {
        let x_row = row_slice(x.row(t));
        // One integer per finite value: its order-preserving bits above its index, so a
        // plain integer sort orders by value (ties by index, which does not matter).
        keys.clear();
        keys.extend(
            x_row
                .iter()
                .enumerate()
                .filter(|(_, v)| v.is_finite())
                .map(|(i, &v)| ((order_bits(v) as u128) << 32) | i as u128),
        );
        keys.sort_unstable();
        let m = keys.len();
        let denom = (m + 1) as f64;
        let mut i = 0;
        while i < m {
            let value = keys[i] >> 32;
            let mut j = i;
            while j + 1 < m && keys[j + 1] >> 32 == value {
                j += 1;
            }
            // positions i..=j (0-based) share the average 1-based rank (i + j + 2) / 2
            let r = (i + j + 2) as f64 * 0.5 / denom;
            for &k in &keys[i..=j] {
                out_row[(k as u32) as usize] = r;
            }
            i = j + 1;
        }
    })
}

/// Bits of a finite `v` as a `u64` whose unsigned order is the numeric order of `v`; -0.0 and
/// 0.0 map to the same key (they tie, as in scipy).
#[inline]
pub(crate) fn order_bits(v: f64) -> u64 {
    let b = (v + 0.0).to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

// ---------------------------------------------------------------------------------------------
// Row-level routines for fused kernels in other modules (e.g. `exposures::build_styles`): the
// same per-row code as the public kernels, so a fused kernel gives bit-identical results.

/// Per-thread scratch space of [`clean_one_row`].
#[derive(Default)]
pub(crate) struct RowScratch(Scratch);

/// A per-row operation, its arguments already checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowOp(Op);

impl RowOp {
    /// The standardisation of [`standardize`].
    pub(crate) const STANDARDIZE: RowOp = RowOp(Op::Standardize);

    /// The winsorisation of [`winsorize`] with `method` and `limit` (checked here).
    pub(crate) fn winsorize(method: WinsorMethod, limit: f64) -> Result<RowOp> {
        winsor_op(method, limit).map(RowOp)
    }
}

/// One date (no groups) of [`winsorize`] / [`standardize`]: `out` (the length of `x`) is
/// overwritten. `weights`, if given, must hold no negative or +inf value (not checked here);
/// NaN weights do not count in the centre.
pub(crate) fn clean_one_row(
    s: &mut RowScratch,
    op: RowOp,
    x: &[f64],
    weights: Option<&[f64]>,
    out: &mut [f64],
) {
    // Without groups `clean_row` writes every element of the row (NaN where `x` is not finite),
    // so the NaN pre-fill of the panel kernels is not needed here.
    clean_row(&mut s.0, op.0, x, weights, None, out);
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
    fn underflowing_spread_is_still_standardised() {
        // (3.5e-209)² underflows to 0: the date is computed on values scaled by a power of two
        let x = array![[3.5e-209, 0.0, NAN]];
        let got = standardize(x.view(), None, None).unwrap();
        let h = std::f64::consts::FRAC_1_SQRT_2;
        assert_rows(&got, &[&[h, -h, NAN]]);
        let got = winsorize(x.view(), WinsorMethod::Sigma, 1.0, None, None).unwrap();
        assert_rows(&got, &[&[3.5e-209, 0.0, NAN]]);
        // subnormal values too
        let x = array![[1e-320, 3e-320, 2e-320]];
        let got = standardize(x.view(), None, None).unwrap();
        assert_rows(&got, &[&[-1.0, 1.0, 0.0]]);
    }

    #[test]
    fn huge_values_are_standardised_not_zeroed() {
        // (1e155)² overflows: the plain sums would give an infinite std and a date of zeros
        for big in [1e155, 1e200, 1e300, 1.7e308] {
            let x = array![[1.0, 2.0, 3.0, big]];
            let got = standardize(x.view(), None, None).unwrap();
            // exactly the z-scores of the same values scaled down (scale-free statistic)
            let s = 2f64.powi(-600);
            let y = array![[1.0 * s, 2.0 * s, 3.0 * s, big * s]];
            let want = standardize(y.view(), None, None).unwrap();
            for i in 0..4 {
                let (a, b) = (got[[0, i]], want[[0, i]]);
                assert!((a - b).abs() <= 1e-15 * b.abs().max(1.0), "{big}: {a} vs {b}");
            }
            assert!((got[[0, 3]] - 1.5).abs() < 1e-12, "{big}: {}", got[[0, 3]]);
            // the fused path and the weighted centre take the same route
            let fused = winsorize_standardize(x.view(), WinsorMethod::Mad, 3.0, None, None).unwrap();
            assert!(fused.iter().all(|v| v.is_finite()) && fused.iter().any(|v| *v != 0.0));
            let w = array![[1e300, 1e300, 1.0, 1.0]];
            let got = standardize(x.view(), Some(w.view()), None).unwrap();
            assert!(got.iter().all(|v| v.is_finite()) && got[[0, 3]] > 1.0, "{big}: {got:?}");
        }
        // values of both signs near the largest float: sums and differences overflow
        let x = array![[-1.7e308, 1.7e308, 0.0, 1.0]];
        let got = standardize(x.view(), None, None).unwrap();
        assert!(got.iter().all(|v| v.is_finite()));
        assert!((got[[0, 0]] + got[[0, 1]]).abs() < 1e-12 && got[[0, 1]] > 1.0);
        let got = winsorize(x.view(), WinsorMethod::Quantile, 0.1, None, None).unwrap();
        assert!(got.iter().all(|v| v.is_finite()), "{got:?}");
        let got = winsorize(array![[1.5e308, 1.6e308, 1.7e308, 1.7e308]].view(), WinsorMethod::Mad, 1.0, None, None).unwrap();
        assert!(got.iter().all(|v| v.is_finite()), "{got:?}");
    }

    #[test]
    fn exponent_and_ldexp() {
        for v in [1.0, 1.5, 0.75, 1e300, 1.7e308, 1e-300, 5e-324, 3e-320, -8.0] {
            let e = exponent(v);
            let m = ldexp(v.abs(), -e);
            assert!((1.0..2.0).contains(&m), "{v}: {e} {m}");
            assert_eq!(ldexp(m, e), v.abs());
        }
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
    fn lanes_match_a_plain_loop_bit_for_bit() {
        // The masked lane loops against the obvious loop over k with lane k % LANES, for every
        // length mod LANES (the tail) and with NaN, ±inf, -0.0 and NaN weights.
        let all: Vec<f64> = (0..1003)
            .map(|i| match i % 37 {
                0 => NAN,
                5 => f64::INFINITY,
                9 => f64::NEG_INFINITY,
                11 => -0.0,
                _ => ((i * 7919) % 1000) as f64 / 7.0 - 60.0,
            })
            .collect();
        let all_w: Vec<f64> = (0..1003).map(|i| if i % 13 == 0 { NAN } else { (i % 17) as f64 }).collect();
        for len in [0, 1, 2, 3, 4, 5, 998, 1001, 1003] {
            let (xs, ws) = (&all[..len], &all_w[..len]);
            for weighted in [false, true] {
                let (mut n, mut sum, mut sw, mut swx) = ([0.0; LANES], [0.0; LANES], [0.0; LANES], [0.0; LANES]);
                let (mut mn, mut mx) = (f64::INFINITY, f64::NEG_INFINITY);
                for (k, &v) in xs.iter().enumerate() {
                    if v.is_finite() {
                        n[k % LANES] += 1.0;
                        sum[k % LANES] += v;
                        mn = mn.min(v);
                        mx = mx.max(v);
                        if weighted && ws[k].is_finite() {
                            sw[k % LANES] += ws[k];
                            swx[k % LANES] += ws[k] * v;
                        }
                    }
                }
                let p = pass1(xs, if weighted { Some(ws) } else { None });
                assert_eq!(p.n, combine(n) as usize);
                assert_eq!(p.sum.to_bits(), combine(sum).to_bits());
                assert_eq!((p.min, p.max), (mn, mx));
                if weighted {
                    assert_eq!((p.sw.to_bits(), p.swx.to_bits()), (combine(sw).to_bits(), combine(swx).to_bits()));
                }
            }
            let mut ss = [0.0; LANES];
            for (k, &v) in xs.iter().enumerate() {
                if v.is_finite() {
                    ss[k % LANES] += (v - 3.25) * (v - 3.25);
                }
            }
            assert_eq!(sum_sq_dev(xs, 3.25).to_bits(), combine(ss).to_bits());
            assert!(!has_bad_weight(ws));
            for bad_value in [-0.5, f64::INFINITY, -f64::INFINITY] {
                for at in [0, len / 2, len.saturating_sub(1)] {
                    if len > 0 {
                        let mut bad = ws.to_vec();
                        bad[at] = bad_value;
                        assert!(has_bad_weight(&bad), "{len} {at} {bad_value}");
                    }
                }
            }
        }
        assert!(!has_bad_weight(&[NAN, 0.0, -0.0, 1.0, NAN]));
    }

    #[test]
    fn fused_equals_two_calls_bit_for_bit() {
        let (t, n) = (9, 203);
        let mut x = Array2::from_shape_fn((t, n), |(i, j)| {
            let v = ((i * 7919 + j * 104729) % 1000) as f64 / 37.0;
            if (i + j) % 11 == 0 {
                NAN
            } else {
                v * v.sin() + if j % 50 == 3 { 1e3 } else { 0.0 }
            }
        });
        x.row_mut(1).fill(NAN); // all-NaN date
        x.row_mut(2).fill(4.0); // zero dispersion
        let mut w = x.mapv(|v| v.abs() + 0.5);
        w[[3, 5]] = NAN;
        w.row_mut(4).fill(0.0); // zero usable weight
        let g = Array2::from_shape_fn((t, n), |(i, j)| ((i + 3 * j) % 5) as i32 - 1);
        let same = |p: &Array2<f64>, q: &Array2<f64>| {
            p.iter().zip(q).all(|(u, v)| u.to_bits() == v.to_bits())
        };
        for (method, limit) in [
            (WinsorMethod::Sigma, 2.0),
            (WinsorMethod::Quantile, 0.05),
            (WinsorMethod::Mad, 2.5),
        ] {
            for wv in [None, Some(w.view())] {
                for gv in [None, Some(g.view())] {
                    let w_win = if method == WinsorMethod::Sigma {
                        wv
                    } else {
                        None
                    };
                    let two = standardize(
                        winsorize(x.view(), method, limit, w_win, gv)
                            .unwrap()
                            .view(),
                        wv,
                        gv,
                    )
                    .unwrap();
                    let one = winsorize_standardize(x.view(), method, limit, wv, gv).unwrap();
                    assert!(
                        same(&one, &two),
                        "{method:?} w={} g={}",
                        wv.is_some(),
                        gv.is_some()
                    );
                }
            }
        }
        assert!(winsorize_standardize(x.view(), WinsorMethod::Quantile, 0.5, None, None).is_err());
        let mut bad = w.clone();
        bad[[7, 7]] = -1.0;
        assert!(
            winsorize_standardize(x.view(), WinsorMethod::Mad, 2.0, Some(bad.view()), None)
                .is_err()
        );
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
