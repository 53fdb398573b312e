"""Sweep subcommands: ``sweep``, ``results``, ``plot``.

Every path is checked before any work: the store (`nervesim.sweep.check_store`), the spec (every
point validated, `nervesim.sweep.load_spec`) and the output files (`common.check_output`).
"""
from __future__ import annotations

import argparse
import os
import sys

from ..errors import ParameterError
from . import common


def add_parsers(sub) -> None:
    sw = sub.add_parser("sweep", help="run a parameter sweep into a results store (resumable)",
                        description="Run every point of a TOML sweep spec not yet in the store; each finished "
                                    "point is committed at once, so an interrupted sweep resumes where it stopped. "
                                    "Every point is validated before anything runs.")
    sw.add_argument("spec", help="sweep spec (TOML), e.g. experiments/sweeps/quick.toml; keys: see nervesim.sweep")
    sw.add_argument("--store", required=True, help="SQLite results file (created if missing; its folder must exist)")
    sw.add_argument("--dry-run", action="store_true",
                    help="validate every point and count those stored and to run; write nothing")
    sw.add_argument("--processes", type=int, help="local worker processes (default: every core)")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster (e.g. tcp://host:8786)")
    sw.add_argument("--retry-failed", action="store_true", help="run failed points again")
    sw.add_argument("--allow-large", action="store_true",
                    help="allow specs of more than 1,000,000 points, and runs above the per-run time and memory "
                         "limits")
    sw.add_argument("--quiet", action="store_true", help="no progress bar (also off when stderr is not a terminal)")
    sw.set_defaults(run=_sweep, subparser=sw)

    rs = sub.add_parser("results", help="summarise or export a results store",
                        description="Summarise a results store; export every row as CSV or Parquet.")
    rs.add_argument("store", help="SQLite results file")
    rs.add_argument("--csv", metavar="FILE", help="write every row as CSV (.csv)")
    rs.add_argument("--parquet", metavar="FILE", help="write every row as Parquet (.parquet; needs pyarrow)")
    rs.add_argument("--force", action="store_true", help="overwrite an existing output file of another kind")
    rs.set_defaults(run=_results, subparser=rs)

    pl = sub.add_parser("plot", help="plot thresholds from a results store",
                        description="Threshold against one swept parameter, one line per value of another (and of "
                                    "any other parameter that still varies).")
    pl.add_argument("store", help="SQLite results file")
    pl.add_argument("--x", required=True, help="parameter on the x axis, e.g. fibre.diameter_um")
    pl.add_argument("--group", help="parameter giving one line per value, e.g. electrode.x_um")
    pl.add_argument("--where", action="append", default=[], metavar="KEY=VALUE",
                    help="keep rows with KEY=VALUE (numbers compare as numbers: 500 matches 500.0); repeatable")
    pl.add_argument("--out", required=True, metavar="FILE", help="figure file (png, pdf, svg)")
    pl.add_argument("--force", action="store_true", help="overwrite an existing --out file of another kind")
    pl.set_defaults(run=_plot, subparser=pl)


def _store(parser: argparse.ArgumentParser, path: str, create: bool, flag: str) -> None:
    """Refuse a store path that cannot work, before anything else (one line, status 2)."""
    from ..sweep import check_store

    try:
        check_store(path, create)
    except ParameterError as exc:
        common.fail(parser, exc, flags={"store": flag})


def _sweep(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..sweep import SpecError, check_size, count_stored, duration_text, load_spec, run_sweep, seconds_per_point

    if args.processes is not None and args.processes < 1:
        parser.error(f"argument --processes: {args.processes} must be >= 1")
    _store(parser, args.store, create=True, flag="--store")
    workers = args.processes or os.cpu_count() or 1
    try:
        sweep = load_spec(args.spec, allow_large=args.allow_large)
        check_size(sweep, workers, args.allow_large)
    except SpecError as exc:
        parser.error(f"argument spec: {exc}")
    for message in sweep.warnings:
        print(f"{parser.prog}: warning: {message}", file=sys.stderr)
    if args.dry_run:
        stored = count_stored(sweep, args.store, args.retry_failed)
        todo = len(sweep) - stored
        print(f"{sweep.name}: {len(sweep)} points, {stored} already in {args.store}, {todo} to run"
              + (f" (about {duration_text(todo * seconds_per_point(sweep) / min(workers, todo))} on "
                 f"{min(workers, todo)} cores)" if todo and not args.scheduler else ""))
        return 0
    try:
        summary = run_sweep(sweep, args.store, processes=args.processes, scheduler=args.scheduler,
                            progress=not args.quiet and sys.stderr.isatty(), retry_failed=args.retry_failed,
                            allow_large=args.allow_large)
    except OSError as exc:  # only a Dask scheduler that cannot be reached gets here
        parser.error(f"argument --scheduler: cannot reach {args.scheduler} ({exc})")
    print(f"{sweep.name}: {summary.total} points; {summary.already_done} were stored, {summary.ran} ran now "
          f"({summary.failed} failed, recorded with their error) -> {args.store}")
    if summary.interrupted:
        print("interrupted: every finished point is stored; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


def _results(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..sweep import export, load_results

    _store(parser, args.store, create=False, flag="store")
    common.check_output(parser, "--csv", args.csv, "csv", inputs=(args.store,), force=args.force)
    common.check_output(parser, "--parquet", args.parquet, "parquet", inputs=(args.store,), force=args.force)
    if args.parquet:
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            parser.error(f"argument --parquet: {exc} (pip install pyarrow)")
    every = load_results(args.store, all_rows=True)
    df = load_results(args.store)
    if len(df):
        ok = df["status"] == "ok"
        span = (f"; thresholds {df.loc[ok, 'threshold_mA'].min():.4g}-{df.loc[ok, 'threshold_mA'].max():.4g} mA"
                if ok.any() else "")
        print(f"{args.store}: {len(df)} points ({int(ok.sum())} ok, {int((~ok).sum())} failed){span}")
    else:
        print(f"{args.store}: no current points")
    if len(every) > len(df):
        print(f"{len(every) - len(df)} older rows (an earlier nervesim, or replaced by a rerun after an input "
              "changed) are kept but not summarised or plotted; exports include them")
    if args.csv or args.parquet:
        n = export(args.store, args.csv, args.parquet)
        print(f"wrote {n} rows to {', '.join(f for f in (args.csv, args.parquet) if f)}")
    return 0


def _plot(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..sweep import plot_store

    _store(parser, args.store, create=False, flag="store")
    common.check_output(parser, "--out", args.out, "figure", inputs=(args.store,), force=args.force)
    if args.group is not None and args.group == args.x:
        parser.error(f"argument --group: {args.group} is already --x; choose another parameter or leave it out")
    where = {}
    for item in args.where:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            parser.error(f"argument --where: {item!r} is not KEY=VALUE (e.g. electrode.x_um=500)")
        if key.strip() in where:
            parser.error(f"argument --where: {key.strip()} given twice; a row has one value of each key")
        where[key.strip()] = value.strip()
    try:
        plot_store(args.store, args.x, args.out, args.group, where)
    except ParameterError as exc:
        common.fail(parser, exc, flags={"x": "--x", "group": "--group", "where": "--where", "store": "store"})
    print(f"wrote {args.out}")
    return 0
