//! Ex-post factor attribution of portfolio returns, per date, over a structured exposure matrix.
//!
//! Time: `weights[t]` are the holdings that earn `returns[t]` (held from close t−1 to close t);
//! they are explained by the exposures known `lag` dates earlier (row `t − lag`, the same lag as
//! the factor model that produced `factor_returns[t]`). With active weights `a = w − b` (NaN = not
//! held; the benchmark `b` is optional) and `B = B_{t−lag}` (market column, industry dummy from
//! the codes, styles):
//!
//! ```text
//! x_t        = Σ_{i covered} a_i B_i                    (exposures, K)
//! c_{k,t}    = x_{k,t} f_{k,t}                          (factor contributions)
//! specific_t = Σ_{i covered} a_i (r_i − B_i f_t)        (specific return, computed as
//!              Σ_{i covered} a_i r_i − Σ_k c_{k,t})
//! unexpl_t   = Σ_{i not covered} a_i r_i                (return the model cannot decompose)
//! gross_t    = Σ_i a_i r_i = Σ_k c_{k,t} + specific_t + unexpl_t   (up to rounding)
//! ```
//!
//! An asset is *covered* on date t when `t ≥ lag`, its styles at `t − lag` are all finite, and the
//! factor return of date t is finite for every factor it loads on (the market, its industry if
//! its code is ≥ 0, every style with a nonzero exposure). A held asset (`a_i ≠ 0`) whose return
//! is missing is counted in `n_missing` (the caller refuses such input). Dates are independent
//! and run in parallel; each date is summed sequentially over assets, so the results do not
//! depend on the number of threads.

use ndarray::{Array1, Array2, ArrayView2, ArrayView3, Axis};
use rayon::prelude::*;

use crate::error::Result;
use crate::parallel;
use crate::value_error;

/// Inputs of [`attribute`]. Factor order: `[market], industries 0..G-1, styles`.
pub struct Inputs<'a> {
    /// `(T, N)` portfolio weights (NaN = 0).
    pub weights: ArrayView2<'a, f64>,
    /// `(T, N)` benchmark weights (NaN = 0), for an active attribution.
    pub benchmark: Option<ArrayView2<'a, f64>>,
    /// `(T, N)` asset returns.
    pub returns: ArrayView2<'a, f64>,
    /// `(T, N, Ks)` unlagged style exposures.
    pub styles: Option<ArrayView3<'a, f64>>,
    /// `(T, N)` unlagged dense industry codes (−1 = none).
    pub industry: Option<ArrayView2<'a, i32>>,
    pub n_industries: usize,
    pub market: bool,
    /// `(T, K)` factor returns.
    pub factor_returns: ArrayView2<'a, f64>,
    pub lag: usize,
}

/// Outputs of [`attribute`].
#[derive(Debug, Clone)]
pub struct Output {
    /// `(T, K)` exposures `x_t` and contributions `x_t ∘ f_t`.
    pub exposures: Array2<f64>,
    pub contributions: Array2<f64>,
    /// `(T,)` specific return, unexplained return, gross return `Σ a r`.
    pub specific: Array1<f64>,
    pub unexplained: Array1<f64>,
    pub gross: Array1<f64>,
    /// `(T,)` held assets with a missing (non-finite) return.
    pub n_missing: Array1<i64>,
}

/// Attribute the (active) portfolio return of every date; see the module documentation.
pub fn attribute(inp: &Inputs<'_>) -> Result<Output> {
    let (t_len, n) = inp.weights.dim();
    let want = [t_len, n];
    let check2 = |name: &str, s: &[usize]| -> Result<()> {
        if s != want {
            return Err(value_error!("{name} has shape {s:?}, expected {want:?}"));
        }
        Ok(())
    };
    check2("returns", inp.returns.shape())?;
    if let Some(b) = &inp.benchmark {
        check2("benchmark", b.shape())?;
    }
    if let Some(ind) = &inp.industry {
        check2("industry", ind.shape())?;
    }
    let ks = match &inp.styles {
        Some(s) => {
            if s.shape()[..2] != want {
                return Err(value_error!(
                    "styles has shape {:?}, expected [{t_len}, {n}, Ks]",
                    s.shape()
                ));
            }
            s.shape()[2]
        }
        None => 0,
    };
    let g = if inp.industry.is_some() {
        inp.n_industries
    } else {
        0
    };
    let m = inp.market as usize;
    let k = m + g + ks;
    if inp.factor_returns.shape() != [t_len, k] {
        return Err(value_error!(
            "factor_returns has shape {:?}, expected [{t_len}, {k}] (market + industries + styles)",
            inp.factor_returns.shape()
        ));
    }
    if let Some(ind) = &inp.industry {
        if ind.iter().any(|&c| c < -1 || c as i64 >= g as i64) {
            return Err(value_error!(
                "industry codes must lie in -1..{} (-1 = none)",
                g as i64 - 1
            ));
        }
    }
    // Flat row-major views (a copy only for inputs that are not C-contiguous).
    let wv = inp.weights.as_standard_layout();
    let rv = inp.returns.as_standard_layout();
    let bv = inp.benchmark.as_ref().map(|b| b.as_standard_layout());
    let sv = inp.styles.as_ref().map(|s| s.as_standard_layout());
    let iv = inp.industry.as_ref().map(|a| a.as_standard_layout());
    let fv = inp.factor_returns.as_standard_layout();
    let flat = || value_error!("internal error: a standard-layout array is not contiguous");
    let w_all = wv.as_slice().ok_or_else(flat)?;
    let r_all = rv.as_slice().ok_or_else(flat)?;
    let b_all = match &bv {
        Some(b) => Some(b.as_slice().ok_or_else(flat)?),
        None => None,
    };
    let s_all = match &sv {
        Some(s) => s.as_slice().ok_or_else(flat)?,
        None => &[][..],
    };
    let i_all = match &iv {
        Some(a) => Some(a.as_slice().ok_or_else(flat)?),
        None => None,
    };
    let f_all = fv.as_slice().ok_or_else(flat)?;
    let (market, lag) = (inp.market, inp.lag);

    let mut exposures = Array2::<f64>::zeros((t_len, k));
    let mut contributions = Array2::<f64>::zeros((t_len, k));
    let mut scalars = vec![[0.0f64; 4]; t_len];
    if k > 0 {
        exposures
            .axis_chunks_iter_mut(Axis(0), 1)
            .into_par_iter()
            .zip(
                contributions
                    .axis_chunks_iter_mut(Axis(0), 1)
                    .into_par_iter(),
            )
            .zip(scalars.par_iter_mut())
            .enumerate()
            .for_each(|(t, ((mut x, mut c), sc))| {
                if parallel::cancelled() {
                    return; // the caller discards the whole result
                }
                let xs = x
                    .as_slice_mut()
                    .expect("a row of a fresh standard-layout array");
                let cs = c
                    .as_slice_mut()
                    .expect("a row of a fresh standard-layout array");
                let fr = &f_all[t * k..(t + 1) * k];
                let w = &w_all[t * n..(t + 1) * n];
                let r = &r_all[t * n..(t + 1) * n];
                let b = b_all.map(|b| &b[t * n..(t + 1) * n]);
                // the exposure row, if any (t ≥ lag) and the market factor is estimated
                let src = t.checked_sub(lag).filter(|_| !market || fr[0].is_finite());
                let codes = match (src, i_all) {
                    (Some(s), Some(ia)) => Some(&ia[s * n..(s + 1) * n]),
                    _ => None,
                };
                let sty = src.map(|s| &s_all[s * n * ks..(s + 1) * n * ks]);
                let (mut covered_gross, mut unexpl, mut gross, mut missing) = (0.0, 0.0, 0.0, 0usize);
                let fs = &fr[m + g..];
                // When every style has a return (the usual case) a covered asset only needs
                // finite styles; otherwise its styles without a return must be exactly 0.
                let all_styles_f = fs.iter().all(|v| v.is_finite());
                for i in 0..n {
                    let wi = w[i];
                    let mut a = if wi.is_finite() { wi } else { 0.0 };
                    if let Some(b) = b {
                        let bi = b[i];
                        if bi.is_finite() {
                            a -= bi;
                        }
                    }
                    if a == 0.0 {
                        continue;
                    }
                    let ri = r[i];
                    if !ri.is_finite() {
                        missing += 1;
                        continue;
                    }
                    let ar = a * ri;
                    gross += ar;
                    let Some(sty) = sty else {
                        unexpl += ar;
                        continue;
                    };
                    let code = codes.map_or(-1, |c| c[i]);
                    let bi = &sty[i * ks..(i + 1) * ks];
                    let mut ok = code < 0 || fr[m + code as usize].is_finite();
                    for &v in bi {
                        ok &= v.is_finite();
                    }
                    if ok && !all_styles_f {
                        ok = bi.iter().zip(fs).all(|(&v, &fj)| v == 0.0 || fj.is_finite());
                    }
                    if !ok {
                        unexpl += ar;
                        continue;
                    }
                    covered_gross += ar;
                    if market {
                        xs[0] += a;
                    }
                    if code >= 0 {
                        xs[m + code as usize] += a;
                    }
                    for (xj, &v) in xs[m + g..].iter_mut().zip(bi) {
                        *xj += a * v;
                    }
                }
                // c = x ∘ f (a factor nobody covered has x = 0 and contributes 0 even if f is
                // NaN); specific = Σ_covered a r − Σ_k c_k = Σ_covered a (r − B f).
                let mut factor_part = 0.0;
                for q in 0..k {
                    cs[q] = if xs[q] == 0.0 { 0.0 } else { xs[q] * fr[q] };
                    factor_part += cs[q];
                }
                let specific = covered_gross - factor_part;
                *sc = [specific, unexpl, gross, missing as f64];
            });
    } else {
        // no factors: everything held is unexplained
        for (t, sc) in scalars.iter_mut().enumerate() {
            let (mut unexpl, mut missing) = (0.0, 0usize);
            for i in 0..n {
                let wi = w_all[t * n + i];
                let mut a = if wi.is_finite() { wi } else { 0.0 };
                if let Some(b) = b_all {
                    let bi = b[t * n + i];
                    if bi.is_finite() {
                        a -= bi;
                    }
                }
                if a == 0.0 {
                    continue;
                }
                let ri = r_all[t * n + i];
                if ri.is_finite() {
                    unexpl += a * ri
                } else {
                    missing += 1
                }
            }
            *sc = [0.0, unexpl, unexpl, missing as f64];
        }
    }
    Ok(Output {
        exposures,
        contributions,
        specific: scalars.iter().map(|v| v[0]).collect(),
        unexplained: scalars.iter().map(|v| v[1]).collect(),
        gross: scalars.iter().map(|v| v[2]).collect(),
        n_missing: scalars.iter().map(|v| v[3] as i64).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3};

    #[test]
    fn hand_worked_date() {
        // 3 assets, market + 2 industries + 1 style, lag 1: date 1 uses row 0 exposures.
        let w = array![[0.0, 0.0, 0.0], [0.5, 0.3, 0.2]];
        let r = array![[0.0, 0.0, 0.0], [0.02, -0.01, 0.03]];
        let st = Array3::from_shape_vec((2, 3, 1), vec![1.0, -1.0, 0.5, 9.0, 9.0, 9.0]).unwrap();
        let ind = array![[0, 1, -1], [1, 1, 1]];
        let f = array![[0.0; 4], [0.01, 0.002, -0.003, 0.004]];
        let inp = Inputs {
            weights: w.view(),
            benchmark: None,
            returns: r.view(),
            styles: Some(st.view()),
            industry: Some(ind.view()),
            n_industries: 2,
            market: true,
            factor_returns: f.view(),
            lag: 1,
        };
        let o = attribute(&inp).unwrap();
        // x = [1.0, 0.5, 0.3, 0.5*1 + 0.3*(-1) + 0.2*0.5 = 0.3]
        let x = [1.0, 0.5, 0.3, 0.3];
        for q in 0..4 {
            assert!((o.exposures[[1, q]] - x[q]).abs() < 1e-15);
            assert!((o.contributions[[1, q]] - x[q] * f[[1, q]]).abs() < 1e-15);
        }
        let gross = 0.5 * 0.02 + 0.3 * -0.01 + 0.2 * 0.03;
        assert!((o.gross[1] - gross).abs() < 1e-15);
        let fact: f64 = (0..4).map(|q| x[q] * f[[1, q]]).sum();
        assert!((o.specific[1] - (gross - fact)).abs() < 1e-15);
        assert_eq!(o.unexplained[1], 0.0);
        // Date 0 has no exposures (t < lag): nothing held there.
        assert_eq!(o.gross[0], 0.0);
    }

    #[test]
    fn uncovered_assets_are_unexplained_and_missing_returns_counted() {
        let w = array![[0.5, 0.5, 0.0], [0.4, 0.4, 0.2]];
        let b = array![[0.5, 0.0, 0.0], [0.0, 0.0, 0.0]];
        let r = array![[0.01, 0.02, f64::NAN], [0.01, 0.02, f64::NAN]];
        let st =
            Array3::from_shape_vec((2, 3, 1), vec![f64::NAN, 1.0, 0.0, 1.0, 1.0, 1.0]).unwrap();
        let f = array![[0.001, 0.002], [0.001, 0.002]];
        let inp = Inputs {
            weights: w.view(),
            benchmark: Some(b.view()),
            returns: r.view(),
            styles: Some(st.view()),
            industry: None,
            n_industries: 0,
            market: true,
            factor_returns: f.view(),
            lag: 0,
        };
        let o = attribute(&inp).unwrap();
        // date 0: active a = [0, 0.5, 0]; covered
        assert!((o.exposures[[0, 0]] - 0.5).abs() < 1e-15 && o.unexplained[0] == 0.0);
        // date 1: asset 0 covered? styles row 1 are all finite → covered; asset 2 held, NaN return
        assert_eq!(o.n_missing[1], 1);
        assert_eq!(o.n_missing[0], 0);
        // an asset with NaN style on the exposure date is unexplained
        let inp2 = Inputs {
            benchmark: None,
            lag: 0,
            ..inp
        };
        let o2 = attribute(&inp2).unwrap();
        assert!((o2.unexplained[0] - 0.5 * 0.01).abs() < 1e-15);
    }
}
