"""Command-line interface: ``nervesim threshold ...``.

Exit status: 0 success, 2 bad input (one line naming the parameter), 1 a search that could
not bracket a threshold.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings

from . import __version__
from .extracellular import Electrode
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


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nervesim", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"nervesim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("threshold", help="activation threshold of one fibre under a point-source electrode",
                       description="Activation threshold of one fibre under a point-source electrode. "
                                   "The fibre runs along z; x, y are the electrode's transverse offsets.")
    t.add_argument("--model", required=True, choices=list(available_models()))
    t.add_argument("--diameter-um", required=True, type=_finite, help="fibre diameter (um)")
    t.add_argument("--nodes", type=int, default=DEFAULT_NODES,
                   help=f"nodes of Ranvier, odd (default {DEFAULT_NODES}: thresholds within 0.02%% of a 151-node "
                        "fibre for 1.5-16 um fibres 0.5-2 mm from the electrode; see README)")
    t.add_argument("--x-um", required=True, type=_finite, help="electrode transverse offset x (um)")
    t.add_argument("--y-um", required=True, type=_finite, help="electrode transverse offset y (um)")
    t.add_argument("--z-um", type=_finite, help="electrode position along the fibre (um, 0 = start of the "
                                               "first node); default the centre node")
    med = t.add_mutually_exclusive_group(required=True)
    med.add_argument("--sigma", type=_finite, help="isotropic conductivity (S/m)")
    med.add_argument("--sigma-xyz", type=_sigma_xyz, help="anisotropic conductivities SX,SY,SZ (S/m)")
    t.add_argument("--pulse", required=True, choices=["mono", "biphasic"])
    t.add_argument("--width-ms", required=True, type=_finite, help="pulse width (ms), per phase if biphasic")
    t.add_argument("--gap-ms", type=_finite, help="interphase gap (ms), biphasic only (default 0)")
    t.add_argument("--polarity", choices=["cathodic", "anodic"], default="cathodic",
                   help="polarity of the (first) phase (default cathodic)")
    t.add_argument("--dt-ms", type=_finite, default=DEFAULT_DT_MS,
                   help=f"time step (default {DEFAULT_DT_MS} ms as ASCENT/PyFibers; 0.005 ms is 5x faster and "
                        "about 1.3%% higher; see README)")
    t.add_argument("--tstop-ms", type=_finite,
                   help="run length (default: end of the pulse + 5 ms, enough for the AP to reach the "
                        "detection node; runs stop early once it fires)")
    t.add_argument("--temperature-c", type=_finite, help="temperature (default the model's, 37 C)")
    t.add_argument("--tolerance", type=_finite, default=1e-3, help="relative bracket width (default 0.001)")
    t.add_argument("--max-ma", type=_finite, default=1e3, help="largest amplitude tried (mA, default 1000)")
    t.add_argument("--engine", choices=["numba", "neuron"], default="numba",
                   help="numba (default) or the NEURON reference (needs nervesim[neuron])")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(run=_threshold, subparser=t)

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
    if args.pulse == "mono" and args.gap_ms is not None:
        parser.error("argument --gap-ms: only for --pulse biphasic")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fibre = build_fibre(args.model, args.diameter_um, args.nodes, temperature_c=args.temperature_c)
        sigma = args.sigma if args.sigma is not None else args.sigma_xyz
        z = fibre.node_z_um[fibre.centre_node] if args.z_um is None else args.z_um
        electrode = Electrode.point(args.x_um, args.y_um, z, sigma)
        if args.pulse == "mono":
            waveform = Waveform.monophasic(args.width_ms, args.polarity)
        else:
            waveform = Waveform.biphasic(args.width_ms, args.polarity, gap_ms=args.gap_ms or 0.0)
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
    flags = [str(w.message) for w in caught] + list(res.flags)
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
        "electrode_um": [args.x_um, args.y_um, float(z)],
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
              f"electrode at ({args.x_um:g}, {args.y_um:g}, {float(z):.1f}) um")
        print(f"threshold  {res.threshold_mA:.6g} mA  (bracket {res.bracket_mA[0]:.6g}-{res.bracket_mA[1]:.6g} mA, "
              f"{res.n_runs} runs, {runtime:.3f} s)")
        print(f"AP starts at node {res.initiation_node} after {res.latency_ms:.3f} ms; detected at node "
              f"{fibre.detection_node} at {res.detection_time_ms:.3f} ms")
        for flag in flags:
            print(f"WARNING {flag}")
    return 0


def _flag_name(message: str) -> str:
    """Phrase a library error in terms of the CLI flag that set the value."""
    for name, flag in (("n_nodes", "--nodes"), ("diameter", "--diameter-um"), ("dt_ms", "--dt-ms"),
                       ("tstop_ms", "--tstop-ms"), ("temperature_c", "--temperature-c"),
                       ("sigma", "--sigma"), ("width_ms", "--width-ms"), ("gap_ms", "--gap-ms"),
                       ("tolerance", "--tolerance"), ("max_mA", "--max-ma"), ("electrode", "--x-um/--y-um"),
                       ("phase", "--width-ms/--gap-ms/--dt-ms"), ("passive_end_nodes", "--nodes")):
        if message.startswith(name):
            return f"argument {flag}: {message}"
    return message


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    return args.run(args, args.subparser)


if __name__ == "__main__":
    sys.exit(main())
