"""Parameter sweeps that never lose work: a TOML spec, a SQLite results store, resume.

A spec has the tables ``[sweep]``, ``[fibre]``, ``[electrode]``, ``[waveform]`` and ``[run]``.
Every list-valued parameter is an axis of the grid (``electrode.sigma_xyz`` takes a list of
three, so a list of such lists is an axis); the grid is every combination of the axes. Extra
single points may be given as ``[[point]]`` tables of dotted keys (``fibre.diameter_um = 12.0``);
a point takes the fixed (non-list) values of the tables and overrides them.

Keys (units in the names; "-" = no default):

=============================  =========  ====================================================
key                            default    meaning
=============================  =========  ====================================================
sweep.name                     file stem  name stored with every row
fibre.model                    -          a model of ``nervesim models`` (``mrg-interp``, ``sundt``, ...)
fibre.diameter_um              -          fibre diameter (µm), inside the model's range
fibre.n_nodes                  model's    nodes (odd integer; sections of C fibres): 51 MRG, 265 C
fibre.temperature_c            model's    temperature (°C); the models' default is 37
electrode.kind                 point      ``point``, ``cuff``, ``file`` or ``field``
electrode.x_um                 -          point: electrode offset x (µm, required);
                                          cuff: the fibre's x in the nerve (default 0);
                                          field: the fibre's x in the cross-section (required)
electrode.y_um                 0          point: electrode offset y; cuff: the fibre's y (µm)
electrode.z_um                 centre     position along the fibre (µm, 0 = start of the
                                          first node); default the centre node
electrode.sigma_S_m            -          isotropic conductivity (S/m)
electrode.sigma_xyz            -          anisotropic conductivities [sx, sy, sz] (S/m)
electrode.medium               -          a named medium (``models/media.toml``); a point
                                          needs exactly one of the three, a cuff at most one
                                          (default ``endoneurium``)
electrode.cuff                 -          cuff preset (``models/cuffs.toml``), kind = cuff
electrode.nerve_diameter_um    -          nerve diameter for the cuff (µm), kind = cuff
electrode.file                 -          CSV (``z_um,ve_mV``) or NPY of potentials (mV per
                                          mA), kind = file; relative to the spec's folder
electrode.field                -          a solved field (``nervesim field``), kind = field;
                                          relative to the spec's folder
electrode.weights              [1]        contact weights of the field, one per contact
                                          (a list of numbers; a list of lists is an axis)
electrode.fibre_z_um           mid        z of the fibre's centre node in the field (µm);
                                          default the field model's mid-length
waveform.pulse                 mono       ``mono``, ``biphasic`` or ``asymmetric``
waveform.width_ms              -          pulse width (ms), per phase
waveform.polarity              cathodic   ``cathodic`` or ``anodic`` (of the first phase)
waveform.gap_ms                0          interphase gap (ms); biphasic and asymmetric only
waveform.ratio                 -          second/first phase length (>= 1); asymmetric only
waveform.frequency_hz          -          repeat the pulse as a train at this rate (Hz)
waveform.n_pulses              1          pulses in the train; with frequency_hz only
run.dt_ms                      0.001      time step (ms)
run.tstop_ms                   stimulus   run length (ms); default the end of the stimulus
                                          + 5 ms
run.tolerance                  0.001      relative width of the final threshold bracket
run.max_mA                     1000       largest amplitude tried (mA)
run.fast                       false      the fast mode (extracellular layers held at Ve;
                                          `nervesim.Stimulation`)
=============================  =========  ====================================================

Every point is validated before anything runs (`load_spec`): types, ranges (with the library's
own checks), keys a point does not use, unknown keys. Grids are expanded lazily, so specs of
millions of points cost no memory.

Each point is identified (`Sweep.point_id`) by a hash of everything that sets its result: its
parameters (numbers normalised, so ``500`` and ``500.0`` are one point; defaults filled), the
content of its potentials or field file (not its path), the model definition and `RESULTS_VERSION`. The
store keeps one row per finished point, committed as it finishes (on Dask, as its task of up to
`DASK_POINTS_PER_TASK` points finishes), so rerunning the same (or an
extended) spec runs only what is missing, and editing a potentials file or a model reruns the
points that use it. Only the process that owns the store writes to it; workers (local
processes or Dask) send results back. Units as in the rest of nervesim (µm, ms, mA, S/m).
"""
from __future__ import annotations

import difflib
import functools
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import sys
import time
import tomllib
import warnings
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

from . import __version__
from .errors import ParameterError
from .simulation import DEFAULT_DT_MS

#: Part of every point's identity. Bump it when a change to nervesim changes the threshold of
#: the same parameters (solver, search, detection, a library default such as the default tstop or
#: electrode z), so stored points are recomputed; releases that do not change results keep their
#: stores. Version 1: identity by content (issue 11); stores written before it are rerun.
RESULTS_VERSION = 1
WORKER_ATTEMPTS = 2  # a point whose worker died this many times running alone is recorded as failed
#: Grids larger than this are refused unless the caller allows them (`check_size`).
MAX_POINTS = 10**6
#: Compute time of one point (s) at dt 0.005 ms and 51 nodes: mean ``runtime_s`` of
#: experiments/sweeps/quick.toml on this machine (0.059 s; 50 points, 2.5 s wall on 2 cores).
SECONDS_PER_POINT = 0.06


class Key(NamedTuple):
    """One spec parameter.

    Attributes
    ----------
    type : str
        ``bool``, ``str``, ``float``, ``int``, ``triple`` (three floats) or ``floats`` (a list of floats);
        numbers are normalised to it.
    default : object
        Filled in where the spec leaves the key out (None: required where used, or the library's
        default).
    label, unit : str
        How figures name it (``pulse width``, ``ms``).
    """

    type: str
    default: Any
    label: str
    unit: str = ""


#: Every parameter a point can set. Default None: required where used, or the library's default.
KEYS: dict[str, Key] = {
    "fibre.model": Key("str", None, "model"),
    "fibre.diameter_um": Key("float", None, "fibre diameter", "µm"),
    "fibre.n_nodes": Key("int", None, "nodes"),
    "fibre.temperature_c": Key("float", None, "temperature", "°C"),
    "electrode.kind": Key("str", "point", "electrode"),
    "electrode.x_um": Key("float", None, "electrode x", "µm"),
    "electrode.y_um": Key("float", 0.0, "electrode y", "µm"),
    "electrode.z_um": Key("float", None, "electrode z", "µm"),
    "electrode.sigma_S_m": Key("float", None, "conductivity", "S/m"),
    "electrode.sigma_xyz": Key("triple", None, "conductivities", "S/m"),
    "electrode.medium": Key("str", None, "medium"),
    "electrode.cuff": Key("str", None, "cuff"),
    "electrode.nerve_diameter_um": Key("float", None, "nerve diameter", "µm"),
    "electrode.file": Key("str", None, "potentials file"),
    "electrode.field": Key("str", None, "field file"),
    "electrode.weights": Key("floats", None, "contact weights"),
    "electrode.fibre_z_um": Key("float", None, "fibre centre z", "µm"),
    "waveform.pulse": Key("str", "mono", "pulse"),
    "waveform.width_ms": Key("float", None, "pulse width", "ms"),
    "waveform.gap_ms": Key("float", 0.0, "interphase gap", "ms"),
    "waveform.polarity": Key("str", "cathodic", "polarity"),
    "waveform.ratio": Key("float", None, "phase ratio"),
    "waveform.frequency_hz": Key("float", None, "frequency", "Hz"),
    "waveform.n_pulses": Key("int", 1, "pulses"),
    "run.dt_ms": Key("float", DEFAULT_DT_MS, "time step", "ms"),
    "run.tstop_ms": Key("float", None, "run length", "ms"),
    "run.tolerance": Key("float", 1e-3, "tolerance"),
    "run.max_mA": Key("float", 1e3, "max amplitude", "mA"),
    "run.fast": Key("bool", False, "fast mode"),
}
DEFAULTS: dict[str, Any] = {k: key.default for k, key in KEYS.items()}
TABLES = ("sweep", "fibre", "electrode", "waveform", "run", "point")
MEDIUM_KEYS = ("electrode.sigma_S_m", "electrode.sigma_xyz", "electrode.medium")
KINDS = {  # the electrode keys each kind uses (the others must not be given)
    "point": {"electrode.x_um", "electrode.y_um", "electrode.z_um", *MEDIUM_KEYS},
    "cuff": {"electrode.x_um", "electrode.y_um", "electrode.z_um", *MEDIUM_KEYS, "electrode.cuff",
             "electrode.nerve_diameter_um"},
    "file": {"electrode.file"},
    "field": {"electrode.field", "electrode.weights", "electrode.x_um", "electrode.y_um", "electrode.fibre_z_um"},
}
#: Key types whose single value is a list (so only a list of lists is an axis).
LIST_TYPES = ("triple", "floats")
#: Keys naming input files: resolved against the spec's folder; their content, not their path, is identity.
FILE_KEYS = ("electrode.file", "electrode.field")
PULSES = {"mono": set(), "biphasic": {"waveform.gap_ms"}, "asymmetric": {"waveform.gap_ms", "waveform.ratio"}}
OPTIONAL = set().union(*KINDS.values(), *PULSES.values())  # keys used by some kinds or pulses only
REQUIRED = {"point": ("electrode.x_um",), "cuff": ("electrode.cuff", "electrode.nerve_diameter_um"),
            "file": ("electrode.file",), "field": ("electrode.field", "electrode.x_um"),
            "asymmetric": ("waveform.ratio",)}

#: Keys whose validity depends on one another's values; every other key is checked value by value.
#: Validation tries every combination of the values of each group's axes (a library check that
#: couples keys of different groups needs a group here).
COUPLED = (
    ("fibre.model", "fibre.diameter_um"),  # the model's diameter range and geometry
    ("fibre.model", "fibre.n_nodes"),  # passive end nodes leave at least three active ones
    ("electrode.kind", "waveform.pulse"),  # which keys each point uses
    # a source outside the fibre, the fibre inside the nerve
    ("electrode.kind", "electrode.x_um", "electrode.y_um", "electrode.cuff", "electrode.nerve_diameter_um",
     "fibre.model", "fibre.diameter_um"),
    # the potentials file covers the fibre
    ("electrode.kind", "electrode.file", "fibre.model", "fibre.diameter_um", "fibre.n_nodes"),
    # the fibre inside a fascicle of the field, its length within the model, one weight per contact
    ("electrode.kind", "electrode.field", "electrode.weights", "electrode.x_um", "electrode.y_um",
     "electrode.fibre_z_um", "fibre.model", "fibre.diameter_um", "fibre.n_nodes"),
    # phase edges on the time grid, tstop after the stimulus, a train's period, problem size
    ("waveform.pulse", "waveform.width_ms", "waveform.gap_ms", "waveform.ratio", "waveform.frequency_hz",
     "waveform.n_pulses", "run.dt_ms", "run.tstop_ms", "fibre.n_nodes"),
)
#: The spec key behind each library parameter name that is not simply a key's last part.
PARAMETER_KEYS = {"passive_end_nodes": "fibre.n_nodes", "electrode": "electrode.x_um", "ring": "electrode.cuff",
                  "potentials": "electrode.file", "time_grid": "run.dt_ms", "waveform": "waveform.pulse"}


class SpecError(ParameterError):
    """A sweep spec that cannot run.

    Parameters
    ----------
    key : str
        The spec key (``fibre.diameter_um``), kept as ``parameter``; ``spec`` for the whole spec.
    message : str
        What is wrong and the fix.
    where : str
        Which value: ``axis value 20``, ``[[point]] 3``, the other axes' values; may be empty.
        The message reads ``key (where): message``.
    """

    def __init__(self, key: str, message: str, where: str = "") -> None:
        head = " ".join(([] if key == "spec" else [key]) + ([f"({where})"] if where else []))
        super().__init__(key, f"{head}: {message}" if head else message)


def _number_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _normalise(key: str, value: Any, where: str) -> Any:
    """``value`` as the canonical type of ``key`` (500 -> 500.0 for a float key, 51.0 -> 51 for an int)."""
    kind = KEYS[key].type
    if kind == "bool":
        if not isinstance(value, bool):
            raise SpecError(key, f"{value!r} must be true or false", where)
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise SpecError(key, f"{value!r} must be a string (in quotes)", where)
        return value
    if kind == "triple":
        if not isinstance(value, list) or len(value) != 3:
            raise SpecError(key, f"{value!r} must be a list of three conductivities [sx, sy, sz] (S/m)", where)
        return [_number(key, v, where) for v in value]
    if kind == "floats":
        if not isinstance(value, list) or not value:
            raise SpecError(key, f"{value!r} must be a list of numbers, e.g. [1, -1]", where)
        return [_number(key, v, where) for v in value]
    number = _number(key, value, where)
    if kind == "int":
        if not number.is_integer():
            raise SpecError(key, f"{value!r} must be a whole number", where)
        return int(number)
    return number


def _number(key: str, value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        what = (f"the boolean {str(value).lower()}" if isinstance(value, bool)
                else f"the string {value!r}" + (": remove the quotes" if _as_number(value) is not None else "")
                if isinstance(value, str) else repr(value))
        raise SpecError(key, f"must be a number, not {what}", where)
    number = _as_number(value) if abs(value) < 1e308 else None
    if number is None or not math.isfinite(number):
        raise SpecError(key, f"{value!r} must be a finite number", where)
    return number


def _suggest(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else f"; known: {', '.join(known)}"


def _flat_point(extra: dict[str, Any], where: str) -> dict[str, Any]:
    """A ``[[point]]`` table as dotted keys (TOML turns ``fibre.diameter_um = 3`` into a nested table)."""
    flat = {}
    for key, value in extra.items():
        if isinstance(value, dict) and key in TABLES:
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    for key, value in flat.items():
        if key not in KEYS:
            raise SpecError(key, f"unknown key{_suggest(key, KEYS)}", where)
        if isinstance(value, list) and (KEYS[key].type not in LIST_TYPES or any(isinstance(v, list) for v in value)):
            raise SpecError(key, "a [[point]] takes single values; a list in a table makes an axis", where)
    return flat


@dataclass(frozen=True)
class Sweep:
    """A validated sweep spec, expanded lazily into its points.

    Attributes
    ----------
    name : str
        Stored with every row.
    spec_text : str
        The spec as read.
    fixed : dict
        Every key's value where it does not vary (defaults filled, numbers normalised).
    axes : dict
        Key -> tuple of its distinct values, for every list-valued key, in key order.
    extra : tuple of dict
        The full parameters of each ``[[point]]`` not already on the grid.
    given : frozenset
        The keys the spec sets in its tables (not the ``[[point]]`` ones).
    has_grid : bool
        False for a spec of ``[[point]]`` tables and no lists (its tables then only set defaults).
    warnings : tuple of str
        Distinct warnings the library gave while validating (e.g. a model used above its range).
    """

    name: str
    spec_text: str
    fixed: dict[str, Any]
    axes: dict[str, tuple]
    extra: tuple[dict[str, Any], ...] = ()
    given: frozenset = frozenset()
    has_grid: bool = True
    warnings: tuple[str, ...] = ()
    _hashes: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def grid_size(self) -> int:
        """Number of grid points: the product of the axes' lengths (0 without a grid)."""
        return math.prod(len(v) for v in self.axes.values()) if self.has_grid else 0

    def __len__(self) -> int:
        """Number of distinct points: the grid's and the ``[[point]]`` ones off the grid."""
        return self.grid_size + len(self.extra)

    def points(self) -> Iterator[dict[str, Any]]:
        """Every point's full parameters, grid first, generated one at a time (no list in memory).

        Yields
        ------
        dict
            Every key of `KEYS` with its value (None: unused by this point, or the library's
            default); ``electrode.file`` is an absolute path.
        """
        if self.grid_size:
            keys = list(self.axes)
            for combo in itertools.product(*self.axes.values()):
                yield _complete({**self.fixed, **dict(zip(keys, combo))})
        for p in self.extra:
            yield p

    def point_id(self, params: dict[str, Any]) -> str:
        """Identity of a point: a hash of its parameters, the content of its potentials file, its
        model definition and `RESULTS_VERSION` (see the module docstring).

        Parameters
        ----------
        params : dict
            One item of `points`.

        Returns
        -------
        str
            20 hex digits of the SHA-256 of `identity` as JSON.
        """
        return hashlib.sha256(json.dumps(self.identity(params), sort_keys=True).encode()).hexdigest()[:20]

    def identity(self, params: dict[str, Any]) -> dict[str, Any]:
        """What `point_id` hashes: the parameters with the file path replaced by its content hash
        (so a moved file is the same point, an edited one a new point), the model-definition hash
        and `RESULTS_VERSION`.

        Parameters
        ----------
        params : dict
            One item of `points`.

        Returns
        -------
        dict
            ``params``, ``model`` (hash) and ``results_version``.
        """
        hashes = self.input_hashes(params)
        files = {k: hashes.get(k) for k in FILE_KEYS}
        # run.fast came later: without it a point keeps the identity it had before the key existed.
        exact = {k: v for k, v in params.items() if not (k == "run.fast" and v is False)}
        return {"params": {**exact, **files},
                "model": hashes["model"], "results_version": RESULTS_VERSION}

    def input_hashes(self, params: dict[str, Any]) -> dict[str, str]:
        """Hashes of a point's inputs, stored with its row.

        Parameters
        ----------
        params : dict
            One item of `points`.

        Returns
        -------
        dict
            ``model``: SHA-256 of the model definition (its TOML text with includes and its membrane
            mechanisms' files); for kinds
            ``file`` and ``field`` also ``electrode.file`` or ``electrode.field``: SHA-256 of the
            file's bytes. Each is read once per sweep.
        """
        out = {"model": self._hash(f"model:{params['fibre.model']}")}
        for key in FILE_KEYS:
            if params[key] is not None:
                out[key] = self._hash(f"file:{params[key]}")
        return out

    def _hash(self, what: str) -> str:
        # Hashed once per sweep (a file edited while the sweep runs keeps the identity it started with).
        if what not in self._hashes:
            from .model import definition_hash

            kind, name = what.split(":", 1)
            self._hashes[what] = (definition_hash(name) if kind == "model" else
                                  hashlib.sha256(Path(name).read_bytes()).hexdigest())
        return self._hashes[what]

    def ids(self) -> Iterator[str]:
        """`point_id` of every point, in the order of `points`.

        Returns
        -------
        iterator of str
            Generated one at a time.
        """
        return (self.point_id(p) for p in self.points())


def _complete(p: dict[str, Any]) -> dict[str, Any]:
    """Fill the defaults that depend on the point (electrode kind, pulse) and blank the keys it
    does not use, so two spellings of the same point are one point."""
    used = KINDS[p["electrode.kind"]] | PULSES[p["waveform.pulse"]]
    if p["waveform.frequency_hz"] is not None:
        used = used | {"waveform.n_pulses"}
    for key in OPTIONAL | {"waveform.n_pulses"}:
        if key not in used:
            p[key] = None
        elif p[key] is None and DEFAULTS[key] is not None:
            p[key] = DEFAULTS[key]
    if p["electrode.kind"] == "cuff" and p["electrode.x_um"] is None:
        p["electrode.x_um"] = 0.0
    if p["fibre.n_nodes"] is None:  # the model's own default (51 for MRG, so MRG points keep their identity)
        p["fibre.n_nodes"] = _default_nodes(p["fibre.model"])
    return p


@functools.lru_cache(maxsize=None)
def _default_nodes(model: str | None) -> int | None:
    from .model import available_models, load_model

    return load_model(model).default_nodes if model in available_models() else None


def _check_structure(p: dict[str, Any], given: set[str], where: str) -> None:
    """Keys the point needs but lacks, or sets but does not use."""
    kind, pulse = p["electrode.kind"], p["waveform.pulse"]
    if kind not in KINDS:
        raise SpecError("electrode.kind", f"{kind!r}: choose {', '.join(KINDS)}{_suggest(kind, KINDS)}", where)
    if pulse not in PULSES:
        raise SpecError("waveform.pulse", f"{pulse!r}: choose {', '.join(PULSES)}", where)
    for key in ("fibre.model", "fibre.diameter_um", "waveform.width_ms", *REQUIRED[kind], *REQUIRED.get(pulse, ())):
        if p[key] is None:
            raise SpecError(key, f"required (in [{key.split('.')[0]}] or in every [[point]])", where)
    for key in sorted(given & (OPTIONAL - KINDS[kind] - PULSES[pulse])):
        owner = ("electrode.kind", kind) if key.startswith("electrode") else ("waveform.pulse", pulse)
        raise SpecError(key, f"not used with {owner[0]} = {owner[1]!r}; remove it (or use [[point]] tables "
                             "for points of different kinds)", where)
    if "waveform.n_pulses" in given and p["waveform.frequency_hz"] is None:
        raise SpecError("waveform.n_pulses", "needs waveform.frequency_hz (a train)", where)
    media = [k for k in MEDIUM_KEYS if p[k] is not None]
    if len(media) > 1 or kind == "point" and not media:
        raise SpecError(media[1] if media[1:] else "electrode.sigma_S_m",
                        f"give {'exactly' if kind == 'point' else 'at most'} one of {', '.join(MEDIUM_KEYS)}"
                        f"{f' (got {len(media)})' if media else ''}", where)


def expand(spec: dict[str, Any], name: str = "sweep", text: str = "", folder: str | Path = ".", *,
           allow_large: bool = False) -> Sweep:
    """Expand and validate a spec (parsed TOML).

    Every point is checked as a run would check it, with the library's own checks (model,
    diameter range, nodes, electrode outside the fibre, file coverage, waveform on the time grid,
    search settings) and without simulating: each group of interdependent keys (`COUPLED`) in
    every combination of its axes' values, every other axis value by value, and every
    ``[[point]]``. A grid of millions of points validates in well under a second.

    Parameters
    ----------
    spec : dict
        The parsed TOML.
    name : str
        Used when the spec has no ``[sweep] name``.
    text : str
        The spec's text, kept with the sweep.
    folder : path
        Relative ``electrode.file`` and ``electrode.field`` paths resolve against it (the spec file's folder).
    allow_large : bool
        Accept runs above the per-run time and memory limits (`nervesim.simulation.Stimulation`);
        pass the same to `run_sweep`.

    Returns
    -------
    Sweep
        Its points are generated on demand (`Sweep.points`).

    Raises
    ------
    SpecError
        Naming the key, where it is (axis value or ``[[point]]`` N) and the problem.
    """
    for table, content in spec.items():
        if table not in TABLES:
            raise SpecError(table, f"unknown table{_suggest(table, TABLES)}")
        if table != "point" and not isinstance(content, dict):
            raise SpecError(table, f"must be a table [{table}] of keys, not a value")
        if table == "point" and not isinstance(content, list):
            raise SpecError(table, "write [[point]] (double brackets) before each extra point's keys")
    for key in spec.get("sweep", {}):
        if key != "name":
            raise SpecError(f"sweep.{key}", f"unknown key{_suggest(f'sweep.{key}', ['sweep.name'])}")
    name = spec.get("sweep", {}).get("name", name)
    if not isinstance(name, str):
        raise SpecError("sweep.name", f"{name!r} must be a string")
    flat = {}
    for table in ("fibre", "electrode", "waveform", "run"):
        for key, value in spec.get(table, {}).items():
            flat[f"{table}.{key}"] = value
    folder = Path(folder)
    fixed, axes, listed = dict(DEFAULTS), {}, False
    for key, value in flat.items():
        if key not in KEYS:
            raise SpecError(key, f"unknown key{_suggest(key, KEYS)}")
        is_axis = isinstance(value, list) and (KEYS[key].type not in LIST_TYPES
                                                or (value and isinstance(value[0], list)))
        if not is_axis:
            fixed[key] = _resolve(key, _normalise(key, value, ""), folder)
            continue
        if not value:
            raise SpecError(key, "an empty list gives no points")
        listed = True
        values = [_resolve(key, _normalise(key, v, f"axis value {_number_text(v)}"), folder) for v in value]
        distinct = list({json.dumps(v): v for v in values}.values())
        if len(distinct) == 1:
            fixed[key] = distinct[0]
        else:
            axes[key] = tuple(distinct)
    given = frozenset(flat)
    sweep = Sweep(name, text, fixed, dict(sorted(axes.items())), (), given, listed or not spec.get("point"))
    extras, seen = [], set()
    for i, extra in enumerate(spec.get("point", []), 1):
        where = f"[[point]] {i}"
        if not isinstance(extra, dict):
            raise SpecError("point", "each [[point]] must be a table of keys", where)
        own = {k: _resolve(k, _normalise(k, v, where), folder) for k, v in _flat_point(extra, where).items()}
        p = {**fixed, **own}
        _check_structure(p, set(given) | set(own), where)
        p = _complete(p)
        text_p = json.dumps(p, sort_keys=True)
        if text_p not in seen and not _on_grid(sweep, p):
            seen.add(text_p)
            extras.append((where, p))
    caught = _validate(sweep, extras, allow_large)
    return Sweep(name, text, fixed, sweep.axes, tuple(p for _, p in extras), given, sweep.has_grid, tuple(caught))


def _resolve(key: str, value: Any, folder: Path) -> Any:
    """A file path relative to the spec's folder, made absolute (so any working directory finds it)."""
    if key in FILE_KEYS:
        return str((folder / Path(value).expanduser()).resolve())
    return value


def _on_grid(sweep: Sweep, p: dict[str, Any]) -> bool:
    """Whether the complete point ``p`` (from a ``[[point]]``) is also a point of the grid."""
    return sweep.has_grid and all(p[k] in v for k, v in sweep.axes.items()) and \
        _complete({**sweep.fixed, **{k: p[k] for k in sweep.axes}}) == p


def load_spec(path: str | Path, *, allow_large: bool = False) -> Sweep:
    """Read, expand and validate a TOML sweep spec.

    Parameters
    ----------
    path : path
        The spec; relative ``electrode.file``/``electrode.field`` paths in it are resolved against its folder.
    allow_large : bool
        As for `expand`.

    Returns
    -------
    Sweep
        Named after the file unless its ``[sweep]`` table names it.

    Raises
    ------
    SpecError
        The file cannot be read or parsed, or any point is invalid (see `expand`).
    """
    path = Path(path)
    try:
        text = path.read_text()
        spec = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SpecError("spec", f"{path}: {exc}") from None
    return expand(spec, path.stem, text, path.parent, allow_large=allow_large)


# --- validation -----------------------------------------------------------------------------

def _validate(sweep: Sweep, extras: list[tuple[str, dict]], allow_large: bool) -> list[str]:
    """Check every point the library would refuse, without simulating: each `COUPLED` group's axes
    in every combination of their values (other keys at their first value), every other axis value
    by value, and every ``[[point]]``. Returns the distinct warnings the library gave."""
    cache: dict = {}
    caught: list[str] = []
    base = {**sweep.fixed, **{k: v[0] for k, v in sweep.axes.items()}}
    checked = set()
    groups = [tuple(k for k in g if k in sweep.axes) for g in COUPLED]
    grouped = {k for g in groups for k in g}
    groups += [(k,) for k in sweep.axes if k not in grouped]
    if sweep.grid_size:
        for group in [()] + [g for g in groups if g]:
            for combo in itertools.product(*(sweep.axes[k] for k in group)):
                p = {**base, **dict(zip(group, combo))}
                text = json.dumps(p, sort_keys=True)
                if text in checked:
                    continue
                checked.add(text)
                values = dict(zip(group, combo))
                _check_structure(p, set(sweep.given), _where_grid(sweep, base, values, ""))
                _check_point(_complete(p), cache, caught, lambda key: _where_grid(sweep, base, values, key),
                             allow_large)
    for where, p in extras:
        _check_point(p, cache, caught, lambda key: where, allow_large)
    return caught


def _where_grid(sweep: Sweep, base: dict, values: dict, key: str) -> str:
    """Where on the grid an error on ``key`` lies: its axis value and the other axes' values (on
    the first grid point, those of the axes coupled with ``key``)."""
    if not values and key:
        values = {k: base[k] for g in COUPLED if key in g for k in g if k in sweep.axes}
    others = ", ".join(f"{k}={_number_text(v)}" for k, v in values.items() if k != key)
    if key in sweep.axes:
        return f"axis value {_number_text(values.get(key, base[key]))}" + (f"; with {others}" if others else "")
    return f"with {others}" if others else ""


class _SearchArgsChecked(Exception):
    """Raised by `_NoRun` at the first simulation a search asks for."""


class _NoRun:
    """A runner that stops a threshold search at its first simulation, so the search checks its
    arguments (tolerance, max_mA) with the library's own code and nothing runs."""

    def __init__(self, stim) -> None:
        self.fibre, self.ve_mV, self.wave = stim.fibre, stim.ve_mV, stim.wave

    def run_many(self, amplitudes_mA, *, early_exit: bool = True):
        raise _SearchArgsChecked


def _check_point(p: dict[str, Any], cache: dict, caught: list[str], where: Callable[[str], str],
                 allow_large: bool) -> None:
    """Build the point's fibre, electrode, waveform and time grid as a run would, without
    potentials or simulation; a library error becomes a `SpecError` naming the spec key."""
    from .simulation import Stimulation
    from .threshold import search_threshold

    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            fibre, electrode, wave = _build(p, cache)
            key = json.dumps([p[k] for k in KEYS if k.startswith(("electrode.", "fibre."))])
            # The electrode's checks against this fibre, computing no potentials; a file's: an interpolation that
            # checks its coverage; a field's potentials were sampled (and the place checked) by _build.
            if key not in cache and hasattr(electrode, "check_fibre"):
                cache[key] = electrode.check_fibre(fibre.diameter_um)
            elif key not in cache and hasattr(electrode, "potentials"):
                cache[key] = electrode.potentials(fibre)
            stim = Stimulation(fibre, None, wave, dt_ms=p["run.dt_ms"], tstop_ms=p["run.tstop_ms"], parallel=False,
                               allow_large=allow_large)
            try:
                search_threshold(_NoRun(stim), tolerance=p["run.tolerance"], max_mA=p["run.max_mA"])
            except _SearchArgsChecked:
                pass
        caught.extend(str(w.message) for w in seen if str(w.message) not in caught)
    except ParameterError as exc:
        key = _spec_key(exc.parameter, p)
        raise SpecError(key, str(exc), where(key)) from None
    except (ValueError, OSError) as exc:
        raise SpecError("spec", f"{type(exc).__name__}: {exc}", where("")) from None


def _spec_key(parameter: str, p: dict[str, Any]) -> str:
    """The spec key behind a library parameter name (``dt_ms`` -> ``run.dt_ms``)."""
    if parameter in ("sigma_S_m", "sigma_x", "sigma_y", "sigma_z"):
        return next((k for k in MEDIUM_KEYS if p[k] is not None), "electrode.sigma_S_m")
    if parameter in PARAMETER_KEYS:
        return PARAMETER_KEYS[parameter]
    return next((k for k in KEYS if k.split(".", 1)[1] == parameter), parameter)


# --- one point ------------------------------------------------------------------------------

def _build(p: dict[str, Any], cache: dict | None = None):
    """The fibre, electrode and waveform of a point (the fibre cached in ``cache`` by its keys)."""
    from .extracellular import Electrode, FilePotentials, medium_from
    from .fibre import build_fibre
    from .waveform import Waveform

    key = (p["fibre.model"], p["fibre.diameter_um"], p["fibre.n_nodes"], p["fibre.temperature_c"])
    if cache is None or key not in cache:
        fibre = build_fibre(*key[:3], temperature_c=key[3])
        if cache is not None:
            cache[key] = fibre
    fibre = cache[key] if cache is not None else fibre
    z = p["electrode.z_um"] if p["electrode.z_um"] is not None else fibre.node_z_um[fibre.centre_node]
    medium = next((p[k] for k in MEDIUM_KEYS if p[k] is not None), None)
    kind = p["electrode.kind"]
    if kind == "point":
        el = Electrode.point(p["electrode.x_um"], p["electrode.y_um"], z, medium)
    elif kind == "cuff":
        el = Electrode.cuff(p["electrode.cuff"], p["electrode.nerve_diameter_um"], z,
                            "endoneurium" if medium is None else medium_from(medium))
        el = el.relative_to(p["electrode.x_um"], p["electrode.y_um"])
    elif kind == "field":
        from .field import load_field

        el = load_field(p["electrode.field"]).potentials(fibre, p["electrode.x_um"], p["electrode.y_um"],
                                                        p["electrode.weights"], p["electrode.fibre_z_um"])
    else:
        el = FilePotentials.from_file(p["electrode.file"])
    wave = Waveform.pulse(p["waveform.pulse"], p["waveform.width_ms"], p["waveform.polarity"],
                          gap_ms=p["waveform.gap_ms"] or 0.0, ratio=p["waveform.ratio"])
    if p["waveform.frequency_hz"] is not None:
        wave = wave.train(p["waveform.frequency_hz"], n_pulses=p["waveform.n_pulses"])
    return fibre, el, wave


def run_point(params: dict[str, Any], allow_large: bool = False) -> dict[str, Any]:
    """Compute one point's threshold.

    Parameters
    ----------
    params : dict
        The point's full parameters (one item of `Sweep.points`).
    allow_large : bool
        Accept a run above the per-run time and memory limits.

    Returns
    -------
    dict
        The result columns of the store (``status`` ``ok`` or ``error``, ``threshold_mA``,
        ``sub_mA``, ``supra_mA`` in mA, ``n_runs``, ``initiation_node``, ``latency_ms``, ``flags``
        as JSON, ``error``, ``runtime_s``); errors (no bracket, bad input) are returned, not raised.
    """
    from .simulation import Stimulation
    from .threshold import ThresholdSearchError, search_threshold

    start = time.perf_counter()
    out: dict[str, Any] = {"status": "error", "threshold_mA": None, "sub_mA": None, "supra_mA": None,
                           "n_runs": None, "initiation_node": None, "latency_ms": None, "flags": "[]",
                           "error": None}
    try:
        fibre, electrode, wave = _build(params)
        stim = Stimulation(fibre, electrode, wave, dt_ms=params["run.dt_ms"], tstop_ms=params["run.tstop_ms"],
                           parallel=False, allow_large=allow_large, fast=params["run.fast"])
        r = search_threshold(stim, tolerance=params["run.tolerance"], max_mA=params["run.max_mA"])
        out.update(status="ok", threshold_mA=r.threshold_mA, sub_mA=r.bracket_mA[0], supra_mA=r.bracket_mA[1],
                   n_runs=r.n_runs, initiation_node=r.initiation_node, latency_ms=r.latency_ms,
                   flags=json.dumps(list(r.flags)))
    except (ValueError, OSError, ThresholdSearchError) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}"
    out["runtime_s"] = time.perf_counter() - start
    return out


# --- size -----------------------------------------------------------------------------------

def seconds_per_point(sweep: Sweep) -> float:
    """Rough compute time of one point on one core.

    `SECONDS_PER_POINT` scaled by the number of time steps (1/dt) and of nodes, averaged over the
    axes (on a grid the mean of a product of independent factors is the product of their means).

    Parameters
    ----------
    sweep : Sweep
        The sweep (its axes of ``run.dt_ms`` and ``fibre.n_nodes``).

    Returns
    -------
    float
        Seconds.
    """
    def mean(key: str, factor: Callable[[Any], float]) -> float:
        values = sweep.axes.get(key, (sweep.fixed[key],))
        return sum(factor(v) for v in values) / len(values)

    return SECONDS_PER_POINT * mean("run.dt_ms", lambda dt: 0.005 / dt) * mean("fibre.n_nodes", lambda n: n / 51)


def duration_text(seconds: float) -> str:
    """A duration for people.

    Parameters
    ----------
    seconds : float
        The duration.

    Returns
    -------
    str
        ``42 s``, ``3.5 h``, ``12 days``.
    """
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.2g} s"


def check_size(sweep: Sweep, workers: int = 1, allow_large: bool = False) -> None:
    """Refuse a sweep of more than `MAX_POINTS` points unless ``allow_large``.

    Parameters
    ----------
    sweep : Sweep
        The sweep to run.
    workers : int
        Cores it would run on (for the estimate).
    allow_large : bool
        Allow it anyway.

    Raises
    ------
    SpecError
        Giving the number of points and the estimated time (`seconds_per_point`).
    """
    if len(sweep) > MAX_POINTS and not allow_large:
        per_point = seconds_per_point(sweep)
        raise SpecError("spec", f"{len(sweep):,} points (more than {MAX_POINTS:,}) would take about "
                                f"{duration_text(len(sweep) * per_point / workers)} on {workers} cores "
                                f"(~{per_point:.2g} s per point); split the spec or pass --allow-large")


# --- the store ------------------------------------------------------------------------------

COLUMNS = ("point_id", "sweep", "params", "status", "threshold_mA", "sub_mA", "supra_mA", "n_runs",
           "initiation_node", "latency_ms", "flags", "error", "runtime_s", "nervesim_version", "model_hash",
           "neuron_version", "finished_at", "input_hashes", "results_version")
SQLITE_MAGIC = b"SQLite format 3\x00"


def check_store(path: str | Path, create: bool) -> None:
    """Refuse a store path that cannot be a results store, before any work.

    Parameters
    ----------
    path : path
        The SQLite file.
    create : bool
        True for a store a sweep writes (it may not exist yet; its folder must); False for one
        that is read (it must exist and hold results).

    Raises
    ------
    ParameterError
        ``parameter`` ``store``: a directory, a missing folder or file, a file that is not SQLite,
        or a SQLite database without (for reading) or with other tables than (for writing) results.
    """
    path = Path(path)
    if path.is_dir():
        raise ParameterError("store", f"{path} is a directory; give a file name such as {path / 'results.db'}")
    if not path.exists():
        if not create:
            raise ParameterError("store", f"{path} does not exist; run `nervesim sweep SPEC --store {path}` first")
        if not path.parent.resolve().is_dir():
            raise ParameterError("store", f"{path}: folder {path.parent} does not exist; create it first")
        return
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise ParameterError("store", f"{path}: {exc.strerror}") from None
    if not head and create:
        return
    if head != SQLITE_MAGIC:
        raise ParameterError("store", f"{path} is not a SQLite file (it starts with {head[:12]!r}); "
                                      + ("choose a new file name" if create else
                                         "give a results store written by nervesim sweep"))
    import sqlite3  # see _connect

    try:
        db = _connect(path, read_only=True)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise ParameterError("store", f"{path}: unreadable SQLite file ({exc})") from None
    if "results" not in tables and (tables or not create):
        raise ParameterError("store", f"{path} is a SQLite database without a results table "
                                      f"({', '.join(sorted(tables)) or 'empty'}): not a nervesim results store")


def _connect(path: Path, read_only: bool):
    """A connection to the store file (read-only, or in autocommit mode for writing). sqlite3 is imported
    here: a threshold run loads this module (the command line checks output files against `SQLITE_MAGIC`)
    and needs no database."""
    import sqlite3

    if read_only:
        return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
    return sqlite3.connect(path, isolation_level=None, timeout=30)


class ResultStore:
    """SQLite file with one row per finished point (WAL journal: every commit survives a kill).

    Parameters
    ----------
    path : path
        The file; checked with `check_store`.
    create : bool
        Open for writing (create the file and table if missing, add the columns of this version
        to an older store); False opens an existing store read-only.
    """

    def __init__(self, path: str | Path, create: bool = True) -> None:
        check_store(path, create)
        self.path = Path(path)
        if create:
            self.db = _connect(self.path, read_only=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            cols = ", ".join(f"{c} {'TEXT PRIMARY KEY' if c == 'point_id' else ''}" for c in COLUMNS)
            self.db.execute(f"CREATE TABLE IF NOT EXISTS results ({cols})")
            for c in COLUMNS:
                if c not in self._columns():  # a store from an older version
                    self.db.execute(f"ALTER TABLE results ADD COLUMN {c}")
        else:
            self.db = _connect(self.path, read_only=True)

    def _columns(self) -> list[str]:
        return [r[1] for r in self.db.execute("PRAGMA table_info(results)")]

    def done(self, retry_failed: bool = False) -> set[str]:
        """Ids of the stored points.

        Parameters
        ----------
        retry_failed : bool
            Only the successful ones (the failed ones will run again).

        Returns
        -------
        set of str
            Point ids.
        """
        sql = "SELECT point_id FROM results" + (" WHERE status = 'ok'" if retry_failed else "")
        return {row[0] for row in self.db.execute(sql)}

    def add(self, sweep: Sweep, params: dict[str, Any], outcome: dict[str, Any]) -> None:
        """Store one point's outcome, committed at once (replacing a row of the same id).

        Parameters
        ----------
        sweep : Sweep
            Gives the point's id, input hashes and the sweep's name.
        params : dict
            One item of ``sweep.points()``; stored as JSON.
        outcome : dict
            From `run_point`.
        """
        self.add_many(sweep, [(params, outcome)])

    def add_many(self, sweep: Sweep, finished: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        """Store several points' outcomes in one transaction: all of them or, after a kill, none; one disk
        sync instead of one per point (about 0.3 ms each), which counts when a worker returns points by the
        batch.

        Parameters
        ----------
        sweep : Sweep
            As `add`.
        finished : list of (dict, dict)
            (params, outcome) per point, as `add`.
        """
        rows = []
        for params, outcome in finished:
            hashes = sweep.input_hashes(params)
            row = {**outcome, "point_id": sweep.point_id(params), "sweep": sweep.name,
                   "params": json.dumps(params, sort_keys=True), "nervesim_version": __version__,
                   "model_hash": hashes["model"][:16], "neuron_version": None,
                   "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                   "input_hashes": json.dumps(hashes, sort_keys=True), "results_version": RESULTS_VERSION}
            rows.append([row.get(c) for c in COLUMNS])
        self.db.execute("BEGIN")  # the connection autocommits otherwise
        with self.db:  # commits on leaving, rolls back after an error
            self.db.executemany(f"INSERT OR REPLACE INTO results ({', '.join(COLUMNS)}) VALUES "
                                f"({', '.join('?' * len(COLUMNS))})", rows)

    def rows(self) -> list[dict[str, Any]]:
        """Every row, oldest first.

        Returns
        -------
        list of dict
            Each row's parameters, one entry per key, and its columns (those a store from an
            older version lacks are None).
        """
        cols = [c for c in COLUMNS if c in self._columns()]
        cur = self.db.execute(f"SELECT {', '.join(cols)} FROM results ORDER BY finished_at, point_id")
        out = []
        for values in cur:
            row = dict.fromkeys(COLUMNS) | dict(zip(cols, values))
            params = json.loads(row.pop("params"))
            out.append({**params, **row})
        return out

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()


def load_results(path: str | Path, *, all_rows: bool = False):
    """The store as a pandas DataFrame: one column per parameter (dotted names) and result field.

    Parameters
    ----------
    path : path
        The store.
    all_rows : bool
        Every row. By default only rows of the current `RESULTS_VERSION` (rows of an older
        nervesim are rerun by the next sweep), and of several rows with the same parameters (a
        potentials file or model edited between runs) the one finished last.

    Returns
    -------
    pandas.DataFrame
        One row per point; columns: every key of `KEYS`, then the store's columns but ``params``.
    """
    import pandas as pd

    store = ResultStore(path, create=False)
    try:
        rows = store.rows()
    finally:
        store.close()
    if not all_rows:
        latest = {}
        for row in rows:  # oldest first, so the last one of each parameter set wins
            if row["results_version"] == RESULTS_VERSION:
                latest[json.dumps({k: row[k] for k in KEYS}, sort_keys=True)] = row
        rows = list(latest.values())
    return pd.DataFrame(rows, columns=list(KEYS) + [c for c in COLUMNS if c != "params"])


# --- running --------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepSummary:
    """What `run_sweep` did.

    Attributes
    ----------
    total : int
        Points in the sweep.
    already_done : int
        Of those, stored before this run.
    ran : int
        Computed and stored now.
    failed : int
        Of those, stored with an error.
    interrupted : bool
        Stopped by Ctrl-C (every finished point is stored).
    """

    total: int
    already_done: int
    ran: int
    failed: int
    interrupted: bool


def _init_worker() -> None:
    import signal

    import numba
    numba.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the owner's to handle


def count_stored(sweep: Sweep, store_path: str | Path, retry_failed: bool = False) -> int:
    """How many of the sweep's points the store already holds, writing nothing (and computing no
    ids when the store does not exist or is empty).

    Parameters
    ----------
    sweep : Sweep
        The points to look for.
    store_path : path
        Checked with `check_store` (it need not exist).
    retry_failed : bool
        Count only the successful ones (the failed ones would run again).

    Returns
    -------
    int
        Points of the sweep found in the store.
    """
    path = Path(store_path)
    check_store(path, create=True)
    if not path.exists() or path.stat().st_size == 0:
        return 0
    db = _connect(path, read_only=True)
    try:
        if not db.execute("SELECT name FROM sqlite_master WHERE name = 'results'").fetchall():
            return 0
        sql = "SELECT point_id FROM results" + (" WHERE status = 'ok'" if retry_failed else "")
        done = {row[0] for row in db.execute(sql)}
    finally:
        db.close()
    return sum(pid in done for pid in sweep.ids()) if done else 0


def run_sweep(sweep: Sweep, store_path: str | Path, *, processes: int | None = None, client=None,
              scheduler: str | None = None, progress: bool = True, retry_failed: bool = False,
              on_result: Callable[[dict, dict], None] | None = None, allow_large: bool = False) -> SweepSummary:
    """Run every point of ``sweep`` not yet in the store at ``store_path``.

    Points are generated, sent to workers and stored one at a time, so the sweep's size costs no
    memory. Call this under ``if __name__ == "__main__":`` in scripts (local workers are spawned
    processes).

    Parameters
    ----------
    sweep : Sweep
        From `load_spec` or `expand`.
    store_path : path
        The SQLite results file (created if missing; see `check_store`).
    processes : int, optional
        Local worker processes (default: every core).
    client, scheduler : optional
        Run on Dask instead: a ``distributed.Client`` or its scheduler's address.
    progress : bool
        Show a tqdm progress bar on stderr.
    retry_failed : bool
        Run points stored as failed again.
    on_result : callable, optional
        Called with (parameters, outcome) after each point is stored.
    allow_large : bool
        Accept runs above the per-run time and memory limits (as given to `load_spec`).

    Returns
    -------
    SweepSummary
        Counts of what was stored, run and failed.
    """
    store = ResultStore(store_path)
    done = store.done(retry_failed)
    already = sum(pid in done for pid in sweep.ids()) if done else 0
    pending = ((pid, p) for p in sweep.points() if (pid := sweep.point_id(p)) not in done)
    bar = _progress(len(sweep), already, progress)
    counts = {"ran": 0, "failed": 0}
    interrupted = False

    def record(finished: list[tuple[dict, dict]]) -> None:
        store.add_many(sweep, finished)
        for params, outcome in finished:
            counts["ran"] += 1
            counts["failed"] += outcome["status"] != "ok"
            bar.update(1)
            if on_result:
                on_result(params, outcome)

    compute = functools.partial(run_point, allow_large=allow_large)
    try:
        if client is not None or scheduler is not None:
            _run_dask(pending, compute, record, client, scheduler)
        else:
            _run_local(pending, compute, record, processes)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        store.close()
    return SweepSummary(len(sweep), already, counts["ran"], counts["failed"], interrupted)


def _run_local(pending: Iterator[tuple[str, dict]], compute, record, processes: int | None) -> None:
    """Run points in worker processes, a few per worker in flight.

    When a worker dies (killed, out of memory, a crash) every point in flight fails with it, so
    the pool is replaced and those points are rerun one at a time in a pool of their own: a point
    that kills its worker alone is recorded as failed after `WORKER_ATTEMPTS` deaths, and the
    points that merely shared a pool with it are not blamed.
    """
    workers = processes or os.cpu_count() or 1
    ctx = multiprocessing.get_context("spawn")
    while suspects := _run_pool(pending, compute, record, workers, ctx):
        for _, params in suspects:
            _run_alone(params, compute, record, ctx)


def _run_pool(items: Iterator[tuple[str, dict]], compute, record, workers: int, ctx) -> list[tuple[str, dict]]:
    """Run ``items`` in one pool until they are exhausted (returns []) or a worker dies (returns
    the points that were in flight, unfinished)."""
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker)
    in_flight: dict = {}
    unsent = []
    try:
        while True:
            while len(in_flight) < 2 * workers and (item := next(items, None)) is not None:
                unsent = [item]
                in_flight[pool.submit(compute, item[1])] = item
                unsent = []
            if not in_flight:
                break
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            for fut in finished:
                outcome = fut.result()
                record([(in_flight.pop(fut)[1], outcome)])
    except BrokenProcessPool:  # store what finished; the rest is suspect
        for fut in [f for f in in_flight if f.done() and not f.cancelled() and f.exception() is None]:
            record([(in_flight.pop(fut)[1], fut.result())])
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # interrupted: drop queued points
        raise
    pool.shutdown(wait=True)
    return list(in_flight.values()) + unsent


def _run_alone(params: dict, compute, record, ctx) -> None:
    """Run one point in a pool of its own, so a worker's death is this point's doing."""
    for _ in range(WORKER_ATTEMPTS):
        pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=_init_worker)
        try:
            outcome = pool.submit(compute, params).result()
        except BrokenProcessPool:
            pool.shutdown(wait=True)
            continue
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        record([(params, outcome)])
        return
    record([(params, {"status": "error", "error": f"its worker process died {WORKER_ATTEMPTS} times running it "
                                                  "alone (out of memory? see the system log)", "flags": "[]"})])


#: Most points per Dask task. Every task costs the scheduler, the client and the worker a few ms, on cores they
#: share with the work: a 1200-point MRG sweep (about 15 ms a point) on two single-thread workers took 10.3 s in
#: tasks of 8 points and 9.8 s in tasks of up to 32 (plain processes: 8.9 s). Tasks shrink toward the end
#: (``_tasks``), and each task's points are stored in one transaction when it finishes, so a killed worker loses at
#: most its task in progress.
DASK_POINTS_PER_TASK = 32


def _tasks(points: list[dict], workers: int) -> list[list[dict]]:
    """``points`` cut into Dask tasks that shrink toward the end (guided self-scheduling): each takes a quarter
    of a worker's share of what is left, at most `DASK_POINTS_PER_TASK` points and at least one, so that the
    workers finish together."""
    tasks, i = [], 0
    while i < len(points):
        size = max(1, min(DASK_POINTS_PER_TASK, (len(points) - i) // (4 * workers)))
        tasks.append(points[i:i + size])
        i += size
    return tasks


def _one_core(compute, points: list[dict]) -> list[dict]:
    """Points on a Dask worker with one Numba thread, as in the local pool's workers (`_init_worker`): points
    run side by side, one per core, and a search's parallel probes would only oversubscribe."""
    import numba
    numba.set_num_threads(1)
    return [compute(params) for params in points]


def _run_dask(pending: Iterator[tuple[str, dict]], compute, record, client, scheduler: str | None,
              batch: int = 10000) -> None:
    from distributed import Client
    from distributed import as_completed as dask_completed

    own = client is None
    if own:
        client = Client(scheduler)
    try:
        while chunk := [p for _, p in itertools.islice(pending, batch)]:
            workers = max(1, len(client.scheduler_info()["workers"]))
            tasks = _tasks(chunk, workers)
            futures = client.map(functools.partial(_one_core, compute), tasks, pure=False)
            points = {f.key: t for f, t in zip(futures, tasks)}
            for fut in dask_completed(futures):
                record(list(zip(points[fut.key], fut.result())))  # a task's points in one transaction
    finally:
        if own:
            client.close()


class _NoBar:
    def __init__(self, total, initial):
        self.n = initial

    def update(self, k):
        self.n += k

    def close(self):
        pass


def _progress(total: int, initial: int, show: bool):
    if not show:
        return _NoBar(total, initial)
    from tqdm import tqdm
    return tqdm(total=total, initial=initial, unit="pt", file=sys.stderr, smoothing=0.1)


# --- export and plots -----------------------------------------------------------------------

def export(path: str | Path, csv_path: str | Path | None = None, parquet_path: str | Path | None = None) -> int:
    """Write every row of the store (``all_rows``, see `load_results`) as CSV and/or Parquet.

    Parameters
    ----------
    path : path
        The store.
    csv_path, parquet_path : path, optional
        Output files (Parquet needs pyarrow). The CLI checks them first
        (``nervesim.cli.common.check_output``).

    Returns
    -------
    int
        The number of rows written.
    """
    df = load_results(path, all_rows=True)
    if csv_path:
        df.to_csv(csv_path, index=False)
    if parquet_path:
        df.to_parquet(parquet_path, index=False)
    return len(df)


def label(key: str) -> str:
    """Axis label of a parameter.

    Parameters
    ----------
    key : str
        A spec key or result column.

    Returns
    -------
    str
        ``pulse width (ms)`` for ``waveform.width_ms``; an unknown name as given.
    """
    if key not in KEYS:
        return {"threshold_mA": "threshold (mA)", "latency_ms": "latency (ms)"}.get(key, key)
    k = KEYS[key]
    return f"{k.label} ({k.unit})" if k.unit else k.label


def value_text(key: str, value: Any, name: bool = True) -> str:
    """A parameter's value for a legend or title.

    Parameters
    ----------
    key : str
        A spec key.
    value : object
        Its value (numbers shown with ``:g``).
    name : bool
        Start with the parameter's label.

    Returns
    -------
    str
        ``fibre diameter = 5.7 µm`` (or ``5.7 µm``).
    """
    k = KEYS.get(key, Key("", None, key))
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    shown += f" {k.unit}" if k.unit else ""
    return f"{k.label} = {shown}" if name else shown


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _unset(value: Any) -> bool:
    return value is None or isinstance(value, float) and math.isnan(value)


def _matches(column, wanted: str):
    """Rows whose value equals ``wanted``: numerically when both are numbers (500 == 500.0)."""
    number = _as_number(wanted)
    return column.map(lambda v: _as_number(v) == number if number is not None and _as_number(v) is not None
                      else str(v) == wanted)


def _sort_key(value: Any) -> tuple:
    """Numbers in numeric order (2, 12.8, 16), then text."""
    number = _as_number(value)
    return (0, number, "") if number is not None else (1, 0.0, str(value))


def plot_store(path: str | Path, x: str, out: str | Path, group: str | None = None,
               where: dict[str, str] | None = None):
    """Plot threshold against parameter ``x``, one line per value of ``group`` and of any other
    parameter that still varies after the ``where`` filters.

    Parameters
    ----------
    path : path
        The store (its current rows, see `load_results`).
    x, group : str
        Parameter keys (``fibre.diameter_um``); the figure labels them in words and units.
    out : path
        Figure file (png, pdf, svg).
    where : dict, optional
        Keep rows whose ``key`` equals the value (a string; numbers compare as numbers, so
        ``500`` matches 500.0). Shown in the title with the parameters every plotted row shares.

    Returns
    -------
    matplotlib.figure.Figure
        The figure written to ``out`` (already closed in pyplot).

    Raises
    ------
    ParameterError
        ``x``, ``group`` or ``where``: a key the store does not have, a filter no row matches (the
        message lists the values that exist), or nothing to plot.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for flag, key in (("x", x), ("group", group), *(("where", k) for k in where or {})):
        if key is not None and key not in KEYS:
            raise ParameterError(flag, f"{key}: not a parameter{_suggest(key, KEYS)}")
    df = load_results(path)
    df = df[df["status"] == "ok"]
    if df.empty:
        raise ParameterError("store", f"{path} holds no successful thresholds to plot")
    for key, value in (where or {}).items():
        kept = df[_matches(df[key], value)]
        if kept.empty:
            present = {str(v): v for v in df[key] if not _unset(v)}
            values = sorted(present.values(), key=_sort_key)
            raise ParameterError("where", f"{key}={value} matches no row; values there: "
                                          f"{', '.join(_number_text(v) for v in values) or 'none (unset)'}")
        df = kept
    if df[x].map(_as_number).isna().any():
        raise ParameterError("x", f"{x}: not a number on every row (values: "
                                  f"{', '.join(sorted({str(v) for v in df[x]}))}); choose a numeric parameter")
    as_text = df[list(KEYS)].astype(str)
    varying = [k for k in KEYS if k != x and as_text[k].nunique() > 1]
    keys = ([group] if group else []) + [k for k in varying if k != group]
    shared = [k for k in KEYS if k not in (x, *keys, *(where or {}), "run.tolerance", "run.max_mA")
              and not _unset(df[k].iloc[0])]
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    lines = list(df.groupby([as_text[k] for k in keys], sort=False)) if keys else [((), df)]
    lines.sort(key=lambda item: [_sort_key(item[1][k].iloc[0]) for k in keys])
    colours = plt.get_cmap("tab10" if len(lines) <= 10 else "viridis")  # never two lines of one colour
    for i, (_, sub) in enumerate(lines):
        sub = sub.assign(_x=sub[x].astype(float)).sort_values("_x")
        name = ", ".join(value_text(k, sub[k].iloc[0], name=len(keys) > 1) for k in keys)
        colour = colours(i if len(lines) <= 10 else i / (len(lines) - 1))
        ax.plot(sub["_x"], sub["threshold_mA"], "o-", ms=3, color=colour, label=name or None)
    xs = df[x].astype(float)
    log_x = bool((xs > 0).all() and xs.max() >= 10 * xs.min())
    ax.set(xlabel=label(x), ylabel=label("threshold_mA"), yscale="log", xscale="log" if log_x else "linear")
    for axis, values, log in ((ax.xaxis, xs, log_x), (ax.yaxis, df["threshold_mA"], True)):
        if log:
            _plain_log_ticks(axis, float(values.min()), float(values.max()))
    ax.grid(True, which="both", alpha=0.3)
    title = [[value_text(k, _as_number(v) if _as_number(v) is not None else v) for k, v in (where or {}).items()],
             [value_text(k, df[k].iloc[0]) for k in shared]]
    ax.set_title("\n".join(_wrap(entries, 100) for entries in title if entries), fontsize=8, loc="left")
    if keys:  # outside the axes, so it never covers data
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                  title=label(keys[0]) if len(keys) == 1 else None, title_fontsize=7)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return fig


def _plain_log_ticks(axis, lo: float, hi: float) -> None:
    """Log-axis ticks as plain numbers (0.02, 0.05, 0.1), with 2 and 5 of each decade labelled
    too when the data span under four decades (else the labels would crowd)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")
    axis.set_major_formatter(plain)
    if hi < 1e4 * lo:
        axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
        axis.set_minor_formatter(plain)
    else:
        axis.set_minor_formatter(NullFormatter())


def _wrap(entries: list[str], width: int) -> str:
    """Entries joined by commas into lines of at most ``width`` characters, never splitting one."""
    lines = [entries[0]]
    for entry in entries[1:]:
        if len(lines[-1]) + 2 + len(entry) > width:
            lines[-1] += ","
            lines.append(entry)
        else:
            lines[-1] += ", " + entry
    return "\n".join(lines)
