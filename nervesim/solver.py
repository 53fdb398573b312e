"""Fibre → circuit arrays for the cable kernels (NEURON's fixed-step backward Euler, staggered states).

Units inside the kernels: nA, µS, nF, mV, ms (µS·mV = nA, nF·mV/ms = nA). `Circuit` converts a
`~nervesim.fibre.Fibre` (NEURON units) at this boundary into plain arrays grouped in `CableArrays`;
the kernels themselves (``nervesim/_cable.py`` plus the model's generated membrane functions, see
`nervesim.membrane`) know nothing of fibres or models.

A double cable (MRG) has per compartment the unknowns (v_i, x0, x1): intracellular, periaxonal
(extracellular layer 0) and outer (layer 1) potentials; membrane v = v_i − x0. A single cable
(unmyelinated fibres, Sweeney) has v alone. One step (reference mrg-model.md §4.4–4.5): currents
and slopes from the old v and old states, a (block-)tridiagonal solve for the changes, then the
membrane states advance with the new v (cnexp), then the APCount check with the new v and t.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import ModuleType
from typing import NamedTuple

import numpy as np

from .fibre import Fibre
from .membrane import IONS

# NEURON's default outer extracellular layer (nlayer = 2): xraxial[1], xg[1], xc[1].
LAYER1_XRAXIAL_MOHM_CM = 1e9
LAYER1_XG_S_CM2 = 1e9
LAYER1_XC_UF_CM2 = 0.0


class CableArrays(NamedTuple):
    """What the kernels read about a fibre (plain arrays and numbers; units of this module).

    Whether the cable is double and keeps NEURON's extracellular layers is fixed in the kernels' module
    (`nervesim.membrane.Membrane.cable_kernels`), not here.

    Parameters
    ----------
    c_m, g_pas, e_pas : numpy.ndarray
        Per compartment: membrane capacitance (nF), passive conductance (µS), its reversal (mV).
    c_my, g_my, c_o, g_o : numpy.ndarray
        Myelin (layer 0 to 1) and outer-layer capacitance (nF) and conductance (µS).
    g_ax : numpy.ndarray
        (3, n−1): coupling k↔k+1 of the intracellular space, layer 0 and layer 1 (µS; a single cable
        uses row 0).
    act, act_scale : numpy.ndarray
        Compartments with the membrane mechanisms, and their area in µS per S/cm².
    par : numpy.ndarray
        Membrane parameter vector (`nervesim.membrane.Membrane.parameter_vector`).
    n_st : int
        Length of one section's membrane state vector.
    node_idx : numpy.ndarray
        Compartment of each node.
    v_init, celsius : float
        Initial membrane potential (mV), temperature (°C).
    """

    c_m: np.ndarray
    g_pas: np.ndarray
    e_pas: np.ndarray
    c_my: np.ndarray
    g_my: np.ndarray
    c_o: np.ndarray
    g_o: np.ndarray
    g_ax: np.ndarray
    act: np.ndarray
    act_scale: np.ndarray
    par: np.ndarray
    n_st: int
    node_idx: np.ndarray
    v_init: float
    celsius: float


class RunControl(NamedTuple):
    """Time stepping, detection and early exit of one run.

    Parameters
    ----------
    dt : float
        Time step (ms).
    pre_dt, pre_steps : float, int
        ``pre_steps`` steps of ``pre_dt`` (ms) before t = 0 without stimulus, from which every run starts.
    det : int
        Detection node.
    ap_thresh : float
        APCount threshold on every node (mV).
    stop_on_detect : bool
        End the run when the detection node fires.
    quiet_after, quiet_mV, quiet_mV_ms, quiet_decay_ms : int, float, float, float
        From step ``quiet_after`` on, end a run once every node is within ``quiet_mV`` (mV) of its t = 0
        value and changes slower than ``quiet_mV_ms`` (mV/ms), plus its deviation / ``quiet_decay_ms`` (ms)
        if it lies above that value and falls toward it; ``quiet_mV = 0`` disables this.
    quiet_creep_mV_ms, quiet_creep_min_mV : float, float
        ... and no node more than ``quiet_creep_min_mV`` (mV) from its t = 0 value moves away from it faster
        than ``quiet_creep_mV_ms`` (mV/ms).
    """

    dt: float
    pre_dt: float
    pre_steps: int
    det: int
    ap_thresh: float
    stop_on_detect: bool
    quiet_after: int
    quiet_mV: float
    quiet_mV_ms: float
    quiet_decay_ms: float
    quiet_creep_mV_ms: float
    quiet_creep_min_mV: float


@dataclass(frozen=True, eq=False)
class Circuit:
    """A fibre's cable in absolute units (nF, µS, mV), the arrays the kernels take.

    Per-compartment arrays have one entry per section. Layer 0 is the periaxonal space (inside
    the myelin), layer 1 NEURON's default outer layer (``LAYER1_*`` constants). Build it with
    `from_fibre`.

    Attributes
    ----------
    c_m_nF, g_pas_uS, e_pas_mV : numpy.ndarray
        Membrane capacitance (nF), passive conductance (µS) and reversal potential (mV).
    c_my_nF, g_my_uS : numpy.ndarray
        Capacitance (nF) and conductance (µS) of the myelin (layer 0 to layer 1).
    c_o_nF, g_o_uS : numpy.ndarray
        Capacitance (nF) and conductance (µS) from layer 1 to the extracellular potential.
    g_axial_uS : numpy.ndarray
        Shape (3, n-1): axial conductance (µS) between compartments k and k+1 of the
        intracellular space, layer 0 and layer 1.
    active_idx : numpy.ndarray
        Compartment indices (int64) with the membrane mechanisms.
    active_scale : numpy.ndarray
        Membrane area of each active compartment in µS per S/cm² (= nA per mA/cm²).
    membrane_par : numpy.ndarray
        Membrane parameter vector: values, rate tables and balancing currents filled in.
    node_idx : numpy.ndarray
        Compartment index (int64) of each node.
    v_init_mV : float
        Initial membrane potential (mV).
    celsius : float
        Temperature (°C).
    double_cable : bool
        Whether the fibre has a myelin layer (three unknowns per compartment).
    fast : bool
        Fast mode: NEURON's extracellular layers held at the extracellular potential (MRG's outer layer, x1;
        both layers of a single cable).
    kernels : module
        The compiled kernels of the fibre's membrane for this cable (`nervesim.membrane.Membrane.cable_kernels`).
    n_st : int
        Length of one section's membrane state vector.
    """

    c_m_nF: np.ndarray
    g_pas_uS: np.ndarray
    e_pas_mV: np.ndarray
    c_my_nF: np.ndarray
    g_my_uS: np.ndarray
    c_o_nF: np.ndarray
    g_o_uS: np.ndarray
    g_axial_uS: np.ndarray
    active_idx: np.ndarray
    active_scale: np.ndarray
    membrane_par: np.ndarray
    node_idx: np.ndarray
    v_init_mV: float
    celsius: float
    double_cable: bool
    fast: bool
    kernels: ModuleType
    n_st: int

    @classmethod
    def from_fibre(cls, fibre: Fibre, fast: bool = False) -> Circuit:
        """Convert a fibre's NEURON-unit section arrays to absolute units and prepare its membrane.

        Parameters
        ----------
        fibre : nervesim.fibre.Fibre
            The fibre (µm, Ω·cm, µF/cm², S/cm², MΩ/cm, mV per section).
        fast : bool
            The fast mode (see the ``fast`` attribute) instead of NEURON's exact system.

        Returns
        -------
        Circuit
            Capacitances (nF), conductances (µS) and potentials (mV) per compartment; axial
            conductances from half-section resistances of neighbours in series; the membrane
            parameters with rate tables built at the fibre's temperature and balancing applied.
        """
        area = math.pi * fibre.diam_um * fibre.length_um  # µm²
        r_i_half = 1e-2 * fibre.ra_ohm_cm * (fibre.length_um / 2) / (math.pi * fibre.diam_um ** 2 / 4)
        r_p_half = 1e-4 * fibre.xraxial_MOhm_cm * fibre.length_um / 2
        r_o_half = 1e-4 * LAYER1_XRAXIAL_MOHM_CM * fibre.length_um / 2
        g_axial = np.stack([1.0 / (r[:-1] + r[1:]) for r in (r_i_half, r_p_half, r_o_half)])
        active = np.flatnonzero(fibre.active).astype(np.int64)
        membrane = fibre.membrane
        kernels = membrane.cable_kernels(fibre.double_cable, outer=not fast)
        par = membrane.parameter_vector(float(fibre.diam_um[active[0]]) if active.size else 1.0, fibre.temperature_c)
        circuit = cls(
            c_m_nF=fibre.cm_uF_cm2 * area * 1e-5,
            g_pas_uS=fibre.g_pas_S_cm2 * area * 1e-2,
            e_pas_mV=fibre.e_pas_mV.copy(),
            c_my_nF=fibre.xc_uF_cm2 * area * 1e-5,
            g_my_uS=fibre.xg_S_cm2 * area * 1e-2,
            c_o_nF=LAYER1_XC_UF_CM2 * area * 1e-5,
            g_o_uS=LAYER1_XG_S_CM2 * area * 1e-2,
            g_axial_uS=np.ascontiguousarray(g_axial),
            active_idx=active,
            active_scale=area[active] * 1e-2,
            membrane_par=par,
            node_idx=fibre.node_sections.astype(np.int64),
            v_init_mV=fibre.v_rest_mV,
            celsius=fibre.temperature_c,
            double_cable=fibre.double_cable,
            fast=bool(fast),
            kernels=kernels,
            n_st=membrane.layout()["n_st"],
        )
        if fibre.balance is not None:
            _balance(circuit, membrane, fibre.balance)
        return circuit

    def arrays(self) -> CableArrays:
        """The kernel argument of this circuit.

        Returns
        -------
        CableArrays
            The same arrays, grouped for the kernels.
        """
        return CableArrays(self.c_m_nF, self.g_pas_uS, self.e_pas_mV, self.c_my_nF, self.g_my_uS, self.c_o_nF,
                           self.g_o_uS, self.g_axial_uS, self.active_idx, self.active_scale, self.membrane_par,
                           int(self.n_st), self.node_idx, float(self.v_init_mV), float(self.celsius))



def _balance(circuit: Circuit, membrane, balance: dict) -> None:
    """Rest balancing (PyFibers ``balance()``, reference fibre-models.md §6.5, §8.6), in place.

    With the fibre initialised at rest, each listed ion's total current S of all mechanisms is
    cancelled: by a leak conductance −S/(v_rest − E) when that is ≥ 0, else by a constant pump
    current −S. Done once, at the run temperature, before any run.
    """
    membrane_layout = membrane.layout()
    out = np.zeros((len(membrane.mechanisms), len(IONS)))
    st = circuit.kernels.membrane_balance_currents(circuit.arrays(), out)
    par = circuit.membrane_par
    for ion in balance["ions"]:
        col = list(IONS).index(ion)
        total = float(out[:, col].sum())
        e_rev = st[membrane_layout["st"][f"e{ion}"]]
        g = -total / (circuit.v_init_mV - e_rev)
        if g < 0:
            par[membrane_layout["par"][f"{balance['pump']}.i{ion}_pump"]] = -total
        else:
            par[membrane_layout["par"][f"{balance['leak']}.g{ion}"]] = g
