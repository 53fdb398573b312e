"""Standard stimulation analyses: strength–duration, threshold curves, recruitment, kHz block.

Units: µm, ms, mA, S/m. Each analysis returns a small dataclass and has a ``plot_*`` function
(matplotlib, Agg) writing a figure file. Thresholds of independent cases run in parallel
threads (`nervesim.population`); unit-current potentials are computed once per
fibre–electrode pair and reused across waveforms.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import ParameterError
from .extracellular import Electrode, FilePotentials
from .fibre import Fibre, build_fibre
from .population import JobOutcome, ThresholdJob, find_thresholds
from .simulation import DEFAULT_DT_MS, IntracellularPulse, Stimulation
from .threshold import ThresholdSearchError
from .waveform import Waveform


def _thresholds(outcomes: list[JobOutcome]) -> np.ndarray:
    return np.array([o.result.threshold_mA if o.result is not None else np.nan for o in outcomes])


# --- strength-duration -------------------------------------------------------------------------

@dataclass(frozen=True)
class SDFit:
    """A strength–duration fit: I(w) = rheobase·(1 + chronaxie/w) (Weiss) or
    rheobase / (1 − exp(−w·ln2/chronaxie)) (Lapicque); rms_rel_error is its rms relative residual."""

    form: str
    rheobase_mA: float
    chronaxie_ms: float
    rms_rel_error: float

    def predict(self, width_ms: np.ndarray) -> np.ndarray:
        w = np.asarray(width_ms, float)
        if self.form == "weiss":
            return self.rheobase_mA * (1 + self.chronaxie_ms / w)
        return self.rheobase_mA / (1 - np.exp(-w * math.log(2) / self.chronaxie_ms))


@dataclass(frozen=True)
class SDCurve:
    widths_ms: np.ndarray
    thresholds_mA: np.ndarray
    weiss: SDFit
    lapicque: SDFit
    errors: tuple[str, ...] = ()

    @property
    def rheobase_mA(self) -> float:
        """Reported rheobase and chronaxie are the better-fitting form's."""
        return self.best.rheobase_mA

    @property
    def chronaxie_ms(self) -> float:
        return self.best.chronaxie_ms

    @property
    def best(self) -> SDFit:
        return min((self.weiss, self.lapicque), key=lambda f: f.rms_rel_error)


def _rel_weighted_scale(basis: np.ndarray, target: np.ndarray) -> float:
    """Least-squares scale s minimising Σ((s·basis − target)/target)²."""
    b = basis / target
    return float(np.sum(b) / np.sum(b * b))


def fit_weiss(widths_ms: np.ndarray, thresholds_mA: np.ndarray) -> SDFit:
    """Weiss's linear charge law, fitted by relative least squares (I = a + b/w)."""
    w, i = np.asarray(widths_ms, float), np.asarray(thresholds_mA, float)
    A = np.column_stack([1 / i, 1 / (w * i)])
    a, b = np.linalg.lstsq(A, np.ones_like(i), rcond=None)[0]
    fit = SDFit("weiss", a, b / a, 0.0)
    return SDFit("weiss", a, b / a, float(np.sqrt(np.mean((fit.predict(w) / i - 1) ** 2))))


def fit_lapicque(widths_ms: np.ndarray, thresholds_mA: np.ndarray) -> SDFit:
    """Lapicque's exponential law: golden-section search on log chronaxie, rheobase in closed form."""
    w, i = np.asarray(widths_ms, float), np.asarray(thresholds_mA, float)

    def fit_for(log_c: float) -> SDFit:
        c = math.exp(log_c)
        basis = 1 / (1 - np.exp(-w * math.log(2) / c))
        rh = _rel_weighted_scale(basis, i)
        return SDFit("lapicque", rh, c, float(np.sqrt(np.mean((rh * basis / i - 1) ** 2))))

    lo, hi = math.log(1e-4), math.log(1e3)
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    for _ in range(100):
        if fit_for(a).rms_rel_error < fit_for(b).rms_rel_error:
            hi, b = b, a
            a = hi - g * (hi - lo)
        else:
            lo, a = a, b
            b = lo + g * (hi - lo)
    return fit_for(0.5 * (lo + hi))


def strength_duration(model: str, diameter_um: float, electrode: Electrode | FilePotentials,
                      widths_ms: Sequence[float], *, pulse: str = "mono", polarity: str = "cathodic",
                      gap_ms: float = 0.0, n_nodes: int = 51, dt_ms: float = DEFAULT_DT_MS,
                      tolerance: float = 1e-3, threads: int | None = None) -> SDCurve:
    """Thresholds over pulse widths, with Weiss and Lapicque fits (rheobase, chronaxie)."""
    widths = np.array(sorted(float(w) for w in widths_ms))
    if len(widths) < 3:
        raise ParameterError("widths_ms", "widths_ms: give at least three pulse widths to fit rheobase and chronaxie")
    fibre = build_fibre(model, diameter_um, n_nodes)
    ve = electrode.potentials(fibre)
    jobs = [ThresholdJob(model, diameter_um, ve, Waveform.pulse(pulse, w, polarity, gap_ms), n_nodes, dt_ms,
                         tolerance=tolerance) for w in widths]
    outcomes = find_thresholds(jobs, threads)
    thr = _thresholds(outcomes)
    ok = np.isfinite(thr)
    if ok.sum() < 3:
        raise ThresholdSearchError("strength-duration: fewer than three widths gave a threshold: "
                                   + "; ".join(o.error for o in outcomes if o.error))
    return SDCurve(widths, thr, fit_weiss(widths[ok], thr[ok]), fit_lapicque(widths[ok], thr[ok]),
                   tuple(o.error for o in outcomes if o.error))


def plot_sd_curve(sd: SDCurve, filename: str, title: str = "") -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    w = np.geomspace(sd.widths_ms.min(), sd.widths_ms.max(), 200)
    ax.loglog(sd.widths_ms, sd.thresholds_mA, "ko", label="threshold")
    for fit, style in ((sd.weiss, "C0-"), (sd.lapicque, "C1--")):
        ax.loglog(w, fit.predict(w), style, label=f"{fit.form}: rheobase {fit.rheobase_mA:.4g} mA, "
                                                  f"chronaxie {fit.chronaxie_ms:.3g} ms")
    ax.set(xlabel="pulse width (ms)", ylabel="threshold (mA)", title=title or "strength-duration")
    ax.legend(fontsize=8)
    _save(fig, filename)


# --- threshold curves -------------------------------------------------------------------------

@dataclass(frozen=True)
class ThresholdCurve:
    parameter: str
    values: np.ndarray
    thresholds_mA: np.ndarray
    errors: tuple[str, ...] = ()


def threshold_vs_distance(model: str, diameter_um: float, distances_um: Sequence[float], waveform: Waveform,
                          sigma_S_m: float | Sequence[float] | str = 0.2, *, n_nodes: int = 51,
                          dt_ms: float = DEFAULT_DT_MS, tolerance: float = 1e-3,
                          threads: int | None = None) -> ThresholdCurve:
    """Point-source thresholds at transverse distances over the centre node."""
    fibre = build_fibre(model, diameter_um, n_nodes)
    z = fibre.node_z_um[fibre.centre_node]
    jobs = [ThresholdJob(model, diameter_um, Electrode.point(r, 0.0, z, sigma_S_m), waveform, n_nodes, dt_ms,
                         tolerance=tolerance) for r in distances_um]
    out = find_thresholds(jobs, threads)
    return ThresholdCurve("distance_um", np.array(distances_um, float), _thresholds(out),
                          tuple(o.error for o in out if o.error))


def threshold_vs_diameter(model: str, diameters_um: Sequence[float], distance_um: float, waveform: Waveform,
                          sigma_S_m: float | Sequence[float] | str = 0.2, *, n_nodes: int = 51,
                          dt_ms: float = DEFAULT_DT_MS, tolerance: float = 1e-3,
                          threads: int | None = None) -> ThresholdCurve:
    """Point-source thresholds of fibres of several diameters, electrode over each centre node."""
    jobs = []
    for d in diameters_um:
        f = build_fibre(model, d, n_nodes)
        jobs.append(ThresholdJob(model, d, Electrode.point(distance_um, 0.0, f.node_z_um[f.centre_node], sigma_S_m),
                                 waveform, n_nodes, dt_ms, tolerance=tolerance))
    out = find_thresholds(jobs, threads)
    return ThresholdCurve("diameter_um", np.array(diameters_um, float), _thresholds(out),
                          tuple(o.error for o in out if o.error))


def plot_threshold_curve(curve: ThresholdCurve, filename: str, title: str = "") -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.semilogy(curve.values, curve.thresholds_mA, "o-")
    ax.set(xlabel=curve.parameter.replace("_um", " (um)"), ylabel="threshold (mA)", title=title)
    _save(fig, filename)


# --- recruitment ------------------------------------------------------------------------------

@dataclass(frozen=True)
class FibrePopulation:
    """Fibres of a nerve: axis positions (µm, in the electrode's frame), diameters (µm) and each
    fibre's node phase: the z of its first node relative to the electrode frame's origin."""

    x_um: np.ndarray
    y_um: np.ndarray
    diameter_um: np.ndarray
    z_offset_um: np.ndarray = field(default=None)  # type: ignore[assignment]

    @classmethod
    def uniform(cls, n: int, nerve_diameter_um: float, diameters_um: tuple[float, float], seed: int = 0,
                margin_um: float = 20.0) -> FibrePopulation:
        """``n`` fibres uniformly in a disc (nerve minus ``margin_um``), diameters uniform in a range,
        node phases uniform over one internode (set when the fibres are built)."""
        rng = np.random.default_rng(seed)
        r = (nerve_diameter_um / 2 - margin_um) * np.sqrt(rng.uniform(0, 1, n))
        phi = rng.uniform(0, 2 * np.pi, n)
        d = rng.uniform(diameters_um[0], diameters_um[1], n)
        return cls(r * np.cos(phi), r * np.sin(phi), d, rng.uniform(0, 1, n))


@dataclass(frozen=True)
class Recruitment:
    currents_mA: np.ndarray
    fraction: np.ndarray  # activated fraction at each current
    thresholds_mA: np.ndarray  # per fibre; NaN when the search failed (counted as not activated)
    population: FibrePopulation
    errors: tuple[str, ...] = ()


def recruitment(model: str, population: FibrePopulation, electrode: Electrode, waveform: Waveform,
                currents_mA: Sequence[float], *, n_nodes: int = 51, dt_ms: float = DEFAULT_DT_MS,
                tolerance: float = 1e-3, max_mA: float = 50.0, threads: int | None = None,
                progress=None) -> Recruitment:
    """Fraction of the population activated at each current (magnitude, mA).

    Each fibre runs along z through (x, y); its centre node sits at the electrode frame's z = 0
    shifted by its node phase (``z_offset_um`` × one internode).
    """
    jobs = []
    for i, d in enumerate(population.diameter_um):
        f = build_fibre(model, float(d), n_nodes)
        phase = 0.0 if population.z_offset_um is None else float(population.z_offset_um[i])
        deltax = f.geometry["deltax_um"]
        z0 = f.node_z_um[f.centre_node] - phase * deltax
        el = electrode.relative_to(float(population.x_um[i]), float(population.y_um[i]), -z0)
        jobs.append(ThresholdJob(model, float(d), el, waveform, n_nodes, dt_ms, tolerance=tolerance,
                                 max_mA=max_mA))  # potentials are computed in the worker threads
    out = find_thresholds(jobs, threads, progress)
    thr = _thresholds(out)
    cur = np.array(currents_mA, float)
    frac = np.array([np.mean(np.nan_to_num(thr, nan=np.inf) <= c) for c in cur])
    return Recruitment(cur, frac, thr, population, tuple(o.error for o in out if o.error))


def plot_recruitment(rec: Recruitment, filename: str, title: str = "") -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(rec.currents_mA, 100 * rec.fraction, "o-")
    ax[0].set(xlabel="current (mA)", ylabel="fibres activated (%)", ylim=(-2, 102), title=title or "recruitment")
    ok = np.isfinite(rec.thresholds_mA)
    sc = ax[1].scatter(rec.population.x_um[ok], rec.population.y_um[ok], c=np.log10(rec.thresholds_mA[ok]),
                       s=8 + 4 * rec.population.diameter_um[ok], cmap="viridis")
    ax[1].plot(rec.population.x_um[~ok], rec.population.y_um[~ok], "rx", label="no threshold")
    ax[1].set(xlabel="x (um)", ylabel="y (um)", aspect="equal", title="thresholds (size = diameter)")
    fig.colorbar(sc, ax=ax[1], label="log10 threshold (mA)")
    _save(fig, filename)


# --- kilohertz conduction block ---------------------------------------------------------------

@dataclass(frozen=True)
class BlockResult:
    """Block threshold: the smallest kHz amplitude (mA) at which the test AP does not get through.

    onset_firing : at the block threshold, whether the kHz stimulus itself made the fibre fire
        (APs at the detection node before the test AP); block is only declared when the test AP
        was launched and did not arrive, so onset or repetitive firing is never taken for block
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


def block_threshold(fibre: Fibre, electrode: Electrode, frequency_khz: float = 10.0, *,
                    test_delay_ms: float = 15.0, tstop_ms: float = 25.0, dt_ms: float = 0.005,
                    max_mA: float = 50.0, start_mA: float = 0.5, tolerance: float = 1e-2) -> BlockResult:
    """Smallest amplitude of a charge-balanced kHz biphasic train that blocks a test AP.

    The train runs from t = 0 to ``tstop_ms``; a test AP is launched by a 2 nA, 0.1 ms pulse into
    the first active node at ``test_delay_ms`` (after the onset response); block means no AP at
    the detection node (past the electrode) after the test AP was launched. An amplitude at which
    the fibre keeps firing (repetitive firing, not block) counts as not blocked.
    """
    f = float(frequency_khz)
    stim = _block_stimulation(fibre, electrode, f, test_delay_ms, tstop_ms, dt_ms)
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
    return BlockResult(hi, (lo, hi), f, first, onset_hi, runs, test_delay_ms, tstop_ms, dt_ms)


def _block_stimulation(fibre: Fibre, electrode: Electrode, frequency_khz: float, test_delay_ms: float,
                       tstop_ms: float, dt_ms: float) -> Stimulation:
    """A 50 % duty charge-balanced biphasic train at ``frequency_khz`` plus the test-AP pulse."""
    f = frequency_khz
    if not math.isfinite(f) or f <= 0:
        raise ParameterError("frequency_khz", f"frequency_khz={f}: must be positive")
    wave = Waveform.biphasic(0.5 / f, "cathodic").train(f * 1000.0, n_pulses=math.floor(tstop_ms * f + 1e-9))
    test = IntracellularPulse(fibre.passive_end_nodes, 2.0, test_delay_ms, 0.1)
    return Stimulation(fibre, electrode, wave, dt_ms=dt_ms, tstop_ms=tstop_ms, intracellular=test)


def plot_block(fibre: Fibre, electrode: Electrode, res: BlockResult, filename: str) -> None:
    """Vm near the test-AP source, under the electrode and past it, just below and at the block threshold."""
    plt = _pyplot()
    stim = _block_stimulation(fibre, electrode, res.frequency_khz, res.test_delay_ms, res.tstop_ms, res.dt_ms)
    nodes = [res.test_ap_node + 1, fibre.centre_node, fibre.detection_node]
    fig, ax = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    for a, amp, what in ((ax[0], res.bracket_mA[0], "not blocked"), (ax[1], res.bracket_mA[1], "blocked")):
        run = stim.run(amp, record_nodes=nodes)
        for row, n in zip(run.vm_mV, nodes):
            a.plot(run.t_ms, row, lw=0.8, label=f"node {n}")
        a.axvline(res.test_delay_ms, color="k", ls=":", lw=0.8)
        a.set(ylabel="Vm (mV)", title=f"{amp:.4g} mA at {res.frequency_khz:g} kHz: {what}")
    ax[0].legend(fontsize=7, loc="upper right")
    ax[1].set(xlabel="t (ms); dotted: test AP launched")
    _save(fig, filename)


# --- helpers ----------------------------------------------------------------------------------

def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, filename: str) -> None:
    fig.tight_layout()
    fig.savefig(filename, dpi=110)
    import matplotlib.pyplot as plt
    plt.close(fig)
