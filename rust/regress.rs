//! Batched cross-sectional weighted least squares over a structured design.
//!
//! For every date `t` the model is
//!
//! ```text
//! r_i = [f_mkt] + f_{g(i)} + Σ_k x_ik f_k + e_i,      weight w_i,
//! ```
//!
//! with parameters ordered `[market (if any), industries 0..G-1, styles 0..K-1]`. The industry
//! dummies are never materialised: `XᵀWX` and `XᵀWy` are accumulated straight from the codes (the
//! industry block is diagonal, the industry×style block a scatter-add of `w x`). Industries
//! with no member on a date get a NaN factor return and are left out of the design and of the
//! constraint `Σ_g c_g f_g = 0` (`c_g` the summed cap of the industry's used members, or 1).
//! With a market factor the constrained model is solved as free industry levels
//! `λ_g = f_mkt + f_g` (the market column is the sum of the dummies), whose industry block is
//! diagonal, and mapped back: `f_mkt = Σ_g c_g λ_g / Σ_g c_g`, `f_g = λ_g − f_mkt`. Without one
//! (a restricted fit) the constraint is applied by substitution: one active industry (the one
//! with the largest `c_g`, so that every coefficient `c_g / c_L` is at most 1) is expressed via
//! the others, `f = R θ`, and `Rᵀ XᵀWX R θ = Rᵀ XᵀWy` is solved; that industry block is
//! diagonal plus rank one (Sherman–Morrison). Either way the industry block is eliminated in
//! closed form and only the `(market + K)²` Schur complement goes to [`Cholesky`]; see
//! `solve`. A column is declared dependent (singular date → NaN) when its pivot falls below
//! `linalg::PIVOT_TOL` times its own squared norm, as in the factorisation of the whole matrix.
//! Where the design spans a constant (a market factor, or industries without a constraint) the
//! styles enter centred on their weighted means, so a style's level (as against its spread)
//! costs no accuracy; the market (or the industries) gets the level's share back afterwards.
//!
//! Per date: `gather` checks every value, selects the used observations and copies them
//! (styles transposed) into per-thread scratch space while accumulating the per-industry sums;
//! `style_sums` forms the style block with a four-column dot kernel (`wdot4`, AVX when the
//! CPU has it, with results identical to the scalar copy); `solve` does the rest.
//!
//! Dates are independent and run in parallel with rayon; each date is computed sequentially
//! in a fixed order, so results are bit-identical for any number of threads.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use ndarray::{Array1, Array2, ArrayView2, ArrayView3, CowArray, Ix2, Ix3};
use rayon::prelude::*;

use crate::error::Result;
use crate::linalg::Cholesky;
use crate::parallel;
use crate::value_error;

/// How the industry factor returns are pinned down when a market factor is present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraint {
    /// No constraint (only valid without a market factor, else the design is singular).
    None,
    /// `Σ_g f_g = 0` over the industries active that date.
    Equal,
    /// `Σ_g cap_g f_g = 0`, `cap_g` the summed cap of the industry's used members that date.
    Cap,
}

impl Constraint {
    /// Parse the Python-level name (`None`, `"equal"`, `"cap"`).
    pub fn parse(name: Option<&str>) -> Result<Constraint> {
        match name {
            None => Ok(Constraint::None),
            Some("equal") => Ok(Constraint::Equal),
            Some("cap") => Ok(Constraint::Cap),
            Some(other) => Err(value_error!(
                "industry_constraint must be one of ['cap', 'equal', None], got {other:?}"
            )),
        }
    }
}

/// Regression weights.
#[derive(Debug, Clone, Copy)]
pub enum Weights<'a> {
    /// Every observation weighs 1.
    Equal,
    /// `(T, N)` weights; NaN or 0 drops the observation, negative or infinite is an error.
    Given(ArrayView2<'a, f64>),
    /// `sqrt(cap)` (needs `cap`), computed on the fly.
    SqrtCap,
}

/// The exposures of a cross-sectional regression.
#[derive(Debug, Clone, Copy)]
pub struct Design<'a> {
    /// `(T, N, K)` style exposures, NaN = missing (drops the observation).
    pub styles: Option<ArrayView3<'a, f64>>,
    /// `(T, N)` industry codes in `0..n_industries`, `-1` = none (drops the observation).
    pub industry: Option<ArrayView2<'a, i32>>,
    /// Number of industry factors `G` (codes must be `< G`).
    pub n_industries: usize,
    /// Include a market (intercept) factor.
    pub market: bool,
    /// Constraint on the industry factor returns.
    pub constraint: Constraint,
}

/// Per-date results of [`cross_section_regress`].
#[derive(Debug, Clone)]
pub struct CrossSection {
    /// `(T, P)` factor returns, NaN for empty industries and degenerate dates.
    pub factor_returns: Array2<f64>,
    /// `(T, N)` residuals `y − X f`, NaN where the observation was not used.
    pub residuals: Array2<f64>,
    /// `(T,)` weighted R² (centred when the design spans a constant).
    pub r2: Array1<f64>,
    /// `(T, P)` classic WLS standard errors.
    pub std_errors: Array2<f64>,
    /// `(T, P)` `factor_returns / std_errors`.
    pub tstats: Array2<f64>,
    /// `(T,)` number of observations used.
    pub n_obs: Array1<i64>,
}

/// Everything about the problem that is the same for every date.
#[derive(Debug, Clone, Copy)]
struct Cfg {
    n: usize,
    k: usize,
    g: usize,
    use_ind: bool,
    market: bool,
    constraint: Constraint,
    stats: bool,
}

/// How one date's weights are read.
#[derive(Clone, Copy)]
enum RowW<'a> {
    Equal,
    Given(&'a [f64]),
    SqrtCap,
}

/// One date's inputs.
struct RowIn<'a> {
    y: &'a [f64],
    w: RowW<'a>,
    codes: Option<&'a [i32]>,
    cap: Option<&'a [f64]>,
    x: &'a [f64],
}

/// One date's outputs.
struct RowOut<'a> {
    f: &'a mut [f64],
    e: &'a mut [f64],
    se: &'a mut [f64],
    ts: &'a mut [f64],
}

// Bad-value flags found while reading a date (OR-ed over dates: order-independent).
const BAD_W_NEG: u8 = 1;
const BAD_W_INF: u8 = 2;
const BAD_CAP_NEG: u8 = 4;
const BAD_CAP_INF: u8 = 8;
const BAD_CODE: u8 = 16;
// An infinite style (cross_section_regress only: for `neutralize` a non-finite control is missing).
const BAD_X_INF: u8 = 32;

/// Per-thread work space, reused across dates.
#[derive(Default)]
struct Scratch {
    // The used observations of the date, gathered: original index, y, w, bucket, and the
    // styles transposed (K × N, column a at a*N).
    idx: Vec<u32>,
    yv: Vec<f64>,
    wv: Vec<f64>,
    bk: Vec<u32>,
    xt: Vec<f64>,
    fit: Vec<f64>,
    // Sufficient statistics per bucket (industry, or one bucket without industries).
    cnt: Vec<usize>,
    sw: Vec<f64>,
    swy: Vec<f64>,
    swx: Vec<f64>,
    capg: Vec<f64>,
    sxx: Vec<f64>,
    sxy: Vec<f64>,
    tot_swx: Vec<f64>,
    // Infinite styles read on the date (counted only when the call refuses them).
    inf_x: u64,
    // The small structured system (see `solve`).
    active: Vec<usize>,
    free_ind: Vec<usize>,
    av: Vec<f64>,
    dinv: Vec<f64>,
    h: Vec<f64>,
    bq: Vec<f64>,
    bmat: Vec<f64>,
    ymat: Vec<f64>,
    cmat: Vec<f64>,
    cdiag: Vec<f64>,
    bd: Vec<f64>,
    col: Vec<f64>,
    f_ind: Vec<f64>,
    work: Vec<f64>,
    qa: Vec<f64>,
    ubar: Vec<f64>,
    // The styles kept on the date (those with dispersion among the used observations).
    kept: Vec<usize>,
    // The weighted means the kept styles were centred on (see `solve`).
    mu: Vec<f64>,
    // Whether the date's SST, or a non-zero SSR, fell below `TINY_SUM_SQ` (see `regress_date`).
    tiny_sums: bool,
}

/// Below this weighted sum of squares some of its terms may have underflowed (returns around
/// 1e-155: their squares are subnormal), so that R², the SSR and the standard errors lost their
/// digits (standard errors of 0, R² off by 90 %) while staying finite.
const TINY_SUM_SQ: f64 = 1e-270;

fn reset(v: &mut Vec<f64>, len: usize) {
    v.clear();
    v.resize(len, 0.0);
}

/// Shape checks shared by the public kernels (values are checked while the dates are read).
fn check_shapes(
    t: usize,
    n: usize,
    weights: &Weights<'_>,
    cap: Option<&ArrayView2<'_, f64>>,
    design: &Design<'_>,
) -> Result<()> {
    let want = [t, n];
    if let Weights::Given(w) = weights {
        if w.shape() != want {
            return Err(value_error!("weights has shape {:?}, expected {:?}", w.shape(), want));
        }
    }
    if let Some(c) = cap {
        if c.shape() != want {
            return Err(value_error!("cap has shape {:?}, expected {:?}", c.shape(), want));
        }
    }
    if matches!(weights, Weights::SqrtCap) && cap.is_none() {
        return Err(value_error!("weights = sqrt(cap) needs cap"));
    }
    if let Some(s) = &design.styles {
        if s.shape()[..2] != want {
            return Err(value_error!(
                "styles has shape {:?}, expected ({t}, {n}, K)",
                s.shape()
            ));
        }
    }
    if let Some(codes) = &design.industry {
        if codes.shape() != want {
            return Err(value_error!("industry has shape {:?}, expected {:?}", codes.shape(), want));
        }
    }
    Ok(())
}

fn flag_error(bad: u8, g: usize, inf_x: u64) -> Result<()> {
    let msg = if bad & BAD_X_INF != 0 {
        format!("styles must not contain infinite values ({inf_x} found; NaN marks a missing exposure)")
    } else if bad & BAD_CODE != 0 {
        format!("industry codes must lie in -1..{} (-1 = none, {g} industries)", g as i64 - 1)
    } else if bad & BAD_W_INF != 0 {
        "weights must not contain infinite values".into()
    } else if bad & BAD_W_NEG != 0 {
        "weights must be non-negative (negative values found; NaN drops the observation)".into()
    } else if bad & BAD_CAP_INF != 0 {
        "cap must not contain infinite values".into()
    } else if bad & BAD_CAP_NEG != 0 {
        "cap must be non-negative (negative values found; NaN drops the observation)".into()
    } else {
        return Ok(());
    };
    Err(crate::error::Error::Value(msg))
}

/// Batched weighted cross-sectional regression, one independent WLS per date.
///
/// `returns` `(T, N)`; `weights` (see [`Weights`]); `cap` `(T, N)` needed for
/// [`Constraint::Cap`] when industries are used and for [`Weights::SqrtCap`] (negative or
/// infinite values are an error). Observations used on a date: finite return, finite positive
/// weight, every style finite, industry code ≥ 0 (when industries are used) and finite cap (when
/// the cap constraint is used). A style that is constant over a date's used observations (no
/// dispersion, e.g. all zeros while a descriptor warms up) drops out of that date: its factor
/// return, standard error and t-statistic are NaN and the other factors are estimated as if it
/// had not been given (the degrees of freedom count only the kept columns). A date with fewer
/// observations than free parameters, or a singular design, gives NaN outputs (and its `n_obs`);
/// it never fails the call.
///
/// `lag` offsets the design: the regression of date `t` uses `returns[t]` with the styles,
/// industry codes, weights and cap of row `t − lag` (all inputs keep the same `T` rows; nothing is
/// copied). Dates `t < lag` give NaN outputs and `n_obs = 0`; the last `lag` rows of the design
/// inputs are not read. `lag ≥ T` gives an all-NaN result.
pub fn cross_section_regress(
    returns: ArrayView2<'_, f64>,
    weights: Weights<'_>,
    cap: Option<ArrayView2<'_, f64>>,
    design: &Design<'_>,
    lag: usize,
) -> Result<CrossSection> {
    run(returns, weights, cap, design, true, lag)
}

/// Residual of the weighted regression of `x` on an intercept, `controls` `(T, N, C)` and the
/// industry codes, per date. NaN where not used (same rules as the regression), and on dates
/// with too few observations or a singular design. The residual is orthogonal to every regressor.
/// A control that is constant over a date's used observations is dropped on that date (the
/// intercept already spans it).
pub fn neutralize(
    x: ArrayView2<'_, f64>,
    controls: Option<ArrayView3<'_, f64>>,
    industry: Option<ArrayView2<'_, i32>>,
    n_industries: usize,
    weights: Weights<'_>,
) -> Result<Array2<f64>> {
    // Intercept + industries with the equal-sum constraint spans the same space as the industry
    // dummies alone (or the intercept alone without industries).
    let design = Design {
        styles: controls,
        industry,
        n_industries,
        market: true,
        constraint: Constraint::Equal,
    };
    Ok(run(x, weights, None, &design, false, 0)?.residuals)
}

fn run(
    returns: ArrayView2<'_, f64>,
    weights: Weights<'_>,
    cap: Option<ArrayView2<'_, f64>>,
    design: &Design<'_>,
    stats: bool,
    lag: usize,
) -> Result<CrossSection> {
    let (t, n) = returns.dim();
    check_shapes(t, n, &weights, cap.as_ref(), design)?;
    let k = design.styles.as_ref().map_or(0, |s| s.shape()[2]);
    let use_ind = design.industry.is_some();
    let g = if use_ind { design.n_industries } else { 0 };
    let m = design.market as usize;
    let p = m + g + k;
    if p == 0 {
        return Err(value_error!(
            "the design has no factors: set market=True or give styles or industry"
        ));
    }
    if use_ind && design.market && design.constraint == Constraint::None && g > 0 {
        return Err(value_error!(
            "industry_constraint=None with market=True and industries makes the design singular \
             (the industry dummies sum to the market column); use 'cap' or 'equal', or market=False"
        ));
    }
    if use_ind && design.constraint == Constraint::Cap && cap.is_none() {
        return Err(value_error!(
            "industry_constraint='cap' needs cap (T, N) market capitalisations"
        ));
    }
    if n > u32::MAX as usize || g > u32::MAX as usize {
        return Err(value_error!("too many assets or industries ({n}, {g})"));
    }
    let cfg = Cfg {
        n,
        k,
        g,
        use_ind,
        market: design.market,
        constraint: if use_ind { design.constraint } else { Constraint::None },
        stats,
    };

    // Zero-copy when already C-contiguous (the Python wrappers make sure of it).
    let y: CowArray<'_, f64, Ix2> = returns.as_standard_layout();
    let w: Option<CowArray<'_, f64, Ix2>> = match &weights {
        Weights::Given(a) => Some(a.as_standard_layout()),
        _ => None,
    };
    let cp: Option<CowArray<'_, f64, Ix2>> = cap.as_ref().map(|a| a.as_standard_layout());
    let codes: Option<CowArray<'_, i32, Ix2>> =
        design.industry.as_ref().map(|a| a.as_standard_layout());
    let x: Option<CowArray<'_, f64, Ix3>> = design.styles.as_ref().map(|a| a.as_standard_layout());

    // Every element is (re)written by the date loop; zeros() is only the cheapest safe allocation.
    let mut factor_returns = Array2::<f64>::zeros((t, p));
    let mut residuals = Array2::<f64>::zeros((t, n));
    let mut std_errors = Array2::<f64>::zeros((t, p));
    let mut tstats = Array2::<f64>::zeros((t, p));
    let mut r2 = Array1::<f64>::zeros(t);
    let mut n_obs = Array1::<i64>::zeros(t);
    if t == 0 {
        return Ok(CrossSection { factor_returns, residuals, r2, std_errors, tstats, n_obs });
    }

    let ys = slice(&y);
    let ws = w.as_ref().map(slice);
    let cps = cp.as_ref().map(slice);
    let cs = codes.as_ref().map(|a| a.as_slice().expect("standard layout"));
    let xs: &[f64] = x.as_ref().map_or(&[], |a| a.as_slice().expect("standard layout"));
    let bad = AtomicU8::new(0);
    let inf_x = AtomicU64::new(0);

    let chunk_n = n.max(1);
    let resid_slice = residuals.as_slice_mut().expect("fresh array");
    // With N = 0 there are no residual chunks to zip with: give each date an empty slice.
    let mut empty: Vec<&mut [f64]> = Vec::new();
    if n == 0 {
        empty.extend((0..t).map(|_| <&mut [f64]>::default()));
    }
    let resid_rows: Vec<&mut [f64]> = if n == 0 {
        empty
    } else {
        resid_slice.chunks_mut(chunk_n).collect()
    };

    factor_returns
        .as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(p)
        .zip(resid_rows.into_par_iter())
        .zip(std_errors.as_slice_mut().expect("fresh array").par_chunks_mut(p))
        .zip(tstats.as_slice_mut().expect("fresh array").par_chunks_mut(p))
        .zip(r2.as_slice_mut().expect("fresh array").par_iter_mut())
        .zip(n_obs.as_slice_mut().expect("fresh array").par_iter_mut())
        .enumerate()
        // The scratch space (≈ 2·N·K floats) is built once per rayon job: keep jobs a few dates
        // long so that it is not rebuilt for every date. Results do not depend on the split.
        .with_min_len(8)
        .for_each_init(Scratch::default, |s, (ti, (((((f, e), se), ts), r2t), nt))| {
            if parallel::cancelled() {
                return; // the caller discards the whole result
            }
            // The design side (styles, codes, weights, cap) of date ti is read from row ti − lag.
            let Some(td) = ti.checked_sub(lag) else {
                f.fill(f64::NAN);
                e.fill(f64::NAN);
                se.fill(f64::NAN);
                ts.fill(f64::NAN);
                *r2t = f64::NAN;
                *nt = 0;
                return;
            };
            let row = RowIn {
                y: &ys[ti * n..(ti + 1) * n],
                w: match (&weights, ws) {
                    (Weights::Given(_), Some(a)) => RowW::Given(&a[td * n..(td + 1) * n]),
                    (Weights::SqrtCap, _) => RowW::SqrtCap,
                    _ => RowW::Equal,
                },
                codes: cs.map(|a| &a[td * n..(td + 1) * n]),
                cap: cps.map(|a| &a[td * n..(td + 1) * n]),
                x: if k > 0 { &xs[td * n * k..(td + 1) * n * k] } else { &[] },
            };
            let (r, used, b) = regress_date(&cfg, &row, RowOut { f, e, se, ts }, s);
            *r2t = r;
            *nt = used as i64;
            if b != 0 {
                bad.fetch_or(b, Ordering::Relaxed);
                if b & BAD_X_INF != 0 {
                    inf_x.fetch_add(s.inf_x, Ordering::Relaxed);
                }
            }
        });
    flag_error(bad.into_inner(), g, inf_x.into_inner())?;
    Ok(CrossSection { factor_returns, residuals, r2, std_errors, tstats, n_obs })
}

fn slice<'a>(a: &'a CowArray<'_, f64, Ix2>) -> &'a [f64] {
    a.as_slice().expect("standard layout")
}

/// `Σ_j (w_j a_j) c_rj` for four columns `c_0..c_3` at once: the kernel of the style block of
/// `XᵀWX` (and of `XᵀWy`, with `y` as a column).
///
/// Lane `l` of each of the four partial sums takes the elements `j ≡ l (mod 4)`; the lanes are
/// combined as `(s0 + s1) + (s2 + s3)`, then the tail (`len mod 4` elements) is added. The AVX
/// copy performs exactly these operations (no fused multiply-add), so both give identical
/// results; which one runs depends only on the CPU, never on the number of threads.
#[inline(always)]
fn wdot4(w: &[f64], a: &[f64], c: [&[f64]; 4]) -> [f64; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU supports AVX (checked just above).
            return unsafe { wdot4_avx(w, a, c) };
        }
    }
    wdot4_scalar(w, a, c)
}

#[inline(always)]
fn wdot4_scalar(w: &[f64], a: &[f64], c: [&[f64]; 4]) -> [f64; 4] {
    let len = w.len();
    let a = &a[..len];
    let c = [&c[0][..len], &c[1][..len], &c[2][..len], &c[3][..len]];
    let full = len / 4 * 4;
    let mut acc = [[0.0f64; 4]; 4];
    let mut j = 0;
    while j < full {
        for l in 0..4 {
            let u = w[j + l] * a[j + l];
            for r in 0..4 {
                acc[r][l] += u * c[r][j + l];
            }
        }
        j += 4;
    }
    finish4(w, a, c, full, acc)
}

/// Combine the lanes and add the tail (shared by both copies of [`wdot4`]).
#[inline(always)]
fn finish4(w: &[f64], a: &[f64], c: [&[f64]; 4], full: usize, acc: [[f64; 4]; 4]) -> [f64; 4] {
    let mut out = [0.0; 4];
    for r in 0..4 {
        let mut tail = 0.0;
        for j in full..w.len() {
            tail += (w[j] * a[j]) * c[r][j];
        }
        out[r] = ((acc[r][0] + acc[r][1]) + (acc[r][2] + acc[r][3])) + tail;
    }
    out
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn wdot4_avx(w: &[f64], a: &[f64], c: [&[f64]; 4]) -> [f64; 4] {
    use std::arch::x86_64::*;
    let len = w.len();
    let a = &a[..len];
    let c = [&c[0][..len], &c[1][..len], &c[2][..len], &c[3][..len]];
    let full = len / 4 * 4;
    let mut v = [_mm256_setzero_pd(); 4];
    let mut j = 0;
    while j < full {
        // SAFETY: j + 4 <= len for every slice (all were cut to `len` above).
        let u = _mm256_mul_pd(_mm256_loadu_pd(w.as_ptr().add(j)), _mm256_loadu_pd(a.as_ptr().add(j)));
        for r in 0..4 {
            let x = _mm256_loadu_pd(c[r].as_ptr().add(j));
            v[r] = _mm256_add_pd(v[r], _mm256_mul_pd(u, x));
        }
        j += 4;
    }
    let mut acc = [[0.0f64; 4]; 4];
    for r in 0..4 {
        _mm256_storeu_pd(acc[r].as_mut_ptr(), v[r]);
    }
    finish4(w, a, c, full, acc)
}

/// The style block of `XᵀWX` (lower triangle, `sxx[a * k + l]`, l ≤ a) and the styles' `XᵀWy`
/// (`sxy`) from the gathered observations (`xt`: styles transposed, column a at `a * n`).
fn style_sums(xt: &[f64], wv: &[f64], yv: &[f64], n: usize, k: usize, sxx: &mut [f64], sxy: &mut [f64]) {
    let nu = wv.len();
    let col = |l: usize| &xt[l * n..l * n + nu];
    for a in 0..k {
        let xa = col(a);
        // Columns x_0..x_a then y, four at a time (the last group padded by repeating y).
        let ncols = a + 2;
        let pick = |r: usize| if r <= a { col(r) } else { yv };
        let mut r0 = 0;
        while r0 < ncols {
            let out = wdot4(wv, xa, [pick(r0), pick(r0 + 1), pick(r0 + 2), pick(r0 + 3)]);
            for (r, v) in out.iter().enumerate() {
                let rr = r0 + r;
                if rr <= a {
                    sxx[a * k + rr] = *v;
                } else if rr == a + 1 {
                    sxy[a] = *v;
                }
            }
            r0 += 4;
        }
    }
}

/// Regress one date: returns `(r2, n_obs, bad-value flags)`.
///
/// A date whose outputs are not all finite, or whose sums of squares are tiny enough to have
/// lost digits to underflow (`TINY_SUM_SQ`), is looked at once more: if some input lies beyond
/// `2^±SCALE_RANGE` in magnitude (a style or a return around 1e154 or above, whose squares and
/// cross products overflow, or values so small that they underflow), it is solved again on
/// inputs scaled by powers of two ([`regress_scaled`]); the factor returns are linear in the
/// returns and inversely proportional to their style, so scaling by powers of two changes no bit
/// of the arithmetic but its range. Ordinary dates never take this path.
fn regress_date(
    cfg: &Cfg,
    row: &RowIn<'_>,
    out: RowOut<'_>,
    s: &mut Scratch,
) -> (f64, usize, u8) {
    out.f.fill(f64::NAN);
    out.se.fill(f64::NAN);
    out.ts.fill(f64::NAN);
    let (used, bad) = gather(cfg, row, out.e, s);
    if bad != 0 {
        return (f64::NAN, used, bad);
    }
    let RowOut { f, e, se, ts } = out;
    s.tiny_sums = false;
    let r2 = solve(cfg, used, RowOut { f: &mut *f, e: &mut *e, se: &mut *se, ts: &mut *ts }, s);
    let finite = r2.is_finite() && !s.tiny_sums && f.iter().chain(se.iter()).all(|v| !v.is_infinite());
    if finite {
        return (r2, used, 0);
    }
    match Scales::of(cfg, row) {
        Some(sc) => (regress_scaled(cfg, row, &sc, RowOut { f, e, se, ts }, s), used, 0),
        None => (r2, used, 0),
    }
}

/// Magnitudes beyond `2^SCALE_RANGE` (or, for a whole variable, below `2^-SCALE_RANGE`) may
/// overflow (underflow) the products of the normal equations: up to three such factors meet in
/// `w·x·x`, and sums over millions of observations must stay below 2^1023.
const SCALE_RANGE: i32 = 300;

/// Powers of two to scale one date's inputs by: `2^-e` for the returns, each style, the weights
/// and the caps.
struct Scales {
    y: i32,
    x: Vec<i32>,
    w: i32,
    cap: i32,
}

impl Scales {
    /// The scales of a date, or None when every variable's largest finite magnitude is within
    /// `2^±SCALE_RANGE` (then a non-finite result is not a matter of range).
    fn of(cfg: &Cfg, row: &RowIn<'_>) -> Option<Scales> {
        let amax = |it: &mut dyn Iterator<Item = f64>| it.filter(|v| v.is_finite()).fold(0.0f64, |a, v| a.max(v.abs()));
        let exp = |a: f64| if a > 0.0 && a.is_finite() { crate::clean::exponent(a) } else { 0 };
        let out_of_range = |a: f64| a > 0.0 && !(-SCALE_RANGE..=SCALE_RANGE).contains(&exp(a));
        let k = cfg.k;
        let ay = amax(&mut row.y.iter().copied());
        let ax: Vec<f64> = (0..k).map(|a| amax(&mut row.x.iter().skip(a).step_by(k.max(1)).copied())).collect();
        let aw = match row.w {
            RowW::Given(w) => amax(&mut w.iter().copied()),
            _ => 1.0,
        };
        let ac = row.cap.map_or(1.0, |c| amax(&mut c.iter().copied()));
        if !(out_of_range(ay) || ax.iter().any(|&a| out_of_range(a)) || out_of_range(aw) || out_of_range(ac)) {
            return None;
        }
        Some(Scales { y: exp(ay), x: ax.iter().map(|&a| exp(a)).collect(), w: exp(aw), cap: exp(ac) })
    }
}

/// [`regress_date`]'s second try: the date's inputs scaled by powers of two (each variable to a
/// largest magnitude in [1, 2)), solved, and the outputs scaled back (exact unless the result
/// itself is beyond the range of a float). Returns R².
#[cold]
fn regress_scaled(cfg: &Cfg, row: &RowIn<'_>, sc: &Scales, out: RowOut<'_>, s: &mut Scratch) -> f64 {
    use crate::clean::ldexp;
    let k = cfg.k;
    let y: Vec<f64> = row.y.iter().map(|&v| ldexp(v, -sc.y)).collect();
    let x: Vec<f64> = row.x.iter().enumerate().map(|(i, &v)| ldexp(v, -sc.x[i % k.max(1)])).collect();
    let cap: Option<Vec<f64>> = row.cap.map(|c| c.iter().map(|&v| ldexp(v, -sc.cap)).collect());
    let w: Option<Vec<f64>> = match row.w {
        RowW::Given(w) => Some(w.iter().map(|&v| ldexp(v, -sc.w)).collect()),
        // sqrt(cap) from the original caps (any positive scale of the weights gives the same fit)
        RowW::SqrtCap => row.cap.map(|c| c.iter().map(|&v| ldexp(v.sqrt(), -(exponent_of_sqrt(sc.cap)))).collect()),
        RowW::Equal => None,
    };
    let scaled = RowIn {
        y: &y,
        w: match (&w, row.w) {
            (Some(w), _) => RowW::Given(w),
            (None, other) => other,
        },
        codes: row.codes,
        cap: cap.as_deref(),
        x: &x,
    };
    out.f.fill(f64::NAN);
    out.se.fill(f64::NAN);
    out.ts.fill(f64::NAN);
    let (used, bad) = gather(cfg, &scaled, out.e, s);
    if bad != 0 {
        return f64::NAN; // not reached: the checks of the first pass saw the same values
    }
    let RowOut { f, e, se, ts } = out;
    let r2 = solve(cfg, used, RowOut { f: &mut *f, e: &mut *e, se: &mut *se, ts: &mut *ts }, s);
    // Unscale: market and industry factor returns and the residuals are in units of the
    // returns; a style's factor return in returns per unit of that style.
    let m = cfg.market as usize;
    let g = if cfg.use_ind { cfg.g } else { 0 };
    for (j, (fj, sj)) in f.iter_mut().zip(se.iter_mut()).enumerate() {
        let ej = if j < m + g { sc.y } else { sc.y - sc.x[j - m - g] };
        *fj = ldexp(*fj, ej);
        *sj = ldexp(*sj, ej);
    }
    for v in e.iter_mut() {
        *v = ldexp(*v, sc.y);
    }
    r2
}

/// The exponent by which `sqrt(cap)` scales when cap scales by `2^-e` (rounded down: any power
/// of two will do for weights).
fn exponent_of_sqrt(e: i32) -> i32 {
    e.div_euclid(2)
}

/// How many rows ahead the styles are prefetched in [`gather`]: the loop does enough per row
/// that the hardware prefetcher alone leaves it waiting on memory.
const PREFETCH_ROWS: usize = 64;

/// A cache prefetch hint for `x[at]` (no effect when `at` is out of range or off x86-64).
#[inline(always)]
fn prefetch(x: &[f64], at: usize) {
    #[cfg(target_arch = "x86_64")]
    if at < x.len() {
        // SAFETY: a prefetch is only a hint; the address lies inside `x`.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(x.as_ptr().add(at) as *const i8);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (x, at);
}

/// Pass 1: check every value of the date, select the used observations, gather them (styles
/// transposed) and accumulate the per-bucket sums. Writes NaN to every residual.
#[inline(never)]
fn gather(cfg: &Cfg, row: &RowIn<'_>, e: &mut [f64], s: &mut Scratch) -> (usize, u8) {
    let Cfg { n, k, g, use_ind, .. } = *cfg;
    let nb = if use_ind { g } else { 1 };
    let use_cap = use_ind && cfg.constraint == Constraint::Cap;
    s.cnt.clear();
    s.cnt.resize(nb, 0);
    reset(&mut s.sw, nb);
    reset(&mut s.swy, nb);
    reset(&mut s.capg, nb);
    reset(&mut s.swx, nb * k);
    s.idx.resize(n, 0);
    s.bk.resize(n, 0);
    s.yv.resize(n, 0.0);
    s.wv.resize(n, 0.0);
    s.xt.resize(n * k, 0.0);

    // Local slices: keeps the vectors' pointers and lengths in registers in the hot loop.
    let (idx, bk, yv, wv, xt) = (&mut s.idx[..], &mut s.bk[..], &mut s.yv[..], &mut s.wv[..], &mut s.xt[..]);
    let (cnt, sw, swy, capg, swx) = (&mut s.cnt[..], &mut s.sw[..], &mut s.swy[..], &mut s.capg[..], &mut s.swx[..]);
    let (y, x) = (row.y, row.x);
    let mut bad = 0u8;
    let mut inf_x = 0u64;
    let mut j = 0usize;
    let gi = g as i64;
    for i in 0..n {
        let yi = y[i];
        let ci = match row.cap {
            Some(c) => {
                let v = c[i];
                bad |= ((v < 0.0) as u8) * BAD_CAP_NEG | (v.is_infinite() as u8) * BAD_CAP_INF;
                v
            }
            None => 1.0,
        };
        let wi = match row.w {
            RowW::Equal => 1.0,
            RowW::Given(w) => {
                let v = w[i];
                bad |= ((v < 0.0) as u8) * BAD_W_NEG | (v.is_infinite() as u8) * BAD_W_INF;
                v
            }
            RowW::SqrtCap => ci.sqrt(),
        };
        let mut ok = yi.is_finite() & (wi > 0.0) & wi.is_finite();
        let mut b = 0usize;
        if use_ind {
            if let Some(c) = row.codes {
                let code = c[i] as i64;
                bad |= (((code < -1) | (code >= gi)) as u8) * BAD_CODE;
                ok &= (code >= 0) & (code < gi);
                b = code.max(0) as usize;
            }
        }
        if use_cap {
            ok &= ci.is_finite();
        }
        // Speculatively copy the styles into slot j; the slot is kept only if all are finite.
        prefetch(x, (i + PREFETCH_ROWS) * k);
        let xi = &x[i * k..(i + 1) * k];
        let mut at = j;
        for &v in xi {
            ok &= v.is_finite();
            xt[at] = v;
            at += n;
        }
        e[i] = f64::NAN;
        if ok {
            idx[j] = i as u32;
            bk[j] = b as u32;
            yv[j] = yi;
            wv[j] = wi;
            cnt[b] += 1;
            sw[b] += wi;
            swy[b] += wi * yi;
            for (acc, v) in swx[b * k..(b + 1) * k].iter_mut().zip(xi) {
                *acc += wi * v;
            }
            if use_cap {
                capg[b] += ci;
            }
            j += 1;
        } else if cfg.stats {
            // (the rare rows not used: an infinite style is an error of cross_section_regress)
            inf_x += xi.iter().filter(|v| v.is_infinite()).count() as u64;
        }
    }
    if inf_x > 0 {
        bad |= BAD_X_INF;
    }
    s.inf_x = inf_x;
    (j, bad)
}

/// Build and solve the date's normal equations, then residuals, R² and standard errors.
/// Returns R² (NaN on a degenerate date, whose outputs stay NaN).
///
/// The free parameters split into the industries left after the substitution (`q` of them) and
/// the dense block `[market?, styles]` (`d = m + K`). In that order the reduced matrix is
///
/// ```text
/// Rᵀ XᵀWX R = [[A, B], [Bᵀ, C]],   A = diag(sw_g) + sw_L a aᵀ   (q × q),
/// ```
///
/// `a` the substitution coefficients (`f_L = Σ a_g f_g`), `B = ` industry × dense sums,
/// `C = ` the dense block. `A⁻¹` is applied by Sherman–Morrison in O(q), the Schur complement
/// `S = C − Bᵀ A⁻¹ B` is factored with [`Cholesky`], and the standard errors come from the block
/// inverse `[[A⁻¹ + Y S⁻¹ Yᵀ, −Y S⁻¹], [·, S⁻¹]]` with `Y = A⁻¹ B`: O(q d² + d³) per date
/// instead of O((q + d)³). With a market factor and a constraint the system solved is that of
/// the free industry levels (no market column, no substitution: `a = 0`, `A` diagonal), mapped
/// back to the market and the constrained industries at the end.
/// A centred style's pivot is tested against `max(centred Σ w (x − μ)², CENTRED_TOL · raw Σ w x²)`
/// (see `solve`): styles whose spread is at least 1e-4 of their level are tested as centred
/// columns; below that the reference is the raw norm's 1e-8, so that a style whose spread is under
/// about 1e-10 of its level (rounding, not exposure: constant but for an ulp) is declared
/// dependent, as the raw design was (a singular date), instead of being fitted on rounding.
const CENTRED_TOL: f64 = 1e-8;

#[inline(never)]
fn solve(cfg: &Cfg, used: usize, out: RowOut<'_>, s: &mut Scratch) -> f64 {
    let Cfg { n, g, use_ind, .. } = *cfg;
    let nb = if use_ind { g } else { 1 };
    let use_cap = use_ind && cfg.constraint == Constraint::Cap;
    let nu = used;
    // With a market factor and constrained industries, the design [1, D] under Σ_g c_g f_g = 0
    // is solved as the design D of free industry levels λ_g = f_mkt + f_g (the market column is
    // the sum of the dummies, so both span the same fits) and mapped back afterwards:
    // f_mkt = Σ_g c_g λ_g / Σ_g c_g, f_g = λ_g − f_mkt. Its industry block is diagonal. Solving
    // the constrained system itself by substitution put a rank-one term of the size of the
    // largest industry's weight on every industry: an observation with a small weight alone in
    // its industry (weight 1e-6 of the others') then cost 2 % of the factor returns, to
    // cancellation in the Schur complement, while the WLS problem was perfectly determined.
    let levels = cfg.market && use_ind && cfg.constraint != Constraint::None;
    // `m`: the market column of the system solved; `mo`: of the outputs.
    let m = if levels { 0 } else { cfg.market as usize };
    let mo = cfg.market as usize;
    // Styles without dispersion on this date leave the system; `k` counts the kept ones, whose
    // gathered columns are now 0..k (original positions in `s.kept`).
    let k = drop_constant_styles(cfg.k, n, nu, nb, s);
    let d = m + k;

    // Active industries; with a constraint, the one with the largest weight c_L (the last of
    // equals: the last one under "equal") is eliminated: f_L = Σ_g a_g f_g, a_g = −c_g / c_L.
    // The largest keeps |a_g| ≤ 1: eliminating a small industry (one micro-cap member against
    // industries a million times its cap) made a_g ~ 1e6 and the rank-one term ρ a aᵀ of the
    // industry block ~ 1e12 times its diagonal, which cost every factor return 1e-5 of its value
    // (the numbers then depended on which industry happened to carry the highest code).
    s.active.clear();
    if use_ind {
        s.active.extend((0..g).filter(|&gg| s.cnt[gg] > 0));
    }
    let na = s.active.len();
    let c_of = |gg: usize| if use_cap { s.capg[gg] } else { 1.0 };
    let mut elim: Option<usize> = None; // position in `active`
    let mut csum = 0.0; // Σ c_g over the active industries (the levels' map back)
    if levels {
        for &gg in &s.active {
            csum += c_of(gg);
        }
        // Every active industry with zero total cap: the constraint is undefined.
        if na > 0 && !(csum > 0.0) {
            return degenerate(out.e);
        }
    } else if use_ind && cfg.constraint != Constraint::None && na > 0 {
        for j in 0..na {
            let cj = c_of(s.active[j]);
            if cj > 0.0 && elim.map_or(true, |b| cj >= c_of(s.active[b])) {
                elim = Some(j);
            }
        }
        // Every active industry with zero total cap: the constraint is undefined.
        if elim.is_none() {
            return degenerate(out.e);
        }
    }
    s.free_ind.clear();
    s.free_ind.extend((0..na).filter(|&j| Some(j) != elim).map(|j| s.active[j]));
    let q = s.free_ind.len();
    let pf = q + d;
    // (d == 0 && na == 0: every factor of the design was a style without dispersion.)
    if nu == 0 || nu < pf || (d == 0 && na == 0) {
        return degenerate(out.e);
    }

    // Totals over buckets, in a fixed order.
    let (mut tot_sw, mut tot_swy) = (0.0, 0.0);
    reset(&mut s.tot_swx, k);
    for bb in 0..nb {
        tot_sw += s.sw[bb];
        tot_swy += s.swy[bb];
        for a in 0..k {
            s.tot_swx[a] += s.swx[bb * k + a];
        }
    }

    // When the design spans a constant (a market factor, or industry dummies without a
    // constraint: they sum to one over the used observations), each style is centred on its
    // weighted mean μ_a. The fit, the residuals and the style factor returns are those of the
    // raw columns; the market (or every industry) absorbs μᵀ f_styles, taken off again below.
    // Without it a style far from zero against its spread loses (level / spread)² · ε in the
    // normal equations: 1e-6 of the factor returns at a level of 1e5 spreads, a wrong or
    // singular date at 1e6 (e.g. characteristics in levels, controls with an offset).
    let centre = k > 0 && (cfg.market || (use_ind && cfg.constraint == Constraint::None));
    reset(&mut s.mu, k);
    if centre {
        for a in 0..k {
            let mu = s.tot_swx[a] / tot_sw;
            s.mu[a] = mu;
            for v in &mut s.xt[a * n..a * n + nu] {
                *v -= mu;
            }
        }
    }

    // Style block of XᵀWX and XᵀWy (the industry × style sums were accumulated in `gather`).
    reset(&mut s.sxx, k * k);
    reset(&mut s.sxy, k);
    style_sums(&s.xt, &s.wv[..nu], &s.yv[..nu], n, k, &mut s.sxx, &mut s.sxy);

    if centre {
        for a in 0..k {
            let mu = s.mu[a];
            if mu * mu * tot_sw <= s.sxx[a * k + a] {
                // The bucket sums Σ w (x − μ) = Σ w x − μ Σ w: with the level within the
                // (weighted) spread the difference loses no more than the sums' own rounding.
                for bb in 0..nb {
                    s.swx[bb * k + a] -= mu * s.sw[bb];
                }
            } else {
                // A level beyond the spread: that difference of two sums near (level × weight)
                // keeps their rounding, about ulp(level) · Σ w, which can be as large as the
                // true sum (itself only the rounding of μ). The system then paired the centred
                // style block with bucket sums of other columns, and the gap, times the level of
                // y, went into the style's factor return: 1e-3 of it for a style at 5e4 ± 0.02
                // and y at 3e4 (Fama-MacBeth of levels on levels). They are summed again from
                // the centred column (a scatter over the buckets: only here, as it costs about
                // 15 % of the regression when done for every style).
                for bb in 0..nb {
                    s.swx[bb * k + a] = 0.0;
                }
                let col = &s.xt[a * n..a * n + nu];
                for ((&v, &bk), &w) in col.iter().zip(&s.bk[..nu]).zip(&s.wv[..nu]) {
                    s.swx[bk as usize * k + a] += w * v;
                }
            }
        }
        reset(&mut s.tot_swx, k);
        for bb in 0..nb {
            for a in 0..k {
                s.tot_swx[a] += s.swx[bb * k + a];
            }
        }
    }

    // The blocks. Dense column c: market (c = 0 when m = 1) or style c − m.
    let (rho, l_g) = match elim {
        Some(j) => (s.sw[s.active[j]], s.active[j]),
        None => (0.0, usize::MAX),
    };
    let c_l = if elim.is_some() { c_of(l_g) } else { 1.0 };
    reset(&mut s.av, q);
    reset(&mut s.dinv, q);
    reset(&mut s.bq, q);
    reset(&mut s.bmat, q * d);
    for (i, &gg) in s.free_ind.iter().enumerate() {
        let ai = if elim.is_some() { -c_of(gg) / c_l } else { 0.0 };
        s.av[i] = ai;
        s.dinv[i] = 1.0 / s.sw[gg];
        let row = &mut s.bmat[i * d..(i + 1) * d];
        if elim.is_some() {
            s.bq[i] = s.swy[gg] + ai * s.swy[l_g];
            if m == 1 {
                row[0] = s.sw[gg] + ai * s.sw[l_g];
            }
            for a in 0..k {
                row[m + a] = s.swx[gg * k + a] + ai * s.swx[l_g * k + a];
            }
        } else {
            s.bq[i] = s.swy[gg];
            if m == 1 {
                row[0] = s.sw[gg];
            }
            row[m..].copy_from_slice(&s.swx[gg * k..(gg + 1) * k]);
        }
    }
    reset(&mut s.cmat, d * d);
    reset(&mut s.bd, d);
    reset(&mut s.cdiag, d);
    if m == 1 {
        s.cmat[0] = tot_sw;
        s.bd[0] = tot_swy;
        for a in 0..k {
            s.cmat[m + a] = s.tot_swx[a];
            s.cmat[(m + a) * d] = s.tot_swx[a];
        }
    }
    for a in 0..k {
        s.bd[m + a] = s.sxy[a];
        for l in 0..=a {
            let v = s.sxx[a * k + l];
            s.cmat[(m + a) * d + m + l] = v;
            s.cmat[(m + l) * d + m + a] = v;
        }
    }
    for c in 0..d {
        s.cdiag[c] = s.cmat[c * d + c];
    }
    if centre {
        // A centred style is tested against its own (centred) squared norm, but never below
        // CENTRED_TOL of its raw one Σ w x²: a style whose spread is rounding against its level
        // (constant but for an ulp or two) is no better determined than before centring, when
        // the date was singular (NaN); against its centred norm alone it passed, and its factor
        // return, and the market's through μᵀ f, were rounding divided by rounding (1e11, 1e13).
        for a in 0..k {
            let raw = s.cdiag[m + a] + 2.0 * s.mu[a] * s.tot_swx[a] + s.mu[a] * s.mu[a] * tot_sw;
            s.cdiag[m + a] = s.cdiag[m + a].max(CENTRED_TOL * raw);
        }
    }

    // A⁻¹ v = D⁻¹ v − γ h (hᵀ v), h = D⁻¹ a, γ = ρ / (1 + ρ aᵀ D⁻¹ a).
    reset(&mut s.h, q);
    let mut tau = 0.0;
    for i in 0..q {
        s.h[i] = s.av[i] * s.dinv[i];
        tau += s.av[i] * s.h[i];
    }
    let gamma = rho / (1.0 + rho * tau);
    let apply_ainv = |v: &mut [f64], dinv: &[f64], h: &[f64]| {
        let mut hv = 0.0;
        for i in 0..v.len() {
            hv += h[i] * v[i];
        }
        for i in 0..v.len() {
            v[i] = dinv[i] * v[i] - gamma * h[i] * hv;
        }
    };

    // Y = A⁻¹ B (q × d, row-major), one column at a time.
    reset(&mut s.ymat, q * d);
    reset(&mut s.col, q);
    for c in 0..d {
        for i in 0..q {
            s.col[i] = s.bmat[i * d + c];
        }
        apply_ainv(&mut s.col, &s.dinv, &s.h);
        for i in 0..q {
            s.ymat[i * d + c] = s.col[i];
        }
    }
    // S = C − Bᵀ Y (lower triangle is what Cholesky reads; fill both for clarity).
    for c in 0..d {
        for e in 0..=c {
            let mut acc = 0.0;
            for i in 0..q {
                acc += s.bmat[i * d + c] * s.ymat[i * d + e];
            }
            let v = s.cmat[c * d + e] - acc;
            s.cmat[c * d + e] = v;
            s.cmat[e * d + c] = v;
        }
    }
    let Some(chol) = Cholesky::new_relative_to(&s.cmat, d, &s.cdiag) else {
        return degenerate(out.e);
    };

    // θ_d = S⁻¹ (b_d − Bᵀ A⁻¹ b_q), θ_q = A⁻¹ (b_q − B θ_d).
    s.col.copy_from_slice(&s.bq);
    apply_ainv(&mut s.col, &s.dinv, &s.h);
    for c in 0..d {
        let mut acc = 0.0;
        for i in 0..q {
            acc += s.bmat[i * d + c] * s.col[i];
        }
        s.bd[c] -= acc;
    }
    chol.solve_in_place(&mut s.bd);
    let theta_d = &s.bd;
    for i in 0..q {
        let mut acc = 0.0;
        for c in 0..d {
            acc += s.bmat[i * d + c] * theta_d[c];
        }
        s.col[i] = s.bq[i] - acc;
    }
    apply_ainv(&mut s.col, &s.dinv, &s.h);
    let theta_q = &s.col;

    // Factor returns by industry code / style, and the eliminated industry.
    let f_mkt = if m == 1 { theta_d[0] } else { 0.0 };
    reset(&mut s.f_ind, nb);
    for (i, &gg) in s.free_ind.iter().enumerate() {
        s.f_ind[gg] = theta_q[i];
    }
    if elim.is_some() {
        let mut fl = 0.0;
        for i in 0..q {
            fl += s.av[i] * theta_q[i];
        }
        s.f_ind[l_g] = fl;
    }

    // Pass 2: fitted values, residuals and sums of squares.
    s.fit.resize(n, 0.0);
    let fit = &mut s.fit[..nu];
    if use_ind {
        for (v, &b) in fit.iter_mut().zip(&s.bk[..nu]) {
            *v = f_mkt + s.f_ind[b as usize];
        }
    } else {
        fit.fill(f_mkt);
    }
    for a in 0..k {
        let fa = theta_d[m + a];
        for (v, x) in fit.iter_mut().zip(&s.xt[a * n..a * n + nu]) {
            *v += x * fa;
        }
    }
    let centred = cfg.market || (use_ind && cfg.constraint == Constraint::None && na > 0);
    let ybar = if centred { tot_swy / tot_sw } else { 0.0 };
    let (mut ssr, mut sst) = (0.0, 0.0);
    // Whether every used return equals the first: the centred SST is then 0 exactly (R² NaN, as
    // documented), but its computed value is w (y − ȳ)² with ȳ = Σ w y / Σ w off y by a rounding,
    // which made R² 1 − ssr / sst = 0 or 1 (e.g. one observation left beside the market).
    let y0 = s.yv[0];
    let mut constant = true;
    for j in 0..nu {
        let (yi, wi) = (s.yv[j], s.wv[j]);
        let ei = yi - fit[j];
        out.e[s.idx[j] as usize] = ei;
        ssr += wi * ei * ei;
        let dy = yi - ybar;
        sst += wi * dy * dy;
        constant &= yi == y0;
    }
    let r2 = if sst > 0.0 && !(centred && constant) { 1.0 - ssr / sst } else { f64::NAN };
    s.tiny_sums = sst < TINY_SUM_SQ || (ssr > 0.0 && ssr < TINY_SUM_SQ);

    // Back from the centred styles: the constant the design spans carries μᵀ f_styles (on the
    // market; without one, on every industry, which then sum to the constant).
    let mut shift = 0.0;
    if centre {
        for a in 0..k {
            shift += s.mu[a] * theta_d[m + a];
        }
    }
    let f_mkt_out = f_mkt - shift;
    let ind_shift = if m == 0 { shift } else { 0.0 };

    // Factor returns in the full layout [market?, industries 0..G-1, styles].
    if levels {
        // λ_g = f_ind − shift; f_mkt = Σ (c_g / Σ c) λ_g, f_g = λ_g − f_mkt (each weight
        // divided first: a single industry has weight 1 exactly, and its return stays 0 exactly)
        let mut fm = 0.0;
        for &gg in &s.active {
            fm += c_of(gg) / csum * (s.f_ind[gg] - ind_shift);
        }
        out.f[0] = fm;
        for &gg in &s.active {
            out.f[1 + gg] = (s.f_ind[gg] - ind_shift) - fm;
        }
    } else {
        if m == 1 {
            out.f[0] = f_mkt_out;
        }
        for &gg in &s.active {
            out.f[m + gg] = s.f_ind[gg] - ind_shift;
        }
    }
    for a in 0..k {
        out.f[mo + g + s.kept[a]] = theta_d[m + a];
    }

    if cfg.stats && nu > pf {
        let sigma2 = ssr / (nu - pf) as f64;
        let mut put = |pos: usize, f: f64, v: f64| {
            let se = (sigma2 * v).sqrt();
            out.se[pos] = se;
            out.ts[pos] = f / se;
        };
        // Dense block: diag(S⁻¹).
        chol.inverse_diagonal_into(&mut s.work);
        s.qa.resize(d, 0.0);
        if m == 1 {
            // f_mkt − μᵀ f_styles: tᵀ S⁻¹ t with t = (1, −μ) (the centred market's own
            // variance when no style was centred)
            let v = if centre {
                s.qa[0] = 1.0;
                for a in 0..k {
                    s.qa[m + a] = -s.mu[a];
                }
                chol.inverse_quadratic_form(&mut s.qa)
            } else {
                s.work[0]
            };
            put(0, f_mkt_out, v);
        }
        for a in 0..k {
            put(mo + g + s.kept[a], theta_d[m + a], s.work[m + a]);
        }
        if levels {
            // Cov(λ) = σ² (diag(1/sw_g) + U S⁻¹ Uᵀ), row u_i = y_i + μ (see below). With
            // c̃ = c / Σc: var f_mkt = Σ c̃_i² / sw_i + ūᵀ S⁻¹ ū, ū = Σ c̃_i u_i, and
            // var f_g = (1 − 2 c̃_g) / sw_g + Σ c̃_i² / sw_i + (u_g − ū)ᵀ S⁻¹ (u_g − ū).
            let mut sc2 = 0.0;
            s.ubar.clear();
            s.ubar.resize(d, 0.0);
            for (i, &gg) in s.free_ind.iter().enumerate() {
                let ct = c_of(gg) / csum;
                sc2 += ct * ct * s.dinv[i];
                for a in 0..d {
                    s.ubar[a] += ct * (s.ymat[i * d + a] + if centre { s.mu[a] } else { 0.0 });
                }
            }
            s.qa.copy_from_slice(&s.ubar);
            let v = sc2 + chol.inverse_quadratic_form(&mut s.qa);
            put(0, out.f[0], v);
            for (i, &gg) in s.free_ind.iter().enumerate() {
                let ct = c_of(gg) / csum;
                for a in 0..d {
                    s.qa[a] = s.ymat[i * d + a] + if centre { s.mu[a] } else { 0.0 } - s.ubar[a];
                }
                let v = s.dinv[i] * (1.0 - 2.0 * ct) + sc2 + chol.inverse_quadratic_form(&mut s.qa);
                put(1 + gg, out.f[1 + gg], v);
            }
            return r2;
        }
        // Free industries: (A⁻¹)_ii + y_iᵀ S⁻¹ y_i; without a market, after centring, the
        // industry is θ_i − μᵀ θ_styles, whose variance is (A⁻¹)_ii + (y_i + μ)ᵀ S⁻¹ (y_i + μ)
        // (the covariance of θ_i with the dense block is −y_iᵀ S⁻¹).
        for (i, &gg) in s.free_ind.iter().enumerate() {
            s.qa.copy_from_slice(&s.ymat[i * d..(i + 1) * d]);
            if centre && m == 0 {
                for a in 0..k {
                    s.qa[a] += s.mu[a];
                }
            }
            let v = s.dinv[i] - gamma * s.h[i] * s.h[i] + chol.inverse_quadratic_form(&mut s.qa);
            put(m + gg, s.f_ind[gg] - ind_shift, v);
        }
        // Eliminated industry: aᵀ A⁻¹ a + (Yᵀ a)ᵀ S⁻¹ (Yᵀ a).
        if elim.is_some() {
            for c in 0..d {
                let mut acc = 0.0;
                for i in 0..q {
                    acc += s.ymat[i * d + c] * s.av[i];
                }
                s.qa[c] = acc;
            }
            let v = tau - gamma * tau * tau + chol.inverse_quadratic_form(&mut s.qa);
            put(m + l_g, s.f_ind[l_g], v);
        }
    }
    r2
}

/// Remove from the date's gathered data the styles that are constant (max == min) over the `nu`
/// used observations: their columns of `xt` and of the per-bucket sums `swx` are compacted in
/// place (kept columns keep their order), so the rest of the date is computed exactly as if those
/// styles had not been given. Records the kept styles' original positions in `s.kept` and returns
/// how many there are. A constant column is either zero or proportional to the market / the sum
/// of the industry dummies: it has no factor return of its own (its outputs stay NaN).
fn drop_constant_styles(k: usize, n: usize, nu: usize, nb: usize, s: &mut Scratch) -> usize {
    s.kept.clear();
    for a in 0..k {
        let col = &s.xt[a * n..a * n + nu];
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in col {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        // With no observation (lo = +inf > hi) the date is degenerate anyway; keep the column.
        if !(lo == hi) {
            s.kept.push(a);
        }
    }
    let kk = s.kept.len();
    if kk < k {
        for (to, &from) in s.kept.iter().enumerate() {
            if to != from {
                s.xt.copy_within(from * n..from * n + nu, to * n);
            }
        }
        // Destinations never pass their sources: an in-place forward compaction.
        for bb in 0..nb {
            for (to, &from) in s.kept.iter().enumerate() {
                s.swx[bb * kk + to] = s.swx[bb * k + from];
            }
        }
    }
    kk
}

/// A degenerate date: every residual NaN (factor returns and statistics already are).
fn degenerate(e: &mut [f64]) -> f64 {
    e.fill(f64::NAN);
    f64::NAN
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, array};

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
    }

    #[test]
    fn wdot4_copies_agree_bit_for_bit() {
        let len = 103;
        let v = |s: f64| (0..len).map(|i| ((i as f64 * s).sin() * 1e3).exp2().ln()).collect::<Vec<f64>>();
        let (w, a, c0, c1, c2, c3) = (v(0.37), v(1.3), v(2.1), v(0.9), v(3.3), v(1.7));
        let scalar = wdot4_scalar(&w, &a, [&c0, &c1, &c2, &c3]);
        let dispatched = wdot4(&w, &a, [&c0, &c1, &c2, &c3]);
        assert_eq!(scalar, dispatched);
        let plain: f64 = (0..len).map(|j| w[j] * a[j] * c2[j]).sum();
        assert!((scalar[2] - plain).abs() <= 1e-12 * plain.abs().max(1.0));
    }

    #[test]
    fn hand_worked_single_style() {
        // g = (1.28, 0.55, 0.15, −0.26, −1.72), r = (1.2, 0.3, −0.1, −0.4, −1.5)%:
        // f = Σ g r / Σ g² with no intercept.
        let g = [1.28, 0.55, 0.15, -0.26, -1.72];
        let r = [0.012, 0.003, -0.001, -0.004, -0.015];
        let y = Array2::from_shape_vec((1, 5), r.to_vec()).unwrap();
        let x = Array3::from_shape_vec((1, 5, 1), g.to_vec()).unwrap();
        let d = Design {
            styles: Some(x.view()),
            industry: None,
            n_industries: 0,
            market: false,
            constraint: Constraint::None,
        };
        let out = cross_section_regress(y.view(), Weights::Equal, None, &d, 0).unwrap();
        let sgr: f64 = g.iter().zip(r).map(|(a, b)| a * b).sum();
        let sgg: f64 = g.iter().map(|a| a * a).sum();
        assert!(close(out.factor_returns[[0, 0]], sgr / sgg, 1e-14));
        assert!((out.factor_returns[[0, 0]] - 0.00876).abs() < 1e-5);
        assert_eq!(out.n_obs[0], 5);
        for i in 0..5 {
            assert!(close(out.residuals[[0, i]], r[i] - g[i] * sgr / sgg, 1e-14));
        }
    }

    #[test]
    fn cap_constraint_holds_and_empty_industry_is_nan() {
        // 3 industries, industry 1 empty; market + constraint.
        let y = array![[0.01, 0.02, -0.01, 0.03, 0.00, -0.02, 0.015]];
        let codes = array![[0, 0, 2, 2, 0, 2, 2]];
        let cap = array![[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]];
        let d = Design {
            styles: None,
            industry: Some(codes.view()),
            n_industries: 3,
            market: true,
            constraint: Constraint::Cap,
        };
        let out = cross_section_regress(y.view(), Weights::Equal, Some(cap.view()), &d, 0).unwrap();
        let f = out.factor_returns.row(0);
        assert!(f[2].is_nan());
        let c0 = 1.0 + 2.0 + 5.0;
        let c2 = 3.0 + 4.0 + 6.0 + 7.0;
        assert!((c0 * f[1] + c2 * f[3]).abs() < 1e-15);
        // With only market + industries the fit is the industry means: market = cap-weighted
        // mean of the industry means (equal regression weights).
        let m0 = (0.01 + 0.02 + 0.00) / 3.0;
        let m2 = (-0.01 + 0.03 - 0.02 + 0.015) / 4.0;
        assert!(close(f[0] + f[1], m0, 1e-14));
        assert!(close(f[0] + f[3], m2, 1e-14));
    }

    #[test]
    fn degenerate_dates_give_nan() {
        // Two observations, three parameters → NaN; two collinear styles → singular.
        let y = array![[0.01, 0.02, f64::NAN], [0.01, 0.02, 0.04]];
        let x = Array3::from_shape_vec((2, 3, 2), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0, 2.0, 2.0, 4.0, 3.0, 6.0]).unwrap();
        let d = Design {
            styles: Some(x.view()),
            industry: None,
            n_industries: 0,
            market: true,
            constraint: Constraint::None,
        };
        let out = cross_section_regress(y.view(), Weights::Equal, None, &d, 0).unwrap();
        assert_eq!(out.n_obs.to_vec(), vec![2, 3]);
        assert!(out.factor_returns.iter().all(|v| v.is_nan()));
        assert!(out.residuals.iter().all(|v| v.is_nan()));
    }

    /// A (T, N, K) array from a function of (t, i, k).
    fn cube(t: usize, n: usize, k: usize, f: impl Fn(usize, usize, usize) -> f64) -> Array3<f64> {
        Array3::from_shape_fn((t, n, k), |(a, b, c)| f(a, b, c))
    }

    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    fn assert_identical(a: &CrossSection, b: &CrossSection) {
        let pairs = [
            (&a.factor_returns, &b.factor_returns),
            (&a.residuals, &b.residuals),
            (&a.std_errors, &b.std_errors),
            (&a.tstats, &b.tstats),
        ];
        for (x, y) in pairs {
            assert_eq!(x.dim(), y.dim());
            for (u, v) in x.iter().zip(y.iter()) {
                assert!(same(*u, *v), "{u} vs {v}");
            }
        }
        for (u, v) in a.r2.iter().zip(b.r2.iter()) {
            assert!(same(*u, *v), "r2 {u} vs {v}");
        }
        assert_eq!(a.n_obs, b.n_obs);
    }

    #[test]
    fn constant_style_by_hand() {
        // Market + styles (s0 constant 0, s1 = 1, 2, 3) and r = 0.01, 0.03, 0.05: s0 drops out,
        // and r = −0.01 + 0.02 s1 exactly (three observations, two kept parameters).
        let y = array![[0.01, 0.03, 0.05]];
        let x = Array3::from_shape_vec((1, 3, 2), vec![0.0, 1.0, 0.0, 2.0, 0.0, 3.0]).unwrap();
        let d = Design {
            styles: Some(x.view()),
            industry: None,
            n_industries: 0,
            market: true,
            constraint: Constraint::None,
        };
        let out = cross_section_regress(y.view(), Weights::Equal, None, &d, 0).unwrap();
        let f = out.factor_returns.row(0);
        assert!(close(f[0], -0.01, 1e-13) && close(f[2], 0.02, 1e-13));
        assert!(f[1].is_nan() && out.std_errors[[0, 1]].is_nan() && out.tstats[[0, 1]].is_nan());
        // one residual degree of freedom (3 observations − 2 kept columns): se is defined
        assert!(out.std_errors[[0, 0]].is_finite() && out.std_errors[[0, 2]].is_finite());
        assert_eq!(out.n_obs[0], 3);
    }

    #[test]
    fn constant_style_equals_regression_without_it() {
        // Date 1 has style 1 ≡ 0 and date 2 style 0 ≡ 2.5 among the used observations (another
        // asset that is dropped for a NaN return has a different value); with industries, the cap
        // constraint and given weights, every other output must be bit-identical to the
        // regression without that style.
        let (t, n, k, g) = (3, 40, 3, 4);
        let hash = |a: usize, b: usize, c: usize| (((a * 131 + b * 31 + c * 7) % 97) as f64 / 97.0 - 0.5) * 2.0;
        let mut x = cube(t, n, k, hash);
        let mut y = Array2::from_shape_fn((t, n), |(a, b)| 0.01 * hash(a + 5, b, 9) + 0.003 * x[[a, b, 0]]);
        y[[2, 7]] = f64::NAN;
        for i in 0..n {
            x[[1, i, 1]] = 0.0;
            x[[2, i, 0]] = if i == 7 { 9.0 } else { 2.5 };
        }
        let codes = Array2::from_shape_fn((t, n), |(a, b)| ((a + b * 3) % (g + 1)) as i32 - 1);
        let cap = Array2::from_shape_fn((t, n), |(a, b)| 1.0 + ((a * 7 + b * 13) % 11) as f64);
        let w = cap.mapv(f64::sqrt);
        fn design<'a>(st: ArrayView3<'a, f64>, codes: ArrayView2<'a, i32>, g: usize) -> Design<'a> {
            Design { styles: Some(st), industry: Some(codes), n_industries: g, market: true, constraint: Constraint::Cap }
        }
        let full = cross_section_regress(y.view(), Weights::Given(w.view()), Some(cap.view()), &design(x.view(), codes.view(), g), 0).unwrap();
        for (date, dropped) in [(1usize, 1usize), (2, 0)] {
            let keep: Vec<usize> = (0..k).filter(|&c| c != dropped).collect();
            let xr = cube(t, n, k - 1, |a, b, c| x[[a, b, keep[c]]]);
            let red = cross_section_regress(y.view(), Weights::Given(w.view()), Some(cap.view()), &design(xr.view(), codes.view(), g), 0).unwrap();
            let p = 1 + g + k;
            let cols: Vec<usize> = (0..p).filter(|&c| c != 1 + g + dropped).collect();
            for (cr, &c) in cols.iter().enumerate() {
                assert!(same(full.factor_returns[[date, c]], red.factor_returns[[date, cr]]));
                assert!(same(full.std_errors[[date, c]], red.std_errors[[date, cr]]));
                assert!(same(full.tstats[[date, c]], red.tstats[[date, cr]]));
            }
            assert!(full.factor_returns[[date, 1 + g + dropped]].is_nan());
            assert!(full.std_errors[[date, 1 + g + dropped]].is_nan());
            assert!(full.factor_returns[[date, 0]].is_finite());
            for i in 0..n {
                assert!(same(full.residuals[[date, i]], red.residuals[[date, i]]));
            }
            assert!(same(full.r2[date], red.r2[date]));
            assert_eq!(full.n_obs[date], red.n_obs[date]);
        }
        // date 0 has dispersion in every style: all finite
        assert!(full.factor_returns.row(0).iter().skip(1 + g).all(|v| v.is_finite()));
    }

    #[test]
    fn only_constant_styles_is_degenerate() {
        // No market, no industries, the only style ≡ 1 on date 0: nothing left to estimate.
        let y = array![[0.01, 0.02, 0.03], [0.01, 0.02, 0.03]];
        let x = Array3::from_shape_vec((2, 3, 1), vec![1.0, 1.0, 1.0, 1.0, 2.0, 3.0]).unwrap();
        let d = Design { styles: Some(x.view()), industry: None, n_industries: 0, market: false, constraint: Constraint::None };
        let out = cross_section_regress(y.view(), Weights::Equal, None, &d, 0).unwrap();
        assert!(out.factor_returns[[0, 0]].is_nan() && out.r2[0].is_nan());
        assert!(out.residuals.row(0).iter().all(|v| v.is_nan()));
        assert_eq!(out.n_obs[0], 3);
        assert!(close(out.factor_returns[[1, 0]], 0.14 / 14.0, 1e-14));
    }

    #[test]
    fn centred_style_far_from_zero_with_y_far_from_zero_is_accurate() {
        // A style at 5e4 with a spread of ~0.02 and y at 3e4: the bucket sums of the centred
        // style must be those of its centred values (Σ w x − μ Σ w kept ulp(5e4)·n of rounding,
        // which times ȳ moved the slope by 1e-3). Reference: the slope of centred data in f64,
        // from two-pass means (exact to ~1e-12 here).
        let n = 30;
        let u = |i: usize| ((i * 37 % 29) as f64 / 29.0 - 0.5) * 2.0;
        let x: Vec<f64> = (0..n).map(|i| 5e4 + 0.018 * u(i)).collect();
        let y: Vec<f64> = (0..n).map(|i| 3e4 + 0.28 * u(i) + 0.05 * (((i * 11 % 7) as f64) - 3.0)).collect();
        let styles = Array3::from_shape_fn((1, n, 1), |(_, i, _)| x[i]);
        let r = Array2::from_shape_fn((1, n), |(_, i)| y[i]);
        let d = Design { styles: Some(styles.view()), industry: None, n_industries: 0, market: true, constraint: Constraint::None };
        let out = cross_section_regress(r.view(), Weights::Equal, None, &d, 0).unwrap();
        let mx = x.iter().sum::<f64>() / n as f64;
        let my = y.iter().sum::<f64>() / n as f64;
        let sxy: f64 = x.iter().zip(&y).map(|(a, b)| (a - mx) * (b - my)).sum();
        let sxx: f64 = x.iter().map(|a| (a - mx) * (a - mx)).sum();
        let slope = sxy / sxx;
        assert!(close(out.factor_returns[[0, 1]], slope, 1e-8), "{} vs {}", out.factor_returns[[0, 1]], slope);
    }

    #[test]
    fn neutralize_drops_constant_control() {
        let n = 30;
        let x = Array2::from_shape_fn((1, n), |(_, i)| ((i * 17 % 13) as f64).cos());
        let c = Array3::from_shape_fn((1, n, 2), |(_, i, j)| if j == 0 { 0.0 } else { (i as f64).sin() });
        let c1 = Array3::from_shape_fn((1, n, 1), |(_, i, _)| (i as f64).sin());
        let codes = Array2::from_shape_fn((1, n), |(_, i)| (i % 3) as i32);
        let a = neutralize(x.view(), Some(c.view()), Some(codes.view()), 3, Weights::Equal).unwrap();
        let b = neutralize(x.view(), Some(c1.view()), Some(codes.view()), 3, Weights::Equal).unwrap();
        assert!(a.iter().zip(b.iter()).all(|(u, v)| same(*u, *v)));
        assert!(a.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn lag_is_an_offset_of_the_design() {
        // lag L equals shifting styles, codes, weights and cap down by L rows with lag 0.
        let (t, n, k, g) = (7, 25, 2, 3);
        let hash = |a: usize, b: usize, c: usize| (((a * 37 + b * 11 + c * 5) % 89) as f64 / 89.0 - 0.5) * 2.0;
        let x = cube(t, n, k, hash);
        let mut y = Array2::from_shape_fn((t, n), |(a, b)| 0.02 * hash(a, b, 3));
        y[[4, 2]] = f64::NAN;
        let codes = Array2::from_shape_fn((t, n), |(a, b)| ((a * 2 + b) % (g + 1)) as i32 - 1);
        let cap = Array2::from_shape_fn((t, n), |(a, b)| if (a + b) % 9 == 0 { f64::NAN } else { 1.0 + ((a + 3 * b) % 7) as f64 });
        let w = Array2::from_shape_fn((t, n), |(a, b)| 0.5 + ((a * b) % 5) as f64);
        for lag in [0usize, 1, 3, 7, 9] {
            let sh2 = |a: &Array2<f64>| Array2::from_shape_fn((t, n), |(r, c)| if r >= lag { a[[r - lag, c]] } else { f64::NAN });
            let xs = cube(t, n, k, |r, c, q| if r >= lag { x[[r - lag, c, q]] } else { f64::NAN });
            let cs = Array2::from_shape_fn((t, n), |(r, c)| if r >= lag { codes[[r - lag, c]] } else { -1 });
            let (caps, ws) = (sh2(&cap), sh2(&w));
            for (wgt, wgt_s) in [(Weights::Given(w.view()), Weights::Given(ws.view())), (Weights::SqrtCap, Weights::SqrtCap)] {
                let d = Design { styles: Some(x.view()), industry: Some(codes.view()), n_industries: g, market: true, constraint: Constraint::Cap };
                let ds = Design { styles: Some(xs.view()), industry: Some(cs.view()), ..d };
                let a = cross_section_regress(y.view(), wgt, Some(cap.view()), &d, lag).unwrap();
                let b = cross_section_regress(y.view(), wgt_s, Some(caps.view()), &ds, 0).unwrap();
                assert_identical(&a, &b);
                for r in 0..lag.min(t) {
                    assert_eq!(a.n_obs[r], 0);
                    assert!(a.factor_returns.row(r).iter().all(|v| v.is_nan()));
                }
            }
        }
    }

    #[test]
    fn bad_codes_and_singular_request_are_errors() {
        let y = array![[0.01, 0.02]];
        let codes = array![[0, 3]];
        let d = Design {
            styles: None,
            industry: Some(codes.view()),
            n_industries: 2,
            market: false,
            constraint: Constraint::None,
        };
        assert!(cross_section_regress(y.view(), Weights::Equal, None, &d, 0).is_err());
        let codes = array![[0, 1]];
        let d = Design { industry: Some(codes.view()), market: true, ..d };
        let e = cross_section_regress(y.view(), Weights::Equal, None, &d, 0).unwrap_err();
        assert!(e.to_string().contains("singular"));
    }

    #[test]
    fn neutralize_is_orthogonal() {
        let n = 50;
        let x = Array2::from_shape_fn((1, n), |(_, i)| ((i * 37 % 11) as f64).sin());
        let c = Array3::from_shape_fn((1, n, 2), |(_, i, j)| ((i * (j + 3)) as f64).cos());
        let codes = Array2::from_shape_fn((1, n), |(_, i)| (i % 4) as i32 - 1);
        let w = Array2::from_shape_fn((1, n), |(_, i)| 1.0 + (i % 5) as f64);
        let e = neutralize(x.view(), Some(c.view()), Some(codes.view()), 3, Weights::Given(w.view())).unwrap();
        for i in 0..n {
            assert_eq!(e[[0, i]].is_nan(), codes[[0, i]] < 0);
        }
        let dot = |z: &dyn Fn(usize) -> f64| -> f64 {
            (0..n).filter(|&i| codes[[0, i]] >= 0).map(|i| w[[0, i]] * e[[0, i]] * z(i)).sum()
        };
        assert!(dot(&|_| 1.0).abs() < 1e-12);
        for j in 0..2 {
            assert!(dot(&|i| c[[0, i, j]]).abs() < 1e-12);
        }
        for gg in 0..3 {
            assert!(dot(&|i| (codes[[0, i]] == gg) as i32 as f64).abs() < 1e-12);
        }
    }
}
