//! Signal evaluation, per date of a `(T, N)` panel: forward returns, information coefficients,
//! quantile buckets and their returns, factor-weighted returns, quantile turnover and rank
//! autocorrelation.
//!
//! Time: `signal[t]` is known at the close of date t; `returns[t]` runs from the close of t − 1 to
//! the close of t. The forward return of horizon h at t runs from the close of t to the close of
//! t + h:
//!
//! ```text
//! forward[h][t, i] = (1 + returns[t + 1, i]) · … · (1 + returns[t + h, i]) − 1
//! ```
//!
//! NaN when any of those returns is missing or t + h is past the end. Nothing computed for date t
//! reads a return before t + 1.
//!
//! The sample of a date (the *base* sample, [`Sample`]) is the assets with a finite signal, a
//! group (code ≥ 0) when groups are given, a finite weight when weights are given and, in the
//! *common* mode, a finite forward return at every horizon (alphalens' `get_clean_factor`, which
//! drops a row when any horizon is missing). Each horizon's statistics use the base sample's
//! assets whose forward return at that horizon is finite (the *pair* sample).
//!
//! Every kernel is parallel over dates (rayon); each date is computed sequentially by one thread
//! and nothing is summed across dates, so the results do not depend on the number of threads.
//! Sorting uses one integer sort per date and series (order-preserving bits of the value above
//! the asset index), so ties are adjacent and ranks are exact averages.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3};
use rayon::prelude::*;

use crate::clean::order_bits;
use crate::error::Result;
use crate::parallel;
use crate::value_error;

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

/// Correlation used for the information coefficient.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// Pearson correlation of the average ranks (scipy's `spearmanr`).
    Spearman,
    /// Pearson correlation of the values.
    Pearson,
}

impl Method {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "spearman" => Ok(Method::Spearman),
            "pearson" => Ok(Method::Pearson),
            other => Err(value_error!("method must be one of ['spearman', 'pearson'], got {other:?}")),
        }
    }
}

/// How the assets of a date (or of a date × group) are put into buckets, as pandas does it.
#[derive(Debug, Clone, PartialEq)]
pub enum Buckets {
    /// `pandas.qcut(x, levels)`: edges at these quantile levels of the values (numpy's "linear"
    /// quantile), the first edge inclusive. `levels` sorted in [0, 1], at least 2.
    Quantiles(Vec<f64>),
    /// `pandas.cut(x, k)`: k equal-width bins between the minimum and the maximum (the lowest
    /// edge moved down by 0.1% of the range, as pandas does).
    Bins(usize),
    /// `pandas.cut(x, edges)`: fixed edges (strictly increasing), intervals `(e_j, e_{j+1}]`.
    Edges(Vec<f64>),
}

impl Buckets {
    /// Build from the binding's arguments: `kind` "quantiles" or "bins", and either a count or
    /// explicit levels/edges.
    pub fn from_spec(kind: &str, count: usize, values: Option<Vec<f64>>) -> Result<Self> {
        match (kind, values) {
            ("quantiles", None) => {
                if count < 1 {
                    return Err(value_error!("quantiles must be >= 1, got {count}"));
                }
                Ok(Buckets::Quantiles(qcut_levels(count)))
            }
            ("quantiles", Some(v)) => {
                if v.len() < 2 {
                    return Err(value_error!("quantiles must hold at least 2 levels, got {}", v.len()));
                }
                if v.iter().any(|q| !(0.0..=1.0).contains(q)) {
                    return Err(value_error!("quantile levels must lie in [0, 1]"));
                }
                if v.windows(2).any(|w| w[1] < w[0]) {
                    return Err(value_error!("quantile levels must be sorted"));
                }
                Ok(Buckets::Quantiles(v))
            }
            ("bins", None) => {
                if count < 1 {
                    return Err(value_error!("bins must be >= 1, got {count}"));
                }
                Ok(Buckets::Bins(count))
            }
            ("bins", Some(v)) => {
                if v.len() < 2 {
                    return Err(value_error!("bins must hold at least 2 edges, got {}", v.len()));
                }
                if v.iter().any(|e| !e.is_finite()) || v.windows(2).any(|w| w[1] <= w[0]) {
                    return Err(value_error!("bin edges must be finite and strictly increasing"));
                }
                Ok(Buckets::Edges(v))
            }
            (other, _) => Err(value_error!("buckets must be 'quantiles' or 'bins', got {other:?}")),
        }
    }

    /// The number of buckets.
    pub fn len(&self) -> usize {
        match self {
            Buckets::Quantiles(l) => l.len() - 1,
            Buckets::Bins(k) => *k,
            Buckets::Edges(e) => e.len() - 1,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The edges for the sorted finite values `s` (not empty), and whether the first edge is
    /// inclusive; `None` when pandas would refuse the edges (repeated edges), which alphalens
    /// turns into "no bucket" for the whole date or group.
    fn edges(&self, s: &[f64], out: &mut Vec<f64>) -> Option<bool> {
        out.clear();
        let lowest = match self {
            Buckets::Quantiles(levels) => {
                out.extend(levels.iter().map(|&q| numpy_quantile(s, q)));
                true
            }
            Buckets::Bins(k) => {
                let (mut mn, mut mx) = (s[0], s[s.len() - 1]);
                if mn == mx {
                    mn -= if mn != 0.0 { 0.001 * mn.abs() } else { 0.001 };
                    mx += if mx != 0.0 { 0.001 * mx.abs() } else { 0.001 };
                    linspace(mn, mx, k + 1, out);
                } else {
                    linspace(mn, mx, k + 1, out);
                    out[0] -= (mx - mn) * 0.001;
                }
                false
            }
            Buckets::Edges(e) => {
                out.extend_from_slice(e);
                false
            }
        };
        // pandas refuses repeated edges unless there are only two
        if out.len() != 2 && out.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        Some(lowest)
    }
}

/// The quantile levels pandas' `qcut(x, q)` uses: `numpy.linspace(0, 1, q + 1)`, each level that
/// is not exactly `k / q` rounded up to the next float (`numpy.nextafter(level, 1)`).
pub fn qcut_levels(q: usize) -> Vec<f64> {
    let mut levels = Vec::with_capacity(q + 1);
    linspace(0.0, 1.0, q + 1, &mut levels);
    for (k, v) in levels.iter_mut().enumerate() {
        if q as f64 * *v != k as f64 && *v < 1.0 {
            *v = f64::from_bits(v.to_bits() + 1); // next float up (v in [0, 1))
        }
    }
    levels
}

/// `numpy.linspace(start, stop, num)` (endpoint included), operation for operation.
fn linspace(start: f64, stop: f64, num: usize, out: &mut Vec<f64>) {
    out.clear();
    if num == 0 {
        return;
    }
    if num == 1 {
        out.push(start);
        return;
    }
    let div = (num - 1) as f64;
    let delta = stop - start;
    let step = delta / div;
    for k in 0..num {
        let y = if step == 0.0 { (k as f64 / div) * delta } else { k as f64 * step };
        out.push(y + start);
    }
    out[num - 1] = stop;
}

/// `numpy.quantile(s, q, method="linear")` of sorted finite `s` (not empty), operation for
/// operation (virtual index `(n − 1) q`, interpolation from the nearer end when the weight is at
/// least one half).
fn numpy_quantile(s: &[f64], q: f64) -> f64 {
    let n = s.len();
    let last = (n - 1) as f64;
    let v = last * q;
    if v >= last {
        return s[n - 1];
    }
    if v < 0.0 {
        return s[0];
    }
    let prev = v.floor();
    let gamma = v - prev;
    let i = prev as usize;
    let (a, b) = (s[i], s[i + 1]);
    let d = b - a;
    if gamma >= 0.5 {
        b - d * (1.0 - gamma)
    } else {
        a + d * gamma
    }
}

/// The 0-based bucket of `x` for `edges` (pandas: `searchsorted(edges, x, "left")`, the first
/// edge counted in when inclusive), or `None` outside the edges.
#[inline]
fn bucket_of(x: f64, edges: &[f64], lowest: bool) -> Option<usize> {
    let mut id = edges.partition_point(|&e| e < x);
    if lowest && x == edges[0] {
        id = 1;
    }
    if id == 0 || id == edges.len() {
        None
    } else {
        Some(id - 1)
    }
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// The forward returns a statistic is computed against.
#[derive(Clone, Copy)]
pub enum Forward<'a> {
    /// Forward returns `(H, T, N)`, one slice per horizon (see [`forward_returns`]).
    Stack(ArrayView3<'a, f64>),
    /// The one-period return `lag` dates ahead, `returns[t + lag]`, for each lag (≥ 1): IC decay.
    Lagged(ArrayView2<'a, f64>, &'a [usize]),
}

/// Flat, checked view of a [`Forward`].
#[derive(Clone, Copy)]
struct Fwd<'a> {
    data: &'a [f64],
    lags: Option<&'a [usize]>,
    h: usize,
    t: usize,
    n: usize,
}

impl<'a> Fwd<'a> {
    fn new(f: Forward<'a>, t: usize, n: usize) -> Result<Self> {
        match f {
            Forward::Stack(a) => {
                let (h, tt, nn) = a.dim();
                if (tt, nn) != (t, n) {
                    return Err(value_error!(
                        "forward returns have shape ({h}, {tt}, {nn}), expected (H, {t}, {n})"
                    ));
                }
                let data = a.to_slice().ok_or_else(|| value_error!("forward returns must be C-contiguous"))?;
                Ok(Fwd { data, lags: None, h, t, n })
            }
            Forward::Lagged(r, lags) => {
                if r.dim() != (t, n) {
                    return Err(value_error!("returns have shape {:?}, expected ({t}, {n})", r.dim()));
                }
                if lags.iter().any(|&l| l == 0) {
                    return Err(value_error!(
                        "lags must be >= 1 (returns[t] ends at the close where signal[t] is formed)"
                    ));
                }
                let data = r.to_slice().ok_or_else(|| value_error!("returns must be C-contiguous"))?;
                Ok(Fwd { data, lags: Some(lags), h: lags.len(), t, n })
            }
        }
    }

    /// Horizon `k`'s forward returns at date `t` (None: all missing).
    #[inline]
    fn row(&self, k: usize, t: usize) -> Option<&'a [f64]> {
        match self.lags {
            None => {
                let o = (k * self.t + t) * self.n;
                Some(&self.data[o..o + self.n])
            }
            Some(lags) => {
                let s = t.checked_add(lags[k]).filter(|&s| s < self.t)?;
                Some(&self.data[s * self.n..(s + 1) * self.n])
            }
        }
    }

    /// Whether every horizon's forward return of asset `i` at `t` is finite.
    fn all_finite(&self, t: usize, i: usize) -> bool {
        (0..self.h).all(|k| self.row(k, t).is_some_and(|r| r[i].is_finite()))
    }
}

/// The base sample: which (date, asset) cells enter at all.
#[derive(Clone, Copy)]
pub struct Sample<'a> {
    /// `(T, N)` signal, known at the close of each date; non-finite = not in the sample.
    pub signal: ArrayView2<'a, f64>,
    /// `(T, N)` dense group codes `0..n_groups` (−1 = none: not in the sample).
    pub groups: Option<ArrayView2<'a, i32>>,
    pub n_groups: usize,
    /// `(T, N)` non-negative weights of the statistics; non-finite = not in the sample.
    pub weights: Option<ArrayView2<'a, f64>>,
    /// alphalens' common sample: only cells whose forward return is finite at every horizon.
    pub common: Option<Forward<'a>>,
    /// Only cells with a bucket label (≥ 0): alphalens drops the rows it cannot bucket from
    /// every statistic.
    pub labels: Option<ArrayView2<'a, i32>>,
}

/// More assets than this do not fit the kernels' indices (`u32`) and doubled ranks.
const MAX_ASSETS: usize = 1 << 30;

/// [`Sample`] as flat checked slices.
struct Base<'a> {
    x: &'a [f64],
    g: Option<&'a [i32]>,
    n_groups: usize,
    w: Option<&'a [f64]>,
    common: Option<Fwd<'a>>,
    labels: Option<&'a [i32]>,
    t: usize,
    n: usize,
}

fn flat<'a, A>(name: &str, a: ArrayView2<'a, A>, shape: (usize, usize)) -> Result<&'a [A]> {
    if a.dim() != shape {
        return Err(value_error!("{name} has shape {:?}, expected {:?}", a.dim(), shape));
    }
    a.to_slice().ok_or_else(|| value_error!("{name} must be C-contiguous"))
}

impl<'a> Base<'a> {
    fn new(s: &Sample<'a>) -> Result<Self> {
        let (t, n) = s.signal.dim();
        if n >= MAX_ASSETS {
            return Err(value_error!("too many assets ({n}), at most {}", MAX_ASSETS - 1));
        }
        let x = flat("signal", s.signal, (t, n))?;
        let g = s.groups.map(|g| flat("groups", g, (t, n))).transpose()?;
        if let Some(g) = g {
            if let Some(&bad) = g.iter().find(|&&c| c < -1 || c >= s.n_groups as i32) {
                return Err(value_error!("industry codes must lie in -1..{}, got {bad}", s.n_groups));
            }
        }
        let w = s.weights.map(|w| flat("weights", w, (t, n))).transpose()?;
        if let Some(w) = w {
            if w.iter().any(|&v| v < 0.0 || v == f64::INFINITY) {
                return Err(value_error!("weights must be non-negative and not infinite"));
            }
        }
        let common = s.common.map(|f| Fwd::new(f, t, n)).transpose()?;
        let labels = s.labels.map(|l| flat("labels", l, (t, n))).transpose()?;
        Ok(Base { x, g, n_groups: s.n_groups, w, common, labels, t, n })
    }

    #[inline]
    fn row<A>(&self, a: &'a [A], t: usize) -> &'a [A] {
        &a[t * self.n..(t + 1) * self.n]
    }

    /// Fill `keep[i]` with the base-sample membership of date `t`.
    fn fill(&self, t: usize, keep: &mut Vec<bool>) {
        keep.clear();
        let x = self.row(self.x, t);
        keep.extend(x.iter().map(|v| v.is_finite()));
        if let Some(g) = self.g {
            for (k, &c) in keep.iter_mut().zip(self.row(g, t)) {
                *k &= c >= 0;
            }
        }
        if let Some(w) = self.w {
            for (k, &v) in keep.iter_mut().zip(self.row(w, t)) {
                *k &= v.is_finite();
            }
        }
        if let Some(l) = self.labels {
            for (k, &q) in keep.iter_mut().zip(self.row(l, t)) {
                *k &= q >= 0;
            }
        }
        if let Some(f) = &self.common {
            for (i, k) in keep.iter_mut().enumerate() {
                if *k {
                    *k = f.all_finite(t, i);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Per-date building blocks
// ---------------------------------------------------------------------------------------------

/// Indices of the members of `keep` sorted by `x` (ties by index).
fn sort_members(x: &[f64], keep: &[bool], keys: &mut SortKeys, order: &mut Vec<u32>) {
    let members = keep.iter().enumerate().filter(|(_, &k)| k).map(|(i, _)| i as u32);
    sort_by_value(x, members, keys, order);
}

/// Working space of [`sort_by_value`].
#[derive(Default)]
struct SortKeys {
    a: Vec<u64>,
    b: Vec<u64>,
    c: Vec<u64>,
}

/// Below this many members [`sort_by_value`] uses a comparison sort instead of the radix sort
/// (whose 2048-entry histograms cost about as much as sorting a few hundred values).
const RADIX_MIN: usize = 512;

/// Bits of the scaled keys of [`sort_by_value`] (two radix passes of 11 bits).
const SCALED_BITS: u32 = 22;

/// Runs of equal scaled keys longer than this are put in order by [`sort_by_bits`] (values far
/// apart from most, e.g. an outlier, squeeze the others into few keys).
const LONG_RUN: usize = 64;

const HI: u64 = 0xFFFF_FFFF_0000_0000;

/// `members` (asset indices, finite `x`) sorted by `x`, ties by index, into `order`.
///
/// One `u64` per member: a coarse key of its value above its index. For many members the key is
/// the value scaled linearly from the members' range onto 22 bits (non-decreasing in the value;
/// its digits spread evenly, so two passes of a stable LSD radix sort suffice and no pass stalls on
/// a crowded digit); for few, the upper 32 of its order-preserving bits and a comparison sort.
/// Runs of members that share their key (near-equal or equal values) are then put in (full bits,
/// index) order, so the order, and every tie, is exact.
fn sort_by_value(x: &[f64], members: impl Iterator<Item = u32>, keys: &mut SortKeys, order: &mut Vec<u32>) {
    let a = &mut keys.a;
    a.clear();
    a.extend(members.map(|i| i as u64));
    let m = a.len();
    if m < RADIX_MIN {
        for k in a.iter_mut() {
            *k |= order_bits(x[*k as usize]) & HI;
        }
        a.sort_unstable();
    } else {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &k in a.iter() {
            let v = x[k as usize];
            lo = lo.min(v);
            hi = hi.max(v);
        }
        let top = ((1u64 << SCALED_BITS) - 1) as f64;
        let scale = top / (hi - lo);
        // all values equal, or a range too wide for a float: one run, ordered below
        if scale.is_finite() && scale > 0.0 {
            for k in a.iter_mut() {
                let key = ((x[*k as usize] - lo) * scale).min(top) as u64;
                *k |= key << 32;
            }
            radix_sort_hi32(a, &mut keys.b, 2);
        }
    }
    order.clear();
    order.extend(a.iter().map(|&k| k as u32));
    // exact order inside runs that share their key
    let (b, c) = (&mut keys.b, &mut keys.c);
    for_each_key_run(a, |start, end| {
        let run = &mut order[start..end];
        let key = |&k: &u32| (order_bits(x[k as usize]), k);
        if !run.is_sorted_by_key(key) {
            if run.len() > LONG_RUN && m >= RADIX_MIN {
                sort_by_bits(x, run, b, c);
            } else {
                run.sort_unstable_by_key(key);
            }
        }
    });
}

/// Call `f(start, end)` for every run `a[start..end]` (two or more items) whose items share their
/// upper 32 bits (`a` sorted by them), found by one scan of neighbours.
fn for_each_key_run(a: &[u64], mut f: impl FnMut(usize, usize)) {
    let m = a.len();
    let mut i = 1;
    while i < m {
        if (a[i] ^ a[i - 1]) & HI != 0 {
            i += 1;
            continue;
        }
        let start = i - 1;
        let hi = a[start] & HI;
        let mut j = i + 1;
        while j < m && a[j] & HI == hi {
            j += 1;
        }
        f(start, j);
        i = j + 1;
    }
}

/// `run` (asset indices, finite `x`) sorted in place by (order-preserving bits of `x`, index): a
/// radix sort of the upper 32 bits (three passes of 11), then runs that share them by comparison.
fn sort_by_bits(x: &[f64], run: &mut [u32], a: &mut Vec<u64>, b: &mut Vec<u64>) {
    a.clear();
    a.extend(run.iter().map(|&k| (order_bits(x[k as usize]) & HI) | k as u64));
    radix_sort_hi32(a, b, 3);
    for (o, &k) in run.iter_mut().zip(a.iter()) {
        *o = k as u32;
    }
    for_each_key_run(a, |start, end| {
        run[start..end].sort_unstable_by_key(|&k| (order_bits(x[k as usize]), k));
    });
}

/// Stable LSD radix sort of `a` by bits 32.. 32 + 11 `passes` of each item (`passes` ≤ 3 passes of
/// 11 bits; a pass whose digit is the same for every item is skipped); `b` is scratch. The result
/// is in `a`.
fn radix_sort_hi32(a: &mut Vec<u64>, b: &mut Vec<u64>, passes: usize) {
    let m = a.len();
    let mut hist = [[0u32; 2048]; 3];
    if passes == 2 {
        for &k in a.iter() {
            let hi = (k >> 32) as u32;
            hist[0][(hi & 2047) as usize] += 1;
            hist[1][((hi >> 11) & 2047) as usize] += 1;
        }
    } else {
        for &k in a.iter() {
            let hi = (k >> 32) as u32;
            hist[0][(hi & 2047) as usize] += 1;
            hist[1][((hi >> 11) & 2047) as usize] += 1;
            hist[2][(hi >> 22) as usize] += 1;
        }
    }
    b.clear();
    b.resize(m, 0);
    let mut in_a = true;
    for (h, shift) in hist.iter_mut().zip([32u32, 43, 54]).take(passes) {
        if h.iter().any(|&c| c as usize == m) {
            continue;
        }
        let mut sum = 0u32;
        for c in h.iter_mut() {
            let v = *c;
            *c = sum;
            sum += v;
        }
        let (src, dst) = if in_a { (&a[..], &mut b[..]) } else { (&b[..], &mut a[..]) };
        for &k in src {
            let d = ((k >> shift) & 2047) as usize;
            let pos = h[d];
            dst[pos as usize] = k;
            h[d] = pos + 1;
        }
        in_a = !in_a;
    }
    if !in_a {
        std::mem::swap(a, b);
    }
}

/// Average 1-based ranks (scipy's `rankdata`) of the assets of `order` (sorted by `x`) that pass
/// `keep`, written to `out[i]`; returns how many.
fn ranks_among(order: &[u32], x: &[f64], keep: &[bool], kept: &mut Vec<u32>, out: &mut [f64]) -> usize {
    kept.clear();
    kept.extend(order.iter().copied().filter(|&i| keep[i as usize]));
    rank_sorted(kept, x, out);
    kept.len()
}

/// (Weighted) Pearson correlation of `x[i]`, `y[i]` over `idx`; NaN with fewer than 2 assets or
/// no dispersion. Clipped to [−1, 1] as numpy's `corrcoef`.
///
/// No dispersion is decided exactly: a side whose values (of positive weight) are all equal gives
/// NaN. Its rounded mean need not equal the common value (a weighted mean, or a plain one of a
/// constant like 0.37), and the deviations left by that rounding would otherwise give a
/// "correlation" of pure rounding noise.
///
/// Any finite magnitudes: a sample whose sums of squares overflow (a signal around 1e154 or
/// above: they became inf and the "correlation" 0) or may have lost bits to underflow (a spread
/// around 1e-135 or below: NaN) is computed again on its values (and weights) scaled by powers of
/// two, which is exact and leaves the correlation unchanged. Other samples take the plain path,
/// bit for bit.
fn correlation(idx: &[u32], x: &[f64], y: &[f64], w: Option<&[f64]>) -> f64 {
    match correlation_pass::<false>(idx, x, y, w, [0; 3]) {
        Some(c) => c,
        None => {
            let amax = |v: &[f64]| idx.iter().fold(0.0f64, |a, &i| a.max(v[i as usize].abs()));
            let e = |a: f64| if a > 0.0 && a.is_finite() { crate::clean::exponent(a) } else { 0 };
            let ew = w.map_or(0, |w| e(amax(w)));
            correlation_pass::<true>(idx, x, y, w, [e(amax(x)), e(amax(y)), ew]).unwrap_or(f64::NAN)
        }
    }
}

/// Below this sum of squared deviations some squares may have underflowed (see [`correlation`]).
const TINY_SUM_SQ: f64 = 1e-270;

/// One pass of [`correlation`] on `x · 2^−e[0]`, `y · 2^−e[1]`, `w · 2^−e[2]` (`SCALED`; else
/// the values as given). `None` (plain pass only) when a sum is not finite or a sum of squares
/// is below [`TINY_SUM_SQ`]: the scaled pass then decides.
#[inline(always)]
fn correlation_pass<const SCALED: bool>(idx: &[u32], x: &[f64], y: &[f64], w: Option<&[f64]>,
                                        e: [i32; 3]) -> Option<f64> {
    let at = |v: &[f64], i: usize, k: usize| if SCALED { crate::clean::ldexp(v[i], -e[k]) } else { v[i] };
    let n = idx.len();
    if n < 2 {
        return Some(f64::NAN);
    }
    let (mut sw, mut sx, mut sy) = (0.0, 0.0, 0.0);
    let (mut x0, mut y0) = (f64::NAN, f64::NAN);
    let (mut x_varies, mut y_varies) = (false, false);
    for &i in idx {
        let i = i as usize;
        let wi = w.map_or(1.0, |w| at(w, i, 2));
        let (xi, yi) = (at(x, i, 0), at(y, i, 1));
        sw += wi;
        sx += wi * xi;
        sy += wi * yi;
        if wi > 0.0 {
            if x0.is_nan() {
                (x0, y0) = (x[i], y[i]);
            } else {
                x_varies |= x[i] != x0;
                y_varies |= y[i] != y0;
            }
        }
    }
    if sw <= 0.0 || !x_varies || !y_varies {
        return Some(f64::NAN);
    }
    let (mx, my) = (sx / sw, sy / sw);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for &i in idx {
        let i = i as usize;
        let wi = w.map_or(1.0, |w| at(w, i, 2));
        let (dx, dy) = (at(x, i, 0) - mx, at(y, i, 1) - my);
        sxy += wi * dx * dy;
        sxx += wi * dx * dx;
        syy += wi * dy * dy;
    }
    if !SCALED
        && !(sw.is_finite() && sxy.is_finite() && sxx.is_finite() && syy.is_finite()
            && sxx >= TINY_SUM_SQ && syy >= TINY_SUM_SQ)
    {
        return None;
    }
    if !(sxx > 0.0 && syy > 0.0) {
        return Some(f64::NAN);
    }
    Some((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

/// Below this many members the rank correlations are computed from exact integer sums (doubled
/// ranks centred on their mean, whose products and sums fit in `i64`).
const EXACT_RANKS: usize = 1 << 20;

/// The correlation of average ranks from the exact sums of one sample of `m` members: with doubled
/// centred ranks `dx = 2 rx − (m + 1)`, `dy` likewise, `sxy = Σ dx dy`, `sxx = Σ dx²`,
/// `syy = Σ dy²` (exact integers, so the order of summation does not matter). NaN with fewer
/// than 2 members or no dispersion; clipped to [−1, 1] as numpy's `corrcoef`.
#[inline]
fn rank_corr_from_sums(m: usize, sxy: i64, sxx: i64, syy: i64) -> f64 {
    if m < 2 || sxx <= 0 || syy <= 0 {
        return f64::NAN;
    }
    // the quarter of each sum is what `correlation` sums over the ranks minus their mean
    let (sxy, sxx, syy) = (sxy as f64 * 0.25, sxx as f64 * 0.25, syy as f64 * 0.25);
    (sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0)
}

/// `correlation(idx, rx, ry, None)` when `rx` and `ry` are average ranks 1..m over exactly the
/// members `idx` (m = `idx.len()`), from exact integer sums ([`rank_corr_from_sums`]): both means
/// are exactly (m + 1) / 2 and every sum is exact (for m below about 2^17 the floating-point sums
/// of [`correlation`] are exact too, and the two agree bit for bit), in any order.
fn rank_correlation(idx: &[u32], rx: &[f64], ry: &[f64]) -> f64 {
    let n = idx.len();
    if n >= EXACT_RANKS {
        return correlation(idx, rx, ry, None);
    }
    let m1 = n as i64 + 1;
    let (mut sxy, mut sxx, mut syy) = (0i64, 0i64, 0i64);
    for &i in idx {
        let i = i as usize;
        let (dx, dy) = ((2.0 * rx[i]) as i64 - m1, (2.0 * ry[i]) as i64 - m1);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    rank_corr_from_sums(n, sxy, sxx, syy)
}

/// Subtract from `y[i]` (i in `idx`) its (weighted) mean over `idx`, or its group's mean when
/// `groups` is given.
fn demean(idx: &[u32], y: &mut [f64], w: Option<&[f64]>, groups: Option<(&[i32], usize)>, sums: &mut Vec<(f64, f64)>) {
    match groups {
        None => {
            let (mut s, mut sw) = (0.0, 0.0);
            for &i in idx {
                let wi = w.map_or(1.0, |w| w[i as usize]);
                s += wi * y[i as usize];
                sw += wi;
            }
            let m = s / sw;
            for &i in idx {
                y[i as usize] -= m;
            }
        }
        Some((g, n_groups)) => {
            sums.clear();
            sums.resize(n_groups, (0.0, 0.0));
            for &i in idx {
                let i = i as usize;
                let wi = w.map_or(1.0, |w| w[i]);
                let e = &mut sums[g[i] as usize];
                e.0 += wi * y[i];
                e.1 += wi;
            }
            for &i in idx {
                let i = i as usize;
                let (s, sw) = sums[g[i] as usize];
                y[i] -= s / sw;
            }
        }
    }
}

/// Per-thread working space of the per-date routines.
#[derive(Default)]
struct Work {
    idx: Vec<u32>,
    kept: Vec<u32>,
    keys: SortKeys,
    rx: Vec<f64>,
    ry: Vec<f64>,
    y: Vec<f64>,
    edges: Vec<f64>,
    sorted: Vec<f64>,
    sums: Vec<(f64, f64)>,
    qsums: Vec<(f64, f64)>,
    counts: Vec<u32>,
    wk: Vec<f64>,
    part: Vec<u32>,
    /// `rx` holds the x ranks among the pair sample `rx_pair` (reset with [`Work::new_date`]).
    rx_valid: bool,
    rx_pair: Vec<bool>,
}

impl Work {
    /// Forget what depends on the date (the cached x ranks).
    fn new_date(&mut self) {
        self.rx_valid = false;
    }
}

/// Per-thread scratch space: the date's sample masks, its signal order, and the working space.
#[derive(Default)]
struct Scratch {
    keep: Vec<bool>,
    keep2: Vec<bool>,
    keys: SortKeys,
    order: Vec<u32>,
    sub: Vec<u32>,
    /// The pair sample of one horizon: membership and the members in ascending order.
    pair: Vec<bool>,
    idx: Vec<u32>,
    w: Work,
    multi: MultiRank,
}

/// Every Spearman correlation of one date against one signal order: up to 64 samples of the
/// date's assets (bit `s` of `mask[i]`: asset i is in sample s), each ranked on the signal by one
/// walk of the signal's order ([`MultiRank::walk_signal`]), then correlated with the ranks of a
/// return series by one walk of that series' order ([`MultiRank::correlation`]). Ranks are
/// doubled and centred (`dx = 2 rank − (m + 1)`, integers), so every sum is exact and the result is
/// [`rank_correlation`] of the same sample bit for bit.
#[derive(Default)]
struct MultiRank {
    mask: Vec<u64>,
    /// Members per sample.
    count: Vec<u32>,
    /// `dx[i · stride + s]`: asset i's centred doubled signal rank in sample s (meaningless where
    /// i is not in s); `stride` is the number of samples rounded up to a multiple of [`LANES`].
    dx: Vec<i32>,
    /// `Σ dx²` per sample.
    sxx: Vec<i64>,
    pos: Vec<i32>,
    off: Vec<i32>,
    run: Vec<i32>,
    ties: Vec<i64>,
    samples: usize,
    stride: usize,
}

/// Samples ranked together by [`MultiRank::walk_signal`] (vector lanes).
const LANES: usize = 8;

impl MultiRank {
    const MAX_SAMPLES: usize = 64;

    /// Start a date of `n` assets and `samples` samples, all empty.
    fn reset(&mut self, n: usize, samples: usize) {
        self.samples = samples;
        self.stride = samples.div_ceil(LANES) * LANES;
        self.mask.clear();
        self.mask.resize(n, 0);
        self.count.clear();
        self.count.resize(samples, 0);
    }

    /// Sample `b`'s members: the assets where `member` yields true (one per asset, in order).
    fn set_sample(&mut self, b: usize, member: impl Iterator<Item = bool>) {
        let mut c = 0u32;
        for (m, v) in self.mask.iter_mut().zip(member) {
            *m |= (v as u64) << b;
            c += v as u32;
        }
        self.count[b] = c;
    }

    /// Rank every sample on `x` by one walk of `order` (the assets of every sample, and possibly
    /// others, sorted by `x`): sample 0's doubled ranks go to `base` (0 = not in it), every
    /// sample's centred doubled ranks to `dx`, and `Σ dx²` to `sxx`.
    fn walk_signal(&mut self, order: &[u32], x: &[f64], base: &mut [u32]) {
        let (sn, stride) = (self.samples, self.stride);
        self.dx.clear();
        self.dx.resize(self.mask.len() * stride, 0);
        self.pos.clear();
        self.pos.resize(stride, 0);
        self.off.clear();
        self.off.extend(self.count.iter().map(|&c| c as i32 + 1));
        self.off.resize(stride, 0);
        self.ties.clear();
        self.ties.resize(sn, 0);
        for_each_tie_run(order, x, |j, e| {
            if e == j + 1 {
                // one asset: each of its samples' next position, all lanes at once
                let i = order[j] as usize;
                let m = self.mask[i];
                let dst = &mut self.dx[i * stride..(i + 1) * stride];
                for (c, ((d, p), o)) in dst
                    .chunks_exact_mut(LANES)
                    .zip(self.pos.chunks_exact_mut(LANES))
                    .zip(self.off.chunks_exact(LANES))
                    .enumerate()
                {
                    let bits = (m >> (c * LANES)) as u32;
                    for l in 0..LANES {
                        p[l] += ((bits >> l) & 1) as i32;
                        d[l] = 2 * p[l] - o[l];
                    }
                }
                base[i] = if m & 1 == 1 { 2 * self.pos[0] as u32 } else { 0 };
            } else {
                // a run of ties: each sample's members in the run share their mean position
                self.run.clear();
                self.run.resize(stride, 0);
                for &i in &order[j..e] {
                    let mut bits = self.mask[i as usize];
                    while bits != 0 {
                        self.run[bits.trailing_zeros() as usize] += 1;
                        bits &= bits - 1;
                    }
                }
                for &i in &order[j..e] {
                    let i = i as usize;
                    let m = self.mask[i];
                    for b in 0..sn {
                        if (m >> b) & 1 == 1 {
                            let r2 = 2 * self.pos[b] + self.run[b] + 1;
                            self.dx[i * stride + b] = r2 - self.off[b];
                            if b == 0 {
                                base[i] = r2 as u32;
                            }
                        }
                    }
                    if m & 1 == 0 {
                        base[i] = 0;
                    }
                }
                for b in 0..sn {
                    let c = self.run[b] as i64;
                    self.ties[b] += c * c * c - c;
                    self.pos[b] += self.run[b];
                }
            }
        });
        // Σ (2p − m − 1)² over positions 1..m is (m³ − m) / 3; a tied run of c shares its mean,
        // which removes (c³ − c) / 3
        self.sxx.clear();
        self.sxx.extend(self.count.iter().zip(&self.ties).map(|(&m, &t)| {
            let m = m as i64;
            (m * m * m - m - t) / 3
        }));
    }

    /// Spearman correlation of sample `b` (≥ 1) between the signal and `y`, walking `order` (the
    /// sample's members, and possibly other assets with a finite `y`, sorted by `y`).
    fn correlation(&self, b: usize, order: &[u32], y: &[f64]) -> f64 {
        let stride = self.stride;
        let m1 = self.count[b] as i64 + 1;
        let (mut sxy, mut syy, mut pos) = (0i64, 0i64, 0i64);
        let len = order.len();
        let mut j = 0;
        while j < len {
            let i = order[j] as usize;
            let v = y[i];
            if j + 1 == len || y[order[j + 1] as usize] != v {
                if (self.mask[i] >> b) & 1 == 1 {
                    pos += 1;
                    let d = 2 * pos - m1;
                    sxy += d * self.dx[i * stride + b] as i64;
                    syy += d * d;
                }
                j += 1;
                continue;
            }
            let (mut c, mut sd, mut e) = (0i64, 0i64, j);
            while e < len && y[order[e] as usize] == v {
                let i = order[e] as usize;
                if (self.mask[i] >> b) & 1 == 1 {
                    c += 1;
                    sd += self.dx[i * stride + b] as i64;
                }
                e += 1;
            }
            if c > 0 {
                let d = 2 * pos + c + 1 - m1;
                sxy += d * sd;
                syy += c * d * d;
                pos += c;
            }
            j = e;
        }
        rank_corr_from_sums(self.count[b] as usize, sxy, self.sxx[b], syy)
    }
}

/// Run `f(scratch, t, row)` over the rows (chunks of `width`) of `out` in parallel, each row
/// first filled with `fill`.
fn par_dates<A, F>(out: &mut [A], width: usize, fill: A, f: F)
where
    A: Copy + Send + Sync,
    F: Fn(&mut Scratch, usize, &mut [A]) + Sync + Send,
{
    if width == 0 {
        return;
    }
    out.par_chunks_mut(width).enumerate().for_each_init(Scratch::default, |s, (t, row)| {
        row.fill(fill);
        if parallel::cancelled() {
            return; // the caller discards the whole result
        }
        f(s, t, row);
    });
}

// ---------------------------------------------------------------------------------------------
// Per-date routines (shared by the separate kernels and the fused `evaluate_panel`, so both give
// bit-identical results)
// ---------------------------------------------------------------------------------------------

/// The pair sample of one date and horizon: `keep` and a finite `y`, as a mask and as the
/// members in ascending order.
fn pair_members(keep: &[bool], y_row: &[f64], pair: &mut Vec<bool>, idx: &mut Vec<u32>) {
    pair.clear();
    idx.clear();
    for (i, (&k, y)) in keep.iter().zip(y_row).enumerate() {
        let p = k && y.is_finite();
        pair.push(p);
        if p {
            idx.push(i as u32);
        }
    }
}

/// IC of one date and horizon over its pair sample (`pair`, `idx` from [`pair_members`]).
/// `order` lists a superset of the pair sample sorted by `x` (Spearman). `y_order`, when given,
/// lists the finite `y` sorted by value (walked instead of sorting `y`; not with `adjust`).
#[allow(clippy::too_many_arguments)]
fn ic_pair(
    x: &[f64],
    order: &[u32],
    pair: &[bool],
    idx: &[u32],
    y_row: &[f64],
    y_order: Option<&[u32]>,
    w: Option<&[f64]>,
    g: Option<(&[i32], usize)>,
    method: Method,
    adjust: bool,
    s: &mut Work,
) -> f64 {
    let n = x.len();
    if idx.len() < 2 {
        return f64::NAN;
    }
    let y: &[f64] = if adjust {
        s.y.resize(n, f64::NAN);
        for &i in idx {
            s.y[i as usize] = y_row[i as usize];
        }
        demean(idx, &mut s.y, w, g, &mut s.sums);
        &s.y
    } else {
        y_row
    };
    match method {
        Method::Pearson => correlation(idx, x, y, w),
        Method::Spearman => {
            s.rx.resize(n, f64::NAN);
            s.ry.resize(n, f64::NAN);
            // the x ranks of the previous call stay valid when its pair sample was the same
            if !(s.rx_valid && s.rx_pair.len() == pair.len() && s.rx_pair == pair) {
                ranks_among(order, x, pair, &mut s.kept, &mut s.rx);
                s.rx_pair.clear();
                s.rx_pair.extend_from_slice(pair);
                s.rx_valid = true;
            }
            match y_order {
                Some(yo) if !adjust => {
                    ranks_among(yo, y, pair, &mut s.kept, &mut s.ry);
                }
                _ => {
                    sort_by_value(y, idx.iter().copied(), &mut s.keys, &mut s.kept);
                    rank_sorted(&s.kept, y, &mut s.ry);
                }
            }
            match w {
                None => rank_correlation(idx, &s.rx, &s.ry),
                Some(_) => correlation(idx, &s.rx, &s.ry, w),
            }
        }
    }
}

/// Bucket labels of one date into `row` (−1 stays for the others): `members` sorted by `x`, cut
/// per date or, with `by_group`, per group.
fn labels_one(
    x: &[f64],
    members: &[u32],
    g: Option<(&[i32], usize)>,
    by_group: bool,
    buckets: &Buckets,
    s: &mut Work,
    row: &mut [i32],
) {
    match (by_group, g) {
        (true, Some((g, n_groups))) => {
            // stable partition of the sorted members by group: each group's list stays sorted
            s.counts.clear();
            s.counts.resize(n_groups + 1, 0);
            for &i in members {
                s.counts[g[i as usize] as usize + 1] += 1;
            }
            for j in 1..s.counts.len() {
                s.counts[j] += s.counts[j - 1];
            }
            s.part.clear();
            s.part.resize(members.len(), 0);
            s.idx.clear();
            s.idx.extend_from_slice(&s.counts);
            for &i in members {
                let c = g[i as usize] as usize;
                s.part[s.idx[c] as usize] = i;
                s.idx[c] += 1;
            }
            for c in 0..n_groups {
                let (lo, hi) = (s.counts[c] as usize, s.counts[c + 1] as usize);
                label_sorted(&s.part[lo..hi], x, buckets, &mut s.sorted, &mut s.edges, row);
            }
        }
        _ => label_sorted(members, x, buckets, &mut s.sorted, &mut s.edges, row),
    }
}

/// Mean forward return per bucket of one date and horizon, written to `m_row[q * stride + k]`
/// and `c_row[…]` (see [`quantile_returns`]). The members are the candidates `cand` (ascending)
/// with a label, a finite `y` and weight and, when demeaning by group, a group.
#[allow(clippy::too_many_arguments)]
fn quantile_one(
    labels: &[i32],
    cand: impl Iterator<Item = u32>,
    y_row: &[f64],
    w: Option<&[f64]>,
    g: Option<(&[i32], usize)>,
    demean_by: Demean,
    s: &mut Work,
    m_row: &mut [f64],
    c_row: &mut [u32],
    k: usize,
    stride: usize,
) {
    let n = labels.len();
    let q_len = m_row.len() / stride;
    s.idx.clear();
    s.idx.extend(cand.filter(|&i| {
        let i = i as usize;
        labels[i] >= 0
            && y_row[i].is_finite()
            && w.is_none_or(|w| w[i].is_finite())
            && g.is_none_or(|(g, _)| demean_by != Demean::Group || g[i] >= 0)
    }));
    if s.idx.is_empty() {
        return;
    }
    let _ = n;
    // the demeaned return y[i] − mean, without writing it: the arithmetic of `demean`
    let all_mean = match demean_by {
        Demean::All => {
            let (mut sy, mut sw) = (0.0, 0.0);
            for &i in &s.idx {
                let wi = w.map_or(1.0, |w| w[i as usize]);
                sy += wi * y_row[i as usize];
                sw += wi;
            }
            sy / sw
        }
        Demean::Group => {
            let (g, n_groups) = g.expect("checked: demeaning by group needs groups");
            s.sums.clear();
            s.sums.resize(n_groups, (0.0, 0.0));
            for &i in &s.idx {
                let i = i as usize;
                let wi = w.map_or(1.0, |w| w[i]);
                let e = &mut s.sums[g[i] as usize];
                e.0 += wi * y_row[i];
                e.1 += wi;
            }
            0.0
        }
        Demean::None => 0.0,
    };
    s.qsums.clear();
    s.qsums.resize(q_len, (0.0, 0.0));
    s.counts.clear();
    s.counts.resize(q_len, 0);
    for &i in &s.idx {
        let i = i as usize;
        let q = labels[i] as usize;
        let wi = w.map_or(1.0, |w| w[i]);
        let yi = match (demean_by, g) {
            (Demean::None, _) => y_row[i],
            (Demean::All, _) => y_row[i] - all_mean,
            (Demean::Group, Some((g, _))) => {
                let (gs, gw) = s.sums[g[i] as usize];
                y_row[i] - gs / gw
            }
            (Demean::Group, None) => unreachable!("checked above"),
        };
        s.qsums[q].0 += wi * yi;
        s.qsums[q].1 += wi;
        s.counts[q] += 1;
    }
    for q in 0..q_len {
        c_row[q * stride + k] = s.counts[q];
        let (sy, sw) = s.qsums[q];
        if s.counts[q] > 0 && sw > 0.0 {
            m_row[q * stride + k] = sy / sw;
        }
    }
}

/// Return of the factor-weighted book of one date and horizon over the pair members `idx`
/// (ascending; see [`factor_weighted_returns`]).
fn book_one(
    x: &[f64],
    idx: &[u32],
    y_row: &[f64],
    neutral: Option<&[i32]>,
    demeaned: bool,
    equal_weight: bool,
    s: &mut Work,
) -> f64 {
    if idx.is_empty() {
        return f64::NAN;
    }
    s.wk.clear();
    match neutral {
        Some(g) => {
            // members grouped (stable) so each group's weights are one contiguous slice
            s.part.clear();
            s.part.extend_from_slice(idx);
            s.part.sort_by_key(|&i| g[i as usize]);
            s.wk.extend(s.part.iter().map(|&i| x[i as usize]));
            let mut lo = 0;
            while lo < s.part.len() {
                let c = g[s.part[lo] as usize];
                let mut hi = lo;
                while hi < s.part.len() && g[s.part[hi] as usize] == c {
                    hi += 1;
                }
                to_weights(&mut s.wk[lo..hi], demeaned, equal_weight, &mut s.sorted);
                lo = hi;
            }
            to_weights(&mut s.wk, false, false, &mut s.sorted);
            s.part.iter().zip(&s.wk).map(|(&i, &w)| w * y_row[i as usize]).sum()
        }
        None if demeaned && !equal_weight => {
            // `to_weights` fused with the return, without writing the weights: the gross and
            // Σ (x − m) y in one pass, divided once ([`buckets_and_book`] does the same sums)
            let x0 = x[idx[0] as usize];
            let flat = idx.iter().all(|&i| x[i as usize] == x0);
            let m = book_mean(idx.iter().map(|&i| x[i as usize]).sum::<f64>(), idx.len(), flat, x0);
            let (mut gross, mut dot) = (-0.0f64, -0.0f64);
            for &i in idx {
                let d = x[i as usize] - m;
                gross += d.abs();
                dot += d * y_row[i as usize];
            }
            book_return(dot, gross)
        }
        None => {
            s.wk.extend(idx.iter().map(|&i| x[i as usize]));
            to_weights(&mut s.wk, demeaned, equal_weight, &mut s.sorted);
            idx.iter().zip(&s.wk).map(|(&i, &w)| w * y_row[i as usize]).sum()
        }
    }
}

/// The mean `sum / n` of a factor-weighted book's signal (of `n` ≥ 1 members), or `first`, the
/// members' one value, when they are all equal (`flat`): the book demeans the signal and divides
/// by the gross `Σ |x − m|`, and the mean of equal values, summed then divided, can be 1 ulp off
/// (`(0.1 + 0.1 + 0.1) / 3` is not 0.1), which that division would blow up to full weights
/// (e.g. a whole industry short in the neutral book). A signal without dispersion has no book.
#[inline]
fn book_mean(sum: f64, n: usize, flat: bool, first: f64) -> f64 {
    if flat {
        first
    } else {
        sum / n as f64
    }
}

/// The demeaned book's return from `Σ (x − m) y` and its gross `Σ |x − m|` (0 when the gross is).
#[inline]
fn book_return(dot: f64, gross: f64) -> f64 {
    if gross == 0.0 {
        dot * 0.0
    } else {
        dot / gross
    }
}

/// [`quantile_one`] (no weights, no groups) and [`book_one`] (demeaned, not neutral) of every
/// horizon of one date from the membership masks: bit 1 + k of `mask[i]` marks horizon k's pair
/// sample (the base sample with a finite `rows[k]`). Each horizon's sums run over its
/// members in ascending order, as in the per-horizon routines, so the results are theirs bit for
/// bit. `m_row`, `c_row` are `(Q, H)`, `book` `(H,)`.
#[allow(clippy::too_many_arguments)]
fn buckets_and_book(
    mask: &[u64],
    labels: &[i32],
    x: &[f64],
    rows: &[&[f64]],
    demean_by: Demean,
    s: &mut Work,
    m_row: &mut [f64],
    c_row: &mut [u32],
    book: &mut [f64],
) {
    let h_len = rows.len();
    let q_len = m_row.len() / h_len.max(1);
    // up to four horizons per sweep: their sums are independent chains, kept in registers
    let mut k0 = 0;
    while k0 < h_len {
        let out = Outputs { q_len, h_len, m_row: &mut *m_row, c_row: &mut *c_row, book: &mut *book };
        let done = match h_len - k0 {
            1 => buckets_and_book_n::<1>(mask, labels, x, rows, k0, demean_by, s, out),
            2 => buckets_and_book_n::<2>(mask, labels, x, rows, k0, demean_by, s, out),
            3 => buckets_and_book_n::<3>(mask, labels, x, rows, k0, demean_by, s, out),
            _ => buckets_and_book_n::<4>(mask, labels, x, rows, k0, demean_by, s, out),
        };
        k0 += done;
    }
}

/// Where [`buckets_and_book_n`] writes: `(Q, H)` bucket means and counts and the `(H,)` book.
struct Outputs<'a> {
    q_len: usize,
    h_len: usize,
    m_row: &'a mut [f64],
    c_row: &'a mut [u32],
    book: &'a mut [f64],
}

/// [`buckets_and_book`] for the `C` horizons `k0..k0 + C`; returns `C`. Each horizon's sums run
/// over its members in ascending order, as in [`quantile_one`] and [`book_one`].
#[allow(clippy::too_many_arguments)]
fn buckets_and_book_n<const C: usize>(
    mask: &[u64],
    labels: &[i32],
    x: &[f64],
    rows: &[&[f64]],
    k0: usize,
    demean_by: Demean,
    s: &mut Work,
    o: Outputs<'_>,
) -> usize {
    let (q_len, h_len) = (o.q_len, o.h_len);
    let rows: [&[f64]; C] = std::array::from_fn(|c| rows[k0 + c]);
    let pair = |m: u64, c: usize| (m >> (1 + k0 + c)) & 1 == 1;
    // the initial values of the per-horizon routines' sums (`0.0` in `quantile_one`, `-0.0` in
    // the `Iterator::sum` of `book_one`), so even the signs of zeros agree; counts are integers
    // (their float sums of ones there are exact)
    let (mut sy, mut sx) = ([0.0f64; C], [-0.0f64; C]);
    let (mut nb, mut np) = ([0u32; C], [0u32; C]);
    // each horizon's first signal and whether every member has that value (see `book_mean`)
    let (mut x0, mut flat) = ([0.0f64; C], [true; C]);
    for (i, &m) in mask.iter().enumerate() {
        if (m >> (1 + k0)) & ((1 << C) - 1) == 0 {
            continue;
        }
        let labelled = labels[i] >= 0;
        for c in 0..C {
            if pair(m, c) {
                if labelled {
                    sy[c] += rows[c][i];
                    nb[c] += 1;
                }
                if np[c] == 0 {
                    x0[c] = x[i];
                } else if x[i] != x0[c] {
                    flat[c] = false;
                }
                sx[c] += x[i];
                np[c] += 1;
            }
        }
    }
    let my: [f64; C] = std::array::from_fn(|c| if demean_by == Demean::All { sy[c] / nb[c] as f64 } else { 0.0 });
    let mx: [f64; C] = std::array::from_fn(|c| book_mean(sx[c], np[c] as usize, flat[c], x0[c]));
    s.qsums.clear();
    s.qsums.resize(q_len * C, (0.0, 0.0));
    s.counts.clear();
    s.counts.resize(q_len * C, 0);
    let (mut gross, mut dot) = ([-0.0f64; C], [-0.0f64; C]);
    for (i, &m) in mask.iter().enumerate() {
        if (m >> (1 + k0)) & ((1 << C) - 1) == 0 {
            continue;
        }
        let q = labels[i];
        for c in 0..C {
            if pair(m, c) {
                let y = rows[c][i];
                if q >= 0 {
                    let yi = if demean_by == Demean::All { y - my[c] } else { y };
                    s.qsums[q as usize * C + c].0 += yi;
                    s.counts[q as usize * C + c] += 1;
                }
                let d = x[i] - mx[c];
                gross[c] += d.abs();
                dot[c] += d * y;
            }
        }
    }
    for c in 0..C {
        let k = k0 + c;
        if np[c] == 0 {
            continue; // no pair: no bucket either (bucketed members are pairs)
        }
        o.book[k] = book_return(dot[c], gross[c]);
        if nb[c] > 0 {
            for q in 0..q_len {
                let j = q * h_len + k;
                let n = s.counts[q * C + c];
                o.c_row[j] = n;
                if n > 0 {
                    o.m_row[j] = s.qsums[q * C + c].0 / n as f64;
                }
            }
        }
    }
    C
}

/// Turnover of each bucket between `cur` and `prev` labels, into `row[q * stride + k]`.
fn turnover_one(cur: &[i32], prev: &[i32], n_buckets: usize, counts: &mut Vec<u32>, row: &mut [f64], k: usize, stride: usize) {
    if n_buckets <= 8 {
        // few buckets: count every bucket at once (branch-free, vector lanes)
        let (mut now, mut before, mut new) = ([0u32; 8], [0u32; 8], [0u32; 8]);
        for (&c, &p) in cur.iter().zip(prev) {
            let moved = (c != p) as u32;
            for q in 0..8 {
                let in_c = (c == q as i32) as u32;
                now[q] += in_c;
                before[q] += (p == q as i32) as u32;
                new[q] += in_c & moved;
            }
        }
        for q in 0..n_buckets {
            if now[q] > 0 && before[q] > 0 {
                row[q * stride + k] = new[q] as f64 / now[q] as f64;
            }
        }
        return;
    }
    counts.clear();
    counts.resize(3 * n_buckets, 0); // [now | before | new]
    for (&c, &p) in cur.iter().zip(prev) {
        if c >= 0 {
            counts[c as usize] += 1;
            if c != p {
                counts[2 * n_buckets + c as usize] += 1;
            }
        }
        if p >= 0 {
            counts[n_buckets + p as usize] += 1;
        }
    }
    for q in 0..n_buckets {
        let (now, before, new) = (counts[q], counts[n_buckets + q], counts[2 * n_buckets + q]);
        if now > 0 && before > 0 {
            row[q * stride + k] = new as f64 / now as f64;
        }
    }
}

/// Rank autocorrelation of one date from the doubled-rank rows of t and t − lag (0 = not ranked):
/// the Pearson correlation over the assets ranked on both dates, from exact integer sums (so it
/// does not depend on the order of summation). NaN with fewer than 2 common assets or no
/// dispersion; clipped to [−1, 1].
fn autocorr_one(cur: &[u32], prev: &[u32]) -> f64 {
    // doubled ranks are at most 2N < 2^31: a block of `block` squares fits a u64
    let top = 2 * cur.len() as u64 + 2;
    let block = (u64::MAX / (top * top)).clamp(1, 1 << 16) as usize;
    let (mut m, mut sa, mut sb, mut saa, mut sbb, mut sab) = (0u64, 0u128, 0u128, 0u128, 0u128, 0u128);
    for (ca, cb) in cur.chunks(block).zip(prev.chunks(block)) {
        let (mut bm, mut ba, mut bb, mut baa, mut bbb, mut bab) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        for (&a, &b) in ca.iter().zip(cb) {
            let both = (a != 0) & (b != 0);
            let (a, b) = (if both { a as u64 } else { 0 }, if both { b as u64 } else { 0 });
            bm += both as u64;
            ba += a;
            bb += b;
            baa += a * a;
            bbb += b * b;
            bab += a * b;
        }
        m += bm;
        sa += ba as u128;
        sb += bb as u128;
        saa += baa as u128;
        sbb += bbb as u128;
        sab += bab as u128;
    }
    if m < 2 {
        return f64::NAN;
    }
    let m = m as u128;
    // m² var and m² cov, exact (non-negative variances by Cauchy-Schwarz)
    let (va, vb) = (m * saa - sa * sa, m * sbb - sb * sb);
    if va == 0 || vb == 0 {
        return f64::NAN;
    }
    let cov = (m * sab) as i128 - (sa * sb) as i128;
    (cov as f64 / ((va as f64).sqrt() * (vb as f64).sqrt())).clamp(-1.0, 1.0)
}

/// Each date's finite values sorted (asset indices), flat `(T, N)` with the count per date.
fn sorted_rows(r: &[f64], t_len: usize, n: usize) -> (Vec<u32>, Vec<usize>) {
    let mut order = vec![0u32; t_len * n];
    let mut counts = vec![0usize; t_len];
    if n > 0 {
        order
            .par_chunks_mut(n)
            .zip(counts.par_iter_mut())
            .enumerate()
            .for_each_init(
                || (SortKeys::default(), Vec::<u32>::new()),
                |(keys, o), (t, (row, c))| {
                    if parallel::cancelled() {
                        return;
                    }
                    let x = &r[t * n..(t + 1) * n];
                    sort_by_value(x, (0..n as u32).filter(|&i| x[i as usize].is_finite()), keys, o);
                    row[..o.len()].copy_from_slice(o);
                    *c = o.len();
                },
            );
    }
    (order, counts)
}

// ---------------------------------------------------------------------------------------------
// Kernels
// ---------------------------------------------------------------------------------------------

/// `(1 + g)(1 + v) − 1`, computed as `g + v + g·v` so that small returns keep their digits: a
/// product of `1 + r` factors rounds every return to a multiple of ε (2.2e-16), which is all of a
/// return of 1e-14 and 2e-8 of one of 1e-8, and makes the one-date forward return differ from the
/// return. From `g = 0` the one-date forward return is the return itself, bit for bit.
///
/// A total loss stays one: `(1 + g)(1 + v)` is 0 when either is −1, and never negative, so the
/// result is exactly −1 then and never below it (`g + v + g·v` from `g = −1` is `−1 + v − v`,
/// which rounds to −1 ± ε and broke the ties of wiped-out assets, or gave a date on which every
/// asset lost everything a "dispersion" of rounding). NaN stays NaN (a missing return).
#[inline(always)]
fn compound(g: f64, v: f64) -> f64 {
    let c = g + v + g * v;
    if g == -1.0 || v == -1.0 || c < -1.0 {
        // (NaN compares false: a missing v after a loss is still NaN)
        if c.is_nan() { c } else { -1.0 }
    } else {
        c
    }
}

/// Forward returns `(H, T, N)`: `out[k, t, i] = Π_{s=t+1..t+h_k} (1 + returns[s, i]) − 1`, NaN when
/// any of those returns is missing or `t + h_k ≥ T`. `horizons` ≥ 1. Compounded by [`compound`]
/// (the one-date forward return is the return).
pub fn forward_returns(returns: ArrayView2<'_, f64>, horizons: &[usize]) -> Result<Array3<f64>> {
    let (t_len, n) = returns.dim();
    if horizons.iter().any(|&h| h == 0) {
        return Err(value_error!("horizons must be >= 1"));
    }
    let r = flat("returns", returns, (t_len, n))?;
    let h_len = horizons.len();
    let mut out = Array3::<f64>::zeros((h_len, t_len, n));
    if n == 0 || t_len == 0 || h_len == 0 {
        return Ok(out);
    }
    let flat_out = out.as_slice_mut().expect("fresh array is contiguous");
    // one (date, horizon) row per task, written in place: Π over the h returns after the date
    flat_out.par_chunks_mut(n).enumerate().for_each(|(j, row)| {
        let (k, t) = (j / t_len, j % t_len);
        let h = horizons[k];
        if parallel::cancelled() || h >= t_len - t {
            row.fill(f64::NAN);
            return;
        }
        row.fill(0.0);
        for s in t + 1..=t + h {
            for (p, &v) in row.iter_mut().zip(&r[s * n..(s + 1) * n]) {
                *p = compound(*p, v);
            }
        }
    });
    Ok(out)
}

/// Information coefficient per date and horizon: the (weighted) Spearman or Pearson correlation
/// between `signal[t]` and the forward returns of date t over the pair sample (the base sample
/// with a finite forward return at that horizon). With `group_adjust` the forward returns are
/// first demeaned within each group (over the pair sample; weighted with weights). Returns
/// `(ic (T, H), n_obs (T, H))`; NaN where fewer than 2 assets or no dispersion.
pub fn information_coefficient(
    sample: &Sample<'_>,
    forward: Forward<'_>,
    method: Method,
    group_adjust: bool,
) -> Result<(Array2<f64>, Array2<u32>)> {
    let b = Base::new(sample)?;
    let f = Fwd::new(forward, b.t, b.n)?;
    if group_adjust && b.g.is_none() {
        return Err(value_error!("industry adjustment needs industry codes"));
    }
    let (t_len, n, h_len) = (b.t, b.n, f.h);
    let mut ic = Array2::<f64>::from_elem((t_len, h_len), f64::NAN);
    let mut nobs = Array2::<u32>::zeros((t_len, h_len));
    if t_len == 0 || h_len == 0 {
        return Ok((ic, nobs));
    }
    // one-period returns ahead (IC decay): each date's returns sorted once, then walked
    let presorted = match (forward, method) {
        (Forward::Lagged(r, _), Method::Spearman) if !group_adjust => {
            Some(sorted_rows(r.to_slice().ok_or_else(|| value_error!("returns must be C-contiguous"))?, t_len, n))
        }
        _ => None,
    };
    let ic_flat = ic.as_slice_mut().expect("fresh array is contiguous");
    let n_flat = nobs.as_slice_mut().expect("fresh array is contiguous");
    ic_flat
        .par_chunks_mut(h_len)
        .zip(n_flat.par_chunks_mut(h_len))
        .enumerate()
        .for_each_init(Scratch::default, |s, (t, (ic_row, n_row))| {
            ic_row.fill(f64::NAN);
            if parallel::cancelled() {
                return;
            }
            b.fill(t, &mut s.keep);
            s.w.new_date();
            let x = b.row(b.x, t);
            let w = b.w.map(|w| b.row(w, t));
            let g = b.g.map(|g| (b.row(g, t), b.n_groups));
            if method == Method::Spearman {
                sort_members(x, &s.keep, &mut s.keys, &mut s.order);
            }
            for k in 0..h_len {
                let Some(fr) = f.row(k, t) else { continue };
                let y_order = presorted.as_ref().and_then(|(o, c)| {
                    let lags = f.lags?;
                    let d = t + lags[k];
                    Some(&o[d * n..d * n + c[d]])
                });
                pair_members(&s.keep, fr, &mut s.pair, &mut s.idx);
                n_row[k] = s.idx.len() as u32;
                ic_row[k] = ic_pair(x, &s.order, &s.pair, &s.idx, fr, y_order, w, g, method, group_adjust, &mut s.w);
            }
        });
    Ok((ic, nobs))
}

/// Average 1-based ranks of `sorted` (indices sorted by `x`), written to `out[i]`: ties (equal
/// values, adjacent) share the mean of their positions.
fn rank_sorted(sorted: &[u32], x: &[f64], out: &mut [f64]) {
    let m = sorted.len();
    if m == 0 {
        return;
    }
    // the run of equal values starts at `i`; it ends where the value changes
    let mut i = 0;
    let mut v = x[sorted[0] as usize];
    for j in 1..m {
        let next = x[sorted[j] as usize];
        if next != v {
            write_run(&sorted[i..j], i, out);
            i = j;
            v = next;
        }
    }
    write_run(&sorted[i..], i, out);
}

/// The rank of the tied run `run` starting at position `start` (0-based): the mean of its 1-based
/// positions.
#[inline]
fn write_run(run: &[u32], start: usize, out: &mut [f64]) {
    if let [k] = run {
        out[*k as usize] = (start + 1) as f64;
    } else {
        let r = (2 * start + run.len() + 1) as f64 * 0.5;
        for &k in run {
            out[k as usize] = r;
        }
    }
}

/// Doubled average 1-based ranks (`2 × rankdata`, integers) of `sorted` (indices sorted by `x`),
/// written to `out[i]`: ties share the mean of their positions.
fn rank2_sorted(sorted: &[u32], x: &[f64], out: &mut [u32]) {
    for_each_tie_run(sorted, x, |i, j| {
        let r2 = (i + j + 1) as u32; // 2 · (mean of positions i+1..=j)
        for &k in &sorted[i..j] {
            out[k as usize] = r2;
        }
    });
}

/// Call `f(start, end)` for every run `order[start..end]` (one or more items, in order) of
/// indices whose values `x[i]` are equal (`order` sorts `x`), found by one scan of neighbours.
#[inline(always)]
fn for_each_tie_run(order: &[u32], x: &[f64], mut f: impl FnMut(usize, usize)) {
    let len = order.len();
    let mut j = 0;
    while j < len {
        let v = x[order[j] as usize];
        let mut e = j + 1;
        while e < len && x[order[e] as usize] == v {
            e += 1;
        }
        f(j, e);
        j = e;
    }
}

/// Bucket labels `(T, N)` (0-based, −1 = none) of the base sample, per date or, with
/// `by_group`, per date and group, exactly as alphalens' `quantize_factor` (pandas `qcut`/`cut`
/// per group of the groupby). A date (or group) whose edges repeat gets no labels.
pub fn quantile_labels(sample: &Sample<'_>, buckets: &Buckets, by_group: bool) -> Result<Array2<i32>> {
    let b = Base::new(sample)?;
    if by_group && b.g.is_none() {
        return Err(value_error!("binning by industry needs industry codes"));
    }
    if buckets.is_empty() {
        return Err(value_error!("at least one bucket is needed"));
    }
    let (t_len, n) = (b.t, b.n);
    let mut out = Array2::<i32>::from_elem((t_len, n), -1);
    let flat_out = out.as_slice_mut().expect("fresh array is contiguous");
    par_dates(flat_out, n, -1, |s, t, row| {
        b.fill(t, &mut s.keep);
        let x = b.row(b.x, t);
        sort_members(x, &s.keep, &mut s.keys, &mut s.order);
        let g = b.g.map(|g| (b.row(g, t), b.n_groups));
        labels_one(x, &s.order, g, by_group, buckets, &mut s.w, row);
    });
    Ok(out)
}

/// Label the assets `members` (sorted by `x`) into `row`.
fn label_sorted(members: &[u32], x: &[f64], buckets: &Buckets, sorted: &mut Vec<f64>, edges: &mut Vec<f64>, row: &mut [i32]) {
    if members.is_empty() {
        return;
    }
    sorted.clear();
    sorted.extend(members.iter().map(|&i| x[i as usize]));
    let Some(lowest) = buckets.edges(sorted, edges) else { return };
    for &i in members {
        if let Some(q) = bucket_of(x[i as usize], edges, lowest) {
            row[i as usize] = q as i32;
        }
    }
}

/// How forward returns are demeaned before bucket means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Demean {
    None,
    /// Minus the (weighted) mean of the date's bucketed assets.
    All,
    /// Minus the (weighted) mean of the asset's group on the date.
    Group,
}

/// Check labels, groups and weights of the bucket statistics.
fn check_buckets<'a>(
    labels: ArrayView2<'a, i32>,
    n_buckets: usize,
    groups: Option<(ArrayView2<'a, i32>, usize)>,
    weights: Option<ArrayView2<'a, f64>>,
    demean_by: Demean,
) -> Result<(&'a [i32], Option<(&'a [i32], usize)>, Option<&'a [f64]>)> {
    let shape = labels.dim();
    let lab = flat("labels", labels, shape)?;
    if let Some(&bad) = lab.iter().find(|&&q| q < -1 || q >= n_buckets as i32) {
        return Err(value_error!("labels must lie in -1..{n_buckets}, got {bad}"));
    }
    let g = match groups {
        Some((g, ng)) => {
            let gs = flat("groups", g, shape)?;
            if let Some(&bad) = gs.iter().find(|&&c| c < -1 || c >= ng as i32) {
                return Err(value_error!("industry codes must lie in -1..{ng}, got {bad}"));
            }
            Some((gs, ng))
        }
        None => None,
    };
    if demean_by == Demean::Group && g.is_none() {
        return Err(value_error!("demeaning by industry needs industry codes"));
    }
    let w = weights.map(|w| flat("weights", w, shape)).transpose()?;
    Ok((lab, g, w))
}

/// Mean forward return per date, bucket and horizon `(T, Q, H)` (weighted with weights) and the
/// number of assets behind each `(T, Q, H)`. An asset counts at a horizon when it has a label
/// (≥ 0), a finite forward return there and, with weights, a finite weight; demeaning uses the same
/// assets. Empty buckets are NaN with count 0.
pub fn quantile_returns(
    labels: ArrayView2<'_, i32>,
    n_buckets: usize,
    forward: ArrayView3<'_, f64>,
    groups: Option<(ArrayView2<'_, i32>, usize)>,
    weights: Option<ArrayView2<'_, f64>>,
    demean_by: Demean,
) -> Result<(Array3<f64>, Array3<u32>)> {
    let (t_len, n) = labels.dim();
    let (lab, g, w) = check_buckets(labels, n_buckets, groups, weights, demean_by)?;
    let f = Fwd::new(Forward::Stack(forward), t_len, n)?;
    let (q_len, h_len) = (n_buckets, f.h);
    let width = q_len * h_len;
    let mut mean = Array3::<f64>::from_elem((t_len, q_len, h_len), f64::NAN);
    let mut count = Array3::<u32>::zeros((t_len, q_len, h_len));
    if width == 0 || t_len == 0 {
        return Ok((mean, count));
    }
    let mean_flat = mean.as_slice_mut().expect("fresh array is contiguous");
    let count_flat = count.as_slice_mut().expect("fresh array is contiguous");
    mean_flat
        .par_chunks_mut(width)
        .zip(count_flat.par_chunks_mut(width))
        .enumerate()
        .for_each_init(Work::default, |s, (t, (m_row, c_row))| {
            if parallel::cancelled() {
                return;
            }
            let lr = &lab[t * n..(t + 1) * n];
            let wr = w.map(|w| &w[t * n..(t + 1) * n]);
            let gr = g.map(|(g, ng)| (&g[t * n..(t + 1) * n], ng));
            for k in 0..h_len {
                let Some(fr) = f.row(k, t) else { continue };
                quantile_one(lr, 0..n as u32, fr, wr, gr, demean_by, s, m_row, c_row, k, h_len);
            }
        });
    Ok((mean, count))
}

/// alphalens' `factor_weights` of one group of values `x` (in place): demeaned (minus the mean,
/// or with `equal_weight` minus the median then ±1 split equally within each side), divided by
/// the sum of absolute values (all zero when that sum is 0).
fn to_weights(x: &mut [f64], demeaned: bool, equal_weight: bool, sorted: &mut Vec<f64>) {
    if x.is_empty() {
        return;
    }
    if equal_weight {
        if demeaned {
            sorted.clear();
            sorted.extend_from_slice(x);
            sorted.sort_unstable_by(|a, b| a.total_cmp(b));
            let m = sorted.len();
            let med = if m % 2 == 1 { sorted[m / 2] } else { (sorted[m / 2 - 1] + sorted[m / 2]) / 2.0 };
            for v in x.iter_mut() {
                *v -= med;
            }
        }
        let neg = x.iter().filter(|&&v| v < 0.0).count();
        let pos = x.iter().filter(|&&v| v > 0.0).count();
        for v in x.iter_mut() {
            if *v < 0.0 {
                *v = if demeaned { -1.0 / neg as f64 } else { -1.0 };
            } else if *v > 0.0 {
                *v = if demeaned { 1.0 / pos as f64 } else { 1.0 };
            }
        }
    } else if demeaned {
        let m = book_mean(x.iter().sum::<f64>(), x.len(), x.iter().all(|&v| v == x[0]), x[0]);
        for v in x.iter_mut() {
            *v -= m;
        }
    }
    let denom: f64 = x.iter().map(|v| v.abs()).sum();
    if denom == 0.0 {
        x.iter_mut().for_each(|v| *v *= 0.0);
    } else {
        x.iter_mut().for_each(|v| *v /= denom);
    }
}

/// Return of the factor-weighted book per date and horizon `(T, H)` (alphalens'
/// `factor_returns`): on the pair sample of each horizon, weights are the signal demeaned (or
/// not) over its absolute sum, within each group and then rescaled to a gross of 1 when
/// `group_neutral`; the return is Σ weight × forward return. NaN when the pair sample is empty.
pub fn factor_weighted_returns(
    sample: &Sample<'_>,
    forward: ArrayView3<'_, f64>,
    demeaned: bool,
    group_neutral: bool,
    equal_weight: bool,
) -> Result<Array2<f64>> {
    let b = Base::new(sample)?;
    let f = Fwd::new(Forward::Stack(forward), b.t, b.n)?;
    if group_neutral && b.g.is_none() {
        return Err(value_error!("an industry-neutral book needs industry codes"));
    }
    let (t_len, h_len) = (b.t, f.h);
    let mut out = Array2::<f64>::from_elem((t_len, h_len), f64::NAN);
    let flat_out = out.as_slice_mut().expect("fresh array is contiguous");
    par_dates(flat_out, h_len, f64::NAN, |s, t, row| {
        b.fill(t, &mut s.keep);
        let x = b.row(b.x, t);
        let neutral = if group_neutral { b.g.map(|g| b.row(g, t)) } else { None };
        for k in 0..h_len {
            let Some(fr) = f.row(k, t) else { continue };
            pair_members(&s.keep, fr, &mut s.pair, &mut s.idx);
            row[k] = book_one(x, &s.idx, fr, neutral, demeaned, equal_weight, &mut s.w);
        }
    });
    Ok(out)
}

/// Share of the assets in each bucket at t that were not in it at t − lag, `(T, Q, L)` for each of
/// the `lags`: NaN for t < lag and where either date's bucket is empty (alphalens'
/// `quantile_turnover`).
pub fn quantile_turnover(labels: ArrayView2<'_, i32>, n_buckets: usize, lags: &[usize]) -> Result<Array3<f64>> {
    let (t_len, n) = labels.dim();
    let (lab, _, _) = check_buckets(labels, n_buckets, None, None, Demean::None)?;
    if lags.iter().any(|&l| l == 0) {
        return Err(value_error!("lag must be >= 1"));
    }
    let l_len = lags.len();
    let mut out = Array3::<f64>::from_elem((t_len, n_buckets, l_len), f64::NAN);
    let flat_out = out.as_slice_mut().expect("fresh array is contiguous");
    par_dates(flat_out, n_buckets * l_len, f64::NAN, |s, t, row| {
        for (k, &lag) in lags.iter().enumerate() {
            if t >= lag {
                let (cur, prev) = (&lab[t * n..(t + 1) * n], &lab[(t - lag) * n..(t - lag + 1) * n]);
                turnover_one(cur, prev, n_buckets, &mut s.w.counts, row, k, l_len);
            }
        }
    });
    Ok(out)
}

/// Correlation between the signal's ranks at t and at t − lag over the assets ranked on both
/// dates, `(T, L)` for each of the `lags` (alphalens' `factor_rank_autocorrelation`: ranks among
/// each date's base sample, then a Pearson correlation on the common assets). NaN for t < lag,
/// fewer than 2 common assets or no dispersion.
pub fn rank_autocorrelation(sample: &Sample<'_>, lags: &[usize]) -> Result<Array2<f64>> {
    let b = Base::new(sample)?;
    if lags.iter().any(|&l| l == 0) {
        return Err(value_error!("lag must be >= 1"));
    }
    let (t_len, n, l_len) = (b.t, b.n, lags.len());
    let mut out = Array2::<f64>::from_elem((t_len, l_len), f64::NAN);
    if n == 0 || l_len == 0 {
        return Ok(out);
    }
    let mut ranks = vec![0u32; t_len * n];
    par_dates(&mut ranks, n, 0, |s, t, row| {
        b.fill(t, &mut s.keep);
        let x = b.row(b.x, t);
        sort_members(x, &s.keep, &mut s.keys, &mut s.order);
        rank2_sorted(&s.order, x, row);
    });
    autocorr_into(&ranks, n, lags, out.as_slice_mut().expect("fresh array is contiguous"));
    Ok(out)
}

fn autocorr_into(ranks: &[u32], n: usize, lags: &[usize], out: &mut [f64]) {
    par_dates(out, lags.len(), f64::NAN, |_, t, row| {
        let cur = &ranks[t * n..(t + 1) * n];
        for (k, &lag) in lags.iter().enumerate() {
            if t >= lag {
                row[k] = autocorr_one(cur, &ranks[(t - lag) * n..(t - lag + 1) * n]);
            }
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The whole evaluation in one pass over the dates
// ---------------------------------------------------------------------------------------------

/// Settings of [`evaluate_panel`].
pub struct Settings<'a> {
    pub method: Method,
    pub buckets: &'a Buckets,
    /// Cut the buckets within each group.
    pub by_group: bool,
    /// Demean the bucket returns (by group when groups are given).
    pub demeaned: bool,
    /// Group-adjust the IC and make the book group neutral when groups are given.
    pub group_adjust: bool,
    /// alphalens' sample: every horizon finite, and only bucketed rows in every statistic.
    pub common: bool,
    /// Lags of the IC decay (one-period returns ahead), ≥ 1.
    pub decay_lags: &'a [usize],
}

/// Everything [`evaluate_panel`] computes (H horizons, Q buckets, L decay lags).
pub struct Evaluation {
    pub ic: Array2<f64>,
    pub n_obs: Array2<u32>,
    pub labels: Array2<i32>,
    pub by_date: Array3<f64>,
    pub counts: Array3<u32>,
    pub factor_returns: Array2<f64>,
    /// Turnover at a lag of each horizon, `(T, Q, H)`.
    pub turnover: Array3<f64>,
    /// Rank autocorrelation at a lag of each horizon, `(T, H)`.
    pub autocorrelation: Array2<f64>,
    pub decay: Array2<f64>,
}

/// The forward-return rows of date `t` for every horizon into `out` (`H × N`, horizon `k` at
/// `out[k n..(k + 1) n]`), bit for bit [`forward_returns`]: one running product over the returns
/// after t, read off at each horizon in increasing order (`by_h`: horizon indices sorted by h).
fn forward_rows(r: &[f64], t_len: usize, n: usize, t: usize, horizons: &[usize], by_h: &[usize], prod: &mut Vec<f64>, out: &mut [f64]) {
    prod.clear();
    prod.resize(n, 0.0);
    let mut s = t + 1;
    for &k in by_h {
        let h = horizons[k];
        let row = &mut out[k * n..(k + 1) * n];
        if h >= t_len - t {
            row.fill(f64::NAN);
            continue;
        }
        while s <= t + h {
            for (p, &v) in prod.iter_mut().zip(&r[s * n..(s + 1) * n]) {
                *p = compound(*p, v);
            }
            s += 1;
        }
        row.copy_from_slice(prod);
    }
}

/// The whole evaluation: IC, buckets and their returns, the factor-weighted book, turnover and
/// rank autocorrelation at a lag of each horizon, and the IC decay, sorting each date's signal
/// once (and each date's returns once for the decay and the one-date horizon). Bit for bit the
/// results of the separate kernels with the same settings. `sample.common` and `sample.labels`
/// must be `None` (the common sample is `settings.common`).
///
/// `forward`: the `(H, T, N)` forward returns of `returns` at `horizons` (≥ 1), e.g. after an
/// outlier filter; `None` computes them date by date inside the pass (bit for bit
/// [`forward_returns`], without the `(H, T, N)` array).
pub fn evaluate_panel(
    sample: &Sample<'_>,
    returns: ArrayView2<'_, f64>,
    forward: Option<ArrayView3<'_, f64>>,
    horizons: &[usize],
    set: &Settings<'_>,
) -> Result<Evaluation> {
    if sample.common.is_some() || sample.labels.is_some() {
        return Err(value_error!("evaluate_panel takes the common sample from its settings"));
    }
    let b = Base::new(sample)?;
    let (t_len, n) = (b.t, b.n);
    let f = forward.map(|fw| Fwd::new(Forward::Stack(fw), t_len, n)).transpose()?;
    let dl = Fwd::new(Forward::Lagged(returns, set.decay_lags), t_len, n)?;
    let (h_len, l_len, q_len) = (horizons.len(), dl.h, set.buckets.len());
    if f.is_some_and(|f| f.h != h_len) || horizons.iter().any(|&h| h == 0) {
        return Err(value_error!("horizons must be {h_len} lags >= 1, one per forward slice"));
    }
    if q_len == 0 {
        return Err(value_error!("at least one bucket is needed"));
    }
    if (set.by_group || set.group_adjust) && b.g.is_none() {
        return Err(value_error!("binning or adjusting by industry needs industry codes"));
    }
    let demean_by = match (set.demeaned, b.g.is_some()) {
        (false, _) => Demean::None,
        (true, false) => Demean::All,
        (true, true) => Demean::Group,
    };
    let r = dl.data;
    let mut by_h: Vec<usize> = (0..h_len).collect();
    by_h.sort_by_key(|&k| horizons[k]);
    // each date's finite returns sorted once: walked for the IC decay and, when the forward
    // returns are computed here, for the one-date horizon (whose forward return is r itself, so
    // r's order is the order of the forward returns and the average ranks are exact)
    let walk_h1 = f.is_none() && horizons.contains(&1);
    let presorted = (set.method == Method::Spearman && !set.group_adjust && (l_len > 0 || walk_h1))
        .then(|| sorted_rows(r, t_len, n));

    // unweighted Spearman without industry adjustment: every rank correlation of the date from
    // one walk of the signal order and one walk of each return order ([`MultiRank`])
    let n_samples = 1 + h_len + l_len;
    let fused = set.method == Method::Spearman
        && b.w.is_none()
        && !set.group_adjust
        && n_samples <= MultiRank::MAX_SAMPLES
        && n < EXACT_RANKS;

    // zeroed (lazily, by the system) and filled with −1 by each date's task, in parallel
    let mut labels = Array2::<i32>::zeros((t_len, n));
    let mut ranks = vec![0u32; t_len * n];
    struct Small {
        ic: Vec<f64>,
        n_obs: Vec<u32>,
        by_date: Vec<f64>,
        counts: Vec<u32>,
        book: Vec<f64>,
        decay: Vec<f64>,
    }
    let lab_flat = labels.as_slice_mut().expect("fresh array is contiguous");
    let small: Vec<Small> = if n == 0 {
        Vec::new()
    } else {
        lab_flat
            .par_chunks_mut(n)
            .zip(ranks.par_chunks_mut(n))
            .enumerate()
            .map_init(
                || (Scratch::default(), Vec::<f64>::new(), Vec::<f64>::new()),
                |(s, fbuf, prod), (t, (lrow, rrow))| {
                    let mut out = Small {
                        ic: vec![f64::NAN; h_len],
                        n_obs: vec![0; h_len],
                        by_date: vec![f64::NAN; q_len * h_len],
                        counts: vec![0; q_len * h_len],
                        book: vec![f64::NAN; h_len],
                        decay: vec![f64::NAN; l_len],
                    };
                    lrow.fill(-1);
                    if parallel::cancelled() {
                        return out;
                    }
                    s.w.new_date();
                    let x = b.row(b.x, t);
                    let w = b.w.map(|w| b.row(w, t));
                    let g = b.g.map(|g| (b.row(g, t), b.n_groups));
                    // this date's forward returns, one row per horizon
                    if f.is_none() {
                        fbuf.resize(h_len * n, f64::NAN);
                        forward_rows(r, t_len, n, t, horizons, &by_h, prod, fbuf);
                    }
                    let fbuf: &[f64] = fbuf;
                    let frow = |k: usize| -> &[f64] {
                        match &f {
                            Some(f) => f.row(k, t).expect("a forward stack has every row"),
                            None => &fbuf[k * n..(k + 1) * n],
                        }
                    };
                    // the base sample and its order: one sort of the signal per date
                    b.fill(t, &mut s.keep);
                    sort_members(x, &s.keep, &mut s.keys, &mut s.order);
                    // buckets (on the common sample in alphalens' mode), then the statistics' sample
                    s.keep2.clear();
                    s.keep2.extend_from_slice(&s.keep);
                    if set.common {
                        for (i, k) in s.keep2.iter_mut().enumerate() {
                            if *k {
                                *k = (0..h_len).all(|j| frow(j)[i].is_finite());
                            }
                        }
                    }
                    s.sub.clear();
                    s.sub.extend(s.order.iter().copied().filter(|&i| s.keep2[i as usize]));
                    labels_one(x, &s.sub, g, set.by_group, set.buckets, &mut s.w, lrow);
                    if set.common {
                        for (k, &q) in s.keep2.iter_mut().zip(lrow.iter()) {
                            *k &= q >= 0;
                        }
                    }
                    let neutral = if set.group_adjust { g.map(|(g, _)| g) } else { None };
                    if fused {
                        // samples: 0 the base (ranks for the autocorrelation), 1 + k horizon k's
                        // pairs, 1 + H + l decay lag l's pairs
                        let mr = &mut s.multi;
                        mr.reset(n, n_samples);
                        mr.set_sample(0, s.keep2.iter().copied());
                        for k in 0..h_len {
                            let it = s.keep2.iter().zip(frow(k)).map(|(&a, y)| a & y.is_finite());
                            mr.set_sample(1 + k, it);
                        }
                        if l_len > 0 {
                            // the decay's base sample (every lag finite in alphalens' mode)
                            s.pair.clear();
                            s.pair.extend_from_slice(&s.keep);
                            if set.common {
                                for (i, k) in s.pair.iter_mut().enumerate() {
                                    *k = *k && dl.all_finite(t, i);
                                }
                            }
                            for l in 0..l_len {
                                if let Some(yr) = dl.row(l, t) {
                                    let it = s.pair.iter().zip(yr).map(|(&a, y)| a & y.is_finite());
                                    mr.set_sample(1 + h_len + l, it);
                                }
                            }
                        }
                        mr.walk_signal(&s.order, x, rrow);
                        for k in 0..h_len {
                            let fr = frow(k);
                            let bit = 1 + k;
                            out.n_obs[k] = mr.count[bit];
                            let y_order: &[u32] = match &presorted {
                                Some((o, c)) if walk_h1 && horizons[k] == 1 && t + 1 < t_len => {
                                    &o[(t + 1) * n..(t + 1) * n + c[t + 1]]
                                }
                                _ => {
                                    let mask = &mr.mask;
                                    let members = (0..n as u32).filter(|&i| (mask[i as usize] >> bit) & 1 == 1);
                                    sort_by_value(fr, members, &mut s.keys, &mut s.sub);
                                    &s.sub
                                }
                            };
                            out.ic[k] = mr.correlation(bit, y_order, fr);
                        }
                        for l in 0..l_len {
                            let Some(yr) = dl.row(l, t) else { continue };
                            let (o, c) = presorted.as_ref().expect("sorted for the decay");
                            let d = t + set.decay_lags[l];
                            out.decay[l] = mr.correlation(1 + h_len + l, &o[d * n..d * n + c[d]], yr);
                        }
                        if g.is_none() {
                            let rows: Vec<&[f64]> = (0..h_len).map(frow).collect();
                            buckets_and_book(&mr.mask, lrow, x, &rows, demean_by, &mut s.w, &mut out.by_date, &mut out.counts, &mut out.book);
                            return out;
                        }
                        for k in 0..h_len {
                            let fr = frow(k);
                            pair_members(&s.keep2, fr, &mut s.pair, &mut s.idx);
                            let cand = s.idx.iter().copied();
                            quantile_one(lrow, cand, fr, w, g, demean_by, &mut s.w, &mut out.by_date, &mut out.counts, k, h_len);
                            out.book[k] = book_one(x, &s.idx, fr, neutral, true, false, &mut s.w);
                        }
                        return out;
                    }
                    s.sub.clear();
                    s.sub.extend(s.order.iter().copied().filter(|&i| s.keep2[i as usize]));
                    rank2_sorted(&s.sub, x, rrow);
                    for k in 0..h_len {
                        let fr = frow(k);
                        let y_order = match &presorted {
                            Some((o, c)) if walk_h1 && horizons[k] == 1 && t + 1 < t_len => {
                                Some(&o[(t + 1) * n..(t + 1) * n + c[t + 1]])
                            }
                            _ => None,
                        };
                        pair_members(&s.keep2, fr, &mut s.pair, &mut s.idx);
                        out.n_obs[k] = s.idx.len() as u32;
                        out.ic[k] = ic_pair(x, &s.order, &s.pair, &s.idx, fr, y_order, w, g, set.method, set.group_adjust, &mut s.w);
                        // the bucketed members are in the base sample: candidates = the pair sample
                        let cand = s.idx.iter().copied();
                        quantile_one(lrow, cand, fr, w, g, demean_by, &mut s.w, &mut out.by_date, &mut out.counts, k, h_len);
                        out.book[k] = book_one(x, &s.idx, fr, neutral, true, false, &mut s.w);
                    }
                    // IC decay: the base sample (and every lag finite in alphalens' mode)
                    if l_len > 0 {
                        s.keep2.clear();
                        s.keep2.extend_from_slice(&s.keep);
                        if set.common {
                            for (i, k) in s.keep2.iter_mut().enumerate() {
                                if *k {
                                    *k = dl.all_finite(t, i);
                                }
                            }
                        }
                        for k in 0..l_len {
                            let Some(yr) = dl.row(k, t) else { continue };
                            let y_order = presorted.as_ref().map(|(o, c)| {
                                let d = t + set.decay_lags[k];
                                &o[d * n..d * n + c[d]]
                            });
                            let g2 = if set.group_adjust { g } else { None };
                            pair_members(&s.keep2, yr, &mut s.pair, &mut s.idx);
                            out.decay[k] = ic_pair(x, &s.order, &s.pair, &s.idx, yr, y_order, w, g2, set.method, set.group_adjust, &mut s.w);
                        }
                    }
                    out
                },
            )
            .collect()
    };
    let mut ev = Evaluation {
        ic: Array2::from_elem((t_len, h_len), f64::NAN),
        n_obs: Array2::zeros((t_len, h_len)),
        labels,
        by_date: Array3::from_elem((t_len, q_len, h_len), f64::NAN),
        counts: Array3::zeros((t_len, q_len, h_len)),
        factor_returns: Array2::from_elem((t_len, h_len), f64::NAN),
        turnover: Array3::from_elem((t_len, q_len, h_len), f64::NAN),
        autocorrelation: Array2::from_elem((t_len, h_len), f64::NAN),
        decay: Array2::from_elem((t_len, l_len), f64::NAN),
    };
    for (t, o) in small.into_iter().enumerate() {
        ev.ic.row_mut(t).assign(&ndarray::ArrayView1::from(&o.ic));
        ev.n_obs.row_mut(t).assign(&ndarray::ArrayView1::from(&o.n_obs));
        ev.factor_returns.row_mut(t).assign(&ndarray::ArrayView1::from(&o.book));
        ev.decay.row_mut(t).assign(&ndarray::ArrayView1::from(&o.decay));
        let w = q_len * h_len;
        ev.by_date.as_slice_mut().expect("contiguous")[t * w..(t + 1) * w].copy_from_slice(&o.by_date);
        ev.counts.as_slice_mut().expect("contiguous")[t * w..(t + 1) * w].copy_from_slice(&o.counts);
    }
    let lab = ev.labels.as_slice().expect("contiguous");
    par_dates(ev.turnover.as_slice_mut().expect("contiguous"), q_len * h_len, f64::NAN, |s, t, row| {
        for (k, &lag) in horizons.iter().enumerate() {
            if t >= lag {
                let (cur, prev) = (&lab[t * n..(t + 1) * n], &lab[(t - lag) * n..(t - lag + 1) * n]);
                turnover_one(cur, prev, q_len, &mut s.w.counts, row, k, h_len);
            }
        }
    });
    if n > 0 {
        autocorr_into(&ranks, n, horizons, ev.autocorrelation.as_slice_mut().expect("contiguous"));
    }
    Ok(ev)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    const NAN: f64 = f64::NAN;

    fn close(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-12 * (1.0 + b.abs())
    }

    fn sample(x: &Array2<f64>) -> Sample<'_> {
        Sample { signal: x.view(), groups: None, n_groups: 0, weights: None, common: None, labels: None }
    }

    #[test]
    fn book_weights_of_a_constant_signal_are_zero() {
        // (0.1 + 0.1 + 0.1) / 3 is 1 ulp above 0.1: demeaned by it and divided by the gross, the
        // three equal values got weights -1/3 each instead of none
        let mut sorted = Vec::new();
        let mut x = vec![0.1, 0.1, 0.1];
        to_weights(&mut x, true, false, &mut sorted);
        assert_eq!(x, vec![0.0, 0.0, 0.0]);
        let mut x = vec![1.0, 2.0, 3.0];
        to_weights(&mut x, true, false, &mut sorted);
        assert_eq!(x, vec![-0.5, 0.0, 0.5]);
        assert_eq!(book_mean(0.30000000000000004, 3, true, 0.1), 0.1);
    }

    #[test]
    fn qcut_levels_match_pandas() {
        // pandas.qcut's levels for q = 5 and 10 (numpy.linspace, then nextafter where inexact)
        let l5 = qcut_levels(5);
        assert_eq!(l5[0], 0.0);
        assert_eq!(l5[1], 0.2);
        assert_eq!(l5[2], 0.4);
        // linspace gives 3 · 0.2 = 0.6000000000000001, and 5 × that is not 3: one float up
        assert_eq!(l5[3], 0.6000000000000002);
        assert_eq!(l5[4], 0.8);
        assert_eq!(l5[5], 1.0);
        assert_eq!(qcut_levels(1), vec![0.0, 1.0]);
        assert_eq!(qcut_levels(10)[3], 0.3000000000000001);
        assert_eq!(qcut_levels(3)[1], 1.0 / 3.0);
    }

    #[test]
    fn sort_is_exact_for_values_that_differ_in_the_last_bits() {
        // values equal, or differing only in their lowest mantissa bits, across many indices; both
        // the comparison sort (few members) and the radix sort, members given in any order
        let base = 0.1f64;
        for n in [300u64, 3000] {
            let x: Vec<f64> = (0..n)
                .map(|i| match i % 5 {
                    0 => base,
                    1 => f64::from_bits(base.to_bits() + (n - 1 - i)),
                    2 => -f64::from_bits(base.to_bits() + i),
                    3 => if i % 2 == 0 { 0.0 } else { -0.0 },
                    _ => (i as f64).sin() * 1e-3,
                })
                .collect();
            let mut want: Vec<u32> = (0..n as u32).collect();
            want.sort_by(|&a, &b| (x[a as usize] + 0.0).total_cmp(&(x[b as usize] + 0.0)).then(a.cmp(&b)));
            let (mut keys, mut order) = (SortKeys::default(), Vec::new());
            sort_by_value(&x, 0..n as u32, &mut keys, &mut order);
            assert_eq!(order, want);
            sort_by_value(&x, (0..n as u32).rev(), &mut keys, &mut order);
            assert_eq!(order, want);
            // every value equal: every radix pass is skipped, the ties stay by index
            let same = vec![2.5; n as usize];
            sort_by_value(&same, (0..n as u32).rev(), &mut keys, &mut order);
            assert_eq!(order, (0..n as u32).collect::<Vec<_>>());
            // an outlier squeezes the others into few scaled keys (long runs), and a range too
            // wide for a float leaves a single run: still exact
            for outlier in [1e300, f64::MAX] {
                let y: Vec<f64> = (0..n)
                    .map(|i| match i {
                        7 => outlier,
                        11 => if outlier == f64::MAX { -f64::MAX } else { -1.0 },
                        _ if i % 9 == 0 => 0.25,
                        _ => (i as f64).sin() * 1e-3,
                    })
                    .collect();
                let mut want: Vec<u32> = (0..n as u32).collect();
                want.sort_by(|&a, &b| y[a as usize].total_cmp(&y[b as usize]).then(a.cmp(&b)));
                sort_by_value(&y, (0..n as u32).rev(), &mut keys, &mut order);
                assert_eq!(order, want);
            }
        }
    }

    #[test]
    fn numpy_quantile_by_hand() {
        let s = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(numpy_quantile(&s, 0.0), 1.0);
        assert_eq!(numpy_quantile(&s, 1.0), 8.0);
        assert_eq!(numpy_quantile(&s, 0.5), 3.0); // v = 1.5: from the upper end, 4 − 2·0.5
        assert_eq!(numpy_quantile(&s, 0.25), 1.75); // v = 0.75
        assert_eq!(numpy_quantile(&[5.0], 0.3), 5.0);
    }

    #[test]
    fn forward_returns_compound_and_stop_at_gaps() {
        let r = array![[0.1, 0.0], [0.2, NAN], [-0.5, 0.1], [0.0, 0.2]];
        let f = forward_returns(r.view(), &[1, 2]).unwrap();
        // horizon 1: returns[t + 1]
        assert!(close(f[[0, 0, 0]], 0.2) && f[[0, 0, 1]].is_nan());
        assert!(close(f[[0, 2, 0]], 0.0) && f[[0, 3, 0]].is_nan());
        // horizon 2: 1.2 · 0.5 − 1 = −0.4; asset 1 misses day 1
        assert!(close(f[[1, 0, 0]], -0.4) && f[[1, 0, 1]].is_nan());
        assert!(close(f[[1, 1, 1]], 1.1 * 1.2 - 1.0));
        assert!(f[[1, 2, 0]].is_nan() && f[[1, 3, 0]].is_nan());
        assert!(forward_returns(r.view(), &[0]).is_err());
    }

    #[test]
    fn a_constant_side_has_no_correlation_whatever_the_rounding() {
        // the weighted mean of 0.37s, or their plain mean, need not be 0.37: the deviations
        // left by rounding gave a "correlation" of ~1e-16 instead of NaN
        let idx: Vec<u32> = (0..7).collect();
        let x = [0.37; 7];
        let y = [0.1, -0.2, 0.3, 0.05, -0.4, 0.2, 0.0];
        let w = [3.1, 0.7, 1.9, 2.2, 0.3, 5.5, 1.0];
        assert!(correlation(&idx, &x, &y, None).is_nan());
        assert!(correlation(&idx, &x, &y, Some(&w)).is_nan());
        assert!(correlation(&idx, &y, &x, Some(&w)).is_nan());
        // a value of zero weight does not make a side vary
        let mut x2 = x;
        x2[4] = 9.0;
        let mut w2 = w;
        w2[4] = 0.0;
        assert!(correlation(&idx, &x2, &y, Some(&w2)).is_nan());
        assert!(correlation(&idx, &x2, &y, Some(&w)).is_finite());
    }

    #[test]
    fn compound_keeps_a_total_loss_exact() {
        // after a return of -1 the forward return is -1 whatever follows (not -1 +- eps)
        for v in [0.3, -0.7, 1e-17, 0.123456789, -0.5, 7.0] {
            assert_eq!(compound(-1.0, v), -1.0, "{v}");
            assert_eq!(compound(v, -1.0), -1.0, "{v}");
        }
        assert!(compound(-1.0, f64::NAN).is_nan() && compound(f64::NAN, -1.0).is_nan());
        assert_eq!(compound(0.0, 0.013), 0.013);
        let r = ndarray::array![[0.01, 0.02], [-1.0, 0.1], [0.3, -0.2], [0.123, f64::NAN]];
        let f = forward_returns(r.view(), &[1, 2, 3]).unwrap();
        assert_eq!(f[[1, 0, 0]], -1.0);
        assert_eq!(f[[2, 0, 0]], -1.0);
        assert!(f[[2, 0, 1]].is_nan());
    }

    #[test]
    fn correlation_of_any_magnitude() {
        // sums of squares that overflow (1e160) or underflow (1e-160) are redone on scaled values
        let idx: Vec<u32> = (0..7).collect();
        let x = [0.3, -1.2, 0.8, 2.0, -0.4, 0.1, 1.1];
        let y = [0.1, -0.2, 0.3, 0.05, -0.4, 0.2, 0.0];
        let w = [3.1, 0.7, 1.9, 2.2, 0.3, 5.5, 1.0];
        let want = correlation(&idx, &x, &y, Some(&w));
        assert!(want.is_finite() && want != 0.0);
        for (cx, cy, cw) in [(1e160, 1.0, 1.0), (1e-160, 1.0, 1.0), (1.0, 1e200, 1e-300), (1e-200, 1e250, 1e300)] {
            let xs: Vec<f64> = x.iter().map(|v| v * cx).collect();
            let ys: Vec<f64> = y.iter().map(|v| v * cy).collect();
            let ws: Vec<f64> = w.iter().map(|v| v * cw).collect();
            let got = correlation(&idx, &xs, &ys, Some(&ws));
            assert!(close(got, want), "{cx} {cy} {cw}: {got} vs {want}");
        }
    }

    #[test]
    fn spearman_ic_by_hand_with_ties() {
        // x ranks: 1, 2.5, 2.5, 4; y ranks: 2, 1, 3, 4
        let x = array![[1.0, 2.0, 2.0, 3.0]];
        let fwd = Array3::from_shape_vec((1, 1, 4), vec![0.2, 0.1, 0.3, 0.4]).unwrap();
        let (ic, n) = information_coefficient(&sample(&x), Forward::Stack(fwd.view()), Method::Spearman, false).unwrap();
        let (rx, ry) = ([1.0, 2.5, 2.5, 4.0], [2.0, 1.0, 3.0, 4.0]);
        let (mx, my) = (2.5, 2.5);
        let sxy: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = rx.iter().map(|a| (a - mx) * (a - mx)).sum();
        let syy: f64 = ry.iter().map(|b| (b - my) * (b - my)).sum();
        assert!(close(ic[[0, 0]], sxy / (sxx * syy).sqrt()));
        assert_eq!(n[[0, 0]], 4);
    }

    #[test]
    fn ic_pair_sample_and_group_adjust() {
        // asset 3 has no forward return: the IC uses assets 0..3, ranked among themselves
        let x = array![[3.0, 1.0, 2.0, 10.0]];
        let fwd = Array3::from_shape_vec((1, 1, 4), vec![0.3, 0.1, 0.2, NAN]).unwrap();
        let (ic, n) = information_coefficient(&sample(&x), Forward::Stack(fwd.view()), Method::Spearman, false).unwrap();
        assert!(close(ic[[0, 0]], 1.0));
        assert_eq!(n[[0, 0]], 3);
        // groups {0, 1} and {2, 3}: demeaned returns are −0.1, 0.1, −0.1, 0.1
        let x = array![[1.0, 2.0, 3.0, 4.0]];
        let g = array![[0, 0, 1, 1]];
        let fwd = Array3::from_shape_vec((1, 1, 4), vec![0.0, 0.2, 0.5, 0.7]).unwrap();
        let s = Sample { signal: x.view(), groups: Some(g.view()), n_groups: 2, weights: None, common: None, labels: None };
        let (ic, _) = information_coefficient(&s, Forward::Stack(fwd.view()), Method::Pearson, true).unwrap();
        // Pearson of (1, 2, 3, 4) and (−1, 1, −1, 1)·0.1: cov = 0.1·(1.5 − 0.5 − 0.5 + 1.5)/…
        let (xs, ys) = ([1.0, 2.0, 3.0, 4.0], [-0.1, 0.1, -0.1, 0.1]);
        let sxy: f64 = xs.iter().zip(&ys).map(|(a, b)| (a - 2.5) * b).sum();
        let sxx: f64 = xs.iter().map(|a| (a - 2.5) * (a - 2.5)).sum();
        let syy: f64 = ys.iter().map(|b| b * b).sum();
        assert!(close(ic[[0, 0]], sxy / (sxx * syy).sqrt()));
    }

    #[test]
    fn quantiles_as_qcut() {
        // 10 distinct values into 5 quantiles: 2 per bucket
        let x = array![[5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0, 10.0]];
        let l = quantile_labels(&sample(&x), &Buckets::Quantiles(qcut_levels(5)), false).unwrap();
        assert_eq!(l.row(0).to_vec(), vec![2, 0, 4, 1, 3, 0, 3, 1, 2, 4]);
        // repeated edges (too many ties): no labels on that date
        let x = array![[1.0, 1.0, 1.0, 1.0, 2.0]];
        let l = quantile_labels(&sample(&x), &Buckets::Quantiles(qcut_levels(5)), false).unwrap();
        assert!(l.iter().all(|&q| q == -1));
        // equal-width bins: [0, 10] in two bins (−0.01, 5], (5, 10]
        let x = array![[0.0, 5.0, 5.0001, 10.0]];
        let l = quantile_labels(&sample(&x), &Buckets::Bins(2), false).unwrap();
        assert_eq!(l.row(0).to_vec(), vec![0, 0, 1, 1]);
        // fixed edges: values outside get no bucket; the first edge is exclusive
        let x = array![[0.0, 0.5, 1.0, 1.5, 3.0]];
        let l = quantile_labels(&sample(&x), &Buckets::Edges(vec![0.0, 1.0, 2.0]), false).unwrap();
        assert_eq!(l.row(0).to_vec(), vec![-1, 0, 0, 1, -1]);
    }

    #[test]
    fn quantiles_within_groups() {
        let x = array![[1.0, 2.0, 3.0, 4.0, 10.0, 20.0]];
        let g = array![[0, 0, 0, 1, 1, -1]];
        let s = Sample { signal: x.view(), groups: Some(g.view()), n_groups: 3, weights: None, common: None, labels: None };
        let l = quantile_labels(&s, &Buckets::Quantiles(qcut_levels(2)), true).unwrap();
        // group 0: 1, 2, 3 → edges 1, 2, 3 → 0, 0, 1; group 1: 4, 10 → 0, 1; no group: none;
        // group 2 is empty
        assert_eq!(l.row(0).to_vec(), vec![0, 0, 1, 0, 1, -1]);
    }

    #[test]
    fn quantile_returns_demeaned() {
        let labels = array![[0, 0, 1, 1, -1]];
        let fwd = Array3::from_shape_vec((1, 1, 5), vec![0.1, 0.3, 0.5, NAN, 9.0]).unwrap();
        let (m, c) = quantile_returns(labels.view(), 2, fwd.view(), None, None, Demean::All).unwrap();
        // bucketed assets with returns: 0.1, 0.3, 0.5 (mean 0.3)
        assert!(close(m[[0, 0, 0]], -0.1) && close(m[[0, 1, 0]], 0.2));
        assert_eq!((c[[0, 0, 0]], c[[0, 1, 0]]), (2, 1));
        let w = array![[1.0, 3.0, 1.0, 1.0, 1.0]];
        let (m, _) = quantile_returns(labels.view(), 2, fwd.view(), None, Some(w.view()), Demean::None).unwrap();
        assert!(close(m[[0, 0, 0]], (0.1 + 0.9) / 4.0) && close(m[[0, 1, 0]], 0.5));
    }

    #[test]
    fn factor_weights_by_hand() {
        let x = array![[1.0, 2.0, 3.0, 6.0]];
        let fwd = Array3::from_shape_vec((1, 1, 4), vec![0.1, -0.1, 0.2, 0.4]).unwrap();
        let r = factor_weighted_returns(&sample(&x), fwd.view(), true, false, false).unwrap();
        // demeaned: −2, −1, 0, 3 over 6
        let want = (-2.0 * 0.1 + 1.0 * 0.1 + 0.0 + 3.0 * 0.4) / 6.0;
        assert!(close(r[[0, 0]], want));
        let r = factor_weighted_returns(&sample(&x), fwd.view(), true, false, true).unwrap();
        // median 2.5: two below (−1/2 each), two above (+1/2 each), over a gross of 2
        let want = (-0.5 * 0.1 + 0.5 * 0.1 + 0.5 * 0.2 + 0.5 * 0.4) / 2.0;
        assert!(close(r[[0, 0]], want));
    }

    #[test]
    fn turnover_and_autocorrelation_by_hand() {
        let labels = array![[0, 0, 1, 1], [0, 1, 0, 1], [-1, -1, -1, -1]];
        let t = quantile_turnover(labels.view(), 2, &[1, 2]).unwrap();
        assert!(t[[0, 0, 0]].is_nan());
        assert!(close(t[[1, 0, 0]], 0.5) && close(t[[1, 1, 0]], 0.5));
        assert!(t[[1, 0, 1]].is_nan()); // no date two back
        assert!(t[[2, 0, 0]].is_nan() && t[[2, 0, 1]].is_nan()); // empty buckets now
        let labels = array![[0, 0, 1, 1], [-1, -1, -1, -1], [0, 1, 1, 1]];
        let t = quantile_turnover(labels.view(), 2, &[1, 2]).unwrap();
        assert!(t[[2, 0, 0]].is_nan()); // empty buckets before
        // two back: bucket 0 = {0} (was {0, 1}): nothing new; bucket 1 = {1, 2, 3}: 1 new of 3
        assert!(close(t[[2, 0, 1]], 0.0) && close(t[[2, 1, 1]], 1.0 / 3.0));
        let x = array![[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, NAN, 4.0]];
        let a = rank_autocorrelation(&sample(&x), &[1]).unwrap();
        let a = a.column(0);
        assert!(a[0].is_nan());
        assert!(close(a[1], -1.0));
        // date 2 ranks 1, 2, 3 against date 1 ranks 4, 3, 1 on assets 0, 1, 3
        let (p, q) = ([1.0, 2.0, 3.0], [4.0, 3.0, 1.0]);
        let (mp, mq) = (2.0, 8.0 / 3.0);
        let sxy: f64 = p.iter().zip(&q).map(|(a, b)| (a - mp) * (b - mq)).sum();
        let sxx: f64 = p.iter().map(|a| (a - mp) * (a - mp)).sum();
        let syy: f64 = q.iter().map(|b| (b - mq) * (b - mq)).sum();
        assert!(close(a[2], sxy / (sxx * syy).sqrt()));
    }

    #[test]
    fn common_sample_drops_rows_missing_any_horizon() {
        let x = array![[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]];
        let r = array![[0.0, 0.0, 0.0], [0.1, NAN, 0.3]];
        let lags = [1usize];
        let s = Sample { signal: x.view(), groups: None, n_groups: 0, weights: None, common: Some(Forward::Lagged(r.view(), &lags)), labels: None };
        let l = quantile_labels(&s, &Buckets::Quantiles(qcut_levels(2)), false).unwrap();
        assert_eq!(l.row(0).to_vec(), vec![0, -1, 1]);
        assert!(l.row(1).iter().all(|&q| q == -1)); // no forward return past the end
        // the label filter: unlabelled cells leave every statistic
        let lab = array![[0, -1, 0], [0, 0, 0]];
        let s = Sample { labels: Some(lab.view()), ..sample(&x) };
        let fwd = Array3::from_shape_vec((1, 2, 3), vec![0.1, 0.2, 0.3, 0.0, 0.0, 0.0]).unwrap();
        let (_, n) = information_coefficient(&s, Forward::Stack(fwd.view()), Method::Pearson, false).unwrap();
        assert_eq!(n[[0, 0]], 2);
    }

    #[test]
    fn fused_evaluation_equals_the_separate_kernels() {
        // 45 assets (comparison sorts) and 700 (the radix sort)
        for (t, n) in [(60, 45), (14, 700)] {
            fused_equals_separate(t, n);
        }
    }

    fn fused_equals_separate(t: usize, n: usize) {
        let hash = |a: usize, b: usize, m: usize| (a * 7919 + b * 104729 + a * b * 31) % m;
        let x = Array2::from_shape_fn((t, n), |(a, b)| {
            if hash(a, b, 13) == 0 { f64::NAN } else { (hash(a, b, 17) as f64 - 8.0) / 4.0 }
        });
        let r = Array2::from_shape_fn((t, n), |(a, b)| {
            if hash(b, a, 29) == 0 { f64::NAN } else { (hash(a + 3, b, 41) as f64 - 20.0) / 1000.0 }
        });
        let g = Array2::from_shape_fn((t, n), |(a, b)| if hash(a, b, 19) == 0 { -1 } else { (hash(b, a, 4)) as i32 });
        let w = Array2::from_shape_fn((t, n), |(a, b)| 0.5 + hash(a, b, 7) as f64);
        let horizons = [1usize, 4, 2, 6, 3];
        let fwd = forward_returns(r.view(), &horizons).unwrap();
        let decay = [1usize, 2, 3];
        let bits = |a: &[f64]| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for (common, grouped, weighted, by_group) in
            [(false, false, false, false), (false, true, true, true), (true, true, false, false), (true, false, true, false), (true, false, false, false)]
        {
            let base = Sample {
                signal: x.view(),
                groups: grouped.then(|| g.view()),
                n_groups: 4,
                weights: weighted.then(|| w.view()),
                common: None,
                labels: None,
            };
            let buckets = Buckets::Quantiles(qcut_levels(4));
            let set = Settings {
                method: Method::Spearman,
                buckets: &buckets,
                by_group,
                demeaned: true,
                group_adjust: grouped,
                common,
                decay_lags: &decay,
            };
            let ev = evaluate_panel(&base, r.view(), Some(fwd.view()), &horizons, &set).unwrap();
            // forward returns computed inside the pass: the same bits
            let inner = evaluate_panel(&base, r.view(), None, &horizons, &set).unwrap();
            assert_eq!(bits(ev.ic.as_slice().unwrap()), bits(inner.ic.as_slice().unwrap()));
            assert_eq!(ev.n_obs, inner.n_obs);
            assert_eq!(ev.labels, inner.labels);
            assert_eq!(bits(ev.by_date.as_slice().unwrap()), bits(inner.by_date.as_slice().unwrap()));
            assert_eq!(ev.counts, inner.counts);
            assert_eq!(bits(ev.factor_returns.as_slice().unwrap()), bits(inner.factor_returns.as_slice().unwrap()));
            assert_eq!(bits(ev.turnover.as_slice().unwrap()), bits(inner.turnover.as_slice().unwrap()));
            assert_eq!(bits(ev.autocorrelation.as_slice().unwrap()), bits(inner.autocorrelation.as_slice().unwrap()));
            assert_eq!(bits(ev.decay.as_slice().unwrap()), bits(inner.decay.as_slice().unwrap()));
            // the separate kernels, as the Python layer calls them
            let stack = Forward::Stack(fwd.view());
            let with_common = Sample { common: common.then_some(stack), ..base };
            let labels = quantile_labels(&with_common, &buckets, by_group).unwrap();
            assert_eq!(ev.labels, labels);
            let keep = Sample { labels: common.then(|| labels.view()), ..with_common };
            let (ic, nobs) = information_coefficient(&keep, stack, Method::Spearman, grouped).unwrap();
            assert_eq!(bits(ev.ic.as_slice().unwrap()), bits(ic.as_slice().unwrap()));
            assert_eq!(ev.n_obs, nobs);
            let demean_by = if grouped { Demean::Group } else { Demean::All };
            let gq = grouped.then(|| (g.view(), 4));
            let (m, c) = quantile_returns(labels.view(), 4, fwd.view(), gq, weighted.then(|| w.view()), demean_by).unwrap();
            assert_eq!(bits(ev.by_date.as_slice().unwrap()), bits(m.as_slice().unwrap()));
            assert_eq!(ev.counts, c);
            let keep_nw = Sample { weights: None, ..keep };
            let book = factor_weighted_returns(&keep_nw, fwd.view(), true, grouped, false).unwrap();
            assert_eq!(bits(ev.factor_returns.as_slice().unwrap()), bits(book.as_slice().unwrap()));
            let tv = quantile_turnover(labels.view(), 4, &horizons).unwrap();
            assert_eq!(bits(ev.turnover.as_slice().unwrap()), bits(tv.as_slice().unwrap()));
            let ac = rank_autocorrelation(&Sample { weights: None, ..keep }, &horizons).unwrap();
            assert_eq!(bits(ev.autocorrelation.as_slice().unwrap()), bits(ac.as_slice().unwrap()));
            let lagged = Forward::Lagged(r.view(), &decay);
            let dec = Sample { common: common.then_some(lagged), ..base };
            let (d, _) = information_coefficient(&dec, lagged, Method::Spearman, grouped).unwrap();
            assert_eq!(bits(ev.decay.as_slice().unwrap()), bits(d.as_slice().unwrap()));
            assert!(ev.ic.iter().filter(|v| v.is_finite()).count() > t);
            // and the same on 1 and 2 threads
            let two = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
            let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
            let a = one.install(|| evaluate_panel(&base, r.view(), None, &horizons, &set).unwrap());
            let b = two.install(|| evaluate_panel(&base, r.view(), None, &horizons, &set).unwrap());
            for (p, q) in [(&a.ic, &b.ic), (&a.factor_returns, &b.factor_returns), (&a.autocorrelation, &b.autocorrelation), (&a.decay, &b.decay)] {
                assert_eq!(bits(p.as_slice().unwrap()), bits(q.as_slice().unwrap()));
            }
            assert_eq!(bits(a.by_date.as_slice().unwrap()), bits(b.by_date.as_slice().unwrap()));
            assert_eq!(bits(a.turnover.as_slice().unwrap()), bits(b.turnover.as_slice().unwrap()));
            assert_eq!(a.labels, b.labels);
        }
    }

    #[test]
    fn results_do_not_depend_on_threads() {
        let (t, n) = (40, 57);
        let x = Array2::from_shape_fn((t, n), |(a, b)| ((a * 31 + b * 17) % 23) as f64 - if (a + b) % 7 == 0 { f64::NAN } else { 0.0 });
        let r = Array2::from_shape_fn((t, n), |(a, b)| (((a * 13 + b * 7) % 19) as f64 - 9.0) / 100.0);
        let fwd = forward_returns(r.view(), &[1, 3]).unwrap();
        let run = || {
            let s = sample(&x);
            let ic = information_coefficient(&s, Forward::Stack(fwd.view()), Method::Spearman, false).unwrap().0;
            let l = quantile_labels(&s, &Buckets::Quantiles(qcut_levels(4)), false).unwrap();
            let q = quantile_returns(l.view(), 4, fwd.view(), None, None, Demean::All).unwrap().0;
            let a = rank_autocorrelation(&s, &[2, 5]).unwrap();
            (ic, l, q, a)
        };
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
        let three = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap().install(run);
        let bits = |a: &[f64]| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(one.0.as_slice().unwrap()), bits(three.0.as_slice().unwrap()));
        assert_eq!(one.1, three.1);
        assert_eq!(bits(one.2.as_slice().unwrap()), bits(three.2.as_slice().unwrap()));
        assert_eq!(bits(one.3.as_slice().unwrap()), bits(three.3.as_slice().unwrap()));
    }
}
