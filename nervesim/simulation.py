"""Run one stimulation of a fibre and detect action potentials (NEURON APCount semantics).

Times in ms, potentials in mV, amplitudes in mA (positive magnitudes; polarity is the
waveform's).
"""
from __future__ import annotations

import functools
import math
import weakref
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import ParameterError
from .extracellular import Electrode, FilePotentials
from .fibre import Fibre
from .solver import Circuit, RunControl
from .waveform import Waveform

AP_THRESHOLD_MV = -30.0
#: Steady-state pre-run before t = 0 (PyFibers: 40 steps of 5 ms from t = −200 ms).
PRERUN_DT_MS = 5.0
PRERUN_STEPS = 40
#: Per fibre (weakly held) and mode (fast or not): [its Circuit, its rest state once a run has filled it], shared by
#: every Stimulation of the fibre, so that repeated searches, sweeps over electrodes or pulses, and a search's
#: extended runs build the cable and run the pre-run once. Fibres are read-only, so neither goes stale.
_SHARED: weakref.WeakKeyDictionary[Fibre, dict[bool, list]] = weakref.WeakKeyDictionary()
#: ASCENT/PyFibers time step; 0.005 ms (ModelDB) raises thresholds by about 1.3 % (experiments/convergence.py).
DEFAULT_DT_MS = 0.001
#: Early exit of a decided sub-threshold run: every node within this of its t = 0 potential ...
QUIET_MV = 5.0
#: ... and changing slower than this (mV/ms), ...
QUIET_MV_MS = 2.0
#: ... except that a node above its t = 0 potential and falling back toward it may also fall by its deviation
#: over this time constant (ms) faster: a decaying depolarisation is how a sub-threshold run ends, and MRG's
#: closest ones fall back with a time constant of ~0.3 ms, so waiting for < 2 mV/ms meant waiting until the
#: depolarisation was ~0.6 mV. A node rising from below (anode break) or swinging through rest still has to be
#: slower than `QUIET_MV_MS` ...
QUIET_DECAY_MS = 0.1
#: ... and none more than `QUIET_CREEP_MIN_MV` from it and moving away faster than this (mV/ms): a slow creep
#: toward threshold (Thio's C fibres creep ~5 mV above rest for ms before firing) is not a decayed response.
#: Thio's creep is still caught at 0.3 mV/ms; MRG's closest sub-threshold runs still end early at 0.05
#: (tests/test_threshold.py).
QUIET_CREEP_MV_MS = 0.05
#: Deviation (mV) below which moving away is not a creep: MRG's far nodes drift by hundredths of a mV at
#: ~0.1 mV/ms as the central depolarisation spreads along the fibre, which held runs 30-55 % longer.
QUIET_CREEP_MIN_MV = 0.5

#: Wall time of one compartment for one time step in the kernel (s). Measured on the 2-core development
#: machine: `Stimulation.run` (one thread, no AP, early exit off) of mrg-interp 10 um fibres of 11, 51 and
#: 201 nodes (111-2201 sections, 4000-20000 steps of 0.005 ms), best of 3: 23.8-24.5 ns.
SECTION_STEP_S = 25e-9
#: Per-run limits a `Stimulation` refuses to exceed without ``allow_large``. A threshold search runs ~20
#: runs, two at a time, so 10 s per run keeps it within 2-3 minutes; an ordinary run takes 0.015 s (README
#: quick start, dt 0.005 ms) to 1 s (1000 nodes, dt 0.001 ms). 1 GB is a small share of a laptop's memory,
#: and an ordinary run needs under 1 MB. (Within these limits a recording of every node stays below 0.3 GB.)
MAX_RUN_S = 10.0
#: Per-run memory limit (bytes), see `MAX_RUN_S`.
MAX_RUN_BYTES = 1e9
#: Bytes per section: ~12 float64 arrays of circuit and potentials, plus ~23 of solver workspace for each
#: of two concurrent runs (a threshold search runs two amplitudes at once).
SECTION_BYTES = 8 * (12 + 2 * 23)
#: What counts as an ordinary problem, to name the parameter that makes a run too large.
ORDINARY = {"n_nodes": 101, "dt_ms": DEFAULT_DT_MS, "duration_ms": 50.0}


@dataclass(frozen=True)
class IntracellularPulse:
    """Current pulse injected into one node, on while ``delay_ms ≤ t < delay_ms + duration_ms``.

    Attributes
    ----------
    node : int
        Node index (0 = first node).
    amplitude_nA : float
        Injected current (nA, positive depolarises).
    delay_ms, duration_ms : float
        Onset and length of the pulse (ms).
    """

    node: int
    amplitude_nA: float
    delay_ms: float
    duration_ms: float


@dataclass(frozen=True, repr=False)
class SimulationResult:
    """What one run produced.

    Attributes
    ----------
    fibre : Fibre
        The fibre that was run.
    amplitude_mA : float
        Stimulus magnitude (mA); the waveform carries the polarity.
    dt_ms, tstop_ms : float
        Time step and requested run length (ms).
    steps_run : int
        Steps actually run (fewer than tstop/dt after an early exit).
    ap_times_ms : ndarray
        First −30 mV upward crossing at each node, at the end of the step it happened in (as APCount);
        NaN if none.
    ap_counts : ndarray of int
        APCount count at each node.
    crossing_ms : ndarray
        The same crossings interpolated linearly within their step (ms; NaN if none).
    recorded_nodes : tuple of int
        Nodes whose membrane potential is in ``vm_mV``.
    vm_mV : ndarray or None
        Membrane potential (mV), one row per recorded node, one column per time in ``t_ms``.
    above_at_end : ndarray of bool or None
        Whether each node was above the AP threshold when the run ended.
    """

    fibre: Fibre
    amplitude_mA: float
    dt_ms: float
    tstop_ms: float
    steps_run: int
    ap_times_ms: np.ndarray
    ap_counts: np.ndarray
    crossing_ms: np.ndarray
    recorded_nodes: tuple[int, ...] = ()
    vm_mV: np.ndarray | None = None
    above_at_end: np.ndarray | None = None

    @property
    def detection_node(self) -> int:
        """Node whose APCount decides `fired` (int(0.9·(N−1)), as ASCENT/PyFibers)."""
        return self.fibre.detection_node

    @property
    def fired(self) -> bool:
        """An AP was counted at the detection node."""
        return bool(self.ap_counts[self.detection_node] > 0)

    @property
    def ap_in_transit(self) -> bool:
        """The run reached tstop with an AP under way (a node above threshold) that the detection node has
        not counted: it may still arrive, so the run is undecided, neither fired nor sub-threshold."""
        return (self.steps_run >= int(round(self.tstop_ms / self.dt_ms)) and self.above_at_end is not None
                and bool(self.above_at_end.any()) and not self.fired)

    @property
    def initiation_node(self) -> int | None:
        """Node whose interpolated crossing came first; None without any crossing."""
        crossed = np.flatnonzero(~np.isnan(self.crossing_ms))  # (nanargmin is ~4x slower; a search asks often)
        if crossed.size == 0:
            return None
        return int(crossed[np.argmin(self.crossing_ms[crossed])])

    @property
    def latency_ms(self) -> float:
        """Interpolated crossing time at the initiation node (ms; NaN without any crossing)."""
        node = self.initiation_node
        return math.nan if node is None else float(self.crossing_ms[node])

    @property
    def first_step_nodes(self) -> tuple[int, ...]:
        """Nodes that crossed −30 mV in the same time step as the initiation node (it included)."""
        node = self.initiation_node
        if node is None:
            return ()
        first = self.ap_times_ms[node]
        return tuple(int(n) for n in np.flatnonzero(np.abs(self.ap_times_ms - first) < 0.5 * self.dt_ms))

    @property
    def end_excitation(self) -> bool:
        """A passive end node or its neighbour crossed −30 mV in the same time step as the initiation node.

        Interpolated crossing times within one step cannot tell which of those nodes started the AP
        (PyFibers takes the step times and reports the end), so such a threshold may be the fibre's
        cut end's rather than the electrode's.
        """
        return any(self.fibre.is_end_node(n) for n in self.first_step_nodes)

    @property
    def t_ms(self) -> np.ndarray:
        """Times of the columns of ``vm_mV`` (ms; empty without recording)."""
        return np.arange(self.vm_mV.shape[1]) * self.dt_ms if self.vm_mV is not None else np.empty(0)

    def __repr__(self) -> str:
        vm = "None" if self.vm_mV is None else f"{self.vm_mV.shape[0]}x{self.vm_mV.shape[1]} array"
        return (f"SimulationResult(amplitude_mA={self.amplitude_mA:.6g}, fired={self.fired}, "
                f"initiation_node={self.initiation_node}, latency_ms={self.latency_ms:.4g}, "
                f"nodes={self.fibre.n_nodes}, steps_run={self.steps_run} of {int(round(self.tstop_ms / self.dt_ms))}, "
                f"dt_ms={self.dt_ms:g}, recorded_nodes={len(self.recorded_nodes)}, vm_mV={vm})")


class Stimulation:
    """A fibre, its unit-current potentials and a waveform on a fixed time grid, ready to run.

    Potentials, circuit arrays and waveform samples are computed once and reused for every
    amplitude (as a threshold search needs).

    Parameters
    ----------
    fibre : Fibre
        From `nervesim.build_fibre`.
    electrode : Electrode, FilePotentials, ndarray or None
        The source; an array gives the potential per section for a 1 mA source (mV); None: no
        extracellular stimulus.
    waveform : Waveform or None
        Unit waveform, sampled at t_n = n·dt. Its sign is the polarity: −1 = cathodic (negative source
        current). Amplitudes passed to `run` are magnitudes.
    dt_ms : float
        Time step, in (0, 0.1] ms (default 0.001 ms as ASCENT/PyFibers).
    tstop_ms : float, optional
        Run length (ms); default `default_tstop_ms` (for MRG the end of the waveform or intracellular
        pulse + 5 ms; longer for slowly conducting fibres).
    intracellular : IntracellularPulse, optional
        A current pulse into one node (for `run`; `run_many` refuses it in parallel mode).
    parallel : bool
        `run_many` spreads amplitudes over the CPU cores; with False they run one after another
        (for callers that parallelise over fibres in threads themselves).
    allow_large : bool
        Accept a problem whose estimated run exceeds `MAX_RUN_S` or `MAX_RUN_BYTES`.
    fast : bool
        Fast mode: NEURON's extracellular layers held at the extracellular potential (MRG's outer layer, both
        layers of a single cable; `nervesim.solver.Circuit`). Fewer µs per step; the errors measured by
        ``python -m benchmarks.models`` and tests/test_fast.py are in the README (Speed).
        Default: NEURON's exact system.

    Raises
    ------
    ParameterError
        For bad input, and, before anything is allocated, when one run would exceed the limits
        (naming ``n_nodes``, ``dt_ms``, ``tstop_ms`` or ``waveform``, whichever is furthest beyond an
        ordinary problem, with the estimate), unless ``allow_large``.
    """

    def __init__(self, fibre: Fibre, electrode: Electrode | FilePotentials | np.ndarray | None,
                 waveform: Waveform | None,
                 *, dt_ms: float = DEFAULT_DT_MS, tstop_ms: float | None = None,
                 intracellular: IntracellularPulse | None = None, parallel: bool = True,
                 allow_large: bool = False, fast: bool = False) -> None:
        dt_ms = float(dt_ms)
        if not math.isfinite(dt_ms) or not 0 < dt_ms <= 0.1:
            raise ParameterError("dt_ms", f"dt_ms={dt_ms}: must be in (0, 0.1] ms")
        stimulus_end = waveform.end_ms if waveform is not None else 0.0
        if intracellular is not None:
            stimulus_end = max(stimulus_end, intracellular.delay_ms + intracellular.duration_ms)
        explicit_tstop = tstop_ms is not None
        tstop_ms = float(tstop_ms) if explicit_tstop else default_tstop_ms(stimulus_end, fibre)
        if not math.isfinite(tstop_ms) or tstop_ms <= 0:
            raise ParameterError("tstop_ms", f"tstop_ms={tstop_ms}: must be a finite positive time")
        if waveform is not None and waveform.end_ms > tstop_ms + 1e-9:
            raise ParameterError("tstop_ms",
                                 f"tstop_ms={tstop_ms:g} ends before the waveform ({waveform.end_ms:g} ms): "
                                 "increase tstop_ms")
        self.n_steps = int(round(tstop_ms / dt_ms))
        if self.n_steps < 1:
            raise ParameterError("tstop_ms", f"tstop_ms={tstop_ms:g}: shorter than one time step of {dt_ms:g} ms")
        if intracellular is not None:
            _check_intracellular(intracellular, fibre.n_nodes)
        if not allow_large:
            # Name what made the run long: an explicit tstop beyond what the stimulus needs, else the stimulus.
            if (explicit_tstop and tstop_ms > default_tstop_ms(stimulus_end, fibre) + 1e-9) or stimulus_end == 0:
                duration = "tstop_ms"
            elif waveform is not None and waveform.end_ms >= stimulus_end:
                duration = "waveform"
            else:
                duration = "intracellular"
            check_run_size(fibre.n_nodes, fibre.n_sections, dt_ms, self.n_steps, duration)
        self.fibre = fibre
        self.dt_ms = dt_ms
        self.tstop_ms = tstop_ms
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
        self.waveform = waveform
        self.intracellular = intracellular
        self.allow_large = allow_large
        self.parallel = parallel
        self.fast = bool(fast)
        self._shared = _SHARED.setdefault(fibre, {}).setdefault(self.fast, [None, None])
        if self._shared[0] is None:
            self._shared[0] = Circuit.from_fibre(fibre, self.fast)
        self.circuit = self._shared[0]
        self._arrays = self.circuit.arrays()
        self.quiet_after_step = self._quiet_after_step()

    def with_tstop(self, tstop_ms: float) -> Stimulation:
        """The same stimulation run for ``tstop_ms`` (a search extends runs whose AP is still under way).

        Parameters
        ----------
        tstop_ms : float
            Run length (ms).

        Returns
        -------
        Stimulation
            Same fibre, potentials, waveform, dt and settings.
        """
        return Stimulation(self.fibre, self.ve_mV, self.waveform, dt_ms=self.dt_ms, tstop_ms=tstop_ms,
                           intracellular=self.intracellular, parallel=self.parallel, allow_large=self.allow_large,
                           fast=self.fast)

    def _quiet_after_step(self) -> int:
        """First step at which every stimulus is over."""
        on = np.flatnonzero(self.wave)
        after = int(on[-1]) + 1 if on.size else 0
        ic = self.intracellular
        if ic is not None:
            after = max(after, int(math.ceil((ic.delay_ms + ic.duration_ms) / self.dt_ms)) + 1)
        return after

    @functools.cached_property
    def _rest(self) -> tuple[np.ndarray, ...]:
        """Where every run starts: the fibre after the pre-run (`PRERUN_STEPS` steps of `PRERUN_DT_MS` without
        stimulus), as (v, x0, x1, membrane states (one column per active section), done); the first run fills it,
        unless a run of another simulation of this fibre and mode already has (`_share_rest`)."""
        if self._shared[1] is not None:
            return self._shared[1]
        c = self.circuit
        n = len(c.c_m_nF)
        return (np.empty(n), np.empty(n), np.empty(n), np.empty((c.n_st, len(c.active_idx))),
                np.zeros(1, dtype=np.bool_))

    def _control(self, early_exit: bool, ap_threshold_mV: float) -> RunControl:
        return RunControl(self.dt_ms, PRERUN_DT_MS, PRERUN_STEPS, self.fibre.detection_node, float(ap_threshold_mV),
                          bool(early_exit), self.quiet_after_step, QUIET_MV if early_exit else 0.0, QUIET_MV_MS,
                          QUIET_DECAY_MS, QUIET_CREEP_MV_MS, QUIET_CREEP_MIN_MV)

    def _share_rest(self) -> None:
        # Once filled (done), the kernels only read it, so every later simulation of the fibre can start from it.
        if self._shared[1] is None and self._rest[4][0]:
            self._shared[1] = self._rest

    def run(self, amplitude_mA: float, *, record_nodes: Sequence[int] = (), early_exit: bool = False,
            ap_threshold_mV: float = AP_THRESHOLD_MV) -> SimulationResult:
        """Simulate at ``amplitude_mA`` from rest (after the steady-state pre-run).

        Parameters
        ----------
        amplitude_mA : float
            Stimulus magnitude (mA, ≥ 0); the source current is ``amplitude_mA × waveform``.
        record_nodes : sequence of int
            Nodes whose membrane potential is kept in the result's ``vm_mV``.
        early_exit : bool
            End the run as soon as its outcome is decided: when the detection node fires, or, once the
            stimulus is over, when every node is back within `QUIET_MV` of its starting potential,
            changing slower than `QUIET_MV_MS` (or falling back toward it no faster than a decay with time
            constant `QUIET_DECAY_MS` adds), and, beyond `QUIET_CREEP_MIN_MV`, not moving away from it faster
            than `QUIET_CREEP_MV_MS`.
        ap_threshold_mV : float
            APCount threshold (mV).

        Returns
        -------
        SimulationResult
            AP counts and times per node, and the recorded traces.

        Raises
        ------
        ParameterError
            For a negative or non-finite amplitude, or a node out of range.
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
            stim = (-1, 0.0, 0.0, 0.0)  # (compartment, nA, delay ms, duration ms)
        else:
            stim = (int(fib.node_sections[ic.node]), float(ic.amplitude_nA), float(ic.delay_ms),
                    float(ic.duration_ms))
        t_first, t_cross = np.empty(fib.n_nodes), np.empty(fib.n_nodes)
        count = np.empty(fib.n_nodes, dtype=np.int64)
        above = np.empty(fib.n_nodes, dtype=np.bool_)
        steps = self.circuit.kernels.simulate_kernel(
            self._arrays, self._control(early_exit, ap_threshold_mV), self._rest, ve_mV, self.wave, amplitude_mA,
            stim, rec_idx, rec, t_first, t_cross, count, above)
        self._share_rest()
        _check_finite(steps, amplitude_mA, self.dt_ms)
        return SimulationResult(fibre=fib, amplitude_mA=amplitude_mA, dt_ms=self.dt_ms, tstop_ms=self.tstop_ms,
                                steps_run=int(steps), ap_times_ms=t_first, ap_counts=count, crossing_ms=t_cross,
                                recorded_nodes=nodes, vm_mV=rec[:, :steps + 1] if nodes else None,
                                above_at_end=above)

    def run_many(self, amplitudes_mA: Sequence[float], *, early_exit: bool = True,
                 ap_threshold_mV: float = AP_THRESHOLD_MV,
                 potentials_mV: np.ndarray | None = None) -> list[SimulationResult]:
        """Run several amplitudes, in parallel over the CPU cores if ``parallel`` (no traces recorded).

        Parameters
        ----------
        amplitudes_mA : sequence of float
            Stimulus magnitudes (mA, ≥ 0).
        early_exit, ap_threshold_mV
            As `run` (early exit is on by default here).
        potentials_mV : ndarray, optional
            One row of per-section potentials for 1 mA (mV) per amplitude: the same fibre geometry under
            a different electrode per member, e.g. many electrode positions.

        Returns
        -------
        list of SimulationResult
            In the order of ``amplitudes_mA``.
        """
        amps = np.array([_check_amplitude(a) for a in amplitudes_mA])
        fib, m = self.fibre, len(amps)
        if potentials_mV is None:
            ve = np.repeat(self.ve_mV[None, :], m, 0)  # checked when this Stimulation was built
        else:
            ve = np.asarray(potentials_mV, float)
            if ve.shape != (m, fib.n_sections) or not np.all(np.isfinite(ve)):
                raise ParameterError("potentials_mV",
                                     f"potentials_mV: need finite values of shape ({m}, {fib.n_sections})")
        if not self.parallel:
            return [self._run(row, a, (), early_exit, ap_threshold_mV) for row, a in zip(ve, amps)]
        if self.intracellular is not None:
            raise ParameterError("intracellular", "run_many: intracellular stimulation is supported by run() only")
        t_first, t_cross = np.empty((m, fib.n_nodes)), np.empty((m, fib.n_nodes))
        count = np.empty((m, fib.n_nodes), dtype=np.int64)
        above = np.empty((m, fib.n_nodes), dtype=np.bool_)
        steps = np.empty(m, dtype=np.int64)
        self.circuit.kernels.simulate_batch(self._arrays, self._control(early_exit, ap_threshold_mV), self._rest,
                                            np.ascontiguousarray(ve), self.wave, amps, t_first, t_cross, count, above,
                                            steps)
        self._share_rest()
        for s, a in zip(steps, amps):
            _check_finite(s, a, self.dt_ms)
        return [SimulationResult(fibre=fib, amplitude_mA=float(a), dt_ms=self.dt_ms, tstop_ms=self.tstop_ms,
                                 steps_run=int(steps[i]), ap_times_ms=t_first[i], ap_counts=count[i],
                                 crossing_ms=t_cross[i], above_at_end=above[i]) for i, a in enumerate(amps)]


def decayed(dev_mV: np.ndarray, dv_mV: np.ndarray, dt_ms: float) -> bool:
    """The early exit's decayed-response test on every node at once (the kernels apply it node by node).

    Parameters
    ----------
    dev_mV : ndarray
        Each node's potential minus its t = 0 potential (mV).
    dv_mV : ndarray
        Each node's change over the last step of ``dt_ms`` (mV).
    dt_ms : float
        Time step (ms).

    Returns
    -------
    bool
        Every node within `QUIET_MV`, slower than `QUIET_MV_MS` (plus deviation / `QUIET_DECAY_MS` while falling
        back from above) and, beyond `QUIET_CREEP_MIN_MV`, not moving away faster than `QUIET_CREEP_MV_MS`.
    """
    fastest = QUIET_MV_MS * dt_ms + np.where((dev_mV > 0) & (dv_mV < 0), dev_mV * dt_ms / QUIET_DECAY_MS, 0.0)
    away = (dev_mV * dv_mV > 0) & (np.abs(dev_mV) > QUIET_CREEP_MIN_MV) & (np.abs(dv_mV) > QUIET_CREEP_MV_MS * dt_ms)
    return bool(np.all(np.abs(dev_mV) < QUIET_MV) and np.all(np.abs(dv_mV) < fastest) and not away.any())


def _check_finite(steps: int, amplitude_mA: float, dt_ms: float) -> None:
    """A run whose membrane potential became NaN is never reported as fired or silent."""
    if steps < 0:
        raise FloatingPointError(f"at {amplitude_mA:.6g} mA the membrane potential became NaN at "
                                 f"t = {-steps * dt_ms:g} ms: the stimulus drives the model beyond its numerical "
                                 "range (e.g. thousands of mV); use a smaller amplitude or time step")


def _check_intracellular(pulse: IntracellularPulse, n_nodes: int) -> None:
    # A negative node would silently index from the far end of the fibre.
    if not isinstance(pulse.node, (int, np.integer)) or not 0 <= pulse.node < n_nodes:
        raise ParameterError("intracellular", f"intracellular node={pulse.node}: must be a node index 0..{n_nodes - 1}")
    for name in ("amplitude_nA", "delay_ms", "duration_ms"):
        value = getattr(pulse, name)
        if not math.isfinite(value) or (name != "amplitude_nA" and value < 0):
            raise ParameterError("intracellular", f"intracellular {name}={value}: must be finite"
                                 + ("" if name == "amplitude_nA" else " and >= 0"))


def _check_amplitude(amplitude_mA: float) -> float:
    amplitude_mA = float(amplitude_mA)
    if not math.isfinite(amplitude_mA) or amplitude_mA < 0:
        raise ParameterError("amplitude_mA", f"amplitude_mA={amplitude_mA}: must be a finite magnitude >= 0")
    return amplitude_mA


def default_tstop_ms(stimulus_end_ms: float, fibre: Fibre) -> float:
    """Default run length: long enough for an AP to start and reach the detection node.

    The stimulus, plus the model's allowance for the initiation delay near threshold
    (``[run] after_stimulus_ms``: 5 ms for MRG, where detection comes within 1.7 ms; 10 ms for C fibres),
    plus, for models with a ``[conduction]`` velocity, the time to travel from the far end of the fibre
    to the detection node (0.9 of its length) at that velocity: C fibres conduct at 0.2-1 m/s, so an AP
    from the far end of a 2.2 mm fibre needs up to 9 ms.

    Parameters
    ----------
    stimulus_end_ms : float
        End of the last stimulus phase or pulse (ms).
    fibre : Fibre
        The fibre (its model and length).

    Returns
    -------
    float
        tstop (ms).
    """
    model = fibre.model
    travel = 0.0
    velocity = model.conduction_m_s(fibre.diameter_um)
    if velocity is not None:
        travel = 0.9 * fibre.length_total_um / (1e3 * velocity)  # µm / (µm/ms)
    return stimulus_end_ms + model.after_stimulus_ms + travel


def check_run_size(n_nodes: int, n_sections: int, dt_ms: float, n_steps: int, duration_parameter: str) -> None:
    """Refuse a run whose estimated time or memory exceeds `MAX_RUN_S` or `MAX_RUN_BYTES`.

    Time = sections × steps × `SECTION_STEP_S`; memory = 8 bytes per waveform sample plus
    `SECTION_BYTES` per section. The error names whichever of ``n_nodes``, ``dt_ms`` and the run's
    duration (``duration_parameter``: ``tstop_ms``, ``waveform`` or ``intracellular``) is furthest beyond
    `ORDINARY`, and states the estimate.

    Parameters
    ----------
    n_nodes, n_sections : int
        Size of the fibre.
    dt_ms : float
        Time step (ms).
    n_steps : int
        Steps of one full run.
    duration_parameter : str
        What set the run length: ``tstop_ms``, ``waveform`` or ``intracellular``.

    Raises
    ------
    ParameterError
        When a limit is exceeded.
    """
    seconds = float(n_sections) * n_steps * SECTION_STEP_S
    gigabytes = (8.0 * n_steps + SECTION_BYTES * float(n_sections)) / 1e9
    if seconds <= MAX_RUN_S and gigabytes <= MAX_RUN_BYTES / 1e9:
        return
    excess = {"n_nodes": n_nodes / ORDINARY["n_nodes"], "dt_ms": ORDINARY["dt_ms"] / dt_ms,
              duration_parameter: n_steps * dt_ms / ORDINARY["duration_ms"]}
    name = max(excess, key=excess.get)
    fix = {"n_nodes": "use fewer nodes", "dt_ms": f"use a larger dt_ms (default {DEFAULT_DT_MS:g} ms)",
           "tstop_ms": "shorten tstop_ms", "waveform": "shorten the waveform",
           "intracellular": "shorten the intracellular pulse"}[name]
    raise ParameterError(name, f"{name}: one run would take about {seconds:.3g} s and {gigabytes:.3g} GB "
                               f"({n_steps:.3g} steps of {dt_ms:g} ms x {n_sections} sections; limits "
                               f"{MAX_RUN_S:g} s, {MAX_RUN_BYTES / 1e9:g} GB): {fix}, or pass allow_large=True "
                               "(--allow-large on the command line)")


def simulate(fibre: Fibre, electrode: Electrode | FilePotentials | np.ndarray | None, waveform: Waveform | None,
             amplitude_mA: float, *, dt_ms: float = DEFAULT_DT_MS, tstop_ms: float | None = None,
             record_nodes: Sequence[int] = (), intracellular: IntracellularPulse | None = None,
             allow_large: bool = False) -> SimulationResult:
    """Simulate ``fibre`` under ``electrode`` driven by ``amplitude_mA`` × ``waveform`` (full length).

    Parameters
    ----------
    fibre : Fibre
        From `nervesim.build_fibre`.
    electrode : Electrode, FilePotentials, ndarray or None
        The source, or potentials per section for 1 mA (mV).
    waveform : Waveform or None
        Unit waveform; its sign is the polarity (cathodic = negative source current).
    amplitude_mA : float
        Stimulus magnitude (mA, ≥ 0).
    dt_ms, tstop_ms, intracellular, allow_large
        As `Stimulation`.
    record_nodes : sequence of int
        Nodes whose membrane potential (mV) is recorded.

    Returns
    -------
    SimulationResult
        ``fired``, ``initiation_node``, ``latency_ms``, ``end_excitation`` and, for ``record_nodes``,
        ``vm_mV`` against ``t_ms``.

    Raises
    ------
    ParameterError
        For bad input or a run beyond the size limits (see `Stimulation`).
    """
    stim = Stimulation(fibre, electrode, waveform, dt_ms=dt_ms, tstop_ms=tstop_ms, intracellular=intracellular,
                       allow_large=allow_large)
    return stim.run(amplitude_mA, record_nodes=record_nodes)
