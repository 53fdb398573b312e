"""Threshold convergence with time step and fibre length: the basis for the CLI defaults.

Prints two tables (relative change of the threshold against the finest setting) and writes
results/convergence.{png,json}; about 15 s. Usage: ``python experiments/convergence.py``.
"""
from __future__ import annotations

import json
from pathlib import Path

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
    dts, lengths = (0.001, 0.0025, 0.005, 0.01), (21, 31, 51, 101, 151)
    out = {"dt": {}, "nodes": {}}
    print(f"time step (51 nodes, 0.1 ms cathodic, sigma 0.2 S/m, tolerance {TOL:g}); change vs dt 0.001 ms")
    for model, D, dist in CASES:
        name = f"{model} {D:g} um at {dist:g} um"
        thr = {dt: threshold(model, D, dist, dt_ms=dt).threshold_mA for dt in dts}
        out["dt"][name] = {str(dt): t for dt, t in thr.items()}
        print(f"  {name}: {thr[0.001]:.5f} mA; "
              + ", ".join(f"dt {dt:g}: {100 * (thr[dt] / thr[0.001] - 1):+.3f}%" for dt in dts[1:]))
    print("fibre length (dt 0.005 ms); change vs 151 nodes, and the detection time at 51 nodes")
    for model, D, dist in CASES:
        name = f"{model} {D:g} um at {dist:g} um"
        res = {n: threshold(model, D, dist, n_nodes=n) for n in lengths}
        ref = res[151].threshold_mA
        out["nodes"][name] = {str(n): r.threshold_mA for n, r in res.items()}
        print(f"  {name}: {ref:.5f} mA; "
              + ", ".join(f"{n} nodes: {100 * (r.threshold_mA / ref - 1):+.3f}%{' END' if r.flags else ''}"
                          for n, r in res.items() if n != 151)
              + f"; detected at {res[51].detection_time_ms:.2f} ms")
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    json.dump(out, open(results / "convergence.json", "w"), indent=1)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for name, vals in out["dt"].items():
        ref = vals["0.001"]
        ax[0].plot(dts, [100 * (vals[str(dt)] / ref - 1) for dt in dts], "o-", label=name)
    for name, vals in out["nodes"].items():
        ref = vals["151"]
        ax[1].plot(lengths, [abs(100 * (vals[str(n)] / ref - 1)) + 1e-4 for n in lengths], "o-", label=name)
    ax[0].set(xlabel="dt (ms)", ylabel="threshold change vs dt 0.001 ms (%)", title="time step")
    ax[1].set(xlabel="nodes", ylabel="|change| vs 151 nodes (%) (+1e-4)", yscale="log", title="fibre length")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(results / "convergence.png", dpi=110)


if __name__ == "__main__":
    main()
