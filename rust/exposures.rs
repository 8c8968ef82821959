//! Style exposures from descriptors in one fused pass per date (the recipe of
//! `ferrofactor.descriptors.exposures_from_descriptors`, steps 1–4).
//!
//! For every date `t` (a row of the `(T, N)` inputs) and every style `k` with descriptor weights
//! `parts[k] = [(d, w_d), …]`:
//!
//! 1. universe: assets with a finite `cap > 0` (when `cap` is given), else assets with at least
//!    one finite value among all the given descriptors;
//! 2. `prepare(x)`: NaN outside the universe, winsorised (unweighted, as
//!    `clean::winsorize(x, method, limit)`), then standardised with weights = cap where finite and
//!    > 0 (NaN, i.e. not counted, elsewhere; no weights without `cap`) as `clean::standardize`;
//! 3. `z_d = prepare(descriptor d)`; `style = Σ w_d z_d / Σ |w_d|` over the finite `z_d` (in the
//!    order of `parts[k]`), NaN where none is finite; `style = prepare(style)`;
//! 4. fill, on universe cells whose style is not finite: [`Fill::Zero`] → 0,
//!    [`Fill::IndustryMean`] → the date's equal-weighted mean of the finite style values of the
//!    asset's industry (0 without an industry code or when the industry has no finite value),
//!    [`Fill::None`] → left NaN.
//!
//! Each date is independent: rows run in parallel (rayon) with the row routines of
//! [`crate::clean`], each date computed sequentially in a fixed order, so the result is
//! bit-identical to the separate per-panel calls and does not depend on the number of threads.
//! Everything of one date (the descriptors' z-scores included) stays in per-thread scratch; the
//! output `(T, N, K)` is written once.

use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{Array3, ArrayView2, CowArray, Ix2};
use rayon::prelude::*;

use crate::clean::{clean_one_row, RowOp, RowScratch, WinsorMethod};
use crate::error::Result;
use crate::parallel;
use crate::value_error;

/// How missing exposures of universe assets are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Leave them NaN.
    None,
    /// 0 (the cap-weighted mean of the standardised style).
    Zero,
    /// The date's equal-weighted mean within the asset's industry (0 without one).
    IndustryMean,
}

impl Fill {
    /// Parse the Python-level name (`None`, `"zero"`, `"industry_mean"`).
    pub fn parse(name: Option<&str>) -> Result<Fill> {
        match name {
            None => Ok(Fill::None),
            Some("zero") => Ok(Fill::Zero),
            Some("industry_mean") => Ok(Fill::IndustryMean),
            Some(other) => Err(value_error!(
                "fill must be one of ['industry_mean', 'zero', None], got {other:?}"
            )),
        }
    }
}

/// The settings of [`build_styles`].
#[derive(Debug, Clone)]
pub struct StyleRecipe {
    /// Per style, its `(descriptor index, weight)` pairs; weights finite and non-zero.
    pub parts: Vec<Vec<(usize, f64)>>,
    /// Winsorisation method and limit, or `None` for none.
    pub winsorize: Option<(WinsorMethod, f64)>,
    /// Fill of missing exposures in the universe.
    pub fill: Fill,
}

/// Per-thread scratch space, reused across dates.
#[derive(Default)]
struct Scratch {
    clean: RowScratch,
    /// All ones for the assets in the date's universe, 0 elsewhere (a select mask).
    universe: Vec<u64>,
    capw: Vec<f64>,
    masked: Vec<f64>,
    tmp: Vec<f64>,
    z: Vec<f64>,
    num: Vec<f64>,
    den: Vec<f64>,
    style: Vec<f64>,
    sum: Vec<f64>,
    cnt: Vec<u32>,
}

fn rows<'a>(a: &'a CowArray<'_, f64, Ix2>) -> &'a [f64] {
    a.as_slice().expect("standard layout")
}

/// Style exposures `(T, N, K)` from `descriptors` (each `(T, N)`, NaN = missing); see the module
/// documentation for the recipe. `cap` `(T, N)` optional; `industry` `(T, N)` dense codes in
/// `−1..n_industries` (used by [`Fill::IndustryMean`]; without it every fill value is 0).
pub fn build_styles(
    descriptors: &[ArrayView2<'_, f64>],
    recipe: &StyleRecipe,
    cap: Option<ArrayView2<'_, f64>>,
    industry: Option<ArrayView2<'_, i32>>,
    n_industries: usize,
) -> Result<Array3<f64>> {
    let (t, n) = check(descriptors, recipe, cap.as_ref(), industry.as_ref(), n_industries)?;
    let k = recipe.parts.len();
    let mut out = Array3::<f64>::zeros((t, n, k));
    let slice = out.as_slice_mut().expect("fresh array");
    fill_rows(descriptors, recipe, cap, industry, n_industries, (t, n), slice)?;
    Ok(out)
}

/// [`build_styles`] into a caller-provided C-contiguous `out` of `T·N·K` values (overwritten).
pub fn build_styles_into(
    descriptors: &[ArrayView2<'_, f64>],
    recipe: &StyleRecipe,
    cap: Option<ArrayView2<'_, f64>>,
    industry: Option<ArrayView2<'_, i32>>,
    n_industries: usize,
    out: &mut [f64],
) -> Result<()> {
    let (t, n) = check(descriptors, recipe, cap.as_ref(), industry.as_ref(), n_industries)?;
    let want = t * n * recipe.parts.len();
    if out.len() != want {
        return Err(value_error!("out has {} values, expected {want} (T·N·K)", out.len()));
    }
    fill_rows(descriptors, recipe, cap, industry, n_industries, (t, n), out)
}

/// Argument checks; returns `(T, N)`.
fn check(
    descriptors: &[ArrayView2<'_, f64>],
    recipe: &StyleRecipe,
    cap: Option<&ArrayView2<'_, f64>>,
    industry: Option<&ArrayView2<'_, i32>>,
    n_industries: usize,
) -> Result<(usize, usize)> {
    let Some(first) = descriptors.first() else {
        return Err(value_error!("descriptors must hold at least one (T, N) array"));
    };
    let shape = first.dim();
    for (j, d) in descriptors.iter().enumerate() {
        if d.dim() != shape {
            return Err(value_error!(
                "descriptors[{j}] has shape {:?}, expected {:?} (the shape of descriptors[0])",
                d.shape(),
                [shape.0, shape.1]
            ));
        }
    }
    if recipe.parts.is_empty() {
        return Err(value_error!("parts must name at least one style"));
    }
    for (k, part) in recipe.parts.iter().enumerate() {
        if part.is_empty() {
            return Err(value_error!("parts[{k}] is empty: every style needs a descriptor"));
        }
        for &(d, w) in part {
            if d >= descriptors.len() {
                return Err(value_error!(
                    "parts[{k}] names descriptor {d}, but {} descriptors were given",
                    descriptors.len()
                ));
            }
            if !(w.is_finite() && w != 0.0) {
                return Err(value_error!(
                    "parts[{k}] gives descriptor {d} the weight {w}; weights must be finite and non-zero"
                ));
            }
        }
    }
    if let Some((method, limit)) = recipe.winsorize {
        RowOp::winsorize(method, limit)?;
    }
    if let Some(c) = cap {
        if c.dim() != shape {
            return Err(value_error!(
                "cap has shape {:?}, expected {:?} (the shape of the descriptors)",
                c.shape(),
                [shape.0, shape.1]
            ));
        }
    }
    if let Some(g) = industry {
        if g.dim() != shape {
            return Err(value_error!(
                "industry has shape {:?}, expected {:?} (the shape of the descriptors)",
                g.shape(),
                [shape.0, shape.1]
            ));
        }
        if n_industries > i32::MAX as usize {
            return Err(value_error!("n_industries must fit in int32, got {n_industries}"));
        }
        let gi = n_industries as i32;
        let bad = g
            .outer_iter()
            .into_par_iter()
            .any(|row| row.iter().any(|&c| c < -1 || c >= gi));
        if bad {
            return Err(value_error!(
                "industry codes must lie in -1..{} (-1 = none, dense codes of {n_industries} industries)",
                n_industries as i64 - 1
            ));
        }
    }
    Ok(shape)
}

fn fill_rows(
    descriptors: &[ArrayView2<'_, f64>],
    recipe: &StyleRecipe,
    cap: Option<ArrayView2<'_, f64>>,
    industry: Option<ArrayView2<'_, i32>>,
    n_industries: usize,
    (t, n): (usize, usize),
    out: &mut [f64],
) -> Result<()> {
    let k = recipe.parts.len();
    if t * n * k == 0 {
        return Ok(());
    }
    // Zero-copy when already C-contiguous (the Python wrapper makes sure of it).
    let desc: Vec<CowArray<'_, f64, Ix2>> = descriptors.iter().map(|d| d.as_standard_layout()).collect();
    let ds: Vec<&[f64]> = desc.iter().map(rows).collect();
    let cp = cap.as_ref().map(|c| c.as_standard_layout());
    let cs = cp.as_ref().map(rows);
    let codes = industry.as_ref().map(|g| g.as_standard_layout());
    let gs: Option<&[i32]> = codes.as_ref().map(|g| g.as_slice().expect("standard layout"));
    let win = match recipe.winsorize {
        Some((m, l)) => Some(RowOp::winsorize(m, l)?),
        None => None,
    };
    // Descriptors some style uses (only their z-scores are computed), and each one's slot.
    let mut slot = vec![usize::MAX; ds.len()];
    let mut n_used = 0;
    for part in &recipe.parts {
        for &(d, _) in part {
            if slot[d] == usize::MAX {
                slot[d] = n_used;
                n_used += 1;
            }
        }
    }
    let g = if gs.is_some() { n_industries } else { 0 };
    let failed = AtomicBool::new(false);
    out.par_chunks_mut(n * k)
        .enumerate()
        .for_each_init(Scratch::default, |s, (ti, o)| {
            if parallel::cancelled() {
                return; // the caller discards the whole result
            }
            let row = ti * n..(ti + 1) * n;
            let ctx = Row {
                desc: &ds,
                cap: cs.map(|c| &c[row.clone()]),
                codes: gs.map(|c| &c[row.clone()]),
                t: ti,
                n,
                g,
            };
            if !date(&ctx, recipe, win, &slot, n_used, s, o) {
                failed.store(true, Ordering::Relaxed);
            }
        });
    if failed.load(Ordering::Relaxed) {
        // Unreachable with checked arguments; never a panic across the boundary.
        return Err(value_error!("build_styles: inconsistent arguments"));
    }
    Ok(())
}

/// One date's inputs.
struct Row<'a> {
    desc: &'a [&'a [f64]],
    cap: Option<&'a [f64]>,
    codes: Option<&'a [i32]>,
    t: usize,
    n: usize,
    g: usize,
}

impl Row<'_> {
    fn descriptor(&self, d: usize) -> &[f64] {
        &self.desc[d][self.t * self.n..(self.t + 1) * self.n]
    }
}

/// `prepare(x)` of the module documentation: `s.masked` (NaN outside the universe already) →
/// `out`, via `s.tmp` when winsorising.
fn prepare(win: Option<RowOp>, capw: Option<&[f64]>, clean: &mut RowScratch, x: &[f64], tmp: &mut [f64], out: &mut [f64]) {
    match win {
        Some(op) => {
            clean_one_row(clean, op, x, None, tmp);
            clean_one_row(clean, RowOp::STANDARDIZE, tmp, capw, out);
        }
        None => clean_one_row(clean, RowOp::STANDARDIZE, x, capw, out),
    }
}

/// Compute one date into `o` (`N × K`, asset-major). Returns false on an internal inconsistency.
fn date(
    r: &Row<'_>,
    recipe: &StyleRecipe,
    win: Option<RowOp>,
    slot: &[usize],
    n_used: usize,
    s: &mut Scratch,
    o: &mut [f64],
) -> bool {
    let (n, k) = (r.n, recipe.parts.len());
    if o.len() != n * k {
        return false;
    }
    // Universe and standardisation weights.
    s.universe.clear();
    s.capw.clear();
    match r.cap {
        Some(c) => {
            s.capw.extend(c.iter().map(|&v| if finite(v) & (v > 0.0) { v } else { f64::NAN }));
            s.universe.extend(s.capw.iter().map(|&v| ones_if(finite(v))));
        }
        None => {
            s.universe.resize(n, 0);
            for d in 0..r.desc.len() {
                for (u, &v) in s.universe.iter_mut().zip(r.descriptor(d)) {
                    *u |= ones_if(finite(v));
                }
            }
        }
    }
    let capw = if r.cap.is_some() { Some(&s.capw[..]) } else { None };
    s.masked.resize(n, f64::NAN);
    s.tmp.resize(n, f64::NAN);
    s.z.resize(n_used * n, f64::NAN);
    s.style.resize(k * n, f64::NAN);
    s.num.resize(n, 0.0);
    s.den.resize(n, 0.0);

    // z-scores of every descriptor used.
    for (d, &sl) in slot.iter().enumerate() {
        if sl == usize::MAX {
            continue;
        }
        mask(&mut s.masked, r.descriptor(d), &s.universe);
        prepare(win, capw, &mut s.clean, &s.masked, &mut s.tmp, &mut s.z[sl * n..(sl + 1) * n]);
    }

    for (kk, part) in recipe.parts.iter().enumerate() {
        // Σ w_d z_d / Σ |w_d| over the finite z_d, in the order of the parts. (Adding +0.0 for
        // a missing z leaves the sums' bits unchanged: they start at +0.0 and never become −0.0.)
        s.num.fill(0.0);
        s.den.fill(0.0);
        for &(d, w) in part {
            let z = &s.z[slot[d] * n..(slot[d] + 1) * n];
            let aw = w.abs();
            for ((nu, de), &zi) in s.num.iter_mut().zip(s.den.iter_mut()).zip(z) {
                let ok = finite(zi);
                *nu += if ok { w * zi } else { 0.0 };
                *de += if ok { aw } else { 0.0 };
            }
        }
        for (((m, &nu), &de), &u) in s.masked.iter_mut().zip(&s.num).zip(&s.den).zip(&s.universe) {
            // den > 0 exactly where some z is finite, which is inside the universe
            let v = if de > 0.0 { nu / de } else { f64::NAN };
            *m = select(u, v, f64::NAN);
        }
        let style = &mut s.style[kk * n..(kk + 1) * n];
        prepare(win, capw, &mut s.clean, &s.masked, &mut s.tmp, style);
        match recipe.fill {
            Fill::None => {}
            Fill::Zero => zero_fill(style, &s.universe),
            Fill::IndustryMean => industry_fill(r, style, &s.universe, &mut s.sum, &mut s.cnt),
        }
    }
    // (N, K) asset-major output, written once in order.
    for (i, oi) in o.chunks_exact_mut(k).enumerate() {
        for (kk, v) in oi.iter_mut().enumerate() {
            *v = s.style[kk * n + i];
        }
    }
    true
}

/// `v` is neither NaN nor ±inf (written so that loops over it vectorise).
#[inline(always)]
#[allow(clippy::eq_op)]
fn finite(v: f64) -> bool {
    v - v == 0.0
}

/// All ones when `b`, else 0: a mask for [`select`].
#[inline(always)]
fn ones_if(b: bool) -> u64 {
    (b as u64).wrapping_neg()
}

/// `a` where `mask` is all ones, `b` where it is 0 (bitwise, so −0.0 and NaN payloads are kept).
#[inline(always)]
fn select(mask: u64, a: f64, b: f64) -> f64 {
    f64::from_bits((a.to_bits() & mask) | (b.to_bits() & !mask))
}

/// `out[i] = x[i]` inside the universe, NaN outside.
fn mask(out: &mut [f64], x: &[f64], universe: &[u64]) {
    for ((m, &v), &u) in out.iter_mut().zip(x).zip(universe) {
        *m = select(u, v, f64::NAN);
    }
}

/// 0 for the universe cells that are not finite.
fn zero_fill(style: &mut [f64], universe: &[u64]) {
    for (x, &u) in style.iter_mut().zip(universe) {
        let need = u & ones_if(!finite(*x));
        *x = select(need, 0.0, *x);
    }
}

/// Fill the universe cells of `s.style` that are not finite with their industry's equal-weighted
/// mean of the finite values (summed in asset order), 0 without an industry or members.
fn industry_fill(r: &Row<'_>, style: &mut [f64], universe: &[u64], sum: &mut Vec<f64>, cnt: &mut Vec<u32>) {
    let Some(codes) = r.codes else {
        return zero_fill(style, universe);
    };
    sum.clear();
    sum.resize(r.g, 0.0);
    cnt.clear();
    cnt.resize(r.g, 0);
    for (&x, &c) in style.iter().zip(codes) {
        if (c >= 0) & finite(x) {
            sum[c as usize] += x;
            cnt[c as usize] += 1;
        }
    }
    for ((x, &u), &c) in style.iter_mut().zip(universe).zip(codes) {
        if (u != 0) & !finite(*x) {
            *x = if c >= 0 && cnt[c as usize] > 0 { sum[c as usize] / cnt[c as usize] as f64 } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clean;
    use ndarray::{array, Array2};

    const NAN: f64 = f64::NAN;

    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    /// The recipe written with the panel-level kernels of `clean`, as the Python code does.
    fn reference(
        desc: &[Array2<f64>],
        recipe: &StyleRecipe,
        cap: Option<&Array2<f64>>,
        codes: Option<&Array2<i32>>,
        g: usize,
    ) -> Array3<f64> {
        let (t, n) = desc[0].dim();
        let capw = cap.map(|c| c.mapv(|v| if v.is_finite() && v > 0.0 { v } else { NAN }));
        let universe = match &capw {
            Some(c) => c.mapv(|v| v.is_finite()),
            None => Array2::from_shape_fn((t, n), |(a, b)| desc.iter().any(|d| d[[a, b]].is_finite())),
        };
        let prepare = |x: &Array2<f64>| {
            let mut x = x.clone();
            x.zip_mut_with(&universe, |v, &u| if !u { *v = NAN });
            if let Some((m, l)) = recipe.winsorize {
                x = clean::winsorize(x.view(), m, l, None, None).unwrap();
            }
            clean::standardize(x.view(), capw.as_ref().map(|c| c.view()), None).unwrap()
        };
        let z: Vec<Array2<f64>> = desc.iter().map(prepare).collect();
        let k = recipe.parts.len();
        let mut out = Array3::<f64>::zeros((t, n, k));
        for (kk, part) in recipe.parts.iter().enumerate() {
            let mut num = Array2::<f64>::zeros((t, n));
            let mut den = Array2::<f64>::zeros((t, n));
            for &(d, w) in part {
                for ((a, b), &zi) in z[d].indexed_iter() {
                    if zi.is_finite() {
                        num[[a, b]] += w * zi;
                        den[[a, b]] += w.abs();
                    }
                }
            }
            let x = Array2::from_shape_fn((t, n), |(a, b)| if den[[a, b]] > 0.0 { num[[a, b]] / den[[a, b]] } else { NAN });
            let mut x = prepare(&x);
            for a in 0..t {
                let mut sum = vec![0.0; g];
                let mut cnt = vec![0usize; g];
                if let Some(c) = codes {
                    for b in 0..n {
                        if c[[a, b]] >= 0 && x[[a, b]].is_finite() {
                            sum[c[[a, b]] as usize] += x[[a, b]];
                            cnt[c[[a, b]] as usize] += 1;
                        }
                    }
                }
                for b in 0..n {
                    if universe[[a, b]] && !x[[a, b]].is_finite() {
                        x[[a, b]] = match recipe.fill {
                            Fill::None => NAN,
                            Fill::Zero => 0.0,
                            Fill::IndustryMean => match codes {
                                Some(c) if c[[a, b]] >= 0 && cnt[c[[a, b]] as usize] > 0 => {
                                    sum[c[[a, b]] as usize] / cnt[c[[a, b]] as usize] as f64
                                }
                                _ => 0.0,
                            },
                        };
                    }
                }
            }
            for ((a, b), &v) in x.indexed_iter() {
                out[[a, b, kk]] = v;
            }
        }
        out
    }

    fn data(t: usize, n: usize, nd: usize) -> (Vec<Array2<f64>>, Array2<f64>, Array2<i32>) {
        let h = |a: usize, b: usize, c: usize| ((a * 7919 + b * 104_729 + c * 1_299_709) % 10_007) as f64 / 10_007.0;
        let desc = (0..nd)
            .map(|d| {
                Array2::from_shape_fn((t, n), |(a, b)| {
                    let u = h(a, b, d);
                    if u < 0.12 {
                        NAN
                    } else if u > 0.995 {
                        40.0 * u // outliers
                    } else {
                        (u - 0.5) * (1.0 + d as f64)
                    }
                })
            })
            .collect();
        let cap = Array2::from_shape_fn((t, n), |(a, b)| {
            let u = h(a, b, 99);
            if u < 0.05 { NAN } else if u < 0.07 { 0.0 } else { (10.0 * u).exp() }
        });
        let codes = Array2::from_shape_fn((t, n), |(a, b)| ((h(a, b, 7) * 6.0) as i32) - 1);
        (desc, cap, codes)
    }

    #[test]
    fn equals_the_panel_level_recipe_bit_for_bit() {
        let (desc, cap, codes) = data(6, 157, 4);
        let parts = vec![vec![(0, 0.5), (1, 0.3), (2, 0.2)], vec![(3, -1.0)], vec![(1, 0.25), (3, -0.25)]];
        let views: Vec<_> = desc.iter().map(|d| d.view()).collect();
        for win in [None, Some((WinsorMethod::Sigma, 3.0)), Some((WinsorMethod::Quantile, 0.05)), Some((WinsorMethod::Mad, 2.5))] {
            for fill in [Fill::None, Fill::Zero, Fill::IndustryMean] {
                for with_cap in [false, true] {
                    for with_ind in [false, true] {
                        let recipe = StyleRecipe { parts: parts.clone(), winsorize: win, fill };
                        let c = with_cap.then_some(&cap);
                        let g = with_ind.then_some(&codes);
                        let got = build_styles(&views, &recipe, c.map(|a| a.view()), g.map(|a| a.view()), 5).unwrap();
                        let want = reference(&desc, &recipe, c, g, 5);
                        assert_eq!(got.dim(), want.dim());
                        for (a, b) in got.iter().zip(want.iter()) {
                            assert!(same(*a, *b), "{win:?} {fill:?} cap {with_cap} ind {with_ind}: {a} vs {b}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn hand_worked_date() {
        // One date, 4 assets, no cap, no winsorising; style = (z_a + z_b) / 2 where available.
        // a = (1, 2, 3, NaN): mean 2, sd 1 → z_a = (−1, 0, 1, NaN);
        // b = (2, NaN, 4, 6): mean 4, sd 2 → z_b = (−1, NaN, 0, 1).
        // combined: (−1, 0, 0.5, 1): mean 0.125, sd = sqrt((1.265625 + 0.015625 + 0.140625
        // + 0.765625) / 3) = sqrt(0.729166…); asset 3 has only b.
        let a = array![[1.0, 2.0, 3.0, NAN]];
        let b = array![[2.0, NAN, 4.0, 6.0]];
        let recipe = StyleRecipe { parts: vec![vec![(0, 1.0), (1, 1.0)]], winsorize: None, fill: Fill::Zero };
        let got = build_styles(&[a.view(), b.view()], &recipe, None, None, 0).unwrap();
        let c = [-1.0, 0.0, 0.5, 1.0];
        let sd = (c.iter().map(|v: &f64| (v - 0.125).powi(2)).sum::<f64>() / 3.0).sqrt();
        for i in 0..4 {
            assert!((got[[0, i, 0]] - (c[i] - 0.125) / sd).abs() < 1e-14);
        }
    }

    #[test]
    fn industry_mean_fill_by_hand() {
        // Universe = assets with a cap (0..=4 and 6). Asset 3 has no descriptor: filled with the
        // mean of its industry's (1) finite styles (assets 1 and 2); asset 6 has none and no
        // industry: 0; asset 5 has no cap: NaN whatever its descriptor.
        let x = array![[1.0, 2.0, 4.0, NAN, 3.0, 9.0, NAN]];
        let cap = array![[1.0, 1.0, 1.0, 1.0, 1.0, NAN, 1.0]];
        let codes = array![[0, 1, 1, 1, -1, 0, -1]];
        let recipe = StyleRecipe { parts: vec![vec![(0, 2.0)]], winsorize: None, fill: Fill::IndustryMean };
        let got = build_styles(&[x.view()], &recipe, Some(cap.view()), Some(codes.view()), 2).unwrap();
        // z of (1, 2, 4, 3) with equal cap weights: mean 2.5, sd = sqrt(5/3); the combined
        // style 2z/2 = z already has mean 0 and sd 1, so the second standardisation keeps it.
        let sd = (5.0f64 / 3.0).sqrt();
        let z = |v: f64| (v - 2.5) / sd;
        for (i, v) in [(0, 1.0), (1, 2.0), (2, 4.0), (4, 3.0)] {
            assert!((got[[0, i, 0]] - z(v)).abs() < 1e-14);
        }
        assert!((got[[0, 3, 0]] - (z(2.0) + z(4.0)) / 2.0).abs() < 1e-14);
        assert_eq!(got[[0, 6, 0]], 0.0);
        assert!(got[[0, 5, 0]].is_nan());
    }

    #[test]
    fn thread_count_does_not_matter() {
        let (desc, cap, codes) = data(20, 301, 3);
        let views: Vec<_> = desc.iter().map(|d| d.view()).collect();
        let recipe = StyleRecipe { parts: vec![vec![(0, 1.0), (2, -0.5)], vec![(1, 1.0)]], winsorize: Some((WinsorMethod::Sigma, 3.0)), fill: Fill::IndustryMean };
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| build_styles(&views, &recipe, Some(cap.view()), Some(codes.view()), 5).unwrap())
        };
        let (a, b) = (run(1), run(3));
        assert!(a.iter().zip(b.iter()).all(|(x, y)| same(*x, *y)));
    }

    #[test]
    fn bad_arguments() {
        let x = array![[1.0, 2.0]];
        let y = array![[1.0, 2.0, 3.0]];
        let ok = StyleRecipe { parts: vec![vec![(0, 1.0)]], winsorize: None, fill: Fill::None };
        let err = |r: &StyleRecipe, d: &[ArrayView2<'_, f64>], g: Option<ArrayView2<'_, i32>>| {
            build_styles(d, r, None, g, 2).unwrap_err().to_string()
        };
        assert!(err(&ok, &[x.view(), y.view()], None).contains("descriptors[1]"));
        assert!(err(&ok, &[], None).contains("descriptors"));
        let r = StyleRecipe { parts: vec![vec![(1, 1.0)]], ..ok.clone() };
        assert!(err(&r, &[x.view()], None).contains("parts[0]"));
        let r = StyleRecipe { parts: vec![vec![(0, 0.0)]], ..ok.clone() };
        assert!(err(&r, &[x.view()], None).contains("weight"));
        let r = StyleRecipe { parts: vec![], ..ok.clone() };
        assert!(err(&r, &[x.view()], None).contains("parts"));
        let r = StyleRecipe { parts: vec![vec![]], ..ok.clone() };
        assert!(err(&r, &[x.view()], None).contains("parts[0]"));
        let r = StyleRecipe { winsorize: Some((WinsorMethod::Quantile, 0.7)), ..ok.clone() };
        assert!(err(&r, &[x.view()], None).contains("limit"));
        let codes = array![[0, 2]];
        assert!(err(&ok, &[x.view()], Some(codes.view())).contains("industry"));
        assert!(Fill::parse(Some("mean")).unwrap_err().to_string().contains("fill"));
    }
}
