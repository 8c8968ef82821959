"""The configuration of ``ferrofactor run``: a TOML file, its schema, defaults and validation.

Every setting is declared once, in :data:`SCHEMA`, with its type, default, allowed range and a
sentence of documentation. From that one declaration come:

- validation (:func:`load_config`): unknown keys (with the closest known key suggested, or the
  section a key of another section belongs to), wrong types, values out of range, missing files
  and missing columns are all reported together, each
  message starting with the dotted key it is about (``model.lag: ...``), *before* any work
  starts; nothing is written when the configuration is bad. The files and their columns are
  checked whenever the ``[data]`` settings themselves have valid values (whatever the errors of
  other sections); checks across settings (``data.start`` after ``data.end``, a signal weight
  of an unknown style) run once every value is valid;
- the documented reference (:func:`reference_toml`, printed by ``ferrofactor config``), of which
  ``examples/config.toml`` is an instance (a test keeps them in sync).

Paths in the file (sources, an SQLite URI, ``report.out``) are relative to the directory of the
configuration file. TOML has no null: an optional setting is *left out* to keep its default
(``none`` in the documentation), and an optional column name is switched off with ``""``.
"""

from __future__ import annotations

import datetime
import difflib
import glob as _glob
import os
import sqlite3
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferrofactor._threads import MAX_THREADS

__all__ = ["SCHEMA", "Config", "ConfigError", "Setting", "default_config", "example_toml", "load_config",
           "reference_toml", "validate"]


class ConfigError(ValueError):
    """A configuration that cannot run. ``errors`` lists every problem found, each starting with
    the dotted key it is about."""

    def __init__(self, errors: Sequence[str], path: str | None = None) -> None:
        self.errors = list(errors)
        self.path = path
        where = f"{path}: " if path else ""
        super().__init__(where + "invalid configuration:\n" + "\n".join(f"  - {e}" for e in self.errors))


_REQUIRED = object()


@dataclass(frozen=True)
class Setting:
    """One setting: its type, default, bounds, choices and documentation.

    ``kind``: ``"int"``, ``"float"``, ``"bool"``, ``"str"``, ``"date"`` (ISO ``YYYY-MM-DD``),
    ``"str_list"``, ``"int_list"``, ``"int_pair"``, ``"float_table"`` (name → number),
    ``"styles"`` (style → {descriptor: weight}).

    ``unset``: what the setting left unset (None) means, in words (``"off (no volatility-regime
    adjustment)"``): the report shows it instead of a value (:func:`setting_text`).
    """

    kind: str
    default: Any
    doc: str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple[Any, ...] | None = None
    optional: bool = False  # may be left out (default None), or "" for column names
    example: Any = None  # shown (commented) in the reference when the default is None
    unset: str = ""  # what the setting left unset (None) means, in words: the report shows it

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


def _descriptor_inputs() -> dict[str, tuple[str, ...]]:
    """Descriptor → the panel fields it needs (the data columns that provide them)."""
    return {
        "book_to_market": ("book_value",), "earnings_yield": ("earnings",),
        "cash_flow_yield": ("operating_cash_flow",), "momentum_12_1": (), "momentum_6_1": (),
        "momentum_3_1": (), "roe": ("net_income", "book_value"),
        "profit_margin": ("net_income", "revenue"), "asset_turnover": ("revenue", "total_assets"),
        "leverage": ("total_liabilities", "total_assets"), "volatility": (), "beta": (),
        "residual_volatility": (), "max_drawdown": (), "log_market_cap": (),
        "log_dollar_volume": ("dollar_volume",), "log_turnover": ("dollar_volume",),
    }


DESCRIPTOR_INPUTS = _descriptor_inputs()


def _default_styles() -> dict[str, dict[str, float]]:
    from ferrofactor.exposures import DEFAULT_STYLES

    return {k: dict(v) for k, v in DEFAULT_STYLES.items()}


def _default_signal_weights() -> dict[str, float]:
    from ferrofactor.signals import DEFAULT_STYLE_WEIGHTS

    return dict(DEFAULT_STYLE_WEIGHTS)


#: section → {key: Setting}. The order here is the order of the reference documentation.
SCHEMA: dict[str, dict[str, Setting]] = {
    "": {
        "threads": Setting("int", 0, "Threads of the Rust kernels (0: all cores; RAYON_NUM_THREADS "
                           "also works; at most max(64, 4 × cores)). Results do not depend on it.", lo=0,
                           hi=MAX_THREADS),
    },
    "data": {
        "prices": Setting("str", _REQUIRED, "Prices: long rows (date, asset, close, shares, volume, ...). "
                          "A path or glob of Parquet/CSV/IPC files, a directory of them (every file of its "
                          "format below it, Parquet unless `format` or its extension says otherwise), or an SQL "
                          "query when `connection` is set.", example="prices.parquet",
                          unset="none (no data files: the synthetic universe of `ferrofactor demo`)"),
        "fundamentals": Setting("str", None, "Point-in-time fundamentals: rows (asset, report_date, "
                                "values...), a path/glob or query. Default: none (styles that need "
                                "fundamentals then fail validation).", optional=True,
                                example="fundamentals.parquet", unset="none (no fundamentals)"),
        "classifications": Setting("str", None, "Industry classifications: rows (asset, date, industry), "
                                   "a path/glob or query. Default: none (a model without industries).",
                                   optional=True, example="classifications.parquet",
                                   unset="none (no industries)"),
        "delistings": Setting("str", None, "Delisting dates, point in time: rows (asset, delisting_date, "
                              "optionally delisting_return), one per delisted asset, a path/glob or query. The "
                              "date is the first date the asset no longer trades (the date after its last "
                              "price; a date between trading dates means the next one): the backtest pays the "
                              "position out there, at its last value times 1 + the delisting return, and "
                              "holds an asset whose prices stop without a row as suspended. Assets that are "
                              "not in the prices are ignored (the load stage counts them); a file none of whose "
                              "assets is in the prices is refused. Default: none (the "
                              "delisting is inferred as the first date after an asset's last price in all the "
                              "data, which reads later data).", optional=True, example="delistings.parquet",
                              unset="inferred: the first date after an asset's last price (reads later data)"),
        "connection": Setting("str", None, "A database URI; every source is then an SQL query. "
                              "`sqlite:///relative/path.db` (relative to this file) works with nothing "
                              "extra; other URIs need connectorx. Default: none (sources are files).",
                              optional=True, example="sqlite:///universe.db", unset="none (sources are files)"),
        "format": Setting("str", None, "File format when the extension does not tell. Default: from the "
                          "extension.", optional=True, choices=("parquet", "csv", "ipc"), example="parquet",
                          unset="from the file extension"),
        "date_format": Setting("str", None, "strftime format of text or integer dates (e.g. '%Y%m%d'). "
                               "Default: none (Date columns and ISO text only; dates are never guessed).",
                               optional=True, example="%Y-%m-%d",
                               unset="none (Date columns and ISO text only)"),
        "null_values": Setting("str_list", None, "CSV cells read as missing besides empty ones (e.g. [\"NA\"] "
                               "as R's write.csv writes them), in every column of every CSV source: prices, "
                               "fundamentals, classifications, delistings. CSV files only: Parquet, IPC and "
                               "SQL sources keep their own nulls. Default: none (only empty cells are missing).",
                               optional=True, example=["NA"], unset="none (only empty CSV cells are missing)"),
        "date": Setting("str", "date", "Date column of the prices."),
        "asset": Setting("str", "asset", "Asset-id column of every source."),
        "close": Setting("str", "close", "Close price column (market_cap = close × shares)."),
        "adjusted_close": Setting("str", None, "Adjusted close for returns. Default: none (close is "
                                  "already adjusted).", optional=True, example="adj_close",
                                  unset="none (close is already adjusted)"),
        "shares": Setting("str", "shares", "Shares outstanding column (market_cap = close × shares), "
                          "\"\" for none (then the prices need a market_cap column).", optional=True,
                          unset="none (market caps from the market_cap column)"),
        "volume": Setting("str", "volume", "Traded volume column (dollar_volume = close × volume), "
                          "\"\" for none.", optional=True, unset="none (no dollar volume)"),
        "price_fields": Setting("str_list", None, "Price columns to keep. Default: every numeric column.",
                                optional=True, example=["close", "shares", "volume"],
                                unset="every numeric column"),
        "report_date": Setting("str", "report_date", "Report (publication) date column of the fundamentals."),
        "report_lag_days": Setting("int", 1, "Calendar days from a report's date to its use.", lo=0, hi=100_000),
        "max_staleness": Setting("int", 365, "Calendar days a report stays visible after it became "
                                 "available.", lo=0, hi=1_000_000),
        "fundamental_fields": Setting("str_list", None, "Value columns of the fundamentals. Default: every "
                                      "numeric column other than the asset and report date.", optional=True,
                                      example=["book_value", "earnings"], unset="every numeric column"),
        "industry": Setting("str", "industry", "Industry label column of the classifications."),
        "classification_date": Setting("str", "date", "Effective-date column of the classifications."),
        "classification_lag_days": Setting("int", 0, "Calendar days from a classification row's date to "
                                           "its use.", lo=0, hi=100_000),
        "delisting_date": Setting("str", "delisting_date", "Delisting-date column of the delistings (the first "
                                  "date without a price)."),
        "delisting_return": Setting("str", None, "Delisting-return column of the delistings (e.g. -0.3: paid "
                                    "out at 70 % of the last value; null or NaN = 0). Default: none (delisted assets "
                                    "are paid out at their last value).", optional=True,
                                    example="delisting_return",
                                    unset="none (paid out at the last value: a delisting return of 0)"),
        "start": Setting("date", None, "First date of the study (YYYY-MM-DD). The prices and "
                         "fundamentals before it still feed the look-back windows of the descriptors (12-1 "
                         "momentum, volatility, beta), as they were known on that date. Default: the first "
                         "date of the prices.", optional=True, example="2016-01-04",
                         unset="the first date of the prices"),
        "end": Setting("date", None, "Last date of the study. Default: the last date of the prices.",
                       optional=True, example="2024-12-31", unset="the last date of the prices"),
    },
    "exposures": {
        "styles": Setting("styles", _default_styles, "Styles as {style = {descriptor = weight}} "
                          "(descriptors: " + ", ".join(DESCRIPTOR_INPUTS) + "). The styles written are "
                          "all the styles: writing one (styles.value = ...) leaves out every default style "
                          "not written too, so to change one of them write all four. Default: value, "
                          "momentum, quality, low_vol as in ferrofactor.exposures.DEFAULT_STYLES."),
        "winsorize": Setting("str", "sigma", "Winsorisation of descriptors and styles (\"none\": off).",
                             choices=("sigma", "quantile", "mad", "none")),
        "winsorize_limit": Setting("float", 3.0, "Limit of the winsorisation (sigmas, MADs or a quantile "
                                   "in (0, 0.5)).", lo=0.0, lo_open=True),
        "fill": Setting("str", "industry_mean", "Fill of missing exposures in the universe (\"none\": "
                        "left missing).", choices=("industry_mean", "zero", "none")),
        "industries": Setting("bool", True, "Industry factors from the classifications (false: none)."),
        "window": Setting("int", 252, "Window (dates) of volatility, beta, residual volatility, drawdown.",
                          lo=2, hi=100_000),
        "beta_half_life": Setting("float", 63.0, "Half-life (dates) of the beta regression weights.",
                                  lo=0.0, lo_open=True),
        "liquidity_window": Setting("int", 21, "Window (dates) of the liquidity descriptors.", lo=1, hi=100_000),
        "min_fraction": Setting("float", 0.8, "Share of a rolling window that must be finite.",
                                lo=0.0, lo_open=True, hi=1.0),
    },
    "model": {
        "lag": Setting("int", 1, "Dates between the exposures and the returns they explain.", lo=0, hi=100_000),
        "weights": Setting("str", "sqrt_cap", "Regression weights.", choices=("sqrt_cap", "equal")),
        "industry_constraint": Setting("str", "cap", "Industry factor returns sum to zero, cap- or "
                                       "equal-weighted.", choices=("cap", "equal")),
        "market": Setting("bool", True, "A market factor (intercept)."),
        "winsorize_returns": Setting("float", None, "Clip returns beyond this robust z-score for the fit. "
                                     "Default: none.", optional=True, lo=0.0, lo_open=True, example=10.0,
                                     unset="off (returns not clipped)"),
        "fama_macbeth_cov": Setting("str", "kernel", "Standard errors of the Fama-MacBeth table: "
                                    "Newey-West (\"kernel\") or plain.", choices=("kernel", "unadjusted")),
    },
    "risk": {
        "vol_half_life": Setting("float", 84.0, "Half-life (dates) of factor volatilities.", lo=0.0, lo_open=True),
        "corr_half_life": Setting("float", 504.0, "Half-life (dates) of factor correlations.", lo=0.0, lo_open=True),
        "newey_west_lags": Setting("int_pair", [5, 2], "Newey-West lags of volatilities and correlations.",
                                   lo=0, hi=10_000),
        "specific_half_life": Setting("float", 84.0, "Half-life (dates) of specific variances.", lo=0.0, lo_open=True),
        "specific_newey_west_lags": Setting("int", 0, "Newey-West lags of specific variances.", lo=0, hi=10_000),
        "shrinkage": Setting("float", 0.1, "Shrinkage of specific volatility toward its cap-group mean.", lo=0.0),
        "n_cap_groups": Setting("int", 10, "Cap groups of the shrinkage target.", lo=1, hi=10_000),
        "min_periods": Setting("int", 21, "Factor returns needed before a factor gets a covariance.", lo=1,
                               hi=1_000_000),
        "specific_min_periods": Setting("int", 63, "Residuals needed before an asset's own specific "
                                        "variance is used (else the structural model).", lo=1, hi=1_000_000),
        "specific_blend_periods": Setting("int", 120, "Length of the history blend toward the structural "
                                          "model.", lo=0, hi=1_000_000),
        "vra_half_life": Setting("float", None, "Half-life of the volatility-regime adjustment. Default: "
                                 "none (off).", optional=True, lo=0.0, lo_open=True, example=42.0,
                                 unset="off (no volatility-regime adjustment)"),
        "structural_ridge": Setting("float", 1e-4, "Ridge of the structural specific-risk regression.",
                                    lo=1e-10),
    },
    "validation": {
        "portfolios": Setting("int", 100, "Random long-only portfolios in the bias test (0: no bias test).",
                              lo=0, hi=100_000),
        "seed": Setting("int", 0, "Seed of the random portfolios.", lo=0, hi=2**63 - 1),
        "burn_in": Setting("int", 252, "Forecast dates skipped at the start of the tests (the model "
                           "needs history); half the sample when the sample is shorter.", lo=0, hi=1_000_000),
        "every": Setting("int", 1, "Test every n-th forecast date.", lo=1, hi=1_000_000),
        "window": Setting("int", 63, "Window (dates) of the rolling bias statistic in the plots.", lo=2,
                          hi=100_000),
        "minimum_variance": Setting("bool", True, "Run the minimum-variance test."),
    },
    "signal": {
        "weights": Setting("float_table", _default_signal_weights, "The composite signal Σ weight × style "
                           "(styles of [exposures]). Default: equal weights on the styles of [exposures] "
                           "(0.25 each of value, momentum, quality, low_vol with the default styles)."),
        "evaluate": Setting("bool", True, "Evaluate the signal against the returns that follow it "
                            "(ferrofactor.evaluate.evaluate): information coefficient with Newey-West "
                            "inference, mean forward return by quantile, turnover and IC decay."),
        "horizons": Setting("int_list", [1, 5, 21], "Forward-return horizons (dates) of the evaluation: "
                            "distinct, at least one.", lo=1, hi=100_000),
        "quantiles": Setting("int", 5, "Quantiles of the evaluation's mean forward returns.", lo=2, hi=1_000),
        "residual": Setting("bool", True, "Also evaluate the signal on the factor model's residual "
                            "(specific) returns: what the factors do not already explain."),
    },
    "portfolio": {
        "date": Setting("date", None, "Date of the portfolios (YYYY-MM-DD, a date of the study). Default: "
                        "the last date.", optional=True, example="2024-12-31", unset="the last date"),
        "percentile": Setting("float", 0.1, "Long-short quantile portfolio: the top and bottom percentile "
                              "of the signal (+0.5/n, −0.5/n).", lo=0.0, lo_open=True, hi=0.5),
        "optimize": Setting("bool", True, "An optimised long-only portfolio (needs cvxpy: the `optimize` "
                            "extra; skipped with a note without it)."),
        "ic": Setting("float", 0.05, "Information coefficient of the alpha forecast "
                      "alpha = ic × specific volatility × signal (Grinold's rule).", lo=0.0),
        "risk_aversion": Setting("float", 10.0, "Risk aversion λ of the optimiser (per-date variance).", lo=0.0),
        "max_weight": Setting("float", 0.02, "Largest weight of an asset in the optimised portfolio.",
                              lo=0.0, lo_open=True, hi=1.0),
        "cost_bps": Setting("float", 5.0, "Linear transaction cost (bps of the trade) in the optimiser. The "
                            "portfolio is built from cash (no holdings at portfolio.date), so for a fully "
                            "invested long-only book the cost is the same for every solution: it enters the "
                            "objective and the reported cost, not the weights (backtest.cost_bps prices the "
                            "trades of the backtest).", lo=0.0),
    },
    "backtest": {
        "enabled": Setting("bool", True, "Backtest the signal with costs (ferrofactor.backtest_many): the "
                           "cap-weighted market (every asset with a signal), the top portfolio.percentile of the "
                           "signal long-only and the long-short quantile book (+0.5/n, −0.5/n); the long-short "
                           "book's returns attributed to the factors (ferrofactor.attribute); monitoring alerts."),
        "rebalance": Setting("str", "monthly", "When the books trade (at the close of the first trading date of "
                             "each week or month, or every date).", choices=("daily", "weekly", "monthly")),
        "cost_bps": Setting("float", 5.0, "Transaction cost (bps of the traded value, on buys and sells).",
                            lo=0.0, hi=9_999.0),
    },
    "report": {
        "title": Setting("str", "ferrofactor report", "Title of the HTML report."),
        "out": Setting("str", "ferrofactor-report", "Output directory (relative to this file); --out "
                       "overrides it."),
        "plots": Setting("bool", True, "Draw the plots (needs matplotlib: the `plot` extra; skipped with "
                         "a note without it)."),
        "image_format": Setting("str", "svg", "Format of the plots embedded in the HTML.", choices=("svg", "png")),
        "parquet": Setting("bool", True, "Write the Parquet outputs beside the report."),
    },
}


# ---------------------------------------------------------------------------------------------
# The validated configuration
# ---------------------------------------------------------------------------------------------


@dataclass
class Config:
    """A validated configuration: ``values[section][key]`` (defaults filled in), where it came
    from (``path``, ``base`` = its directory) and which keys the user set."""

    values: dict[str, dict[str, Any]]
    path: str | None = None
    base: str = "."
    given: set[str] = field(default_factory=set)

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.values[section]

    def resolve(self, p: str) -> str:
        """A path of the file, relative to its directory."""
        if not isinstance(p, (str, os.PathLike)):
            raise TypeError(f"p must be a path, got {p!r}")
        p = os.fspath(p)
        return p if os.path.isabs(p) else os.path.normpath(os.path.join(self.base, p))

    def to_toml(self) -> str:
        """The full configuration (defaults included) as TOML text, for the report: read back,
        it is the same configuration. A setting left unset (TOML has no null) is a comment saying
        what that means, e.g. ``# vra_half_life (not set): off (no volatility-regime
        adjustment)``; a column switched off with ``""`` whose default is a column (``data.shares``,
        ``data.volume``) is written ``shares = ""`` with that comment beside it (left out, it
        would be the default column again)."""

        def unset(section: str, k: str) -> str:
            s = SCHEMA[section][k]
            if s.default is not None and s.kind == "str":
                return f'{k} = ""  # {setting_text(section, k, None)}'
            return f"# {k} (not set): {setting_text(section, k, None)}"

        lines: list[str] = []
        for section, settings in SCHEMA.items():
            vals = self.values[section]
            body = [f"{k} = {_toml_value(vals[k])}" if vals.get(k) is not None else unset(section, k)
                    for k in settings if settings[k].kind != "styles" and settings[k].kind != "float_table"]
            tables = [(k, vals[k]) for k in settings if settings[k].kind in ("styles", "float_table")]
            if section:
                lines.append(f"[{section}]")
            lines.extend(body)
            for k, v in tables:
                if settings[k].kind == "styles":
                    for style, spec in v.items():
                        lines.append(f"[{section}.{k}.{_toml_key(style)}]")
                        lines.extend(f"{_toml_key(d)} = {_toml_value(w)}" for d, w in spec.items())
                else:
                    lines.append(f"[{section}.{k}]")
                    lines.extend(f"{_toml_key(d)} = {_toml_value(w)}" for d, w in v.items())
            lines.append("")
        return "\n".join(lines)


def setting_text(section: str, key: str, value: Any) -> str:
    """A setting's value in words for a reader (the report's setting tables): a value as it is
    written in the configuration (``true``, ``[5, 2]``, ``84.0``; a string unquoted), an unset
    one (None) as what that means (:attr:`Setting.unset`, e.g. ``"off (no volatility-regime
    adjustment)"``), never ``None`` or a Python repr."""
    if value is None:
        s = SCHEMA.get(section, {}).get(key)
        return s.unset if s is not None and s.unset else "not set"
    if isinstance(value, str):
        return value
    if isinstance(value, tuple):
        value = list(value)
    return _toml_value(value)


def _toml_key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else _toml_value(k)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float):
        return repr(v) if v == v and abs(v) != float("inf") else ("nan" if v != v else ("inf" if v > 0 else "-inf"))
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    return str(v)


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _close(key: str, candidates: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _suggest(key: str, candidates: Sequence[str]) -> str:
    """The closest candidate, or the list of candidates when none is close."""
    return _close(key, candidates) or f"; known: {', '.join(sorted(candidates))}"


def _elsewhere(key: str, section: str) -> str:
    """``"; threads is a top-level setting ..."`` when ``key``, unknown in ``section``, is a
    setting of another section (e.g. ``threads = 2`` written below ``[data]``: TOML puts every
    key after a ``[section]`` line into that section), else ``""``."""
    homes = [s for s, settings in SCHEMA.items() if s != section and key in settings]
    if not homes:
        return ""
    where = " and of ".join("the top level (write it above the first [section] line)" if s == "" else f"[{s}]"
                            for s in homes)
    return f"; {key} is a setting of {where}"


def _type_name(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
            dict: "a table"}.get(type(v), type(v).__name__)


def _check_number(key: str, s: Setting, v: Any, errors: list[str]) -> Any:
    if s.kind == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            errors.append(f"{key}: expected an integer, got {_type_name(v)} ({v!r})")
            return None
    else:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            errors.append(f"{key}: expected a number, got {_type_name(v)} ({v!r})")
            return None
        v = float(v)
        if v != v or v in (float("inf"), float("-inf")):
            errors.append(f"{key}: must be finite, got {v!r}")
            return None
    if s.lo is not None and (v < s.lo or (s.lo_open and v == s.lo)):
        errors.append(f"{key}: must be {'>' if s.lo_open else '>='} {s.lo:g}, got {v!r}")
        return None
    if s.hi is not None and v > s.hi:
        errors.append(f"{key}: must be <= {s.hi:g}, got {v!r}")
        return None
    return v


def _check_value(key: str, s: Setting, v: Any, errors: list[str]) -> Any:
    """The value converted and checked, or None after appending an error."""
    k = s.kind
    if k in ("int", "float"):
        return _check_number(key, s, v, errors)
    if k == "bool":
        if not isinstance(v, bool):
            errors.append(f"{key}: expected true or false, got {_type_name(v)} ({v!r})")
            return None
        return v
    if k == "date" and isinstance(v, (datetime.date, datetime.time)):
        # TOML's own dates: a local date is the date; a date-time at midnight (its wall time) is
        # its date; any other time of day is refused, never cut to its day (the library's rule)
        if isinstance(v, datetime.datetime):
            if v.time() != datetime.time(0):
                errors.append(f"{key}: expected a date, got the date-time {v.isoformat()}: a time of day "
                              f"other than midnight is never cut to its day; write the date "
                              f"({v.date().isoformat()}) if that day is meant")
                return None
            return v.date().isoformat()
        if isinstance(v, datetime.time):
            errors.append(f"{key}: expected a date YYYY-MM-DD, got the time of day {v.isoformat()}")
            return None
        return v.isoformat()
    if k in ("str", "date"):
        if not isinstance(v, str):
            hint = " (a date is written 2020-01-31 or \"2020-01-31\")" if k == "date" else ""
            errors.append(f"{key}: expected a string, got {_type_name(v)} ({v!r}){hint}")
            return None
        if k == "date":
            import numpy as np

            try:
                d = np.datetime64(v, "D")
                if np.isnat(d) or len(v) != 10:
                    raise ValueError
            except ValueError:
                errors.append(f"{key}: expected a date YYYY-MM-DD, got {v!r}")
                return None
            return str(d)
        if s.choices is not None and v not in s.choices:
            errors.append(f"{key}: must be one of {list(s.choices)}, got {v!r}"
                          + _close(v, [str(c) for c in s.choices]))
            return None
        return v
    if k in ("str_list", "int_list", "int_pair"):
        if not isinstance(v, list):
            errors.append(f"{key}: expected an array, got {_type_name(v)} ({v!r})")
            return None
        if k == "str_list":
            bad = [x for x in v if not isinstance(x, str)]
            if bad:
                errors.append(f"{key}: expected an array of strings, got {bad[0]!r}")
                return None
            return list(v)
        if k == "int_pair" and len(v) != 2:
            errors.append(f"{key}: expected an array of two integers, got {len(v)} items")
            return None
        out = []
        for i, x in enumerate(v):
            y = _check_number(f"{key}[{i}]", Setting("int", 0, "", lo=s.lo, hi=s.hi), x, errors)
            if y is None:
                return None
            out.append(y)
        return out
    if k == "float_table":
        if not isinstance(v, dict):
            errors.append(f"{key}: expected a table of name = number, got {_type_name(v)} ({v!r})")
            return None
        out = {}
        for name, x in v.items():
            y = _check_number(f"{key}.{name}", Setting("float", 0.0, ""), x, errors)
            if y is None:
                return None
            out[name] = y
        if not out:
            errors.append(f"{key}: must name at least one style")
            return None
        if all(y == 0 for y in out.values()):
            errors.append(f"{key}: every weight is 0, so the signal would be 0 everywhere (its books chosen "
                          "by how ties break); give at least one style a non-zero weight")
            return None
        return out
    if k == "styles":
        if not isinstance(v, dict) or not v:
            errors.append(f"{key}: expected a table of style = {{descriptor = weight}}, got {v!r}")
            return None
        out: dict[str, dict[str, float]] = {}
        ok = True
        for style, spec in v.items():
            if not isinstance(spec, dict) or not spec:
                errors.append(f"{key}.{style}: expected a table of descriptor = weight, got {spec!r}")
                ok = False
                continue
            row = {}
            for d, w in spec.items():
                if d not in DESCRIPTOR_INPUTS:
                    errors.append(f"{key}.{style}.{d}: unknown descriptor" + _suggest(d, list(DESCRIPTOR_INPUTS)))
                    ok = False
                    continue
                y = _check_number(f"{key}.{style}.{d}", Setting("float", 0.0, ""), w, errors)
                if y is None:
                    ok = False
                    continue
                if y == 0:
                    errors.append(f"{key}.{style}.{d}: a weight must not be 0")
                    ok = False
                    continue
                row[d] = y
            out[style] = row
        return out if ok else None
    raise AssertionError(k)  # pragma: no cover - a kind without a check


def _default(s: Setting) -> Any:
    d = s.default
    return d() if callable(d) else (list(d) if isinstance(d, list) else d)


def validate(raw: Mapping[str, Any], *, path: str | None = None, base: str = ".",
             check_data: bool = True, require_data: bool = True) -> Config:
    """Check a parsed configuration against :data:`SCHEMA` and the data it names.

    Parameters
    ----------
    raw : mapping
        The parsed TOML.
    path, base : str
        The file (for messages) and the directory its relative paths start from.
    check_data : bool, default True
        Check that the files exist and have the columns the settings name (reads file schemas
        only, no data; SQLite queries are prepared with ``LIMIT 0``).
    require_data : bool, default True
        ``data.prices`` is required (``ferrofactor run``); the demo passes False.

    Raises
    ------
    ConfigError
        Every problem found, each message starting with its dotted key.
    """
    from ferrofactor._validate import check_bool

    if not isinstance(raw, Mapping):
        raise TypeError(f"raw must be a mapping (the parsed TOML), got {type(raw).__name__}")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path or None, got {path!r}")
    if not isinstance(base, (str, os.PathLike)):
        raise TypeError(f"base must be a directory path, got {base!r}")
    check_data, require_data = check_bool("check_data", check_data), check_bool("require_data", require_data)
    errors: list[str] = []
    values: dict[str, dict[str, Any]] = {sec: {} for sec in SCHEMA}
    given: set[str] = set()
    data_ok = True  # every setting of [data] that is given has a valid value
    sections = [s for s in SCHEMA if s]
    for key, v in raw.items():
        if key in SCHEMA[""]:
            continue
        if key not in SCHEMA:
            hint = "" if isinstance(v, dict) else _elsewhere(key, "")
            errors.append(f"{key}: unknown {'section' if isinstance(v, dict) else 'key'}"
                          + (hint or _suggest(key, sections + list(SCHEMA[""]))))
        elif not isinstance(v, dict):
            errors.append(f"{key}: expected a section [{key}], got {_type_name(v)} ({v!r})")
    for section, settings in SCHEMA.items():
        table = raw if section == "" else raw.get(section, {})
        if not isinstance(table, dict):
            table = {}
        prefix = f"{section}." if section else ""
        if section:
            for key in table:
                if key not in settings:
                    errors.append(f"{prefix}{key}: unknown key" + (_elsewhere(key, section)
                                                                     or _suggest(key, list(settings))))
        for key, s in settings.items():
            full = prefix + key
            if key in table:
                given.add(full)
                n_errors = len(errors)
                v = _check_value(full, s, table[key], errors)
                if section == "data" and len(errors) > n_errors:
                    data_ok = False
                if s.optional and v == "" and s.kind == "str":
                    v = None
                values[section][key] = v
            elif s.required and require_data:
                errors.append(f"{full}: required (e.g. {key} = {_toml_value(s.example)})")
                values[section][key] = None
            else:
                values[section][key] = None if s.required else _default(s)
    cfg = Config(values, path=path, base=base, given=given)
    styles = values["exposures"].get("styles")
    if "signal.weights" not in given and isinstance(styles, dict) and styles:
        values["signal"]["weights"] = {s: 1.0 / len(styles) for s in styles}
    if not errors:
        _check_semantics(cfg, errors)
    if data_ok and isinstance(raw.get("data", {}), Mapping) and check_data and cfg["data"]["prices"] is not None:
        # the sources are checked whenever the [data] settings themselves are valid, so that a
        # missing file is reported with the key errors of other sections, not on the next run
        _check_data(cfg, errors)
    if errors:
        raise ConfigError(errors, path)
    return cfg


def _check_semantics(cfg: Config, errors: list[str]) -> None:
    ex, data = cfg["exposures"], cfg["data"]
    if ex["winsorize"] == "quantile" and not ex["winsorize_limit"] < 0.5:
        errors.append(f"exposures.winsorize_limit: must be below 0.5 with winsorize = \"quantile\", got "
                      f"{ex['winsorize_limit']!r}")
    styles = list(ex["styles"])
    if cfg["model"]["market"] and "market" in styles:
        # the factors are the market, the industries and the styles, each by its name
        errors.append("exposures.styles.market: \"market\" is the name of the market factor (model.market = "
                      "true): name the style otherwise")
    for name in cfg["signal"]["weights"]:
        if name not in styles:
            errors.append(f"signal.weights.{name}: not a style of exposures.styles" + _suggest(name, styles))
    hs = cfg["signal"]["horizons"]
    if not hs:
        errors.append("signal.horizons: must name at least one horizon (e.g. horizons = [1, 5, 21])")
    elif len(set(hs)) != len(hs):
        errors.append(f"signal.horizons: must be distinct, got {hs}")
    if data["start"] and data["end"] and data["start"] > data["end"]:
        errors.append(f"data.end: {data['end']} is before data.start {data['start']}")
    pdate = cfg["portfolio"]["date"]
    if pdate is not None:
        # a date of the study: known to be outside it when the study's bounds are set (a date
        # inside them that is not a trading date is refused by the load stage: pipeline.check_portfolio_date)
        if data["start"] and pdate < data["start"]:
            errors.append(f"portfolio.date: {pdate} is before data.start {data['start']}")
        if data["end"] and pdate > data["end"]:
            errors.append(f"portfolio.date: {pdate} is after data.end {data['end']}")
    if data["delisting_return"] is not None and data["delistings"] is None:
        errors.append(f"data.delisting_return: the column {data['delisting_return']!r} is read from data.delistings, "
                      "which is not set")


# ---------------------------------------------------------------------------------------------
# Files and columns
# ---------------------------------------------------------------------------------------------


def _sqlite_path(cfg: Config, uri: str) -> str | None:
    if not uri.startswith("sqlite:///"):
        return None
    from urllib.parse import unquote

    p = unquote(uri[len("sqlite:///"):])
    return cfg.resolve(p)


def _columns(cfg: Config, key: str, source: str, errors: list[str], text: set[str] | None = None) -> list[str] | None:
    """Column names of one source (None when they cannot be known without running it); the
    names of its columns that are neither numeric nor boolean are added to ``text`` when their
    types are known (file sources)."""
    import polars as pl

    data = cfg["data"]
    conn = data["connection"]
    if conn is not None:
        if "://" not in conn:
            errors.append(f"data.connection: {conn!r} is not a database URI ('scheme://...', e.g. "
                          "'sqlite:///universe.db')")
            return None
        path = _sqlite_path(cfg, conn)
        if path is None:
            return None  # another database: columns are checked when the query runs
        if not os.path.exists(path):
            errors.append(f"data.connection: SQLite database {path!r} does not exist")
            return None
        from ferrofactor.io import _sqlite_readonly

        con = _sqlite_readonly(path)
        try:
            cur = con.execute(f"SELECT * FROM ({source}) LIMIT 0")
            return [d[0] for d in cur.description or ()]
        except sqlite3.Error as e:
            errors.append(f"{key}: the query failed on {path!r}: {e}")
            return None
        finally:
            con.close()
    path = cfg.resolve(source)
    if not _glob.glob(path, recursive=True):
        errors.append(f"{key}: no file matches {path!r}")
        return None
    from ferrofactor.io import _FORMATS, _directory_format, _format_for, _read_directory

    if os.path.isdir(path):
        # a directory is one dataset of the files of its format below it (ferrofactor.read_universe's
        # rule: data.format, else its own extension, else Parquet; hive folders never become columns)
        fmt = _directory_format(path, data["format"])
        try:
            schema = _read_directory(path, data["format"], (), data["null_values"]).collect_schema()
        except (FileNotFoundError, ValueError, pl.exceptions.PolarsError) as e:
            errors.append(f"{key}: {e}")
            return None
        _text_columns(schema, text)
        return _printable_names(key, path, fmt, list(schema.names()), errors)
    fmt = _format_for(path, data["format"])  # data.format: where the extension does not tell
    if fmt is None:
        fmt = _FORMATS.get(os.path.splitext(path)[1].lower())
        if fmt is None:
            errors.append(f"{key}: cannot tell the format of {path!r} from its extension; set data.format")
            return None
    try:
        if fmt == "parquet":
            schema = pl.scan_parquet(path).collect_schema()
        elif fmt == "ipc":
            schema = pl.scan_ipc(path).collect_schema()
        else:
            sep = "\t" if path.lower().endswith(".tsv") else ","
            schema = pl.scan_csv(path, separator=sep, null_values=data["null_values"] or None).collect_schema()
    except Exception as e:  # noqa: BLE001 - any reader error is a bad source
        errors.append(f"{key}: cannot read {path!r} as {fmt}: {type(e).__name__}: {e}")
        return None
    _text_columns(schema, text)
    return _printable_names(key, path, fmt, list(schema.names()), errors)


def _text_columns(schema: Any, text: set[str] | None) -> None:
    """Add the columns of ``schema`` the readers never take as fields (neither numeric nor
    boolean) to ``text``."""
    import polars as pl

    if text is not None:
        text.update(n for n, dt in schema.items() if not (dt.is_numeric() or dt == pl.Boolean))


def _printable_names(key: str, path: str, fmt: str, names: list[str], errors: list[str]) -> list[str] | None:
    """``names``, or None (the error listed) when they are not printable."""
    if not all(n.isprintable() for n in names):
        # e.g. a Parquet file read as CSV: its bytes are not column names worth printing
        errors.append(f"{key}: {path!r} read as {fmt} has unreadable column names: is it a {fmt} file? "
                      "(data.format sets the format of the files whose extension does not tell)")
        return None
    return names


def _need(key: str, source_key: str, col: str | None, cols: list[str] | None, errors: list[str]) -> None:
    if col is None or cols is None:
        return
    if col not in cols:
        errors.append(f"{key}: column {col!r} is not in {source_key} (columns: {', '.join(cols)})"
                      + _close(col, cols))


#: source → its key columns (each must be its own column) and, for the prices, the value columns
#: that must not be one of them: the readers select them side by side, so one column named twice
#: failed the load stage with Polars' "duplicate output name" (or read the date as a price)
_ROLES = {"prices": (("date", "asset"), ("close", "adjusted_close", "shares", "volume")),
          "fundamentals": (("asset", "report_date"), ()),
          "classifications": (("asset", "classification_date", "industry"), ()),
          "delistings": (("asset", "delisting_date", "delisting_return"), ())}


def _one_role(cfg: Config, errors: list[str]) -> None:
    """A key column of a source (its date, asset, industry ... column) named by a second setting
    of that source is an error naming both settings, reported under the one the file sets (the
    later one when both or neither are set)."""
    data = cfg["data"]
    for source, (keys, values) in _ROLES.items():
        if source != "prices" and data[source] is None:
            continue
        seen: dict[str, str] = {}
        for key in keys + values:
            col = data[key]
            if col is None:
                continue
            if col in seen:
                first = seen[col]
                blamed, other = ((first, key) if f"data.{first}" in cfg.given and f"data.{key}" not in cfg.given
                                 else (key, first))
                errors.append(f"data.{blamed}: {col!r} is also the column of data.{other} in data.{source}: a "
                              "column has one role (name another column)")
            elif key in keys:
                seen[col] = key
    # the lists of value columns: each column once, and none of the source's key columns (the
    # readers failed on them: a duplicate output name, a date or an id that is not a number)
    for key, source, ids in (("price_fields", "prices", ("date", "asset")),
                             ("fundamental_fields", "fundamentals", ("asset", "report_date"))):
        cols = data[key]
        if cols is None or data[source] is None:
            continue
        twice = [c for i, c in enumerate(cols) if c in cols[:i]]
        if twice:
            errors.append(f"data.{key}: lists {twice[0]!r} more than once")
        for k in ids:
            if data[k] in cols:
                errors.append(f"data.{key}: lists {data[k]!r}, the column of data.{k} in data.{source}: the "
                              "fields are its value columns")


def _check_data(cfg: Config, errors: list[str]) -> None:
    data, ex = cfg["data"], cfg["exposures"]
    pcols = _columns(cfg, "data.prices", data["prices"], errors)
    ftext: set[str] = set()
    fcols = _columns(cfg, "data.fundamentals", data["fundamentals"], errors, ftext) if data["fundamentals"] else None
    ccols = _columns(cfg, "data.classifications", data["classifications"], errors) if data["classifications"] else None
    dcols = _columns(cfg, "data.delistings", data["delistings"], errors) if data["delistings"] else None
    _one_role(cfg, errors)
    conn = data["connection"]
    if conn is not None and "://" in conn and _sqlite_path(cfg, conn) is None:
        import importlib.util

        if importlib.util.find_spec("connectorx") is None:
            # polars.read_database_uri's engine: found now, not by the load stage
            errors.append(f"data.connection: a {conn.split('://', 1)[0]!r} URI is read with connectorx, which is not "
                          "installed (pip install connectorx); sqlite:/// URIs need nothing extra")
    for key in ("date", "asset", "close", "adjusted_close", "shares", "volume"):
        _need(f"data.{key}", "data.prices", data[key], pcols, errors)
    if pcols is not None:
        # the fields the reader derives from the prices must not also be price columns read
        # (the load stage refused them: "field 'market_cap' comes from two sources")
        read = set(pcols if data["price_fields"] is None else data["price_fields"])
        for key, derived in (("shares", "market_cap"), ("volume", "dollar_volume")):
            col = data[key]
            if col is not None and col in read and derived in read:
                errors.append(f"data.{key}: data.prices has a {derived} column as well as the column {col!r} "
                              f"({derived} = close × {key}): two {derived} fields; set {key} = \"\" to use the "
                              f"{derived} column, or leave one of them out of data.price_fields")
        if fcols is not None:
            # a fundamental field named like a price field (shares outstanding from the filings,
            # say): the load stage refused it ("field 'shares' comes from two sources")
            prices = read - {data["date"], data["asset"]}
            derived = {"returns"} | {d for k, d in (("shares", "market_cap"), ("volume", "dollar_volume"))
                                     if data[k] is not None and data[k] in read}
            funds = (set(data["fundamental_fields"]) & set(fcols) if data["fundamental_fields"] is not None
                     else set(fcols) - {data["asset"], data["report_date"]} - ftext)
            for c in sorted((prices | derived) & funds):
                errors.append(f"data.fundamental_fields: data.fundamentals has a column {c!r}, which is also a price "
                              f"field ({'of data.prices' if c in prices else 'derived from data.prices'}): a field "
                              "has one source; list the fundamentals' columns to keep in data.fundamental_fields"
                              + (" (or leave it out of data.price_fields)" if c in prices else ""))
        if "returns" in read:
            errors.append("data.price_fields: data.prices has a 'returns' column, and the returns are computed from "
                          f"data.{'adjusted_close' if data['adjusted_close'] else 'close'}: leave it out of "
                          "data.price_fields (list the columns to keep)")
    if pcols is not None and data["shares"] is None and "market_cap" not in pcols:
        errors.append("data.shares: \"\" (none) but data.prices has no market_cap column: the model "
                      "needs market caps (close × shares, or a market_cap column)")
    if data["price_fields"] is not None:
        for c in data["price_fields"]:
            _need("data.price_fields", "data.prices", c, pcols, errors)
        # only the listed columns are read: the fields derived from the others are not made
        kept = set(data["price_fields"])
        adj = data["adjusted_close"] or data["close"]
        if adj not in kept:
            which = "data.adjusted_close" if data["adjusted_close"] else "data.close"
            errors.append(f"data.price_fields: leaves out {adj!r} ({which}), the column the returns come from")
        if "market_cap" not in kept and not (data["shares"] in kept and data["close"] in kept):
            out = " and ".join(f"{data[k]!r} (data.{k})" for k in ("close", "shares")
                               if data[k] is not None and data[k] not in kept)
            errors.append(f"data.price_fields: leaves out {out}, so no market_cap = close × shares is made, and "
                          "there is no market_cap column among them: the model needs market caps"
                          if data["shares"] is not None else
                          "data.price_fields: no market_cap column among them (data.shares is \"\"): the model "
                          "needs market caps")
    if fcols is not None:
        _need("data.asset", "data.fundamentals", data["asset"], fcols, errors)
        _need("data.report_date", "data.fundamentals", data["report_date"], fcols, errors)
        for c in data["fundamental_fields"] or ():
            _need("data.fundamental_fields", "data.fundamentals", c, fcols, errors)
            if c in ftext and c not in (data["asset"], data["report_date"]):
                errors.append(f"data.fundamental_fields: column {c!r} of data.fundamentals is not numeric (a date or "
                              "text): the fields are numbers")
    if ccols is not None:
        _need("data.asset", "data.classifications", data["asset"], ccols, errors)
        _need("data.industry", "data.classifications", data["industry"], ccols, errors)
        _need("data.classification_date", "data.classifications", data["classification_date"], ccols, errors)
    if dcols is not None:
        _need("data.asset", "data.delistings", data["asset"], dcols, errors)
        _need("data.delisting_date", "data.delistings", data["delisting_date"], dcols, errors)
        _need("data.delisting_return", "data.delistings", data["delisting_return"], dcols, errors)
    # the descriptors of the styles need their input columns in some source
    if pcols is None or (data["fundamentals"] and fcols is None) or not isinstance(ex["styles"], dict):
        return  # (styles None: exposures.styles has an error of its own)
    read = set(pcols if data["price_fields"] is None else data["price_fields"])  # the price columns read
    fields = read - {data["date"], data["asset"]}
    if data["shares"] is not None and data["shares"] in read:
        fields.add("market_cap")
    if data["volume"] is not None and data["volume"] in read:
        fields.add("dollar_volume")
    if fcols is not None:
        fields |= set(data["fundamental_fields"] or fcols) - {data["asset"], data["report_date"]}
    for style, spec in ex["styles"].items():
        for d in spec:
            missing = [c for c in DESCRIPTOR_INPUTS[d] if c not in fields]
            if missing:
                col = missing[0]
                where = ("data.prices (volume column: data.volume)" if col == "dollar_volume"
                         else "data.fundamentals" if data["fundamentals"] else "data.prices (and no data.fundamentals is set)")
                errors.append(f"exposures.styles.{style}.{d}: the descriptor needs column {col!r}, which "
                              f"{where} does not have")


# ---------------------------------------------------------------------------------------------
# Loading and the reference
# ---------------------------------------------------------------------------------------------


def _toml_module():
    import tomllib

    return tomllib


def load_config(path: str | os.PathLike[str], *, check_data: bool = True) -> Config:
    """Read and validate a configuration file (see :func:`validate`).

    Raises
    ------
    ConfigError
        The file is missing, is not valid TOML, or fails validation (every problem listed, each
        with its key).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path, got {path!r}")
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ConfigError([f"config: no such file {p!r}"], p)
    tomllib = _toml_module()
    try:
        with open(p, "rb") as fh:
            # a UTF-8 byte-order mark (Windows editors, PowerShell's Out-File) is no content:
            # tomllib would call the first line of such a file an invalid statement
            raw = tomllib.loads(fh.read().decode("utf-8-sig"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError([f"config: not valid TOML: {e}"], p) from None
    except UnicodeDecodeError as e:
        raise ConfigError([f"config: not UTF-8 text: {e}"], p) from None
    base = os.path.dirname(os.path.abspath(p))
    return validate(raw, path=p, base=base, check_data=check_data)


def default_config(**overrides: Mapping[str, Any]) -> Config:
    """The defaults (no data section needed), with ``overrides`` as ``section={key: value}``
    (validated): the configuration of ``ferrofactor demo``."""
    return validate(_sections("overrides", overrides), check_data=False, require_data=False)


def _sections(name: str, values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{section: {key: value}}`` copied, each section a mapping (else TypeError naming it)."""
    if not isinstance(values, Mapping):
        raise TypeError(f"{name} must be a mapping {{section: {{key: value}}}}, got {type(values).__name__}")
    for k, v in values.items():
        if not isinstance(v, Mapping):
            raise TypeError(f"{name}[{k!r}] must be a mapping {{key: value}}, got {type(v).__name__}")
    return {k: dict(v) for k, v in values.items()}


def reference_toml(values: Mapping[str, Mapping[str, Any]] | None = None, header: str = "") -> str:
    """Every setting with its documentation and default, as TOML (comments + ``key = value``).

    Settings in ``values`` (``{section: {key: value}}``) are written active; every other setting
    is written commented out with its default (or an example for settings without one).
    """
    values = _sections("values", values or {})
    if not isinstance(header, str):
        raise TypeError(f"header must be a str, got {type(header).__name__}")
    out: list[str] = []
    if header:
        out.extend("# " + line if line else "#" for line in header.splitlines())
        out.append("")
    for section, settings in SCHEMA.items():
        given = values.get(section, {})
        if section:
            out.append(f"[{section}]")
        for key, s in settings.items():
            d = _default(s)
            if s.required:
                dflt = "required"
            elif d is None:
                dflt = "none"
            elif s.kind in ("styles", "float_table"):
                dflt = "see below"
            else:
                dflt = _toml_value(d)
            doc, _, custom = s.doc.partition(" Default: ")
            if s.choices:
                doc += " One of: " + ", ".join(_toml_value(c) for c in s.choices) + "."
            dflt = custom.rstrip(".") if custom else dflt
            out.extend(textwrap.wrap(f"{key}: {doc} Default: {dflt}.", width=96,
                                     initial_indent="# ", subsequent_indent="#   ", break_on_hyphens=False,
                                     break_long_words=False))
            if s.kind in ("styles", "float_table"):
                v = given.get(key, d)
                if s.kind == "styles":
                    for style, spec in v.items():
                        prefix = "" if key in given else "# "
                        out.append(f"{prefix}{key}.{_toml_key(style)} = {_toml_value(spec)}")
                else:
                    prefix = "" if key in given else "# "
                    out.append(f"{prefix}{key} = {_toml_value(v)}")
            elif key in given:
                out.append(f"{key} = {_toml_value(given[key])}")
            else:
                shown = s.example if d is None or s.required else d
                out.append(f"# {key} = {_toml_value(shown)}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


#: The settings ``examples/config.toml`` sets: the files ``ferrofactor sample examples/sample``
#: writes, and the report beside the file.
EXAMPLE_VALUES: dict[str, dict[str, Any]] = {
    "data": {"prices": "sample/prices.parquet", "fundamentals": "sample/fundamentals.parquet",
             "classifications": "sample/classifications.parquet", "delistings": "sample/delistings.parquet"},
    "report": {"title": "ferrofactor example: the sample universe", "out": "report"},
}

EXAMPLE_HEADER = """An example configuration of `ferrofactor run`: every setting, with its documentation and default.

    ferrofactor sample examples/sample        # writes examples/sample/{prices,fundamentals,classifications,delistings}.parquet
    ferrofactor run examples/config.toml      # the whole pipeline; the report goes to examples/report/

Paths are relative to this file. Settings written without `#` are set here; every other line shows
a setting's default (or an example where it has none): remove the `#` to change it, leave it out
to keep the default. `ferrofactor config` prints the same reference with nothing set.
(Generated from ferrofactor.config.SCHEMA by ferrofactor.config.example_toml(); a test keeps them
equal.)"""


def example_toml() -> str:
    """The text of ``examples/config.toml``."""
    return reference_toml(EXAMPLE_VALUES, header=EXAMPLE_HEADER)
