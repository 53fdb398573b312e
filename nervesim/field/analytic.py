"""Exact potentials for checking the finite-element field (volume-conductor.md §8).

`point_source_mV` is §8.2 (infinite homogeneous anisotropic medium). `grounded_cylinder_mV` is the
layered cylinder of §8.5 (anisotropic core of radius a inside a homogeneous medium, optional thin
resistive shell ρs at ρ = a, point source outside the core) but *bounded* like the FEM model: φ = 0 on
ρ = R and on z = 0, L. The Fourier integral of §8.4 becomes a sine series in z (k_m = mπ/L), and each
(n, m) mode is a 4x4 interface problem (core | a..ρ0 | ρ0..R); with R, L → ∞ it returns §8.5 (checked
in the tests against the reference values of §8.7). `EllipticLayer` is a z-invariant elliptic fascicle with a
thin resistive layer in a uniform transverse field (a series in elliptic coordinates).

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


class EllipticLayer:
    """An elliptic cylinder (conductivity σ_in, semi-axes a >= b along its own u, v axes) with a thin resistive
    layer ρs on its surface, in a medium σ_out with the uniform field E at infinity; everything independent of z.

    In elliptic coordinates u + iv = c cosh(μ + iν), c = √(a² − b²), the surface is μ0 = atanh(b/a) and
    φ_in = Σ A_n cosh nμ cos nν + B_n sinh nμ sin nν = Σ A_n Re T_n(ζ) + B_n Im T_n(ζ), ζ = (u + iv)/c (T_n the
    Chebyshev polynomials), φ_out = E·(u, v) + Σ e^{−nμ}(C_n cos nν + D_n sin nν), odd n only (the field is odd
    under (u, v) → −(u, v)). Normal current continuity holds mode by mode; the layer condition
    h(ν)(φ_in − φ_out) = −ρs σ_in ∂φ_in/∂μ (metric h = c√(sinh²μ0 + sin²ν), §2) couples the modes and is met by
    least squares at 8 × ``n_modes`` angles (its residual is reported as ``residual``). Only arithmetic, ``sqrt``
    and ``where`` touch the field points, so they may be ngsolve coordinates.

    Parameters
    ----------
    a_um, b_um : float
        Semi-axes (µm), a > b.
    sigma_in_S_m, sigma_out_S_m : float
        Transverse conductivities inside and outside (S/m).
    rho_s_ohm_m2 : float
        Sheet resistance of the layer (Ω·m²).
    field_mV_um : tuple of float
        (E_u, E_v): the potential far away is E_u u + E_v v (mV, u and v in µm).
    n_modes : int, optional
        Odd modes kept (n = 1, 3, ..., 2 n_modes − 1).
    """

    def __init__(self, a_um: float, b_um: float, sigma_in_S_m: float, sigma_out_S_m: float, rho_s_ohm_m2: float,
                 field_mV_um: tuple[float, float], n_modes: int = 25) -> None:
        self.a, self.b = float(a_um), float(b_um)
        self.c = np.sqrt(self.a**2 - self.b**2)
        self.mu0 = np.arctanh(self.b / self.a)
        self.sigma_in, self.sigma_out = sigma_in_S_m, sigma_out_S_m
        self.E = tuple(float(e) for e in field_mV_um)
        n = np.arange(1, 2 * n_modes, 2)
        self.n = n
        mu0, c, s_i, s_o = self.mu0, self.c, sigma_in_S_m, sigma_out_S_m
        layer = rho_s_ohm_m2 * s_i * 1e6  # ρs σ_in in µm
        nu = np.linspace(0, 2 * np.pi, 8 * n_modes, endpoint=False)
        h = c * np.sqrt(np.sinh(mu0) ** 2 + np.sin(nu) ** 2)
        cos, sin = np.cos(np.outer(nu, n)), np.sin(np.outer(nu, n))
        # unknowns: boundary values α_n = A_n cosh nμ0, β_n = B_n sinh nμ0; continuity of the normal current gives
        # the outside boundary values C_n e^{−nμ0} = (σ_out E c δ_n1 − σ_in n A_n sinh nμ0) / (σ_out n) (cos) and
        # D_n e^{−nμ0} = (σ_out E c δ_n1 − σ_in n B_n cosh nμ0) / (σ_out n) (sin)
        tanh, coth = np.tanh(n * mu0), 1 / np.tanh(n * mu0)
        first = (n == 1).astype(float)
        # φ_in − φ_out and ∂φ_in/∂μ at μ0, as (matrix on [α, β], constant)
        jump = np.hstack([cos * (1 + s_i * tanh / s_o), sin * (1 + s_i * coth / s_o)])
        jump_0 = -(self.E[0] * c * np.cosh(mu0) * np.cos(nu) + self.E[1] * c * np.sinh(mu0) * np.sin(nu)) \
            - cos @ (self.E[0] * c * np.sinh(mu0) * first) - sin @ (self.E[1] * c * np.cosh(mu0) * first)
        slope = np.hstack([cos * n * tanh, sin * n * coth])
        matrix = h[:, None] * jump + layer * slope
        coef, *_ = np.linalg.lstsq(matrix, -h * jump_0, rcond=None)
        self.residual = float(np.max(np.abs(matrix @ coef + h * jump_0)) / np.max(np.abs(h * jump_0)))
        self.alpha, self.beta = coef[:len(n)], coef[len(n):]
        self.gamma = (s_o * self.E[0] * c * np.sinh(mu0) * first - s_i * n * self.alpha * tanh) / (s_o * n)
        self.delta = (s_o * self.E[1] * c * np.cosh(mu0) * first - s_i * n * self.beta * coth) / (s_o * n)

    def inside_mV(self, u_um, v_um):
        """Potential inside the ellipse.

        Parameters
        ----------
        u_um, v_um : array_like or ngsolve.CoefficientFunction
            Points inside (µm, in the ellipse's frame: u along a).

        Returns
        -------
        ndarray or ngsolve.CoefficientFunction
            φ_in (mV); with ngsolve coordinates, ``Compile()`` it (the mode recursion shares subexpressions).
        """
        zr, zi = u_um / self.c, v_um / self.c
        t0r, t0i, t1r, t1i = 1.0 + 0 * zr, 0 * zr, zr, zi
        total, k = 0.0, 1
        for n, alpha, beta in zip(self.n, self.alpha, self.beta):
            while k < n:  # T_{k+1} = 2 ζ T_k − T_{k−1}
                t0r, t0i, t1r, t1i = t1r, t1i, 2 * (zr * t1r - zi * t1i) - t0r, 2 * (zr * t1i + zi * t1r) - t0i
                k += 1
            total = total + alpha / np.cosh(n * self.mu0) * t1r + beta / np.sinh(n * self.mu0) * t1i
        return total

    def outside_mV(self, u_um, v_um, sqrt=np.sqrt, where=lambda x, a, b: np.where(x > 0, a, b)):
        """Potential outside the ellipse.

        Parameters
        ----------
        u_um, v_um : array_like or ngsolve.CoefficientFunction
            Points outside (µm, in the ellipse's frame: u along a).
        sqrt, where : callable, optional
            Square root and ``where(x, a, b)`` (a where x > 0, else b) for the points' kind: numpy by default,
            ``ngsolve.sqrt`` and ``ngsolve.IfPos`` for ngsolve coordinates.

        Returns
        -------
        ndarray or ngsolve.CoefficientFunction
            φ_out (mV); with ngsolve coordinates, ``Compile()`` it.
        """
        zr, zi = u_um / self.c, v_um / self.c
        # q = e^{−(μ + iν)} = ζ (1 − √(1 − 1/ζ²)), principal root: |q| < 1 off the focal segment
        m2 = zr * zr + zi * zi
        wr, wi = 1 - (zr * zr - zi * zi) / (m2 * m2), 2 * zr * zi / (m2 * m2)  # 1 − 1/ζ²
        mod = sqrt(wr * wr + wi * wi)
        sr, si = sqrt((mod + wr) / 2), where(wi, 1.0, -1.0) * sqrt(where(mod - wr, (mod - wr) / 2, 0.0))
        qr, qi = zr * (1 - sr) + zi * si, zi * (1 - sr) - zr * si
        qr, qi = qr * np.exp(self.mu0), qi * np.exp(self.mu0)  # q e^{μ0}: modulus <= 1 outside
        q2r, q2i = qr * qr - qi * qi, 2 * qr * qi
        pr, pi = qr, qi
        total = self.E[0] * u_um + self.E[1] * v_um
        for gamma, delta in zip(self.gamma, self.delta):
            total = total + gamma * pr - delta * pi  # e^{−nμ} cos nν = Re q^n, e^{−nμ} sin nν = −Im q^n
            pr, pi = pr * q2r - pi * q2i, pr * q2i + pi * q2r
        return total

    def normal_current_A_m2(self, nu):
        """Outward normal current density through the layer, −σ_in ∂φ_in/∂n (∂n = h ∂μ).

        Parameters
        ----------
        nu : array_like
            Elliptic angles ν of the surface points (a cos ν, b sin ν) (rad).

        Returns
        -------
        ndarray
            A/m².
        """
        nu = np.asarray(nu, float)
        h = self.c * np.sqrt(np.sinh(self.mu0) ** 2 + np.sin(nu) ** 2)  # µm
        n = self.n
        d_mu = np.cos(np.outer(nu, n)) @ (n * self.alpha * np.tanh(n * self.mu0)) + \
            np.sin(np.outer(nu, n)) @ (n * self.beta / np.tanh(n * self.mu0))  # mV
        return -self.sigma_in * d_mu / h * 1e3  # S/m × mV/µm = 1e3 A/m²
