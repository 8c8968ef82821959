//! Portfolio accounting of backtests: P books over one pass of the returns, with costs,
//! untradeable assets and delistings (the accounting of seed 003, generalised to signed weights).
//!
//! # Timeline
//!
//! `returns[t]` runs from close t−1 to close t. At close t a book first lets its positions drift
//! with `returns[t]` and credits delisting proceeds, then (on its trade rows) trades to the target
//! weights of row t. What it holds after trading at t earns `returns[t+1]`.
//!
//! # Accounting (per book, money units; `s` positions, signed; `c` cash)
//!
//! 1. Drift: `sᶠₜ = sₜ₋₁ ⊙ (1 + rₜ)`, with `rₜ,ᵢ := 0` where the return is missing (the position
//!    keeps its value). An asset delisted at t (its first row without a price after its last one)
//!    is paid out: `dₜ,ᵢ = sᶠₜ,ᵢ (1 + δᵢ)` goes to cash and `sᶠₜ,ᵢ := 0`.
//! 2. Value before trading: `vᶠₜ = Σᵢ sᶠₜ,ᵢ + cₜ₋₁ + Σᵢ dₜ,ᵢ`.
//! 3. Trading (trade rows only). `U` = assets that cannot trade at t (no return at t, or the
//!    tradable mask is false): they are held, `sₜ,ᵢ = sᶠₜ,ᵢ`. For the others, with target `w`:
//!    `A = cₜ₋₁ + Σ dₜ + Σ_{i∉U} sᶠₜ,ᵢ` (the tradable capital), a bound on the cost
//!    `K = rate · (‖sᶠ_{∉U}‖₁ + ‖w_{∉U}‖₁ · max(A, 0))` (sides: see [`CostSide`]; for a long-only
//!    book with `‖w‖₁ = 1` this is seed 003's `(2|svᶠ| + c) · rate`), `sₜ,ᵢ = wᵢ · max(A − K, 0)`,
//!    `costₜ = rate · ‖sₜ − sᶠₜ‖₁` and `cₜ = A − Σ_{i∉U} sₜ,ᵢ − costₜ`, which is ≥ 0 whenever
//!    `Σ w ≤ 1` and `A > K` (up to rounding). When `A ≤ K` (e.g. `A < 0`: held positions worth
//!    more than the book) the tradable positions are closed and `cₜ = A − costₜ` can be < 0.
//! 4. Value after trading: `vₜ = Σᵢ sₜ,ᵢ + cₜ = vᶠₜ − costₜ` (for a long-only book `Σ s = |s|`:
//!    seed 003's `vₜ = |sₜ| + cₜ`).
//! 5. Turnover (one-sided): `½ ‖sₜ − sᶠₜ‖₁ / vᶠₜ`.
//!
//! Books never interact, so the books are split over threads (each thread walks the rows once
//! for all of its books, reading each row of returns once) and every book's arithmetic is the
//! same sequence of operations whatever the number of threads.

use std::ops::Range;

use ndarray::{Array2, Axis};
use rayon::prelude::*;

use crate::error::Result;
use crate::parallel;
use crate::value_error;

/// Per-row series written for each book, in this order (`series` is (P, N_SERIES, L)).
pub const VALUE: usize = 0;
pub const VALUE_BEFORE: usize = 1;
pub const COSTS: usize = 2;
pub const TURNOVER: usize = 3;
pub const CASH: usize = 4;
pub const N_HOLDINGS: usize = 5;
pub const DELISTED: usize = 6;
pub const N_SERIES: usize = 7;

/// Which trades pay the cost rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CostSide {
    /// Buys and sells (the cost is `rate · ‖Δs‖₁`).
    Both,
    /// Buys only (purchases and short covers).
    Buy,
    /// Sells only (sales and short sales).
    Sell,
}

impl CostSide {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "both" => Ok(CostSide::Both),
            "buy" => Ok(CostSide::Buy),
            "sell" => Ok(CostSide::Sell),
            _ => Err(value_error!("cost_side must be one of ['both', 'buy', 'sell'], got {s:?}")),
        }
    }
}

/// The cost model: `rate` per unit of money traded (5 bps = 0.0005) on `side`.
#[derive(Clone, Copy, Debug)]
pub struct Costs {
    pub rate: f64,
    pub side: CostSide,
}

/// The market all books trade in: returns (T, N) row-major (NaN = no price at t), an optional
/// tradable mask (T, N), and per asset the delisting row (−1 = none) and delisting return.
#[derive(Clone, Copy)]
pub struct Market<'a> {
    pub returns: &'a [f64],
    pub tradable: Option<&'a [bool]>,
    pub n_dates: usize,
    pub n_assets: usize,
    pub delist_row: &'a [i64],
    pub delist_return: &'a [f64],
}

impl<'a> Market<'a> {
    pub fn check(&self) -> Result<()> {
        let (t, n) = (self.n_dates, self.n_assets);
        if self.returns.len() != t * n {
            return Err(value_error!("returns has {} values, expected {t} x {n}", self.returns.len()));
        }
        if let Some(m) = self.tradable {
            if m.len() != t * n {
                return Err(value_error!("tradable has {} values, expected {t} x {n}", m.len()));
            }
        }
        if self.delist_row.len() != n || self.delist_return.len() != n {
            return Err(value_error!(
                "delist_row and delist_return must have one value per asset ({n}), got {} and {}",
                self.delist_row.len(),
                self.delist_return.len()
            ));
        }
        if let Some(i) = self.delist_row.iter().position(|&d| d < -1 || d >= t as i64) {
            return Err(value_error!("delist_row[{i}] = {} is not -1 or a row in 0..{t}", self.delist_row[i]));
        }
        if let Some(i) = self.delist_return.iter().position(|x| !x.is_finite() || *x < -1.0) {
            return Err(value_error!("delist_return[{i}] = {} must be finite and >= -1", self.delist_return[i]));
        }
        Ok(())
    }

    #[inline]
    fn row(&self, t: usize) -> &'a [f64] {
        &self.returns[t * self.n_assets..(t + 1) * self.n_assets]
    }

    #[inline]
    fn mask_row(&self, t: usize) -> Option<&'a [bool]> {
        self.tradable.map(|m| &m[t * self.n_assets..(t + 1) * self.n_assets])
    }

    /// Delisting events `(row, asset)` sorted by row.
    fn events(&self) -> Vec<(usize, usize)> {
        let mut ev: Vec<(usize, usize)> = self
            .delist_row
            .iter()
            .enumerate()
            .filter(|(_, &d)| d >= 0)
            .map(|(i, &d)| (d as usize, i))
            .collect();
        ev.sort_unstable();
        ev
    }
}

/// The growth factor of a position over a row: `1 + r`, or 1 where the return is missing.
#[inline(always)]
fn growth(r: f64) -> f64 {
    if r.is_nan() {
        1.0
    } else {
        1.0 + r
    }
}

/// Whether asset `i` can trade at the row whose returns are `r` and mask `mask`.
#[inline(always)]
fn can_trade(r: &[f64], mask: Option<&[bool]>, i: usize) -> bool {
    !r[i].is_nan() && mask.is_none_or(|m| m[i])
}

/// Target weights of all books: (P, R_t, N) row-major; trade k of a segment uses row
/// `target_rows[k]` of each book. `hold` (P, R_t), optional: where true, that book does not
/// trade on that rebalance (its positions drift on; its snapshot is its current positions).
#[derive(Clone, Copy)]
pub struct Targets<'a> {
    pub data: &'a [f64],
    pub n_books: usize,
    pub n_rows: usize,
    pub hold: Option<&'a [bool]>,
}

/// Rows `first..end` of the backtest. `fresh`: `first` is the backtest's first row (the books
/// hold only cash; nothing drifts at `first`). Trade `k` happens at `trade_rows[k]` with targets
/// row `target_rows[k]`.
pub struct Segment<'a> {
    pub rows: Range<usize>,
    pub fresh: bool,
    pub trade_rows: &'a [usize],
    pub target_rows: &'a [usize],
}

/// Where the kernel writes: `series` (P, N_SERIES, L) with the segment's rows at columns
/// `offset..offset + rows.len()`.
pub struct Output<'a> {
    pub series: &'a mut [f64],
    pub len: usize,
    pub offset: usize,
}

/// Borrowed [`Snapshots`] (e.g. numpy arrays).
#[derive(Clone, Copy, Debug)]
pub struct SnapshotsRef<'a> {
    pub idx: &'a [u32],
    pub val: &'a [f64],
    pub nnz: &'a [u64],
}

impl Snapshots {
    pub fn as_ref(&self) -> SnapshotsRef<'_> {
        SnapshotsRef { idx: &self.idx, val: &self.val, nnz: &self.nnz }
    }
}

/// One book's positions after each trade of a segment, sparse: trade k holds `nnz[k]` non-zero
/// positions, asset `idx` (increasing) with money `val`, stored one trade after the other.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshots {
    pub idx: Vec<u32>,
    pub val: Vec<f64>,
    pub nnz: Vec<u64>,
}

const NONE: u32 = u32::MAX;

/// One book while the kernel walks the rows. Between trades only the held assets are touched:
/// their indices (`idx`, increasing) and positions (`val`) are kept compact, so a decile book of
/// N/10 assets costs N/10 per row; `slot` maps an asset to its place in them (for delistings).
/// The dense `pos` is the state in and out, written back at trades and at the end.
struct Book<'a> {
    pos: &'a mut [f64],
    cash: &'a mut f64,
    series: &'a mut [f64],
    snaps: Snapshots,
    targets: &'a [f64],
    hold: &'a [bool],
    idx: Vec<u32>,
    val: Vec<f64>,
    slot: Vec<u32>,
    sup: Vec<u32>,
    nidx: Vec<u32>,
    nval: Vec<f64>,
}

impl Book<'_> {
    /// Compact form of the dense positions (branch-free stream compaction: every asset is
    /// written, the length only grows past the non-zero ones).
    fn load(&mut self) {
        let n = self.pos.len();
        let Book { pos, idx, val, slot, .. } = self;
        slot.resize(n, NONE);
        idx.resize(n + 1, 0);
        val.resize(n + 1, 0.0);
        let (ix, vx, sl) = (&mut idx[..], &mut val[..], &mut slot[..n]);
        let mut len = 0usize;
        for i in 0..n {
            let p = pos[i];
            ix[len] = i as u32;
            vx[len] = p;
            let held = p != 0.0;
            sl[i] = if held { len as u32 } else { NONE };
            len += held as usize;
        }
        idx.truncate(len);
        val.truncate(len);
    }

    /// Write the compact positions back into the dense ones.
    fn store(&mut self) {
        for (&i, &v) in self.idx.iter().zip(&self.val) {
            self.pos[i as usize] = v;
        }
    }

    /// Drift the held positions with a row of returns: (Σ positions, number non-zero), summed
    /// as [`Book::invested`] does.
    #[inline]
    fn drift(&mut self, r: &[f64]) -> (f64, usize) {
        let mut acc = [0.0f64; 4];
        let mut count = 0usize;
        let len = self.val.len();
        let body = len - len % 4;
        for (v4, i4) in self.val[..body].chunks_exact_mut(4).zip(self.idx[..body].chunks_exact(4)) {
            for k in 0..4 {
                let x = v4[k] * growth(r[i4[k] as usize]);
                v4[k] = x;
                acc[k] += x;
                count += (x != 0.0) as usize;
            }
        }
        for j in body..len {
            let x = self.val[j] * growth(r[self.idx[j] as usize]);
            self.val[j] = x;
            acc[0] += x;
            count += (x != 0.0) as usize;
        }
        ((acc[0] + acc[1]) + (acc[2] + acc[3]), count)
    }

    /// Σ positions (four interleaved partial sums: the sum is a chain of dependent additions
    /// otherwise) and the number of non-zero positions.
    #[inline]
    fn invested(&self) -> (f64, usize) {
        let mut acc = [0.0f64; 4];
        let mut count = 0usize;
        let chunks = self.val.chunks_exact(4);
        let rest = chunks.remainder();
        for c in chunks {
            for k in 0..4 {
                acc[k] += c[k];
                count += (c[k] != 0.0) as usize;
            }
        }
        for &v in rest {
            acc[0] += v;
            count += (v != 0.0) as usize;
        }
        ((acc[0] + acc[1]) + (acc[2] + acc[3]), count)
    }

    /// Trade the tradable assets (`ok[i]` = 1, else 0) to `w`; returns (cost, ½ traded money,
    /// Σ positions, count). One dense pass over the targets (their sums, and the tradable assets
    /// with a non-zero target, compacted without branches); then a merge of the held assets and
    /// those, in asset order: only assets held or targeted are touched.
    fn trade(&mut self, ok: &[f64], w: &[f64], costs: Costs) -> (f64, f64, f64, usize) {
        const L: usize = 4;
        let zero_nan = |x: f64| if x.is_nan() { 0.0 } else { x };
        let lanes = |x: [f64; L]| (x[0] + x[1]) + (x[2] + x[3]);
        // tradable capital and the tradable held positions, long and short
        let mut a = *self.cash;
        let (mut sv_long, mut sv_short) = (0.0, 0.0);
        for (&i, &v) in self.idx.iter().zip(&self.val) {
            let p = v * ok[i as usize];
            a += p;
            sv_long += if p > 0.0 { p } else { 0.0 };
            sv_short += if p < 0.0 { -p } else { 0.0 };
        }
        // |long| and |short| tradable targets, and where they are non-zero
        let n = self.pos.len();
        let sup = &mut self.sup;
        sup.resize(n + 1, 0);
        let mut ns = 0usize;
        let (mut wl, mut ws) = ([0.0f64; L], [0.0f64; L]);
        let mut one = |i: usize, wl: &mut f64, ws: &mut f64| {
            let wi = zero_nan(w[i]) * ok[i];
            *wl += if wi > 0.0 { wi } else { 0.0 };
            *ws += if wi < 0.0 { -wi } else { 0.0 };
            sup[ns] = i as u32;
            ns += (wi != 0.0) as usize;
        };
        let body = n - n % L;
        for c in (0..body).step_by(L) {
            let [l0, l1, l2, l3] = &mut wl;
            let [s0, s1, s2, s3] = &mut ws;
            one(c, l0, s0);
            one(c + 1, l1, s1);
            one(c + 2, l2, s2);
            one(c + 3, l3, s3);
        }
        for i in body..n {
            let [l0, ..] = &mut wl;
            let [s0, ..] = &mut ws;
            one(i, l0, s0);
        }
        sup.truncate(ns);
        let (w_long, w_short) = (lanes(wl), lanes(ws));
        let a_pos = a.max(0.0);
        let bound = costs.rate
            * match costs.side {
                CostSide::Both => sv_long + sv_short + (w_long + w_short) * a_pos,
                CostSide::Buy => w_long * a_pos + sv_short,
                CostSide::Sell => sv_long + w_short * a_pos,
            };
        let avail = (a - bound).max(0.0);
        // merge held and targeted assets: new positions (untradeable ones held), trades
        let Book { idx, val, slot, sup, nidx, nval, .. } = self;
        nidx.clear();
        nval.clear();
        let (mut bought, mut sold, mut invested) = (0.0, 0.0, 0.0);
        let (mut i, mut j) = (0usize, 0usize);
        while i < idx.len() || j < sup.len() {
            let ai = if i < idx.len() { idx[i] } else { u32::MAX };
            let aj = if j < sup.len() { sup[j] } else { u32::MAX };
            let asset = ai.min(aj);
            let old = if ai == asset {
                i += 1;
                val[i - 1]
            } else {
                0.0
            };
            let target = if aj == asset {
                j += 1;
                zero_nan(w[asset as usize])
            } else {
                0.0
            };
            let o = ok[asset as usize];
            let new = if o != 0.0 { target * avail } else { old };
            let d = new - old;
            if d > 0.0 {
                bought += d;
            } else {
                sold -= d;
            }
            invested += new * o;
            if new != 0.0 {
                nidx.push(asset);
                nval.push(new);
            }
        }
        for &k in idx.iter() {
            slot[k as usize] = NONE;
        }
        for (k, &asset) in nidx.iter().enumerate() {
            slot[asset as usize] = k as u32;
        }
        std::mem::swap(idx, nidx);
        std::mem::swap(val, nval);
        let cost = costs.rate
            * match costs.side {
                CostSide::Both => bought + sold,
                CostSide::Buy => bought,
                CostSide::Sell => sold,
            };
        *self.cash = a - invested - cost;
        let (sum, count) = self.invested();
        (cost, 0.5 * (bought + sold), sum, count)
    }
}

/// Walk the rows of a segment for a group of books (one thread's share).
fn walk(m: &Market, seg: &Segment, events: &[(usize, usize)], costs: Costs, len: usize, offset: usize, books: &mut [Book]) {
    let n = m.n_assets;
    for b in books.iter_mut() {
        b.load();
    }
    let mut next = 0usize;
    let mut ev = events.partition_point(|e| e.0 < seg.rows.start);
    let mut ok = vec![0.0f64; n];
    for t in seg.rows.clone() {
        if parallel::cancelled() {
            return;
        }
        let l = offset + t - seg.rows.start;
        let r = m.row(t);
        let mask = m.mask_row(t);
        let drift = !(seg.fresh && t == seg.rows.start);
        let ev_end = ev + events[ev..].partition_point(|e| e.0 <= t);
        let trade = next < seg.trade_rows.len() && seg.trade_rows[next] == t;
        if trade {
            for (i, o) in ok.iter_mut().enumerate() {
                *o = if can_trade(r, mask, i) { 1.0 } else { 0.0 };
            }
        }
        for b in books.iter_mut() {
            let mut delisted = 0.0;
            let (mut sum, mut count) = if drift { b.drift(r) } else { b.invested() };
            if drift {
                for &(_, i) in &events[ev..ev_end] {
                    let j = b.slot[i];
                    if j != NONE {
                        let p = b.val[j as usize];
                        if p != 0.0 {
                            let d = p * (1.0 + m.delist_return[i]);
                            *b.cash += d;
                            delisted += d;
                            sum -= p;
                            count -= 1;
                            b.val[j as usize] = 0.0;
                        }
                    }
                }
            }
            let value_before = sum + *b.cash;
            let k = if trade { seg.target_rows[next] } else { 0 };
            let holds = trade && !b.hold.is_empty() && b.hold[k];
            let (cost, half_traded) = if trade {
                let (cost, half) = if holds {
                    (0.0, 0.0)
                } else {
                    let w = &b.targets[k * n..(k + 1) * n];
                    let (cost, half, s2, c2) = b.trade(&ok, w, costs);
                    sum = s2;
                    count = c2;
                    (cost, half)
                };
                let before = b.snaps.idx.len();
                for (&i, &v) in b.idx.iter().zip(&b.val) {
                    if v != 0.0 {
                        b.snaps.idx.push(i);
                        b.snaps.val.push(v);
                    }
                }
                b.snaps.nnz.push((b.snaps.idx.len() - before) as u64);
                (cost, half)
            } else {
                (0.0, 0.0)
            };
            let series = &mut *b.series;
            series[VALUE * len + l] = sum + *b.cash;
            series[VALUE_BEFORE * len + l] = value_before;
            series[COSTS * len + l] = cost;
            series[TURNOVER * len + l] =
                if value_before > 0.0 { half_traded / value_before } else if trade { f64::NAN } else { 0.0 };
            series[CASH * len + l] = *b.cash;
            series[N_HOLDINGS * len + l] = count as f64;
            series[DELISTED * len + l] = delisted;
        }
        if trade {
            next += 1;
        }
        ev = ev_end;
    }
    for b in books.iter_mut() {
        b.pos.fill(0.0);
        b.store();
    }
}

/// Run the books over a segment of rows, updating `positions` (P, N) and `cash` (P,) in place;
/// returns each book's positions after its trades.
pub fn run(
    m: &Market,
    seg: &Segment,
    targets: Targets,
    costs: Costs,
    positions: &mut [f64],
    cash: &mut [f64],
    out: Output,
) -> Result<Vec<Snapshots>> {
    m.check()?;
    let (t_all, n) = (m.n_dates, m.n_assets);
    let p = targets.n_books;
    if !(costs.rate.is_finite() && (0.0..1.0).contains(&costs.rate)) {
        return Err(value_error!("cost rate must be in [0, 1), got {}", costs.rate));
    }
    if seg.rows.start > seg.rows.end || seg.rows.end > t_all {
        return Err(value_error!("rows {:?} are not within 0..{t_all}", seg.rows));
    }
    if targets.data.len() != p * targets.n_rows * n {
        return Err(value_error!("targets has {} values, expected {p} x {} x {n}", targets.data.len(), targets.n_rows));
    }
    if targets.hold.is_some_and(|h| h.len() != p * targets.n_rows) {
        return Err(value_error!("hold must have shape ({p}, {})", targets.n_rows));
    }
    if positions.len() != p * n || cash.len() != p {
        return Err(value_error!("positions must be ({p}, {n}) and cash ({p},)"));
    }
    let len = out.len;
    if out.offset + seg.rows.len() > len || out.series.len() != p * N_SERIES * len {
        return Err(value_error!("series must be ({p}, {N_SERIES}, L) with room for the segment's rows"));
    }
    let n_trades = seg.trade_rows.len();
    if seg.target_rows.len() != n_trades {
        return Err(value_error!("trade_rows and target_rows must have the same length"));
    }
    for (k, &row) in seg.trade_rows.iter().enumerate() {
        if !seg.rows.contains(&row) || (k > 0 && row <= seg.trade_rows[k - 1]) {
            return Err(value_error!("trade rows must be strictly increasing rows within {:?}", seg.rows));
        }
        if seg.target_rows[k] >= targets.n_rows {
            return Err(value_error!("target row {} is out of range 0..{}", seg.target_rows[k], targets.n_rows));
        }
    }
    if n == 0 {
        return Err(value_error!("the backtest needs at least one asset"));
    }
    if p == 0 || seg.rows.is_empty() {
        return Ok(vec![Snapshots::default(); p]);
    }
    let events = m.events();
    let stride_t = targets.n_rows * n;
    let mut books: Vec<Book> = positions
        .chunks_mut(n)
        .zip(cash.iter_mut())
        .zip(out.series.chunks_mut(N_SERIES * len))
        .enumerate()
        .map(|(b, ((pos, c), series))| Book {
            pos,
            cash: c,
            series,
            snaps: Snapshots::default(),
            targets: &targets.data[b * stride_t..(b + 1) * stride_t],
            hold: targets.hold.map_or(&[][..], |h| &h[b * targets.n_rows..(b + 1) * targets.n_rows]),
            idx: Vec::new(),
            val: Vec::new(),
            slot: Vec::new(),
            sup: Vec::new(),
            nidx: Vec::new(),
            nval: Vec::new(),
        })
        .collect();
    // One group of books per thread: each thread reads each row of returns once for its books.
    let threads = rayon::current_num_threads().max(1);
    let chunk = p.div_ceil(threads);
    let offset = out.offset;
    books.par_chunks_mut(chunk).for_each(|group| {
        walk(m, seg, &events, costs, len, offset, group);
    });
    Ok(books.into_iter().map(|b| b.snaps).collect())
}

/// One pass over returns (T, N) row-major: per asset the last row with a finite value (−1 = none),
/// the number of infinite values and the smallest finite value (+inf when none). Parallel over
/// blocks of rows; the result does not depend on the split.
pub fn scan_returns(returns: &[f64], n_dates: usize, n_assets: usize) -> Result<(Vec<i64>, usize, f64)> {
    if returns.len() != n_dates * n_assets {
        return Err(value_error!("returns has {} values, expected {n_dates} x {n_assets}", returns.len()));
    }
    if n_assets == 0 || n_dates == 0 {
        return Ok((vec![-1; n_assets], 0, f64::INFINITY));
    }
    const ROWS: usize = 64;
    let parts: Vec<(Vec<i64>, usize, f64)> = returns
        .par_chunks(ROWS * n_assets)
        .enumerate()
        .map(|(c, chunk)| {
            let mut last = vec![-1i64; n_assets];
            let mut n_inf = 0usize;
            let mut low = f64::INFINITY;
            if parallel::cancelled() {
                return (last, n_inf, low);
            }
            for (k, row) in chunk.chunks_exact(n_assets).enumerate() {
                let t = (c * ROWS + k) as i64;
                for (l, &x) in last.iter_mut().zip(row) {
                    if x.is_finite() {
                        *l = t;
                        low = low.min(x);
                    } else if x.is_infinite() {
                        n_inf += 1;
                    }
                }
            }
            (last, n_inf, low)
        })
        .collect();
    let mut last = vec![-1i64; n_assets];
    let mut n_inf = 0usize;
    let mut low = f64::INFINITY;
    for (l, k, m) in parts {
        for (a, b) in last.iter_mut().zip(l) {
            *a = (*a).max(b);
        }
        n_inf += k;
        low = low.min(m);
    }
    Ok((last, n_inf, low))
}

/// Which positions [`positions_path`] reports on each row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// After drift and delistings, before trading (`sᶠₜ`).
    Before,
    /// After trading (`sₜ`).
    After,
}

/// The positions of one book on rows `rows` (a whole backtest, starting fresh), divided by
/// `denominators` (one per row; e.g. the value, to get weights), rebuilt from its positions after
/// each trade (`snapshots`, one trade per entry of `trade_rows`) by replaying the drift and the
/// delistings with exactly the operations of [`run`]. (L, N).
pub fn positions_path(
    m: &Market,
    rows: Range<usize>,
    trade_rows: &[usize],
    snapshots: SnapshotsRef,
    denominators: &[f64],
    side: Side,
) -> Result<Array2<f64>> {
    m.check()?;
    let n = m.n_assets;
    if rows.start > rows.end || rows.end > m.n_dates {
        return Err(value_error!("rows {rows:?} are not within 0..{}", m.n_dates));
    }
    let sn = snapshots;
    if sn.nnz.len() != trade_rows.len() || sn.idx.len() != sn.val.len() {
        return Err(value_error!("snapshots must hold one entry per trade and as many values as assets"));
    }
    let mut ptr = Vec::with_capacity(sn.nnz.len() + 1);
    ptr.push(0usize);
    for &k in sn.nnz {
        ptr.push(ptr[ptr.len() - 1] + k as usize);
    }
    if ptr[ptr.len() - 1] != sn.idx.len() {
        return Err(value_error!("snapshots: the counts per trade do not add up to the number of values"));
    }
    for k in 0..sn.nnz.len() {
        let ix = &sn.idx[ptr[k]..ptr[k + 1]];
        if ix.iter().any(|&i| i as usize >= n) || ix.windows(2).any(|w| w[0] >= w[1]) {
            return Err(value_error!("snapshots: asset indices must be increasing and below {n}"));
        }
    }
    if denominators.len() != rows.len() {
        return Err(value_error!("denominators must have {} values, got {}", rows.len(), denominators.len()));
    }
    for (k, &row) in trade_rows.iter().enumerate() {
        if !rows.contains(&row) || (k > 0 && row <= trade_rows[k - 1]) {
            return Err(value_error!("trade rows must be strictly increasing rows within {rows:?}"));
        }
    }
    // Wide blocks of assets (a few per thread): each row of a block is written as one long
    // contiguous run, and each thread's state stays in cache.
    let threads = rayon::current_num_threads().max(1);
    let block = n.div_ceil(4 * threads).max(256);
    let len = rows.len();
    let mut out = Array2::<f64>::zeros((len, n));
    if len == 0 || n == 0 {
        return Ok(out);
    }
    out.axis_chunks_iter_mut(Axis(1), block).into_par_iter().enumerate().for_each(|(b, mut chunk)| {
        let lo = b * block;
        let width = chunk.ncols();
        let mut s = vec![0.0f64; width];
        let mut next = 0usize;
        let hi = (lo + width) as u32;
        let dl = &m.delist_row[lo..lo + width];
        let delists = dl.iter().any(|&d| d >= 0);
        let set = |s: &mut [f64], k: usize| {
            s.fill(0.0);
            let ix = &sn.idx[ptr[k]..ptr[k + 1]];
            let a = ix.partition_point(|&i| i < lo as u32);
            let b = ix.partition_point(|&i| i < hi);
            for e in a..b {
                s[ix[e] as usize - lo] = sn.val[ptr[k] + e];
            }
        };
        for (l, t) in rows.clone().enumerate() {
            if parallel::cancelled() {
                return;
            }
            if t > rows.start {
                let r = &m.row(t)[lo..lo + width];
                for (x, &ri) in s.iter_mut().zip(r) {
                    *x *= growth(ri);
                }
                if delists {
                    for (x, &d) in s.iter_mut().zip(dl) {
                        if d == t as i64 {
                            *x = 0.0;
                        }
                    }
                }
            }
            let trade = next < trade_rows.len() && trade_rows[next] == t;
            if trade && side == Side::After {
                set(&mut s, next);
            }
            let d = denominators[l];
            let mut row = chunk.row_mut(l);
            match row.as_slice_mut() {
                Some(out) => {
                    for (o, &x) in out.iter_mut().zip(&s) {
                        *o = x / d;
                    }
                }
                None => {
                    for (o, &x) in row.iter_mut().zip(&s) {
                        *o = x / d;
                    }
                }
            }
            if trade {
                if side == Side::Before {
                    set(&mut s, next);
                }
                next += 1;
            }
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f64 = f64::NAN;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * (1.0 + b.abs())
    }

    struct Run {
        series: Vec<f64>,
        snaps: Vec<Snapshots>,
        pos: Vec<f64>,
        cash: Vec<f64>,
        len: usize,
    }

    impl Run {
        fn get(&self, book: usize, k: usize, t: usize) -> f64 {
            self.series[(book * N_SERIES + k) * self.len + t]
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn simulate(
        returns: &[f64],
        tradable: Option<&[bool]>,
        t: usize,
        n: usize,
        delist_row: &[i64],
        delist_return: &[f64],
        trade_rows: &[usize],
        targets: &[f64],
        p: usize,
        costs: Costs,
        initial: f64,
    ) -> Run {
        let m = Market { returns, tradable, n_dates: t, n_assets: n, delist_row, delist_return };
        let r = trade_rows.len();
        let mut series = vec![0.0; p * N_SERIES * t];
        let mut pos = vec![0.0; p * n];
        let mut cash = vec![initial; p];
        let target_rows: Vec<usize> = (0..r).collect();
        let seg = Segment { rows: 0..t, fresh: true, trade_rows, target_rows: &target_rows };
        let snaps = run(
            &m,
            &seg,
            Targets { data: targets, n_books: p, n_rows: r, hold: None },
            costs,
            &mut pos,
            &mut cash,
            Output { series: &mut series, len: t, offset: 0 },
        )
        .unwrap();
        Run { series, snaps, pos, cash, len: t }
    }

    /// The hand-worked case (also in tests/test_backtest.py): five days, three assets, cost rate
    /// 1 %, equal-weight target on days 0 and 3; asset B is suspended on day 3 (no price).
    ///
    /// returns:   A      B      C
    ///   day 0   NaN    NaN    NaN     (only prices: everything tradable except where NaN below)
    ///   day 1   0.10  -0.10   0.00
    ///   day 2   0.00   0.20  -0.50
    ///   day 3   0.05   NaN    0.10    (B suspended: held, keeps its value)
    ///   day 4  -0.20   0.30   0.00
    ///
    /// Day 0 has no returns, so nothing can trade; we mark day 0's returns as zero instead to let
    /// the book buy at the first close.
    #[test]
    fn hand_worked_five_days_three_assets() {
        let returns = [
            0.0, 0.0, 0.0, //
            0.10, -0.10, 0.0, //
            0.0, 0.20, -0.50, //
            0.05, NAN, 0.10, //
            -0.20, 0.30, 0.0,
        ];
        let third = 1.0 / 3.0;
        let targets = [third, third, third, third, third, third];
        let run = simulate(
            &returns,
            None,
            5,
            3,
            &[-1, -1, -1],
            &[0.0, 0.0, 0.0],
            &[0, 3],
            &targets,
            1,
            Costs { rate: 0.01, side: CostSide::Both },
            100.0,
        );
        // Day 0: A = 100, K = 0.01 * (0 + 1 * 100) = 1, avail = 99, each position 33, cost 0.99,
        // cash = 100 - 99 - 0.99 = 0.01, value 99.01.
        assert!(close(run.get(0, VALUE_BEFORE, 0), 100.0));
        assert!(close(run.get(0, COSTS, 0), 0.99));
        assert!(close(run.get(0, CASH, 0), 0.01));
        assert!(close(run.get(0, VALUE, 0), 99.01));
        assert!(close(run.get(0, TURNOVER, 0), 0.5 * 99.0 / 100.0));
        // Day 1: 33 * (1.1, 0.9, 1.0) = 36.3, 29.7, 33; value 99.01.
        assert!(close(run.get(0, VALUE, 1), 36.3 + 29.7 + 33.0 + 0.01));
        // Day 2: 36.3, 35.64, 16.5; value 88.45.
        assert!(close(run.get(0, VALUE, 2), 36.3 + 35.64 + 16.5 + 0.01));
        // Day 3 before trading: A 38.115, B 35.64 (suspended, held), C 18.15, cash 0.01:
        // value 91.915. Tradable capital A = 0.01 + 38.115 + 18.15 = 56.275; targets on A and C
        // are 1/3 each (‖w‖₁ = 2/3 over the tradable assets): K = 0.01 * (56.265 + 2/3 * 56.275)
        // = 0.93781666..., avail = 55.33718333..., new A = C = 18.44572777...
        let a = 0.01 + 38.115 + 18.15;
        let k = 0.01 * (38.115 + 18.15 + 2.0 / 3.0 * a);
        let avail = a - k;
        let new = avail / 3.0;
        let cost = 0.01 * ((38.115 - new) + (new - 18.15));
        let cash = a - 2.0 * new - cost;
        assert!(close(run.get(0, VALUE_BEFORE, 3), 38.115 + 35.64 + 18.15 + 0.01));
        assert!(close(run.get(0, COSTS, 3), cost));
        assert!(close(run.get(0, CASH, 3), cash));
        assert!(close(run.get(0, VALUE, 3), new + 35.64 + new + cash));
        assert!(close(run.get(0, N_HOLDINGS, 3), 3.0));
        let sn = &run.snaps[0];
        assert_eq!(sn.nnz, vec![3, 3]);
        assert_eq!(&sn.idx[3..], &[0, 1, 2]);
        assert!(close(sn.val[4], 35.64), "the suspended position is held");
        assert!(close(sn.val[3], new) && close(sn.val[5], new));
        // Day 4: drift only.
        let v4 = new * 0.8 + 35.64 * 1.3 + new + cash;
        assert!(close(run.get(0, VALUE, 4), v4));
        assert!(close(run.cash[0], cash));
        assert!(close(run.pos[1], 35.64 * 1.3));
        assert!(cash >= 0.0);
    }

    #[test]
    fn identities_hold_and_books_are_independent_of_threads() {
        // A small random panel (deterministic LCG), 3 books with longs and shorts.
        let (t, n, p) = (40usize, 7usize, 3usize);
        let mut state = 12345u64;
        let mut rnd = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 11) as f64) / ((1u64 << 53) as f64)
        };
        let mut returns = vec![0.0; t * n];
        for x in returns.iter_mut() {
            let u = rnd();
            *x = if u < 0.05 { NAN } else { (rnd() - 0.5) * 0.1 };
        }
        let tradable: Vec<bool> = (0..t * n).map(|_| rnd() > 0.1).collect();
        let trade_rows: Vec<usize> = (0..t).step_by(5).collect();
        let r = trade_rows.len();
        let mut targets = vec![0.0; p * r * n];
        for b in 0..p {
            for k in 0..r {
                let w = &mut targets[(b * r + k) * n..(b * r + k + 1) * n];
                for x in w.iter_mut() {
                    *x = if b == 0 { rnd() } else { rnd() - 0.5 };
                }
                let norm: f64 = w.iter().map(|x| x.abs()).sum();
                for x in w.iter_mut() {
                    *x /= norm;
                }
            }
        }
        let delist_row = [-1, 23, -1, -1, 31, -1, -1];
        let delist_return = [0.0, -0.3, 0.0, 0.0, 0.1, 0.0, 0.0];
        let costs = Costs { rate: 0.002, side: CostSide::Both };
        let a = simulate(&returns, Some(&tradable), t, n, &delist_row, &delist_return, &trade_rows, &targets, p, costs, 1.0);
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let b = one.install(|| {
            simulate(&returns, Some(&tradable), t, n, &delist_row, &delist_return, &trade_rows, &targets, p, costs, 1.0)
        });
        assert_eq!(a.series.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), b.series.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        for book in 0..p {
            for day in 0..t {
                let v = a.get(book, VALUE, day);
                let vb = a.get(book, VALUE_BEFORE, day);
                let cost = a.get(book, COSTS, day);
                assert!(close(v, vb - cost), "v = v_before - cost");
                assert!(close(cost, costs.rate * 2.0 * a.get(book, TURNOVER, day) * vb));
                assert!(a.get(book, CASH, day) >= -1e-12, "cash never negative");
            }
        }
        // The rebuilt positions after trading sum with the cash to the value, every row.
        let m = Market { returns: &returns, tradable: Some(&tradable), n_dates: t, n_assets: n, delist_row: &delist_row, delist_return: &delist_return };
        for book in 0..p {
            let ones = vec![1.0; t];
            let snaps = &a.snaps[book];
            let after = positions_path(&m, 0..t, &trade_rows, snaps.as_ref(), &ones, Side::After).unwrap();
            let before = positions_path(&m, 0..t, &trade_rows, snaps.as_ref(), &ones, Side::Before).unwrap();
            for day in 0..t {
                let s: f64 = after.row(day).sum();
                assert!(close(s + a.get(book, CASH, day), a.get(book, VALUE, day)));
                let traded: f64 = after.row(day).iter().zip(before.row(day)).map(|(x, y)| (x - y).abs()).sum();
                assert!(close(0.5 * traded, a.get(book, TURNOVER, day) * a.get(book, VALUE_BEFORE, day)));
            }
            // Delisted assets are out of the book from their delisting row on.
            assert_eq!(after[[23, 1]], 0.0);
            assert_eq!(after[[31, 4]], 0.0);
            // The last row equals the kernel's final positions bit for bit.
            for i in 0..n {
                assert_eq!(after[[t - 1, i]].to_bits(), a.pos[book * n + i].to_bits());
            }
        }
    }

    #[test]
    fn delisting_pays_the_last_value_plus_the_delisting_return() {
        // Two assets, long 50/50 at day 0; asset 1 delists at day 2 with a -50 % delisting return.
        let returns = [0.0, 0.0, 0.1, 0.2, 0.0, NAN, 0.1, NAN];
        let targets = [0.5, 0.5];
        let run = simulate(
            &returns,
            None,
            4,
            2,
            &[-1, 2],
            &[0.0, -0.5],
            &[0],
            &targets,
            1,
            Costs { rate: 0.0, side: CostSide::Both },
            1.0,
        );
        // day 1: 0.55, 0.6; day 2: 0.55, delisted 0.6 * 0.5 = 0.3 to cash; day 3: 0.605.
        assert!(close(run.pos[0], 0.605) && run.pos[1] == 0.0, "the dense state out has the delisting");
        assert!(close(run.get(0, DELISTED, 2), 0.3));
        assert!(close(run.get(0, VALUE, 2), 0.85));
        assert!(close(run.get(0, VALUE, 3), 0.605 + 0.3));
        assert!(close(run.get(0, N_HOLDINGS, 3), 1.0));
    }

    #[test]
    fn a_held_rebalance_does_not_trade() {
        let returns = [0.0, 0.0, 0.1, -0.1, 0.0, 0.0];
        let m = Market { returns: &returns, tradable: None, n_dates: 3, n_assets: 2, delist_row: &[-1, -1], delist_return: &[0.0, 0.0] };
        let targets = [0.5, 0.5, 0.0, 1.0];
        let mut pos = [0.0; 2];
        let mut cash = [1.0];
        let mut series = [0.0; N_SERIES * 3];
        let seg = Segment { rows: 0..3, fresh: true, trade_rows: &[0, 2], target_rows: &[0, 1] };
        let hold = [false, true];
        let snaps = run(
            &m,
            &seg,
            Targets { data: &targets, n_books: 1, n_rows: 2, hold: Some(&hold) },
            Costs { rate: 0.01, side: CostSide::Both },
            &mut pos,
            &mut cash,
            Output { series: &mut series, len: 3, offset: 0 },
        )
        .unwrap();
        // day 0: 0.495 each (K = 0.01), cost 0.0099; day 2 held: no trade, no cost
        assert!(close(series[COSTS * 3 + 2], 0.0) && close(series[TURNOVER * 3 + 2], 0.0));
        assert!(close(pos[0], 0.495 * 1.1) && close(pos[1], 0.495 * 0.9));
        assert_eq!(snaps[0].nnz, vec![2, 2]);
        assert!(close(snaps[0].val[2], 0.495 * 1.1));
    }

    #[test]
    fn assets_sold_out_are_zero_in_the_state() {
        let returns = [0.0; 6];
        let targets = [0.5, 0.5, 0.0, 1.0];
        let run = simulate(&returns, None, 3, 2, &[-1, -1], &[0.0, 0.0], &[0, 2], &targets, 1, Costs { rate: 0.0, side: CostSide::Both }, 1.0);
        assert_eq!(run.pos[0], 0.0);
        assert!(close(run.pos[1], 1.0));
        assert_eq!(run.snaps[0].nnz, vec![2, 1]);
    }

    #[test]
    fn cost_sides_and_short_books() {
        // One asset, long-short with cash: target -0.5 (short half the book).
        let returns = [0.0, 0.1];
        let run = simulate(&returns, None, 2, 1, &[-1], &[0.0], &[0], &[-0.5], 1, Costs { rate: 0.01, side: CostSide::Buy }, 1.0);
        // Buy side only: the short sale pays nothing, but the bound counts a possible short
        // cover (none held): K = 0.01 * (0 * 1 + 0) = 0; position -0.5, cash 1.5.
        assert!(close(run.get(0, COSTS, 0), 0.0));
        assert!(close(run.get(0, CASH, 0), 1.5));
        // Day 1: the short loses 10 %: -0.55 + 1.5 = 0.95.
        assert!(close(run.get(0, VALUE, 1), 0.95));
        let run = simulate(&returns, None, 2, 1, &[-1], &[0.0], &[0], &[-0.5], 1, Costs { rate: 0.01, side: CostSide::Sell }, 1.0);
        // Sell side: K = 0.01 * 0.5 * 1 = 0.005; position -0.5 * 0.995, cost 0.01 * 0.4975.
        assert!(close(run.get(0, COSTS, 0), 0.01 * 0.4975));
        assert!(close(run.get(0, CASH, 0), 1.0 + 0.4975 - 0.004975));
        assert!(CostSide::parse("both").is_ok() && CostSide::parse("Both").is_err());
    }

    #[test]
    fn scan_finds_the_last_price_infinities_and_the_minimum() {
        let t = 200usize;
        let mut r = vec![0.01; t * 3];
        for row in 150..t {
            r[row * 3 + 1] = NAN;
        }
        for row in 0..t {
            r[row * 3 + 2] = NAN;
        }
        r[7 * 3] = -0.5;
        r[9 * 3] = f64::INFINITY;
        let (last, n_inf, low) = scan_returns(&r, t, 3).unwrap();
        assert_eq!(last, vec![199, 149, -1]);
        assert_eq!((n_inf, low), (1, -0.5));
        assert!(scan_returns(&r, t, 4).is_err());
    }

    #[test]
    fn bad_arguments_are_errors() {
        let m = Market { returns: &[0.0; 4], tradable: None, n_dates: 2, n_assets: 2, delist_row: &[-1, 5], delist_return: &[0.0, 0.0] };
        assert!(m.check().is_err());
        let m = Market { returns: &[0.0; 3], tradable: None, n_dates: 2, n_assets: 2, delist_row: &[-1, -1], delist_return: &[0.0, 0.0] };
        assert!(m.check().is_err());
        let m = Market { returns: &[0.0; 4], tradable: None, n_dates: 2, n_assets: 2, delist_row: &[-1, -1], delist_return: &[0.0, 0.0] };
        let mut pos = [0.0; 2];
        let mut cash = [1.0];
        let mut series = [0.0; N_SERIES * 2];
        let seg = Segment { rows: 0..2, fresh: true, trade_rows: &[1, 1], target_rows: &[0, 0] };
        let e = run(
            &m,
            &seg,
            Targets { data: &[0.5, 0.5], n_books: 1, n_rows: 1, hold: None },
            Costs { rate: 0.0, side: CostSide::Both },
            &mut pos,
            &mut cash,
            Output { series: &mut series, len: 2, offset: 0 },
        );
        assert!(e.is_err());
    }
}

