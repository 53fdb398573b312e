"""Standard stimulation analyses: strength–duration, threshold curves, recruitment, kHz block.

Units: µm, ms, mA, S/m; amplitudes are positive magnitudes (the waveform carries the polarity:
cathodic = negative source current). Each analysis returns a small dataclass and has a ``plot_*``
function (matplotlib, Agg) writing a figure file. Every input is checked (`ParameterError`
naming the parameter) before any threshold is computed; thresholds of independent cases then
run in parallel threads (`nervesim.population`).
"""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .errors import ParameterError
from .extracellular import Electrode, FilePotentials
from .fibre import Fibre, build_fibre
from .population import JobOutcome, ThresholdJob, find_thresholds, prepare
from .simulation import DEFAULT_DT_MS, IntracellularPulse, Stimulation
from .threshold import ThresholdSearchError
from .waveform import Waveform


def _thresholds(outcomes: list[JobOutcome]) -> np.ndarray:
    return np.array([o.result.threshold_mA if o.result is not None else np.nan for o in outcomes])


def _values(name: str, values: Sequence[float], unit: str) -> np.ndarray:
    """``values`` as a non-empty 1-D array of finite numbers (ParameterError ``name`` otherwise)."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size == 0:
        raise ParameterError(name, f"{name}: give one or more values in {unit}")
    if not np.all(np.isfinite(v)):
        raise ParameterError(name, f"{name}: {v[~np.isfinite(v)][0]} is not a finite number of {unit}")
    return v


# --- strength-duration -------------------------------------------------------------------------

@dataclass(frozen=True)
class SDFit:
    """A strength–duration law fitted to thresholds.

    Attributes
    ----------
    form : str
        ``weiss``: I(w) = rheobase·(1 + chronaxie/w); ``lapicque``: I(w) = rheobase / (1 − 2^(−w/chronaxie)).
    rheobase_mA : float
        Threshold of an infinitely long pulse (mA).
    chronaxie_ms : float
        Width at which the threshold is twice the rheobase (ms).
    rms_rel_error : float
        Root-mean-square relative residual of the fit.
    """

    form: str
    rheobase_mA: float
    chronaxie_ms: float
    rms_rel_error: float

    def predict(self, width_ms: np.ndarray) -> np.ndarray:
        """The fitted threshold at given pulse widths.

        Parameters
        ----------
        width_ms : array_like
            Pulse widths (ms).

        Returns
        -------
        ndarray
            Threshold (mA) at each width.
        """
        w = np.asarray(width_ms, float)
        if self.form == "weiss":
            return self.rheobase_mA * (1 + self.chronaxie_ms / w)
        return self.rheobase_mA / (1 - np.exp(-w * math.log(2) / self.chronaxie_ms))


@dataclass(frozen=True)
class SDCurve:
    """Thresholds over pulse widths and both fits (`strength_duration`).

    Attributes
    ----------
    widths_ms, thresholds_mA : array
        Pulse widths (ms, increasing) and thresholds (mA; NaN where the search failed).
    weiss, lapicque : SDFit
        The two fits, over the widths with a threshold.
    errors : tuple of str
        Why a search failed, one entry per failed width.
    """

    widths_ms: np.ndarray
    thresholds_mA: np.ndarray
    weiss: SDFit
    lapicque: SDFit
    errors: tuple[str, ...] = ()

    @property
    def rheobase_mA(self) -> float:
        """Rheobase (mA) of the better-fitting form."""
        return self.best.rheobase_mA

    @property
    def chronaxie_ms(self) -> float:
        """Chronaxie (ms) of the better-fitting form."""
        return self.best.chronaxie_ms

    @property
    def best(self) -> SDFit:
        """The fit with the smaller rms relative error."""
        return min((self.weiss, self.lapicque), key=lambda f: f.rms_rel_error)


#: A chronaxie is taken as determined by the data only within this factor beyond the widths tried.
CHRONAXIE_RANGE_FACTOR = 1e3


def _sd_data(widths_ms, thresholds_mA) -> tuple[np.ndarray, np.ndarray]:
    """Checked (widths, thresholds): positive finite, same length, at least three distinct widths."""
    w, i = np.asarray(widths_ms, float), np.asarray(thresholds_mA, float)
    if w.ndim != 1 or w.shape != i.shape:
        raise ParameterError("thresholds_mA", f"thresholds_mA: need one threshold per width (got {i.shape} "
                             f"thresholds for {w.shape} widths)")
    if not np.all(np.isfinite(w) & (w > 0)):
        raise ParameterError("widths_ms", f"widths_ms: {w[~(np.isfinite(w) & (w > 0))][0]} is not a positive "
                             "pulse width in ms")
    if len(np.unique(w)) < 3:
        raise ParameterError("widths_ms", f"widths_ms: give at least three distinct pulse widths to fit rheobase "
                             f"and chronaxie (got {', '.join(f'{x:g}' for x in w)} ms)")
    if not np.all(np.isfinite(i) & (i > 0)):
        raise ParameterError("thresholds_mA", "thresholds_mA: every threshold must be a positive finite current")
    return w, i


def _identified(fit: SDFit, w: np.ndarray, i: np.ndarray) -> SDFit:
    """``fit``, unless the data do not determine it (thresholds that do not fall with width).

    Determined: a positive rheobase, a chronaxie inside the searched range, and a fitted curve that
    falls across the widths by more than its own rms residual (and than rounding).
    """
    lo, hi = w.min() / CHRONAXIE_RANGE_FACTOR, w.max() * CHRONAXIE_RANGE_FACTOR
    in_range = fit.rheobase_mA > 0 and lo * (1 + 1e-6) < fit.chronaxie_ms < hi * (1 - 1e-6)
    fall = fit.predict(w.min()) / fit.predict(w.max()) - 1 if in_range else 0.0
    if fall > max(fit.rms_rel_error, 1e-9):
        return fit
    pairs = ", ".join(f"{x:g} ms: {y:.4g} mA" for x, y in zip(w, i))
    raise ParameterError("thresholds_mA", f"thresholds ({pairs}) do not fall with pulse width as a strength-duration "
                         f"curve does, so the {fit.form} fit determines no chronaxie between {lo:g} and {hi:g} ms: "
                         "include widths near and below the chronaxie (for myelinated fibres 0.01-0.5 ms)")


def _rel_weighted_scale(basis: np.ndarray, target: np.ndarray) -> float:
    """Least-squares scale s minimising Σ((s·basis − target)/target)²."""
    b = basis / target
    return float(np.sum(b) / np.sum(b * b))


def fit_weiss(widths_ms: Sequence[float], thresholds_mA: Sequence[float]) -> SDFit:
    """Weiss's linear charge law I = a + b/w, fitted by relative least squares.

    Parameters
    ----------
    widths_ms : sequence of float
        Pulse widths (ms), at least three distinct.
    thresholds_mA : sequence of float
        Threshold (mA) at each width.

    Raises
    ------
    ParameterError
        (``widths_ms``, ``thresholds_mA``) for bad data, or thresholds that do not fall with
        width (no chronaxie within `CHRONAXIE_RANGE_FACTOR` of the widths).

    Returns
    -------
    SDFit
        Form ``weiss``.
    """
    w, i = _sd_data(widths_ms, thresholds_mA)
    A = np.column_stack([1 / i, 1 / (w * i)])
    a, b = np.linalg.lstsq(A, np.ones_like(i), rcond=None)[0]
    fit = SDFit("weiss", a, b / a, 0.0)
    return _identified(SDFit("weiss", a, b / a, float(np.sqrt(np.mean((fit.predict(w) / i - 1) ** 2)))), w, i)


def fit_lapicque(widths_ms: Sequence[float], thresholds_mA: Sequence[float]) -> SDFit:
    """Lapicque's exponential law: golden-section search on log chronaxie, rheobase in closed form.

    The chronaxie is searched within `CHRONAXIE_RANGE_FACTOR` of the widths; an optimum on that
    bound is refused.

    Parameters
    ----------
    widths_ms : sequence of float
        Pulse widths (ms), at least three distinct.
    thresholds_mA : sequence of float
        Threshold (mA) at each width.

    Returns
    -------
    SDFit
        Form ``lapicque``.

    Raises
    ------
    ParameterError
        As `fit_weiss`.
    """
    w, i = _sd_data(widths_ms, thresholds_mA)

    def fit_for(log_c: float) -> SDFit:
        c = math.exp(log_c)
        basis = 1 / (1 - np.exp(-w * math.log(2) / c))
        rh = _rel_weighted_scale(basis, i)
        return SDFit("lapicque", rh, c, float(np.sqrt(np.mean((rh * basis / i - 1) ** 2))))

    lo, hi = math.log(w.min() / CHRONAXIE_RANGE_FACTOR), math.log(w.max() * CHRONAXIE_RANGE_FACTOR)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    for _ in range(100):
        if fit_for(a).rms_rel_error < fit_for(b).rms_rel_error:
            hi, b = b, a
            a = hi - g * (hi - lo)
        else:
            lo, a = a, b
            b = lo + g * (hi - lo)
    return _identified(fit_for(0.5 * (lo + hi)), w, i)


def strength_duration(model: str, diameter_um: float, electrode: Electrode | FilePotentials,
                      widths_ms: Sequence[float], *, pulse: str = "mono", polarity: str = "cathodic",
                      gap_ms: float = 0.0, n_nodes: int | None = None, dt_ms: float = DEFAULT_DT_MS,
                      tolerance: float = 1e-3, max_mA: float = 1e3, threads: int | None = None,
                      fast: bool = False) -> SDCurve:
    """Thresholds over pulse widths, with Weiss and Lapicque fits (rheobase, chronaxie).

    Parameters
    ----------
    model : str
        Fibre model.
    diameter_um : float
        Fibre diameter (µm).
    electrode : Electrode or FilePotentials
        The stimulating electrode (potentials in mV per mA).
    widths_ms : sequence of float
        Pulse widths (ms, per phase if biphasic): at least three, all distinct, on the dt grid.
    pulse, polarity, gap_ms
        As `Waveform.pulse` (``polarity`` of the first phase; cathodic = negative source current).
    n_nodes, dt_ms, tolerance, max_mA, threads
        Nodes (None: the model's default), time step (ms), relative bracket width, largest amplitude tried (mA),
        worker threads.
    fast : bool
        The fast mode of `nervesim.Stimulation` (extracellular layers held at Ve).

    Returns
    -------
    SDCurve
        Thresholds and both fits.

    Raises
    ------
    ParameterError
        For bad input, before any threshold is computed; (``widths_ms``) also when the thresholds
        do not fall with width by more than 10 search tolerances (the widths lie far above the
        chronaxie, so no chronaxie can be fitted).
    ThresholdSearchError
        When fewer than three widths gave a threshold.
    """
    widths = _values("widths_ms", widths_ms, "ms")
    repeated = widths[np.flatnonzero(np.diff(np.sort(widths)) == 0)]
    if repeated.size:
        raise ParameterError("widths_ms", f"widths_ms: {repeated[0]:g} ms is given more than once; give at least "
                             "three distinct pulse widths")
    widths = np.sort(widths)
    _sd_data(widths, np.ones_like(widths))  # positive, at least three
    jobs = [ThresholdJob(model, diameter_um, electrode, Waveform.pulse(pulse, w, polarity, gap_ms), n_nodes, dt_ms,
                         tolerance=tolerance, max_mA=max_mA, fast=fast) for w in widths]
    for job in jobs:  # each width on the time grid, before any search (a few cheap set-ups)
        prepare(job)
    outcomes = find_thresholds(jobs, threads, warm_start=False)  # few points, one waveform each: cold
    thr = _thresholds(outcomes)
    ok = np.isfinite(thr)
    if ok.sum() < 3:
        raise ThresholdSearchError("strength-duration: fewer than three widths gave a threshold: "
                                   + "; ".join(o.error for o in outcomes if o.error))
    spread = thr[ok].max() / thr[ok].min() - 1
    if spread < 10 * tolerance:
        # Differences within a few search tolerances are bracket noise: any chronaxie fitted to them is arbitrary.
        raise ParameterError("widths_ms", f"widths_ms: thresholds vary by only {100 * spread:.2g} % over "
                             f"{widths[ok].min():g}-{widths[ok].max():g} ms, less than 10x the search tolerance "
                             f"{tolerance:g}, so they do not determine a chronaxie: include widths near and below "
                             "the chronaxie (0.01-0.5 ms for myelinated fibres) or lower the tolerance")
    try:
        fits = fit_weiss(widths[ok], thr[ok]), fit_lapicque(widths[ok], thr[ok])
    except ParameterError as exc:
        raise ParameterError("widths_ms", str(exc)) from None
    return SDCurve(widths, thr, *fits, tuple(o.error for o in outcomes if o.error))


def plot_sd_curve(sd: SDCurve, filename: str, title: str = "") -> None:
    """Plot thresholds and both fits against pulse width (log-log).

    Parameters
    ----------
    sd : SDCurve
        From `strength_duration`.
    filename : str or Path
        Figure file (png, pdf or svg).
    title : str
        What was computed (fibre, electrode, medium); wrapped to the figure's width.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    w = np.geomspace(sd.widths_ms.min(), sd.widths_ms.max(), 200)
    ax.loglog(sd.widths_ms, sd.thresholds_mA, "ko", label="threshold")
    for fit, style in ((sd.weiss, "C0-"), (sd.lapicque, "C1--")):
        ax.loglog(w, fit.predict(w), style, label=f"{fit.form}: rheobase {fit.rheobase_mA:.4g} mA, "
                                                  f"chronaxie {fit.chronaxie_ms:.3g} ms")
    ax.set(xlabel="pulse width (ms)", ylabel="threshold (mA)")
    _title(ax, title or "strength-duration")
    ax.legend(fontsize=8)
    _save(fig, filename)


# --- threshold curves -------------------------------------------------------------------------

@dataclass(frozen=True)
class ThresholdCurve:
    """Thresholds against one parameter.

    Attributes
    ----------
    parameter : str
        ``distance_um`` or ``diameter_um``.
    values : array
        The parameter's values (µm).
    thresholds_mA : array
        Threshold at each value (mA; NaN where the search failed).
    errors : tuple of str
        Why a search failed, one entry per failed value.
    """

    parameter: str
    values: np.ndarray
    thresholds_mA: np.ndarray
    errors: tuple[str, ...] = ()


def threshold_vs_distance(model: str, diameter_um: float, distances_um: Sequence[float], waveform: Waveform,
                          sigma_S_m: float | Sequence[float] | str = 0.2, *, n_nodes: int | None = None,
                          dt_ms: float = DEFAULT_DT_MS, tolerance: float = 1e-3, max_mA: float = 1e3,
                          threads: int | None = None, fast: bool = False) -> ThresholdCurve:
    """Thresholds of a point source over the centre node of one fibre, against its distance.

    Parameters
    ----------
    model : str
        Fibre model.
    diameter_um : float
        Fibre diameter (µm).
    distances_um : sequence of float
        Transverse distances (µm, along x) of the source from the fibre axis.
    waveform : Waveform
        Unit-amplitude waveform (cathodic = negative source current).
    sigma_S_m : float, sequence of 3 floats or str
        One conductivity (S/m), (σx, σy, σz) or a medium name.
    n_nodes, dt_ms, tolerance, max_mA, threads, fast
        As `strength_duration`.

    Returns
    -------
    ThresholdCurve
        Parameter ``distance_um``.

    Raises
    ------
    ParameterError
        For bad input (``distances_um`` for a source inside the fibre), before any threshold is computed.
    """
    distances = _values("distances_um", distances_um, "um")
    fibre = build_fibre(model, diameter_um, n_nodes)
    if np.any(np.abs(distances) <= diameter_um / 2):
        raise ParameterError("distances_um", f"distances_um: {distances[np.abs(distances) <= diameter_um / 2][0]:g} "
                             f"um puts the source inside the {diameter_um:g} um fibre: give distances beyond "
                             f"{diameter_um / 2:g} um")
    z = fibre.node_z_um[fibre.centre_node]
    jobs = [ThresholdJob(model, diameter_um, Electrode.point(r, 0.0, z, sigma_S_m), waveform, n_nodes, dt_ms,
                         tolerance=tolerance, max_mA=max_mA, fast=fast) for r in distances]
    out = find_thresholds(jobs, threads, warm_start=False)  # each point as `find_threshold` finds it
    return ThresholdCurve("distance_um", distances, _thresholds(out), tuple(o.error for o in out if o.error))


def threshold_vs_diameter(model: str, diameters_um: Sequence[float], distance_um: float, waveform: Waveform,
                          sigma_S_m: float | Sequence[float] | str = 0.2, *, n_nodes: int | None = None,
                          dt_ms: float = DEFAULT_DT_MS, tolerance: float = 1e-3, max_mA: float = 1e3,
                          threads: int | None = None, fast: bool = False) -> ThresholdCurve:
    """Thresholds of fibres of several diameters for a point source over each one's centre node.

    Parameters
    ----------
    model : str
        Fibre model.
    diameters_um : sequence of float
        Fibre diameters (µm).
    distance_um : float
        Transverse distance (µm) of the source from each fibre's axis.
    waveform, sigma_S_m, n_nodes, dt_ms, tolerance, max_mA, threads, fast
        As `threshold_vs_distance`.

    Returns
    -------
    ThresholdCurve
        Parameter ``diameter_um``.

    Raises
    ------
    ParameterError
        For bad input (``diameters_um`` for a diameter the model does not take), before any
        threshold is computed.
    """
    diameters = _values("diameters_um", diameters_um, "um")
    jobs = []
    for d in diameters:
        try:
            f = build_fibre(model, d, n_nodes)
        except ParameterError as exc:
            raise ParameterError("diameters_um" if exc.parameter == "diameter_um" else exc.parameter,
                                 str(exc)) from None
        jobs.append(ThresholdJob(model, d, Electrode.point(distance_um, 0.0, f.node_z_um[f.centre_node], sigma_S_m),
                                 waveform, n_nodes, dt_ms, tolerance=tolerance, max_mA=max_mA, fast=fast))
    out = find_thresholds(jobs, threads, warm_start=False)  # each point as `find_threshold` finds it
    return ThresholdCurve("diameter_um", diameters, _thresholds(out), tuple(o.error for o in out if o.error))


def plot_threshold_curve(curve: ThresholdCurve, filename: str, title: str = "") -> None:
    """Plot threshold (log) against the curve's parameter.

    Parameters
    ----------
    curve : ThresholdCurve
        From `threshold_vs_distance` or `threshold_vs_diameter`.
    filename : str or Path
        Figure file (png, pdf or svg).
    title : str
        Should name what was held fixed (diameter or distance) and the medium; wrapped to fit.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.semilogy(curve.values, curve.thresholds_mA, "o-")
    ax.set(xlabel=curve.parameter.replace("_um", " (um)"), ylabel="threshold (mA)")
    _title(ax, title)
    _save(fig, filename)


# --- recruitment ------------------------------------------------------------------------------

@dataclass(frozen=True)
class FibrePopulation:
    """Fibres of a nerve.

    Attributes
    ----------
    x_um, y_um : array
        Fibre axis positions (µm) in the electrode's frame (for a cuff: relative to the nerve axis).
    diameter_um : array
        Fibre diameters (µm).
    z_offset_um : array or None
        Each fibre's node phase in internodes (0-1): its centre node sits at the electrode frame's
        z = phase × internode; None for all 0.
    """

    x_um: np.ndarray
    y_um: np.ndarray
    diameter_um: np.ndarray
    z_offset_um: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        arrays = {name: np.asarray(getattr(self, name), float) for name in ("x_um", "y_um", "diameter_um")}
        if self.z_offset_um is not None:
            arrays["z_offset_um"] = np.asarray(self.z_offset_um, float)
        n = len(arrays["x_um"])
        for name, a in arrays.items():
            if a.shape != (n,) or n == 0:
                raise ParameterError(name, f"{name}: need one value per fibre (got {a.shape} for {n} fibres)")
            if not np.all(np.isfinite(a)):
                raise ParameterError(name, f"{name}: contains a non-finite value")
            object.__setattr__(self, name, a)
        if np.any(arrays["diameter_um"] <= 0):
            raise ParameterError("diameter_um", "diameter_um: every fibre diameter must be positive")

    @classmethod
    def join(cls, *populations: FibrePopulation) -> FibrePopulation:
        """One population of the fibres of several (e.g. myelinated and unmyelinated fibres of one nerve).

        Parameters
        ----------
        *populations : FibrePopulation
            In order; their fibres keep it.

        Returns
        -------
        FibrePopulation
            The fibres of every population in turn.
        """
        phases = [np.zeros(len(p.x_um)) if p.z_offset_um is None else p.z_offset_um for p in populations]
        return cls(np.concatenate([p.x_um for p in populations]), np.concatenate([p.y_um for p in populations]),
                   np.concatenate([p.diameter_um for p in populations]), np.concatenate(phases))

    @classmethod
    def uniform(cls, n: int, nerve_diameter_um: float, diameters_um: tuple[float, float], seed: int = 0,
                margin_um: float | None = None) -> FibrePopulation:
        """``n`` fibres uniformly in a round nerve, diameters uniform in a range, node phases uniform.

        Parameters
        ----------
        n : int
            Number of fibres, >= 1.
        nerve_diameter_um : float
            Nerve diameter (µm).
        diameters_um : (float, float)
            Fibre diameter range LO, HI (µm), 0 < LO <= HI.
        seed : int
            Random seed, >= 0.
        margin_um : float or None
            Distance (µm) kept between every fibre axis and the nerve boundary; default 20 µm, or the
            largest fibre radius if larger, so that every fibre lies wholly inside the nerve.

        Returns
        -------
        FibrePopulation
            Positions relative to the nerve axis.

        Raises
        ------
        ParameterError
            (``n``, ``diameters_um``, ``margin_um``, ``nerve_diameter_um``, ``seed``) for bad input.
        """
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ParameterError("n", f"n={n}: the number of fibres must be a positive integer")
        if len(diameters_um) != 2:
            raise ParameterError("diameters_um", f"diameters_um={tuple(diameters_um)}: give the range as LO, HI (um)")
        lo, hi = (float(d) for d in diameters_um)
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi):
            raise ParameterError("diameters_um", f"diameters_um=({lo:g}, {hi:g}): give LO, HI with 0 < LO <= HI um")
        margin = max(20.0, hi / 2) if margin_um is None else float(margin_um)
        if not math.isfinite(margin) or margin < hi / 2:
            raise ParameterError("margin_um", f"margin_um={margin:g}: fibres up to {hi:g} um would cross the nerve "
                                 f"boundary; use margin_um >= {hi / 2:g}")
        if not (math.isfinite(nerve_diameter_um) and nerve_diameter_um / 2 > margin):
            raise ParameterError("nerve_diameter_um", f"nerve_diameter_um={nerve_diameter_um:g}: must exceed twice "
                                 f"the {margin:g} um margin kept inside its boundary")
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ParameterError("seed", f"seed={seed}: the random seed must be a non-negative integer")
        rng = np.random.default_rng(seed)
        r = (nerve_diameter_um / 2 - margin) * np.sqrt(rng.uniform(0, 1, n))
        phi = rng.uniform(0, 2 * np.pi, n)
        d = rng.uniform(lo, hi, n)
        return cls(r * np.cos(phi), r * np.sin(phi), d, rng.uniform(0, 1, n))


@dataclass(frozen=True)
class Recruitment:
    """A population's thresholds and the fraction activated at given currents.

    Attributes
    ----------
    currents_mA : array
        Current magnitudes (mA).
    fraction : array
        Fraction of fibres activated at each current (threshold <= current).
    thresholds_mA : array
        Per fibre (mA); NaN when the search failed (counted as not activated).
    population : FibrePopulation
        The fibres.
    errors : tuple of str
        Why a search failed, one entry per failed fibre.
    """

    currents_mA: np.ndarray
    fraction: np.ndarray
    thresholds_mA: np.ndarray
    population: FibrePopulation
    errors: tuple[str, ...] = ()

    def fraction_at(self, currents_mA: Sequence[float]) -> np.ndarray:
        """Fraction of fibres activated at any currents, exact from the per-fibre thresholds.

        Parameters
        ----------
        currents_mA : sequence of float
            Current magnitudes (mA).

        Returns
        -------
        ndarray
            Fraction (0-1) at each current.
        """
        return activated_fraction(self.thresholds_mA, currents_mA)


def activated_fraction(thresholds_mA: np.ndarray, currents_mA: Sequence[float]) -> np.ndarray:
    """Fraction of fibres whose threshold is at most each current.

    Parameters
    ----------
    thresholds_mA : array_like
        Per fibre (mA); NaN where none was found (never activated).
    currents_mA : sequence of float
        Current magnitudes (mA).

    Returns
    -------
    ndarray
        Fraction (0-1) at each current.
    """
    thr = np.sort(np.nan_to_num(np.asarray(thresholds_mA, float), nan=np.inf))
    return np.searchsorted(thr, np.asarray(currents_mA, float), side="right") / len(thr)


def default_currents(thresholds_mA: np.ndarray, n: int = 40) -> np.ndarray:
    """Currents that show a recruitment curve's onset (0 %) and saturation.

    Parameters
    ----------
    thresholds_mA : array_like
        Per fibre (mA); NaN where none was found.
    n : int
        How many currents.

    Returns
    -------
    ndarray
        ``n`` log-spaced currents (mA) from 0.8 × the lowest to 1.25 × the highest finite
        threshold; empty when no fibre has a threshold.
    """
    thr = np.asarray(thresholds_mA, float)
    thr = thr[np.isfinite(thr)]
    if thr.size == 0:
        return np.array([], float)
    return np.geomspace(0.8 * thr.min(), 1.25 * thr.max(), n)


def recruitment(model: str | Sequence[str], population: FibrePopulation, electrode: Electrode, waveform: Waveform,
                currents_mA: Sequence[float] | None = None, *, n_nodes: int | None = None, dt_ms: float = DEFAULT_DT_MS,
                tolerance: float = 1e-3, max_mA: float = 50.0, threads: int | None = None,
                progress: Callable[[int, int], None] | None = None, warm_start: bool = True,
                fast: bool = False) -> Recruitment:
    """Fraction of the population activated at each current (magnitude, mA).

    Each fibre runs along z through (x, y); its centre node sits at the electrode frame's z = 0
    shifted by its node phase (``z_offset_um`` × its node spacing).

    Parameters
    ----------
    model : str or sequence of str
        Fibre model, or one per fibre: a mixed population (e.g. MRG and C fibres, `FibrePopulation.join`).
    population : FibrePopulation
        Fibre positions (µm), diameters (µm) and node phases.
    electrode : Electrode
        In the population's frame; a cuff (`Electrode.cuff`) refuses fibres outside its nerve. A finite-element
        field (`nervesim.field.Field.electrode`) with ``n_nodes`` None fits each fibre to its model
        (`nervesim.field.Field.fitted_fibre`).
    waveform : Waveform
        Unit-amplitude waveform (cathodic = negative source current).
    currents_mA : sequence of float or None
        Currents (mA) at which to report the fraction; None: `default_currents` of the thresholds.
    n_nodes, dt_ms, tolerance, max_mA, threads
        Nodes (None: each model's default, or fitted to a field's model), time step (ms), relative bracket
        width, largest amplitude tried (mA), threads.
    progress : callable or None
        ``progress(done, total)`` after each fibre.
    warm_start : bool
        Start each fibre's search from a threshold predicted from the fibres done before it (a fifth of the
        runs in a population of 1000; each threshold still within ``tolerance`` of a single-fibre search's,
        see `nervesim.population`); False: each fibre exactly as `nervesim.find_threshold`.
    fast : bool
        The fast mode of `nervesim.Stimulation` (extracellular layers held at Ve).

    Returns
    -------
    Recruitment
        Per-fibre thresholds and the fraction activated at each current.

    Raises
    ------
    ParameterError
        For bad input (including a fibre outside a cuff's nerve, named by its index), before any
        threshold is computed.
    """
    currents = None if currents_mA is None else _values("currents_mA", currents_mA, "mA")
    models = [model] * len(population.diameter_um) if isinstance(model, str) else list(model)
    if len(models) != len(population.diameter_um):
        raise ParameterError("model", f"model: need one model per fibre ({len(population.diameter_um)}), "
                                      f"got {len(models)}")
    jobs = []
    fit = n_nodes is None and hasattr(electrode, "fitted_fibre")  # a finite-element field: fibres fit its model
    for i, (name, d) in enumerate(zip(models, population.diameter_um)):
        try:
            f = electrode.fitted_fibre(name, float(d)) if fit else build_fibre(name, float(d), n_nodes)
        except ParameterError as exc:
            raise ParameterError(exc.parameter, f"fibre {i}: {exc}") from None
        phase = 0.0 if population.z_offset_um is None else float(population.z_offset_um[i])
        z0 = f.node_z_um[f.centre_node] - phase * f.node_spacing_um
        el = electrode.relative_to(float(population.x_um[i]), float(population.y_um[i]), -z0)
        try:
            el.check_fibre(float(d))
        except ParameterError as exc:
            raise ParameterError(exc.parameter, f"fibre {i}: {exc}") from None
        jobs.append(ThresholdJob(name, float(d), el, waveform, f.n_nodes if fit else n_nodes, dt_ms,
                                 tolerance=tolerance, max_mA=max_mA, fast=fast))
    out = find_thresholds(jobs, threads, progress, warm_start)
    thr = _thresholds(out)
    cur = default_currents(thr) if currents is None else currents
    return Recruitment(cur, activated_fraction(thr, cur), thr, population, tuple(o.error for o in out if o.error))


def plot_recruitment(rec: Recruitment, filename: str, title: str = "") -> None:
    """Plot the recruitment curve and a map of the thresholds over the fibre positions.

    The curve is exact from the per-fibre thresholds (log current axis), the reported currents marked.

    Parameters
    ----------
    rec : Recruitment
        From `recruitment`.
    filename : str or Path
        Figure file (png, pdf or svg).
    title : str
        What was computed (population, electrode, medium, waveform); wrapped to fit.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.5))
    ok = np.isfinite(rec.thresholds_mA)
    edges = np.concatenate([rec.currents_mA, rec.thresholds_mA[ok]])
    grid = np.geomspace(edges.min(), edges.max(), 2000) if edges.size else edges
    ax[0].plot(grid, 100 * rec.fraction_at(grid), "C0-", lw=1.2, label="from the fibre thresholds")
    ax[0].plot(rec.currents_mA, 100 * rec.fraction, "C0o", ms=3, label="reported currents")
    ax[0].set(xscale="log", xlabel="current (mA)", ylabel="fibres activated (%)", ylim=(-2, 102))
    ax[0].legend(fontsize=8, loc="upper left")
    _title(ax[0], title or "recruitment")
    sc = ax[1].scatter(rec.population.x_um[ok], rec.population.y_um[ok], c=np.log10(rec.thresholds_mA[ok]),
                       s=8 + 4 * rec.population.diameter_um[ok], cmap="viridis")
    if not ok.all():
        ax[1].plot(rec.population.x_um[~ok], rec.population.y_um[~ok], "rx", label="no threshold")
        ax[1].legend(fontsize=8)
    ax[1].set(xlabel="x (um)", ylabel="y (um)", aspect="equal", title="thresholds (size = diameter)")
    fig.colorbar(sc, ax=ax[1], label="log10 threshold (mA)")
    _save(fig, filename)


# --- kilohertz conduction block ---------------------------------------------------------------

@dataclass(frozen=True)
class BlockResult:
    """Block threshold: the smallest kHz amplitude (mA) at which the test AP does not get through.

    Attributes
    ----------
    block_threshold_mA : float
        Upper end of the final bracket (mA).
    bracket_mA : (float, float)
        (highest amplitude that did not block, lowest that blocked), mA.
    frequency_khz : float
        Train frequency (kHz).
    test_ap_node : int
        The node into which the test AP's current is injected.
    onset_firing : bool
        At the block threshold, whether the kHz stimulus itself made the fibre fire (APs at the
        detection node before the test AP); block is only declared when the test AP was launched
        and did not arrive, so onset or repetitive firing is never taken for block.
    n_runs : int
        Simulations run.
    test_delay_ms, tstop_ms, dt_ms : float
        Test-AP time, run length and time step (ms).
    tolerance : float
        Relative width of the final bracket that was asked for.
    fast : bool
        Whether the runs used the fast mode.
    """

    block_threshold_mA: float
    bracket_mA: tuple[float, float]
    frequency_khz: float
    test_ap_node: int
    onset_firing: bool
    n_runs: int
    test_delay_ms: float
    tstop_ms: float
    dt_ms: float
    tolerance: float
    fast: bool


def _block_outcome(stim: Stimulation, amp: float, test_ms: float, launch: int, det: int) -> tuple[bool, bool]:
    """(test AP blocked, fibre fired before the test AP) from −30 mV crossings at the launch-side
    node and at the detection node past the electrode."""
    res = stim.run(amp, record_nodes=[launch, det])
    v, t = res.vm_mV, res.t_ms
    times = [t[np.flatnonzero((row[1:] >= -30.0) & (row[:-1] < -30.0)) + 1] for row in v]
    if not np.any(times[0] >= test_ms):
        raise ThresholdSearchError(f"at {amp:.4g} mA the test AP was not launched (no AP at node {launch} after "
                                   f"{test_ms:g} ms): move the electrode away from the fibre's start")
    return not bool(np.any(times[1] >= test_ms)), bool(np.any(times[1] < test_ms))


def block_frequency_range_khz(dt_ms: float, test_delay_ms: float = 15.0) -> tuple[float, float]:
    """The range of train frequencies `block_threshold` takes.

    Highest: each phase (0.5/f ms) one time step. Lowest: one whole period before the test AP.
    In between, only frequencies whose phase is a whole number of steps, f = 0.5 / (k · dt_ms) kHz
    for whole k.

    Parameters
    ----------
    dt_ms : float
        Time step (ms).
    test_delay_ms : float
        Time of the test AP (ms).

    Returns
    -------
    lowest, highest : float
        Frequencies (kHz).
    """
    return 1.0 / test_delay_ms, 0.5 / dt_ms


def _check_block_frequency(f: float, dt_ms: float, test_delay_ms: float) -> float:
    """``f`` (kHz) if its train fits the time grid and the test-AP time, else ParameterError naming the fix."""
    if not (math.isfinite(f) and f > 0):
        raise ParameterError("frequency_khz", f"frequency_khz={f}: must be a positive frequency in kHz")
    lo, hi = block_frequency_range_khz(dt_ms, test_delay_ms)
    if not lo <= f <= hi * (1 + 1e-9):
        raise ParameterError("frequency_khz", f"frequency_khz={f:g}: must lie in {lo:.4g}-{hi:.4g} kHz at "
                             f"dt_ms={dt_ms:g} (each phase at least one step, a whole period before the test AP at "
                             f"{test_delay_ms:g} ms)")
    k = 0.5 / (f * dt_ms)  # steps per phase
    if abs(k - round(k)) > 1e-6 * k:
        near = sorted({0.5 / (j * dt_ms) for j in (math.floor(k), math.ceil(k)) if lo <= 0.5 / (j * dt_ms) <= hi})
        raise ParameterError("frequency_khz", f"frequency_khz={f:g}: each phase lasts 0.5/f = {0.5 / f:.4g} ms, not a "
                             f"whole number of dt_ms={dt_ms:g} ms steps; use {' or '.join(f'{x:.4g}' for x in near)} "
                             "kHz, or a dt that divides the phase")
    return f


def block_threshold(fibre: Fibre, electrode: Electrode, frequency_khz: float = 10.0, *,
                    test_delay_ms: float = 15.0, tstop_ms: float = 25.0, dt_ms: float = 0.005,
                    max_mA: float = 50.0, start_mA: float = 0.5, tolerance: float = 1e-2,
                    fast: bool = False) -> BlockResult:
    """Smallest amplitude of a charge-balanced kHz biphasic train that blocks a test AP.

    The train (cathodic first, each phase half a period) runs from t = 0 to ``tstop_ms``; a test
    AP is launched by a 2 nA, 0.1 ms pulse into the first active node at ``test_delay_ms`` (after
    the onset response); block means no AP at the detection node (past the electrode) after the
    test AP was launched. An amplitude at which the fibre keeps firing (repetitive firing, not
    block) counts as not blocked.

    Parameters
    ----------
    fibre : Fibre
        The fibre.
    electrode : Electrode
        Potentials in mV per mA.
    frequency_khz : float
        Train frequency (kHz); see `block_frequency_range_khz` for what the time grid allows.
    test_delay_ms, tstop_ms, dt_ms : float
        Test-AP time, run length, time step (ms).
    max_mA, start_mA : float
        Largest and first amplitude tried (mA).
    tolerance : float
        Relative width of the final bracket, in (0, 1).
    fast : bool
        The fast mode (`nervesim.Stimulation`); these runs are long (``tstop_ms`` of kHz stimulation).

    Returns
    -------
    BlockResult
        The block threshold, its bracket and whether the train itself made the fibre fire.

    Raises
    ------
    ParameterError
        For bad input (``frequency_khz`` off the time grid or out of range, ...), before any run.
    ThresholdSearchError
        No block up to ``max_mA``, or the test AP was not launched.
    """
    for name, value in (("test_delay_ms", test_delay_ms), ("tstop_ms", tstop_ms), ("dt_ms", dt_ms),
                        ("max_mA", max_mA), ("start_mA", start_mA)):
        if not (math.isfinite(value) and value > 0):
            raise ParameterError(name, f"{name}={value}: must be a finite positive number")
    if not (math.isfinite(tolerance) and 0 < tolerance < 1):
        raise ParameterError("tolerance", f"tolerance={tolerance}: must be a relative tolerance in (0, 1)")
    if not test_delay_ms + 0.1 < tstop_ms:
        raise ParameterError("tstop_ms", f"tstop_ms={tstop_ms:g}: must end after the test AP's pulse "
                             f"({test_delay_ms:g} + 0.1 ms) and leave it time to reach the detection node")
    if start_mA > max_mA:
        raise ParameterError("start_mA", f"start_mA={start_mA:g}: must not exceed max_mA={max_mA:g}")
    f = _check_block_frequency(float(frequency_khz), dt_ms, test_delay_ms)
    stim = _block_stimulation(fibre, electrode, f, test_delay_ms, tstop_ms, dt_ms, fast)
    first, det = fibre.passive_end_nodes, fibre.detection_node
    runs = 0
    lo, hi, amp, onset_hi = None, None, start_mA, False
    while True:  # bracket: lo does not block, hi blocks
        blocked, onset = _block_outcome(stim, amp, test_delay_ms, first + 1, det)
        runs += 1
        if blocked:
            hi, onset_hi = amp, onset
            if lo is not None:
                break
            amp /= 2
        else:
            lo = amp
            if hi is not None:
                break
            if amp >= max_mA:
                raise ThresholdSearchError(f"no conduction block up to max_mA={max_mA:g} mA at {f:g} kHz "
                                           "(the test AP always got through, or the fibre fired repetitively)")
            amp = min(2 * amp, max_mA)
        if amp < 1e-4:
            raise ThresholdSearchError("the test AP is blocked even at 0.1 uA: check the electrode and test node")
    while (hi - lo) / hi > tolerance:
        mid = 0.5 * (lo + hi)
        blocked, onset = _block_outcome(stim, mid, test_delay_ms, first + 1, det)
        runs += 1
        if blocked:
            hi, onset_hi = mid, onset
        else:
            lo = mid
    return BlockResult(hi, (lo, hi), f, first, onset_hi, runs, test_delay_ms, tstop_ms, dt_ms, tolerance, fast)


def _block_stimulation(fibre: Fibre, electrode: Electrode, frequency_khz: float, test_delay_ms: float,
                       tstop_ms: float, dt_ms: float, fast: bool) -> Stimulation:
    """The biphasic train at ``frequency_khz`` (phases of half a period each) plus the test-AP pulse."""
    f = frequency_khz
    wave = Waveform.biphasic(0.5 / f, "cathodic").train(f * 1000.0, n_pulses=math.floor(tstop_ms * f + 1e-9))
    test = IntracellularPulse(fibre.passive_end_nodes, 2.0, test_delay_ms, 0.1)
    return Stimulation(fibre, electrode, wave, dt_ms=dt_ms, tstop_ms=tstop_ms, intracellular=test, fast=fast)


def plot_block(fibre: Fibre, electrode: Electrode, res: BlockResult, filename: str, title: str = "") -> None:
    """Plot Vm near the test-AP source, under the electrode and past it, just below and at the block threshold.

    Parameters
    ----------
    fibre : Fibre
        The fibre of `block_threshold`.
    electrode : Electrode
        Its electrode.
    res : BlockResult
        Its result.
    filename : str or Path
        Figure file (png, pdf or svg).
    title : str
        Default: the fibre and the electrode with its medium.
    """
    plt = _pyplot()
    stim = _block_stimulation(fibre, electrode, res.frequency_khz, res.test_delay_ms, res.tstop_ms, res.dt_ms,
                              res.fast)
    nodes = [res.test_ap_node + 1, fibre.centre_node, fibre.detection_node]
    fig, ax = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for a, amp, what in ((ax[0], res.bracket_mA[0], "not blocked"), (ax[1], res.bracket_mA[1], "blocked")):
        run = stim.run(amp, record_nodes=nodes)
        for row, n in zip(run.vm_mV, nodes):
            a.plot(run.t_ms, row, lw=0.8, label=f"node {n}")
        a.axvline(res.test_delay_ms, color="k", ls=":", lw=0.8)
        a.set(ylabel="Vm (mV)")
        a.set_title(f"{amp:.4g} mA at {res.frequency_khz:g} kHz: {what}", fontsize=9)
    ax[0].legend(fontsize=7, loc="upper right")
    ax[1].set(xlabel="t (ms); dotted: test AP launched")
    where = getattr(electrode, "description", getattr(electrode, "source", ""))
    fig.suptitle(textwrap.fill(title or f"kHz block: {fibre.model.name} {fibre.diameter_um:g} um, {where}", 90),
                 fontsize=9)
    _save(fig, filename)


# --- helpers ----------------------------------------------------------------------------------

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _title(ax, title: str) -> None:
    """A title wrapped to the axes' width, so long descriptions are not cut off."""
    ax.set_title(textwrap.fill(title, 60), fontsize=9)


def _save(fig, filename: str) -> None:
    fig.tight_layout()
    fig.savefig(filename, dpi=110)
    import matplotlib.pyplot as plt
    plt.close(fig)
