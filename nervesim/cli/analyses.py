"""Analysis subcommands: ``sd-curve``, ``recruitment``, ``threshold-curve``, ``block``.

Each checks its inputs and output paths before computing, prints one header line saying what was
computed (or, with ``--json``, records every input in the JSON object) and exits 0, 2 (bad input,
one line naming the flag) or 1 (no answer: no threshold or no block).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .. import __version__
from ..errors import ParameterError
from ..threshold import ThresholdSearchError
from . import common


def add_parsers(sub) -> None:
    """Add ``sd-curve``, ``recruitment``, ``block`` and ``threshold-curve`` to the subparsers ``sub``."""
    sd = sub.add_parser("sd-curve", help="strength-duration curve with rheobase and chronaxie",
                        description="Thresholds over pulse widths; Weiss and Lapicque fits.")
    common.fibre_args(sd)
    common.electrode_args(sd)
    common.pulse_args(sd, width=False)
    common.run_args(sd)
    sd.add_argument("--widths-ms", required=True, type=common.floats,
                    help="pulse widths W1,W2,... (ms; at least 3 distinct)")
    common.output_args(sd, "write the curve and its fits")
    sd.set_defaults(run=_sd_curve, subparser=sd)

    rc = sub.add_parser("recruitment", help="fraction of a nerve's fibres activated vs current",
                        description="Fibres placed uniformly in a round nerve (diameters uniform in a range), "
                                    "each with a random node phase, under a cuff or point electrode.")
    common.fibre_args(rc, diameter=False)
    common.electrode_args(rc, field=True, xy_lists=True)
    rc.add_argument("--per-fascicle", type=int, metavar="N",
                    help="with --field: N fibres per fascicle at random (seeded) in its endoneurium; default one "
                         "at each fascicle's centre, or the places --x-um X1,X2,... --y-um Y1,Y2,...")
    common.pulse_args(rc)
    common.run_args(rc)
    rc.add_argument("--fibres", type=int, help="number of fibres in the nerve (default 200; with --field use "
                                               "--per-fascicle)")
    rc.add_argument("--diameters-um", type=common.floats, default=[2.0, 10.0], help="fibre diameter range LO,HI (um)")
    rc.add_argument("--currents-ma", type=common.floats,
                    help="currents I1,I2,... (mA; default 40 log-spaced from below the lowest to above the highest "
                         "fibre threshold)")
    rc.add_argument("--seed", type=int, default=0, help="random seed of the population (default 0)")
    rc.add_argument("--quiet", action="store_true", help="no progress bar (it is also off when stderr is not a "
                                                         "terminal, and with --json)")
    common.output_args(rc, "write the recruitment curve and threshold map")
    rc.set_defaults(run=_recruitment, subparser=rc)

    bl = sub.add_parser("block", help="kHz conduction-block threshold",
                        description="Smallest amplitude of a charge-balanced kHz train that blocks a test AP "
                                    "launched at the first active node (onset firing is not taken for block).")
    common.fibre_args(bl)
    common.electrode_args(bl)
    bl.add_argument("--frequency-khz", type=common.finite, default=10.0,
                    help="train frequency (default 10 kHz); each phase, 0.5/f ms, must be a whole number of time "
                         "steps (at 0.005 ms: 100/k kHz)")
    bl.add_argument("--dt-ms", type=common.finite, default=0.005, help="time step (default 0.005 ms)")
    common.fast_arg(bl)
    common.output_args(bl, "write Vm traces just below and at the block threshold")
    bl.set_defaults(run=_block, subparser=bl)

    tc = sub.add_parser("threshold-curve", help="point-source threshold vs distance or vs diameter",
                        description="Thresholds of a point source over the centre node, varying the electrode "
                                    "distance (fixed --diameter-um) or the fibre diameter (fixed --distance-um).")
    common.fibre_args(tc, diameter=False)
    tc.add_argument("--vary", required=True, choices=["distance", "diameter"])
    tc.add_argument("--values", required=True, type=common.floats, help="distances or diameters V1,V2,... (um)")
    tc.add_argument("--diameter-um", type=common.finite, help="fibre diameter when varying distance (um)")
    tc.add_argument("--distance-um", type=common.finite, help="electrode distance when varying diameter (um)")
    common.medium_args(tc, required=True)
    common.pulse_args(tc)
    common.run_args(tc)
    common.output_args(tc, "write the curve")
    tc.set_defaults(run=_threshold_curve, subparser=tc)


def _check_plot(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    common.check_output(parser, "--plot", args.plot, "figure", inputs=(getattr(args, "electrode_file", None),))


def _run_record(args: argparse.Namespace, **extra) -> dict:
    """Inputs shared by the analyses, for the JSON output."""
    run = {"model": args.model, "nodes": args.nodes, "temperature_c": args.temperature_c, "dt_ms": args.dt_ms}
    for name, key in (("tolerance", "tolerance"), ("max_ma", "max_mA"), ("fast", "fast")):
        if hasattr(args, name):
            run[key] = getattr(args, name)
    return {**run, **extra, "nervesim_version": __version__}


def _sd_curve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..analyses import plot_sd_curve, strength_duration

    _check_plot(args, parser)
    flags = {"width_ms": "--widths-ms", "time_grid": "--widths-ms/--gap-ms/--dt-ms"}
    try:
        fibre, notes = common.build_fibre(args)
        electrode = common.build_electrode(args, parser, fibre)
        sd = strength_duration(args.model, args.diameter_um, electrode, args.widths_ms, pulse=args.pulse,
                               polarity=args.polarity, gap_ms=args.gap_ms or 0.0, n_nodes=args.nodes,
                               dt_ms=args.dt_ms, tolerance=args.tolerance, max_mA=args.max_ma, fast=args.fast)
    except ValueError as exc:
        common.fail(parser, exc, args, flags)
    except ThresholdSearchError as exc:
        print(f"nervesim: no strength-duration curve: {exc}", file=sys.stderr)
        return 1
    where, electrode_json = common.describe_electrode(args, fibre)
    what = (f"strength-duration of {args.model} {args.diameter_um:g} um ({args.nodes} nodes), {args.pulse} "
            f"{args.polarity} pulses; {where}")
    if args.plot:
        plot_sd_curve(sd, args.plot, what)
    fits = {f.form: {"rheobase_mA": f.rheobase_mA, "chronaxie_ms": f.chronaxie_ms, "rms_rel_error": f.rms_rel_error}
            for f in (sd.weiss, sd.lapicque)}
    out = {"rheobase_mA": sd.rheobase_mA, "chronaxie_ms": sd.chronaxie_ms, "best_fit": sd.best.form,
           "thresholds": [[float(w), None if not np.isfinite(t) else float(t)]
                          for w, t in zip(sd.widths_ms, sd.thresholds_mA)],
           "fits": fits, "flags": notes + list(sd.errors),
           "inputs": _run_record(args, diameter_um=args.diameter_um, pulse=args.pulse, polarity=args.polarity,
                                 gap_ms=args.gap_ms or 0.0, widths_ms=list(sd.widths_ms),
                                 electrode=electrode_json)}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{what}; dt {args.dt_ms:g} ms, tolerance {args.tolerance:g}")
    for w, t in out["thresholds"]:
        print(f"width {w:8.4g} ms  " + (f"threshold {t:.6g} mA" if t is not None else "no threshold"))
    for f in (sd.weiss, sd.lapicque):
        print(f"{f.form:9} rheobase {f.rheobase_mA:.5g} mA, chronaxie {f.chronaxie_ms:.4g} ms "
              f"(rms relative error {100 * f.rms_rel_error:.2f} %)")
    for note in out["flags"]:
        print(f"WARNING {note}")
    return 0


def _recruitment(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from tqdm import tqdm

    from ..analyses import plot_recruitment, recruitment

    _check_plot(args, parser)
    flags = {"n": "--fibres", "diameters_um": "--diameters-um", "diameter_um": "--diameters-um",
             "currents_mA": "--currents-ma", "margin_um": "--diameters-um", "seed": "--seed",
             "per_fascicle": "--per-fascicle"}
    if args.field:
        pop, electrode = _field_population(args, parser, flags)
    else:
        pop, electrode = _nerve_population(args, parser, flags)
    try:
        waveform = common.build_waveform(args, parser, args.width_ms)
        show = not (args.json or args.quiet) and sys.stderr.isatty()
        with tqdm(total=len(pop.x_um), unit="fibre", file=sys.stderr, smoothing=0.1, disable=not show) as bar:
            rec = recruitment(args.model, pop, electrode, waveform, args.currents_ma, n_nodes=args.nodes,
                              dt_ms=args.dt_ms, tolerance=args.tolerance, max_mA=args.max_ma, fast=args.fast,
                              progress=lambda done, total: bar.update(1))
    except ValueError as exc:
        common.fail(parser, exc, args, {**flags, **(common.FIELD_FLAGS if args.field else {})})
    lo, hi = args.diameters_um
    where, electrode_json = common.describe_electrode(args)
    if args.field:
        placed = (f"{args.per_fascicle} per fascicle" if args.per_fascicle else
                  "at the given places" if args.x_um is not None else "at the fascicle centres")
        nodes = f"{args.nodes} nodes" if args.nodes else "each fitted to the model"
        what = (f"recruitment of {len(pop.x_um)} {args.model} fibres ({lo:g}-{hi:g} um, {nodes}, seed "
                f"{args.seed}) {placed}; {waveform.label}; {where}")
    else:
        what = (f"recruitment of {args.fibres} {args.model} fibres ({lo:g}-{hi:g} um, {args.nodes} nodes, seed "
                f"{args.seed}) in a {args.nerve_diameter_um:g} um nerve; {waveform.label}; {where}")
    if args.plot:
        plot_recruitment(rec, args.plot, what)
    out = {"currents_mA": rec.currents_mA.tolist(), "fraction_activated": rec.fraction.tolist(),
           "thresholds_mA": [None if not np.isfinite(t) else float(t) for t in rec.thresholds_mA],
           "diameters_um": pop.diameter_um.tolist(), "x_um": pop.x_um.tolist(), "y_um": pop.y_um.tolist(),
           "failed": len(rec.errors), "errors": list(rec.errors),
           "inputs": _run_record(args, fibres=len(pop.x_um), diameter_range_um=[lo, hi],
                                 nerve_diameter_um=args.nerve_diameter_um, seed=args.seed, waveform=waveform.label,
                                 **({"per_fascicle": args.per_fascicle} if args.field else {}),
                                 currents="given" if args.currents_ma else "default",
                                 electrode=electrode_json)}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{what}; dt {args.dt_ms:g} ms, tolerance {args.tolerance:g}")
    for c, f in zip(rec.currents_mA, rec.fraction):
        print(f"{c:8.4g} mA  {100 * f:5.1f} % activated")
    if rec.errors:
        print(f"WARNING {len(rec.errors)} fibres had no threshold below --max-ma (counted as not activated)")
    return 0


def _nerve_population(args: argparse.Namespace, parser: argparse.ArgumentParser, flags: dict):
    """Fibres uniform in a round nerve under a point or cuff electrode (no --field)."""
    from ..analyses import FibrePopulation

    if args.per_fascicle is not None:
        parser.error("argument --per-fascicle: only with --field (fascicles come from the field's spec)")
    if args.nerve_diameter_um is None:
        parser.error("argument --nerve-diameter-um: required (fibres are placed inside the nerve)")
    if args.electrode_file:
        parser.error("argument --electrode-file: recruitment needs a point or cuff electrode")
    if args.cuff and (args.x_um is not None or args.y_um is not None):
        parser.error("argument --x-um/--y-um: with --cuff, recruitment places the fibres in the nerve itself; "
                     "give no --x-um/--y-um")
    for name in ("x_um", "y_um"):
        value = getattr(args, name)
        if value is not None and len(value) != 1:
            parser.error(f"argument --{name.replace('_', '-')}: one value, the point electrode's offset (lists "
                         "place fibres in a --field)")
        setattr(args, name, None if value is None else value[0])
    if args.fibres is None:
        args.fibres = 200
    try:
        pop = FibrePopulation.uniform(args.fibres, args.nerve_diameter_um, tuple(args.diameters_um), seed=args.seed)
        return pop, common.build_electrode(args, parser)
    except ValueError as exc:
        common.fail(parser, exc, args, flags)


def _field_population(args: argparse.Namespace, parser: argparse.ArgumentParser, flags: dict):
    """Fibres placed per fascicle of the --field's spec (centres, --per-fascicle at random, or --x-um/--y-um
    lists) and the field electrode; every place checked before any search."""
    from ..analyses import FibrePopulation

    if args.fibres is not None:
        parser.error("argument --fibres: not with --field; use --per-fascicle N (or --x-um/--y-um lists)")
    given = (args.x_um is not None) + (args.y_um is not None)
    if given == 1 or given and args.per_fascicle is not None:
        parser.error("argument --x-um/--y-um: give both lists (one x and one y per fibre), and no --per-fascicle")
    electrode = common.field_electrode(args, parser)
    field = electrode.field
    try:
        x, y, d, phase = field.fibre_places(tuple(args.diameters_um), args.per_fascicle, args.seed)
        if given:
            if len(args.x_um) != len(args.y_um):
                parser.error(f"argument --x-um/--y-um: {len(args.x_um)} x and {len(args.y_um)} y values; give one "
                             "pair per fibre")
            n = len(args.x_um)
            rng = np.random.default_rng(args.seed)
            x, y, d, phase = (np.array(args.x_um), np.array(args.y_um), rng.uniform(*args.diameters_um, n),
                              rng.uniform(0, 1, n))
        pop = FibrePopulation(x, y, d, phase)
        for i in range(len(x)):  # every place before any search, naming the fibre
            try:
                electrode.relative_to(x[i], y[i]).check_fibre(d[i])
            except ParameterError as exc:
                raise ParameterError(exc.parameter, f"fibre {i}: {exc}") from None
    except ValueError as exc:
        common.fail(parser, exc, args, {**flags, **common.FIELD_FLAGS})
    return pop, electrode


def _threshold_curve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..analyses import plot_threshold_curve, threshold_vs_diameter, threshold_vs_distance

    _check_plot(args, parser)
    fixed = ("--diameter-um", args.diameter_um) if args.vary == "distance" else ("--distance-um", args.distance_um)
    if fixed[1] is None:
        parser.error(f"argument {fixed[0]}: required with --vary {args.vary}")
    flags = ({"distances_um": "--values", "electrode": "--values"} if args.vary == "distance"
             else {"diameters_um": "--values", "electrode": "--distance-um"})
    try:
        medium = common.chosen_medium(args)
        waveform = common.build_waveform(args, parser, args.width_ms)
        kw = dict(n_nodes=args.nodes, dt_ms=args.dt_ms, tolerance=args.tolerance, max_mA=args.max_ma, fast=args.fast)
        if args.vary == "distance":
            curve = threshold_vs_distance(args.model, args.diameter_um, args.values, waveform, medium, **kw)
        else:
            curve = threshold_vs_diameter(args.model, args.values, args.distance_um, waveform, medium, **kw)
    except ValueError as exc:
        common.fail(parser, exc, args, flags)
    held = f"diameter {args.diameter_um:g} um" if args.vary == "distance" else f"distance {args.distance_um:g} um"
    medium_text, medium_json = common.describe_medium(args)
    what = (f"threshold vs {args.vary}: {args.model}, {held}, {args.nodes} nodes; point source over the centre "
            f"node in {medium_text}; {waveform.label}")
    if args.plot:
        plot_threshold_curve(curve, args.plot, what)
    pairs = [[float(v), None if not np.isfinite(t) else float(t)] for v, t in zip(curve.values, curve.thresholds_mA)]
    if args.json:
        held_key = ("diameter_um", args.diameter_um) if args.vary == "distance" else ("distance_um", args.distance_um)
        print(json.dumps({"parameter": curve.parameter, "thresholds": pairs, "errors": list(curve.errors),
                          "inputs": _run_record(args, vary=args.vary, **dict([held_key]), waveform=waveform.label,
                                                **medium_json)}))
        return 0
    print(f"{what}; dt {args.dt_ms:g} ms, tolerance {args.tolerance:g}")
    for v, t in pairs:
        print(f"{curve.parameter} {v:g}: " + (f"{t:.6g} mA" if t is not None else "no threshold"))
    for e in curve.errors:
        print(f"WARNING {e}")
    return 0


def _block(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..analyses import block_threshold, plot_block

    _check_plot(args, parser)
    try:
        fibre, notes = common.build_fibre(args)
        electrode = common.build_electrode(args, parser, fibre)
        res = block_threshold(fibre, electrode, args.frequency_khz, dt_ms=args.dt_ms, fast=args.fast)
    except ValueError as exc:
        common.fail(parser, exc, args, {"time_grid": "--dt-ms"})
    except ThresholdSearchError as exc:
        print(f"nervesim: no block threshold: {exc}", file=sys.stderr)
        return 1
    where, electrode_json = common.describe_electrode(args, fibre)
    what = (f"kHz block of {args.model} {args.diameter_um:g} um ({args.nodes} nodes) by a {res.frequency_khz:g} kHz "
            f"biphasic train; {where}")
    if args.plot:
        plot_block(fibre, electrode, res, args.plot, what)
    out = {"block_threshold_mA": res.block_threshold_mA, "bracket_mA": list(res.bracket_mA),
           "frequency_khz": res.frequency_khz, "onset_firing": res.onset_firing, "n_runs": res.n_runs,
           "flags": notes,
           "inputs": _run_record(args, diameter_um=args.diameter_um, frequency_khz=res.frequency_khz,
                                 test_delay_ms=res.test_delay_ms, tstop_ms=res.tstop_ms, tolerance=res.tolerance,
                                 electrode=electrode_json)}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{what}; dt {args.dt_ms:g} ms")
    print(f"block threshold {res.block_threshold_mA:.5g} mA at {res.frequency_khz:g} kHz (bracket "
          f"{res.bracket_mA[0]:.5g}-{res.bracket_mA[1]:.5g} mA, {res.n_runs} runs); onset firing: "
          f"{'yes' if res.onset_firing else 'no'}")
    for note in notes:
        print(f"WARNING {note}")
    return 0
