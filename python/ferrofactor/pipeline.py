"""The pipeline behind ``ferrofactor run`` and ``ferrofactor demo``: the library's stages in
order, each timed (wall and CPU), on a validated :class:`~ferrofactor.config.Config`.

Stages (each a plain library call; nothing here re-implements the library):

==================  ==============================================================================
load                :func:`ferrofactor.read_universe` on the configured sources (``run``), or
                    :func:`ferrofactor.datasets.synthetic_universe` (``demo``, with the
                    simulation's delisting dates); the delisting dates of ``data.delistings``
                    when set; then the study's
                    ``data.start``..``data.end`` (the assets without a price in it left out);
                    its note names the dates of the study with
                    prices for fewer than 10 % of the median number of assets priced per
                    date (:func:`sparse_dates`: a stray row on a non-trading day); a
                    ``portfolio.date`` that is not a date of the study is refused here
exposures           :meth:`ferrofactor.Exposures.from_panel` (descriptors → cleaned styles), on
                    the study's assets over every date up to ``data.end``, then its dates: the
                    descriptors' look-back windows reach before ``data.start``
factor model        :class:`ferrofactor.FactorModel` ``.fit`` and ``.fama_macbeth(cov)``
risk model          :class:`ferrofactor.RiskModel` ``.fit``
risk validation     :func:`ferrofactor.evaluate.bias_test` (random long-only portfolios) and
                    :func:`ferrofactor.evaluate.minimum_variance_test`, on the forecast dates
                    after ``validation.burn_in``
signal              :func:`ferrofactor.combined_score` (Σ weight × style); a date on which it
                    is the same for every asset (no weighted style has a value yet: each is
                    filled with 0, e.g. 12-1 momentum in the study's first year) has no signal
                    (NaN, :func:`flat_dates`), so that no book trades on the order of the assets
signal evaluation   :func:`ferrofactor.evaluate.evaluate` of the signal against the returns that
                    follow it (``signal.horizons``, ``signal.quantiles``; with ``signal.residual``
                    also against the factor model's residual returns); ``signal.evaluate = false``
                    leaves this stage out
portfolios          on ``portfolio.date``: the cap-weighted market, the long-short quantile
                    portfolio (:func:`ferrofactor.quantile_portfolio`) and the optimised
                    long-only portfolio (:func:`ferrofactor.optimize`, alpha = ic × specific
                    volatility × signal), each with its risk decomposition
backtest            :func:`ferrofactor.backtest_many` of the signal's books through time (the
                    cap-weighted market, the top ``portfolio.percentile`` long-only, the long-short
                    quantile book) with ``backtest.cost_bps`` costs, rebalanced ``backtest.rebalance``,
                    delisted assets paid out on the dates of ``data.delistings`` or, in the demo,
                    the simulation's (point in time; unset: inferred from the last prices);
                    :func:`ferrofactor.attribute` of the long-short book's net returns to the
                    factor model; the books' monitoring alerts (:mod:`ferrofactor.monitor`);
                    ``backtest.enabled = false`` leaves this stage out
==================  ==============================================================================

Time: the portfolios of date ``t`` use the signal and the risk model of row ``t`` (known at the
close of ``t``); they would trade at that close. In the backtest a book trades at the close of a
rebalance date ``t`` to targets from the signal of ``t`` and earns the returns from ``t+1`` on.

A stage that cannot run in this environment (cvxpy missing for the optimiser) is *skipped* with
its reason, recorded in :attr:`RunResult.skipped`; any other error stops the run
(:class:`StageError`, naming the stage).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ferrofactor.config import Config
from ferrofactor.constants import POSITION_TOL

__all__ = ["Book", "Reporter", "RunResult", "Skip", "StageError", "StageRecord", "StageRunner", "run_pipeline"]


class Skip(Exception):
    """Raised inside a stage: the stage (or part of it) cannot run here; the message says why."""


class StageError(RuntimeError):
    """A stage failed; ``stage`` names it and ``__cause__`` is the original error. ``result`` is
    the run's :class:`RunResult` so far (None if unknown): what the stages before it produced,
    and in ``result.stages`` their records, then the failed stage's (status ``"failed"``)."""

    def __init__(self, stage: str, error: BaseException, result: RunResult | None = None) -> None:
        self.stage = stage
        self.error = error
        self.result = result
        super().__init__(f"{stage}: {type(error).__name__}: {error}")


@dataclass
class StageRecord:
    """One stage: its name, wall and CPU seconds (CPU = all threads of the process), status
    (``"done"``, ``"skipped"``, ``"failed"``) and a one-line note of what it found."""

    name: str
    wall: float = 0.0
    cpu: float = 0.0
    status: str = "done"
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "wall_s": round(self.wall, 4), "cpu_s": round(self.cpu, 4),
                "status": self.status, "note": self.note}


class Reporter:
    """Receives the progress of a run. This one does nothing; the CLI's draws rich progress
    bars and a timing line per stage."""

    def start(self, name: str, total: int | None = None) -> None:
        """A stage starts; ``total`` steps will be reported with :meth:`advance` (None: no bar)."""

    def advance(self, n: int = 1, description: str | None = None) -> None:
        """``n`` more steps of the current stage are done."""

    def finish(self, record: StageRecord) -> None:
        """The stage ended (done, skipped or failed)."""


@dataclass
class Book:
    """A portfolio of the report: weights on one date, their risk decomposition (annualised)
    and, for the optimised one, the :class:`~ferrofactor.OptimizationResult`."""

    name: str
    title: str
    weights: np.ndarray
    date: Any
    decomposition: Any
    optimization: Any = None
    description: str = ""


@dataclass
class RunResult:
    """Everything a run produced (the inputs of the report)."""

    config: Config
    source: str = ""
    panel: Any = None
    exposures: Any = None
    model: Any = None
    fama_macbeth: Any = None
    risk: Any = None
    bias_test: Any = None
    min_var: Any = None
    validation_dates: Any = None
    signal: Any = None
    evaluation: Any = None
    portfolio_date: Any = None
    books: dict[str, Book] = field(default_factory=dict)
    backtest: Any = None
    delistings: dict[str, Any] | None = None
    delisting_returns: dict[str, float] | None = None
    #: assets left out of the study for want of a price between data.start and data.end
    study_dropped: int = 0
    #: where ``delistings`` come from (for the report)
    delistings_source: str = "data.delistings"
    attribution: Any = None
    alerts: Any = None
    truth: Any = None
    stages: list[StageRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return float(sum(s.wall for s in self.stages))

    @property
    def cpu(self) -> float:
        return float(sum(s.cpu for s in self.stages))

    def summary(self) -> dict[str, Any]:
        """The key numbers of the run (the CLI's summary table and ``--json``)."""
        out: dict[str, Any] = {}
        p = self.panel
        if p is not None:
            T, N = p.shape
            out["data"] = {"dates": T, "assets": N, "first_date": str(p.dates[0]) if T else None,
                           "last_date": str(p.dates[-1]) if T else None, "source": self.source}
        if self.model is not None:
            m = self.model
            est = m.estimated
            out["factor_model"] = {
                "factors": len(m.factor_names), "dates_estimated": int(est.sum()),
                "mean_r2": _f(np.nanmean(m.r2[est])) if est.any() else None,
                "mean_obs": _f(np.mean(m.n_obs[est])) if est.any() else None,
            }
        if self.risk is not None:
            r = self.risk
            out["risk_model"] = {"dates": int(len(r.dates)) if r.dates is not None else None,
                                 "factors": len(r.factor_names)}
        if self.bias_test is not None:
            b = self.bias_test.bias
            out["bias_test"] = {"portfolios": int(np.size(b.bias)), "median_bias": _f(finite_median(b.bias)),
                                "share_inside": _f(b.share_inside)}
        if self.min_var is not None:
            b = self.min_var.bias
            out["minimum_variance"] = {"dates": int(len(self.min_var.dates)),
                                       "bias": _f(np.atleast_1d(b.bias)[0]),
                                       "lower": _f(np.atleast_1d(b.lower)[0]), "upper": _f(np.atleast_1d(b.upper)[0])}
        if self.evaluation is not None:
            e = self.evaluation
            out["signal_evaluation"] = {
                "horizons": [int(h) for h in e.horizons], "ic_mean": [_f(x) for x in e.ic_mean],
                "ic_nw_tstat": [_f(x) for x in e.ic_nw_tstat],
                "spread_mean": [_f(x) for x in e.quantile_returns.spread_mean],
                **({"residual_ic_mean": [_f(x) for x in e.residual.ic_mean]} if e.residual is not None else {}),
            }
        if self.books:
            out["portfolios"] = {
                name: {"date": str(bk.date), "volatility_annualized": _f(bk.decomposition.total_vol),
                       "positions": int(np.sum(np.abs(bk.weights) > POSITION_TOL)),
                       **({"status": bk.optimization.status} if bk.optimization is not None else {})}
                for name, bk in self.books.items()
            }
        if self.backtest is not None:
            m = self.backtest.metrics()
            out["backtest"] = {
                name: {"annual_return": _f(m.annual_return[i]), "annual_volatility": _f(m.annual_volatility[i]),
                       "sharpe_ratio": _f(m.sharpe_ratio[i]), "max_drawdown": _f(m.max_drawdown[i]),
                       "total_costs": _f(self.backtest[name].costs.sum()),
                       "final_value": _f(self.backtest[name].value[-1])}
                for i, name in enumerate(self.backtest.books)
            }
        if self.attribution is not None:
            a = self.attribution
            out["attribution"] = {"book": "quantile", "cumulative_return": _f(a.cumulative_return[-1])}
        if self.alerts is not None:
            out["alerts"] = int(self.alerts.height)
        if self.truth is not None:
            out["truth"] = {"market_corr": _f(self.truth["market"])} if "market" in self.truth else {}
        return out


def _f(x: Any) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def finite_median(x: Any) -> float:
    """Median of the finite values of ``x``, NaN when there are none (e.g. a bias test on dates
    the risk model does not cover yet): ``np.nanmedian`` would print its "All-NaN slice"
    RuntimeWarning on the terminal of a run, even a ``--quiet`` one."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


# ---------------------------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------------------------


class StageRunner:
    """Times stages (wall and CPU), records them in a RunResult and tells the Reporter."""

    def __init__(self, result: RunResult, reporter: Reporter) -> None:
        self.result = result
        self.reporter = reporter

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[StageRecord]:
        rec = StageRecord(name)
        self.reporter.start(name, total)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            yield rec
        except Skip as s:
            rec.status = "skipped"
            rec.note = str(s)
            self.result.skipped.append((name, str(s)))
        except Exception as e:
            rec.status = "failed"
            rec.note = f"{type(e).__name__}: {e}"
            rec.wall, rec.cpu = time.perf_counter() - t0, time.process_time() - c0
            self.result.stages.append(rec)
            self.reporter.finish(rec)
            raise StageError(name, e, self.result) from e
        rec.wall, rec.cpu = time.perf_counter() - t0, time.process_time() - c0
        self.result.stages.append(rec)
        self.reporter.finish(rec)


def have(module: str) -> bool:
    """Whether an optional package can be imported (it is imported: the stages that ask use it)."""
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def run_pipeline(
    config: Config,
    *,
    panel: Any = None,
    source: str = "",
    reporter: Reporter | None = None,
    synthetic: Callable[[], Any] | None = None,
) -> RunResult:
    """Run every stage on a validated configuration.

    Parameters
    ----------
    config : Config
        From :func:`ferrofactor.config.load_config` (``run``) or
        :func:`~ferrofactor.config.default_config` (``demo``).
    panel : Panel, optional
        Use this panel instead of loading ``config["data"]``.
    synthetic : callable, optional
        Makes the panel in a stage of its own, named "synthetic universe" (the demo).
    source : str
        How the data was obtained (shown in the report).
    reporter : Reporter, optional
        Progress and timings (default: silent).

    Returns
    -------
    RunResult

    Raises
    ------
    StageError
        A stage failed: ``stage`` names it, the original error is chained, and ``result`` holds
        what the run produced before (its ``stages``, the failed one last).
    """
    reporter = reporter or Reporter()
    res = RunResult(config=config, source=source)
    run = StageRunner(res, reporter)
    cfg = config

    # -- data ------------------------------------------------------------------------------
    history = None  # the study's look-back before data.start (_study)
    if panel is None and synthetic is not None:
        with run.stage("synthetic universe") as st:
            panel = synthetic()
            st.note = f"{panel.shape[1]} assets × {panel.shape[0]} dates"
            if cfg["data"]["delistings"] is not None:
                st.note += "; " + _load_delistings(res, cfg, panel)
            elif getattr(panel, "truth", None) is not None:
                # the simulation knows when each asset delists: the backtest takes those dates
                # (point in time), as a run takes data.delistings
                from ferrofactor.datasets import truth_delistings

                assets, days = truth_delistings(panel)
                res.delistings = {str(a): t for a, t in zip(assets, days)}
                res.delistings_source = "the synthetic universe's delistings"
                st.note += f"; {len(assets)} delistings"
            panel, history = _study(res, cfg, panel)
    elif panel is None:
        with run.stage("load") as st:
            panel = _load(cfg)
            st.note = f"{panel.shape[1]} assets × {panel.shape[0]} dates, fields: {', '.join(panel.fields)}"
            if cfg["data"]["delistings"] is not None:
                st.note += "; " + _load_delistings(res, cfg, panel)
            panel, history = _study(res, cfg, panel)
            if res.study_dropped:
                st.note += (f"; {res.study_dropped} assets without a price between data.start and "
                            "data.end left out")
            d = cfg["data"]
            sparse = sparse_dates_note(panel, d["adjusted_close"] or d["close"])
            if sparse:
                st.note += "; " + sparse
    else:
        try:
            if cfg["data"]["delistings"] is not None:
                _load_delistings(res, cfg, panel)
            panel, history = _study(res, cfg, panel)
        except (ValueError, TypeError, FileNotFoundError) as e:
            raise StageError("load", e, res) from e
    T, N = panel.shape
    res.panel = panel

    # -- exposures and the factor model ----------------------------------------------------
    ex_cfg, m_cfg = cfg["exposures"], cfg["model"]
    with run.stage("exposures") as st:
        use_ind = ex_cfg["industries"] and "industry" in panel.code_fields
        if use_ind:
            # a style named like an industry: two factors of one name (known once the
            # classifications are read; "market" is refused with the configuration)
            labels = {str(x) for x in np.asarray(panel.labels("industry")).tolist()}
            same = [s for s in ex_cfg["styles"] if s in labels]
            if same:
                raise ValueError(f"exposures.styles.{same[0]}: {same[0]!r} is also an industry of "
                                 f"data.classifications (column {cfg['data']['industry']!r}), and factor names "
                                 "must be unique: name the style otherwise (or exposures.industries = false)")
        opts = {"window": ex_cfg["window"], "beta_half_life": ex_cfg["beta_half_life"],
                "liquidity_window": ex_cfg["liquidity_window"], "min_fraction": ex_cfg["min_fraction"]}
        if history is None:
            res.exposures = _exposures(panel, cfg, use_ind, opts)
        else:
            # the descriptors look back before data.start, as they could on that date
            res.exposures = study_exposures(_exposures(history, cfg, use_ind, opts), panel)
            history = None
        ex = res.exposures
        st.note = f"{len(ex.style_names)} styles, {len(ex.industry_names)} industries"

    with run.stage("factor model") as st:
        res.model = _factor_model(cfg).fit(panel, res.exposures)
        res.fama_macbeth = res.model.fama_macbeth(cov=m_cfg["fama_macbeth_cov"])
        est = res.model.estimated
        st.note = (f"{len(res.model.factor_names)} factors, {int(est.sum())} dates estimated, mean R² "
                   f"{np.nanmean(res.model.r2[est]):.3f}" if est.any() else "no date could be estimated")

    if getattr(panel, "truth", None) is not None and hasattr(panel.truth, "factor_returns"):
        res.truth = truth_correlations(res.model, panel.truth)

    with run.stage("risk model") as st:
        from ferrofactor.risk import RiskModel

        r = dict(cfg["risk"])
        r["newey_west_lags"] = tuple(r["newey_west_lags"])
        res.risk = RiskModel(**r).fit(res.model)
        st.note = f"Σf and specific risk on {len(res.risk.specific_variance)} dates"

    # -- risk validation -------------------------------------------------------------------
    v = cfg["validation"]
    burn = v["burn_in"] if v["burn_in"] < T - 1 else T // 2
    res.validation_dates = (burn, T - 2)
    with run.stage("risk validation") as st:
        from ferrofactor import evaluate

        notes = []
        if v["portfolios"] > 0:
            rng = np.random.default_rng(v["seed"])
            portfolios = rng.random((v["portfolios"], N))
            res.bias_test = evaluate.bias_test(res.risk, panel, portfolios, dates=np.arange(burn, T - 1),
                                               every=v["every"])
            b = res.bias_test.bias
            n = int(np.max(b.n_obs, initial=0))  # the most dates a portfolio has a forecast on
            if np.isfinite(b.bias).any():
                notes.append(f"bias test: median {finite_median(b.bias):.3f}, {b.share_inside:.0%} inside the band")
            elif n > 0:
                # forecasts, but too few dates for a standard deviation: the test's dates, not the
                # risk model's coverage, are the reason
                notes.append(f"bias test: {n} forecast date{'' if n == 1 else 's'} to test, too few for a bias "
                             f"statistic (at least 2: validation.burn_in = {v['burn_in']}, validation.every = "
                             f"{v['every']}, {T} dates)")
            else:
                notes.append("bias test: no forecast to test (the risk model covers none of the portfolios' "
                             "assets on the test dates)")
        if v["minimum_variance"]:
            res.min_var = minimum_variance_after(res.risk, panel, burn, v["every"])
            notes.append(f"minimum-variance bias {float(np.atleast_1d(res.min_var.bias.bias)[0]):.3f}")
        st.note = "; ".join(notes) or "nothing to test (validation.portfolios = 0, minimum_variance = false)"

    # -- signal ----------------------------------------------------------------------------
    with run.stage("signal") as st:
        from ferrofactor.signals import combined_score

        sig = combined_score(res.exposures, cfg["signal"]["weights"])
        flat = flat_dates(sig)
        sig[flat] = np.nan
        res.signal = sig
        st.note = "Σ " + " + ".join(f"{w:g}·{s}" for s, w in cfg["signal"]["weights"].items())
        if flat.any():
            days = np.asarray(panel.dates)[flat]
            st.note += (f"; no signal on {int(flat.sum())} dates where it is the same for every asset (no style "
                        f"has a value yet), {days[0]}..{days[-1]}")

    sg = cfg["signal"]
    if sg["evaluate"]:
        with run.stage("signal evaluation") as st:
            from ferrofactor.evaluate import evaluate

            # signal[t] is known at the close of t; it is judged on the returns of t+1 .. t+h
            res.evaluation = e = evaluate(res.signal, panel, horizons=sg["horizons"], quantiles=sg["quantiles"],
                                          residual=res.model if sg["residual"] else None)
            st.note = "IC " + ", ".join(f"{h}d {m:+.4f} (NW t {t:.1f})" for h, m, t in
                                        zip(e.horizons.tolist(), e.ic_mean, e.ic_nw_tstat))

    # -- portfolios ------------------------------------------------------------------------
    p = cfg["portfolio"]
    want_opt = p["optimize"]
    with run.stage("portfolios", total=3 if want_opt else 2) as st:
        skipped = _portfolios(res, cfg, reporter)
        st.note = ", ".join(f"{b.name} {b.decomposition.total_vol:.1%}" for b in res.books.values()) + " vol a year"
        if skipped:
            st.note += f"; optimised portfolio skipped: {skipped}"
        for what, why in res.skipped:
            if what == "quantile portfolio":
                st.note += f"; quantile portfolio skipped: {why}"

    # -- backtest, attribution, alerts -----------------------------------------------------
    if cfg["backtest"]["enabled"]:
        with run.stage("backtest") as st:
            _backtest(res, cfg)
            m = res.backtest.metrics()
            st.note = ", ".join(f"{n} {m.annual_return[i]:.1%} a year (Sharpe {m.sharpe_ratio[i]:.2f})"
                                for i, n in enumerate(res.backtest.books)) + f"; {res.alerts.height} alerts"
    return res


# ---------------------------------------------------------------------------------------------
# Stage bodies
# ---------------------------------------------------------------------------------------------


def _load(cfg: Config) -> Any:
    from ferrofactor.io import read_universe

    d = cfg["data"]
    conn = d["connection"]
    if conn is not None and conn.startswith("sqlite:///"):
        from urllib.parse import quote, unquote

        conn = "sqlite:///" + quote(cfg.resolve(unquote(conn[len("sqlite:///"):])))

    def src(key: str) -> Any:
        v = d[key]
        if v is None:
            return None
        return v if conn is not None else cfg.resolve(v)

    return read_universe(
        src("prices"), src("fundamentals"), src("classifications"),
        date=d["date"], asset=d["asset"], connection=conn, format=d["format"], date_format=d["date_format"],
        price_fields=d["price_fields"], close=d["close"], adjusted_close=d["adjusted_close"],
        shares=d["shares"], volume=d["volume"], report_date=d["report_date"],
        report_lag_days=d["report_lag_days"], max_staleness=d["max_staleness"],
        fundamental_fields=d["fundamental_fields"], industry=d["industry"],
        classification_date=d["classification_date"], classification_lag_days=d["classification_lag_days"],
        null_values=d["null_values"],
    )


def _load_delistings(res: RunResult, cfg: Config, panel: Any) -> str:
    """Read ``data.delistings`` into ``res.delistings`` ({asset: datetime64[D]}) and, with
    ``data.delisting_return``, ``res.delisting_returns`` ({asset: return}), for the assets of the
    panel; rows of other assets are ignored (as the other files' rows of assets without prices).
    Returns the load stage's note. Errors name the setting (``data.delistings: ...``)."""
    from ferrofactor.io import _format_for, _read_delistings

    d = cfg["data"]
    conn = d["connection"]
    if conn is not None and conn.startswith("sqlite:///"):
        from urllib.parse import quote, unquote

        conn = "sqlite:///" + quote(cfg.resolve(unquote(conn[len("sqlite:///"):])))
    source = d["delistings"] if conn is not None else cfg.resolve(d["delistings"])
    try:
        assets, days, rets = _read_delistings(
            source, asset=d["asset"], date=d["delisting_date"], delisting_return=d["delisting_return"],
            connection=conn, format=_format_for(source, d["format"]) if conn is None else None,
            date_format=d["date_format"], null_values=d["null_values"])
    except (ValueError, TypeError, FileNotFoundError) as e:
        raise type(e)(f"data.delistings: {e}") from (e.__cause__ or e)
    known = set(np.asarray(panel.assets).tolist())
    keep = np.fromiter((a in known for a in assets.tolist()), dtype=bool, count=len(assets))
    if len(assets) and not keep.any():
        # ids written another way than the prices' (123 against 000123, case, spaces): every row
        # would be ignored and the delistings inferred after all, without a word
        raise ValueError(
            f"data.delistings: none of the {len(assets)} assets of {source!r} is an asset of the prices: e.g. "
            f"{[str(a) for a in assets[:5]]} against {[str(a) for a in np.asarray(panel.assets)[:5]]}; check its "
            f"column {d['asset']!r} (case, spaces, an integer column that lost the leading zeros of 000123)")
    res.delistings = {str(a): t for a, t in zip(assets[keep], days[keep])}
    res.delisting_returns = (None if rets is None else
                             {str(a): float(r) for a, r in zip(assets[keep], rets[keep])})
    note = f"{int(keep.sum())} delistings"
    if not keep.all():
        note += f" ({int((~keep).sum())} rows of assets not in the prices ignored)"
    # assets whose prices stop before the last date with no row: held as suspended to the end
    # (a table that misses some exits, e.g. mergers, shows here)
    ok = np.isfinite(np.asarray(panel["returns"]))
    stops = ok.any(axis=0) & ~ok[-1] & np.array([a not in res.delistings for a in np.asarray(panel.assets).tolist()])
    if stops.any():
        note += f"; {int(stops.sum())} assets stop trading before the last date without a delisting row (held as suspended)"
    return note


#: A date with prices for fewer than this share of the median number of assets priced per date
#: is named in the load stage's note (:func:`sparse_dates`).
SPARSE_SHARE = 0.1


def sparse_dates(prices: Any, dates: Any, share: float = SPARSE_SHARE) -> tuple[np.ndarray, np.ndarray, float]:
    """The dates with prices for fewer than ``share`` × the median number of assets priced per
    date: ``(dates, counts, median)``.

    A stray price row on a non-trading day (one asset on a Saturday) makes that day a date of the
    panel: every other asset then has no price on it, so its return of the next trading date is
    NaN (returns never bridge a gap) and the cross-sections of both dates hold a handful of
    assets. Such dates are legal data, so the library readers keep them silently; the
    ``ferrofactor`` load stage names them with this check.

    Parameters
    ----------
    prices : array-like (T, N)
        The price field (NaN = no price), e.g. ``panel["close"]``.
    dates : array-like (T,)
        Its dates, for the result.
    share : float, default 0.1
        The threshold as a share of the median count, in (0, 1].

    Returns
    -------
    dates : ndarray (S,)
        The sparse dates, in date order.
    counts : ndarray (S,) int64
        The assets priced on each.
    median : float
        The median number of assets priced per date (over every date).

    Examples
    --------
    >>> import numpy as np
    >>> px = np.ones((4, 20)); px[2, 1:] = np.nan      # one asset priced on the third date
    >>> d, n, med = sparse_dates(px, np.arange(4))
    >>> d.tolist(), n.tolist(), med
    ([2], [1], 20.0)
    """
    from ferrofactor._validate import as_float_array

    px = np.asarray(as_float_array("prices", prices, 2))
    dates = np.asarray(dates)
    if dates.shape != (px.shape[0],):
        raise ValueError(f"dates must have shape ({px.shape[0]},) (one per row of prices), got {dates.shape}")
    if isinstance(share, (bool, np.bool_)) or not isinstance(share, (int, float, np.integer, np.floating)) \
            or not 0.0 < float(share) <= 1.0:
        raise ValueError(f"share must be a number in (0, 1], got {share!r}")
    counts = np.isfinite(px).sum(axis=1).astype(np.int64)
    median = float(np.median(counts)) if counts.size else 0.0
    sparse = counts < share * median
    return dates[sparse], counts[sparse], median


def sparse_dates_note(panel: Any, field: str, share: float = SPARSE_SHARE) -> str:
    """The load stage's words for :func:`sparse_dates` of ``panel[field]`` (the prices the
    returns come from), e.g. ``"1 date has prices for fewer than 10 % of the median 262 assets
    (2016-06-04: 1): a non-trading day in the data? it splits the returns around it"``; ``""``
    when there is none (or ``field`` is not in the panel). The first five dates are listed."""
    if field not in panel.float_fields:
        return ""
    days, counts, median = sparse_dates(panel[field], panel.dates, share)
    if not len(days):
        return ""
    shown = ", ".join(f"{d}: {int(n)}" for d, n in zip(days[:5].tolist(), counts[:5].tolist()))
    if len(days) > 5:
        shown += f", ... ({len(days) - 5} more)"
    one = len(days) == 1
    return (f"{len(days)} date{'' if one else 's'} {'has' if one else 'have'} prices for fewer than {share * 100:g} % "
            f"of the median {median:g} assets ({shown}): {'a non-trading day' if one else 'non-trading days'} in "
            f"the data? {'it splits' if one else 'they split'} the returns around {'it' if one else 'them'}")


def _study(res: RunResult, cfg: Config, panel: Any) -> tuple[Any, Any]:
    """The panel cut to ``data.start`` / ``data.end`` (and then to the assets with a price
    between them; ``res.study_dropped`` counts the others), checked: at least 3 dates and 2 assets, and
    the listed delistings consistent with its prices (:func:`check_delistings`), ``portfolio.date``
    one of its dates (:func:`check_portfolio_date`). Run within the
    stage that makes the panel, so that a failure is that stage's (never after its ✓).

    Returns ``(study, history)``: ``history`` is the study's assets on every date up to
    ``data.end`` (the study's dates are its last ones), whose earlier dates feed the look-back
    windows of the descriptors (12-1 momentum, the 252-date volatility: known on the study's first
    date, from prices before it); None without ``data.start`` (the study is its own history)."""
    d = cfg["data"]
    full = panel
    if d["start"] is not None or d["end"] is not None:
        panel = panel.select(dates=slice(d["start"], d["end"]))
    T, N = panel.shape
    if T < 3 or N < 2:
        raise ValueError(f"the study has {T} dates and {N} assets (data.start/data.end); at least 3 dates "
                         "and 2 assets are needed")
    if d["start"] is not None or d["end"] is not None:
        # Assets without a price in the study (listed after data.end, gone before data.start)
        # are left out: nothing in the study can hold or explain them, and kept they would shift
        # the draws of the random portfolios (the bias test of a study ending at c would then
        # depend on which assets list after c).
        field = d["adjusted_close"] or d["close"]
        if field not in panel.float_fields:
            field = "returns"
        priced = np.isfinite(np.asarray(panel[field])).any(axis=0)
        if not priced.all() and priced.sum() >= 2:
            keep = np.asarray(panel.assets)[priced]
            panel = panel.select(assets=keep)
            res.study_dropped = int((~priced).sum())
            kept = set(keep.tolist())
            if res.delistings:
                res.delistings = {a: v for a, v in res.delistings.items() if a in kept}
            if res.delisting_returns:
                res.delisting_returns = {a: v for a, v in res.delisting_returns.items() if a in kept}
    if res.delistings:
        check_delistings(res.delistings, panel)
    check_portfolio_date(cfg, panel)
    history = None
    if d["start"] is not None and panel.shape[0] < full.select(dates=slice(None, d["end"])).shape[0]:
        history = full.select(dates=slice(None, d["end"]), assets=np.asarray(panel.assets))
    return panel, history


def study_exposures(exposures: Any, study: Any) -> Any:
    """``exposures`` (computed on the study's history: :func:`_study`) on the study's dates, its
    last ones: the same styles and industry codes, labelled by the study's dates and assets."""
    from ferrofactor.exposures import Exposures

    T = study.shape[0]
    ex = exposures
    return Exposures(None if ex.styles is None else np.ascontiguousarray(ex.styles[-T:]),
                     None if ex.industry is None else np.ascontiguousarray(ex.industry[-T:]),
                     style_names=list(ex.style_names) if ex.styles is not None else None,
                     industry_names=list(ex.industry_names) if ex.industry is not None else None,
                     market=ex.market, dates=study.dates, assets=study.assets)

def flat_dates(signal: Any) -> np.ndarray:
    """(T,) bool: the dates on which ``signal`` holds one value for every asset that has one
    (and at least one asset has one). A composite of styles is so where none of its styles has a
    descriptor yet on that date (each is filled with 0 for every asset: 12-1 momentum, a
    252-date volatility in the first year of the data): it ranks nothing, and a book built from
    it would hold the first and last assets in their order (the rankings break ties by position).

    Examples
    --------
    >>> import numpy as np
    >>> flat_dates(np.array([[0.0, 0.0, np.nan], [0.5, -0.5, 0.0], [np.nan] * 3])).tolist()
    [True, False, False]
    """
    x = np.asarray(signal, dtype=np.float64)
    ok = np.isfinite(x)
    some = ok.any(axis=1)
    hi = np.where(ok, x, -np.inf).max(axis=1)
    lo = np.where(ok, x, np.inf).min(axis=1)
    with np.errstate(invalid="ignore"):
        return some & (hi - lo <= 1e-12 * np.maximum(1.0, np.abs(hi)))


def check_portfolio_date(cfg: Config, panel: Any) -> None:
    """Refuse a ``portfolio.date`` that is not a date of the study (a holiday, a date before the
    first price or after the last), naming the setting: checked in the load stage, as soon as the
    study's dates are known, not after every model is fitted (the configuration's own check only
    knows ``data.start``/``data.end``)."""
    d = cfg["portfolio"]["date"]
    if d is None:
        return
    from ferrofactor._validate import date_position

    try:
        date_position("portfolio.date", d, np.asarray(panel.dates), panel.shape[0])
    except ValueError as e:
        raise ValueError(f"{e} (portfolio.date must be a date of the study)") from None


def check_delistings(delistings: dict[str, Any], panel: Any) -> None:
    """Refuse a listed delisting of an asset that still has a return (a price) on or after its
    delisting date in the study, naming the setting and the asset: the check of
    :func:`ferrofactor.backtest_many`'s ``delistings=`` (the same function), run before any model
    is fitted."""
    from ferrofactor.backtest import _listed_delistings

    ok = np.isfinite(np.asarray(panel["returns"]))
    T = ok.shape[0]
    last = np.where(ok.any(axis=0), T - 1 - np.argmax(ok[::-1], axis=0), -1)
    try:
        _listed_delistings(delistings, last, T, np.asarray(panel.dates), np.asarray(panel.assets))
    except ValueError as e:
        raise ValueError(f"data.{e}") from e  # "data.delistings: asset ... is delisted at ..."


def _exposures(panel: Any, cfg: Config, use_ind: bool, opts: dict[str, Any]) -> Any:
    from ferrofactor.exposures import Exposures

    e, m = cfg["exposures"], cfg["model"]
    return Exposures.from_panel(
        panel, e["styles"], industry="industry" if use_ind else None, market=m["market"],
        winsorize=None if e["winsorize"] == "none" else e["winsorize"], winsorize_limit=e["winsorize_limit"],
        fill=None if e["fill"] == "none" else e["fill"], descriptor_options=opts,
    )


def _factor_model(cfg: Config) -> Any:
    from ferrofactor.model import FactorModel

    m = cfg["model"]
    return FactorModel(market=m["market"], industry_constraint=m["industry_constraint"] if m["market"] else None,
                       weights=m["weights"], lag=m["lag"], winsorize_returns=m["winsorize_returns"])


def minimum_variance_after(risk: Any, panel: Any, burn: int, every: int) -> Any:
    """:func:`ferrofactor.evaluate.minimum_variance_test` restricted to the forecast dates from
    position ``burn`` on, every ``every``-th of them: positions ``burn, burn + every, ...``, the
    same dates as the bias test (``bias_test(dates=arange(burn, ...), every=every)``).

    The test itself samples positions ``0, g, 2g, ...``; with ``g = gcd(every, burn)`` those
    include every ``burn + k·every`` (``g = every`` when ``burn`` is a multiple of ``every``)."""
    import math

    from ferrofactor.evaluate import MinimumVarianceResult, minimum_variance_test

    step = math.gcd(every, burn) or every
    mv = minimum_variance_test(risk, panel, every=step)
    pos = np.searchsorted(np.asarray(risk.dates), np.asarray(mv.dates)) if risk.dates is not None \
        else np.asarray(mv.dates)
    keep = (pos >= burn) & ((pos - burn) % every == 0)
    return MinimumVarianceResult(np.asarray(mv.dates)[keep], np.asarray(mv.realized)[keep],
                                 np.asarray(mv.forecast_vol)[keep], np.asarray(mv.weights)[keep], mv.assets)


def portfolio_date(res: RunResult, cfg: Config) -> int:
    """Position of ``portfolio.date`` (default: the last date) among the risk model's dates."""
    from ferrofactor._validate import date_position

    d = cfg["portfolio"]["date"]
    if d is None:
        return len(res.risk.dates) - 1 if res.risk.dates is not None else res.risk.specific_variance.shape[0] - 1
    try:
        return date_position("portfolio.date", d, res.risk.dates, len(res.risk.dates))
    except ValueError as e:
        raise ValueError(f"{e} (portfolio.date must be a date of the study)") from None


def alpha_forecast(res: RunResult, cfg: Config, t: int) -> np.ndarray:
    """``ic × specific volatility × signal`` at row ``t`` (Grinold's rule; NaN where the risk
    model has no forecast or the signal is missing)."""
    covered = res.risk.covered(t)
    s = np.where(covered, res.signal[t], np.nan)
    return cfg["portfolio"]["ic"] * np.asarray(res.risk.specific_risk[t]) * s


def _why_uncovered(risk: Any, t: int) -> str:
    """What the risk model lacks at stored date ``t`` (for the message of a date it covers too few
    assets on, typically a study shorter than the model's warm-up): the factors without a variance
    yet, the assets without a specific variance, with the settings that decide them."""
    why = []
    factors = risk._unestimated(t)[1]
    if factors:
        listed = f"{factors[:5]}" + (f" and {len(factors) - 5} more" if len(factors) > 5 else "")
        why.append(f"no variance yet for {len(factors)} factor{'s' if len(factors) > 1 else ''} {listed} "
                   f"(fewer than risk.min_periods = {risk.min_periods} factor returns so far)")
    n_spec = int(np.isfinite(np.asarray(risk.specific_variance[t])).sum())
    if n_spec < 2:
        why.append(f"a specific variance for {n_spec} assets (risk.specific_min_periods = "
                   f"{risk.specific_min_periods} residuals)")
    if not why:
        return ""
    return ("; the model has " + " and ".join(why)
            + ": it needs more history before portfolio.date (a later date, a longer study) or lower settings")


def _portfolios(res: RunResult, cfg: Config, reporter: Reporter) -> str:
    """The books of the report; returns why the optimised one was skipped ("" if it was not)."""
    from ferrofactor.construct import quantile_portfolio, share_count

    p = cfg["portfolio"]
    risk, panel = res.risk, res.panel
    t = portfolio_date(res, cfg)
    res.portfolio_date = t
    date = risk.dates[t] if risk.dates is not None else t
    covered = risk.covered(t)
    if covered.sum() < 2:
        raise ValueError(f"the risk model covers {int(covered.sum())} assets on {date}: no portfolio can be "
                         f"formed{_why_uncovered(risk, t)}")

    cap = np.where(covered, np.nan_to_num(panel["market_cap"][t]), 0.0)
    if cap.sum() > 0:
        w = cap / cap.sum()
        res.books["market"] = Book("market", "Cap-weighted market", w, date,
                                   risk.risk_decomposition(w, date=t, annualize=True),
                                   description="Every asset the risk model covers, weighted by market cap.")
    reporter.advance()

    sig = np.where(covered, res.signal[t], np.nan)
    wq = quantile_portfolio(sig, percentile=p["percentile"], long_short=True)
    m = int(np.isfinite(sig).sum())
    if m < 2:
        # said, not silently left out (a date before the styles have values: flat_dates)
        res.skipped.append(("quantile portfolio", f"the signal ranks {m} of the assets the risk model covers on "
                            f"{date}: no long-short book (is portfolio.date before the styles have values?)"))
    elif share_count(m, p["percentile"]) == 0:
        # no book of the percentile holds anything (here, nor the backtest's top and quantile books
        # while the universe is this small): said, not silently left out
        res.skipped.append(("quantile portfolio", f"portfolio.percentile = {p['percentile']:g} selects no asset: "
                            f"floor({m} × {p['percentile']:g}) = 0 of the {m} assets with a signal on {date} "
                            f"(at least {1 / m:.4g} selects one)"))
    if np.abs(wq).sum() > 0:
        res.books["quantile"] = Book(
            "quantile", f"Long-short quantile ({p['percentile']:g})", wq, date,
            risk.risk_decomposition(wq, date=t, annualize=True),
            description=f"+0.5/n on the top and −0.5/n on the bottom {p['percentile'] * 100:.10g}% of the signal "
                        "(ferrofactor.quantile_portfolio).")
    reporter.advance()

    if not p["optimize"]:
        return ""
    if not (have("cvxpy") and have("clarabel")):
        why = ("cvxpy is not installed (the optimize extra: pip install \".[optimize]\" in the ferrofactor source tree, "
               "or pip install \"ferrofactor[optimize]\" from a package index)")
        res.skipped.append(("optimized portfolio", why))
        return why
    from ferrofactor.optimize import TransactionCost, optimize

    alpha = alpha_forecast(res, cfg, t)
    o = optimize(alpha, risk, date=t, risk_aversion=p["risk_aversion"], long_only=True,
                 max_weight=p["max_weight"], tcost=TransactionCost(linear_bps=p["cost_bps"]))
    if not o.ok:  # (a "violated" solve keeps finite weights that break a constraint)
        why = f"the solve failed: {o.status}: {o.message}"
        res.skipped.append(("optimized portfolio", why))
        reporter.advance()
        return why
    dec = o.risk_decomposition
    if dec is not None and not dec.annualized:
        dec = risk.risk_decomposition(o.weights, date=t, annualize=True)
    res.books["optimized"] = Book(
        "optimized", "Optimised long-only", np.asarray(o.weights), date, dec, optimization=o,
        description=(f"ferrofactor.optimize: max αᵀw − {p['risk_aversion']:g}·wᵀΣw − cost, long-only, fully "
                     f"invested, max weight {p['max_weight']:g}, {p['cost_bps']:g} bps linear cost; "
                     f"α = {p['ic']:g} × specific volatility × signal."))
    reporter.advance()
    return ""


def backtest_strategies(signal: np.ndarray, cap: np.ndarray, percentile: float) -> dict[str, Any]:
    """The backtest's books: the cap-weighted market (every asset with a signal), the top
    ``percentile`` of the signal long-only (equal weights) and the long-short quantile book
    (+0.5/n on the top, −0.5/n on the bottom ``percentile``, as the portfolio of that name)."""
    from ferrofactor import strategies as S

    return {"market": S.TopN(signal, fraction=1.0, cap=cap, weighting="cap", name="market"),
            "top": S.TopN(signal, fraction=percentile, name="top"),
            "quantile": S.TopN(signal, fraction=percentile, long_short=True, name="quantile")}


def delisting_kwargs(res: RunResult) -> dict[str, Any]:
    """``delistings=`` (and ``delisting_returns=``) of :func:`ferrofactor.backtest_many` from
    ``data.delistings``; empty when it is not set (the delistings are then inferred)."""
    kw: dict[str, Any] = {}
    if res.delistings is not None:
        kw["delistings"] = dict(res.delistings)
        if res.delisting_returns is not None:
            kw["delisting_returns"] = dict(res.delisting_returns)
    return kw


def _backtest(res: RunResult, cfg: Config) -> None:
    from ferrofactor.backtest import backtest_many

    b, panel = cfg["backtest"], res.panel
    res.backtest = backtest_many(
        panel, backtest_strategies(res.signal, panel["market_cap"], cfg["portfolio"]["percentile"]),
        rebalance=b["rebalance"], cost_bps=b["cost_bps"], **delisting_kwargs(res))
    res.attribution = res.backtest["quantile"].attribute(res.model)
    res.alerts = res.backtest.alerts()


def truth_correlations(model: Any, truth: Any) -> dict[str, float]:
    """Correlation of estimated and true factor returns for the factors defined the same way in
    the simulation and the model (the market and the industries; the model's styles are built
    from noisy descriptors, not the true exposures)."""
    names = list(model.factor_names)
    ex = model.exposures
    out: dict[str, float] = {}
    for j, n in enumerate(names):
        if n in truth.factor_names and (n == "market" or n in ex.industry_names):
            est = model.factor_returns[:, j]
            tru = truth.factor_returns[:, list(truth.factor_names).index(n)]
            ok = np.isfinite(est) & np.isfinite(tru)
            if ok.sum() > 2:
                out[n] = float(np.corrcoef(est[ok], tru[ok])[0, 1])
    return out
