"""Nodal channel kinetics of the MRG node (AXNODE), as Numba functions of plain floats.

Units: v in mV, rates in 1/ms, conductances in S/cm², currents in mA/cm².
Constants and branch order follow reference mrg-model.md §3.2–3.3: singular-point
limit first, then the ±150 mV constant clamp (ASCENT/PyFibers ``axnode_myel``), then the formula.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

#: Order of the parameter vector the kernels take (see `axnode_params`).
AXNODE_PARAMS = ("gnabar", "gnapbar", "gkbar", "gl", "ena", "ek", "el", "clamp150")


def q10_factors(temperature_c: float) -> np.ndarray:
    """Temperature factors of the gating rates, evaluated once at initialisation.

    Parameters
    ----------
    temperature_c : float
        Temperature (°C).

    Returns
    -------
    numpy.ndarray
        Three unitless multipliers: of the m and p rates (Q10 2.2 from 20 °C), the h rates
        (Q10 2.9 from 20 °C) and the s rates (Q10 3.0 from 36 °C).
    """
    t = temperature_c
    return np.array([2.2 ** ((t - 20.0) / 10.0), 2.9 ** ((t - 20.0) / 10.0), 3.0 ** ((t - 36.0) / 10.0)])


def axnode_params(params: dict[str, float]) -> np.ndarray:
    """Pack a model's mechanism table into the float vector the kernels read.

    Parameters
    ----------
    params : dict of str to float
        The model's mechanism parameters, with at least the keys of `AXNODE_PARAMS`:
        conductances ``gnabar``, ``gnapbar``, ``gkbar``, ``gl`` (S/cm²), reversal potentials
        ``ena``, ``ek``, ``el`` (mV) and ``clamp150`` (nonzero: the ±150 mV rate clamp).

    Returns
    -------
    numpy.ndarray
        The values in the order of `AXNODE_PARAMS`.

    Raises
    ------
    KeyError
        If a parameter is missing.
    """
    return np.array([float(params[k]) for k in AXNODE_PARAMS])


@njit(cache=True, inline="always")
def _exp(x):
    # AXNODE's Exp(): exp(x) for x >= -100, else 0.
    return math.exp(x) if x >= -100.0 else 0.0


@njit(cache=True)
def axnode_rates(v, q10, clamp):
    """Opening and closing rates of the four gates.

    Parameters
    ----------
    v : float
        Membrane potential (mV).
    q10 : numpy.ndarray
        Temperature factors from `q10_factors`.
    clamp : bool
        Hold the rates constant beyond ±150 mV (ASCENT/PyFibers ``axnode_myel``).

    Returns
    -------
    tuple of float
        (α_p, β_p, α_m, β_m, α_h, β_h, α_s, β_s) in 1/ms.
    """
    q1, q2, q3 = q10[0], q10[1], q10[2]
    # persistent Na, p
    if abs((v + 27.0) / 10.2) < 1e-6:
        ap = 0.102
    elif clamp and v < -150.0:
        ap = 0.00086725
    else:
        ap = 0.01 * (v + 27.0) / (1.0 - _exp(-(v + 27.0) / 10.2))
    if abs((v + 34.0) / 10.0) < 1e-6:
        bp = 0.0025
    elif clamp and v > 150.0:
        bp = 1.5855e-05
    else:
        bp = 0.00025 * (-(v + 34.0)) / (1.0 - _exp((v + 34.0) / 10.0))
    # fast Na activation, m
    if abs((v + 21.4) / 10.3) < 1e-6:
        am = 19.158
    elif clamp and v < -150.0:
        am = 0.15733
    else:
        am = 1.86 * (v + 21.4) / (1.0 - _exp(-(v + 21.4) / 10.3))
    if abs((v + 25.7) / 9.16) < 1e-6:
        bm = 0.78776
    elif clamp and v > 150.0:
        bm = 0.0057268
    else:
        bm = 0.086 * (-(v + 25.7)) / (1.0 - _exp((v + 25.7) / 9.16))
    # fast Na inactivation, h
    if abs((v + 114.0) / 11.0) < 1e-6:
        ah = 0.682
    elif clamp and v > 150.0:
        ah = 0.0032594
    else:
        ah = 0.062 * (-(v + 114.0)) / (1.0 - _exp((v + 114.0) / 11.0))
    if clamp and v < -150.0:
        bh = 0.0014054
    else:
        bh = 2.3 / (1.0 + _exp(-(v + 31.8) / 13.4))
    # slow K, s
    if clamp and v < -150.0:
        as_ = 3.3484e-05
        bs = 3.3484e-06
    else:
        as_ = 0.3 / (1.0 + _exp(-(v + 53.0) / 5.0))
        bs = 0.03 / (1.0 + _exp(-(v + 90.0)))
    return q1 * ap, q1 * bp, q1 * am, q1 * bm, q2 * ah, q2 * bh, q3 * as_, q3 * bs


@njit(cache=True)
def axnode_steady_state(v, q10, clamp):
    """Steady-state gate values at a fixed membrane potential.

    Parameters
    ----------
    v : float
        Membrane potential (mV).
    q10 : numpy.ndarray
        Temperature factors from `q10_factors`.
    clamp : bool
        The ±150 mV rate clamp, as in `axnode_rates`.

    Returns
    -------
    tuple of float
        (p, m, h, s), each α / (α + β), unitless in [0, 1].
    """
    ap, bp, am, bm, ah, bh, as_, bs = axnode_rates(v, q10, clamp)
    return ap / (ap + bp), am / (am + bm), ah / (ah + bh), as_ / (as_ + bs)


@njit(cache=True)
def axnode_current(v, p, m, h, s, par):
    """Total nodal ionic current density and its slope at fixed gates.

    Parameters
    ----------
    v : float
        Membrane potential (mV).
    p, m, h, s : float
        Gate values (unitless, 0-1): persistent Na activation, fast Na activation and
        inactivation, slow K activation.
    par : numpy.ndarray
        Mechanism parameters from `axnode_params` (S/cm², mV).

    Returns
    -------
    i : float
        Current density (mA/cm²), outward positive: fast Na + persistent Na + slow K + leak.
    di_dv : float
        Its derivative with respect to v at fixed gates (S/cm²).
    """
    g_naf = par[0] * m * m * m * h
    g_nap = par[1] * p * p * p
    g_ks = par[2] * s
    g_l = par[3]
    i = g_naf * (v - par[4]) + g_nap * (v - par[4]) + g_ks * (v - par[5]) + g_l * (v - par[6])
    return i, g_naf + g_nap + g_ks + g_l


@njit(cache=True)
def axnode_gate_step(v, p, m, h, s, dt, q10, clamp):
    """Advance the gates over one step with rates frozen at ``v`` (NEURON's cnexp).

    Parameters
    ----------
    v : float
        Membrane potential (mV) at which the rates are evaluated.
    p, m, h, s : float
        Gate values at the start of the step (unitless).
    dt : float
        Time step (ms).
    q10 : numpy.ndarray
        Temperature factors from `q10_factors`.
    clamp : bool
        The ±150 mV rate clamp, as in `axnode_rates`.

    Returns
    -------
    tuple of float
        (p, m, h, s) after the step: each relaxes exponentially toward its steady state.
    """
    ap, bp, am, bm, ah, bh, as_, bs = axnode_rates(v, q10, clamp)
    p += (1.0 - math.exp(-dt * (ap + bp))) * (ap / (ap + bp) - p)
    m += (1.0 - math.exp(-dt * (am + bm))) * (am / (am + bm) - m)
    h += (1.0 - math.exp(-dt * (ah + bh))) * (ah / (ah + bh) - h)
    s += (1.0 - math.exp(-dt * (as_ + bs))) * (as_ / (as_ + bs) - s)
    return p, m, h, s
