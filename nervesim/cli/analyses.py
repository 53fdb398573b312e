"""Analysis subcommands: ``sd-curve``, ``recruitment``, ``threshold-curve``, ``block``."""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from ..threshold import ThresholdSearchError
from . import common


def add_parsers(sub) -> None:
    sd = sub.add_parser("sd-curve", help="strength-duration curve with rheobase and chronaxie",
                        description="Thresholds over pulse widths; Weiss and Lapicque fits.")
    common.fibre_args(sd)
    common.electrode_args(sd)
    common.pulse_args(sd, width=False)
    common.run_args(sd)
    sd.add_argument("--widths-ms", required=True, type=common.floats, help="pulse widths W1,W2,... (ms, at least 3)")
    common.output_args(sd, "write the curve and its fits")
    sd.set_defaults(run=_sd_curve, subparser=sd)

    rc = sub.add_parser("recruitment", help="fraction of a nerve's fibres activated vs current",
                        description="Fibres placed uniformly in a round nerve (diameters uniform in a range), "
                                    "each with a random node phase, under a cuff or point electrode.")
    common.fibre_args(rc, diameter=False)
    common.electrode_args(rc)
    common.pulse_args(rc)
    common.run_args(rc)
    rc.add_argument("--fibres", type=int, default=200, help="number of fibres (default 200)")
    rc.add_argument("--diameters-um", type=common.floats, default=[2.0, 10.0], help="fibre diameter range LO,HI (um)")
    rc.add_argument("--currents-ma", type=common.floats,
                    help="currents I1,I2,... (mA; default 0.25 to 3.5 in 0.25 steps)")
    rc.add_argument("--seed", type=int, default=0, help="random seed of the population (default 0)")
    common.output_args(rc, "write the recruitment curve and threshold map")
    rc.set_defaults(run=_recruitment, subparser=rc)

    bl = sub.add_parser("block", help="kHz conduction-block threshold",
                        description="Smallest amplitude of a charge-balanced kHz train that blocks a test AP "
                                    "launched at the first active node (onset firing is not taken for block).")
    common.fibre_args(bl)
    common.electrode_args(bl)
    bl.add_argument("--frequency-khz", type=common.finite, default=10.0, help="train frequency (default 10 kHz)")
    bl.add_argument("--dt-ms", type=common.finite, default=0.005, help="time step (default 0.005 ms)")
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


def _sd_curve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..analyses import plot_sd_curve, strength_duration

    try:
        fibre, notes = common.build_fibre(args)
        electrode = common.build_electrode(args, parser, fibre)
        for w in args.widths_ms:
            common.build_waveform(args, parser, w).sample(args.dt_ms, 1)
        sd = strength_duration(args.model, args.diameter_um, electrode, args.widths_ms, pulse=args.pulse,
                               polarity=args.polarity, gap_ms=args.gap_ms or 0.0, n_nodes=args.nodes,
                               dt_ms=args.dt_ms, tolerance=args.tolerance)
    except ValueError as exc:
        common.fail(parser, exc, args)
    except ThresholdSearchError as exc:
        print(f"nervesim: no strength-duration curve: {exc}", file=sys.stderr)
        return 1
    if args.plot:
        plot_sd_curve(sd, args.plot, f"{args.model} {args.diameter_um:g} um, {args.pulse} {args.polarity}")
    fits = {f.form: {"rheobase_mA": f.rheobase_mA, "chronaxie_ms": f.chronaxie_ms, "rms_rel_error": f.rms_rel_error}
            for f in (sd.weiss, sd.lapicque)}
    out = {"rheobase_mA": sd.rheobase_mA, "chronaxie_ms": sd.chronaxie_ms, "best_fit": sd.best.form,
           "thresholds": [[float(w), float(t)] for w, t in zip(sd.widths_ms, sd.thresholds_mA)], "fits": fits,
           "flags": notes + list(sd.errors)}
    if args.json:
        print(json.dumps(out))
        return 0
    for w, t in zip(sd.widths_ms, sd.thresholds_mA):
        print(f"width {w:8.4g} ms  threshold {t:.6g} mA")
    for f in (sd.weiss, sd.lapicque):
        print(f"{f.form:9} rheobase {f.rheobase_mA:.5g} mA, chronaxie {f.chronaxie_ms:.4g} ms "
              f"(rms relative error {100 * f.rms_rel_error:.2f} %)")
    for note in out["flags"]:
        print(f"WARNING {note}")
    return 0


def _recruitment(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..analyses import FibrePopulation, plot_recruitment, recruitment

    currents = args.currents_ma or [0.25 * i for i in range(1, 15)]
    if args.fibres < 1:
        parser.error(f"argument --fibres: {args.fibres} must be >= 1")
    if len(args.diameters_um) != 2 or not 0 < args.diameters_um[0] <= args.diameters_um[1]:
        parser.error(f"argument --diameters-um: give LO,HI with 0 < LO <= HI (got {args.diameters_um})")
    nerve = args.nerve_diameter_um
    if nerve is None:
        parser.error("argument --nerve-diameter-um: required (fibres are placed inside the nerve)")
    try:
        for d in args.diameters_um:
            common.build_fibre(args, d)
        if args.electrode_file:
            parser.error("argument --electrode-file: recruitment needs a point or cuff electrode")
        electrode = common.build_electrode(args, parser)
        waveform = common.build_waveform(args, parser, args.width_ms)
        waveform.sample(args.dt_ms, 1)
        pop = FibrePopulation.uniform(args.fibres, nerve, tuple(args.diameters_um), seed=args.seed)

        def progress(done, total):
            if not args.json:
                print(f"\r{done}/{total} fibres", end="", file=sys.stderr, flush=True)
        rec = recruitment(args.model, pop, electrode, waveform, currents, n_nodes=args.nodes, dt_ms=args.dt_ms,
                          tolerance=args.tolerance, max_mA=args.max_ma, progress=progress)
    except ValueError as exc:
        common.fail(parser, exc, args)
    if args.plot:
        plot_recruitment(rec, args.plot, f"{args.model}, {waveform.label}")
    out = {"currents_mA": rec.currents_mA.tolist(), "fraction_activated": rec.fraction.tolist(),
           "thresholds_mA": [None if not np.isfinite(t) else float(t) for t in rec.thresholds_mA],
           "diameters_um": pop.diameter_um.tolist(), "x_um": pop.x_um.tolist(), "y_um": pop.y_um.tolist(),
           "failed": len(rec.errors), "errors": list(rec.errors)}
    if args.json:
        print(json.dumps(out))
        return 0
    print(file=sys.stderr)
    for c, f in zip(rec.currents_mA, rec.fraction):
        print(f"{c:7.3f} mA  {100 * f:5.1f} % activated")
    if rec.errors:
        print(f"WARNING {len(rec.errors)} fibres had no threshold below --max-ma (counted as not activated)")
    return 0


def _threshold_curve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..analyses import plot_threshold_curve, threshold_vs_diameter, threshold_vs_distance

    fixed = ("--diameter-um", args.diameter_um) if args.vary == "distance" else ("--distance-um", args.distance_um)
    if fixed[1] is None:
        parser.error(f"argument {fixed[0]}: required with --vary {args.vary}")
    medium = common.chosen_medium(args)
    try:
        waveform = common.build_waveform(args, parser, args.width_ms)
        waveform.sample(args.dt_ms, 1)
        kw = dict(n_nodes=args.nodes, dt_ms=args.dt_ms, tolerance=args.tolerance)
        if args.vary == "distance":
            curve = threshold_vs_distance(args.model, args.diameter_um, args.values, waveform, medium, **kw)
        else:
            curve = threshold_vs_diameter(args.model, args.values, args.distance_um, waveform, medium, **kw)
    except ValueError as exc:
        common.fail(parser, exc, args)
    if args.plot:
        plot_threshold_curve(curve, args.plot, f"{args.model}, {waveform.label}")
    pairs = [[float(v), None if not np.isfinite(t) else float(t)] for v, t in zip(curve.values, curve.thresholds_mA)]
    if args.json:
        print(json.dumps({"parameter": curve.parameter, "thresholds": pairs, "errors": list(curve.errors)}))
        return 0
    for v, t in pairs:
        print(f"{curve.parameter} {v:g}: " + (f"{t:.6g} mA" if t is not None else "no threshold"))
    for e in curve.errors:
        print(f"WARNING {e}")
    return 0


def _block(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..analyses import block_threshold, plot_block

    try:
        fibre, notes = common.build_fibre(args)
        electrode = common.build_electrode(args, parser, fibre)
        res = block_threshold(fibre, electrode, args.frequency_khz, dt_ms=args.dt_ms)
    except ValueError as exc:
        common.fail(parser, exc, args)
    except ThresholdSearchError as exc:
        print(f"nervesim: no block threshold: {exc}", file=sys.stderr)
        return 1
    if args.plot:
        plot_block(fibre, electrode, res, args.plot)
    out = {"block_threshold_mA": res.block_threshold_mA, "bracket_mA": list(res.bracket_mA),
           "frequency_khz": res.frequency_khz, "onset_firing": res.onset_firing, "n_runs": res.n_runs,
           "flags": notes}
    if args.json:
        print(json.dumps(out))
    else:
        print(f"block threshold {res.block_threshold_mA:.5g} mA at {res.frequency_khz:g} kHz (bracket "
              f"{res.bracket_mA[0]:.5g}-{res.bracket_mA[1]:.5g} mA, {res.n_runs} runs); onset firing: "
              f"{'yes' if res.onset_firing else 'no'}")
    return 0
