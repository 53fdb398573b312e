"""Run the benchmark suite: ``python -m benchmarks [--quick] [--table FILE] [--json FILE] [--plot FILE]``.

Everything side by side in one run: threshold searches against PyFibers' own ``find_threshold`` and against
NEURON driven by our search (`benchmarks.peers`), µs per step against NEURON's own loop, length scaling, a
1000-fibre population on all cores, and a fresh ``nervesim threshold`` process. nervesim's timings are medians
after a warm-up call (JIT compile and cache load are measured in fresh processes). Writes the table, the raw
numbers and a figure; see benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import dataclasses
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
from benchmarks import peers
from benchmarks.peers import timed
from nervesim.population import ThresholdJob, find_thresholds
from nervesim.threshold import search_threshold

#: The README quick-start case at dt 0.005 ms, also the case of the per-step, scaling and startup measures.
CASE = peers.CASES[0]
MODEL, DIAMETER_UM, N_NODES, DT_MS = CASE.model, CASE.diameter_um, CASE.n_nodes, CASE.dt_ms
SIGMA, PULSE = peers.SIGMA_S_M, peers.PULSE
RESULTS = Path(__file__).parent / "results"
SUB_AMP_MA = 0.1  # below the 0.123 mA threshold: every step of the run is computed
CLI_CASE = ["threshold", "--model", MODEL, "--diameter-um", "10", "--x-um", "1000", "--y-um", "0", "--sigma", "0.2",
            "--pulse", "mono", "--width-ms", "0.1", "--dt-ms", "0.005", "--tolerance", "0.001", "--json"]


def fibre_and_electrode(n_nodes: int = N_NODES):
    """`CASE`'s fibre with ``n_nodes`` nodes and its electrode."""
    return dataclasses.replace(CASE, n_nodes=n_nodes).build()


def bench_step(nrn, n_nodes=N_NODES, tstop_ms=None, repeats=(7, 3)) -> dict:
    f, el = fibre_and_electrode(n_nodes)
    ours = nervesim.Stimulation(f, el, PULSE, dt_ms=DT_MS, tstop_ms=tstop_ms)
    ref = peers.neuron_model(nrn, f, el, DT_MS, tstop_ms)
    t_ours, _ = timed(lambda: ours.run(SUB_AMP_MA), repeats[0], warm_up=True)
    t_ref, _ = timed(lambda: ref.run(SUB_AMP_MA), repeats[1], warm_up=True)
    steps, comps = ours.n_steps, f.n_sections
    return {"nodes": n_nodes, "compartments": comps, "steps": steps, "us_per_step_nervesim": 1e6 * t_ours / steps,
            "us_per_step_neuron": 1e6 * t_ref / steps, "ratio": t_ref / t_ours,
            "compartment_steps_per_s_nervesim": comps * steps / t_ours,
            "compartment_steps_per_s_neuron": comps * steps / t_ref}


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
        ref = search_threshold(peers.neuron_model(nrn, f, o.job.electrode, o.job.dt_ms))
        diffs.append(abs(o.result.threshold_mA - ref.threshold_mA) / ref.threshold_mA)
    rows[-1]["neuron_recheck_max_rel_diff"] = max(diffs)
    return rows


def cli_command() -> list[str]:
    """The installed ``nervesim`` script (``python -m nervesim.cli`` where it is missing)."""
    script = Path(sys.executable).with_name("nervesim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nervesim.cli"]


def cli_process(env: dict | None = None) -> tuple[float, float]:
    """One fresh ``nervesim threshold`` process on `CLI_CASE`: (whole process wall s, s it spent in the search)."""
    t = time.perf_counter()
    proc = subprocess.run(cli_command() + CLI_CASE, env=env, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - t
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])["runtime_s"]


def bench_startup(repeats: int) -> dict:
    """Fresh ``nervesim threshold`` processes with the kernel cache warm: whole wall time and time in the search
    (the CLI's ``runtime_s``: `search_threshold` alone, its Stimulation built before), against the same search
    warm in this process; and one process with an empty Numba cache (JIT compile)."""
    with tempfile.TemporaryDirectory(prefix="nervesim-bench-") as empty:
        compile_wall, _ = cli_process(dict(os.environ, NUMBA_CACHE_DIR=empty))
    cli_process()  # fills the user's kernel cache if it is not yet
    runs = [cli_process() for _ in range(repeats)]
    f, el = fibre_and_electrode()
    stim = nervesim.Stimulation(f, el, PULSE, dt_ms=DT_MS)
    warm, _ = timed(lambda: search_threshold(stim, tolerance=peers.OUR_TOLERANCE), 21, warm_up=True)
    inside = statistics.median(r[1] for r in runs)
    return {"processes": repeats, "process_wall_s": statistics.median(r[0] for r in runs), "search_s": inside,
            "warm_search_s": warm, "first_search_extra_s": inside - warm, "process_wall_s_empty_cache": compile_wall}


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


def table(res: dict) -> list[str]:
    """The whole table as text lines; every row says what was compared."""
    s, st = res["step"], res["startup"]
    lines = [f"machine: {res['machine']}; NEURON {res['neuron_version']}; PyFibers {res['pyfibers_version']}; "
             f"nervesim {res['nervesim_version']}; load average {res['load_before']} before, {res['load_after']} after",
             f"{'quick run (fewer repeats, no dt 0.001 case)' if res['quick'] else 'full run'}", ""]
    lines += peers.threshold_table(res["thresholds"])
    lines += ["", f"one fibre, one simulation: {res['fibre']}, sub-threshold {SUB_AMP_MA} mA (every step computed), "
              "nervesim Stimulation.run against the same fibre in NEURON's own fadvance loop (nervesim.neuron)",
              f"{'measure':44} {'nervesim':>12} {'NEURON':>12} {'ratio':>8}",
              f"{'µs per step (tstop 5.1 ms)':44} {s['us_per_step_nervesim']:12.1f} {s['us_per_step_neuron']:12.1f} "
              f"{s['ratio']:8.1f}x",
              f"{'compartment-steps per s':44} {s['compartment_steps_per_s_nervesim']:12.3g} "
              f"{s['compartment_steps_per_s_neuron']:12.3g}"]
    for r in res["length_scaling"]:
        lines.append(f"{'  %d nodes (%d compartments), 2 ms: µs/step' % (r['nodes'], r['compartments']):44} "
                     f"{r['us_per_step_nervesim']:12.1f} {r['us_per_step_neuron']:12.1f} {r['ratio']:8.1f}x")
    lines += ["", f"population: {MODEL} 2-16 um at 0.2-3 mm (uniform, seed 1), {N_NODES} nodes, dt {DT_MS} ms, "
              f"0.1 % tolerance, find_thresholds on {os.cpu_count()} threads"]
    for r in res["population"]:
        lines.append(f"{'  %d fibres: wall s (s per fibre)' % r['fibres']:44} {r['wall_s']:12.2f} "
                     f"({r['s_per_fibre']:.4f}){'  failed %d' % r['failed'] if r['failed'] else ''}")
    lines += [f"  three thresholds re-checked by the same search driving NEURON: max rel diff "
              f"{res['population'][-1]['neuron_recheck_max_rel_diff']:.2e}",
              "", f"startup: a fresh `nervesim threshold` process ({res['fibre']}, 0.1 %), kernel cache warm, median "
              f"of {st['processes']}:",
              f"  whole process {st['process_wall_s']:.3f} s wall; inside the search {st['search_s']:.4f} s against "
              f"{st['warm_search_s']:.4f} s for the same search warm in-process "
              f"({1e3 * st['first_search_extra_s']:+.0f} ms)",
              f"  with an empty Numba cache (JIT compile): {st['process_wall_s_empty_cache']:.1f} s wall"]
    return lines + [""] + targets(res)


def targets(res: dict) -> list[str]:
    """Issue 12's targets against this run's numbers."""
    def line(what: str, value: str, ok: bool) -> str:
        return f"  {what:64} {value:>14}  {'met' if ok else 'not met'}"

    out = ["targets (issue 12):"]
    for case in res["thresholds"]:
        pf = next((p for p in case["peers"] if p["tool"] == peers.PYFIBERS_DEFAULT_TOOL), None)
        if case["case"].startswith("mrg") and pf is not None:
            out.append(line(f"threshold {case['case']}: >= 1000x PyFibers' defaults", f"{pf['ratio']:.0f}x",
                            pf["ratio"] >= 1000))
    st, s = res["startup"], res["step"]
    out += [line("fresh process: search <= warm + 20 ms", f"{1e3 * st['first_search_extra_s']:+.0f} ms",
                 st["first_search_extra_s"] <= 0.020),
            line("fresh process: whole process <= 0.3 s", f"{st['process_wall_s']:.2f} s", st["process_wall_s"] <= 0.3),
            line(f"per step, {N_NODES} nodes: >= 40x NEURON's own loop", f"{s['ratio']:.1f}x", s["ratio"] >= 40)]
    pop = [r for r in res["population"] if r["fibres"] == 1000]
    if pop:
        out.append(line(f"1000 fibres on {os.cpu_count()} cores: <= 8 s", f"{pop[0]['wall_s']:.1f} s",
                        pop[0]["wall_s"] <= 8))
    return out


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages (the machine is shared)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="a couple of minutes: fewer repeats, lengths and population sizes, no dt 0.001 ms case")
    p.add_argument("--json", metavar="FILE", default=str(RESULTS / "benchmark_results.json"),
                   help="write results (default %(default)s)")
    p.add_argument("--plot", metavar="FILE", default=str(RESULTS / "benchmark_scaling.png"),
                   help="scaling plot (default %(default)s)")
    p.add_argument("--table", metavar="FILE", default=str(RESULTS / "benchmark_table.txt"),
                   help="the printed table (default %(default)s)")
    args = p.parse_args(argv)
    from importlib.metadata import version

    from nervesim import neuron as nrn

    lengths = (21, 51, 101) if args.quick else (21, 51, 101, 201, 401)
    sizes = (1, 10, 100) if args.quick else (1, 10, 100, 1000)
    cases = [c for c in peers.CASES if not (args.quick and c.dt_ms < DT_MS)]
    res = {"machine": machine(), "neuron_version": nrn.neuron_version(), "pyfibers_version": version("pyfibers"),
           "nervesim_version": nervesim.__version__, "quick": args.quick, "load_before": load_average(),
           "fibre": f"{MODEL} {DIAMETER_UM:g} um, {N_NODES} nodes, dt {DT_MS} ms, {PULSE.label} at "
                    f"{CASE.distance_um:g} um"}
    print(f"machine: {res['machine']}; load average {res['load_before']}", flush=True)
    res["thresholds"] = peers.bench_thresholds(nrn, cases, quick=args.quick)
    print("\n".join(peers.threshold_table(res["thresholds"])), flush=True)
    res["step"] = bench_step(nrn)
    res["length_scaling"] = [bench_step(nrn, n, tstop_ms=2.0, repeats=(3, 1)) for n in lengths]
    res["population"] = bench_population(nrn, sizes)
    res["startup"] = bench_startup(3 if args.quick else 7)
    res["load_after"] = load_average()
    lines = table(res)
    print("\n".join(lines))
    Path(args.table).write_text("\n".join(lines) + "\n")
    with open(args.json, "w") as fh:
        json.dump(res, fh, indent=1)
    plot(res, args.plot)
    print(f"wrote {args.table}, {args.json} and {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
