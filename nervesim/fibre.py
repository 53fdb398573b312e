"""Fibre geometry → sections: turn a model definition into per-section parameters.

Units are NEURON's (µm, Ω·cm, µF/cm², S/cm², MΩ/cm, mV), stated once here; both the
Numba engine and the NEURON reference build from these arrays, so no value is typed twice.
Each section is one compartment (nseg = 1), as in MRG/ASCENT/PyFibers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import ParameterError
from .model import FibreModel, load_model

#: Section kinds; a `Fibre` stores indices into this tuple (its ``kind`` array).
SECTION_KINDS = ("node", "mysa", "flut", "stin")
NO_MYELIN_XG_S_CM2 = 1e10  # NEURON idiom for "layer 0 shorted to layer 1" at a node
#: Largest fibre `build_fibre` makes. Building takes ~106 bytes per section at its peak (tracemalloc:
#: 117 MB for 100 001 nodes = 1.1 M sections, 0.6 s), so this caps it near 0.6 GB; one run of such a
#: fibre at the default dt would take minutes, which `nervesim.Stimulation` refuses anyway unless asked.
MAX_NODES = 500_001


@dataclass(frozen=True, eq=False, repr=False)
class Fibre:
    """A myelinated fibre along z, one compartment per section (build it with `build_fibre`).

    Attributes
    ----------
    model : FibreModel
        The model definition it was built from.
    diameter_um : float
        Fibre (outer myelin) diameter (µm).
    n_nodes : int
        Nodes of Ranvier (odd).
    temperature_c : float
        Temperature of the channel kinetics (°C).
    passive_end_nodes : int
        Passive nodes at each end (PyFibers style: no channels, intracellularly disconnected).
    geometry : dict
        Evaluated model geometry (µm; ``lamellae`` unitless).
    mechanism, mechanism_params : str, dict
        Nodal channel mechanism and its parameters.
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
        True where the nodal channel mechanism is inserted.
    node_sections : ndarray of int
        Section index of each node.
    """

    model: FibreModel
    diameter_um: float
    n_nodes: int
    temperature_c: float
    passive_end_nodes: int
    geometry: dict[str, float]
    mechanism: str
    mechanism_params: dict[str, float]
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

    @property
    def n_sections(self) -> int:
        """Number of sections (compartments): 11·(N−1) + 1 for MRG."""
        return len(self.kind)

    @property
    def node_z_um(self) -> np.ndarray:
        """Centre coordinate of each node (µm)."""
        return self.z_um[self.node_sections]

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
            True at either end of the fibre.
        """
        k = self.passive_end_nodes + margin
        return node < k or node >= self.n_nodes - k

    def __repr__(self) -> str:
        return (f"Fibre(model={self.model.name!r}, diameter_um={self.diameter_um:g}, n_nodes={self.n_nodes}, "
                f"n_sections={self.n_sections}, length_um={self.length_total_um:.6g}, "
                f"temperature_c={self.temperature_c:g}, passive_end_nodes={self.passive_end_nodes})")


def build_fibre(model: str | FibreModel, diameter_um: float, n_nodes: int = 51, *,
                temperature_c: float | None = None, passive_end_nodes: int | None = None) -> Fibre:
    """Build a fibre of ``n_nodes`` nodes (odd, so a centre node exists).

    Parameters
    ----------
    model : str or FibreModel
        Model name (``mrg-interp``, ``mrg-discrete``, ``mrg-small``) or a loaded model.
    diameter_um : float
        Fibre (outer myelin) diameter (µm); must lie in the model's range.
    n_nodes : int
        Nodes of Ranvier, odd, 3 to `MAX_NODES`. Too few for the electrode distance shifts the
        threshold; the search then flags ``short_fibre``.
    temperature_c : float, optional
        Sets the channel Q10 factors (°C, −10 to 50); default the model's (37 °C).
    passive_end_nodes : int, optional
        Passive nodes at each end; default the model's (PyFibers: 1).

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
    if not isinstance(n_nodes, (int, np.integer)) or not 3 <= n_nodes <= MAX_NODES or n_nodes % 2 == 0:
        raise ParameterError("n_nodes", f"n_nodes={n_nodes}: must be an odd integer from 3 to {MAX_NODES} "
                             "(odd so a centre node exists)")
    geo = model.geometry(float(diameter_um))
    elec = d["electrical"]
    temperature_c = float(elec["temperature_c"] if temperature_c is None else temperature_c)
    if not math.isfinite(temperature_c) or not -10.0 <= temperature_c <= 50.0:
        raise ParameterError("temperature_c", f"temperature_c={temperature_c}: must be finite, between -10 and 50 °C")
    ends = d["end_nodes"]
    k_end = int(ends["count"] if passive_end_nodes is None else passive_end_nodes)
    if k_end < 0 or 2 * k_end > n_nodes - 3:
        raise ParameterError("passive_end_nodes",
                             f"passive_end_nodes={k_end}: must be >= 0 and leave at least 3 active nodes "
                         f"(n_nodes={n_nodes})")

    lengths = dict(d["lengths_um"])
    lengths["flut"] = geo["flut_length_um"]
    n_stin = d["period"].count("stin")
    fixed = sum(lengths[s] for s in d["period"] if s != "stin") + lengths["node"]
    lengths["stin"] = (geo["deltax_um"] - fixed) / n_stin
    if lengths["stin"] <= 0:
        raise ParameterError("diameter_um",
                             f"model {model.name!r} at {diameter_um} um gives a non-positive STIN length")

    D = geo["fiber_diameter_um"]
    rhoa = elec["rhoa_ohm_um"]
    ra_axon = rhoa / 1e4  # Ω·µm → Ω·cm
    per_kind = {}
    for name in SECTION_KINDS:
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
                                  active=s.get("mechanism") is not None)

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
    mech_name = d["sections"]["node"]["mechanism"]
    return Fibre(model=model, diameter_um=D, n_nodes=int(n_nodes), temperature_c=temperature_c,
                 passive_end_nodes=k_end, geometry=geo, mechanism=mech_name,
                 mechanism_params=dict(d["mechanisms"][mech_name]), v_rest_mV=float(elec["v_rest_mV"]),
                 kind=kind, diam_um=cols["diam"], length_um=length, z_um=z, ra_ohm_cm=cols["ra"],
                 cm_uF_cm2=cols["cm"], g_pas_S_cm2=cols["g"], e_pas_mV=cols["e"],
                 xraxial_MOhm_cm=cols["xr"], xg_S_cm2=cols["xg"], xc_uF_cm2=cols["xc"],
                 active=active, node_sections=node_sections)
