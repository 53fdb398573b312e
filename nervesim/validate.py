"""Cross-validation of the Numba engine against NEURON over a grid of fibres, electrodes and pulses.

For every case both engines run the same fibre: Vm traces (5 ms for MRG, the model's default run
length otherwise; every node, every step) at a sub-threshold, a supra-threshold and the threshold
amplitude, and a threshold search with the same algorithm to 0.01 %; conduction velocity after an
intracellular pulse is compared per fibre. `compare_pyfibers` compares thresholds with PyFibers' own
models and search instead (an independent transcription). Units: µm, ms, mV, mA; velocities in m/s.
"""
from __future__ import annotations

import multiprocessing
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

from .extracellular import Electrode
from .fibre import build_fibre
from .model import available_models, load_model
from .simulation import DEFAULT_DT_MS, IntracellularPulse, Stimulation
from .threshold import search_threshold
from .waveform import Waveform

#: Fibre diameters (µm) of the full grid, per model (models not installed are left out).
C_FIBRE_DIAMETERS_UM = (0.5, 1.0, 2.0)
DIAMETERS_UM = {"mrg-interp": (2.0, 5.7, 10.0, 16.0), "mrg-discrete": (2.0, 5.7, 10.0, 16.0),
                "mrg-small": (1.5, 3.0), "sweeney": (5.0, 10.0, 16.0),
                **{m: C_FIBRE_DIAMETERS_UM for m in ("sundt", "rattay", "tigerholm", "schild94", "schild97",
                                                      "thio-autonomic", "thio-cutaneous")}}
#: Pulses of the full grid (names as `pulse` reads them).
PULSES = ("mono 0.1 ms", "mono 0.5 ms", "biphasic 0.1 ms")
#: Electrode-fibre distances (µm) of the full grid: myelinated fibres, and unmyelinated ones (whose
#: thresholds at 2 mm are tens of mA).
DISTANCES_UM = (500.0, 1000.0, 2000.0)
C_FIBRE_DISTANCES_UM = (100.0, 250.0, 500.0)
#: The quick grid: (model, diameter_um, pulse, distance_um) cases ...
QUICK_CASES = (("mrg-interp", 10.0, "mono 0.1 ms", 1000.0), ("mrg-discrete", 5.7, "biphasic 0.1 ms", 500.0),
               ("mrg-small", 3.0, "mono 0.5 ms", 2000.0))
#: ... and (model, diameter_um) conduction-velocity cases.
QUICK_CV = (("mrg-interp", 10.0), ("mrg-small", 1.5))
#: Conductivity (S/m) of the isotropic medium.
SIGMA_S_M = 0.2
#: Nodes of every myelinated fibre (unmyelinated ones: the model's default, 265 sections).
N_NODES = 51
#: Length (ms) of the compared Vm traces and of the CV runs of MRG fibres (others: the model's default tstop).
TRACE_MS = 5.0
#: Relative tolerance of both engines' threshold searches.
SEARCH_TOLERANCE = 1e-4
#: Pass criteria of `summary`: largest Vm difference (mV), relative threshold and CV differences. Both engines
#: solve the same equations, so the searches take identical decisions (threshold difference 0) and what is
#: left is rounding: at most 1.3e-4 mV (at 3.4 mA, where Vm reaches thousands of mV in magnitude) and 2.4e-13
#: in CV over the full grid (experiments/results/validate_full_dt0.005.txt). The targets leave an order of
#: magnitude or more.
TARGETS = {"max_dvm_mV": 1e-3, "threshold_rel": 1e-9, "cv_rel": 1e-9}


def pulse(name: str) -> Waveform:
    """The waveform of a pulse name of the grid.

    Parameters
    ----------
    name : str
        ``"<mono|biphasic> <width> ms"``, e.g. ``"mono 0.1 ms"`` (cathodic; biphasic without gap).

    Returns
    -------
    Waveform
        The cathodic(-first) pulse starting at t = 0.
    """
    kind, width, _ = name.split()
    w = float(width)
    return Waveform.monophasic(w) if kind == "mono" else Waveform.biphasic(w)


@dataclass(frozen=True)
class CaseComparison:
    """Both engines on one case (fibre, pulse, distance).

    Attributes
    ----------
    model : str
        Fibre model name.
    diameter_um : float
        Fibre diameter (µm).
    pulse : str
        Pulse name, as `pulse` reads it.
    distance_um : float
        Distance of the point electrode from the fibre, over the centre node (µm).
    threshold_numba_mA, threshold_neuron_mA : float
        Thresholds (mA) found by the same search to `SEARCH_TOLERANCE` with each engine.
    threshold_rel_diff : float
        ``|numba - neuron| / neuron`` of the thresholds.
    max_dvm_mV : float
        Largest absolute Vm difference (mV) over every node and step of the sub-threshold (0.9×),
        supra-threshold (1.1×) and threshold runs.
    worst_trace : str
        Which of ``"sub"``, ``"supra"``, ``"threshold"`` had ``max_dvm_mV``.
    runs_numba, runs_neuron : int
        Simulations each search ran.
    """

    model: str
    diameter_um: float
    pulse: str
    distance_um: float
    threshold_numba_mA: float
    threshold_neuron_mA: float
    threshold_rel_diff: float
    max_dvm_mV: float  # over the sub, supra and threshold traces
    worst_trace: str
    runs_numba: int
    runs_neuron: int


@dataclass(frozen=True)
class CVComparison:
    """Conduction velocity of both engines for one fibre.

    Attributes
    ----------
    model : str
        Fibre model name.
    diameter_um : float
        Fibre diameter (µm).
    cv_numba_m_s, cv_neuron_m_s : float
        Conduction velocity (m/s) from `conduction_velocity` with each engine.
    cv_rel_diff : float
        ``|numba - neuron| / neuron``.
    """

    model: str
    diameter_um: float
    cv_numba_m_s: float
    cv_neuron_m_s: float
    cv_rel_diff: float


def _engines(fibre, electrode, waveform, dt_ms, tstop_ms=None, intracellular=None):
    from .neuron import NeuronStimulation
    kw = dict(dt_ms=dt_ms, tstop_ms=tstop_ms, intracellular=intracellular)
    return Stimulation(fibre, electrode, waveform, **kw), NeuronStimulation(fibre, electrode, waveform, **kw)


def compare_case(model: str, diameter_um: float, pulse_name: str, distance_um: float,
                 dt_ms: float = DEFAULT_DT_MS, traces: bool = False) -> CaseComparison | tuple:
    """Run one case with both engines: threshold searches and Vm traces at 0.9, 1.1 and 1.0 × threshold.

    The fibre has `N_NODES` nodes; a point source in σ = `SIGMA_S_M` S/m sits ``distance_um``
    from it over the centre node. Traces last `TRACE_MS` ms and cover every node and step.

    Parameters
    ----------
    model : str
        Fibre model name (`nervesim.model.available_models`).
    diameter_um : float
        Fibre diameter (µm).
    pulse_name : str
        Pulse, as `pulse` reads it.
    distance_um : float
        Electrode-fibre distance (µm).
    dt_ms : float, optional
        Time step (ms; default `~nervesim.simulation.DEFAULT_DT_MS`).
    traces : bool, optional
        Also return both engines' results at the threshold amplitude (default False).

    Returns
    -------
    CaseComparison or tuple
        The comparison; with ``traces``, ``(comparison, (numba_result, neuron_result))`` where
        the results hold Vm (mV) at every node.
    """
    fibre = _fibre(model, diameter_um)
    el = Electrode.point(distance_um, 0.0, fibre.node_z_um[fibre.centre_node], SIGMA_S_M)
    ours, ref = _engines(fibre, el, pulse(pulse_name), dt_ms)
    t_ours = search_threshold(ours, tolerance=SEARCH_TOLERANCE)
    t_ref = search_threshold(ref, tolerance=SEARCH_TOLERANCE)
    ours, ref = _engines(fibre, el, pulse(pulse_name), dt_ms, tstop_ms=_trace_ms(fibre))
    nodes = range(fibre.n_nodes)
    worst, worst_name, kept = -1.0, "", None
    for name, factor in (("sub", 0.9), ("supra", 1.1), ("threshold", 1.0)):
        amp = factor * t_ref.threshold_mA
        a, b = ours.run(amp, record_nodes=nodes), ref.run(amp, record_nodes=nodes)
        dv = float(np.abs(a.vm_mV - b.vm_mV).max())
        if dv > worst:
            worst, worst_name = dv, name
        if name == "threshold":
            kept = (a, b)
    res = CaseComparison(model, diameter_um, pulse_name, distance_um, t_ours.threshold_mA, t_ref.threshold_mA,
                         abs(t_ours.threshold_mA - t_ref.threshold_mA) / t_ref.threshold_mA, worst, worst_name,
                         t_ours.n_runs, t_ref.n_runs)
    return (res, kept) if traces else res


def _fibre(model: str, diameter_um: float):
    m = load_model(model)
    return build_fibre(model, diameter_um, N_NODES if m.myelinated else None)


def _trace_ms(fibre) -> float | None:
    return TRACE_MS if fibre.double_cable else None  # None: the model's default run length


def conduction_velocity(result, fibre) -> float:
    """Conduction velocity between the nodes a quarter and three quarters along the fibre.

    Parameters
    ----------
    result : SimulationResult
        A run in which an AP travelled along the fibre.
    fibre : nervesim.fibre.Fibre
        The fibre of the run (N nodes).

    Returns
    -------
    float
        Distance (µm) between nodes int(0.25(N-1)) and int(0.75(N-1)) over the difference of their
        interpolated -30 mV crossing times (ms), in m/s.

    Raises
    ------
    RuntimeError
        If no AP crossed from the first of these nodes to the second.
    """
    a, b = int(0.25 * (fibre.n_nodes - 1)), int(0.75 * (fibre.n_nodes - 1))
    dt = result.crossing_ms[b] - result.crossing_ms[a]
    if not dt > 0:
        raise RuntimeError(f"no AP conducted from node {a} to node {b} in {fibre.model.name} {fibre.diameter_um} um")
    return (fibre.node_z_um[b] - fibre.node_z_um[a]) / dt / 1e3


def compare_cv(model: str, diameter_um: float, dt_ms: float = DEFAULT_DT_MS) -> CVComparison:
    """Conduction velocity of both engines after a 2 nA, 0.1 ms intracellular pulse into the first active node.

    Parameters
    ----------
    model : str
        Fibre model name.
    diameter_um : float
        Fibre diameter (µm); the fibre has `N_NODES` nodes.
    dt_ms : float, optional
        Time step (ms; default `~nervesim.simulation.DEFAULT_DT_MS`).

    Returns
    -------
    CVComparison
        Both velocities (m/s) and their relative difference.
    """
    fibre = _fibre(model, diameter_um)
    stim = IntracellularPulse(node=fibre.passive_end_nodes, amplitude_nA=2.0, delay_ms=0.0, duration_ms=0.1)
    ours, ref = _engines(fibre, None, None, dt_ms, tstop_ms=_trace_ms(fibre), intracellular=stim)
    cv_a, cv_b = conduction_velocity(ours.run(0.0), fibre), conduction_velocity(ref.run(0.0), fibre)
    return CVComparison(model, diameter_um, cv_a, cv_b, abs(cv_a - cv_b) / cv_b)


def grid(quick: bool, models: Iterable[str] | None = None) -> tuple[list[tuple], list[tuple]]:
    """The cases to compare.

    Parameters
    ----------
    quick : bool
        `QUICK_CASES` and `QUICK_CV` (3 + 2 cases) instead of the full grid (every model ×
        diameter × pulse × distance in ``DIAMETERS_UM``, `PULSES`, `DISTANCES_UM`).
    models : iterable of str, optional
        Full grid: only these models (default every installed one).

    Returns
    -------
    cases : list of tuple
        ``(model, diameter_um, pulse_name, distance_um)`` per threshold/trace case.
    cv_cases : list of tuple
        ``(model, diameter_um)`` per conduction-velocity case.
    """
    if quick:
        return list(QUICK_CASES), list(QUICK_CV)
    models = {m: ds for m, ds in DIAMETERS_UM.items() if m in available_models() and (models is None or m in models)}
    cases = [(m, d, p, r) for m, ds in models.items() for d in ds for p in PULSES for r in _distances(m)]
    return cases, [(m, d) for m, ds in models.items() for d in ds]


def _distances(model: str) -> tuple[float, ...]:
    return DISTANCES_UM if load_model(model).myelinated else C_FIBRE_DISTANCES_UM


def _case_job(args):
    return compare_case(*args)


def _cv_job(args):
    return compare_cv(*args)


def run_validation(quick: bool = False, dt_ms: float = DEFAULT_DT_MS, processes: int | None = None, progress=None,
                   models: Iterable[str] | None = None) -> tuple[list[CaseComparison], list[CVComparison]]:
    """Run the comparison grid in worker processes, each with its own NEURON.

    Parameters
    ----------
    quick : bool, optional
        Run the quick grid of `grid` (default False: the full grid).
    dt_ms : float, optional
        Time step of both engines (ms; default `~nervesim.simulation.DEFAULT_DT_MS`).
    processes : int, optional
        Worker processes (default: every core).
    progress : callable, optional
        Called as ``progress(done, total, comparison)`` after each case.
    models : iterable of str, optional
        Full grid: only these models.

    Returns
    -------
    cases : list of CaseComparison
        One per threshold/trace case, in grid order.
    cvs : list of CVComparison
        One per conduction-velocity case, in grid order.
    """
    cases, cvs = grid(quick, models)
    procs = processes or multiprocessing.cpu_count()
    ctx = multiprocessing.get_context("spawn")  # a fresh NEURON per worker
    with ctx.Pool(procs) as pool:
        out_cases = []
        for i, res in enumerate(pool.imap(_case_job, [c + (dt_ms,) for c in cases])):
            out_cases.append(res)
            if progress:
                progress(i + 1, len(cases) + len(cvs), res)
        out_cv = []
        for j, res in enumerate(pool.imap(_cv_job, [c + (dt_ms,) for c in cvs])):
            out_cv.append(res)
            if progress:
                progress(len(cases) + j + 1, len(cases) + len(cvs), res)
    return out_cases, out_cv


def summary(cases: Iterable[CaseComparison], cvs: Iterable[CVComparison]) -> dict:
    """Worst differences over a validation run and whether they meet `TARGETS`.

    Parameters
    ----------
    cases : iterable of CaseComparison
        Threshold/trace comparisons (at least one).
    cvs : iterable of CVComparison
        Conduction-velocity comparisons (at least one).

    Returns
    -------
    dict
        JSON-ready: case counts, ``max_dvm_mV`` (mV), ``max_threshold_rel_diff``,
        ``max_cv_rel_diff``, the worst case of each as a dict, the targets, and ``pass``.
    """
    cases, cvs = list(cases), list(cvs)
    worst_dv = max(cases, key=lambda c: c.max_dvm_mV)
    worst_thr = max(cases, key=lambda c: c.threshold_rel_diff)
    worst_cv = max(cvs, key=lambda c: c.cv_rel_diff)
    return {
        "n_cases": len(cases),
        "n_cv": len(cvs),
        "max_dvm_mV": worst_dv.max_dvm_mV,
        "max_threshold_rel_diff": worst_thr.threshold_rel_diff,
        "max_cv_rel_diff": worst_cv.cv_rel_diff,
        "worst_dvm_case": asdict(worst_dv),
        "worst_threshold_case": asdict(worst_thr),
        "worst_cv_case": asdict(worst_cv),
        "targets": TARGETS,
        "pass": bool(worst_dv.max_dvm_mV <= TARGETS["max_dvm_mV"]
                     and worst_thr.threshold_rel_diff <= TARGETS["threshold_rel"]
                     and worst_cv.cv_rel_diff <= TARGETS["cv_rel"]),
    }


#: PyFibers comparison: pulses (both polarities of each) and distances (µm) of the full grid.
PYFIBERS_PULSES = ("mono 0.1 ms", "mono 1 ms")
PYFIBERS_DISTANCES_UM = (250.0, 1000.0, 2000.0)
#: Relative threshold difference from PyFibers aimed at, and never to be exceeded (issue 10).
PYFIBERS_TARGET, PYFIBERS_LIMIT = 1e-3, 5e-3


@dataclass(frozen=True)
class PyFibersComparison:
    """nervesim's threshold against PyFibers' for one case (its own model, mechanisms and search).

    Attributes
    ----------
    model, diameter_um, pulse, polarity, distance_um
        The case: model name, fibre diameter (µm), pulse name (`pulse`), ``cathodic`` or ``anodic``,
        point source distance over the centre node (µm; σ = `SIGMA_S_M`).
    threshold_mA, threshold_pyfibers_mA : float
        Both thresholds (mA), each searched to `SEARCH_TOLERANCE`; PyFibers' is NaN if it raised.
    rel_diff : float
        ``|ours - PyFibers| / PyFibers`` (NaN if PyFibers raised).
    note : str
        PyFibers' error (e.g. its refusal of end excitation) or our flags, else empty.
    """

    model: str
    diameter_um: float
    pulse: str
    polarity: str
    distance_um: float
    threshold_mA: float
    threshold_pyfibers_mA: float
    rel_diff: float
    note: str


def pyfibers_grid(quick: bool, models: Iterable[str] | None = None) -> list[tuple]:
    """Cases of the PyFibers comparison.

    Parameters
    ----------
    quick : bool
        One case per model (its middle diameter, 0.1 ms cathodic, the middle distance); else every
        diameter of ``DIAMETERS_UM`` × ``PYFIBERS_DISTANCES_UM`` × `PYFIBERS_PULSES` × both polarities.
    models : iterable of str, optional
        Models to include (default every installed model of ``DIAMETERS_UM``).

    Returns
    -------
    list of tuple
        ``(model, diameter_um, pulse_name, polarity, distance_um)``.
    """
    chosen = [m for m in DIAMETERS_UM if m in available_models() and (models is None or m in models)]
    if quick:
        return [(m, DIAMETERS_UM[m][len(DIAMETERS_UM[m]) // 2], PYFIBERS_PULSES[0], "cathodic",
                 PYFIBERS_DISTANCES_UM[1] if load_model(m).myelinated else 250.0)
                for m in chosen]
    return [(m, d, p, pol, r) for m in chosen for d in DIAMETERS_UM[m] for p in PYFIBERS_PULSES
            for pol in ("cathodic", "anodic") for r in PYFIBERS_DISTANCES_UM]


def compare_pyfibers(cases: list[tuple], dt_ms: float = DEFAULT_DT_MS, progress=None) -> list[PyFibersComparison]:
    """Our thresholds against PyFibers' own on the same fibres (PyFibers' node count and passive ends).

    PyFibers runs in a child process (``nervesim.pyfibers_ref``), to the same tolerance, the same dt and our
    run length, with its early exit off (it counts slow near-threshold APs as failures) and bounds 0.7-1.3x
    our threshold (the answer does not depend on them beyond the tolerance).

    Parameters
    ----------
    cases : list of tuple
        From `pyfibers_grid`.
    dt_ms : float, optional
        Time step (ms).
    progress : callable, optional
        Called as ``progress(done, total, comparison)`` after each case.

    Returns
    -------
    list of PyFibersComparison
        In the order of ``cases``.
    """
    from .pyfibers_ref import PyFibersCase, pyfibers_thresholds

    out = []
    for i, (model, d, pulse_name, polarity, r) in enumerate(cases):
        fibre = _fibre(model, d)
        kind, width, _ = pulse_name.split()
        w = float(width)
        wave = Waveform.monophasic(w, polarity) if kind == "mono" else Waveform.biphasic(w, polarity)
        el = Electrode.point(0.0, r, fibre.node_z_um[fibre.centre_node], SIGMA_S_M)
        stim = Stimulation(fibre, el, wave, dt_ms=dt_ms)
        ours = search_threshold(stim, tolerance=SEARCH_TOLERANCE)
        sign = -1.0 if polarity == "cathodic" else 1.0
        phases = ((w, sign),) if kind == "mono" else ((w, sign), (w, -sign))
        ref = pyfibers_thresholds([PyFibersCase(
            model=model, diameter_um=d, n_nodes=fibre.n_nodes, x_um=0.0, y_um=r, waveform=phases, dt_ms=dt_ms,
            tstop_ms=stim.tstop_ms, sigma_S_m=SIGMA_S_M, tolerance=SEARCH_TOLERANCE, exit_t_shift_ms=None,
            stimamp_top_mA=1.3 * ours.threshold_mA, stimamp_bottom_mA=0.7 * ours.threshold_mA)])[0]
        thr = ref.threshold_mA if ref.error is None and ref.threshold_mA is not None else float("nan")
        res = PyFibersComparison(model, d, pulse_name, polarity, r, ours.threshold_mA, thr,
                                 abs(ours.threshold_mA - thr) / thr, ref.error or "; ".join(
                                     f.split(":")[0] for f in ours.flags))
        out.append(res)
        if progress:
            progress(i + 1, len(cases), res)
    return out


def plot(cases: list[CaseComparison], worst_traces, filename: str) -> None:
    """Figure of a validation run: worst case's Vm of both engines, thresholds and differences over the grid.

    Parameters
    ----------
    cases : list of CaseComparison
        The comparisons to plot.
    worst_traces : tuple
        ``((numba_result, neuron_result), comparison)`` of the case to overlay, the results
        recorded at every node (as `compare_case` returns them with ``traces=True``).
    filename : str
        Output image file; matplotlib picks the format from its extension.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (a, b), worst = worst_traces
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    c, d = a.fibre.centre_node, a.fibre.detection_node
    nodes = [c, (c + d) // 2, d]
    for n, color in zip(nodes, ("C0", "C1", "C2")):
        ax[0].plot(a.t_ms, a.vm_mV[n], color=color, lw=2, label=f"nervesim node {n}")
        ax[0].plot(b.t_ms, b.vm_mV[n], "k--", lw=1, label="NEURON" if n == nodes[0] else None)
    ax[0].set(xlabel="t (ms)", ylabel="Vm (mV)", xlim=(0, TRACE_MS),
              title=f"largest |dVm| case: {worst.model} {worst.diameter_um:g} um,\n{worst.pulse}, "
                    f"{worst.distance_um:g} um, at threshold")
    ax[0].legend(fontsize=7)
    thr_ref = np.array([c.threshold_neuron_mA for c in cases])
    thr = np.array([c.threshold_numba_mA for c in cases])
    ax[1].loglog(thr_ref, thr, "o", ms=4)
    lim = [thr_ref.min() / 1.5, thr_ref.max() * 1.5]
    ax[1].plot(lim, lim, "k-", lw=0.5)
    ax[1].set(xlabel="NEURON threshold (mA)", ylabel="nervesim threshold (mA)", title="thresholds over the grid")
    rel = np.array([c.threshold_rel_diff for c in cases])
    dv = np.array([c.max_dvm_mV for c in cases])
    ax[2].semilogy(np.arange(len(cases)), np.maximum(dv, 1e-16), "o", ms=4, label="max |dVm| (mV)")
    ax[2].semilogy(np.arange(len(cases)), np.maximum(rel, 1e-16), "s", ms=4, label="threshold rel. diff")
    ax[2].axhline(TARGETS["max_dvm_mV"], color="C0", lw=0.8, ls=":")
    ax[2].axhline(TARGETS["threshold_rel"], color="C1", lw=0.8, ls=":")
    ax[2].set(xlabel="case", title="differences (dotted: targets; 1e-16 = identical)")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(filename, dpi=110)
    plt.close(fig)
