"""Yoo 2013 dog cervical VNS thresholds on a nervesim FEM field (issue 9, experiment 1; volume-conductor.md §7).

The default spec (``spec_point_contacts.toml``) has the nerve, fascicle (circle stand-in), perineurium thin layer and
muscle medium of ASCENT's Yoo model, with point contacts at the LivaNova2000 helices' source positions and no cuff:
the thresholds are what *that* model gives, not ASCENT's Yoo model. ``spec.toml`` adds the archived LivaNova2000
helical cuff (silicone ribbons, platinum bands, saline fill; §5.1): it meshes (845 k elements, ~100 s) but CG + BDDC
does not yet converge on that mesh (see nervesim/field/STACK.md), so it is not the default.

Protocol (§7): MRG interpolation 2.1, 3.6, 7.8 µm at the fascicle centroid, a node at z = 12.5 mm, the fibre
trimmed by whole internodes to [0, 25 mm]; weights [+1, −1] (contact 1 at z = 8.5 mm is the cathode of a 0.3 ms
cathodic monophasic pulse).

Run: ``python experiments/yoo2013/run.py [--json] [--spec FILE] [--figure FILE] [--no-cache]``.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, default=HERE / "spec_point_contacts.toml")
    ap.add_argument("--figure", type=Path, default=HERE / "yoo2013_point_contacts.png")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-cache", action="store_true")
    args = ap.parse_args()
    spec = load_spec(args.spec)
    t0 = time.perf_counter()
    field = solve_field(spec, cache=not args.no_cache)
    field_s = time.perf_counter() - t0
    f = spec.fascicles[0]
    xy = (f.x_um, f.y_um)  # centroid of the circular fascicle
    fibres = {str(d): fitting_fibre("mrg-interp", d, spec.medium_length_um) for d in DIAMETERS}
    t1 = time.perf_counter()
    thresholds = {d: find_threshold(fib, field.potentials(fib, *xy, weights=[1, -1]),
                                    Waveform.monophasic(0.3)).threshold_mA for d, fib in fibres.items()}
    out = {"thresholds_mA": thresholds, "n_nodes": {d: fib.n_nodes for d, fib in fibres.items()},
           "spec": str(args.spec), "cuff": type(spec.cuff).__name__ if spec.cuff else "none (point contacts)",
           "field": field.info, "field_wall_s": round(field_s, 1),
           "threshold_s": round(time.perf_counter() - t1, 1), "figure": str(args.figure)}
    plot_field(field, args.figure, {f'{d} µm': fib for d, fib in fibres.items()}, xy, weights=[1, -1])
    print(json.dumps(out, indent=1 if args.json else None))


if __name__ == "__main__":
    main()
