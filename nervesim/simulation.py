"""Run one stimulation of a fibre and detect action potentials (NEURON APCount semantics).

Times in ms, potentials in mV, amplitudes in mA (positive magnitudes; polarity is the
waveform's).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .errors import ParameterError
from .extracellular import Electrode, FilePotentials
from .fibre import Fibre
from .solver import Circuit, simulate_batch, simulate_kernel
from .waveform import Waveform

AP_THRESHOLD_MV = -30.0
#: Steady-state pre-run before t = 0 (PyFibers: 40 steps of 5 ms from t = −200 ms).
PRERUN_DT_MS = 5.0
PRERUN_STEPS = 40
#: ASCENT/PyFibers time step; 0.005 ms (ModelDB) raises thresholds by about 1.3 % (experiments/convergence.py).
DEFAULT_DT_MS = 0.001
#: Early exit of a decided sub-threshold run: every node within this of its t = 0 potential ...
QUIET_MV = 5.0
#: ... and changing slower than this (mV/ms).
QUIET_MV_MS = 2.0


@dataclass(frozen=True)
class IntracellularPulse:
    """Current pulse injected into one node (nA), on for ``delay_ms ≤ t < delay_ms + duration_ms``."""

    node: int
    amplitude_nA: float
    delay_ms: float
    duration_ms: float


@dataclass(frozen=True)
class SimulationResult:
    """What one run produced.

    ap_times_ms : first −30 mV upward crossing at each node (step time, as APCount; NaN if none)
    ap_counts : APCount count at each node
    fired : an AP was counted at the detection node
    initiation_node : node whose crossing came first (interpolated in time), None without AP
    latency_ms : interpolated crossing time at the initiation node
    end_excitation : the AP started at a passive end node or its neighbour
    t_ms, vm_mV : recorded time grid and membrane potential (rows = `recorded_nodes`)
    """

    fibre: Fibre
    amplitude_mA: float
    dt_ms: float
    tstop_ms: float
    steps_run: int
    ap_times_ms: np.ndarray
    ap_counts: np.ndarray
    crossing_ms: np.ndarray = field(repr=False)
    recorded_nodes: tuple[int, ...] = ()
    vm_mV: np.ndarray | None = field(default=None, repr=False)

    @property
    def detection_node(self) -> int:
        return self.fibre.detection_node

    @property
    def fired(self) -> bool:
        return bool(self.ap_counts[self.detection_node] > 0)

    @property
    def initiation_node(self) -> int | None:
        if np.all(np.isnan(self.crossing_ms)):
            return None
        return int(np.nanargmin(self.crossing_ms))

    @property
    def latency_ms(self) -> float:
        node = self.initiation_node
        return math.nan if node is None else float(self.crossing_ms[node])

    @property
    def end_excitation(self) -> bool:
        node = self.initiation_node
        return node is not None and self.fibre.is_end_node(node)

    @property
    def t_ms(self) -> np.ndarray:
        return np.arange(self.vm_mV.shape[1]) * self.dt_ms if self.vm_mV is not None else np.empty(0)


class Stimulation:
    """A fibre, its unit-current potentials and a waveform on a fixed time grid, ready to run.

    Potentials, circuit arrays and waveform samples are computed once and reused for every
    amplitude (as a threshold search needs). ``parallel`` lets `run_many` spread amplitudes over
    the CPU cores; with False they run one after another (for callers that parallelise over
    fibres in threads themselves).
    """

    def __init__(self, fibre: Fibre, electrode: Electrode | FilePotentials | np.ndarray | None,
                 waveform: Waveform | None,
                 *, dt_ms: float = DEFAULT_DT_MS, tstop_ms: float | None = None,
                 intracellular: IntracellularPulse | None = None, parallel: bool = True) -> None:
        dt_ms = float(dt_ms)
        if not math.isfinite(dt_ms) or not 0 < dt_ms <= 0.1:
            raise ParameterError("dt_ms", f"dt_ms={dt_ms}: must be in (0, 0.1] ms")
        if tstop_ms is None:
            end = waveform.end_ms if waveform is not None else 0.0
            if intracellular is not None:
                end = max(end, intracellular.delay_ms + intracellular.duration_ms)
            tstop_ms = default_tstop_ms(end)
        tstop_ms = float(tstop_ms)
        if not math.isfinite(tstop_ms) or tstop_ms <= 0:
            raise ParameterError("tstop_ms", f"tstop_ms={tstop_ms}: must be a finite positive time")
        if waveform is not None and waveform.end_ms > tstop_ms + 1e-9:
            raise ParameterError("tstop_ms",
                                 f"tstop_ms={tstop_ms:g} ends before the waveform ({waveform.end_ms:g} ms): "
                             "increase tstop_ms")
        self.fibre = fibre
        self.dt_ms = dt_ms
        self.tstop_ms = tstop_ms
        self.n_steps = int(round(tstop_ms / dt_ms))
        if electrode is None:
            ve = np.zeros(fibre.n_sections)
        elif hasattr(electrode, "potentials"):
            ve = electrode.potentials(fibre)
        else:
            ve = np.asarray(electrode, dtype=float)
            if ve.shape != (fibre.n_sections,):
                raise ParameterError("potentials",
                                     f"potentials: expected {fibre.n_sections} values (one per section), "
                                     f"got {ve.shape}")
        if not np.all(np.isfinite(ve)):
            raise ParameterError("potentials", "potentials: contain non-finite values")
        self.ve_mV = ve
        self.wave = waveform.sample(dt_ms, self.n_steps) if waveform is not None else np.zeros(self.n_steps)
        self.intracellular = intracellular
        self.parallel = parallel
        self.circuit = Circuit.from_fibre(fibre)
        self.quiet_after_step = self._quiet_after_step()

    def _quiet_after_step(self) -> int:
        """First step at which every stimulus is over."""
        on = np.flatnonzero(self.wave)
        after = int(on[-1]) + 1 if on.size else 0
        ic = self.intracellular
        if ic is not None:
            after = max(after, int(math.ceil((ic.delay_ms + ic.duration_ms) / self.dt_ms)) + 1)
        return after

    def _kernel_args(self) -> tuple:
        c = self.circuit
        return (c.c_m_nF, c.g_pas_uS, c.e_pas_mV, c.c_my_nF, c.g_my_uS, c.c_o_nF, c.g_o_uS, c.g_axial_uS,
                c.active_idx, c.active_scale, c.mech_params, c.q10, c.v_init_mV)

    def run(self, amplitude_mA: float, *, record_nodes: Sequence[int] = (), early_exit: bool = False,
            ap_threshold_mV: float = AP_THRESHOLD_MV) -> SimulationResult:
        """Simulate at ``amplitude_mA`` (≥ 0) from rest; record Vm at ``record_nodes``.

        With ``early_exit`` the run ends as soon as its outcome is decided: when the detection node
        fires, or, once the stimulus is over, when every node is back within `QUIET_MV` of its
        starting potential and changing slower than `QUIET_MV_MS`.
        """
        return self._run(self.ve_mV, _check_amplitude(amplitude_mA), record_nodes, early_exit, ap_threshold_mV)

    def _run(self, ve_mV: np.ndarray, amplitude_mA: float, record_nodes: Sequence[int], early_exit: bool,
             ap_threshold_mV: float) -> SimulationResult:
        fib = self.fibre
        nodes = tuple(int(n) for n in record_nodes)
        for n in nodes:
            if not 0 <= n < fib.n_nodes:
                raise ParameterError("record_nodes", f"record node {n}: must be in 0..{fib.n_nodes - 1}")
        rec_idx = fib.node_sections[list(nodes)].astype(np.int64) if nodes else np.empty(0, np.int64)
        rec = np.empty((len(nodes), self.n_steps + 1))
        ic = self.intracellular
        if ic is None:
            stim = (-1, 0.0, 0.0, 0.0)
        else:
            stim = (int(fib.node_sections[ic.node]), float(ic.amplitude_nA), float(ic.delay_ms),
                    float(ic.duration_ms))
        t_first, t_cross = np.empty(fib.n_nodes), np.empty(fib.n_nodes)
        count = np.empty(fib.n_nodes, dtype=np.int64)
        steps = simulate_kernel(
            *self._kernel_args(), ve_mV, self.wave, amplitude_mA, self.dt_ms, PRERUN_DT_MS, PRERUN_STEPS,
            *stim, self.circuit.node_idx, fib.detection_node, ap_threshold_mV, early_exit, self.quiet_after_step,
            QUIET_MV if early_exit else 0.0, QUIET_MV_MS, rec_idx, rec, t_first, t_cross, count)
        return SimulationResult(fibre=fib, amplitude_mA=amplitude_mA, dt_ms=self.dt_ms, tstop_ms=self.tstop_ms,
                                steps_run=int(steps), ap_times_ms=t_first, ap_counts=count, crossing_ms=t_cross,
                                recorded_nodes=nodes, vm_mV=rec[:, :steps + 1] if nodes else None)

    def run_many(self, amplitudes_mA: Sequence[float], *, early_exit: bool = True,
                 ap_threshold_mV: float = AP_THRESHOLD_MV,
                 potentials_mV: np.ndarray | None = None) -> list[SimulationResult]:
        """Run several amplitudes, in parallel over the CPU cores if ``parallel`` (no traces recorded).

        ``potentials_mV`` (one row of per-section potentials for 1 mA per amplitude) runs the same
        fibre geometry under a different electrode per member, e.g. many electrode positions.
        """
        amps = np.array([_check_amplitude(a) for a in amplitudes_mA])
        fib, m = self.fibre, len(amps)
        ve = np.repeat(self.ve_mV[None, :], m, 0) if potentials_mV is None else np.asarray(potentials_mV, float)
        if ve.shape != (m, fib.n_sections) or not np.all(np.isfinite(ve)):
            raise ParameterError("potentials_mV", f"potentials_mV: need finite values of shape ({m}, {fib.n_sections})")
        if not self.parallel:
            return [self._run(row, a, (), early_exit, ap_threshold_mV) for row, a in zip(ve, amps)]
        if self.intracellular is not None:
            raise ParameterError("intracellular", "run_many: intracellular stimulation is supported by run() only")
        t_first, t_cross = np.empty((m, fib.n_nodes)), np.empty((m, fib.n_nodes))
        count = np.empty((m, fib.n_nodes), dtype=np.int64)
        steps = np.empty(m, dtype=np.int64)
        simulate_batch(*self._kernel_args(), np.ascontiguousarray(ve), self.wave, amps, self.dt_ms, PRERUN_DT_MS,
                       PRERUN_STEPS, self.circuit.node_idx, fib.detection_node, ap_threshold_mV, early_exit,
                       self.quiet_after_step, QUIET_MV if early_exit else 0.0, QUIET_MV_MS,
                       t_first, t_cross, count, steps)
        return [SimulationResult(fibre=fib, amplitude_mA=float(a), dt_ms=self.dt_ms, tstop_ms=self.tstop_ms,
                                 steps_run=int(steps[i]), ap_times_ms=t_first[i], ap_counts=count[i],
                                 crossing_ms=t_cross[i]) for i, a in enumerate(amps)]


def _check_amplitude(amplitude_mA: float) -> float:
    amplitude_mA = float(amplitude_mA)
    if not math.isfinite(amplitude_mA) or amplitude_mA < 0:
        raise ParameterError("amplitude_mA", f"amplitude_mA={amplitude_mA}: must be a finite magnitude >= 0")
    return amplitude_mA


def default_tstop_ms(stimulus_end_ms: float) -> float:
    """Default run length: the stimulus plus 5 ms for the AP to reach the detection node."""
    return stimulus_end_ms + 5.0


def simulate(fibre: Fibre, electrode: Electrode | FilePotentials | np.ndarray | None, waveform: Waveform | None,
             amplitude_mA: float, *, dt_ms: float = DEFAULT_DT_MS, tstop_ms: float | None = None,
             record_nodes: Sequence[int] = (), intracellular: IntracellularPulse | None = None) -> SimulationResult:
    """Simulate ``fibre`` under ``electrode`` driven by ``amplitude_mA`` × ``waveform``.

    ``electrode`` may also be an array of potentials (mV per mA, one per section).
    """
    stim = Stimulation(fibre, electrode, waveform, dt_ms=dt_ms, tstop_ms=tstop_ms, intracellular=intracellular)
    return stim.run(amplitude_mA, record_nodes=record_nodes)
