"""Seed 002 end to end: cross-sectional 12-1 momentum, long the top decile and short the bottom.

The strategy of seed 002 ("Factor Based Strategies on Blueshift"), on ferrofactor's synthetic
universe:

1. Universe: assets whose average daily dollar volume over the last 252 days exceeds 10 million
   (the seed's ``min_volume``), known at the close of the rebalance date.
2. Signal: 12-1 momentum, the compounded return from 252 to 21 trading days ago
   (``ff.descriptors.momentum`` of the returns with suspensions bridged, so that it is the seed's
   close-to-close ``end_price / start_price - 1``).
3. On the first trading day of each month: rank the eligible assets (those that can trade that
   day) by momentum; with ``M`` of them, ``n = floor(0.1 · M)``: long the top ``n`` at ``0.5/n``
   each and short the bottom ``n`` at ``−0.5/n`` each (``ff.strategies.TopN``); everything else
   is sold.
4. Costs of 5 bps per unit traded; suspended assets are held, not traded; delisted assets are paid
   out at their last price. Returns come from the close with suspensions bridged
   (``prices="close"``).

Timeline: the book trades at the close of the rebalance date to targets computed from data up to
that close; what it holds earns the next day's return onwards.

Run::

    python examples/seed002_momentum.py                 # 1000 assets, 5 years
    python examples/seed002_momentum.py --assets 3000 --days 2520

It prints the result summary, the monitoring alerts and the cumulative-return series (monthly),
and with ``--plot out.png`` saves the value path (needs matplotlib).
"""

from __future__ import annotations

import argparse

import numpy as np
import polars as pl

import ferrofactor as ff

LOOKBACK = 252  # 12 months of 21 days
SKIP = 21  # the most recent month is skipped (12-1)
MIN_DOLLAR_VOLUME = 1e7  # the seed's volume filter
PERCENTILE = 0.1  # top and bottom 10 %
COST_BPS = 5.0


def seed002_strategy(panel: ff.Panel, *, lookback: int = LOOKBACK, skip: int = SKIP,
                     min_dollar_volume: float = MIN_DOLLAR_VOLUME, percentile: float = PERCENTILE):
    """The seed's long-short momentum book as a built-in strategy (targets at each rebalance)."""
    # close to close across suspensions (seed 002's end_price / start_price - 1)
    bridged = ff.returns_from_prices(panel["close"], bridge=True)
    momentum = ff.descriptors.momentum(bridged, lookback, skip)
    adv = ff.rolling_mean(panel["dollar_volume"], lookback, min_periods=int(np.ceil(0.8 * lookback)))
    liquid = np.nan_to_num(adv, nan=0.0) > min_dollar_volume
    return ff.strategies.TopN(momentum, fraction=percentile, long_short=True, universe=liquid,
                              name="momentum_12_1")


def run(panel: ff.Panel, *, cost_bps: float = COST_BPS, **settings) -> ff.BacktestResult:
    """Backtest seed 002's strategy on ``panel`` (needs ``close``, ``returns``, ``dollar_volume``)."""
    return ff.backtest(panel, seed002_strategy(panel, **settings), rebalance="monthly",
                       cost_bps=cost_bps, prices="close")


def main(argv: list[str] | None = None) -> ff.BacktestResult:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assets", type=int, default=1000)
    p.add_argument("--days", type=int, default=1260)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", default=None, help="save the value path to this PNG file")
    args = p.parse_args(argv)

    panel = ff.datasets.synthetic_universe(n_assets=args.assets, n_days=args.days, seed=args.seed)
    res = run(panel)
    print(res.summary())
    alerts = res.alerts()
    print(f"\n{alerts.height} alerts; by kind:")
    print(alerts.group_by("kind").len().sort("kind"))
    frame = res.to_polars().select("date", (pl.col("value") / res.initial_value - 1).alias("cumulative_return"))
    monthly = (frame.group_by_dynamic("date", every="1mo")
               .agg(pl.col("date").last().alias("month_end"), pl.col("cumulative_return").last())
               .drop("date"))
    print("\nCumulative net return at each month end (last 12):")
    with pl.Config(tbl_rows=12):  # all 12 (Polars shows 10 of them by default)
        print(monthly.tail(12))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        res.plot().savefig(args.plot, dpi=120, bbox_inches="tight")
        print(f"saved {args.plot}")
    return res


if __name__ == "__main__":
    main()
