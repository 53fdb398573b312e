"""Fibre geometry → sections: turn a model definition into per-section parameters.

Units are NEURON's (µm, Ω·cm, µF/cm², S/cm², MΩ/cm, mV), stated once here; both the
Numba engine and the NEURON reference build from these arrays, so no value is typed twice.
Each section is one compartment (nseg = 1), as in MRG/ASCENT/PyFibers.

Two families: ``mrg`` (double cable: node, MYSA, FLUT, STIN with a myelin layer) and
``single-cable`` (unmyelinated fibres, where every section is a node, and Sweeney's node and
internode chain; reference fibre-models.md §1.1-1.3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import ParameterError
from .membrane import FrozenDict, Membrane, check_temperature
from .model import FibreModel, load_model

#: Section kinds; a `Fibre` stores indices into this tuple (its ``kind`` array).
SECTION_KINDS = ("node", "mysa", "flut", "stin", "internode")
NO_MYELIN_XG_S_CM2 = 1e10  # NEURON idiom for "layer 0 shorted to layer 1" at a node
#: NEURON's defaults of the extracellular layer 0 a single-cable section keeps (PyFibers sets xg[0] 1e10).
DEFAULT_XRAXIAL_MOHM_CM = 1e9
#: Largest fibre `build_fibre` makes. Building takes ~106 bytes per section at its peak (tracemalloc:
#: 117 MB for 100 001 nodes = 1.1 M sections, 0.6 s), so this caps it near 0.6 GB; one run of such a
#: fibre at the default dt would take minutes, which `nervesim.Stimulation` refuses anyway unless asked.
MAX_NODES = 500_001


@dataclass(frozen=True, eq=False, repr=False)
class Fibre:
    """A fibre along z, one compartment per section (build it with `build_fibre`).

    Immutable: simulations of a fibre share its cable and rest state. Its arrays are read-only, and so are its
    dicts (``geometry``, ``balance``, the membrane's ``parameters``; `nervesim.membrane.FrozenDict`). For a
    changed fibre make a new one, e.g. ``dataclasses.replace(fibre, g_pas_S_cm2=new_values)``.

    Attributes
    ----------
    model : FibreModel
        The model definition it was built from.
    diameter_um : float
        Fibre (outer myelin) diameter (µm).
    n_nodes : int
        Nodes of Ranvier (odd); in an unmyelinated fibre every section is a node.
    temperature_c : float
        Temperature of the channel kinetics (°C).
    passive_end_nodes : int
        Passive nodes at each end (PyFibers style: no channels, intracellularly disconnected).
    geometry : dict
        Evaluated model geometry (µm; ``lamellae`` unitless).
    membrane : nervesim.membrane.Membrane
        Mechanisms of the active sections and their parameters.
    double_cable : bool
        Whether the sections have a myelin layer (MRG); else a single cable.
    balance : dict or None
        Rest balancing of the model (``ions``, ``leak``, ``pump``), applied by the solver.
    v_rest_mV : float
        Resting (initial) membrane potential (mV).
    kind : ndarray of int
        Per section (in order from the first node): index into `SECTION_KINDS`.
    diam_um, length_um, z_um : ndarray
        NEURON diameter, length and centre coordinate (µm; z = 0 at the start of node 0).
    ra_ohm_cm, cm_uF_cm2, g_pas_S_cm2, e_pas_mV : ndarray
        Axial resistivity (Ω·cm), capacitance (µF/cm²), passive leak (S/cm², mV).
    xraxial_MOhm_cm, xg_S_cm2, xc_uF_cm2 : ndarray
        Extracellular layer 0 (periaxonal space, myelin): MΩ/cm, S/cm², µF/cm².
    active : ndarray of bool
        True where the membrane mechanisms are inserted.
    node_sections : ndarray of int
        Section index of each node.
    """

    model: FibreModel
    diameter_um: float
    n_nodes: int
    temperature_c: float
    passive_end_nodes: int
    geometry: dict[str, float]
    membrane: Membrane
    double_cable: bool
    balance: dict | None
    v_rest_mV: float
    kind: np.ndarray
    diam_um: np.ndarray
    length_um: np.ndarray
    z_um: np.ndarray
    ra_ohm_cm: np.ndarray
    cm_uF_cm2: np.ndarray
    g_pas_S_cm2: np.ndarray
    e_pas_mV: np.ndarray
    xraxial_MOhm_cm: np.ndarray
    xg_S_cm2: np.ndarray
    xc_uF_cm2: np.ndarray
    active: np.ndarray
    node_sections: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        # Read-only, so that the circuit and rest state that simulations of this fibre share (nervesim.simulation)
        # can never go stale: change a fibre by building a new one.
        for value in vars(self).values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
        object.__setattr__(self, "geometry", FrozenDict(self.geometry))
        if self.balance is not None:  # its ion list becomes a tuple
            object.__setattr__(self, "balance", FrozenDict({k: tuple(v) if isinstance(v, list) else v
                                                           for k, v in self.balance.items()}))

    @property
    def n_sections(self) -> int:
        """Number of sections (compartments): 11·(N−1) + 1 for MRG, N unmyelinated, 2N − 1 Sweeney."""
        return len(self.kind)

    @property
    def node_z_um(self) -> np.ndarray:
        """Centre coordinate of each node (µm)."""
        return self.z_um[self.node_sections]

    @property
    def node_spacing_um(self) -> float:
        """Distance between neighbouring node centres (µm): MRG's deltax, 8.333 µm unmyelinated, 100 D Sweeney."""
        return float(self.node_z_um[1] - self.node_z_um[0])

    @property
    def length_total_um(self) -> float:
        """Sum of section lengths (µm), PyFibers' fibre length."""
        return float(self.length_um.sum())

    @property
    def detection_node(self) -> int:
        """APCount node of ASCENT/PyFibers: int(0.9·(N−1))."""
        return int(0.9 * (self.n_nodes - 1))

    @property
    def centre_node(self) -> int:
        """Middle node, (N−1)/2."""
        return (self.n_nodes - 1) // 2

    def is_end_node(self, node: int, margin: int = 1) -> bool:
        """Whether ``node`` is a passive end node or one of its ``margin`` active neighbours.

        Parameters
        ----------
        node : int
            Node index (0 = first node).
        margin : int
            Active nodes next to the passive ones that count as the end.

        Returns
        -------
        bool
            True at either end of the fibre. Models with ``[search] end_margin_um`` (unmyelinated
            fibres, whose nodes are 8.333 µm apart) count every node that close to a passive end as the
            end too.
        """
        end_um = self.model.end_margin_um
        if end_um is not None:
            margin = max(margin, math.ceil(end_um / self.node_spacing_um))
        k = self.passive_end_nodes + margin
        return node < k or node >= self.n_nodes - k

    def __repr__(self) -> str:
        return (f"Fibre(model={self.model.name!r}, diameter_um={self.diameter_um:g}, n_nodes={self.n_nodes}, "
                f"n_sections={self.n_sections}, length_um={self.length_total_um:.6g}, "
                f"temperature_c={self.temperature_c:g}, passive_end_nodes={self.passive_end_nodes})")


def build_fibre(model: str | FibreModel, diameter_um: float, n_nodes: int | None = None, *,
                temperature_c: float | None = None, passive_end_nodes: int | None = None,
                length_um: float | None = None, section_length_um: float | None = None) -> Fibre:
    """Build a fibre of ``n_nodes`` nodes (odd, so a centre node exists).

    Parameters
    ----------
    model : str or FibreModel
        Model name (see `nervesim.available_models`) or a loaded model.
    diameter_um : float
        Fibre diameter (µm; outer myelin diameter of myelinated models); must lie in the model's range.
    n_nodes : int, optional
        Nodes of Ranvier, odd, 3 to `MAX_NODES`; in unmyelinated models every section is a node
        (PyFibers' ``n_nodes``). Default: the model's (51 for MRG), unless ``length_um`` is given.
        Too few for the electrode distance shifts the threshold; the search then flags ``short_fibre``.
    temperature_c : float, optional
        Temperature of the membrane kinetics (°C, −10 to 50); default the model's (37 °C).
    passive_end_nodes : int, optional
        Passive nodes at each end; default the model's (PyFibers: 1, none for Tigerholm and Thio).
    length_um : float, optional
        Fibre length instead of ``n_nodes``: floor(length / node spacing) + 1 nodes, one fewer if
        that is even (as PyFibers).
    section_length_um : float, optional
        Section length of unmyelinated models (µm; default the model's, 8.333 µm).

    Returns
    -------
    Fibre
        Per-section arrays in NEURON units, one compartment per section.

    Raises
    ------
    ParameterError
        For a bad argument (``ModelRangeError`` for a diameter outside the model).
    """
    if isinstance(model, str):
        model = load_model(model)
    d = model.definition
    geo = model.geometry(float(diameter_um))
    if section_length_um is not None:
        if "section_length_um" not in geo:
            raise ParameterError("section_length_um", f"section_length_um: model {model.name!r} has no uniform "
                                 "sections (only unmyelinated models take it)")
        if not math.isfinite(section_length_um) or not 0.1 <= section_length_um <= 1000:
            raise ParameterError("section_length_um", f"section_length_um={section_length_um}: must be 0.1 to "
                                 "1000 um")
        geo["section_length_um"] = float(section_length_um)
    lengths = _section_lengths(model, geo)
    spacing = _spacing_um(model, lengths)
    if length_um is not None:
        if n_nodes is not None:
            raise ParameterError("length_um", "length_um: give either n_nodes or length_um, not both")
        if not math.isfinite(length_um) or length_um <= 0:
            raise ParameterError("length_um", f"length_um={length_um}: must be a positive length")
        n_nodes = int(math.floor(length_um / spacing)) + 1
        n_nodes -= 1 - n_nodes % 2
        if n_nodes < 3:
            raise ParameterError("length_um", f"length_um={length_um:g}: gives fewer than 3 nodes at a node "
                                 f"spacing of {spacing:.6g} um")
    if n_nodes is None:
        n_nodes = model.default_nodes
    if not isinstance(n_nodes, (int, np.integer)) or not 3 <= n_nodes <= MAX_NODES or n_nodes % 2 == 0:
        raise ParameterError("n_nodes", f"n_nodes={n_nodes}: must be an odd integer from 3 to {MAX_NODES} "
                             "(odd so a centre node exists)")
    elec = d["electrical"]
    temperature_c = check_temperature(float(elec["temperature_c"] if temperature_c is None else temperature_c))
    ends = d["end_nodes"]
    k_end = int(ends["count"] if passive_end_nodes is None else passive_end_nodes)
    if k_end < 0 or 2 * k_end > n_nodes - 3:
        raise ParameterError("passive_end_nodes",
                             f"passive_end_nodes={k_end}: must be >= 0 and leave at least 3 active nodes "
                             f"(n_nodes={n_nodes})")
    if model.family == "mrg":
        per_kind = _mrg_sections(model, geo)
    else:
        per_kind = _single_cable_sections(model, geo)

    seq = ["node"]
    for _ in range(n_nodes - 1):
        seq += list(d["period"]) + ["node"]
    kind = np.array([SECTION_KINDS.index(s) for s in seq], dtype=np.int64)
    length = np.array([lengths[s] for s in seq])
    cols = {key: np.array([per_kind[s][key] for s in seq], dtype=float)
            for key in ("diam", "ra", "cm", "g", "e", "xr", "xg", "xc")}
    active = np.array([per_kind[s]["active"] for s in seq], dtype=bool)
    node_sections = np.flatnonzero(kind == 0)
    for node in list(range(k_end)) + list(range(n_nodes - k_end, n_nodes)):
        i = node_sections[node]
        active[i] = False
        cols["g"][i] = ends["g_pas_S_cm2"]
        cols["e"][i] = ends["e_pas_mV"]
        cols["cm"][i] = ends["cm_uF_cm2"]
        cols["ra"][i] = ends["ra_ohm_cm"]
    z = np.cumsum(length) - length / 2
    return Fibre(model=model, diameter_um=float(geo["fiber_diameter_um"]), n_nodes=int(n_nodes),
                 temperature_c=temperature_c, passive_end_nodes=k_end, geometry=geo,
                 membrane=model.membrane, double_cable=model.family == "mrg", balance=d.get("balance"),
                 v_rest_mV=float(elec["v_rest_mV"]), kind=kind, diam_um=cols["diam"], length_um=length, z_um=z,
                 ra_ohm_cm=cols["ra"], cm_uF_cm2=cols["cm"], g_pas_S_cm2=cols["g"], e_pas_mV=cols["e"],
                 xraxial_MOhm_cm=cols["xr"], xg_S_cm2=cols["xg"], xc_uF_cm2=cols["xc"],
                 active=active, node_sections=node_sections)


def node_spacing_um(model: str | FibreModel, diameter_um: float) -> float:
    """Distance between neighbouring node centres (µm) of a fibre of this model and diameter, as `build_fibre`
    builds it, without building one.

    Parameters
    ----------
    model : str or FibreModel
        Fibre model.
    diameter_um : float
        Fibre diameter (µm).

    Returns
    -------
    float
        MRG's deltax, 8.333 µm unmyelinated, 100 D Sweeney.
    """
    if isinstance(model, str):
        model = load_model(model)
    return _spacing_um(model, _section_lengths(model, model.geometry(float(diameter_um))))


def _spacing_um(model: FibreModel, lengths: dict[str, float]) -> float:
    return sum(lengths[s] for s in model.definition["period"]) + lengths["node"]


def _section_lengths(model: FibreModel, geo: dict[str, float]) -> dict[str, float]:
    """Length (µm) of each section kind of the model at the evaluated geometry."""
    d = model.definition
    if model.family == "mrg":
        lengths = dict(d["lengths_um"])
        lengths["flut"] = geo["flut_length_um"]
        n_stin = d["period"].count("stin")
        fixed = sum(lengths[s] for s in d["period"] if s != "stin") + lengths["node"]
        lengths["stin"] = (geo["deltax_um"] - fixed) / n_stin
        if lengths["stin"] <= 0:
            raise ParameterError("diameter_um", f"model {model.name!r} at {geo['fiber_diameter_um']} um gives a "
                                 "non-positive STIN length")
        return lengths
    return {name: geo[s["length"]] for name, s in d["sections"].items()}


def _mrg_sections(model: FibreModel, geo: dict[str, float]) -> dict[str, dict]:
    """Per MRG section kind: NEURON diameter, Ra, cm, pas, extracellular layer 0 and whether active."""
    d = model.definition
    D = geo["fiber_diameter_um"]
    elec = d["electrical"]
    rhoa = elec["rhoa_ohm_um"]
    ra_axon = rhoa / 1e4  # Ω·µm → Ω·cm
    per_kind = {}
    for name in SECTION_KINDS[:4]:
        s = d["sections"][name]
        dax = geo[s["axolemma"]]
        w = s["periaxonal_space_um"]
        rp = rhoa * 0.01 / (math.pi * ((dax / 2 + w) ** 2 - (dax / 2) ** 2))
        if s["myelinated"]:
            # Section drawn with the fibre diameter; axolemma values rescaled to its true diameter (§2.3).
            scale = dax / D
            per_kind[name] = dict(diam=D, ra=ra_axon * (D / dax) ** 2, cm=elec["axolemma_cm_uF_cm2"] * scale,
                                  g=s["g_pas_S_cm2"] * scale, e=s["e_pas_mV"], xr=rp,
                                  xg=elec["myelin_g_S_cm2"] / (2 * geo["lamellae"]),
                                  xc=elec["myelin_cm_uF_cm2"] / (2 * geo["lamellae"]), active=False)
        else:
            per_kind[name] = dict(diam=dax, ra=ra_axon, cm=elec["axolemma_cm_uF_cm2"], g=0.0,
                                  e=elec["v_rest_mV"], xr=rp, xg=NO_MYELIN_XG_S_CM2, xc=0.0,
                                  active=bool(s.get("membrane", False)))
    return per_kind


def _single_cable_sections(model: FibreModel, geo: dict[str, float]) -> dict[str, dict]:
    """Per section kind of a single-cable model: its table in the model file, diameter as a fraction of D."""
    D = geo["fiber_diameter_um"]
    per_kind = {}
    for name, s in model.definition["sections"].items():
        per_kind[name] = dict(diam=D * s.get("diameter_ratio", 1.0), ra=s["ra_ohm_cm"], cm=s["cm_uF_cm2"],
                              g=s.get("g_pas_S_cm2", 0.0), e=s.get("e_pas_mV", 0.0), xr=DEFAULT_XRAXIAL_MOHM_CM,
                              xg=NO_MYELIN_XG_S_CM2, xc=0.0, active=bool(s.get("membrane", False)))
    return per_kind
