"""Cross-validation of the Numba engine against NEURON over a grid of fibres, electrodes and pulses.

For every case both engines run the same fibre: Vm traces (5 ms, every node, every step) at a
sub-threshold, a supra-threshold and the threshold amplitude, and a threshold search with the same
algorithm to 0.01 %; conduction velocity after an intracellular pulse is compared per fibre.
Units: µm, ms, mV, mA; velocities in m/s.
"""
from __future__ import annotations

import multiprocessing
from dataclasses import asdict, dataclass
from typing import Iterable

import numpy as np

from .extracellular import Electrode
from .fibre import build_fibre
from .simulation import DEFAULT_DT_MS, IntracellularPulse, Stimulation
from .threshold import search_threshold
from .waveform import Waveform

DIAMETERS_UM = {"mrg-interp": (2.0, 5.7, 10.0, 16.0), "mrg-discrete": (2.0, 5.7, 10.0, 16.0),
                "mrg-small": (1.5, 3.0)}
PULSES = ("mono 0.1 ms", "mono 0.5 ms", "biphasic 0.1 ms")
DISTANCES_UM = (500.0, 1000.0, 2000.0)
QUICK_CASES = (("mrg-interp", 10.0, "mono 0.1 ms", 1000.0), ("mrg-discrete", 5.7, "biphasic 0.1 ms", 500.0),
               ("mrg-small", 3.0, "mono 0.5 ms", 2000.0))
QUICK_CV = (("mrg-interp", 10.0), ("mrg-small", 1.5))
SIGMA_S_M = 0.2
N_NODES = 51
TRACE_MS = 5.0
SEARCH_TOLERANCE = 1e-4
TARGETS = {"max_dvm_mV": 0.01, "threshold_rel": 5e-4, "cv_rel": 5e-3}


def pulse(name: str) -> Waveform:
    kind, width, _ = name.split()
    w = float(width)
    return Waveform.monophasic(w) if kind == "mono" else Waveform.biphasic(w)


@dataclass(frozen=True)
class CaseComparison:
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
    """Compare one case; with ``traces`` also return both engines' threshold-amplitude Vm."""
    fibre = build_fibre(model, diameter_um, N_NODES)
    el = Electrode.point(distance_um, 0.0, fibre.node_z_um[fibre.centre_node], SIGMA_S_M)
    ours, ref = _engines(fibre, el, pulse(pulse_name), dt_ms)
    t_ours = search_threshold(ours, tolerance=SEARCH_TOLERANCE)
    t_ref = search_threshold(ref, tolerance=SEARCH_TOLERANCE)
    ours, ref = _engines(fibre, el, pulse(pulse_name), dt_ms, tstop_ms=TRACE_MS)
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


def conduction_velocity(result, fibre) -> float:
    """CV (m/s) between nodes int(0.25(N−1)) and int(0.75(N−1)) from interpolated −30 mV crossings."""
    a, b = int(0.25 * (fibre.n_nodes - 1)), int(0.75 * (fibre.n_nodes - 1))
    dt = result.crossing_ms[b] - result.crossing_ms[a]
    if not dt > 0:
        raise RuntimeError(f"no AP conducted from node {a} to node {b} in {fibre.model.name} {fibre.diameter_um} um")
    return (fibre.node_z_um[b] - fibre.node_z_um[a]) / dt / 1e3


def compare_cv(model: str, diameter_um: float, dt_ms: float = DEFAULT_DT_MS) -> CVComparison:
    """CV of both engines after a 2 nA, 0.1 ms pulse into the first active node."""
    fibre = build_fibre(model, diameter_um, N_NODES)
    stim = IntracellularPulse(node=fibre.passive_end_nodes, amplitude_nA=2.0, delay_ms=0.0, duration_ms=0.1)
    ours, ref = _engines(fibre, None, None, dt_ms, tstop_ms=TRACE_MS, intracellular=stim)
    cv_a, cv_b = conduction_velocity(ours.run(0.0), fibre), conduction_velocity(ref.run(0.0), fibre)
    return CVComparison(model, diameter_um, cv_a, cv_b, abs(cv_a - cv_b) / cv_b)


def grid(quick: bool) -> tuple[list[tuple], list[tuple]]:
    if quick:
        return list(QUICK_CASES), list(QUICK_CV)
    cases = [(m, d, p, r) for m, ds in DIAMETERS_UM.items() for d in ds for p in PULSES for r in DISTANCES_UM]
    return cases, [(m, d) for m, ds in DIAMETERS_UM.items() for d in ds]


def _case_job(args):
    return compare_case(*args)


def _cv_job(args):
    return compare_cv(*args)


def run_validation(quick: bool = False, dt_ms: float = DEFAULT_DT_MS, processes: int | None = None,
                   progress=None) -> tuple[list[CaseComparison], list[CVComparison]]:
    """Run the grid on ``processes`` worker processes (default: every core), each with its own NEURON."""
    cases, cvs = grid(quick)
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


def plot(cases: list[CaseComparison], worst_traces, filename: str) -> None:
    """Worst case's Vm overlay (both engines) and threshold agreement over the grid."""
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
