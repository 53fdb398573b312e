"""Command-line interface: ``nervesim threshold ...``.

Exit status: 0 success, 2 bad input (one line naming the parameter), 1 a search that could
not bracket a threshold.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import warnings

from . import __version__
import numpy as np

from .extracellular import Electrode, FilePotentials, media_presets
from .fibre import build_fibre
from .model import available_models
from .simulation import DEFAULT_DT_MS
from .threshold import ThresholdSearchError, search_threshold
from .waveform import Waveform

DEFAULT_NODES = 51


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _sigma_xyz(text: str) -> tuple[float, float, float]:
    parts = text.split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: give three conductivities SX,SY,SZ in S/m")
    return tuple(_finite(p) for p in parts)  # type: ignore[return-value]


class _Parser(argparse.ArgumentParser):
    """Reports bad input as one line on stderr, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _fibre_args(p: argparse.ArgumentParser, diameter: bool = True) -> None:
    p.add_argument("--model", required=True, choices=list(available_models()))
    if diameter:
        p.add_argument("--diameter-um", required=True, type=_finite, help="fibre diameter (um)")
    p.add_argument("--nodes", type=int, default=DEFAULT_NODES,
                   help=f"nodes of Ranvier, odd (default {DEFAULT_NODES}: thresholds within 0.02%% of a 151-node "
                        "fibre for 1.5-16 um fibres 0.5-2 mm from the electrode; see README)")
    p.add_argument("--temperature-c", type=_finite, help="temperature (default the model's, 37 C)")


def _electrode_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("electrode", "a point source (--x-um --y-um and a medium), a cuff preset, "
                                         "or potentials from a file")
    g.add_argument("--x-um", type=_finite, help="electrode transverse offset x (um); with --cuff, the fibre's "
                                               "position in the nerve")
    g.add_argument("--y-um", type=_finite, help="electrode transverse offset y (um)")
    g.add_argument("--z-um", type=_finite, help="electrode position along the fibre (um, 0 = start of the "
                                               "first node); default the centre node")
    _medium_args(g, required=False)
    g.add_argument("--cuff", help="a cuff preset from models/cuffs.toml (e.g. livanova2000)")
    g.add_argument("--nerve-diameter-um", type=_finite, help="nerve diameter for --cuff (um)")
    g.add_argument("--electrode-file", metavar="FILE",
                   help="CSV with header z_um,ve_mV: potential (mV) per 1 mA along the fibre, z as --z-um")


def _medium_args(p, required: bool) -> None:
    med = p.add_mutually_exclusive_group(required=required)
    med.add_argument("--sigma", type=_finite, help="isotropic conductivity (S/m)")
    med.add_argument("--sigma-xyz", type=_sigma_xyz, help="anisotropic conductivities SX,SY,SZ (S/m)")
    med.add_argument("--medium", choices=list(media_presets()), help="a named medium (models/media.toml)")


def _output_args(p: argparse.ArgumentParser, plot: str | None) -> None:
    if plot:
        p.add_argument("--plot", metavar="FILE", help=plot)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _pulse_args(p: argparse.ArgumentParser, width: bool = True) -> None:
    p.add_argument("--pulse", required=True, choices=["mono", "biphasic"])
    if width:
        p.add_argument("--width-ms", required=True, type=_finite, help="pulse width (ms), per phase if biphasic")
    p.add_argument("--gap-ms", type=_finite, help="interphase gap (ms), biphasic only (default 0)")
    p.add_argument("--polarity", choices=["cathodic", "anodic"], default="cathodic",
                   help="polarity of the (first) phase (default cathodic)")


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dt-ms", type=_finite, default=DEFAULT_DT_MS,
                   help=f"time step (default {DEFAULT_DT_MS} ms as ASCENT/PyFibers; 0.005 ms is 5x faster and "
                        "about 1.3%% higher; see README)")
    p.add_argument("--tolerance", type=_finite, default=1e-3, help="relative bracket width (default 0.001)")
    p.add_argument("--max-ma", type=_finite, default=1e3, help="largest amplitude tried (mA, default 1000)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nervesim", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"nervesim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("threshold", help="activation threshold of one fibre",
                       description="Activation threshold of one fibre. The fibre runs along z; x, y are the "
                                   "electrode's transverse offsets.")
    _fibre_args(t)
    _electrode_args(t)
    _pulse_args(t)
    _run_args(t)
    t.add_argument("--tstop-ms", type=_finite,
                   help="run length (default: end of the pulse + 5 ms, enough for the AP to reach the "
                        "detection node; runs stop early once it fires)")
    t.add_argument("--engine", choices=["numba", "neuron"], default="numba",
                   help="numba (default) or the NEURON reference (needs nervesim[neuron])")
    _output_args(t, None)
    t.set_defaults(run=_threshold, subparser=t)

    sd = sub.add_parser("sd-curve", help="strength-duration curve with rheobase and chronaxie",
                        description="Thresholds over pulse widths; Weiss and Lapicque fits.")
    _fibre_args(sd)
    _electrode_args(sd)
    _pulse_args(sd, width=False)
    _run_args(sd)
    sd.add_argument("--widths-ms", required=True, type=_floats, help="pulse widths W1,W2,... (ms, at least 3)")
    _output_args(sd, "write the curve and its fits")
    sd.set_defaults(run=_sd_curve, subparser=sd)

    rc = sub.add_parser("recruitment", help="fraction of a nerve's fibres activated vs current",
                        description="Fibres placed uniformly in a round nerve (diameters uniform in a range), "
                                    "each with a random node phase, under a cuff or point electrode.")
    _fibre_args(rc, diameter=False)
    _electrode_args(rc)
    _pulse_args(rc)
    _run_args(rc)
    rc.add_argument("--fibres", type=int, default=200, help="number of fibres (default 200)")
    rc.add_argument("--diameters-um", type=_floats, default=[2.0, 10.0], help="fibre diameter range LO,HI (um)")
    rc.add_argument("--currents-ma", type=_floats, help="currents I1,I2,... (mA; default 0.25 to 3.5 in 0.25 steps)")
    rc.add_argument("--seed", type=int, default=0, help="random seed of the population (default 0)")
    _output_args(rc, "write the recruitment curve and threshold map")
    rc.set_defaults(run=_recruitment, subparser=rc)

    bl = sub.add_parser("block", help="kHz conduction-block threshold",
                        description="Smallest amplitude of a charge-balanced kHz train that blocks a test AP "
                                    "launched at the first active node (onset firing is not taken for block).")
    _fibre_args(bl)
    _electrode_args(bl)
    bl.add_argument("--frequency-khz", type=_finite, default=10.0, help="train frequency (default 10 kHz)")
    bl.add_argument("--dt-ms", type=_finite, default=0.005, help="time step (default 0.005 ms)")
    _output_args(bl, "write Vm traces just below and at the block threshold")
    bl.set_defaults(run=_block, subparser=bl)

    tc = sub.add_parser("threshold-curve", help="point-source threshold vs distance or vs diameter",
                        description="Thresholds of a point source over the centre node, varying the electrode "
                                    "distance (fixed --diameter-um) or the fibre diameter (fixed --distance-um).")
    _fibre_args(tc, diameter=False)
    tc.add_argument("--vary", required=True, choices=["distance", "diameter"])
    tc.add_argument("--values", required=True, type=_floats, help="distances or diameters V1,V2,... (um)")
    tc.add_argument("--diameter-um", type=_finite, help="fibre diameter when varying distance (um)")
    tc.add_argument("--distance-um", type=_finite, help="electrode distance when varying diameter (um)")
    _medium_args(tc, required=True)
    _pulse_args(tc)
    _run_args(tc)
    _output_args(tc, "write the curve")
    tc.set_defaults(run=_threshold_curve, subparser=tc)

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

    v = sub.add_parser("validate", help="compare against NEURON over a grid of fibres, pulses and distances",
                       description="Run the same fibres in NEURON and in nervesim and compare Vm traces, "
                                   "thresholds and conduction velocities against the targets.")
    v.add_argument("--quick", action="store_true", help="a handful of cases (for CI)")
    v.add_argument("--dt-ms", type=_finite, default=DEFAULT_DT_MS, help=f"time step (default {DEFAULT_DT_MS} ms)")
    v.add_argument("--processes", type=int, help="worker processes (default: every core)")
    v.add_argument("--json", action="store_true", help="print one JSON object with every case")
    v.add_argument("--plot", metavar="FILE", help="write a figure (worst-case traces, threshold agreement)")
    v.set_defaults(run=_validate, subparser=v)
    return p


def _floats(text: str) -> list[float]:
    try:
        return [_finite(x) for x in text.split(",")]
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated finite numbers") from None


def _build_fibre(args: argparse.Namespace, diameter_um: float | None = None):
    """The fibre and any model warnings (e.g. a small-fibre model above its intended range)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fibre = build_fibre(args.model, args.diameter_um if diameter_um is None else diameter_um, args.nodes,
                            temperature_c=args.temperature_c)
    return fibre, [str(w.message) for w in caught]


def _medium(args: argparse.Namespace):
    """The one of --sigma, --sigma-xyz, --medium that was given (or None)."""
    return next((v for v in (args.sigma, args.sigma_xyz, args.medium) if v is not None), None)


def _build_electrode(args: argparse.Namespace, parser: argparse.ArgumentParser, fibre=None):
    """Electrode from the CLI flags; ``fibre`` places a default z at its centre node."""
    medium = _medium(args)
    if args.electrode_file:
        if any(v is not None for v in (args.x_um, args.y_um, args.z_um, medium, args.cuff)):
            parser.error("argument --electrode-file: replaces --x-um/--y-um/--z-um/--sigma/--cuff; give only the file")
        return FilePotentials.from_file(args.electrode_file)
    z = args.z_um if args.z_um is not None else (fibre.node_z_um[fibre.centre_node] if fibre is not None else 0.0)
    if args.cuff:
        if args.nerve_diameter_um is None:
            parser.error("argument --nerve-diameter-um: required with --cuff")
        cuff = Electrode.cuff(args.cuff, args.nerve_diameter_um, z, medium if medium is not None else "endoneurium")
        return cuff.relative_to(args.x_um or 0.0, args.y_um or 0.0)
    for flag, value in (("--x-um", args.x_um), ("--y-um", args.y_um),
                        ("--sigma/--sigma-xyz/--medium", medium)):
        if value is None:
            parser.error(f"argument {flag}: required for a point-source electrode "
                         "(or give --cuff or --electrode-file)")
    return Electrode.point(args.x_um, args.y_um, z, medium)


def _build_waveform(args: argparse.Namespace, parser: argparse.ArgumentParser, width_ms: float) -> Waveform:
    if args.pulse == "mono" and args.gap_ms is not None:
        parser.error("argument --gap-ms: only for --pulse biphasic")
    return Waveform.pulse(args.pulse, width_ms, args.polarity, gap_ms=args.gap_ms or 0.0)


def _sd_curve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .analyses import plot_sd_curve, strength_duration

    try:
        fibre, notes = _build_fibre(args)
        electrode = _build_electrode(args, parser, fibre)
        for w in args.widths_ms:
            _build_waveform(args, parser, w).sample(args.dt_ms, 1)
        sd = strength_duration(args.model, args.diameter_um, electrode, args.widths_ms, pulse=args.pulse,
                               polarity=args.polarity, gap_ms=args.gap_ms or 0.0, n_nodes=args.nodes,
                               dt_ms=args.dt_ms, tolerance=args.tolerance)
    except ValueError as exc:
        parser.error(_flag_name(str(exc)))
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
    from .analyses import FibrePopulation, plot_recruitment, recruitment

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
            _build_fibre(args, d)
        if args.electrode_file:
            parser.error("argument --electrode-file: recruitment needs a point or cuff electrode")
        electrode = _build_electrode(args, parser)
        waveform = _build_waveform(args, parser, args.width_ms)
        waveform.sample(args.dt_ms, 1)
        pop = FibrePopulation.uniform(args.fibres, nerve, tuple(args.diameters_um), seed=args.seed)

        def progress(done, total):
            if not args.json:
                print(f"\r{done}/{total} fibres", end="", file=sys.stderr, flush=True)
        rec = recruitment(args.model, pop, electrode, waveform, currents, n_nodes=args.nodes, dt_ms=args.dt_ms,
                          tolerance=args.tolerance, max_mA=args.max_ma, progress=progress)
    except ValueError as exc:
        parser.error(_flag_name(str(exc)))
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
    from .analyses import plot_threshold_curve, threshold_vs_diameter, threshold_vs_distance

    fixed = ("--diameter-um", args.diameter_um) if args.vary == "distance" else ("--distance-um", args.distance_um)
    if fixed[1] is None:
        parser.error(f"argument {fixed[0]}: required with --vary {args.vary}")
    medium = _medium(args)
    try:
        waveform = _build_waveform(args, parser, args.width_ms)
        waveform.sample(args.dt_ms, 1)
        kw = dict(n_nodes=args.nodes, dt_ms=args.dt_ms, tolerance=args.tolerance)
        if args.vary == "distance":
            curve = threshold_vs_distance(args.model, args.diameter_um, args.values, waveform, medium, **kw)
        else:
            curve = threshold_vs_diameter(args.model, args.values, args.distance_um, waveform, medium, **kw)
    except ValueError as exc:
        parser.error(_flag_name(str(exc)))
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
    from .analyses import block_threshold, plot_block

    try:
        fibre, notes = _build_fibre(args)
        electrode = _build_electrode(args, parser, fibre)
        res = block_threshold(fibre, electrode, args.frequency_khz, dt_ms=args.dt_ms)
    except ValueError as exc:
        parser.error(_flag_name(str(exc)))
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


def _validate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from dataclasses import asdict

    from . import validate

    try:
        from .neuron import neuron_version
    except ImportError as exc:
        parser.error(str(exc))
    if args.processes is not None and args.processes < 1:
        parser.error(f"argument --processes: {args.processes} must be >= 1")

    def progress(i, n, res):
        print(f"\r[{i}/{n}] {res.model} {res.diameter_um:g} um", end="", file=sys.stderr, flush=True)

    start = time.perf_counter()
    cases, cvs = validate.run_validation(args.quick, args.dt_ms, args.processes,
                                         progress=None if args.json else progress)
    if not args.json:
        print(file=sys.stderr)
    summ = validate.summary(cases, cvs)
    summ.update(neuron_version=neuron_version(), nervesim_version=__version__, dt_ms=args.dt_ms,
                runtime_s=time.perf_counter() - start)
    if args.plot:
        worst = summ["worst_dvm_case"]
        _, traces = validate.compare_case(worst["model"], worst["diameter_um"], worst["pulse"],
                                          worst["distance_um"], args.dt_ms, traces=True)
        worst_case = next(c for c in cases if asdict(c) == worst)
        validate.plot(cases, (traces, worst_case), args.plot)
    if args.json:
        print(json.dumps({"summary": summ, "cases": [asdict(c) for c in cases], "cv": [asdict(c) for c in cvs]}))
        return 0 if summ["pass"] else 1
    print(f"NEURON {summ['neuron_version']} vs nervesim {__version__}: {summ['n_cases']} cases, "
          f"{summ['n_cv']} conduction velocities, dt {args.dt_ms:g} ms, {summ['runtime_s']:.0f} s")
    t = validate.TARGETS
    print(f"{'model':13} {'D um':>5} {'pulse':16} {'dist um':>7} {'thr nervesim mA':>16} {'thr NEURON mA':>14} "
          f"{'rel diff':>9} {'max|dVm| mV':>11}")
    for c in sorted(cases, key=lambda c: -c.max_dvm_mV)[:5]:
        print(f"{c.model:13} {c.diameter_um:5g} {c.pulse:16} {c.distance_um:7g} {c.threshold_numba_mA:16.8g} "
              f"{c.threshold_neuron_mA:14.8g} {c.threshold_rel_diff:9.2e} {c.max_dvm_mV:11.2e}")
    for c in sorted(cvs, key=lambda c: -c.cv_rel_diff):
        print(f"CV {c.model:13} {c.diameter_um:5g} um: nervesim {c.cv_numba_m_s:.4f} m/s, "
              f"NEURON {c.cv_neuron_m_s:.4f} m/s, rel diff {c.cv_rel_diff:.2e}")
    print(f"worst |dVm| {summ['max_dvm_mV']:.3e} mV (target {t['max_dvm_mV']}), worst threshold diff "
          f"{summ['max_threshold_rel_diff']:.3e} (target {t['threshold_rel']}), worst CV diff "
          f"{summ['max_cv_rel_diff']:.3e} (target {t['cv_rel']}): {'PASS' if summ['pass'] else 'FAIL'}")
    return 0 if summ["pass"] else 1


def _threshold(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        fibre, notes = _build_fibre(args)
        electrode = _build_electrode(args, parser, fibre)
        waveform = _build_waveform(args, parser, args.width_ms)
        if args.engine == "neuron":
            from .neuron import NeuronStimulation as engine
        else:
            from .simulation import Stimulation as engine
        stim = engine(fibre, electrode, waveform, dt_ms=args.dt_ms, tstop_ms=args.tstop_ms)
    except ValueError as exc:
        parser.error(_flag_name(str(exc)))
    start = time.perf_counter()
    try:
        res = search_threshold(stim, tolerance=args.tolerance, max_mA=args.max_ma)
    except ValueError as exc:
        parser.error(_flag_name(str(exc)))
    except ThresholdSearchError as exc:
        print(f"nervesim: no threshold: {exc}", file=sys.stderr)
        return 1
    runtime = time.perf_counter() - start
    flags = notes + list(res.flags)
    out = {
        "threshold_mA": res.threshold_mA,
        "bracket_mA": list(res.bracket_mA),
        "n_runs": res.n_runs,
        "initiation_node": res.initiation_node,
        "latency_ms": res.latency_ms,
        "detection_node": fibre.detection_node,
        "detection_time_ms": res.detection_time_ms,
        "runtime_s": runtime,
        "flags": flags,
        "model": fibre.model.name,
        "diameter_um": fibre.diameter_um,
        "nodes": fibre.n_nodes,
        "electrode": _describe(args, fibre),
        "waveform": waveform.label,
        "dt_ms": stim.dt_ms,
        "tstop_ms": stim.tstop_ms,
        "temperature_c": fibre.temperature_c,
        "tolerance": res.tolerance,
        "engine": args.engine,
        "nervesim_version": __version__,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{fibre.model.name} {fibre.diameter_um:g} um, {fibre.n_nodes} nodes; {waveform.label}; "
              f"{_describe(args, fibre)}")
        print(f"threshold  {res.threshold_mA:.6g} mA  (bracket {res.bracket_mA[0]:.6g}-{res.bracket_mA[1]:.6g} mA, "
              f"{res.n_runs} runs, {runtime:.3f} s)")
        print(f"AP starts at node {res.initiation_node} after {res.latency_ms:.3f} ms; detected at node "
              f"{fibre.detection_node} at {res.detection_time_ms:.3f} ms")
        for flag in flags:
            print(f"WARNING {flag}")
    return 0


def _sweep(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .sweep import ResultStore, SpecError, load_spec, run_sweep

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
    from .sweep import export, load_results

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
    from .sweep import plot_store

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


def _describe(args: argparse.Namespace, fibre) -> str:
    if args.electrode_file:
        return f"potentials from {args.electrode_file}"
    z = args.z_um if args.z_um is not None else fibre.node_z_um[fibre.centre_node]
    if args.cuff:
        return f"{args.cuff} cuff at z {z:.1f} um on a {args.nerve_diameter_um:g} um nerve"
    return f"electrode at ({args.x_um:g}, {args.y_um:g}, {z:.1f}) um"


def _flag_name(message: str) -> str:
    """Phrase a library error in terms of the CLI flag that set the value."""
    for name, flag in (("n_nodes", "--nodes"), ("diameter", "--diameter-um"), ("dt_ms", "--dt-ms"),
                       ("tstop_ms", "--tstop-ms"), ("temperature_c", "--temperature-c"),
                       ("sigma", "--sigma"), ("width_ms", "--width-ms"), ("gap_ms", "--gap-ms"),
                       ("tolerance", "--tolerance"), ("max_mA", "--max-ma"), ("electrode", "--x-um/--y-um"),
                       ("phase", "--width-ms/--gap-ms/--dt-ms"), ("passive_end_nodes", "--nodes"),
                       ("potentials", "--electrode-file"), ("cuff", "--cuff"),
                       ("nerve_diameter", "--nerve-diameter-um"),
                       ("medium", "--medium")):
        if message.startswith(name):
            return f"argument {flag}: {message}"
    return message


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    return args.run(args, args.subparser)


if __name__ == "__main__":
    sys.exit(main())
