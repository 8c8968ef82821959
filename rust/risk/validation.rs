//! Risk-model validation, batched over dates: forecast volatilities of one portfolio per date,
//! the out-of-sample paths of a bias test of fixed portfolios, and minimum-variance portfolios.
//!
//! Every kernel takes the model of `D` stored dates as a [`DateModels`]: styles `(D, N, Ks)`,
//! dense industry codes `(D, N)` (`−1` = none), the market flag, `G`, the factor covariance
//! `(D, K, K)` (`K = market + G + Ks`, factor order `[market], industries, styles`) and the
//! specific variance `(D, N)`. Exposures stay codes (B is never one-hot), Σ = B Σf Bᵀ + D is used
//! through products (never N × N). Dates are independent and run in parallel (rayon); each date
//! is computed sequentially in a fixed order, so results do not depend on the number of threads.
//!
//! Time: the model of stored date `d` (known at the close of its panel row) forecasts the return
//! over the next row; the bias paths pair it with `returns[rows[d] + 1]`.

use ndarray::{Array1, Array2, ArrayView2, ArrayView3, CowArray, Ix2, Ix3};
use rayon::prelude::*;

use crate::error::Result;
use crate::parallel;
use crate::value_error;
use super::quad_exposed as quad;

/// The risk model of `D` stored dates (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct DateModels<'a> {
    /// `(D, N, Ks)` style exposures; NaN = not covered.
    pub styles: ArrayView3<'a, f64>,
    /// `(D, N)` dense industry codes in `−1..n_industries`.
    pub industry: ArrayView2<'a, i32>,
    /// Whether the factors start with a market factor.
    pub market: bool,
    /// `G`, the number of industry factors.
    pub n_industries: usize,
    /// `(D, K, K)` factor covariance.
    pub factor_cov: ArrayView3<'a, f64>,
    /// `(D, N)` specific variance; NaN = not covered.
    pub specific_var: ArrayView2<'a, f64>,
}

/// The checked, contiguous form of [`DateModels`], read one date at a time.
struct Models<'a> {
    d: usize,
    n: usize,
    ks: usize,
    k: usize,
    g: usize,
    market: bool,
    st: CowArray<'a, f64, Ix3>,
    ind: CowArray<'a, i32, Ix2>,
    fc: CowArray<'a, f64, Ix3>,
    sp: CowArray<'a, f64, Ix2>,
}

impl<'a> Models<'a> {
    fn new(m: &DateModels<'a>) -> Result<Models<'a>> {
        let (d, n, ks) = m.styles.dim();
        let g = m.n_industries;
        let k = m.market as usize + g + ks;
        if m.industry.dim() != (d, n) {
            return Err(value_error!(
                "industry has shape {:?}, expected ({d}, {n}) (the styles' dates × assets)",
                m.industry.shape()
            ));
        }
        if m.specific_var.dim() != (d, n) {
            return Err(value_error!(
                "specific_var has shape {:?}, expected ({d}, {n}) (the styles' dates × assets)",
                m.specific_var.shape()
            ));
        }
        if m.factor_cov.dim() != (d, k, k) {
            return Err(value_error!(
                "factor_cov has shape {:?}, expected ({d}, {k}, {k}) (K = market + {g} industries + {ks} styles)",
                m.factor_cov.shape()
            ));
        }
        if g > i32::MAX as usize {
            return Err(value_error!("n_industries must fit in int32, got {g}"));
        }
        let gi = g as i32;
        let bad = m
            .industry
            .outer_iter()
            .into_par_iter()
            .any(|row| row.iter().any(|&c| c < -1 || c >= gi));
        if bad {
            return Err(value_error!(
                "industry codes must lie in -1..{} (-1 = none, dense codes of {g} industries)",
                g as i64 - 1
            ));
        }
        Ok(Models {
            d,
            n,
            ks,
            k,
            g,
            market: m.market,
            st: standard(m.styles),
            ind: standard(m.industry),
            fc: standard(m.factor_cov),
            sp: standard(m.specific_var),
        })
    }

    fn styles(&self, d: usize) -> &[f64] {
        let s = self.st.as_slice().expect("standard layout");
        &s[d * self.n * self.ks..(d + 1) * self.n * self.ks]
    }
    fn codes(&self, d: usize) -> &[i32] {
        let s = self.ind.as_slice().expect("standard layout");
        &s[d * self.n..(d + 1) * self.n]
    }
    fn cov(&self, d: usize) -> &[f64] {
        let s = self.fc.as_slice().expect("standard layout");
        &s[d * self.k * self.k..(d + 1) * self.k * self.k]
    }
    fn spec(&self, d: usize) -> &[f64] {
        let s = self.sp.as_slice().expect("standard layout");
        &s[d * self.n..(d + 1) * self.n]
    }
    fn ind_off(&self) -> usize {
        self.market as usize
    }
    fn style_off(&self) -> usize {
        self.market as usize + self.g
    }
}

/// The view itself when C-contiguous (no copy), else a C-ordered copy.
fn standard<'a, A: Clone, D: ndarray::Dimension>(v: ndarray::ArrayView<'a, A, D>) -> CowArray<'a, A, D> {
    if v.is_standard_layout() {
        CowArray::from(v)
    } else {
        CowArray::from(v.as_standard_layout().into_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// Forecast volatility of one portfolio per date
// ---------------------------------------------------------------------------------------------

/// `sqrt(xᵀ Σf x + Σ_i w_i² d_i)`, `x = Bᵀw`, of portfolio `weights[d]` (`(D, N)`) with the model
/// of date `d`, for every date: `(D,)`. NaN on a date where a held asset (`w ≠ 0`) has a
/// non-finite style exposure or a specific variance that is not finite and ≥ 0 (the caller
/// names the asset).
pub fn forecast_volatility(weights: ArrayView2<'_, f64>, models: &DateModels<'_>) -> Result<Array1<f64>> {
    let m = Models::new(models)?;
    if weights.dim() != (m.d, m.n) {
        return Err(value_error!(
            "weights has shape {:?}, expected ({}, {}) (stored dates × assets)",
            weights.shape(),
            m.d,
            m.n
        ));
    }
    let w = weights.as_standard_layout();
    let ws = w.as_slice().expect("standard layout");
    let mut out = vec![f64::NAN; m.d];
    out.par_iter_mut().enumerate().for_each_init(Vec::new, |x, (d, o)| {
        if parallel::cancelled() {
            return; // the caller discards the whole result
        }
        *o = one_volatility(&m, d, &ws[d * m.n..(d + 1) * m.n], x);
    });
    Ok(Array1::from(out))
}

fn one_volatility(m: &Models<'_>, d: usize, w: &[f64], x: &mut Vec<f64>) -> f64 {
    let (st, codes, sp) = (m.styles(d), m.codes(d), m.spec(d));
    let (ks, io, so) = (m.ks, m.ind_off(), m.style_off());
    x.clear();
    x.resize(m.k, 0.0);
    let mut sv = 0.0;
    for (i, &wi) in w.iter().enumerate() {
        if wi == 0.0 {
            continue;
        }
        let si = &st[i * ks..(i + 1) * ks];
        let di = sp[i];
        if !(di.is_finite() && di >= 0.0) || si.iter().any(|v| !v.is_finite()) {
            return f64::NAN;
        }
        if m.market {
            x[0] += wi;
        }
        if codes[i] >= 0 {
            x[io + codes[i] as usize] += wi;
        }
        for (xk, &s) in x[so..].iter_mut().zip(si) {
            *xk += wi * s;
        }
        sv += wi * wi * di;
    }
    (quad(m.cov(d), x) + sv).sqrt()
}

// ---------------------------------------------------------------------------------------------
// Bias-test paths of fixed portfolios
// ---------------------------------------------------------------------------------------------

/// Realised and forecast paths of fixed portfolios over the stored dates: `(realized (D, P),
/// forecast (D, P))`.
///
/// For stored date `d` (panel row `rows[d]`) the live assets are those covered by the model at
/// `d` (finite specific variance ≥ 0, every style finite, industry code ≥ 0 when the model has
/// industries) whose return `returns[rows[d] + 1]` is finite. Portfolio `p` is `weights[p]` on
/// the live assets (0 elsewhere), rescaled with `normalize` so that its sum equals
/// `Σ weights[p]` (no rescale when its live sum is 0). `forecast` is its volatility under the
/// model of `d`, `realized` its return `Σ_i w_i returns[rows[d] + 1, i]`. Dates with
/// `rows[d] + 1 ≥ T` are NaN.
///
/// All P portfolios of a block of [`DATES_PER_TASK`] dates are handled at once, without ever
/// forming the restricted weights: with `L_d` the live indicator, the style exposures, live sums
/// and realised returns are one product `W · [S_d ⊙ L_d, L_d, r_d ⊙ L_d]_d` (P × N times
/// N × (Ks + 2)·dates, a packed matrix-multiply kernel), `Σ w² d` is `(W ⊙ W) · (d ⊙ L)`, and the
/// industry exposures are sums of the columns of W over each industry's live members (contiguous
/// adds over the P portfolios). The rescale multiplies those sums.
pub fn bias_paths(
    weights: ArrayView2<'_, f64>,
    returns: ArrayView2<'_, f64>,
    rows: &[i64],
    normalize: bool,
    models: &DateModels<'_>,
) -> Result<(Array2<f64>, Array2<f64>)> {
    let m = Models::new(models)?;
    let (np, n) = weights.dim();
    if n != m.n {
        return Err(value_error!(
            "weights has shape {:?}, expected (P, {}) (portfolios × the model's assets)",
            weights.shape(),
            m.n
        ));
    }
    let t = returns.nrows();
    if returns.ncols() != m.n {
        return Err(value_error!(
            "returns has shape {:?}, expected (T, {}) (panel dates × the model's assets)",
            returns.shape(),
            m.n
        ));
    }
    if rows.len() != m.d {
        return Err(value_error!(
            "rows has {} entries, expected {} (one panel row per stored date)",
            rows.len(),
            m.d
        ));
    }
    if let Some((j, &r)) = rows.iter().enumerate().find(|(_, &r)| r < 0 || r as u64 >= t as u64) {
        return Err(value_error!("rows[{j}] = {r} is not a row of returns (0..{t})"));
    }
    let w = standard(weights);
    let ws = w.as_slice().expect("standard layout");
    if let Some(pos) = ws.iter().position(|v| !v.is_finite()) {
        return Err(value_error!(
            "weights must be finite: portfolio {} has {} at asset {}",
            pos / n.max(1),
            ws[pos],
            pos % n.max(1)
        ));
    }
    let r = standard(returns);
    let rs = r.as_slice().expect("standard layout");

    let mut realized = Array2::<f64>::from_elem((m.d, np), f64::NAN);
    let mut forecast = Array2::<f64>::from_elem((m.d, np), f64::NAN);
    if np == 0 || m.d == 0 {
        return Ok((realized, forecast));
    }
    // Shared by every block of dates: the sums, the squared weights and the transposed weights.
    let total: Vec<f64> = (0..np).map(|p| ws[p * n..(p + 1) * n].iter().sum()).collect();
    let w2: Vec<f64> = ws.iter().map(|v| v * v).collect();
    // The weights by blocks of LANES portfolios: block b holds (N, LANES), zero-padded.
    let nblocks = np.div_ceil(LANES);
    let mut wt = vec![0.0; nblocks * n * LANES];
    wt.par_chunks_mut(n * LANES).enumerate().for_each(|(b, slab)| {
        for (i, lanes) in slab.chunks_exact_mut(LANES).enumerate() {
            for (l, v) in lanes.iter_mut().enumerate() {
                let p = b * LANES + l;
                if p < np {
                    *v = ws[p * n + i];
                }
            }
        }
    });
    let shared = Shared {
        w: ArrayView2::from_shape((np, n), ws).map_err(|e| value_error!("weights: {e}"))?,
        w2: ArrayView2::from_shape((np, n), &w2[..]).map_err(|e| value_error!("weights: {e}"))?,
        wt: &wt,
        total: &total,
        returns: rs,
        t,
        rows,
        normalize,
    };
    let block = DATES_PER_TASK * np;
    realized
        .as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(block)
        .zip(forecast.as_slice_mut().expect("fresh array").par_chunks_mut(block))
        .enumerate()
        .for_each(|(b, (ro, fo))| {
            if parallel::cancelled() {
                return; // the caller discards the whole result
            }
            bias_block(&m, &shared, b * DATES_PER_TASK, ro, fo);
        });
    Ok((realized, forecast))
}

/// Stored dates per parallel task of [`bias_paths`] (a fixed split: results do not depend on
/// the number of threads).
pub const DATES_PER_TASK: usize = 16;

/// Portfolios summed together in the industry exposures (one block of registers).
const LANES: usize = 8;

/// Inputs of [`bias_paths`] shared by every block of dates.
struct Shared<'a> {
    w: ArrayView2<'a, f64>,
    w2: ArrayView2<'a, f64>,
    /// The weights transposed by blocks of [`LANES`] portfolios: `(P / LANES, N, LANES)`.
    wt: &'a [f64],
    total: &'a [f64],
    returns: &'a [f64],
    t: usize,
    rows: &'a [i64],
    normalize: bool,
}

/// Dates `d0..d0 + ro.len() / P` into their output rows.
fn bias_block(m: &Models<'_>, sh: &Shared<'_>, d0: usize, ro: &mut [f64], fo: &mut [f64]) {
    let (n, ks, g, k) = (m.n, m.ks, m.g, m.k);
    let np = sh.w.nrows();
    let nd = ro.len() / np;
    let c = ks + 2;
    let width = nd * c;
    // Design of the block (N × nd·c, date-major columns: styles, live indicator, live return)
    // and live specific variances (N × nd); each date's live industry members, grouped by code.
    let mut design = vec![0.0; n * width];
    let mut dlive = vec![0.0; n * nd];
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); nd];
    let mut bounds: Vec<Vec<usize>> = vec![Vec::new(); nd];
    let mut has_next = vec![false; nd];
    let mut count = vec![0usize; g + 1];
    for j in 0..nd {
        let d = d0 + j;
        let next = sh.rows[d] as usize + 1;
        if next >= sh.t {
            continue; // no return after the last panel row: the outputs stay NaN
        }
        has_next[j] = true;
        let r_next = &sh.returns[next * n..(next + 1) * n];
        let (st, codes, sp) = (m.styles(d), m.codes(d), m.spec(d));
        count.fill(0);
        for i in 0..n {
            let si = &st[i * ks..(i + 1) * ks];
            let live = sp[i].is_finite()
                && sp[i] >= 0.0
                && si.iter().all(|v| v.is_finite())
                && (g == 0 || codes[i] >= 0)
                && r_next[i].is_finite();
            if live {
                let row = &mut design[i * width + j * c..i * width + (j + 1) * c];
                row[..ks].copy_from_slice(si);
                row[ks] = 1.0;
                row[ks + 1] = r_next[i];
                dlive[i * nd + j] = sp[i];
                if g > 0 {
                    count[codes[i] as usize + 1] += 1;
                }
            }
        }
        if g > 0 {
            // counting sort of the live assets by industry (asset order within an industry)
            for gg in 0..g {
                count[gg + 1] += count[gg];
            }
            bounds[j] = count.clone();
            let mut next_slot = count[..g].to_vec();
            let mem = &mut members[j];
            mem.resize(count[g], 0);
            for i in 0..n {
                if design[i * width + j * c + ks] == 1.0 {
                    let cg = codes[i] as usize;
                    mem[next_slot[cg]] = i as u32;
                    next_slot[cg] += 1;
                }
            }
        }
    }
    // The packed products (single-threaded within the block).
    let dv = ArrayView2::from_shape((n, width), &design[..]).expect("n × width design");
    let mut y = Array2::<f64>::zeros((np, width));
    ndarray::linalg::general_mat_mul(1.0, &sh.w, &dv, 0.0, &mut y);
    let lv = ArrayView2::from_shape((n, nd), &dlive[..]).expect("n × nd");
    let mut z = Array2::<f64>::zeros((np, nd));
    ndarray::linalg::general_mat_mul(1.0, &sh.w2, &lv, 0.0, &mut z);

    // Industry exposures (nd × G × P): per block of LANES portfolios (its slab of weights, N ×
    // LANES, stays in cache for the dates of the block), per date and industry the live members'
    // rows summed in asset order, even and odd members in two register sets added at the end.
    let nblocks = np.div_ceil(LANES);
    let mut ind = vec![0.0; nd * g * np];
    if g > 0 {
        for b in 0..nblocks {
            let slab = &sh.wt[b * n * LANES..(b + 1) * n * LANES];
            let p0 = b * LANES;
            let len = (np - p0).min(LANES);
            for j in (0..nd).filter(|&j| has_next[j]) {
                for gg in 0..g {
                    let mem = &members[j][bounds[j][gg]..bounds[j][gg + 1]];
                    let (mut a0, mut a1) = ([0.0f64; LANES], [0.0f64; LANES]);
                    let mut pairs = mem.chunks_exact(2);
                    for pair in &mut pairs {
                        let r0: &[f64; LANES] = slab[pair[0] as usize * LANES..][..LANES].try_into().expect("LANES");
                        let r1: &[f64; LANES] = slab[pair[1] as usize * LANES..][..LANES].try_into().expect("LANES");
                        for l in 0..LANES {
                            a0[l] += r0[l];
                            a1[l] += r1[l];
                        }
                    }
                    if let [last] = pairs.remainder() {
                        let r0: &[f64; LANES] = slab[*last as usize * LANES..][..LANES].try_into().expect("LANES");
                        for l in 0..LANES {
                            a0[l] += r0[l];
                        }
                    }
                    let out = &mut ind[(j * g + gg) * np + p0..(j * g + gg) * np + p0 + len];
                    for (l, o) in out.iter_mut().enumerate() {
                        *o = a0[l] + a1[l];
                    }
                }
            }
        }
    }

    let (io, so) = (m.ind_off(), m.style_off());
    let mut xm = Array2::<f64>::zeros((np, k));
    let mut scale = vec![1.0; np];
    for j in 0..nd {
        if !has_next[j] {
            continue;
        }
        let d = d0 + j;
        let ind = &ind[j * g * np..(j + 1) * g * np];
        // x = scale · Bᵀw for every portfolio (P × K).
        for p in 0..np {
            let live_sum = y[[p, j * c + ks]];
            let sc = if sh.normalize && live_sum != 0.0 { sh.total[p] / live_sum } else { 1.0 };
            scale[p] = sc;
            let mut x = xm.row_mut(p);
            if m.market {
                x[0] = sc * live_sum;
            }
            for gg in 0..g {
                x[io + gg] = sc * ind[gg * np + p];
            }
            for q in 0..ks {
                x[so + q] = sc * y[[p, j * c + q]];
            }
        }
        let fv = factor_variances(m.cov(d), &xm);
        for p in 0..np {
            let var = fv[p] + scale[p] * scale[p] * z[[p, j]];
            fo[j * np + p] = var.sqrt();
            ro[j * np + p] = scale[p] * y[[p, j * c + ks + 1]];
        }
    }
}

/// `xᵀ Σf x` for every row of `xm` (P × K), with [`quad`]'s rule for factors nobody holds: the
/// factors whose row of Σf is finite go through one (P × K)·(K × K) product; a portfolio exposed
/// to a factor with a non-finite entry in its row is evaluated by [`quad`] itself.
fn factor_variances(fc: &[f64], xm: &Array2<f64>) -> Vec<f64> {
    let (np, k) = xm.dim();
    let good: Vec<usize> = (0..k).filter(|&i| fc[i * k..(i + 1) * k].iter().all(|v| v.is_finite())).collect();
    let kg = good.len();
    let sg = Array2::from_shape_fn((kg, kg), |(a, b)| fc[good[a] * k + good[b]]);
    let xg = Array2::from_shape_fn((np, kg), |(p, a)| xm[[p, good[a]]]);
    let mut v = Array2::<f64>::zeros((np, kg));
    ndarray::linalg::general_mat_mul(1.0, &xg, &sg, 0.0, &mut v);
    (0..np)
        .map(|p| {
            let x = xm.row(p);
            let exposed_to_bad = kg < k && (0..k).any(|i| x[i] != 0.0 && !good.contains(&i));
            if exposed_to_bad {
                quad(fc, x.as_slice().expect("row of a standard array"))
            } else {
                (0..kg).map(|a| xg[[p, a]] * v[[p, a]]).sum()
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Minimum-variance portfolios
// ---------------------------------------------------------------------------------------------

/// The fully invested minimum-variance portfolio `w = Σ⁻¹1 / 1ᵀΣ⁻¹1` of each date over the
/// assets covered then (every style finite, specific variance finite and > 0): `(D, N)`, 0 for
/// the assets not covered, each row summing to 1.
///
/// Woodbury in factor form, never N × N: with the factors that have an exposure among the covered
/// assets (`B` restricted to them),
/// `Σ⁻¹1 = D⁻¹1 − D⁻¹B (I + Σf BᵀD⁻¹B)⁻¹ Σf BᵀD⁻¹1`, the small system solved by LU with partial
/// pivoting. A NaN row on dates with fewer than 2 covered assets, a non-finite block of Σf over
/// the factors used, or a singular system.
pub fn min_variance(models: &DateModels<'_>) -> Result<Array2<f64>> {
    let m = Models::new(models)?;
    let mut out = Array2::<f64>::zeros((m.d, m.n));
    if m.n == 0 {
        return Ok(out);
    }
    out.as_slice_mut()
        .expect("fresh array")
        .par_chunks_mut(m.n)
        .enumerate()
        .for_each_init(MinVarScratch::default, |s, (d, o)| {
            if parallel::cancelled() {
                return; // the caller discards the whole result
            }
            if !min_var_date(&m, d, s, o) {
                o.fill(f64::NAN);
            }
        });
    Ok(out)
}

#[derive(Default)]
struct MinVarScratch {
    covered: Vec<u32>,
    used: Vec<usize>,
    bd: Vec<f64>,
    y: Vec<f64>,
    ind_diag: Vec<f64>,
    ind_dense: Vec<f64>,
    gram: Vec<f64>,
    h: Vec<f64>,
    z: Vec<f64>,
}

/// One date into `o` (length N); false = NaN row.
///
/// `BᵀD⁻¹B` is assembled from its blocks: the dense block of `[market?, styles]` as one product
/// `B_dᵀ (D⁻¹ B_d)` over the covered assets, and per industry the sums of `1/d` (the diagonal
/// industry block, and the industry part of `BᵀD⁻¹1`) and of the rows of `D⁻¹ B_d`.
fn min_var_date(m: &Models<'_>, d: usize, s: &mut MinVarScratch, o: &mut [f64]) -> bool {
    let (n, ks, k, g) = (m.n, m.ks, m.k, m.g);
    let (st, codes, sp, fc) = (m.styles(d), m.codes(d), m.spec(d), m.cov(d));
    let (io, so) = (m.ind_off(), m.style_off());
    let mk = m.market as usize;
    let dm = mk + ks; // dense columns: [market?, styles]
    s.covered.clear();
    s.covered.extend((0..n as u32).filter(|&i| {
        let i = i as usize;
        sp[i].is_finite() && sp[i] > 0.0 && st[i * ks..(i + 1) * ks].iter().all(|v| v.is_finite())
    }));
    let nc = s.covered.len();
    if nc < 2 {
        return false;
    }
    // Dense rows B_d (nc × dm) and D⁻¹ B_d; per-industry sums.
    s.bd.clear();
    s.y.clear();
    s.ind_diag.clear();
    s.ind_diag.resize(g, 0.0);
    s.ind_dense.clear();
    s.ind_dense.resize(g * dm, 0.0);
    let mut exposed = vec![false; k];
    for &i in &s.covered {
        let i = i as usize;
        let inv = 1.0 / sp[i];
        let si = &st[i * ks..(i + 1) * ks];
        if mk == 1 {
            s.bd.push(1.0);
            s.y.push(inv);
            exposed[0] = true;
        }
        for (q, &v) in si.iter().enumerate() {
            s.bd.push(v);
            s.y.push(v * inv);
            exposed[so + q] |= v != 0.0;
        }
        if codes[i] >= 0 {
            let gg = codes[i] as usize;
            exposed[io + gg] = true;
            s.ind_diag[gg] += inv;
            let yrow = &s.y[s.y.len() - dm..];
            for (acc, &v) in s.ind_dense[gg * dm..(gg + 1) * dm].iter_mut().zip(yrow) {
                *acc += v;
            }
        }
    }
    let bdv = ArrayView2::from_shape((nc, dm), &s.bd[..]).expect("nc × dm");
    let yv = ArrayView2::from_shape((nc, dm), &s.y[..]).expect("nc × dm");
    let mut gd = Array2::<f64>::zeros((dm, dm));
    ndarray::linalg::general_mat_mul(1.0, &bdv.t(), &yv, 0.0, &mut gd);
    // Layout position of dense column a.
    let lay = |a: usize| if a < mk { 0 } else { so + a - mk };
    s.used.clear();
    s.used.extend((0..k).filter(|&f| exposed[f]));
    let ku = s.used.len();
    let mut pos = vec![usize::MAX; k];
    for (u, &f) in s.used.iter().enumerate() {
        pos[f] = u;
    }
    // Σf over the used factors must be finite.
    let sfu = Array2::from_shape_fn((ku, ku), |(a, b)| fc[s.used[a] * k + s.used[b]]);
    if sfu.iter().any(|v| !v.is_finite()) {
        return false;
    }
    // G = BᵀD⁻¹B and h = BᵀD⁻¹1 over the used factors.
    s.gram.clear();
    s.gram.resize(ku * ku, 0.0);
    s.h.clear();
    s.h.resize(ku, 0.0);
    for a in 0..dm {
        let pa = pos[lay(a)];
        if pa == usize::MAX {
            continue;
        }
        s.h[pa] = s.y.iter().skip(a).step_by(dm).sum();
        for b in 0..dm {
            let pb = pos[lay(b)];
            if pb != usize::MAX {
                s.gram[pa * ku + pb] = gd[[a, b]];
            }
        }
    }
    for gg in 0..g {
        let pg = pos[io + gg];
        if pg == usize::MAX {
            continue;
        }
        s.gram[pg * ku + pg] = s.ind_diag[gg];
        s.h[pg] = s.ind_diag[gg];
        for a in 0..dm {
            let pa = pos[lay(a)];
            if pa != usize::MAX {
                let v = s.ind_dense[gg * dm + a];
                s.gram[pg * ku + pa] = v;
                s.gram[pa * ku + pg] = v;
            }
        }
    }
    // (I + Σf G) z = Σf h.
    let gv = ArrayView2::from_shape((ku, ku), &s.gram[..]).expect("ku × ku");
    let mut a = Array2::<f64>::eye(ku);
    ndarray::linalg::general_mat_mul(1.0, &sfu, &gv, 1.0, &mut a);
    s.z.clear();
    s.z.extend((0..ku).map(|r| (0..ku).map(|c| sfu[[r, c]] * s.h[c]).sum::<f64>()));
    let a_slice = a.as_slice_mut().expect("fresh array");
    if !lu_solve(a_slice, &mut s.z, ku) {
        return false;
    }
    // y = D⁻¹(1 − B z) on the covered assets; w = y / Σy.
    let z_of = |f: usize| if pos[f] == usize::MAX { 0.0 } else { s.z[pos[f]] };
    let zm = if mk == 1 { z_of(0) } else { 0.0 };
    let zs: Vec<f64> = (0..ks).map(|q| z_of(so + q)).collect();
    o.fill(0.0);
    let mut total = 0.0;
    for &i in &s.covered {
        let i = i as usize;
        let mut bz = zm;
        if codes[i] >= 0 {
            bz += z_of(io + codes[i] as usize);
        }
        for (q, &v) in st[i * ks..(i + 1) * ks].iter().enumerate() {
            bz += v * zs[q];
        }
        let y = (1.0 - bz) / sp[i];
        o[i] = y;
        total += y;
    }
    if !(total.is_finite() && total != 0.0) {
        return false;
    }
    for &i in &s.covered {
        o[i as usize] /= total;
    }
    true
}

/// Solve `A x = b` in place (`A` row-major p × p, overwritten; `b` becomes `x`) by Gaussian
/// elimination with partial pivoting. False when a pivot is zero or not finite (singular).
fn lu_solve(a: &mut [f64], b: &mut [f64], p: usize) -> bool {
    let scale = a.iter().fold(0.0f64, |s, v| s.max(v.abs()));
    if !(scale.is_finite() && scale > 0.0) {
        return p == 0;
    }
    for col in 0..p {
        let mut piv = col;
        for r in col + 1..p {
            if a[r * p + col].abs() > a[piv * p + col].abs() {
                piv = r;
            }
        }
        let pv = a[piv * p + col];
        if !(pv.abs() > 1e-14 * scale) || !pv.is_finite() {
            return false;
        }
        if piv != col {
            for c in 0..p {
                a.swap(col * p + c, piv * p + c);
            }
            b.swap(col, piv);
        }
        for r in col + 1..p {
            let f = a[r * p + col] / pv;
            if f != 0.0 {
                for c in col..p {
                    a[r * p + c] -= f * a[col * p + c];
                }
                b[r] -= f * b[col];
            }
        }
    }
    for r in (0..p).rev() {
        let mut acc = b[r];
        for c in r + 1..p {
            acc -= a[r * p + c] * b[c];
        }
        b[r] = acc / a[r * p + r];
    }
    b.iter().all(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, Axis};

    /// Small deterministic model: D dates, N assets, G industries, Ks styles, market.
    struct Case {
        st: Array3<f64>,
        ind: Array2<i32>,
        fc: Array3<f64>,
        sp: Array2<f64>,
        g: usize,
    }

    fn h(a: usize, b: usize, c: usize) -> f64 {
        ((a * 7919 + b * 104_729 + c * 1_299_709) % 10_007) as f64 / 10_007.0
    }

    fn case(d: usize, n: usize, g: usize, ks: usize) -> Case {
        let k = 1 + g + ks;
        let st = Array3::from_shape_fn((d, n, ks), |(a, b, c)| h(a, b, c) * 2.0 - 1.0);
        let ind = Array2::from_shape_fn((d, n), |(a, b)| ((a + 3 * b) % (g + 1)) as i32 - 1);
        let sp = Array2::from_shape_fn((d, n), |(a, b)| 1e-4 * (0.5 + h(a, b, 9)));
        // Σf = L Lᵀ + small ridge, L from the hash (positive definite)
        let fc = Array3::from_shape_fn((d, k, k), |(a, i, j)| {
            let mut s = 0.0;
            for q in 0..k {
                s += (h(a, i, q + 20) - 0.5) * (h(a, j, q + 20) - 0.5);
            }
            1e-4 * (s + if i == j { 0.1 } else { 0.0 })
        });
        Case { st, ind, fc, sp, g }
    }

    fn models(c: &Case) -> DateModels<'_> {
        DateModels {
            styles: c.st.view(),
            industry: c.ind.view(),
            market: true,
            n_industries: c.g,
            factor_cov: c.fc.view(),
            specific_var: c.sp.view(),
        }
    }

    /// Dense B (N, K) of date d.
    fn dense_b(c: &Case, d: usize) -> Array2<f64> {
        let (n, ks) = (c.st.shape()[1], c.st.shape()[2]);
        let k = 1 + c.g + ks;
        Array2::from_shape_fn((n, k), |(i, f)| {
            if f == 0 {
                1.0
            } else if f <= c.g {
                (c.ind[[d, i]] == (f - 1) as i32) as i32 as f64
            } else {
                c.st[[d, i, f - 1 - c.g]]
            }
        })
    }

    fn dense_var(c: &Case, d: usize, w: &[f64]) -> f64 {
        let b = dense_b(c, d);
        let held: Vec<usize> = (0..w.len()).filter(|&i| w[i] != 0.0).collect();
        let x: Vec<f64> = (0..b.ncols()).map(|f| held.iter().map(|&i| b[[i, f]] * w[i]).sum()).collect();
        let fc = c.fc.index_axis(Axis(0), d);
        let mut v = 0.0;
        for i in 0..x.len() {
            for j in 0..x.len() {
                v += x[i] * fc[[i, j]] * x[j];
            }
        }
        v + held.iter().map(|&i| w[i] * w[i] * c.sp[[d, i]]).sum::<f64>()
    }

    #[test]
    fn forecast_volatility_equals_dense() {
        let c = case(5, 23, 3, 2);
        let w = Array2::from_shape_fn((5, 23), |(a, b)| h(a, b, 40) - 0.3);
        let v = forecast_volatility(w.view(), &models(&c)).unwrap();
        for d in 0..5 {
            let want = dense_var(&c, d, w.row(d).as_slice().unwrap()).sqrt();
            assert!((v[d] - want).abs() <= 1e-12 * want, "{} vs {want}", v[d]);
        }
    }

    #[test]
    fn held_asset_without_forecast_is_nan() {
        let mut c = case(3, 10, 2, 2);
        c.st[[1, 4, 1]] = f64::NAN;
        c.sp[[2, 7]] = f64::NAN;
        let mut w = Array2::from_elem((3, 10), 0.1);
        let v = forecast_volatility(w.view(), &models(&c)).unwrap();
        assert!(v[0].is_finite() && v[1].is_nan() && v[2].is_nan());
        w[[1, 4]] = 0.0;
        w[[2, 7]] = 0.0;
        let v = forecast_volatility(w.view(), &models(&c)).unwrap();
        assert!(v.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn bias_paths_by_hand_loop() {
        let (t, n, np) = (7, 30, 6);
        let mut r = Array2::from_shape_fn((t, n), |(a, b)| 0.02 * (h(a, b, 50) - 0.5));
        r[[3, 5]] = f64::NAN;
        let mut cc = case(4, 30, 3, 2);
        cc.sp[[1, 8]] = f64::NAN; // not covered on stored date 1
        let w = Array2::from_shape_fn((np, n), |(a, b)| h(a, b, 60));
        let rows = [0i64, 2, 5, 6]; // the last has no next row
        for normalize in [false, true] {
            let (re, fo) = bias_paths(w.view(), r.view(), &rows, normalize, &models(&cc)).unwrap();
            for (d, &row) in rows.iter().enumerate() {
                let next = row as usize + 1;
                for p in 0..np {
                    if next >= t {
                        assert!(re[[d, p]].is_nan() && fo[[d, p]].is_nan());
                        continue;
                    }
                    let live: Vec<bool> = (0..n)
                        .map(|i| {
                            cc.sp[[d, i]].is_finite() && cc.ind[[d, i]] >= 0 && r[[next, i]].is_finite()
                        })
                        .collect();
                    let mut wl: Vec<f64> = (0..n).map(|i| if live[i] { w[[p, i]] } else { 0.0 }).collect();
                    if normalize {
                        let s: f64 = wl.iter().sum();
                        let tot: f64 = w.row(p).sum();
                        wl.iter_mut().for_each(|x| *x *= tot / s);
                    }
                    let real: f64 = (0..n).filter(|&i| live[i]).map(|i| wl[i] * r[[next, i]]).sum();
                    let vol = dense_var(&cc, d, &wl).sqrt();
                    assert!((re[[d, p]] - real).abs() <= 1e-12 * real.abs().max(1e-3));
                    assert!((fo[[d, p]] - vol).abs() <= 1e-12 * vol);
                }
            }
        }
    }

    #[test]
    fn min_variance_equals_dense_solve() {
        let mut c = case(3, 12, 2, 2);
        c.sp[[0, 3]] = f64::NAN; // not covered
        c.st[[1, 5, 0]] = f64::NAN; // not covered
        let w = min_variance(&models(&c)).unwrap();
        for d in 0..3 {
            let b = dense_b(&c, d);
            let n = 12;
            let cov: Vec<bool> = (0..n).map(|i| c.sp[[d, i]].is_finite() && (0..2).all(|q| c.st[[d, i, q]].is_finite())).collect();
            let idx: Vec<usize> = (0..n).filter(|&i| cov[i]).collect();
            let m = idx.len();
            // dense Σ over the covered assets, solve Σ y = 1 by Gaussian elimination
            let fc = c.fc.index_axis(Axis(0), d);
            let k = b.ncols();
            let mut a = vec![0.0; m * m];
            for (ii, &i) in idx.iter().enumerate() {
                for (jj, &j) in idx.iter().enumerate() {
                    let mut v = 0.0;
                    for f in 0..k {
                        for e in 0..k {
                            v += b[[i, f]] * fc[[f, e]] * b[[j, e]];
                        }
                    }
                    a[ii * m + jj] = v + if i == j { c.sp[[d, i]] } else { 0.0 };
                }
            }
            let mut y = vec![1.0; m];
            assert!(lu_solve(&mut a, &mut y, m));
            let s: f64 = y.iter().sum();
            for (ii, &i) in idx.iter().enumerate() {
                assert!((w[[d, i]] - y[ii] / s).abs() <= 1e-10 * (y[ii] / s).abs().max(1e-3), "{d} {i}");
            }
            for i in (0..n).filter(|&i| !cov[i]) {
                assert_eq!(w[[d, i]], 0.0);
            }
            assert!((w.row(d).sum() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn min_variance_degenerate_dates() {
        let mut c = case(3, 6, 2, 1);
        for i in 1..6 {
            c.sp[[0, i]] = f64::NAN; // one covered asset
        }
        c.fc[[1, 0, 0]] = f64::NAN; // the market block is used: NaN row
        c.fc[[2, 2, 2]] = f64::NAN; // industry 1 ...
        for i in 0..6 {
            if c.ind[[2, i]] == 1 {
                c.ind[[2, i]] = 0; // ... has no member: its NaN row is not used
            }
        }
        let w = min_variance(&models(&c)).unwrap();
        assert!(w.row(0).iter().all(|v| v.is_nan()));
        assert!(w.row(1).iter().all(|v| v.is_nan()));
        assert!(w.row(2).iter().all(|v| v.is_finite()));
    }

    #[test]
    fn bad_arguments() {
        let c = case(2, 5, 2, 1);
        let m = models(&c);
        let w = Array2::<f64>::zeros((3, 5));
        assert!(forecast_volatility(w.view(), &m).unwrap_err().to_string().contains("weights"));
        let r = Array2::<f64>::zeros((4, 5));
        let e = bias_paths(w.view(), r.view(), &[0, 4], true, &m).unwrap_err().to_string();
        assert!(e.contains("rows[1]"), "{e}");
        let e = bias_paths(w.view(), r.view(), &[0], true, &m).unwrap_err().to_string();
        assert!(e.contains("rows"), "{e}");
        let mut wn = w.clone();
        wn[[1, 2]] = f64::NAN;
        let e = bias_paths(wn.view(), r.view(), &[0, 1], true, &m).unwrap_err().to_string();
        assert!(e.contains("portfolio 1") && e.contains("asset 2"), "{e}");
        let mut bad = c.ind.clone();
        bad[[0, 0]] = 2;
        let m2 = DateModels { industry: bad.view(), ..m };
        assert!(min_variance(&m2).unwrap_err().to_string().contains("industry"));
        let fc = Array3::<f64>::zeros((2, 3, 3));
        let m3 = DateModels { factor_cov: fc.view(), ..m };
        assert!(min_variance(&m3).unwrap_err().to_string().contains("factor_cov"));
    }

    #[test]
    fn thread_count_does_not_matter() {
        // 37 dates: three blocks of DATES_PER_TASK, the last one short
        let c = case(37, 40, 3, 2);
        let w = Array2::from_shape_fn((7, 40), |(a, b)| h(a, b, 70));
        let r = Array2::from_shape_fn((40, 40), |(a, b)| 0.02 * (h(a, b, 71) - 0.5));
        let rows: Vec<i64> = (0..37).map(|d| d + 2).collect();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                let (a, b) = bias_paths(w.view(), r.view(), &rows, true, &models(&c)).unwrap();
                (a, b, min_variance(&models(&c)).unwrap())
            })
        };
        let (x, y) = (run(1), run(3));
        let same = |a: &Array2<f64>, b: &Array2<f64>| a.iter().zip(b.iter()).all(|(u, v)| u.to_bits() == v.to_bits());
        assert!(same(&x.0, &y.0) && same(&x.1, &y.1) && same(&x.2, &y.2));
    }
}
