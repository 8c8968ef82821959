"""The ``ferrofactor`` command (also ``python -m ferrofactor``).

Subcommands::

    ferrofactor run CONFIG.toml [--out DIR]           the whole pipeline on your data, and the report
    ferrofactor demo [--assets N --days T --out DIR]  the same on the built-in synthetic universe
    ferrofactor sample DIR [--assets N --days T]      write a synthetic universe as Parquet files
                                                      (existing ones replaced only with --overwrite)
    ferrofactor bench [--quick]                       kernel benchmarks against ff.baseline (ratios)
    ferrofactor config                                every setting of CONFIG.toml, documented

Each stage shows a progress bar while it runs (on a terminal) and a timing line when it ends
(wall and CPU seconds) on standard error; a summary table ends the run on standard output.
``--quiet`` prints nothing but errors; ``--json`` prints a machine-readable summary (and only
that) on standard output; after a failed stage it lists the stages that ran, the failed one
last with ``"status": "failed"``.

The output directory of ``run`` and ``demo`` holds one run: ``ferrofactor-manifest.json`` lists
the files a run wrote; the next run into the directory replaces them and removes those it does
not write again (e.g. the backtest's Parquet files after ``backtest.enabled = false``). Files
named like the outputs that no manifest lists stop the run before any work (exit 2) unless
``--overwrite``; every other file in the directory is left alone.

Exit codes: 0 success; 1 the run failed (the message names the stage); 2 bad usage or a bad
configuration (every problem listed, each naming its key; nothing is written).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from collections.abc import Sequence
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

_DEMO_OUT = "ferrofactor-demo"
#: The smallest demo: the synthetic universe's 10 industries, the market and the 4 default styles
#: are 15 factors, and a date's cross-section needs more listed assets than that (with fewer the
#: risk model never covers an asset and the portfolios stage failed after every other stage ran).
_DEMO_MIN_ASSETS = 20
_MANIFEST = "ferrofactor-manifest.json"  # ferrofactor.report.MANIFEST (not imported: --help stays light)

_OUT_DIR_HELP = ("The output directory holds one run: the files the previous run wrote there (listed in its "
                 f"{_MANIFEST}) are replaced, and those this run does not write again are removed, so "
                 "a directory never mixes two runs; every other file in it is left alone.")


# ---------------------------------------------------------------------------------------------
# Output: progress, timing lines, summaries
# ---------------------------------------------------------------------------------------------


class _Out:
    """Where things go: progress and timing lines on stderr, the summary (or JSON) on stdout."""

    def __init__(self, quiet: bool, as_json: bool) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.json = as_json
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.out = Console(highlight=False, soft_wrap=True)
        if not self.out.is_terminal:  # piped or redirected: no terminal width to fit, keep rows whole
            self.out = Console(highlight=False, soft_wrap=True, width=120)

    def info(self, text: str) -> None:
        if not self.quiet:
            self.err.print(text)

    def error(self, text: str) -> None:
        from rich.markup import escape

        self.err.print(f"[bold red]error[/]: {escape(text)}")

    def emit_json(self, data: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        sys.stdout.flush()


def _reporter(out: _Out):
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    from ferrofactor.pipeline import Reporter, StageRecord

    class RichReporter(Reporter):
        """A rich progress bar per stage (on a terminal) and a timing line when it ends."""

        def __init__(self) -> None:
            self.live = not out.quiet and out.err.is_terminal
            self.progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=out.err, transient=True,
            ) if self.live else None
            self.task = None
            self.name = ""

        def __enter__(self) -> RichReporter:
            if self.progress is not None:
                self.progress.start()
            return self

        def __exit__(self, *exc: Any) -> None:
            if self.progress is not None:
                self.progress.stop()

        def start(self, name: str, total: int | None = None) -> None:
            self.name = name
            if self.progress is not None:
                self.task = self.progress.add_task(escape(name), total=total)

        def advance(self, n: int = 1, description: str | None = None) -> None:
            if self.progress is not None and self.task is not None:
                desc = f"{self.name}: {description}" if description else self.name
                self.progress.update(self.task, advance=n, description=escape(desc))

        def finish(self, record: StageRecord) -> None:
            if self.progress is not None and self.task is not None:
                self.progress.remove_task(self.task)
                self.task = None
            if out.quiet:
                return
            mark = {"done": "[green]✓[/]", "skipped": "[yellow]–[/]", "failed": "[red]✗[/]"}[record.status]
            name = escape(f"{record.name:<20s}")
            out.err.print(f"  {mark} {name} {record.wall:7.2f} s wall {record.cpu:7.2f} s cpu   {escape(record.note)}")

    return RichReporter()


def _summary_rows(res: Any, out_dir: str | None) -> list[tuple[str, str]]:
    import numpy as np

    s = res.summary()
    rows = []
    if "data" in s:
        d = s["data"]
        rows.append(("data", f"{d['assets']} assets × {d['dates']} dates, {d['first_date']}..{d['last_date']}"))
    if "factor_model" in s:
        f = s["factor_model"]
        r2 = f"{f['mean_r2']:.3f}" if f["mean_r2"] is not None else "nan"
        rows.append(("factor model", f"{f['factors']} factors on {f['dates_estimated']} dates, mean R² {r2}"))
    if res.truth:
        vals = np.array(list(res.truth.values()))
        rows.append(("truth recovered", f"market corr {res.truth.get('market', float('nan')):.3f}, industries "
                                        f"median {np.median(vals[1:]) if len(vals) > 1 else float('nan'):.3f}"))
    def num(x: float | None, spec: str) -> str:
        # the summary stores NaN as None (JSON); a test with too few dates gives one
        return "nan" if x is None else format(x, spec)

    if "bias_test" in s:
        b = s["bias_test"]
        rows.append(("bias test", f"{b['portfolios']} random portfolios: median bias {num(b['median_bias'], '.3f')}, "
                                  f"{num(b['share_inside'], '.0%')} inside the band"))
    if "minimum_variance" in s:
        m = s["minimum_variance"]
        rows.append(("minimum variance", f"bias {num(m['bias'], '.3f')} (band {num(m['lower'], '.3f')}.."
                                         f"{num(m['upper'], '.3f')}) over {m['dates']} dates"))
    if "signal_evaluation" in s:
        e = s["signal_evaluation"]
        rows.append(("signal IC", ", ".join(f"{h}d {num(m, '+.4f')} (NW t {num(t, '.1f')})" for h, m, t in
                                            zip(e["horizons"], e["ic_mean"], e["ic_nw_tstat"]))))
    if "portfolios" in s:
        rows.append(("portfolios", ", ".join(f"{k} {num(v['volatility_annualized'], '.1%')}" for k, v in s["portfolios"].items())
                     + " ex-ante vol a year"))
    if "backtest" in s:
        rows.append(("backtest", "; ".join(
            f"{k} {'nan' if v['annual_return'] is None else format(v['annual_return'], '.1%')} a year, Sharpe "
            f"{'nan' if v['sharpe_ratio'] is None else format(v['sharpe_ratio'], '.2f')}" for k, v in s["backtest"].items())))
    if "alerts" in s:
        rows.append(("alerts", f"{s['alerts']} (see the report)"))
    for k, v in res.skipped:
        rows.append((f"skipped: {k}", v))
    if out_dir:
        rows.append(("report", os.path.join(out_dir, "report.html")))
    rows.append(("time", f"{res.wall:.1f} s wall, {res.cpu:.1f} s cpu (all threads)"))
    return rows


def _print_summary(out: _Out, title: str, rows: list[tuple[str, str]]) -> None:
    """The summary table. Titles, keys and values are plain text, never rich markup: a value such
    as ``pip install ".[optimize]"`` or a path with brackets prints as it is."""
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=escape(title), show_header=False, title_justify="left")
    t.add_column(style="bold")
    t.add_column()
    for k, v in rows:
        t.add_row(escape(k), escape(v))
    out.out.print(t)


def _json_summary(command: str, res: Any, out_dir: str | None, code: int, error: str | None = None) -> dict[str, Any]:
    return {
        "command": command, "status": "ok" if code == EXIT_OK else "failed", "exit_code": code,
        "error": error, "out": out_dir, "files": list(res.files) if res is not None else [],
        "summary": res.summary() if res is not None else {},
        "stages": [s.as_dict() for s in res.stages] if res is not None else [],
        "skipped": [{"section": k, "reason": v} for k, v in res.skipped] if res is not None else [],
        "wall_s": round(res.wall, 4) if res is not None else None,
        "cpu_s": round(res.cpu, 4) if res is not None else None,
    }


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def _check_out(command: str, out: _Out, out_dir: str, overwrite: bool) -> int:
    """EXIT_OK if the run may write into ``out_dir`` (see ``report.check_output_dir``), else the
    error printed (and the JSON) and EXIT_USAGE; checked before any work."""
    from ferrofactor.report import OutputDirError, check_output_dir

    try:
        check_output_dir(out_dir, overwrite=overwrite)
    except FileExistsError as e:
        msg = "output directory " + (e.message("--overwrite") if isinstance(e, OutputDirError) else str(e))
        out.error(msg)
        if out.json:
            out.emit_json({"command": command, "status": "usage_error", "exit_code": EXIT_USAGE, "error": msg,
                           "out": out_dir})
        return EXIT_USAGE
    return EXIT_OK


def _pipeline_command(command: str, out: _Out, config: Any, out_dir: str, threads: int | None, argv_text: str,
                      overwrite: bool = False, **pipeline_kw: Any) -> int:
    from rich.markup import escape

    import ferrofactor as ff
    from ferrofactor.pipeline import StageError, run_pipeline
    from ferrofactor.report import write_report

    n = config[""]["threads"] if threads is None else threads  # (an explicit --threads 0 is rayon's default)
    ff.set_num_threads(n)
    out.info(escape(f"ferrofactor {ff.__version__} {command}: {ff.get_num_threads()} threads, report to {out_dir}"))
    res = None
    reporter = _reporter(out)
    try:
        with reporter:
            res = run_pipeline(config, reporter=reporter, **pipeline_kw)
            write_report(res, out_dir, command=argv_text, reporter=reporter, overwrite=overwrite,
                         summary=lambda: _json_summary(command, res, out_dir, EXIT_OK))
    except StageError as e:
        out.error(str(e))
        if out.json:
            # the stages that ran, the failed one last (status "failed"), and what they found
            out.emit_json(_json_summary(command, res if res is not None else e.result, None, EXIT_FAILED, str(e)))
        return EXIT_FAILED
    if out.json:
        out.emit_json(_json_summary(command, res, out_dir, EXIT_OK))
    elif not out.quiet:
        _print_summary(out, f"ferrofactor {command}", _summary_rows(res, out_dir))
    return EXIT_OK


def cmd_run(args: argparse.Namespace, out: _Out, argv_text: str) -> int:
    from ferrofactor.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as e:
        for msg in e.errors:
            out.error(f"{args.config}: {msg}")
        if out.json:
            out.emit_json({"command": "run", "status": "config_error", "exit_code": EXIT_USAGE,
                           "errors": e.errors, "config": args.config})
        return EXIT_USAGE
    out_dir = args.out if args.out is not None else config.resolve(config["report"]["out"])
    if _check_out("run", out, out_dir, args.overwrite) != EXIT_OK:
        return EXIT_USAGE
    return _pipeline_command("run", out, config, out_dir, args.threads, argv_text, overwrite=args.overwrite,
                             source=os.path.abspath(args.config))


def cmd_demo(args: argparse.Namespace, out: _Out, argv_text: str) -> int:
    import ferrofactor as ff
    from ferrofactor.config import default_config

    if args.assets < _DEMO_MIN_ASSETS or args.days < 300:
        out.error(f"--assets must be >= {_DEMO_MIN_ASSETS} (each date's regression needs more listed assets than "
                  "the demo model's 15 factors: the market, 10 industries, 4 styles) and --days >= 300 (the "
                  f"descriptors need a year of history); got --assets {args.assets} --days {args.days}")
        return EXIT_USAGE
    # The synthetic market has GARCH volatility regimes: the demo turns on the volatility-regime
    # adjustment (USE4 practice), as the configuration would with risk.vra_half_life = 42.
    config = default_config(report={"title": "ferrofactor demo: synthetic universe"}, risk={"vra_half_life": 42.0})
    out_dir = args.out if args.out is not None else _DEMO_OUT
    if _check_out("demo", out, out_dir, args.overwrite) != EXIT_OK:
        return EXIT_USAGE
    return _pipeline_command(
        "demo", out, config, out_dir, args.threads, argv_text, overwrite=args.overwrite,
        synthetic=lambda: ff.datasets.synthetic_universe(n_assets=args.assets, n_days=args.days, seed=args.seed),
        source=f"synthetic universe (ferrofactor.datasets.synthetic_universe, seed {args.seed})",
    )


def cmd_sample(args: argparse.Namespace, out: _Out, argv_text: str) -> int:
    import ferrofactor as ff

    if os.path.exists(args.dir) and not os.path.isdir(args.dir):
        out.error(f"{args.dir!r} exists and is not a directory")
        return EXIT_USAGE
    if args.assets < 2 or args.days < 2:
        out.error("--assets and --days must be >= 2")
        return EXIT_USAGE
    present = [n for n in _SAMPLE_FILES if os.path.lexists(os.path.join(args.dir, n))]
    if present and not args.overwrite:
        # as run and demo, never replace files the command did not write without being told:
        # DIR may be the user's own data folder, with its own prices.parquet
        msg = (f"{args.dir!r} holds {', '.join(present)}: the sample would replace "
               f"{'them' if len(present) > 1 else 'it'}. Nothing was written. Choose a new or empty "
               "directory, or pass --overwrite to replace the sample files there (other files are never touched).")
        out.error(msg)
        if out.json:
            out.emit_json({"command": "sample", "status": "usage_error", "exit_code": EXIT_USAGE, "error": msg,
                           "out": args.dir})
        return EXIT_USAGE
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        paths = ff.datasets.write_sample(args.dir, n_assets=args.assets, n_days=args.days, seed=args.seed)
    except OSError as e:
        # (a parent that is a file, no permission, a full disk): the run failed, said as run and
        # demo say it (exit 1, the JSON summary with --json), never a traceback
        msg = f"sample: cannot write into {args.dir!r}: {type(e).__name__}: {e}"
        out.error(msg)
        if out.json:
            out.emit_json({"command": "sample", "status": "failed", "exit_code": EXIT_FAILED, "error": msg,
                           "files": [], "assets": args.assets, "days": args.days, "seed": args.seed})
        return EXIT_FAILED
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    if out.json:
        out.emit_json({"command": "sample", "status": "ok", "exit_code": 0, "files": list(paths.values()),
                       "assets": args.assets, "days": args.days, "seed": args.seed, "wall_s": wall, "cpu_s": cpu})
    elif not out.quiet:
        out.info(f"  [green]✓[/] sample {wall:7.2f} s wall {cpu:7.2f} s cpu   {args.assets} assets × {args.days} days")
        # examples/config.toml reads examples/sample/*.parquet (its paths are relative to it)
        parts = os.path.normpath(os.path.abspath(args.dir)).split(os.sep)
        if parts[-2:] == ["examples", "sample"]:
            hint = "ferrofactor run examples/config.toml (its data section names sample/*.parquet)"
        else:
            hint = ("ferrofactor run CONFIG.toml, its [data] paths naming these files (relative to "
                    "CONFIG.toml; `ferrofactor config` lists the settings). examples/config.toml reads "
                    "examples/sample/*.parquet")
        _print_summary(out, "ferrofactor sample", [(k, v) for k, v in paths.items()] + [("next", hint)])
    return EXIT_OK


#: The files ``ferrofactor sample`` writes (ferrofactor.datasets.write_sample).
_SAMPLE_FILES = ("prices.parquet", "fundamentals.parquet", "classifications.parquet", "delistings.parquet")

_BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cmd_bench(args: argparse.Namespace, out: _Out, argv_text: str) -> int:
    if not all(v in os.environ for v in _BLAS_THREADS):
        # the per-date baselines at their best: one BLAS thread, read when numpy is first
        # imported, so restart with it set (ferrofactor's own kernels do not use BLAS threads)
        env = dict(os.environ, **{v: os.environ.get(v, "1") for v in _BLAS_THREADS})
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", "ferrofactor", *args.argv], env)
    from ferrofactor.bench import run_benchmarks

    rep = _reporter(out)
    with rep:
        rows = run_benchmarks(quick=args.quick, reporter=rep)
    if out.json:
        out.emit_json({"command": "bench", "status": "ok", "exit_code": 0, "quick": args.quick, "rows": rows})
        return EXIT_OK
    if not out.quiet:
        from rich.markup import escape
        from rich.table import Table

        blas = ", ".join(f"{v}={os.environ.get(v)}" for v in _BLAS_THREADS)
        t = Table(title=escape(f"ferrofactor bench{' --quick' if args.quick else ''}: kernels against ff.baseline "
                               f"(best of repeats, wall clock; {ff_threads()} threads; {blas})"), title_justify="left")
        for c in ("kernel", "size", "ferrofactor", "baseline", "ratio", "max |diff|"):
            t.add_column(c, justify="left" if c in ("kernel", "size") else "right")
        for r in rows:
            t.add_row(escape(r["kernel"]), escape(r["size"]), _secs(r["ferrofactor_s"]), _secs(r["baseline_s"]),
                      f"{r['ratio']:.1f}×", f"{r['max_abs_diff']:.1e}")
        out.out.print(t)
    return EXIT_OK


def ff_threads() -> int:
    import ferrofactor as ff

    return ff.get_num_threads()


def _secs(s: float) -> str:
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def cmd_config(args: argparse.Namespace, out: _Out, argv_text: str) -> int:
    from ferrofactor.config import reference_toml

    sys.stdout.write(reference_toml(header="ferrofactor run CONFIG.toml: every setting with its default.\n"
                                           "Paths are relative to this file; leave a setting out to keep its default."))
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {v}")
    return v


def _threads_arg(text: str) -> int:
    from ferrofactor._threads import MAX_THREADS

    v = _positive_int(text)
    if v > MAX_THREADS:
        raise argparse.ArgumentTypeError(f"at most {MAX_THREADS} threads (max(64, 4 × cores)), got {v}")
    return v


def _overwrite_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="also replace or remove files in the output directory named like ferrofactor's outputs "
                        f"(report.html, summary.json, {_MANIFEST}, the Parquet outputs) that no {_MANIFEST} "
                        "lists; without it such files stop the run before any work (exit 2). Other files are "
                        "never touched")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    common.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")

    def threads_parent(default: str) -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(add_help=False)
        p.add_argument("--threads", type=_threads_arg, default=None,
                       help=f"threads of the Rust kernels (default: {default})")
        return p
    parser = argparse.ArgumentParser(
        prog="ferrofactor", description="Equity factor models on full-universe daily panels.",
        epilog="Exit codes: 0 success, 1 the run failed, 2 bad usage or configuration.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_threads = threads_parent("the config's threads; 0: RAYON_NUM_THREADS if set, else all cores")
    r = sub.add_parser("run", parents=[common, run_threads], help="run the pipeline on your data (CONFIG.toml)",
                       description="Load your data, build exposures, the factor and risk models, validate the "
                                   "risk model, evaluate the signal, build portfolios, backtest them with costs and write the report. "
                                   "Every setting of "
                                   "CONFIG.toml is listed by `ferrofactor config` (see examples/config.toml). "
                                   + _OUT_DIR_HELP)
    r.add_argument("config", metavar="CONFIG.toml")
    r.add_argument("--out", metavar="DIR", help="output directory (default: the config's report.out)")
    _overwrite_option(r)
    demo_threads = threads_parent("RAYON_NUM_THREADS if set, else all cores")  # the demo has no config
    d = sub.add_parser("demo", parents=[common, demo_threads], help="run the pipeline on a synthetic universe",
                       description="The whole pipeline and its report on the built-in synthetic universe, "
                                   "whose true factor returns are known. " + _OUT_DIR_HELP)
    d.add_argument("--assets", type=_positive_int, default=3000,
                   help=f"number of assets (default 3000, at least {_DEMO_MIN_ASSETS})")
    d.add_argument("--days", type=_positive_int, default=2520, help="number of trading days (default 2520, at least 300)")
    d.add_argument("--seed", type=_positive_int, default=0, help="random seed (default 0)")
    d.add_argument("--out", metavar="DIR", help=f"output directory (default ./{_DEMO_OUT})")
    _overwrite_option(d)
    s = sub.add_parser("sample", parents=[common], help="write a synthetic universe as Parquet files",
                       description="Write prices.parquet, fundamentals.parquet, classifications.parquet and delistings.parquet "
                                   "(the synthetic universe, the way users' data look) into DIR.")
    s.add_argument("dir", metavar="DIR")
    s.add_argument("--assets", type=_positive_int, default=300, help="number of assets (default 300)")
    s.add_argument("--days", type=_positive_int, default=504, help="number of trading days (default 504)")
    s.add_argument("--seed", type=_positive_int, default=0, help="random seed (default 0)")
    s.add_argument("--overwrite", action="store_true",
                   help="replace those four files where DIR already holds them; without it such files stop "
                        "the command before anything is written (exit 2). Other files are never touched")
    b = sub.add_parser("bench", parents=[common], help="kernel benchmarks against ff.baseline",
                       description="Time the Rust kernels against the plain-numpy baseline on the same "
                                   "data and print the ratios (and the largest difference of their outputs).")
    b.add_argument("--quick", action="store_true", help="small sizes (seconds instead of minutes)")
    sub.add_parser("config", help="print every setting of CONFIG.toml with its default",
                   description="Print the documented reference configuration (TOML).")
    return parser


_COMMANDS = {"run": cmd_run, "demo": cmd_demo, "sample": cmd_sample, "bench": cmd_bench, "config": cmd_config}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code.
    Usage errors exit through ``SystemExit(2)`` (argparse)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    out = _Out(getattr(args, "quiet", False), getattr(args, "json", False))
    argv_text = "ferrofactor " + " ".join(shlex.quote(a) for a in argv)
    try:
        if not out.quiet:
            return _COMMANDS[args.command](args, out, argv_text)
        # --quiet prints nothing but errors: Python warnings (e.g. an OptimizationWarning for a
        # solve the run skips, which its stage note and the report already say) are not errors
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _COMMANDS[args.command](args, out, argv_text)
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
