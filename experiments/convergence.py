"""Threshold convergence with time step and fibre length: the basis for the CLI defaults.

Runs on one core in about a minute and prints two tables (relative change of the
threshold against the finest setting). Usage: ``python experiments/convergence.py``.
"""
from __future__ import annotations

import nervesim
from nervesim.threshold import find_threshold

CASES = [("mrg-interp", 10.0, 1000.0), ("mrg-interp", 2.0, 1000.0), ("mrg-small", 1.5, 500.0),
         ("mrg-interp", 16.0, 2000.0)]
PULSE = nervesim.Waveform.monophasic(0.1)
TOL = 1e-4


def threshold(model, D, distance_um, n_nodes=51, dt_ms=0.005):
    f = nervesim.build_fibre(model, D, n_nodes)
    el = nervesim.Electrode.point(distance_um, 0.0, f.node_z_um[f.centre_node], 0.2)
    return find_threshold(f, el, PULSE, dt_ms=dt_ms, tolerance=TOL)


def main() -> None:
    print(f"time step (51 nodes, 0.1 ms cathodic, sigma 0.2 S/m, tolerance {TOL:g}); change vs dt 0.001 ms")
    for model, D, dist in CASES:
        ref = threshold(model, D, dist, dt_ms=0.001).threshold_mA
        row = []
        for dt in (0.0025, 0.005, 0.01):
            thr = threshold(model, D, dist, dt_ms=dt).threshold_mA
            row.append(f"dt {dt:g}: {100 * (thr / ref - 1):+.3f}%")
        print(f"  {model} {D:g} um at {dist:g} um: {ref:.5f} mA; " + ", ".join(row))
    print("fibre length (dt 0.005 ms); change vs 151 nodes, and latest detection time at 51 nodes")
    for model, D, dist in CASES:
        ref = threshold(model, D, dist, n_nodes=151).threshold_mA
        row = []
        for n in (21, 31, 51, 101):
            res = threshold(model, D, dist, n_nodes=n)
            row.append(f"{n} nodes: {100 * (res.threshold_mA / ref - 1):+.3f}%{' END' if res.flags else ''}")
            if n == 51:
                det = res.detection_time_ms
        print(f"  {model} {D:g} um at {dist:g} um: {ref:.5f} mA; " + ", ".join(row) + f"; detected at {det:.2f} ms")


if __name__ == "__main__":
    main()
