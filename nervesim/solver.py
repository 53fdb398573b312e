"""Numba double-cable solver: NEURON's fixed-step backward Euler with staggered gates.

Units inside this module: nA, µS, nF, mV, ms (µS·mV = nA, nF·mV/ms = nA). `Circuit`
converts a `~nervesim.fibre.Fibre` (NEURON units) at this boundary; the kernel takes plain arrays only.

Per compartment k the unknowns are (v_i, x0, x1): intracellular, periaxonal (extracellular
layer 0) and outer (layer 1) potentials; membrane v = v_i − x0. One step (reference §4.4–4.5):
currents and slopes from the old v and old gates, a block-tridiagonal solve for the changes
(3×3 diagonal blocks, diagonal coupling), update v and x, then advance the gates with the new v
(cnexp) and run the APCount check with the new v and t.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit, prange

from .channels import axnode_current, axnode_gate_step, axnode_params, axnode_steady_state, q10_factors
from .fibre import Fibre

# NEURON's default outer extracellular layer (nlayer = 2): xraxial[1], xg[1], xc[1].
LAYER1_XRAXIAL_MOHM_CM = 1e9
LAYER1_XG_S_CM2 = 1e9
LAYER1_XC_UF_CM2 = 0.0


@dataclass(frozen=True, eq=False)
class Circuit:
    """A fibre's double cable in absolute units (nF, µS, mV), the arrays the kernels take.

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
        Compartment indices (int64) with the nodal channel mechanism.
    active_scale : numpy.ndarray
        Membrane area of each active compartment in µS per S/cm² (= nA per mA/cm²).
    mech_params : numpy.ndarray
        Channel parameters in the order of `nervesim.channels.AXNODE_PARAMS`.
    q10 : numpy.ndarray
        Rate multipliers at the fibre's temperature (`nervesim.channels.q10_factors`).
    node_idx : numpy.ndarray
        Compartment index (int64) of each node.
    v_init_mV : float
        Initial membrane potential (mV).
    """

    c_m_nF: np.ndarray
    g_pas_uS: np.ndarray
    e_pas_mV: np.ndarray
    c_my_nF: np.ndarray
    g_my_uS: np.ndarray
    c_o_nF: np.ndarray
    g_o_uS: np.ndarray
    g_axial_uS: np.ndarray  # (3, n-1): intracellular, periaxonal, outer-layer coupling k↔k+1
    active_idx: np.ndarray
    active_scale: np.ndarray  # µS per S/cm² (= nA per mA/cm²) of each active compartment
    mech_params: np.ndarray
    q10: np.ndarray
    node_idx: np.ndarray
    v_init_mV: float

    @classmethod
    def from_fibre(cls, fibre: Fibre) -> Circuit:
        """Convert a fibre's NEURON-unit section arrays to absolute units.

        Parameters
        ----------
        fibre : nervesim.fibre.Fibre
            The fibre (µm, Ω·cm, µF/cm², S/cm², MΩ/cm, mV per section).

        Returns
        -------
        Circuit
            Capacitances (nF), conductances (µS) and potentials (mV) per compartment; axial
            conductances from half-section resistances of neighbours in series.
        """
        area = math.pi * fibre.diam_um * fibre.length_um  # µm²
        r_i_half = 1e-2 * fibre.ra_ohm_cm * (fibre.length_um / 2) / (math.pi * fibre.diam_um ** 2 / 4)
        r_p_half = 1e-4 * fibre.xraxial_MOhm_cm * fibre.length_um / 2
        r_o_half = 1e-4 * LAYER1_XRAXIAL_MOHM_CM * fibre.length_um / 2
        g_axial = np.stack([1.0 / (r[:-1] + r[1:]) for r in (r_i_half, r_p_half, r_o_half)])
        return cls(
            c_m_nF=fibre.cm_uF_cm2 * area * 1e-5,
            g_pas_uS=fibre.g_pas_S_cm2 * area * 1e-2,
            e_pas_mV=fibre.e_pas_mV.copy(),
            c_my_nF=fibre.xc_uF_cm2 * area * 1e-5,
            g_my_uS=fibre.xg_S_cm2 * area * 1e-2,
            c_o_nF=LAYER1_XC_UF_CM2 * area * 1e-5,
            g_o_uS=LAYER1_XG_S_CM2 * area * 1e-2,
            g_axial_uS=np.ascontiguousarray(g_axial),
            active_idx=np.flatnonzero(fibre.active).astype(np.int64),
            active_scale=area[fibre.active] * 1e-2,
            mech_params=axnode_params(fibre.mechanism_params),
            q10=q10_factors(fibre.temperature_c),
            node_idx=fibre.node_sections.astype(np.int64),
            v_init_mV=fibre.v_rest_mV,
        )


@njit(cache=True, nogil=True)
def _diagonal_constants(c_m, g_pas, c_my, g_my, c_o, g_o, g_ax, dt):
    """Step-invariant parts of each 3×3 diagonal block: (a₀, b, c, Σg_i, Σg_p, Σg_o) per compartment."""
    n = c_m.shape[0]
    out = np.zeros((6, n))
    for k in range(n):
        out[0, k] = c_m[k] / dt + g_pas[k]
        out[1, k] = c_my[k] / dt + g_my[k]
        out[2, k] = c_o[k] / dt + g_o[k]
    for k in range(n - 1):
        for layer in range(3):
            out[3 + layer, k] += g_ax[layer, k]
            out[3 + layer, k + 1] += g_ax[layer, k]
    return out


@njit(cache=True, nogil=True)
def _step(v, x0, x1, gates, e_out, i_stim, dt, diag, g_pas, e_pas, g_my, g_o, g_ax,
          act, act_scale, par, q10, clamp, i_ion, g_act, vi, dpi, rp):
    """One backward-Euler step in Δ-form; updates v, x0, x1 and gates in place."""
    n = v.shape[0]
    for k in range(n):
        i_ion[k] = g_pas[k] * (v[k] - e_pas[k])
        vi[k] = v[k] + x0[k]
    for j in range(act.shape[0]):
        k = act[j]
        i_d, g_d = axnode_current(v[k], gates[0, j], gates[1, j], gates[2, j], gates[3, j], par)
        i_ion[k] = i_d * act_scale[j]
        g_act[k] = g_d * act_scale[j]
    # Forward sweep of block Thomas; dpi[k] holds the inverse of the eliminated diagonal block
    # (symmetric: 00, 01, 02, 11, 12, 22) and rp[k] the eliminated right-hand side.
    for k in range(n):
        a = diag[0, k] + g_act[k]
        b = diag[1, k]
        w = x0[k] - x1[k]
        r0 = i_stim[k] - i_ion[k]
        r1 = i_ion[k] - g_my[k] * w
        r2 = g_my[k] * w - g_o[k] * (x1[k] - e_out[k])
        d00 = a + diag[3, k]
        d11 = a + b + diag[4, k]
        d22 = b + diag[2, k] + diag[5, k]
        d01 = -a
        d12 = -b
        d02 = 0.0
        if k > 0:
            gi, gp, go = g_ax[0, k - 1], g_ax[1, k - 1], g_ax[2, k - 1]
            r0 += gi * (vi[k - 1] - vi[k])
            r1 += gp * (x0[k - 1] - x0[k])
            r2 += go * (x1[k - 1] - x1[k])
            q0, q1, q2 = dpi[k - 1, 0], dpi[k - 1, 1], dpi[k - 1, 2]
            q3, q4, q5 = dpi[k - 1, 3], dpi[k - 1, 4], dpi[k - 1, 5]
            d00 -= gi * gi * q0
            d01 -= gi * gp * q1
            d02 -= gi * go * q2
            d11 -= gp * gp * q3
            d12 -= gp * go * q4
            d22 -= go * go * q5
            s0, s1, s2 = rp[k - 1, 0], rp[k - 1, 1], rp[k - 1, 2]
            r0 += gi * (q0 * s0 + q1 * s1 + q2 * s2)
            r1 += gp * (q1 * s0 + q3 * s1 + q4 * s2)
            r2 += go * (q2 * s0 + q4 * s1 + q5 * s2)
        if k < n - 1:
            r0 += g_ax[0, k] * (vi[k + 1] - vi[k])
            r1 += g_ax[1, k] * (x0[k + 1] - x0[k])
            r2 += g_ax[2, k] * (x1[k + 1] - x1[k])
        c00 = d11 * d22 - d12 * d12
        c01 = d02 * d12 - d01 * d22
        c02 = d01 * d12 - d02 * d11
        inv_det = 1.0 / (d00 * c00 + d01 * c01 + d02 * c02)
        dpi[k, 0] = c00 * inv_det
        dpi[k, 1] = c01 * inv_det
        dpi[k, 2] = c02 * inv_det
        dpi[k, 3] = (d00 * d22 - d02 * d02) * inv_det
        dpi[k, 4] = (d01 * d02 - d00 * d12) * inv_det
        dpi[k, 5] = (d00 * d11 - d01 * d01) * inv_det
        rp[k, 0] = r0
        rp[k, 1] = r1
        rp[k, 2] = r2
    # Back substitution: Δ_k = D'_k⁻¹ (r'_k + G_k Δ_{k+1}).
    u0 = u1 = u2 = 0.0
    for k in range(n - 1, -1, -1):
        s0, s1, s2 = rp[k, 0], rp[k, 1], rp[k, 2]
        if k < n - 1:
            s0 += g_ax[0, k] * u0
            s1 += g_ax[1, k] * u1
            s2 += g_ax[2, k] * u2
        u0 = dpi[k, 0] * s0 + dpi[k, 1] * s1 + dpi[k, 2] * s2
        u1 = dpi[k, 1] * s0 + dpi[k, 3] * s1 + dpi[k, 4] * s2
        u2 = dpi[k, 2] * s0 + dpi[k, 4] * s1 + dpi[k, 5] * s2
        v[k] += u0 - u1
        x0[k] += u1
        x1[k] += u2
    for j in range(act.shape[0]):
        k = act[j]
        gates[0, j], gates[1, j], gates[2, j], gates[3, j] = axnode_gate_step(
            v[k], gates[0, j], gates[1, j], gates[2, j], gates[3, j], dt, q10, clamp)


@njit(cache=True, nogil=True)
def simulate_kernel(c_m, g_pas, e_pas, c_my, g_my, c_o, g_o, g_ax, act, act_scale, par, q10,
                    v_init, ve, wave, amp, dt, pre_dt, pre_steps, stim_idx, stim_nA, stim_del,
                    stim_dur, node_idx, det, ap_thresh, stop_on_detect, quiet_after, quiet_mV, quiet_mV_ms,
                    rec_idx, rec, t_first, t_interp, count):
    """Simulate one fibre from rest (Numba kernel; plain arrays in the units of this module).

    Parameters
    ----------
    c_m, g_pas, e_pas, c_my, g_my, c_o, g_o, g_ax, act, act_scale, par, q10 : numpy.ndarray
        The `Circuit` arrays in that order (nF, µS, mV; ``act`` = ``active_idx``,
        ``par`` = ``mech_params``).
    v_init : float
        Initial membrane potential (mV).
    ve : numpy.ndarray
        Extracellular potential per compartment for 1 mA (mV).
    wave : numpy.ndarray
        Unit waveform, one sample per step; step n (t_n -> t_n + dt) applies
        ``amp * wave[n] * ve``. Its length is the number of steps.
    amp : float
        Stimulus amplitude (mA).
    dt : float
        Time step (ms).
    pre_dt, pre_steps : float, int
        Steady-state pre-run before t = 0 without stimulus: ``pre_steps`` steps of ``pre_dt`` ms.
    stim_idx, stim_nA, stim_del, stim_dur : int, float, float, float
        Intracellular current pulse: compartment (< 0: none), amplitude (nA), delay and duration
        (ms); on while ``del <= t + dt/2 < del + dur``, as NEURON's IClamp.
    node_idx : numpy.ndarray
        Compartment of each node (int64).
    det : int
        Detection node (index into ``node_idx``).
    ap_thresh : float
        APCount threshold (mV).
    stop_on_detect : bool
        End the run at the step the detection node counts an AP.
    quiet_after, quiet_mV, quiet_mV_ms : int, float, float
        From step ``quiet_after`` on (all stimulation over), end the run once every node is within
        ``quiet_mV`` (mV) of its potential at t = 0 and changes slower than ``quiet_mV_ms``
        (mV/ms): a decayed sub-threshold response. ``quiet_mV = 0`` disables this.
    rec_idx, rec : numpy.ndarray
        Compartments to record (int64) and an output array of shape (len(rec_idx), len(wave) + 1)
        for their membrane potential (mV) at t = 0, dt, ...
    t_first, t_interp, count : numpy.ndarray
        Outputs per node: APCount time (ms) of the first AP and its linearly interpolated
        crossing time (ms; NaN if none), and the APCount count.

    Returns
    -------
    int
        Number of steps run (fewer than ``len(wave)`` after an early stop).
    """
    n = c_m.shape[0]
    clamp = par[7] != 0.0
    v = np.full(n, v_init)
    x0 = np.zeros(n)
    x1 = np.zeros(n)
    gates = np.empty((4, act.shape[0]))
    p0, m0, h0, s0 = axnode_steady_state(v_init, q10, clamp)
    for j in range(act.shape[0]):
        gates[0, j] = p0
        gates[1, j] = m0
        gates[2, j] = h0
        gates[3, j] = s0
    i_ion = np.empty(n)
    g_act = np.zeros(n)
    vi = np.empty(n)
    dpi = np.empty((n, 6))
    rp = np.empty((n, 3))
    e_out = np.zeros(n)
    i_stim = np.zeros(n)
    diag = _diagonal_constants(c_m, g_pas, c_my, g_my, c_o, g_o, g_ax, pre_dt)
    for _ in range(pre_steps):
        _step(v, x0, x1, gates, e_out, i_stim, pre_dt, diag, g_pas, e_pas, g_my, g_o, g_ax,
              act, act_scale, par, q10, clamp, i_ion, g_act, vi, dpi, rp)
    diag = _diagonal_constants(c_m, g_pas, c_my, g_my, c_o, g_o, g_ax, dt)
    n_nodes = node_idx.shape[0]
    firing = np.zeros(n_nodes, dtype=np.bool_)
    t_last = np.full(n_nodes, -1e300)
    v_old = np.empty(n_nodes)
    v_start = np.empty(n_nodes)
    for q in range(n_nodes):
        t_first[q] = np.nan
        t_interp[q] = np.nan
        count[q] = 0
        v_start[q] = v[node_idx[q]]
    for r in range(rec_idx.shape[0]):
        rec[r, 0] = v[rec_idx[r]]
    t = 0.0
    n_steps = wave.shape[0]
    last_w = 0.0
    for step in range(n_steps):
        w = amp * wave[step]
        if w != last_w:
            for k in range(n):
                e_out[k] = w * ve[k]
            last_w = w
        if stim_idx >= 0:
            t_mid = t + 0.5 * dt
            i_stim[stim_idx] = stim_nA if stim_del <= t_mid < stim_del + stim_dur else 0.0
        for q in range(n_nodes):
            v_old[q] = v[node_idx[q]]
        _step(v, x0, x1, gates, e_out, i_stim, dt, diag, g_pas, e_pas, g_my, g_o, g_ax,
              act, act_scale, par, q10, clamp, i_ion, g_act, vi, dpi, rp)
        t = t + 0.5 * dt  # two half steps, as NEURON accumulates t
        t = t + 0.5 * dt
        quiet = quiet_mV > 0.0 and step >= quiet_after
        for q in range(n_nodes):
            vq = v[node_idx[q]]
            if not firing[q] and vq >= ap_thresh:
                firing[q] = True
                count[q] += 1
                t_last[q] = t
                if count[q] == 1:
                    t_first[q] = t
                    t_interp[q] = t - dt + dt * (ap_thresh - v_old[q]) / (vq - v_old[q])
            elif firing[q] and vq < ap_thresh and t > t_last[q]:
                firing[q] = False
            if quiet and (abs(vq - v_start[q]) >= quiet_mV or abs(vq - v_old[q]) >= quiet_mV_ms * dt):
                quiet = False
        for r in range(rec_idx.shape[0]):
            rec[r, step + 1] = v[rec_idx[r]]
        if (stop_on_detect and count[det] > 0) or quiet:
            return step + 1
    return n_steps


@njit(cache=True, nogil=True, parallel=True)
def simulate_batch(c_m, g_pas, e_pas, c_my, g_my, c_o, g_o, g_ax, act, act_scale, par, q10,
                   v_init, ve, wave, amps, dt, pre_dt, pre_steps, node_idx, det, ap_thresh,
                   stop_on_detect, quiet_after, quiet_mV, quiet_mV_ms, t_first, t_interp, count, steps):
    """`simulate_kernel` for a batch of (potentials, amplitude) pairs, in parallel over the batch.

    No traces are recorded and there is no intracellular stimulus.

    Parameters
    ----------
    c_m, g_pas, e_pas, c_my, g_my, c_o, g_o, g_ax, act, act_scale, par, q10 : numpy.ndarray
        The `Circuit` arrays, as in `simulate_kernel`.
    v_init : float
        Initial membrane potential (mV).
    ve : numpy.ndarray
        Shape (batch, compartments): extracellular potential for 1 mA (mV) of each member.
    wave : numpy.ndarray
        Unit waveform, one sample per step (shared).
    amps : numpy.ndarray
        Stimulus amplitude (mA) of each member.
    dt, pre_dt, pre_steps : float, float, int
        Time step and pre-run (ms), as in `simulate_kernel`.
    node_idx, det, ap_thresh, stop_on_detect : numpy.ndarray, int, float, bool
        As in `simulate_kernel`.
    quiet_after, quiet_mV, quiet_mV_ms : int, float, float
        As in `simulate_kernel`.
    t_first, t_interp, count : numpy.ndarray
        Outputs of shape (batch, nodes), one row per member, as in `simulate_kernel`.
    steps : numpy.ndarray
        Output: number of steps each member ran.
    """
    no_rec = np.empty(0, dtype=np.int64)
    for b in prange(amps.shape[0]):
        rec = np.empty((0, 0))
        steps[b] = simulate_kernel(
            c_m, g_pas, e_pas, c_my, g_my, c_o, g_o, g_ax, act, act_scale, par, q10, v_init,
            ve[b], wave, amps[b], dt, pre_dt, pre_steps, -1, 0.0, 0.0, 0.0,
            node_idx, det, ap_thresh, stop_on_detect, quiet_after, quiet_mV, quiet_mV_ms, no_rec, rec,
            t_first[b], t_interp[b], count[b])
