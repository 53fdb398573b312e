"""Load declarative fibre models from ``models/`` and evaluate their geometry.

Lengths and diameters in µm. A model file is TOML; it may include shared files
(``[include] files = [...]``) whose keys it overrides.
"""
from __future__ import annotations

import functools
import hashlib
import math
import tomllib
import warnings
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .errors import ParameterError
from .membrane import Membrane

GEOMETRY_KEYS = ("axon_diameter_um", "node_diameter_um", "flut_length_um", "deltax_um", "lamellae")


class ModelRangeError(ParameterError):
    """A fibre diameter outside the range a model is defined for.

    A `~nervesim.errors.ParameterError` about ``diameter_um``.

    Parameters
    ----------
    message : str
        One sentence naming the diameter and the allowed range or rows.
    """

    def __init__(self, message: str) -> None:
        super().__init__("diameter_um", message)


@dataclass(frozen=True)
class FibreModel:
    """A fibre model definition as read from its TOML file (get one with `load_model`).

    Attributes
    ----------
    name : str
        Model name, e.g. ``mrg-interp``.
    description : str
        One line from the file.
    definition : dict
        The merged TOML content (includes resolved); treat as read-only.
    source_text : str
        The text of the file and its includes, for hashing and provenance.
    """

    name: str
    description: str
    definition: dict[str, Any]
    source_text: str

    @property
    def family(self) -> str:
        """``mrg`` (double cable) or ``single-cable`` (unmyelinated fibres, Sweeney)."""
        return str(self.definition.get("family", "mrg"))

    @property
    def activating_guess_mV(self) -> float:
        """Nodal activating function (mV) at the first amplitude a threshold search tries (``[search]``)."""
        return float(self.definition.get("search", {}).get("activating_guess_mV", 10.0))

    @property
    def short_fibre_decay_um(self) -> float | None:
        """Length scale (µm) of the ``short_fibre`` flag, for models whose nodes are close (``[search]``)."""
        value = self.definition.get("search", {}).get("short_fibre_decay_um")
        return None if value is None else float(value)

    @property
    def end_margin_um(self) -> float | None:
        """Distance (µm) from an end within which an AP start counts as end excitation (``[search]``)."""
        value = self.definition.get("search", {}).get("end_margin_um")
        return None if value is None else float(value)

    @property
    def myelinated(self) -> bool:
        """Whether nodes are separated by internodes (MRG, Sweeney), not every section a node (C fibres)."""
        return bool(self.definition["period"])

    @property
    def default_nodes(self) -> int:
        """Nodes of a fibre when none are asked for (``default_nodes``; 51 for MRG, 265 sections for C fibres)."""
        return int(self.definition.get("default_nodes", 51))

    @property
    def after_stimulus_ms(self) -> float:
        """Part of the default run length after the stimulus for a slow AP to start (``[run]``; ms)."""
        return float(self.definition.get("run", {}).get("after_stimulus_ms", 5.0))

    def conduction_m_s(self, diameter_um: float) -> float | None:
        """Slowest expected conduction velocity (m/s) at a fibre diameter, if the model states one.

        ``[conduction] m_s_at_1um`` × D^``power`` (unmyelinated fibres: power 0.5), measured with
        experiments/conduction_velocity.py.

        Parameters
        ----------
        diameter_um : float
            Fibre diameter (µm).

        Returns
        -------
        float or None
            None for models without ``[conduction]`` (MRG: the 5 ms after the stimulus suffice).
        """
        c = self.definition.get("conduction")
        if c is None:
            return None
        return float(c["m_s_at_1um"]) * diameter_um ** float(c["power"])

    @property
    def min_um(self) -> float:
        """Smallest fibre diameter of the model (µm)."""
        return float(self.definition["diameter"]["min_um"])

    @property
    def max_um(self) -> float:
        """Largest fibre diameter of the model (µm)."""
        return float(self.definition["diameter"]["max_um"])

    @functools.cached_property
    def membrane(self) -> Membrane:
        """The mechanisms of the model's active sections (``[membrane]`` of the model file)."""
        return Membrane.from_definition(self.definition["membrane"], self.name)

    def check_diameter(self, diameter_um: float) -> None:
        """Check a fibre diameter against the model's range (and table rows, for tabulated models).

        Warns (UserWarning) above the model's recommended range (e.g. mrg-small above 5.7 µm).

        Parameters
        ----------
        diameter_um : float
            Fibre (outer myelin) diameter (µm).

        Raises
        ------
        ModelRangeError
            Outside the range, or not a row of a tabulated model.
        """
        if not math.isfinite(diameter_um) or not self.min_um <= diameter_um <= self.max_um:
            raise ModelRangeError(
                f"diameter {diameter_um} um is outside model {self.name!r}: "
                f"allowed {self.min_um} to {self.max_um} um"
            )
        table = self.definition["geometry"].get("table")
        if table is not None and _table_row(table, diameter_um) is None:
            allowed = ", ".join(f"{d:g}" for d in table["fiber_diameter_um"])
            raise ModelRangeError(
                f"diameter {diameter_um} um is not a row of model {self.name!r}: allowed {allowed} um"
                " (use mrg-interp for other diameters)"
            )
        warn_above = self.definition["diameter"].get("warn_above_um")
        if warn_above is not None and diameter_um > warn_above:
            warnings.warn(
                f"diameter {diameter_um} um > {warn_above} um for model {self.name!r}: "
                + self.definition["diameter"].get("warn_reason", ""),
                stacklevel=3,
            )

    def geometry(self, diameter_um: float) -> dict[str, float]:
        """Evaluate the model's geometry fits or table at one fibre diameter.

        Parameters
        ----------
        diameter_um : float
            Fibre (outer myelin) diameter (µm).

        Returns
        -------
        dict
            Every entry of the model's ``[geometry]`` (for MRG the keys of ``GEOMETRY_KEYS``:
            diameters and lengths in µm, ``lamellae`` a count) plus ``fiber_diameter_um``.

        Raises
        ------
        ModelRangeError
            For a diameter the model does not take.
        """
        self.check_diameter(diameter_um)
        geo = self.definition["geometry"]
        if "table" in geo:
            table = geo["table"]
            row = _table_row(table, diameter_um)
            out = {k: float(table[k][row]) for k in GEOMETRY_KEYS}
        else:
            out = {}
            pending = [k for k in geo if k != "table"]
            while pending:  # fits may depend on one another (e.g. node from axon diameter)
                progressed = False
                for key in list(pending):
                    fit = geo[key]
                    var = fit.get("of", "fiber_diameter_um") if isinstance(fit, dict) else "fiber_diameter_um"
                    if var != "fiber_diameter_um" and var not in out:
                        continue
                    x = diameter_um if var == "fiber_diameter_um" else out[var]
                    out[key] = evaluate_fit(fit, x)
                    pending.remove(key)
                    progressed = True
                if not progressed:
                    raise ValueError(f"model {self.name!r}: circular geometry fits {pending}")
        out["fiber_diameter_um"] = float(diameter_um)
        return out


def _table_row(table: dict[str, list[float]], diameter_um: float) -> int | None:
    for i, d in enumerate(table["fiber_diameter_um"]):
        if abs(d - diameter_um) <= 1e-9 * max(1.0, d):
            return i
    return None


def evaluate_fit(fit: dict[str, Any] | float, x: float) -> float:
    """Value of a geometry entry of a model file at ``x``.

    Parameters
    ----------
    fit : dict or float
        A number, or a polynomial: ``poly`` (coefficients, highest power first) or ``pieces`` (each a
        ``poly``, chosen by the first ``below`` that ``x`` is under), optionally ``round = "trunc"``.
    x : float
        The variable (µm: the fibre diameter unless the entry says ``of``).

    Returns
    -------
    float
        The value (µm or a count).
    """
    if isinstance(fit, (int, float)):
        return float(fit)
    poly = fit.get("poly")
    if poly is None:
        for piece in fit["pieces"]:
            if "below" not in piece or x < piece["below"]:
                poly = piece["poly"]
                break
    value = 0.0
    for c in poly:  # Horner, highest power first
        value = value * x + c
    if fit.get("round") == "trunc":
        value = float(math.trunc(value))
    return value


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read(filename: str) -> tuple[dict[str, Any], str]:
    text = resources.files("nervesim.models").joinpath(filename).read_text()
    data = tomllib.loads(text)
    merged: dict[str, Any] = {}
    texts = []
    for inc in data.pop("include", {}).get("files", []):
        inc_data, inc_text = _read(inc)
        merged = _merge(merged, inc_data)
        texts.append(inc_text)
    texts.append(text)
    return _merge(merged, data), "\n".join(texts)


def available_models() -> dict[str, str]:
    """The models shipped in ``nervesim/models``.

    Returns
    -------
    dict of str to str
        Model name to TOML file name, sorted by name.
    """
    return dict(_model_files())


@functools.cache
def _model_files() -> tuple[tuple[str, str], ...]:
    """(name, file) of every shipped model, sorted; read once per process (the CLI asks for them per subcommand)."""
    names = {}
    for entry in resources.files("nervesim.models").iterdir():
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text())
            if "name" in data:
                names[data["name"]] = entry.name
    return tuple(sorted(names.items()))


@functools.lru_cache(maxsize=None)
def load_model(name: str) -> FibreModel:
    """Load a fibre model by name; cached, so treat the result as read-only.

    Parameters
    ----------
    name : str
        One of `available_models`.

    Returns
    -------
    FibreModel

    Raises
    ------
    ParameterError
        For an unknown name (parameter ``model``), listing the known ones.
    """
    files = available_models()
    if name not in files:
        raise ParameterError("model", f"unknown model {name!r}: choose one of {', '.join(files)}")
    definition, text = _read(files[name])
    return FibreModel(name=name, description=definition.get("description", ""),
                      definition=definition, source_text=text)


def definition_hash(name: str) -> str:
    """SHA-256 of a model's whole definition: its TOML text with includes and its membrane mechanisms' files.

    Parameters
    ----------
    name : str
        Model name.

    Returns
    -------
    str
        Hex digest; it changes whenever anything the model's results depend on is edited.
    """
    model = load_model(name)
    return hashlib.sha256((model.source_text + "\n" + model.membrane.source_text).encode()).hexdigest()
