"""Stimulus waveforms: unit-amplitude, piecewise-constant phases, sampled on the time grid.

Monophasic, symmetric and asymmetric biphasic pulses, pulse trains, and arbitrary sampled
waveforms (arrays or CSV files); every phase edge must fall on the time grid.

Times in ms. A waveform's sign carries its polarity (−1 = cathodic: the electrode current
flows out of the tissue toward the electrode, i.e. a negative source current); the
stimulus amplitude (mA) is always a positive magnitude.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ParameterError

POLARITIES = ("cathodic", "anodic")


def _sign(polarity: str) -> float:
    if polarity not in POLARITIES:
        raise ParameterError("polarity", f"polarity={polarity!r}: choose 'cathodic' or 'anodic'")
    return -1.0 if polarity == "cathodic" else 1.0


def _nonneg(name: str, value: float, positive: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ParameterError(name,
                             f"{name}={value}: must be a finite {'positive' if positive else 'non-negative'} "
                             "time in ms")
    return value


@dataclass(frozen=True)
class Phase:
    """A rectangular phase of a `Waveform`.

    Parameters
    ----------
    start_ms : float
        Start time (ms, >= 0).
    width_ms : float
        Duration (ms, > 0).
    level : float
        Unitless, signed multiplier of the stimulus amplitude: -1 cathodic, +1 anodic at full
        amplitude.
    """

    start_ms: float
    width_ms: float
    level: float


@dataclass(frozen=True)
class Waveform:
    """A unit-amplitude stimulus waveform: non-overlapping rectangular phases, zero elsewhere.

    The stimulus current at time t is ``amplitude_mA * level(t)``, with ``amplitude_mA`` a
    positive magnitude; the sign of each phase's level sets its polarity (negative = cathodic).
    Build waveforms with the class methods (`monophasic`, `biphasic`, `asymmetric_biphasic`,
    `pulse`, `sampled`, `from_file`) and `train`.

    Parameters
    ----------
    phases : tuple of Phase
        The phases, each with start and width in ms and a signed unitless level.
    label : str, optional
        Human-readable description used in reports and figure titles.
    """

    phases: tuple[Phase, ...]
    label: str = ""

    @classmethod
    def monophasic(cls, width_ms: float, polarity: str = "cathodic", delay_ms: float = 0.0) -> Waveform:
        """One rectangular pulse.

        Parameters
        ----------
        width_ms : float
            Pulse width (ms, > 0).
        polarity : {'cathodic', 'anodic'}, optional
            Cathodic (level -1, default) or anodic (+1).
        delay_ms : float, optional
            Start of the pulse (ms, >= 0; default 0).

        Returns
        -------
        Waveform
            One phase of level -1 (cathodic) or +1 (anodic).

        Raises
        ------
        ParameterError
            For a width that is not finite and positive, a negative or non-finite delay, or an
            unknown polarity.
        """
        w = _nonneg("width_ms", width_ms, positive=True)
        d = _nonneg("delay_ms", delay_ms)
        return cls((Phase(d, w, _sign(polarity)),), f"monophasic {polarity} {w:g} ms")

    @classmethod
    def biphasic(cls, width_ms: float, polarity: str = "cathodic", gap_ms: float = 0.0,
                 delay_ms: float = 0.0) -> Waveform:
        """Symmetric, charge-balanced biphasic pulse.

        Parameters
        ----------
        width_ms : float
            Width of each phase (ms, > 0).
        polarity : {'cathodic', 'anodic'}, optional
            Polarity of the first phase (default cathodic); the second has the opposite sign.
        gap_ms : float, optional
            Interphase gap (ms, >= 0; default 0).
        delay_ms : float, optional
            Start of the first phase (ms, >= 0; default 0).

        Returns
        -------
        Waveform
            Two phases of levels -1/+1 (cathodic first) or +1/-1; net charge 0.

        Raises
        ------
        ParameterError
            For a width that is not finite and positive, a negative gap or delay, or an unknown
            polarity.
        """
        w = _nonneg("width_ms", width_ms, positive=True)
        g = _nonneg("gap_ms", gap_ms)
        d = _nonneg("delay_ms", delay_ms)
        s = _sign(polarity)
        return cls((Phase(d, w, s), Phase(d + w + g, w, -s)),
                   f"biphasic {polarity}-first {w:g} ms/phase, gap {g:g} ms")

    @classmethod
    def asymmetric_biphasic(cls, width_ms: float, ratio: float, polarity: str = "cathodic", gap_ms: float = 0.0,
                            delay_ms: float = 0.0) -> Waveform:
        """Asymmetric, charge-balanced biphasic pulse: the second phase is ``ratio`` times longer and weaker.

        Parameters
        ----------
        width_ms : float
            Width of the first phase (ms, > 0); the second lasts ``ratio * width_ms``.
        ratio : float
            Length ratio of the second phase to the first (>= 1); its level is ``1 / ratio``.
        polarity : {'cathodic', 'anodic'}, optional
            Polarity of the first phase (default cathodic).
        gap_ms : float, optional
            Interphase gap (ms, >= 0; default 0).
        delay_ms : float, optional
            Start of the first phase (ms, >= 0; default 0).

        Returns
        -------
        Waveform
            Two phases with net charge 0.

        Raises
        ------
        ParameterError
            For a ratio below 1 or not finite, or the errors of `biphasic`.
        """
        w = _nonneg("width_ms", width_ms, positive=True)
        r = float(ratio)
        if not math.isfinite(r) or r < 1:
            raise ParameterError("ratio", f"ratio={ratio}: the second phase must be at least as long (ratio >= 1)")
        if not math.isfinite(float(width_ms) * r):
            raise ParameterError("ratio", f"ratio={ratio:g}: the second phase ({width_ms:g} ms x {r:g}) overflows")
        g = _nonneg("gap_ms", gap_ms)
        d = _nonneg("delay_ms", delay_ms)
        s = _sign(polarity)
        return cls((Phase(d, w, s), Phase(d + w + g, w * r, -s / r)),
                   f"asymmetric biphasic {polarity}-first {w:g} ms, ratio {r:g}, gap {g:g} ms")

    @classmethod
    def pulse(cls, kind: str, width_ms: float, polarity: str = "cathodic", gap_ms: float = 0.0,
              ratio: float | None = None) -> Waveform:
        """A single pulse by name, as the CLI's ``--pulse`` chooses it.

        Parameters
        ----------
        kind : {'mono', 'biphasic', 'asymmetric'}
            `monophasic`, symmetric `biphasic` or `asymmetric_biphasic`.
        width_ms : float
            Width of the (first) phase (ms, > 0).
        polarity : {'cathodic', 'anodic'}, optional
            Polarity of the (first) phase (default cathodic).
        gap_ms : float, optional
            Interphase gap (ms, >= 0; default 0); must be 0 for ``mono``.
        ratio : float, optional
            Second-phase length ratio (>= 1); required for ``asymmetric``.

        Returns
        -------
        Waveform
            The pulse, starting at t = 0.

        Raises
        ------
        ParameterError
            For an unknown ``kind`` (parameter ``pulse``), a gap with ``mono``, a missing ratio
            with ``asymmetric``, or the errors of the constructor used.
        """
        if kind == "mono":
            if gap_ms:
                raise ParameterError("gap_ms", f"gap_ms={gap_ms}: a monophasic pulse has no interphase gap")
            return cls.monophasic(width_ms, polarity)
        if kind == "biphasic":
            return cls.biphasic(width_ms, polarity, gap_ms=gap_ms)
        if kind == "asymmetric":
            if ratio is None:
                raise ParameterError("ratio", "ratio: an asymmetric pulse needs the second phase's length ratio")
            return cls.asymmetric_biphasic(width_ms, ratio, polarity, gap_ms=gap_ms)
        raise ParameterError("pulse", f"pulse={kind!r}: choose mono, biphasic or asymmetric")

    @classmethod
    def sampled(cls, t_ms, values, label: str = "sampled") -> Waveform:
        """Arbitrary piecewise-constant waveform.

        Parameters
        ----------
        t_ms : array_like of float
            n + 1 strictly increasing times (ms, first >= 0); the last one ends the waveform.
        values : array_like of float
            n unitless, signed levels; ``values[i]`` holds from ``t_ms[i]`` to ``t_ms[i+1]``
            (negative = cathodic).
        label : str, optional
            Description for reports (default ``"sampled"``).

        Returns
        -------
        Waveform
            One phase per non-zero value.

        Raises
        ------
        ParameterError
            (parameter ``waveform``) for mismatched lengths, non-finite entries, a negative start
            or times that do not increase.
        """
        t = np.asarray(t_ms, dtype=float)
        v = np.asarray(values, dtype=float)
        if t.ndim != 1 or v.ndim != 1 or len(t) != len(v) + 1 or len(v) < 1:
            raise ParameterError("waveform", "sampled waveform: need n+1 times (ms) for n values")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(v))):
            raise ParameterError("waveform", "sampled waveform: times and values must be finite")
        if t[0] < 0 or np.any(np.diff(t) <= 0):
            raise ParameterError("waveform", "sampled waveform: times must start at >= 0 ms and increase strictly")
        if not np.any(v):
            raise ParameterError("waveform", "sampled waveform: every value is 0, so there is no stimulus")
        return cls(tuple(Phase(float(a), float(b - a), float(x)) for a, b, x in zip(t[:-1], t[1:], v) if x != 0),
                   label)

    @classmethod
    def from_file(cls, path: str | Path) -> Waveform:
        """Read a sampled waveform from a CSV file.

        Parameters
        ----------
        path : str or pathlib.Path
            CSV with the header ``t_ms,value`` and at least two rows: time (ms) and unitless
            signed level. Each value holds until the next row's time; the last row ends the
            waveform (its value is ignored, conventionally 0).

        Returns
        -------
        Waveform
            As `sampled`, labelled with the file name.

        Raises
        ------
        ParameterError
            (parameter ``waveform``) for a wrong header, fewer than two rows, or the errors of
            `sampled`.
        """
        with open(path, newline="") as fh:
            header = fh.readline().strip().replace(" ", "").split(",")
            if header != ["t_ms", "value"]:
                raise ParameterError("waveform",
                                     f"waveform file {path}: first line must be the header t_ms,value (got {header})")
            data = np.loadtxt(fh, delimiter=",", ndmin=2)
        if data.shape[1] != 2 or len(data) < 2:
            raise ParameterError("waveform", f"waveform file {path}: need >= 2 rows of t_ms,value")
        return cls.sampled(data[:, 0], data[:-1, 1], label=f"from {Path(path).name}")

    def train(self, frequency_hz: float, n_pulses: int | None = None, duration_ms: float | None = None, *,
              onset_grid_ms: float | None = None) -> Waveform:
        """This waveform repeated periodically.

        Parameters
        ----------
        frequency_hz : float
            Repetition frequency (Hz, > 0); the period 1000 / frequency_hz (ms) must hold one
            whole waveform.
        n_pulses : int, optional
            Number of repetitions (>= 1). Give exactly one of ``n_pulses`` and ``duration_ms``.
        duration_ms : float, optional
            Train duration (ms); the number of repetitions is the number of whole periods in it
            (at least 1).
        onset_grid_ms : float, optional
            Start the k-th copy at k periods rounded to a multiple of this (ms; usually the run's
            ``dt_ms``), for periods off the time grid such as 33.33 ms at 30 Hz: each onset moves
            by at most half of it and the error does not accumulate. Default: exact onsets.

        Returns
        -------
        Waveform
            The repeated phases, the k-th copy shifted by k periods (rounded as asked; the label
            says so).

        Raises
        ------
        ParameterError
            For a non-positive frequency, a period shorter than one waveform, both or neither of
            ``n_pulses`` and ``duration_ms``, or a non-positive ``n_pulses``.
        """
        f = float(frequency_hz)
        if not math.isfinite(f) or f <= 0:
            raise ParameterError("frequency_hz", f"frequency_hz={frequency_hz}: must be a finite positive frequency")
        period = 1000.0 / f
        if (n_pulses is None) == (duration_ms is None):
            raise ParameterError("n_pulses", "train: give exactly one of n_pulses or duration_ms")
        if n_pulses is None:
            n_pulses = max(1, math.floor(_nonneg("duration_ms", duration_ms) / period + 1e-9))
        if not isinstance(n_pulses, int) or n_pulses < 1:
            raise ParameterError("n_pulses", f"n_pulses={n_pulses}: must be a positive integer")
        start = min(p.start_ms for p in self.phases)
        if self.end_ms - start > period + 1e-12:
            raise ParameterError("frequency_hz", f"frequency_hz={f:g}: period {period:g} ms is shorter than one pulse "
                             f"({self.end_ms - start:g} ms)")
        shifts = [i * period for i in range(n_pulses)]
        label = f"{self.label} x{n_pulses} at {f:g} Hz"
        if onset_grid_ms is not None:
            grid = float(onset_grid_ms)
            if not math.isfinite(grid) or grid <= 0:
                raise ParameterError("onset_grid_ms", f"onset_grid_ms={onset_grid_ms}: must be a finite positive time "
                                                      "step (ms)")
            shifts = [round(s / grid) * grid for s in shifts]
            label += f", onsets on a {grid:g} ms grid"
        phases = tuple(Phase(p.start_ms + s, p.width_ms, p.level) for s in shifts for p in self.phases)
        return Waveform(phases, label)

    @property
    def end_ms(self) -> float:
        """Time (ms) at which the last phase ends."""
        return max(p.start_ms + p.width_ms for p in self.phases)

    def charge_per_phase(self, amplitude_mA: float = 1.0) -> list[float]:
        """Signed charge of each phase.

        Parameters
        ----------
        amplitude_mA : float, optional
            Stimulus amplitude (mA, a magnitude; default 1).

        Returns
        -------
        list of float
            Charge of each phase in µC (mA × ms), negative for cathodic phases.
        """
        return [amplitude_mA * p.level * p.width_ms for p in self.phases]

    def net_charge(self, amplitude_mA: float = 1.0) -> float:
        """Net charge of the waveform.

        Parameters
        ----------
        amplitude_mA : float, optional
            Stimulus amplitude (mA, a magnitude; default 1).

        Returns
        -------
        float
            Sum of the phase charges in µC (mA × ms); 0 for a charge-balanced waveform.
        """
        return math.fsum(self.charge_per_phase(amplitude_mA))

    def sample(self, dt_ms: float, n_steps: int) -> np.ndarray:
        """The waveform on a time grid: the level applied during each step.

        Parameters
        ----------
        dt_ms : float
            Time step (ms).
        n_steps : int
            Number of steps; phases beyond ``n_steps * dt_ms`` are cut off.

        Returns
        -------
        numpy.ndarray
            ``n_steps`` unitless levels; entry n is the level during step n (t_n -> t_n + dt),
            i.e. the waveform at t_n = n·dt.

        Raises
        ------
        ParameterError
            (parameter ``time_grid``) if a phase edge is not a multiple of ``dt_ms``: edges are
            never rounded.
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
        raise ParameterError("time_grid", f"{what} at {t_ms:g} ms is not a multiple of dt_ms={dt_ms:g}: "
                         f"choose a dt that divides every pulse width, gap and delay (for a train whose "
                         f"period is off the grid, pass onset_grid_ms=dt_ms to train)")
    return int(i)
