"""Stimulus waveforms: unit-amplitude, piecewise-constant phases, sampled on the time grid.

Times in ms. A waveform's sign carries its polarity (−1 = cathodic: the electrode current
flows out of the tissue toward the electrode, i.e. a negative source current); the
stimulus amplitude (mA) is always a positive magnitude.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

POLARITIES = ("cathodic", "anodic")


def _sign(polarity: str) -> float:
    if polarity not in POLARITIES:
        raise ValueError(f"polarity={polarity!r}: choose 'cathodic' or 'anodic'")
    return -1.0 if polarity == "cathodic" else 1.0


def _nonneg(name: str, value: float, positive: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name}={value}: must be a finite {'positive' if positive else 'non-negative'} time in ms")
    return value


@dataclass(frozen=True)
class Phase:
    """A rectangular phase: ``level`` (unitless, signed) from ``start_ms`` for ``width_ms``."""

    start_ms: float
    width_ms: float
    level: float


@dataclass(frozen=True)
class Waveform:
    """A sequence of non-overlapping rectangular phases; zero elsewhere."""

    phases: tuple[Phase, ...]
    label: str = ""

    @classmethod
    def monophasic(cls, width_ms: float, polarity: str = "cathodic", delay_ms: float = 0.0) -> Waveform:
        """One rectangular pulse of ``width_ms``."""
        w = _nonneg("width_ms", width_ms, positive=True)
        d = _nonneg("delay_ms", delay_ms)
        return cls((Phase(d, w, _sign(polarity)),), f"monophasic {polarity} {w:g} ms")

    @classmethod
    def biphasic(cls, width_ms: float, polarity: str = "cathodic", gap_ms: float = 0.0,
                 delay_ms: float = 0.0) -> Waveform:
        """Symmetric charge-balanced biphasic pulse; ``width_ms`` per phase, ``polarity`` of the first."""
        w = _nonneg("width_ms", width_ms, positive=True)
        g = _nonneg("gap_ms", gap_ms)
        d = _nonneg("delay_ms", delay_ms)
        s = _sign(polarity)
        return cls((Phase(d, w, s), Phase(d + w + g, w, -s)),
                   f"biphasic {polarity}-first {w:g} ms/phase, gap {g:g} ms")

    @property
    def end_ms(self) -> float:
        return max(p.start_ms + p.width_ms for p in self.phases)

    def charge_per_phase(self, amplitude_mA: float = 1.0) -> list[float]:
        """Signed charge of each phase in µC (mA × ms)."""
        return [amplitude_mA * p.level * p.width_ms for p in self.phases]

    def sample(self, dt_ms: float, n_steps: int) -> np.ndarray:
        """Value applied during each step n (t_n → t_n + dt), i.e. the waveform at t_n = n·dt.

        Every phase edge must fall on the time grid; otherwise ValueError (no silent rounding).
        """
        out = np.zeros(n_steps)
        for p in self.phases:
            i0 = _grid_index("phase start", p.start_ms, dt_ms)
            i1 = _grid_index("phase end", p.start_ms + p.width_ms, dt_ms)
            out[i0:min(i1, n_steps)] += p.level
        return out


def _grid_index(what: str, t_ms: float, dt_ms: float) -> int:
    x = t_ms / dt_ms
    i = round(x)
    if abs(x - i) > 1e-6:
        raise ValueError(f"{what} at {t_ms:g} ms is not a multiple of dt_ms={dt_ms:g}: "
                         f"choose a dt that divides every pulse width, gap and delay")
    return int(i)
