"""Thresholds from the FEM field vs mesh size, element order and domain size (issue 9, experiment 2).

Model: the layered cylinder of volume-conductor.md §8.5 at Yoo scale: one fascicle of radius 845 µm at the nerve
centre (endoneurium diag(1/6, 1/6, 1/1.75) S/m) with the Yoo perineurium as thin layer (46.48 µm × 1149 Ω·m,
§7), epineurium and medium 1/6.3 S/m (so the exact bounded solution `grounded_cylinder_mV` applies), nerve
diameter 3272.5 µm, a 1 mA point contact at radius 1671.27 µm (the helical cuff's source radius, §7) at mid-length.
Fibres: MRG interpolation 2.1, 3.6, 7.8 µm at (185, −133) µm (the Yoo fascicle centroid offset), centre node
under the contact, 0.3 ms cathodic monophasic pulse.

Part 1 (mesh, order): R = 4 mm, L = 25 mm; threshold error vs the same grounded cylinder solved exactly.
Part 2 (domain): R and L varied at the finest mesh; thresholds vs the largest domain (what truncation costs).

Run: ``python experiments/fem_convergence.py [--json]`` (about 15 minutes on 2 cores); writes
``experiments/results/fem_convergence.json`` and the tables to ``experiments/results/fem_convergence.md``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nervesim import Waveform, find_threshold
from nervesim.field import Contact, Fascicle, FieldSpec, MeshSettings, fitting_fibre, solve_field
from nervesim.field.analytic import grounded_cylinder_mV

S_OUT = 1 / 6.3
A_UM, R0_UM, FIBRE_XY = 845.0, 1671.27, (185.0, -133.0)
DIAMETERS = (2.1, 3.6, 7.8)
RESULTS = Path(__file__).parent / "results"


def spec(h_nerve_um: float, order: int, radius_um: float = 4000.0, length_um: float = 25000.0) -> FieldSpec:
    return FieldSpec(nerve_diameter_um=3272.5, fascicles=(Fascicle(0, 0, 2 * A_UM),),
                     contacts=(Contact(R0_UM, 0, length_um / 2),), medium_radius_um=radius_um,
                     medium_length_um=length_um, perineurium_thickness=46.48,
                     materials={"medium": S_OUT, "epineurium": S_OUT},
                     mesh=MeshSettings(order=order, h_far_um=1600, h_nerve_um=h_nerve_um, h_contact_um=50))


def thresholds(potentials_of) -> dict[str, float]:
    wave = Waveform.monophasic(0.3)
    return {str(d): find_threshold(f, potentials_of(f), wave).threshold_mA
            for d in DIAMETERS for f in [fitting_fibre("mrg-interp", d, 25000.0)]}


def exact_thresholds(radius_um: float, length_um: float) -> dict[str, float]:
    rho, th = np.hypot(*FIBRE_XY), np.arctan2(FIBRE_XY[1], FIBRE_XY[0])

    def pot(f):
        z = f.z_um - f.z_um[f.node_sections[f.centre_node]] + length_um / 2
        return grounded_cylinder_mV(rho, th, z, source_rho_um=R0_UM, source_theta=0.0, source_z_um=length_um / 2,
                                    core_radius_um=A_UM, core_sigma_S_m=(1 / 6, 1 / 1.75),
                                    outer_sigma_S_m=(S_OUT, S_OUT), radius_um=radius_um, length_um=length_um,
                                    rho_s_ohm_m2=46.48e-6 * 1149, n_max=20)
    return thresholds(pot)


def fem_row(s: FieldSpec) -> dict:
    t0 = time.perf_counter()
    field = solve_field(s, cache=False)
    wall = time.perf_counter() - t0
    thr = thresholds(lambda f: field.potentials(f, *FIBRE_XY))
    return {"h_nerve_um": s.mesh.h_nerve_um, "order": s.mesh.order, "radius_um": s.medium_radius_um,
            "length_um": s.medium_length_um, "elements": field.info["elements"], "unknowns": field.info["unknowns"],
            "wall_s": round(wall, 1), "peak_rss_MB": field.info["peak_rss_MB"], "thresholds_mA": thr}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    exact = exact_thresholds(4000.0, 25000.0)
    mesh_rows = []
    for order, sizes in ((1, (300.0, 150.0)), (2, (400.0, 300.0, 200.0, 150.0))):
        for h in sizes:
            row = fem_row(spec(h, order))
            row["error_pct"] = {d: round(100 * (row["thresholds_mA"][d] / exact[d] - 1), 3) for d in exact}
            mesh_rows.append(row)
    domain_rows = [fem_row(spec(200.0, 2, r, length)) for r, length in ((4000.0, 25000.0), (8000.0, 25000.0),
                                                                        (4000.0, 50000.0), (8000.0, 50000.0))]
    ref = domain_rows[-1]["thresholds_mA"]
    for row in domain_rows:
        row["change_vs_largest_pct"] = {d: round(100 * (row["thresholds_mA"][d] / ref[d] - 1), 3) for d in ref}
    out = {"exact_thresholds_mA": exact, "mesh": mesh_rows, "domain": domain_rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fem_convergence.json").write_text(json.dumps(out, indent=1) + "\n")
    (RESULTS / "fem_convergence.md").write_text(tables(out))
    print(json.dumps(out, indent=1) if args.json else tables(out))


def tables(out: dict) -> str:
    """The two Markdown tables of ``out``."""
    lines = ["exact (R 4 mm, L 25 mm): " + str({d: round(v, 5) for d, v in out["exact_thresholds_mA"].items()}), "",
             "| order | h_nerve_um | unknowns | wall_s | peak_rss_MB | error % (2.1 / 3.6 / 7.8 um) |",
             "|---|---|---|---|---|---|"]
    for r in out["mesh"]:
        lines.append(f"| {r['order']} | {r['h_nerve_um']:g} | {r['unknowns']} | {r['wall_s']} | {r['peak_rss_MB']} | "
                     + " / ".join(f"{v:+.3f}" for v in r["error_pct"].values()) + " |")
    lines += ["", "| R_um | L_um | unknowns | change vs R 8 mm, L 50 mm, % (2.1 / 3.6 / 7.8 um) |", "|---|---|---|---|"]
    for r in out["domain"]:
        lines.append(f"| {r['radius_um']:g} | {r['length_um']:g} | {r['unknowns']} | "
                     + " / ".join(f"{v:+.3f}" for v in r["change_vs_largest_pct"].values()) + " |")
    return "\n".join(lines) + "\n"

if __name__ == "__main__":
    main()
