"""Exact potentials for checking the finite-element field (volume-conductor.md §8).

`point_source_mV` is §8.2 (infinite homogeneous anisotropic medium). `grounded_cylinder_mV` is the
layered cylinder of §8.5 (anisotropic core of radius a inside a homogeneous medium, optional thin
resistive shell ρs at ρ = a, point source outside the core) but *bounded* like the FEM model: φ = 0 on
ρ = R and on z = 0, L. The Fourier integral of §8.4 becomes a sine series in z (k_m = mπ/L), and each
(n, m) mode is a 4x4 interface problem (core | a..ρ0 | ρ0..R); with R, L → ∞ it returns §8.5 (checked
in the tests against the reference values of §8.7).

Units: lengths µm, conductivities S/m, ρs Ω·m², current 1 mA; results in mV (per mA).
"""
from __future__ import annotations

import numpy as np
from scipy.special import ive, kve


def point_source_mV(sigma_S_m, source_um, x_um, y_um, z_um) -> np.ndarray:
    """§8.2: potential of 1 mA at a point in an infinite medium diag(σx, σy, σz).

    Parameters
    ----------
    sigma_S_m : sequence of float
        (σx, σy, σz) S/m.
    source_um : sequence of float
        Source (x, y, z) µm.
    x_um, y_um, z_um : array_like or ngsolve.CoefficientFunction
        Field points (µm).

    Returns
    -------
    ndarray or ngsolve.CoefficientFunction
        Potential (mV).
    """
    sx, sy, sz = sigma_S_m
    dx, dy, dz = ((c - s) * 1e-6 for c, s in zip((x_um, y_um, z_um), source_um))
    return 1.0 / (4 * np.pi * (sy * sz * dx**2 + sx * sz * dy**2 + sx * sy * dz**2) ** 0.5)


def ring_source_mV(sigma_t_S_m: float, sigma_l_S_m: float, ring_radius_um: float, ring_z_um: float, x_um, y_um,
                   z_um):
    """§8.3: potential (mV) of 1 mA spread uniformly over a ring around the z axis in diag(σt, σt, σl).

    K(m) by the arithmetic-geometric mean, K = π / (2 AGM(1, √(1 − m))), so the formula takes ngsolve
    coordinates as well as numpy arrays (8 AGM steps: converged to double precision for m ≤ 0.999).

    Parameters
    ----------
    sigma_t_S_m, sigma_l_S_m : float
        Transverse and longitudinal conductivity (S/m).
    ring_radius_um, ring_z_um : float
        Ring radius and plane (µm).
    x_um, y_um, z_um : array_like or ngsolve.CoefficientFunction
        Field points (µm).

    Returns
    -------
    ndarray or ngsolve.CoefficientFunction
        Potential (mV).
    """
    rho = (x_um**2 + y_um**2) ** 0.5 * 1e-6
    zp = (z_um - ring_z_um) * 1e-6 * (sigma_t_S_m / sigma_l_S_m) ** 0.5
    r0 = ring_radius_um * 1e-6
    q = (rho + r0) ** 2 + zp**2
    a, b = 1.0, (1 - 4 * rho * r0 / q) ** 0.5
    for _ in range(8):
        a, b = (a + b) / 2, (a * b) ** 0.5
    k = np.pi / (2 * a)
    return 1e-3 * k / (2 * np.pi**2 * (sigma_t_S_m * sigma_l_S_m) ** 0.5 * q**0.5) * 1e3


def _dive(n, x):  # I_n'(x) e^{-x}
    return 0.5 * (ive(n - 1, x) + ive(n + 1, x)) if n else ive(1, x)


def _dkve(n, x):  # K_n'(x) e^{x}
    return -0.5 * (kve(n - 1, x) + kve(n + 1, x)) if n else -kve(1, x)


def _i_ratio(n, x, y):  # I_n(x) / I_n(y), x <= y
    return ive(n, x) / ive(n, y) * np.exp(x - y)


def _k_ratio(n, x, y):  # K_n(x) / K_n(y), x >= y
    return kve(n, x) / kve(n, y) * np.exp(y - x)


def grounded_cylinder_mV(rho_um, theta, z_um, *, source_rho_um: float, source_theta: float, source_z_um: float,
                         core_radius_um: float, core_sigma_S_m: tuple[float, float],
                         outer_sigma_S_m: tuple[float, float],
                         radius_um: float, length_um: float, rho_s_ohm_m2: float = 0.0, n_max: int = 40,
                         m_max: int | None = None, side: str = "inside") -> np.ndarray:
    """Potential (mV) of 1 mA at (``source_rho_um``, ``source_theta``, ``source_z_um``) in a grounded cylinder.

    Parameters
    ----------
    rho_um, theta, z_um : array_like
        Field points: radius (µm), angle (rad), z (µm).
    source_rho_um, source_theta, source_z_um : float
        The source, outside the core (rho0 > a).
    core_radius_um : float
        Core radius a (µm).
    core_sigma_S_m, outer_sigma_S_m : tuple of float
        (σ_radial, σ_z) of the core and of the medium around it (S/m).
    radius_um, length_um : float
        The grounded cylinder (φ = 0 at rho = R, z = 0 and z = L), µm.
    rho_s_ohm_m2 : float, optional
        Sheet resistance of the thin layer at rho = a (0: none).
    n_max, m_max : int, optional
        Angular and axial modes kept (m_max default: k_m up to 60 / (rho0 − a)); n_max = 0 is a ring source.
    side : {"inside", "outside"}, optional
        Points inside the core (rho < a) or between it and the source radius (a < rho < rho0).

    Returns
    -------
    ndarray
        Potential (mV), shaped like the broadcast field points.
    """
    a, r0, big_r, length = (v * 1e-6 for v in (core_radius_um, source_rho_um, radius_um, length_um))
    rho = np.asarray(rho_um, float) * 1e-6
    th, z = np.broadcast_arrays(np.asarray(theta, float), np.asarray(z_um, float) * 1e-6)
    rho = np.broadcast_to(rho, th.shape)
    (s1r, s1z), (s2r, s2z) = core_sigma_S_m, outer_sigma_S_m
    if m_max is None:
        m_max = int(np.ceil(60 / (r0 - a) * length / np.pi))
    k = np.arange(1, m_max + 1) * np.pi / length
    k1, k2 = k * np.sqrt(s1z / s1r), k * np.sqrt(s2z / s2r)
    z0 = source_z_um * 1e-6
    total = np.zeros(th.shape)
    for n in range(n_max + 1):
        q = 1e-3 * (1 if n == 0 else 2) * np.sin(k * z0) / (np.pi * length * r0)  # flux jump at rho0 (A/m^2 per mode)
        di1 = _dive(n, k1 * a) / ive(n, k1 * a)  # I_n'(k1 a)/I_n(k1 a)
        ia = _i_ratio(n, k2 * a, k2 * r0)  # I_n(k2 a)/I_n(k2 r0)
        dia = _dive(n, k2 * a) / ive(n, k2 * r0) * np.exp(k2 * (a - r0))  # I_n'(k2 a)/I_n(k2 r0)
        dka = _dkve(n, k2 * a) / kve(n, k2 * a)  # K_n'(k2 a)/K_n(k2 a)
        k0a = _k_ratio(n, k2 * r0, k2 * a)  # K_n(k2 r0)/K_n(k2 a)
        dk0a = _dkve(n, k2 * r0) / kve(n, k2 * a) * np.exp(k2 * (a - r0))  # K_n'(k2 r0)/K_n(k2 a)
        di0 = _dive(n, k2 * r0) / ive(n, k2 * r0)  # I_n'(k2 r0)/I_n(k2 r0)
        # F(rho) = K(k2 rho)/K(k2 r0) - [I(k2 rho)/I(k2 R)] [K(k2 R)/K(k2 r0)] vanishes at R; F(r0), F'(r0)/k2:
        c_r = _i_ratio(n, k2 * r0, k2 * big_r) * _k_ratio(n, k2 * big_r, k2 * r0)
        f0 = 1 - c_r
        df0 = _dkve(n, k2 * r0) / kve(n, k2 * r0) - c_r * _dive(n, k2 * r0) / ive(n, k2 * r0)
        mat = np.zeros((len(k), 4, 4))
        rhs = np.zeros((len(k), 4))
        # unknowns A (core, I(k1 rho)/I(k1 a)), B (I(k2 rho)/I(k2 r0)), C (K(k2 rho)/K(k2 a)), D (F)
        mat[:, 0, 0] = 1 + rho_s_ohm_m2 * s1r * k1 * di1  # phi_out(a) = phi_in(a) + rho_s sigma1 dphi_in/drho
        mat[:, 0, 1], mat[:, 0, 2] = -ia, -1
        mat[:, 1, 0] = s1r * k1 * di1  # normal current continuous at a
        mat[:, 1, 1], mat[:, 1, 2] = -s2r * k2 * dia, -s2r * k2 * dka
        mat[:, 2, 1], mat[:, 2, 2], mat[:, 2, 3] = 1, k0a, -f0  # phi continuous at r0
        mat[:, 3, 1], mat[:, 3, 2], mat[:, 3, 3] = -s2r * k2 * di0, -s2r * k2 * dk0a, s2r * k2 * df0
        rhs[:, 3] = -q
        coef = np.linalg.solve(mat, rhs[..., None])[..., 0]
        if side == "inside":
            radial = coef[:, 0, None] * _i_ratio(n, np.outer(k1, rho.ravel()), (k1 * a)[:, None])
        else:
            radial = coef[:, 1, None] * _i_ratio(n, np.outer(k2, rho.ravel()), (k2 * r0)[:, None]) + \
                coef[:, 2, None] * _k_ratio(n, np.outer(k2, rho.ravel()), (k2 * a)[:, None])
        modes = radial * np.sin(np.outer(k, z.ravel()))
        total += (np.cos(n * (th - source_theta)).ravel() * modes.sum(axis=0)).reshape(th.shape)
    return total * 1e3
