"""Sweep subcommands: ``sweep``, ``results``, ``plot``."""
from __future__ import annotations

import argparse
import os
import sys


def add_parsers(sub) -> None:
    sw = sub.add_parser("sweep", help="run a parameter sweep into a results store (resumable)",
                        description="Run every point of a TOML sweep spec not yet in the store; each finished "
                                    "point is committed at once, so an interrupted sweep resumes where it stopped.")
    sw.add_argument("spec", help="sweep spec (TOML), e.g. experiments/sweeps/quick.toml")
    sw.add_argument("--store", required=True, help="SQLite results file (created if missing)")
    sw.add_argument("--dry-run", action="store_true", help="count the points (and those stored); run nothing")
    sw.add_argument("--processes", type=int, help="local worker processes (default: every core)")
    sw.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster (e.g. tcp://host:8786)")
    sw.add_argument("--retry-failed", action="store_true", help="run failed points again")
    sw.add_argument("--quiet", action="store_true", help="no progress bar (batch logs)")
    sw.set_defaults(run=_sweep, subparser=sw)

    rs = sub.add_parser("results", help="summarise or export a results store",
                        description="Summarise a results store; export it as CSV or Parquet.")
    rs.add_argument("store", help="SQLite results file")
    rs.add_argument("--csv", metavar="FILE", help="write every row as CSV")
    rs.add_argument("--parquet", metavar="FILE", help="write every row as Parquet (needs pyarrow)")
    rs.set_defaults(run=_results, subparser=rs)

    pl = sub.add_parser("plot", help="plot thresholds from a results store",
                        description="Threshold against one swept parameter, one line per value of another.")
    pl.add_argument("store", help="SQLite results file")
    pl.add_argument("--x", required=True, help="parameter on the x axis, e.g. fibre.diameter_um")
    pl.add_argument("--group", help="parameter giving one line per value, e.g. electrode.x_um")
    pl.add_argument("--where", action="append", default=[], metavar="KEY=VALUE", help="keep rows with KEY=VALUE")
    pl.add_argument("--out", required=True, metavar="FILE", help="figure file (png, pdf, svg)")
    pl.set_defaults(run=_plot, subparser=pl)


def _sweep(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..sweep import ResultStore, SpecError, load_spec, run_sweep

    try:
        sweep = load_spec(args.spec)
    except SpecError as exc:
        parser.error(f"argument spec: {exc}")
    if args.processes is not None and args.processes < 1:
        parser.error(f"argument --processes: {args.processes} must be >= 1")
    if args.dry_run:
        store = ResultStore(args.store)
        done = store.done(args.retry_failed)
        store.close()
        stored = sum(pid in done for pid in sweep.ids)
        print(f"{sweep.name}: {len(sweep.points)} points, {stored} already in {args.store}, "
              f"{len(sweep.points) - stored} to run")
        return 0
    summary = run_sweep(sweep, args.store, processes=args.processes, scheduler=args.scheduler,
                        progress=not args.quiet, retry_failed=args.retry_failed)
    print(f"{sweep.name}: {summary.total} points; {summary.already_done} were stored, {summary.ran} ran now "
          f"({summary.failed} failed, recorded with their error) -> {args.store}")
    if summary.interrupted:
        print("interrupted: every finished point is stored; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


def _results(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..sweep import export, load_results

    if not os.path.exists(args.store):
        parser.error(f"argument store: {args.store} does not exist")
    df = load_results(args.store)
    if len(df):
        ok = df["status"] == "ok"
        print(f"{args.store}: {len(df)} points ({int(ok.sum())} ok, {int((~ok).sum())} failed); thresholds "
              f"{df.loc[ok, 'threshold_mA'].min():.4g}-{df.loc[ok, 'threshold_mA'].max():.4g} mA")
    else:
        print(f"{args.store}: empty")
    if args.csv or args.parquet:
        try:
            n = export(args.store, args.csv, args.parquet)
        except ImportError as exc:
            parser.error(f"argument --parquet: {exc} (pip install pyarrow)")
        print(f"wrote {n} rows to {', '.join(f for f in (args.csv, args.parquet) if f)}")
    return 0


def _plot(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..sweep import plot_store

    where = {}
    for item in args.where:
        if "=" not in item:
            parser.error(f"argument --where: {item!r} is not KEY=VALUE")
        key, value = item.split("=", 1)
        where[key] = value
    try:
        plot_store(args.store, args.x, args.out, args.group, where)
    except ValueError as exc:
        parser.error(f"argument --x/--group/--where: {exc}")
    print(f"wrote {args.out}")
    return 0
