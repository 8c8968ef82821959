//! Glue for `rust/evaluate.rs`: forward returns, information coefficients, quantile buckets and
//! their returns, factor-weighted returns, turnover and rank autocorrelation. Each wrapper views
//! its arrays, builds the kernel's settings (errors as `ValueError`) and runs the kernel through
//! [`call`] (GIL released, outputs moved to numpy).

use numpy::{IntoPyArray, PyArray2, PyArray3, PyReadonlyArray2, PyReadonlyArray3};
use pyo3::prelude::*;

use super::{call, run, to_py_err};
use crate::evaluate::{self, Buckets, Demean, Forward, Method, Sample, Settings};

pub(super) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(evaluate_forward_returns, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_ic, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_quantile_labels, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_quantile_returns, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_factor_weighted_returns, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_quantile_turnover, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_rank_autocorrelation, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_panel, m)?)?;
    Ok(())
}

type Opt2<'py, T> = Option<PyReadonlyArray2<'py, T>>;

/// Forward returns (H, T, N) of `returns` (T, N) for each horizon (>= 1).
#[pyfunction]
fn evaluate_forward_returns<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray2<'py, f64>,
    horizons: Vec<usize>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let r = returns.as_array();
    call(py, || evaluate::forward_returns(r, &horizons))
}

/// Information coefficient (T, H) and pair counts (T, H) of `signal` against `forward` (H, T, N),
/// or, with `returns` and `lags` instead, against the one-period return `lag` dates ahead.
/// `common`: the base sample needs every horizon (or lag) finite.
#[pyfunction]
#[pyo3(signature = (signal, forward, returns, lags, industry, n_industries, weights, common, method, industry_adjust, labels=None))]
#[allow(clippy::too_many_arguments)]
fn evaluate_ic<'py>(
    py: Python<'py>,
    signal: PyReadonlyArray2<'py, f64>,
    forward: Option<PyReadonlyArray3<'py, f64>>,
    returns: Opt2<'py, f64>,
    lags: Option<Vec<usize>>,
    industry: Opt2<'py, i32>,
    n_industries: usize,
    weights: Opt2<'py, f64>,
    common: bool,
    method: &str,
    industry_adjust: bool,
    labels: Opt2<'py, i32>,
) -> PyResult<(Bound<'py, PyArray2<f64>>, Bound<'py, PyArray2<u32>>)> {
    let method = Method::parse(method).map_err(to_py_err)?;
    let lags = lags.unwrap_or_default();
    let source = match (&forward, &returns) {
        (Some(f), None) => Forward::Stack(f.as_array()),
        (None, Some(r)) => Forward::Lagged(r.as_array(), &lags),
        _ => {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "pass exactly one of forward and returns",
            ))
        }
    };
    let sample = Sample {
        signal: signal.as_array(),
        groups: industry.as_ref().map(|g| g.as_array()),
        n_groups: n_industries,
        weights: weights.as_ref().map(|w| w.as_array()),
        common: common.then_some(source),
        labels: labels.as_ref().map(|l| l.as_array()),
    };
    call(py, || evaluate::information_coefficient(&sample, source, method, industry_adjust))
}

/// Bucket labels (T, N) int32 (0-based, -1 = none): `kind` "quantiles" or "bins" with a count or
/// explicit levels/edges (`values`), per date or per date and industry (`by_industry`).
#[pyfunction]
#[pyo3(signature = (signal, industry, n_industries, weights, common_forward, kind, count, values, by_industry))]
#[allow(clippy::too_many_arguments)]
fn evaluate_quantile_labels<'py>(
    py: Python<'py>,
    signal: PyReadonlyArray2<'py, f64>,
    industry: Opt2<'py, i32>,
    n_industries: usize,
    weights: Opt2<'py, f64>,
    common_forward: Option<PyReadonlyArray3<'py, f64>>,
    kind: &str,
    count: usize,
    values: Option<Vec<f64>>,
    by_industry: bool,
) -> PyResult<Bound<'py, PyArray2<i32>>> {
    let buckets = Buckets::from_spec(kind, count, values).map_err(to_py_err)?;
    let sample = Sample {
        signal: signal.as_array(),
        groups: industry.as_ref().map(|g| g.as_array()),
        n_groups: n_industries,
        weights: weights.as_ref().map(|w| w.as_array()),
        common: common_forward.as_ref().map(|f| Forward::Stack(f.as_array())),
        labels: None,
    };
    call(py, || evaluate::quantile_labels(&sample, &buckets, by_industry))
}

/// Mean forward return per date, bucket and horizon (T, Q, H) and counts; `demean` is "none",
/// "all" or "industry".
#[pyfunction]
#[pyo3(signature = (labels, n_buckets, forward, industry, n_industries, weights, demean))]
#[allow(clippy::too_many_arguments)]
fn evaluate_quantile_returns<'py>(
    py: Python<'py>,
    labels: PyReadonlyArray2<'py, i32>,
    n_buckets: usize,
    forward: PyReadonlyArray3<'py, f64>,
    industry: Opt2<'py, i32>,
    n_industries: usize,
    weights: Opt2<'py, f64>,
    demean: &str,
) -> PyResult<(Bound<'py, PyArray3<f64>>, Bound<'py, PyArray3<u32>>)> {
    let demean = match demean {
        "none" => Demean::None,
        "all" => Demean::All,
        "industry" => Demean::Group,
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "demean must be one of ['none', 'all', 'industry'], got {other:?}"
            )))
        }
    };
    let (l, f) = (labels.as_array(), forward.as_array());
    let g = industry.as_ref().map(|g| (g.as_array(), n_industries));
    let w = weights.as_ref().map(|w| w.as_array());
    call(py, || evaluate::quantile_returns(l, n_buckets, f, g, w, demean))
}

/// Factor-weighted long-short returns (T, H) on each horizon's pair sample.
#[pyfunction]
#[pyo3(signature = (signal, forward, industry, n_industries, common, demeaned, industry_neutral, equal_weight, labels=None))]
#[allow(clippy::too_many_arguments)]
fn evaluate_factor_weighted_returns<'py>(
    py: Python<'py>,
    signal: PyReadonlyArray2<'py, f64>,
    forward: PyReadonlyArray3<'py, f64>,
    industry: Opt2<'py, i32>,
    n_industries: usize,
    common: bool,
    demeaned: bool,
    industry_neutral: bool,
    equal_weight: bool,
    labels: Opt2<'py, i32>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let f = forward.as_array();
    let sample = Sample {
        signal: signal.as_array(),
        groups: industry.as_ref().map(|g| g.as_array()),
        n_groups: n_industries,
        weights: None,
        common: common.then_some(Forward::Stack(f)),
        labels: labels.as_ref().map(|l| l.as_array()),
    };
    call(py, || evaluate::factor_weighted_returns(&sample, f, demeaned, industry_neutral, equal_weight))
}

/// Quantile turnover (T, Q, L) of bucket labels at each of `lags` dates.
#[pyfunction]
fn evaluate_quantile_turnover<'py>(
    py: Python<'py>,
    labels: PyReadonlyArray2<'py, i32>,
    n_buckets: usize,
    lags: Vec<usize>,
) -> PyResult<Bound<'py, PyArray3<f64>>> {
    let l = labels.as_array();
    call(py, || evaluate::quantile_turnover(l, n_buckets, &lags))
}

/// Rank autocorrelation (T, L) of the signal at each of `lags` dates over the base sample.
#[pyfunction]
#[pyo3(signature = (signal, industry, n_industries, common_forward, lags, labels=None))]
fn evaluate_rank_autocorrelation<'py>(
    py: Python<'py>,
    signal: PyReadonlyArray2<'py, f64>,
    industry: Opt2<'py, i32>,
    n_industries: usize,
    common_forward: Option<PyReadonlyArray3<'py, f64>>,
    lags: Vec<usize>,
    labels: Opt2<'py, i32>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    let sample = Sample {
        signal: signal.as_array(),
        groups: industry.as_ref().map(|g| g.as_array()),
        n_groups: n_industries,
        weights: None,
        common: common_forward.as_ref().map(|f| Forward::Stack(f.as_array())),
        labels: labels.as_ref().map(|l| l.as_array()),
    };
    call(py, || evaluate::rank_autocorrelation(&sample, &lags))
}

type PanelOut<'py> = (
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<u32>>,
    Bound<'py, PyArray2<i32>>,
    Bound<'py, PyArray3<f64>>,
    Bound<'py, PyArray3<u32>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray3<f64>>,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
);

/// The whole evaluation in one pass over the dates: (ic, n_obs, labels, by_date, counts,
/// factor_returns, turnover (T, Q, H), autocorrelation (T, H), decay (T, L)); turnover and
/// autocorrelation at a lag of each horizon. `forward` (H, T, N), or None: computed from
/// `returns` date by date inside the pass.
#[pyfunction]
#[pyo3(signature = (signal, returns, forward, horizons, industry, n_industries, weights, method, kind, count, values, by_industry, demeaned, industry_adjust, common, decay_lags))]
#[allow(clippy::too_many_arguments)]
fn evaluate_panel<'py>(
    py: Python<'py>,
    signal: PyReadonlyArray2<'py, f64>,
    returns: PyReadonlyArray2<'py, f64>,
    forward: Option<PyReadonlyArray3<'py, f64>>,
    horizons: Vec<usize>,
    industry: Opt2<'py, i32>,
    n_industries: usize,
    weights: Opt2<'py, f64>,
    method: &str,
    kind: &str,
    count: usize,
    values: Option<Vec<f64>>,
    by_industry: bool,
    demeaned: bool,
    industry_adjust: bool,
    common: bool,
    decay_lags: Vec<usize>,
) -> PyResult<PanelOut<'py>> {
    let method = Method::parse(method).map_err(to_py_err)?;
    let buckets = Buckets::from_spec(kind, count, values).map_err(to_py_err)?;
    let sample = Sample {
        signal: signal.as_array(),
        groups: industry.as_ref().map(|g| g.as_array()),
        n_groups: n_industries,
        weights: weights.as_ref().map(|w| w.as_array()),
        common: None,
        labels: None,
    };
    let set = Settings {
        method,
        buckets: &buckets,
        by_group: by_industry,
        demeaned,
        group_adjust: industry_adjust,
        common,
        decay_lags: &decay_lags,
    };
    let (r, f) = (returns.as_array(), forward.as_ref().map(|f| f.as_array()));
    let ev = run(py, || evaluate::evaluate_panel(&sample, r, f, &horizons, &set))?;
    Ok((
        ev.ic.into_pyarray(py),
        ev.n_obs.into_pyarray(py),
        ev.labels.into_pyarray(py),
        ev.by_date.into_pyarray(py),
        ev.counts.into_pyarray(py),
        ev.factor_returns.into_pyarray(py),
        ev.turnover.into_pyarray(py),
        ev.autocorrelation.into_pyarray(py),
        ev.decay.into_pyarray(py),
    ))
}
