"""Command-line interface: ``nervesim SUBCOMMAND ...`` (``nervesim --help`` lists them).

Exit status: 0 success, 2 bad input (one line naming the flag), 1 a search that could not
bracket a threshold (or a validation that failed its targets), 130 interrupted.
"""
from __future__ import annotations

import argparse
import gc

from .. import __version__
from ..model import load_model
from . import analyses, common, fields, single, sweeps
from .common import Parser


def build_parser() -> argparse.ArgumentParser:
    """The ``nervesim`` parser with every subcommand."""
    p = Parser(prog="nervesim", description="Activation thresholds of nerve fibres (MRG double cable, Sweeney, "
                                                  "unmyelinated C fibres) under extracellular electrodes; "
                                                  "NEURON-exact, Numba-fast.",
               epilog="nervesim SUBCOMMAND --help describes each subcommand. Exit status: 0 done, 1 no threshold "
                      "bracketed (or validation failed), 2 bad input (one line naming the flag), 130 interrupted.")
    p.add_argument("--version", action="version", version=f"nervesim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)
    for module in (single, analyses, fields, sweeps):
        module.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``, as the ``nervesim`` script does); return the exit
    status."""
    process = argv is None  # the command of this process, which ends when main returns
    common.OWN_PROCESS = process
    if process:
        # The objects alive now (modules, Numba's registries) live as long as the process: freezing them keeps
        # them out of the cyclic collector's passes while the kernels load (measured: ~0.1 s per process).
        gc.freeze()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "nodes", 0) is None and getattr(args, "length_um", None) is None:
            if getattr(args, "field", None):
                if hasattr(args, "length_um"):  # one fibre: fitted here; recruitment fits each of its fibres
                    args.length_um = common.fitting_length_um(args)
            else:
                args.nodes = load_model(args.model).default_nodes  # shown in outputs; each model has its own
        return args.run(args, args.subparser)
    finally:
        if process:
            # The interpreter's final collections would walk everything Numba built (~0.25 s); nothing they could
            # free matters once the process exits.
            gc.freeze()

