"""Speed per fibre model: ``python -m benchmarks.models [--models a,b] [--no-pyfibers]``.

For every model, one case (MRG and Sweeney 10 µm, 51 nodes; C fibres 1 µm, 265 sections; point source
500 µm from the centre node in 0.2 S/m; 0.1 ms cathodic pulse; dt 0.005 ms):

- µs per time step of one sub-threshold run (every step computed), nervesim against our NEURON build of the
  same fibre (NEURON's ``fadvance`` loop, ``nervesim.neuron``), tstop 5 ms, median of repeats;
- the same run in the fast mode (``fast=True``: extracellular layers held at Ve), and the fast mode's
  threshold against the exact engine's, both searched to brackets of
  `FAST_CHECK_TOLERANCE`;
- a threshold search at 1 % tolerance: nervesim's ``search_threshold`` (from its own first guess) against
  PyFibers' own model and ``find_threshold`` (bounds moved by 10 %, bisection, a confirming run, early exit
  5 ms after the top run's AP), same dt and the same run length (nervesim's default tstop for the model);
  ours the median of `SEARCH_REPEATS` searches (each building its Stimulation, as ``find_threshold`` does: an MRG
  search takes a few ms, too short to time once on a shared machine), PyFibers' one search (20-60 s for a C
  fibre); both thresholds are listed (they differ by up to the 1 % tolerance). PyFibers' default
  bounds (0.01-1 mA) fail where 1 mA blocks conduction (Sweeney 10 µm: it raises the top into NEURON
  errors), so it gets bounds of the same 100:1 span placed to favour it: top 2x our threshold.

Writes results/models_table.txt and results/models.json; about 10 minutes with PyFibers (its C-fibre
searches take 20-60 s each).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nervesim
from benchmarks.__main__ import machine
from benchmarks.peers import timed
from nervesim.threshold import search_threshold

RESULTS = Path(__file__).parent / "results"
DT_MS, DISTANCE_UM, SIGMA, TOLERANCE = 0.005, 500.0, 0.2, 0.01
SEARCH_REPEATS = 5
FAST_CHECK_TOLERANCE = 1e-5
PULSE = nervesim.Waveform.monophasic(0.1, "cathodic")


def case(model: str):
    m = nervesim.load_model(model)
    diameter = 10.0 if m.myelinated else 1.0
    f = nervesim.build_fibre(model, diameter)
    return f, nervesim.Electrode.point(0.0, DISTANCE_UM, f.node_z_um[f.centre_node], SIGMA)


def bench_model(model: str, nrn, pyfibers: bool) -> dict:
    f, el = case(model)
    ours = nervesim.Stimulation(f, el, PULSE, dt_ms=DT_MS, tstop_ms=5.0)
    ref = nrn.NeuronStimulation(f, el, PULSE, dt_ms=DT_MS, tstop_ms=5.0)
    thr = search_threshold(nervesim.Stimulation(f, el, PULSE, dt_ms=DT_MS), tolerance=TOLERANCE)
    sub = 0.5 * thr.threshold_mA
    fast = nervesim.Stimulation(f, el, PULSE, dt_ms=DT_MS, tstop_ms=5.0, fast=True)
    t_ours, _ = timed(lambda: ours.run(sub), 5, warm_up=True)
    t_fast, _ = timed(lambda: fast.run(sub), 5, warm_up=True)
    t_ref, _ = timed(lambda: ref.run(sub), 1, warm_up=True)
    fine = [search_threshold(nervesim.Stimulation(f, el, PULSE, dt_ms=DT_MS, fast=x), tolerance=FAST_CHECK_TOLERANCE,
                             start_mA=thr.threshold_mA).threshold_mA for x in (False, True)]
    t_search, res = timed(lambda: search_threshold(nervesim.Stimulation(f, el, PULSE, dt_ms=DT_MS),
                                                    tolerance=TOLERANCE), SEARCH_REPEATS, warm_up=False)
    stim = nervesim.Stimulation(f, el, PULSE, dt_ms=DT_MS)
    row = {"model": model, "diameter_um": f.diameter_um, "nodes": f.n_nodes, "sections": f.n_sections,
           "tstop_ms": stim.tstop_ms, "us_per_step_nervesim": 1e6 * t_ours / ours.n_steps,
           "us_per_step_neuron": 1e6 * t_ref / ours.n_steps, "step_ratio": t_ref / t_ours,
           "us_per_step_fast": 1e6 * t_fast / ours.n_steps, "step_ratio_fast": t_ref / t_fast,
           "threshold_mA_exact_fine": fine[0], "threshold_mA_fast_fine": fine[1],
           "fast_rel_diff": (fine[1] - fine[0]) / fine[0],
           "threshold_s_nervesim": t_search, "threshold_mA_nervesim": res.threshold_mA, "runs_nervesim": res.n_runs}
    if pyfibers:
        from nervesim.pyfibers_ref import PyFibersCase, pyfibers_thresholds

        pf = pyfibers_thresholds([PyFibersCase(model=model, diameter_um=f.diameter_um, n_nodes=f.n_nodes, x_um=0.0,
                                               y_um=DISTANCE_UM, waveform=((0.1, -1.0),), dt_ms=DT_MS,
                                               tstop_ms=stim.tstop_ms, sigma_S_m=SIGMA, tolerance=TOLERANCE,
                                               stimamp_top_mA=2 * res.threshold_mA,
                                               stimamp_bottom_mA=0.02 * res.threshold_mA)])[0]
        row.update(threshold_s_pyfibers=pf.wall_s, threshold_mA_pyfibers=pf.threshold_mA, runs_pyfibers=pf.n_runs,
                   pyfibers_error=pf.error, threshold_ratio=pf.wall_s / t_search)
    return row


def table(res: dict) -> list[str]:
    lines = [f"machine: {res['machine']}; NEURON {res['neuron_version']}; dt {DT_MS} ms, {PULSE.label}, point "
             f"source {DISTANCE_UM:g} um, {SIGMA} S/m; thresholds at {100 * TOLERANCE:g} % tolerance (ours: median of "
             f"{SEARCH_REPEATS} searches); fast: fast=True (extracellular layers held at Ve), its threshold "
             f"against the exact engine's with both searched to "
             f"{FAST_CHECK_TOLERANCE:g} brackets",
             f"{'model':15} {'D um':>5} {'sect':>5} | {'us/step ours':>12} {'NEURON':>8} {'ratio':>6} | "
             f"{'fast':>6} {'ratio':>6} {'thr diff':>9} | "
             f"{'threshold s ours':>16} {'PyFibers':>9} {'ratio':>6} | {'mA ours':>8} {'PyFibers':>8}"]
    for r in res["models"]:
        pf = (f"{r['threshold_s_pyfibers']:9.2f} {r['threshold_ratio']:5.0f}x"
              if r.get("threshold_s_pyfibers") is not None and not r.get("pyfibers_error") else f"{'-':>9} {'-':>6}")
        pf_ma = f"{r['threshold_mA_pyfibers']:8.4g}" if r.get("threshold_mA_pyfibers") else f"{'-':>8}"
        lines.append(f"{r['model']:15} {r['diameter_um']:5g} {r['sections']:5d} | {r['us_per_step_nervesim']:12.1f} "
                     f"{r['us_per_step_neuron']:8.1f} {r['step_ratio']:5.1f}x | {r['us_per_step_fast']:6.1f} "
                     f"{r['step_ratio_fast']:5.1f}x {r['fast_rel_diff']:+9.1e} | {r['threshold_s_nervesim']:16.3f} "
                     f"{pf} | {r['threshold_mA_nervesim']:8.4g} {pf_ma}")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.models", description=__doc__.splitlines()[0])
    p.add_argument("--models", help="comma-separated model names (default: every model)")
    p.add_argument("--no-pyfibers", action="store_true", help="skip the PyFibers threshold column")
    args = p.parse_args(argv)
    from nervesim import neuron as nrn

    models = args.models.split(",") if args.models else list(nervesim.available_models())
    res = {"machine": machine(), "neuron_version": nrn.neuron_version(), "nervesim_version": nervesim.__version__,
           "models": []}
    for model in models:
        res["models"].append(bench_model(model, nrn, not args.no_pyfibers))
        print(table(res)[-1], flush=True)
    lines = table(res)
    print("\n".join(lines))
    (RESULTS / "models_table.txt").write_text("\n".join(lines) + "\n")
    (RESULTS / "models.json").write_text(json.dumps(res, indent=1))
    print(f"wrote {RESULTS / 'models_table.txt'} and {RESULTS / 'models.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
