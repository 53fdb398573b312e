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
import importlib.util
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
    fast = nervesim.Stimulation(f, el, PULSE, dt_ms=DT_MS, tstop_ms=tstop_ms, fast=True)
    ref = peers.neuron_model(nrn, f, el, DT_MS, tstop_ms)
    t_ours, _ = timed(lambda: ours.run(SUB_AMP_MA), repeats[0], warm_up=True)
    t_fast, _ = timed(lambda: fast.run(SUB_AMP_MA), repeats[0], warm_up=True)
    t_ref, _ = timed(lambda: ref.run(SUB_AMP_MA), repeats[1], warm_up=True)
    steps, comps = ours.n_steps, f.n_sections
    return {"nodes": n_nodes, "compartments": comps, "steps": steps, "us_per_step_nervesim": 1e6 * t_ours / steps,
            "us_per_step_neuron": 1e6 * t_ref / steps, "ratio": t_ref / t_ours,
            "us_per_step_fast": 1e6 * t_fast / steps, "ratio_fast": t_ref / t_fast,
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


def _population_row(jobs: list[ThresholdJob], warm_start: bool) -> tuple[dict, list]:
    t = time.perf_counter()
    outcomes = find_thresholds(jobs, threads=1 if len(jobs) == 1 else None, warm_start=warm_start)
    wall = time.perf_counter() - t
    ok = [o.result for o in outcomes if o.result is not None]
    return {"fibres": len(jobs), "wall_s": wall, "s_per_fibre": wall / len(jobs), "failed": len(jobs) - len(ok),
            "runs_per_fibre": sum(r.n_runs for r in ok) / max(len(ok), 1)}, outcomes


def brackets_agree(a, b, tolerance: float) -> bool:
    """Both brackets contain the threshold: they overlap and their supra-threshold ends differ by < tolerance."""
    (alo, ahi), (blo, bhi) = a.bracket_mA, b.bracket_mA
    return alo < bhi and blo < ahi and abs(ahi - bhi) / bhi < tolerance


def bench_population(nrn, sizes, cold_fibres: int = 100, check: int = 3) -> dict:
    """`find_thresholds` with warm starts (the default) on each population size; the first ``cold_fibres`` cold
    (``warm_start=False``, each search as `find_threshold` runs it) for comparison, every warm bracket against the
    cold one; the last ``check`` warm-started fibres of the largest size against our search driving NEURON."""
    jobs = population_jobs(max(sizes))
    rows = []
    for n in sizes:
        row, outcomes = _population_row(jobs[:n], warm_start=True)
        rows.append(row)
    cold, cold_outcomes = _population_row(jobs[:cold_fibres], warm_start=False)
    pairs = [(w.result, c.result) for w, c in zip(outcomes, cold_outcomes) if w.result and c.result]
    cold["warm_within_tolerance"] = all(brackets_agree(w, c, peers.OUR_TOLERANCE) for w, c in pairs)
    cold["warm_max_rel_diff"] = max(abs(w.threshold_mA / c.threshold_mA - 1) for w, c in pairs)
    diffs, agree = [], True
    for o in outcomes[-check:]:
        f = nervesim.build_fibre(o.job.model, o.job.diameter_um, o.job.n_nodes)
        ref = search_threshold(peers.neuron_model(nrn, f, o.job.electrode, o.job.dt_ms), tolerance=o.job.tolerance)
        diffs.append(abs(o.result.threshold_mA - ref.threshold_mA) / ref.threshold_mA)
        agree &= brackets_agree(o.result, ref, o.job.tolerance)
    return {"warm": rows, "cold": cold, "neuron_recheck_max_rel_diff": max(diffs), "neuron_recheck_agree": agree}


def cli_command() -> list[str]:
    """The installed ``nervesim`` script (``python -m nervesim.cli`` where it is missing)."""
    script = Path(sys.executable).with_name("nervesim")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nervesim.cli"]


#: A process that imports numpy and numba and ends, skipping the final collections as the CLI does.
FLOOR_IMPORT = "import gc, numpy, numba; gc.freeze()"
#: The same, loading one cached Numba kernel: the start-up floor of any process running nervesim's kernels.
FLOOR_KERNEL = """import gc, numba, numpy
@numba.njit(cache=True)
def total(x):
    return x.sum()
total(numpy.ones(3))
gc.freeze()
"""


def wall(command: list[str], env: dict) -> tuple[float, str]:
    """Wall time of one fresh process and its standard output."""
    t = time.perf_counter()
    proc = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - t, proc.stdout


def cli_process(env: dict) -> tuple[float, float]:
    """One fresh ``nervesim threshold`` process on `CLI_CASE`: (whole process wall s, s it spent in the search)."""
    seconds, out = wall(cli_command() + CLI_CASE, env)
    return seconds, json.loads(out.strip().splitlines()[-1])["runtime_s"]


def bench_startup(repeats: int) -> dict:
    """Fresh ``nervesim threshold`` processes with the kernel cache warm: whole wall time and time in the search
    (the CLI's ``runtime_s``: `search_threshold` alone, its Stimulation built before), against the same search
    warm in this process; the floor under them (a process importing numpy and numba, and one loading a cached
    kernel); and one process with an empty Numba cache (JIT compile). The processes keep Python's bytecode in a
    temporary cache, as any installed package has (where PYTHONDONTWRITEBYTECODE is set, every process would
    otherwise compile nervesim's modules again: ~0.1 s)."""
    with tempfile.TemporaryDirectory(prefix="nervesim-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        compile_wall, _ = cli_process(dict(env, NUMBA_CACHE_DIR=os.path.join(tmp, "numba")))
        cli_process(env)  # writes the bytecode, and fills the user's kernel cache if it is not yet
        kernel = Path(tmp, "floor_kernel.py")
        kernel.write_text(FLOOR_KERNEL)
        floor_env = dict(env, NUMBA_CACHE_DIR=os.path.join(tmp, "numba-floor"))
        wall([sys.executable, str(kernel)], floor_env)  # compiles and caches the kernel
        runs, imports, kernels = [], [], []
        for _ in range(repeats):  # interleaved, so that a change of load on a shared machine hits all three
            runs.append(cli_process(env))
            imports.append(wall([sys.executable, "-c", FLOOR_IMPORT], env)[0])
            kernels.append(wall([sys.executable, str(kernel)], floor_env)[0])
    f, el = fibre_and_electrode()
    stim = nervesim.Stimulation(f, el, PULSE, dt_ms=DT_MS)
    warm, _ = timed(lambda: search_threshold(stim, tolerance=peers.OUR_TOLERANCE), 21, warm_up=True)
    inside = statistics.median(r[1] for r in runs)
    return {"processes": repeats, "process_wall_s": statistics.median(r[0] for r in runs), "search_s": inside,
            "warm_search_s": warm, "first_search_extra_s": inside - warm, "process_wall_s_empty_cache": compile_wall,
            "floor_import_s": statistics.median(imports), "floor_kernel_s": statistics.median(kernels),
            "scipy_installed": importlib.util.find_spec("scipy") is not None}


def publish(lines: list[str], result: dict, table: str, raw: str) -> None:
    """Print a benchmark's table and write it, and its raw numbers, to ``results/``.

    Parameters
    ----------
    lines : list of str
        The table.
    result : dict
        The raw numbers (JSON).
    table, raw : str
        File names in ``results/``.
    """
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / table).write_text(text + "\n")
    (RESULTS / raw).write_text(json.dumps(result, indent=1) + "\n")


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
    pop, cold = results["population"]["warm"], results["population"]["cold"]
    n = [r["fibres"] for r in pop]
    ax[1].loglog(n, [r["wall_s"] for r in pop], "o-", label="wall time, warm starts")
    ax[1].loglog([cold["fibres"]], [cold["wall_s"]], "s", label="cold searches")
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
              f"{'µs per step, fast=True (layers held at Ve)':44} {s['us_per_step_fast']:12.1f} "
              f"{s['us_per_step_neuron']:12.1f} {s['ratio_fast']:8.1f}x",
              f"{'compartment-steps per s':44} {s['compartment_steps_per_s_nervesim']:12.3g} "
              f"{s['compartment_steps_per_s_neuron']:12.3g}"]
    for r in res["length_scaling"]:
        lines.append(f"{'  %d nodes (%d compartments), 2 ms: µs/step' % (r['nodes'], r['compartments']):44} "
                     f"{r['us_per_step_nervesim']:12.1f} {r['us_per_step_neuron']:12.1f} {r['ratio']:8.1f}x")
    pop = res["population"]
    cold = pop["cold"]
    lines += ["", f"population: {MODEL} 2-16 um at 0.2-3 mm (uniform, seed 1), {N_NODES} nodes, dt {DT_MS} ms, "
              f"0.1 % tolerance, find_thresholds on {os.cpu_count()} threads, one search per thread; warm starts "
              "(the default: each fibre's first bracket around a threshold predicted from the fibres before it) "
              "and cold (warm_start=False: each search as find_threshold runs it)",
              f"{'':44} {'wall s':>12} {'s per fibre':>12} {'runs/fibre':>11}"]
    for r, kind in [(r, "warm") for r in pop["warm"]] + [(cold, "cold")]:
        lines.append(f"{'  %d fibres, %s' % (r['fibres'], kind):44} {r['wall_s']:12.2f} {r['s_per_fibre']:12.4f} "
                     f"{r['runs_per_fibre']:11.2f}{'  failed %d' % r['failed'] if r['failed'] else ''}")
    lines += [f"  warm against cold, first {cold['fibres']} fibres: brackets "
              f"{'all agree' if cold['warm_within_tolerance'] else 'DISAGREE'} (overlap, thresholds within 0.1 %); "
              f"max rel diff {cold['warm_max_rel_diff']:.2e}",
              f"  last three warm thresholds re-checked by the same search (cold) driving NEURON: brackets "
              f"{'agree' if pop['neuron_recheck_agree'] else 'DISAGREE'}; max rel diff "
              f"{pop['neuron_recheck_max_rel_diff']:.2e}",
              "", f"startup: a fresh `nervesim threshold` process ({res['fibre']}, 0.1 %), kernel cache warm, median "
              f"of {st['processes']}:",
              f"  whole process {st['process_wall_s']:.3f} s wall; inside the search {st['search_s']:.4f} s against "
              f"{st['warm_search_s']:.4f} s for the same search warm in-process "
              f"({1e3 * st['first_search_extra_s']:+.0f} ms)",
              f"  floor, fresh processes: python + import numpy, numba {st['floor_import_s']:.3f} s wall; + loading "
              f"one cached Numba kernel {st['floor_kernel_s']:.3f} s (Numba sets up its typing and lowering registries"
              f"{', importing scipy.linalg as SciPy is installed' if st['scipy_installed'] else ''})",
              f"  with an empty Numba cache (JIT compile): {st['process_wall_s_empty_cache']:.1f} s wall",
              "  (processes with a bytecode cache for nervesim's modules, as an installed package has)"]
    return lines + [""] + targets(res)


def targets(res: dict) -> list[str]:
    """Issue 12's targets against this run's numbers."""
    def line(what: str, value: str, ok: bool) -> str:
        return f"  {what:64} {value:>14}  {'met' if ok else 'not met'}"

    out = ["targets (issue 12):"]
    for case in res["thresholds"]:
        pf = next((p for p in case["peers"] if p["tool"] == peers.PYFIBERS_DEFAULT_TOOL), None)
        fast = next(p for p in case["peers"] if p["tool"] == peers.FAST_TOOL)
        if case["case"].startswith("mrg") and pf is not None:
            out.append(line(f"threshold {case['case']}: >= 1000x PyFibers' defaults", f"{pf['ratio']:.0f}x",
                            pf["ratio"] >= 1000))
            ratio = pf["wall_s"] / fast["wall_s"]
            out.append(line(f"  the same with fast=True (threshold {100 * fast['rel_diff']:+.3f} %)", f"{ratio:.0f}x",
                            ratio >= 1000))
    st, s = res["startup"], res["step"]
    out += [line("fresh process: search <= warm + 20 ms", f"{1e3 * st['first_search_extra_s']:+.0f} ms",
                 st["first_search_extra_s"] <= 0.020),
            line("fresh process: whole process <= 0.3 s", f"{st['process_wall_s']:.2f} s", st["process_wall_s"] <= 0.3),
            line(f"per step, {N_NODES} nodes: >= 40x NEURON's own loop", f"{s['ratio']:.1f}x", s["ratio"] >= 40),
            line("  the same with fast=True", f"{s['ratio_fast']:.1f}x", s["ratio_fast"] >= 40)]
    pop = [r for r in res["population"]["warm"] if r["fibres"] == 1000]
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
    from nervesim.pyfibers_ref import ensure_pyfibers

    try:
        ensure_pyfibers()  # compiled before anything is timed, or one line saying what is missing
    except ImportError as exc:
        p.error(str(exc))

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
