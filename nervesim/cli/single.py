"""Single-fibre subcommands: ``models``, ``threshold``, ``simulate``, ``validate``."""
from __future__ import annotations

import argparse
import json
import sys
import time

from .. import __version__
from ..threshold import ActivationWindow, ThresholdSearchError, activation_window, end_excitation_flag, search_threshold
from . import common


def add_parsers(sub) -> None:
    m = sub.add_parser("models", help="list the fibre models with their diameter ranges",
                       description="The fibre models --model takes: family, diameter range, default temperature, "
                                   "default length and membrane mechanisms.")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(run=_models, subparser=m)

    t = sub.add_parser("threshold", help="activation threshold of one fibre",
                       description="Activation threshold of one fibre. The fibre runs along z; x, y are the "
                                   "electrode's transverse offsets (with --field: the fibre's place in the nerve).")
    common.fibre_args(t, length=True)
    common.electrode_args(t, field=True)
    common.pulse_args(t)
    common.run_args(t)
    t.add_argument("--tstop-ms", type=common.finite,
                   help="run length (default: end of the pulse + 5 ms for MRG; for slowly conducting C fibres + 10 "
                        "ms + the time to conduct along the fibre; runs stop early once the outcome is decided)")
    t.add_argument("--engine", choices=["numba", "neuron"], default="numba",
                   help="numba (default) or the NEURON reference (needs nervesim[neuron])")
    t.add_argument("--activation-window", action="store_true",
                   help="also scan above threshold (up to --max-ma) for a block window: the amplitude where APs "
                        "stop reaching the detection node (virtual-anode block) and where they fire again")
    common.size_args(t)
    common.output_args(t, None)
    t.set_defaults(run=_threshold, subparser=t)

    sm = sub.add_parser("simulate", help="membrane potential of one fibre at one amplitude, in time and space",
                        description="Run one stimulation at --amplitude-ma and report where and when APs start and "
                                    "arrive; --plot draws Vm against time at chosen nodes and a space-time image, "
                                    "--csv writes Vm of every node at every step.")
    common.fibre_args(sm, length=True)
    common.electrode_args(sm, field=True)
    common.pulse_args(sm)
    sm.add_argument("--amplitude-ma", required=True, type=common.finite,
                    help="stimulus amplitude (mA, a magnitude; --polarity sets the sign)")
    sm.add_argument("--dt-ms", type=common.finite, default=common.DEFAULT_DT_MS,
                    help=f"time step (default {common.DEFAULT_DT_MS} ms)")
    sm.add_argument("--tstop-ms", type=common.finite,
                    help="run length (default: end of the pulse + 5 ms for MRG, longer for C fibres)")
    sm.add_argument("--trace-nodes", type=common.floats, metavar="N1,N2,...",
                    help="nodes whose Vm is drawn against time (default: the centre, initiation and detection "
                         "nodes)")
    sm.add_argument("--csv", metavar="FILE", help="write t_ms and Vm (mV) of every node, one row per step")
    sm.add_argument("--engine", choices=["numba", "neuron"], default="numba",
                    help="numba (default) or the NEURON reference (needs nervesim[neuron])")
    common.fast_arg(sm)
    common.size_args(sm)
    common.output_args(sm, "write Vm traces and the space-time image (png, pdf, svg)")
    sm.set_defaults(run=_simulate, subparser=sm)

    v = sub.add_parser("validate", help="compare against NEURON over a grid of fibres, pulses and distances",
                       description="Run the same fibres in NEURON and in nervesim and compare Vm traces, "
                                   "thresholds and conduction velocities against the targets; with --pyfibers "
                                   "compare thresholds with PyFibers' own models and search instead.")
    v.add_argument("--quick", action="store_true", help="a handful of cases (for CI)")
    v.add_argument("--pyfibers", action="store_true",
                   help="thresholds against PyFibers (needs pyfibers): every model, diameters across its range, "
                        "0.25-2 mm, 0.1 and 1 ms, both polarities (--quick: one case per model)")
    v.add_argument("--models", type=lambda s: s.split(","), metavar="M1,M2,...",
                   help="only these models (full grids)")
    v.add_argument("--dt-ms", type=common.finite, default=common.DEFAULT_DT_MS,
                   help=f"time step (default {common.DEFAULT_DT_MS} ms)")
    v.add_argument("--processes", type=int, help="worker processes (default: every core)")
    v.add_argument("--json", action="store_true", help="print one JSON object with every case")
    v.add_argument("--plot", metavar="FILE", help="write a figure (worst-case traces, threshold agreement)")
    v.set_defaults(run=_validate, subparser=v)


def _validate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from dataclasses import asdict

    from .. import validate
    from ..model import available_models

    try:
        from ..neuron import neuron_version
    except ImportError as exc:
        parser.error(str(exc))
    if args.processes is not None and args.processes < 1:
        parser.error(f"argument --processes: {args.processes} must be >= 1")
    unknown = sorted(set(args.models or ()) - set(available_models()))
    if unknown:
        parser.error(f"argument --models: unknown {', '.join(unknown)}; choose from {', '.join(available_models())}")
    if args.pyfibers:
        return _validate_pyfibers(args, parser)
    if args.models and args.quick:
        parser.error("argument --models: not with --quick (the quick grid is fixed)")

    def progress(i, n, res):
        print(f"\r[{i}/{n}] {res.model} {res.diameter_um:g} um", end="", file=sys.stderr, flush=True)

    start = time.perf_counter()
    cases, cvs = validate.run_validation(args.quick, args.dt_ms, args.processes,
                                         progress=None if args.json else progress, models=args.models)
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


def _validate_pyfibers(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from dataclasses import asdict

    from .. import validate
    from ..pyfibers_ref import ensure_pyfibers

    cases = validate.pyfibers_grid(args.quick, args.models)
    try:
        ensure_pyfibers()  # before the first of our searches
    except ImportError as exc:
        parser.error(str(exc))

    def progress(i, n, res):
        print(f"\r[{i}/{n}] {res.model} {res.diameter_um:g} um", end="", file=sys.stderr, flush=True)

    start = time.perf_counter()
    out = validate.compare_pyfibers(cases, args.dt_ms, progress=None if args.json else progress)
    done = [c for c in out if c.rel_diff == c.rel_diff]  # PyFibers answered (not NaN)
    worst = max((c.rel_diff for c in done), default=float("nan"))
    ok = bool(done) and worst <= validate.PYFIBERS_LIMIT
    if args.json:
        print(json.dumps({"cases": [asdict(c) for c in out], "worst_rel_diff": worst, "pass": ok,
                          "runtime_s": time.perf_counter() - start, "nervesim_version": __version__}))
        return 0 if ok else 1
    print(file=sys.stderr)
    print(f"PyFibers vs nervesim {__version__}: {len(out)} cases ({len(out) - len(done)} PyFibers refused), dt "
          f"{args.dt_ms:g} ms, {time.perf_counter() - start:.0f} s; worst first:")
    print(f"{'model':15} {'D um':>5} {'pulse':12} {'polarity':8} {'dist um':>7} {'nervesim mA':>12} "
          f"{'PyFibers mA':>12} {'rel diff':>9}  note")
    for c in sorted(out, key=lambda c: -c.rel_diff if c.rel_diff == c.rel_diff else 1.0):
        print(f"{c.model:15} {c.diameter_um:5g} {c.pulse:12} {c.polarity:8} {c.distance_um:7g} "
              f"{c.threshold_mA:12.6g} {c.threshold_pyfibers_mA:12.6g} {c.rel_diff:9.2e}  {c.note}")
    below = sum(c.rel_diff <= validate.PYFIBERS_TARGET for c in done)
    print(f"worst rel diff {worst:.2e}; {below} of {len(done)} within {validate.PYFIBERS_TARGET:g} (limit "
          f"{validate.PYFIBERS_LIMIT:g}): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


def _threshold(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        fibre, notes = common.build_fibre(args)
        electrode = common.build_electrode(args, parser, fibre)
        waveform = common.build_waveform(args, parser, args.width_ms)
        stim = common.stimulation(args, fibre, electrode, waveform)
    except ValueError as exc:
        common.fail(parser, exc, args)
    start = time.perf_counter()
    window = None
    try:
        if args.activation_window:
            window = activation_window(stim, tolerance=args.tolerance, max_mA=args.max_ma)
            res = window.threshold
        else:
            res = search_threshold(stim, tolerance=args.tolerance, max_mA=args.max_ma)
    except ValueError as exc:
        common.fail(parser, exc, args)
    except ThresholdSearchError as exc:
        print(f"nervesim: no threshold: {exc}", file=sys.stderr)
        return 1
    runtime = time.perf_counter() - start
    flags = notes + list(res.flags)
    place, where = common.describe_electrode(args, fibre)
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
        "electrode": where,
        "waveform": waveform.label,
        "dt_ms": stim.dt_ms,
        "tstop_ms": stim.tstop_ms,
        "temperature_c": fibre.temperature_c,
        "tolerance": res.tolerance,
        "engine": args.engine,
        "fast": args.fast,
        "nervesim_version": __version__,
    }
    if window is not None:
        out.update(block_onset_mA=window.block_onset_mA, block_bracket_mA=window.block_bracket_mA,
                   reexcitation_mA=window.reexcitation_mA, reexcitation_bracket_mA=window.reexcitation_bracket_mA,
                   window_scanned_to_mA=window.scanned_to_mA, window_runs=len(window.runs))
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{fibre.model.name} {fibre.diameter_um:g} um, {fibre.n_nodes} nodes; {waveform.label}; "
              f"{place}")
        print(f"threshold  {res.threshold_mA:.6g} mA  (bracket {res.bracket_mA[0]:.6g}-{res.bracket_mA[1]:.6g} mA, "
              f"{res.n_runs} runs, {runtime:.3f} s)")
        print(f"AP starts at node {res.initiation_node} after {res.latency_ms:.3f} ms; detected at node "
              f"{fibre.detection_node} at {res.detection_time_ms:.3f} ms")
        if window is not None:
            print(_window_text(window))
        for flag in flags:
            print(f"WARNING {flag}")
    return 0


def _window_text(w: ActivationWindow) -> str:
    """One line on the block window above threshold."""
    if w.block_onset_mA is None:
        return f"block window: none; every amplitude tried from threshold up to {w.scanned_to_mA:.6g} mA fired"
    lo, hi = w.block_bracket_mA
    text = f"block window: APs stop reaching the detection node from {hi:.6g} mA (fires at {lo:.6g} mA)"
    if w.reexcitation_mA is None:
        return text + f"; none fired again up to {w.scanned_to_mA:.6g} mA"
    return text + f" and fire again from {w.reexcitation_mA:.6g} mA (blocked at {w.reexcitation_bracket_mA[0]:.6g} mA)"


def _simulate(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    common.check_output(parser, "--plot", args.plot, "figure", inputs=(args.field,))
    common.check_output(parser, "--csv", args.csv, "csv", inputs=(args.field,))
    try:
        fibre, notes = common.build_fibre(args)
        trace_nodes = _node_list(parser, args.trace_nodes, fibre.n_nodes)
        electrode = common.build_electrode(args, parser, fibre)
        waveform = common.build_waveform(args, parser, args.width_ms)
        stim = common.stimulation(args, fibre, electrode, waveform)
        run = stim.run(args.amplitude_ma, record_nodes=range(fibre.n_nodes))
    except ValueError as exc:
        common.fail(parser, exc, args)
    place, where = common.describe_electrode(args, fibre)
    fired_nodes = [int(n) for n in (run.ap_counts > 0).nonzero()[0]]
    flags = list(notes)
    if run.end_excitation:
        flags.append(end_excitation_flag(run))
    out = {"amplitude_mA": run.amplitude_mA, "fired": run.fired, "nodes_with_ap": fired_nodes,
           "initiation_node": run.initiation_node, "latency_ms": _finite_or_none(run.latency_ms),
           "detection_node": fibre.detection_node,
           "detection_time_ms": _finite_or_none(run.ap_times_ms[fibre.detection_node]),
           "vm_min_mV": float(run.vm_mV.min()), "vm_max_mV": float(run.vm_mV.max()), "flags": flags,
           "model": fibre.model.name, "diameter_um": fibre.diameter_um, "nodes": fibre.n_nodes, "electrode": where,
           "waveform": waveform.label, "dt_ms": stim.dt_ms, "tstop_ms": stim.tstop_ms,
           "temperature_c": fibre.temperature_c, "engine": args.engine, "fast": args.fast,
           "nervesim_version": __version__}
    if args.csv:
        _write_vm_csv(args.csv, run)
    if args.plot:
        shown = trace_nodes or sorted({fibre.centre_node, fibre.detection_node}
                                      | ({run.initiation_node} if run.initiation_node is not None else set()))
        _plot_run(run, shown, args.plot, f"{fibre.model.name} {fibre.diameter_um:g} um, {waveform.label}, "
                                         f"{args.amplitude_ma:g} mA\n{place}")
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{fibre.model.name} {fibre.diameter_um:g} um, {fibre.n_nodes} nodes; {waveform.label} at "
          f"{args.amplitude_ma:g} mA; {place}")
    if run.initiation_node is None:
        print(f"no node crossed -30 mV by {stim.tstop_ms:g} ms (Vm {out['vm_min_mV']:.1f} to "
              f"{out['vm_max_mV']:.1f} mV)")
    else:
        arrival = (f"detected at node {fibre.detection_node} at {out['detection_time_ms']:.3f} ms" if run.fired
                   else f"not detected at node {fibre.detection_node} by {stim.tstop_ms:g} ms")
        print(f"AP starts at node {run.initiation_node} after {run.latency_ms:.3f} ms; {arrival}; "
              f"{len(fired_nodes)} of {fibre.n_nodes} nodes crossed -30 mV")
    for flag in flags:
        print(f"WARNING {flag}")
    for path in (args.csv, args.plot):
        if path:
            print(f"wrote {path}")
    return 0


def _node_list(parser: argparse.ArgumentParser, values: list[float] | None, n_nodes: int) -> list[int]:
    """Node indices from ``--trace-nodes``: whole numbers in 0..n_nodes-1."""
    if values is None:
        return []
    bad = [v for v in values if v != int(v) or not 0 <= v < n_nodes]
    if bad:
        parser.error(f"argument --trace-nodes: {bad[0]:g} is not a node of this fibre (0..{n_nodes - 1})")
    return sorted({int(v) for v in values})


def _finite_or_none(value: float) -> float | None:
    return None if value != value else float(value)  # NaN -> JSON null


def _write_vm_csv(path: str, run) -> None:
    """Vm of every recorded node at every step: columns t_ms, node0_mV, node1_mV, ..."""
    import numpy as np

    header = ",".join(["t_ms"] + [f"node{n}_mV" for n in run.recorded_nodes])
    np.savetxt(path, np.column_stack([run.t_ms, run.vm_mV.T]), delimiter=",", header=header, comments="",
               fmt="%.9g")


def _plot_run(run, trace_nodes: list[int], path: str, title: str) -> None:
    """Vm against time at ``trace_nodes`` beside a node-by-time image of Vm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for n in trace_nodes:
        left.plot(run.t_ms, run.vm_mV[run.recorded_nodes.index(n)], lw=1, label=f"node {n}")
    left.axhline(-30, color="0.6", lw=0.6, ls="--")
    left.set(xlabel="time (ms)", ylabel="Vm (mV)")
    left.legend(fontsize=8, loc="upper right")
    img = right.imshow(run.vm_mV, aspect="auto", origin="lower", cmap="viridis", interpolation="nearest",
                       extent=(0, run.t_ms[-1], -0.5, len(run.recorded_nodes) - 0.5), vmin=-100, vmax=50)
    right.set(xlabel="time (ms)", ylabel="node")
    fig.colorbar(img, ax=right, label="Vm (mV, clipped to -100..50)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _models(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..model import available_models, load_model

    rows = []
    for name in available_models():
        m = load_model(name)
        rows.append({"model": name, "family": m.family, "min_diameter_um": m.min_um, "max_diameter_um": m.max_um,
                     "temperature_c": float(m.definition["electrical"]["temperature_c"]),
                     "default_nodes": m.default_nodes, "mechanisms": [x.name for x in m.membrane.mechanisms],
                     "description": m.description})
    if args.json:
        print(json.dumps({"models": rows, "nervesim_version": __version__}))
        return 0
    for r in rows:
        print(f"{r['model']:<16} {r['family']:<13} {r['min_diameter_um']:g}-{r['max_diameter_um']:g} um  "
              f"{r['temperature_c']:g} C  {r['default_nodes']} nodes  {', '.join(r['mechanisms'])}")
    return 0
