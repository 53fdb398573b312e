"""Arguments, builders and input checks shared by the subcommands.

Units in flag names (µm, ms, mA, S/m, kHz). Library errors carry the parameter they are about
(`nervesim.errors.ParameterError`); `fail` maps it to the flag that set it.
"""
from __future__ import annotations

import argparse
import gc
import math
import re
import warnings
from pathlib import Path

from ..errors import ParameterError
from ..extracellular import Electrode, FilePotentials, Medium, media_presets
from ..fibre import build_fibre as _library_build_fibre
from ..model import available_models
from ..simulation import DEFAULT_DT_MS, MAX_RUN_BYTES, MAX_RUN_S
from ..sweep import SQLITE_MAGIC
from ..waveform import Waveform


def finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def sigma_xyz(text: str) -> tuple[float, float, float]:
    parts = text.split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"{text!r}: give three conductivities SX,SY,SZ in S/m")
    return tuple(finite(p) for p in parts)  # type: ignore[return-value]


def floats(text: str) -> list[float]:
    try:
        return [finite(x) for x in text.split(",")]
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"{text!r}: give comma-separated finite numbers") from None


class Parser(argparse.ArgumentParser):
    """Reports bad input as one line on stderr, exit status 2; takes negative numbers and
    comma lists (``--z-um -1e6``, ``--values -500,500``) as values, not as flags."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(,[-+.\deE]*)*$")

    def _get_values(self, action, arg_strings):
        # argparse drops a "--" value (``--width-ms=--``) and hands the handler an empty list.
        if action.option_strings and arg_strings == ["--"]:
            self.error(f"argument {'/'.join(action.option_strings)}: '--' is not a value")
        return super()._get_values(action, arg_strings)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def fibre_args(p: argparse.ArgumentParser, diameter: bool = True, length: bool = False) -> None:
    """--model, --diameter-um, --nodes, --temperature-c; ``length`` adds --length-um and --section-length-um
    (single fibres; analyses over many diameters take --nodes)."""
    p.add_argument("--model", required=True, choices=list(available_models()),
                   help="fibre model: MRG double cable (mrg-*), Sweeney, or unmyelinated C fibres (sundt, rattay, "
                        "tigerholm, ...); `nervesim models` lists them with their diameter ranges")
    if diameter:
        p.add_argument("--diameter-um", required=True, type=finite, help="fibre diameter (um)")
    group = p.add_mutually_exclusive_group() if length else p
    group.add_argument("--nodes", type=int,
                       help="nodes of Ranvier, odd; for unmyelinated models sections (as PyFibers' n_nodes). Default "
                            "the model's: 51 for MRG (thresholds within 0.02%% of a 151-node fibre for 1.5-16 um "
                            "fibres 0.5-2 mm from the electrode; see README), 265 sections (2.2 mm) for C fibres")
    if length:
        group.add_argument("--length-um", type=finite,
                           help="fibre length instead of --nodes: floor(length / node spacing) + 1 nodes, made odd")
        p.add_argument("--section-length-um", type=finite,
                       help="section length of unmyelinated models (default 8.333 um, PyFibers)")
    p.add_argument("--temperature-c", type=finite, help="temperature (default the model's, 37 C)")


def electrode_args(p: argparse.ArgumentParser, field: bool = False, xy_lists: bool = False) -> None:
    """Electrode flags; ``field`` adds --field and its flags, ``xy_lists`` lets --x-um/--y-um take lists (fibre
    places in a field)."""
    g = p.add_argument_group("electrode", "a point source (--x-um --y-um and a medium), a cuff preset, "
                                         "or potentials from a file")
    xy = floats if xy_lists else finite
    g.add_argument("--x-um", type=xy, help="electrode transverse offset x (um); with --cuff, the fibre's "
                                           "position in the nerve" + ("; with --field, fibre places X1,X2,..."
                                                                      if xy_lists else ""))
    g.add_argument("--y-um", type=xy, help="electrode transverse offset y (um)")
    g.add_argument("--z-um", type=finite, help="electrode position along the fibre (um, 0 = start of the "
                                               "first node); default the centre node")
    medium_args(g, required=False)
    g.add_argument("--cuff", help="a cuff preset from models/cuffs.toml (e.g. livanova2000)")
    g.add_argument("--nerve-diameter-um", type=finite, help="nerve diameter for --cuff (um)")
    g.add_argument("--electrode-file", metavar="FILE",
                   help="CSV with header z_um,ve_mV: potential (mV) per 1 mA along the fibre, z as --z-um")
    if field:
        f = p.add_argument_group("finite-element field", "potentials from a field solved by `nervesim field`; "
                                                         "--x-um/--y-um are then the fibre's place in the nerve "
                                                         "cross-section (the spec's frame)")
        f.add_argument("--field", metavar="FILE", help="a field file (.npz) written by `nervesim field --out`")
        f.add_argument("--weights", type=floats, metavar="W1,W2,...",
                       help="current of each contact per mA of stimulus, in spec order (point contacts, then cuff "
                            "contacts), e.g. 1,-1 for a bipolar pair; default 1 for a one-contact field")
        f.add_argument("--fibre-z-um", type=finite,
                       help="model z (um) of the fibre's centre node (default the model's mid-length)")
        f.add_argument("--epineurial", action="store_true",
                       help="allow fibres outside every fascicle (refused by default)")


def medium_args(p, required: bool) -> None:
    med = p.add_mutually_exclusive_group(required=required)
    med.add_argument("--sigma", type=finite, help="isotropic conductivity (S/m)")
    med.add_argument("--sigma-xyz", type=sigma_xyz, help="anisotropic conductivities SX,SY,SZ (S/m)")
    med.add_argument("--medium", choices=list(media_presets()), help="a named medium (models/media.toml)")


def output_args(p: argparse.ArgumentParser, plot: str | None) -> None:
    if plot:
        p.add_argument("--plot", metavar="FILE", help=plot)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def pulse_args(p: argparse.ArgumentParser, width: bool = True) -> None:
    p.add_argument("--pulse", required=True, choices=["mono", "biphasic"])
    if width:
        p.add_argument("--width-ms", required=True, type=finite, help="pulse width (ms), per phase if biphasic")
    p.add_argument("--gap-ms", type=finite, help="interphase gap (ms), biphasic only (default 0)")
    p.add_argument("--polarity", choices=["cathodic", "anodic"], default="cathodic",
                   help="polarity of the (first) phase (default cathodic)")


def run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dt-ms", type=finite, default=DEFAULT_DT_MS,
                   help=f"time step (default {DEFAULT_DT_MS} ms as ASCENT/PyFibers; 0.005 ms is 5x faster and "
                        "about 1.3%% higher; see README)")
    p.add_argument("--tolerance", type=finite, default=1e-3, help="relative bracket width (default 0.001)")
    p.add_argument("--max-ma", type=finite, default=1e3, help="largest amplitude tried (mA, default 1000)")
    fast_arg(p)


def fast_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fast", action="store_true",
                   help="the fast mode: extracellular layers held at Ve; "
                        "thresholds within 1e-5 of the exact engine's (README, Speed)")


def size_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-large", action="store_true",
                   help=f"run even when one simulation is estimated to exceed {MAX_RUN_S:g} s or "
                        f"{MAX_RUN_BYTES / 1e9:g} GB (refused by default, with the estimate)")


def engine_class(name: str):
    """The Stimulation class of engine ``name`` (``numba`` or ``neuron``)."""
    if name == "neuron":
        from ..neuron import NeuronStimulation
        return NeuronStimulation
    from ..simulation import Stimulation
    return Stimulation


#: Set by `nervesim.cli.main` when the command owns the process (the ``nervesim`` script), not a caller's.
OWN_PROCESS = False


def stimulation(args: argparse.Namespace, fibre, electrode, waveform):
    """The engine's Stimulation for the run flags (``--engine``, ``--fast``, ``--dt-ms``, ``--tstop-ms``,
    ``--allow-large``)."""
    if args.engine == "neuron":
        if args.fast:
            raise ParameterError("fast", "the NEURON engine runs the exact system only; drop --fast or use "
                                         "--engine numba")
        stim = engine_class(args.engine)(fibre, electrode, waveform, dt_ms=args.dt_ms, tstop_ms=args.tstop_ms,
                                         allow_large=args.allow_large)
    else:
        stim = engine_class(args.engine)(fibre, electrode, waveform, dt_ms=args.dt_ms, tstop_ms=args.tstop_ms,
                                         allow_large=args.allow_large, fast=args.fast)
    if OWN_PROCESS:
        # What building it set up (Numba's typing registries, the loaded kernels) lives as long as the process:
        # frozen, the cyclic collector's passes during the runs skip it (measured: 13 ms of a 42 ms first search).
        gc.freeze()
    return stim


def build_fibre(args: argparse.Namespace, diameter_um: float | None = None):
    """The fibre and any model warnings (e.g. a small-fibre model above its intended range)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fibre = _library_build_fibre(args.model, args.diameter_um if diameter_um is None else diameter_um,
                                     args.nodes, temperature_c=args.temperature_c,
                                     length_um=getattr(args, "length_um", None),
                                     section_length_um=getattr(args, "section_length_um", None))
    return fibre, [str(w.message) for w in caught]


def chosen_medium(args: argparse.Namespace):
    """The one of --sigma, --sigma-xyz, --medium that was given (or None)."""
    return next((v for v in (args.sigma, args.sigma_xyz, args.medium) if v is not None), None)


def build_electrode(args: argparse.Namespace, parser: argparse.ArgumentParser, fibre=None):
    """Electrode from the CLI flags; ``fibre`` places a default z at its centre node."""
    medium = chosen_medium(args)
    if getattr(args, "field", None):
        return field_electrode(args, parser, fibre)
    for flag in ("--weights", "--fibre-z-um", "--epineurial"):
        if getattr(args, flag[2:].replace("-", "_"), None):
            parser.error(f"argument {flag}: only with --field")
    if args.electrode_file:
        if any(v is not None for v in (args.x_um, args.y_um, args.z_um, medium, args.cuff)):
            parser.error("argument --electrode-file: replaces --x-um/--y-um/--z-um/--sigma/--cuff; give only the file")
        return FilePotentials.from_file(args.electrode_file)
    z = args.z_um if args.z_um is not None else (fibre.node_z_um[fibre.centre_node] if fibre is not None else 0.0)
    if args.cuff:
        if args.nerve_diameter_um is None:
            parser.error("argument --nerve-diameter-um: required with --cuff")
        x, y = args.x_um or 0.0, args.y_um or 0.0
        cuff = Electrode.cuff(args.cuff, args.nerve_diameter_um, z, medium if medium is not None else "endoneurium")
        placed = cuff.relative_to(x, y)
        if fibre is not None:
            try:
                placed.check_fibre(fibre.diameter_um)
            except ParameterError as exc:
                fail(parser, exc, args, {"x_um": "--x-um/--y-um", "y_um": "--x-um/--y-um"})
        return placed
    for flag, value in (("--x-um", args.x_um), ("--y-um", args.y_um),
                        ("--sigma/--sigma-xyz/--medium", medium)):
        if value is None:
            parser.error(f"argument {flag}: required for a point-source electrode "
                         "(or give --cuff or --electrode-file)")
    return Electrode.point(args.x_um, args.y_um, z, medium)


#: Library parameters of a field electrode and the flags that set them.
FIELD_FLAGS = {"x_um": "--x-um/--y-um", "y_um": "--x-um/--y-um", "weights": "--weights", "fibre_z_um": "--fibre-z-um",
               "field": "--field", "z_um": "--fibre-z-um"}


def load_field(parser: argparse.ArgumentParser, path: str):
    """The field in file ``path`` (`nervesim.field.load_field`: read once per process), or exit 2 naming --field."""
    try:
        from ..field import load_field as _load_field

        return _load_field(path)
    except ImportError as exc:
        parser.error(f"argument --field: {exc}; install the fem extra: pip install 'nervesim[fem]'")
    except ValueError as exc:
        fail(parser, exc, None, FIELD_FLAGS)


def fitting_length_um(args: argparse.Namespace) -> float | None:
    """With --field and neither --nodes nor --length-um: the longest fibre length centred at --fibre-z-um that lies
    inside the model, as ASCENT trims its fibres (volume-conductor.md §7); None when that centre is outside (the
    field then names --fibre-z-um)."""
    length = load_field(args.subparser, args.field).spec.medium_length_um
    centre = length / 2 if args.fibre_z_um is None else args.fibre_z_um
    reach = min(centre, length - centre)
    return 2 * reach if reach > 0 else None


def field_electrode(args: argparse.Namespace, parser: argparse.ArgumentParser, fibre=None):
    """The --field electrode: with ``fibre``, its potentials (mV per mA) at (--x-um, --y-um) with the centre node at
    --fibre-z-um (exactly `Field.potentials`); without, a `FieldElectrode` on the nerve axis for a population."""
    for flag, value in (("--z-um", args.z_um), (flag_for("sigma_S_m", args), chosen_medium(args)),
                        ("--cuff", args.cuff), ("--nerve-diameter-um", args.nerve_diameter_um),
                        ("--electrode-file", args.electrode_file)):
        if value is not None:
            parser.error(f"argument {flag}: not with --field (the field file is the electrode; the fibre's centre "
                         "node z is --fibre-z-um)")
    field = load_field(parser, args.field)
    try:
        if fibre is None:
            return field.electrode(args.weights, args.fibre_z_um, epineurial=args.epineurial)
        for flag, value in (("--x-um", args.x_um), ("--y-um", args.y_um)):
            if value is None:
                parser.error(f"argument {flag}: required with --field (the fibre's place in the nerve, um)")
        return field.potentials(fibre, args.x_um, args.y_um, args.weights, args.fibre_z_um,
                                epineurial=args.epineurial)
    except ValueError as exc:
        fail(parser, exc, args, FIELD_FLAGS)


def build_waveform(args: argparse.Namespace, parser: argparse.ArgumentParser, width_ms: float) -> Waveform:
    if args.pulse == "mono" and args.gap_ms is not None:
        parser.error("argument --gap-ms: only for --pulse biphasic")
    return Waveform.pulse(args.pulse, width_ms, args.polarity, gap_ms=args.gap_ms or 0.0)


def describe_medium(args: argparse.Namespace) -> tuple[str, dict]:
    """The medium as given on the command line: a phrase for text output and a JSON object."""
    if args.sigma is not None:
        return f"sigma {args.sigma:g} S/m", {"sigma_S_m": args.sigma}
    if args.sigma_xyz is not None:
        sx, sy, sz = args.sigma_xyz
        return f"sigma (x, y, z) ({sx:g}, {sy:g}, {sz:g}) S/m", {"sigma_xyz_S_m": list(args.sigma_xyz)}
    name = args.medium or "endoneurium"  # the cuff's default medium
    m = Medium.preset(name)
    return (f"{name} (sigma {m.sigma_x:g}, {m.sigma_y:g}, {m.sigma_z:g} S/m)",
            {"medium": name, "sigma_xyz_S_m": [m.sigma_x, m.sigma_y, m.sigma_z]})


def describe_electrode(args: argparse.Namespace, fibre=None) -> tuple[str, dict]:
    """What the electrode flags set up: a phrase for text output and a JSON object (um, S/m).

    With ``fibre`` the default z is its centre node and a cuff run records the fibre's place in the
    nerve; without (a population) z defaults to 0 and no fibre position is given.
    """
    if getattr(args, "field", None):
        from ..field import load_field as _load_field

        field = _load_field(args.field)  # already read (and checked) by build_electrode
        weights = [float(w) for w in field.electrode(args.weights).weights]
        zc = field.spec.medium_length_um / 2 if args.fibre_z_um is None else args.fibre_z_um
        where = {"kind": "field", "field": args.field, "spec_hash": field.info["spec_hash"], "weights": weights,
                 "fibre_z_um": zc}
        phrase = f"field {args.field} (spec {field.info['spec_hash'][:12]}), weights {weights}"
        if fibre is not None:
            where.update(fibre_x_um=args.x_um, fibre_y_um=args.y_um)
            phrase += f", fibre at ({args.x_um:g}, {args.y_um:g}) um, centre node at z {zc:g} um"
        return phrase, where
    if args.electrode_file:
        return f"potentials from {args.electrode_file}", {"kind": "file", "file": args.electrode_file}
    centre = float(fibre.node_z_um[fibre.centre_node]) if fibre is not None else 0.0
    z = float(args.z_um) if args.z_um is not None else centre
    text, medium = describe_medium(args)
    if args.cuff:
        where = {"kind": "cuff", "cuff": args.cuff, "nerve_diameter_um": args.nerve_diameter_um, "z_um": z}
        phrase = f"{args.cuff} cuff at z {z:.1f} um on a {args.nerve_diameter_um:g} um nerve"
        if fibre is not None:
            x, y = args.x_um or 0.0, args.y_um or 0.0
            where.update(fibre_x_um=x, fibre_y_um=y)
            phrase += f", fibre at ({x:g}, {y:g}) um"
        return f"{phrase}, {text}", {**where, **medium}
    return (f"electrode at ({args.x_um:g}, {args.y_um:g}, {z:.1f}) um in {text}",
            {"kind": "point", "x_um": args.x_um, "y_um": args.y_um, "z_um": z, **medium})


#: The flag that sets each library parameter (`ParameterError.parameter`).
FLAGS = {
    "model": "--model", "diameter_um": "--diameter-um", "n_nodes": "--nodes", "passive_end_nodes": "--nodes",
    "length_um": "--length-um", "section_length_um": "--section-length-um", "fast": "--fast",
    "temperature_c": "--temperature-c", "dt_ms": "--dt-ms", "tstop_ms": "--tstop-ms", "width_ms": "--width-ms",
    "gap_ms": "--gap-ms", "polarity": "--polarity", "pulse": "--pulse", "tolerance": "--tolerance",
    "max_mA": "--max-ma", "electrode": "--x-um/--y-um", "x_um": "--x-um", "y_um": "--y-um", "z_um": "--z-um",
    "potentials": "--electrode-file", "cuff": "--cuff", "nerve_diameter_um": "--nerve-diameter-um",
    "medium": "--medium", "widths_ms": "--widths-ms", "frequency_khz": "--frequency-khz",
    "waveform": "--width-ms", "amplitude_mA": "--amplitude-ma", "time_grid": "--width-ms/--gap-ms/--dt-ms",
}


def flag_for(parameter: str, args: argparse.Namespace | None = None) -> str:
    """The flag that set library ``parameter``; conductivities name the medium flag actually given."""
    if parameter in ("sigma_S_m", "sigma_x", "sigma_y", "sigma_z"):
        if args is not None and getattr(args, "sigma_xyz", None) is not None:
            return "--sigma-xyz"
        if args is not None and getattr(args, "medium", None) is not None:
            return "--medium"
        return "--sigma"
    return FLAGS.get(parameter, parameter)


def fail(parser: argparse.ArgumentParser, exc: ValueError, args: argparse.Namespace | None = None,
         flags: dict[str, str] | None = None):
    """Exit with status 2 and one line naming the flag behind ``exc`` (``flags`` overrides `FLAGS`)."""
    if isinstance(exc, ParameterError):
        flag = (flags or {}).get(exc.parameter) or flag_for(exc.parameter, args)
        parser.error(f"argument {flag}: {exc}")
    parser.error(str(exc))


#: What each output kind may be called, and the leading bytes of a file of that kind.
OUTPUT_KINDS = {
    "figure": ((".png", ".pdf", ".svg"), (b"\x89PNG", b"%PDF", b"<?xml", b"<svg")),
    "csv": ((".csv",), ()),
    "parquet": ((".parquet",), (b"PAR1",)),
    "sqlite": ((".db", ".sqlite", ".sqlite3"), (SQLITE_MAGIC,)),
    "field": ((".npz",), (b"PK\x03\x04",)),  # a NumPy .npz archive is a zip file
}
_BINARY_MAGIC = {magic: kind for kind, (_, magics) in OUTPUT_KINDS.items() for magic in magics}


def _kind_of_file(path: Path) -> str | None:
    """The kind of an existing file from its first bytes (None: plain text or unknown)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    return next((kind for magic, kind in _BINARY_MAGIC.items() if head.startswith(magic)), None)


def check_output(parser: argparse.ArgumentParser, flag: str, path: str | None, kind: str, *,
                 inputs: tuple[str, ...] = (), force: bool = False) -> None:
    """Refuse, before any work, an output path that cannot be written or would destroy data.

    Checks that the folder exists, the extension suits ``kind`` (a key of `OUTPUT_KINDS`), the path
    is none of ``inputs`` and not a directory, and that an existing file there is of the same kind
    (``force`` allows overwriting it anyway; never an input).
    """
    if path is None:
        return
    out = Path(path)
    suffixes, _ = OUTPUT_KINDS[kind]
    if out.suffix.lower() not in suffixes:
        parser.error(f"argument {flag}: {path} must end in {', '.join(suffixes)}")
    if not out.parent.resolve().is_dir():
        parser.error(f"argument {flag}: folder {out.parent} does not exist; create it first")
    if out.is_dir():
        parser.error(f"argument {flag}: {path} is a directory; give a file name")
    for source in inputs:
        if source is not None and Path(source).exists() and out.exists() and out.samefile(source):
            parser.error(f"argument {flag}: {path} is also an input; write the output to another file")
    if out.exists() and not force:
        found = _kind_of_file(out)
        binary = kind in ("sqlite", "parquet", "field")
        if found is not None and found != kind or binary and found != kind and out.stat().st_size > 0:
            parser.error(f"argument {flag}: {path} exists and is not a {kind} file; remove it, choose another "
                         "name, or pass --force")
