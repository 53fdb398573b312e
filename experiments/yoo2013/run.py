"""Yoo 2013 dog cervical VNS thresholds on a nervesim FEM field (issue 9, experiment 1; volume-conductor.md §7).

The default spec (``spec.toml``) is ASCENT's Yoo model: the nerve as the circle of its area, the fascicle as the
ellipse stand-in of its inner trace, the Yoo perineurium as a thin layer, the muscle medium cylinder and the
archived LivaNova2000 helical cuff (§5.1: silicone ribbons solved as a perfect insulator, platinum bands, saline
fill and the 10 µm gap). ``spec_point_contacts.toml`` replaces the cuff by point contacts at its sources (what
the model gives without the cuff's insulation). Report what the model gives; nothing is tuned toward a published
value.

Protocol (§7): MRG interpolation 2.1, 3.6, 7.8 µm at the fascicle centroid, a node at z = 12.5 mm, the fibre
trimmed by whole internodes to [0, 25 mm]; weights [+1, −1] (contact 1 at z = 8.5 mm is the cathode of a 0.3 ms
cathodic monophasic pulse).

Run: ``python experiments/yoo2013/run.py [--json] [--spec FILE] [--no-cache]``; writes
``experiments/yoo2013/results/<spec name>.json`` and ``.png``.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from nervesim import Waveform, find_threshold
from nervesim.field import fitting_fibre, load_spec, solve_field
from nervesim.field.plot import plot_field

HERE = Path(__file__).parent
DIAMETERS = (2.1, 3.6, 7.8)
WEIGHTS = (1, -1)


def fibres(spec) -> dict:
    """ASCENT's fibres of the protocol, by diameter (µm, as text)."""
    return {str(d): fitting_fibre("mrg-interp", d, spec.medium_length_um) for d in DIAMETERS}


def fibre_thresholds(field) -> dict[str, float]:
    """Thresholds (mA) of the protocol's fibres at the fascicle centroid."""
    xy = field.spec.fascicles[0].centroid_um
    return {d: find_threshold(f, field.potentials(f, *xy, weights=WEIGHTS), Waveform.monophasic(0.3)).threshold_mA
            for d, f in fibres(field.spec).items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, default=HERE / "spec.toml")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-cache", action="store_true")
    args = ap.parse_args()
    spec = load_spec(args.spec)
    t0 = time.perf_counter()
    field = solve_field(spec, cache=not args.no_cache)
    field_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    thresholds = fibre_thresholds(field)
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    figure = out_dir / f"{args.spec.stem}.png"
    out = {"thresholds_mA": thresholds, "n_nodes": {d: f.n_nodes for d, f in fibres(spec).items()},
           "spec": args.spec.name, "cuff": type(spec.cuff).__name__ if spec.cuff else "none (point contacts)",
           "field": field.info, "field_wall_s": round(field_s, 1),
           "threshold_s": round(time.perf_counter() - t1, 1), "figure": figure.name}
    xy = spec.fascicles[0].centroid_um
    plot_field(field, figure, {f"{d} µm": f for d, f in fibres(spec).items()}, xy, weights=WEIGHTS)
    (out_dir / f"{args.spec.stem}.json").write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1 if args.json else None))


if __name__ == "__main__":
    main()
