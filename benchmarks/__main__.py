"""Run the benchmark suite: ``python -m benchmarks [--quick] [--json FILE] [--plot FILE]``.

Every timing is a median of repeated runs after a warm-up call (JIT compile and cache load are
measured separately, in fresh processes). Prints a table; see benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import nervesim
from nervesim.population import ThresholdJob, find_thresholds
from nervesim.threshold import find_threshold, search_threshold

MODEL, DIAMETER_UM, N_NODES = "mrg-interp", 10.0, 51
DT_MS, DISTANCE_UM, SIGMA = 0.005, 1000.0, 0.2
PULSE = nervesim.Waveform.monophasic(0.1, "cathodic")
RESULTS = Path(__file__).parent / "results"
SUB_AMP_MA = 0.1  # below the 0.123 mA threshold: every step of the run is computed
CLI_CASE = ["threshold", "--model", MODEL, "--diameter-um", "10", "--x-um", "1000", "--y-um", "0", "--sigma", "0.2",
            "--pulse", "mono", "--width-ms", "0.1", "--dt-ms", "0.005", "--json"]


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def fibre_and_electrode(n_nodes=N_NODES, diameter_um=DIAMETER_UM, distance_um=DISTANCE_UM):
    f = nervesim.build_fibre(MODEL, diameter_um, n_nodes)
    return f, nervesim.Electrode.point(distance_um, 0.0, f.node_z_um[f.centre_node], SIGMA)


def bench_step(nrn, n_nodes=N_NODES, tstop_ms=None, repeats=(7, 3)) -> dict:
    f, el = fibre_and_electrode(n_nodes)
    ours = nervesim.Stimulation(f, el, PULSE, dt_ms=DT_MS, tstop_ms=tstop_ms)
    ref = nrn.NeuronStimulation(f, el, PULSE, dt_ms=DT_MS, tstop_ms=tstop_ms)
    t_ours = median_time(lambda: ours.run(SUB_AMP_MA), repeats[0])
    t_ref = median_time(lambda: ref.run(SUB_AMP_MA), repeats[1])
    steps, comps = ours.n_steps, f.n_sections
    return {"nodes": n_nodes, "compartments": comps, "steps": steps, "us_per_step_nervesim": 1e6 * t_ours / steps,
            "us_per_step_neuron": 1e6 * t_ref / steps, "ratio": t_ref / t_ours,
            "compartment_steps_per_s_nervesim": comps * steps / t_ours,
            "compartment_steps_per_s_neuron": comps * steps / t_ref}


def bench_threshold(nrn, repeats=(7, 3)) -> dict:
    from benchmarks.pyfibers_search import pyfibers_threshold

    f, el = fibre_and_electrode()
    ours = lambda: find_threshold(f, el, PULSE, dt_ms=DT_MS, tolerance=1e-3)  # noqa: E731
    t_ours = median_time(ours, repeats[0])
    res = ours()
    ref = nrn.NeuronStimulation(f, el, PULSE, dt_ms=DT_MS)
    out = {}
    t_ref = median_time(lambda: out.update(zip(("thr", "runs"), pyfibers_threshold(ref))), repeats[1])
    check = abs(res.threshold_mA - out["thr"]) / out["thr"]
    return {"nervesim_s": t_ours, "nervesim_threshold_mA": res.threshold_mA, "nervesim_runs": res.n_runs,
            "neuron_pyfibers_s": t_ref, "neuron_threshold_mA": out["thr"], "neuron_runs": out["runs"],
            "ratio": t_ref / t_ours, "threshold_rel_diff": check, "threshold_check_ok": check <= 0.011}


def population_jobs(n: int, seed: int = 1) -> list[ThresholdJob]:
    rng = np.random.default_rng(seed)
    jobs = []
    for d, r in zip(rng.uniform(2.0, 16.0, n), rng.uniform(200.0, 3000.0, n)):
        f = nervesim.build_fibre(MODEL, float(d), N_NODES)
        el = nervesim.Electrode.point(float(r), 0.0, f.node_z_um[f.centre_node], SIGMA)
        jobs.append(ThresholdJob(MODEL, float(d), el, PULSE, N_NODES, DT_MS))
    return jobs


def bench_population(nrn, sizes, check: int = 3) -> list[dict]:
    jobs = population_jobs(max(sizes))
    rows = []
    for n in sizes:
        t = time.perf_counter()
        outcomes = find_thresholds(jobs[:n], threads=1 if n == 1 else None)
        wall = time.perf_counter() - t
        failed = sum(o.result is None for o in outcomes)
        rows.append({"fibres": n, "wall_s": wall, "s_per_fibre": wall / n, "failed": failed})
    # Re-check a few of the timed thresholds with the same search driving NEURON.
    diffs = []
    for o in outcomes[:check]:
        f = nervesim.build_fibre(o.job.model, o.job.diameter_um, o.job.n_nodes)
        ref = search_threshold(nrn.NeuronStimulation(f, o.job.electrode, o.job.waveform, dt_ms=o.job.dt_ms))
        diffs.append(abs(o.result.threshold_mA - ref.threshold_mA) / ref.threshold_mA)
    rows[-1]["neuron_recheck_max_rel_diff"] = max(diffs)
    return rows


def bench_startup() -> dict:
    """JIT compile (empty Numba cache) and a second process answering from the cache."""
    env = dict(os.environ, NUMBA_CACHE_DIR=tempfile.mkdtemp(prefix="nervesim-bench-"))
    walls = []
    for _ in range(2):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nervesim.cli"] + CLI_CASE, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - t)
    return {"first_process_s_with_compile": walls[0], "second_process_s": walls[1], "compile_s": walls[0] - walls[1]}


def machine() -> str:
    cpu = platform.processor() or "cpu"
    return f"{platform.machine()}, {os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def plot(results: dict, filename: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    rows = results["length_scaling"]
    comps = [r["compartments"] for r in rows]
    ax[0].loglog(comps, [r["us_per_step_nervesim"] for r in rows], "o-", label="nervesim")
    ax[0].loglog(comps, [r["us_per_step_neuron"] for r in rows], "s-", label="NEURON")
    ax[0].loglog(comps, np.array(comps) * rows[0]["us_per_step_nervesim"] / comps[0], "k:", lw=0.8, label="linear")
    ax[0].set(xlabel="compartments", ylabel="µs per step", title=f"one fibre, dt {DT_MS} ms")
    ax[0].xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax[0].legend()
    pop = results["population"]
    n = [r["fibres"] for r in pop]
    ax[1].loglog(n, [r["wall_s"] for r in pop], "o-", label="wall time")
    ax[1].loglog(n, np.array(n) * pop[-1]["s_per_fibre"], "k:", lw=0.8, label="linear")
    ax[1].set(xlabel="fibres", ylabel="s", title="population thresholds (0.1 % tolerance, all cores)")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(filename, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats, lengths and population sizes")
    p.add_argument("--json", metavar="FILE", default=str(RESULTS / "benchmark_results.json"),
                   help="write results (default %(default)s)")
    p.add_argument("--plot", metavar="FILE", default=str(RESULTS / "benchmark_scaling.png"),
                   help="scaling plot (default %(default)s)")
    p.add_argument("--table", metavar="FILE", default=str(RESULTS / "benchmark_table.txt"),
                   help="the printed table (default %(default)s)")
    args = p.parse_args(argv)
    from nervesim import neuron as nrn

    lengths = (21, 51, 101) if args.quick else (21, 51, 101, 201, 401)
    sizes = (1, 10, 100) if args.quick else (1, 10, 100, 1000)
    res = {"machine": machine(), "neuron_version": nrn.neuron_version(), "nervesim_version": nervesim.__version__,
           "fibre": f"{MODEL} {DIAMETER_UM} um, {N_NODES} nodes, dt {DT_MS} ms, {PULSE.label} at {DISTANCE_UM} um"}
    print(f"machine: {res['machine']}; NEURON {res['neuron_version']}; {res['fibre']}", flush=True)
    res["startup"] = bench_startup()
    res["step"] = bench_step(nrn)
    res["threshold"] = bench_threshold(nrn)
    res["length_scaling"] = [bench_step(nrn, n, tstop_ms=2.0, repeats=(3, 1)) for n in lengths]
    res["population"] = bench_population(nrn, sizes)
    s, t, st = res["step"], res["threshold"], res["startup"]
    table = [
        f"machine: {res['machine']}; NEURON {res['neuron_version']}; {res['fibre']}",
        f"{'measure':44} {'nervesim':>12} {'NEURON':>12} {'ratio':>8}",
        f"{'one simulation: µs per step':44} {s['us_per_step_nervesim']:12.1f} {s['us_per_step_neuron']:12.1f} "
        f"{s['ratio']:8.1f}x",
        f"{'one simulation: compartment-steps per s':44} {s['compartment_steps_per_s_nervesim']:12.3g} "
        f"{s['compartment_steps_per_s_neuron']:12.3g}",
        f"{'threshold search (ours 0.1 %, PyFibers 1 %): s':44} {t['nervesim_s']:12.4f} {t['neuron_pyfibers_s']:12.3f} "
        f"{t['ratio']:8.1f}x",
        f"{'  threshold mA (runs)':44} {t['nervesim_threshold_mA']:8.5f} ({t['nervesim_runs']:2d}) "
        f"{t['neuron_threshold_mA']:8.5f} ({t['neuron_runs']:2d})  diff {100 * t['threshold_rel_diff']:.2f} %",
    ]
    for r in res["length_scaling"]:
        table.append(f"{'  length %d nodes (%d compartments): µs/step' % (r['nodes'], r['compartments']):44} "
                     f"{r['us_per_step_nervesim']:12.1f} {r['us_per_step_neuron']:12.1f} {r['ratio']:8.1f}x")
    for r in res["population"]:
        table.append(f"{'  population %d fibres: wall s (s per fibre)' % r['fibres']:44} {r['wall_s']:12.2f} "
                     f"({r['s_per_fibre']:.4f}){'  failed %d' % r['failed'] if r['failed'] else ''}")
    table += [f"population re-check against NEURON (same search): max rel diff "
              f"{res['population'][-1]['neuron_recheck_max_rel_diff']:.2e}",
              f"startup: first process {st['first_process_s_with_compile']:.1f} s "
              f"(JIT compile {st['compile_s']:.1f} s), second process {st['second_process_s']:.2f} s"]
    print("\n".join(table))
    Path(args.table).write_text("\n".join(table) + "\n")
    with open(args.json, "w") as fh:
        json.dump(res, fh, indent=1)
    plot(res, args.plot)
    print(f"wrote {args.table}, {args.json} and {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
