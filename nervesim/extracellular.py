"""Extracellular potentials from point current sources in a homogeneous medium.

Coordinates in µm (fibre along z, at x = y = 0; z = 0 at the start of the first node),
conductivity in S/m, source current in mA, potentials in mV (per mA of stimulus amplitude).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .fibre import Fibre


def _check_finite_positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}={value}: must be a finite positive number")
    return value


@dataclass(frozen=True)
class Medium:
    """Homogeneous medium; isotropic when the three principal conductivities (S/m) are equal."""

    sigma_x: float
    sigma_y: float
    sigma_z: float

    def __post_init__(self) -> None:
        for name in ("sigma_x", "sigma_y", "sigma_z"):
            _check_finite_positive(name, getattr(self, name))

    @classmethod
    def isotropic(cls, sigma_S_m: float) -> Medium:
        return cls(sigma_S_m, sigma_S_m, sigma_S_m)


@dataclass(frozen=True)
class PointSource:
    """A point current source at (x_um, y_um, z_um) carrying ``weight`` × the stimulus current.

    A weight of +1 injects the stimulus current; a bipolar pair is two sources with weights
    −1 and +1.
    """

    x_um: float
    y_um: float
    z_um: float
    weight: float = 1.0

    def __post_init__(self) -> None:
        for name in ("x_um", "y_um", "z_um", "weight"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name}={getattr(self, name)}: must be finite")


@dataclass(frozen=True)
class Electrode:
    """Weighted point sources in a homogeneous medium."""

    sources: tuple[PointSource, ...]
    medium: Medium

    @classmethod
    def point(cls, x_um: float, y_um: float, z_um: float, sigma_S_m: float | Sequence[float]) -> Electrode:
        """A monopolar point source; ``sigma_S_m`` is one value or (σx, σy, σz)."""
        if np.ndim(sigma_S_m) == 0:
            medium = Medium.isotropic(float(sigma_S_m))
        else:
            if len(sigma_S_m) != 3:
                raise ValueError(f"sigma_S_m={sigma_S_m}: give one value or three (sx, sy, sz)")
            medium = Medium(*map(float, sigma_S_m))
        return cls((PointSource(x_um, y_um, z_um),), medium)

    def potentials(self, fibre: Fibre) -> np.ndarray:
        """Potential (mV) at each section centre for a stimulus of 1 mA.

        Raises ValueError if a source lies inside or on the fibre (within its outer radius).
        """
        m = self.medium
        ve = np.zeros(fibre.n_sections)
        radius = fibre.diameter_um / 2
        for s in self.sources:
            transverse = math.hypot(s.x_um, s.y_um)
            if transverse <= radius:
                raise ValueError(
                    f"electrode at x={s.x_um}, y={s.y_um} um is inside or on the fibre "
                    f"(outer radius {radius:g} um): move it to a transverse distance > {radius:g} um")
            dx = s.x_um * 1e-6
            dy = s.y_um * 1e-6
            dz = (s.z_um - fibre.z_um) * 1e-6
            denom = np.sqrt(m.sigma_y * m.sigma_z * dx * dx + m.sigma_x * m.sigma_z * dy * dy
                            + m.sigma_x * m.sigma_y * dz * dz)
            # V = I/(4π·sqrt(σyσz·Δx² + σxσz·Δy² + σxσy·Δz²)); isotropic: I/(4πσr). mA, S/m, m → mV.
            ve += s.weight / (4 * math.pi * denom)
        return ve
