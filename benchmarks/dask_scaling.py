"""Dask scaling of a sweep: ``python -m benchmarks.dask_scaling [--points-per-diameter N ...]``.

Sweeps (MRG interpolation, 51 nodes, diameters 2-16 µm, point source at 0.25-2 mm in 0.2 S/m, 0.1 ms
monophasic cathodic, dt 0.005 ms; 10 diameters x N distances, N = 30 and 120 by default) run by
`nervesim.sweep.run_sweep` on a Dask ``LocalCluster`` of one worker process with one thread, then of two such
workers, each into a fresh store. The clusters start, and every worker loads the kernels with one threshold
search, before the clock starts; the wall time is the sweep's. The ceiling, measured in the same run: the same
points computed (`nervesim.sweep.run_point`, one Numba thread) in one plain process, and split between two
processes running at once, without Dask or a store. Issue 12's target: two workers >= 1.8x one. Writes
results/dask_scaling.json and prints the table (also results/dask_scaling.txt).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.__main__ import machine, publish


def warm():
    import nervesim
    f = nervesim.build_fibre("mrg-interp", 10.0, 51)
    el = nervesim.Electrode.point(1000.0, 0.0, f.node_z_um[f.centre_node], 0.2)
    return nervesim.find_threshold(f, el, nervesim.Waveform.monophasic(0.1, "cathodic"), dt_ms=0.005).threshold_mA


def compute_all(points: list) -> float:
    """Seconds one process (one Numba thread, kernels loaded first) takes to compute ``points``."""
    import numba

    from nervesim.sweep import run_point
    numba.set_num_threads(1)
    warm()
    t = time.perf_counter()
    for p in points:
        run_point(p)
    return time.perf_counter() - t


def plain_processes(points: list, n: int) -> float:
    """Wall time (s) of ``n`` processes computing ``points`` split between them, after each has loaded the kernels
    (the slowest process's compute time)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(n) as pool:
        return max(pool.map(compute_all, [points[k::n] for k in range(n)]))


def sweep_spec(points_per_diameter: int) -> dict:
    """The benchmark sweep: 10 diameters x ``points_per_diameter`` distances."""
    return {"fibre": {"model": "mrg-interp", "n_nodes": 51,
                      "diameter_um": [float(d) for d in np.linspace(2.0, 16.0, 10)]},
            "electrode": {"kind": "point", "sigma_S_m": 0.2,
                          "x_um": [float(x) for x in np.linspace(250.0, 2000.0, points_per_diameter)]},
            "waveform": {"pulse": "mono", "width_ms": 0.1, "polarity": "cathodic"},
            "run": {"dt_ms": 0.005}}


def scaling(points_per_diameter: int, tmp: Path) -> dict:
    """One sweep size: its wall time on one and on two Dask workers, and in one and two plain processes."""
    from distributed import Client, LocalCluster

    from nervesim.sweep import expand, run_sweep

    sweep = expand(sweep_spec(points_per_diameter), name="dask_scaling")
    rows = []
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) \
                as cluster, Client(cluster) as client:
            client.run(warm)
            t = time.perf_counter()
            summary = run_sweep(sweep, tmp / f"p{len(sweep)}w{workers}.sqlite", client=client, progress=False)
            rows.append({"workers": workers, "points": summary.ran, "failed": summary.failed,
                         "wall_s": round(time.perf_counter() - t, 2)})
    points = list(sweep.points())
    plain = [round(plain_processes(points, n), 2) for n in (1, 2)]
    return {"points": len(sweep), "rows": rows, "speedup": round(rows[0]["wall_s"] / rows[1]["wall_s"], 3),
            "plain_processes_s": plain, "plain_speedup": round(plain[0] / plain[1], 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dask_scaling", description=__doc__.splitlines()[0])
    parser.add_argument("--points-per-diameter", type=int, nargs="+", default=[30, 120])
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        sizes = [scaling(n, Path(tmp)) for n in args.points_per_diameter]
    result = {"machine": machine(), "load_avg_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
              "sweep": sweep_spec(args.points_per_diameter[0]), "sizes": sizes}
    lines = [f"machine: {result['machine']}; load average (1 min) before / after: "
             f"{result['load_avg_before_after'][0]} / {result['load_avg_before_after'][1]}",
             "sweeps: mrg-interp 51 nodes, 10 diameters 2-16 um x N point-source distances 0.25-2 mm, 0.1 ms, "
             "dt 0.005 ms; Dask LocalCluster, one thread per worker", "",
             "| points | one worker s | two workers s | two / one | plain: one process s | two at once s | two / one |",
             "|---|---|---|---|---|---|---|"]
    for z in sizes:
        one, two = z["rows"]
        failed = sum(r["failed"] for r in z["rows"])
        lines.append(f"| {z['points']}{f' ({failed} failed)' if failed else ''} | {one['wall_s']:.2f} | "
                     f"{two['wall_s']:.2f} | {z['speedup']:.2f}x | {z['plain_processes_s'][0]:.2f} | "
                     f"{z['plain_processes_s'][1]:.2f} | {z['plain_speedup']:.2f}x |")
    lines += ["", "issue 12's target: two workers >= 1.8x one; 'plain': the same points without Dask or a store"]
    publish(lines, result, "dask_scaling.txt", "dask_scaling.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
