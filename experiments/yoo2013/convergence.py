"""Mesh convergence of the Yoo 2013 model with its helical cuff (issue 9: potentials and thresholds to ≤ 1 %).

The shipped ``spec.toml`` (LivaNova2000 helix, 10 µm saline gap, ellipse fascicle, Yoo perineurium, muscle) solved
at several mesh sizes: ``h_nerve_um`` (nerve, fill, cuff) and ``h_contact_um`` (the gap's faces, the platinum, the
sources). Each level runs in its own process, so its peak memory is its own; the finest level is the reference.
Per level: elements, unknowns, mesh and solve times, peak memory, the bipolar potential at the fascicle centroid
along z (relative to the finest, at its peak) and the thresholds of ASCENT's protocol (``run.py``).

Run: ``python experiments/yoo2013/convergence.py`` (about 20 minutes on 2 cores); writes
``experiments/yoo2013/results/convergence.json`` and ``convergence.md``.
"""
from __future__ import annotations

import dataclasses
import json
import multiprocessing
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
RESULTS = HERE / "results"
LEVELS = ((200.0, 100.0), (200.0, 70.0), (200.0, 50.0), (150.0, 50.0))  # (h_nerve_um, h_contact_um), finest last


def level(h_nerve_um: float, h_contact_um: float) -> dict:
    """Solve the spec at one mesh size (cached by its hash) and evaluate it."""
    from run import fibre_thresholds

    from nervesim.field import load_spec, solve_field
    spec = load_spec(HERE / "spec.toml")
    spec = dataclasses.replace(spec, mesh=dataclasses.replace(spec.mesh, h_nerve_um=h_nerve_um,
                                                               h_contact_um=h_contact_um))
    t0 = time.perf_counter()
    field = solve_field(spec)
    wall = time.perf_counter() - t0
    f = spec.fascicles[0]
    z = np.linspace(0, spec.medium_length_um, 501)
    line = field.sample(np.full(z.size, f.x_um), np.full(z.size, f.y_um), z, [1, -1])
    return {"h_nerve_um": h_nerve_um, "h_contact_um": h_contact_um, "elements": field.info["elements"],
            "unknowns": field.info["unknowns"], "mesh_s": field.info["mesh_s"], "solve_s": field.info["solve_s"],
            "peak_rss_MB": field.info["peak_rss_MB"], "wall_s": round(wall, 1), "potential_mV": line.tolist(),
            "thresholds_mA": fibre_thresholds(field)}


def table(rows: list[dict]) -> str:
    """The Markdown table of ``rows``, each against the last (finest) one."""
    ref = rows[-1]
    peak = np.max(np.abs(ref["potential_mV"]))
    lines = ["| h_nerve_um | h_contact_um | elements | unknowns | mesh_s | solve_s | peak_rss_MB | "
             "potential vs finest, % of peak | threshold vs finest, % (2.1 / 3.6 / 7.8 um) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        dv = 100 * np.max(np.abs(np.subtract(r["potential_mV"], ref["potential_mV"]))) / peak
        dt = " / ".join(f"{100 * (r['thresholds_mA'][d] / ref['thresholds_mA'][d] - 1):+.3f}"
                        for d in ref["thresholds_mA"])
        lines.append(f"| {r['h_nerve_um']:g} | {r['h_contact_um']:g} | {r['elements']} | {r['unknowns']} | "
                     f"{r['mesh_s']:.0f} | {r['solve_s']:.0f} | {r['peak_rss_MB']} | {dv:.3f} | {dt} |")
    lines.append("")
    lines.append("thresholds (mA): " + "; ".join(
        f"{r['h_nerve_um']:g}/{r['h_contact_um']:g} um: " + ", ".join(f"{d} um {v:.4f}" for d, v in
                                                                      r["thresholds_mA"].items()) for r in rows))
    return "\n".join(lines) + "\n"


def main() -> None:
    rows = []
    ctx = multiprocessing.get_context("spawn")
    for h in LEVELS:
        with ctx.Pool(1) as pool:
            rows.append(pool.apply(level, h))
        print(f"h_nerve {h[0]:g} um, h_contact {h[1]:g} um: {rows[-1]['unknowns']} unknowns, "
              f"{rows[-1]['wall_s']} s, {rows[-1]['peak_rss_MB']} MB, {rows[-1]['thresholds_mA']}", flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "convergence.json").write_text(json.dumps(rows, indent=1) + "\n")
    (RESULTS / "convergence.md").write_text(table(rows))
    print(table(rows))


if __name__ == "__main__":
    main()
