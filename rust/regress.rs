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
//! The constraint is applied by substitution: one active industry is expressed via the others,
//! `f = R θ`, and `Rᵀ XᵀWX R θ = Rᵀ XᵀWy` is solved with [`Cholesky`].
//!
//! Dates are independent and run in parallel with rayon; each date is computed sequentially
//! in a fixed order, so results are bit-identical for any number of threads.

use ndarray::{Array1, Array2, ArrayView2, ArrayView3, CowArray, Ix2, Ix3};
use rayon::prelude::*;

use crate::error::Result;
use crate::linalg::Cholesky;
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

/// One date's inputs.
struct RowIn<'a> {
    y: &'a [f64],
    w: Option<&'a [f64]>,
    codes: Option<&'a [i32]>,
    cap: Option<&'a [f64]>,
    x: &'a [f64],
}

/// One date's outputs (all pre-filled with NaN by the caller).
struct RowOut<'a> {
    f: &'a mut [f64],
    e: &'a mut [f64],
    se: &'a mut [f64],
    ts: &'a mut [f64],
}

/// Per-thread work space, reused across dates.
#[derive(Default)]
struct Scratch {
    cnt: Vec<usize>,
    sw: Vec<f64>,
    swy: Vec<f64>,
    swx: Vec<f64>,
    capg: Vec<f64>,
    sxx: Vec<f64>,
    sxy: Vec<f64>,
    tot_swx: Vec<f64>,
    active: Vec<usize>,
    coef: Vec<f64>,
    m: Vec<f64>,
    b: Vec<f64>,
    mr: Vec<f64>,
    br: Vec<f64>,
    fc: Vec<f64>,
    f_ind: Vec<f64>,
    work: Vec<f64>,
}

fn reset(v: &mut Vec<f64>, len: usize) {
    v.clear();
    v.resize(len, 0.0);
}

/// Shape and value checks shared by the public kernels.
fn check_inputs(
    t: usize,
    n: usize,
    weights: Option<&ArrayView2<'_, f64>>,
    cap: Option<&ArrayView2<'_, f64>>,
    design: &Design<'_>,
) -> Result<()> {
    let want = [t, n];
    if let Some(w) = weights {
        if w.shape() != want {
            return Err(value_error!("weights has shape {:?}, expected {:?}", w.shape(), want));
        }
        check_nonneg("weights", w)?;
    }
    if let Some(c) = cap {
        if c.shape() != want {
            return Err(value_error!("cap has shape {:?}, expected {:?}", c.shape(), want));
        }
        check_nonneg("cap", c)?;
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
        let g = design.n_industries as i64;
        let bad = codes
            .as_slice_memory_order()
            .map(|s| s.par_iter().map(|&c| c as i64).filter(|&c| c < -1 || c >= g).min())
            .unwrap_or_else(|| codes.iter().map(|&c| c as i64).filter(|&c| c < -1 || c >= g).min());
        if let Some(c) = bad {
            return Err(value_error!(
                "industry codes must lie in -1..{} (-1 = none, {} industries), found {c}",
                g - 1,
                g
            ));
        }
    }
    Ok(())
}

/// NaN is allowed (drops the observation); negative or infinite values are not.
fn check_nonneg(name: &str, a: &ArrayView2<'_, f64>) -> Result<()> {
    let bad = |v: &f64| *v < 0.0 || v.is_infinite();
    let found = match a.as_slice_memory_order() {
        Some(s) => s.par_iter().any(bad),
        None => a.iter().any(bad),
    };
    if found {
        return Err(value_error!(
            "{name} must be non-negative and finite (NaN = drop the observation); found negative or infinite values"
        ));
    }
    Ok(())
}

/// Batched weighted cross-sectional regression, one independent WLS per date.
///
/// `returns` `(T, N)`; `weights` `(T, N)` (None = 1; NaN or 0 drops the observation); `cap`
/// `(T, N)` needed for [`Constraint::Cap`] when industries are used (NaN drops the
/// observation). Observations used on a date: finite return, finite positive weight, every style
/// finite, industry code ≥ 0 (when industries are used) and finite cap (when the cap constraint
/// is used). A date with fewer observations than free parameters, or a singular design, gives
/// NaN outputs (and its `n_obs`).
pub fn cross_section_regress(
    returns: ArrayView2<'_, f64>,
    weights: Option<ArrayView2<'_, f64>>,
    cap: Option<ArrayView2<'_, f64>>,
    design: &Design<'_>,
) -> Result<CrossSection> {
    run(returns, weights, cap, design, true)
}

/// Residual of the weighted regression of `x` on an intercept, `controls` `(T, N, C)` and the
/// industry codes, per date. NaN where not used (same rules as the regression), and on dates
/// with too few observations or a singular design. The residual is orthogonal to every regressor.
pub fn neutralize(
    x: ArrayView2<'_, f64>,
    controls: Option<ArrayView3<'_, f64>>,
    industry: Option<ArrayView2<'_, i32>>,
    n_industries: usize,
    weights: Option<ArrayView2<'_, f64>>,
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
    Ok(run(x, weights, None, &design, false)?.residuals)
}

fn run(
    returns: ArrayView2<'_, f64>,
    weights: Option<ArrayView2<'_, f64>>,
    cap: Option<ArrayView2<'_, f64>>,
    design: &Design<'_>,
    stats: bool,
) -> Result<CrossSection> {
    let (t, n) = returns.dim();
    check_inputs(t, n, weights.as_ref(), cap.as_ref(), design)?;
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
    let w: Option<CowArray<'_, f64, Ix2>> = weights.as_ref().map(|a| a.as_standard_layout());
    let cp: Option<CowArray<'_, f64, Ix2>> = if cfg.use_ind && cfg.constraint == Constraint::Cap {
        cap.as_ref().map(|a| a.as_standard_layout())
    } else {
        None
    };
    let codes: Option<CowArray<'_, i32, Ix2>> =
        design.industry.as_ref().map(|a| a.as_standard_layout());
    let x: Option<CowArray<'_, f64, Ix3>> = design.styles.as_ref().map(|a| a.as_standard_layout());

    let nan = f64::NAN;
    let mut factor_returns = Array2::from_elem((t, p), nan);
    let mut residuals = Array2::from_elem((t, n), nan);
    let mut std_errors = Array2::from_elem((t, p), nan);
    let mut tstats = Array2::from_elem((t, p), nan);
    let mut r2 = Array1::from_elem(t, nan);
    let mut n_obs = Array1::<i64>::zeros(t);
    if t == 0 || n == 0 {
        return Ok(CrossSection { factor_returns, residuals, r2, std_errors, tstats, n_obs });
    }

    let ys = slice(&y);
    let ws = w.as_ref().map(slice);
    let cps = cp.as_ref().map(slice);
    let cs = codes.as_ref().map(|a| a.as_slice().expect("standard layout"));
    let xs: &[f64] = x.as_ref().map_or(&[], |a| a.as_slice().expect("standard layout"));

    factor_returns
        .as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(p)
        .zip(residuals.as_slice_mut().expect("fresh array").par_chunks_mut(n))
        .zip(std_errors.as_slice_mut().expect("fresh array").par_chunks_mut(p))
        .zip(tstats.as_slice_mut().expect("fresh array").par_chunks_mut(p))
        .zip(r2.as_slice_mut().expect("fresh array").par_iter_mut())
        .zip(n_obs.as_slice_mut().expect("fresh array").par_iter_mut())
        .enumerate()
        .for_each_init(Scratch::default, |s, (ti, (((((f, e), se), ts), r2t), nt))| {
            let row = RowIn {
                y: &ys[ti * n..(ti + 1) * n],
                w: ws.map(|a| &a[ti * n..(ti + 1) * n]),
                codes: cs.map(|a| &a[ti * n..(ti + 1) * n]),
                cap: cps.map(|a| &a[ti * n..(ti + 1) * n]),
                x: if k > 0 { &xs[ti * n * k..(ti + 1) * n * k] } else { &[] },
            };
            let (r, used) = regress_date(&cfg, &row, RowOut { f, e, se, ts }, s);
            *r2t = r;
            *nt = used as i64;
        });

    Ok(CrossSection { factor_returns, residuals, r2, std_errors, tstats, n_obs })
}

fn slice<'a>(a: &'a CowArray<'_, f64, Ix2>) -> &'a [f64] {
    a.as_slice().expect("standard layout")
}

/// Regress one date. Outputs arrive filled with NaN; returns `(r2, n_obs)`.
fn regress_date(cfg: &Cfg, row: &RowIn<'_>, out: RowOut<'_>, s: &mut Scratch) -> (f64, usize) {
    let Cfg { n, k, g, use_ind, .. } = *cfg;
    let nb = if use_ind { g } else { 1 };
    let use_cap = use_ind && cfg.constraint == Constraint::Cap;
    s.cnt.clear();
    s.cnt.resize(nb, 0);
    reset(&mut s.sw, nb);
    reset(&mut s.swy, nb);
    reset(&mut s.swx, nb * k);
    reset(&mut s.capg, nb);
    reset(&mut s.sxx, k * k);
    reset(&mut s.sxy, k);

    // Pass 1: select the observations and accumulate the sufficient statistics per bucket
    // (industry, or a single bucket without industries). The residual row temporarily holds
    // y for used observations and stays NaN for the others.
    let mut used = 0usize;
    for i in 0..n {
        let yi = row.y[i];
        if !yi.is_finite() {
            continue;
        }
        let wi = row.w.map_or(1.0, |w| w[i]);
        if !(wi > 0.0 && wi.is_finite()) {
            continue;
        }
        let xi = &row.x[i * k..(i + 1) * k];
        if !xi.iter().all(|v| v.is_finite()) {
            continue;
        }
        let b = match row.codes {
            Some(c) if use_ind => {
                if c[i] < 0 {
                    continue;
                }
                c[i] as usize
            }
            _ => 0,
        };
        let ci = if use_cap {
            let c = row.cap.map_or(f64::NAN, |c| c[i]);
            if !c.is_finite() {
                continue;
            }
            c
        } else {
            0.0
        };
        used += 1;
        out.e[i] = yi;
        s.cnt[b] += 1;
        s.sw[b] += wi;
        s.swy[b] += wi * yi;
        s.capg[b] += ci;
        let swx = &mut s.swx[b * k..(b + 1) * k];
        for a in 0..k {
            let wx = wi * xi[a];
            swx[a] += wx;
            s.sxy[a] += wx * yi;
            let r = &mut s.sxx[a * k..a * k + a + 1];
            for (l, v) in r.iter_mut().enumerate() {
                *v += wx * xi[l];
            }
        }
    }

    let fail = |e: &mut [f64]| e.iter_mut().for_each(|v| *v = f64::NAN);

    // Compact parameter layout: [market?, active industries, styles].
    let m = cfg.market as usize;
    s.active.clear();
    if use_ind {
        s.active.extend((0..g).filter(|&gg| s.cnt[gg] > 0));
    }
    let na = s.active.len();
    let pc = m + na + k;

    // Constraint by substitution: eliminate compact index `elim`, f_elim = Σ_i coef_i θ_i.
    reset(&mut s.coef, pc);
    let mut elim: Option<usize> = None;
    if use_ind && cfg.constraint != Constraint::None && na > 0 {
        let c_of = |gg: usize| if use_cap { s.capg[gg] } else { 1.0 };
        let Some(j) = (0..na).rev().find(|&j| c_of(s.active[j]) > 0.0) else {
            // Every active industry has zero total cap: the constraint is undefined.
            fail(out.e);
            return (f64::NAN, used);
        };
        let cl = c_of(s.active[j]);
        for jj in 0..na {
            if jj != j {
                s.coef[m + jj] = -c_of(s.active[jj]) / cl;
            }
        }
        elim = Some(m + j);
    }
    let pf = pc - elim.is_some() as usize;
    if used == 0 || used < pf {
        fail(out.e);
        return (f64::NAN, used);
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

    // Compact normal equations M = XᵀWX (full symmetric), b = XᵀWy.
    reset(&mut s.m, pc * pc);
    reset(&mut s.b, pc);
    {
        let (mm, bv) = (&mut s.m, &mut s.b);
        let st = m + na;
        if m == 1 {
            mm[0] = tot_sw;
            bv[0] = tot_swy;
            for (j, &gg) in s.active.iter().enumerate() {
                mm[m + j] = s.sw[gg];
                mm[(m + j) * pc] = s.sw[gg];
            }
            for a in 0..k {
                mm[st + a] = s.tot_swx[a];
                mm[(st + a) * pc] = s.tot_swx[a];
            }
        }
        for (j, &gg) in s.active.iter().enumerate() {
            let r = m + j;
            mm[r * pc + r] = s.sw[gg];
            bv[r] = s.swy[gg];
            for a in 0..k {
                let v = s.swx[gg * k + a];
                mm[r * pc + st + a] = v;
                mm[(st + a) * pc + r] = v;
            }
        }
        for a in 0..k {
            bv[st + a] = s.sxy[a];
            for l in 0..=a {
                let v = s.sxx[a * k + l];
                mm[(st + a) * pc + st + l] = v;
                mm[(st + l) * pc + st + a] = v;
            }
        }
    }

    // Reduced system Rᵀ M R θ = Rᵀ b.
    let free = |c: usize| match elim {
        Some(l) if c > l => c - 1,
        _ => c,
    };
    reset(&mut s.mr, pf * pf);
    reset(&mut s.br, pf);
    match elim {
        None => {
            s.mr.copy_from_slice(&s.m);
            s.br.copy_from_slice(&s.b);
        }
        Some(l) => {
            let (mm, coef) = (&s.m, &s.coef);
            let mll = mm[l * pc + l];
            for i in (0..pc).filter(|&i| i != l) {
                let fi = free(i);
                s.br[fi] = s.b[i] + coef[i] * s.b[l];
                let mil = mm[i * pc + l];
                for j in (0..pc).filter(|&j| j != l) {
                    s.mr[fi * pf + free(j)] = mm[i * pc + j]
                        + coef[i] * mm[l * pc + j]
                        + mil * coef[j]
                        + mll * coef[i] * coef[j];
                }
            }
        }
    }
    let Some(chol) = Cholesky::new(&s.mr, pf) else {
        fail(out.e);
        return (f64::NAN, used);
    };
    chol.solve_in_place(&mut s.br);
    let theta = &s.br;

    // Expand θ back to the compact f.
    reset(&mut s.fc, pc);
    for c in 0..pc {
        s.fc[c] = match elim {
            Some(l) if c == l => (0..pc).filter(|&i| i != l).map(|i| s.coef[i] * theta[free(i)]).sum(),
            _ => theta[free(c)],
        };
    }

    // Pass 2: residuals and sums of squares.
    let f_mkt = if m == 1 { s.fc[0] } else { 0.0 };
    reset(&mut s.f_ind, nb);
    for (j, &gg) in s.active.iter().enumerate() {
        s.f_ind[gg] = s.fc[m + j];
    }
    let f_sty = &s.fc[m + na..];
    let centred = cfg.market || (use_ind && cfg.constraint == Constraint::None && na > 0);
    let ybar = if centred { tot_swy / tot_sw } else { 0.0 };
    let (mut ssr, mut sst) = (0.0, 0.0);
    for i in 0..n {
        let yi = out.e[i];
        if yi.is_nan() {
            continue;
        }
        let wi = row.w.map_or(1.0, |w| w[i]);
        let mut fit = f_mkt;
        if use_ind {
            if let Some(c) = row.codes {
                fit += s.f_ind[c[i] as usize];
            }
        }
        let xi = &row.x[i * k..(i + 1) * k];
        for a in 0..k {
            fit += xi[a] * f_sty[a];
        }
        let ei = yi - fit;
        out.e[i] = ei;
        ssr += wi * ei * ei;
        let d = yi - ybar;
        sst += wi * d * d;
    }
    let r2 = if sst > 0.0 { 1.0 - ssr / sst } else { f64::NAN };

    // Scatter f (and the statistics) to the full parameter layout.
    let full = |c: usize| -> usize {
        if c < m {
            0
        } else if c < m + na {
            m + s.active[c - m]
        } else {
            m + g + (c - m - na)
        }
    };
    for c in 0..pc {
        out.f[full(c)] = s.fc[c];
    }
    if cfg.stats && used > pf {
        let sigma2 = ssr / (used - pf) as f64;
        chol.inverse_diagonal_into(&mut s.work);
        for c in 0..pc {
            let v = match elim {
                Some(l) if c == l => {
                    // Var(f_l) = σ² aᵀ (RᵀMR)⁻¹ a with a the substitution coefficients.
                    let mut a = vec![0.0; pf];
                    for i in (0..pc).filter(|&i| i != l) {
                        a[free(i)] = s.coef[i];
                    }
                    chol.inverse_quadratic_form(&mut a)
                }
                _ => s.work[free(c)],
            };
            let se = (sigma2 * v).sqrt();
            out.se[full(c)] = se;
            out.ts[full(c)] = s.fc[c] / se;
        }
    }
    (r2, used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, array};

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
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
        let out = cross_section_regress(y.view(), None, None, &d).unwrap();
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
        let out = cross_section_regress(y.view(), None, Some(cap.view()), &d).unwrap();
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
        // Two observations, three parameters → NaN; a constant style with market → singular.
        let y = array![[0.01, 0.02, f64::NAN], [0.01, 0.02, 0.03]];
        let x = Array3::from_shape_vec((2, 3, 2), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 1.0, 2.0, 1.0, 3.0, 1.0, 4.0]).unwrap();
        let d = Design {
            styles: Some(x.view()),
            industry: None,
            n_industries: 0,
            market: true,
            constraint: Constraint::None,
        };
        let out = cross_section_regress(y.view(), None, None, &d).unwrap();
        assert_eq!(out.n_obs.to_vec(), vec![2, 3]);
        assert!(out.factor_returns.iter().all(|v| v.is_nan()));
        assert!(out.residuals.iter().all(|v| v.is_nan()));
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
        assert!(cross_section_regress(y.view(), None, None, &d).is_err());
        let codes = array![[0, 1]];
        let d = Design { industry: Some(codes.view()), market: true, ..d };
        let e = cross_section_regress(y.view(), None, None, &d).unwrap_err();
        assert!(e.to_string().contains("singular"));
    }

    #[test]
    fn neutralize_is_orthogonal() {
        let n = 50;
        let x = Array2::from_shape_fn((1, n), |(_, i)| ((i * 37 % 11) as f64).sin());
        let c = Array3::from_shape_fn((1, n, 2), |(_, i, j)| ((i * (j + 3)) as f64).cos());
        let codes = Array2::from_shape_fn((1, n), |(_, i)| (i % 4) as i32 - 1);
        let w = Array2::from_shape_fn((1, n), |(_, i)| 1.0 + (i % 5) as f64);
        let e = neutralize(x.view(), Some(c.view()), Some(codes.view()), 3, Some(w.view())).unwrap();
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
