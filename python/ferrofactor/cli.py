"""The ``ferrofactor`` command.

``ferrofactor demo`` runs the whole pipeline on the built-in synthetic universe, whose true factor
returns are known: descriptors → exposures → factor model (batched cross-sectional regressions,
Fama-MacBeth summary) → risk model → portfolio risk and a bias test, printing what each stage
found and how long it took.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np


def _stage(name: str, t0: float) -> float:
    t1 = time.perf_counter()
    print(f"  [{t1 - t0:6.2f} s] {name}")
    return t1


def demo(n_assets: int = 1000, n_days: int = 1008, seed: int = 0, threads: int = 0) -> int:
    """Run the end-to-end pipeline on a synthetic universe; returns a process exit code."""
    import ferrofactor as ff

    if threads:
        ff.set_num_threads(threads)
    print(
        f"ferrofactor {ff.__version__} demo: {n_assets} assets × {n_days} days, seed {seed}, "
        f"{ff.get_num_threads()} threads"
    )
    t = time.perf_counter()
    panel = ff.datasets.synthetic_universe(n_assets=n_assets, n_days=n_days, seed=seed)
    truth = panel.truth
    t = _stage("synthetic universe (prices, fundamentals, industries, known truth)", t)

    exposures = ff.Exposures.from_panel(panel)
    t = _stage(f"descriptors → exposures: {exposures!r}", t)

    # sqrt-cap weights, cap-weighted industry constraint, exposures lagged one date
    result = ff.FactorModel().fit(panel, exposures)
    t = _stage("factor model: one weighted regression per date", t)
    print()
    print(result.summary())
    print()

    # The market and industry factors are defined as in the simulation, so they can be compared
    # with the truth directly (the styles here are built from noisy descriptors, not the truth).
    names = list(result.factor_names)
    print("Correlation of estimated with true factor returns (market and industries):")
    for j, name in enumerate(names):
        if name in truth.factor_names and (name == "market" or name in exposures.industry_names):
            est = result.factor_returns[:, j]
            tru = truth.factor_returns[:, list(truth.factor_names).index(name)]
            ok = np.isfinite(est) & np.isfinite(tru)
            print(f"  {name:<28s} {np.corrcoef(est[ok], tru[ok])[0, 1]:6.3f}")
    est = result.estimated
    print(f"  mean R² {np.nanmean(result.r2[est]):.3f}, mean observations per estimated date "
          f"{np.mean(result.n_obs[est]):.0f}")
    print()

    t = time.perf_counter()
    # Volatility regime adjustment on (USE4 practice): the synthetic market has GARCH regimes.
    risk = ff.RiskModel.from_factor_model(result, vra_half_life=42)
    t = _stage("risk model: factor covariance (EWMA + Newey-West, regime-adjusted), specific risk", t)

    # Risk of an equal-weighted and a cap-weighted portfolio on the last date but one, and the
    # bias statistic of 200 random long-only portfolios over the second half of the sample.
    last = n_days - 2
    cap = panel["market_cap"][last]
    covered = np.isfinite(risk.specific_variance[last]) & np.isfinite(cap)
    eq = np.where(covered, 1.0, 0.0)
    eq /= eq.sum()
    cw = np.where(covered, np.nan_to_num(cap), 0.0)
    cw /= cw.sum()
    vols = risk.portfolio_risk(np.vstack([eq, cw]), date=last, annualize=True)
    print(f"  forecast volatility (annualised) on {risk.dates[last]}: equal-weighted {vols[0]:.1%}, "
          f"cap-weighted {vols[1]:.1%}")

    rng = np.random.default_rng(seed)
    P = 200
    portfolios = rng.random((P, n_assets))
    test = ff.evaluate.bias_test(risk, panel, portfolios, dates=np.arange(n_days // 2, n_days - 1))
    b = test.bias
    t = _stage("bias test of random portfolios", t)
    print(f"  bias statistic of {P} random portfolios over {len(test.dates)} days: median "
          f"{np.nanmedian(b.bias):.3f}, {b.share_inside:.0%} inside the band "
          f"[{np.median(b.lower):.3f}, {np.median(b.upper):.3f}]")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ferrofactor", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="run the pipeline end to end on a synthetic universe")
    d.add_argument("--assets", type=int, default=1000, help="number of assets (default 1000)")
    d.add_argument("--days", type=int, default=1008, help="number of trading days (default 1008)")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    d.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args.assets, args.days, args.seed, args.threads)
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
