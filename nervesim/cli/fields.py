"""``nervesim field``: mesh and solve a finite-element volume-conductor spec (issue 9), save the field file."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from .. import __version__
from . import common

#: Fibre drawn by ``--plot`` (the potential along it): a mid-sized MRG fibre at the first fascicle's centre.
PLOT_FIBRE = ("mrg-interp", 5.7)


def add_parsers(sub) -> None:
    """Add ``field`` to the subparsers ``sub``."""
    f = sub.add_parser("field", help="solve a finite-element volume conductor (nerve, fascicles, cuff) to a file",
                       description="Mesh and solve the model of a TOML spec (one 1 mA solve per contact, NGSolve; "
                                   "cached by the spec's hash in the user cache) and save the field for "
                                   "`nervesim threshold/simulate/recruitment --field FILE`.")
    f.add_argument("spec", metavar="SPEC.toml", help="the model spec (TOML)")
    f.add_argument("--out", required=True, metavar="FIELD", help="the field file to write (.npz)")
    f.add_argument("--force", action="store_true", help="overwrite --out even if it is not a field file")
    f.add_argument("--weights", type=common.floats, metavar="W1,W2,...",
                   help="contact weights for --plot (default: contact 1 alone)")
    f.add_argument("--allow-large", action="store_true",
                   help="mesh even when the model is estimated to need more memory than is available now "
                        "(refused by default, with the estimate)")
    common.output_args(f, "draw the cross-section (nerve, fascicles, cuff, contacts) and the potential along a "
                          f"{PLOT_FIBRE[1]:g} um fibre at the first fascicle's centre (png, pdf, svg)")
    f.set_defaults(run=_field, subparser=f)


def _field(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ..errors import ParameterError
    from ..field.spec import load_spec

    common.check_output(parser, "--out", args.out, "field", inputs=(args.spec,), force=args.force)
    common.check_output(parser, "--plot", args.plot, "figure", inputs=(args.spec, args.out))
    if not Path(args.spec).is_file():
        parser.error(f"argument SPEC.toml: {args.spec}: no such file")
    try:
        spec = load_spec(args.spec)
    except ParameterError as exc:
        parser.error(f"argument SPEC.toml: {args.spec}: {exc}")
    weights = args.weights
    if weights is None:
        weights = [1.0] + [0.0] * (len(spec.sources_um()) - 1)
    elif len(weights) != len(spec.sources_um()):
        parser.error(f"argument --weights: {len(weights)} weights for {len(spec.sources_um())} contacts; give one "
                     "per contact in spec order (point contacts, then cuff contacts)")
    try:
        from ..field import field_cache_dir, fitting_fibre, solve_field
    except ImportError as exc:
        parser.error(f"nervesim field needs the fem extra ({exc}): pip install 'nervesim[fem]'")
    cached = (field_cache_dir() / f"{spec.hash()}.npz").is_file()
    start = time.perf_counter()
    try:
        field = solve_field(spec, max_memory_GB=float("inf") if args.allow_large else None)
    except ParameterError as exc:
        flag = "--allow-large" if exc.parameter.startswith("mesh.") else "SPEC.toml"
        parser.error(f"argument {flag}: {exc}")
    wall = time.perf_counter() - start
    field.save(args.out)
    if args.plot:
        from ..field.plot import plot_field

        f0 = spec.fascicles[0]
        fibre = fitting_fibre(PLOT_FIBRE[0], PLOT_FIBRE[1], spec.medium_length_um)
        plot_field(field, args.plot, {f"{PLOT_FIBRE[0]} {PLOT_FIBRE[1]:g} um": fibre}, f0.centroid_um,
                   weights=weights)
    info = field.info
    out = {"field": args.out, "spec": args.spec, "spec_hash": info["spec_hash"], "from_cache": cached,
           "contacts": field.n_contacts, "elements": info["elements"], "unknowns": info["unknowns"],
           "min_quality": info.get("min_quality"),
           "mesh_s": info["mesh_s"], "solve_s": info["solve_s"], "peak_rss_MB": info["peak_rss_MB"],
           "wall_s": round(wall, 3), "estimate": info["estimate"], "versions": info["versions"],
           "plot": args.plot, "nervesim_version": __version__}
    if args.json:
        print(json.dumps(out))
        return 0
    how = (f"from the cache in {wall:.1f} s (solved earlier: mesh {info['mesh_s']:.1f} s, solve {info['solve_s']:.1f} "
           f"s)" if cached else f"mesh {info['mesh_s']:.1f} s, solve {info['solve_s']:.1f} s")
    quality = f" (worst quality {info['min_quality']:.3g})" if "min_quality" in info else ""
    print(f"{args.spec} (spec {info['spec_hash'][:12]}): {field.n_contacts} contacts, {info['elements']} elements"
          f"{quality}, {info['unknowns']} unknowns; {how}; peak memory {info['peak_rss_MB']} MB")
    for path in (args.out, args.plot):
        if path:
            print(f"wrote {path}")
    return 0
